//! The life of one client connection: wait for a request head, run the pipeline, repeat while
//! the connection may be kept alive. Pipelined requests are answered in order because each is
//! served to the end before the next head is parsed from the buffer.

use std::time::{Duration, Instant};

use crate::gateway_response::GatewayResponse;
use crate::http::{HttpError, Parsed};
use crate::pipeline::{self, context::RequestCtx, response_filter, Next};
use crate::server::client::ClientConn;
use crate::server::shard::{CatchUnwind, ShardCtx};
use crate::server::stream::ClientStream;
use crate::snapshot::Limits;
use crate::wire::WireError;

/// Why no request head could be read.
enum HeadError {
    /// The client closed, went idle too long, was too slow, or the shard is draining.
    Gone,
    /// The bytes were not an acceptable HTTP/1.1 head.
    Invalid(HttpError),
}

/// Serves requests on an accepted connection (plain, or TLS after its handshake).
pub async fn serve_conn(shard: &ShardCtx, mut conn: ClientConn) {
    let mut first = true;
    loop {
        // Limits for reading the head come from the configuration current while waiting;
        // copied, so that an idle connection does not keep a replaced snapshot (and the
        // access-log files only it writes to) alive.
        let limits = shard.snapshots.current().limits.clone();
        // A new connection must start its request within the header timeout (as nginx's
        // client_header_timeout); between requests the longer idle timeout applies.
        let idle = if first {
            limits.header_timeout.min(limits.idle_timeout)
        } else {
            limits.idle_timeout
        };
        first = false;
        match read_head(shard, &mut conn, &limits, idle).await {
            Ok(()) => {}
            Err(HeadError::Gone) => return,
            Err(HeadError::Invalid(e)) => {
                reject(shard, &mut conn, e, &limits).await;
                return;
            }
        }
        // Route on the configuration current now, not the one current when the wait for this
        // request began: an idle keep-alive connection may have slept through a reload.
        let snapshot = shard.snapshots.current();
        let served = CatchUnwind(pipeline::serve(shard, &snapshot, &mut conn)).await;
        let Ok(next) = served else {
            // A bug hit by this request: it alone gets a 500 and its connection closes (what
            // it had half-written is discarded); the shard and its other connections go on.
            tracing::error!(shard = shard.id, peer = %conn.peer, "request panicked; answered 500 and closed the connection");
            internal_error(shard, &mut conn, &limits).await;
            return;
        };
        // A response that promised keep-alive is honoured even if the drain began while it
        // was written: the next request (read with the drain's grace) is answered with
        // `Connection: close`.
        if next == Next::Close {
            return;
        }
    }
}

/// Waits for the next request head: up to `idle` for its first byte (interrupted when the
/// shard drains), then up to `header_timeout` for the rest, so a slow client cannot hold a
/// connection.
async fn read_head(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    limits: &Limits,
    idle: Duration,
) -> Result<(), HeadError> {
    let mut deadline: Option<Instant> = None;
    loop {
        if !conn.inbuf.pending().is_empty() {
            let started = *deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
            match conn
                .head
                .parse(conn.inbuf.pending(), limits.max_header_bytes)
            {
                Ok(Parsed::Complete) => return Ok(()),
                Ok(Parsed::Partial) => deadline = Some(started),
                Err(e) => return Err(HeadError::Invalid(e)),
            }
        }
        let read = match deadline {
            None => fill_between_requests(shard, conn, idle).await,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(HeadError::Gone);
                }
                conn.inbuf.fill(&mut conn.stream, left).await
            }
        };
        match read {
            Ok(0) | Err(_) => return Err(HeadError::Gone),
            Ok(_) => {}
        }
    }
}

/// Waits up to `wait` for more bytes from a client between requests (or before its first).
/// A drain cuts the wait short, and then the client gets what is left of the drain's grace:
/// it may have sent its next request already, or be about to (a keep-alive client cannot
/// know yet), and closing at once would race with it and fail that request; that request is
/// answered with `Connection: close`. `Ok(0)`: the client closed, or stayed silent.
pub(crate) async fn fill_between_requests(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    wait: Duration,
) -> Result<usize, WireError> {
    if !shard.is_draining() {
        let read = conn
            .inbuf
            .fill_cancelable(&mut conn.stream, wait, shard.drain_handle())
            .await;
        // A drain cancels the wait with `Ok(0)`, as an end of stream would.
        if !matches!(read, Ok(0)) || !shard.is_draining() {
            return read;
        }
    }
    let grace = shard.drain_grace_left().min(wait);
    if grace.is_zero() {
        return Ok(0);
    }
    conn.inbuf.fill(&mut conn.stream, grace).await
}

/// Answers a request whose processing panicked with AWS's 500 and lets the caller close. An
/// HTTP/2 stream whose response had already started can only be reset.
pub(crate) async fn internal_error(shard: &ShardCtx, conn: &mut ClientConn, limits: &Limits) {
    if let ClientStream::H2(stream) = &mut conn.stream {
        if stream.started() {
            stream.reset();
            return;
        }
    }
    conn.out.clear();
    let mut ctx = RequestCtx::new(shard.random_u128(), false, false);
    let response = GatewayResponse::InternalError;
    response_filter::gateway_response(&mut conn.out, &mut ctx, &shard.date, response, 1);
    shard.metrics.record_unrouted(ctx.status);
    let _ = conn.send_out(true, limits.send_timeout).await;
    linger_close(conn).await;
}

/// Answers a head the codec refused and lets the caller close: the byte stream can no longer
/// be trusted to be in sync.
pub(crate) async fn reject(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    err: HttpError,
    limits: &Limits,
) {
    let response = GatewayResponse::from_http_error(err);
    tracing::debug!(peer = %conn.peer, "rejected request: {err}");
    let mut ctx = RequestCtx::new(shard.random_u128(), false, false);
    response_filter::gateway_response(&mut conn.out, &mut ctx, &shard.date, response, 1);
    shard.metrics.record_unrouted(ctx.status);
    let _ = conn.send_out(true, limits.send_timeout).await;
    linger_close(conn).await;
}

/// Half-closes and briefly drains what the client is still sending, so the error response is
/// not destroyed by a TCP reset caused by unread data. (An HTTP/2 stream just ends: the
/// connection goes on.)
pub async fn linger_close(conn: &mut ClientConn) {
    use monoio::io::AsyncWriteRent;
    if conn.is_h2() {
        return;
    }
    let _ = conn.stream.shutdown().await;
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        conn.inbuf.consume(usize::MAX);
        match conn.inbuf.fill(&mut conn.stream, left).await {
            Ok(0) | Err(WireError::Timeout) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
