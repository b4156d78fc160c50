//! Self-test of the harness in `tests/common` without the gateway: the test client talks
//! straight to the test backend, so that a failing gateway test can be trusted to be the
//! gateway's fault.

mod common;
use std::time::Duration;

use common::*;

#[test]
fn client_and_backend_agree_on_every_framing() {
    let backend = Backend::start(|req| match req.target.as_str() {
        "/chunked" => Reply::ok("").chunked(vec![b"ab".to_vec(), b"cd".to_vec()]),
        "/close" => Reply::ok("until close").close_delimited(),
        _ => Reply::status(201).header("x-a", "1").body(req.body.clone()),
    });
    let mut conn = Conn::connect(backend.addr());
    let resp = conn.roundtrip(&Req::post("/echo", "hello"));
    resp.assert(201, "hello");
    assert_eq!(resp.header("X-A"), Some("1"));
    let resp =
        conn.roundtrip(&Req::new("POST", "/echo").chunked(vec![b"x".to_vec(), b"yz".to_vec()]));
    resp.assert(201, "xyz");
    let resp = conn.roundtrip(&Req::get("/chunked"));
    assert!(resp.chunked);
    resp.assert(200, "abcd");
    let resp = conn.roundtrip(&Req::get("/close"));
    assert!(resp.close_delimited);
    resp.assert(200, "until close");
    assert_eq!(backend.connections(), 1);

    let reqs = backend.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs[1].chunked);
    assert_eq!(reqs[1].body_str(), "xyz");
    assert_eq!(reqs[0].header("host"), Some("localhost"));
}

#[test]
fn backend_reset_and_close_modes_end_the_connection() {
    let backend = Backend::start(|req| {
        if req.target == "/reset" {
            Reply::reset()
        } else {
            Reply::close()
        }
    });
    for target in ["/reset", "/close"] {
        let mut conn = Conn::connect(backend.addr());
        conn.send(&Req::get(target));
        assert!(
            conn.closed_within(Duration::from_secs(5)),
            "{target}: still open"
        );
        assert!(conn.unread().is_empty(), "{target}: got bytes");
    }
}

#[test]
fn gated_chunked_reply_sends_first_chunk_then_waits() {
    let gate = Gate::new();
    let g = gate.clone();
    let backend = Backend::start(move |_| {
        Reply::ok("")
            .chunked(vec![b"one|".to_vec(), b"two".to_vec()])
            .pause_after_first_chunk(&g)
    });
    let mut conn = Conn::connect(backend.addr());
    conn.send(&Req::get("/"));
    assert!(conn.wait_for_bytes(b"one|", Duration::from_secs(5)));
    assert!(!conn.wait_for_bytes(b"two", Duration::from_millis(200)));
    gate.open();
    conn.read_response().assert(200, "one|two");
}

#[test]
fn response_parser_handles_lengths_and_chunks() {
    let r = Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    r.assert(200, "abc");
    let r = Response::parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    );
    r.assert(200, "abc");
    let r = Response::parse(b"HTTP/1.0 200 OK\r\n\r\nuntil eof");
    r.assert(200, "until eof");
    assert!(matches!(
        Response::parse_partial(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
            false,
            false
        ),
        Parsed::Partial
    ));
    assert!(matches!(
        Response::parse_partial(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, false),
        Parsed::Partial
    ));
}

#[test]
fn closed_port_refuses_connections() {
    assert!(Conn::try_connect(closed_port()).is_err());
}
