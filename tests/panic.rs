//! A panic while serving one request costs that request alone: it gets AWS's 500, its
//! connection closes, and every other connection on the node, on the same shard too, goes on.
//! Needs the test-only `test-faults` feature (README's test command enables it).
#![cfg(feature = "test-faults")]

mod common;
use common::*;

#[test]
fn a_panicking_request_gets_500_and_the_node_keeps_serving() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    // One shard: the panicking request and the others share it.
    let cfg = ConfigDir::with_api(&api).shards(1);
    let gw = Gateway::start(&cfg);

    let mut before = Conn::connect(gw.addr());
    before.roundtrip(&Req::get("/prod/pets")).assert(200, "[]");

    let mut doomed = Conn::connect(gw.addr());
    let resp = doomed.roundtrip(&Req::get("/prod/pets").header("x-tollgate-test-panic", "1"));
    assert_eq!(resp.status, 500);
    assert_eq!(resp.body_str(), INTERNAL_SERVER_ERROR);
    assert!(resp.header("x-amzn-RequestId").is_some());
    doomed.assert_closed();

    // The connection opened before the panic and new ones are served on the same shard.
    before.roundtrip(&Req::get("/prod/pets")).assert(200, "[]");
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    gw.assert_logged("request panicked");
    assert_eq!(gw.ping()["status"], "ok");
}

/// On HTTP/2 the panic costs one stream: it gets the 500, and the same connection goes on
/// serving other streams.
#[test]
fn a_panicking_h2_stream_gets_500_and_its_connection_goes_on() {
    use common::h2::{connect_h2c, request, request_with, runtime};
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let gw = Gateway::start(&ConfigDir::with_api(&api).shards(1));
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/pets");
        let panic = [("x-tollgate-test-panic", "1")];
        let resp = request_with(&send, "GET", &uri, &panic, b"").await;
        assert_eq!(resp.status, 500, "{resp:?}");
        assert_eq!(resp.body, INTERNAL_SERVER_ERROR.as_bytes());
        assert!(resp.headers.contains_key("x-amzn-requestid"));
        let resp = request(&send, "GET", &uri, b"").await;
        assert_eq!((resp.status, &resp.body[..]), (200, &b"[]"[..]));
    });
    gw.assert_logged("request panicked");
}
