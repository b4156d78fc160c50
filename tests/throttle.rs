//! Throttling at every AWS level, API keys and their 403s. The gateway's clock is
//! frozen (see `common::clock`), so buckets never refill and exactly `burst` requests pass:
//! no test depends on timing. Requests use fresh connections, spread over both shards by
//! SO_REUSEPORT, so the counts also prove the buckets are node-wide.

mod common;

use std::time::Duration;

use common::clock::*;
use common::metrics::scrape_after;
use common::traffic::*;
use common::*;

const NOW: &str = "2026-11-23";
const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_OFF: &str = "dddddddddddddddddddddddd";
const KEY_DEV: &str = "eeeeeeeeeeeeeeeeeeeeeeee";

/// API `shop`: stage `prod` with the given extra stage lines; `/open` is public, `/keyed` and
/// `/keyed2` need an API key; stage `dev` serves the same deployment.
fn shop(stage_extra: &str) -> String {
    format!(
        r#"id = "shop"
[stages.prod]
deployment = "v1"
{stage_extra}
[stages.dev]
deployment = "v1"

[deployments.v1.methods."GET /open"]
integration = {{ type = "MOCK", status = 200, body = "open" }}

[deployments.v1.methods."GET /other"]
integration = {{ type = "MOCK", status = 200, body = "other" }}

[deployments.v1.methods."GET /keyed"]
api_key_required = true
integration = {{ type = "MOCK", status = 200, body = "keyed" }}

[deployments.v1.methods."GET /keyed2"]
api_key_required = true
integration = {{ type = "MOCK", status = 200, body = "keyed2" }}
"#
    )
}

fn config(stage_extra: &str) -> ConfigDir {
    let cfg = ConfigDir::new().default_api("shop");
    cfg.write_api("shop", &shop(stage_extra));
    cfg
}

fn start(cfg: &ConfigDir) -> Gateway {
    start_frozen(cfg, day_ms(NOW, 3600))
}

#[test]
fn account_level_limit_applies_to_every_method() {
    let cfg = config("").gateway_extra("[throttle]\nrate_limit = 1\nburst_limit = 3\n");
    let gw = start(&cfg);
    get(gw.addr(), "/prod/open").assert(200, "open");
    get(gw.addr(), "/prod/other").assert(200, "other");
    get(gw.addr(), "/dev/open").assert(200, "open");
    assert_throttled(&get(gw.addr(), "/prod/open"));
    assert_throttled(&get(gw.addr(), "/dev/other"));
    // `/metrics` counts the two refusals under the account level only.
    let m = scrape_after(&gw, 5);
    let throttled = |level| m.count("tollgate_throttled_requests_total", &[("level", level)]);
    assert_eq!(throttled("account"), 2);
    assert_eq!(throttled("stage") + throttled("usage_plan"), 0);
}

#[test]
fn stage_default_limits_each_method_separately() {
    let cfg = config("throttle = { rate_limit = 1, burst_limit = 2 }");
    let gw = start(&cfg);
    assert_eq!(
        statuses(4, || get(gw.addr(), "/prod/open")),
        [200, 200, 429, 429]
    );
    assert_throttled(&get(gw.addr(), "/prod/open"));
    // Another method of the stage has its own bucket; another stage is not limited.
    assert_eq!(
        statuses(3, || get(gw.addr(), "/prod/other")),
        [200, 200, 429]
    );
    assert_eq!(statuses(4, || get(gw.addr(), "/dev/open")), [200; 4]);
    let m = scrape_after(&gw, 12);
    let throttled = |level| m.count("tollgate_throttled_requests_total", &[("level", level)]);
    assert_eq!((throttled("stage"), throttled("account")), (4, 0));
}

#[test]
fn advancing_the_clock_refills_a_bucket_at_its_rate() {
    let cfg = config("throttle = { rate_limit = 1, burst_limit = 2 }");
    let gw = start(&cfg);
    assert_eq!(
        statuses(3, || get(gw.addr(), "/prod/open")),
        [200, 200, 429]
    );
    // Rate 1/s: the next token is due exactly one second later.
    advance_clock(&gw, Duration::from_millis(999));
    assert_throttled(&get(gw.addr(), "/prod/open"));
    assert_eq!(
        advance_clock(&gw, Duration::from_millis(1)),
        day_ms(NOW, 3601)
    );
    assert_eq!(statuses(2, || get(gw.addr(), "/prod/open")), [200, 429]);
}

