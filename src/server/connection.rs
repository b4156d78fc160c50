//! The life of one client connection: wait for a request head, run the pipeline, repeat while
//! the connection may be kept alive. Pipelined requests are answered in order because each is
//! served to the end before the next head is parsed from the buffer.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::gateway_response::GatewayResponse;
use crate::http::{HttpError, Parsed};
use crate::pipeline::{self, context::RequestCtx, response_filter, Next};
use crate::server::client::ClientConn;
use crate::server::idle::{IdleSlot, Wake};
use crate::server::shard::{CatchUnwind, ShardCtx};
use crate::server::stream::ClientStream;
use crate::snapshot::Limits;
use crate::wire::WireError;

/// Why no request head could be read.
enum HeadError {
    /// The client closed, or was too slow to send the rest of the head.
    Gone,
    /// The bytes were not an acceptable HTTP/1.1 head.
    Invalid(HttpError),
}

/// Serves requests on an accepted connection (plain, or TLS after its handshake).
pub async fn serve_conn(shard: &ShardCtx, conn: &mut ClientConn) {
    let mut first = true;
    loop {
        // The wait for the request's first byte (none when pipelined bytes are already
        // here), interrupted when the shard drains.
        if conn.inbuf.pending().is_empty() {
            match fill_between_requests(shard, conn, wait_for_request(shard, first)).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
        first = false;
        // Reading the rest of the head follows the configuration current when it started.
        let limits = shard.snapshots.current().limits.clone();
        // The request runs in an allocation of its own: the connection's task then is only
        // as large as its wait between requests (the pipeline's state is ~5 KiB, which every
        // idle connection would otherwise carry; issue 19).
        let next = match box_in_place(|| serve_request(shard, conn, limits)).await {
            Served::Next(next) => next,
            // A WebSocket upgrade: the session runs in an allocation of its own, sized for
            // it, once the request's (sized for the pipeline) is freed.
            Served::WebSocket(api) => {
                let session = box_in_place(|| crate::ws::serve(shard, api, conn));
                let _ = CatchUnwind(session).await;
                return;
            }
        };
        // A response that promised keep-alive is honoured even if the drain began while it
        // was written: the next request (read with the drain's grace) is answered with
        // `Connection: close`.
        if next == Next::Close {
            return;
        }
    }
}

/// How long a connection may wait for its next request. A new connection must start its
/// request within the header timeout (as nginx's client_header_timeout); between requests the
/// longer idle timeout applies. Only the duration is kept across the wait: an idle connection
/// holds no snapshot (nor the access-log files only a replaced one writes to), nor a copy of
/// its limits.
fn wait_for_request(shard: &ShardCtx, first: bool) -> Duration {
    let limits = &shard.snapshots.current().limits;
    if first {
        limits.header_timeout.min(limits.idle_timeout)
    } else {
        limits.idle_timeout
    }
}

/// Boxes the future `make` returns, built in its allocation: `Box::pin(future)` copies the
/// whole state (~5 KiB for a request, ~500 instructions of `memcpy`, callgrind) although only
/// its arguments are set before the first poll.
fn box_in_place<F: std::future::Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    let mut slot = Box::<F>::new_uninit();
    slot.write(make());
    // SAFETY: written just above.
    Box::into_pin(unsafe { slot.assume_init() })
}

/// What a request led to.
enum Served {
    /// It was answered; the connection goes on or closes.
    Next(Next),
    /// It is a WebSocket API's upgrade (its head still parsed in the connection), for
    /// [`crate::ws::serve`].
    WebSocket(std::sync::Arc<crate::ws::WsApi>),
}

