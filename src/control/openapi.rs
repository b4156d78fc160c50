//! OpenAPI 3.0 and Swagger 2.0 documents with API Gateway's extensions, in and out:
//! `ImportRestApi` / `PutRestApi` read one into the resource model, `GetExport` writes a
//! stage's deployment as one (`oas30` or `swagger`, with `x-amazon-apigateway-integration`
//! when the `integrations` or `apigateway` extensions are asked for), so an export from AWS
//! imports here and an export from here imports into AWS.
//!
//! Read from a document (AWS's "Working with API Gateway extensions to OpenAPI"):
//! `info.title` / `description` / `version`; `paths` → the resource tree (intermediate
//! resources made as needed); each operation (`x-amazon-apigateway-any-method` is `ANY`) →
//! a method, with `parameters` (`in: path|query|header`, `required`) as
//! `method.request.{path|querystring|header}.NAME`, `responses` as method responses (their
//! `headers` as `method.response.header.NAME`), `security` naming an `apiKey` scheme as
//! `apiKeyRequired`, a scheme with `x-amazon-apigateway-authtype: awsSigv4` as `AWS_IAM`, and
//! `x-amazon-apigateway-integration` as the integration (types and passthrough behaviours in
//! either case, as AWS exports them lower-case; `responses` keyed by selection pattern,
//! `default` for the default response); `x-amazon-apigateway-binary-media-types` and
//! `-api-key-source`. Extensions not imported yet (authorizers, request validators, gateway
//! responses, policy, CORS) are warnings, returned in the API's `warnings` as AWS does, and
//! refuse the import with `failonwarnings=true`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::ids;
use super::model::{ApiState, Integration, IntegrationResponse, Method, MethodResponse, Resource};

/// The HTTP methods an OpenAPI path item may hold, and API Gateway's ANY.
const OPERATIONS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("patch", "PATCH"),
    ("head", "HEAD"),
    ("options", "OPTIONS"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Extensions read but not imported yet: each found is a warning.
const NOT_IMPORTED: [&str; 6] = [
    "x-amazon-apigateway-authorizer",
    "x-amazon-apigateway-request-validators",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-policy",
    "x-amazon-apigateway-cors",
];

/// What a document describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `info.title`.
    pub title: String,
    /// `info.description`.
    pub description: Option<String>,
    /// `info.version`.
    pub version: Option<String>,
    /// `x-amazon-apigateway-binary-media-types`.
    pub binary_media_types: Vec<String>,
    /// `x-amazon-apigateway-api-key-source`.
    pub api_key_source: Option<String>,
    /// Path → HTTP method → method.
    pub paths: BTreeMap<String, BTreeMap<String, Method>>,
    /// What was not imported.
    pub warnings: Vec<String>,
}

fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid OpenAPI input: {message}"))
}

/// A JSON or YAML document.
pub fn parse(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the body is empty"));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_error) => yaml_serde::from_slice::<Value>(body).map_err(|yaml_error| {
            invalid(format!(
                "neither JSON ({json_error}) nor YAML ({yaml_error})"
            ))
        }),
    }
}

