//! A client connection's state, reused across the requests it carries.

use std::net::SocketAddr;
use std::time::Duration;

use std::rc::Rc;

use crate::access_log::RequestFacts;
use crate::exchange::Spares;
use crate::http::{Header, RequestHead, MAX_HEADERS};
use crate::server::idle::IdleSlot;
use crate::server::stream::ClientStream;
use crate::wire::{self, InBuf, WireError};

/// Initial receive buffer; grows only for large heads.
const CLIENT_BUF: usize = 16 * 1024;
/// Initial response staging buffer.
const OUT_BUF: usize = 4096;
/// Initial buffer of the head forwarded to a backend.
const UPSTREAM_HEAD_BUF: usize = 2048;
/// A buffer that grew past this (a large head or response) is freed rather than pooled.
const POOLED_MAX: usize = 64 * 1024;

/// One downstream connection: socket, buffers and parsed-head storage, allocated once when the
/// connection is accepted so that requests on it allocate nothing of their own.
pub struct ClientConn {
    /// The socket, plain or TLS.
    pub stream: ClientStream,
    /// The client's address (for `X-Forwarded-For` and logs).
    pub peer: SocketAddr,
    /// Bytes received and not yet consumed; the current head starts at its `pos()`.
    pub inbuf: InBuf,
    /// Response bytes staged for one write.
    pub out: Vec<u8>,
    /// The request head forwarded to a backend, kept apart from `out` so a retry can resend it.
    pub upstream_head: Vec<u8>,
    /// The parsed head of the current request (spans relative to `inbuf.pos()` at parse time).
    pub head: RequestHead,
    /// What the access log needs from the current request's head (filled only when its stage
    /// logs).
    pub log_facts: RequestFacts,
    /// The client certificate verified during the TLS handshake (mutual TLS).
    pub client_cert: Option<Rc<crate::tls::subject::ClientCert>>,
    /// Whether the client reached the gateway over TLS (`X-Forwarded-Proto: https`).
    pub secure: bool,
    /// The custom domain the TLS session was established for (see
    /// `tls::Domains::check_host`).
    pub tls_domain: Option<Rc<str>>,
    /// The connection's registration with the shard's idle wheel, made at its first wait
    /// (HTTP/2 streams never wait between requests).
    idle: Option<Rc<IdleSlot>>,
    /// Whether the buffers are in the shard's pool ([`ClientConn::park`]).
    parked: bool,
}

impl ClientConn {
    /// Whether this is an HTTP/2 stream rather than an HTTP/1.1 connection.
    pub fn is_h2(&self) -> bool {
        matches!(self.stream, ClientStream::H2(_))
    }

    /// Sends what `out` holds (the responder's head and body bytes) on the client's protocol:
    /// as they are on HTTP/1.1, as fields and DATA on HTTP/2. `last`: the response ends here
    /// (HTTP/2 then ends the stream).
    pub async fn send_out(&mut self, last: bool, timeout: Duration) -> Result<(), WireError> {
        match &mut self.stream {
            ClientStream::H2(stream) => stream.send(&mut self.out, last, timeout).await,
            _ => wire::write_out(&mut self.stream, &mut self.out, timeout).await,
        }
    }

    /// Wraps an accepted socket.
    pub fn new(stream: ClientStream, peer: SocketAddr) -> Self {
        Self::with_buffer(stream, peer, CLIENT_BUF)
    }

    /// Like [`ClientConn::new`] with a receive buffer of `capacity` bytes to start with
    /// (HTTP/2 streams, whose whole request is already in memory, need little).
    pub fn with_buffer(stream: ClientStream, peer: SocketAddr, capacity: usize) -> Self {
        stream.set_nodelay();
        ClientConn {
            stream,
            peer,
            inbuf: InBuf::with_capacity(capacity),
            out: Vec::with_capacity(OUT_BUF),
            upstream_head: Vec::with_capacity(UPSTREAM_HEAD_BUF),
            head: RequestHead::new(),
            log_facts: RequestFacts::default(),
            client_cert: None,
            secure: false,
            tls_domain: None,
            idle: None,
            parked: false,
        }
    }

    /// The connection's registration with the shard's idle wheel.
    pub fn idle_slot(&mut self) -> Rc<IdleSlot> {
        Rc::clone(self.idle.get_or_insert_with(IdleSlot::new))
    }

