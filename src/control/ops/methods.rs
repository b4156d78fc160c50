//! Methods, method responses, integrations and integration responses:
//! `PutMethod`/`GetMethod`/`UpdateMethod`/`DeleteMethod`, `PutMethodResponse`/
//! `GetMethodResponse`/`DeleteMethodResponse`, `PutIntegration`/`GetIntegration`/
//! `UpdateIntegration`/`DeleteIntegration`, `PutIntegrationResponse`/
//! `GetIntegrationResponse`/`DeleteIntegrationResponse`.
//!
//! On these calls an unknown API is reported as an unknown resource (LocalStack's
//! AWS-recorded `test_put_method_validation`, `wrong-api`: "Invalid Resource identifier
//! specified"). Puts answer 201 even when they replace (`overwrite-integration-response`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{api_mut, input, resource, resource_mut, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::model::{ApiState, Integration, IntegrationResponse, Method, MethodResponse};
use crate::control::patch;

/// The methods AWS accepts (LocalStack's AWS-recorded `test_put_method_validation`).
const VERBS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY",
];

fn invalid_resource() -> ApiError {
    ApiError::not_found("Invalid Resource identifier specified")
}

fn invalid_method() -> ApiError {
    ApiError::not_found("Invalid Method identifier specified")
}

fn invalid_integration() -> ApiError {
    ApiError::not_found("Invalid Integration identifier specified")
}

fn invalid_status() -> ApiError {
    ApiError::not_found("Invalid Response status code specified")
}

/// The API for a method-scoped read (unknown API → unknown resource).
fn state<'a>(apis: &'a Apis, id: &str) -> Result<&'a ApiState, ApiError> {
    apis.get(id).ok_or_else(invalid_resource)
}

/// The API for a method-scoped change.
fn state_mut<'a>(apis: &'a mut Apis, ctx: &Ctx, id: &str) -> Result<&'a mut ApiState, ApiError> {
    api_mut(apis, ctx, id).map_err(|e| {
        if e.status == 404 {
            invalid_resource()
        } else {
            e
        }
    })
}

/// Where a method is: API id, resource id, HTTP method.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// API.
    pub api: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// HTTP method as in the path.
    pub verb: &'a str,
}

fn method<'a>(apis: &'a Apis, at: At<'_>) -> Result<&'a Method, ApiError> {
    let s = state(apis, at.api)?;
    resource(s, at.resource)?
        .resource_methods
        .get(at.verb)
        .ok_or_else(invalid_method)
}

fn method_mut<'a>(apis: &'a mut Apis, ctx: &Ctx, at: At<'_>) -> Result<&'a mut Method, ApiError> {
    let s = state_mut(apis, ctx, at.api)?;
    resource_mut(s, at.resource)?
        .resource_methods
        .get_mut(at.verb)
        .ok_or_else(invalid_method)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutMethodInput {
    authorization_type: Option<String>,
    #[serde(default)]
    api_key_required: bool,
    #[serde(default)]
    request_parameters: BTreeMap<String, bool>,
    #[serde(default)]
    request_models: BTreeMap<String, String>,
    authorizer_id: Option<String>,
}

/// `PUT .../methods/{verb}` → 201 (replacing any method, its responses and integration).
pub fn put_method(apis: &mut Apis, ctx: &Ctx, at: At<'_>, body: &[u8]) -> Result<Reply, ApiError> {
    let input: PutMethodInput = input(body)?;
    if !VERBS.contains(&at.verb) {
        return Err(ApiError::bad_request(
            "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY",
        ));
    }
    let authorization = input.authorization_type.unwrap_or_default();
    check_authorization(&authorization, input.authorizer_id.as_deref())?;
    for name in input.request_parameters.keys() {
        check_request_parameter(name)?;
    }
    let s = state_mut(apis, ctx, at.api)?;
    let r = resource_mut(s, at.resource)?;
    let m = Method {
        http_method: at.verb.to_string(),
        authorization_type: authorization,
        api_key_required: input.api_key_required,
        request_parameters: input.request_parameters,
        request_models: input.request_models,
        method_responses: BTreeMap::new(),
        method_integration: None,
    };
    let reply = Reply::json(201, &m)?;
    r.resource_methods.insert(at.verb.to_string(), m);
    Ok(reply)
}

/// `NONE` and `AWS_IAM`; authorizers (`CUSTOM`, `COGNITO_USER_POOLS`) are not yet managed
/// through this API (define them in an API file).
fn check_authorization(kind: &str, authorizer: Option<&str>) -> Result<(), ApiError> {
    match kind {
        "NONE" | "AWS_IAM" => Ok(()),
        "CUSTOM" | "COGNITO_USER_POOLS" => Err(match authorizer {
            None => ApiError::bad_request(format!(
                "Invalid authorizer ID specified. Setting the authorization type to {kind} requires a valid authorizer."
            )),
            Some(_) => ApiError::bad_request(
                "Authorizers are not managed through this API yet: define the API in a file to use them",
            ),
        }),
        "" => Err(ApiError::bad_request("Invalid authorization type specified")),
        other => Err(ApiError::bad_request(format!(
            "Invalid authorization type specified: {other}. Valid options are NONE,AWS_IAM,CUSTOM,COGNITO_USER_POOLS"
        ))),
    }
}

/// `method.request.{path|querystring|multivaluequerystring|header|multivalueheader}.NAME`.
fn check_request_parameter(name: &str) -> Result<(), ApiError> {
    let ok = [
        "path",
        "querystring",
        "multivaluequerystring",
        "header",
        "multivalueheader",
    ]
    .iter()
    .any(|place| {
        name.strip_prefix("method.request.")
            .and_then(|rest| rest.strip_prefix(place))
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|n| !n.is_empty())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid mapping expression specified: {name}"
        )))
    }
}

