//! `MOCK`: the gateway answers from the configuration, without a backend.

use crate::pipeline::context::RequestCtx;
use crate::pipeline::response_filter::{self, DateCache, OutFraming};
use crate::snapshot::MockIntegration;

/// Writes the whole mock response (head and, unless `HEAD`, body) into `out`.
pub fn respond(
    out: &mut Vec<u8>,
    ctx: &mut RequestCtx,
    date: &DateCache,
    mock: &MockIntegration,
    client_minor_version: u8,
) {
    response_filter::status_line(
        out,
        mock.status,
        response_filter::reason_phrase(mock.status),
    );
    for (name, value) in &mock.headers {
        response_filter::header(out, name.as_bytes(), value.as_bytes());
    }
    let framing = OutFraming::Length(mock.body.len() as u64);
    response_filter::finish_head(out, ctx, date, framing, client_minor_version);
    ctx.status = mock.status;
    if !ctx.is_head {
        out.extend_from_slice(&mock.body);
        ctx.response_body_bytes = mock.body.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock() -> MockIntegration {
        MockIntegration {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"ok\":true}".to_vec().into_boxed_slice(),
        }
    }

    #[test]
    fn writes_status_headers_and_body() {
        let mut out = Vec::new();
        let mut ctx = RequestCtx::new(1, true, false);
        respond(&mut out, &mut ctx, &DateCache::default(), &mock(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 201 Created\r\n"));
        assert!(text.contains("content-type: application/json\r\n"));
        assert!(text.contains("Content-Length: 11\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"ok\":true}"));
    }

    #[test]
    fn head_requests_get_the_length_but_no_body() {
        let mut out = Vec::new();
        let mut ctx = RequestCtx::new(1, true, true);
        respond(&mut out, &mut ctx, &DateCache::default(), &mock(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 11\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
