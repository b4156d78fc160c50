//! What an API's gateway responses read of the request (`responseParameters` from
//! `method.request.*`, `stageVariables.*` and `context.*`; a template's `$context.*` and
//! `$stageVariables.*`), captured once the request is routed — or found to match no method —
//! so any later phase's gateway response can use it. An API whose overrides read nothing
//! (the common case) captures nothing.

use std::net::IpAddr;

use crate::gateway_response::GatewayResponses;
use crate::http::RequestHead;
use crate::mapping::bindings::query_pairs;
use crate::mapping::Source;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::observe::Target;
use crate::router::Params;
use crate::template::ParamKind;

/// The request as routing saw it.
pub struct Seen<'a> {
    /// The parsed head and its bytes.
    pub head: &'a RequestHead,
    /// The bytes the head's spans index.
    pub base: &'a [u8],
    /// Where the request was routed (stage and method, when found).
    pub target: &'a Target<'a>,
    /// Path parameters of the matched resource.
    pub params: &'a Params<'a, 'a>,
    /// The client's address.
    pub peer: IpAddr,
    /// The AWS account id the gateway presents (`$context.accountId`).
    pub account_id: &'a str,
}

/// The values `responses` read, in their order (`RequestCtx::response_values`).
pub fn capture(
    responses: &GatewayResponses,
    seen: &Seen<'_>,
    ctx: &RequestCtx,
) -> Box<[Option<Box<str>>]> {
    responses
        .reads()
        .iter()
        .map(|s| value(s, seen, ctx).map(Into::into))
        .collect()
}

/// One source's value; `None` when the request does not have it.
fn value(source: &Source, seen: &Seen<'_>, ctx: &RequestCtx) -> Option<String> {
    match source {
        Source::Static(s) => Some(s.to_string()),
        Source::Method(kind, name) => values(*kind, name, seen).pop(),
        Source::MethodMulti(kind, name) => {
            let all = values(*kind, name, seen);
            (!all.is_empty()).then(|| all.join(","))
        }
        Source::StageVariable(name) => match seen.target {
            Target::Stage { stage, .. } => stage
                .variables
                .iter()
                .find(|(k, _)| **k == **name)
                .map(|(_, v)| v.to_string()),
            Target::Unrouted => None,
        },
        Source::Context(name) => context(name, seen, ctx),
        // Refused by the control plane for gateway responses.
        _ => None,
    }
}

/// Every value of a header, query parameter or path parameter, in request order.
fn values(kind: ParamKind, name: &str, seen: &Seen<'_>) -> Vec<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match kind {
        ParamKind::Header => seen
            .head
            .headers
            .iter()
            .filter(|h| h.name.get(seen.base).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| text(h.value.get(seen.base)))
            .collect(),
        ParamKind::Querystring => seen
            .head
            .query
            .map(|q| query_pairs(q.get(seen.base)))
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, _)| **n == *name)
            .map(|(_, v)| v.to_string())
            .collect(),
        ParamKind::Path => seen
            .params
            .get(name)
            .map(str::to_string)
            .into_iter()
            .collect(),
    }
}

/// A `$context` variable of [`crate::gateway_response::CONTEXT_NAMES`].
fn context(name: &str, seen: &Seen<'_>, ctx: &RequestCtx) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (api, stage, method) = match seen.target {
        Target::Stage {
            api, stage, method, ..
        } => (Some(*api), Some(*stage), *method),
        Target::Unrouted => (None, None, None),
    };
    match name {
        "requestId" => Some(String::from_utf8_lossy(&ctx.request_id).into_owned()),
        "accountId" => Some(seen.account_id.to_string()),
        "apiId" => api.map(|a| a.id.to_string()),
        "domainName" => seen.head.host.map(|h| text(h.get(seen.base))),
        "httpMethod" => Some(text(seen.head.method.get(seen.base))),
        "identity.sourceIp" => Some(seen.peer.to_string()),
        "identity.userAgent" => seen.head.header(seen.base, "user-agent").map(text),
        "path" => Some(text(seen.head.path.get(seen.base))),
        "protocol" => Some(match (ctx.h2, seen.head.minor_version) {
            (true, _) => "HTTP/2.0".into(),
            (false, 0) => "HTTP/1.0".into(),
            _ => "HTTP/1.1".into(),
        }),
        "requestTimeEpoch" => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis().to_string()),
        "resourcePath" => method.map(|(_, resource)| resource.to_string()),
        "stage" => stage.map(|s| s.name.to_string()),
        _ => None,
    }
}
