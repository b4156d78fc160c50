//! `AWS_PROXY`: the Lambda proxy integration (payload format 1.0).
//!
//! The whole request becomes one JSON [`event`]; the function is invoked through the Invoke
//! API (`upstream::invoke`); its [`result`] becomes the [`Reply`]. A leaf: it takes the
//! request and returns a reply or a gateway error, and never touches the client connection.
//!
//! Errors, as API Gateway answers them (developer guide, "Handle Lambda errors in API
//! Gateway"): a malformed result, a function error or an unreachable function is
//! 502 `{"message": "Internal server error"}`; no result within the integration timeout is
//! 504 `{"message": "Endpoint request timed out"}`. The reason goes to the log.

pub mod event;
pub mod result;

use std::time::{Duration, UNIX_EPOCH};

use std::sync::Arc;

use crate::exchange::{Body, BufferPool, Headers, Reply, RequestView};
use crate::function::{FunctionSpec, HostedError, ShardFunctions};
use crate::gateway_response::GatewayResponse;
use crate::upstream::invoke::{self, InvokeError};
use crate::upstream::pool::Pool;

/// Header names the gateway owns in a Lambda proxy result: AWS answers with its own value
/// and passes the function's as `x-amzn-Remapped-<name>` (developer guide, "Amazon API
/// Gateway important notes for REST APIs", header remapping table).
const REMAPPED: [&str; 6] = [
    "connection",
    "content-length",
    "date",
    "server",
    "www-authenticate",
    "x-amzn-requestid",
];

/// Where the function is invoked.
pub enum Invoker<'a> {
    /// Through the Invoke API, on the shard's pool.
    Remote {
        pool: &'a Pool,
        target: invoke::Target<'a>,
    },
    /// On this node, by the shard's share of the hosted function's workers.
    Node {
        functions: &'a ShardFunctions,
        spec: &'a Arc<FunctionSpec>,
        qualifier: Option<&'a str>,
    },
}

/// Builds the event, invokes the function and turns its result into the reply.
pub async fn call(
    invoker: Invoker<'_>,
    buffers: &BufferPool,
    account_id: &str,
    req: &RequestView<'_>,
) -> Result<Reply<'static>, GatewayResponse> {
    let mut payload = buffers.take(2048 + req.body.map_or(0, |b| b.len() * 4 / 3));
    write_event(req, account_id, &mut payload);
    let function: Box<str> = invoker.function().into();
    let invoked = invoke(invoker, &payload, req.request_id, req.start_unix_ms).await;
    buffers.give(payload);
    let raw = invoked.map_err(|failure| failure.response(&function))?;
    let accept = req.head.header(req.base, "accept");
    match result::parse_result(&raw, accept, &req.api.binary_media_types) {
        Ok(r) => Ok(reply_of(r)),
        Err(e) => {
            tracing::warn!(%function, "Execution failed due to configuration error: Malformed Lambda proxy response: {e}");
            Err(GatewayResponse::IntegrationFailure)
        }
    }
}

/// Why an invocation returned no result payload.
#[derive(Debug)]
pub enum InvokeFailure {
    /// Through the Invoke API.
    Remote(InvokeError),
    /// On this node.
    Hosted(HostedError),
}

impl InvokeFailure {
    /// The function's own error document (`{"errorMessage": ...}`), when it ran and failed.
    pub fn function_error(&self) -> Option<&str> {
        match self {
            InvokeFailure::Remote(InvokeError::Function { body, .. })
            | InvokeFailure::Hosted(HostedError::Function { body, .. }) => Some(body),
            _ => None,
        }
    }

    /// What an integration answers for this failure (the reason goes to the log).
    pub fn response(self, function: &str) -> GatewayResponse {
        match self {
            InvokeFailure::Remote(e) => invoke_failure(function, e),
            InvokeFailure::Hosted(e) => hosted_failure(function, e),
        }
    }
}

impl std::fmt::Display for InvokeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeFailure::Remote(e) => e.fmt(f),
            InvokeFailure::Hosted(e) => e.fmt(f),
        }
    }
}

