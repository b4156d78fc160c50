//! The responder: the one place a [`Reply`] becomes an HTTP/1.1 response.
//!
//! It writes the status line and the reply's headers, remaps the header names the gateway
//! owns, adds the gateway's own headers and framing ([`response_filter::finish_head`]),
//! leaves the body out for `HEAD`, and records status and body bytes for metrics and logs.

use crate::exchange::Reply;
use crate::pipeline::cache_filter;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::response_filter::{self, DateCache, OutFraming};

/// Writes `reply` whole into `out`.
pub fn write_reply(
    out: &mut Vec<u8>,
    ctx: &mut RequestCtx,
    date: &DateCache,
    reply: &Reply<'_>,
    client_minor_version: u8,
) {
    let status = reply.status;
    let reason = response_filter::reason_phrase(status);
    response_filter::status_line(out, status, reason);
    let headers_start = out.len();
    for (name, value) in reply.headers.iter() {
        if is_framing(name) {
            continue;
        }
        if let Some(cors) = &mut ctx.cors {
            cors.saw(name.as_bytes());
        }
        response_filter::header(out, name.as_bytes(), value.as_bytes());
    }
    let body = reply.body.bytes();
    let framing = OutFraming::Length(body.len() as u64);
    // The cache tee: on a stage-cache miss, any integration's reply is captured as it is
    // written (stored afterwards if 2xx and small enough).
    cache_filter::capture_head(ctx, out, headers_start, status, reason, framing);
    cache_filter::capture_body(ctx, body);
    cache_filter::capture_done(ctx);
    response_filter::finish_head(out, ctx, date, framing, client_minor_version);
    ctx.status = status;
    if !ctx.is_head {
        out.extend_from_slice(body);
        ctx.response_body_bytes = body.len() as u64;
    }
}

/// Headers the responder writes itself; a reply's own copy would corrupt the framing.
fn is_framing(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Body, Headers};

    fn reply() -> Reply<'static> {
        Reply {
            status: 201,
            headers: Headers::Owned(vec![
                ("content-type".into(), "application/json".into()),
                ("Content-Length".into(), "99".into()),
            ]),
            body: Body::Owned(b"{\"ok\":true}".to_vec()),
        }
    }

    #[test]
    fn writes_status_headers_and_body() {
        let mut out = Vec::new();
        let mut ctx = RequestCtx::new(1, true, false);
        write_reply(&mut out, &mut ctx, &DateCache::default(), &reply(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 201 Created\r\n"));
        assert!(text.contains("content-type: application/json\r\n"));
        assert!(text.contains("Content-Length: 11\r\n"));
        assert!(!text.contains("99"));
        assert!(text.ends_with("\r\n\r\n{\"ok\":true}"));
        assert_eq!((ctx.status, ctx.response_body_bytes), (201, 11));
    }

    #[test]
    fn head_requests_get_the_length_but_no_body() {
        let mut out = Vec::new();
        let mut ctx = RequestCtx::new(1, true, true);
        write_reply(&mut out, &mut ctx, &DateCache::default(), &reply(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 11\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(ctx.response_body_bytes, 0);
    }
}