/// Reads the rest of a request head whose first bytes arrived, and serves the request.
async fn serve_request(shard: &ShardCtx, conn: &mut ClientConn, limits: Limits) -> Served {
    match read_head(conn, &limits).await {
        Ok(()) => {}
        Err(HeadError::Gone) => return Served::Next(Next::Close),
        Err(HeadError::Invalid(e)) => {
            reject(shard, conn, e, &limits).await;
            return Served::Next(Next::Close);
        }
    }
    // Route on the configuration current now, not the one current when the wait for this
    // request began: an idle keep-alive connection may have slept through a reload.
    let snapshot = shard.snapshots.current();
    let served = match crate::ws::lookup(&snapshot, &conn.head, conn.inbuf.pending()) {
        // A WebSocket API's upgrade: the session owns the connection from here, and reads
        // the snapshot current at each step (a connection open for hours holds no old
        // configuration). A `@connections` call is a request like any other.
        Some(api) if crate::ws::is_session(&conn.head, conn.inbuf.pending()) => {
            return Served::WebSocket(api);
        }
        Some(api) => {
            drop(snapshot);
            CatchUnwind(crate::ws::manage(shard, &api, conn)).await
        }
        None => CatchUnwind(pipeline::serve(shard, &snapshot, conn)).await,
    };
    Served::Next(match served {
        Ok(next) => next,
        Err(()) => {
            // A bug hit by this request: it alone gets a 500 and its connection closes (what
            // it had half-written is discarded); the shard and its other connections go on.
            tracing::error!(shard = shard.id, peer = %conn.peer, "request panicked; answered 500 and closed the connection");
            internal_error(shard, conn, &limits).await;
            Next::Close
        }
    })
}

/// Reads the request head whose first bytes are in the buffer, for up to `header_timeout`
/// from now, so a slow client cannot hold a connection. (The clock is read only for a head
/// that arrives in pieces.)
async fn read_head(conn: &mut ClientConn, limits: &Limits) -> Result<(), HeadError> {
    let mut deadline: Option<Instant> = None;
    loop {
        match conn
            .head
            .parse(conn.inbuf.pending(), limits.max_header_bytes)
        {
            Ok(Parsed::Complete) => return Ok(()),
            Ok(Parsed::Partial) => {}
            Err(e) => return Err(HeadError::Invalid(e)),
        }
        let now = Instant::now();
        let until = *deadline.get_or_insert(now + limits.header_timeout);
        let left = until.saturating_duration_since(now);
        if left.is_zero() {
            return Err(HeadError::Gone);
        }
        match conn.inbuf.fill(&mut conn.stream, left).await {
            Ok(0) | Err(_) => return Err(HeadError::Gone),
            Ok(_) => {}
        }
    }
}

/// Waits up to `wait` for more bytes from a client between requests (or before its first).
/// A drain cuts the wait short, and then the client gets what is left of the drain's grace:
/// it may have sent its next request already, or be about to (a keep-alive client cannot
/// know yet), and closing at once would race with it and fail that request; that request is
/// answered with `Connection: close`. `Ok(0)`: the client closed, or stayed silent. A
/// connection that ends parked is only closed by the caller: it holds no buffer.
pub(crate) async fn fill_between_requests(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    wait: Duration,
) -> Result<usize, WireError> {
    if !shard.is_draining() {
        match idle_wait(shard, conn, wait).await? {
            IdleEnd::Bytes(n) => return Ok(n),
            IdleEnd::Expired => return Ok(0),
            IdleEnd::Drain => {}
        }
    }
    // The waits below are boxed (once per connection, at the drain): their timers would
    // otherwise sit in every connection's task.
    if conn.is_parked() {
        // Wait for the last request without buffers: a drain wakes every parked connection
        // at once, and most will only be closed.
        let grace = shard.drain_grace_left().min(wait);
        let readable = box_in_place(|| monoio::time::timeout(grace, conn.stream.readable()));
        if readable.await.is_err() {
            return Ok(0);
        }
        conn.unpark(&shard.conn_buffers);
    }
    let grace = shard.drain_grace_left().min(wait);
    if grace.is_zero() {
        return Ok(0);
    }
    box_in_place(|| conn.inbuf.fill(&mut conn.stream, grace)).await
}

/// How a wait between requests ended.
enum IdleEnd {
    /// The read returned this many bytes (0: the client closed).
    Bytes(usize),
    /// The wait's deadline passed.
    Expired,
    /// The shard drains (the connection may be parked).
    Drain,
}

