//! The request head of an HTTP/2 stream, in the same [`RequestHead`] the HTTP/1.1 parser
//! fills, so routing, limits, the cache key, integrations and logs read one shape whatever
//! the client spoke.
//!
//! Nothing is rewritten as HTTP/1.1 text and parsed back: the method, target and header
//! fields the `h2` crate decoded (HPACK, pseudo-headers checked) are copied once into the
//! stream's buffer and the spans are set directly.

use super::headers::is_valid_authority;
use super::request::{BodyFraming, RequestHead, MAX_HEADERS};
use super::{Header, HttpError, Span};

/// Fields that exist only in HTTP/1.1 or that this function writes itself.
fn skipped(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "cookie" | "connection" | "keep-alive" | "proxy-connection" | "upgrade" | "te"
    )
}

impl RequestHead {
    /// Fills the head from a decoded HTTP/2 request, copying its bytes into `buf` (cleared
    /// first); the spans index `buf`, and `head_len` is its length, so body bytes read into
    /// the same buffer later follow the head as they do on HTTP/1.1.
    ///
    /// `:authority` (else `host`) becomes the `host` field; cookie crumbs are joined with `; `
    /// (RFC 9113 §8.2.3) so an HTTP/1.1 backend sees one `cookie` line; the body is
    /// `content-length` long, absent when the stream ended with its headers, else
    /// [`BodyFraming::UntilEnd`]. Errors are those the HTTP/1.1 parser gives for the same
    /// faults: 431 beyond [`MAX_HEADERS`] fields or when the head written as HTTP/1.1 would
    /// exceed `max_head` bytes (so both protocols share AWS's 10,240-byte header limit), 400
    /// for a bad target, authority or length.
    pub fn from_h2(
        &mut self,
        parts: &http::request::Parts,
        end_stream: bool,
        max_head: usize,
        buf: &mut Vec<u8>,
    ) -> Result<(), HttpError> {
        buf.clear();
        self.headers.clear();
        self.minor_version = 1;
        self.keep_alive = true;
        self.expect_continue = false;
        self.method = push(buf, parts.method.as_str().as_bytes());
        let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
        if !target.starts_with('/') {
            return Err(HttpError::BadRequest("HTTP/2 request without a path"));
        }
        self.target = push(buf, target.as_bytes());
        self.split_target(buf)?;
        let authority = match parts.uri.authority() {
            Some(a) => Some(a.as_str().as_bytes()),
            None => parts.headers.get(http::header::HOST).map(|h| h.as_bytes()),
        };
        self.host = None;
        if let Some(authority) = authority {
            if authority.is_empty() || !is_valid_authority(authority) {
                return Err(HttpError::BadRequest("invalid :authority"));
            }
            let value = self.field(buf, b"host", authority)?;
            self.host = Some(value);
        }
        let mut length: Option<u64> = None;
        for (name, value) in &parts.headers {
            if skipped(name) {
                continue;
            }
            if name == http::header::CONTENT_LENGTH {
                let n = parse_length(value.as_bytes())?;
                if length.is_some_and(|seen| seen != n) {
                    return Err(HttpError::BadRequest("conflicting content-length"));
                }
                length = Some(n);
            }
            self.field(buf, name.as_str().as_bytes(), value.as_bytes())?;
        }
        self.join_cookies(parts, buf)?;
        self.framing = match (length, end_stream) {
            (Some(n), _) => BodyFraming::Length(n),
            (None, true) => BodyFraming::None,
            (None, false) => BodyFraming::UntilEnd,
        };
        self.head_len = buf.len();
        // As HTTP/1.1: `METHOD SP target SP HTTP/1.1 CRLF`, `name: value CRLF` per field, CRLF.
        let as_http1 = buf.len() + 14 + 4 * self.headers.len();
        if as_http1 > max_head {
            return Err(HttpError::HeadersTooLarge);
        }
        Ok(())
    }

