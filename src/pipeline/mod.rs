//! The request path: the phases API Gateway runs, in its order, for every request a shard
//! receives. [`answer`] calls them top to bottom; each either lets the request go on or ends
//! it with a reply or a gateway error (answered through [`gateway_error`]):
//!
//! 1. route ([`request_filter`]): limits that need the parsed head, then host → API, first
//!    path segment → stage, resource tree → method, with path parameters;
//! 2. resource policy, 3. authorizer ([`authorize`]): the API's resource policy and the
//!    method's Lambda authorizer, combined as AWS does; the authorizer fills the request's
//!    [`Identity`](crate::exchange::Identity) in `ctx`;
//! 4. API key, throttles, quotas ([`throttle_filter`]); the key is the authorizer's
//!    `usageIdentifierKey` when the API's `apiKeySource` is `AUTHORIZER`, else `x-api-key`;
//! 5. request validation ([`validate_filter`]): required parameters, then the body against
//!    its model once an integration has it whole;
//! 6. cache lookup ([`cache_filter`]): a hit answers here, a miss is teed and stored;
//! 7. integration request → integration → integration response ([`upstream`], [`proxy`]): the
//!    leaf integrations (`integration::*`) return a reply or an error;
//! 8. respond ([`respond`], [`response_filter`], [`proxy`]'s relay): the one writer of
//!    responses: gateway headers (`Date`, `x-amzn-RequestId`), framing, `HEAD`, the cache tee;
//! 9. observe ([`observe`]): metrics and the access log, whoever answered.
//!
//! [`context::RequestCtx`] carries what the phases share about one request.

pub mod authorize;
pub mod cache_filter;
pub mod context;
pub mod mapped;
pub mod observe;
pub mod proxy;
pub mod request_filter;
pub mod respond;
pub mod response_filter;
pub mod response_reads;
pub mod throttle_filter;
pub mod upstream;
pub mod validate_filter;

use crate::gateway_response::GatewayResponse;
use crate::http::BodyFraming;
use crate::integration::http_proxy::RequestInfo;
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{Limits, Snapshot};
use crate::wire::{BodyReader, WireError};
use context::RequestCtx;
use response_filter::DateCache;

/// What the connection does after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// Serves the request whose head was just parsed into `conn.head`, through every phase, then
/// reports it (metrics, access log) whoever answered it.
pub async fn serve(shard: &ShardCtx, snapshot: &Snapshot, conn: &mut ClientConn) -> Next {
    let base = conn.inbuf.pending();
    let is_head = conn.head.method.get(base) == b"HEAD";
    let keep_alive = conn.head.keep_alive && !shard.is_draining();
    let mut ctx = RequestCtx::new(shard.random_u128(), keep_alive, is_head);
    ctx.h2 = conn.is_h2();
    let (next, target) = answer(shard, snapshot, conn, &mut ctx).await;
    // 9. Observe.
    observe::finish(shard, conn, &ctx, target);
    next
}

