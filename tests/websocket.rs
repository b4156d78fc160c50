//! WebSocket APIs with real clients: PyPI `websockets` connecting, boto3's
//! `apigatewaymanagementapi` calling `@connections`, and a Python function on the node's
//! function host (awslambdaric) answering `$connect`, messages and `$disconnect` and pushing
//! to other clients through `@connections`, across both shards.

mod common;

use std::time::{Duration, Instant};

use common::functions::hosted_function;
use common::lambda::function_uri;
use common::websocket::*;
use common::*;
use serde_json::{json, Value};

const BACKEND: (&str, &str) = ("AKIABACKEND00000001", "backend-secret-key/0123456789");
const NOBODY: (&str, &str) = ("AKIANOBODY000000001", "nobody-secret-key/01234567890");

/// `backend` may manage the chat API's connections; `nobody` may not.
const IDENTITIES: &str = r#"
[users.backend]
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": "execute-api:ManageConnections", "Resource": "arn:aws:execute-api:us-east-1:*:chat/prod/*"}]}'''
access_keys = [{ id = "AKIABACKEND00000001", secret = "backend-secret-key/0123456789" }]

[users.nobody]
access_keys = [{ id = "AKIANOBODY000000001", secret = "nobody-secret-key/01234567890" }]
"#;

/// A gateway serving WebSocket API `chat` (the default API) with `routes`.
fn start(
    routes: &[(&str, &str)],
    tune: impl FnOnce(ConfigDir) -> ConfigDir,
) -> (ConfigDir, Gateway) {
    let cfg = tune(ConfigDir::new().default_api("chat"));
    cfg.write_api("chat", &ws_api("chat", routes));
    cfg.write_file("identities.toml", IDENTITIES);
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

fn steps(list: &[Value]) -> Value {
    Value::Array(list.to_vec())
}

#[test]
fn messages_go_to_the_route_their_action_selects_and_two_way_routes_answer() {
    let ping = mock_reply("pong");
    let fallback = mock_reply("fallback");
    let quiet = "integration = { type = \"MOCK\", body = \"never sent\" }".to_string();
    let (_cfg, gw) = start(
        &[("ping", &ping), ("$default", &fallback), ("quiet", &quiet)],
        |c| c,
    );
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[
            json!({"op": "connect", "name": "a"}),
            json!({"op": "send", "name": "a", "text": "{\"action\": \"ping\"}"}),
            json!({"op": "recv", "name": "a"}),
            json!({"op": "send", "name": "a", "text": "not json at all"}),
            json!({"op": "recv", "name": "a"}),
            json!({"op": "send", "name": "a", "text": "{\"action\": \"unknown\"}"}),
            json!({"op": "recv", "name": "a"}),
            // A one-way route sends nothing back: the next frame is the next ping's answer.
            json!({"op": "send", "name": "a", "text": "{\"action\": \"quiet\"}"}),
            json!({"op": "send", "name": "a", "text": "{\"action\": \"ping\"}"}),
            json!({"op": "recv", "name": "a"}),
            json!({"op": "recv", "name": "a", "timeout": 0.3}),
            // Clients cannot send to `$connect` or `$disconnect`: `$default` takes those.
            json!({"op": "send", "name": "a", "text": "{\"action\": \"$disconnect\"}"}),
            json!({"op": "recv", "name": "a"}),
        ]),
    );
    assert_eq!(r[12]["text"], "fallback", "{r:?}");
    assert_eq!(r[0]["ok"], true, "{r:?}");
    assert_eq!(r[2]["text"], "pong");
    assert_eq!(r[4]["text"], "fallback", "non-JSON goes to $default");
    assert_eq!(r[6]["text"], "fallback", "an unknown key goes to $default");
    assert_eq!(r[9]["text"], "pong");
    assert_eq!(r[10]["timeout"], true, "{r:?}");
    // MessageCount per route (AWS's dimension ApiId, Stage, Route).
    let m = common::metrics::scrape_when(&gw, |m| {
        m.count("tollgate_websocket_message_count", &[]) >= 6
    });
    let messages = |route: &str| {
        let labels = [("api", "chat"), ("stage", "prod"), ("route", route)];
        m.count("tollgate_websocket_message_count", &labels)
    };
    assert_eq!(
        (messages("ping"), messages("$default"), messages("quiet")),
        (2, 3, 1),
        "{}",
        m.text
    );
    assert_eq!(m.count("tollgate_websocket_client_error", &[]), 0);
    let ping = [("route", "ping")];
    assert_eq!(
        m.count(
            "tollgate_websocket_integration_latency_seconds_count",
            &ping
        ),
        2
    );
}

#[test]
fn a_message_no_route_takes_gets_aws_forbidden_frame_and_the_connection_stays() {
    let ping = mock_reply("pong");
    let (_cfg, gw) = start(&[("ping", &ping)], |c| c);
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[
            json!({"op": "connect", "name": "a"}),
            json!({"op": "send", "name": "a", "text": "{\"action\": \"nope\"}"}),
            json!({"op": "recv", "name": "a"}),
            json!({"op": "send", "name": "a", "text": "{\"action\": \"ping\"}"}),
            json!({"op": "recv", "name": "a"}),
        ]),
    );
    let frame = r[2]["text"].as_str().unwrap_or_default();
    // AWS's bytes: `{"message": "Forbidden", "connectionId":"...", "requestId":"..."}`.
    assert!(
        frame.starts_with("{\"message\": \"Forbidden\", \"connectionId\":\""),
        "{frame}"
    );
    let doc: Value = serde_json::from_str(frame).unwrap();
    for key in ["connectionId", "requestId"] {
        let id = doc[key].as_str().unwrap();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.ends_with('='), "{id}");
    }
    assert_eq!(r[4]["text"], "pong");
    // The Forbidden answer is a ClientError, counted under no route.
    let m = common::metrics::scrape_when(&gw, |m| {
        m.count("tollgate_websocket_message_count", &[]) >= 2
    });
    let none = [("api", "chat"), ("stage", "prod"), ("route", "-")];
    assert_eq!(
        m.count("tollgate_websocket_client_error", &none),
        1,
        "{}",
        m.text
    );
    assert_eq!(
        m.count("tollgate_websocket_message_count", &[("route", "ping")]),
        1
    );
}

#[test]
fn binary_frames_close_with_1003_and_oversized_messages_with_1009() {
    let echo = mock_reply("ok");
    let (_cfg, gw) = start(&[("$default", &echo)], |c| {
        c.limit("websocket_frame_bytes", 256)
            .limit("websocket_message_bytes", 1024)
    });
    let big = format!("{{\"action\": \"x\", \"pad\": \"{}\"}}", "y".repeat(2000));
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[
            json!({"op": "connect", "name": "a"}),
            json!({"op": "send_binary", "name": "a", "hex": "0102"}),
            json!({"op": "recv", "name": "a"}),
            json!({"op": "connect", "name": "b"}),
            json!({"op": "send", "name": "b", "text": "{}"}),
            json!({"op": "recv", "name": "b"}),
            json!({"op": "send", "name": "b", "text": big}),
            json!({"op": "recv", "name": "b"}),
        ]),
    );
    assert_eq!(r[2]["closed"], 1003, "{r:?}");
    assert_eq!(r[5]["text"], "ok");
    assert_eq!(r[7]["closed"], 1009, "{r:?}");
}

#[test]
fn idle_connections_close_with_1001_going_away() {
    let echo = mock_reply("ok");
    let (_cfg, gw) = start(&[("$default", &echo)], |c| {
        c.limit("websocket_idle_timeout_ms", 400)
    });
    let started = Instant::now();
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[
            json!({"op": "connect", "name": "a"}),
            json!({"op": "recv", "name": "a", "timeout": 5}),
        ]),
    );
    assert_eq!(r[1]["closed"], 1001, "{r:?}");
    assert_eq!(r[1]["reason"], "Going away");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn plain_requests_and_unknown_stages_are_refused() {
    let echo = mock_reply("ok");
    let (_cfg, gw) = start(&[("$default", &echo)], |c| c);
    let reply = raw_request(&gw, "GET /prod HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 426 "), "{reply}");
    let reply = raw_request(
        &gw,
        "GET /staging HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 403 "), "{reply}");
    assert!(reply.ends_with("{\"message\":\"Forbidden\"}"), "{reply}");
}

/// Sends `request` on a new connection and returns everything the gateway answered.
fn raw_request(gw: &Gateway, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The chat function: `$connect` needs `?token=letmein` (else 401) and offers the
/// `chat.v1` subprotocol, `whoami` answers the connection id (two-way), `broadcast` posts
/// `text` to each id in `to` through `@connections` (boto3, signed with the function's
/// environment credentials); every event is appended to `EVENT_LOG`.
const CHAT_APP: &str = r#"
import json, os
import boto3

def handler(event, context):
    rc = event["requestContext"]
    with open(os.environ["EVENT_LOG"], "a") as f:
        f.write(json.dumps(event) + "\n")
    route = rc["routeKey"]
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        if query.get("token") != "letmein":
            return {"statusCode": 401, "body": "no token"}
        offered = (event["headers"].get("Sec-WebSocket-Protocol") or "").split(",")
        if "chat.v1" in [p.strip() for p in offered]:
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat.v1"}}
        return {"statusCode": 200}
    if route == "$disconnect":
        return {"statusCode": 200}
    body = json.loads(event["body"])
    if route == "whoami":
        return {"statusCode": 200, "body": rc["connectionId"]}
    if route == "broadcast":
        api = boto3.client("apigatewaymanagementapi", region_name="us-east-1",
                           endpoint_url="http://" + rc["domainName"] + "/" + rc["stage"])
        for to in body["to"]:
            api.post_to_connection(ConnectionId=to, Data=body["text"].encode())
        return {"statusCode": 200}
    return {"statusCode": 400}
"#;

fn chat_gateway() -> (ConfigDir, Gateway, std::path::PathBuf) {
    let uri = function_uri("chat");
    let lambda = format!(
        "integration = {{ type = \"AWS_PROXY\", uri = {} }}",
        toml_str(&uri)
    );
    let two_way = format!("{lambda}\nroute_response_selection_expression = \"$default\"");
    // One log per gateway: the tests of this file run in parallel in one process.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::env::temp_dir().join(format!(
        "tollgate-ws-events-{}-{n}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log);
    let settings = format!(
        "timeout = 10\nconcurrency = 2\nenv = {{ EVENT_LOG = {}, AWS_ACCESS_KEY_ID = \"{}\", AWS_SECRET_ACCESS_KEY = \"{}\" }}",
        toml_str(&log.display().to_string()),
        BACKEND.0,
        BACKEND.1
    );
    let (cfg, gw) = start(
        &[
            ("$connect", &lambda),
            ("$disconnect", &lambda),
            ("whoami", &two_way),
            ("broadcast", &lambda),
        ],
        |c| hosted_function(c, "chat", CHAT_APP, &settings),
    );
    (cfg, gw, log)
}

/// The events the chat function logged.
fn events(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_hosted_function_runs_the_routes_and_pushes_through_connections_across_shards() {
    let (_cfg, gw, log) = chat_gateway();
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    let mut plan = vec![json!({"op": "connect", "name": "nope"})];
    for n in names {
        plan.push(json!({"op": "connect", "name": n, "query": "token=letmein", "subprotocols": ["chat.v1"]}));
        plan.push(json!({"op": "learn", "name": n, "text": "{\"action\": \"whoami\"}"}));
    }
    let r = run_plan(&gw, BACKEND, steps(&plan));
    assert_eq!(r[0]["status"], 401, "{r:?}");
    assert_eq!(r[1]["subprotocol"], "chat.v1", "{r:?}");
    let ids: Vec<String> = (0..names.len())
        .map(|i| r[2 + 2 * i]["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(ids.iter().all(|id| id.len() == 16), "{ids:?}");
    // Twelve connections on two shards (SO_REUSEPORT hashes each one): the posts below cross
    // shards unless all twelve landed on one (then the test says so rather than pass
    // vacuously; a 1 in 2,048 chance).
    let shards: std::collections::BTreeSet<u16> = ids.iter().map(|id| shard_of(id)).collect();
    assert_eq!(shards.len(), 2, "connections all on one shard: {ids:?}");

    // The function, invoked for `a`'s message, posts to every connection (boto3 in the
    // function, so the calls arrive on either shard); then the test's own boto3 client.
    let mut plan = Vec::new();
    for n in names {
        plan.push(json!({"op": "connect", "name": n, "query": "token=letmein"}));
        plan.push(json!({"op": "learn", "name": n, "text": "{\"action\": \"whoami\"}"}));
    }
    let to: Vec<String> = names.iter().map(|n| format!("${n}")).collect();
    assert!(to.len() > 1);
    let broadcast = json!({"action": "broadcast", "to": to, "text": "hello all"});
    plan.push(json!({"op": "send", "name": "a", "text": broadcast.to_string()}));
    for n in names {
        plan.push(json!({"op": "recv", "name": n}));
    }
    for n in names {
        plan.push(json!({"op": "post", "id": format!("${n}"), "data": format!("direct to {n}")}));
    }
    for n in names {
        plan.push(json!({"op": "recv", "name": n}));
    }
    plan.push(json!({"op": "get", "id": "$b"}));
    plan.push(json!({"op": "close", "name": "a", "code": 1000}));
    plan.push(json!({"op": "sleep", "seconds": 0.5}));
    plan.push(json!({"op": "post", "id": "$a", "data": "too late"}));
    plan.push(json!({"op": "delete", "id": "$b"}));
    plan.push(json!({"op": "recv", "name": "b"}));
    plan.push(json!({"op": "get", "id": "$b"}));
    let r = run_plan(&gw, BACKEND, steps(&plan));
    let n = names.len();
    let base = 2 * n + 1;
    for (i, name) in names.iter().enumerate() {
        assert_eq!(r[base + i]["text"], "hello all", "{name}: {r:?}");
        assert_eq!(r[base + n + i]["ok"], true, "post {name}: {r:?}");
        assert_eq!(r[base + 2 * n + i]["text"], format!("direct to {name}"));
    }
    let base = base + 2 * n;
    let info = &r[base + n];
    assert_eq!(info["source_ip"], "127.0.0.1", "{info}");
    assert!(
        info["connected_at"].as_str().unwrap().starts_with("20"),
        "{info}"
    );
    let after = base + n + 1;
    assert_eq!(r[after + 2]["error"], "GoneException", "{r:?}");
    assert_eq!(r[after + 2]["status"], 410);
    assert_eq!(r[after + 3]["ok"], true, "delete: {r:?}");
    assert_eq!(
        r[after + 4]["closed"],
        1000,
        "deleted client sees a close: {r:?}"
    );
    assert_eq!(r[after + 5]["error"], "GoneException");

    // `$disconnect` ran for the closed and the deleted connection, with the close's code.
    let deadline = Instant::now() + Duration::from_secs(10);
    let disconnects = loop {
        let found: Vec<Value> = events(&log)
            .into_iter()
            .filter(|e| e["requestContext"]["eventType"] == "DISCONNECT")
            .collect();
        if found.len() >= 2 * names.len() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(disconnects.len() >= names.len(), "{disconnects:?}");
    let codes: Vec<i64> = disconnects
        .iter()
        .filter_map(|e| e["requestContext"]["disconnectStatusCode"].as_i64())
        .collect();
    assert!(codes.contains(&1000), "{codes:?}");
    let connect = events(&log)
        .into_iter()
        .find(|e| {
            e["requestContext"]["eventType"] == "CONNECT"
                && e["queryStringParameters"]["token"] == "letmein"
        })
        .expect("a $connect event");
    assert_eq!(connect["requestContext"]["routeKey"], "$connect");
    assert_eq!(connect["headers"]["X-Forwarded-Proto"], "http");
    assert_eq!(connect["isBase64Encoded"], false);
    let message = events(&log)
        .into_iter()
        .find(|e| e["requestContext"]["routeKey"] == "whoami")
        .expect("a whoami event");
    assert_eq!(message["body"], "{\"action\": \"whoami\"}");
    assert_eq!(message["requestContext"]["messageDirection"], "IN");
    assert_eq!(
        message["requestContext"]["messageId"]
            .as_str()
            .map(str::len),
        Some(16)
    );
    // 25 `$connect`s: one refused (the function's 401, an IntegrationError), 24 accepted.
    let m = common::metrics::scrape(&gw);
    let connect = [("route", "$connect")];
    assert_eq!(
        m.count("tollgate_websocket_connect_count", &connect),
        25,
        "{}",
        m.text
    );
    assert_eq!(m.count("tollgate_websocket_integration_error", &connect), 1);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn the_connections_api_needs_a_signature_and_the_manage_permission() {
    let echo = mock_reply("ok");
    let (_cfg, gw) = start(&[("$default", &echo)], |c| c);
    let r = run_plan(
        &gw,
        NOBODY,
        steps(&[
            json!({"op": "connect", "name": "a"}),
            json!({"op": "post", "id": "AAAAAAAAAAAAAAA=", "data": "x"}),
        ]),
    );
    assert_eq!(r[1]["status"], 403, "{r:?}");
    assert_eq!(r[1]["error"], "AccessDeniedException", "{r:?}");
    let reply = raw_request(
        &gw,
        "POST /prod/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
    );
    assert!(reply.starts_with("HTTP/1.1 403 "), "{reply}");
    assert!(reply.contains("Missing Authentication Token"), "{reply}");
    // A body over PostToConnection's 128 KB is refused and the connection closed (once).
    let reply = raw_request(
        &gw,
        "POST /prod/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
    assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply}");
    assert!(
        reply.contains("x-amzn-ErrorType: PayloadTooLargeException"),
        "{reply}"
    );
    // A stage the API does not have.
    let r = run_plan_at(
        &gw,
        "/dev",
        BACKEND,
        steps(&[json!({"op": "post", "id": "AAAAAAAAAAAAAAA=", "data": "x"})]),
    );
    assert_eq!(r[0]["status"], 403, "{r:?}");
    // Signed by the backend, for a connection that never existed: gone.
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[json!({"op": "post", "id": "AAAAAAAAAAAAAAA=", "data": "x"})]),
    );
    assert_eq!(r[0]["error"], "GoneException", "{r:?}");
}

#[test]
fn websocket_files_are_checked_with_file_line_and_field() {
    let cfg = ConfigDir::new();
    cfg.write_api(
        "chat",
        "id = \"chat\"\nprotocol_type = \"WEBSOCKET\"\n\n[stages.prod]\ndeployment = \"v1\"\n\n[deployments.v1.routes.\"$bogus\"]\nintegration = { type = \"HTTP\", uri = \"http://127.0.0.1:1/\" }\n\n[deployments.v1.methods.\"GET /x\"]\nintegration = { type = \"MOCK\" }\n\n[deployments.v1.routes.ping]\nintegration = { type = \"MOCK\" }\nauthorizer = \"gate\"\n",
    );
    cfg.write_api(
        "rest",
        "id = \"rest\"\nroute_selection_expression = \"$request.body.action\"\n\n[stages.prod]\ndeployment = \"v1\"\n\n[deployments.v1.routes.ping]\nintegration = { type = \"MOCK\" }\n",
    );
    let text = check_fails(cfg.path());
    assert_mentions(
        &text,
        &[
            "chat.toml:2",
            "needs `route_selection_expression`",
            "chat.toml:7",
            "`$bogus` is not a route key",
            "not HTTP",
            "a WebSocket API has `routes`, not `methods`",
            "only the $connect route can have an authorizer",
            "rest.toml:2",
            "route_selection_expression belongs to WebSocket APIs",
            "`routes` belong to WebSocket APIs",
        ],
    );
}

#[test]
fn a_draining_gateway_closes_websockets_with_1001_and_runs_disconnect() {
    let (_cfg, mut gw, log) = chat_gateway();
    let input = json!({
        "url": format!("ws://{}/prod", gw.addr()),
        "steps": [
            {"op": "connect", "name": "a", "query": "token=letmein"},
            {"op": "learn", "name": "a", "text": "{\"action\": \"whoami\"}"},
            {"op": "recv", "name": "a", "timeout": 10},
        ],
    });
    let client =
        std::thread::spawn(move || common::lambda::python_json("ws_client.py", &[], &input));
    // Once the client is connected (its `$connect` and `whoami` were logged), stop the node.
    let deadline = Instant::now() + Duration::from_secs(10);
    while events(&log).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.terminate();
    let out = client.join().unwrap();
    assert_eq!(out["results"][2]["closed"], 1001, "{out}");
    assert_eq!(out["results"][2]["reason"], "Going away");
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
    let disconnect = events(&log)
        .into_iter()
        .find(|e| e["requestContext"]["eventType"] == "DISCONNECT");
    let _ = std::fs::remove_file(&log);
    let disconnect = disconnect.expect("$disconnect ran during the drain");
    assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1001);
}

#[test]
fn a_reload_reaches_open_connections_with_their_next_message() {
    let before = mock_reply("before");
    let (cfg, gw) = start(&[("$default", &before)], |c| c);
    let input = json!({
        "url": format!("ws://{}/prod", gw.addr()),
        "steps": [
            {"op": "connect", "name": "a"},
            {"op": "send", "name": "a", "text": "{}"},
            {"op": "recv", "name": "a"},
            {"op": "sleep", "seconds": 2},
            {"op": "send", "name": "a", "text": "{}"},
            {"op": "recv", "name": "a"},
        ],
    });
    let client =
        std::thread::spawn(move || common::lambda::python_json("ws_client.py", &[], &input));
    std::thread::sleep(Duration::from_millis(700));
    let after = mock_reply("after");
    cfg.write_api("chat", &ws_api("chat", &[("$default", &after)]));
    assert!(matches!(gw.reload(), Reload::Reloaded { .. }));
    let out = client.join().unwrap();
    assert_eq!(out["results"][2]["text"], "before", "{out}");
    assert_eq!(
        out["results"][5]["text"], "after",
        "the same connection, after SIGHUP: {out}"
    );
}

#[test]
fn idle_and_duration_limits_follow_the_test_clock() {
    use common::clock::{advance_clock, start_frozen};
    let echo = mock_reply("ok");
    // Idle 10 minutes (AWS's), duration 15 (shorter than AWS's 2 hours, to tell them apart).
    let cfg = ConfigDir::new()
        .default_api("chat")
        .limit("websocket_idle_timeout_ms", 600_000)
        .limit("websocket_max_duration_ms", 900_000);
    cfg.write_api("chat", &ws_api("chat", &[("$default", &echo)]));
    let gw = start_frozen(&cfg, 1_796_126_400_000);
    let input = json!({
        "url": format!("ws://{}/prod", gw.addr()),
        "steps": [
            {"op": "connect", "name": "idle"},
            {"op": "connect", "name": "busy"},
            {"op": "sleep", "seconds": 1},
            {"op": "send", "name": "busy", "text": "{}"},
            {"op": "recv", "name": "busy"},
            {"op": "recv", "name": "idle", "timeout": 3},
            {"op": "send", "name": "busy", "text": "{}"},
            {"op": "recv", "name": "busy"},
            {"op": "recv", "name": "busy", "timeout": 6},
        ],
    });
    let client =
        std::thread::spawn(move || common::lambda::python_json("ws_client.py", &[], &input));
    std::thread::sleep(Duration::from_millis(700));
    // Minute 9: nothing closes (`busy` then speaks).
    advance_clock(&gw, Duration::from_secs(9 * 60));
    std::thread::sleep(Duration::from_millis(800));
    // Minute 11: `idle` has been silent 11 minutes and closes; `busy` spoke 2 minutes ago
    // (and speaks again).
    advance_clock(&gw, Duration::from_secs(2 * 60));
    std::thread::sleep(Duration::from_millis(3000));
    // Minute 16: `busy` has been silent 5 minutes, but open 16: the duration limit closes it.
    advance_clock(&gw, Duration::from_secs(5 * 60));
    let out = client.join().unwrap();
    let r = &out["results"];
    assert_eq!(r[4]["text"], "ok", "{out}");
    assert_eq!(r[5]["closed"], 1001, "idle for 11 minutes: {out}");
    assert_eq!(r[5]["reason"], "Going away");
    assert_eq!(r[7]["text"], "ok", "{out}");
    assert_eq!(r[8]["closed"], 1001, "open for 16 minutes: {out}");
}

/// A `REQUEST` authorizer: `token` `nope` is `Unauthorized`, `deny` gets a Deny policy, any
/// other token an Allow with a context; every event is logged.
const GATE_APP: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["EVENT_LOG"], "a") as f:
        f.write(json.dumps(event) + "\n")
    token = event["queryStringParameters"]["token"]
    if token == "nope":
        raise Exception("Unauthorized")
    effect = "Deny" if token == "deny" else "Allow"
    return {
        "principalId": "user-" + token,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        "context": {"user": token, "n": 7},
    }
"#;

#[test]
fn a_request_authorizer_decides_connect_and_its_context_reaches_every_event() {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log =
        std::env::temp_dir().join(format!("tollgate-ws-auth-{}-{n}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let env = format!(
        "timeout = 10\nenv = {{ EVENT_LOG = {}, AWS_ACCESS_KEY_ID = \"x\", AWS_SECRET_ACCESS_KEY = \"y\" }}",
        toml_str(&log.display().to_string())
    );
    let chat = format!(
        "integration = {{ type = \"AWS_PROXY\", uri = {} }}\nroute_response_selection_expression = \"$default\"",
        toml_str(&function_uri("chat"))
    );
    let connect = "integration = { type = \"MOCK\", status = 200 }\nauthorizer = \"gate\"";
    let cfg = ConfigDir::new().default_api("chat");
    let cfg = hosted_function(cfg, "chat", CHAT_APP, &env);
    let cfg = hosted_function(cfg, "auth", GATE_APP, &env);
    let mut file = ws_api("chat", &[("$connect", connect), ("whoami", &chat)]);
    file.push_str(&common::auth::authorizer_toml(
        "gate",
        "REQUEST",
        "route.request.querystring.token",
        "result_ttl_in_seconds = 0",
    ));
    cfg.write_api("chat", &file);
    let gw = Gateway::start(&cfg);
    let r = run_plan(
        &gw,
        BACKEND,
        steps(&[
            json!({"op": "connect", "name": "none"}),
            json!({"op": "connect", "name": "nope", "query": "token=nope"}),
            json!({"op": "connect", "name": "deny", "query": "token=deny"}),
            json!({"op": "connect", "name": "alice", "query": "token=alice"}),
            json!({"op": "learn", "name": "alice", "text": "{\"action\": \"whoami\"}"}),
        ]),
    );
    assert_eq!(r[0]["status"], 401, "no identity source: {r:?}");
    assert_eq!(r[1]["status"], 401, "the function said Unauthorized: {r:?}");
    assert_eq!(r[2]["status"], 403, "a Deny policy: {r:?}");
    assert_eq!(r[3]["ok"], true, "{r:?}");
    let all = events(&log);
    let _ = std::fs::remove_file(&log);
    let asked: Vec<&Value> = all.iter().filter(|e| e["type"] == "REQUEST").collect();
    // Three invocations: the request without a token was refused without one.
    assert_eq!(asked.len(), 3, "{all:?}");
    let first = asked[0];
    assert!(
        first["methodArn"]
            .as_str()
            .unwrap()
            .ends_with(":chat/prod/$connect"),
        "{first}"
    );
    assert_eq!(first["requestContext"]["eventType"], "CONNECT");
    assert_eq!(first["requestContext"]["routeKey"], "$connect");
    let message = all
        .iter()
        .find(|e| e["requestContext"]["routeKey"] == "whoami")
        .expect("the whoami event");
    let authorizer = &message["requestContext"]["authorizer"];
    assert_eq!(authorizer["principalId"], "user-alice", "{message}");
    assert_eq!(authorizer["user"], "alice");
    assert_eq!(authorizer["n"], "7");
}

#[test]
fn websockets_work_over_tls_and_survive_quiet_spells() {
    use common::tls::{domain_toml, write_cert, Pki};
    let pki = Pki::new("Tollgate test CA");
    let issued = pki.server(&["ws.test"]);
    let echo = mock_reply("ok");
    let cfg = ConfigDir::new().default_api("chat").gateway_extra(&format!(
        "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n{}",
        domain_toml("ws.test", "ws", "")
    ));
    write_cert(&cfg, "ws", &issued);
    cfg.write_api("chat", &ws_api("chat", &[("$default", &echo)]));
    let gw = Gateway::start(&cfg);
    let input = json!({
        "url": format!("wss://{}/prod", gw.tls_addr()),
        "tls_sni": "ws.test",
        "steps": [
            {"op": "connect", "name": "a"},
            {"op": "send", "name": "a", "text": "{}"},
            {"op": "recv", "name": "a"},
            // Past the 100 ms after which a quiet session parks its buffers.
            {"op": "sleep", "seconds": 0.5},
            {"op": "send", "name": "a", "text": "{}"},
            {"op": "recv", "name": "a"},
        ],
    });
    let out = common::lambda::python_json("ws_client.py", &[], &input);
    let r = &out["results"];
    assert_eq!(r[0]["ok"], true, "{out}");
    assert_eq!(r[2]["text"], "ok", "{out}");
    assert_eq!(r[5]["text"], "ok", "{out}");
}
