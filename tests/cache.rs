//! Stage cache: hits and misses (proved by the backend's request count), expiry on the frozen
//! test clock (`common::clock`), key composition, `Cache-Control: max-age=0` under each strategy, the 1 MB limit,
//! what is never cached, flushes reaching every shard, coalescing of concurrent misses,
//! reloads dropping entries, and configuration errors.
//!
//! Requests that must share a cache partition go over one keep-alive connection (one
//! connection is served by one shard) or to a one-shard gateway.

mod common;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cache::*;
use common::clock::advance_clock;
use common::metrics::scrape_after;
use common::*;

const ENABLED: &str = "cache_cluster_enabled = true\ncache_cluster_size = 0.5\n";

fn get_on(conn: &mut Conn, target: &str) -> Response {
    conn.roundtrip(&Req::get(target))
}

/// A gateway serving `api` and one keep-alive connection to it (one shard, one partition).
fn serve(api: &ApiSpec) -> (ConfigDir, Gateway, Conn) {
    let cfg = ConfigDir::with_api(api);
    let gw = Gateway::start(&cfg);
    let conn = Conn::connect(gw.addr());
    (cfg, gw, conn)
}

#[test]
fn second_get_is_a_hit_until_the_ttl_expires() {
    let backend = counting_backend();
    let api = cached_api(&backend, &format!("{ENABLED}cache_ttl_in_seconds = 60"));
    let cfg = ConfigDir::with_api(&api);
    let gw = start_with_test_clock(&cfg);
    let mut conn = Conn::connect(gw.addr());

    let first = get_on(&mut conn, "/prod/pets");
    first.assert(200, "#1");
    let second = get_on(&mut conn, "/prod/pets");
    second.assert(200, "#1");
    second.assert_gateway_headers();
    assert_eq!(second.header("content-type"), Some("text/plain"));
    assert_ne!(
        first.header("x-amzn-RequestId"),
        second.header("x-amzn-RequestId"),
        "a hit gets its own request id"
    );
    assert_eq!(backend.requests().len(), 1);

    // The clock is frozen: the entry lives exactly its TTL, to the millisecond.
    advance_clock(&gw, Duration::from_millis(59_999));
    get_on(&mut conn, "/prod/pets").assert(200, "#1");
    advance_clock(&gw, Duration::from_millis(1));
    get_on(&mut conn, "/prod/pets").assert(200, "#2");
    get_on(&mut conn, "/prod/pets").assert(200, "#2");
    assert_eq!(backend.requests().len(), 2);
    // `/metrics`: three hits and two misses of 5 requests.
    let m = scrape_after(&gw, 5);
    let labels = [("stage", "prod")];
    assert_eq!(m.count("tollgate_cache_hit_count", &labels), 3);
    assert_eq!(m.count("tollgate_cache_miss_count", &labels), 2);
}

