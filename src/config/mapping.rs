//! Control plane of the non-proxy integrations' mapping: `request_templates`,
//! `request_parameters`, `passthrough_behavior` and `responses` (integration responses) of an
//! `integration`, and a method's `method_responses`.
//!
//! Every template is parsed here (errors give the file line of the template's line, and its
//! column), every selection pattern compiled, every mapping expression parsed, so a shard
//! never parses anything to map a request. The shapes follow AWS's `Integration`,
//! `IntegrationResponse` and `MethodResponse`; integration responses are keyed by selection
//! pattern as the OpenAPI extension `x-amazon-apigateway-integration.responses` keys them.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{ApiFile, Entries, IntegrationModel, MethodModel};
use crate::mapping::{
    ContentHandling, IntegrationResponse, Mapping, Passthrough, RequestTarget, Side,
    Source as Expr, MAX_TEMPLATE_BYTES,
};
use crate::template::Template;

/// One integration response (`responses."PATTERN"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationResponseModel {
    /// `statusCode` sent to the client (required).
    pub status: Option<Spanned<i64>>,
    /// `responseParameters`: `method.response.header.NAME` = `integration.response.header.X`,
    /// `integration.response.body[.JSONPATH]`, `'static'`, `stageVariables.X`, `context.X`.
    pub parameters: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// `responseTemplates`, keyed by media type.
    pub templates: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// `contentHandling`: `CONVERT_TO_TEXT` or `CONVERT_TO_BINARY` (unset: by the `Accept`).
    pub content_handling: Option<Spanned<String>>,
}

/// One method response (`method_responses."STATUS"`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MethodResponseModel {
    /// `responseParameters`: `method.response.header.NAME` = whether it is required.
    pub parameters: Option<Entries<Spanned<String>, bool>>,
}

/// Whether an integration uses any mapping field (a `MOCK` with one is AWS's MOCK, answered
/// through its integration responses).
pub(super) fn is_mapped(model: &IntegrationModel) -> bool {
    model.request_templates.is_some()
        || model.request_parameters.is_some()
        || model.passthrough_behavior.is_some()
        || model.content_handling.is_some()
        || model.responses.is_some()
}

/// The checks of one integration's mapping, reporting into `sink`.
pub(super) struct MappingCheck<'a> {
    pub src: &'a Source<ApiFile>,
    pub sink: &'a mut Sink,
}

