//! The gateway's test clock, as the cache, quota and throttle tests drive it: started frozen
//! at a Unix time (`tollgate::clock::TEST_CLOCK_ENV`), it moves only when a test sets or
//! advances it through the admin listener. Buckets therefore never refill, and quota periods
//! and cache TTLs are crossed exactly, without sleeping or timing thresholds.

use std::time::Duration;

use tollgate::clock::TEST_CLOCK_ENV;

use super::{ConfigDir, Gateway, Req};

/// Where tests that need no particular date start the clock: 2026-11-23 00:00:00 UTC.
pub const START_DATE: &str = "2026-11-23";

/// Unix milliseconds of `YYYY-MM-DD` at `secs` seconds after midnight UTC.
pub fn day_ms(date: &str, secs: u64) -> u64 {
    let day = tollgate::throttle::quota::parse_day(date).expect("YYYY-MM-DD");
    (u64::from(day) * 86_400 + secs) * 1000
}

/// Starts the gateway with its clock frozen at `unix_ms`.
pub fn start_frozen(cfg: &ConfigDir, unix_ms: u64) -> Gateway {
    start_frozen_with_env(cfg, unix_ms, &[])
}

/// [`start_frozen`] with more environment variables (e.g. `RUST_LOG`).
pub fn start_frozen_with_env(cfg: &ConfigDir, unix_ms: u64, env: &[(&str, &str)]) -> Gateway {
    let unix_ms = unix_ms.to_string();
    let mut all = vec![(TEST_CLOCK_ENV, unix_ms.as_str())];
    all.extend_from_slice(env);
    Gateway::start_with_env(cfg.path(), &all)
}

/// Sets the frozen clock of a gateway started with [`start_frozen`] to `unix_ms`; returns
/// the time the gateway reports.
pub fn set_clock(gw: &Gateway, unix_ms: u64) -> u64 {
    move_clock(gw, &format!("/test/clock?ms={unix_ms}"))
}

/// Moves the frozen clock of a gateway started with [`start_frozen`] forward by `by`
/// (whole milliseconds); returns the time the gateway reports.
pub fn advance_clock(gw: &Gateway, by: Duration) -> u64 {
    let ms = u64::try_from(by.as_millis()).expect("a test-sized duration");
    move_clock(gw, &format!("/test/clock/advance?ms={ms}"))
}

fn move_clock(gw: &Gateway, target: &str) -> u64 {
    let resp = Req::new("POST", target).send(gw.admin_addr());
    assert_eq!(resp.status, 200, "POST {target}: {resp:?}");
    let body: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON answer");
    body["ms"].as_u64().expect("`ms` in the answer")
}
