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

#[test]
fn unknown_types_and_reserved_headers_are_config_errors() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::new();
    cfg.write_api(
        "petstore",
        &format!(
            "{api}\n[gateway_responses.THROTTLE]\nstatus = 503\n\n[gateway_responses.DEFAULT_5XX]\nstatus = 900\nheaders = {{ \"Content-Length\" = \"1\" }}\n"
        ),
    );
    let cfg = cfg.default_api("petstore");
    let text = check_fails(cfg.path());
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
