//! Per-API gateway response overrides (AWS `gatewayResponses`): status, headers and body per
//! type, `DEFAULT_4XX`/`DEFAULT_5XX` for the types without one of their own, and the panic
//! guard's 500.

mod common;
use common::*;

/// API `petstore` with a throttled MOCK (`burst 1` under the frozen test clock), a proxy to a
/// closed port, and `overrides` as its `[gateway_responses.*]` tables.
fn gateway(overrides: &str) -> (ConfigDir, Gateway) {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml("prod", "throttle = { rate_limit = 1, burst_limit = 1 }")
        .mock("v1", "GET /pets", 200, "[]")
        .proxy("v1", "GET /down", &format!("http://{}/x", closed_port()));
    let cfg = ConfigDir::new();
    // Tables after the API's own keys, so that they do not swallow them.
    cfg.write_api("petstore", &format!("{api}\n{overrides}"));
    let cfg = cfg.default_api("petstore");
    let gw = Gateway::start_with_env(cfg.path(), &[("TOLLGATE_TEST_CLOCK_MS", "1764582000000")]);
    (cfg, gw)
}

#[test]
fn a_type_override_sets_status_headers_and_body() {
    let (_cfg, gw) = gateway(
        r#"
[gateway_responses.THROTTLED]
status = 503
headers = { "Retry-After" = "7" }
body = '{"error":$context.error.messageString,"type":"$context.error.responseType","id":"$context.requestId"}'
"#,
    );
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    let resp = get(gw.addr(), "/prod/pets");
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("7"));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
    let id = resp.header("x-amzn-RequestId").unwrap().to_string();
    assert_eq!(
        resp.body_str(),
        format!(r#"{{"error":"Too Many Requests","type":"THROTTLED","id":"{id}"}}"#)
    );
    // Other types keep AWS's defaults.
    get(gw.addr(), "/prod/nothing").assert_missing_auth_token();
}

#[test]
fn class_defaults_apply_to_types_without_an_override() {
    let (_cfg, gw) = gateway(
        r#"
[gateway_responses.DEFAULT_4XX]
headers = { "Access-Control-Allow-Origin" = "*" }
body = '{"oops":"$context.error.message"}'

[gateway_responses.MISSING_AUTHENTICATION_TOKEN]
status = 404

[gateway_responses.DEFAULT_5XX]
status = 500
content_type = "text/plain"
body = "down: $context.error.message"
"#,
    );
    // MISSING_AUTHENTICATION_TOKEN: its own status, the rest from DEFAULT_4XX.
    let resp = get(gw.addr(), "/prod/nothing");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        resp.body_str(),
        r#"{"oops":"Missing Authentication Token"}"#
    );
    // THROTTLED (4xx): all from DEFAULT_4XX, with its own default status.
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    let resp = get(gw.addr(), "/prod/pets");
    assert_eq!(resp.status, 429);
    assert_eq!(resp.body_str(), r#"{"oops":"Too Many Requests"}"#);
    // An integration failure (5xx) takes DEFAULT_5XX.
    let resp = get(gw.addr(), "/prod/down");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.body_str(), "down: Internal server error");
    assert_eq!(resp.header("access-control-allow-origin"), None);
}

/// What `--check` says of API `petstore` (one MOCK) with `tables` appended.
fn check_overrides(tables: &str) -> String {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::new();
    cfg.write_api("petstore", &format!("{api}\n{tables}"));
    check_fails(cfg.default_api("petstore").path())
}

