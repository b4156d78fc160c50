//! `HTTP_PROXY`: the request goes to the backend as sent (path parameters substituted into the
//! integration URI, query string appended, hop-by-hop headers dropped, `X-Forwarded-*` added)
//! and the backend's answer comes back as sent, both bodies streamed piece by piece.
//!
//! Framing is always re-encoded by the gateway from what it parsed itself, so a backend never
//! sees a message the gateway would have delimited differently. A request whose body already
//! sits whole in the buffer travels with its head; such an exchange is retried once on a new
//! connection when a pooled keep-alive connection turns out to have been closed by the backend.
//!
//! A leaf, like every integration: [`exchange`] takes the backend request head, the client's
//! body as an [`exchange::BodySource`](crate::exchange::BodySource) and the shard's pool, and
//! returns the backend connection with its response head parsed (its body still to be read) or
//! a gateway error. The pipeline (`pipeline::proxy`) relays that response to the client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::exchange::{BodyError, BodySource};
use crate::gateway_response::GatewayResponse;
use crate::http::{
    connection_names, is_hop_by_hop, write_chunk, write_header, BodyFraming, Header, Parsed,
    RequestHead, LAST_CHUNK,
};
use crate::router::Params;
use crate::snapshot::{HttpProxyIntegration, Limits, UriPart};
use crate::tls::backend::BackendTls;
use crate::upstream::pool::{BackendConn, Pool};
use crate::wire::{self, WireError};

/// Staged output is flushed once it reaches this size.
pub const FLUSH_AT: usize = 64 * 1024;
/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// What the proxy needs to know about the client's request once its head is consumed.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    /// How the client delimits the body.
    pub framing: BodyFraming,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// Client's HTTP minor version (0 or 1).
    pub minor_version: u8,
    /// Bytes of the head in the receive buffer.
    pub head_len: usize,
    /// The request's draw for a stage's canary split (`snapshot::Stage::pick`): made once,
    /// so every phase that routes the request picks the same variant.
    pub canary_draw: u32,
}

impl RequestInfo {
    /// Copies the scalar facts out of a parsed head.
    pub fn of(head: &RequestHead) -> Self {
        RequestInfo {
            framing: head.framing,
            expect_continue: head.expect_continue,
            minor_version: head.minor_version,
            head_len: head.head_len,
            canary_draw: fastrand::u32(..),
        }
    }
}

/// Why an exchange ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// Nothing sent to the client yet: answer with this gateway response.
    Respond(GatewayResponse),
    /// The client went away or stalled, or the response already started: just close.
    Close,
}

/// The client a backend request is forwarded for: what `X-Forwarded-For` and
/// `X-Forwarded-Proto` say.
#[derive(Debug, Clone, Copy)]
pub struct Downstream {
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether it reached the gateway over TLS.
    pub secure: bool,
}

/// Writes the head of the backend request into `out` (cleared first).
pub fn write_request_head(
    out: &mut Vec<u8>,
    integration: &HttpProxyIntegration,
    params: &Params<'_, '_>,
    head: &RequestHead,
    base: &[u8],
    from: Downstream,
) {
    out.clear();
    out.extend_from_slice(head.method.get(base));
    out.push(b' ');
    let has_query = write_target(out, integration, params);
    if let Some(query) = head.query.filter(|q| !q.is_empty()) {
        out.push(if has_query { b'&' } else { b'?' });
        out.extend_from_slice(query.get(base));
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, b"Host", integration.host_header.as_bytes());
    let forwarded_for = copy_end_to_end_headers(out, head, base);
    write_forwarded(out, forwarded_for, from);
    match head.framing {
        BodyFraming::Length(n) => {
            let mut b = itoa::Buffer::new();
            write_header(out, b"Content-Length", b.format(n).as_bytes());
        }
        BodyFraming::Chunked | BodyFraming::UntilEnd => {
            write_header(out, b"Transfer-Encoding", b"chunked")
        }
        BodyFraming::None => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the URI template with path parameters filled in; returns whether it has a query.
fn write_target(
    out: &mut Vec<u8>,
    integration: &HttpProxyIntegration,
    params: &Params<'_, '_>,
) -> bool {
    let mut has_query = false;
    for part in &integration.path.parts {
        let text = match part {
            UriPart::Literal(s) => s.as_ref(),
            UriPart::Param(name) => params.get(name).unwrap_or(""),
        };
        has_query |= text.contains('?');
        out.extend_from_slice(text.as_bytes());
    }
    has_query
}

/// Copies the client's end-to-end headers; returns the `X-Forwarded-For` value it saw.
fn copy_end_to_end_headers<'b>(
    out: &mut Vec<u8>,
    head: &RequestHead,
    base: &'b [u8],
) -> Option<&'b [u8]> {
    let connection = ConnectionTokens::of(&head.headers, base);
    let mut forwarded_for = None;
    for h in &head.headers {
        let name = h.name.get(base);
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = Some(h.value.get(base));
            continue;
        }
        if skip_request_header(name, &connection) {
            continue;
        }
        write_header(out, name, h.value.get(base));
    }
    forwarded_for
}

