//! MOCK integration: the gateway answers with the configured status, headers and body.

mod common;
use common::*;

#[test]
fn mock_answers_configured_status_headers_and_body() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock_with_headers(
            "v1",
            "POST /pets",
            201,
            &[
                ("content-type", "application/json"),
                ("x-pet-store", "open"),
                ("cache-control", "no-store"),
            ],
            r#"{"id":3,"type":"fish"}"#,
        )
        .mock("v1", "GET /teapot", 418, "short and stout");
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let resp = Req::post("/prod/pets", r#"{"type":"fish"}"#).send(gw.addr());
    resp.assert(201, r#"{"id":3,"type":"fish"}"#);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("x-pet-store"), Some("open"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    resp.assert_gateway_headers();

    let resp = get(gw.addr(), "/prod/teapot");
    resp.assert(418, "short and stout");
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    resp.assert_gateway_headers();
}

#[test]
fn mock_body_is_sent_verbatim_with_its_length() {
    let body = "line one\nline \"two\"\n\tunicode: h\u{e9}llo \u{1F600}\n";
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /text", 200, body);
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let resp = get(gw.addr(), "/prod/text");
    resp.assert(200, body);
    if let Some(len) = resp.header("content-length") {
        assert_eq!(
            len,
            body.len().to_string(),
            "Content-Length must count bytes"
        );
    }
}

#[test]
fn every_response_has_a_unique_request_id() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "pets");
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let mut ids = std::collections::HashSet::new();
    let mut conn = Conn::connect(gw.addr());
    for i in 0..20 {
        // Alternate keep-alive requests, fresh connections and 403s.
        let resp = match i % 3 {
            0 => conn.roundtrip(&Req::get("/prod/pets")),
            1 => get(gw.addr(), "/prod/pets"),
            _ => get(gw.addr(), "/prod/nothing-here"),
        };
        resp.assert_gateway_headers();
        let id = resp.header("x-amzn-RequestId").unwrap().to_string();
        assert!(ids.insert(id.clone()), "request id {id} was sent twice");
    }
}