/// The API a document describes (see the module docs).
pub fn read(doc: &Value) -> Result<Document, ApiError> {
    let is_oas3 = doc["openapi"].as_str().is_some_and(|v| v.starts_with("3."));
    let is_swagger = doc["swagger"].as_str() == Some("2.0");
    if !is_oas3 && !is_swagger {
        return Err(invalid("expected `openapi: 3.0.x` or `swagger: \"2.0\""));
    }
    let info = &doc["info"];
    let title = info["title"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("info.title is required"))?
        .to_string();
    let schemes = if is_oas3 {
        &doc["components"]["securitySchemes"]
    } else {
        &doc["securityDefinitions"]
    };
    let mut warnings = Vec::new();
    for name in NOT_IMPORTED {
        if contains_key(doc, name) {
            warnings.push(format!("{name} is not imported yet"));
        }
    }
    let mut paths = BTreeMap::new();
    let Some(items) = doc["paths"].as_object() else {
        return Err(invalid("`paths` must be an object"));
    };
    for (path, item) in items {
        if !path.starts_with('/') {
            return Err(invalid(format!("path `{path}` must start with /")));
        }
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        let mut methods = BTreeMap::new();
        for (key, verb) in OPERATIONS {
            let Some(op) = item.get(key) else { continue };
            let method = operation(op, verb, &shared, schemes, &doc["security"], is_oas3)
                .map_err(|e| invalid(format!("{path} {verb}: {e}")))?;
            methods.insert(verb.to_string(), method);
        }
        paths.insert(normalize(path), methods);
    }
    Ok(Document {
        title,
        description: info["description"].as_str().map(str::to_string),
        version: info["version"].as_str().map(str::to_string),
        binary_media_types: doc["x-amazon-apigateway-binary-media-types"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        api_key_source: doc["x-amazon-apigateway-api-key-source"]
            .as_str()
            .map(str::to_uppercase),
        paths,
        warnings,
    })
}

/// `/pets/` and `//pets` → `/pets` (empty segments dropped; the root stays `/`).
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

fn contains_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.contains_key(key) || m.values().any(|v| contains_key(v, key)),
        Value::Array(a) => a.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

/// One operation as a method.
fn operation(
    op: &Value,
    verb: &str,
    shared: &[Value],
    schemes: &Value,
    default_security: &Value,
    is_oas3: bool,
) -> Result<Method, String> {
    let mut request_parameters = BTreeMap::new();
    let own = op["parameters"].as_array().cloned().unwrap_or_default();
    for p in shared.iter().chain(own.iter()) {
        let place = match p["in"].as_str() {
            Some("path") => "path",
            Some("query") => "querystring",
            Some("header") => "header",
            _ => continue,
        };
        let name = p["name"].as_str().ok_or("a parameter without a name")?;
        let required = p["required"].as_bool().unwrap_or(place == "path");
        request_parameters.insert(format!("method.request.{place}.{name}"), required);
    }
    let security = op.get("security").unwrap_or(default_security);
    let (mut api_key_required, mut authorization) = (false, "NONE");
    for requirement in security.as_array().into_iter().flatten() {
        for scheme in requirement.as_object().into_iter().flat_map(|m| m.keys()) {
            let s = &schemes[scheme];
            if s["x-amazon-apigateway-authtype"].as_str() == Some("awsSigv4") {
                authorization = "AWS_IAM";
            } else if s["type"].as_str() == Some("apiKey")
                && s.get("x-amazon-apigateway-authorizer").is_none()
            {
                api_key_required = true;
            }
        }
    }
    let mut method_responses = BTreeMap::new();
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        if status == "default" {
            continue;
        }
        let response_parameters = response["headers"]
            .as_object()
            .map(|h| {
                h.keys()
                    .map(|n| (format!("method.response.header.{n}"), false))
                    .collect()
            })
            .unwrap_or_default();
        let mut response_models = BTreeMap::new();
        if is_oas3 {
            for ct in response["content"]
                .as_object()
                .into_iter()
                .flat_map(|c| c.keys())
            {
                response_models.insert(ct.clone(), "Empty".to_string());
            }
        }
        method_responses.insert(
            status.clone(),
            MethodResponse {
                status_code: status.clone(),
                response_parameters,
                response_models,
            },
        );
    }
    let method_integration = match op.get("x-amazon-apigateway-integration") {
        None => None,
        Some(i) => Some(integration(i)?),
    };
    Ok(Method {
        http_method: verb.to_string(),
        authorization_type: authorization.to_string(),
        api_key_required,
        request_parameters,
        request_models: BTreeMap::new(),
        method_responses,
        method_integration,
    })
}

