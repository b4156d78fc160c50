//! Lambda functions hosted on the node: `[functions.NAME]` workers run the real Python runtime
//! client (`awslambdaric`, unchanged) against the gateway's Runtime API, and answer
//! `AWS_PROXY` integrations whose ARN names them: events in, results out, warm workers reused,
//! and handler errors, timeouts, crashes and throttling answered as API Gateway answers them.

mod common;

use std::time::Duration;

use common::functions::{hosted_api, hosted_function, ECHO_APP};
use common::metrics::scrape_when;
use common::*;

fn json(resp: &Response) -> serde_json::Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("{e}: {}", resp.body_str()))
}

#[test]
fn a_hosted_function_answers_aws_proxy_requests_warm() {
    let cfg = ConfigDir::with_api(&hosted_api("hello")).shards(1);
    let cfg = hosted_function(cfg, "hello", ECHO_APP, "timeout = 5");
    let gw = Gateway::start(&cfg);

    let first = get(gw.addr(), "/prod/fn?color=red");
    assert_eq!(
        first.status,
        200,
        "{}\n{}",
        first.body_str(),
        gw.logs_text()
    );
    let seen = json(&first);
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["query"], serde_json::json!({"color": "red"}));
    // The runtime's context comes from the Runtime API's headers.
    assert_eq!(
        seen["request_id"].as_str(),
        first.header("x-amzn-RequestId"),
        "the invocation's request id is the API request's"
    );
    assert_eq!(
        seen["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello"
    );
    let remaining = seen["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 5000, "{remaining}");
    assert_eq!(
        (seen["name"].clone(), seen["memory"].clone()),
        ("hello".into(), "128".into())
    );

    let second = Req::post("/prod/fn", "ping").send(gw.addr());
    assert_eq!(second.status, 200);
    assert_eq!(json(&second)["body"], "ping");
    assert_eq!(
        second.header("X-Worker"),
        first.header("X-Worker"),
        "the second invocation reuses the warm worker"
    );
    gw.assert_logged("cold start");
    let fn_ = [("function", "hello")];
    let m = scrape_when(&gw, |m| {
        m.count("tollgate_lambda_invocations_total", &fn_) == 2
    });
    assert_eq!(
        m.count("tollgate_lambda_invocations_total", &fn_),
        2,
        "{}",
        m.text
    );
    assert_eq!(m.count("tollgate_lambda_cold_starts_total", &fn_), 1);
    assert_eq!(m.count("tollgate_lambda_errors_total", &fn_), 0);
    assert_eq!(m.count("tollgate_lambda_duration_seconds_count", &fn_), 2);
    assert_eq!(m.count("tollgate_lambda_concurrent_executions", &fn_), 0);
}

const FAULTY_APP: &str = r#"
import os, time

def handler(event, context):
    mode = (event["queryStringParameters"] or {}).get("mode")
    if mode == "raise":
        raise ValueError("bad input")
    if mode == "sleep":
        time.sleep(3)
    if mode == "crash":
        os._exit(3)
    print("handled", mode)
    return {"statusCode": 200, "body": str(os.getpid())}
"#;

#[test]
fn errors_timeouts_and_crashes_answer_as_api_gateway_does() {
    let cfg = ConfigDir::with_api(&hosted_api("faulty")).shards(1);
    let cfg = hosted_function(cfg, "faulty", FAULTY_APP, "timeout = 1");
    let gw = Gateway::start(&cfg);
    let ok = get(gw.addr(), "/prod/fn?mode=ok");
    assert_eq!(ok.status, 200, "{}", gw.logs_text());
    let pid = ok.body_str();

    let raised = get(gw.addr(), "/prod/fn?mode=raise");
    assert_eq!(
        (raised.status, raised.body_str()),
        (502, INTERNAL_SERVER_ERROR.to_string())
    );
    assert_eq!(
        get(gw.addr(), "/prod/fn").body_str(),
        pid,
        "a handler error keeps the worker"
    );

    let slow = get(gw.addr(), "/prod/fn?mode=sleep");
    assert_eq!(
        (slow.status, slow.body_str()),
        (504, ENDPOINT_TIMED_OUT.to_string())
    );
    let after_timeout = get(gw.addr(), "/prod/fn");
    assert_eq!(after_timeout.status, 200);
    assert_ne!(
        after_timeout.body_str(),
        pid,
        "the timed-out worker was replaced"
    );

    let crashed = get(gw.addr(), "/prod/fn?mode=crash");
    assert_eq!(
        (crashed.status, crashed.body_str()),
        (502, INTERNAL_SERVER_ERROR.to_string())
    );
    let after_crash = get(gw.addr(), "/prod/fn");
    assert_eq!(after_crash.status, 200);
    assert_ne!(
        after_crash.body_str(),
        after_timeout.body_str(),
        "a fresh worker after the crash"
    );

    let fn_ = [("function", "faulty")];
    let m = scrape_when(&gw, |m| {
        m.count("tollgate_lambda_invocations_total", &fn_) == 7
    });
    assert_eq!(
        m.count("tollgate_lambda_invocations_total", &fn_),
        7,
        "{}",
        m.text
    );
    assert_eq!(
        m.count("tollgate_lambda_errors_total", &fn_),
        3,
        "raise, timeout, crash"
    );
    // Worker output reaches the node's log through a forwarding thread: wait for it.
    for (line, what) in [
        ("bad input", "the handler's error is logged"),
        ("handled ok", "the worker's stdout is in the node's log"),
    ] {
        let logged = gw.wait_for_log(0, line, LOG_TIMEOUT);
        assert!(logged.is_some(), "{what}\n{}", gw.logs_text());
    }
}

const SLOW_APP: &str = r#"
import time

def handler(event, context):
    time.sleep(0.6)
    return {"statusCode": 200, "body": "done"}
"#;

#[test]
fn reserved_concurrency_queues_then_throttles() {
    let cfg = ConfigDir::with_api(&hosted_api("slow")).shards(1);
    let cfg = hosted_function(
        cfg,
        "slow",
        SLOW_APP,
        "concurrency = 1\nqueue = 1\nprewarm = 1",
    );
    let gw = Gateway::start(&cfg);
    // The prewarmed worker answers without a cold start.
    assert_eq!(get(gw.addr(), "/prod/fn").status, 200, "{}", gw.logs_text());
    let addr = gw.addr();
    let clients: Vec<_> = (0..3)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(50 * i));
            std::thread::spawn(move || get(addr, "/prod/fn"))
        })
        .collect();
    let mut statuses: Vec<u16> = clients
        .into_iter()
        .map(|c| c.join().unwrap().status)
        .collect();
    statuses.sort();
    // One runs, one waits in the queue (its bound), the third is throttled: 500, as API
    // Gateway answers a throttled Lambda function.
    assert_eq!(statuses, [200, 200, 500]);
    assert_eq!(
        gw.logs_text().matches("starting worker").count(),
        1,
        "concurrency 1: never a second worker"
    );
    let fn_ = [("function", "slow")];
    let m = scrape_when(&gw, |m| {
        m.count("tollgate_lambda_invocations_total", &fn_) == 3
    });
    assert_eq!(
        m.count("tollgate_lambda_throttles_total", &fn_),
        1,
        "{}",
        m.text
    );
    assert_eq!(
        m.count("tollgate_lambda_cold_starts_total", &fn_),
        0,
        "prewarmed"
    );
}

