//! Phase 3: the gateway's part of every response head.
//!
//! Integrations decide status, headers and body; this phase adds what the gateway owes every
//! response (`Date`, `x-amzn-RequestId`, `x-amzn-ErrorType` on its own errors), states the
//! framing the client will see, and says whether the connection stays open. Heads are written
//! straight into the connection's output buffer: no allocation per response.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::gateway_response::{GatewayResponse, Resolved};
use crate::pipeline::context::RequestCtx;

/// How the body that follows a head is delimited for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFraming {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 clients of a streamed body), or by the
    /// end of the stream on HTTP/2.
    Close,
    /// No body and no framing header written here (HEAD, 204, 304: the integration's own
    /// `Content-Length`, if any, was passed through).
    NoBody,
}

/// The `Date` header value, formatted once per second per shard.
#[derive(Debug)]
pub struct DateCache {
    second: Cell<u64>,
    value: Cell<[u8; 29]>,
}

impl Default for DateCache {
    fn default() -> Self {
        let cache = DateCache {
            second: Cell::new(u64::MAX),
            value: Cell::new([b' '; 29]),
        };
        cache.refresh();
        cache
    }
}

impl DateCache {
    /// The current IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn get(&self) -> [u8; 29] {
        self.refresh();
        self.value.get()
    }

    fn refresh(&self) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.second.get() {
            let text = httpdate::fmt_http_date(now);
            let mut v = [b' '; 29];
            let n = text.len().min(29);
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            self.value.set(v);
            self.second.set(secs);
        }
    }
}

