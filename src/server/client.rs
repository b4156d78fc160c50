//! A client connection's state, reused across the requests it carries.

use std::net::SocketAddr;
use std::time::Duration;

use std::rc::Rc;

use crate::access_log::RequestFacts;
use crate::http::RequestHead;
use crate::server::stream::ClientStream;
use crate::wire::{self, InBuf, WireError};

/// Initial receive buffer; grows only for large heads.
const CLIENT_BUF: usize = 16 * 1024;

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
            out: Vec::with_capacity(4096),
            upstream_head: Vec::with_capacity(2048),
            head: RequestHead::new(),
            log_facts: RequestFacts::default(),
            client_cert: None,
            secure: false,
            tls_domain: None,
        }
    }
}