/// `responseParameters` take request values and statics (developer guide's INVALID_API_KEY
/// example echoes the `api-key` header); templates substitute `$context.*` and
/// `$stageVariables.*`. A source the request lacks sends no header.
#[test]
fn overrides_read_the_request_its_stage_and_context() {
    let api = ApiSpec::new("petstore")
        .stage_vars("prod", "v1", &[("team", "pets")])
        .mock("v1", "GET /pets/{id}", 200, "[]")
        .method_toml(
            "v1",
            "GET /private/{id}",
            "{ type = \"MOCK\", status = 200, body = \"secret\" }",
            "api_key_required = true",
        );
    let cfg = ConfigDir::new();
    cfg.write_api(
        "petstore",
        &format!(
            r#"{api}
[gateway_responses.INVALID_API_KEY]
status = 456
parameters = {{ "gatewayresponse.header.api-key" = "method.request.header.x-api-key", "gatewayresponse.header.X-Pet" = "method.request.path.id", "gatewayresponse.header.X-Q" = "method.request.multivaluequerystring.q", "gatewayresponse.header.X-Team" = "stageVariables.team", "gatewayresponse.header.X-Static" = "'fixed'", "gatewayresponse.header.X-Resource" = "context.resourcePath" }}
body = '{{"message": "Bad api-key", "stage": "$context.stage", "team": "$stageVariables.team", "method": "$context.httpMethod", "missing": "$stageVariables.nope", "kept": "$other"}}'

[gateway_responses.MISSING_AUTHENTICATION_TOKEN]
parameters = {{ "gatewayresponse.header.X-Path" = "context.path", "gatewayresponse.header.X-Pet" = "method.request.path.id" }}
"#
        ),
    );
    let cfg = cfg.default_api("petstore");
    let gw = Gateway::start(&cfg);
    let denied = Req::get("/prod/private/7?q=a&q=b%20c")
        .header("x-api-key", "wrong-key")
        .send(gw.addr());
    assert_eq!(denied.status, 456, "{}", denied.body_str());
    assert_eq!(denied.header("api-key"), Some("wrong-key"));
    assert_eq!(denied.header("x-pet"), Some("7"));
    assert_eq!(denied.header("x-q"), Some("a,b c"));
    assert_eq!(denied.header("x-team"), Some("pets"));
    assert_eq!(denied.header("x-static"), Some("fixed"));
    assert_eq!(denied.header("x-resource"), Some("/private/{id}"));
    assert_eq!(
        denied.body_str(),
        r#"{"message": "Bad api-key", "stage": "prod", "team": "pets", "method": "GET", "missing": "", "kept": "$other"}"#
    );
    // Without the header, no `api-key` header at all.
    let bare = get(gw.addr(), "/prod/private/8");
    assert_eq!((bare.status, bare.header("api-key")), (456, None));
    assert_eq!(bare.header("x-pet"), Some("8"));
    // An unrouted request has no path parameters, but its path.
    let lost = get(gw.addr(), "/prod/nowhere");
    assert_eq!(lost.status, 403);
    assert_eq!(lost.header("x-path"), Some("/prod/nowhere"));
    assert_eq!(lost.header("x-pet"), None);
}

/// Parameters and templates that read what a gateway response cannot: `--check` says so.
#[test]
fn unreadable_sources_are_config_errors() {
    let text = check_overrides(
        "[gateway_responses.DEFAULT_4XX]\nparameters = { \"gatewayresponse.header.X-Body\" = \"method.request.body\", \"method.response.header.Y\" = \"'y'\", \"gatewayresponse.header.X-Who\" = \"context.authorizer.principalId\" }\nbody = '{\"who\": \"$context.authorizer.principalId\"}'\n",
    );
    for expected in [
        "gateway_responses.DEFAULT_4XX.parameters.\"gatewayresponse.header.X-Body\": `method.request.body`: a gateway response maps request parameters, not the body",
        "Invalid mapping expression specified: method.response.header.Y (use gatewayresponse.header.NAME)",
        "`context.authorizer.principalId` is not available in a gateway response",
        "gateway_responses.DEFAULT_4XX.body: `$context.authorizer.principalId` is not available in a gateway response",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

#[test]
fn unknown_types_and_reserved_headers_are_config_errors() {
    let text = check_overrides(
        "[gateway_responses.THROTTLE]\nstatus = 503\n\n[gateway_responses.DEFAULT_5XX]\nstatus = 900\nheaders = { \"Content-Length\" = \"1\" }\n",
    );
    assert!(
        text.contains("unknown gateway response type `THROTTLE`"),
        "{text}"
    );
    assert!(
        text.contains("gateway_responses.DEFAULT_5XX.status"),
        "{text}"
    );
    assert!(
        text.contains("`content-length` is set by the gateway"),
        "{text}"
    );
}
