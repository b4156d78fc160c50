//! HTTP/2 downstream (RFC 9113) with the `h2` crate: over TLS when ALPN picks `h2`, and as
//! h2c with prior knowledge on plain listeners (the connection starts with the preface).
//!
//! Each stream's request is rewritten as an HTTP/1.1 message and served by the same code as
//! HTTP/1.1 connections, over an in-memory stream ([`MemStream`]): routing, limits, gateway
//! responses and integrations are shared, and backends stay HTTP/1.1. Request and response
//! bodies stream through bounded [`Pipe`]s, paced by HTTP/2 flow control on both sides.
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
use http::{HeaderName, HeaderValue, StatusCode};
use monoio::net::TcpStream;

use crate::http::{ChunkedDecoder, Decoded, Parsed, ResponseFraming, ResponseHead};
use crate::server::client::ClientConn;
use crate::server::connection;
use crate::server::h2_io::H2Io;
use crate::server::https::TlsInfo;
use crate::server::shard::ShardCtx;
use crate::server::stream::{ClientStream, MemStream, Pipe, PIPE_HIGH_WATER};

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
/// Largest response head the pipeline writes (it builds them itself; this only bounds a bug).
const MAX_RESPONSE_HEAD: usize = 1 << 20;
/// Receive buffer of a stream's in-memory HTTP/1.1 connection (grows for large heads).
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
    let limits = shard.snapshots.current().limits.clone();
    let deadline = Instant::now() + limits.header_timeout.min(limits.idle_timeout);
    loop {
        match preface_state(conn.inbuf.pending()) {
            None => return connection::serve_conn(shard, conn).await,
            Some(true) => break,
            Some(false) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if shard.is_draining() || left.is_zero() {
            return;
        }
        let read = conn
            .inbuf
            .fill_cancelable(&mut conn.stream, left, shard.drain_handle())
            .await;
        if !matches!(read, Ok(n) if n > 0) {
            return;
        }
    }
    let received = conn.inbuf.pending().to_vec();
    let ClientStream::Plain(socket) = conn.stream else {
        return;
    };
    serve(shard, H2Io::new(socket, received, None), peer, None).await;
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
    async fn run(self, req: http::Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        let (parts, body) = req.into_parts();
        let body_timeout = self.shard.snapshots.current().limits.body_timeout;
        let is_head = parts.method == http::Method::HEAD;
        let mut body = Some(body);
        let start = match start_body(&parts, &mut body, body_timeout).await {
            Some(start) => start,
            None => {
                respond.send_reset(h2::Reason::CANCEL);
                self.open.set(self.open.get().saturating_sub(1));
                return;
            }
        };
        let input = Pipe::new();
        let output = Pipe::new();
        // The head and the first piece fit: the pipe is empty and its bound only holds
        // writers back.
        let _ = input.push(&http1_head(&parts, start.framing)).await;
        let _ = push_piece(&input, &start.data, start.framing).await;
        let stream = ClientStream::Memory(MemStream::new(Rc::clone(&input), Rc::clone(&output)));
        let mut conn = ClientConn::with_buffer(stream, self.peer, STREAM_BUF);
        if let Some(tls) = &self.tls {
            tls.apply(&mut conn);
        }
        let pump = async {
            if let Some(body) = body {
                pump_body(body, &input, start.framing, body_timeout).await;
            }
            input.finish();
        };
        let serve = async {
            connection::serve_conn(&self.shard, conn).await;
            // A body the pipeline did not read (a 413, a mock) is not waited for.
            input.abandon();
            output.finish();
        };
        let relay = async {
            let relayed = relay_response(&output, &mut respond, is_head).await;
            if let Err(e) = &relayed {
                output.abandon();
                respond.send_reset(e.reason());
                tracing::debug!(peer = %self.peer, "h2 response: {e}");
            }
        };
        monoio::join!(pump, serve, relay);
        self.open.set(self.open.get().saturating_sub(1));
    }
}

