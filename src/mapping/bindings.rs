//! What a mapping template sees of its request: `$input` over the buffered request (or, for
//! a response template, over the integration's response body with the method request's
//! parameters), `$context` from the request's context facts, `$stageVariables`, and the
//! `$context.requestOverride.*` / `responseOverride.*` a template sets.
//!
//! Parameter views follow the Lambda proxy event's rules (`integration::aws_proxy::event`):
//! query names and values percent-decoded with `+` as a space, path parameters as they appear
//! in the URL, the last of repeated names winning in `$input.params(x)`; a header is looked up
//! by its exact name first, then ignoring case (header names are sent as written, AWS's known
//! issues: "Header names and query parameters are processed in a case-sensitive way").

use std::cell::OnceCell;
use std::rc::Rc;

use crate::exchange::RequestView;
use crate::integration::aws_proxy::event::{percent_decode, RequestContextInput, DROPPED};
use crate::template::{Bindings, ContextValue, ParamKind, Value};

/// Overrides a template set (developer guide, "Override your API's request and response
/// parameters and status codes"). "Overrides are final": each applies once, after the
/// parameter mappings; setting one twice fails the request (`repeated`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overrides {
    /// `requestOverride.{header|querystring|path}.NAME`.
    pub request: Vec<(ParamKind, String, String)>,
    /// `responseOverride.status`, as the template set it (checked when applied).
    pub status: Option<String>,
    /// `responseOverride.header.NAME`.
    pub response_headers: Vec<(String, String)>,
    /// The same override was set twice.
    pub repeated: bool,
}

/// The request as a template sees it.
pub struct Env<'r> {
    view: &'r RequestView<'r>,
    ctx: &'r RequestContextInput<'r>,
    /// `$input.body`: the request's body, or the integration response's.
    body: &'r [u8],
    http_method: &'r str,
    /// The parameter lists, built when a template or mapping first reads them.
    headers: OnceCell<Vec<(Rc<str>, Rc<str>)>>,
    query: OnceCell<Vec<(Rc<str>, Rc<str>)>>,
    path: OnceCell<Vec<(Rc<str>, Rc<str>)>>,
    /// What the template set.
    pub overrides: Overrides,
}

impl<'r> Env<'r> {
    /// The bindings of `view`, with `body` as `$input.body`.
    pub fn new(
        view: &'r RequestView<'r>,
        ctx: &'r RequestContextInput<'r>,
        body: &'r [u8],
    ) -> Self {
        Env {
            view,
            ctx,
            body,
            http_method: std::str::from_utf8(view.head.method.get(view.base)).unwrap_or("GET"),
            headers: OnceCell::new(),
            query: OnceCell::new(),
            path: OnceCell::new(),
            overrides: Overrides::default(),
        }
    }

    /// The same request with another `$input.body` (a response template's), keeping what
    /// the request template overrode.
    pub fn with_body(self, body: &'r [u8]) -> Self {
        Env { body, ..self }
    }

