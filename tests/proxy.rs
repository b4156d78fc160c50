//! HTTP_PROXY integration: URI templating, pass-through of requests and responses, hop-by-hop
//! headers, forwarding headers, gateway errors (502/504) and backend keep-alive pooling.

mod common;
use std::time::{Duration, Instant};

use common::*;

/// A gateway whose `prod` stage proxies `ANY /{proxy+}` to `backend` as `/up/{proxy}`.
fn greedy_proxy(backend: &Backend) -> (ConfigDir, Gateway) {
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "ANY /{proxy+}",
        &format!("{}/up/{{proxy}}", backend.url()),
    );
    let cfg = ConfigDir::with_api(&api);
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

#[test]
fn path_params_and_stage_variables_fill_the_uri() {
    let backend = Backend::echo();
    let api = ApiSpec::new("petstore")
        .stage_vars(
            "prod",
            "v1",
            &[("backend", &backend.authority()), ("version", "v7")],
        )
        .stage_vars(
            "dev",
            "v1",
            &[("backend", &backend.authority()), ("version", "v8")],
        )
        .proxy(
            "v1",
            "GET /pets/{petId}",
            "http://${stageVariables.backend}/svc/${stageVariables.version}/pets/{petId}/detail",
        );
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    get(gw.addr(), "/prod/pets/42").assert(200, "");
    get(gw.addr(), "/dev/pets/43").assert(200, "");
    // Path parameters are passed still percent-encoded.
    get(gw.addr(), "/prod/pets/a%20b").assert(200, "");

    let targets: Vec<String> = backend.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/svc/v7/pets/42/detail",
            "/svc/v8/pets/43/detail",
            "/svc/v7/pets/a%20b/detail"
        ]
    );
}

#[test]
fn greedy_path_parameter_keeps_slashes() {
    let backend = Backend::echo();
    let (_cfg, gw) = greedy_proxy(&backend);
    let resp = get(gw.addr(), "/prod/a/b/c.json");
    resp.assert(200, "");
    assert_eq!(resp.header("x-echo-target"), Some("/up/a/b/c.json"));
}

#[test]
fn client_query_string_is_passed_on() {
    let backend = Backend::echo();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .proxy(
            "v1",
            "GET /plain/{proxy+}",
            &format!("{}/plain/{{proxy}}", backend.url()),
        )
        .proxy(
            "v1",
            "GET /fixed/{id}",
            &format!("{}/fixed/{{id}}?key=fixed", backend.url()),
        );
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    get(gw.addr(), "/prod/plain/x?color=red&size=2").assert(200, "");
    get(gw.addr(), "/prod/fixed/9?color=red").assert(200, "");
    get(gw.addr(), "/prod/fixed/10").assert(200, "");

    let targets: Vec<String> = backend.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/plain/x?color=red&size=2",
            "/fixed/9?key=fixed&color=red",
            "/fixed/10?key=fixed"
        ]
    );
}

