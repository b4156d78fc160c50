//! Hostile or malformed requests: each must get `400 Bad Request` and the connection closed,
//! so that nothing smuggled after the bad request is ever interpreted as a second request.
//!
//! Every payload is sent in one write and ends with a well-formed request (`GET /prod/ok`);
//! [`assert_rejected`] checks that no second response follows the 400.

mod common;
use common::*;

fn start() -> (ConfigDir, Backend, Gateway) {
    let backend = Backend::echo();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "ANY /ok", 200, "ok")
        .mock("v1", "ANY /mock", 200, "mock")
        .proxy("v1", "ANY /up", &format!("{}/up", backend.url()));
    let cfg = ConfigDir::with_api(&api);
    let gw = Gateway::start(&cfg);
    (cfg, backend, gw)
}

/// The bad request followed by a smuggled, well-formed one.
fn with_smuggled(bad: &str) -> Vec<u8> {
    let mut raw = bad.as_bytes().to_vec();
    raw.extend(Req::get("/prod/ok").to_bytes());
    raw
}

/// Asserts that `bad` is rejected with 400 on both a MOCK and a proxied route, and that the
/// backend never saw it.
#[track_caller]
fn assert_bad_request(bad_template: &str) {
    let (_cfg, backend, gw) = start();
    for route in ["/prod/mock", "/prod/up"] {
        let bad = bad_template.replace("{route}", route);
        assert_rejected(gw.addr(), &with_smuggled(&bad), 400);
    }
    assert!(
        backend.requests().is_empty(),
        "backend received a rejected request: {:#?}",
        backend.requests()
    );
    // The gateway is still healthy.
    get(gw.addr(), "/prod/ok").assert(200, "ok");
}

#[test]
fn content_length_and_transfer_encoding_together() {
    assert_bad_request(
        "POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn differing_duplicate_content_length() {
    assert_bad_request("POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
}

#[test]
fn content_length_that_is_not_a_number() {
    assert_bad_request(
        "POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5x\r\n\r\nhello",
    );
    assert_bad_request("POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n");
}

#[test]
fn transfer_encoding_chunked_not_last() {
    assert_bad_request("POST {route} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n");
}

#[test]
fn transfer_encoding_identity() {
    assert_bad_request(
        "POST {route} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n",
    );
}

#[test]
fn invalid_chunk_size() {
    assert_bad_request("POST {route} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn obs_fold_header_continuation() {
    assert_bad_request(
        "GET {route} HTTP/1.1\r\nHost: localhost\r\nX-Folded: first\r\n  second\r\n\r\n",
    );
}

#[test]
fn space_before_colon() {
    assert_bad_request("GET {route} HTTP/1.1\r\nHost: localhost\r\nX-Spaced : value\r\n\r\n");
}

#[test]
fn invalid_header_name_character() {
    assert_bad_request("GET {route} HTTP/1.1\r\nHost: localhost\r\nX-Bad(Name): value\r\n\r\n");
}

#[test]
fn bare_lf_line_endings() {
    assert_bad_request("GET {route} HTTP/1.1\nHost: localhost\nX-A: b\n\n");
}

#[test]
fn missing_host_on_http11() {
    assert_bad_request("GET {route} HTTP/1.1\r\nX-A: b\r\n\r\n");
}

#[test]
fn garbage_request_line() {
    assert_bad_request("THIS IS NOT HTTP\r\n\r\n");
}
