//! The request as integrations that need all of it at once see it: the Lambda proxy event,
//! and later mapping templates, JSON Schema validation and SigV4 payload hashes.
//!
//! A [`Request`] holds the routed head's bytes, copied once out of the connection's receive
//! buffer (which the next read reuses), then the body once it has been read, in one buffer
//! taken from the shard's [`BufferPool`] for the request's life and given back after it, so
//! a busy shard allocates no buffer per request and an idle connection holds none. Streaming
//! integrations (`HTTP_PROXY`) never build one: they read the body from the connection as
//! they relay it.

use std::cell::RefCell;

use crate::router::Params;

/// Where the request's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    /// Still on the connection (the pipeline reads it with `buffer_body`).
    Unread,
    /// The request has none.
    None,
    /// Read whole: it follows the head in the buffer.
    Buffered,
}

/// A routed request detached from the receive buffer.
#[derive(Debug)]
pub struct Request {
    /// The head's bytes (the parsed head's spans index them), then the body.
    buf: Vec<u8>,
    head_len: usize,
    /// Path parameters, names as in the resource path.
    params: Vec<(Box<str>, String)>,
    body: BodyState,
}

impl Request {
    /// Copies the routed head (`head`, whose spans start at its first byte) and its path
    /// parameters into `buf` (from the shard's pool).
    pub fn new(mut buf: Vec<u8>, head: &[u8], params: &Params<'_, '_>) -> Self {
        buf.clear();
        buf.extend_from_slice(head);
        Request {
            head_len: buf.len(),
            buf,
            params: params
                .iter()
                .map(|(k, v)| (Box::from(k), v.to_string()))
                .collect(),
            body: BodyState::Unread,
        }
    }

    /// The head's bytes, which the request's parsed head indexes.
    pub fn base(&self) -> &[u8] {
        &self.buf[..self.head_len]
    }

    /// Path parameters.
    pub fn params(&self) -> &[(Box<str>, String)] {
        &self.params
    }

    /// Where the body is.
    pub fn body_state(&self) -> BodyState {
        self.body
    }

    /// The body, once read; `None` when the request has none (or it is still unread).
    pub fn body(&self) -> Option<&[u8]> {
        (self.body == BodyState::Buffered).then(|| &self.buf[self.head_len..])
    }

    /// The buffer the body is read into (after the head), with room reserved for `expected`
    /// bytes; mark it read with [`Request::body_read`].
    pub fn body_buffer(&mut self, expected: usize) -> &mut Vec<u8> {
        self.buf.truncate(self.head_len);
        self.buf.reserve(expected);
        &mut self.buf
    }

    /// The body has been read whole into [`Request::body_buffer`].
    pub fn body_read(&mut self) {
        self.body = BodyState::Buffered;
    }

    /// The request turned out to have no body.
    pub fn no_body(&mut self) {
        self.buf.truncate(self.head_len);
        self.body = BodyState::None;
    }

    /// Gives the buffer back (to return it to the pool).
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// Everything about one routed request, its body read whole, that a buffering integration
/// reads: the Lambda proxy event, a Lambda authorizer's event, mapping templates and their
/// parameter mappings.
pub struct RequestView<'a> {
    /// The parsed head, its spans into `base`.
    pub head: &'a crate::http::RequestHead,
    /// The head's bytes.
    pub base: &'a [u8],
    /// The request path as received (`requestContext.path`).
    pub full_path: &'a str,
    /// The path within the stage (`path`).
    pub path: &'a str,
    /// Path parameters, names as in the resource path.
    pub params: &'a [(Box<str>, String)],
    /// API, stage and method that were routed to.
    pub api: &'a crate::snapshot::Api,
    /// The stage.
    pub stage: &'a crate::snapshot::Stage,
    /// The method.
    pub method: &'a crate::snapshot::Method,
    /// `x-amzn-RequestId`.
    pub request_id: &'a str,
    /// The client's address (`identity.sourceIp`).
    pub source_ip: &'a str,
    /// Start of the request, Unix milliseconds (`requestTimeEpoch`).
    pub start_unix_ms: u64,
    /// The body, if the request had one.
    pub body: Option<&'a [u8]>,
    /// The client certificate under mutual TLS.
    pub client_cert: Option<&'a crate::tls::subject::ClientCert>,
    /// Whether the client reached the gateway over TLS (`X-Forwarded-Proto`).
    pub secure: bool,
    /// What a Lambda authorizer established (`requestContext.authorizer`), if one ran.
    pub authorizer: Option<&'a crate::exchange::Identity>,
    /// The API key the caller presented, for `identity.apiKey` of methods that require one.
    pub api_key: Option<&'a str>,
}