#[test]
fn chunked_backend_answers_are_replayed_whole() {
    let backend = Backend::start(|_| {
        Reply::ok("")
            .header("x-origin", "yes")
            .chunked(vec![b"hello ".to_vec(), b"world".to_vec()])
    });
    let (_cfg, _gw, mut conn) = serve(&cached_api(&backend, ENABLED));
    let miss = get_on(&mut conn, "/prod/pets");
    miss.assert(200, "hello world");
    assert!(miss.chunked);
    let hit = get_on(&mut conn, "/prod/pets");
    hit.assert(200, "hello world");
    assert_eq!(hit.header("content-length"), Some("11"));
    assert_eq!(hit.header("x-origin"), Some("yes"));
    assert_eq!(hit.header("transfer-encoding"), None);
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn caching_is_off_unless_the_stage_enables_it_and_ttl_zero_disables_it() {
    let backend = counting_backend();
    let api = cached_api(&backend, "").method_settings(
        "prod",
        "ANY /pets/{id}",
        "cache_ttl_in_seconds = 0",
    );
    let (_cfg, _gw, mut conn) = serve(&api);
    get_on(&mut conn, "/prod/pets").assert(200, "#1");
    get_on(&mut conn, "/prod/pets").assert(200, "#2");

    let backend = counting_backend();
    let api = cached_api(&backend, ENABLED).method_settings(
        "prod",
        "ANY /pets/{id}",
        "cache_ttl_in_seconds = 0",
    );
    let (_cfg, _gw, mut conn) = serve(&api);
    get_on(&mut conn, "/prod/pets/1").assert(200, "#1");
    get_on(&mut conn, "/prod/pets/1").assert(200, "#2");
    get_on(&mut conn, "/prod/pets").assert(200, "#3");
    get_on(&mut conn, "/prod/pets").assert(200, "#3");
}

#[test]
fn key_is_path_params_plus_configured_query_strings_and_headers() {
    let backend = counting_backend();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml("prod", ENABLED)
        .method_toml(
            "v1",
            "GET /pets/{id}",
            &format!(
                "{{ type = \"HTTP_PROXY\", uri = {} }}",
                toml_str(&format!("{}/pets/{{id}}", backend.url()))
            ),
            "cache_key_parameters = [\"method.request.querystring.type\", \"method.request.header.Accept\"]",
        );
    let (_cfg, _gw, mut conn) = serve(&api);
    let send = |conn: &mut Conn, target: &str, accept: &str, other: &str| {
        conn.roundtrip(
            &Req::get(target)
                .header("Accept", accept)
                .header("X-Other", other),
        )
        .body_str()
    };

    assert_eq!(send(&mut conn, "/prod/pets/1?type=dog", "a", "1"), "#1");
    // Two query values: two entries.
    assert_eq!(send(&mut conn, "/prod/pets/1?type=cat", "a", "1"), "#2");
    // A non-key header and a non-key query string: the same entry.
    assert_eq!(
        send(&mut conn, "/prod/pets/1?type=dog&page=3", "a", "2"),
        "#1"
    );
    assert_eq!(send(&mut conn, "/prod/pets/1?type=cat", "a", "3"), "#2");
    // A key header: a new entry.
    assert_eq!(send(&mut conn, "/prod/pets/1?type=dog", "b", "1"), "#3");
    // Another path parameter: a new entry.
    assert_eq!(send(&mut conn, "/prod/pets/2?type=dog", "a", "1"), "#4");
    assert_eq!(backend.requests().len(), 4);
}

#[test]
fn post_and_non_2xx_answers_are_not_cached() {
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let backend = Backend::start(move |req| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let status = if req.target.ends_with("/missing") {
            404
        } else {
            200
        };
        Reply::status(status).body(format!("#{n}"))
    });
    let (_cfg, _gw, mut conn) = serve(&cached_api(&backend, ENABLED));
    conn.roundtrip(&Req::post("/prod/pets", "x"))
        .assert(200, "#1");
    conn.roundtrip(&Req::post("/prod/pets", "x"))
        .assert(200, "#2");
    get_on(&mut conn, "/prod/pets/missing").assert(404, "#3");
    get_on(&mut conn, "/prod/pets/missing").assert(404, "#4");
    // HEAD is not answered from a GET's entry either.
    get_on(&mut conn, "/prod/pets").assert(200, "#5");
    let head = conn.roundtrip(&Req::new("HEAD", "/prod/pets"));
    assert_eq!(head.status, 200);
    assert_eq!(backend.requests().len(), 6);
}

