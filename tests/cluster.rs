//! Cluster mode: two real gateway processes sharing a real `redis-server` hold one stage
//! limit between them, with traffic on one node or spread; with Redis killed each node keeps
//! answering within its share (limit ÷ live nodes); Redis restarted empty is rejoined; and
//! `[cluster]` mistakes are config errors naming file, line and field.

mod common;

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::cache::{cached_api, flush_stage};
use common::metrics::{scrape, scrape_when};
use common::redis::{cluster_section, joined, RedisServer};
use common::traffic::*;
use common::*;

/// A stage limit whose refill is negligible during a test (one token per 20 s).
const LIMIT: &str = "throttle = { rate_limit = 0.05, burst_limit = 10 }";

/// API `shop`, stage `prod` limited by [`LIMIT`], one MOCK method.
fn shop() -> String {
    format!(
        r#"id = "shop"
[stages.prod]
deployment = "v1"
{LIMIT}

[deployments.v1.methods."GET /open"]
integration = {{ type = "MOCK", status = 200, body = "open" }}
"#
    )
}

/// One node's configuration: one shard (so the only split is between nodes), in the fleet
/// of `redis` under `node_id`.
fn node(redis: &RedisServer, node_id: &str) -> ConfigDir {
    let cfg = ConfigDir::new()
        .shards(1)
        .default_api("shop")
        .gateway_extra(&cluster_section(redis, node_id));
    cfg.write_api("shop", &shop());
    cfg
}

/// Requests admitted (200) among `n` sent to `gw`; every other answer must be AWS's 429.
fn admitted(gw: &Gateway, n: usize) -> usize {
    (0..n)
        .filter(|_| {
            let resp = get(gw.addr(), "/prod/open");
            if resp.status != 200 {
                assert_throttled(&resp);
            }
            resp.status == 200
        })
        .count()
}

/// Two nodes, both in the fleet.
fn fleet(redis: &RedisServer) -> (ConfigDir, Gateway, ConfigDir, Gateway) {
    let (ca, cb) = (node(redis, "node-a"), node(redis, "node-b"));
    let (a, b) = (Gateway::start(&ca), Gateway::start(&cb));
    joined(&a, 2);
    joined(&b, 2);
    (ca, a, cb, b)
}

/// The bound tuning.md derives: the burst, plus what each waking node may spend before its
/// first lease (a quarter of its share of the burst, at least one), plus at most one token
/// of refill during the test.
const BOUND: usize = 10 + 2 + 1;
/// Tokens the bound allows to be stranded in pools (a node's reserve each).
const STRANDED: usize = 2;

#[test]
fn a_stage_limit_holds_across_nodes_with_traffic_spread() {
    let redis = RedisServer::start();
    let (_ca, a, _cb, b) = fleet(&redis);
    let mut total = 0;
    for _ in 0..15 {
        total += admitted(&a, 1) + admitted(&b, 1);
    }
    eprintln!("admitted {total} of 30, spread");
    assert!(
        (10 - STRANDED..=BOUND).contains(&total),
        "admitted {total} of 30"
    );
    // Standalone, each node would have admitted its own burst of 10 (20 in all).
    let m = scrape(&a);
    assert!(
        m.count("tollgate_cluster_syncs_total", &[]) > 0,
        "{}",
        m.text
    );
}

#[test]
fn a_stage_limit_holds_with_traffic_on_one_node_then_the_other() {
    let redis = RedisServer::start();
    let (_ca, a, _cb, b) = fleet(&redis);
    let on_a = admitted(&a, 20);
    // Node A's last borrowed tokens are charged by its next sync: wait for two more.
    let syncs = scrape(&a).count("tollgate_cluster_syncs_total", &[]);
    scrape_when(&a, |m| {
        m.count("tollgate_cluster_syncs_total", &[]) >= syncs + 2
    });
    let on_b = admitted(&b, 10);
    eprintln!("admitted {on_a} on A, then {on_b} on B");
    assert!(
        (10 - STRANDED..=BOUND).contains(&(on_a + on_b)),
        "admitted {on_a} on A and {on_b} on B"
    );
    assert!(on_b <= 2, "node B, after A spent the burst: {on_b}");
}

