//! One HTTP/2 stream as the pipeline's client: its request body is read like an HTTP/1.1
//! connection's (DATA frames copied into the receive buffer, flow-control window released as
//! they are taken), and its response is sent as HTTP/2 fields and DATA frames.
//!
//! The responder writes every response head in one form, status line and header lines, into
//! the output buffer (`pipeline::respond`, `response_filter`); for HTTP/1.1 that is the wire
//! form, and here [`H2Stream::send`] turns the lines the gateway wrote itself into the
//! `http::Response` the `h2` crate encodes with HPACK. There is no HTTP/1.1 message in
//! between, no pipe and no second task: the stream's task runs the pipeline and sends.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{HeaderName, HeaderValue, StatusCode};
use monoio::buf::IoBufMut;
use monoio::BufResult;

use crate::http::is_hop_by_hop;
use crate::wire::WireError;

/// A stream being answered.
pub struct H2Stream {
    /// The request body still to come; `None` once it ended (or there was none).
    body: Option<RecvStream>,
    /// DATA received and not yet copied out.
    pending: Bytes,
    respond: SendResponse<Bytes>,
    /// Set once the response head is sent and a body follows.
    send: Option<SendStream<Bytes>>,
    /// The response head went out.
    started: bool,
    /// The response ended (END_STREAM sent).
    ended: bool,
}

impl H2Stream {
    /// A stream whose request body is `body` (`None`: it ended with the headers).
    pub fn new(body: Option<RecvStream>, respond: SendResponse<Bytes>) -> Self {
        H2Stream {
            body,
            pending: Bytes::new(),
            respond,
            send: None,
            started: false,
            ended: false,
        }
    }

    /// Whether the response head has been sent (a later failure can only reset the stream).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Copies request body bytes into `buf`; `Ok(0)` at the end of the body.
    pub async fn read_into<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        if self.pending.is_empty() {
            let Some(body) = self.body.as_mut() else {
                return (Ok(0), buf);
            };
            match body.data().await {
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(e)) => return (Err(io::Error::other(e)), buf),
                None => {
                    self.body = None;
                    return (Ok(0), buf);
                }
            }
        }
        let n = self.pending.len().min(buf.bytes_total());
        // SAFETY: `n` bytes fit in `buf` (`bytes_total`), and the source is initialised.
        unsafe {
            buf.write_ptr()
                .copy_from_nonoverlapping(self.pending.as_ptr(), n);
            buf.set_init(n);
        }
        let _ = self.pending.split_to(n);
        // The bytes now sit in the receive buffer, which the pipeline's reader bounds: the
        // client may send as many more.
        if let Some(body) = self.body.as_mut() {
            let _ = body.flow_control().release_capacity(n);
        }
        (Ok(n), buf)
    }

    /// Sends what `out` holds: first the response head the responder wrote at its start
    /// (status line, header lines, empty line), then body bytes. `last`: the response ends
    /// with these bytes. `out` is left empty.
    pub async fn send(
        &mut self,
        out: &mut Vec<u8>,
        last: bool,
        timeout: Duration,
    ) -> Result<(), WireError> {
        if self.ended {
            out.clear();
            return Err(WireError::Closed);
        }
        let body = Bytes::from(std::mem::take(out));
        let body = if self.started {
            body
        } else {
            let (head, head_len) = response_head(&body).ok_or(WireError::Closed)?;
            let body = body.slice(head_len..);
            let end = last && body.is_empty();
            let send = self.respond.send_response(head, end).map_err(h2_error)?;
            self.started = true;
            self.ended = end;
            if !end {
                self.send = Some(send);
            }
            body
        };
        if self.ended {
            return Ok(());
        }
        let Some(send) = self.send.as_mut() else {
            return Err(WireError::Closed);
        };
        match monoio::time::timeout(timeout, send_flow_controlled(send, body, last)).await {
            Ok(Ok(())) => {
                self.ended = last;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(WireError::Timeout),
        }
    }

    /// Ends an unfinished response with RST_STREAM: what a client sees when the gateway
    /// cannot complete a response it started (or any response at all).
    pub fn reset(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        match self.send.as_mut() {
            Some(send) => send.send_reset(h2::Reason::INTERNAL_ERROR),
            None => self.respond.send_reset(h2::Reason::INTERNAL_ERROR),
        }
    }
}

impl Drop for H2Stream {
    /// A stream dropped before its response ended (the client went away, a backend failed
    /// after the head, a panic) is reset rather than left open.
    fn drop(&mut self) {
        self.reset();
    }
}

fn h2_error(e: h2::Error) -> WireError {
    WireError::Io(io::Error::other(e))
}

/// Sends `data` as the peer's window opens, never buffering more than it allows; `end`: the
/// last DATA frame ends the stream (an empty one when `data` is empty).
async fn send_flow_controlled(
    send: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), WireError> {
    if data.is_empty() {
        if end {
            send.send_data(Bytes::new(), true).map_err(h2_error)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = std::future::poll_fn(|cx| send.poll_capacity(cx)).await;
        let n = match granted {
            Some(Ok(n)) => n.min(data.len()),
            Some(Err(e)) => return Err(h2_error(e)),
            None => return Err(WireError::Closed),
        };
        if n > 0 {
            let piece = data.split_to(n);
            send.send_data(piece, end && data.is_empty())
                .map_err(h2_error)?;
        }
    }
    Ok(())
}

/// The HTTP/2 response for the head the responder wrote at the start of `out`, and the head's
/// length. The lines are the gateway's own (its status line, `Name: value` lines from
/// configuration, a function result or a backend head already checked by its parser), so this
/// only splits them; a line `http` refuses as a field is left out, and hop-by-hop fields,
/// which HTTP/2 forbids (RFC 9113 §8.2.2), are never written for HTTP/2 but skipped anyway.
fn response_head(out: &[u8]) -> Option<(http::Response<()>, usize)> {
    let status = out.get(9..12)?;
    let status = StatusCode::from_bytes(status).ok()?;
    let mut at = memchr::memchr(b'\n', out)? + 1;
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    loop {
        let end = at + memchr::memchr(b'\n', out.get(at..)?)?;
        let line = out[at..end].strip_suffix(b"\r").unwrap_or(&out[at..end]);
        at = end + 1;
        if line.is_empty() {
            return Some((response, at));
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii_start();
        if is_hop_by_hop(name) {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            response.headers_mut().append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_responders_head_becomes_fields() {
        let out = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
                    x-amzn-RequestId: abc\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
                    Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}";
        let (head, len) = response_head(out).unwrap();
        assert_eq!(&out[len..], b"{}");
        assert_eq!(head.status(), 201);
        let h = head.headers();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["x-amzn-requestid"], "abc");
        assert_eq!(h["content-length"], "2");
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
        assert!(h.get("transfer-encoding").is_none());
    }

    #[test]
    fn an_incomplete_head_is_refused() {
        assert!(response_head(b"HTTP/1.1 200 OK\r\nA: b\r\n").is_none());
        assert!(response_head(b"HTTP/1.1 2").is_none());
    }
}
