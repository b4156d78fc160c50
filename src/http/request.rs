//! Request head parser: httparse for the grammar, plus the checks that keep the gateway and
//! its backends agreeing on where every request starts and ends.

use std::mem::MaybeUninit;

use super::headers::{
    is_valid_authority, ConnectionOptions, ContentLength, TeVerdict, TransferCodings,
};
use super::{clamp_limit, find_header, has_bare_lf, Header, HttpError, Parsed, Span};

/// Most header lines accepted in one head; more is answered with 431.
///
/// Bounds the parse work and the per-connection header storage (preallocated once).
pub const MAX_HEADERS: usize = 100;

/// How the request body is delimited (RFC 9112 §6.3), decided once here so that every later
/// stage (body limit, forwarding, draining) agrees with the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with [`super::ChunkedDecoder`].
    Chunked,
    /// HTTP/2 without `content-length`: the body ends with the stream (RFC 9113 §8.1). It is
    /// forwarded to HTTP/1.1 backends as chunked.
    UntilEnd,
}

impl BodyFraming {
    /// How a reader delimits the body on the client's transport.
    pub fn reader(self) -> crate::wire::Framing {
        use crate::wire::Framing;
        match self {
            BodyFraming::None => Framing::None,
            BodyFraming::Length(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked,
            // The HTTP/2 stream's reader returns end-of-file at END_STREAM.
            BodyFraming::UntilEnd => Framing::UntilClose,
        }
    }

    /// Whether the body is forwarded to an HTTP/1.1 backend as chunked (its length unknown).
    pub fn forwarded_chunked(self) -> bool {
        matches!(self, BodyFraming::Chunked | BodyFraming::UntilEnd)
    }
}

/// A parsed request head. Lives in the connection and is reused for every request on it.
///
/// All spans index the buffer passed to [`RequestHead::parse`]. Fields are meaningful only
/// after `parse` returned `Ok(Parsed::Complete)`.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Method token, e.g. `GET` (case-sensitive per RFC 9110).
    pub method: Span,
    /// The request-target as sent (origin-form, or absolute-form including scheme).
    pub target: Span,
    /// Path part of the target: starts with `/`, ends before `?` (never empty).
    pub path: Span,
    /// Query after the first `?` (without the `?`); `Some` but empty for a bare trailing `?`.
    pub query: Option<Span>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (the only versions accepted).
    pub minor_version: u8,
    /// Header lines in order as received. Cleared by every parse; capacity [`MAX_HEADERS`] is
    /// reserved up front so parsing never reallocates.
    pub headers: Vec<Header>,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the client lets the connection persist after this exchange.
    pub keep_alive: bool,
    /// HTTP/1.1 `Expect: 100-continue`: the client waits for an interim response before
    /// sending its body.
    pub expect_continue: bool,
    /// The Host value, or the authority of an absolute-form target (which overrides Host per
    /// RFC 9112 §3.2.2). `None` only for HTTP/1.0 requests without either.
    pub host: Option<Span>,
    /// Bytes of the buffer used by the head, including leading empty lines and the final
    /// CRLF; the body (or the next request) starts here.
    pub head_len: usize,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self::new()
    }
}

/// Facts collected from the header lines in a single pass.
#[derive(Default)]
struct RequestFields {
    content_length: ContentLength,
    transfer_codings: TransferCodings,
    connection: ConnectionOptions,
    host: Option<Span>,
    host_lines: u32,
    expect_continue: bool,
}

/// Where the path and the optional authority are inside a request-target.
struct TargetParts {
    /// Offset of the path's `/` within the target.
    path_start: usize,
    /// Authority of an absolute-form target, as offsets within the target.
    authority: Option<(usize, usize)>,
}

impl RequestHead {
    /// An empty head with its header storage preallocated, so later parses do not allocate.
    pub fn new() -> Self {
        RequestHead {
            method: Span::default(),
            target: Span::default(),
            path: Span::default(),
            query: None,
            minor_version: 1,
            headers: Vec::with_capacity(MAX_HEADERS),
            framing: BodyFraming::None,
            keep_alive: false,
            expect_continue: false,
            host: None,
            head_len: 0,
        }
    }