    /// Gives the connection's buffers to `pool` while it waits for its next request, if it
    /// holds nothing it still needs: no received byte unconsumed, nothing TLS still buffers.
    /// Returns whether it did; [`ClientConn::unpark`] takes buffers again. What the access
    /// log copied from the last head goes too (the next request captures its own).
    pub fn park(&mut self, pool: &ConnBufferPool) -> bool {
        if self.parked || !self.inbuf.pending().is_empty() || !self.stream.park() {
            return false;
        }
        pool.give(ConnBuffers {
            inbuf: self.inbuf.take_buf(),
            out: std::mem::take(&mut self.out),
            upstream_head: std::mem::take(&mut self.upstream_head),
            headers: self.head.take_headers(),
        });
        self.log_facts = RequestFacts::default();
        self.parked = true;
        true
    }

    /// Whether the connection's buffers are in the pool: it must [`ClientConn::unpark`]
    /// before it reads.
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// Takes buffers from `pool` again after [`ClientConn::park`] (nothing if not parked).
    pub fn unpark(&mut self, pool: &ConnBufferPool) {
        if !self.parked {
            return;
        }
        let bufs = pool.take();
        self.inbuf.put_buf(bufs.inbuf);
        self.out = bufs.out;
        self.upstream_head = bufs.upstream_head;
        self.head.put_headers(bufs.headers);
        self.stream.unpark();
        self.parked = false;
    }
}

/// The buffers a connection uses while it carries a request, and gives back while it idles.
pub struct ConnBuffers {
    inbuf: Vec<u8>,
    out: Vec<u8>,
    upstream_head: Vec<u8>,
    headers: Vec<Header>,
}

impl ConnBuffers {
    fn new() -> Self {
        ConnBuffers {
            inbuf: Vec::with_capacity(CLIENT_BUF),
            out: Vec::with_capacity(OUT_BUF),
            upstream_head: Vec::with_capacity(UPSTREAM_HEAD_BUF),
            headers: Vec::with_capacity(MAX_HEADERS),
        }
    }

    /// Whether every buffer is still of a size worth keeping.
    fn poolable(&self) -> bool {
        self.inbuf.capacity() <= POOLED_MAX
            && self.out.capacity() <= POOLED_MAX
            && self.upstream_head.capacity() <= POOLED_MAX
    }
}

/// A shard's spare connection buffers. Parked connections hold none, so this holds what the
/// connections active at the busiest recent moment left behind, up to `keep` sets; the rest
/// go back to the allocator (which returns them to the kernel).
pub struct ConnBufferPool(Spares<ConnBuffers>);

impl ConnBufferPool {
    /// A pool keeping up to `keep` sets of buffers.
    pub fn new(keep: usize) -> Self {
        ConnBufferPool(Spares::new(keep))
    }

    /// A spare set, or a new one: a connection never waits for buffers.
    fn take(&self) -> ConnBuffers {
        self.0.take().unwrap_or_else(ConnBuffers::new)
    }

    /// Keeps `bufs` for the next connection that wakes, or frees them.
    fn give(&self, mut bufs: ConnBuffers) {
        if self.0.has_room() && bufs.poolable() {
            bufs.inbuf.clear();
            bufs.out.clear();
            bufs.upstream_head.clear();
            bufs.headers.clear();
            self.0.give(bufs);
        }
    }

    /// Sets kept now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.0.kept()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_back_what_it_was_given_cleared_and_keeps_at_most_its_limit() {
        let pool = ConnBufferPool::new(2);
        let mut used = pool.take();
        used.inbuf.extend_from_slice(b"GET / HTTP/1.1");
        let ptr = used.inbuf.as_ptr();
        pool.give(used);
        let again = pool.take();
        assert_eq!(again.inbuf.as_ptr(), ptr, "the same buffer comes back");
        assert!(again.inbuf.is_empty());
        assert_eq!(again.inbuf.capacity(), CLIENT_BUF);
        pool.give(again);
        pool.give(ConnBuffers::new());
        pool.give(ConnBuffers::new());
        assert_eq!(pool.kept(), 2);
    }

    #[test]
    fn a_buffer_that_grew_past_the_limit_is_freed_not_kept() {
        let pool = ConnBufferPool::new(4);
        let mut grown = ConnBuffers::new();
        grown.out.reserve(POOLED_MAX + 1);
        pool.give(grown);
        assert_eq!(pool.kept(), 0);
    }
}
