//! The non-proxy integrations' mapping (`MOCK` with templates, `HTTP`, `AWS` for Lambda): the
//! integration request and the integration response, as API Gateway runs them.
//!
//! - [`request`]: picks the request template by the request's `Content-Type` (or refuses
//!   with 415 by the passthrough behaviour), renders it, evaluates `requestParameters` and
//!   applies `$context.requestOverride.*`: what the backend is sent.
//! - [`response`]: selects the integration response by the backend's status (Lambda: its
//!   `errorMessage`), evaluates `responseParameters`, picks the response template by the
//!   request's `Accept`, renders it and applies `$context.responseOverride.*`: the reply.
//! - [`binary`]: what `binaryMediaTypes` and `contentHandling` make of a body on either side
//!   (bytes, UTF-8 text, base64) before a template reads it.
//! - [`bindings`]: what the templates see (`$input`, `$context`, `$stageVariables`) over the
//!   buffered request.
//!
//! The types here are compiled by the control plane (`config`) into the snapshot and are
//! immutable; both phases are leaves that take the request and return a result or a gateway
//! error, and only the pipeline calls them. The rules come from AWS's developer guide and from
//! LocalStack's tests recorded against AWS; each is written where it is applied.

pub mod binary;
pub mod bindings;
pub mod request;
pub mod response;

use crate::template::{ParamKind, Template};
pub use binary::ContentHandling;

/// Largest mapping template (API Gateway's quota: "Mapping template size: 300 KB").
pub const MAX_TEMPLATE_BYTES: usize = 300 * 1024;

/// The mapping of one non-proxy integration.
#[derive(Debug)]
pub struct Mapping {
    /// `requestTemplates`, by lower-case media type, in file order.
    pub request_templates: Vec<(Box<str>, Template)>,
    /// `passthroughBehavior`.
    pub passthrough: Passthrough,
    /// `contentHandling` of the integration request.
    pub content_handling: Option<ContentHandling>,
    /// `requestParameters`: what the backend request gets, from where.
    pub request_parameters: Vec<(RequestTarget, Source)>,
    /// The integration responses with a selection pattern, in file order.
    pub responses: Vec<IntegrationResponse>,
    /// The default integration response (no or empty `selectionPattern`).
    pub default_response: Option<IntegrationResponse>,
}

/// `passthroughBehavior`: what happens to a request no template is for (developer guide,
/// "Method request behavior for payloads without mapping templates").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// The default: the body passes through when no template matches its type.
    WhenNoMatch,
    /// The body passes through only when the integration has no template at all.
    WhenNoTemplates,
    /// Never: 415 without a template for the type.
    Never,
}

impl Passthrough {
    /// The name as AWS spells it.
    pub fn parse(s: &str) -> Option<Passthrough> {
        match s {
            "WHEN_NO_MATCH" => Some(Passthrough::WhenNoMatch),
            "WHEN_NO_TEMPLATES" => Some(Passthrough::WhenNoTemplates),
            "NEVER" => Some(Passthrough::Never),
            _ => None,
        }
    }
}

/// `integration.request.{header|querystring|path}.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    /// Which part of the backend request.
    pub kind: ParamKind,
    /// The name (as written: header names are sent as written).
    pub name: Box<str>,
}

/// One integration response.
#[derive(Debug)]
pub struct IntegrationResponse {
    /// `selectionPattern`, matched against the whole selection value (`None`: the default).
    pub pattern: Option<regex::Regex>,
    /// The status sent (`statusCode`).
    pub status: u16,
    /// `responseParameters`: client header name and its source, in file order.
    pub parameters: Vec<(Box<str>, Source)>,
    /// `responseTemplates`, by lower-case media type, in file order.
    pub templates: Vec<(Box<str>, Template)>,
    /// `contentHandling` of the method response's payload.
    pub content_handling: Option<ContentHandling>,
}

/// Where a mapped parameter's value comes from (developer guide, "Parameter mapping for REST
/// APIs": `method.request.*` for integration requests, `integration.response.*` for method
/// responses; both take `'static'`, `stageVariables.*` and `context.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `'text'`.
    Static(Box<str>),
    /// `method.request.{path|querystring|header}.NAME`.
    Method(ParamKind, Box<str>),
    /// `method.request.multivalue{querystring|header}.NAME`: every value, joined with `,`.
    MethodMulti(ParamKind, Box<str>),
    /// `method.request.body`.
    MethodBody,
    /// `method.request.body.JSONPATH` (written without its `$.`).
    MethodBodyPath(Box<str>),
    /// `stageVariables.NAME`.
    StageVariable(Box<str>),
    /// `context.NAME`.
    Context(Box<str>),
    /// `integration.response.header.NAME`.
    IntegrationHeader(Box<str>),
    /// `integration.response.multivalueheader.NAME`.
    IntegrationMultiHeader(Box<str>),
    /// `integration.response.body`.
    IntegrationBody,
    /// `integration.response.body.JSONPATH`.
    IntegrationBodyPath(Box<str>),
}

/// Which side of the integration a mapping expression is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `requestParameters`: the method request is the source.
    Request,
    /// `responseParameters`: the integration response is the source.
    Response,
}

