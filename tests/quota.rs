//! Usage-plan quotas, durable usage counters, the usage report and `tollgate keys import`.
//! The gateway's clock is frozen and moved by the test (see `common::clock`), so period
//! boundaries are crossed exactly, without waiting.

mod common;

use std::time::Duration;

use common::clock::*;
use common::traffic::*;
use common::*;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

/// API `shop`, plan `gold` with `quota` on shop/prod, keys a and b in it.
fn config(quota: &str) -> ConfigDir {
    let cfg = ConfigDir::new().default_api("shop");
    cfg.write_api("shop", KEYED_API);
    cfg.write_file(
        "usage_plans.toml",
        &plan_toml("gold", "shop", "prod", quota),
    );
    write_keys(&cfg, true);
    cfg
}

fn write_keys(cfg: &ConfigDir, with_a: bool) {
    let mut keys = key_toml("b", KEY_B, true, &["gold"]);
    if with_a {
        keys.push('\n');
        keys.push_str(&key_toml("a", KEY_A, true, &["gold"]));
    }
    cfg.write_file("api_keys.toml", &keys);
}

fn call(gw: &Gateway, key: &str) -> Response {
    keyed(gw.addr(), "/prod/keyed", key)
}

/// Key a's `[used, remaining]` per day of plan gold, `first..=last`.
fn usage_of_a(gw: &Gateway, first: &str, last: &str) -> serde_json::Value {
    let query = format!("keyId=a&startDate={first}&endDate={last}");
    usage_report(gw, "gold", &query)["values"]["a"].clone()
}

#[test]
fn daily_quota_is_exceeded_until_the_next_utc_day() {
    let cfg = config(r#"quota = { limit = 3, period = "DAY" }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 86_400 - 60));
    assert_eq!(statuses(3, || call(&gw, KEY_A)), [200, 200, 200]);
    assert_limit_exceeded(&call(&gw, KEY_A));
    // The quota is per key: b still has its own.
    call(&gw, KEY_B).assert(200, "keyed");
    set_clock(&gw, day_ms("2026-11-23", 86_399));
    assert_limit_exceeded(&call(&gw, KEY_A));
    set_clock(&gw, day_ms("2026-11-24", 0));
    assert_eq!(statuses(4, || call(&gw, KEY_A)), [200, 200, 200, 429]);
}

#[test]
fn weekly_quota_resets_on_the_offset_weekday() {
    // offset 1: weeks start on Monday (2026-11-23 and 2026-11-30 are Mondays).
    let cfg = config(r#"quota = { limit = 2, period = "WEEK", offset = 1 }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-28", 0));
    assert_eq!(statuses(3, || call(&gw, KEY_A)), [200, 200, 429]);
    set_clock(&gw, day_ms("2026-11-29", 86_399));
    assert_limit_exceeded(&call(&gw, KEY_A));
    set_clock(&gw, day_ms("2026-11-30", 1));
    assert_eq!(statuses(3, || call(&gw, KEY_A)), [200, 200, 429]);
}

#[test]
fn quota_usage_survives_a_graceful_restart() {
    let cfg = config(r#"quota = { limit = 3, period = "MONTH" }"#);
    let now = day_ms("2026-11-23", 100);
    let mut gw = start_frozen(&cfg, now);
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 200]);
    gw.terminate();
    assert!(gw.wait_exit(Duration::from_secs(20)).success());
    drop(gw);
    let gw = start_frozen(&cfg, now);
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 429]);
    assert_eq!(
        usage_of_a(&gw, "2026-11-23", "2026-11-23"),
        serde_json::json!([[3, 0]])
    );
}

#[test]
fn flushed_usage_survives_kill_9() {
    let cfg = config(r#"quota = { limit = 3, period = "DAY" }"#);
    let now = day_ms("2026-11-23", 100);
    let mut gw = start_frozen(&cfg, now);
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 200]);
    // The report flushes (commits) the counters before answering.
    assert_eq!(
        usage_of_a(&gw, "2026-11-23", "2026-11-23"),
        serde_json::json!([[2, 1]])
    );
    gw.signal(libc::SIGKILL);
    assert!(!gw.wait_exit(Duration::from_secs(10)).success());
    drop(gw);
    let gw = start_frozen(&cfg, now);
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 429]);
}

#[test]
fn reload_keeps_quota_counters() {
    let cfg = config(r#"quota = { limit = 3, period = "DAY" }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 200]);
    cfg.write_api("shop", &format!("{KEYED_API}\n# touched\n"));
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200, 429]);
}

#[test]
fn a_removed_and_re_added_key_keeps_its_period_usage() {
    let cfg = config(r#"quota = { limit = 2, period = "DAY" }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    assert_eq!(statuses(3, || call(&gw, KEY_A)), [200, 200, 429]);
    write_keys(&cfg, false);
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    assert_forbidden(&call(&gw, KEY_A));
    write_keys(&cfg, true);
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 3 });
    assert_limit_exceeded(&call(&gw, KEY_A));
}

