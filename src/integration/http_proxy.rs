//! `HTTP_PROXY`: the request goes to the backend as sent (path parameters substituted into the
//! integration URI, query string appended, hop-by-hop headers dropped, `X-Forwarded-*` added)
//! and the backend's answer comes back as sent, both bodies streamed piece by piece.
//!
//! Framing is always re-encoded by the gateway from what it parsed itself, so a backend never
//! sees a message the gateway would have delimited differently. A request whose body already
//! sits whole in the buffer travels with its head; such an exchange is retried once on a new
//! connection when a pooled keep-alive connection turns out to have been closed by the backend.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::gateway_response::GatewayResponse;
use crate::http::{
    connection_names, is_hop_by_hop, write_chunk, BodyFraming, Header, Parsed, RequestHead,
    ResponseFraming, LAST_CHUNK,
};
use crate::pipeline::cache_filter;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::response_filter::{self, OutFraming};
use crate::pipeline::Next;
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{HttpProxyIntegration, Limits, Snapshot, UriPart};
use crate::upstream::pool::BackendConn;
use crate::wire::{self, BodyReader, Framing, WireError};

/// Bodies up to this size that are already received whole are sent together with the head,
/// even when request buffering is off.
const INLINE_BODY_MAX: u64 = 16 * 1024;
/// Staged output is flushed once it reaches this size.
const FLUSH_AT: usize = 64 * 1024;
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
}

impl RequestInfo {
    /// Copies the scalar facts out of a parsed head.
    pub fn of(head: &RequestHead) -> Self {
        RequestInfo {
            framing: head.framing,
            expect_continue: head.expect_continue,
            minor_version: head.minor_version,
            head_len: head.head_len,
        }
    }
}

/// Why an exchange ended early.
enum ProxyError {
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
    response_filter::header(out, b"Host", integration.host_header.as_bytes());
    let forwarded_for = copy_end_to_end_headers(out, head, base);
    write_forwarded(out, forwarded_for, from);
    match head.framing {
        BodyFraming::Length(n) => {
            let mut b = itoa::Buffer::new();
            response_filter::header(out, b"Content-Length", b.format(n).as_bytes());
        }
        BodyFraming::Chunked => response_filter::header(out, b"Transfer-Encoding", b"chunked"),
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
        response_filter::header(out, name, h.value.get(base));
    }
    forwarded_for
}

/// The `Connection` headers of a message, which name further hop-by-hop headers to drop.
struct ConnectionTokens<'b> {
    headers: &'b [Header],
    base: &'b [u8],
    /// Whether any `Connection` header names more than `close`/`keep-alive` (rare): only then
    /// is every header name checked against them.
    names_others: bool,
}

