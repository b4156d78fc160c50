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
    assert!(gw.logs_text().contains("request panicked"));
    assert_eq!(gw.ping()["status"], "ok");
}
