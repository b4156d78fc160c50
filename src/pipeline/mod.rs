//! The request path, as a short pipeline of phases run for every request a shard receives:
//!
//! 1. [`request_filter`]: limits that need the parsed head, then routing (host → API, first
//!    path segment → stage, resource tree → method, with path parameters);
//!    then [`throttle_filter`]: API keys, throttles and quotas;
//!    then [`cache_filter`]: a stage cache hit answers here, a miss goes on and is stored;
//! 2. [`upstream`]: the method's integration answers (MOCK in place, HTTP_PROXY through the
//!    shard's backend pool);
//! 3. [`response_filter`]: every response head, whoever produced it, gets the gateway's
//!    headers (`Date`, `x-amzn-RequestId`, connection management, framing);
//! 4. [`observe`]: once the response is sent, the request is counted in metrics and written
//!    to the access log.
//!
//! [`context::RequestCtx`] carries what the phases share about one request.

pub mod cache_filter;
pub mod context;
pub mod observe;
pub mod proxy;
pub mod request_filter;
pub mod respond;
pub mod response_filter;
pub mod throttle_filter;
pub mod upstream;

use crate::gateway_response::GatewayResponse;
use crate::http::BodyFraming;
use crate::integration::http_proxy::RequestInfo;
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{Limits, Snapshot};
use crate::wire::{self, BodyReader, Framing, WireError};
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
    let (next, target) = answer(shard, snapshot, conn, &mut ctx).await;
    // Phase 4: report.
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
    let base = conn.inbuf.pending();
    // Test builds only: a request that asks for it panics here, to prove that a panic costs
    // that request alone (tests/panic.rs).
    #[cfg(feature = "test-faults")]
    if conn.head.header(base, "x-tollgate-test-panic").is_some() {
        panic!("test-faults: panic requested by x-tollgate-test-panic");
    }

    // Phase 1: request filter (limits, routing).
    let mut params = Params::default();
    let routed = request_filter::check_body_limit(req.framing, limits).and_then(|()| {
        let path = std::str::from_utf8(conn.head.path.get(base))
            .map_err(|_| GatewayResponse::BadRequest)?;
        let host = conn.head.host.map(|h| h.get(base));
        snapshot
            .domains
            .check_host(conn.tls_domain.as_deref(), host)?;
        let method = conn.head.method.get(base);
        request_filter::route(snapshot, host, method, path, &mut params)
    });
    let route = match routed {
        Ok(route) => route,
        Err(response) => {
            let target = observe::Target::of_error(snapshot, &conn.head, base);
            ctx.responses = target.api().and_then(|a| a.gateway_responses.clone());
            observe::capture(&mut conn.log_facts, target, &conn.head, base);
            let next = gateway_error(shard, conn, ctx, req, limits, response).await;
            return (next, target);
        }
    };
    let target = observe::Target::routed(&route);
    ctx.responses.clone_from(&route.api.gateway_responses);
    observe::capture(&mut conn.log_facts, target, &conn.head, base);

    // Phase 1a: API keys, throttles and quotas. The key header is only looked for when the
    // method needs a key or the stage logs it.
    let api_key = (route.method.traffic.api_key_required || route.stage.access_log.is_some())
        .then(|| conn.head.header(base, "x-api-key"))
        .flatten();
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

    // Phase 1b: the stage cache.
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

    // Phase 2: upstream (the integration); phase 3 (response filter) runs inside it as each
    // response head is written. Afterwards `ctx` holds what was sent (status, body bytes,
    // integration latency) for the phases that report on it.
    let prepared = upstream::prepare(
        &route.method.integration,
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
    if req.framing != BodyFraming::None {
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
    match wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout).await {
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
    let framing = match framing {
        BodyFraming::None => return Ok(()),
        BodyFraming::Length(n) => Framing::Length(n),
        BodyFraming::Chunked => Framing::Chunked,
    };
    let mut body = BodyReader::new(framing, limits.max_body_bytes);
    while body
        .next(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
        .await?
        .is_some()
    {}
    Ok(())
}
