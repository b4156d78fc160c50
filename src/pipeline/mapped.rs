//! Phase 7 for the non-proxy integrations (`MOCK` with templates, `HTTP`, `AWS` for Lambda):
//! integration request (`mapping::request`) → the backend → integration response
//! (`mapping::response`), then the one responder writes the reply.
//!
//! The body is read whole first: templates read it, and the backend's answer is read whole
//! too, since a response template may reshape it. A mapping that fails is that request's
//! 415, 400 or 500 alone; why it failed goes to the log, as AWS's execution log says it.

use std::time::{Duration, Instant};

use crate::exchange::{Reply, Request, RequestView};
use crate::gateway_response::GatewayResponse;
use crate::http::media::is_binary;
use crate::http::{percent_encode, write_header};
use crate::integration::aws_proxy;
use crate::integration::http_proxy::RequestInfo;
use crate::mapping::binary;
use crate::mapping::bindings::Env;
use crate::mapping::request::{IntegrationRequest, MappingError};
use crate::mapping::response::{self, BackendAnswer};
use crate::pipeline::context::RequestCtx;
use crate::pipeline::request_filter::Route;
use crate::pipeline::upstream::{invoker, read_whole, view};
use crate::pipeline::{respond, response_filter, send_response, Next};
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{HttpProxyIntegration, MappedBackend, MappedIntegration, Snapshot, UriPart};
use crate::template::Budget;
use crate::upstream::client::{self, CallError};

/// Largest backend answer read (API Gateway's 10 MB payload quota).
const MAX_ANSWER: u64 = 10 * 1024 * 1024;

/// Why the exchange produced no reply.
enum Failed {
    /// The mapping refused or failed the request.
    Mapping(MappingError),
    /// The backend failed (timeout, unreachable, a Lambda invocation error).
    Gateway(GatewayResponse),
}

impl From<MappingError> for Failed {
    fn from(e: MappingError) -> Self {
        Failed::Mapping(e)
    }
}

/// Reads the body, runs the mapping and the backend, answers the client.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    integration: &MappedIntegration,
    request: &mut Request,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    snapshot: &Snapshot,
    route: &Route<'_>,
) -> Next {
    let limits = &snapshot.limits;
    if let Err(next) = read_whole(shard, conn, request, ctx, req, limits, route).await {
        return next;
    }
    let mut ip = [0u8; 64];
    let source_ip = crate::http::write_ip(&mut ip, conn.peer.ip());
    let view = view(conn, request, ctx, route, source_ip);
    let mut latency = None;
    let outcome = exchange(shard, snapshot, integration, &view, &mut latency).await;
    ctx.integration_latency = latency;
    let minor = req.minor_version;
    match outcome {
        Ok(reply) => respond::write_reply(&mut conn.out, ctx, &shard.date, &reply, minor),
        Err(failed) => {
            let response = match failed {
                Failed::Gateway(r) => r,
                Failed::Mapping(e) => {
                    tracing::warn!(api = %route.api.id, method = %route.method.http_method, resource = %route.method.resource_path, "{e}");
                    ctx.error_message = e.client_message().map(Into::into);
                    e.response()
                }
            };
            response_filter::gateway_response(&mut conn.out, ctx, &shard.date, response, minor);
        }
    }
    send_response(conn, ctx, limits).await
}