#[test]
fn request_and_response_pass_through() {
    let backend = Backend::start(|req| {
        Reply::status(201)
            .header("content-type", "application/json")
            .header("x-backend", "yes")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .body(format!(r#"{{"got":{}}}"#, req.body_str()))
    });
    let (_cfg, gw) = greedy_proxy(&backend);

    let resp = Req::post("/prod/orders", r#"{"item":"bone"}"#)
        .header("content-type", "application/json")
        .header("X-Custom", "abc")
        .header("Accept", "application/json")
        .send(gw.addr());
    resp.assert(201, r#"{"got":{"item":"bone"}}"#);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("x-backend"), Some("yes"));
    assert_eq!(resp.header_all("set-cookie"), ["a=1", "b=2"]);
    resp.assert_gateway_headers();

    let req = backend.single_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/up/orders");
    assert_eq!(req.body_str(), r#"{"item":"bone"}"#);
    assert_eq!(req.header("X-Custom"), Some("abc"));
    assert_eq!(req.header("Accept"), Some("application/json"));
    assert_eq!(req.header("content-type"), Some("application/json"));
}

#[test]
fn backend_error_statuses_are_passed_through_unchanged() {
    let backend = Backend::start(|req| match req.target.as_str() {
        "/up/missing" => Reply::status(404).body("no such thing"),
        _ => Reply::status(500).header("x-trace", "t1").body("boom"),
    });
    let (_cfg, gw) = greedy_proxy(&backend);
    get(gw.addr(), "/prod/missing").assert(404, "no such thing");
    let resp = get(gw.addr(), "/prod/explode");
    resp.assert(500, "boom");
    assert_eq!(resp.header("x-trace"), Some("t1"));
}

#[test]
fn large_bodies_pass_through_both_ways() {
    let backend = Backend::echo();
    let (_cfg, gw) = greedy_proxy(&backend);
    let body: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let resp = Req::post("/prod/upload", body.clone()).send(gw.addr());
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == body,
        "echoed body differs ({} bytes back, {} sent)",
        resp.body.len(),
        body.len()
    );
    assert!(
        backend.single_request().body == body,
        "backend received a different body"
    );
}

#[test]
fn backend_host_header_is_the_uri_authority() {
    let backend = Backend::echo();
    let (_cfg, gw) = greedy_proxy(&backend);
    Req::get("/prod/x")
        .header("Host", "client.example")
        .send(gw.addr())
        .assert(200, "");
    assert_eq!(
        backend.single_request().header_all("host"),
        [backend.authority().as_str()]
    );
}

#[test]
fn forwarded_headers_are_added() {
    let backend = Backend::echo();
    let (_cfg, gw) = greedy_proxy(&backend);

    get(gw.addr(), "/prod/first").assert(200, "");
    Req::get("/prod/second")
        .header("X-Forwarded-For", "203.0.113.7")
        .send(gw.addr())
        .assert(200, "");

    let reqs = backend.requests();
    let xff = |r: &RecordedRequest| -> Vec<String> {
        r.header_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .collect()
    };
    assert_eq!(xff(&reqs[0]), ["127.0.0.1"]);
    assert_eq!(xff(&reqs[1]), ["203.0.113.7", "127.0.0.1"]);
    for r in &reqs {
        assert_eq!(r.header_all("x-forwarded-proto"), ["http"], "{r:?}");
    }
}

/// Headers that must never cross a proxy, plus a custom one named in `Connection`.
const HOP_BY_HOP: [&str; 7] = [
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "x-hop-a",
    "x-hop-b",
];

/// Asserts that a `Connection` header, if any, carries only the proxy's own framing tokens.
#[track_caller]
fn assert_only_own_connection_tokens(values: &[&str]) {
    for v in values {
        for token in v.split(',') {
            let t = token.trim().to_ascii_lowercase();
            assert!(
                t == "keep-alive" || t == "close",
                "Connection token {t:?} leaked through the proxy"
            );
        }
    }
}

#[test]
fn hop_by_hop_request_headers_are_stripped() {
    let backend = Backend::echo();
    let (_cfg, gw) = greedy_proxy(&backend);
    Req::get("/prod/hop")
        .header("Connection", "keep-alive, X-Hop-A")
        .header("Connection", "x-hop-b")
        .header("X-Hop-A", "1")
        .header("X-Hop-B", "2")
        .header("Keep-Alive", "timeout=5")
        .header("TE", "trailers")
        .header("Trailer", "X-Checksum")
        .header("Upgrade", "h2c")
        .header("Proxy-Connection", "keep-alive")
        .header("X-End-To-End", "kept")
        .send(gw.addr())
        .assert(200, "");

    let req = backend.single_request();
    for name in HOP_BY_HOP {
        assert!(
            req.header(name).is_none(),
            "backend received hop-by-hop header {name}: {req:?}"
        );
    }
    assert_only_own_connection_tokens(&req.header_all("connection"));
    assert_eq!(req.header("X-End-To-End"), Some("kept"));
}

#[test]
fn hop_by_hop_response_headers_are_stripped() {
    let backend = Backend::start(|_| {
        Reply::ok("hello")
            .header("Connection", "X-Hop-A, X-Hop-B")
            .header("X-Hop-A", "1")
            .header("X-Hop-B", "2")
            .header("Keep-Alive", "timeout=5, max=100")
            .header("TE", "trailers")
            .header("Trailer", "X-Checksum")
            .header("Upgrade", "foo/2")
            .header("Proxy-Connection", "keep-alive")
            .header("X-End-To-End", "kept")
    });
    let (_cfg, gw) = greedy_proxy(&backend);
    let resp = get(gw.addr(), "/prod/hop");
    resp.assert(200, "hello");
    for name in HOP_BY_HOP {
        assert!(
            resp.header(name).is_none(),
            "client received hop-by-hop header {name}: {resp:?}"
        );
    }
    assert_only_own_connection_tokens(&resp.header_all("connection"));
    assert_eq!(resp.header("X-End-To-End"), Some("kept"));
}

#[test]
fn every_proxied_and_error_response_has_date_and_request_id() {
    let backend = Backend::echo();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .proxy("v1", "GET /ok", &format!("{}/ok", backend.url()))
        .proxy("v1", "GET /refused", &format!("http://{}/x", closed_port()));
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let mut ids = std::collections::HashSet::new();
    for target in ["/prod/ok", "/prod/refused", "/prod/none", "/prod/ok"] {
        let resp = get(gw.addr(), target);
        resp.assert_gateway_headers();
        assert!(
            ids.insert(resp.header("x-amzn-RequestId").unwrap().to_string()),
            "duplicate request id: {resp:?}"
        );
    }
}

#[test]
fn refused_backend_is_502() {
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "ANY /{proxy+}",
        &format!("http://{}/x", closed_port()),
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let resp = get(gw.addr(), "/prod/anything");
    resp.assert(502, INTERNAL_SERVER_ERROR);
    resp.assert_gateway_headers();
    // The gateway keeps serving after the failure.
    get(gw.addr(), "/prod/anything").assert(502, INTERNAL_SERVER_ERROR);
}

#[test]
fn backend_reset_without_answer_is_502() {
    let backend = Backend::start(|_| Reply::reset());
    let (_cfg, gw) = greedy_proxy(&backend);
    let resp = get(gw.addr(), "/prod/reset");
    resp.assert(502, INTERNAL_SERVER_ERROR);
    resp.assert_gateway_headers();
}

#[test]
fn backend_closing_without_answer_is_502() {
    let backend = Backend::start(|_| Reply::close());
    let (_cfg, gw) = greedy_proxy(&backend);
    get(gw.addr(), "/prod/close").assert(502, INTERNAL_SERVER_ERROR);
}

#[test]
fn slow_backend_is_504_after_the_method_timeout() {
    let backend = Backend::start(|_| Reply::ok("too late").delay(Duration::from_secs(5)));
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy_timeout(
        "v1",
        "GET /slow",
        &format!("{}/slow", backend.url()),
        200,
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let started = Instant::now();
    let resp = get(gw.addr(), "/prod/slow");
    resp.assert(504, ENDPOINT_TIMED_OUT);
    resp.assert_gateway_headers();
    // Generous bound: the timeout is 200 ms, the backend answers after 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "504 took {:?}",
        started.elapsed()
    );
}

#[test]
fn backend_connections_are_reused() {
    let backend = Backend::echo();
    let (cfg, gw) = greedy_proxy(&backend);
    let mut conn = Conn::connect(gw.addr());
    for i in 0..50 {
        let resp = conn.roundtrip(&Req::get(&format!("/prod/item/{i}")));
        assert_eq!(resp.status, 200, "request {i}: {resp:?}");
    }
    assert_eq!(backend.requests().len(), 50);
    let accepted = backend.connections();
    assert!(
        accepted <= cfg.shard_count() + 2,
        "50 sequential proxied requests opened {accepted} backend connections (shards: {})",
        cfg.shard_count()
    );
}
