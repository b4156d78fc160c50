//! Request validation: required parameters and JSON Schema models, through every kind of
//! integration, with AWS's 400 bodies and `$context.error.validationErrorString`.

mod common;
use common::*;

const PET: &str = r#"{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}"#;

fn api(backend: &Backend) -> ApiSpec {
    let validated = |integration: &str| {
        format!(
            "[deployments.v1.methods.{{R}}]\nintegration = {integration}\nrequest_validator = \"all\"\nrequest_parameters = {{ \"method.request.querystring.store\" = true, \"method.request.header.x-tenant\" = true, \"method.request.querystring.page\" = false }}\nrequest_models = {{ \"application/json\" = \"Pet\" }}\n"
        )
    };
    let route = |table: String, r: &str| table.replace("{R}", &toml_str(r));
    ApiSpec::new("shop")
        .stage("prod", "v1")
        .table(&format!("[models.Pet]\nschema = '{PET}'\n"))
        .table("[request_validators.all]\nvalidate_request_body = true\nvalidate_request_parameters = true\n[request_validators.params]\nvalidate_request_parameters = true\n")
        .table(&route(
            validated(&format!("{{ type = \"HTTP_PROXY\", uri = \"{}/pets\" }}", backend.url())),
            "POST /pets",
        ))
        .table(&route(
            validated("{ type = \"MOCK\", status = 201, body = \"created\" }"),
            "POST /mock",
        ))
        .table(
            "[deployments.v1.methods.\"POST /params-only\"]\nintegration = { type = \"MOCK\", status = 200, body = \"ok\" }\nrequest_validator = \"params\"\nrequest_parameters = { \"method.request.header.x-tenant\" = true }\nrequest_models = { \"application/json\" = \"Pet\" }\n",
        )
        .table("[gateway_responses.BAD_REQUEST_BODY]\nbody = '$context.error.message | $context.error.validationErrorString'\ncontent_type = \"text/plain\"\n")
}

fn post(gw: &Gateway, target: &str, body: &str) -> Response {
    Req::post(target, body)
        .header("Content-Type", "application/json")
        .header("x-tenant", "t1")
        .send(gw.addr())
}

#[test]
fn missing_required_parameters_are_named() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let resp = Req::post("/prod/pets", r#"{"name":"rex"}"#)
        .header("Content-Type", "application/json")
        .send(gw.addr());
    resp.assert(
        400,
        r#"{"message":"Missing required request parameters: [x-tenant, store]"}"#,
    );
    assert_eq!(resp.header("x-amzn-errortype"), Some("BadRequestException"));
    // A blank value is missing (the developer guide's `?q1=`); headers are listed first.
    let resp = Req::post("/prod/pets?store=", r#"{"name":"rex"}"#)
        .header("Content-Type", "application/json")
        .header("x-tenant", "")
        .send(gw.addr());
    resp.assert(
        400,
        r#"{"message":"Missing required request parameters: [x-tenant, store]"}"#,
    );
    // An optional parameter may be absent.
    let resp = post(&gw, "/prod/pets?store=1", r#"{"name":"rex"}"#);
    resp.assert(200, r#"{"name":"rex"}"#);
    assert_eq!(
        backend.requests().len(),
        1,
        "the refused request never reached the backend"
    );
}

#[test]
fn bodies_are_checked_against_their_model_for_every_integration() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    for target in ["/prod/pets?store=1", "/prod/mock?store=1"] {
        let bad = post(&gw, target, r#"{"age": -1}"#);
        assert_eq!(bad.status, 400, "{target}: {}", bad.body_str());
        let text = bad.body_str();
        let (message, why) = text.split_once(" | ").unwrap_or((&text, ""));
        assert_eq!(message, "Invalid request body", "{target}");
        assert!(
            why.contains(r#"object has missing required properties (["name"])"#),
            "{target}: {why}"
        );
        assert!(
            why.contains("numeric instance is lower than the required minimum"),
            "{why}"
        );
    }
    assert!(backend.requests().is_empty());
    post(&gw, "/prod/mock?store=1", r#"{"name":"rex"}"#).assert(201, "created");
    // An empty body is validated too.
    assert_eq!(post(&gw, "/prod/mock?store=1", "").status, 400);
    // A media type without a model is not validated.
    let plain = Req::post("/prod/pets?store=1", "anything")
        .header("Content-Type", "text/plain")
        .header("x-tenant", "t1")
        .send(gw.addr());
    plain.assert(200, "anything");
    // A validator that checks parameters only lets any body through.
    post(&gw, "/prod/params-only", "not json").assert(200, "ok");
}

#[test]
fn a_chunked_body_is_read_whole_and_checked_before_the_backend_is_called() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let chunked = |chunks: &[&str]| {
        Req::new("POST", "/prod/pets?store=1")
            .header("Content-Type", "application/json")
            .header("x-tenant", "t1")
            .chunked(chunks.iter().map(|c| c.as_bytes().to_vec()).collect())
            .send(gw.addr())
    };
    chunked(&[r#"{"na"#, r#"me": "#, r#""rex"}"#]).assert(200, r#"{"name": "rex"}"#);
    let bad = chunked(&[r#"{"age""#, ": 3}"]);
    assert_eq!(bad.status, 400, "{}", bad.body_str());
    assert_eq!(backend.requests().len(), 1);
    assert_eq!(backend.requests()[0].body_str(), r#"{"name": "rex"}"#);
}

#[test]
fn check_reports_unknown_models_and_validators() {
    let api = ApiSpec::new("shop").stage("prod", "v1").table(
        "[models.Bad]\nschema = '{\"type\": 5}'\n[deployments.v1.methods.\"POST /a\"]\nintegration = { type = \"MOCK\" }\nrequest_validator = \"nope\"\nrequest_models = { \"application/json\" = \"Missing\" }\nrequest_parameters = { \"method.request.cookie.a\" = true }\n",
    );
    let out = check_fails(ConfigDir::with_api(&api).path());
    assert_mentions(
        &out,
        &[
            "models.Bad.schema: the schema is not a valid JSON Schema",
            "Invalid model identifier specified: Missing",
            "Invalid Request Validator identifier specified: nope",
            "Invalid mapping expression specified: method.request.cookie.a",
        ],
    );
}
