//! Non-proxy integrations end to end: MOCK with templates, HTTP with parameter and template
//! mapping, AWS (Lambda custom) with selection by `errorMessage`; passthrough behaviours,
//! selection patterns, overrides, and the `--check` errors of bad mappings.

mod common;
use common::lambda::{function_uri, invoke_server, lambda_section, result};
use common::*;

/// A method whose integration is the raw TOML `body` (the lines of its `integration` table,
/// then any sub-tables, written with `{M}` for the method's table path).
fn mapped(api: ApiSpec, route: &str, body: &str) -> ApiSpec {
    let path = format!("deployments.v1.methods.{}", toml_str(route));
    let text = body.replace("{M}", &path);
    api.table(&format!("[{path}.integration]\n{text}"))
}

fn json(resp: &Response) -> serde_json::Value {
    serde_json::from_str(&resp.body_str()).expect("a JSON body")
}

fn api() -> ApiSpec {
    ApiSpec::new("shop").stage("prod", "v1")
}

/// The MOCK of the console's "Mock integration" how-to: the request template's statusCode
/// picks the integration response; each response maps its own body.
#[test]
fn a_mock_request_template_selects_the_integration_response() {
    let api = mapped(
        api(),
        "GET /pets/{id}",
        r#"type = "MOCK"
request_templates."application/json" = '''
#if( $input.params('scope') == "internal" )
{"statusCode": 200}
#else
{"statusCode": 500}
#end'''
[{M}.integration.responses.default]
status = 200
templates."application/json" = '''{"id": "$input.params('id')", "stage": "$context.stage", "path": "$context.path"}'''
[{M}.integration.responses."5\\d{2}"]
status = 503
parameters = { "method.response.header.Retry-After" = "'120'" }
templates."application/json" = '''{"message": "closed for $input.params().querystring.get('scope')"}'''
"#,
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    let ok = get(gw.addr(), "/prod/pets/42?scope=internal");
    ok.assert(
        200,
        r#"{"id": "42", "stage": "prod", "path": "/prod/pets/42"}"#,
    );
    assert_eq!(ok.header("content-type"), Some("application/json"));
    ok.assert_gateway_headers();

    let closed = get(gw.addr(), "/prod/pets/42?scope=public");
    closed.assert(503, r#"{"message": "closed for public"}"#);
    assert_eq!(closed.header("retry-after"), Some("120"));
    assert_eq!(closed.header("content-type"), Some("application/json"));
}

/// `statusCode` must be an integer (`"200"` is a 500); CDK's unquoted `{statusCode: 200}` is
/// taken; without a template the default response answers; overrides set the status (with no
/// method response for it) and headers.
#[test]
fn mock_status_rules_and_response_overrides() {
    let api = mapped(
        api(),
        "GET /quoted",
        r#"type = "MOCK"
request_templates."application/json" = '{"statusCode": "200"}'
[{M}.integration.responses.default]
status = 200
"#,
    );
    let api = mapped(
        api,
        "GET /cdk",
        r#"type = "MOCK"
request_templates."application/json" = '{statusCode: 204}'
[{M}.integration.responses."204"]
status = 204
[{M}.integration.responses.default]
status = 200
templates."application/json" = 'default'
"#,
    );
    let api = mapped(
        api,
        "GET /plain",
        r#"type = "MOCK"
[{M}.integration.responses.default]
status = 200
templates."application/json" = 'no template: the default'
"#,
    );
    let api = mapped(
        api,
        "GET /override",
        r#"type = "MOCK"
request_templates."application/json" = '{"statusCode": 200}'
[{M}.integration.responses.default]
status = 200
templates."application/json" = '''
#set($context.responseOverride.status = 418)
#set($context.responseOverride.header.Content-Type = "text/plain")
#set($context.responseOverride.header.X-Why = "tea")
status was $context.responseOverride.status'''
"#,
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));

    get(gw.addr(), "/prod/quoted").assert(500, INTERNAL_SERVER_ERROR);
    let cdk = get(gw.addr(), "/prod/cdk");
    assert_eq!(cdk.status, 204);
    get(gw.addr(), "/prod/plain").assert(200, "no template: the default");
    let o = get(gw.addr(), "/prod/override");
    o.assert(418, "status was 418");
    assert_eq!(o.header("content-type"), Some("text/plain"));
    assert_eq!(o.header("x-why"), Some("tea"));
    gw.assert_logged("Unable to parse statusCode");
}

/// The developer guide's passthrough table: a request whose media type has no template is
/// passed through (WHEN_NO_MATCH), or refused with 415 (NEVER; WHEN_NO_TEMPLATES when the
/// integration has templates).
#[test]
fn passthrough_behaviors_pass_or_refuse_unmatched_media_types() {
    let backend = Backend::echo();
    let integration = |passthrough: &str, templates: bool| {
        let templates = if templates {
            "request_templates.\"application/xml\" = '<pet>$input.body</pet>'\n"
        } else {
            ""
        };
        format!(
            "type = \"HTTP\"\nuri = \"{}/echo\"\nhttp_method = \"POST\"\npassthrough_behavior = \"{passthrough}\"\n{templates}[{{M}}.integration.responses.default]\nstatus = 200\n",
            backend.url()
        )
    };
    let mut api = api();
    for (route, p, t) in [
        ("POST /match", "WHEN_NO_MATCH", true),
        ("POST /templates", "WHEN_NO_TEMPLATES", true),
        ("POST /none", "WHEN_NO_TEMPLATES", false),
        ("POST /never", "NEVER", false),
    ] {
        api = mapped(api, route, &integration(p, t));
    }
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let post = |path: &str, ct: Option<&str>| {
        let mut req = Req::post(path, "name=rex");
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        req.send(gw.addr())
    };

    post("/prod/match", Some("text/plain")).assert(200, "name=rex");
    let refused = post("/prod/templates", Some("text/plain"));
    refused.assert(415, r#"{"message":"Unsupported Media Type"}"#);
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("BadRequestException")
    );
    post("/prod/none", Some("text/plain")).assert(200, "name=rex");
    post("/prod/never", None).assert(415, r#"{"message":"Unsupported Media Type"}"#);
    // The template's media type is matched without parameters or case.
    post("/prod/templates", Some("Application/XML; charset=utf-8"))
        .assert(200, "<pet>name=rex</pet>");
    assert_eq!(
        backend.requests().len(),
        3,
        "refused requests never reach the backend"
    );
}

/// HTTP integration: the request template reshapes the body; `requestParameters` map a path
/// parameter into the URI, a query string and a header (and nothing else of the client's
/// reaches the backend); the backend's status selects the response by whole-string match;
/// `responseParameters` copy one backend header and a body field; the response template
/// reshapes the backend's JSON.
#[test]
fn http_integration_maps_parameters_templates_and_responses() {
    let backend = Backend::start(|req| {
        let status = if req.target.contains("missing") {
            404
        } else {
            201
        };
        Reply::status(status)
            .header("Content-Type", "application/json")
            .header("ETag", "\"v7\"")
            .header("X-Internal", "secret")
            .body(format!(
                r#"{{"id": 7, "name": "rex", "tags": ["a", "b"], "seen": {}}}"#,
                serde_json::to_string(&req.target).unwrap()
            ))
    });
    let uri = format!("{}/v2/pets/{{petId}}", backend.url());
    let api = mapped(
        api(),
        "PUT /pets/{id}",
        &format!(
            r#"type = "HTTP"
uri = "{uri}"
http_method = "POST"
request_parameters = {{ "integration.request.path.petId" = "method.request.path.id", "integration.request.querystring.source" = "'gateway'", "integration.request.header.X-Trace" = "method.request.header.x-client-trace", "integration.request.querystring.kind" = "method.request.querystring.type" }}
request_templates."application/json" = '''
#set($pet = $input.path('$'))
{{"name": "$util.escapeJavaScript($pet.name)", "count": $pet.tags.size(), "first": $input.json('$.tags[0]')}}'''
[{{M}}.integration.responses.default]
status = 200
parameters = {{ "method.response.header.ETag" = "integration.response.header.ETag", "method.response.header.X-Pet-Id" = "integration.response.body.id", "method.response.header.Server" = "'mapped'" }}
templates."application/json" = '''
#set($b = $input.path('$'))
{{"pet": "$b.name", "tags": $input.json('$.tags'), "seen": "$b.seen"}}'''
[{{M}}.integration.responses."4\\d{{2}}"]
status = 400
templates."application/json" = '{{"message": "no such pet"}}'
"#
        ),
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let body = r#"{"name": "Rex \"the dog\"", "tags": ["good", "boy"]}"#;
    let resp = Req::new("PUT", "/prod/pets/12?type=dog&ignored=1")
        .header("Content-Type", "application/json")
        .header("x-client-trace", "t-1")
        .header("x-not-mapped", "dropped")
        .body(body.as_bytes().to_vec())
        .send(gw.addr());
    resp.assert(
        200,
        r#"{"pet": "rex", "tags": ["a","b"], "seen": "/v2/pets/12?source=gateway&kind=dog"}"#,
    );
    assert_eq!(resp.header("etag"), Some("\"v7\""));
    assert_eq!(resp.header("x-pet-id"), Some("7"));
    assert_eq!(
        resp.header("x-internal"),
        None,
        "unmapped backend headers stay behind"
    );
    assert_eq!(
        resp.header("x-amzn-remapped-server"),
        Some("mapped"),
        "owned names are remapped"
    );
    assert_eq!(resp.header("content-type"), Some("application/json"));

    let seen = backend.single_request();
    assert_eq!(seen.method, "POST", "integrationHttpMethod");
    assert_eq!(seen.target, "/v2/pets/12?source=gateway&kind=dog");
    assert_eq!(seen.header("x-trace"), Some("t-1"));
    assert_eq!(seen.header("x-not-mapped"), None);
    // API Gateway's own headers replace the client's (AWS-recorded: Accept, User-Agent).
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(seen.header("user-agent"), Some("AmazonAPIGateway_shop"));
    assert_eq!(seen.header("x-amzn-apigateway-api-id"), Some("shop"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.body_str(),
        "{\"name\": \"Rex \\\"the dog\\\"\", \"count\": 2, \"first\": \"good\"}"
    );

    let missing = Req::new("PUT", "/prod/pets/missing")
        .header("Content-Type", "application/json")
        .body(b"{}".to_vec())
        .send(gw.addr());
    missing.assert(400, r#"{"message": "no such pet"}"#);
    assert_eq!(
        missing.header("etag"),
        None,
        "only the selected response's parameters"
    );

    // A body that starts like JSON and is not: AWS's 400 from its JSON reader.
    let bad = Req::new("PUT", "/prod/pets/1")
        .header("Content-Type", "application/json")
        .body(b"{a".to_vec())
        .send(gw.addr());
    assert_eq!(bad.status, 400);
    let message = json(&bad)["message"].as_str().unwrap_or("").to_string();
    assert!(
        message.starts_with("Could not process payload"),
        "{message}"
    );
    assert_eq!(backend.requests().len(), 2);
}

/// Without a default response, a status no pattern matches is a 500; the backend timing out
/// is a 504.
#[test]
fn unmatched_statuses_and_backend_failures() {
    let backend = Backend::start(|req| {
        if req.target.starts_with("/slow") {
            Reply::status(200).delay(std::time::Duration::from_secs(3))
        } else {
            Reply::status(500).body("boom")
        }
    });
    let integration = |path: &str, timeout: &str| {
        format!(
            "type = \"HTTP\"\nuri = \"{}{path}\"\nhttp_method = \"GET\"\n{timeout}\n[{{M}}.integration.responses.\"2\\\\d\\\\d\"]\nstatus = 200\n",
            backend.url()
        )
    };
    let api = mapped(api(), "GET /fails", &integration("/fails", ""));
    let api = mapped(api, "GET /slow", &integration("/slow", "timeout_ms = 300"));
    let closed = format!(
        "type = \"HTTP\"\nuri = \"http://{}/x\"\nhttp_method = \"GET\"\n[{{M}}.integration.responses.default]\nstatus = 200\n",
        closed_port()
    );
    let api = mapped(api, "GET /unreachable", &closed);
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    get(gw.addr(), "/prod/fails").assert(500, INTERNAL_SERVER_ERROR);
    gw.assert_logged("No match for output mapping");
    get(gw.addr(), "/prod/slow").assert(504, ENDPOINT_TIMED_OUT);
    let down = get(gw.addr(), "/prod/unreachable");
    down.assert(
        504,
        r#"{"message": "Network error communicating with endpoint"}"#,
    );
    assert_eq!(
        down.header("x-amzn-errortype"),
        Some("InternalServerErrorException")
    );
}

/// AWS (Lambda custom) integration: the request template is the function's payload; a
/// result goes through the default response; a function error selects by its `errorMessage`
/// and its error document is what the response template maps.
#[test]
fn lambda_custom_integration_selects_by_error_message() {
    let invoke = invoke_server(|payload| {
        if payload["action"] == "fail" {
            Reply::ok(r#"{"errorMessage":"Not found: pet 9","errorType":"NotFound"}"#)
                .header("Content-Type", "application/json")
                .header("X-Amz-Function-Error", "Unhandled")
        } else {
            result(serde_json::json!({"echo": payload, "ok": true}))
        }
    });
    let api = mapped(
        api(),
        "POST /pets/{id}",
        &format!(
            r#"type = "AWS"
uri = "{}"
http_method = "POST"
request_templates."application/json" = '''{{"action": "$input.path('$.action')", "id": "$input.params('id')", "who": "$context.identity.sourceIp"}}'''
[{{M}}.integration.responses.default]
status = 200
[{{M}}.integration.responses."Not found.*"]
status = 404
templates."application/json" = '''{{"error": "$input.path('$.errorMessage')"}}'''
"#,
            function_uri("pets")
        ),
    );
    let dir = ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke));
    let gw = Gateway::start(&dir);

    let ok = Req::post("/prod/pets/3", r#"{"action":"get"}"#)
        .header("Content-Type", "application/json")
        .send(gw.addr());
    assert_eq!(ok.status, 200, "{}", ok.body_str());
    assert_eq!(
        json(&ok),
        serde_json::json!({"echo": {"action": "get", "id": "3", "who": "127.0.0.1"}, "ok": true})
    );
    let failed = Req::post("/prod/pets/9", r#"{"action":"fail"}"#)
        .header("Content-Type", "application/json")
        .send(gw.addr());
    failed.assert(404, r#"{"error": "Not found: pet 9"}"#);
}

/// Without a template the body is the payload, and an empty body is `{}`; with only a
/// default response a function error is a 200 carrying the error document (AWS's
/// "Lambda errors are returned as 200 OK responses by default").
#[test]
fn lambda_custom_passthrough_and_default_only_errors() {
    let invoke = invoke_server(|payload| {
        if payload.get("fail").is_some() {
            Reply::ok(r#"{"errorMessage":"boom","errorType":"Exception"}"#)
                .header("X-Amz-Function-Error", "Unhandled")
        } else {
            result(serde_json::json!({"got": payload}))
        }
    });
    let api = mapped(
        api(),
        "POST /raw",
        &format!(
            "type = \"AWS\"\nuri = \"{}\"\n[{{M}}.integration.responses.default]\nstatus = 200\n",
            function_uri("raw")
        ),
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke)));
    let empty = Req::post("/prod/raw", "").send(gw.addr());
    empty.assert(200, r#"{"got":{}}"#);
    assert_eq!(empty.header("content-type"), Some("application/json"));
    Req::post("/prod/raw", r#"{"a":1}"#)
        .send(gw.addr())
        .assert(200, r#"{"got":{"a":1}}"#);
    Req::post("/prod/raw", r#"{"fail":1}"#)
        .send(gw.addr())
        .assert(200, r#"{"errorMessage":"boom","errorType":"Exception"}"#);
}

/// Binary payloads (developer guide, "Content type conversions in API Gateway"): a body of
/// one of `binary_media_types` passes as bytes, any other body as UTF-8 text; `content_handling`
/// converts through base64 either way, and without it the response follows the first Accept.
#[test]
fn binary_payloads_convert_by_media_type_and_content_handling() {
    let bytes: Vec<u8> = (0u8..=255).collect();
    let b64 = data_encoding::BASE64.encode(&bytes);
    let served = (bytes.clone(), b64.clone());
    let backend = Backend::start(move |req| match req.target.as_str() {
        "/img" => Reply::ok(served.0.clone()).header("Content-Type", "image/png"),
        "/b64" => Reply::ok(served.1.clone()).header("Content-Type", "text/plain"),
        _ => Reply::ok("{}").header("Content-Type", "application/json"),
    });
    let http = |path: &str, method: &str, extra: &str, response: &str| {
        format!(
            "type = \"HTTP\"\nuri = \"{}{path}\"\nhttp_method = \"{method}\"\n{extra}\n[{{M}}.integration.responses.default]\nstatus = 200\nparameters = {{ \"method.response.header.Content-Type\" = \"integration.response.header.Content-Type\" }}\n{response}\n",
            backend.url()
        )
    };
    let api = api().api_line(r#"binary_media_types = ["application/octet-stream", "image/*"]"#);
    let api = mapped(api, "POST /raw", &http("/echo", "POST", "", ""));
    let to_text = "content_handling = \"CONVERT_TO_TEXT\"\nrequest_templates.\"application/octet-stream\" = '{\"data\": \"$input.body\"}'";
    let api = mapped(api, "POST /to-text", &http("/echo", "POST", to_text, ""));
    let to_binary = "content_handling = \"CONVERT_TO_BINARY\"";
    let api = mapped(
        api,
        "POST /to-binary",
        &http("/echo", "POST", to_binary, ""),
    );
    let api = mapped(api, "GET /img", &http("/img", "GET", "", ""));
    let as_text = "content_handling = \"CONVERT_TO_TEXT\"";
    let api = mapped(api, "GET /img-text", &http("/img", "GET", "", as_text));
    let api = mapped(api, "GET /decoded", &http("/b64", "GET", "", to_binary));
    let template = "templates.\"application/json\" = '{\"n\": 1}'";
    let api = mapped(api, "GET /img-template", &http("/img", "GET", "", template));
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let post = |path: &str, content_type: &str, body: &[u8]| {
        Req::post(path, body.to_vec())
            .header("Content-Type", content_type)
            .send(gw.addr())
    };

    // Requests: bytes of a binary type arrive unchanged; of a text type, as UTF-8 text.
    assert_eq!(
        post("/prod/raw", "application/octet-stream", &bytes).status,
        200
    );
    assert_eq!(backend.requests().last().unwrap().body, bytes);
    assert_eq!(post("/prod/raw", "text/plain", &bytes).status, 200);
    let lossy = String::from_utf8_lossy(&bytes).into_owned().into_bytes();
    assert_eq!(backend.requests().last().unwrap().body, lossy);
    // CONVERT_TO_TEXT: the template reads the base64 text through $input.body.
    assert_eq!(
        post("/prod/to-text", "application/octet-stream", &bytes).status,
        200
    );
    let seen = backend.requests().last().unwrap().clone();
    assert_eq!(seen.body_str(), format!("{{\"data\": \"{b64}\"}}"));
    // CONVERT_TO_BINARY: base64 text arrives decoded; text that is not base64 is a 500.
    assert_eq!(
        post("/prod/to-binary", "text/plain", b64.as_bytes()).status,
        200
    );
    assert_eq!(backend.requests().last().unwrap().body, bytes);
    let sent = backend.requests().len();
    post("/prod/to-binary", "text/plain", b"not base64!").assert(500, INTERNAL_SERVER_ERROR);
    assert_eq!(backend.requests().len(), sent, "refused before the backend");

    // Responses: a binary payload is bytes for a binary Accept, base64 text otherwise.
    let fetch = |path: &str, accept: &str| Req::get(path).header("Accept", accept).send(gw.addr());
    let img = fetch("/prod/img", "image/png");
    assert_eq!((img.status, &img.body), (200, &bytes));
    assert_eq!(img.header("content-type"), Some("image/png"));
    let text = fetch("/prod/img", "application/json, image/png");
    assert_eq!(
        (text.status, text.body_str()),
        (200, b64.clone()),
        "only the first Accept counts"
    );
    let forced = fetch("/prod/img-text", "image/png");
    assert_eq!((forced.status, forced.body_str()), (200, b64.clone()));
    // A text payload under CONVERT_TO_BINARY (or a binary Accept) is base64-decoded.
    let decoded = fetch("/prod/decoded", "application/json");
    assert_eq!((decoded.status, &decoded.body), (200, &bytes));
    let by_accept = fetch("/prod/decoded", "image/png");
    assert_eq!((by_accept.status, &by_accept.body), (200, &bytes));
    // Not base64, though a binary Accept asks for bytes: 500.
    let broken = Req::post("/prod/raw", "{}")
        .header("Accept", "image/png")
        .send(gw.addr());
    broken.assert(500, INTERNAL_SERVER_ERROR);
    // A template does not read bytes: a binary payload it would map is a 500.
    fetch("/prod/img-template", "image/png").assert(500, INTERNAL_SERVER_ERROR);
    let mapped_text = fetch("/prod/img-template", "application/json");
    mapped_text.assert(200, r#"{"n": 1}"#);
}

/// A Lambda custom integration reads a binary upload as base64 under CONVERT_TO_TEXT (the
/// developer guide's `{"data": "$input.body"}` example).
#[test]
fn lambda_custom_reads_binary_uploads_as_base64() {
    let invoke = invoke_server(|payload| {
        result(serde_json::json!({"len": payload["data"].as_str().map(str::len)}))
    });
    let api = api().api_line(r#"binary_media_types = ["image/png"]"#);
    let api = mapped(
        api,
        "PUT /photos",
        &format!(
            "type = \"AWS\"\nuri = \"{}\"\ncontent_handling = \"CONVERT_TO_TEXT\"\nrequest_templates.\"image/png\" = '{{\"data\": \"$input.body\"}}'\n[{{M}}.integration.responses.default]\nstatus = 200\n",
            function_uri("photos")
        ),
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api).gateway_extra(&lambda_section(&invoke)));
    let png: Vec<u8> = (0u8..200).rev().collect();
    let resp = Req::new("PUT", "/prod/photos")
        .header("Content-Type", "image/png")
        .body(png.clone())
        .send(gw.addr());
    resp.assert(200, r#"{"len":268}"#);
    let payload: serde_json::Value =
        serde_json::from_slice(&invoke.single_request().body).expect("a JSON payload");
    assert_eq!(
        payload["data"].as_str(),
        Some(data_encoding::BASE64.encode(&png).as_str())
    );
}

/// What `--check` says about bad mappings: file, line and field, and the template's own line
/// and column.
#[test]
fn check_reports_bad_mappings_with_their_place() {
    let api = mapped(
        api(),
        "GET /a",
        r#"type = "MOCK"
passthrough_behavior = "SOMETIMES"
content_handling = "CONVERT_TO_JPEG"
request_templates."application/json" = '''
{"statusCode": 200}
#if($x'''
request_templates."not a type" = 'x'
request_parameters = { "integration.request.cookie.a" = "method.request.header.a", "integration.request.header.Content-Length" = "'5'" }
[{M}.integration.responses."(unclosed"]
status = 200
[{M}.integration.responses.default]
status = 700
parameters = { "method.response.header.X" = "integration.request.header.y" }
"#,
    );
    let api = mapped(
        api,
        "GET /b",
        r#"type = "AWS"
uri = "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem"
[{M}.integration.responses.default]
status = 200
"#,
    );
    let api = api.table(
        "[deployments.v1.methods.\"GET /c\".integration]\ntype = \"MOCK\"\nresponses.default = { status = 201 }\n[deployments.v1.methods.\"GET /c\".method_responses.\"200\"]\n",
    );
    let dir = ConfigDir::with_api(&api);
    let out = check_fails(dir.path());
    let text = std::fs::read_to_string(dir.path().join("apis/shop.toml")).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_mentions(
        &out,
        &[
            "`SOMETIMES` is not a passthrough behavior",
            &format!(
                "shop.toml:{}: deployments.v1.methods.\"GET /a\".integration.content_handling: `CONVERT_TO_JPEG` is not a content handling",
                line_of("CONVERT_TO_JPEG")
            ),
            &format!(
                "shop.toml:{}: deployments.v1.methods.\"GET /a\".integration.request_templates.\"application/json\": template line 2, column",
                line_of("#if($x")
            ),
            "`not a type` is not a media type",
            "Invalid mapping expression specified: integration.request.cookie.a",
            "`(unclosed` is not a valid selection pattern",
            "700 is not a status code",
            "Invalid mapping expression specified: integration.request.header.y",
            "type AWS takes Lambda function invocation URIs only",
            "errors : [No method response exists for method.] (status 201",
            "`Content-Length` cannot be mapped",
        ],
    );
}
