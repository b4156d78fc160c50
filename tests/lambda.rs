//! AWS_PROXY (Lambda proxy integration) over the Lambda Invoke API: the payload 1.0 event the
//! function receives, how its result becomes the response, the 502/504 cases, SigV4 signing as
//! botocore computes it, and HTTP/2 clients.

mod common;
use std::time::Duration;

use common::lambda::*;
use common::*;
use serde_json::json;

/// A gateway whose stage `prod` (variables `alias = live`) serves `route` from function
/// `pets`, with `extra` lines appended to the API file.
fn gateway_with(invoke: &Backend, route: &str, extra: &str) -> (ConfigDir, Gateway) {
    let api = ApiSpec::new("petstore").stage_vars("prod", "v1", &[("alias", "live")]);
    let api = lambda_method(api, "v1", route, "pets");
    let cfg = ConfigDir::new().gateway_extra(&lambda_section(invoke));
    cfg.write_api("petstore", &format!("{extra}\n{api}"));
    let cfg = cfg.default_api("petstore");
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

fn ok_result() -> Reply {
    result(json!({"statusCode": 200, "body": "fine"}))
}

#[test]
fn get_event_carries_the_whole_request() {
    let invoke = invoke_server(|_| ok_result());
    let (_cfg, gw) = gateway_with(&invoke, "GET /pets/{petId}", "");
    let resp = Req::get("/prod/pets/7?a=1&b=x&a=2&e=%2Fz")
        .header("X-Many", "one")
        .header("X-Many", "two")
        .header("User-Agent", "tests/1.0")
        .send(gw.addr());
    resp.assert(200, "fine");

    let call = invoke.single_request();
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.target,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A111122223333%3Afunction%3Apets/invocations"
    );
    assert_eq!(
        call.header("x-amz-invocation-type"),
        Some("RequestResponse")
    );
    let e = event_of(&call);
    assert_eq!(e["resource"], "/pets/{petId}");
    assert_eq!(e["path"], "/pets/7");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["headers"]["X-Many"], "two");
    assert_eq!(e["multiValueHeaders"]["X-Many"], json!(["one", "two"]));
    assert_eq!(e["headers"]["User-Agent"], "tests/1.0");
    assert_eq!(e["headers"]["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(e["headers"]["X-Forwarded-Proto"], "http");
    assert_eq!(e["queryStringParameters"]["a"], "2");
    assert_eq!(e["queryStringParameters"]["b"], "x");
    assert_eq!(e["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
    assert_eq!(e["queryStringParameters"]["e"], "/z");
    assert_eq!(e["pathParameters"], json!({"petId": "7"}));
    assert_eq!(e["stageVariables"], json!({"alias": "live"}));
    assert_eq!(e["body"], serde_json::Value::Null);
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(rc["resourcePath"], "/pets/{petId}");
    assert_eq!(rc["httpMethod"], "GET");
    assert_eq!(rc["path"], "/prod/pets/7");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["apiId"], "petstore");
    assert_eq!(rc["accountId"], "111122223333");
    assert_eq!(rc["protocol"], "HTTP/1.1");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["userAgent"], "tests/1.0");
    assert_eq!(
        rc["requestId"].as_str(),
        resp.header("x-amzn-RequestId"),
        "the event's requestId is the response's"
    );
    assert!(rc["requestTimeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
}

#[test]
fn absent_maps_are_null() {
    let invoke = invoke_server(|_| ok_result());
    let (_cfg, gw) = gateway_with(&invoke, "GET /pets", "");
    get(gw.addr(), "/prod/pets").assert(200, "fine");
    let e = event_of(&invoke.single_request());
    assert_eq!(e["queryStringParameters"], serde_json::Value::Null);
    assert_eq!(
        e["multiValueQueryStringParameters"],
        serde_json::Value::Null
    );
    assert_eq!(e["pathParameters"], serde_json::Value::Null);
    assert_eq!(e["body"], serde_json::Value::Null);
}

#[test]
fn post_body_and_greedy_path_reach_the_function() {
    let invoke = invoke_server(|e| {
        result(json!({
            "statusCode": 201,
            "headers": {"X-Seen": e["pathParameters"]["proxy"].clone()},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": e["body"].clone(),
        }))
    });
    let (_cfg, gw) = gateway_with(&invoke, "ANY /{proxy+}", "");
    let resp = Req::post("/prod/a/b/c", r#"{"name":"rex"}"#)
        .header("Content-Type", "application/json")
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-Proto", "https")
        .send(gw.addr());
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body_str(), r#"{"name":"rex"}"#);
    assert_eq!(resp.header("x-seen"), Some("a/b/c"));
    assert_eq!(resp.header_all("set-cookie"), vec!["a=1", "b=2"]);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    resp.assert_gateway_headers();
    let e = event_of(&invoke.single_request());
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["resource"], "/{proxy+}");
    assert_eq!(e["headers"]["X-Forwarded-For"], "203.0.113.7, 127.0.0.1");
    assert_eq!(e["multiValueHeaders"]["X-Forwarded-Proto"], json!(["http"]));
    assert_eq!(e["isBase64Encoded"], false);
}

#[test]
fn binary_bodies_travel_base64_both_ways() {
    let invoke = invoke_server(|e| {
        result(json!({
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": e["body"].clone(),
            "isBase64Encoded": true,
        }))
    });
    let extra = "binary_media_types = [\"application/octet-stream\"]";
    let (_cfg, gw) = gateway_with(&invoke, "POST /blob", extra);
    let bytes: Vec<u8> = (0u8..=255).collect();
    let resp = Req::post("/prod/blob", bytes.clone())
        .header("Content-Type", "application/octet-stream")
        .header("Accept", "application/octet-stream")
        .send(gw.addr());
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body, bytes,
        "decoded back to bytes for a binary Accept"
    );
    let e = event_of(&invoke.single_request());
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(
        e["body"].as_str().unwrap(),
        data_encoding::BASE64.encode(&bytes)
    );
}

#[test]
fn malformed_results_are_502() {
    let bad: Vec<&str> = vec![
        "not json",
        "[1, 2]",
        r#"{"statusCode": "abc"}"#,
        r#"{"statusCode": 200, "unexpected": 1}"#,
        r#"{"statusCode": 200, "headers": "nope"}"#,
    ];
    let bodies = bad.clone();
    let invoke = Backend::start(move |req| {
        let i: usize = serde_json::from_slice::<serde_json::Value>(&req.body).unwrap()
            ["queryStringParameters"]["case"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        Reply::ok(bodies[i]).header("Content-Type", "application/json")
    });
    let (_cfg, gw) = gateway_with(&invoke, "GET /pets", "");
    for (i, body) in bad.iter().enumerate() {
        let resp = get(gw.addr(), &format!("/prod/pets?case={i}"));
        assert_eq!(resp.status, 502, "result {body}");
        assert_eq!(resp.body_str(), INTERNAL_SERVER_ERROR, "result {body}");
        assert_eq!(
            resp.header("x-amzn-ErrorType"),
            Some("InternalServerErrorException")
        );
    }
    gw.assert_logged("Malformed Lambda proxy response");
}

#[test]
fn function_errors_and_invoke_errors_are_502() {
    let invoke = Backend::start(|req| {
        let e: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        match e["path"].as_str().unwrap() {
            "/unhandled" => Reply::ok(r#"{"errorMessage":"boom","errorType":"Error"}"#)
                .header("X-Amz-Function-Error", "Unhandled"),
            _ => Reply::status(404)
                .header("x-amzn-ErrorType", "ResourceNotFoundException")
                .body(r#"{"Message":"Function not found"}"#),
        }
    });
    let (_cfg, gw) = gateway_with(&invoke, "GET /{name}", "");
    get(gw.addr(), "/prod/unhandled").assert(502, INTERNAL_SERVER_ERROR);
    get(gw.addr(), "/prod/missing").assert(502, INTERNAL_SERVER_ERROR);
    // The log lines may reach the test's reader a moment after the responses.
    for reason in ["function error (Unhandled)", "Invoke API answered 404"] {
        let logged = gw.wait_for_log(0, reason, LOG_TIMEOUT);
        assert!(logged.is_some(), "{reason}: {}", gw.logs_text());
    }
}

#[test]
fn a_slow_function_is_504_and_an_unreachable_one_502() {
    let invoke = invoke_server(|_| ok_result().delay(Duration::from_millis(1500)));
    let uri = function_uri("slow");
    let api = ApiSpec::new("petstore").stage("prod", "v1").method(
        "v1",
        "GET /slow",
        &format!("{{ type = \"AWS_PROXY\", uri = \"{uri}\", timeout_ms = 200 }}"),
    );
    let cfg = ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke));
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/slow").assert(504, ENDPOINT_TIMED_OUT);

    let closed = closed_port();
    let cfg = ConfigDir::with_api(&api).gateway_extra(
        &lambda_section(&invoke).replace(&invoke.url(), &format!("http://{closed}")),
    );
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/slow").assert(502, INTERNAL_SERVER_ERROR);
}

#[test]
fn invocations_are_signed_as_botocore_signs_them() {
    let invoke = invoke_server(|_| ok_result());
    let (_cfg, gw) = gateway_with(&invoke, "POST /pets", "");
    Req::post("/prod/pets", r#"{"a":"b c"}"#)
        .header("Content-Type", "application/json")
        .send(gw.addr())
        .assert(200, "fine");
    let call = invoke.single_request();
    let auth = call.header("authorization").expect("signed");
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/us-east-1/lambda/aws4_request",
            &call.header("x-amz-date").unwrap()[..8]
        )),
        "{auth}"
    );
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION_TOKEN));
    let host = invoke.authority();
    assert_eq!(botocore_authorization(&call, &host), auth);
}