    /// Takes the header storage (capacity [`MAX_HEADERS`]) while the connection idles; the
    /// head is empty until [`RequestHead::put_headers`] gives storage back.
    pub fn take_headers(&mut self) -> Vec<Header> {
        std::mem::take(&mut self.headers)
    }

    /// Gives header storage back after [`RequestHead::take_headers`].
    pub fn put_headers(&mut self, mut headers: Vec<Header>) {
        headers.clear();
        self.headers = headers;
    }

    /// Parses the head at the start of `buf` (the bytes received so far).
    ///
    /// `max_head` limits the head including its final empty line: a complete head longer than
    /// that, or an incomplete one that already fills it, is `HeadersTooLarge`, so a client
    /// cannot make the server buffer without bound. On `Partial` read more and call again with
    /// the grown buffer. Errors mean the connection must be closed after answering
    /// ([`HttpError::status`]).
    pub fn parse(&mut self, buf: &[u8], max_head: usize) -> Result<Parsed, HttpError> {
        self.headers.clear();
        let limit = clamp_limit(max_head);
        let window = &buf[..buf.len().min(limit)];
        let mut scratch = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut req,
            window,
            &mut scratch,
        );
        match parsed {
            Ok(httparse::Status::Complete(len)) => {
                self.fill(window, len, &req)?;
                Ok(Parsed::Complete)
            }
            Ok(httparse::Status::Partial) if buf.len() >= limit => Err(HttpError::HeadersTooLarge),
            Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
            Err(e) => Err(map_parse_error(e, window)),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive), if any.
    pub fn header<'a>(&self, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
        find_header(&self.headers, buf, name)
    }

    /// Fills every field from a complete httparse result and applies the gateway's rules.
    fn fill(
        &mut self,
        buf: &[u8],
        len: usize,
        req: &httparse::Request<'_, '_>,
    ) -> Result<(), HttpError> {
        if has_bare_lf(&buf[..len]) {
            return Err(HttpError::BadRequest("bare LF in request head"));
        }
        self.head_len = len;
        self.minor_version = req.version.unwrap_or(1);
        self.method = Span::of(buf, req.method.unwrap_or("").as_bytes());
        self.target = Span::of(buf, req.path.unwrap_or("").as_bytes());
        let authority = self.split_target(buf)?;
        let fields = self.collect_headers(buf, req.headers)?;
        let host = check_host(buf, &fields, self.minor_version)?;
        self.host = authority.or(host);
        self.framing = request_framing(&fields, self.minor_version)?;
        self.keep_alive = fields.connection.persistent(self.minor_version);
        self.expect_continue = self.minor_version >= 1 && fields.expect_continue;
        Ok(())
    }

    /// Sets `path` and `query` from `target`; returns the absolute-form authority, if any.
    pub(super) fn split_target(&mut self, buf: &[u8]) -> Result<Option<Span>, HttpError> {
        let target = self.target.get(buf);
        let parts = target_parts(target).map_err(HttpError::BadRequest)?;
        let rest = &target[parts.path_start..];
        match memchr::memchr(b'?', rest) {
            Some(q) => {
                let q = parts.path_start + q;
                self.path = self.target.sub(parts.path_start, q);
                self.query = Some(self.target.sub(q + 1, target.len()));
            }
            None => {
                self.path = self.target.sub(parts.path_start, target.len());
                self.query = None;
            }
        }
        Ok(parts.authority.map(|(s, e)| self.target.sub(s, e)))
    }

    /// Copies the header lines into `self.headers` and collects the framing-relevant ones.
    fn collect_headers(
        &mut self,
        buf: &[u8],
        lines: &[httparse::Header<'_>],
    ) -> Result<RequestFields, HttpError> {
        let mut fields = RequestFields::default();
        for line in lines {
            let h = Header {
                name: Span::of(buf, line.name.as_bytes()),
                value: Span::of(buf, line.value),
            };
            self.headers.push(h);
            fields.add(buf, h, line.name.as_bytes(), line.value)?;
        }
        Ok(fields)
    }
}