#[test]
fn requests_just_before_midnight_are_reported_on_their_day() {
    // No flush happens between the last request of a day and the first of the next.
    let cfg = config(r#"quota = { limit = 10, period = "DAY" }"#)
        .gateway_extra("\n[usage]\nflush_interval_ms = 60000\n");
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 86_399));
    assert_eq!(statuses(3, || call(&gw, KEY_A)), [200; 3]);
    set_clock(&gw, day_ms("2026-11-24", 1));
    assert_eq!(statuses(2, || call(&gw, KEY_A)), [200; 2]);

    assert_eq!(
        usage_of_a(&gw, "2026-11-23", "2026-11-24"),
        serde_json::json!([[3, 7], [2, 8]])
    );
}

#[test]
fn usage_report_counts_every_admitted_request_per_day() {
    let cfg = config(r#"quota = { limit = 10, period = "DAY" }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    assert_eq!(statuses(4, || call(&gw, KEY_A)), [200; 4]);
    assert_eq!(statuses(2, || call(&gw, KEY_B)), [200; 2]);
    // Refused requests are not usage.
    assert_forbidden(&get(gw.addr(), "/prod/keyed"));
    set_clock(&gw, day_ms("2026-11-24", 100));
    call(&gw, KEY_A).assert(200, "keyed");

    let report = usage_report(&gw, "gold", "startDate=2026-11-22&endDate=2026-11-24");
    let expected = serde_json::json!({
        "usagePlanId": "gold",
        "startDate": "2026-11-22",
        "endDate": "2026-11-24",
        "values": {
            "a": [[0, 10], [4, 6], [1, 9]],
            "b": [[0, 10], [2, 8], [0, 10]],
        }
    });
    assert_eq!(report, expected);
    let only_b = usage_report(
        &gw,
        "gold",
        "keyId=b&startDate=2026-11-23&endDate=2026-11-23",
    );
    assert_eq!(only_b["values"], serde_json::json!({ "b": [[2, 8]] }));
    let unknown = Req::get("/usageplans/nope/usage?startDate=2026-11-23&endDate=2026-11-23")
        .send(gw.admin_addr());
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let bad = Req::get("/usageplans/gold/usage?startDate=yesterday&endDate=2026-11-23")
        .send(gw.admin_addr());
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[test]
fn csv_import_with_a_bad_row_imports_nothing_and_names_each_bad_line() {
    let cfg = config("");
    let csv = cfg.path().join("keys.csv");
    std::fs::write(
        &csv,
        "Name,Key,Enabled,Description,UsagePlanIds\n\
         carol,cccccccccccccccccccccccc,true,good row,gold\n\
         dave,short,true,,gold\n\
         erin,eeeeeeeeeeeeeeeeeeeeeeee,true,,platinum\n\
         a-again,aaaaaaaaaaaaaaaaaaaaaaaa,true,,gold\n",
    )
    .unwrap();
    let out = import_keys(&csv, cfg.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("nothing imported, 3 bad line(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: Key"), "{stderr}");
    assert!(
        stderr.contains("line 4: usage plan `platinum` is not defined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: this key value already exists"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 2"), "{stderr}");
    assert!(!cfg.path().join("api_keys").exists(), "a file was written");
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    assert_forbidden(&call(&gw, "cccccccccccccccccccccccc"));
}

#[test]
fn csv_import_adds_keys_that_work_after_a_reload() {
    let cfg = config(r#"quota = { limit = 5, period = "DAY" }"#);
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    let csv = cfg.path().join("keys.csv");
    std::fs::write(
        &csv,
        "Name,Key,Enabled,Description,UsagePlanIds\r\n\
         carol,cccccccccccccccccccccccc,true,\"first, imported\",gold\r\n\
         dave,dddddddddddddddddddddddd,false,,gold\r\n",
    )
    .unwrap();
    let out = import_keys(&csv, cfg.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported 2 API key(s)"), "{stdout}");
    assert_forbidden(&call(&gw, "cccccccccccccccccccccccc"));
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    call(&gw, "cccccccccccccccccccccccc").assert(200, "keyed");
    assert_forbidden(&call(&gw, "dddddddddddddddddddddddd"));
    let report = usage_report(&gw, "gold", "startDate=2026-11-23&endDate=2026-11-23");
    let items = report["values"].as_object().expect("values");
    let carol = items
        .iter()
        .find(|(_, v)| v[0][0] == 1)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| panic!("no key with one request: {report}"));
    assert!(carol.starts_with('k') && carol.len() == 17, "{carol}");
    assert!(!gw.logs_text().contains("cccccccccccccccccccccccc"));
}
