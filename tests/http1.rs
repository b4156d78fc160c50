//! HTTP/1.1 behaviour seen by clients: keep-alive, pipelining, chunked bodies in both
//! directions, close-delimited backend responses, `Expect: 100-continue`, HEAD, and
//! connection closing rules.

mod common;
use std::time::Duration;

use common::*;

/// Backend answers: `/up/slow` after 200 ms, `/up/chunked` chunked, `/up/close` close-delimited,
/// `/up/gated` one chunk then waits for the gate; anything else echoes the request body.
fn backend(gate: Gate) -> Backend {
    Backend::start(move |req| match req.target.as_str() {
        "/up/slow" => Reply::ok("one").delay(Duration::from_millis(200)),
        "/up/chunked" => Reply::ok("")
            .header("content-type", "text/plain")
            .chunked(big_chunks()),
        "/up/close" => Reply::ok("delimited by close ".repeat(500)).close_delimited(),
        "/up/gated" => Reply::ok("")
            .chunked(vec![b"first|".to_vec(), b"second".to_vec()])
            .pause_after_first_chunk(&gate),
        "/up/head" => Reply::ok("x".repeat(100)),
        _ => Reply::ok(req.body.clone()).header("x-echo-target", &req.target),
    })
}

/// 100 chunks of 1000 bytes plus a short one: larger than any single socket read.
fn big_chunks() -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..100u8).map(|i| vec![b'a' + i % 26; 1000]).collect();
    chunks.push(b"end".to_vec());
    chunks
}

fn api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /a", 200, "alpha")
        .mock("v1", "GET /b", 200, "bravo")
        .mock("v1", "ANY /any", 200, "any body")
        .proxy(
            "v1",
            "ANY /up/{proxy+}",
            &format!("{}/up/{{proxy}}", backend.url()),
        )
}

fn start() -> (ConfigDir, Backend, Gateway, Gate) {
    let gate = Gate::new();
    let backend = backend(gate.clone());
    let cfg = ConfigDir::with_api(&api(&backend));
    let gw = Gateway::start(&cfg);
    (cfg, backend, gw, gate)
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    for i in 0..5 {
        conn.roundtrip(&Req::get("/prod/a")).assert(200, "alpha");
        conn.roundtrip(&Req::post("/prod/up/echo", format!("body {i}")))
            .assert(200, &format!("body {i}"));
        conn.roundtrip(&Req::get("/prod/missing"))
            .assert_missing_auth_token();
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    let mut burst = Vec::new();
    burst.extend(Req::get("/prod/a").to_bytes());
    burst.extend(Req::get("/prod/b").to_bytes());
    burst.extend(Req::get("/prod/any").to_bytes());
    conn.write(&burst);
    conn.read_response().assert(200, "alpha");
    conn.read_response().assert(200, "bravo");
    conn.read_response().assert(200, "any body");

    // A slow proxied request first must still be answered first.
    let mut burst = Vec::new();
    burst.extend(Req::get("/prod/up/slow").to_bytes());
    burst.extend(Req::get("/prod/b").to_bytes());
    burst.extend(Req::post("/prod/up/echo", "three").to_bytes());
    conn.write(&burst);
    conn.read_response().assert(200, "one");
    conn.read_response().assert(200, "bravo");
    conn.read_response().assert(200, "three");
}

#[test]
fn chunked_request_body_reaches_the_backend() {
    let (_cfg, backend, gw, _gate) = start();
    let chunks: Vec<Vec<u8>> = (0..50u8).map(|i| vec![b'0' + i % 10; 997]).collect();
    let expected = chunks.concat();
    let resp = Req::new("POST", "/prod/up/upload")
        .chunked(chunks)
        .send(gw.addr());
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(
        resp.body == expected,
        "echoed body differs: {} bytes back, {} sent",
        resp.body.len(),
        expected.len()
    );
    let req = backend.single_request();
    assert!(
        req.body == expected,
        "backend got {} bytes, {} sent",
        req.body.len(),
        expected.len()
    );
}

#[test]
fn chunked_request_body_with_extensions_and_trailers_is_accepted() {
    let (_cfg, backend, gw, _gate) = start();
    let raw =
        b"POST /prod/up/ext HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let mut conn = Conn::connect(gw.addr());
    conn.write(raw);
    conn.read_response().assert(200, "hello world");
    assert_eq!(backend.single_request().body_str(), "hello world");
}

#[test]
fn chunked_backend_response_reaches_the_client() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    let resp = conn.roundtrip(&Req::get("/prod/up/chunked"));
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == big_chunks().concat(),
        "body differs: got {} bytes",
        resp.body.len()
    );
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    // The connection is still usable afterwards.
    conn.roundtrip(&Req::get("/prod/a")).assert(200, "alpha");
}

