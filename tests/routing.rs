//! Routing: path style and host style API selection, AWS precedence (literal > `{param}` >
//! `{proxy+}`, specific method > `ANY`), and the 403 "Missing Authentication Token" answer for
//! everything that does not match.

mod common;
use common::*;

/// The default API used by most routing tests: one MOCK per route, whose body names the route
/// so the test can tell which one answered.
fn petstore() -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /", 200, "root")
        .mock("v1", "GET /pets", 200, "pets")
        .mock("v1", "GET /pets/mine", 200, "literal")
        .mock("v1", "GET /pets/{petId}", 200, "param")
        .mock("v1", "GET /{proxy+}", 200, "greedy")
        .mock("v1", "ANY /things", 200, "any")
        .mock("v1", "GET /things", 200, "get")
        .mock("v1", "POST /only-post", 200, "post")
}

fn start_petstore() -> (ConfigDir, Gateway) {
    let cfg = ConfigDir::with_api(&petstore());
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

#[test]
fn path_style_serves_the_default_api_on_any_host() {
    let (_cfg, gw) = start_petstore();
    get(gw.addr(), "/prod/pets").assert(200, "pets");
    Req::get("/prod/pets")
        .header("Host", "example.com")
        .send(gw.addr())
        .assert(200, "pets");
    Req::get("/prod/pets")
        .header("Host", &gw.addr().to_string())
        .send(gw.addr())
        .assert(200, "pets");
}

#[test]
fn host_style_picks_the_api_by_id() {
    let other =
        ApiSpec::new("other")
            .stage("prod", "d1")
            .mock("d1", "GET /pets", 200, "other pets");
    let cfg = ConfigDir::new()
        .api(&petstore())
        .api(&other)
        .default_api("petstore");
    let gw = Gateway::start(&cfg);

    Req::get("/prod/pets")
        .header("Host", "other.execute-api.localhost")
        .send(gw.addr())
        .assert(200, "other pets");
    Req::get("/prod/pets")
        .header("Host", "petstore.execute-api.localhost")
        .send(gw.addr())
        .assert(200, "pets");
    // Path style on a plain host still serves the default API.
    get(gw.addr(), "/prod/pets").assert(200, "pets");
    // The stage is still the first path segment: "other" has no stage "dev".
    Req::get("/dev/pets")
        .header("Host", "other.execute-api.localhost")
        .send(gw.addr())
        .assert_missing_auth_token();
    // Routes of the default API are not reachable through another API's host.
    Req::get("/prod/things")
        .header("Host", "other.execute-api.localhost")
        .send(gw.addr())
        .assert_missing_auth_token();
}

#[test]
fn host_style_ignores_port_and_case_of_host() {
    let other =
        ApiSpec::new("other")
            .stage("prod", "d1")
            .mock("d1", "GET /pets", 200, "other pets");
    let cfg = ConfigDir::new()
        .api(&petstore())
        .api(&other)
        .default_api("petstore");
    let gw = Gateway::start(&cfg);

    // Browsers and curl send the port in Host when it is not 80.
    Req::get("/prod/pets")
        .header("Host", "other.execute-api.localhost:8080")
        .send(gw.addr())
        .assert(200, "other pets");
    // Host names are case-insensitive.
    Req::get("/prod/pets")
        .header("Host", "other.Execute-API.LocalHost")
        .send(gw.addr())
        .assert(200, "other pets");
}

#[test]
fn literal_beats_param_beats_greedy() {
    let (_cfg, gw) = start_petstore();
    get(gw.addr(), "/prod/pets/mine").assert(200, "literal");
    get(gw.addr(), "/prod/pets/7").assert(200, "param");
    // Too deep for /pets/{petId}: falls back to the greedy resource.
    get(gw.addr(), "/prod/pets/7/toys").assert(200, "greedy");
    get(gw.addr(), "/prod/somewhere/else").assert(200, "greedy");
    get(gw.addr(), "/prod/pets").assert(200, "pets");
}

#[test]
fn specific_method_beats_any() {
    let (_cfg, gw) = start_petstore();
    get(gw.addr(), "/prod/things").assert(200, "get");
    request(gw.addr(), "POST", "/prod/things", &[], b"").assert(200, "any");
    request(gw.addr(), "DELETE", "/prod/things", &[], b"").assert(200, "any");
    request(gw.addr(), "PATCH", "/prod/things", &[], b"x").assert(200, "any");
}

#[test]
fn unknown_stage_path_or_method_is_403_missing_authentication_token() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "pets")
        .mock("v1", "POST /only-post", 200, "post");
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    for (method, target) in [
        ("GET", "/staging/pets"), // unknown stage
        ("GET", "/prod/cats"),    // unknown path
        ("GET", "/prod/pets/1"),  // deeper than any resource
        ("DELETE", "/prod/pets"), // unknown method on a known resource
        ("GET", "/prod/only-post"),
        ("GET", "/prod"), // no root resource
        ("GET", "/"),     // no stage at all
    ] {
        let resp = request(gw.addr(), method, target, &[], b"");
        resp.assert_missing_auth_token();
        resp.assert_gateway_headers();
    }
}

#[test]
fn trailing_slash_is_ignored() {
    let (_cfg, gw) = start_petstore();
    get(gw.addr(), "/prod/pets/").assert(200, "pets");
    get(gw.addr(), "/prod/pets/mine/").assert(200, "literal");
    get(gw.addr(), "/prod/pets/7/").assert(200, "param");
    get(gw.addr(), "/prod").assert(200, "root");
    get(gw.addr(), "/prod/").assert(200, "root");
}

#[test]
fn query_string_does_not_affect_routing() {
    let (_cfg, gw) = start_petstore();
    get(gw.addr(), "/prod/pets?type=dog&limit=2").assert(200, "pets");
    get(gw.addr(), "/prod/pets/mine?x=1").assert(200, "literal");
    get(gw.addr(), "/prod?x=1").assert(200, "root");
}