/// `x-amazon-apigateway-integration` (the cache namespace is set once the resource has an
/// id, see [`resources`]).
fn integration(i: &Value) -> Result<Integration, String> {
    let kind = i["type"]
        .as_str()
        .ok_or("the integration has no type")?
        .to_uppercase();
    if !matches!(
        kind.as_str(),
        "HTTP" | "MOCK" | "AWS_PROXY" | "HTTP_PROXY" | "AWS"
    ) {
        return Err(format!(
            "integration type `{kind}` is not HTTP, MOCK, AWS_PROXY, HTTP_PROXY or AWS"
        ));
    }
    let strings = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut integration_responses = BTreeMap::new();
    for (pattern, r) in i["responses"].as_object().into_iter().flatten() {
        let status = match &r["statusCode"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(format!(
                    "integration response `{pattern}` has no statusCode"
                ))
            }
        };
        integration_responses.insert(
            status.clone(),
            IntegrationResponse {
                status_code: status,
                selection_pattern: (pattern != "default").then(|| pattern.clone()),
                response_parameters: strings(&r["responseParameters"]),
                response_templates: strings(&r["responseTemplates"]),
                content_handling: r["contentHandling"].as_str().map(str::to_uppercase),
            },
        );
    }
    let connection_type = match (kind.as_str(), i["connectionType"].as_str()) {
        (_, Some(t)) => Some(t.to_uppercase()),
        ("HTTP" | "HTTP_PROXY", None) => Some("INTERNET".into()),
        _ => None,
    };
    Ok(Integration {
        http_method: i["httpMethod"].as_str().map(str::to_uppercase),
        uri: i["uri"].as_str().map(str::to_string),
        connection_type,
        request_parameters: strings(&i["requestParameters"]),
        request_templates: strings(&i["requestTemplates"]),
        passthrough_behavior: Some(
            i["passthroughBehavior"]
                .as_str()
                .map_or_else(|| "WHEN_NO_MATCH".into(), str::to_uppercase),
        ),
        content_handling: i["contentHandling"].as_str().map(str::to_uppercase),
        timeout_in_millis: i["timeoutInMillis"].as_i64().unwrap_or(29_000),
        cache_namespace: i["cacheNamespace"].as_str().unwrap_or("").to_string(),
        cache_key_parameters: i["cacheKeyParameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        integration_responses,
        kind,
    })
}

/// The resource tree of `paths`, under a root with id `root` (new ids for the rest; `keep`
/// gives the ids of resources that already exist by path, for merges).
pub fn resources(
    paths: &BTreeMap<String, BTreeMap<String, Method>>,
    root: &str,
    keep: &BTreeMap<String, String>,
) -> BTreeMap<String, Resource> {
    let mut by_path: BTreeMap<String, Resource> = BTreeMap::new();
    by_path.insert(
        "/".into(),
        Resource {
            id: root.to_string(),
            parent_id: None,
            path_part: None,
            path: "/".into(),
            resource_methods: BTreeMap::new(),
        },
    );
    for (path, methods) in paths {
        let mut parent = root.to_string();
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            let id = by_path
                .entry(at.clone())
                .or_insert_with(|| Resource {
                    id: keep.get(&at).cloned().unwrap_or_else(ids::long_id),
                    parent_id: Some(parent.clone()),
                    path_part: Some(part.to_string()),
                    path: at.clone(),
                    resource_methods: BTreeMap::new(),
                })
                .id
                .clone();
            parent = id;
        }
        let key = if at.is_empty() { "/".to_string() } else { at };
        let Some(resource) = by_path.get_mut(&key) else {
            continue;
        };
        for (verb, method) in methods {
            let mut method = method.clone();
            if let Some(i) = method.method_integration.as_mut() {
                if i.cache_namespace.is_empty() {
                    i.cache_namespace = resource.id.clone();
                }
            }
            resource.resource_methods.insert(verb.clone(), method);
        }
    }
    by_path.into_values().map(|r| (r.id.clone(), r)).collect()
}