impl<'b> ConnectionTokens<'b> {
    fn of(headers: &'b [Header], base: &'b [u8]) -> Self {
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

    fn names(&self, name: &[u8]) -> bool {
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
    use std::io::Write;
    let _ = write!(out, "{}", from.peer.ip());
    // The client's own value is never forwarded, so the gateway's line is the only one.
    out.extend_from_slice(match from.secure {
        true => b"\r\nX-Forwarded-Proto: https\r\n",
        false => b"\r\nX-Forwarded-Proto: http\r\n",
    });
}

/// Runs the exchange with the backend whose request head is in `conn.upstream_head`, and
/// answers the client. Returns whether the client connection stays open.
pub async fn forward(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    integration: &HttpProxyIntegration,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    snapshot: &Snapshot,
) -> Next {
    let limits = &snapshot.limits;
    conn.inbuf.consume(req.head_len);
    let mut req = req;
    let mut body = match buffer_request_body(conn, &mut req, limits).await {
        Ok(body) => body,
        Err(ProxyError::Close) => return Next::Close,
        Err(ProxyError::Respond(response)) => {
            ctx.keep_alive = false;
            return respond_error(shard, conn, ctx, req, limits, response).await;
        }
    };
    let deadline = Instant::now() + integration.timeout;
    match exchange(
        shard,
        conn,
        integration,
        ctx,
        req,
        &mut body,
        deadline,
        snapshot,
    )
    .await
    {
        Ok(next) => next,
        Err(ProxyError::Close) => Next::Close,
        Err(ProxyError::Respond(response)) => {
            ctx.keep_alive &= body.is_done();
            respond_error(shard, conn, ctx, req, limits, response).await
        }
    }
}

/// Answers with a gateway response instead of the backend's. Whatever the client's output
/// buffer still holds is body bytes staged for the backend (the relay shares the buffer), and
/// must never reach the client.
async fn respond_error(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    limits: &Limits,
    response: GatewayResponse,
) -> Next {
    conn.out.clear();
    let minor = req.minor_version;
    response_filter::gateway_response(&mut conn.out, ctx, &shard.date, response, minor);
    match wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout).await {
        Ok(()) if ctx.keep_alive => Next::KeepAlive,
        _ => Next::Close,
    }
}

/// Request buffering, as nginx's `proxy_request_buffering`: a body of at most
/// `limits.request_buffer_bytes` is read whole into the upstream head before any backend is
/// chosen or connected, so a slow client holds no backend connection and the exchange can be
/// replayed on a stale pooled connection. A longer body is streamed: a `Content-Length` one
/// from its start, a chunked one after its first `request_buffer_bytes`. Returns the reader
/// for what is left to stream (done when everything was buffered). A client that waits for
/// `100 Continue` gets it here when its body is buffered (`req.expect_continue` is then
/// cleared so the relay does not send it again).
async fn buffer_request_body(
    conn: &mut ClientConn,
    req: &mut RequestInfo,
    limits: &Limits,
) -> Result<BodyReader, ProxyError> {
    let limit = limits.request_buffer_bytes;
    let (mut body, chunked) = match req.framing {
        BodyFraming::None => return Ok(BodyReader::new(Framing::None, 0)),
        BodyFraming::Length(n) => {
            let reader = BodyReader::new(Framing::Length(n), limits.max_body_bytes);
            let whole = conn.inbuf.pending().len() as u64 >= n;
            // Beyond the limit, only a body already received whole travels with the head.
            if n > limit && !(whole && n <= INLINE_BODY_MAX) {
                return Ok(reader);
            }
            (reader, false)
        }
        BodyFraming::Chunked if limit == 0 => {
            return Ok(BodyReader::new(Framing::Chunked, limits.max_body_bytes))
        }
        BodyFraming::Chunked => (
            BodyReader::new(Framing::Chunked, limits.max_body_bytes),
            true,
        ),
    };
    if req.expect_continue && conn.inbuf.pending().is_empty() {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
        req.expect_continue = false;
    }
    let mut buffered: u64 = 0;
    loop {
        while let Some((s, e)) = body
            .take_buffered(&mut conn.inbuf)
            .map_err(|e| client_body_error(e).into_proxy_error())?
        {
            push_piece(&mut conn.upstream_head, &conn.inbuf.raw()[s..e], chunked);
            buffered += (e - s) as u64;
        }
        if body.is_done() {
            if chunked {
                conn.upstream_head.extend_from_slice(LAST_CHUNK);
            }
            return Ok(body);
        }
        if buffered >= limit {
            return Ok(body);
        }
        body.read_more(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
    }
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    integration: &HttpProxyIntegration,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    body: &mut BodyReader,
    deadline: Instant,
    snapshot: &Snapshot,
) -> Result<Next, ProxyError> {
    let limits = &snapshot.limits;
    let replayable = body.is_done();
    let mut attempt = 0;
    // The deadline was set from the clock reading taken when the exchange began.
    let started = deadline - integration.timeout;
    let mut backend = loop {
        attempt += 1;
        let mut backend = open(shard, integration, snapshot, deadline, attempt > 1).await?;
        let sent = send_request(conn, &mut backend, body, req, deadline, limits).await;
        let result = match sent {
            Ok(()) => read_response_head(&mut backend, deadline, ctx.is_head).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                ctx.integration_latency = Some(started.elapsed());
                break backend;
            }
            // Nothing of the client's body is lost when it was inline or not yet read.
            Err(Failure::Stale)
                if backend.reused && attempt < 3 && (replayable || body.bytes_read() == 0) =>
            {
                continue
            }
            Err(f) => return Err(f.into_proxy_error()),
        }
    };
    relay_response(
        shard,
        conn,
        &mut backend,
        ctx,
        req.minor_version,
        integration.timeout,
        limits,
    )
    .await?;
    cache_filter::capture_done(ctx);
    let reusable = backend.head.keep_alive
        && backend.head.framing != ResponseFraming::UntilClose
        && body.is_done();
    if reusable {
        shard
            .pool
            .checkin(integration.addr, backend, limits.pool_max_idle_per_backend);
    }
    Ok(if ctx.keep_alive && body.is_done() {
        Next::KeepAlive
    } else {
        Next::Close
    })
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

/// A pooled connection, or a new one (`fresh` skips the pool after a stale one failed). A new
/// TLS connection uses the backend TLS settings of `snapshot`, the request's configuration.
async fn open(
    shard: &ShardCtx,
    integration: &HttpProxyIntegration,
    snapshot: &Snapshot,
    deadline: Instant,
    fresh: bool,
) -> Result<BackendConn, ProxyError> {
    if !fresh {
        if let Some(conn) = shard.pool.checkout(
            integration.addr,
            &integration.tls_name,
            snapshot.limits.pool_idle_timeout,
        ) {
            return Ok(conn);
        }
    }
    let tls = integration.tls_name.as_ref().and_then(|name| {
        snapshot
            .backend_tls
            .as_ref()
            .map(|tls| (tls.config_for(name), name))
    });
    match BackendConn::connect(integration.addr, tls, remaining(deadline)).await {
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

/// Sends the head (with any inline body), then streams the rest of the client's body.
async fn send_request(
    conn: &mut ClientConn,
    backend: &mut BackendConn,
    body: &mut BodyReader,
    req: RequestInfo,
    deadline: Instant,
    limits: &Limits,
) -> Result<(), Failure> {
    write_keep(
        &mut backend.stream,
        &mut conn.upstream_head,
        remaining(deadline),
    )
    .await
    .map_err(Failure::from_backend)?;
    if body.is_done() {
        return Ok(());
    }
    if req.expect_continue && conn.inbuf.pending().is_empty() {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
            .await
            .map_err(|_| Failure::ClientGone)?;
    }
    let chunked = req.framing == BodyFraming::Chunked;
    loop {
        while let Some((s, e)) = body
            .take_buffered(&mut conn.inbuf)
            .map_err(client_body_error)?
        {
            push_piece(&mut conn.out, &conn.inbuf.raw()[s..e], chunked);
            if conn.out.len() >= FLUSH_AT {
                flush_to_backend(conn, backend, deadline).await?;
            }
        }
        if body.is_done() {
            if chunked {
                conn.out.extend_from_slice(LAST_CHUNK);
            }
            return flush_to_backend(conn, backend, deadline).await;
        }
        flush_to_backend(conn, backend, deadline).await?;
        body.read_more(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
            .await
            .map_err(|_| Failure::ClientGone)?;
    }
}

fn client_body_error(e: WireError) -> Failure {
    match e {
        WireError::TooLarge => Failure::ClientBody(GatewayResponse::RequestTooLong),
        WireError::Http(err) => Failure::ClientBody(GatewayResponse::from_http_error(err)),
        _ => Failure::ClientGone,
    }
}

async fn flush_to_backend(
    conn: &mut ClientConn,
    backend: &mut BackendConn,
    deadline: Instant,
) -> Result<(), Failure> {
    wire::write_out(&mut backend.stream, &mut conn.out, remaining(deadline))
        .await
        .map_err(|e| match Failure::from_backend(e) {
            // Part of the body was sent: never retry it.
            Failure::Stale => Failure::Failed,
            f => f,
        })
}

/// Writes `buf` whole, keeping its contents (a retry may send it again).
async fn write_keep<S: monoio::io::AsyncWriteRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), WireError> {
    use monoio::io::AsyncWriteRentExt;
    let owned = std::mem::take(buf);
    match monoio::time::timeout(timeout, stream.write_all(owned)).await {
        Ok((res, owned)) => {
            *buf = owned;
            res.map(|_| ()).map_err(WireError::Io)
        }
        Err(_) => Err(WireError::Timeout),
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

/// Sends the backend's head and body to the client.
async fn relay_response(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    backend: &mut BackendConn,
    ctx: &mut RequestCtx,
    client_minor: u8,
    read_timeout: Duration,
    limits: &Limits,
) -> Result<(), ProxyError> {
    let out_framing = client_framing(backend.head.framing, client_minor);
    write_response_head(shard, conn, backend, ctx, out_framing, client_minor);
    backend.inbuf.consume(backend.head.head_len);
    if out_framing == OutFraming::Close {
        ctx.keep_alive = false;
    }
    let chunked = out_framing == OutFraming::Chunked;
    let mut body = BodyReader::new(backend_framing(backend.head.framing), u64::MAX);
    loop {
        while let Some((s, e)) = body
            .take_buffered(&mut backend.inbuf)
            .map_err(|_| ProxyError::Close)?
        {
            push_piece(&mut conn.out, &backend.inbuf.raw()[s..e], chunked);
            cache_filter::capture_body(ctx, &backend.inbuf.raw()[s..e]);
            ctx.response_body_bytes += (e - s) as u64;
            if conn.out.len() >= FLUSH_AT {
                flush_to_client(conn, limits).await?;
            }
        }
        if body.is_done() {
            break;
        }
        flush_to_client(conn, limits).await?;
        body.read_more(&mut backend.stream, &mut backend.inbuf, read_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
    }
    if chunked {
        conn.out.extend_from_slice(LAST_CHUNK);
    }
    flush_to_client(conn, limits).await
}

async fn flush_to_client(conn: &mut ClientConn, limits: &Limits) -> Result<(), ProxyError> {
    wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
        .await
        .map_err(|_| ProxyError::Close)
}

/// The framing the client gets for a backend body framed as `framing`.
fn client_framing(framing: ResponseFraming, client_minor: u8) -> OutFraming {
    match framing {
        ResponseFraming::None => OutFraming::NoBody,
        ResponseFraming::Length(n) => OutFraming::Length(n),
        ResponseFraming::Chunked | ResponseFraming::UntilClose if client_minor >= 1 => {
            OutFraming::Chunked
        }
        ResponseFraming::Chunked | ResponseFraming::UntilClose => OutFraming::Close,
    }
}

fn backend_framing(framing: ResponseFraming) -> Framing {
    match framing {
        ResponseFraming::None => Framing::None,
        ResponseFraming::Length(n) => Framing::Length(n),
        ResponseFraming::Chunked => Framing::Chunked,
        ResponseFraming::UntilClose => Framing::UntilClose,
    }
}

/// Writes the client's response head from the backend's: end-to-end headers pass, hop-by-hop
/// ones and the backend's own framing and `Date` are replaced by the gateway's.
fn write_response_head(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    backend: &BackendConn,
    ctx: &mut RequestCtx,
    framing: OutFraming,
    client_minor: u8,
) {
    let head = &backend.head;
    let base = backend.inbuf.pending();
    let out = &mut conn.out;
    ctx.status = head.status;
    response_filter::status_line(out, head.status, head.reason.get(base));
    let headers_start = out.len();
    let connection = ConnectionTokens::of(&head.headers, base);
    for h in &head.headers {
        let name = h.name.get(base);
        if skip_response_header(name, &connection, framing) {
            continue;
        }
        response_filter::header(out, name, h.value.get(base));
    }
    let reason = head.reason.get(base);
    cache_filter::capture_head(ctx, out, headers_start, head.status, reason, framing);
    response_filter::finish_head(out, ctx, &shard.date, framing, client_minor);
}

fn skip_response_header(
    name: &[u8],
    connection: &ConnectionTokens<'_>,
    framing: OutFraming,
) -> bool {
    if is_hop_by_hop(name) || connection.names(name) {
        return true;
    }
    if name.eq_ignore_ascii_case(b"date") || name.eq_ignore_ascii_case(b"x-amzn-requestid") {
        return true;
    }
    // Without a body the backend's Content-Length (e.g. of a HEAD) is the client's to see.
    name.eq_ignore_ascii_case(b"content-length") && framing != OutFraming::NoBody
}

/// Stages one body piece, with chunk framing when the client gets chunked encoding.
fn push_piece(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
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

    #[test]
    fn response_framing_follows_the_client_version() {
        assert_eq!(
            client_framing(ResponseFraming::UntilClose, 1),
            OutFraming::Chunked
        );
        assert_eq!(
            client_framing(ResponseFraming::UntilClose, 0),
            OutFraming::Close
        );
        assert_eq!(
            client_framing(ResponseFraming::Chunked, 0),
            OutFraming::Close
        );
        assert_eq!(
            client_framing(ResponseFraming::Length(3), 0),
            OutFraming::Length(3)
        );
        assert_eq!(client_framing(ResponseFraming::None, 1), OutFraming::NoBody);
    }

    fn parsed(raw: &[u8]) -> RequestHead {
        let mut head = RequestHead::new();
        assert_eq!(head.parse(raw, 8192), Ok(Parsed::Complete));
        head
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: x-secret\r\n\r\n";
        let head = parsed(raw);
        let tokens = ConnectionTokens::of(&head.headers, raw);
        assert!(skip_request_header(b"Keep-Alive", &tokens));
        assert!(skip_request_header(b"X-Secret", &tokens));
        assert!(skip_request_header(b"Expect", &tokens));
        assert!(!skip_request_header(b"Accept", &tokens));
        assert!(skip_response_header(b"Date", &tokens, OutFraming::Chunked));
        assert!(skip_response_header(
            b"content-length",
            &tokens,
            OutFraming::Length(1)
        ));
        assert!(!skip_response_header(
            b"content-length",
            &tokens,
            OutFraming::NoBody
        ));
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
