//! Lambda authorizers (TOKEN and REQUEST) in front of AWS_PROXY and MOCK methods: what the
//! function receives, what each of its answers gives the caller (AWS's statuses, bodies and
//! `x-amzn-ErrorType`), the result cache (counted in invocations, expired on the test clock),
//! `usageIdentifierKey` with `apiKeySource = AUTHORIZER`, and config errors.

mod common;

use std::time::Duration;

use common::auth::*;
use common::clock::*;
use common::lambda::*;
use common::traffic::*;
use common::*;
use serde_json::{json, Value};

const DENY_EXPLICIT: &str = r#"{"Message":"User is not authorized to access this resource with an explicit deny in an identity-based policy"}"#;
const DENY_IMPLICIT: &str = r#"{"Message":"User is not authorized to access this resource because no identity-based policy allows the execute-api:Invoke action"}"#;

/// What the token authorizer answers for each token.
fn token_authorizer(event: &Value) -> Reply {
    let arn = event["methodArn"].as_str().unwrap_or("");
    match event["authorizationToken"].as_str().unwrap_or("") {
        "allow" => result(policy_result(
            "user-1",
            "Allow",
            arn,
            json!({"tier": "gold", "n": 3, "vip": true}),
        )),
        "deny" => result(policy_result("user-2", "Deny", arn, json!({}))),
        // A policy for a method this request is not.
        "elsewhere" => result(policy_result(
            "user-3",
            "Allow",
            "arn:aws:execute-api:*:*:*/prod/POST/*",
            json!({}),
        )),
        "unauthorized" => function_error("Unauthorized"),
        "crash" => function_error("Error: Invalid token"),
        "garbage" => result(json!({"principalId": "x", "note": "no policy here"})),
        "nested" => result(
            json!({"principalId": "x", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]}, "context": {"obj": {"a": 1}}}),
        ),
        _ => result(policy_result("nobody", "Deny", "*", json!({}))),
    }
}

/// API `petstore`, stage `prod` (variable `env = test`): `GET /pets/{id}` (AWS_PROXY to the
/// app) and `GET /plain` (MOCK), both behind authorizer `tok`; `GET /open` without one.
fn api(authorizer_table: &str) -> ApiSpec {
    let uri = function_uri("app");
    let lambda = format!("{{ type = \"AWS_PROXY\", uri = {} }}", toml_str(&uri));
    ApiSpec::new("petstore")
        .stage_vars("prod", "v1", &[("env", "test")])
        .method_toml("v1", "GET /pets/{id}", &lambda, "authorizer = \"tok\"")
        .method_toml(
            "v1",
            "GET /plain",
            "{ type = \"MOCK\", status = 200, body = \"plain\" }",
            "authorization_type = \"CUSTOM\"\nauthorizer = \"tok\"",
        )
        .mock("v1", "GET /open", 200, "open")
        .table(authorizer_table)
}