impl Invoker<'_> {
    /// The function's name or ARN, for logs.
    pub fn function(&self) -> &str {
        match self {
            Invoker::Remote { target, .. } => &target.integration.function,
            Invoker::Node { spec, .. } => &spec.name,
        }
    }
}

/// Invokes the function with `payload` and returns its result payload: the one way both
/// integrations and authorizers call a function, hosted or behind the Invoke API.
pub async fn invoke(
    invoker: Invoker<'_>,
    payload: &[u8],
    request_id: &str,
    start_unix_ms: u64,
) -> Result<Vec<u8>, InvokeFailure> {
    match invoker {
        Invoker::Remote { pool, target } => {
            let now = UNIX_EPOCH + Duration::from_millis(start_unix_ms);
            invoke::invoke(pool, target, payload, now)
                .await
                .map_err(InvokeFailure::Remote)
        }
        Invoker::Node {
            functions,
            spec,
            qualifier,
        } => functions
            .invoke(spec, qualifier, payload, request_id)
            .await
            .map_err(InvokeFailure::Hosted),
    }
}

/// What an Invoke API failure is answered with (the reason goes to the log).
fn invoke_failure(function: &str, e: InvokeError) -> GatewayResponse {
    match e {
        InvokeError::Timeout(_) => {
            tracing::warn!(%function, "Lambda invocation timed out: {e}");
            GatewayResponse::IntegrationTimeout
        }
        e => {
            tracing::warn!(%function, "Lambda invocation failed: {e}");
            GatewayResponse::IntegrationFailure
        }
    }
}

/// What a hosted invocation's failure is answered with, as API Gateway answers the same
/// Lambda failures: past the timeout 504; a handler error, a crash or a failed start 502; a
/// throttled function 500 (AWS knowledge center, "API Gateway internal server error": "If the
/// backend service is throttled ... API Gateway can return an internal server error").
fn hosted_failure(function: &str, e: HostedError) -> GatewayResponse {
    tracing::warn!(%function, "hosted Lambda invocation failed: {e}");
    match e {
        HostedError::Timeout(_) => GatewayResponse::IntegrationTimeout,
        HostedError::Throttled => GatewayResponse::InternalError,
        HostedError::Function { .. } | HostedError::Crashed(_) | HostedError::InitFailed(_) => {
            GatewayResponse::IntegrationFailure
        }
    }
}