#[test]
fn function_settings_are_checked_with_file_line_and_field() {
    let cfg = ConfigDir::with_api(&hosted_api("bad"))
        .gateway_extra("\n[functions.bad]\ncommand = []\ntimeout = 901\nmemory_size = 64\n");
    let text = check_fails(cfg.path());
    assert!(text.contains("functions.bad.command"), "{text}");
    assert!(text.contains("functions.bad.timeout"), "{text}");
    assert!(
        text.contains("must be between 1 and 900, got 901"),
        "{text}"
    );
    assert!(text.contains("functions.bad.memory_size"), "{text}");
}

const VERSIONED_APP: &str = r#"
import os, time

def handler(event, context):
    time.sleep(float((event["queryStringParameters"] or {}).get("sleep", "0")))
    return {"statusCode": 200, "body": os.environ["VERSION"]}
"#;

/// SIGHUP with a changed function: the invocation in flight finishes on the old worker, the
/// next one runs on a worker with the new settings; nothing is lost or answered twice.
#[test]
fn a_reload_with_changed_settings_loses_no_invocation() {
    use common::functions::function_toml;
    let cfg = ConfigDir::with_api(&hosted_api("versioned")).shards(1);
    let mut cfg = hosted_function(
        cfg,
        "versioned",
        VERSIONED_APP,
        "env = { VERSION = \"v1\" }",
    );
    let gw = Gateway::start(&cfg);
    assert_eq!(
        get(gw.addr(), "/prod/fn").body_str(),
        "v1",
        "{}",
        gw.logs_text()
    );
    let addr = gw.addr();
    let in_flight = std::thread::spawn(move || get(addr, "/prod/fn?sleep=0.8"));
    std::thread::sleep(Duration::from_millis(200));
    cfg.set_gateway_extra(&function_toml("versioned", "env = { VERSION = \"v2\" }"));
    assert!(
        matches!(gw.reload(), Reload::Reloaded { .. }),
        "{}",
        gw.logs_text()
    );
    let during = get(gw.addr(), "/prod/fn");
    assert_eq!((during.status, during.body_str()), (200, "v2".to_string()));
    let finished = in_flight.join().unwrap();
    assert_eq!(
        (finished.status, finished.body_str()),
        (200, "v1".to_string()),
        "the invocation in flight completes on the worker it started on"
    );
    assert_eq!(get(gw.addr(), "/prod/fn").body_str(), "v2");
}