/// One shard (the authorizer cache is per shard, so counting invocations needs one).
fn start(server: &Backend, api: &ApiSpec) -> (ConfigDir, Gateway) {
    let cfg = ConfigDir::with_api(api)
        .shards(1)
        .gateway_extra(&lambda_section(server))
        .default_api("petstore");
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

/// Authorizer `tok`: TOKEN, from `Authorization`, with `extra` lines.
fn token_table(extra: &str) -> String {
    authorizer_toml("tok", "TOKEN", "method.request.header.Authorization", extra)
}

/// AWS's 401 of an authorizer.
fn assert_unauthorized(resp: &Response) {
    assert_error(
        resp,
        401,
        r#"{"message":"Unauthorized"}"#,
        "UnauthorizedException",
    );
}

/// The access-log line of `resp` (format `authz $context.requestId ...`) ends with `tail`.
fn assert_logged_as(gw: &Gateway, resp: &Response, tail: &str) {
    let id = resp.header("x-amzn-RequestId").unwrap().to_string();
    let (_, line) = gw
        .wait_for_log(0, &format!("authz {id}"), LOG_TIMEOUT)
        .expect("logged");
    assert!(line.ends_with(&format!("authz {id} {tail}")), "{line}");
}

fn with_token(gw: &Gateway, path: &str, token: &str) -> Response {
    Req::get(path)
        .header("Authorization", token)
        .send(gw.addr())
}

#[test]
fn token_authorizer_answers_as_aws_does() {
    let server = auth_and_app_server(token_authorizer);
    let table = token_table("result_ttl_in_seconds = 0");
    let format = "authz $context.requestId $context.status $context.authorizer.principalId $context.authorizer.tier $context.error.responseType";
    let logged = api(&table).stage_toml(
        "prod",
        &format!(
            "access_log = {{ destination = \"stdout\", format = {} }}",
            toml_str(format)
        ),
    );
    let (_cfg, gw) = start(&server, &logged);

    // No token: 401 without invoking the function.
    let resp = get(gw.addr(), "/prod/plain");
    assert_unauthorized(&resp);
    assert!(authorizer_calls(&server).is_empty());
    // Methods without an authorizer are not affected.
    get(gw.addr(), "/prod/open").assert(200, "open");

    // Allowed: the integration sees the principal and the context, stringified.
    let resp = with_token(&gw, "/prod/pets/7", "allow");
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    assert_eq!(seen["principalId"], "user-1");
    assert_eq!(seen["tier"], "gold");
    assert_eq!(seen["n"], "3");
    assert_eq!(seen["vip"], "true");
    assert!(seen["integrationLatency"].is_u64(), "{seen}");

    // The TOKEN event: exactly type, token and the method ARN of the request path.
    let calls = authorizer_calls(&server);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0],
        json!({"type": "TOKEN", "authorizationToken": "allow",
               "methodArn": "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/GET/pets/7"})
    );

    // The access log shows the principal and the context, or the refusal.
    assert_logged_as(&gw, &resp, "200 user-1 gold -");
    let resp = with_token(&gw, "/prod/plain", "deny");
    assert_error(&resp, 403, DENY_EXPLICIT, "AccessDeniedException");
    assert_logged_as(&gw, &resp, "403 user-2 - ACCESS_DENIED");
    let resp = with_token(&gw, "/prod/plain", "elsewhere");
    assert_error(&resp, 403, DENY_IMPLICIT, "AccessDeniedException");
    let resp = with_token(&gw, "/prod/plain", "unauthorized");
    assert_unauthorized(&resp);
    for token in ["crash", "garbage", "nested"] {
        let resp = with_token(&gw, "/prod/plain", token);
        assert_error(
            &resp,
            500,
            r#"{"message": null}"#,
            "AuthorizerConfigurationException",
        );
    }
    gw.assert_logged("authorizer tok");
    // TTL 0: every request invoked the function.
    assert_eq!(authorizer_calls(&server).len(), 7);
}

#[test]
fn tokens_failing_the_validation_expression_never_reach_the_function() {
    let server = auth_and_app_server(token_authorizer);
    let table = token_table("identity_validation_expression = \"allow|deny\"");
    let (_cfg, gw) = start(&server, &api(&table));
    // Anchored at both ends, as Java's String.matches is.
    let resp = with_token(&gw, "/prod/plain", "allowed");
    assert_unauthorized(&resp);
    assert!(authorizer_calls(&server).is_empty());
    with_token(&gw, "/prod/plain", "allow").assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 1);
}

#[test]
fn results_are_cached_by_token_until_the_ttl_on_the_test_clock() {
    let server = auth_and_app_server(|event| {
        // Allows every GET of the stage: a policy "applicable to all methods" that caching needs.
        let _ = event;
        result(policy_result(
            "cached",
            "Allow",
            "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/GET/*",
            json!({}),
        ))
    });
    let table = token_table("result_ttl_in_seconds = 60");
    let cfg = ConfigDir::with_api(&api(&table))
        .shards(1)
        .gateway_extra(&lambda_section(&server))
        .default_api("petstore");
    let gw = start_frozen(&cfg, day_ms("2026-12-01", 3600));

    with_token(&gw, "/prod/plain", "t1").assert(200, "plain");
    // Another method and path, same token: the cached policy covers it.
    let resp = with_token(&gw, "/prod/pets/1", "t1");
    assert_eq!(resp.status, 200);
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    assert_eq!(seen["principalId"], "cached");
    assert_eq!(
        seen["integrationLatency"], 0,
        "a cached result took no time"
    );
    assert_eq!(authorizer_calls(&server).len(), 1);
    // Another token is another cache entry.
    with_token(&gw, "/prod/plain", "t2").assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 2);

    advance_clock(&gw, Duration::from_millis(59_999));
    with_token(&gw, "/prod/plain", "t1").assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 2);
    advance_clock(&gw, Duration::from_millis(1));
    with_token(&gw, "/prod/plain", "t1").assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 3);
}

