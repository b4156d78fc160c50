//! WebSocket APIs in tests: API files with `routes`, and plans run by real clients (PyPI
//! `websockets`, boto3's `apigatewaymanagementapi`) through `tests/aws/ws_client.py`.

#![allow(dead_code)]

use serde_json::{json, Value};

use super::lambda::python_json;
use super::Gateway;

/// A WebSocket API file: `id`, stage `prod` serving deployment `v1`, selection on
/// `$request.body.action`, and `routes` (raw TOML tables, one per route: `("$default",
/// "integration = {...}\nroute_response_selection_expression = \"$default\"")`).
pub fn ws_api(id: &str, routes: &[(&str, &str)]) -> String {
    let mut text = format!(
        "id = \"{id}\"\nprotocol_type = \"WEBSOCKET\"\nroute_selection_expression = \"$request.body.action\"\n\n[stages.prod]\ndeployment = \"v1\"\n\n"
    );
    for (key, table) in routes {
        text.push_str(&format!("[deployments.v1.routes.\"{key}\"]\n{table}\n\n"));
    }
    text
}

/// A two-way MOCK route answering `body`.
pub fn mock_reply(body: &str) -> String {
    format!(
        "integration = {{ type = \"MOCK\", body = {} }}\nroute_response_selection_expression = \"$default\"",
        super::toml_str(body)
    )
}

/// Runs `steps` against stage `prod` of the gateway's default API (path style), with
/// `key` signing the `@connections` calls; returns one result per step.
pub fn run_plan(gw: &Gateway, key: (&str, &str), steps: Value) -> Vec<Value> {
    run_plan_at(gw, "/prod", key, steps)
}

/// [`run_plan`] with the clients and `@connections` at `path` (a stage's, `/prod`).
pub fn run_plan_at(gw: &Gateway, path: &str, key: (&str, &str), steps: Value) -> Vec<Value> {
    let input = json!({
        "url": format!("ws://{}{path}", gw.addr()),
        "endpoint": format!("http://{}{path}", gw.addr()),
        "access_key": key.0,
        "secret_key": key.1,
        "steps": steps,
    });
    let out = python_json("ws_client.py", &[], &input);
    out["results"].as_array().cloned().unwrap_or_default()
}

/// The shard a connection id names (its first two bytes, `ws::registry::ConnectionId`).
pub fn shard_of(id: &str) -> u16 {
    let raw = base64url(id);
    u16::from_be_bytes([raw[0], raw[1]])
}

fn base64url(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().take_while(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}