/// `GET .../methods/{verb}`: the method with its responses and integration embedded.
pub fn get_method(apis: &Apis, at: At<'_>) -> Result<Reply, ApiError> {
    Reply::json(200, method(apis, at)?)
}

/// `DELETE .../methods/{verb}` → 204.
pub fn delete_method(apis: &mut Apis, ctx: &Ctx, at: At<'_>) -> Result<Reply, ApiError> {
    let s = state_mut(apis, ctx, at.api)?;
    let r = resource_mut(s, at.resource)?;
    r.resource_methods
        .remove(at.verb)
        .ok_or_else(invalid_method)?;
    Ok(Reply::empty(204))
}

/// `PATCH .../methods/{verb}`: `/apiKeyRequired`, `/authorizationType`, and
/// `add`/`remove` of `/requestParameters/{name}` (value `"true"` when required).
pub fn update_method(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    const PATHS: [&str; 3] = [
        "/apiKeyRequired",
        "/authorizationType",
        "/requestParameters/{name}",
    ];
    let ops = patch::parse(body, "updateMethodInput")?;
    let m = method_mut(apis, ctx, at)?;
    for op in &ops {
        match (op.op.as_str(), op.path.as_str()) {
            ("replace", "/apiKeyRequired") => m.api_key_required = op.bool_value()?,
            ("replace", "/authorizationType") => {
                let v = op.value()?;
                check_authorization(v, None)?;
                m.authorization_type = v.to_string();
            }
            ("add" | "replace", p) if p.starts_with("/requestParameters/") => {
                let name = &p["/requestParameters/".len()..];
                check_request_parameter(name)?;
                let required = op.value.as_deref() == Some("true");
                m.request_parameters.insert(name.to_string(), required);
            }
            ("remove", p) if p.starts_with("/requestParameters/") => {
                m.request_parameters
                    .remove(&p["/requestParameters/".len()..]);
            }
            _ => return Err(op.invalid_path(&PATHS)),
        }
    }
    Reply::json(200, m)
}