/// An OpenAPI file of the API folder (`apis/NAME.yaml|yml|json`) as an API definition in
/// the file format: API id `id` (the file's name), one stage serving all its methods, named
/// as an export from AWS names its stage (`servers[0].variables.basePath.default` in OpenAPI
/// 3, `basePath` in Swagger 2), `prod` when it names none. Returns the definition and the
/// document's warnings.
pub fn file_definition(id: &str, text: &str) -> Result<(String, Vec<String>), ApiError> {
    let value = parse(text.as_bytes())?;
    let doc = read(&value)?;
    let stage = stage_of(&value).unwrap_or_else(|| "prod".into());
    let resources = resources(&doc.paths, "root", &BTreeMap::new());
    let mut stages = BTreeMap::new();
    stages.insert(
        stage.clone(),
        super::ops::stages::new_stage(&stage, "openapi", 0),
    );
    let record = super::model::DeploymentRecord {
        deployment: super::model::Deployment {
            id: "openapi".into(),
            description: doc.description.clone(),
            created_date: 0,
        },
        resources: resources.values().cloned().collect(),
    };
    let state = ApiState {
        api: super::model::RestApi {
            id: id.to_string(),
            name: doc.title.clone(),
            description: doc.description.clone(),
            created_date: 0,
            version: doc.version.clone(),
            binary_media_types: doc.binary_media_types.clone(),
            api_key_source: doc
                .api_key_source
                .clone()
                .unwrap_or_else(|| "HEADER".into()),
            endpoint_configuration: super::model::EndpointConfiguration {
                ip_address_type: None,
                types: vec!["EDGE".into()],
            },
            disable_execute_api_endpoint: false,
            root_resource_id: "root".into(),
            tags: BTreeMap::new(),
        },
        resources,
        deployments: BTreeMap::from([("openapi".to_string(), record)]),
        stages,
    };
    Ok((super::emit::source(&state).text, doc.warnings))
}

/// The stage an exported document names (see [`file_definition`]).
fn stage_of(doc: &Value) -> Option<String> {
    let named = doc["servers"][0]["variables"]["basePath"]["default"]
        .as_str()
        .or_else(|| doc["basePath"].as_str())?;
    let name = named.trim_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

/// Which export: OpenAPI 3.0 or Swagger 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    /// `oas30`.
    Oas30,
    /// `swagger`.
    Swagger,
}

/// `GetExport`: the resources `resources` (a stage's deployment) of `state` as a document;
/// `integrations` adds `x-amazon-apigateway-integration` (the `integrations` and `apigateway`
/// extensions), `host` is where the stage is served.
pub fn export(
    state: &ApiState,
    resources: &[Resource],
    stage: &str,
    kind: ExportType,
    integrations: bool,
    host: &str,
) -> Value {
    let api = &state.api;
    let mut info = Map::new();
    info.insert("title".into(), api.name.clone().into());
    if let Some(d) = &api.description {
        info.insert("description".into(), d.clone().into());
    }
    let version = api
        .version
        .clone()
        .unwrap_or_else(|| created_version(api.created_date));
    info.insert("version".into(), version.into());
    let mut doc = Map::new();
    match kind {
        ExportType::Oas30 => {
            doc.insert("openapi".into(), "3.0.1".into());
            doc.insert("info".into(), Value::Object(info));
            doc.insert(
                "servers".into(),
                json!([{ "url": format!("http://{host}/{{basePath}}"), "variables": { "basePath": { "default": stage } } }]),
            );
        }
        ExportType::Swagger => {
            doc.insert("swagger".into(), "2.0".into());
            doc.insert("info".into(), Value::Object(info));
            doc.insert("host".into(), host.into());
            doc.insert("basePath".into(), format!("/{stage}").into());
            doc.insert("schemes".into(), json!(["http"]));
        }
    }
    let mut paths = Map::new();
    let mut sorted: Vec<&Resource> = resources.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut uses_api_key = false;
    for resource in sorted {
        if resource.resource_methods.is_empty() {
            continue;
        }
        let mut item = Map::new();
        for (verb, method) in &resource.resource_methods {
            uses_api_key |= method.api_key_required;
            let key = OPERATIONS
                .iter()
                .find(|(_, v)| v == verb)
                .map_or("x-amazon-apigateway-any-method", |(k, _)| k);
            item.insert(key.into(), export_operation(method, kind, integrations));
        }
        paths.insert(resource.path.clone(), Value::Object(item));
    }
    // The model responses' content refers to, as AWS exports it.
    let uses_empty = Value::Object(paths.clone())
        .to_string()
        .contains("#/components/schemas/Empty");
    doc.insert("paths".into(), Value::Object(paths));
    let mut components = Map::new();
    if kind == ExportType::Oas30 && uses_empty {
        let empty = json!({ "Empty": { "title": "Empty Schema", "type": "object" } });
        components.insert("schemas".into(), empty);
    }
    let key_scheme =
        json!({ "api_key": { "type": "apiKey", "name": "x-api-key", "in": "header" } });
    if uses_api_key {
        match kind {
            ExportType::Oas30 => {
                components.insert("securitySchemes".into(), key_scheme);
            }
            ExportType::Swagger => {
                doc.insert("securityDefinitions".into(), key_scheme);
            }
        }
    }
    if !components.is_empty() {
        doc.insert("components".into(), Value::Object(components));
    }
    if integrations && !api.binary_media_types.is_empty() {
        doc.insert(
            "x-amazon-apigateway-binary-media-types".into(),
            json!(api.binary_media_types),
        );
    }
    if integrations && api.api_key_source != "HEADER" {
        doc.insert(
            "x-amazon-apigateway-api-key-source".into(),
            api.api_key_source.clone().into(),
        );
    }
    Value::Object(doc)
}