impl Source {
    /// Parses a mapping expression; the error is AWS's wording for a bad one (`Invalid
    /// mapping expression specified: ...`, PutIntegration's BadRequestException).
    pub fn parse(expr: &str, side: Side) -> Result<Source, String> {
        let bad = || format!("Invalid mapping expression specified: {expr}");
        if let Some(text) = expr.strip_prefix('\'') {
            return text
                .strip_suffix('\'')
                .map(|t| Source::Static(t.into()))
                .ok_or_else(bad);
        }
        let named = |rest: &str| {
            (!rest.is_empty() && !rest.contains(['\'', ' ']))
                .then(|| Box::<str>::from(rest))
                .ok_or_else(bad)
        };
        if let Some(name) = expr.strip_prefix("stageVariables.") {
            return named(name).map(Source::StageVariable);
        }
        if let Some(name) = expr.strip_prefix("context.") {
            return named(name).map(Source::Context);
        }
        match side {
            Side::Request => {
                let rest = expr.strip_prefix("method.request.").ok_or_else(bad)?;
                if rest == "body" {
                    return Ok(Source::MethodBody);
                }
                if let Some(path) = rest.strip_prefix("body.") {
                    return named(path).map(Source::MethodBodyPath);
                }
                let (part, name) = rest.split_once('.').ok_or_else(bad)?;
                let name = named(name)?;
                Ok(match part {
                    "path" => Source::Method(ParamKind::Path, name),
                    "querystring" => Source::Method(ParamKind::Querystring, name),
                    "header" => Source::Method(ParamKind::Header, name),
                    "multivaluequerystring" => Source::MethodMulti(ParamKind::Querystring, name),
                    "multivalueheader" => Source::MethodMulti(ParamKind::Header, name),
                    _ => return Err(bad()),
                })
            }
            Side::Response => {
                let rest = expr.strip_prefix("integration.response.").ok_or_else(bad)?;
                if rest == "body" {
                    return Ok(Source::IntegrationBody);
                }
                if let Some(path) = rest.strip_prefix("body.") {
                    return named(path).map(Source::IntegrationBodyPath);
                }
                let (part, name) = rest.split_once('.').ok_or_else(bad)?;
                let name = named(name)?;
                match part {
                    "header" => Ok(Source::IntegrationHeader(name)),
                    "multivalueheader" => Ok(Source::IntegrationMultiHeader(name)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl RequestTarget {
    /// Parses `integration.request.{header|querystring|path}.NAME`.
    pub fn parse(expr: &str) -> Result<RequestTarget, String> {
        let bad = || format!("Invalid mapping expression specified: {expr}");
        let rest = expr.strip_prefix("integration.request.").ok_or_else(bad)?;
        let (part, name) = rest.split_once('.').ok_or_else(bad)?;
        let kind = ParamKind::parse(part).ok_or_else(bad)?;
        if name.is_empty() || name.contains(['\'', ' ', '.']) && kind != ParamKind::Querystring {
            return Err(bad());
        }
        Ok(RequestTarget {
            kind,
            name: name.into(),
        })
    }
}

/// A header's media type: the part before `;`, trimmed, lower-case ("Only the MIME type is
/// used from the Accept and Content-Type headers", developer guide, "Mapping templates").
pub fn media_type(value: &[u8]) -> String {
    let end = memchr::memchr(b';', value).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end])
        .trim()
        .to_ascii_lowercase()
}

/// The template for `media` among `templates` (exact media type).
pub fn template_for<'t>(
    templates: &'t [(Box<str>, Template)],
    media: &str,
) -> Option<&'t Template> {
    templates
        .iter()
        .find(|(m, _)| **m == *media)
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_expressions_parse_by_side() {
        let req = |e| Source::parse(e, Side::Request);
        assert_eq!(
            req("method.request.header.X-Id"),
            Ok(Source::Method(ParamKind::Header, "X-Id".into()))
        );
        assert_eq!(
            req("method.request.multivaluequerystring.tag"),
            Ok(Source::MethodMulti(ParamKind::Querystring, "tag".into()))
        );
        assert_eq!(req("method.request.body"), Ok(Source::MethodBody));
        assert_eq!(
            req("method.request.body.pet.name"),
            Ok(Source::MethodBodyPath("pet.name".into()))
        );
        assert_eq!(req("'a b'"), Ok(Source::Static("a b".into())));
        assert_eq!(
            req("stageVariables.v"),
            Ok(Source::StageVariable("v".into()))
        );
        assert_eq!(
            req("context.requestId"),
            Ok(Source::Context("requestId".into()))
        );
        for bad in [
            "'open",
            "method.request.cookie.a",
            "method.request.header.",
            "integration.response.body",
            "header.x",
        ] {
            assert_eq!(
                req(bad),
                Err(format!("Invalid mapping expression specified: {bad}")),
                "{bad}"
            );
        }
        let resp = |e| Source::parse(e, Side::Response);
        assert_eq!(
            resp("integration.response.header.ETag"),
            Ok(Source::IntegrationHeader("ETag".into()))
        );
        assert_eq!(
            resp("integration.response.body.id"),
            Ok(Source::IntegrationBodyPath("id".into()))
        );
        assert!(resp("method.request.header.a").is_err());
    }

    #[test]
    fn targets_name_a_part_of_the_backend_request() {
        assert_eq!(
            RequestTarget::parse("integration.request.path.id"),
            Ok(RequestTarget {
                kind: ParamKind::Path,
                name: "id".into()
            })
        );
        assert!(RequestTarget::parse("integration.request.body").is_err());
        assert!(RequestTarget::parse("method.request.header.a").is_err());
    }

    #[test]
    fn media_types_drop_parameters_and_case() {
        assert_eq!(
            media_type(b"Application/JSON; charset=UTF-8"),
            "application/json"
        );
        assert_eq!(media_type(b" text/plain "), "text/plain");
    }
}