#[test]
fn stage_variables_pick_the_function() {
    let invoke = invoke_server(|_| ok_result());
    let api = ApiSpec::new("petstore")
        .stage_vars("prod", "v1", &[("fn", "pets-prod")])
        .stage_vars("dev", "v1", &[("fn", "pets-dev")]);
    let api = lambda_method(api, "v1", "GET /pets", "${stageVariables.fn}");
    let cfg = ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke));
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "fine");
    get(gw.addr(), "/dev/pets").assert(200, "fine");
    let targets: Vec<String> = invoke.requests().into_iter().map(|r| r.target).collect();
    assert!(
        targets[0].ends_with("%3Afunction%3Apets-prod/invocations"),
        "{targets:?}"
    );
    assert!(
        targets[1].ends_with("%3Afunction%3Apets-dev/invocations"),
        "{targets:?}"
    );
}

#[test]
fn http2_clients_reach_the_function() {
    let invoke = invoke_server(|e| result(json!({"statusCode": 200, "body": e["body"].clone()})));
    let (_cfg, gw) = gateway_with(&invoke, "POST /pets", "");
    let addr = gw.addr();
    let resp = common::h2::runtime().block_on(async move {
        let send = common::h2::connect_h2c(addr).await;
        common::h2::request(
            &send,
            "POST",
            &format!("http://{addr}/prod/pets"),
            b"over h2",
        )
        .await
    });
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"over h2");
}

