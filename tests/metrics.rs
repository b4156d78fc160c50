//! `GET /metrics` on the admin listener: per API/stage/method/resource counters and latency
//! histograms equal to the requests sent, added up over several shards, and the gateway
//! gauges (connections, generation, reloads).

mod common;
use common::metrics::{scrape_after, Scrape};
use common::*;

const PETS: &[(&str, &str)] = &[
    ("api", "petstore"),
    ("stage", "prod"),
    ("method", "GET"),
    ("resource", "/pets"),
];

fn series<'a>(stage: &'a str, method: &'a str, resource: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("api", "petstore"),
        ("stage", stage),
        ("method", method),
        ("resource", resource),
    ]
}

/// Count, 4xx and 5xx of one series.
fn classes(m: &Scrape, labels: &[(&str, &str)]) -> (u64, u64, u64) {
    (
        m.count("tollgate_count", labels),
        m.count("tollgate_4xx_error", labels),
        m.count("tollgate_5xx_error", labels),
    )
}

#[test]
fn counters_equal_the_requests_sent_per_status_class() {
    let backend = Backend::start(|r| match r.target.as_str() {
        "/fail" => Reply::status(503).body("down"),
        _ => Reply::ok("fine"),
    });
    let api = reported_api(&backend);
    let cfg = ConfigDir::with_api(&api).shards(2);
    let gw = Gateway::start(&cfg);

    // A fresh connection per request, so SO_REUSEPORT spreads them over both shards.
    for _ in 0..7 {
        get(gw.addr(), "/prod/pets").assert(200, "[]");
    }
    for i in 0..3 {
        assert_eq!(get(gw.addr(), &format!("/prod/pets/{i}")).status, 404);
    }
    for _ in 0..4 {
        assert_eq!(get(gw.addr(), "/prod/up/ok").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(Req::post("/prod/up/fail", "x").send(gw.addr()).status, 503);
    }
    // A stage reached, no method matched: 403, counted under the stage with method `-`.
    for _ in 0..5 {
        get(gw.addr(), "/prod/nothing").assert_missing_auth_token();
    }
    // No stage reached: 403, counted only as unrouted.
    for _ in 0..6 {
        get(gw.addr(), "/nostage/pets").assert_missing_auth_token();
    }

    let m = scrape_after(&gw, 27);
    assert_eq!(classes(&m, PETS), (7, 0, 0), "{}", m.text);
    assert_eq!(
        classes(&m, &series("prod", "GET", "/pets/{petId}")),
        (3, 3, 0)
    );
    assert_eq!(
        classes(&m, &series("prod", "ANY", "/up/{proxy+}")),
        (6, 0, 2)
    );
    assert_eq!(classes(&m, &series("prod", "-", "-")), (5, 5, 0));
    let stage = [("api", "petstore"), ("stage", "prod")];
    assert_eq!(classes(&m, &stage), (21, 8, 2));
    assert_eq!(m.count("tollgate_unrouted_count", &[]), 6);
    assert_eq!(m.count("tollgate_unrouted_4xx_error", &[]), 6);

    // Every request is in the latency histogram; only the proxied ones called a backend.
    assert_eq!(m.count("tollgate_latency_seconds_count", &stage), 21);
    assert_eq!(
        m.count(
            "tollgate_latency_seconds_bucket",
            &[PETS, &[("le", "+Inf")]].concat()
        ),
        7
    );
    let proxied = series("prod", "ANY", "/up/{proxy+}");
    assert_eq!(
        m.count("tollgate_integration_latency_seconds_count", &proxied),
        6
    );
    assert_eq!(
        m.count("tollgate_integration_latency_seconds_count", PETS),
        0
    );
    assert!(m.sum("tollgate_latency_seconds_sum", PETS) > 0.0);
    // Cumulative buckets never decrease, and the last one holds everything.
    let buckets: Vec<f64> = m
        .samples
        .iter()
        .filter(|s| s.name == "tollgate_latency_seconds_bucket")
        .filter(|s| {
            PETS.iter()
                .all(|(k, v)| s.labels.contains(&(k.to_string(), v.to_string())))
        })
        .map(|s| s.value)
        .collect();
    assert_eq!(buckets.len(), 19);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    // No cache is configured.
    assert_eq!(m.count("tollgate_cache_hit_count", PETS), 0);
    assert_eq!(m.count("tollgate_cache_miss_count", PETS), 0);
    // One gauge per shard.
    assert_eq!(m.samples_named("tollgate_open_connections"), 2);
}

#[test]
fn counts_are_kept_across_reloads_and_reloads_are_counted() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::with_api(&api).shards(2);
    let gw = Gateway::start(&cfg);
    for _ in 0..3 {
        get(gw.addr(), "/prod/pets").assert(200, "[]");
    }

    // The new deployment adds a route; /pets keeps its series and its count.
    let v2 = ApiSpec::new("petstore")
        .stage("prod", "v2")
        .mock("v2", "GET /pets", 200, "[1]")
        .mock("v2", "GET /toys", 200, "[2]");
    cfg.write_api("petstore", &v2.to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    get(gw.addr(), "/prod/pets").assert(200, "[1]");
    get(gw.addr(), "/prod/toys").assert(200, "[2]");
    cfg.write_api("petstore", "id = ");
    assert_eq!(gw.reload(), Reload::Failed);
    get(gw.addr(), "/prod/pets").assert(200, "[1]");

    let m = scrape_after(&gw, 6);
    assert_eq!(m.count("tollgate_count", PETS), 5, "{}", m.text);
    assert_eq!(
        m.count("tollgate_count", &series("prod", "GET", "/toys")),
        1
    );
    assert_eq!(m.count("tollgate_snapshot_generation", &[]), 2);
    assert_eq!(m.count("tollgate_config_reloads_total", &[]), 1);
    assert_eq!(m.count("tollgate_config_reload_failures_total", &[]), 1);
}

#[test]
fn open_connections_are_counted_per_shard() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let gw = Gateway::start(&ConfigDir::with_api(&api).shards(2));
    let mut conns: Vec<Conn> = (0..3).map(|_| Conn::connect(gw.addr())).collect();
    for c in &mut conns {
        c.roundtrip(&Req::get("/prod/pets")).assert(200, "[]");
    }
    let m = scrape_after(&gw, 3);
    assert_eq!(m.count("tollgate_open_connections", &[]), 3, "{}", m.text);
    assert_eq!(m.count("tollgate_throttled_requests_total", &[]), 0);
    assert_eq!(m.samples_named("tollgate_throttled_requests_total"), 4);
}