/// The `Connection` headers of a message, which name further hop-by-hop headers to drop.
pub struct ConnectionTokens<'b> {
    headers: &'b [Header],
    base: &'b [u8],
    /// Whether any `Connection` header names more than `close`/`keep-alive` (rare): only then
    /// is every header name checked against them.
    names_others: bool,
}

impl<'b> ConnectionTokens<'b> {
    /// The tokens of `headers`.
    pub fn of(headers: &'b [Header], base: &'b [u8]) -> Self {
        let names_others = Self::values(headers, base).any(|v| {
            connection_names(v).any(|t| {
                !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive")
            })
        });
        ConnectionTokens {
            headers,
            base,
            names_others,
        }
    }

    fn values(headers: &'b [Header], base: &'b [u8]) -> impl Iterator<Item = &'b [u8]> {
        headers
            .iter()
            .filter(move |h| h.name.get(base).eq_ignore_ascii_case(b"connection"))
            .map(move |h| h.value.get(base))
    }

    /// Whether a `Connection` header names `name` (which is then hop-by-hop).
    pub fn names(&self, name: &[u8]) -> bool {
        self.names_others
            && Self::values(self.headers, self.base)
                .any(|v| connection_names(v).any(|t| t.eq_ignore_ascii_case(name)))
    }
}

/// Headers the gateway drops or rewrites on the way to the backend.
fn skip_request_header(name: &[u8], connection: &ConnectionTokens<'_>) -> bool {
    const REWRITTEN: [&[u8]; 4] = [b"host", b"content-length", b"expect", b"x-forwarded-proto"];
    is_hop_by_hop(name)
        || REWRITTEN.iter().any(|r| name.eq_ignore_ascii_case(r))
        || connection.names(name)
}

fn write_forwarded(out: &mut Vec<u8>, existing: Option<&[u8]>, from: Downstream) {
    out.extend_from_slice(b"X-Forwarded-For: ");
    if let Some(v) = existing.filter(|v| !v.is_empty()) {
        out.extend_from_slice(v);
        out.extend_from_slice(b", ");
    }
    let mut ip = [0u8; 64];
    out.extend_from_slice(crate::http::write_ip(&mut ip, from.peer.ip()).as_bytes());
    // The client's own value is never forwarded, so the gateway's line is the only one.
    out.extend_from_slice(match from.secure {
        true => b"\r\nX-Forwarded-Proto: https\r\n",
        false => b"\r\nX-Forwarded-Proto: http\r\n",
    });
}

/// How one attempt failed, before the client saw anything.
enum Failure {
    /// The backend closed or reset before answering: on a reused connection, probably stale.
    Stale,
    /// The deadline passed.
    Timeout,
    /// The backend could not be reached or answered with something unusable.
    Failed,
    /// The client's body was refused (too large, malformed).
    ClientBody(GatewayResponse),
    /// The client went away.
    ClientGone,
}

impl Failure {
    fn into_proxy_error(self) -> ProxyError {
        match self {
            Failure::Stale | Failure::Failed => {
                ProxyError::Respond(GatewayResponse::IntegrationFailure)
            }
            Failure::Timeout => ProxyError::Respond(GatewayResponse::IntegrationTimeout),
            Failure::ClientBody(r) => ProxyError::Respond(r),
            Failure::ClientGone => ProxyError::Close,
        }
    }

    fn from_body(e: BodyError) -> Self {
        match e {
            BodyError::Refused(r) => Failure::ClientBody(r),
            BodyError::Gone => Failure::ClientGone,
        }
    }