/// Runs the phases that produce the response; returns where the request is reported.
async fn answer<'s>(
    shard: &ShardCtx,
    snapshot: &'s Snapshot,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
) -> (Next, observe::Target<'s>) {
    let limits = &snapshot.limits;
    let req = RequestInfo::of(&conn.head);
    #[cfg(feature = "test-faults")]
    let base = conn.inbuf.pending();
    // Test builds only: a request that asks for it panics here, to prove that a panic costs
    // that request alone (tests/panic.rs).
    #[cfg(feature = "test-faults")]
    if conn.head.header(base, "x-tollgate-test-panic").is_some() {
        panic!("test-faults: panic requested by x-tollgate-test-panic");
    }
    // A stuck shard, for the watchdog test: the thread blocks, as a runaway loop or a blocking
    // call would. Never in a normal build.
    #[cfg(feature = "test-faults")]
    if let Some(ms) = conn.head.header(base, "x-tollgate-test-block-ms") {
        let ms = std::str::from_utf8(ms)
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    // An AWS_IAM method's signature covers its body: read it into the receive buffer before
    // routing borrows that buffer (only when some method is AWS_IAM and the request has a
    // body, so other requests pay one flag test).
    if snapshot.has_iam_methods && req.framing != BodyFraming::None {
        if let Err(response) = authorize::read_signed_body(shard, snapshot, conn, req).await {
            let target = observe::Target::of_error(
                snapshot,
                &conn.head,
                conn.inbuf.pending(),
                req.canary_draw,
            );
            return match response {
                Some(response) => {
                    ctx.keep_alive = false;
                    let next = gateway_error(shard, conn, ctx, req, limits, response).await;
                    (next, target)
                }
                None => (Next::Close, target),
            };
        }
    }
    let base = conn.inbuf.pending();

    // 1. Route.
    let mut params = Params::default();
    let routed = request_filter::check_body_limit(req.framing, limits).and_then(|()| {
        let path = std::str::from_utf8(conn.head.path.get(base))
            .map_err(|_| GatewayResponse::BadRequest)?;
        let host = conn.head.host.map(|h| h.get(base));
        snapshot
            .domains
            .check_host(conn.tls_domain.as_deref(), host)?;
        let method = conn.head.method.get(base);
        request_filter::route(snapshot, host, method, path, &mut params, req.canary_draw)
    });
    let route = match routed {
        Ok(route) => route,
        Err(response) => {
            let target = observe::Target::of_error(snapshot, &conn.head, base, req.canary_draw);
            ctx.responses = target.api().and_then(|a| a.gateway_responses.clone());
            // The console's "Enable CORS" puts the header on the API's DEFAULT_4XX and
            // DEFAULT_5XX gateway responses, which answer unrouted requests too.
            if let Some(cors) = target.api().and_then(|a| a.cors.as_ref()) {
                ctx.cors = cors.answer(conn.head.header(base, "origin"));
            }
            capture_reads(snapshot, conn, base, &target, &params, ctx);
            observe::capture(&mut conn.log_facts, target, &conn.head, base);
            let next = gateway_error(shard, conn, ctx, req, limits, response).await;
            return (next, target);
        }
    };
    let target = observe::Target::routed(&route);
    ctx.responses.clone_from(&route.api.gateway_responses);
    capture_reads(snapshot, conn, base, &target, &params, ctx);
    if let (true, Some(cors)) = (route.method.cors, &route.api.cors) {
        ctx.cors = cors.answer(conn.head.header(base, "origin"));
    }
    observe::capture(&mut conn.log_facts, target, &conn.head, base);

    // 2. Resource policy and 3. authorizer.
    if authorize::needed(&route) {
        let body = match (route.method.authorization, req.framing) {
            (crate::auth::Authorization::Iam, BodyFraming::Length(n)) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                base.get(req.head_len..req.head_len.saturating_add(n))
                    .unwrap_or(&[])
            }
            _ => &[],
        };
        let caller = authorize::Caller {
            peer: conn.peer,
            secure: conn.secure,
            client_cert: conn.client_cert.as_deref(),
            body,
        };
        let decided = authorize::check(
            shard, snapshot, &route, &conn.head, base, &params, caller, ctx,
        )
        .await;
        if let Err(response) = decided {
            let next = gateway_error(shard, conn, ctx, req, limits, response).await;
            return (next, target);
        }
    }

    // 4. API key, throttles and quotas. With apiKeySource AUTHORIZER the key is the
    // authorizer's usageIdentifierKey and only that ("the API key ... is returned from a
    // Lambda authorizer", developer guide, "Choose an API key source"); otherwise the header,
    // looked for only when the method needs a key or the stage logs it.
    let from_authorizer = match route.api.auth.api_key_source {
        crate::auth::ApiKeySource::Authorizer => ctx.identity.usage_identifier_key.clone(),
        crate::auth::ApiKeySource::Header => None,
    };
    let api_key = match (&from_authorizer, route.api.auth.api_key_source) {
        (Some(key), _) => Some(key.as_bytes()),
        (None, crate::auth::ApiKeySource::Authorizer) => None,
        (None, crate::auth::ApiKeySource::Header) => (route.method.traffic.api_key_required
            || route.stage.access_log.is_some())
        .then(|| conn.head.header(base, "x-api-key"))
        .flatten(),
    };
    if let Some(key) = api_key.and_then(|k| std::str::from_utf8(k).ok()) {
        ctx.set_api_key(key);
    }
    if let Err(refusal) = throttle_filter::check(shard.id, snapshot, &route, api_key) {
        if let Some(level) = refusal.level {
            shard.metrics.record_throttled(level);
        }
        let next = gateway_error(shard, conn, ctx, req, limits, refusal.response).await;
        return (next, target);
    }

    // 5. Request validation: the required parameters here; the body where it is read whole.
    let validation = route.method.validation.as_deref();
    if let Err(response) = validate_filter::parameters(validation, &conn.head, base, ctx) {
        let next = gateway_error(shard, conn, ctx, req, limits, response).await;
        return (next, target);
    }

    // 6. The stage cache.
    let lookup = cache_filter::lookup(shard, &route, &conn.head, base, &params, ctx).await;
    let fill = match lookup {
        cache_filter::Lookup::Bypass => None,
        cache_filter::Lookup::Miss(fill) => {
            cache_filter::begin(&fill, ctx);
            Some(fill)
        }
        cache_filter::Lookup::Hit { entry, warn } => {
            let next = cache_filter::answer(shard, conn, ctx, req, limits, entry, warn).await;
            return (next, target);
        }
        cache_filter::Lookup::Deny => {
            let response = GatewayResponse::AccessDenied;
            let next = gateway_error(shard, conn, ctx, req, limits, response).await;
            return (next, target);
        }
    };

    // 7. Integration request, integration, integration response; 8. respond (inside: the one
    // responder writes the reply, or the proxy relay streams it). Afterwards `ctx` holds what
    // was sent (status, body bytes, integration latency) for the report.
    let reads_body = validation.is_some_and(|v| !v.body_models.is_empty());
    let prepared = upstream::prepare(
        shard,
        &route.method.integration,
        reads_body,
        &params,
        &conn.head,
        base,
        crate::integration::http_proxy::Downstream {
            peer: conn.peer,
            secure: conn.secure,
        },
        &mut conn.upstream_head,
    );
    let next = upstream::call(shard, conn, prepared, ctx, req, snapshot, &route).await;
    if let Some(fill) = fill {
        cache_filter::store(shard, fill, ctx);
    }
    (next, target)
}