/// The wait of [`fill_between_requests`] before any drain, timed by the shard's idle wheel
/// (`server::idle`): a read with the connection's buffers while the client may be about to
/// send, then, once quiet, a wait for readiness with the buffers back in the shard's pool.
async fn idle_wait(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    wait: Duration,
) -> Result<IdleEnd, WireError> {
    let slot = conn.idle_slot();
    shard.idle.begin(&slot, wait);
    loop {
        // The drain wakes only the waits the wheel holds; one that was between two steps
        // (just woke from parking, or holds bytes) sees the drain here.
        if shard.is_draining() {
            slot.finish();
            return Ok(IdleEnd::Drain);
        }
        let read = read_until_woken(conn, &slot, wait).await;
        let woke = match read {
            Ok(0) => slot.take_wake(),
            _ => None,
        };
        match woke {
            // Woken to park in the tick that ended housekeeping, just before the drain (which
            // skips waits already woken): it drains instead, with its buffers.
            Some(Wake::Park) if shard.is_draining() => {
                slot.finish();
                return Ok(IdleEnd::Drain);
            }
            Some(Wake::Park) if conn.park(&shard.conn_buffers) => {
                match parked_wait(shard, &slot, &conn.stream).await {
                    // Bytes (or the end of the stream) are there; the read goes on under the
                    // same deadline (a TLS record may still be incomplete).
                    None => {
                        conn.unpark(&shard.conn_buffers);
                        shard.idle.hold(&slot, true);
                    }
                    Some(woke) => {
                        slot.finish();
                        return Ok(ended(woke));
                    }
                }
            }
            // Holding bytes it still needs: keep waiting with them until the deadline.
            Some(Wake::Park) => shard.idle.hold(&slot, false),
            Some(woke) => {
                slot.finish();
                return Ok(ended(woke));
            }
            None => {
                slot.finish();
                return read.map(IdleEnd::Bytes);
            }
        }
    }
}

/// What a wake other than parking ends the wait with.
fn ended(woke: Wake) -> IdleEnd {
    match woke {
        Wake::Drain => IdleEnd::Drain,
        Wake::Expired | Wake::Park => IdleEnd::Expired,
    }
}

/// One read of the idle wait, ended by the wheel through the slot's canceller.
async fn read_until_woken(
    conn: &mut ClientConn,
    slot: &IdleSlot,
    wait: Duration,
) -> Result<usize, WireError> {
    let cancel = slot.handle();
    match &mut conn.stream {
        // A plain socket's read is small enough to sit in the connection's task.
        ClientStream::Plain(socket) => conn.inbuf.fill_until_canceled(socket, cancel).await,
        // A TLS read is boxed per wait instead (record processing, post-handshake writes).
        // Those writes (an alert, a ticket) are not cancellable: the wait's own length bounds
        // them, as a timer did for every wait before the wheel.
        stream => {
            let inbuf = &mut conn.inbuf;
            let read = || monoio::time::timeout(wait, inbuf.fill_until_canceled(stream, cancel));
            match box_in_place(read).await {
                Ok(read) => read,
                Err(_) => Err(WireError::Timeout),
            }
        }
    }
}

/// Waits, holding no buffer, until the parked connection's socket is readable (`None`) or
/// the wheel wakes it for its deadline or the drain.
async fn parked_wait(shard: &ShardCtx, slot: &Rc<IdleSlot>, stream: &ClientStream) -> Option<Wake> {
    shard.idle.park(slot);
    let mut readable = std::pin::pin!(stream.readable());
    let woke = std::future::poll_fn(|cx| {
        if let Some(woke) = slot.wake() {
            return std::task::Poll::Ready(Some(woke));
        }
        if shard.is_draining() {
            return std::task::Poll::Ready(Some(Wake::Drain));
        }
        slot.set_waker(cx.waker());
        // An error (a reset socket) is "readable" too: the read that follows reports it.
        std::future::Future::poll(readable.as_mut(), cx).map(|_| None)
    })
    .await;
    shard.idle.unpark(slot);
    woke
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