    fn from_backend(e: WireError) -> Self {
        match e {
            WireError::Timeout => Failure::Timeout,
            WireError::Closed | WireError::Io(_) => Failure::Stale,
            WireError::Http(_) | WireError::TooLarge => Failure::Failed,
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Where an exchange runs: the shard's pool, and the request's limits and backend TLS
/// settings (those of its own snapshot).
#[derive(Clone, Copy)]
pub struct Upstream<'a> {
    /// The shard's idle backend connections.
    pub pool: &'a Pool,
    /// Pool sizes and timeouts.
    pub limits: &'a Limits,
    /// How `https://` backends are verified.
    pub tls: Option<&'a BackendTls>,
}

/// Sends the request whose head is in `head` (kept, for a retry) and the client's `body`, and
/// reads the backend's final response head. Returns the connection (response head parsed in
/// `backend.head`, body unread) and the integration latency. A stale pooled connection is
/// retried on a new one while nothing of the client's body was lost (it was buffered whole, or
/// none of it was read yet).
pub async fn exchange<B: BodySource>(
    up: Upstream<'_>,
    integration: &HttpProxyIntegration,
    head: &mut Vec<u8>,
    body: &mut B,
    chunked: bool,
    is_head: bool,
) -> Result<(Box<BackendConn>, Duration), ProxyError> {
    let started = Instant::now();
    let deadline = started + integration.timeout;
    let replayable = body.is_done();
    let mut staging = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut backend = open(up, integration, deadline, attempt > 1).await?;
        let sent = send_request(head, &mut staging, &mut backend, body, chunked, deadline).await;
        let result = match sent {
            Ok(()) => read_response_head(&mut backend, deadline, is_head).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return Ok((backend, started.elapsed())),
            Err(Failure::Stale)
                if backend.reused && attempt < 3 && (replayable || body.bytes_read() == 0) =>
            {
                continue
            }
            Err(f) => return Err(f.into_proxy_error()),
        }
    }
}

/// Sends the head (with any buffered body), then streams the rest of the client's body through
/// `staging`, a buffer of the exchange's own (never the client's output buffer, so a body that
/// fails part-way cannot leak to the client).
async fn send_request<B: BodySource>(
    head: &mut Vec<u8>,
    staging: &mut Vec<u8>,
    backend: &mut BackendConn,
    body: &mut B,
    chunked: bool,
    deadline: Instant,
) -> Result<(), Failure> {
    wire::write_kept(&mut backend.stream, head, remaining(deadline))
        .await
        .map_err(Failure::from_backend)?;
    if body.is_done() {
        return Ok(());
    }
    loop {
        body.take(staging, chunked).map_err(Failure::from_body)?;
        if body.is_done() {
            if chunked {
                staging.extend_from_slice(LAST_CHUNK);
            }
            return flush_to_backend(staging, backend, deadline).await;
        }
        flush_to_backend(staging, backend, deadline).await?;
        body.read_more().await.map_err(Failure::from_body)?;
    }
}

async fn flush_to_backend(
    staging: &mut Vec<u8>,
    backend: &mut BackendConn,
    deadline: Instant,
) -> Result<(), Failure> {
    wire::write_out(&mut backend.stream, staging, remaining(deadline))
        .await
        .map_err(|e| match Failure::from_backend(e) {
            // Part of the body was sent: never retry it.
            Failure::Stale => Failure::Failed,
            f => f,
        })
}

/// A pooled connection, or a new one (`fresh` skips the pool after a stale one failed). A new
/// TLS connection uses the backend TLS settings of the request's own snapshot.
async fn open(
    up: Upstream<'_>,
    integration: &HttpProxyIntegration,
    deadline: Instant,
    fresh: bool,
) -> Result<Box<BackendConn>, ProxyError> {
    if !fresh {
        let idle = up.limits.pool_idle_timeout;
        if let Some(conn) = up
            .pool
            .checkout(integration.addr, &integration.tls_name, idle)
        {
            return Ok(conn);
        }
    }
    let tls = integration
        .tls_name
        .as_ref()
        .and_then(|name| up.tls.map(|tls| (tls.config_for(name), name)));
    // Boxed: a connect (TCP, then perhaps a TLS handshake) is rare next to a pooled
    // connection, and its large state inline would grow, and be copied with, every exchange's
    // future.
    match Box::pin(BackendConn::connect(
        integration.addr,
        tls,
        remaining(deadline),
    ))
    .await
    {
        Ok(conn) => Ok(conn),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(ProxyError::Respond(GatewayResponse::IntegrationTimeout))
        }
        Err(e) => {
            tracing::warn!(backend = %integration.addr, "integration connect failed: {e}");
            Err(ProxyError::Respond(GatewayResponse::IntegrationFailure))
        }
    }
}