impl RequestFields {
    /// Records one header line if it matters for framing, routing or connection handling.
    fn add(&mut self, buf: &[u8], h: Header, name: &[u8], value: &[u8]) -> Result<(), HttpError> {
        match classify_name(name) {
            Name::Host => {
                self.host_lines += 1;
                self.host = Some(h.value);
            }
            Name::ContentLength => {
                if has_trailing_ows(buf, h.value) {
                    return Err(HttpError::BadRequest("invalid Content-Length"));
                }
                self.content_length
                    .add(value)
                    .map_err(HttpError::BadRequest)?;
            }
            Name::TransferEncoding => self.transfer_codings.add(value),
            Name::Connection => self.connection.add(value),
            Name::Expect => self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue"),
            Name::LookalikeFraming => {
                return Err(HttpError::BadRequest("framing header name with '_'"))
            }
            Name::Other => {}
        }
        Ok(())
    }
}

/// Header names the request parser acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    /// `Content_Length` / `Transfer_Encoding`: CGI-style backends fold `_` into `-`, so such a
    /// header could frame the body for them while the gateway ignores it.
    LookalikeFraming,
    Other,
}

/// Classifies a header name, dispatching on length first so most names cost one comparison.
fn classify_name(name: &[u8]) -> Name {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        4 if is(b"host") => Name::Host,
        6 if is(b"expect") => Name::Expect,
        10 if is(b"connection") => Name::Connection,
        14 if is(b"content-length") => Name::ContentLength,
        17 if is(b"transfer-encoding") => Name::TransferEncoding,
        14 | 17
            if eq_with_underscore(name, b"content-length")
                || eq_with_underscore(name, b"transfer-encoding") =>
        {
            Name::LookalikeFraming
        }
        _ => Name::Other,
    }
}

/// Whether `name` equals `known` when each `_` in `name` is read as `-` (case-insensitive).
fn eq_with_underscore(name: &[u8], known: &[u8]) -> bool {
    name.len() == known.len()
        && name
            .iter()
            .zip(known)
            .all(|(&a, &b)| a.eq_ignore_ascii_case(&b) || (a == b'_' && b == b'-'))
}

/// Whether the byte right after a (trimmed) value is whitespace, i.e. the sender put OWS
/// after it. Used to refuse `Content-Length: 5 ` as the brief's "plain digits" rule demands.
pub(crate) fn has_trailing_ows(buf: &[u8], value: Span) -> bool {
    matches!(buf.get(value.end as usize), Some(b' ' | b'\t'))
}

/// Splits a request-target into path and authority, accepting only origin-form and
/// `http(s)://` absolute-form with a path. `*` (asterisk-form), authority-form and anything
/// with bytes outside visible ASCII or a `#` fragment are refused: the router only
/// understands paths, and backends disagree on how to treat the rest.
fn target_parts(target: &[u8]) -> Result<TargetParts, &'static str> {
    // Branch-free over the whole target so it vectorises; targets are short and usually valid.
    let valid = target.iter().fold(true, |ok, &b| {
        ok & (b.wrapping_sub(0x21) < 0x5e) & (b != b'#')
    });
    if !valid {
        return Err("invalid byte in request-target");
    }
    if target.first() == Some(&b'/') {
        return Ok(TargetParts {
            path_start: 0,
            authority: None,
        });
    }
    let scheme_len = absolute_scheme_len(target).ok_or("request-target is not origin-form")?;
    let rest = &target[scheme_len..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || !is_valid_authority(authority) {
        return Err("invalid authority in request-target");
    }
    if rest.get(end) != Some(&b'/') {
        return Err("absolute-form request-target without path");
    }
    Ok(TargetParts {
        path_start: scheme_len + end,
        authority: Some((scheme_len, scheme_len + end)),
    })
}