#[test]
fn a_cached_policy_allows_only_the_method_arns_it_covers() {
    // The classic `{proxy+}` mistake: the function allows exactly the ARN it was asked about.
    let server = auth_and_app_server(|event| {
        let arn = event["methodArn"].as_str().unwrap_or("");
        result(policy_result("narrow", "Allow", arn, json!({})))
    });
    let table = token_table("");
    let (_cfg, gw) = start(&server, &api(&table));
    assert_eq!(with_token(&gw, "/prod/pets/1", "t").status, 200);
    let resp = with_token(&gw, "/prod/pets/2", "t");
    assert_error(&resp, 403, DENY_IMPLICIT, "AccessDeniedException");
    assert_eq!(
        authorizer_calls(&server).len(),
        1,
        "the second request used the cache"
    );
}

#[test]
fn request_authorizer_sees_the_request_and_keys_its_cache_on_every_source() {
    let server = auth_and_app_server(|event| {
        let arn = "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/*";
        let headers = event["headers"].as_object().cloned().unwrap_or_default();
        let user = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-user"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_string();
        result(policy_result(
            &user,
            "Allow",
            arn,
            json!({"tenant": event["queryStringParameters"]["tenant"]}),
        ))
    });
    let table = authorizer_toml(
        "tok",
        "REQUEST",
        "method.request.header.X-User, method.request.querystring.tenant, stageVariables.env",
        "",
    );
    let (_cfg, gw) = start(&server, &api(&table));

    // Any source missing or empty: 401 without a call.
    for req in [
        Req::get("/prod/pets/9?tenant=acme"),
        Req::get("/prod/pets/9").header("X-User", "ann"),
        Req::get("/prod/pets/9?tenant=").header("X-User", "ann"),
    ] {
        let resp = req.send(gw.addr());
        assert_unauthorized(&resp);
    }
    assert!(authorizer_calls(&server).is_empty());

    // Header names are case-insensitive.
    let resp = Req::get("/prod/pets/9?tenant=acme")
        .header("x-user", "ann")
        .send(gw.addr());
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    assert_eq!(
        (&seen["principalId"], &seen["tenant"]),
        (&json!("ann"), &json!("acme"))
    );

    let calls = authorizer_calls(&server);
    assert_eq!(calls.len(), 1);
    let e = &calls[0];
    assert_eq!(e["type"], "REQUEST");
    assert_eq!(
        e["methodArn"],
        "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/GET/pets/9"
    );
    assert_eq!(e["resource"], "/pets/{id}");
    assert_eq!(e["path"], "/pets/9");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["headers"]["x-user"], "ann");
    assert_eq!(e["multiValueHeaders"]["x-user"], json!(["ann"]));
    assert_eq!(e["queryStringParameters"], json!({"tenant": "acme"}));
    assert_eq!(e["pathParameters"], json!({"id": "9"}));
    assert_eq!(e["stageVariables"], json!({"env": "test"}));
    assert_eq!(e["requestContext"]["stage"], "prod");
    assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert!(e.get("body").is_none());

    // Same sources again: cached. Another tenant: a new call.
    let again = Req::get("/prod/plain?tenant=acme")
        .header("X-User", "ann")
        .send(gw.addr());
    again.assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 1);
    let other = Req::get("/prod/plain?tenant=globex")
        .header("X-User", "ann")
        .send(gw.addr());
    other.assert(200, "plain");
    assert_eq!(authorizer_calls(&server).len(), 2);

    // A repeated source header: the cache key is the value the function saw (the last), so
    // a grant made for `mallory` is never served to a request carrying only `ann`.
    let twice = Req::get("/prod/plain?tenant=initech")
        .header("X-User", "ann")
        .header("X-User", "mallory")
        .send(gw.addr());
    twice.assert(200, "plain");
    let calls = authorizer_calls(&server);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2]["headers"]["X-User"], "mallory");
    let single = Req::get("/prod/plain?tenant=initech")
        .header("X-User", "ann")
        .send(gw.addr());
    single.assert(200, "plain");
    assert_eq!(
        authorizer_calls(&server).len(),
        4,
        "ann's request was authorized afresh"
    );
}