/// Keeps what the API's gateway responses read of the request (nothing, for most APIs).
fn capture_reads(
    snapshot: &Snapshot,
    conn: &ClientConn,
    base: &[u8],
    target: &observe::Target<'_>,
    params: &Params<'_, '_>,
    ctx: &mut RequestCtx,
) {
    let Some(responses) = ctx.responses.as_deref().filter(|r| !r.reads().is_empty()) else {
        return;
    };
    let seen = response_reads::Seen {
        head: &conn.head,
        base,
        target,
        params,
        peer: conn.peer.ip(),
        account_id: &snapshot.lambda.account_id,
    };
    ctx.response_values = response_reads::capture(responses, &seen, ctx);
}

/// Answers with a gateway response (403 for no route, 413, 400 ...).
async fn gateway_error(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    limits: &Limits,
    response: GatewayResponse,
) -> Next {
    if response == GatewayResponse::RequestTooLong || response.closes_connection() {
        // The announced body will not be read: the connection cannot continue.
        ctx.keep_alive = false;
    }
    let minor = req.minor_version;
    local_response(shard, conn, ctx, req, limits, |out, ctx, date| {
        response_filter::gateway_response(out, ctx, date, response, minor)
    })
    .await
}

/// Sends a response the gateway produces itself (mock, gateway response). The request body,
/// if any, is read and discarded first so the connection stays usable; a client waiting for
/// `100 Continue` is not asked for its body and the connection closes instead.
pub(crate) async fn local_response(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    limits: &Limits,
    write: impl FnOnce(&mut Vec<u8>, &mut RequestCtx, &DateCache),
) -> Next {
    conn.inbuf.consume(req.head_len);
    let mut write = Some(write);
    // An HTTP/2 stream's unread body is refused by ending the stream (h2 resets it).
    if req.framing != BodyFraming::None && !ctx.h2 {
        if req.expect_continue || !ctx.keep_alive {
            ctx.keep_alive = false;
        } else if let Err(e) = discard_body(conn, req.framing, limits).await {
            ctx.keep_alive = false;
            let response = match e {
                WireError::TooLarge => GatewayResponse::RequestTooLong,
                WireError::Http(err) => GatewayResponse::from_http_error(err),
                _ => return Next::Close,
            };
            write = None;
            response_filter::gateway_response(
                &mut conn.out,
                ctx,
                &shard.date,
                response,
                req.minor_version,
            );
        }
    }
    if let Some(write) = write {
        write(&mut conn.out, ctx, &shard.date);
    }
    send_response(conn, ctx, limits).await
}

/// Sends the whole response staged in `conn.out`; closes (after a linger, so the client reads
/// the response before the reset its unread bytes would cause) when the connection cannot go
/// on.
pub(crate) async fn send_response(
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    limits: &Limits,
) -> Next {
    match conn.send_out(true, limits.send_timeout).await {
        Ok(()) if ctx.keep_alive => Next::KeepAlive,
        Ok(()) => {
            ctx.sent_at = Some(std::time::Instant::now());
            crate::server::connection::linger_close(conn).await;
            Next::Close
        }
        Err(_) => Next::Close,
    }
}

/// Reads and drops a request body, enforcing the payload limit.
async fn discard_body(
    conn: &mut ClientConn,
    framing: BodyFraming,
    limits: &Limits,
) -> Result<(), WireError> {
    let mut body = BodyReader::new(framing.reader(), limits.max_body_bytes);
    while body
        .next(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
        .await?
        .is_some()
    {}
    Ok(())
}
