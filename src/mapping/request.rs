//! The integration request: what a non-proxy integration sends its backend.
//!
//! 1. The request template is chosen by the media type of the request's `Content-Type`,
//!    `application/json` when it has none (developer guide, "Mapping templates": "If the
//!    Content-Type header is absent, API Gateway assumes application/json").
//! 2. Without a template for it, `passthroughBehavior` decides (developer guide, "Method
//!    request behavior for payloads without mapping templates"): `WHEN_NO_MATCH` passes the
//!    body through; `WHEN_NO_TEMPLATES` passes it through only when the integration has no
//!    template at all; `NEVER` refuses. Refused: 415 `{"message":"Unsupported Media Type"}`.
//! 3. `requestParameters` are evaluated, then the template's `requestOverride`s replace
//!    them ("Overrides are final ... applied after the standard parameter mappings").

use super::bindings::Env;
use super::{template_for, Mapping, Passthrough, Source};
use crate::gateway_response::GatewayResponse;
use crate::template::{Bindings, Budget, ParamKind, RenderError};

/// The backend request a mapping produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IntegrationRequest {
    /// The rendered template; `None`: the request's body passes through as received.
    pub body: Option<String>,
    /// `integration.request.header.*`, in mapping order.
    pub headers: Vec<(String, String)>,
    /// `integration.request.querystring.*`.
    pub query: Vec<(String, String)>,
    /// `integration.request.path.*`: fills the integration URI's `{name}`s.
    pub path: Vec<(String, String)>,
}

/// Why a mapping failed the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// No template for the request's media type, and the passthrough behaviour refuses it.
    #[error("Unsupported Media Type")]
    UnsupportedMediaType,
    /// The body is not the JSON the template reads it as (400, this message to the client).
    #[error("{0}")]
    Payload(String),
    /// The mapping failed on this request (500; the reason goes to the log, as AWS's
    /// "Execution failed due to configuration error: ...").
    #[error("Execution failed due to configuration error: {0}")]
    Config(String),
}

impl MappingError {
    /// The gateway response the client gets.
    pub fn response(&self) -> GatewayResponse {
        match self {
            MappingError::UnsupportedMediaType => GatewayResponse::UnsupportedMediaType,
            MappingError::Payload(_) => GatewayResponse::BadRequestBody,
            MappingError::Config(_) => GatewayResponse::ConfigurationError,
        }
    }

    /// The message built for this request, when the client sees one.
    pub fn client_message(&self) -> Option<&str> {
        match self {
            MappingError::Payload(m) => Some(m),
            _ => None,
        }
    }
}

impl From<RenderError> for MappingError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Payload(m) => MappingError::Payload(m),
            e => MappingError::Config(format!("the mapping template failed: {e}")),
        }
    }
}

/// Runs the integration request of `mapping` for the request `env` sees.
pub fn run(
    mapping: &Mapping,
    env: &mut Env<'_>,
    content_type: Option<&[u8]>,
    binary: bool,
    budget: Budget,
) -> Result<IntegrationRequest, MappingError> {
    let media = content_type.map_or_else(|| "application/json".to_string(), super::media_type);
    let templates = &mapping.request_templates;
    let template = template_for(templates, &media);
    let passes = match (template, mapping.passthrough) {
        (Some(_), _) => true,
        (None, Passthrough::WhenNoMatch) => true,
        (None, Passthrough::WhenNoTemplates) => templates.is_empty(),
        (None, Passthrough::Never) => false,
    };
    if !passes {
        return Err(MappingError::UnsupportedMediaType);
    }
    let mut out = IntegrationRequest::default();
    for (target, source) in &mapping.request_parameters {
        if let Some(value) = request_value(source, env) {
            let list = part(&mut out, target.kind);
            list.retain(|(n, _)| !same(target.kind, n, &target.name));
            list.push((target.name.to_string(), value));
        }
    }
    match template {
        // AWS-validated (`..._convert_to_binary_with_request_template`): a 500.
        Some(_) if binary => {
            return Err(MappingError::Config(
                "a request template cannot map a binary payload (set content_handling = \"CONVERT_TO_TEXT\" or remove the template)".into(),
            ))
        }
        Some(t) => out.body = Some(t.render(env, budget)?),
        None => {}
    }
    if env.overrides.repeated {
        return Err(MappingError::Config(
            "an override was set more than once (overrides are final)".into(),
        ));
    }
    for (kind, name, value) in std::mem::take(&mut env.overrides.request) {
        let list = part(&mut out, kind);
        list.retain(|(n, _)| !same(kind, n, &name));
        list.push((name, value));
    }
    Ok(out)
}

fn part(out: &mut IntegrationRequest, kind: ParamKind) -> &mut Vec<(String, String)> {
    match kind {
        ParamKind::Header => &mut out.headers,
        ParamKind::Querystring => &mut out.query,
        ParamKind::Path => &mut out.path,
    }
}

/// Header names compare ignoring case; query and path names exactly.
fn same(kind: ParamKind, a: &str, b: &str) -> bool {
    match kind {
        ParamKind::Header => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// A request-side mapping expression's value; `None` when its source is absent (the
/// parameter is then not sent).
fn request_value(source: &Source, env: &Env<'_>) -> Option<String> {
    match source {
        Source::Static(s) => Some(s.to_string()),
        Source::Method(kind, name) => env.values(*kind, name).pop().map(|v| v.to_string()),
        Source::MethodMulti(kind, name) => {
            let all = env.values(*kind, name);
            (!all.is_empty()).then(|| all.join(","))
        }
        Source::MethodBody => Some(String::from_utf8_lossy(env.body()).into_owned()),
        Source::MethodBodyPath(path) => body_path(env.body(), path),
        Source::StageVariable(name) => env.stage_var(name).map(str::to_string),
        Source::Context(name) => env.context_text(name),
        // Response-side sources are refused at --check for requests.
        Source::IntegrationHeader(_)
        | Source::IntegrationMultiHeader(_)
        | Source::IntegrationBody
        | Source::IntegrationBodyPath(_) => None,
    }
}

/// `body.JSONPATH` of a mapping expression (written without `$.`): a string as its text,
/// anything else as JSON; `None` when the body is not JSON or the path finds nothing.
pub fn body_path(body: &[u8], path: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let full = format!("$.{path}");
    let found = crate::template::jsonpath::select(&doc, &full).ok()?;
    let value = match found {
        crate::template::jsonpath::Found::One(v) => v?.clone(),
        crate::template::jsonpath::Found::Many(vs) => {
            serde_json::Value::Array(vs.into_iter().cloned().collect())
        }
    };
    Some(match value {
        serde_json::Value::String(s) => s,
        v => v.to_string(),
    })
}
