//! Phase 2: the routed method's integration produces the response.
//!
//! Split in two steps because of ownership: [`prepare`] runs while the request head is still
//! borrowed from the receive buffer (it copies what the integration needs: the backend request
//! line for `HTTP_PROXY`, the head and path parameters for `AWS_PROXY`), then [`call`] owns
//! the connection for the exchange. Leaf integrations (`MOCK`, `AWS_PROXY`) return a
//! [`Reply`](crate::exchange::Reply) that the responder writes; `HTTP_PROXY` streams.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::auth::ApiKeySource;
use crate::exchange::Request;
use crate::exchange::RequestView;
use crate::gateway_response::GatewayResponse;
use crate::http::{BodyFraming, RequestHead};
use crate::integration::aws_proxy;
use crate::integration::{http_proxy, mock};
use crate::pipeline::context::RequestCtx;
use crate::pipeline::request_filter::Route;
use crate::pipeline::{
    local_response, proxy, respond, response_filter, send_response, validate_filter, Next,
};
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{
    AwsProxyIntegration, FunctionHost, HttpProxyIntegration, Integration, Limits,
    MappedIntegration, MockIntegration, Snapshot,
};
use crate::upstream::invoke;
use crate::wire::{self, BodyReader, WireError};

/// An integration ready to run, detached from the receive buffer.
#[derive(Debug)]
pub enum Prepared<'s> {
    /// Answer from configuration; with the request copied when its body is validated (it is
    /// read whole first).
    Mock(&'s MockIntegration, Option<Request>),
    /// Forward; the backend request head is already in `ClientConn::upstream_head`.
    Proxy(&'s HttpProxyIntegration),
    /// Invoke a function with the request as its event: it needs the head and the whole
    /// body at once, so the head is copied into a pooled [`Request`].
    Lambda(&'s AwsProxyIntegration, Request),
    /// A non-proxy integration: the mapping reads the whole request, so it is copied too.
    Mapped(&'s MappedIntegration, Request),
}

/// Copies what the integration needs out of the borrowed request. `reads_body`: the method
/// validates bodies, so even a `MOCK` reads the body whole.
#[allow(clippy::too_many_arguments)]
pub fn prepare<'s>(
    shard: &ShardCtx,
    integration: &'s Integration,
    reads_body: bool,
    params: &Params<'_, '_>,
    head: &RequestHead,
    base: &[u8],
    from: http_proxy::Downstream,
    upstream_head: &mut Vec<u8>,
) -> Prepared<'s> {
    // The head (and later the body) in a pooled buffer, for integrations that read it whole.
    let copy = || {
        let buf = shard.buffers.take(head.head_len + 1024);
        Request::new(buf, &base[..head.head_len], params)
    };
    match integration {
        Integration::Mock(m) => Prepared::Mock(m, reads_body.then(copy)),
        Integration::HttpProxy(p) => {
            http_proxy::write_request_head(upstream_head, p, params, head, base, from);
            Prepared::Proxy(p)
        }
        Integration::AwsProxy(l) => Prepared::Lambda(l, copy()),
        Integration::Mapped(m) => Prepared::Mapped(m, copy()),
    }
}

/// Runs the integration and answers the client.
pub async fn call(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    prepared: Prepared<'_>,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    snapshot: &Snapshot,
    route: &Route<'_>,
) -> Next {
    let limits = &snapshot.limits;
    match prepared {
        Prepared::Mock(m, None) => {
            local_response(shard, conn, ctx, req, limits, |out, ctx, date| {
                respond::write_reply(out, ctx, date, &mock::reply(m), req.minor_version)
            })
            .await
        }
        Prepared::Mock(m, Some(mut request)) => {
            let next = validated_mock(shard, conn, m, &mut request, ctx, req, limits, route).await;
            shard.buffers.give(request.into_buffer());
            next
        }
        Prepared::Proxy(p) => {
            let buffer = route.stage.request_buffer_bytes(route.method, limits);
            let base = conn.inbuf.pending();
            let model =
                validate_filter::model(route.method.validation.as_deref(), &conn.head, base);
            proxy::forward(shard, conn, p, ctx, req, snapshot, buffer, model).await
        }
        Prepared::Lambda(l, mut request) => {
            let next = lambda(shard, conn, l, &mut request, ctx, req, snapshot, route).await;
            shard.buffers.give(request.into_buffer());
            next
        }
        Prepared::Mapped(m, mut request) => {
            let next =
                super::mapped::serve(shard, conn, m, &mut request, ctx, req, snapshot, route).await;
            shard.buffers.give(request.into_buffer());
            next
        }
    }
}

/// `AWS_PROXY`: reads the body whole, invokes the function, answers with its result.
#[allow(clippy::too_many_arguments)]
async fn lambda(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    integration: &AwsProxyIntegration,
    request: &mut Request,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    snapshot: &Snapshot,
    route: &Route<'_>,
) -> Next {
    let limits = &snapshot.limits;
    if let Err(next) = read_whole(shard, conn, request, ctx, req, limits, route).await {
        return next;
    }
    let mut ip = [0u8; 64];
    let source_ip = crate::http::write_ip(&mut ip, conn.peer.ip());
    let call = view(conn, request, ctx, route, source_ip);
    let invoker = invoker(shard, snapshot, integration);
    let started = Instant::now();
    let account = &snapshot.lambda.account_id;
    let outcome = aws_proxy::call(invoker, &shard.buffers, account, &call).await;
    ctx.integration_latency = Some(started.elapsed());
    match outcome {
        Ok(reply) => {
            respond::write_reply(&mut conn.out, ctx, &shard.date, &reply, req.minor_version)
        }
        Err(response) => response_filter::gateway_response(
            &mut conn.out,
            ctx,
            &shard.date,
            response,
            req.minor_version,
        ),
    }
    send_response(conn, ctx, limits).await
}

/// A `MOCK` whose method validates bodies: the body is read whole and checked first.
#[allow(clippy::too_many_arguments)]
async fn validated_mock(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    mock: &MockIntegration,
    request: &mut Request,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    limits: &Limits,
    route: &Route<'_>,
) -> Next {
    if let Err(next) = read_whole(shard, conn, request, ctx, req, limits, route).await {
        return next;
    }
    let minor = req.minor_version;
    respond::write_reply(&mut conn.out, ctx, &shard.date, &mock::reply(mock), minor);
    send_response(conn, ctx, limits).await
}

/// Reads the body whole into `request` (the head is consumed first) and checks it against
/// the method's model; `Err(next)`: the request was answered (or the client left).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn read_whole(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    request: &mut Request,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    limits: &Limits,
    route: &Route<'_>,
) -> Result<(), Next> {
    conn.inbuf.consume(req.head_len);
    let refused = match buffer_body(conn, req, limits, request).await {
        Ok(()) => check_body(conn, request, ctx, route).err(),
        Err(None) => return Err(Next::Close),
        Err(Some(response)) => {
            ctx.keep_alive = false;
            Some(response)
        }
    };
    match refused {
        None => Ok(()),
        Some(response) => Err(send_gateway_response(shard, conn, ctx, req, limits, response).await),
    }
}

