//! Response head parser for what backends send back to the gateway.
//!
//! Strictness differs from requests where the risk differs: the gateway re-serialises every
//! response head it forwards, so a client only ever sees the gateway's reading. Hence bare LF
//! line endings are accepted (RFC 9112 §2.2 allows recipients to), while everything that could
//! make the gateway misjudge where the body ends (conflicting lengths, Transfer-Encoding other
//! than `chunked`) is a [`HttpError::BadResponse`]. httparse's response defaults stay on: no
//! obs-fold, no whitespace before the colon, invalid header lines are errors (not skipped),
//! bare CR is an error.

use std::mem::MaybeUninit;

use super::headers::{ConnectionOptions, ContentLength, TeVerdict, TransferCodings};
use super::{clamp_limit, find_header, Header, HttpError, Parsed, Span, MAX_HEADERS};

/// How the backend's response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: HEAD request, 1xx, 204 or 304 (whatever the headers say).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length given: the body ends when the backend closes (the connection is not reused).
    UntilClose,
}

/// A parsed backend response head. Lives in the backend connection and is reused.
///
/// Spans index the buffer passed to [`ResponseHead::parse`]; fields are meaningful only after
/// `Ok(Parsed::Complete)`.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// Status code, 100..=999. 1xx heads are returned too: the caller skips them (except 101).
    pub status: u16,
    /// Reason phrase (may be empty; also empty if it contained non-ASCII bytes).
    pub reason: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header lines in order; capacity [`MAX_HEADERS`] reserved up front.
    pub headers: Vec<Header>,
    /// How the body is delimited.
    pub framing: ResponseFraming,
    /// Whether the backend connection may be reused after this response's body.
    pub keep_alive: bool,
    /// Bytes of the buffer used by the head; the body follows.
    pub head_len: usize,
}

impl Default for ResponseHead {
    fn default() -> Self {
        Self::new()
    }
}

/// Framing-relevant facts from the header lines.
#[derive(Default)]
struct ResponseFields {
    content_length: ContentLength,
    transfer_codings: TransferCodings,
    connection: ConnectionOptions,
}

impl ResponseHead {
    /// An empty head with header storage preallocated, so later parses do not allocate.
    pub fn new() -> Self {
        ResponseHead {
            status: 0,
            reason: Span::default(),
            minor_version: 1,
            headers: Vec::with_capacity(MAX_HEADERS),
            framing: ResponseFraming::None,
            keep_alive: false,
            head_len: 0,
        }
    }

    /// Parses the response head at the start of `buf`.
    ///
    /// `request_method_is_head` is needed because a response to HEAD has no body whatever its
    /// headers say. Oversized heads (beyond `max_head` or [`MAX_HEADERS`]) are `BadResponse`:
    /// it is the backend's fault, not the client's, so it must not become a 431.
    pub fn parse(
        &mut self,
        buf: &[u8],
        max_head: usize,
        request_method_is_head: bool,
    ) -> Result<Parsed, HttpError> {
        self.headers.clear();
        let limit = clamp_limit(max_head);
        let window = &buf[..buf.len().min(limit)];
        let mut scratch = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            window,
            &mut scratch,
        );
        match parsed {
            Ok(httparse::Status::Complete(len)) => {
                self.fill(window, len, &resp, request_method_is_head)?;
                Ok(Parsed::Complete)
            }
            Ok(httparse::Status::Partial) if buf.len() >= limit => {
                Err(HttpError::BadResponse("response head too large"))
            }
            Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
            Err(e) => Err(map_parse_error(e)),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive), if any.
    pub fn header<'a>(&self, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
        find_header(&self.headers, buf, name)
    }

    /// Fills every field from a complete httparse result.
    fn fill(
        &mut self,
        buf: &[u8],
        len: usize,
        resp: &httparse::Response<'_, '_>,
        is_head: bool,
    ) -> Result<(), HttpError> {
        self.head_len = len;
        self.status = resp.code.unwrap_or(0);
        if !(100..=999).contains(&self.status) {
            return Err(HttpError::BadResponse("invalid status code"));
        }
        self.minor_version = resp.version.unwrap_or(1);
        self.reason = Span::of(buf, resp.reason.unwrap_or("").as_bytes());
        let mut fields = ResponseFields::default();
        for line in resp.headers.iter() {
            let h = Header {
                name: Span::of(buf, line.name.as_bytes()),
                value: Span::of(buf, line.value),
            };
            self.headers.push(h);
            fields.add(line.name.as_bytes(), line.value)?;
        }
        self.framing = response_framing(&fields, self.status, self.minor_version, is_head)?;
        self.keep_alive = fields.connection.persistent(self.minor_version)
            && self.framing != ResponseFraming::UntilClose;
        Ok(())
    }
}

impl ResponseFields {
    /// Records one header line if it matters for framing or connection reuse.
    fn add(&mut self, name: &[u8], value: &[u8]) -> Result<(), HttpError> {
        let is = |known: &[u8]| name.len() == known.len() && name.eq_ignore_ascii_case(known);
        if is(b"content-length") {
            self.content_length
                .add(value)
                .map_err(HttpError::BadResponse)?;
        } else if is(b"transfer-encoding") {
            self.transfer_codings.add(value);
        } else if is(b"connection") {
            self.connection.add(value);
        }
        Ok(())
    }
}