#[test]
fn usage_identifier_key_is_the_api_key_when_the_source_is_authorizer() {
    const KEY: &str = "authorizer-supplied-key-0001";
    let server = auth_and_app_server(|event| {
        let arn = event["methodArn"].as_str().unwrap_or("");
        let mut r = policy_result("k", "Allow", arn, json!({}));
        if event["authorizationToken"] == "with-key" {
            r["usageIdentifierKey"] = json!(KEY);
        }
        result(r)
    });
    let table = token_table("result_ttl_in_seconds = 0");
    let api = ApiSpec::new("petstore")
        .api_line("api_key_source = \"AUTHORIZER\"")
        .stage("prod", "v1")
        .method_toml(
            "v1",
            "GET /keyed",
            "{ type = \"MOCK\", status = 200, body = \"keyed\" }",
            "authorizer = \"tok\"\napi_key_required = true",
        )
        .table(&table);
    let cfg = ConfigDir::with_api(&api)
        .shards(1)
        .gateway_extra(&lambda_section(&server))
        .default_api("petstore");
    cfg.write_file(
        "usage_plans.toml",
        &plan_toml("gold", "petstore", "prod", ""),
    );
    cfg.write_file("api_keys.toml", &key_toml("k1", KEY, true, &["gold"]));
    let gw = Gateway::start(&cfg);

    with_token(&gw, "/prod/keyed", "with-key").assert(200, "keyed");
    // Without one from the authorizer, an x-api-key header does not count.
    let resp = Req::get("/prod/keyed")
        .header("Authorization", "no-key")
        .header("x-api-key", KEY)
        .send(gw.addr());
    assert_forbidden(&resp);
}

#[test]
fn a_hosted_python_authorizer_decides() {
    let app = r#"
def handler(event, context):
    if event["authorizationToken"] != "let-me-in":
        raise Exception("Unauthorized")
    return {
        "principalId": "py-user",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]},
        "context": {"runtime": "python"},
    }
"#;
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .method_toml("v1", "GET /plain", "{ type = \"MOCK\", status = 200, body = \"plain\" }", "authorizer = \"py\"")
        .table(&format!(
            "[authorizers.py]\ntype = \"TOKEN\"\nuri = {}\nidentity_source = \"method.request.header.Authorization\"\n",
            toml_str(&function_uri("pyauth"))
        ));
    let cfg = ConfigDir::with_api(&api).default_api("petstore");
    let cfg = common::functions::hosted_function(cfg, "pyauth", app, "timeout = 10");
    let gw = Gateway::start(&cfg);
    with_token(&gw, "/prod/plain", "let-me-in").assert(200, "plain");
    let resp = with_token(&gw, "/prod/plain", "wrong");
    assert_unauthorized(&resp);
}

#[test]
fn authorizer_mistakes_are_config_errors_with_file_line_and_field() {
    let bad = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .method_toml(
            "v1",
            "GET /a",
            "{ type = \"MOCK\" }",
            "authorizer = \"missing\"",
        )
        .method_toml(
            "v1",
            "GET /b",
            "{ type = \"MOCK\" }",
            "authorization_type = \"CUSTOM\"",
        )
        .method_toml(
            "v1",
            "GET /c",
            "{ type = \"MOCK\" }",
            "authorization_type = \"SOMETIMES\"",
        )
        .table(&authorizer_toml(
            "t",
            "TOKEN",
            "method.request.querystring.token",
            "",
        ))
        .table(
            &authorizer_toml("r", "REQUEST", "", "result_ttl_in_seconds = 30")
                .replace("identity_source = \"\"\n", ""),
        )
        .table(&authorizer_toml(
            "x",
            "TOKEN",
            "method.request.header.A",
            "result_ttl_in_seconds = 4000\nidentity_validation_expression = \"(\"",
        ));
    let cfg = ConfigDir::with_api(&bad);
    let text = check_fails(cfg.path());
    assert_mentions(
        &text,
        &[
            "deployments.v1.methods.\"GET /a\".authorizer",
            "authorizer `missing` does not exist (defined: t, r, x)",
            "CUSTOM authorization needs an `authorizer`",
            "`SOMETIMES` is not an authorization type",
            "authorizers.t.identity_source",
            "a TOKEN authorizer takes exactly one identity source, a header",
            "authorizers.r.identity_source",
            "needs an identity_source",
            "authorizers.x.result_ttl_in_seconds",
            "4000 is out of range 0..=3600",
            "authorizers.x.identity_validation_expression",
        ],
    );
    assert!(text.contains("petstore.toml:"), "{text}");
}