/// Reads the backend's final response head, skipping `1xx` interim responses.
async fn read_response_head(
    backend: &mut BackendConn,
    deadline: Instant,
    is_head: bool,
) -> Result<(), Failure> {
    let mut received = false;
    loop {
        if !backend.inbuf.pending().is_empty() {
            received = true;
            match backend
                .head
                .parse(backend.inbuf.pending(), MAX_RESPONSE_HEAD, is_head)
            {
                Ok(Parsed::Complete) if backend.head.status == 101 => return Err(Failure::Failed),
                Ok(Parsed::Complete) if backend.head.status < 200 => {
                    backend.inbuf.consume(backend.head.head_len);
                    continue;
                }
                Ok(Parsed::Complete) => return Ok(()),
                Ok(Parsed::Partial) => {}
                Err(e) => {
                    tracing::warn!("bad response head from backend: {e}");
                    return Err(Failure::Failed);
                }
            }
        }
        match backend
            .inbuf
            .fill(&mut backend.stream, remaining(deadline))
            .await
        {
            Ok(0) if !received => return Err(Failure::Stale),
            Ok(0) => return Err(Failure::Failed),
            Ok(_) => {}
            Err(WireError::Timeout) => return Err(Failure::Timeout),
            Err(_) if !received => return Err(Failure::Stale),
            Err(_) => return Err(Failure::Failed),
        }
    }
}

/// Stages one body piece, with chunk framing when the client gets chunked encoding.
pub fn push_piece(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if chunked {
        // Never an empty chunk: that would be the last-chunk marker.
        write_chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_pieces_are_framed() {
        let mut out = Vec::new();
        push_piece(&mut out, b"hello", true);
        assert_eq!(out, b"5\r\nhello\r\n");
        out.clear();
        push_piece(&mut out, b"hello", false);
        assert_eq!(out, b"hello");
        out.clear();
        push_piece(&mut out, b"", true);
        assert!(out.is_empty());
    }

    fn parsed(raw: &[u8]) -> RequestHead {
        let mut head = RequestHead::new();
        assert_eq!(head.parse(raw, 8192), Ok(Parsed::Complete));
        head
    }

    #[test]
    fn hop_by_hop_and_connection_named_request_headers_are_dropped() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: x-secret\r\n\r\n";
        let head = parsed(raw);
        let tokens = ConnectionTokens::of(&head.headers, raw);
        assert!(skip_request_header(b"Keep-Alive", &tokens));
        assert!(skip_request_header(b"X-Secret", &tokens));
        assert!(skip_request_header(b"Expect", &tokens));
        assert!(!skip_request_header(b"Accept", &tokens));
    }

    #[test]
    fn upstream_head_substitutes_params_and_appends_the_query() {
        use crate::snapshot::UriTemplate;
        let raw = b"POST /prod/pets/7?x=1 HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Length: 2\r\nX-Hop: 1\r\nConnection: x-hop\r\n\r\n";
        let head = parsed(raw);
        let integration = HttpProxyIntegration {
            addr: "127.0.0.1:9".parse().unwrap(),
            host_header: "backend:9".into(),
            path: UriTemplate {
                parts: vec![
                    UriPart::Literal("/v1/pets/".into()),
                    UriPart::Param("petId".into()),
                    UriPart::Literal("?src=gw".into()),
                ],
            },
            timeout: Duration::from_secs(1),
            tls_name: None,
        };
        let mut router = crate::router::Router::default();
        router
            .insert(crate::router::HttpMethod::Post, "/pets/{petId}", ())
            .unwrap();
        let mut params = Params::default();
        router
            .find(
                Some(crate::router::HttpMethod::Post),
                "/pets/7",
                &mut params,
            )
            .unwrap();
        let mut out = Vec::new();
        let peer: SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let from = Downstream {
            peer,
            secure: false,
        };
        write_request_head(&mut out, &integration, &params, &head, raw, from);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /v1/pets/7?src=gw&x=1 HTTP/1.1\r\nHost: backend:9\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-Forwarded-For: 10.0.0.1, 192.0.2.9\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Forwarded-Proto: http\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(!text.to_ascii_lowercase().contains("x-hop"), "{text}");
        assert!(!text.contains("Host: gw"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn forwarded_proto_becomes_https_for_tls_clients() {
        let mut out = Vec::new();
        let from = Downstream {
            peer: "192.0.2.9:5000".parse().unwrap(),
            secure: true,
        };
        write_forwarded(&mut out, None, from);
        assert_eq!(
            out,
            b"X-Forwarded-For: 192.0.2.9\r\nX-Forwarded-Proto: https\r\n".to_vec()
        );
    }
}