/// How the rewritten HTTP/1.1 request delimits its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// The stream ended with its headers.
    None,
    /// The client announced `content-length` (h2 checks the DATA frames against it).
    Length(u64),
    /// Length unknown: the body is re-framed as chunked.
    Chunked,
}

/// The framing a request announces for itself: none when the stream ended with its headers,
/// else its `content-length`, if any.
fn declared_framing(parts: &http::request::Parts, end_stream: bool) -> Option<RequestFraming> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match (end_stream, declared) {
        (true, Some(0)) | (true, None) => Some(RequestFraming::None),
        (_, Some(n)) => Some(RequestFraming::Length(n)),
        (false, None) => None,
    }
}

/// How the body starts: its framing and the bytes already read.
struct BodyStart {
    framing: RequestFraming,
    data: Vec<u8>,
}

/// Decides the framing. A body of unknown length is read up to one pipe's worth: if it ends
/// by then, the backend gets a `Content-Length` as from any HTTP/1.1 client (most request
/// bodies); otherwise it streams as chunked. `body` is taken when it is fully read. `None`:
/// the client reset or stalled.
async fn start_body(
    parts: &http::request::Parts,
    body: &mut Option<RecvStream>,
    timeout: Duration,
) -> Option<BodyStart> {
    let recv = body.as_mut()?;
    if let Some(framing) = declared_framing(parts, recv.is_end_stream()) {
        if framing == RequestFraming::None {
            *body = None;
        }
        return Some(BodyStart {
            framing,
            data: Vec::new(),
        });
    }
    let mut data = Vec::new();
    while data.len() < PIPE_HIGH_WATER {
        match monoio::time::timeout(timeout, recv.data()).await {
            Ok(Some(Ok(chunk))) => {
                let _ = recv.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            Ok(None) => {
                *body = None;
                return Some(BodyStart {
                    framing: RequestFraming::Length(data.len() as u64),
                    data,
                });
            }
            Ok(Some(Err(_))) | Err(_) => return None,
        }
    }
    Some(BodyStart {
        framing: RequestFraming::Chunked,
        data,
    })
}

/// Puts body bytes into the pipe, as a chunk when the body is re-framed as chunked.
async fn push_piece(input: &Pipe, data: &[u8], framing: RequestFraming) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if framing == RequestFraming::Chunked {
        let mut frame = Vec::with_capacity(data.len() + 24);
        crate::http::write_chunk(&mut frame, data);
        input.push(&frame).await
    } else {
        input.push(data).await
    }
}

/// Moves the stream's DATA into `input` as the pipeline reads it, releasing flow-control
/// window only for what the pipe took, so a client can never make the gateway hold more
/// than the pipe's bound and one window of its body.
async fn pump_body(mut body: RecvStream, input: &Pipe, framing: RequestFraming, timeout: Duration) {
    loop {
        let chunk = match monoio::time::timeout(timeout, body.data()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break,
            // Reset by the client or stalled: the pipeline sees the body end early.
            Ok(Some(Err(_))) | Err(_) => return,
        };
        if push_piece(input, &chunk, framing).await.is_err() {
            return;
        }
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if framing == RequestFraming::Chunked {
        let _ = input.push(b"0\r\n\r\n").await;
    }
}

/// Headers that are connection-specific in HTTP/1.1 (and forbidden in HTTP/2), or that the
/// rewrite sets itself.
fn skipped_request_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "upgrade"
            | "te"
            | "expect"
            | "cookie"
    )
}