/// A status code as AWS takes it (`[1-5]\d\d`).
fn check_status(code: &str) -> Result<(), ApiError> {
    let b = code.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{code}' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d"
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodResponseInput {
    #[serde(default)]
    response_parameters: BTreeMap<String, bool>,
    #[serde(default)]
    response_models: BTreeMap<String, String>,
}

/// `PUT .../methods/{verb}/responses/{status}` → 201.
pub fn put_method_response(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    status: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: MethodResponseInput = input(body)?;
    check_status(status)?;
    let m = method_mut(apis, ctx, at)?;
    let response = MethodResponse {
        status_code: status.to_string(),
        response_parameters: input.response_parameters,
        response_models: input.response_models,
    };
    let reply = Reply::json(201, &response)?;
    m.method_responses.insert(status.to_string(), response);
    Ok(reply)
}

/// `GET .../methods/{verb}/responses/{status}`.
pub fn get_method_response(apis: &Apis, at: At<'_>, status: &str) -> Result<Reply, ApiError> {
    let m = method(apis, at)?;
    Reply::json(
        200,
        m.method_responses.get(status).ok_or_else(invalid_status)?,
    )
}

/// `DELETE .../methods/{verb}/responses/{status}` → 204.
pub fn delete_method_response(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    status: &str,
) -> Result<Reply, ApiError> {
    let m = method_mut(apis, ctx, at)?;
    m.method_responses
        .remove(status)
        .ok_or_else(invalid_status)?;
    Ok(Reply::empty(204))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    /// `integrationHttpMethod` travels as `httpMethod` (botocore's `locationName`).
    http_method: Option<String>,
    uri: Option<String>,
    connection_type: Option<String>,
    #[serde(default)]
    request_parameters: BTreeMap<String, String>,
    #[serde(default)]
    request_templates: BTreeMap<String, String>,
    passthrough_behavior: Option<String>,
    content_handling: Option<String>,
    timeout_in_millis: Option<i64>,
    cache_namespace: Option<String>,
    #[serde(default)]
    cache_key_parameters: Vec<String>,
}

/// `PUT .../methods/{verb}/integration` → 201, with AWS's defaults (`passthroughBehavior`
/// `WHEN_NO_MATCH`, `timeoutInMillis` 29000, `cacheNamespace` the resource id,
/// `connectionType` `INTERNET` for HTTP types, none for MOCK: LocalStack's AWS-recorded
/// integration snapshots).
pub fn put_integration(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: IntegrationInput = input(body)?;
    let kind = input.kind.unwrap_or_default();
    if !matches!(
        kind.as_str(),
        "HTTP" | "MOCK" | "AWS_PROXY" | "HTTP_PROXY" | "AWS"
    ) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{kind}' at 'putIntegrationInput.type' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]"
        )));
    }
    if kind != "MOCK" {
        if input.http_method.is_none() {
            return Err(ApiError::bad_request(
                "Enumeration value for HttpMethod must be non-empty",
            ));
        }
        if input.uri.as_deref().unwrap_or("").is_empty() {
            return Err(ApiError::bad_request(
                "Invalid HTTP endpoint specified for URI",
            ));
        }
    }
    let timeout = input.timeout_in_millis.unwrap_or(29_000);
    if !(50..=29_000).contains(&timeout) {
        return Err(ApiError::bad_request(
            "Timeout should be between 50 ms and 29000 ms",
        ));
    }
    let connection_type = match kind.as_str() {
        "HTTP" | "HTTP_PROXY" => Some(input.connection_type.unwrap_or_else(|| "INTERNET".into())),
        _ => input.connection_type,
    };
    let m = method_mut(apis, ctx, at)?;
    let integration = Integration {
        kind,
        http_method: input.http_method,
        uri: input.uri,
        connection_type,
        request_parameters: input.request_parameters,
        request_templates: input.request_templates,
        passthrough_behavior: Some(
            input
                .passthrough_behavior
                .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        ),
        content_handling: input.content_handling,
        timeout_in_millis: timeout,
        cache_namespace: input
            .cache_namespace
            .unwrap_or_else(|| at.resource.to_string()),
        cache_key_parameters: input.cache_key_parameters,
        integration_responses: BTreeMap::new(),
    };
    let reply = Reply::json(201, &integration)?;
    m.method_integration = Some(integration);
    Ok(reply)
}

/// `GET .../methods/{verb}/integration`.
pub fn get_integration(apis: &Apis, at: At<'_>) -> Result<Reply, ApiError> {
    let m = method(apis, at)?;
    Reply::json(
        200,
        m.method_integration
            .as_ref()
            .ok_or_else(invalid_integration)?,
    )
}

/// `DELETE .../methods/{verb}/integration` → 204.
pub fn delete_integration(apis: &mut Apis, ctx: &Ctx, at: At<'_>) -> Result<Reply, ApiError> {
    let m = method_mut(apis, ctx, at)?;
    m.method_integration
        .take()
        .ok_or_else(invalid_integration)?;
    Ok(Reply::empty(204))
}