/// Spare objects a shard reuses instead of allocating: at most `keep`, last in first out.
/// Single-threaded (one per shard, no lock). What is worth keeping, and how it is emptied, is
/// the owner's to decide ([`BufferPool`], `server::client::ConnBufferPool`).
#[derive(Debug)]
pub struct Spares<T> {
    free: RefCell<Vec<T>>,
    keep: usize,
}

impl<T> Spares<T> {
    /// Room for up to `keep` spares.
    pub fn new(keep: usize) -> Self {
        Spares {
            free: RefCell::new(Vec::new()),
            keep,
        }
    }

    /// A spare, if there is one.
    pub fn take(&self) -> Option<T> {
        self.free.borrow_mut().pop()
    }

    /// Whether another spare would be kept.
    pub fn has_room(&self) -> bool {
        self.free.borrow().len() < self.keep
    }

    /// Keeps `item` if there is room; drops it otherwise.
    pub fn give(&self, item: T) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.keep {
            free.push(item);
        }
    }

    /// Spares kept now.
    pub fn kept(&self) -> usize {
        self.free.borrow().len()
    }
}

/// A shard's spare request buffers: at most `keep` of at most `max_capacity` bytes, so one
/// huge body does not stay resident.
#[derive(Debug)]
pub struct BufferPool {
    spares: Spares<Vec<u8>>,
    max_capacity: usize,
}

impl BufferPool {
    /// A pool keeping up to `keep` buffers of up to `max_capacity` bytes.
    pub fn new(keep: usize, max_capacity: usize) -> Self {
        BufferPool {
            spares: Spares::new(keep),
            max_capacity,
        }
    }

    /// A spare buffer, or a new one of `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        self.spares
            .take()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Returns a buffer; dropped when the pool is full or the buffer grew too large.
    pub fn give(&self, mut buf: Vec<u8>) {
        if self.spares.has_room() && buf.capacity() <= self.max_capacity {
            buf.clear();
            self.spares.give(buf);
        }
    }

    /// Buffers kept now.
    pub fn kept(&self) -> usize {
        self.spares.kept()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_follows_the_head_in_one_buffer() {
        let head = b"POST /pets HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut req = Request::new(Vec::new(), head, &Params::default());
        assert_eq!(req.base(), head);
        assert_eq!(req.body_state(), BodyState::Unread);
        assert_eq!(req.body(), None);
        req.body_buffer(4).extend_from_slice(b"{\"a\"");
        req.body_read();
        assert_eq!(req.body(), Some(&b"{\"a\""[..]));
        assert_eq!(req.base(), head);
        req.no_body();
        assert_eq!((req.body(), req.body_state()), (None, BodyState::None));
    }

    #[test]
    fn the_pool_reuses_buffers_within_its_bounds() {
        let pool = BufferPool::new(2, 1024);
        let a = pool.take(100);
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take(100);
        assert_eq!(b.as_ptr(), ptr, "a given buffer is taken again");
        pool.give(b);
        pool.give(Vec::with_capacity(10));
        pool.give(Vec::with_capacity(10));
        assert_eq!(pool.kept(), 2, "at most `keep` buffers");
        let mut big = pool.take(0);
        big.reserve(4096);
        pool.give(big);
        assert_eq!(pool.kept(), 1, "a grown buffer is dropped, not kept");
    }
}