    /// Every value of a parameter, in request order.
    pub fn values(&self, kind: ParamKind, name: &str) -> Vec<Rc<str>> {
        let list = self.list(kind);
        let exact: Vec<Rc<str>> = list
            .iter()
            .filter(|(k, _)| **k == *name)
            .map(|(_, v)| v.clone())
            .collect();
        if !exact.is_empty() || kind != ParamKind::Header {
            return exact;
        }
        list.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn list(&self, kind: ParamKind) -> &[(Rc<str>, Rc<str>)] {
        let (head, base) = (self.view.head, self.view.base);
        let text = |b: &[u8]| Rc::<str>::from(String::from_utf8_lossy(b));
        match kind {
            ParamKind::Path => self.path.get_or_init(|| {
                self.view
                    .params
                    .iter()
                    .map(|(k, v)| (Rc::from(&**k), Rc::from(v.as_str())))
                    .collect()
            }),
            ParamKind::Querystring => self.query.get_or_init(|| {
                head.query
                    .map(|q| query_pairs(q.get(base)))
                    .unwrap_or_default()
            }),
            // The headers that never reach an integration are not parameters either:
            // templates see `$input.params('Content-Length')` empty (LocalStack's
            // AWS-validated `TestApiGatewayHeaderRemapping`, "full" request template).
            ParamKind::Header => self.headers.get_or_init(|| {
                head.headers
                    .iter()
                    .filter(|h| {
                        let name = h.name.get(base);
                        !DROPPED
                            .iter()
                            .any(|d| name.eq_ignore_ascii_case(d.as_bytes()))
                    })
                    .map(|h| (text(h.name.get(base)), text(h.value.get(base))))
                    .collect()
            }),
        }
    }

    /// `$context.NAME` as text (parameter mappings' `context.NAME`), `None` when unknown.
    pub fn context_text(&self, path: &str) -> Option<String> {
        match self.context(path) {
            ContextValue::Value(v) if !v.is_null() => Some(v.to_java_string()),
            _ => None,
        }
    }

    /// The request's stage variable.
    pub fn stage_var(&self, name: &str) -> Option<&str> {
        self.view
            .stage
            .variables
            .iter()
            .find(|(k, _)| **k == *name)
            .map(|(_, v)| &**v)
    }

    fn set_override(&mut self, path: &str, v: &Value) {
        let text = override_text(v);
        let o = &mut self.overrides;
        if let Some(rest) = path.strip_prefix("requestOverride.") {
            let Some((kind, name)) = rest
                .split_once('.')
                .and_then(|(part, name)| Some((ParamKind::parse(part)?, name)))
            else {
                return;
            };
            o.repeated |= o.request.iter().any(|(k, n, _)| *k == kind && n == name);
            o.request.push((kind, name.to_string(), text));
        } else if path == "responseOverride.status" {
            o.repeated |= o.status.is_some();
            o.status = Some(text);
        } else if let Some(name) = path.strip_prefix("responseOverride.header.") {
            o.repeated |= o
                .response_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name));
            o.response_headers.push((name.to_string(), text));
        }
    }

    fn overridden(&self, path: &str) -> Option<Value> {
        let o = &self.overrides;
        if let Some(rest) = path.strip_prefix("requestOverride.") {
            let (part, name) = rest.split_once('.')?;
            let kind = ParamKind::parse(part)?;
            return o
                .request
                .iter()
                .find(|(k, n, _)| *k == kind && n == name)
                .map(|(_, _, v)| Value::str(v));
        }
        if path == "responseOverride.status" {
            return o.status.as_deref().map(Value::str);
        }
        let name = path.strip_prefix("responseOverride.header.")?;
        o.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Value::str(v))
    }
}

/// An override's text: a list (a multi-value header) joined with `,` (the developer guide's
/// example sends `[$a, $b]` as `a,b`).
fn override_text(v: &Value) -> String {
    match v {
        Value::List(l) => l
            .items
            .borrow()
            .iter()
            .map(Value::to_java_string)
            .collect::<Vec<_>>()
            .join(","),
        v => v.to_java_string(),
    }
}

/// Query parameters, decoded, in request order.
pub(crate) fn query_pairs(raw: &[u8]) -> Vec<(Rc<str>, Rc<str>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut decoded = |s: &[u8]| {
        buf.clear();
        percent_decode(&mut buf, s);
        Rc::<str>::from(String::from_utf8_lossy(&buf))
    };
    for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match memchr::memchr(b'=', part) {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let name = decoded(name);
        out.push((name, decoded(value)));
    }
    out
}

fn opt(v: Option<&str>) -> ContextValue {
    ContextValue::Value(v.map_or(Value::Null, Value::str))
}

fn val(v: &str) -> ContextValue {
    ContextValue::Value(Value::str(v))
}