#[test]
fn unparsable_requests_count_as_unrouted_errors() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    assert_rejected(
        gw.addr(),
        b"GET /prod/pets HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    );
    let m = scrape_after(&gw, 1);
    assert_eq!(m.count("tollgate_unrouted_4xx_error", &[]), 1, "{}", m.text);
    assert_eq!(m.count("tollgate_count", PETS), 0);
}

#[test]
fn unmatched_requests_on_a_custom_domain_count_under_its_mapped_stage() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::with_api(&api);
    let server = common::tls::Pki::new("Test CA").server(&["api.test"]);
    let cfg = common::tls::https_domain(cfg, "api.test", "api", &server, ("v1", "petstore"), "");
    let gw = Gateway::start(&cfg);
    let on_domain = |path: &str| Req::get(path).header("Host", "api.test").send(gw.addr());

    on_domain("/v1/pets").assert(200, "[]");
    // Mapped to petstore/prod, no such method: the stage's unmatched series.
    for _ in 0..3 {
        on_domain("/v1/nothing").assert_missing_auth_token();
    }
    // No base path mapping: unrouted, even though `/prod/...` names a stage of the default
    // API under path-style routing.
    for _ in 0..2 {
        on_domain("/prod/nothing").assert_missing_auth_token();
    }

    let m = scrape_after(&gw, 6);
    assert_eq!(classes(&m, PETS), (1, 0, 0), "{}", m.text);
    assert_eq!(
        classes(&m, &series("prod", "-", "-")),
        (3, 3, 0),
        "{}",
        m.text
    );
    assert_eq!(m.count("tollgate_unrouted_4xx_error", &[]), 2, "{}", m.text);
}

#[test]
fn the_grafana_dashboard_plots_metrics_the_gateway_serves() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    let m = scrape_after(&gw, 1);
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("tollgate_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        assert!(
            m.samples_named(&name) > 0,
            "dashboard uses {name}, /metrics has none"
        );
    }
}
