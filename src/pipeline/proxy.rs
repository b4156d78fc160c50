//! The `HTTP_PROXY` steps the pipeline owns around the leaf integration
//! (`integration::http_proxy`): request buffering before a backend is chosen, the client's body
//! as a [`BodySource`] for the streaming case, and the relay of the backend's response to the
//! client (gateway headers, framing, the cache tee, byte counts), then the backend connection
//! back to the pool.

use std::time::Duration;

use crate::exchange::{BodyError, BodySource};
use crate::gateway_response::GatewayResponse;
use crate::http::{is_hop_by_hop, write_header, BodyFraming, ResponseFraming, LAST_CHUNK};
use crate::integration::http_proxy::{
    self, push_piece, ConnectionTokens, ProxyError, RequestInfo, Upstream, FLUSH_AT,
};
use crate::pipeline::cache_filter;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::response_filter::{self, OutFraming};
use crate::pipeline::{validate_filter, Next};
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::server::stream::ClientStream;
use crate::snapshot::{HttpProxyIntegration, Limits, Snapshot};
use crate::upstream::pool::BackendConn;
use crate::validate::Model;
use crate::wire::{self, BodyReader, Framing, InBuf, WireError};

/// Bodies up to this size that are already received whole are sent together with the head,
/// even when request buffering is off.
const INLINE_BODY_MAX: u64 = 16 * 1024;

/// Runs the exchange with the backend whose request head is in `conn.upstream_head`, and
/// answers the client. `buffer`: the request body bytes read before a backend is chosen (the
/// method's `request_buffer_bytes`). `model`: the body's request-validation model; such a
/// body is read whole and checked before any backend is connected. Returns whether the
/// client connection stays open.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    integration: &HttpProxyIntegration,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    snapshot: &Snapshot,
    buffer: u64,
    model: Option<&Model>,
) -> Next {
    let limits = &snapshot.limits;
    conn.inbuf.consume(req.head_len);
    let mut req = req;
    // A validated body is read whole and kept raw (sent with a Content-Length), so the model
    // checks the bytes the backend will get.
    let buffer = match model {
        Some(_) => limits.max_body_bytes,
        None => buffer,
    };
    let head_end = conn.upstream_head.len();
    let raw = model.is_some();
    let mut body = match buffer_request_body(conn, &mut req, limits, buffer, raw).await {
        Ok(body) => body,
        Err(ProxyError::Close) => return Next::Close,
        Err(ProxyError::Respond(response)) => {
            ctx.keep_alive = false;
            return respond_error(shard, conn, ctx, req, limits, response).await;
        }
    };
    if model.is_some() {
        let buffered = &conn.upstream_head;
        let sent = match req.framing {
            BodyFraming::None => &[][..],
            BodyFraming::Length(n) => &buffered[buffered.len().saturating_sub(n as usize)..],
            BodyFraming::Chunked | BodyFraming::UntilEnd => &buffered[head_end..],
        };
        if let Err(response) = validate_filter::body(model, sent, ctx) {
            return respond_error(shard, conn, ctx, req, limits, response).await;
        }
    }
    let up = Upstream {
        pool: &shard.pool,
        limits,
        tls: snapshot.backend_tls.as_deref(),
    };
    let chunked = req.framing.forwarded_chunked();
    let mut source = ClientBody {
        stream: &mut conn.stream,
        inbuf: &mut conn.inbuf,
        reader: body,
        expect_continue: req.expect_continue,
        limits,
    };
    let head = &mut conn.upstream_head;
    let called =
        http_proxy::exchange(up, integration, head, &mut source, chunked, ctx.is_head).await;
    body = source.reader;
    let mut backend = match called {
        Ok((backend, latency)) => {
            ctx.integration_latency = Some(latency);
            backend
        }
        Err(ProxyError::Close) => return Next::Close,
        Err(ProxyError::Respond(response)) => {
            ctx.keep_alive &= body.is_done();
            return respond_error(shard, conn, ctx, req, limits, response).await;
        }
    };
    let minor = req.minor_version;
    let relayed = relay_response(
        shard,
        conn,
        &mut backend,
        ctx,
        minor,
        integration.timeout,
        limits,
    );
    if relayed.await.is_err() {
        return Next::Close;
    }
    cache_filter::capture_done(ctx);
    let reusable = backend.head.keep_alive
        && backend.head.framing != ResponseFraming::UntilClose
        && body.is_done();
    if reusable {
        let max_idle = limits.pool_max_idle_per_backend;
        shard.pool.checkin(integration.addr, backend, max_idle);
    }
    match ctx.keep_alive && body.is_done() {
        true => Next::KeepAlive,
        false => Next::Close,
    }
}