    /// Appends one header field; returns the span of its value.
    fn field(&mut self, buf: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<Span, HttpError> {
        if self.headers.len() >= MAX_HEADERS {
            return Err(HttpError::HeadersTooLarge);
        }
        let name = push(buf, name);
        let value = push(buf, value);
        self.headers.push(Header { name, value });
        Ok(value)
    }

    /// Writes all `cookie` fields as one, joined by `; `.
    fn join_cookies(
        &mut self,
        parts: &http::request::Parts,
        buf: &mut Vec<u8>,
    ) -> Result<(), HttpError> {
        let mut crumbs = parts.headers.get_all(http::header::COOKIE).iter();
        let Some(first) = crumbs.next() else {
            return Ok(());
        };
        if self.headers.len() >= MAX_HEADERS {
            return Err(HttpError::HeadersTooLarge);
        }
        let name = push(buf, b"cookie");
        let start = buf.len();
        buf.extend_from_slice(first.as_bytes());
        for more in crumbs {
            buf.extend_from_slice(b"; ");
            buf.extend_from_slice(more.as_bytes());
        }
        let value = span(start, buf.len());
        self.headers.push(Header { name, value });
        Ok(())
    }
}

/// Appends `bytes` to `buf`; returns where they are.
fn push(buf: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = buf.len();
    buf.extend_from_slice(bytes);
    span(start, buf.len())
}

fn span(start: usize, end: usize) -> Span {
    // Heads are bounded by the h2 header-list limit (16 KiB), far below u32::MAX.
    Span {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        end: u32::try_from(end).unwrap_or(u32::MAX),
    }
}

/// A `content-length` value: plain digits, as the HTTP/1.1 parser requires.
fn parse_length(value: &[u8]) -> Result<u64, HttpError> {
    let bad = HttpError::BadRequest("invalid content-length");
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(req: http::Request<()>, end_stream: bool) -> (RequestHead, Vec<u8>) {
        let (parts, ()) = req.into_parts();
        let mut head = RequestHead::new();
        let mut buf = Vec::new();
        head.from_h2(&parts, end_stream, 8192, &mut buf).unwrap();
        (head, buf)
    }

    #[test]
    fn fields_become_spans_with_host_and_joined_cookies() {
        let req = http::Request::post("https://api.test/v1/pets?x=1&y=2")
            .header("cookie", "a=1")
            .header("x-custom", "yes")
            .header("cookie", "b=2")
            .header("content-length", "5")
            .body(())
            .unwrap();
        let (head, buf) = head_of(req, false);
        assert_eq!(head.method.get(&buf), b"POST");
        assert_eq!(head.path.get(&buf), b"/v1/pets");
        assert_eq!(head.query.unwrap().get(&buf), b"x=1&y=2");
        assert_eq!(head.host.unwrap().get(&buf), b"api.test");
        assert_eq!(head.framing, BodyFraming::Length(5));
        assert_eq!(head.head_len, buf.len());
        let fields: Vec<(String, String)> = head
            .headers
            .iter()
            .map(|h| {
                let text = |s: Span| String::from_utf8(s.get(&buf).to_vec()).unwrap();
                (text(h.name), text(h.value))
            })
            .collect();
        let expected = [
            ("host", "api.test"),
            ("x-custom", "yes"),
            ("content-length", "5"),
            ("cookie", "a=1; b=2"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(fields, expected);
        assert_eq!(head.header(&buf, "X-Custom"), Some(&b"yes"[..]));
    }

    #[test]
    fn framing_follows_end_of_stream_and_length() {
        let get = || http::Request::get("http://h/").body(()).unwrap();
        assert_eq!(head_of(get(), true).0.framing, BodyFraming::None);
        assert_eq!(head_of(get(), false).0.framing, BodyFraming::UntilEnd);
        assert!(BodyFraming::UntilEnd.forwarded_chunked());
    }

    #[test]
    fn bad_input_gets_the_http1_errors() {
        let mut head = RequestHead::new();
        let mut buf = Vec::new();
        let (parts, ()) = http::Request::post("http://h/")
            .header("content-length", "5x")
            .body(())
            .unwrap()
            .into_parts();
        assert!(matches!(
            head.from_h2(&parts, false, 8192, &mut buf),
            Err(HttpError::BadRequest(_))
        ));
        let mut many = http::Request::get("http://h/");
        for i in 0..=MAX_HEADERS {
            many = many.header(format!("x-{i}"), "v");
        }
        let (parts, ()) = many.body(()).unwrap().into_parts();
        assert_eq!(
            head.from_h2(&parts, true, 1 << 20, &mut buf),
            Err(HttpError::HeadersTooLarge)
        );
        // `GET / HTTP/1.1\r\nhost: h\r\nx: 12345\r\n\r\n` is 37 bytes as HTTP/1.1.
        let (parts, ()) = http::Request::get("http://h/")
            .header("x", "12345")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(head.from_h2(&parts, true, 37, &mut buf), Ok(()));
        assert_eq!(
            head.from_h2(&parts, true, 36, &mut buf),
            Err(HttpError::HeadersTooLarge)
        );
    }
}
