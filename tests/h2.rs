//! HTTP/2 downstream: h2c with prior knowledge on the plain listener and h2 over TLS chosen
//! by ALPN carry GET and POST with bodies through the same routing and integrations as
//! HTTP/1.1 (backends still receive HTTP/1.1), many concurrent streams share one connection,
//! and limits answer as they do for HTTP/1.1.

mod common;

use common::h2::{connect_h2_tls, connect_h2c, request, runtime};
use common::tls::{client_config, domain_toml, write_cert, Pki};
use common::*;

fn api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /hello", 200, "hello h2")
        .proxy(
            "v1",
            "ANY /echo/{id}",
            &format!("{}/svc/{{id}}", backend.url()),
        )
}

#[test]
fn h2c_carries_get_and_post_through_the_pipeline() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/hello");
        let resp = request(&send, "GET", &uri, b"").await;
        assert_eq!((resp.status, &resp.body[..]), (200, &b"hello h2"[..]));
        assert!(resp.headers.contains_key("x-amzn-requestid"), "{resp:?}");
        assert!(!resp.headers.contains_key("connection"), "{resp:?}");

        let uri = format!("http://{addr}/prod/echo/7?q=1");
        let resp = request(&send, "POST", &uri, b"payload over h2c").await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(&resp.body[..], b"payload over h2c");
        assert_eq!(resp.headers["x-echo-method"], "POST");
        assert_eq!(resp.headers["x-echo-target"], "/svc/7?q=1");

        let resp = request(&send, "GET", &format!("http://{addr}/prod/nothing"), b"").await;
        assert_eq!(resp.status, 403);
        assert_eq!(resp.body, MISSING_AUTH_TOKEN.as_bytes());
    });
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("content-length"), Some("16"));
}

#[test]
fn h2_over_tls_is_chosen_by_alpn() {
    let backend = Backend::echo();
    let pki = Pki::new("Test CA");
    let cfg = ConfigDir::with_api(&api(&backend));
    write_cert(&cfg, "a", &pki.server(&["api.test"]));
    let map = "mappings = [{ base_path = \"/\", api = \"petstore\", stage = \"prod\" }]";
    let cfg = cfg.gateway_extra(&format!(
        "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n{}",
        domain_toml("api.test", "a", map)
    ));
    let gw = Gateway::start(&cfg);
    let addr = gw.tls_addr();
    let config = client_config(&pki.ca_pem(), None, &[b"h2", b"http/1.1"]);
    runtime().block_on(async move {
        let (send, alpn) = connect_h2_tls(addr, "api.test", config).await;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        let resp = request(&send, "GET", "https://api.test/hello", b"").await;
        assert_eq!((resp.status, &resp.body[..]), (200, &b"hello h2"[..]));
        let body = vec![b'x'; 100_000];
        let resp = request(&send, "PUT", "https://api.test/echo/big", &body).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.body.len(), body.len());
        assert_eq!(resp.headers["x-echo-method"], "PUT");
    });
}

#[test]
fn many_concurrent_streams_on_one_connection() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let addr = gw.addr();
    const STREAMS: usize = 300;
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        // One round trip first: until the server's SETTINGS arrive a client may assume no
        // stream limit, and streams over the limit are refused (REFUSED_STREAM).
        let warmup = request(&send, "GET", &format!("http://{addr}/prod/hello"), b"").await;
        assert_eq!(warmup.status, 200);
        let mut tasks = Vec::new();
        for i in 0..STREAMS {
            let send = send.clone();
            tasks.push(tokio::spawn(async move {
                let uri = format!("http://{addr}/prod/echo/{i}");
                let body = format!("body of stream {i}");
                let resp = request(&send, "POST", &uri, body.as_bytes()).await;
                (i, resp)
            }));
        }
        for task in tasks {
            let (i, resp) = task.await.expect("stream task");
            assert_eq!(resp.status, 200, "stream {i}: {resp:?}");
            assert_eq!(resp.body, format!("body of stream {i}").into_bytes());
            assert_eq!(resp.headers["x-echo-target"], format!("/svc/{i}").as_str());
        }
    });
    assert_eq!(backend.requests().len(), STREAMS);
}

#[test]
fn oversized_h2_body_gets_413_like_http1() {
    let backend = Backend::echo();
    let cfg = ConfigDir::with_api(&api(&backend)).limit("max_body_bytes", 1000);
    let gw = Gateway::start(&cfg);
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/echo/1");
        let resp = request(&send, "POST", &uri, &[b'z'; 1001]).await;
        assert_eq!(resp.status, 413, "{resp:?}");
        assert_eq!(resp.body, REQUEST_TOO_LONG.as_bytes());
        // The connection still serves.
        let resp = request(&send, "POST", &uri, &[b'z'; 1000]).await;
        assert_eq!((resp.status, resp.body.len()), (200, 1000));
    });
    assert_eq!(backend.requests().len(), 1);
}