/// The client's body still on the connection, read on the integration's demand.
struct ClientBody<'c> {
    stream: &'c mut ClientStream,
    inbuf: &'c mut InBuf,
    reader: BodyReader,
    /// The client waits for `100 Continue` before it sends the body.
    expect_continue: bool,
    limits: &'c Limits,
}

impl BodySource for ClientBody<'_> {
    fn take(&mut self, out: &mut Vec<u8>, chunked: bool) -> Result<(), BodyError> {
        while let Some((s, e)) = self.reader.take_buffered(self.inbuf).map_err(body_error)? {
            push_piece(out, &self.inbuf.raw()[s..e], chunked);
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.reader.is_done()
    }

    fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    async fn read_more(&mut self) -> Result<(), BodyError> {
        if std::mem::take(&mut self.expect_continue) && self.inbuf.pending().is_empty() {
            let mut out = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            wire::write_out(self.stream, &mut out, self.limits.send_timeout)
                .await
                .map_err(|_| BodyError::Gone)?;
        }
        self.reader
            .read_more(self.stream, self.inbuf, self.limits.body_timeout)
            .await
            .map_err(|_| BodyError::Gone)
    }
}

/// What a malformed or oversized client body is answered with.
fn body_error(e: WireError) -> BodyError {
    match e {
        WireError::TooLarge => BodyError::Refused(GatewayResponse::RequestTooLong),
        WireError::Http(err) => BodyError::Refused(GatewayResponse::from_http_error(err)),
        _ => BodyError::Gone,
    }
}

/// Answers with a gateway response instead of the backend's. The output buffer is cleared
/// first: nothing written for the client before the failure may precede the error.
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
    match conn.send_out(true, limits.send_timeout).await {
        Ok(()) if ctx.keep_alive => Next::KeepAlive,
        _ => Next::Close,
    }
}

/// Request buffering, as nginx's `proxy_request_buffering`: a body of at most `limit` bytes
/// (the method's `request_buffer_bytes`) is read whole into the upstream head before any backend is
/// chosen or connected, so a slow client holds no backend connection and the exchange can be
/// replayed on a stale pooled connection. A longer body is streamed: a `Content-Length` one
/// from its start, a chunked one after its first `limit` bytes. Returns the reader
/// for what is left to stream (done when everything was buffered). A client that waits for
/// `100 Continue` gets it here when its body is buffered (`req.expect_continue` is then
/// cleared so the relay does not send it again). `raw`: a chunked body is kept raw too, like
/// an HTTP/2 one, and sent with a `Content-Length` once it ended within the buffer.
async fn buffer_request_body(
    conn: &mut ClientConn,
    req: &mut RequestInfo,
    limits: &Limits,
    limit: u64,
    raw: bool,
) -> Result<BodyReader, ProxyError> {
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
        BodyFraming::Chunked | BodyFraming::UntilEnd => {
            let reader = BodyReader::new(req.framing.reader(), limits.max_body_bytes);
            if limit == 0 {
                return Ok(reader);
            }
            // An HTTP/2 body of unknown length is kept raw until it is known whether it ends
            // within the buffer (see `frame_until_end`).
            (reader, req.framing == BodyFraming::Chunked && !raw)
        }
    };
    if req.expect_continue && conn.inbuf.pending().is_empty() {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
        req.expect_continue = false;
    }
    let head_end = conn.upstream_head.len();
    let mut buffered: u64 = 0;
    loop {
        while let Some((s, e)) =
            body.take_buffered(&mut conn.inbuf)
                .map_err(|e| match body_error(e) {
                    BodyError::Refused(r) => ProxyError::Respond(r),
                    BodyError::Gone => ProxyError::Close,
                })?
        {
            push_piece(&mut conn.upstream_head, &conn.inbuf.raw()[s..e], chunked);
            buffered += (e - s) as u64;
        }
        if body.is_done() || buffered >= limit {
            if req.framing == BodyFraming::UntilEnd || (raw && req.framing == BodyFraming::Chunked)
            {
                let done = body.is_done();
                if let Some(n) = frame_until_end(&mut conn.upstream_head, head_end, done) {
                    req.framing = BodyFraming::Length(n);
                }
            } else if chunked && body.is_done() {
                conn.upstream_head.extend_from_slice(LAST_CHUNK);
            }
            return Ok(body);
        }
        body.read_more(&mut conn.stream, &mut conn.inbuf, limits.body_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
    }
}