/// `PATCH .../methods/{verb}/integration`: `/uri`, `/httpMethod`, `/timeoutInMillis`,
/// `/passthroughBehavior`, `/requestTemplates/{type}` and `/requestParameters/{name}`
/// (`~1` for `/` in names).
pub fn update_integration(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    const PATHS: [&str; 6] = [
        "/uri",
        "/httpMethod",
        "/timeoutInMillis",
        "/passthroughBehavior",
        "/requestTemplates/{contentType}",
        "/requestParameters/{name}",
    ];
    let ops = patch::parse(body, "updateIntegrationInput")?;
    let m = method_mut(apis, ctx, at)?;
    let i = m
        .method_integration
        .as_mut()
        .ok_or_else(invalid_integration)?;
    for op in &ops {
        match (op.op.as_str(), op.path.as_str()) {
            ("replace", "/uri") => i.uri = Some(op.value()?.to_string()),
            ("replace", "/httpMethod") => i.http_method = Some(op.value()?.to_string()),
            ("replace", "/passthroughBehavior") => {
                i.passthrough_behavior = Some(op.value()?.to_string());
            }
            ("replace", "/timeoutInMillis") => {
                let ms: i64 = op.value()?.parse().map_err(|_| {
                    ApiError::bad_request("Timeout should be between 50 ms and 29000 ms")
                })?;
                if !(50..=29_000).contains(&ms) {
                    return Err(ApiError::bad_request(
                        "Timeout should be between 50 ms and 29000 ms",
                    ));
                }
                i.timeout_in_millis = ms;
            }
            ("add" | "replace", p) if p.starts_with("/requestTemplates/") => {
                let ct = p["/requestTemplates/".len()..].replace("~1", "/");
                i.request_templates
                    .insert(ct, op.value.clone().unwrap_or_default());
            }
            ("remove", p) if p.starts_with("/requestTemplates/") => {
                i.request_templates
                    .remove(&p["/requestTemplates/".len()..].replace("~1", "/"));
            }
            ("add" | "replace", p) if p.starts_with("/requestParameters/") => {
                let name = p["/requestParameters/".len()..].replace("~1", "/");
                i.request_parameters.insert(name, op.value()?.to_string());
            }
            ("remove", p) if p.starts_with("/requestParameters/") => {
                i.request_parameters
                    .remove(&p["/requestParameters/".len()..].replace("~1", "/"));
            }
            _ => return Err(op.invalid_path(&PATHS)),
        }
    }
    Reply::json(200, &*i)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationResponseInput {
    selection_pattern: Option<String>,
    #[serde(default)]
    response_parameters: BTreeMap<String, String>,
    #[serde(default)]
    response_templates: BTreeMap<String, Option<String>>,
    content_handling: Option<String>,
}

/// `PUT .../integration/responses/{status}` → 201.
pub fn put_integration_response(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    status: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: IntegrationResponseInput = input(body)?;
    check_status(status)?;
    let m = method_mut(apis, ctx, at)?;
    let i = m
        .method_integration
        .as_mut()
        .ok_or_else(invalid_integration)?;
    let response = IntegrationResponse {
        status_code: status.to_string(),
        selection_pattern: input.selection_pattern,
        response_parameters: input.response_parameters,
        response_templates: input
            .response_templates
            .into_iter()
            .map(|(ct, t)| (ct, t.unwrap_or_default()))
            .collect(),
        content_handling: input.content_handling,
    };
    let reply = Reply::json(201, &response)?;
    i.integration_responses.insert(status.to_string(), response);
    Ok(reply)
}

/// `GET .../integration/responses/{status}`.
pub fn get_integration_response(apis: &Apis, at: At<'_>, status: &str) -> Result<Reply, ApiError> {
    let m = method(apis, at)?;
    let i = m
        .method_integration
        .as_ref()
        .ok_or_else(invalid_integration)?;
    Reply::json(
        200,
        i.integration_responses
            .get(status)
            .ok_or_else(invalid_status)?,
    )
}

/// `DELETE .../integration/responses/{status}` → 204.
pub fn delete_integration_response(
    apis: &mut Apis,
    ctx: &Ctx,
    at: At<'_>,
    status: &str,
) -> Result<Reply, ApiError> {
    let m = method_mut(apis, ctx, at)?;
    let i = m
        .method_integration
        .as_mut()
        .ok_or_else(invalid_integration)?;
    i.integration_responses
        .remove(status)
        .ok_or_else(invalid_status)?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_parameters_are_checked() {
        assert!(check_status("200").is_ok());
        for bad in ["600", "20", "abc", "099"] {
            assert_eq!(
                check_status(bad).unwrap_err().kind,
                "ValidationException",
                "{bad}"
            );
        }
        assert!(check_request_parameter("method.request.querystring.page").is_ok());
        assert!(check_request_parameter("method.request.body.x").is_err());
        assert!(check_request_parameter("method.request.header.").is_err());
    }
}