/// The buffered body against the method's model (phase 5, for buffering integrations).
fn check_body(
    conn: &ClientConn,
    request: &Request,
    ctx: &mut RequestCtx,
    route: &Route<'_>,
) -> Result<(), GatewayResponse> {
    let validation = route.method.validation.as_deref();
    let model = validate_filter::model(validation, &conn.head, request.base());
    validate_filter::body(model, request.body().unwrap_or(&[]), ctx)
}

/// The buffered request as integrations read it.
pub(crate) fn view<'a>(
    conn: &'a ClientConn,
    request: &'a Request,
    ctx: &'a RequestCtx,
    route: &'a Route<'_>,
    source_ip: &'a str,
) -> RequestView<'a> {
    let base = request.base();
    let full_path = std::str::from_utf8(conn.head.path.get(base)).unwrap_or("/");
    RequestView {
        head: &conn.head,
        base,
        full_path,
        path: route.stage_path(full_path),
        params: request.params(),
        api: route.api,
        stage: route.stage,
        method: route.method,
        request_id: std::str::from_utf8(&ctx.request_id).unwrap_or(""),
        source_ip,
        start_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        body: request.body(),
        client_cert: conn.client_cert.as_deref(),
        secure: conn.secure,
        authorizer: ctx.identity.is_authorized().then_some(&ctx.identity),
        api_key: match route.api.auth.api_key_source {
            ApiKeySource::Authorizer => ctx.identity.usage_identifier_key.as_deref(),
            ApiKeySource::Header => None,
        },
    }
}

/// How `function` is invoked from this shard: by its hosted workers, or through the region's
/// Invoke API on the shard's pool (for `AWS_PROXY` integrations and Lambda authorizers alike).
pub fn invoker<'a>(
    shard: &'a ShardCtx,
    snapshot: &'a Snapshot,
    function: &'a AwsProxyIntegration,
) -> aws_proxy::Invoker<'a> {
    match &function.host {
        FunctionHost::Remote(endpoint) => aws_proxy::Invoker::Remote {
            pool: &shard.pool,
            target: invoke::Target {
                integration: function,
                endpoint,
                lambda: &snapshot.lambda,
                tls: snapshot.backend_tls.as_deref(),
                limits: &snapshot.limits,
                keys: &shard.signing_keys,
                buffers: &shard.buffers,
            },
        },
        FunctionHost::Node { spec, qualifier } => aws_proxy::Invoker::Node {
            functions: &shard.functions,
            spec,
            qualifier: qualifier.as_deref(),
        },
    }
}

/// Reads a whole request body (up to the payload limit) into `request`, after `100 Continue`
/// if the client waits for it. `Err(Some(..))`: the response to send (the connection then
/// closes); `Err(None)`: the client went away.
pub async fn buffer_body(
    conn: &mut ClientConn,
    req: http_proxy::RequestInfo,
    limits: &Limits,
    request: &mut Request,
) -> Result<(), Option<GatewayResponse>> {
    if req.framing == BodyFraming::None {
        request.no_body();
        return Ok(());
    }
    if req.expect_continue && conn.inbuf.pending().is_empty() {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
            .await
            .map_err(|_| None)?;
    }
    let mut reader = BodyReader::new(req.framing.reader(), limits.max_body_bytes);
    let expected = match req.framing {
        BodyFraming::Length(n) => usize::try_from(n).unwrap_or(0),
        _ => 0,
    };
    let body = request.body_buffer(expected);
    loop {
        match reader
            .next(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
            .await
        {
            Ok(Some((s, e))) => body.extend_from_slice(&conn.inbuf.raw()[s..e]),
            Ok(None) => break,
            Err(WireError::TooLarge) => return Err(Some(GatewayResponse::RequestTooLong)),
            Err(WireError::Http(e)) => return Err(Some(GatewayResponse::from_http_error(e))),
            Err(_) => return Err(None),
        }
    }
    request.body_read();
    Ok(())
}

/// Writes a gateway response and flushes it.
async fn send_gateway_response(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    limits: &Limits,
    response: GatewayResponse,
) -> Next {
    let minor = req.minor_version;
    response_filter::gateway_response(&mut conn.out, ctx, &shard.date, response, minor);
    send_response(conn, ctx, limits).await
}