/// Frames an HTTP/2 body of unknown length that was buffered raw after its backend head
/// (which ends with `Transfer-Encoding: chunked`). When the body ended within the buffer, the
/// head announces its length instead, as any HTTP/1.1 client would (some backends refuse
/// chunked requests), and the length is returned; otherwise what was buffered becomes the first
/// chunk and the rest streams as chunks.
fn frame_until_end(buf: &mut Vec<u8>, head_end: usize, done: bool) -> Option<u64> {
    const CHUNKED_END: &[u8] = b"Transfer-Encoding: chunked\r\n\r\n";
    let body = buf.split_off(head_end);
    if done && buf.ends_with(CHUNKED_END) {
        buf.truncate(buf.len() - CHUNKED_END.len());
        let n = body.len() as u64;
        let mut digits = itoa::Buffer::new();
        write_header(buf, b"Content-Length", digits.format(n).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(&body);
        return Some(n);
    }
    push_piece(buf, &body, true);
    if done {
        buf.extend_from_slice(LAST_CHUNK);
    }
    None
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
    let out_framing = client_framing(backend.head.framing, client_minor, ctx.h2);
    write_response_head(shard, conn, backend, ctx, out_framing, client_minor);
    backend.inbuf.consume(backend.head.head_len);
    if out_framing == OutFraming::Close {
        ctx.keep_alive = false;
    }
    let chunked = out_framing == OutFraming::Chunked;
    let mut body = BodyReader::new(backend.head.framing.into(), u64::MAX);
    loop {
        while let Some((s, e)) = body
            .take_buffered(&mut backend.inbuf)
            .map_err(|_| ProxyError::Close)?
        {
            push_piece(&mut conn.out, &backend.inbuf.raw()[s..e], chunked);
            cache_filter::capture_body(ctx, &backend.inbuf.raw()[s..e]);
            ctx.response_body_bytes += (e - s) as u64;
            if conn.out.len() >= FLUSH_AT {
                flush_to_client(conn, false, limits).await?;
            }
        }
        if body.is_done() {
            break;
        }
        flush_to_client(conn, false, limits).await?;
        body.read_more(&mut backend.stream, &mut backend.inbuf, read_timeout)
            .await
            .map_err(|_| ProxyError::Close)?;
    }
    if chunked {
        conn.out.extend_from_slice(LAST_CHUNK);
    }
    flush_to_client(conn, true, limits).await
}

/// Sends the staged part of the response; `last`: it ends with these bytes.
async fn flush_to_client(
    conn: &mut ClientConn,
    last: bool,
    limits: &Limits,
) -> Result<(), ProxyError> {
    conn.send_out(last, limits.send_timeout)
        .await
        .map_err(|_| ProxyError::Close)
}

/// The framing the client gets for a backend body framed as `framing`. HTTP/2 has no chunked
/// coding: a body of unknown length ends with the stream ([`OutFraming::Close`]).
fn client_framing(framing: ResponseFraming, client_minor: u8, h2: bool) -> OutFraming {
    match framing {
        ResponseFraming::None => OutFraming::NoBody,
        ResponseFraming::Length(n) => OutFraming::Length(n),
        ResponseFraming::Chunked | ResponseFraming::UntilClose if client_minor >= 1 && !h2 => {
            OutFraming::Chunked
        }
        ResponseFraming::Chunked | ResponseFraming::UntilClose => OutFraming::Close,
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
        if let Some(cors) = &mut ctx.cors {
            cors.saw(name);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Parsed, RequestHead};

    #[test]
    fn response_framing_follows_the_client_version() {
        assert_eq!(
            client_framing(ResponseFraming::UntilClose, 1, false),
            OutFraming::Chunked
        );
        assert_eq!(
            client_framing(ResponseFraming::UntilClose, 0, false),
            OutFraming::Close
        );
        assert_eq!(
            client_framing(ResponseFraming::Chunked, 0, false),
            OutFraming::Close
        );
        assert_eq!(
            client_framing(ResponseFraming::Length(3), 0, false),
            OutFraming::Length(3)
        );
        assert_eq!(
            client_framing(ResponseFraming::None, 1, false),
            OutFraming::NoBody
        );
        assert_eq!(
            client_framing(ResponseFraming::Chunked, 1, true),
            OutFraming::Close
        );
    }

    #[test]
    fn an_http2_body_that_ended_in_the_buffer_gets_a_length() {
        let head = b"POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"hello");
        assert_eq!(frame_until_end(&mut buf, head.len(), true), Some(5));
        assert_eq!(
            buf,
            b"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello"
        );
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"hello");
        assert_eq!(frame_until_end(&mut buf, head.len(), false), None);
        assert!(buf.ends_with(b"chunked\r\n\r\n5\r\nhello\r\n"), "{buf:?}");
    }

    #[test]
    fn gateway_owned_response_headers_are_replaced() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret\r\n\r\n";
        let mut head = RequestHead::new();
        assert_eq!(head.parse(raw, 8192), Ok(Parsed::Complete));
        let tokens = ConnectionTokens::of(&head.headers, raw);
        assert!(skip_response_header(b"Date", &tokens, OutFraming::Chunked));
        assert!(skip_response_header(
            b"X-Secret",
            &tokens,
            OutFraming::Chunked
        ));
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
        assert!(!skip_response_header(b"ETag", &tokens, OutFraming::Chunked));
    }
}
