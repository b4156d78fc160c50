//! An API's `[gateway_responses.TYPE]` tables (AWS `gatewayResponses`) and its
//! `binary_media_types`, checked into the snapshot's forms.

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{ApiFile, GatewayResponseModel};
use crate::gateway_response::{
    template_reads, GatewayResponses, ResponseOverride, ResponseType, CONTEXT_NAMES,
};
use crate::mapping::{Side, Source as Expr};

/// The API's gateway response overrides; bad entries are reported and left out.
pub(crate) fn check(src: &Source<ApiFile>, sink: &mut Sink) -> GatewayResponses {
    let mut entries = Vec::new();
    for (name, model) in &src.model.gateway_responses {
        let field = join_key("gateway_responses", name.get_ref());
        let Some(t) = ResponseType::parse(name.get_ref()) else {
            let known: Vec<&str> = ResponseType::ALL.iter().map(|t| t.as_str()).collect();
            let message = format!(
                "unknown gateway response type `{}` (AWS's types: {})",
                name.get_ref(),
                known.join(", ")
            );
            sink.at(&src.path, src.line(name), field, message);
            continue;
        };
        if let Some(o) = check_one(src, sink, &field, model) {
            entries.push((t, o));
        }
    }
    GatewayResponses::new(entries)
}

fn check_one(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    model: &GatewayResponseModel,
) -> Option<ResponseOverride> {
    let before = sink.len();
    let status = model.status.as_ref().and_then(|s| {
        let v = *s.get_ref();
        if (100..=599).contains(&v) {
            Some(v as u16)
        } else {
            let message = format!("must be between 100 and 599, got {v}");
            sink.at(&src.path, src.line(s), format!("{field}.status"), message);
            None
        }
    });
    let mut headers: Vec<(Box<str>, Box<str>)> = Vec::new();
    for (name, value) in model.headers.iter().flat_map(|h| h.iter()) {
        let hfield = join_key(&format!("{field}.headers"), name.get_ref());
        let lower = name.get_ref().to_ascii_lowercase();
        if let Err(message) = super::validate::check_header_name(&lower, &RESERVED) {
            sink.at(&src.path, src.line(name), hfield, message);
        } else if value.get_ref().contains(['\r', '\n', '\0']) {
            let message = "header values cannot contain CR, LF or NUL";
            sink.at(&src.path, src.line(value), hfield, message);
        } else {
            headers.push((
                name.get_ref().as_str().into(),
                value.get_ref().as_str().into(),
            ));
        }
    }
    let mut parameters = Vec::new();
    for (target, expr) in model.parameters.iter().flat_map(|p| p.iter()) {
        let pfield = join_key(&format!("{field}.parameters"), target.get_ref());
        match parameter(target.get_ref(), expr.get_ref()) {
            Ok((name, Expr::Static(value))) => headers.push((name.into(), value)),
            Ok((name, source)) => parameters.push((name.into(), source)),
            Err(message) => sink.at(&src.path, src.line(target), pfield, message),
        }
    }
    if let Some(body) = &model.body {
        if let Err(message) = template_reads(body.get_ref()) {
            sink.at(&src.path, src.line(body), format!("{field}.body"), message);
        }
    }
    let content_type = model.content_type.as_ref().and_then(|c| {
        if c.get_ref().contains(['\r', '\n', '\0']) || !c.get_ref().contains('/') {
            let message = format!("`{}` is not a media type", c.get_ref());
            sink.at(
                &src.path,
                src.line(c),
                format!("{field}.content_type"),
                message,
            );
            return None;
        }
        Some(c.get_ref().as_str().into())
    });
    (sink.len() == before).then(|| ResponseOverride {
        status,
        headers,
        parameters,
        body: model.body.as_ref().map(|b| b.get_ref().as_str().into()),
        content_type,
    })
}

/// One `responseParameters` entry: the header's name and where its value comes from
/// (developer guide, `x-amazon-apigateway-gateway-responses.responseParameters`: "any
/// incoming request parameter value or a static custom value").
fn parameter<'t>(target: &'t str, expr: &str) -> Result<(&'t str, Expr), String> {
    let bad = || format!("Invalid mapping expression specified: {target}");
    let name = target
        .strip_prefix("gatewayresponse.header.")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{} (use gatewayresponse.header.NAME)", bad()))?;
    super::validate::check_header_name(&name.to_ascii_lowercase(), &RESERVED)?;
    let source = Expr::parse(expr, Side::Request)?;
    match &source {
        Expr::MethodBody | Expr::MethodBodyPath(_) => Err(format!(
            "`{expr}`: a gateway response maps request parameters, not the body"
        )),
        Expr::Context(n) if !CONTEXT_NAMES.contains(&&**n) => Err(format!(
            "`{expr}` is not available in a gateway response (context takes {})",
            CONTEXT_NAMES.join(", ")
        )),
        Expr::Static(v) if v.contains(['\r', '\n', '\0']) => {
            Err("header values cannot contain CR, LF or NUL".into())
        }
        _ => Ok((name, source)),
    }
}

/// Headers whose value the gateway writes itself.
const RESERVED: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "x-amzn-requestid",
];

/// `binary_media_types`: each a `type/subtype` (either may be `*`).
pub(crate) fn binary_media_types(src: &Source<ApiFile>, sink: &mut Sink) -> Box<[Box<str>]> {
    let mut out = Vec::new();
    for (i, t) in src.model.binary_media_types.iter().enumerate() {
        let v = t.get_ref();
        let ok = v.split_once('/').is_some_and(|(a, b)| {
            let part = |s: &str| !s.is_empty() && !s.contains([' ', ';', ',', '/']);
            part(a) && part(b)
        });
        if ok {
            out.push(v.to_ascii_lowercase().into_boxed_str());
        } else {
            let message = format!("`{v}` is not a media type such as image/png or image/*");
            sink.at(
                &src.path,
                src.line(t),
                format!("binary_media_types[{i}]"),
                message,
            );
        }
    }
    out.into_boxed_slice()
}