/// The reply of a well-formed result: reserved names remapped, and `Content-Type:
/// application/json` when the function set none (what API Gateway sends then).
fn reply_of(r: result::ProxyResult) -> Reply<'static> {
    let mut has_type = false;
    let headers = r
        .headers
        .into_iter()
        .map(|(name, value)| {
            has_type |= name.eq_ignore_ascii_case("content-type");
            if REMAPPED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                (format!("x-amzn-Remapped-{name}"), value)
            } else {
                (name, value)
            }
        })
        .filter(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"))
        .collect::<Vec<_>>();
    let mut headers = headers;
    if !has_type {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    Reply {
        status: r.status,
        headers: Headers::Owned(headers),
        body: Body::Owned(r.body),
    }
}

/// The event a `REQUEST` Lambda authorizer receives for `req`: the proxy event's fields
/// without the body, led by `type` and `methodArn`.
pub fn write_authorizer_event(
    req: &RequestView<'_>,
    account_id: &str,
    method_arn: &str,
    out: &mut Vec<u8>,
) {
    write_any_event(req, account_id, Some(method_arn), out);
}

/// The payload 1.0 event of `req`.
fn write_event(req: &RequestView<'_>, account_id: &str, out: &mut Vec<u8>) {
    write_any_event(req, account_id, None, out);
}

fn write_any_event(
    req: &RequestView<'_>,
    account_id: &str,
    authorizer_method_arn: Option<&str>,
    out: &mut Vec<u8>,
) {
    let head = req.head;
    let base = req.base;
    // The gateway's forwarding headers replace the client's, as API Gateway adds them to the
    // event (`X-Forwarded-For` with the client's address appended, `X-Forwarded-Proto`; AWS's
    // "Input format" example event).
    let mut forwarded_for = Vec::new();
    let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(head.headers.len() + 2);
    for h in &head.headers {
        let (name, value) = (h.name.get(base), h.value.get(base));
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for.extend_from_slice(value);
            forwarded_for.extend_from_slice(b", ");
        } else if !name.eq_ignore_ascii_case(b"x-forwarded-proto") {
            headers.push((name, value));
        }
    }
    forwarded_for.extend_from_slice(req.source_ip.as_bytes());
    headers.push((b"X-Forwarded-For", &forwarded_for));
    let proto: &[u8] = if req.secure { b"https" } else { b"http" };
    headers.push((b"X-Forwarded-Proto", proto));
    let params: Vec<(&str, &str)> = req.params.iter().map(|(k, v)| (&**k, v.as_str())).collect();
    let vars: Vec<(&str, &str)> = req
        .stage
        .variables
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .collect();
    let content_type = head.header(base, "content-type");
    let base64_body = req.body.is_some()
        && crate::http::media::is_binary(content_type, &req.api.binary_media_types);
    let input = event::EventInput {
        resource: &req.method.resource_path,
        path: req.path,
        context_path: req.full_path,
        http_method: std::str::from_utf8(head.method.get(base)).unwrap_or("GET"),
        headers: &headers,
        raw_query: head.query.map(|q| q.get(base)),
        path_parameters: &params,
        stage_variables: &vars,
        ctx: request_context(req, account_id),
        body: req.body,
        base64_body,
        authorizer_method_arn,
    };
    event::write_event(&input, out);
}

/// The `requestContext` facts of `req` (the Lambda event's, and `$context.*` of mapping
/// templates), borrowed from the request.
pub fn request_context<'a>(
    req: &'a RequestView<'_>,
    account_id: &'a str,
) -> event::RequestContextInput<'a> {
    let head = req.head;
    let base = req.base;
    let host = head
        .host
        .map(|h| std::str::from_utf8(h.get(base)).unwrap_or(""))
        .unwrap_or("");
    let domain = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let text = |name: &str| {
        head.header(base, name)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let api_key = req
        .api_key
        .or_else(|| text("x-api-key"))
        .filter(|_| req.method.traffic.api_key_required);
    event::RequestContextInput {
        resource_id: &req.method.resource_id,
        stage: &req.stage.name,
        request_id: req.request_id,
        extended_request_id: req.request_id,
        request_time_epoch_ms: req.start_unix_ms,
        protocol: if head.minor_version == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        },
        domain_name: domain,
        domain_prefix: domain.split('.').next().unwrap_or(domain),
        api_id: &req.api.id,
        account_id,
        source_ip: req.source_ip,
        user_agent: text("user-agent"),
        deployment_id: &req.stage.deployment_id,
        is_canary: req.stage.is_canary,
        api_key,
        api_key_id: None,
        client_cert: req.client_cert.map(|c| event::ClientCertInput {
            client_cert_pem: &c.pem,
            subject_dn: &c.subject_dn,
            issuer_dn: &c.issuer_dn,
            serial_number: &c.serial_number,
            not_before: &c.not_before,
            not_after: &c.not_after,
        }),
        authorizer: req.authorizer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_result_headers_are_remapped_and_a_type_added() {
        let r = result::ProxyResult {
            status: 201,
            headers: vec![
                ("Date".into(), "yesterday".into()),
                ("X-Custom".into(), "1".into()),
                ("Transfer-Encoding".into(), "chunked".into()),
            ],
            body: b"{}".to_vec(),
        };
        let reply = reply_of(r);
        let names: Vec<(&str, &str)> = reply.headers.iter().collect();
        assert_eq!(
            names,
            vec![
                ("x-amzn-Remapped-Date", "yesterday"),
                ("X-Custom", "1"),
                ("Content-Type", "application/json")
            ]
        );
        assert_eq!(reply.status, 201);
    }
}