/// RFC 9112 §6.3 framing for a response, refusing ambiguous or unsupported combinations.
///
/// Transfer-Encoding must be exactly `chunked`: the gateway strips Transfer-Encoding (it is
/// hop-by-hop) and reframes, so passing on e.g. `gzip, chunked` data would corrupt the body.
fn response_framing(
    fields: &ResponseFields,
    status: u16,
    minor_version: u8,
    is_head: bool,
) -> Result<ResponseFraming, HttpError> {
    let te = fields.transfer_codings.present();
    let cl = fields.content_length.value;
    if te {
        if minor_version == 0 {
            return Err(HttpError::BadResponse(
                "Transfer-Encoding in HTTP/1.0 response",
            ));
        }
        if cl.is_some() {
            return Err(HttpError::BadResponse(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if fields.transfer_codings.verdict() != TeVerdict::Chunked {
            return Err(HttpError::BadResponse("transfer-coding other than chunked"));
        }
    }
    Ok(
        if is_head || status < 200 || status == 204 || status == 304 {
            ResponseFraming::None
        } else if te {
            ResponseFraming::Chunked
        } else if let Some(n) = cl {
            ResponseFraming::Length(n)
        } else {
            ResponseFraming::UntilClose
        },
    )
}

/// Every httparse failure is the backend's fault: a 502 for the client.
fn map_parse_error(e: httparse::Error) -> HttpError {
    HttpError::BadResponse(match e {
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::Status => "invalid status line",
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid token",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 8192;

    fn ok_with(raw: &str, is_head: bool) -> ResponseHead {
        let mut h = ResponseHead::new();
        match h.parse(raw.as_bytes(), MAX, is_head) {
            Ok(Parsed::Complete) => h,
            other => panic!("expected complete parse of {raw:?}, got {other:?}"),
        }
    }

    fn ok(raw: &str) -> ResponseHead {
        ok_with(raw, false)
    }

    fn bad(raw: &str) {
        let mut h = ResponseHead::new();
        let r = h.parse(raw.as_bytes(), MAX, false);
        assert!(
            matches!(r, Err(HttpError::BadResponse(_))),
            "{raw:?} -> {r:?}"
        );
    }

    #[test]
    fn parses_length_response() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
        let h = ok(raw);
        let b = raw.as_bytes();
        assert_eq!(h.status, 200);
        assert_eq!(h.reason.get(b), b"OK");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.framing, ResponseFraming::Length(5));
        assert!(h.keep_alive);
        assert_eq!(&b[h.head_len..], b"hello");
        assert_eq!(h.header(b, "content-type"), Some(&b"text/plain"[..]));
        assert_eq!(h.headers.len(), 2);
    }

    #[test]
    fn framing_rules() {
        assert_eq!(
            ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            ResponseFraming::Chunked
        );
        let h = ok("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::UntilClose);
        assert!(!h.keep_alive);
        for status in [
            "100 Continue",
            "101 Switching Protocols",
            "103 Early Hints",
            "204 No Content",
            "304 NM",
        ] {
            let h = ok(&format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n"));
            assert_eq!(h.framing, ResponseFraming::None, "{status}");
            assert!(h.keep_alive);
        }
        let h = ok_with("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
        assert_eq!(h.framing, ResponseFraming::None);
        let h = ok_with("HTTP/1.1 200 OK\r\n\r\n", true);
        assert_eq!(h.framing, ResponseFraming::None);
        assert!(h.keep_alive);
        assert_eq!(
            ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").framing,
            ResponseFraming::Length(3)
        );
    }

    #[test]
    fn rejects_ambiguous_framing() {
        bad("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
        bad("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    }

    #[test]
    fn keep_alive_rules() {
        assert!(
            !ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn status_line_rules() {
        bad("HTTP/1.1 099 Low\r\n\r\n");
        bad("HTTP/1.1 000 Zero\r\n\r\n");
        bad("HTTP/1.1 20 OK\r\n\r\n");
        bad("HTTP/1.1 2000 OK\r\n\r\n");
        bad("HTTP/2.0 200 OK\r\n\r\n");
        bad("HTTP/1.1  200 OK\r\n\r\n");
        bad("ICY 200 OK\r\n\r\n");
        assert_eq!(
            ok("HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n").status,
            999
        );
        let raw = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
        assert!(ok(raw).reason.is_empty());
    }

    #[test]
    fn non_ascii_reason_is_empty_span() {
        let mut raw = b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n".to_vec();
        let mut h = ResponseHead::new();
        assert_eq!(h.parse(&raw, MAX, false), Ok(Parsed::Complete));
        assert!(h.reason.get(&raw).is_empty());
        raw.truncate(5);
        assert_eq!(h.parse(&raw, MAX, false), Ok(Parsed::Partial));
    }

    #[test]
    fn line_syntax_choices() {
        // Bare LF is accepted in responses (documented choice); bare CR and obs-fold are not.
        let h = ok("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi");
        assert_eq!(h.framing, ResponseFraming::Length(2));
        bad("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nX : a\r\n\r\n");
        bad("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n");
    }

    #[test]
    fn size_limits_are_bad_response() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut h = ResponseHead::new();
        assert!(matches!(
            h.parse(raw.as_bytes(), 10, false),
            Err(HttpError::BadResponse(_))
        ));
        assert!(matches!(
            h.parse(&raw.as_bytes()[..10], 10, false),
            Err(HttpError::BadResponse(_))
        ));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let big = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(matches!(
            h.parse(big.as_bytes(), 1 << 20, false),
            Err(HttpError::BadResponse(_))
        ));
    }

    #[test]
    fn interim_then_final_in_one_buffer() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let mut h = ResponseHead::new();
        assert_eq!(h.parse(raw, MAX, false), Ok(Parsed::Complete));
        assert_eq!(h.status, 100);
        let rest = &raw[h.head_len..];
        assert_eq!(h.parse(rest, MAX, false), Ok(Parsed::Complete));
        assert_eq!(h.status, 201);
        assert_eq!(h.framing, ResponseFraming::Length(0));
    }
}
