//! Cluster mode, quotas and usage: two real gateway processes sharing a real `redis-server`
//! hold one usage-plan quota between them, with traffic spread or on one node; the usage
//! report on either node adds up the fleet; the test clock moves both nodes into the next
//! period; and with Redis killed and restarted empty, the nodes keep within their shares and
//! the fleet's books converge to what was admitted, nothing lost and nothing counted twice.

mod common;

use std::time::{Duration, Instant};

use common::clock::*;
use common::metrics::scrape_when;
use common::redis::{cluster_section, joined, RedisServer};
use common::traffic::*;
use common::*;

const KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
/// The quota: 10 requests a day.
const LIMIT: u64 = 10;
/// What the fleet may admit beyond the quota (tuning.md, "Cluster mode"): each node but one
/// may spend its blind margin (1/256 of its share, at least 1) once after the quota ran out.
const BOUND: u64 = LIMIT + 1;

/// One node: one shard, plan `gold` with the daily quota, key `a` in it; usage flushed every
/// 50 ms so that reports see the other node soon.
fn node(redis: &RedisServer, node_id: &str) -> ConfigDir {
    node_with(&cluster_section(redis, node_id))
}

/// [`node`] with these `[cluster]` lines.
fn node_with(cluster: &str) -> ConfigDir {
    let cfg = ConfigDir::new()
        .shards(1)
        .default_api("shop")
        .gateway_extra(&format!("{cluster}\n[usage]\nflush_interval_ms = 50\n"));
    cfg.write_api("shop", KEYED_API);
    let quota = format!(r#"quota = {{ limit = {LIMIT}, period = "DAY" }}"#);
    cfg.write_file(
        "usage_plans.toml",
        &plan_toml("gold", "shop", "prod", &quota),
    );
    cfg.write_file("api_keys.toml", &key_toml("a", KEY, true, &["gold"]));
    cfg
}

/// Two nodes with their clocks frozen at `unix_ms`, both in the fleet.
fn fleet(redis: &RedisServer, unix_ms: u64) -> [(ConfigDir, Gateway); 2] {
    let nodes = ["node-a", "node-b"].map(|id| {
        let cfg = node(redis, id);
        let gw = start_frozen(&cfg, unix_ms);
        (cfg, gw)
    });
    for (_, gw) in &nodes {
        joined(gw, 2);
    }
    nodes
}

/// One keyed request: true when admitted; anything else must be AWS's quota answer.
fn call(gw: &Gateway) -> bool {
    let resp = keyed(gw.addr(), "/prod/keyed", KEY);
    if resp.status != 200 {
        assert_limit_exceeded(&resp);
    }
    resp.status == 200
}

/// Sends requests round-robin to `nodes` until five rounds in a row are all refused (with a
/// pause between rounds for the nodes' syncs); returns what each node admitted.
fn spend(nodes: &[&Gateway]) -> Vec<u64> {
    let mut admitted = vec![0; nodes.len()];
    let mut refused_rounds = 0;
    for _ in 0..300 {
        let mut any = false;
        for (gw, n) in nodes.iter().zip(admitted.iter_mut()) {
            if call(gw) {
                *n += 1;
                any = true;
            }
        }
        refused_rounds = if any { 0 } else { refused_rounds + 1 };
        if refused_rounds == 5 {
            return admitted;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the quota never ran out: admitted {admitted:?}");
}

/// `[used, remaining]` of key `a` on `date` in `gw`'s usage report.
fn report_now(gw: &Gateway, date: &str) -> (u64, u64) {
    let query = format!("keyId=a&startDate={date}&endDate={date}");
    let r = usage_report(gw, "gold", &query);
    let day = &r["values"]["a"][0];
    (
        day[0].as_u64().expect("used"),
        day[1].as_u64().expect("remaining"),
    )
}

/// [`report_now`] once `used` is `expected` (the other node's flush reaches Redis within
/// moments) or the wait is over.
fn report(gw: &Gateway, date: &str, expected: u64) -> (u64, u64) {
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        let got = report_now(gw, date);
        if got.0 == expected || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_quota_holds_across_nodes_and_either_node_reports_the_fleet() {
    let redis = RedisServer::start();
    let [(_ca, a), (_cb, b)] = fleet(&redis, day_ms(START_DATE, 3600));
    let per_node = spend(&[&a, &b]);
    let total: u64 = per_node.iter().sum();
    eprintln!("admitted {per_node:?} of a quota of {LIMIT}, spread");
    assert!((LIMIT..=BOUND).contains(&total), "admitted {per_node:?}");
    assert!(
        per_node.iter().all(|&n| n > 0),
        "both nodes served: {per_node:?}"
    );
    // Standalone, each node would have admitted 10.
    for gw in [&a, &b] {
        let remaining = LIMIT.saturating_sub(total);
        assert_eq!(report(gw, START_DATE, total), (total, remaining));
    }
}

#[test]
fn a_quota_spent_on_one_node_is_spent_on_the_other_until_the_next_day() {
    let redis = RedisServer::start();
    let [(_ca, a), (_cb, b)] = fleet(&redis, day_ms(START_DATE, 3600));
    let on_a = spend(&[&a])[0];
    assert_eq!(on_a, LIMIT, "one node alone spends exactly the quota");
    let on_b = spend(&[&b])[0];
    eprintln!("admitted {on_a} on A, then {on_b} on B");
    assert!(
        on_a + on_b <= BOUND,
        "node B after A spent the quota: {on_b}"
    );
    assert_eq!(report(&b, START_DATE, on_a + on_b), (on_a + on_b, 0));

    // Both clocks cross midnight: a new period, fleet-wide.
    let next = "2026-11-24";
    for gw in [&a, &b] {
        set_clock(gw, day_ms(next, 60));
    }
    let per_node = spend(&[&a, &b]);
    let total: u64 = per_node.iter().sum();
    assert!(
        (LIMIT..=BOUND).contains(&total),
        "the next day: {per_node:?}"
    );
    assert_eq!(report(&a, next, total).0, total);
    assert_eq!(report(&a, START_DATE, on_a + on_b).0, on_a + on_b);
}

#[test]
fn without_redis_nodes_keep_their_shares_and_the_books_converge_after_a_restart() {
    let mut redis = RedisServer::start();
    let [(_ca, a), (_cb, b)] = fleet(&redis, day_ms(START_DATE, 3600));
    for gw in [&a, &b] {
        for _ in 0..3 {
            assert!(call(gw), "within the quota");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(report(&a, START_DATE, 6).0, 6);

    redis.stop();
    for gw in [&a, &b] {
        scrape_when(gw, |m| m.count("tollgate_cluster_redis_up", &[]) == 0);
    }
    let started = Instant::now();
    let during: u64 = spend(&[&a, &b]).iter().sum();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "requests waited on Redis"
    );
    eprintln!("admitted 6, then {during} with Redis away");
    assert!(6 + during <= BOUND, "shares while Redis is away: {during}");
    // The report falls back to each node's own record.
    let (own_a, _) = report_now(&a, START_DATE);
    let (own_b, _) = report_now(&b, START_DATE);
    assert_eq!(own_a + own_b, 6 + during, "each node's own record");

    // Redis comes back empty: each node republishes its usage and its reservations.
    redis.restart();
    joined(&a, 2);
    joined(&b, 2);
    let total = 6 + during;
    for gw in [&a, &b] {
        let remaining = LIMIT.saturating_sub(total);
        assert_eq!(report(gw, START_DATE, total), (total, remaining));
    }
    let after: u64 = spend(&[&a, &b]).iter().sum();
    let total = total + after;
    eprintln!("then {after} after the restart: {total} in all");
    assert!((LIMIT..=BOUND).contains(&total), "in all: {total}");
    assert_eq!(report(&b, START_DATE, total).0, total);
}

/// A Redis ACL user allowed only the fleet's key prefix and channels (`~test:* &test:*`): the
/// nodes log in with the user and password of the URL, and everything they write (buckets,
/// quota books, usage books, heartbeats, the epoch, cache flushes) stays under the prefix, or
/// Redis would refuse it and the nodes would fall back.
#[test]
fn an_acl_user_limited_to_the_key_prefix_is_enough() {
    let redis = RedisServer::start_with_acl_user("tollgate", "pw-4cl", "test:");
    assert!(redis.url().contains("tollgate:pw-4cl@"));
    let [(_ca, a), (_cb, b)] = fleet(&redis, day_ms(START_DATE, 3600));
    let per_node = spend(&[&a, &b]);
    let total: u64 = per_node.iter().sum();
    assert!((LIMIT..=BOUND).contains(&total), "admitted {per_node:?}");
    assert_eq!(
        report(&a, START_DATE, total),
        (total, LIMIT.saturating_sub(total))
    );
    for gw in [&a, &b] {
        let m = common::metrics::scrape(gw);
        assert_eq!(
            m.count("tollgate_cluster_fallbacks_total", &[]),
            0,
            "{}",
            gw.logs_text()
        );
        assert!(!gw.logs_text().contains("pw-4cl"), "{}", gw.logs_text());
    }
}

/// A node without a configured `node_id` keeps the one it made at its first start across a
/// restart: its reservations and usage are counted once, not once under each id.
#[test]
fn a_restarted_node_is_counted_once() {
    let redis = RedisServer::start();
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nkey_prefix = \"test:\"\n",
        redis.url()
    );
    let t = day_ms(START_DATE, 3600);
    let (ca, cb) = (node_with(&cluster), node_with(&cluster));
    let (mut a, b) = (start_frozen(&ca, t), start_frozen(&cb, t));
    joined(&a, 2);
    joined(&b, 2);
    let id_file = ca.path().join("usage.redb.node-id");
    let id = std::fs::read_to_string(&id_file).expect("the node id is kept beside the store");
    for _ in 0..4 {
        assert!(call(&a), "within the quota");
        std::thread::sleep(Duration::from_millis(20));
    }
    a.terminate();
    a.wait_exit(LOG_TIMEOUT);
    drop(a);
    let a = start_frozen(&ca, t);
    joined(&a, 2);
    assert_eq!(
        std::fs::read_to_string(&id_file).unwrap(),
        id,
        "the same id"
    );
    let after: u64 = spend(&[&a, &b]).iter().sum();
    let total = 4 + after;
    eprintln!("admitted 4, restarted, then {after}");
    // The restarted node's own blind margin may add one (tuning.md).
    assert!((LIMIT..=BOUND + 1).contains(&total), "in all: {total}");
    for gw in [&a, &b] {
        assert_eq!(report(gw, START_DATE, total).0, total, "counted once");
    }
}