/// The HTTP/1.1 head equivalent to an HTTP/2 request's: `:authority` (else `host`) becomes
/// `Host`, cookie crumbs are joined (RFC 9113 §8.2.3), and the body is announced by
/// `framing`.
pub fn http1_head(parts: &http::request::Parts, framing: RequestFraming) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host = match parts.uri.authority() {
        Some(a) => Some(a.as_str().as_bytes()),
        None => parts.headers.get(http::header::HOST).map(|h| h.as_bytes()),
    };
    if let Some(host) = host {
        push_header(&mut out, b"host", host);
    }
    for (name, value) in &parts.headers {
        if !skipped_request_header(name) {
            push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    let mut cookies = parts.headers.get_all(http::header::COOKIE).iter();
    if let Some(first) = cookies.next() {
        out.extend_from_slice(b"cookie: ");
        out.extend_from_slice(first.as_bytes());
        for more in cookies {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(more.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            let mut digits = itoa::Buffer::new();
            push_header(&mut out, b"content-length", digits.format(n).as_bytes());
        }
        RequestFraming::Chunked => push_header(&mut out, b"transfer-encoding", b"chunked"),
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Why an HTTP/1.1 response could not be relayed as HTTP/2.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The pipeline ended without a complete, well-formed response.
    #[error("no complete response from the pipeline")]
    Incomplete,
    /// h2 refused to send (stream reset by the client, connection gone).
    #[error("{0}")]
    H2(#[from] h2::Error),
}

impl ResponseError {
    /// The RST_STREAM code that ends the stream.
    fn reason(&self) -> h2::Reason {
        match self {
            ResponseError::Incomplete => h2::Reason::INTERNAL_ERROR,
            ResponseError::H2(_) => h2::Reason::CANCEL,
        }
    }
}

/// Response headers that do not exist in HTTP/2.
fn skipped_response_header(name: &[u8]) -> bool {
    const HOP: [&[u8]; 6] = [
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"proxy-connection",
        b"upgrade",
        b"te",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The HTTP/2 head of a parsed HTTP/1.1 response head (`buf` holds its bytes).
pub fn h2_head(head: &ResponseHead, buf: &[u8]) -> Option<http::Response<()>> {
    let mut resp = http::Response::new(());
    *resp.status_mut() = StatusCode::from_u16(head.status).ok()?;
    for h in &head.headers {
        let name = h.name.get(buf);
        if skipped_response_header(name) {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(h.value.get(buf)),
        ) else {
            continue;
        };
        resp.headers_mut().append(name, value);
    }
    Some(resp)
}

/// Relays the HTTP/1.1 response the pipeline writes into `pipe` as the stream's HTTP/2
/// response, body piece by piece as the client's flow-control window allows.
async fn relay_response(
    pipe: &Pipe,
    respond: &mut SendResponse<Bytes>,
    is_head: bool,
) -> Result<(), ResponseError> {
    let mut head = ResponseHead::new();
    loop {
        let seen = {
            let data = pipe.data();
            match head.parse(&data, MAX_RESPONSE_HEAD, is_head) {
                Ok(Parsed::Complete) => break,
                Ok(Parsed::Partial) => data.len(),
                Err(_) => return Err(ResponseError::Incomplete),
            }
        };
        if pipe.is_finished() {
            return Err(ResponseError::Incomplete);
        }
        pipe.wait_more(seen).await;
    }
    let h2_response = h2_head(&head, &pipe.data()).ok_or(ResponseError::Incomplete)?;
    pipe.consume(head.head_len);
    let no_body = matches!(
        head.framing,
        ResponseFraming::None | ResponseFraming::Length(0)
    );
    let mut send = respond.send_response(h2_response, no_body)?;
    if no_body {
        return Ok(());
    }
    let ended = match head.framing {
        ResponseFraming::Chunked => relay_chunked(pipe, &mut send).await?,
        ResponseFraming::Length(n) => relay_raw(pipe, &mut send, Some(n)).await?,
        _ => relay_raw(pipe, &mut send, None).await?,
    };
    if !ended {
        send.send_data(Bytes::new(), true)?;
    }
    Ok(())
}

/// Relays `len` bytes (or everything until the pipeline ends). Returns whether the stream
/// was ended with the last piece (known length: no empty DATA frame needed to end it).
async fn relay_raw(
    pipe: &Pipe,
    send: &mut h2::SendStream<Bytes>,
    len: Option<u64>,
) -> Result<bool, ResponseError> {
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let piece = {
            let data = pipe.data();
            let n = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            Bytes::copy_from_slice(&data[..n])
        };
        if piece.is_empty() {
            if pipe.is_finished() {
                return match len {
                    Some(_) => Err(ResponseError::Incomplete),
                    None => Ok(false),
                };
            }
            pipe.wait_more(0).await;
            continue;
        }
        pipe.consume(piece.len());
        left -= piece.len() as u64;
        let last = len.is_some() && left == 0;
        send_flow_controlled(send, piece, last).await?;
        if last {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Relays a chunked body, without its framing (the stream is left open: the last chunk is
/// only known once the terminating one is read).
async fn relay_chunked(
    pipe: &Pipe,
    send: &mut h2::SendStream<Bytes>,
) -> Result<bool, ResponseError> {
    let mut decoder = ChunkedDecoder::new();
    loop {
        let (used, decoded, piece) = {
            let data = pipe.data();
            let (used, decoded) = decoder
                .decode(&data)
                .map_err(|_| ResponseError::Incomplete)?;
            let piece = match decoded {
                Decoded::Data { start, end } => Bytes::copy_from_slice(&data[start..end]),
                _ => Bytes::new(),
            };
            (used, decoded, piece)
        };
        pipe.consume(used);
        match decoded {
            Decoded::Done => return Ok(false),
            Decoded::Data { .. } => send_flow_controlled(send, piece, false).await?,
            Decoded::NeedMore => {
                if pipe.is_finished() {
                    return Err(ResponseError::Incomplete);
                }
                let seen = pipe.data().len();
                pipe.wait_more(seen).await;
            }
        }
    }
}

/// Sends `data` as the peer's window opens, never buffering more than it allows; `end`: its
/// last DATA frame ends the stream.
async fn send_flow_controlled(
    send: &mut h2::SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), ResponseError> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = std::future::poll_fn(|cx| send.poll_capacity(cx)).await;
        let n = match granted {
            Some(Ok(n)) => n.min(data.len()),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ResponseError::Incomplete),
        };
        if n > 0 {
            let piece = data.split_to(n);
            send.send_data(piece, end && data.is_empty())?;
        }
    }
    Ok(())
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

    #[test]
    fn request_rewrite_sets_host_framing_and_joins_cookies() {
        let req = http::Request::post("https://api.test/v1/pets?x=1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-custom", "yes")
            .header("te", "trailers")
            .header("content-length", "5")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(
            declared_framing(&parts, false),
            Some(RequestFraming::Length(5))
        );
        let head = String::from_utf8(http1_head(&parts, RequestFraming::Length(5))).unwrap();
        assert_eq!(
            head,
            "POST /v1/pets?x=1 HTTP/1.1\r\nhost: api.test\r\nx-custom: yes\r\n\
             cookie: a=1; b=2\r\ncontent-length: 5\r\n\r\n"
        );
        let chunked = String::from_utf8(http1_head(&parts, RequestFraming::Chunked)).unwrap();
        assert!(
            chunked.ends_with("transfer-encoding: chunked\r\n\r\n"),
            "{chunked}"
        );
        let get = http::Request::get("http://h/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(declared_framing(&get, true), Some(RequestFraming::None));
        assert_eq!(declared_framing(&get, false), None);
    }

    #[test]
    fn response_head_drops_hop_headers() {
        let out =
            b"HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\
                    x-amzn-RequestId: abc\r\n\r\n";
        let mut head = ResponseHead::new();
        assert_eq!(head.parse(out, out.len(), false), Ok(Parsed::Complete));
        let resp = h2_head(&head, out).unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers().len(), 1);
        assert_eq!(resp.headers()["x-amzn-requestid"], "abc");
    }
}