/// Integration request, backend, integration response.
async fn exchange(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    integration: &MappedIntegration,
    view: &RequestView<'_>,
    latency: &mut Option<Duration>,
) -> Result<Reply<'static>, Failed> {
    let mapping = &*integration.mapping;
    let budget = Budget::default();
    let facts = aws_proxy::request_context(view, &snapshot.lambda.account_id);
    let header = |name| view.head.header(view.base, name);
    let types = &view.api.binary_media_types;
    let content_type = header("content-type");
    let payload = binary::request(
        view.body.unwrap_or(&[]),
        is_binary(content_type, types),
        mapping.content_handling,
    )?;
    let mut env = Env::new(view, &facts, &payload.bytes);
    let sent =
        crate::mapping::request::run(mapping, &mut env, content_type, payload.binary, budget)?;
    let started = Instant::now();
    let answered = backend(
        shard,
        snapshot,
        &integration.backend,
        view,
        &payload.bytes,
        &sent,
    )
    .await;
    if !matches!(integration.backend, MappedBackend::Mock) {
        *latency = Some(started.elapsed());
    }
    let answered = answered?;
    let answer = BackendAnswer {
        binary_media_types: types,
        selector: answered.selector.as_deref(),
        headers: &answered.headers,
        body: &answered.body,
    };
    Ok(response::run(
        mapping,
        env,
        answer,
        header("accept"),
        budget,
    )?)
}

/// What a backend answered, as the integration response selects and maps it.
struct Answered {
    /// The selection value (`None`: only the default response applies).
    selector: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Calls the integration's backend with what the integration request produced.
async fn backend(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    backend: &MappedBackend,
    view: &RequestView<'_>,
    body: &[u8],
    sent: &IntegrationRequest,
) -> Result<Answered, Failed> {
    match backend {
        // The request template's `statusCode` selects; without a template the default
        // integration response answers (developer guide, "Set up mock integrations":
        // "return the default integration response without defining the integration
        // request mapping template"). The mock endpoint's body is empty.
        MappedBackend::Mock => Ok(Answered {
            selector: match &sent.body {
                Some(rendered) => Some(response::mock_status(rendered)?.to_string()),
                None => None,
            },
            headers: Vec::new(),
            body: Vec::new(),
        }),
        MappedBackend::Http { target, method } => {
            let mut out = shard.buffers.take(1024 + body.len());
            write_http_request(&mut out, target, method, view, body, sent);
            let endpoint = client::Endpoint {
                addr: target.addr,
                tls_name: &target.tls_name,
                tls: snapshot.backend_tls.as_deref(),
                limits: &snapshot.limits,
            };
            let called =
                client::call(&shard.pool, endpoint, &mut out, target.timeout, MAX_ANSWER).await;
            shard.buffers.give(out);
            let answer = called.map_err(|e| {
                tracing::warn!(backend = %target.host_header, "HTTP integration failed: {e}");
                Failed::Gateway(match e {
                    CallError::Timeout => GatewayResponse::IntegrationTimeout,
                    _ => GatewayResponse::NetworkError,
                })
            })?;
            Ok(Answered {
                selector: Some(answer.status.to_string()),
                headers: answer.headers,
                body: answer.body,
            })
        }
        MappedBackend::Lambda(function) => {
            // Passed through without a template; an empty body is the event `{}`
            // (LocalStack's AWS-validated `test_apigateway_header_remapping_aws`).
            let payload = match &sent.body {
                Some(rendered) => rendered.as_bytes(),
                None if body.is_empty() => b"{}",
                None => body,
            };
            let invoker = invoker(shard, snapshot, function);
            let invoked =
                aws_proxy::invoke(invoker, payload, view.request_id, view.start_unix_ms).await;
            match invoked {
                // A success's selection value is "" (`.+` does not match it; LocalStack
                // issue #12574, observed on AWS).
                Ok(result) => Ok(Answered {
                    selector: Some(String::new()),
                    headers: Vec::new(),
                    body: result,
                }),
                // The function's error selects by its `errorMessage`, and its error document
                // is the body the response maps (developer guide, "Handle Lambda errors in
                // API Gateway").
                Err(failure) => match failure.function_error() {
                    Some(doc) => Ok(Answered {
                        selector: Some(error_message(doc)),
                        headers: Vec::new(),
                        body: doc.as_bytes().to_vec(),
                    }),
                    None => Err(Failed::Gateway(failure.response(&function.function))),
                },
            }
        }
    }
}

/// The `errorMessage` of a Lambda error document (`""` when it has none).
fn error_message(doc: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(serde_json::Value::Object(map)) => match map.get("errorMessage") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        },
        _ => String::new(),
    }
}