/// The Invoke API on the admin listener: botocore's Lambda client (SigV4-signed, checked
/// against `[lambda]`'s credentials) invokes hosted functions, as `aws lambda invoke
/// --endpoint-url` does.
#[test]
fn botocore_invokes_hosted_functions_on_the_admin_listener() {
    use common::functions::botocore_invoke;
    let cfg = ConfigDir::with_api(&hosted_api("faulty"))
        .shards(1)
        .gateway_extra(
            "[lambda]\naccess_key_id = \"AKIDHOSTED\"\nsecret_access_key = \"hosted-secret\"\n",
        );
    let cfg = hosted_function(cfg, "faulty", FAULTY_APP, "timeout = 1");
    let gw = Gateway::start(&cfg);
    let event = r#"{"queryStringParameters": {"mode": "ok"}}"#;
    let ok = botocore_invoke(&gw, "faulty", event, "RequestResponse", "hosted-secret");
    assert_eq!(ok["status"], 200, "{ok}\n{}", gw.logs_text());
    assert_eq!(ok["function_error"], serde_json::Value::Null);
    let result: serde_json::Value = serde_json::from_str(ok["payload"].as_str().unwrap()).unwrap();
    assert_eq!(result["statusCode"], 200);
    assert_eq!(ok["executed_version"], "$LATEST");

    let raised = r#"{"queryStringParameters": {"mode": "raise"}}"#;
    let failed = botocore_invoke(
        &gw,
        "arn:aws:lambda:us-east-1:123456789012:function:faulty",
        raised,
        "RequestResponse",
        "hosted-secret",
    );
    assert_eq!(
        (failed["status"].clone(), failed["function_error"].clone()),
        (200.into(), "Unhandled".into()),
        "{failed}"
    );
    let doc: serde_json::Value = serde_json::from_str(failed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(doc["errorMessage"], "bad input");
    assert_eq!(doc["errorType"], "ValueError");

    let queued = botocore_invoke(&gw, "faulty", event, "Event", "hosted-secret");
    assert_eq!(queued["status"], 202, "{queued}");

    let missing = botocore_invoke(&gw, "nope", event, "RequestResponse", "hosted-secret");
    assert_eq!(
        missing["error_code"], "ResourceNotFoundException",
        "{missing}"
    );
    assert_eq!(missing["http_status"], 404);

    let (printed, written) = common::functions::aws_cli_invoke(&gw, "faulty", event);
    assert_eq!(printed["StatusCode"], 200, "{printed}");
    assert_eq!(printed["ExecutedVersion"], "$LATEST");
    let result: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(result["statusCode"], 200, "{written}");

    let forged = botocore_invoke(&gw, "faulty", event, "RequestResponse", "wrong-secret");
    assert_eq!(
        forged["error_code"], "InvalidSignatureException",
        "{forged}"
    );
    assert_eq!(forged["http_status"], 403);
}

#[test]
fn a_worker_holds_no_client_connection_of_the_node() {
    // A client connected before the worker starts: when the gateway closes it (idle), the
    // client must see the end, which it would not if the worker had inherited the socket.
    let cfg = ConfigDir::with_api(&hosted_api("hello"))
        .shards(1)
        .limit("idle_timeout_ms", 1000);
    let cfg = hosted_function(cfg, "hello", ECHO_APP, "timeout = 5");
    let gw = Gateway::start(&cfg);
    let mut idle = Conn::connect(gw.addr());
    let routed_nowhere = idle.roundtrip(&Req::get("/prod/nothing-here"));
    assert_eq!(routed_nowhere.status, 403);
    let invoked = get(gw.addr(), "/prod/fn");
    assert_eq!(
        invoked.status,
        200,
        "{}\n{}",
        invoked.body_str(),
        gw.logs_text()
    );
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "the idle connection was not closed: a worker holds it\n{}",
        gw.logs_text()
    );
}