#[test]
fn caching_enabled_on_a_method_caches_post_too() {
    let backend = counting_backend();
    let api = cached_api(&backend, ENABLED).method_settings(
        "prod",
        "ANY /pets",
        "caching_enabled = true",
    );
    let (_cfg, _gw, mut conn) = serve(&api);
    conn.roundtrip(&Req::post("/prod/pets", "a"))
        .assert(200, "#1");
    conn.roundtrip(&Req::post("/prod/pets", "b"))
        .assert(200, "#1");
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn responses_over_one_megabyte_are_not_cached() {
    const MB: usize = 1024 * 1024;
    let backend = Backend::start(|req| {
        let size: usize = req.target.rsplit('/').next().unwrap().parse().unwrap();
        Reply::ok(vec![b'x'; size])
    });
    let (_cfg, _gw, mut conn) = serve(&cached_api(&backend, ENABLED));
    for _ in 0..2 {
        let resp = get_on(&mut conn, &format!("/prod/pets/{}", MB + 1));
        assert_eq!((resp.status, resp.body.len()), (200, MB + 1));
    }
    assert_eq!(
        backend.requests().len(),
        2,
        "over 1 MB: every request goes to the backend"
    );
    for _ in 0..2 {
        let resp = get_on(&mut conn, &format!("/prod/pets/{MB}"));
        assert_eq!((resp.status, resp.body.len()), (200, MB));
    }
    assert_eq!(backend.requests().len(), 3, "exactly 1 MB is cached");
}

/// Fills the entry, then sends `Cache-Control: max-age=0` under `settings`.
fn max_age_zero(settings: &str) -> (Response, Response, usize) {
    let backend = counting_backend();
    let (_cfg, _gw, mut conn) = serve(&cached_api(&backend, &format!("{ENABLED}{settings}")));
    get_on(&mut conn, "/prod/pets").assert(200, "#1");
    let fresh = conn.roundtrip(&Req::get("/prod/pets").header("Cache-Control", "max-age=0"));
    let after = get_on(&mut conn, "/prod/pets");
    (fresh, after, backend.requests().len())
}

#[test]
fn max_age_zero_refills_when_no_authorization_is_required() {
    let (fresh, after, calls) = max_age_zero("require_authorization_for_cache_control = false");
    fresh.assert(200, "#2");
    assert_eq!(fresh.header("warning"), None);
    after.assert(200, "#2");
    assert_eq!(calls, 2);
}

#[test]
fn max_age_zero_fails_with_403_for_unauthorized_callers() {
    let (fresh, after, calls) =
        max_age_zero("unauthorized_cache_control_header_strategy = \"FAIL_WITH_403\"");
    fresh.assert(
        403,
        r#"{"message":"User is not authorized to access this resource"}"#,
    );
    assert_eq!(
        fresh.header("x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    after.assert(200, "#1");
    assert_eq!(calls, 1);
}

#[test]
fn max_age_zero_is_ignored_with_a_warning_by_default() {
    let (fresh, after, calls) = max_age_zero("");
    fresh.assert(200, "#1");
    let warning = fresh.header("warning").expect("Warning header");
    assert!(warning.starts_with("199 "), "{warning}");
    after.assert(200, "#1");
    assert_eq!(after.header("warning"), None);
    assert_eq!(calls, 1);
}

#[test]
fn max_age_zero_is_ignored_silently_when_configured() {
    let (fresh, after, calls) = max_age_zero(
        "unauthorized_cache_control_header_strategy = \"SUCCEED_WITHOUT_RESPONSE_HEADER\"",
    );
    fresh.assert(200, "#1");
    assert_eq!(fresh.header("warning"), None);
    after.assert(200, "#1");
    assert_eq!(calls, 1);
}

#[test]
fn ignored_max_age_zero_on_a_miss_warns_without_storing_the_warning() {
    let backend = counting_backend();
    let (_cfg, _gw, mut conn) = serve(&cached_api(&backend, ENABLED));
    let first = conn.roundtrip(&Req::get("/prod/pets").header("Cache-Control", "max-age=0"));
    first.assert(200, "#1");
    assert!(first.header("warning").is_some());
    let hit = get_on(&mut conn, "/prod/pets");
    hit.assert(200, "#1");
    assert_eq!(hit.header("warning"), None);
}

#[test]
fn flush_reaches_every_shard() {
    let version = Arc::new(AtomicUsize::new(1));
    let v = Arc::clone(&version);
    let backend = Backend::start(move |_| Reply::ok(format!("v{}", v.load(Ordering::SeqCst))));
    let cfg = ConfigDir::with_api(&cached_api(&backend, ENABLED)).shards(2);
    let gw = Gateway::start(&cfg);
    // Several connections, spread over the shards by SO_REUSEPORT.
    let mut conns: Vec<Conn> = (0..8).map(|_| Conn::connect(gw.addr())).collect();
    for c in &mut conns {
        get_on(c, "/prod/pets").assert(200, "v1");
    }
    let filled = backend.requests().len();
    assert!(
        (1..=2).contains(&filled),
        "one fill per shard, got {filled}"
    );

    version.store(2, Ordering::SeqCst);
    for c in &mut conns {
        get_on(c, "/prod/pets").assert(200, "v1");
    }
    assert_eq!(
        backend.requests().len(),
        filled,
        "all hits before the flush"
    );

    let resp = flush_stage(&gw, "petstore", "prod");
    assert_eq!(resp.status, 202, "{resp:?}");
    for c in &mut conns {
        get_on(c, "/prod/pets").assert(200, "v2");
    }
    assert_eq!(backend.requests().len(), 2 * filled);

    let unknown = flush_stage(&gw, "petstore", "nope");
    assert_eq!(unknown.status, 404, "{unknown:?}");
}

#[test]
fn stages_have_their_own_caches_and_flushes() {
    let backend = counting_backend();
    let api = cached_api(&backend, ENABLED)
        .stage("dev", "v1")
        .stage_toml("dev", ENABLED);
    let (_cfg, gw, mut conn) = serve(&api);
    get_on(&mut conn, "/prod/pets").assert(200, "#1");
    get_on(&mut conn, "/dev/pets").assert(200, "#2");
    assert_eq!(flush_stage(&gw, "petstore", "prod").status, 202);
    get_on(&mut conn, "/dev/pets").assert(200, "#2");
    get_on(&mut conn, "/prod/pets").assert(200, "#3");
    assert_eq!(backend.requests().len(), 3);
}

#[test]
fn concurrent_misses_make_one_backend_call() {
    const N: usize = 6;
    let gate = Gate::new();
    let g = gate.clone();
    let backend = Backend::start(move |_| {
        g.wait(LOG_TIMEOUT);
        Reply::ok("slow answer")
    });
    let cfg = ConfigDir::with_api(&cached_api(&backend, ENABLED)).shards(1);
    let gw = start_with_test_clock(&cfg);
    let from = gw.log_len();
    let mut conns: Vec<Conn> = (0..N).map(|_| Conn::connect(gw.addr())).collect();
    for c in &mut conns {
        c.send(&Req::get("/prod/pets"));
    }
    assert!(
        backend.wait_requests(1, LOG_TIMEOUT),
        "the leader reaches the backend"
    );
    assert!(
        wait_coalesced(&gw, from, N - 1),
        "the other misses wait for it\n{}",
        gw.logs_text()
    );
    gate.open();
    for c in &mut conns {
        c.read_response().assert(200, "slow answer");
    }
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn a_failed_leader_releases_the_waiters_to_the_backend() {
    const N: usize = 3;
    let gate = Gate::new();
    let g = gate.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let backend = Backend::start(move |_| {
        if served.fetch_add(1, Ordering::SeqCst) == 0 {
            g.wait(LOG_TIMEOUT);
            return Reply::status(500).body("first fails");
        }
        Reply::ok("retried")
    });
    let cfg = ConfigDir::with_api(&cached_api(&backend, ENABLED)).shards(1);
    let gw = start_with_test_clock(&cfg);
    let from = gw.log_len();
    let mut conns: Vec<Conn> = (0..N).map(|_| Conn::connect(gw.addr())).collect();
    for c in &mut conns {
        c.send(&Req::get("/prod/pets"));
    }
    assert!(backend.wait_requests(1, LOG_TIMEOUT));
    assert!(wait_coalesced(&gw, from, N - 1), "{}", gw.logs_text());
    gate.open();
    let mut bodies: Vec<String> = conns
        .iter_mut()
        .map(|c| c.read_response().body_str())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["first fails", "retried", "retried"]);
    // The 500 was not cached: the waiters went to the backend, each on its own.
    assert_eq!(backend.requests().len(), N);
    // Their 200s were: the next request is a hit.
    get(gw.addr(), "/prod/pets").assert(200, "retried");
    assert_eq!(backend.requests().len(), N);
}

#[test]
fn reload_drops_entries_only_when_cache_settings_or_deployment_change() {
    let backend = counting_backend();
    let api = cached_api(&backend, ENABLED);
    // One shard, so that every new connection sees the same partition; new connections after
    // each reload, so that requests are served by the new configuration.
    let cfg = ConfigDir::with_api(&api).shards(1);
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "#1");

    // Unrelated change: a new stage. Entries stay.
    cfg.write_api("petstore", &api.clone().stage("dev", "v1").to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    get(gw.addr(), "/prod/pets").assert(200, "#1");

    // New TTL: the stage's entries are dropped.
    let changed = cached_api(&backend, &format!("{ENABLED}cache_ttl_in_seconds = 600"));
    cfg.write_api("petstore", &changed.to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 3 });
    get(gw.addr(), "/prod/pets").assert(200, "#2");
    get(gw.addr(), "/prod/pets").assert(200, "#2");

    // Another deployment: dropped too.
    let redeployed = cached_api(&backend, &format!("{ENABLED}cache_ttl_in_seconds = 600"))
        .to_string()
        .replace("\"v1\"", "\"v2\"")
        .replace("deployments.v1", "deployments.v2");
    cfg.write_api("petstore", &redeployed);
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 4 });
    get(gw.addr(), "/prod/pets").assert(200, "#3");
    get(gw.addr(), "/prod/pets").assert(200, "#3");
    assert_eq!(backend.requests().len(), 3);
}