#[test]
fn chunked_backend_response_is_streamed() {
    let (_cfg, _backend, gw, gate) = start();
    let mut conn = Conn::connect(gw.addr());
    conn.send(&Req::get("/prod/up/gated"));
    // The backend sends "first|" and then waits for the gate: the client must see the first
    // chunk before the backend finishes, i.e. the gateway does not buffer the whole response.
    let streamed = conn.wait_for_bytes(b"first|", Duration::from_secs(5));
    gate.open();
    assert!(
        streamed,
        "first chunk not forwarded before the backend finished; got {:?}",
        String::from_utf8_lossy(conn.unread())
    );
    conn.read_response().assert(200, "first|second");
}

#[test]
fn close_delimited_backend_response_is_delivered() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    let resp = conn.roundtrip(&Req::get("/prod/up/close"));
    resp.assert(200, &"delimited by close ".repeat(500));
}

#[test]
fn expect_100_continue_gets_100_before_the_body() {
    let (_cfg, backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"POST /prod/up/expect HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let interim = conn.read_response();
    assert_eq!(
        interim.status, 100,
        "expected 100 Continue before sending the body: {interim:?}"
    );
    assert_eq!(interim.version, "HTTP/1.1");
    conn.write(b"hello world");
    conn.read_final_response().assert(200, "hello world");
    assert_eq!(backend.single_request().body_str(), "hello world");
}

#[test]
fn head_gets_headers_without_a_body() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    // MOCK route.
    let resp = conn.roundtrip(&Req::new("HEAD", "/prod/any"));
    assert_eq!(resp.status, 200);
    if let Some(len) = resp.header("content-length") {
        assert_eq!(len, "any body".len().to_string());
    }
    // Proxied route: the backend sends Content-Length: 100 and no body.
    let resp = conn.roundtrip(&Req::new("HEAD", "/prod/up/head"));
    assert_eq!(resp.status, 200);
    // If any body bytes had been sent, this response would be garbage.
    conn.roundtrip(&Req::get("/prod/a")).assert(200, "alpha");
    assert!(conn.unread().is_empty());
}

#[test]
fn connection_close_closes_after_the_response() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    conn.roundtrip(&Req::get("/prod/a").header("Connection", "close"))
        .assert(200, "alpha");
    conn.assert_closed();

    let mut conn = Conn::connect(gw.addr());
    conn.roundtrip(&Req::post("/prod/up/x", "proxied").header("Connection", "close"))
        .assert(200, "proxied");
    conn.assert_closed();
}

#[test]
fn http10_without_keep_alive_is_closed_after_the_response() {
    let (_cfg, _backend, gw, _gate) = start();
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"GET /prod/a HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let resp = conn.read_response();
    resp.assert(200, "alpha");
    assert!(!resp.chunked, "chunked encoding sent to an HTTP/1.0 client");
    conn.assert_closed();

    // Proxied chunked backend response to an HTTP/1.0 client: not chunked either.
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"GET /prod/up/chunked HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let resp = conn.read_response();
    assert!(!resp.chunked, "chunked encoding sent to an HTTP/1.0 client");
    assert!(
        resp.body == big_chunks().concat(),
        "body differs: got {} bytes",
        resp.body.len()
    );
    assert!(
        conn.closed_within(Duration::from_secs(5)),
        "HTTP/1.0 connection left open"
    );
}