/// Starts a response head: `HTTP/1.1 {status} {reason}`.
pub fn status_line(out: &mut Vec<u8>, status: u16, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

pub use crate::http::write_header as header;

/// Ends a response head with the gateway's headers, the framing and the connection decision.
pub fn finish_head(
    out: &mut Vec<u8>,
    ctx: &RequestCtx,
    date: &DateCache,
    framing: OutFraming,
    client_minor_version: u8,
) {
    header(out, b"Date", &date.get());
    header(out, b"x-amzn-RequestId", &ctx.request_id);
    if let Some(cors) = &ctx.cors {
        cors.write(out);
    }
    match framing {
        OutFraming::Length(n) => {
            let mut b = itoa::Buffer::new();
            header(out, b"Content-Length", b.format(n).as_bytes());
        }
        OutFraming::Chunked => header(out, b"Transfer-Encoding", b"chunked"),
        OutFraming::Close | OutFraming::NoBody => {}
    }
    let keep_alive = ctx.keep_alive && framing != OutFraming::Close;
    if ctx.h2 {
        // HTTP/2 has no connection-level fields; the stream ends the response.
    } else if !keep_alive {
        header(out, b"Connection", b"close");
    } else if client_minor_version == 0 {
        header(out, b"Connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete response the gateway generates itself (AWS's gateway responses).
pub fn gateway_response(
    out: &mut Vec<u8>,
    ctx: &mut RequestCtx,
    date: &DateCache,
    response: GatewayResponse,
    client_minor_version: u8,
) {
    ctx.error = Some(response);
    // A message built for this request (a resource policy's denial names the method ARN).
    let message = ctx.error_message.as_deref();
    if let Some(responses) = ctx.responses.clone() {
        let id = std::str::from_utf8(&ctx.request_id).unwrap_or("");
        let validation = ctx.validation_error.as_deref();
        let values = std::mem::take(&mut ctx.response_values);
        if let Some(resolved) = responses.resolve(response, message, validation, id, &values) {
            return overridden(out, ctx, date, response, &resolved, client_minor_version);
        }
    }
    let built;
    let body = match message {
        Some(m) => {
            let mut body = serde_json::Map::new();
            body.insert(response.message_key().into(), m.into());
            built = serde_json::Value::Object(body).to_string();
            built.as_bytes()
        }
        None => response.body(),
    };
    status_line(out, response.status(), reason_phrase(response.status()));
    header(out, b"Content-Type", b"application/json");
    header(out, b"x-amzn-ErrorType", response.error_type().as_bytes());
    finish_head(
        out,
        ctx,
        date,
        OutFraming::Length(body.len() as u64),
        client_minor_version,
    );
    ctx.status = response.status();
    if !ctx.is_head {
        out.extend_from_slice(body);
        ctx.response_body_bytes = body.len() as u64;
    }
}

/// A gateway response with the API's `gatewayResponses` override applied.
fn overridden(
    out: &mut Vec<u8>,
    ctx: &mut RequestCtx,
    date: &DateCache,
    response: GatewayResponse,
    resolved: &Resolved<'_>,
    client_minor_version: u8,
) {
    status_line(out, resolved.status, reason_phrase(resolved.status));
    header(out, b"Content-Type", resolved.content_type.as_bytes());
    header(out, b"x-amzn-ErrorType", response.error_type().as_bytes());
    for (name, value) in &resolved.headers {
        if let Some(cors) = &mut ctx.cors {
            cors.saw(name.as_bytes());
        }
        header(out, name.as_bytes(), value.as_bytes());
    }
    let body = &resolved.body;
    let framing = OutFraming::Length(body.len() as u64);
    finish_head(out, ctx, date, framing, client_minor_version);
    ctx.status = resolved.status;
    if !ctx.is_head {
        out.extend_from_slice(body);
        ctx.response_body_bytes = body.len() as u64;
    }
}

/// Reason phrase for statuses the gateway produces itself.
pub fn reason_phrase(status: u16) -> &'static [u8] {
    match status {
        100 => b"Continue",
        200 => b"OK",
        201 => b"Created",
        202 => b"Accepted",
        204 => b"No Content",
        301 => b"Moved Permanently",
        302 => b"Found",
        304 => b"Not Modified",
        400 => b"Bad Request",
        401 => b"Unauthorized",
        403 => b"Forbidden",
        404 => b"Not Found",
        408 => b"Request Timeout",
        413 => b"Payload Too Large",
        429 => b"Too Many Requests",
        431 => b"Request Header Fields Too Large",
        500 => b"Internal Server Error",
        501 => b"Not Implemented",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        504 => b"Gateway Timeout",
        505 => b"HTTP Version Not Supported",
        _ => b"Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(keep_alive: bool) -> RequestCtx {
        RequestCtx::new(7, keep_alive, false)
    }

    #[test]
    fn gateway_responses_carry_aws_headers() {
        let mut out = Vec::new();
        let date = DateCache::default();
        let mut ctx = ctx(true);
        gateway_response(
            &mut out,
            &mut ctx,
            &date,
            GatewayResponse::MissingAuthenticationToken,
            1,
        );
        assert_eq!(ctx.status, 403);
        assert_eq!(ctx.response_body_bytes, 42);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
        assert!(text.contains("x-amzn-ErrorType: MissingAuthenticationTokenException\r\n"));
        assert!(text.contains("x-amzn-RequestId: "));
        assert!(text.contains("Date: "));
        assert!(text.contains("Content-Length: 42\r\n"));
        assert!(!text.contains("Connection: close"));
        assert!(text.ends_with("\r\n\r\n{\"message\":\"Missing Authentication Token\"}"));
    }

    #[test]
    fn closing_and_http10_keep_alive_are_stated() {
        let date = DateCache::default();
        let mut out = Vec::new();
        finish_head(&mut out, &ctx(false), &date, OutFraming::Length(0), 1);
        assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
        out.clear();
        finish_head(&mut out, &ctx(true), &date, OutFraming::Length(0), 0);
        assert!(String::from_utf8_lossy(&out).contains("Connection: keep-alive\r\n"));
        out.clear();
        finish_head(&mut out, &ctx(true), &date, OutFraming::Close, 1);
        assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
    }

    #[test]
    fn date_is_an_imf_fixdate() {
        let d = DateCache::default().get();
        let s = std::str::from_utf8(&d).unwrap();
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok());
    }
}
