//! Limits that protect the gateway: header size (431), body size (413), slow clients
//! (header timeout) and idle keep-alive connections (idle timeout).
//!
//! Timing assertions only use generous upper bounds (a 300 ms timeout must act within 5 s).

mod common;
use std::time::{Duration, Instant};

use common::*;

fn api() -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "ANY /pets", 200, "pets")
}

/// A request whose head (request line + headers) is exactly `total` bytes long.
fn request_with_head_size(total: usize) -> Vec<u8> {
    let start = "GET /prod/pets HTTP/1.1\r\nHost: localhost\r\nX-Filler: ";
    let end = "\r\n\r\n";
    let filler = total - start.len() - end.len();
    format!("{start}{}{end}", "f".repeat(filler)).into_bytes()
}

#[test]
fn headers_over_max_header_bytes_are_431() {
    let cfg = ConfigDir::with_api(&api()).limit("max_header_bytes", 10_240);
    let gw = Gateway::start(&cfg);

    // Comfortably under the limit: served.
    let mut conn = Conn::connect(gw.addr());
    conn.write(&request_with_head_size(9_000));
    conn.read_response().assert(200, "pets");

    // Over the limit in one header.
    let mut conn = Conn::connect(gw.addr());
    conn.write(&request_with_head_size(11_000));
    let resp = conn.read_response();
    assert_eq!(resp.status, 431, "{resp:?}");

    // Over the limit spread over many small headers.
    let mut raw = b"GET /prod/pets HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..300 {
        raw.extend(format!("X-Header-{i:03}: {}\r\n", "v".repeat(30)).as_bytes());
    }
    raw.extend(b"\r\n");
    let mut conn = Conn::connect(gw.addr());
    conn.write(&raw);
    assert_eq!(conn.read_response().status, 431);
}

#[test]
fn body_over_max_body_bytes_is_413() {
    let cfg = ConfigDir::with_api(&api()).limit("max_body_bytes", 1000);
    let gw = Gateway::start(&cfg);

    // At the limit: accepted.
    Req::post("/prod/pets", vec![b'x'; 1000])
        .send(gw.addr())
        .assert(200, "pets");

    // Announced length over the limit: rejected before the body is sent.
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"POST /prod/pets HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n");
    let resp = conn.read_response();
    resp.assert(413, REQUEST_TOO_LONG);
    resp.assert_gateway_headers();
}

#[test]
fn chunked_body_over_max_body_bytes_is_413() {
    let cfg = ConfigDir::with_api(&api()).limit("max_body_bytes", 1000);
    let gw = Gateway::start(&cfg);

    // Within the limit: accepted.
    Req::new("POST", "/prod/pets")
        .chunked(vec![vec![b'a'; 500], vec![b'b'; 500]])
        .send(gw.addr())
        .assert(200, "pets");

    // 1500 bytes in three chunks, in one write so the gateway has everything it will read.
    let over = Req::new("POST", "/prod/pets").chunked(vec![
        vec![b'a'; 500],
        vec![b'b'; 500],
        vec![b'c'; 500],
    ]);
    let mut conn = Conn::connect(gw.addr());
    conn.write(&over.to_bytes());
    conn.read_response().assert(413, REQUEST_TOO_LONG);
}

#[test]
fn slowloris_client_is_disconnected_after_header_timeout() {
    let cfg = ConfigDir::with_api(&api()).limit("header_timeout_ms", 300);
    let gw = Gateway::start(&cfg);

    // Half a head, then silence.
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"GET /prod/pets HTTP/1.1\r\nHost: loc");
    assert!(
        conn.closed_within(Duration::from_secs(5)),
        "stalled client still connected after 5 s (header timeout 300 ms)"
    );

    // Trickling one byte every 100 ms must not extend the deadline: the timeout is for the
    // whole head, not between reads.
    let mut conn = Conn::connect(gw.addr());
    conn.write(b"GET /prod/pets HTTP/1.1\r\n");
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(5) {
        if conn.try_write(b"X").is_err() || conn.closed_within(Duration::from_millis(100)) {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "trickling client still connected after 5 s (header timeout 300 ms)"
    );

    // Other clients are still served.
    get(gw.addr(), "/prod/pets").assert(200, "pets");
}

#[test]
fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let cfg = ConfigDir::with_api(&api()).limit("idle_timeout_ms", 300);
    let gw = Gateway::start(&cfg);

    let mut conn = Conn::connect(gw.addr());
    conn.roundtrip(&Req::get("/prod/pets")).assert(200, "pets");
    conn.roundtrip(&Req::get("/prod/pets")).assert(200, "pets");
    conn.assert_closed();
}