#[test]
fn without_redis_each_node_keeps_its_share_and_rejoins_when_redis_returns() {
    let mut redis = RedisServer::start();
    let (_ca, a, _cb, b) = fleet(&redis);
    redis.stop();
    let m = scrape_when(&a, |m| m.count("tollgate_cluster_redis_up", &[]) == 0);
    assert_eq!(m.count("tollgate_cluster_redis_up", &[]), 0, "{}", m.text);
    scrape_when(&b, |m| m.count("tollgate_cluster_redis_up", &[]) == 0);
    assert!(
        a.wait_for_log(0, "Redis unreachable", LOG_TIMEOUT)
            .is_some(),
        "{}",
        a.logs_text()
    );
    // Each node answers at once, within its share: half the burst of 10.
    let started = std::time::Instant::now();
    let (on_a, on_b) = (admitted(&a, 10), admitted(&b, 10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "requests waited"
    );
    assert_eq!((on_a, on_b), (5, 5), "shares while Redis is away");
    let m = scrape(&a);
    assert_eq!(
        m.count("tollgate_cluster_fallbacks_total", &[]),
        1,
        "{}",
        m.text
    );

    // Redis comes back empty: the nodes rejoin (heartbeats again) and share its fresh bucket.
    redis.restart();
    joined(&a, 2);
    joined(&b, 2);
    let mut total = 0;
    for _ in 0..15 {
        total += admitted(&a, 1) + admitted(&b, 1);
    }
    assert!(
        (10 - STRANDED..=BOUND).contains(&total),
        "admitted {total} of 30 after the restart"
    );
}

/// `FlushStageCache` on one node empties the stage's cache on the others (through Redis
/// pub/sub), as AWS's flush empties the stage's one cache.
#[test]
fn a_cache_flush_on_one_node_reaches_the_others() {
    let redis = RedisServer::start();
    let version = Arc::new(AtomicUsize::new(1));
    let v = Arc::clone(&version);
    let backend = Backend::start(move |_| Reply::ok(format!("v{}", v.load(Ordering::SeqCst))));
    let api = cached_api(
        &backend,
        "cache_cluster_enabled = true\ncache_cluster_size = 0.5\ncache_ttl_in_seconds = 300",
    );
    let config = |id: &str| {
        ConfigDir::with_api(&api)
            .shards(1)
            .gateway_extra(&cluster_section(&redis, id))
    };
    let (ca, cb) = (config("node-a"), config("node-b"));
    let (a, b) = (Gateway::start(&ca), Gateway::start(&cb));
    joined(&a, 2);
    joined(&b, 2);
    let subscribed = b.wait_for_log(0, "subscribed to the fleet's cache flushes", LOG_TIMEOUT);
    assert!(subscribed.is_some(), "{}", b.logs_text());
    for gw in [&a, &b] {
        get(gw.addr(), "/prod/pets").assert(200, "v1");
    }
    version.store(2, Ordering::SeqCst);
    // Both nodes answer from their caches.
    for gw in [&a, &b] {
        get(gw.addr(), "/prod/pets").assert(200, "v1");
    }
    assert_eq!(backend.requests().len(), 2);

    let from = b.logs().len();
    assert_eq!(flush_stage(&a, "petstore", "prod").status, 202);
    assert!(
        b.wait_for_log(from, "cache flushed by another node", LOG_TIMEOUT)
            .is_some(),
        "{}",
        b.logs_text()
    );
    get(b.addr(), "/prod/pets").assert(200, "v2");
    get(a.addr(), "/prod/pets").assert(200, "v2");
    assert_eq!(backend.requests().len(), 4);
}

/// A node that cannot reach Redis from the start enforces its share of a fleet of
/// `min_nodes`, not the whole limit.
#[test]
fn a_node_without_redis_from_the_start_keeps_to_its_share_of_min_nodes() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis);
    let cfg = ConfigDir::new()
        .shards(1)
        .default_api("shop")
        .gateway_extra(&format!(
            "[cluster]\nnode_id = \"lonely\"\nredis = \"{url}\"\nmin_nodes = 2\n"
        ));
    cfg.write_api("shop", &shop());
    let gw = Gateway::start(&cfg);
    assert!(
        gw.wait_for_log(0, "Redis unreachable", LOG_TIMEOUT)
            .is_some(),
        "{}",
        gw.logs_text()
    );
    // Half the burst of 10.
    assert_eq!(admitted(&gw, 10), 5);
}