/// AWS exports an API without a version as its creation time (`2026-12-04T19:20:51Z`).
fn created_version(created: i64) -> String {
    crate::clock::iso_time(created.max(0) as u64)
}

fn export_operation(method: &Method, kind: ExportType, integrations: bool) -> Value {
    let mut op = Map::new();
    let mut parameters = Vec::new();
    for (name, required) in &method.request_parameters {
        let Some(rest) = name.strip_prefix("method.request.") else {
            continue;
        };
        let Some((place, param)) = rest.split_once('.') else {
            continue;
        };
        let place = match place {
            "path" => "path",
            "querystring" => "query",
            "header" => "header",
            _ => continue,
        };
        let mut p = json!({ "name": param, "in": place, "required": required });
        match kind {
            ExportType::Oas30 => p["schema"] = json!({ "type": "string" }),
            ExportType::Swagger => p["type"] = "string".into(),
        }
        parameters.push(p);
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    let mut responses = Map::new();
    for (status, r) in &method.method_responses {
        let mut response = json!({ "description": format!("{status} response") });
        let headers: Map<String, Value> = r
            .response_parameters
            .keys()
            .filter_map(|n| n.strip_prefix("method.response.header."))
            .map(|n| {
                let schema = match kind {
                    ExportType::Oas30 => json!({ "schema": { "type": "string" } }),
                    ExportType::Swagger => json!({ "type": "string" }),
                };
                (n.to_string(), schema)
            })
            .collect();
        if !headers.is_empty() {
            response["headers"] = Value::Object(headers);
        }
        if kind == ExportType::Oas30 && !r.response_models.is_empty() {
            let content: Map<String, Value> = r
                .response_models
                .keys()
                .map(|ct| {
                    (
                        ct.clone(),
                        json!({ "schema": { "$ref": "#/components/schemas/Empty" } }),
                    )
                })
                .collect();
            response["content"] = Value::Object(content);
        }
        responses.insert(status.clone(), response);
    }
    op.insert("responses".into(), Value::Object(responses));
    if method.api_key_required {
        op.insert("security".into(), json!([{ "api_key": [] }]));
    }
    if let (true, Some(i)) = (integrations, &method.method_integration) {
        op.insert(
            "x-amazon-apigateway-integration".into(),
            export_integration(i),
        );
    }
    Value::Object(op)
}

/// The integration as AWS exports it: type and passthrough behaviour lower-case, responses
/// keyed by selection pattern (`default` for none).
fn export_integration(i: &Integration) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), i.kind.to_lowercase().into());
    if let Some(m) = &i.http_method {
        out.insert("httpMethod".into(), m.clone().into());
    }
    if let Some(u) = &i.uri {
        out.insert("uri".into(), u.clone().into());
    }
    if let Some(c) = &i.connection_type {
        out.insert("connectionType".into(), c.clone().into());
    }
    let mut responses = Map::new();
    for r in i.integration_responses.values() {
        let mut response = json!({ "statusCode": r.status_code });
        if !r.response_parameters.is_empty() {
            response["responseParameters"] = json!(r.response_parameters);
        }
        if !r.response_templates.is_empty() {
            response["responseTemplates"] = json!(r.response_templates);
        }
        if let Some(h) = &r.content_handling {
            response["contentHandling"] = h.clone().into();
        }
        let key = r
            .selection_pattern
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".into());
        responses.insert(key, response);
    }
    if !responses.is_empty() {
        out.insert("responses".into(), Value::Object(responses));
    }
    if !i.request_parameters.is_empty() {
        out.insert("requestParameters".into(), json!(i.request_parameters));
    }
    if !i.request_templates.is_empty() {
        out.insert("requestTemplates".into(), json!(i.request_templates));
    }
    if let Some(p) = &i.passthrough_behavior {
        out.insert("passthroughBehavior".into(), p.to_lowercase().into());
    }
    if let Some(h) = &i.content_handling {
        out.insert("contentHandling".into(), h.clone().into());
    }
    out.insert("timeoutInMillis".into(), i.timeout_in_millis.into());
    if !i.cache_key_parameters.is_empty() {
        out.insert("cacheKeyParameters".into(), json!(i.cache_key_parameters));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETSTORE: &str = r#"
openapi: 3.0.1
info:
  title: PetStore
  version: "1.0"
paths:
  /pets/{petId}:
    get:
      parameters:
        - name: petId
          in: path
          required: true
        - name: verbose
          in: query
      security:
        - api_key: []
      responses:
        "200":
          description: ok
          headers:
            X-Pet: {schema: {type: string}}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates:
          application/json: '{"statusCode": 200}'
        passthroughBehavior: when_no_templates
        responses:
          default:
            statusCode: "200"
            responseTemplates:
              application/json: '{"id": "$input.params(''petId'')"}'
components:
  securitySchemes:
    api_key: {type: apiKey, name: x-api-key, in: header}
x-amazon-apigateway-gateway-responses: {}
"#;

    #[test]
    fn reads_an_openapi_document_with_api_gateway_extensions() {
        let doc = read(&parse(PETSTORE.as_bytes()).expect("YAML")).expect("read");
        assert_eq!(doc.title, "PetStore");
        let get = &doc.paths["/pets/{petId}"]["GET"];
        assert!(get.api_key_required);
        assert!(get.request_parameters["method.request.path.petId"]);
        assert!(!get.request_parameters["method.request.querystring.verbose"]);
        assert!(get.method_responses["200"]
            .response_parameters
            .contains_key("method.response.header.X-Pet"));
        let i = get.method_integration.as_ref().expect("integration");
        assert_eq!(
            (i.kind.as_str(), i.passthrough_behavior.as_deref()),
            ("MOCK", Some("WHEN_NO_TEMPLATES"))
        );
        assert_eq!(i.integration_responses["200"].selection_pattern, None);
        assert_eq!(
            doc.warnings,
            ["x-amazon-apigateway-gateway-responses is not imported yet"]
        );
        let tree = resources(&doc.paths, "root000001", &BTreeMap::new());
        let mut paths: Vec<&str> = tree.values().map(|r| r.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/", "/pets", "/pets/{petId}"]);
    }

    #[test]
    fn empty_path_segments_are_dropped_not_trusted() {
        let doc = json!({"openapi": "3.0.1", "info": {"title": "t"}, "paths": {
            "//pets//": {"get": {"responses": {}}}, "/": {"get": {"responses": {}}}
        }});
        let doc = read(&doc).expect("read");
        let tree = resources(&doc.paths, "root", &BTreeMap::new());
        let mut paths: Vec<&str> = tree.values().map(|r| r.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/", "/pets"]);
        assert!(tree
            .values()
            .all(|r| r.resource_methods.contains_key("GET")));
    }

    #[test]
    fn refuses_what_is_not_openapi() {
        assert_eq!(parse(b"").unwrap_err().status, 400);
        let e = read(&json!({"openapi": "3.0.1", "info": {}, "paths": {}})).unwrap_err();
        assert!(e.message.contains("info.title"), "{}", e.message);
        assert!(read(&json!({"hello": 1})).is_err());
    }
}