#[test]
fn test_clock_calls_are_not_found_without_the_test_clock() {
    let gw = Gateway::start(&config(""));
    for target in [
        "/test/clock?ms=1",
        "/test/clock/advance?ms=1",
        "/test/cache-clock/advance/1",
    ] {
        Req::new("POST", target)
            .send(gw.admin_addr())
            .assert(404, r#"{"message":"Not Found"}"#);
    }
}

#[test]
fn per_method_setting_overrides_the_stage_default() {
    let cfg = config(&format!(
        "throttle = {{ rate_limit = 1, burst_limit = 4 }}\n{}",
        method_settings_toml(
            "prod",
            "GET /open",
            "throttling_rate_limit = 1\nthrottling_burst_limit = 1"
        )
    ));
    let gw = start(&cfg);
    assert_eq!(statuses(2, || get(gw.addr(), "/prod/open")), [200, 429]);
    assert_throttled(&get(gw.addr(), "/prod/open"));
    assert_eq!(
        statuses(5, || get(gw.addr(), "/prod/other")),
        [200, 200, 200, 200, 429]
    );
    // The per-method limit belongs to the stage: stage `dev` serves the method unlimited.
    assert_eq!(statuses(3, || get(gw.addr(), "/dev/open")), [200; 3]);
    let m = scrape_after(&gw, 11);
    let throttled = |level| m.count("tollgate_throttled_requests_total", &[("level", level)]);
    assert_eq!((throttled("stage"), throttled("account")), (3, 0));
}

#[test]
fn one_method_settings_entry_applies_its_throttle_and_its_cache_ttl() {
    let backend = common::cache::counting_backend();
    // Stage: cache for 300 s, 10 requests per method. `ANY /pets/{id}`: 3 requests, 5 s.
    let api = common::cache::cached_api(
        &backend,
        "cache_cluster_enabled = true\ncache_ttl_in_seconds = 300\n\
         throttle = { rate_limit = 1, burst_limit = 10 }",
    )
    .method_settings(
        "prod",
        "ANY /pets/{id}",
        "throttling_rate_limit = 1\nthrottling_burst_limit = 3\ncache_ttl_in_seconds = 5",
    );
    // One shard: every request sees the same cache partition.
    let cfg = ConfigDir::with_api(&api).shards(1);
    let gw = start_frozen(&cfg, day_ms(NOW, 3600));
    get(gw.addr(), "/prod/pets/1").assert(200, "#1");
    get(gw.addr(), "/prod/pets/1").assert(200, "#1");
    get(gw.addr(), "/prod/pets").assert(200, "#2");
    // The method's TTL (5 s) is over, the stage's (300 s) is not.
    advance_clock(&gw, Duration::from_secs(6));
    get(gw.addr(), "/prod/pets/1").assert(200, "#3");
    get(gw.addr(), "/prod/pets").assert(200, "#2");
    // The 6 s also refilled the method's bucket to its burst of 3: one token is spent on
    // the miss above, two more on cache hits (hits take tokens too), then it is empty ...
    get(gw.addr(), "/prod/pets/1").assert(200, "#3");
    get(gw.addr(), "/prod/pets/1").assert(200, "#3");
    assert_throttled(&get(gw.addr(), "/prod/pets/1"));
    // ... while the other method still has the stage default's tokens.
    get(gw.addr(), "/prod/pets").assert(200, "#2");
    assert_eq!(backend.requests().len(), 3);
    let m = scrape_after(&gw, 9);
    let throttled = |level| m.count("tollgate_throttled_requests_total", &[("level", level)]);
    assert_eq!(throttled("stage"), 1);
}

/// Plans: `gold` (per-key burst 2, and 1 on GET /keyed) and `silver` (no per-key limit),
/// both on shop/prod; `devplan` on shop/dev only.
fn keyed_config(stage_extra: &str) -> ConfigDir {
    let cfg = config(stage_extra);
    let plans = format!(
        "{}\n[[plans.gold.stages]]\napi = \"shop\"\nstage = \"prod\"\nmethod_throttle = {{ \"GET /keyed\" = {{ rate_limit = 1, burst_limit = 1 }} }}\n\n{}\n{}",
        "[plans.gold]\nthrottle = { rate_limit = 1, burst_limit = 2 }",
        plan_toml("silver", "shop", "prod", ""),
        plan_toml("devplan", "shop", "dev", ""),
    );
    cfg.write_file("usage_plans.toml", &plans);
    let keys = [
        key_toml("a", KEY_A, true, &["gold"]),
        key_toml("b", KEY_B, true, &["silver"]),
        key_toml("off", KEY_OFF, false, &["gold"]),
        key_toml("devkey", KEY_DEV, true, &["devplan"]),
    ]
    .join("\n");
    cfg.write_file("api_keys.toml", &keys);
    cfg
}

#[test]
fn missing_unknown_disabled_or_foreign_keys_are_forbidden() {
    let cfg = keyed_config("");
    let gw = start(&cfg);
    assert_forbidden(&get(gw.addr(), "/prod/keyed2"));
    assert_forbidden(&keyed(
        gw.addr(),
        "/prod/keyed2",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
    ));
    // One character short of a real key.
    assert_forbidden(&keyed(gw.addr(), "/prod/keyed2", &KEY_A[1..]));
    assert_forbidden(&keyed(gw.addr(), "/prod/keyed2", KEY_OFF));
    // A valid key whose plan does not cover this stage.
    assert_forbidden(&keyed(gw.addr(), "/prod/keyed2", KEY_DEV));
    keyed(gw.addr(), "/dev/keyed2", KEY_DEV).assert(200, "keyed2");
    keyed(gw.addr(), "/prod/keyed2", KEY_A).assert(200, "keyed2");
    // Methods without apiKeyRequired ignore keys, valid or not.
    get(gw.addr(), "/prod/open").assert(200, "open");
    keyed(gw.addr(), "/prod/open", "nonsense").assert(200, "open");
    let logs = gw.logs_text();
    assert!(
        !logs.contains(KEY_A) && !logs.contains(KEY_OFF),
        "a key was logged:\n{logs}"
    );
}

#[test]
fn per_key_limit_lower_than_the_stage_wins_for_that_key_only() {
    let cfg = keyed_config("throttle = { rate_limit = 1, burst_limit = 5 }");
    let gw = start(&cfg);
    // Key a (gold, per-key burst 2) is stopped by its plan ...
    assert_eq!(
        statuses(3, || keyed(gw.addr(), "/prod/keyed2", KEY_A)),
        [200, 200, 429]
    );
    assert_throttled(&keyed(gw.addr(), "/prod/keyed2", KEY_A));
    // ... while key b (silver, no per-key limit) gets the rest of the stage's 5.
    assert_eq!(
        statuses(4, || keyed(gw.addr(), "/prod/keyed2", KEY_B)),
        [200, 200, 200, 429]
    );
}

#[test]
fn per_key_per_method_limit_comes_first() {
    let cfg = keyed_config("");
    let gw = start(&cfg);
    assert_eq!(
        statuses(2, || keyed(gw.addr(), "/prod/keyed", KEY_A)),
        [200, 429]
    );
    // The per-key limit (burst 2) still has one token: the rejected request took none.
    keyed(gw.addr(), "/prod/keyed2", KEY_A).assert(200, "keyed2");
    assert_throttled(&keyed(gw.addr(), "/prod/keyed2", KEY_A));
    // Key b's plan has no such method limit.
    assert_eq!(
        statuses(3, || keyed(gw.addr(), "/prod/keyed", KEY_B)),
        [200, 200, 200]
    );
}

#[test]
fn reload_keeps_bucket_state_unless_the_setting_changes() {
    let cfg = config("throttle = { rate_limit = 1, burst_limit = 2 }");
    let gw = start(&cfg);
    assert_eq!(statuses(2, || get(gw.addr(), "/prod/open")), [200, 200]);
    // Unchanged setting: the spent bucket survives the reload.
    cfg.write_api(
        "shop",
        &shop("throttle = { rate_limit = 1, burst_limit = 2 }\n# touched"),
    );
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    assert_throttled(&get(gw.addr(), "/prod/open"));
    // A new setting starts a new, full bucket.
    cfg.write_api(
        "shop",
        &shop("throttle = { rate_limit = 1, burst_limit = 3 }"),
    );
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 3 });
    assert_eq!(
        statuses(4, || get(gw.addr(), "/prod/open")),
        [200, 200, 200, 429]
    );
}

