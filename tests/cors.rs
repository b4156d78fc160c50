//! CORS from one `[cors]` table: generated preflights, `Access-Control-Allow-Origin` on
//! replies, proxied responses and gateway errors, checked with raw requests and by a real
//! browser (headless Chromium) fetching cross-origin from a page served on another port.

mod common;
use common::browser::{dump_dom, element_text};
use common::*;
use std::sync::{Arc, Mutex};

/// A page server: `/` is a page whose script calls the gateway (its URL set once known).
fn page_server(gateway: Arc<Mutex<String>>) -> Backend {
    Backend::start(move |_| {
        let gw = gateway.lock().unwrap().clone();
        let page = format!(
            r#"<html><body><p id="post">pending</p><p id="error">pending</p><p id="mapped">pending</p><script>
const show = (id) => (r) => r.text().then(t => {{ document.getElementById(id).textContent = r.status + " " + t + " count=" + r.headers.get("x-pet-count"); }});
const fail = (id) => (e) => {{ document.getElementById(id).textContent = "error " + e; }};
fetch("{gw}/prod/pets", {{method: "POST", headers: {{"Content-Type": "application/json", "X-Amz-Date": "20261202T000000Z"}}, body: JSON.stringify({{name: "rex"}})}})
  .then(show("post"), fail("post"))
  .then(() => fetch("{gw}/prod/private").then(show("error"), fail("error")))
  .then(() => fetch("{gw}/prod/pets/7").then(show("mapped"), fail("mapped")));
</script></body></html>"#
        );
        Reply::ok(page).header("Content-Type", "text/html")
    })
}

fn api(backend: &Backend, origin: &str) -> ApiSpec {
    ApiSpec::new("shop")
        .stage("prod", "v1")
        .proxy("v1", "POST /pets", &format!("{}/pets", backend.url()))
        .method_toml(
            "v1",
            "GET /private",
            "{ type = \"MOCK\", status = 200, body = \"secret\" }",
            "api_key_required = true",
        )
        .table(
            "[deployments.v1.methods.\"GET /pets/{id}\".integration]\ntype = \"MOCK\"\nrequest_templates.\"application/json\" = '{\"statusCode\": 200}'\n[deployments.v1.methods.\"GET /pets/{id}\".integration.responses.default]\nstatus = 200\nparameters = { \"method.response.header.X-Pet-Count\" = \"'1'\" }\ntemplates.\"application/json\" = '''{\"id\": \"$input.params('id')\"}'''\n",
        )
        .table(&format!(
            "[cors]\nallow_origins = [{}]\nmax_age = 600\nexpose_headers = [\"X-Pet-Count\"]\n",
            toml_str(origin)
        ))
}

#[test]
fn preflights_and_responses_carry_the_cors_headers() {
    let backend = Backend::start(|_| {
        Reply::ok("made").header("Access-Control-Allow-Origin", "https://backend.example")
    });
    let origin = "http://app.example";
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend, origin)));

    let pre = Req::new("OPTIONS", "/prod/pets")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send(gw.addr());
    assert_eq!(pre.status, 200);
    assert_eq!(pre.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("OPTIONS,POST")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    assert_eq!(pre.header("vary"), None, "one origin: nothing to vary on");
    assert!(
        backend.requests().is_empty(),
        "the preflight is the gateway's own"
    );

    // A gateway error of a CORS resource is readable by the page (DEFAULT_4XX's header).
    let denied = Req::get("/prod/private")
        .header("Origin", origin)
        .send(gw.addr());
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        denied.header("access-control-expose-headers"),
        Some("X-Pet-Count")
    );
    // So is the 403 of a path no resource matches (MISSING_AUTHENTICATION_TOKEN, a 4XX).
    let unrouted = Req::get("/prod/nowhere")
        .header("Origin", origin)
        .send(gw.addr());
    assert_eq!(unrouted.status, 403);
    assert_eq!(unrouted.header("access-control-allow-origin"), Some(origin));
    // A backend's own header wins over the gateway's.
    let posted = Req::post("/prod/pets", "{}")
        .header("Origin", origin)
        .send(gw.addr());
    assert_eq!(
        posted.header_all("access-control-allow-origin"),
        vec!["https://backend.example"]
    );
    // Another origin gets no CORS header at all.
    let other = Req::get("/prod/pets/1")
        .header("Origin", "http://evil.example")
        .send(gw.addr());
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn a_browser_on_another_origin_reads_responses_and_errors() {
    let gateway_url = Arc::new(Mutex::new(String::new()));
    let page = page_server(gateway_url.clone());
    let backend = Backend::start(|req| Reply::ok(format!("made {}", req.body_str())));
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend, &page.url())));
    *gateway_url.lock().unwrap() = format!("http://{}", gw.addr());

    let dom = dump_dom(&format!("{}/", page.url()));
    assert_eq!(
        element_text(&dom, "post"),
        r#"200 made {"name":"rex"} count=null"#,
        "{dom}"
    );
    assert_eq!(
        element_text(&dom, "error"),
        r#"403 {"message":"Forbidden"} count=null"#
    );
    assert_eq!(element_text(&dom, "mapped"), r#"200 {"id": "7"} count=1"#);
    let methods: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        methods,
        vec!["POST"],
        "the preflight never reached the backend"
    );

    // The same page from an origin the API does not allow: the browser refuses the answers.
    let stranger = page_server(gateway_url.clone());
    let dom = dump_dom(&format!("{}/", stranger.url()));
    assert_eq!(
        element_text(&dom, "post"),
        "error TypeError: Failed to fetch"
    );
    assert_eq!(
        element_text(&dom, "mapped"),
        "error TypeError: Failed to fetch"
    );
}

#[test]
fn check_refuses_credentials_with_any_origin() {
    let api = ApiSpec::new("shop")
        .stage("prod", "v1")
        .mock("v1", "GET /a", 200, "a")
        .table("[cors]\nallow_credentials = true\n");
    let out = check_fails(ConfigDir::with_api(&api).path());
    assert_mentions(
        &out,
        &["cors.allow_credentials: allow_credentials needs explicit allow_origins"],
    );
}