/// Length of an `http://` or `https://` prefix (case-insensitive), if present.
fn absolute_scheme_len(target: &[u8]) -> Option<usize> {
    [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|p| target.len() >= p.len() && target[..p.len()].eq_ignore_ascii_case(p))
        .map(<[u8]>::len)
}

/// Enforces RFC 9112 §3.2: HTTP/1.1 needs exactly one Host, and no request may carry several
/// or an invalid one. Returns the Host value.
fn check_host(
    buf: &[u8],
    fields: &RequestFields,
    minor_version: u8,
) -> Result<Option<Span>, HttpError> {
    match fields.host_lines {
        0 if minor_version >= 1 => Err(HttpError::BadRequest("missing Host")),
        0 => Ok(None),
        1 => match fields.host {
            Some(h) if is_valid_authority(h.get(buf)) => Ok(Some(h)),
            _ => Err(HttpError::BadRequest("invalid Host")),
        },
        _ => Err(HttpError::BadRequest("multiple Host headers")),
    }
}

/// Decides the body framing (RFC 9112 §6.1–6.3), refusing every ambiguous combination.
fn request_framing(fields: &RequestFields, minor_version: u8) -> Result<BodyFraming, HttpError> {
    let cl = fields.content_length.value;
    if !fields.transfer_codings.present() {
        return Ok(cl.map_or(BodyFraming::None, BodyFraming::Length));
    }
    if minor_version == 0 {
        return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
    }
    if cl.is_some() {
        return Err(HttpError::BadRequest(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    match fields.transfer_codings.verdict() {
        TeVerdict::Chunked => Ok(BodyFraming::Chunked),
        TeVerdict::UnsupportedCoding => Err(HttpError::NotImplemented(
            "transfer-coding other than chunked",
        )),
        TeVerdict::Invalid => Err(HttpError::BadRequest("invalid Transfer-Encoding")),
    }
}

/// Maps httparse's error to ours. A well-formed `HTTP/<digits>` version other than 1.0/1.1
/// gets 505 so clients learn what is wrong; any other garbage is a 400.
fn map_parse_error(e: httparse::Error, buf: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::HeadersTooLarge,
        httparse::Error::Version if is_other_http_version(buf) => HttpError::VersionNotSupported,
        httparse::Error::Version => HttpError::BadRequest("invalid HTTP version"),
        httparse::Error::HeaderName => HttpError::BadRequest("invalid header name"),
        httparse::Error::HeaderValue => HttpError::BadRequest("invalid header value"),
        httparse::Error::NewLine => HttpError::BadRequest("invalid line ending"),
        httparse::Error::Token | httparse::Error::Status => {
            HttpError::BadRequest("invalid request line")
        }
    }
}

/// Whether the request line's version field reads `HTTP/` followed by digits and dots only
/// (e.g. `HTTP/2.0`, `HTTP/1.2`, or a still-incomplete `HTTP/2`).
fn is_other_http_version(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let line = &line[..memchr::memchr2(b'\r', b'\n', line).unwrap_or(line.len())];
    let Some(version) = line.splitn(3, |&b| b == b' ').nth(2) else {
        return false;
    };
    match version.strip_prefix(b"HTTP/") {
        Some(rest) => {
            rest.first().is_some_and(u8::is_ascii_digit)
                && rest.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 8192;

    fn parse(raw: &str) -> Result<(RequestHead, Parsed), HttpError> {
        let mut h = RequestHead::new();
        let p = h.parse(raw.as_bytes(), MAX)?;
        Ok((h, p))
    }

    fn ok(raw: &str) -> RequestHead {
        match parse(raw) {
            Ok((h, Parsed::Complete)) => h,
            other => panic!("expected complete parse of {raw:?}, got {other:?}"),
        }
    }

    fn err(raw: &str) -> HttpError {
        match parse(raw) {
            Err(e) => e,
            Ok((_, p)) => panic!("expected error for {raw:?}, got {p:?}"),
        }
    }

    fn bad(raw: &str) {
        assert!(
            matches!(err(raw), HttpError::BadRequest(_)),
            "{raw:?} -> {:?}",
            err(raw)
        );
    }

    fn with_headers(headers: &str) -> String {
        format!("POST /p HTTP/1.1\r\nHost: h\r\n{headers}\r\n")
    }

    #[test]
    fn parses_typical_get() {
        let raw =
            "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Empty:\r\n\r\nBODY";
        let h = ok(raw);
        let b = raw.as_bytes();
        assert_eq!(h.method.get(b), b"GET");
        assert_eq!(h.target.get(b), b"/a/b?x=1&y=2");
        assert_eq!(h.path.get(b), b"/a/b");
        assert_eq!(h.query.map(|q| q.get(b)), Some(&b"x=1&y=2"[..]));
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.host.map(|s| s.get(b)), Some(&b"example.com"[..]));
        assert_eq!(h.headers.len(), 3);
        assert_eq!(h.headers[2].name.get(b), b"X-Empty");
        assert!(h.headers[2].value.is_empty());
        assert_eq!(h.framing, BodyFraming::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(&b[h.head_len..], b"BODY");
        assert_eq!(h.header(b, "ACCEPT"), Some(&b"*/*"[..]));
        assert_eq!(h.header(b, "missing"), None);
    }

    #[test]
    fn partial_heads_ask_for_more() {
        let raw = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        for cut in 0..raw.len() {
            let mut h = RequestHead::new();
            assert_eq!(
                h.parse(&raw.as_bytes()[..cut], MAX),
                Ok(Parsed::Partial),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn head_is_reusable_and_does_not_reallocate() {
        let mut h = RequestHead::new();
        let ptr = h.headers.as_ptr();
        let cap = h.headers.capacity();
        let many: String = (0..MAX_HEADERS - 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let big = format!("GET /1 HTTP/1.1\r\nHost: h\r\n{many}\r\n");
        assert_eq!(h.parse(big.as_bytes(), 1 << 20), Ok(Parsed::Complete));
        assert_eq!(h.headers.len(), MAX_HEADERS);
        let small = b"GET /2?q HTTP/1.0\r\n\r\n";
        assert_eq!(h.parse(small, MAX), Ok(Parsed::Complete));
        assert_eq!(h.headers.len(), 0);
        assert_eq!(h.host, None);
        assert_eq!(h.path.get(small), b"/2");
        assert!(!h.keep_alive);
        assert_eq!(h.headers.as_ptr(), ptr);
        assert_eq!(h.headers.capacity(), cap);
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(raw);
        assert_eq!(h.method.get(raw.as_bytes()), b"GET");
        assert_eq!(h.head_len, raw.len());
    }

    // ---- framing / smuggling ----

    #[test]
    fn content_length_framing() {
        assert_eq!(
            ok(&with_headers("Content-Length: 42\r\n")).framing,
            BodyFraming::Length(42)
        );
        assert_eq!(
            ok(&with_headers("Content-Length: 0\r\n")).framing,
            BodyFraming::Length(0)
        );
        assert_eq!(
            ok(&with_headers("Content-Length: 7\r\ncontent-length: 7\r\n")).framing,
            BodyFraming::Length(7)
        );
    }

    #[test]
    fn rejects_differing_duplicate_content_length() {
        bad(&with_headers("Content-Length: 7\r\nContent-Length: 8\r\n"));
    }

    #[test]
    fn rejects_malformed_content_length() {
        for v in [
            "+5",
            "5 ",
            "5\t",
            "0x5",
            "",
            "-1",
            "5,5",
            "5, 5",
            "5 5",
            "99999999999999999999",
            "١",
        ] {
            let raw = with_headers(&format!("Content-Length: {v}\r\n"));
            bad(&raw);
        }
    }

    #[test]
    fn rejects_content_length_with_transfer_encoding() {
        bad(&with_headers(
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ));
        bad(&with_headers(
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        ));
    }

    #[test]
    fn chunked_framing_accepted_forms() {
        for te in [
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding: CHUNKED\r\n",
            "transfer-encoding:chunked\r\n",
            "Transfer-Encoding: , chunked,\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n",
            "Transfer-Encoding: \r\nTransfer-Encoding: Chunked\r\n",
        ] {
            assert_eq!(
                ok(&with_headers(te)).framing,
                BodyFraming::Chunked,
                "{te:?}"
            );
        }
    }

    #[test]
    fn transfer_encoding_other_codings() {
        assert_eq!(
            err(&with_headers("Transfer-Encoding: gzip, chunked\r\n")),
            HttpError::NotImplemented("transfer-coding other than chunked")
        );
        assert_eq!(
            err(&with_headers(
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
            ))
            .status(),
            501
        );
        for te in [
            "chunked, gzip",
            "identity",
            "gzip",
            "chunked, chunked",
            "chunked;foo=bar",
            "",
            ",",
            "xchunked",
            "chunked\x0b",
        ] {
            let e = err(&with_headers(&format!("Transfer-Encoding: {te}\r\n")));
            assert!(matches!(e, HttpError::BadRequest(_)), "{te:?} -> {e:?}");
        }
        bad(&with_headers(
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        ));
        bad(&with_headers(
            "Transfer-Encoding:\r\nTransfer-Encoding: ,\r\n",
        ));
    }

    #[test]
    fn transfer_encoding_in_http10_is_rejected() {
        bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    }

    #[test]
    fn lookalike_framing_names_are_rejected() {
        bad(&with_headers("Transfer_Encoding: chunked\r\n"));
        bad(&with_headers("content_length: 5\r\n"));
        assert_eq!(
            ok(&with_headers("X_Content_Len: 5\r\n")).framing,
            BodyFraming::None
        );
    }

    // ---- line syntax ----

    #[test]
    fn rejects_obs_fold() {
        bad(&with_headers("X-A: a\r\n b\r\n"));
        bad(&with_headers("X-A: a\r\n\tb\r\n"));
        bad("GET / HTTP/1.1\r\n Host: h\r\n\r\n");
    }

    #[test]
    fn rejects_bad_header_names() {
        bad(&with_headers("Content-Length : 5\r\n"));
        bad(&with_headers("X-A\t: 5\r\n"));
        bad(&with_headers(": v\r\n"));
        bad(&with_headers("X(A): v\r\n"));
        bad(&with_headers("X\u{e9}: v\r\n"));
        bad(&with_headers("NoColon\r\n"));
    }

    #[test]
    fn rejects_control_chars_in_values() {
        bad(&with_headers("X-A: a\rb\r\n"));
        bad(&with_headers("X-A: a\0b\r\n"));
        bad(&with_headers("X-A: a\x01b\r\n"));
        bad(&with_headers("X-A: a\x7fb\r\n"));
        let h = ok(&with_headers("X-A: a\tb\r\n"));
        assert_eq!(h.headers[1].value.len(), 3);
    }

    #[test]
    fn rejects_bare_lf_anywhere() {
        bad("GET / HTTP/1.1\nHost: h\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: h\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: h\r\n\n");
        bad("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n");
        bad("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn rejects_bare_cr() {
        bad("GET / HTTP/1.1\rHost: h\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: h\r\n\rX");
        bad("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    // ---- request-target ----

    #[test]
    fn absolute_form_uses_path_and_authority() {
        let raw = "GET http://api.example.com:8080/v1/x?a=b HTTP/1.1\r\nHost: other\r\n\r\n";
        let h = ok(raw);
        let b = raw.as_bytes();
        assert_eq!(h.path.get(b), b"/v1/x");
        assert_eq!(h.query.map(|q| q.get(b)), Some(&b"a=b"[..]));
        assert_eq!(h.host.map(|s| s.get(b)), Some(&b"api.example.com:8080"[..]));
        let h = ok("GET HTTPS://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(h.query.is_none());
    }

    #[test]
    fn rejects_non_origin_targets() {
        bad("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET  HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET x/y HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn rejects_non_visible_ascii_target() {
        bad("GET /caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n");
        bad("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut raw = b"GET /a".to_vec();
        raw.extend_from_slice(&[0xff, 0xfe]);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut h = RequestHead::new();
        assert!(matches!(h.parse(&raw, MAX), Err(HttpError::BadRequest(_))));
    }

    #[test]
    fn empty_query_is_some_empty() {
        let raw = "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(raw);
        assert_eq!(h.path.get(raw.as_bytes()), b"/p");
        assert!(h.query.is_some_and(|q| q.is_empty()));
    }

    // ---- Host and version ----

    #[test]
    fn host_rules() {
        bad("GET / HTTP/1.1\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
        bad("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n");
        assert!(ok("GET / HTTP/1.0\r\n\r\n").host.is_none());
        let raw = "GET / HTTP/1.0\r\nHost: h:1\r\n\r\n";
        assert_eq!(
            ok(raw).host.map(|s| s.get(raw.as_bytes())),
            Some(&b"h:1"[..])
        );
    }

    #[test]
    fn version_rules() {
        for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3"] {
            assert_eq!(
                err(&format!("GET / {v}\r\nHost: h\r\n\r\n")),
                HttpError::VersionNotSupported,
                "{v}"
            );
        }
        assert_eq!(
            err("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            HttpError::VersionNotSupported
        );
        bad("GET / HTTX/1.1\r\nHost: h\r\n\r\n");
        bad("GET / http/1.1\r\nHost: h\r\n\r\n");
        bad("GET / HTTP/1.x\r\nHost: h\r\n\r\n");
        bad("GET /\r\n\r\n");
        bad("GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(ok("GET / HTTP/1.0\r\n\r\n").minor_version, 0);
    }

    // ---- limits ----

    #[test]
    fn too_many_headers() {
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(err(&with_headers(&many)), HttpError::HeadersTooLarge);
        // Also while the head is still incomplete.
        let partial = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}");
        assert_eq!(
            RequestHead::new().parse(partial.as_bytes(), 1 << 20),
            Err(HttpError::HeadersTooLarge)
        );
    }

    #[test]
    fn head_size_limit_complete_and_partial() {
        let raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: 0123456789\r\n\r\n";
        let b = raw.as_bytes();
        let mut h = RequestHead::new();
        assert_eq!(h.parse(b, raw.len()), Ok(Parsed::Complete));
        assert_eq!(h.parse(b, raw.len() - 1), Err(HttpError::HeadersTooLarge));
        // Incomplete head that already fills the limit.
        assert_eq!(h.parse(&b[..30], 30), Err(HttpError::HeadersTooLarge));
        assert_eq!(h.parse(&b[..30], 31), Ok(Parsed::Partial));
        // A body after the head does not count against the limit.
        let with_body = format!("{raw}{}", "x".repeat(100));
        assert_eq!(
            h.parse(with_body.as_bytes(), raw.len()),
            Ok(Parsed::Complete)
        );
    }

    // ---- connection semantics ----

    #[test]
    fn keep_alive_rules() {
        assert!(ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(
            !ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n")
                .keep_alive
        );
        assert!(ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn expect_continue_rules() {
        assert!(
            ok(&with_headers(
                "Expect: 100-continue\r\nContent-Length: 3\r\n"
            ))
            .expect_continue
        );
        assert!(ok(&with_headers("Expect: 100-Continue\r\n")).expect_continue);
        assert!(!ok(&with_headers("Expect: 200-ok\r\n")).expect_continue);
        assert!(!ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut h = RequestHead::new();
        assert_eq!(h.parse(raw, MAX), Ok(Parsed::Complete));
        assert_eq!(h.path.get(raw), b"/1");
        let rest = &raw[h.head_len..];
        assert_eq!(h.parse(rest, MAX), Ok(Parsed::Complete));
        assert_eq!(h.path.get(rest), b"/2");
    }
}