/// The request an `HTTP` integration sends: `integrationHttpMethod` (`ANY`: the client's),
/// the URI with its `{name}`s from `integration.request.path.*` (else the method's path
/// parameter of that name), the URI's query then `integration.request.querystring.*`, and
/// only the mapped headers (a non-proxy integration passes nothing else of the client's).
fn write_http_request(
    out: &mut Vec<u8>,
    target: &HttpProxyIntegration,
    method: &str,
    view: &RequestView<'_>,
    body: &[u8],
    sent: &IntegrationRequest,
) {
    out.clear();
    let method = if method == "ANY" {
        view.head.method.get(view.base)
    } else {
        method.as_bytes()
    };
    out.extend_from_slice(method);
    out.push(b' ');
    let mut has_query = false;
    for part in &target.path.parts {
        match part {
            UriPart::Literal(s) => {
                has_query |= s.contains('?');
                out.extend_from_slice(s.as_bytes());
            }
            UriPart::Param(name) => {
                let mapped = sent.path.iter().rev().find(|(n, _)| **n == **name);
                match mapped {
                    Some((_, v)) => percent_encode(out, v.as_bytes(), PATH_SAFE),
                    None => {
                        let raw = view.params.iter().find(|(n, _)| **n == **name);
                        out.extend_from_slice(raw.map_or("", |(_, v)| v.as_str()).as_bytes());
                    }
                }
            }
        }
    }
    for (name, value) in &sent.query {
        out.push(if has_query { b'&' } else { b'?' });
        has_query = true;
        percent_encode(out, name.as_bytes(), b"");
        out.push(b'=');
        percent_encode(out, value.as_bytes(), b"");
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, b"Host", target.host_header.as_bytes());
    let (mut has_type, mut has_accept, mut has_agent) = (false, false, false);
    for (name, value) in &sent.headers {
        let lower = name.to_ascii_lowercase();
        // Mapped hop-by-hop headers, `Via` and `Expect` are dropped, as AWS drops them
        // (LocalStack's AWS-validated `TestApiGatewayHeaderRemapping`, "full-integration").
        if crate::http::is_hop_by_hop(lower.as_bytes())
            || matches!(lower.as_str(), "host" | "content-length" | "expect" | "via")
            || value.contains(['\r', '\n'])
        {
            continue;
        }
        has_type |= lower == "content-type";
        has_accept |= lower == "accept";
        has_agent |= lower == "user-agent";
        write_header(out, name.as_bytes(), value.as_bytes());
    }
    // What API Gateway sends of its own (AWS-validated `test_http_integration_with_lambda
    // [HTTP]` and header remapping "no-param-integration": the client's Accept and
    // User-Agent are replaced unless mapped).
    if !has_accept {
        write_header(out, b"Accept", b"application/json");
    }
    if !has_agent {
        let mut agent = b"AmazonAPIGateway_".to_vec();
        agent.extend_from_slice(view.api.id.as_bytes());
        write_header(out, b"User-Agent", &agent);
    }
    write_header(out, b"X-Amzn-Apigateway-Api-Id", view.api.id.as_bytes());
    let body = match &sent.body {
        Some(rendered) => rendered.as_bytes(),
        None => body,
    };
    if !has_type && !body.is_empty() {
        let content_type = view
            .head
            .header(view.base, "content-type")
            .unwrap_or(b"application/json");
        write_header(out, b"Content-Type", content_type);
    }
    if !body.is_empty() || matches!(method, b"POST" | b"PUT" | b"PATCH") {
        let mut digits = itoa::Buffer::new();
        write_header(out, b"Content-Length", digits.format(body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Characters a mapped path value keeps unencoded besides the unreserved ones.
const PATH_SAFE: &[u8] = b"!$&'()*+,;=:@";