impl Bindings for Env<'_> {
    fn body(&self) -> &[u8] {
        self.body
    }

    fn param(&self, kind: ParamKind, name: &str) -> Option<Rc<str>> {
        self.values(kind, name).pop()
    }

    fn params(&self, kind: ParamKind) -> Vec<(Rc<str>, Rc<str>)> {
        // One entry per name, the last value winning, in order of first appearance.
        let mut out: Vec<(Rc<str>, Rc<str>)> = Vec::new();
        for (k, v) in self.list(kind) {
            match out.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
        out
    }

    /// The REST API's `$context` variables (developer guide, "Variables for data
    /// transformations"); `path` includes the stage, `requestTimeEpoch` is milliseconds, the
    /// identity of an anonymous caller is null (LocalStack's AWS-validated proxy snapshot).
    fn context(&self, path: &str) -> ContextValue {
        let c = self.ctx;
        let v = self.view;
        match path {
            "accountId" => val(c.account_id),
            "apiId" => val(c.api_id),
            "deploymentId" => val(c.deployment_id),
            "domainName" => val(c.domain_name),
            "domainPrefix" => val(c.domain_prefix),
            "extendedRequestId" | "requestId" | "awsEndpointRequestId" => val(c.request_id),
            "httpMethod" => val(self.http_method),
            "path" => val(v.full_path),
            "protocol" => val(c.protocol),
            "requestTime" => {
                let mut out = Vec::with_capacity(26);
                crate::clock::write_clf_time(&mut out, c.request_time_epoch_ms / 1000);
                val(&String::from_utf8_lossy(&out))
            }
            "requestTimeEpoch" => ContextValue::Value(Value::int(c.request_time_epoch_ms)),
            "resourceId" => val(c.resource_id),
            "resourcePath" => val(&v.method.resource_path),
            "stage" => val(c.stage),
            "isCanaryRequest" => ContextValue::Value(Value::Bool(c.is_canary)),
            "identity" | "authorizer" | "requestOverride" | "responseOverride" => {
                ContextValue::Group
            }
            "requestOverride.header"
            | "requestOverride.querystring"
            | "requestOverride.path"
            | "responseOverride.header" => ContextValue::Group,
            p if p.starts_with("requestOverride.") || p.starts_with("responseOverride.") => {
                ContextValue::Value(self.overridden(p).unwrap_or(Value::Null))
            }
            p if p.starts_with("identity.") => self.identity(&p["identity.".len()..]),
            p if p.starts_with("authorizer.") => self.authorizer(&p["authorizer.".len()..]),
            _ => ContextValue::Missing,
        }
    }

    fn set_context(&mut self, path: &str, v: &Value) {
        self.set_override(path, v);
    }

    fn stage_variable(&self, name: &str) -> Option<Rc<str>> {
        self.stage_var(name).map(Rc::from)
    }
}

impl Env<'_> {
    fn identity(&self, name: &str) -> ContextValue {
        let c = self.ctx;
        let iam = self.view.authorizer.and_then(|a| a.iam.as_ref());
        match name {
            "sourceIp" => val(c.source_ip),
            "userAgent" => opt(c.user_agent),
            "apiKey" => opt(c.api_key),
            "apiKeyId" => opt(c.api_key_id),
            "accessKey" => opt(iam.map(|i| &*i.access_key)),
            "accountId" => opt(iam.map(|i| &*i.account_id)),
            "caller" | "user" => opt(iam.map(|i| &*i.user_id)),
            "userArn" => opt(iam.map(|i| &*i.user_arn)),
            "clientCert" => match &c.client_cert {
                Some(_) => ContextValue::Group,
                None => ContextValue::Value(Value::Null),
            },
            "clientCert.validity" => ContextValue::Group,
            n => match (&c.client_cert, n.strip_prefix("clientCert.")) {
                (Some(cert), Some(field)) => match field {
                    "clientCertPem" => val(cert.client_cert_pem),
                    "subjectDN" => val(cert.subject_dn),
                    "issuerDN" => val(cert.issuer_dn),
                    "serialNumber" => val(cert.serial_number),
                    "validity.notBefore" => val(cert.not_before),
                    "validity.notAfter" => val(cert.not_after),
                    _ => ContextValue::Missing,
                },
                _ => ContextValue::Value(Value::Null),
            },
        }
    }

    /// `$context.authorizer.*`: `principalId`, the authorizer's context values as strings,
    /// `claims.*` of a JWT authorizer (`claims` alone is null, developer guide).
    fn authorizer(&self, name: &str) -> ContextValue {
        let Some(identity) = self.view.authorizer else {
            return ContextValue::Value(Value::Null);
        };
        if name == "principalId" {
            return opt(identity.principal_id.as_deref());
        }
        if name == "claims" {
            return ContextValue::Group;
        }
        if let Some(claim) = name.strip_prefix("claims.") {
            let found = identity.claims.iter().find(|(k, _)| **k == *claim);
            return opt(found.map(|(_, v)| &**v));
        }
        let found = identity
            .authorizer_context
            .iter()
            .find(|(k, _)| **k == *name);
        opt(found.map(|(_, v)| &**v))
    }
}