#[test]
fn invalid_cache_settings_are_reported_with_file_line_and_field() {
    let backend = counting_backend();
    let api = cached_api(
        &backend,
        "cache_cluster_enabled = true\ncache_cluster_size = 7\ncache_ttl_in_seconds = 4000\nunauthorized_cache_control_header_strategy = \"NOPE\"\n[stages.prod.method_settings.\"GET /nothing\"]\ncache_ttl_in_seconds = 1",
    )
    .method_toml(
        "v1",
        "GET /owners",
        "{ type = \"MOCK\" }",
        "cache_key_parameters = [\"querystring.type\"]",
    );
    let cfg = ConfigDir::with_api(&api);
    let out = run_check(cfg.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "stages.prod.cache_cluster_size: `7` is not a cache cluster size",
        "stages.prod.cache_ttl_in_seconds: must be between 0 and 3600 seconds, got 4000",
        "stages.prod.unauthorized_cache_control_header_strategy: `NOPE` is not a strategy",
        "stages.prod.method_settings.\"GET /nothing\": `GET /nothing` is not a method of deployment `v1`",
        "cache_key_parameters[0]: `querystring.type` is not a cache key parameter",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in\n{stderr}");
    }
    assert!(stderr.contains("petstore.toml:"), "{stderr}");
}