/// A Redis that requires a password: the URL's credentials let a node in; a wrong password
/// leaves it on its share, saying why.
#[test]
fn credentials_in_the_url_authenticate_to_redis() {
    let redis = RedisServer::start_with_password(Some("s3cret"));
    let cfg = node(&redis, "node-a");
    let a = Gateway::start(&cfg);
    joined(&a, 1);
    let wrong = ConfigDir::new()
        .shards(1)
        .default_api("shop")
        .gateway_extra(&format!(
            "[cluster]\nnode_id = \"node-b\"\nredis = \"{}\"\n",
            redis.url_with_password("wrong")
        ));
    wrong.write_api("shop", &shop());
    let b = Gateway::start(&wrong);
    let refused = b.wait_for_log(0, "Redis unreachable", LOG_TIMEOUT);
    assert!(refused.is_some(), "{}", b.logs_text());
    assert_eq!(scrape(&b).count("tollgate_cluster_redis_up", &[]), 0);
    // Still serving, on its own share; the password is never logged.
    get(b.addr(), "/prod/open").assert(200, "open");
    for gw in [&a, &b] {
        let logs = gw.logs_text();
        assert!(
            !logs.contains("s3cret") && !logs.contains("wrong@"),
            "{logs}"
        );
    }
}

#[test]
fn cluster_mistakes_are_config_errors() {
    let cfg =
        ConfigDir::new().gateway_extra("[cluster]\nnode_id = \"a b\"\nsync_interval_ms = 0\n");
    let out = check_fails(cfg.path());
    assert_mentions(
        &out,
        &[
            "gateway.toml",
            "cluster.redis",
            "cluster mode needs `redis`",
            "cluster.node_id",
            "visible ASCII",
            "cluster.sync_interval_ms",
        ],
    );
    let cfg = ConfigDir::new().gateway_extra(
        "[cluster]\nredis = \"redis://127.0.0.1:1\"\nsync_interval_ms = 100\nnode_ttl_ms = 400\n",
    );
    assert_mentions(
        &check_fails(cfg.path()),
        &[
            "cluster.node_ttl_ms",
            "at least 3 x sync_interval_ms + 250 (550 ms here)",
        ],
    );
    let cfg = ConfigDir::new().gateway_extra("[cluster]\nredis = \"http://example.com\"\n");
    assert_mentions(
        &check_fails(cfg.path()),
        &["gateway.toml:", "cluster.redis", "not a Redis URL"],
    );
    let cfg = ConfigDir::new().gateway_extra(
        "[cluster]\nsentinels = [\"redis://127.0.0.1:26379\", \"nope://x\"]\ntls_ca_file = \"missing.pem\"\ntls_key_file = \"k.pem\"\n",
    );
    assert_mentions(
        &check_fails(cfg.path()),
        &[
            "cluster.sentinels[1]",
            "not a Redis URL",
            "cluster.sentinel_master",
            "`sentinels` needs `sentinel_master`",
            "cluster.tls_ca_file",
            "missing.pem",
            "cluster.tls_key_file",
        ],
    );
    // Both files readable, but only one of the pair; and TLS files with a plain URL.
    let cfg = ConfigDir::new().gateway_extra(
        "[cluster]\nredis = \"rediss://127.0.0.1:6380\"\ntls_cert_file = \"c.pem\"\n",
    );
    cfg.write_file("c.pem", "not checked here");
    assert_mentions(
        &check_fails(cfg.path()),
        &[
            "cluster.tls_cert_file",
            "tls_cert_file and tls_key_file go together",
        ],
    );
    let cfg = ConfigDir::new()
        .gateway_extra("[cluster]\nredis = \"redis://127.0.0.1:6379\"\ntls_ca_file = \"ca.pem\"\n");
    cfg.write_file("ca.pem", "not checked here");
    assert_mentions(
        &check_fails(cfg.path()),
        &["cluster.tls_ca_file", "need a rediss:// URL"],
    );
}