#[test]
fn throttle_settings_are_validated_with_file_and_line() {
    let cfg = config(&format!(
        "throttle = {{ rate_limit = -1, burst_limit = 2 }}\n{}{}",
        method_settings_toml(
            "prod",
            "GET /nope",
            "throttling_rate_limit = 1\nthrottling_burst_limit = 1"
        ),
        method_settings_toml("prod", "GET /open", "throttling_burst_limit = -1"),
    ));
    cfg.write_file(
        "usage_plans.toml",
        &plan_toml("gold", "shop", "staging", ""),
    );
    let out = run_check(cfg.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("shop.toml:4: stages.prod.throttle.rate_limit: rate_limit must be 0 or more"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "shop.toml:5: stages.prod.method_settings.\"GET /nope\": `GET /nope` is not a method of deployment `v1`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "shop.toml:9: stages.prod.method_settings.\"GET /open\".throttling_burst_limit: \
             throttling_burst_limit must be between 0 and 1000000000, got -1"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "usage_plans.toml:5: plans.gold.stages[0].stage: API `shop` has no stage `staging`"
        ),
        "{stderr}"
    );
}

#[test]
fn stage_method_throttle_is_refused_with_where_to_move_it() {
    let cfg = config(&method_settings_toml(
        "prod",
        "GET /open",
        "throttling_rate_limit = 1\nthrottling_burst_limit = 1",
    ));
    let gw = start(&cfg);
    get(gw.addr(), "/prod/open").assert(200, "open");
    // The former spelling fails `--check` and a reload, saying where the entry goes ...
    let old = shop("method_throttle = { \"GET /open\" = { rate_limit = 5, burst_limit = 2 } }");
    cfg.write_api("shop", &old);
    let expected = "shop.toml:4: stages.prod.method_throttle.\"GET /open\": `method_throttle` is \
                    no longer a stage setting: move this entry to \
                    `[stages.prod.method_settings.\"GET /open\"]` as `throttling_rate_limit = 5` \
                    and `throttling_burst_limit = 2`";
    let out = run_check(cfg.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("unknown field"), "{stderr}");
    assert_eq!(gw.reload(), Reload::Failed);
    gw.assert_logged(expected);
    // ... and the running configuration keeps its per-method limit (burst 1, spent).
    assert_throttled(&get(gw.addr(), "/prod/open"));
}
