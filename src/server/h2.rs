//! HTTP/2 downstream (RFC 9113) with the `h2` crate: over TLS when ALPN picks `h2`, and as
//! h2c with prior knowledge on plain listeners (the connection starts with the preface).
//!
//! Each stream is served by the same pipeline as HTTP/1.1 requests, natively: its head is
//! filled from the decoded fields (`RequestHead::from_h2`), its body read from DATA frames
//! and its response sent as fields and DATA ([`H2Stream`]), both paced by HTTP/2 flow
//! control. Routing, limits, gateway responses and integrations are shared; backends stay
//! HTTP/1.1.
//!
//! Limits protect the shard: at most [`MAX_STREAMS`] concurrent streams, header lists of at
//! most [`MAX_HEADER_LIST`] bytes (which also bounds CONTINUATION floods), bounded windows and
//! send buffers; the h2 crate answers rapid-reset and locally-reset floods with GOAWAY
//! (`max_pending_accept_reset_streams`, `max_local_error_reset_streams`), keeps at most one
//! pending PING/SETTINGS acknowledgement, and each connection is its own task, so a
//! misbehaving client only loses its own connection.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use monoio::net::TcpStream;

use crate::pipeline;
use crate::server::client::ClientConn;
use crate::server::connection;
use crate::server::h2_io::H2Io;
use crate::server::h2_stream::H2Stream;
use crate::server::https::TlsInfo;
use crate::server::shard::{CatchUnwind, ShardCtx};
use crate::server::stream::ClientStream;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Concurrent streams a client may open.
pub const MAX_STREAMS: u32 = 128;
/// Largest header list accepted (decoded size, as HTTP/2 counts it).
pub const MAX_HEADER_LIST: u32 = 16 * 1024;
/// Per-stream receive window.
const STREAM_WINDOW: u32 = 256 * 1024;
/// Connection receive window.
const CONN_WINDOW: u32 = 1024 * 1024;
/// Streams reset by the client before the gateway accepted them, beyond which the client is
/// sent GOAWAY (rapid reset, CVE-2023-44487).
const MAX_PENDING_RESETS: usize = 32;
/// Streams the gateway had to reset for protocol errors before it sends GOAWAY.
const MAX_LOCAL_RESETS: usize = 1024;
/// Receive buffer of a stream (its head, then body pieces; grows for large heads).
const STREAM_BUF: usize = 4096;
/// How often an idle or draining connection is looked at.
const TICK: Duration = Duration::from_millis(250);

/// Whether `received` (the first bytes of a plain connection) can still be the preface;
/// `Some(true)` once all of it is there.
pub fn preface_state(received: &[u8]) -> Option<bool> {
    let n = received.len().min(PREFACE.len());
    if received[..n] != PREFACE[..n] {
        return None;
    }
    Some(n == PREFACE.len())
}