/// `rediss://` to a Redis that requires client certificates: a node with the CA and a client
/// certificate (files made at test time) joins; one without a client certificate cannot,
/// and keeps serving on its share.
#[test]
fn tls_to_redis_with_a_client_certificate() {
    let pki = common::tls::Pki::new("Redis Test CA");
    let files = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    let server = pki.server(&["localhost", "127.0.0.1"]);
    let redis = RedisServer::start_tls(
        &write("server.pem", &server.cert_pem),
        &write("server.key", &server.key_pem),
        &write("ca.pem", &pki.ca_pem()),
    );
    let client = pki.client("tollgate");
    let tls_node = |id: &str, with_cert: bool| {
        let mut toml = cluster_section(&redis, id);
        toml.push_str("tls_ca_file = \"ca.pem\"\n");
        if with_cert {
            toml.push_str("tls_cert_file = \"client.pem\"\ntls_key_file = \"client.key\"\n");
        }
        let cfg = ConfigDir::new()
            .shards(1)
            .default_api("shop")
            .gateway_extra(&toml);
        cfg.write_api("shop", &shop());
        cfg.write_file("ca.pem", &pki.ca_pem());
        cfg.write_file("client.pem", &client.cert_pem);
        cfg.write_file("client.key", &client.key_pem);
        cfg
    };
    assert!(redis.url().starts_with("rediss://"));
    let ca = tls_node("node-a", true);
    let a = Gateway::start(&ca);
    joined(&a, 1);
    get(a.addr(), "/prod/open").assert(200, "open");
    let cb = tls_node("node-b", false);
    let b = Gateway::start(&cb);
    let refused = b.wait_for_log(0, "Redis unreachable", LOG_TIMEOUT);
    assert!(refused.is_some(), "{}", b.logs_text());
    assert_eq!(scrape(&b).count("tollgate_cluster_redis_up", &[]), 0);
    get(b.addr(), "/prod/open").assert(200, "open");
}

/// Redis Sentinel: nodes find the master through a real sentinel; when the master is killed
/// the sentinel promotes its replica and the nodes follow it, falling back to their shares
/// meanwhile and counting one fallback each.
#[test]
fn nodes_follow_a_sentinel_failover() {
    let mut master = RedisServer::start();
    let replica = RedisServer::start_replica_of(&master);
    let sentinel = common::redis::Sentinel::watch(&master, 1);
    let sentinel_node = |id: &str| {
        let cfg = ConfigDir::new()
            .shards(1)
            .default_api("shop")
            .gateway_extra(&format!(
                "[cluster]\nnode_id = \"{id}\"\nsentinels = [\"{}\"]\nsentinel_master = \"mymaster\"\nkey_prefix = \"test:\"\n",
                sentinel.url()
            ));
        cfg.write_api("shop", &shop());
        cfg
    };
    let (ca, cb) = (sentinel_node("node-a"), sentinel_node("node-b"));
    let (a, b) = (Gateway::start(&ca), Gateway::start(&cb));
    joined(&a, 2);
    joined(&b, 2);
    let mut before = 0;
    for _ in 0..4 {
        before += admitted(&a, 1) + admitted(&b, 1);
    }
    assert!(before > 0, "served through the sentinel's master");

    let from = (a.logs().len(), b.logs().len());
    master.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sentinel.master_port() != Some(replica.port()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sentinel never promoted the replica"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (gw, from) in [(&a, from.0), (&b, from.1)] {
        let back = gw.wait_for_log(from, "Redis reached", Duration::from_secs(30));
        assert!(back.is_some(), "{}", gw.logs_text());
        let m = joined(gw, 2);
        assert_eq!(
            m.count("tollgate_cluster_fallbacks_total", &[]),
            1,
            "{}",
            m.text
        );
    }
    // The promoted replica holds the fleet's state: no node finds the books new, and the
    // fleet keeps to one burst of 10 in all (standalone, each node would admit 10; tokens
    // the nodes held in their pools when the master died are dropped, not spent twice).
    for gw in [&a, &b] {
        assert!(
            !gw.logs_text().contains("books in Redis are new"),
            "{}",
            gw.logs_text()
        );
    }
    let mut after = 0;
    for _ in 0..11 {
        after += admitted(&a, 1) + admitted(&b, 1);
    }
    eprintln!("admitted {before} before the failover, {after} after");
    assert!(before + after <= BOUND, "{before} + {after}");
}