#[test]
fn lambda_configuration_errors_name_the_field() {
    let uri = function_uri("pets");
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .method(
            "v1",
            "GET /pets",
            &format!("{{ type = \"AWS_PROXY\", uri = \"{uri}\", http_method = \"GET\" }}"),
        )
        .method(
            "v1",
            "GET /bad",
            "{ type = \"AWS_PROXY\", uri = \"arn:aws:apigateway:us-east-1:s3:path/bucket\" }",
        );
    let invoke = invoke_server(|_| ok_result());
    let cfg = ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke));
    let text = check_fails(cfg.path());
    assert!(text.contains("integration.http_method"), "{text}");
    assert!(
        text.contains("Lambda functions are invoked with POST"),
        "{text}"
    );
    assert!(text.contains("is not a Lambda integration URI"), "{text}");
}

#[test]
fn the_stage_cache_keeps_function_results() {
    let invoke = invoke_server(|e| {
        result(
            json!({"statusCode": 200, "headers": {"X-Pet": e["pathParameters"]["petId"].clone()}, "body": "cached pet"}),
        )
    });
    let api = ApiSpec::new("petstore").stage("prod", "v1").stage_toml(
        "prod",
        "cache_cluster_enabled = true\ncache_cluster_size = 0.5",
    );
    let api = lambda_method(api, "v1", "GET /pets/{petId}", "pets");
    // One shard: each shard keeps its own cache partition.
    let cfg = ConfigDir::with_api(&api)
        .shards(1)
        .gateway_extra(&lambda_section(&invoke));
    let gw = Gateway::start(&cfg);
    for _ in 0..3 {
        let resp = get(gw.addr(), "/prod/pets/9");
        resp.assert(200, "cached pet");
        assert_eq!(resp.header("x-pet"), Some("9"));
    }
    get(gw.addr(), "/prod/pets/10").assert(200, "cached pet");
    assert_eq!(invoke.requests().len(), 2, "one invocation per cache key");
}