/// Serves a plain connection: h2c when it opens with the HTTP/2 preface, HTTP/1.1 otherwise.
pub async fn serve_plain(shard: &Rc<ShardCtx>, socket: TcpStream, peer: SocketAddr) {
    let mut conn = ClientConn::new(ClientStream::Plain(socket), peer);
    let deadline = {
        let limits = &shard.snapshots.current().limits;
        Instant::now() + limits.header_timeout.min(limits.idle_timeout)
    };
    loop {
        match preface_state(conn.inbuf.pending()) {
            None => return connection::serve_conn(shard, &mut conn).await,
            Some(true) => break,
            Some(false) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let read = connection::fill_between_requests(shard, &mut conn, left).await;
        if !matches!(read, Ok(n) if n > 0) {
            return;
        }
    }
    let received = conn.inbuf.pending().to_vec();
    let ClientStream::Plain(socket) = conn.stream else {
        return;
    };
    // Boxed: a plain HTTP/1.1 connection's task does not carry HTTP/2's state.
    Box::pin(serve(shard, H2Io::new(socket, received, None), peer, None)).await;
}

/// Runs an HTTP/2 connection until the client closes it, it idles out, or the shard drains
/// (then GOAWAY lets open streams finish). `tls`: the session, for connections over TLS.
pub async fn serve(shard: &Rc<ShardCtx>, io: H2Io, peer: SocketAddr, tls: Option<Rc<TlsInfo>>) {
    let limits = shard.snapshots.current().limits.clone();
    let handshake = builder().handshake::<_, Bytes>(io);
    let mut conn = match monoio::time::timeout(limits.header_timeout, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "h2 handshake: {e}");
            return;
        }
        Err(_) => return,
    };
    let open = Rc::new(Cell::new(0usize));
    let mut last_active = Instant::now();
    let mut closing: Option<Instant> = None;
    // One timer for the connection's life, re-armed each tick, rather than a timeout per
    // accepted stream (a timer insertion and a clock read per request); it also looks at
    // draining and idleness while streams keep arriving.
    let mut tick = std::pin::pin!(monoio::time::sleep(TICK));
    loop {
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(accepted) = conn.poll_accept(cx) {
                return Poll::Ready(Some(accepted));
            }
            tick.as_mut().poll(cx).map(|()| None)
        })
        .await;
        match event {
            Some(Some(Ok((req, respond)))) => {
                last_active = Instant::now();
                let task = Stream {
                    shard: Rc::clone(shard),
                    peer,
                    tls: tls.clone(),
                    open: Rc::clone(&open),
                };
                open.set(open.get() + 1);
                monoio::spawn(task.run(req, respond));
            }
            Some(Some(Err(e))) => {
                tracing::debug!(%peer, "h2 connection: {e}");
                return;
            }
            Some(None) => return,
            None => {
                tick.as_mut().reset(monoio::time::Instant::now() + TICK);
                if open.get() > 0 {
                    last_active = Instant::now();
                }
                let idle = last_active.elapsed() >= limits.idle_timeout;
                match closing {
                    None if shard.is_draining() || idle => {
                        closing = Some(Instant::now());
                        conn.graceful_shutdown();
                    }
                    // GOAWAY is two-phase (a PING round trip); a client that never answers
                    // is dropped once nothing is in flight.
                    Some(since) if open.get() == 0 && since.elapsed() >= limits.header_timeout => {
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

fn builder() -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(STREAM_WINDOW as usize)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_RESETS));
    b
}

/// One stream being served.
struct Stream {
    shard: Rc<ShardCtx>,
    peer: SocketAddr,
    tls: Option<Rc<TlsInfo>>,
    open: Rc<Cell<usize>>,
}

impl Stream {
    /// Serves the stream through the same pipeline as an HTTP/1.1 request: its head is
    /// filled straight from the decoded fields, its body read from the DATA frames, and its
    /// response sent as fields and DATA (`H2Stream`). A panic in the pipeline answers 500
    /// (or resets a response already started) and costs this stream alone.
    async fn run(self, req: http::Request<RecvStream>, respond: SendResponse<Bytes>) {
        let (parts, body) = req.into_parts();
        let end_stream = body.is_end_stream();
        let stream = H2Stream::new((!end_stream).then_some(body), respond);
        let mut conn =
            ClientConn::with_buffer(ClientStream::H2(Box::new(stream)), self.peer, STREAM_BUF);
        if let Some(tls) = &self.tls {
            tls.apply(&mut conn);
        }
        let snapshot = self.shard.snapshots.current();
        let max_head = snapshot.limits.max_header_bytes;
        let buf = conn.inbuf.reset_for_head();
        let head = conn.head.from_h2(&parts, end_stream, max_head, buf);
        drop(parts);
        match head {
            Err(e) => connection::reject(&self.shard, &mut conn, e, &snapshot.limits).await,
            Ok(()) => {
                let served = CatchUnwind(pipeline::serve(&self.shard, &snapshot, &mut conn)).await;
                if served.is_err() {
                    tracing::error!(shard = self.shard.id, peer = %self.peer, "request panicked; answered 500 on its HTTP/2 stream");
                    connection::internal_error(&self.shard, &mut conn, &snapshot.limits).await;
                }
            }
        }
        // Dropping the connection resets the stream if its response did not end.
        drop(conn);
        self.open.set(self.open.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preface_detection() {
        assert_eq!(preface_state(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(preface_state(b"PRI * HT"), Some(false));
        assert_eq!(preface_state(PREFACE), Some(true));
        assert_eq!(
            preface_state(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(true)
        );
        assert_eq!(preface_state(b"PRI * HTTP/1.1"), None);
    }
}
