//! Helpers for traffic-management tests: keyed requests, AWS's throttling bodies, the usage
//! report and `tollgate keys import`. The frozen gateway clock these tests run on is in
//! [`super::clock`].

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use super::{Gateway, Req, Response};

/// 429 body of a throttle.
pub const TOO_MANY_REQUESTS: &str = r#"{"message":"Too Many Requests"}"#;
/// 429 body of a spent quota.
pub const LIMIT_EXCEEDED: &str = r#"{"message":"Limit Exceeded"}"#;
/// 403 body of a bad or missing API key.
pub const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;

/// API `shop`, stage `prod`, one MOCK method `GET /keyed` that requires an API key (answers
/// `keyed`).
pub const KEYED_API: &str = r#"id = "shop"
[stages.prod]
deployment = "v1"

[deployments.v1.methods."GET /keyed"]
api_key_required = true
integration = { type = "MOCK", status = 200, body = "keyed" }
"#;

/// `GET path` with `x-api-key: key` on a fresh connection.
pub fn keyed(addr: SocketAddr, path: &str, key: &str) -> Response {
    Req::get(path).header("x-api-key", key).send(addr)
}

/// Status codes of `n` requests made by `f`.
pub fn statuses(n: usize, mut f: impl FnMut() -> Response) -> Vec<u16> {
    (0..n).map(|_| f().status).collect()
}

/// Asserts a gateway error: status, exact body and `x-amzn-ErrorType`.
#[track_caller]
pub fn assert_error(resp: &Response, status: u16, body: &str, error_type: &str) {
    resp.assert(status, body);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some(error_type),
        "x-amzn-ErrorType of {resp:?}"
    );
}

/// Asserts AWS's throttling answer.
#[track_caller]
pub fn assert_throttled(resp: &Response) {
    assert_error(resp, 429, TOO_MANY_REQUESTS, "TooManyRequestsException");
}

/// Asserts AWS's quota answer.
#[track_caller]
pub fn assert_limit_exceeded(resp: &Response) {
    assert_error(resp, 429, LIMIT_EXCEEDED, "LimitExceededException");
}

/// Asserts AWS's API key refusal.
#[track_caller]
pub fn assert_forbidden(resp: &Response) {
    assert_error(resp, 403, FORBIDDEN, "ForbiddenException");
}

/// `GET /usageplans/{plan}/usage?{query}` on the admin listener, as JSON.
pub fn usage_report(gw: &Gateway, plan: &str, query: &str) -> serde_json::Value {
    let resp = Req::get(&format!("/usageplans/{plan}/usage?{query}")).send(gw.admin_addr());
    assert_eq!(resp.status, 200, "usage report: {resp:?}");
    serde_json::from_slice(&resp.body).expect("usage report is JSON")
}

/// Runs `tollgate keys import CSV --config DIR`.
pub fn import_keys(csv: &Path, dir: &Path) -> Output {
    Command::new(super::tollgate_bin())
        .args(["keys", "import"])
        .arg(csv)
        .arg("--config")
        .arg(dir)
        .output()
        .expect("run tollgate keys import")
}

/// A usage-plan file with one plan covering `api/stage`; `extra` is added to the plan table
/// (e.g. `throttle = {...}` or `quota = {...}`).
pub fn plan_toml(id: &str, api: &str, stage: &str, extra: &str) -> String {
    format!("[plans.{id}]\n{extra}\n[[plans.{id}.stages]]\napi = \"{api}\"\nstage = \"{stage}\"\n")
}

/// One `[keys.ID]` table.
pub fn key_toml(id: &str, value: &str, enabled: bool, plans: &[&str]) -> String {
    let plans: Vec<String> = plans.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[keys.{id}]\nvalue = \"{value}\"\nenabled = {enabled}\nusage_plans = [{}]\n",
        plans.join(", ")
    )
}