impl MappingCheck<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        let line = self.src.line(at);
        self.sink.at(&self.src.path, line, field, message);
    }

    /// The checked mapping of `model`; `None` when anything was reported.
    pub fn mapping(
        &mut self,
        field: &str,
        method: &MethodModel,
        method_field: &str,
    ) -> Option<Mapping> {
        let model = &method.integration;
        let before = self.sink.len();
        let passthrough = match &model.passthrough_behavior {
            None => Passthrough::WhenNoMatch,
            Some(p) => Passthrough::parse(p.get_ref()).unwrap_or_else(|| {
                let message = format!(
                    "`{}` is not a passthrough behavior: use WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER",
                    p.get_ref()
                );
                self.error(p, &format!("{field}.passthrough_behavior"), message);
                Passthrough::WhenNoMatch
            }),
        };
        let content_handling = self.content_handling(field, &model.content_handling);
        let request_templates = self.templates(
            &format!("{field}.request_templates"),
            &model.request_templates,
        );
        let request_parameters = self.request_parameters(field, model);
        let declared = self.method_responses(method_field, method);
        let mut responses = Vec::new();
        let mut default_response = None;
        for (key, r) in model.responses.iter().flat_map(Entries::iter) {
            let rfield = join_key(&format!("{field}.responses"), key.get_ref());
            let Some(response) = self.response(&rfield, key, r, declared.as_deref()) else {
                continue;
            };
            if response.pattern.is_some() {
                responses.push(response);
            } else if default_response.is_some() {
                self.error(
                    key,
                    &rfield,
                    "only one integration response can be the default",
                );
            } else {
                default_response = Some(response);
            }
        }
        (self.sink.len() == before).then_some(Mapping {
            request_templates,
            passthrough,
            content_handling,
            request_parameters,
            responses,
            default_response,
        })
    }

    /// `content_handling`, checked.
    fn content_handling(
        &mut self,
        field: &str,
        value: &Option<Spanned<String>>,
    ) -> Option<ContentHandling> {
        let v = value.as_ref()?;
        let parsed = ContentHandling::parse(v.get_ref());
        if parsed.is_none() {
            let message = format!(
                "`{}` is not a content handling: use CONVERT_TO_TEXT or CONVERT_TO_BINARY",
                v.get_ref()
            );
            self.error(v, &format!("{field}.content_handling"), message);
        }
        parsed
    }

    /// Templates keyed by media type, parsed.
    fn templates(
        &mut self,
        field: &str,
        entries: &Option<Entries<Spanned<String>, Spanned<String>>>,
    ) -> Vec<(Box<str>, Template)> {
        let mut out: Vec<(Box<str>, Template)> = Vec::new();
        for (media, text) in entries.iter().flat_map(Entries::iter) {
            let tfield = join_key(field, media.get_ref());
            let lower = media.get_ref().to_ascii_lowercase();
            if !is_media_type(&lower) {
                let message = format!(
                    "`{}` is not a media type (type/subtype, e.g. application/json)",
                    media.get_ref()
                );
                self.error(media, &tfield, message);
                continue;
            }
            if out.iter().any(|(m, _)| **m == *lower) {
                self.error(
                    media,
                    &tfield,
                    format!("media type `{lower}` is given twice"),
                );
                continue;
            }
            if text.get_ref().len() > MAX_TEMPLATE_BYTES {
                let message = format!(
                    "the template is {} bytes; API Gateway's limit is 300 KB ({MAX_TEMPLATE_BYTES} bytes)",
                    text.get_ref().len()
                );
                self.error(text, &tfield, message);
                continue;
            }
            match Template::parse(text.get_ref()) {
                Ok(t) => out.push((lower.into(), t)),
                Err(e) => {
                    let line = self.template_line(text, e.line);
                    let message = format!(
                        "template line {}, column {}: {}",
                        e.line, e.column, e.message
                    );
                    self.sink.at(&self.src.path, Some(line), tfield, message);
                }
            }
        }
        out
    }

    /// The file line of line `n` of a template written as `value` (a multi-line string's
    /// first line break after its opening quotes is not part of it, as TOML reads it).
    fn template_line(&self, value: &Spanned<String>, n: u32) -> usize {
        let start = value.span().start;
        let first = self.src.line(value).unwrap_or(1);
        let raw = &self.src.text[start.min(self.src.text.len())..];
        let opens_block = ["'''\n", "'''\r\n", "\"\"\"\n", "\"\"\"\r\n"]
            .iter()
            .any(|p| raw.starts_with(p));
        first + usize::from(opens_block) + n as usize - 1
    }

    fn request_parameters(
        &mut self,
        field: &str,
        model: &IntegrationModel,
    ) -> Vec<(RequestTarget, Expr)> {
        let pfield = format!("{field}.request_parameters");
        let mut out: Vec<(RequestTarget, Expr)> = Vec::new();
        for (target, source) in model.request_parameters.iter().flat_map(Entries::iter) {
            let f = join_key(&pfield, target.get_ref());
            let parsed_target = match RequestTarget::parse(target.get_ref()) {
                Ok(t) => t,
                Err(message) => {
                    self.error(target, &f, message);
                    continue;
                }
            };
            let framing = ["content-length", "transfer-encoding"]
                .iter()
                .any(|h| parsed_target.name.eq_ignore_ascii_case(h));
            if parsed_target.kind == crate::template::ParamKind::Header && framing {
                // On AWS every call then fails with 500 (AWS-validated header remapping test).
                let message = format!(
                    "`{}` cannot be mapped: the gateway frames the body itself (on AWS every call fails with 500)",
                    parsed_target.name
                );
                self.error(target, &f, message);
                continue;
            }
            match Expr::parse(source.get_ref(), Side::Request) {
                Ok(s) => out.push((parsed_target, s)),
                Err(message) => self.error(source, &f, message),
            }
        }
        out
    }

    /// The declared method responses: status → header names (lower-case); `None` when the
    /// method declares none (every integration response then declares its own).
    fn method_responses(
        &mut self,
        method_field: &str,
        method: &MethodModel,
    ) -> Option<Vec<(u16, HashSet<String>)>> {
        let table = method.method_responses.as_ref()?;
        let mut out = Vec::new();
        for (status, m) in table.iter() {
            let f = join_key(
                &format!("{method_field}.method_responses"),
                status.get_ref(),
            );
            let Some(code) = status_code(status.get_ref()) else {
                let message = format!(
                    "`{}` is not a status code (100..599, e.g. \"200\")",
                    status.get_ref()
                );
                self.error(status, &f, message);
                continue;
            };
            let mut headers = HashSet::new();
            for (name, _required) in m.parameters.iter().flat_map(Entries::iter) {
                match response_header(name.get_ref()) {
                    Some(h) => {
                        headers.insert(h.to_ascii_lowercase());
                    }
                    None => {
                        let message = format!(
                            "Invalid mapping expression specified: {} (use method.response.header.NAME)",
                            name.get_ref()
                        );
                        self.error(
                            name,
                            &join_key(&format!("{f}.parameters"), name.get_ref()),
                            message,
                        );
                    }
                }
            }
            out.push((code, headers));
        }
        Some(out)
    }

    fn response(
        &mut self,
        field: &str,
        key: &Spanned<String>,
        model: &IntegrationResponseModel,
        declared: Option<&[(u16, HashSet<String>)]>,
    ) -> Option<IntegrationResponse> {
        let before = self.sink.len();
        let pattern = match key.get_ref().as_str() {
            "default" | "" => None,
            p => match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    let message =
                        format!("`{p}` is not a valid selection pattern (a Java regex): {e}");
                    self.error(key, field, message);
                    None
                }
            },
        };
        let status = match &model.status {
            None => {
                let message = "an integration response needs a `status` (its statusCode)";
                self.error(key, &format!("{field}.status"), message);
                0
            }
            Some(s) => match u16::try_from(*s.get_ref())
                .ok()
                .filter(|n| (100..=599).contains(n))
            {
                Some(n) => n,
                None => {
                    let message = format!("{} is not a status code (100..599)", s.get_ref());
                    self.error(s, &format!("{field}.status"), message);
                    0
                }
            },
        };
        let headers = declared.and_then(|d| d.iter().find(|(c, _)| *c == status).map(|(_, h)| h));
        if let (Some(_), None, Some(s)) = (declared, headers, &model.status) {
            if status != 0 {
                // PutIntegrationResponse refuses a status without a method response.
                // PutIntegrationResponse's refusal, as AWS words it (users' logs, e.g.
                // aws-apigateway-importer#121).
                let message = format!(
                    "Invalid mapping expression specified: Validation Result: warnings : [], errors : [No method response exists for method.] (status {status} has no entry in method_responses)"
                );
                self.error(s, &format!("{field}.status"), message);
            }
        }
        let mut parameters = Vec::new();
        let pfield = format!("{field}.parameters");
        for (target, source) in model.parameters.iter().flat_map(Entries::iter) {
            let f = join_key(&pfield, target.get_ref());
            let Some(name) = response_header(target.get_ref()) else {
                let message = format!(
                    "Invalid mapping expression specified: {} (use method.response.header.NAME)",
                    target.get_ref()
                );
                self.error(target, &f, message);
                continue;
            };
            if headers.is_some_and(|h| !h.contains(&name.to_ascii_lowercase())) {
                let message = format!(
                    "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression parameter specified: {}] (declare it in method_responses.\"{status}\".parameters)",
                    target.get_ref()
                );
                self.error(target, &f, message);
                continue;
            }
            match Expr::parse(source.get_ref(), Side::Response) {
                Ok(s) => parameters.push((Box::from(name), s)),
                Err(message) => self.error(source, &f, message),
            }
        }
        let templates = self.templates(&format!("{field}.templates"), &model.templates);
        let content_handling = self.content_handling(field, &model.content_handling);
        (self.sink.len() == before).then_some(IntegrationResponse {
            pattern,
            status,
            parameters,
            templates,
            content_handling,
        })
    }
}

/// `method.response.header.NAME` → `NAME` (a header name token).
fn response_header(expr: &str) -> Option<&str> {
    let name = expr.strip_prefix("method.response.header.")?;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!name.is_empty() && name.bytes().all(tchar)).then_some(name)
}

fn status_code(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|n| (100..=599).contains(n))
}

/// `type/subtype`, both RFC 9110 tokens (`*` allowed).
fn is_media_type(s: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    match s.split_once('/') {
        Some((t, sub)) => {
            !t.is_empty() && !sub.is_empty() && t.bytes().all(tchar) && sub.bytes().all(tchar)
        }
        None => false,
    }
}
