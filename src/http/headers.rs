//! Header-field helpers shared by the parsers and by the proxy when it rewrites heads.
//!
//! Public: hop-by-hop classification and `Connection` token lists (used to decide which client
//! headers may be forwarded). Crate-private: the strict framing-field grammar (Content-Length,
//! Transfer-Encoding, Host) that both head parsers apply.

/// Whether `name` is a hop-by-hop field (RFC 9110 §7.6.1) that a proxy must not forward.
///
/// The list is the standard one plus `proxy-connection` and `keep-alive`, which old clients
/// still send; forwarding them would let a client steer the gateway-to-backend connection.
/// Headers named in the message's own `Connection` field are hop-by-hop too: see
/// [`connection_names`].
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    ];
    HOP.iter()
        .any(|h| h.len() == name.len() && h.eq_ignore_ascii_case(name))
}

/// The comma-separated options of a `Connection` field value, trimmed, empty elements skipped.
///
/// A proxy must drop every header the client lists here (RFC 9110 §7.6.1), so the iterator
/// yields names as they are written; compare them case-insensitively. Allocation-free.
pub fn connection_names(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    list_elements(value)
}

/// Whether the comma list `value` contains `token` (ASCII case-insensitive), e.g. whether a
/// `Connection` value contains `close`. Exact element match: `closed` does not contain `close`.
pub fn contains_token(value: &[u8], token: &str) -> bool {
    let token = token.as_bytes();
    list_elements(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// Non-empty, OWS-trimmed elements of an RFC 9110 §5.6.1 comma list. Empty elements are
/// ignored as the RFC requires of recipients.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `value` without leading and trailing spaces and tabs (OWS).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// RFC 9110 `tchar`: the bytes allowed in tokens (header names, codings, extension names).
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~')
}

/// Whether `s` is a non-empty token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Parses a Content-Length value: one or more ASCII digits and nothing else, no overflow.
///
/// Deliberately stricter than many parsers (no sign, no whitespace inside, no comma lists, no
/// hex): any value two implementations could read differently is a smuggling vector.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Collects Content-Length lines of one message, rejecting differing duplicates.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ContentLength {
    /// The agreed length, once one line was seen.
    pub value: Option<u64>,
}

impl ContentLength {
    /// Adds one field line. `Err` with a log reason if the value is malformed or differs from a
    /// previous one (identical duplicates are harmless and accepted, as RFC 9112 §6.3 allows).
    pub fn add(&mut self, value: &[u8]) -> Result<(), &'static str> {
        let n = parse_content_length(value).ok_or("invalid Content-Length")?;
        match self.value {
            Some(prev) if prev != n => Err("conflicting Content-Length"),
            _ => {
                self.value = Some(n);
                Ok(())
            }
        }
    }
}

/// What the Transfer-Encoding lines of a message amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeVerdict {
    /// Exactly `chunked`: the only coding the gateway decodes.
    Chunked,
    /// Well-formed codings ending in `chunked` but with another coding before it (e.g.
    /// `gzip, chunked`): framing is known, the coding is not supported (501).
    UnsupportedCoding,
    /// Anything else: empty, `chunked` not last or repeated, `identity`, bad syntax.
    Invalid,
}

/// Accumulates the codings of every Transfer-Encoding line of one message, because a list may
/// be split across lines (`TE: gzip` + `TE: chunked` equals `TE: gzip, chunked`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TransferCodings {
    /// Field lines seen.
    lines: u32,
    /// Non-empty elements seen.
    count: u32,
    /// Whether the last element seen was `chunked`.
    last_chunked: bool,
    /// Whether `chunked` appeared before the end, twice, or with parameters; or a coding was
    /// malformed or `identity`.
    invalid: bool,
    /// Whether a coding other than `chunked` appeared.
    other: bool,
}

impl TransferCodings {
    /// Adds one Transfer-Encoding field line.
    ///
    /// Empty list elements (and so empty lines) are ignored as RFC 9110 §5.6.1 requires, so
    /// `TE: chunked` + `TE:` totals `chunked`; lines that total no coding at all are invalid.
    pub fn add(&mut self, value: &[u8]) {
        self.lines = self.lines.saturating_add(1);
        for element in list_elements(value) {
            self.add_element(element);
        }
    }

    fn add_element(&mut self, element: &[u8]) {
        self.count = self.count.saturating_add(1);
        if self.last_chunked {
            // RFC 9112 §6.1: chunked must be the final coding and applied only once.
            self.invalid = true;
        }
        let (name, has_params) = match element.iter().position(|&b| b == b';') {
            Some(i) => (trim_ows(&element[..i]), true),
            None => (element, false),
        };
        self.last_chunked = name.eq_ignore_ascii_case(b"chunked");
        if self.last_chunked {
            self.invalid |= has_params;
        } else if !is_token(name) || name.eq_ignore_ascii_case(b"identity") {
            self.invalid = true;
        } else {
            self.other = true;
        }
    }

    /// Whether any Transfer-Encoding line was added.
    pub fn present(&self) -> bool {
        self.lines > 0
    }

    /// The framing decision for all lines added.
    pub fn verdict(&self) -> TeVerdict {
        if self.invalid || !self.last_chunked {
            TeVerdict::Invalid
        } else if self.other {
            TeVerdict::UnsupportedCoding
        } else {
            TeVerdict::Chunked
        }
    }
}

/// The connection options a message states in its `Connection` lines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectionOptions {
    /// `close` seen.
    pub close: bool,
    /// `keep-alive` seen.
    pub keep_alive: bool,
}

impl ConnectionOptions {
    /// Adds one Connection field line.
    pub fn add(&mut self, value: &[u8]) {
        for t in list_elements(value) {
            self.close |= t.eq_ignore_ascii_case(b"close");
            self.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
        }
    }

    /// Whether the connection persists after this message (RFC 9112 §9.3): HTTP/1.1 unless
    /// `close`; HTTP/1.0 only with `keep-alive` (and no `close`).
    pub fn persistent(&self, minor_version: u8) -> bool {
        if self.close {
            false
        } else {
            minor_version >= 1 || self.keep_alive
        }
    }
}

/// Whether `value` is an acceptable Host value or absolute-form authority: `host[:port]` made
/// of RFC 3986 reg-name / IP-literal characters. Rejects whitespace, `/`, `@` (userinfo), `?`,
/// `#` and control bytes, so routing on Host can never be confused by a path or credentials.
pub(crate) fn is_valid_authority(value: &[u8]) -> bool {
    value
        .iter()
        .fold(true, |ok, &b| ok & AUTHORITY_BYTES[usize::from(b)])
}

/// Lookup table for [`is_valid_authority`] (a table keeps the per-byte check branch-free).
static AUTHORITY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(i as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'%'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            | b':' | b'[' | b']');
        i += 1;
    }
    table
};

/// RFC 3986 percent-encoding (uppercase hex) of every byte outside the unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) and `keep`: query names and values with `keep` empty, path
/// segments with their sub-delimiters kept.
pub fn percent_encode(out: &mut Vec<u8>, s: &[u8], keep: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// Writes `ip` as text into `buf` (64 bytes hold any address) and returns its length: the
/// client's address goes into `X-Forwarded-For`, Lambda events and access logs on every
/// request, so IPv4 is written digit by digit rather than through `fmt`; IPv6 as std writes
/// it (RFC 5952).
pub fn write_ip(buf: &mut [u8; 64], ip: std::net::IpAddr) -> &str {
    let n = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                let mut digits = itoa::Buffer::new();
                let d = digits.format(octet).as_bytes();
                buf[n..n + d.len()].copy_from_slice(d);
                n += d.len();
            }
            n
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write;
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{v6}");
            cursor.position() as usize
        }
    };
    // SAFETY: only ASCII was written: digits and dots, or std's IPv6 text (hex digits and
    // colons, and a dotted IPv4 tail).
    unsafe { std::str::from_utf8_unchecked(&buf[..n]) }
}

/// Appends one header line, `name: value\r\n`: every head the gateway writes (responses,
/// backend requests, Invoke API calls) goes through here.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_names() {
        for n in [
            "Connection",
            "KEEP-ALIVE",
            "proxy-connection",
            "TE",
            "Trailer",
            "transfer-encoding",
            "Upgrade",
            "Proxy-Authenticate",
            "proxy-authorization",
        ] {
            assert!(is_hop_by_hop(n.as_bytes()), "{n}");
        }
        for n in ["content-length", "host", "t", "tee", "authorization", ""] {
            assert!(!is_hop_by_hop(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn ip_text_matches_std() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let addr: std::net::IpAddr = ip.parse().unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(write_ip(&mut buf, addr), addr.to_string());
        }
    }

    #[test]
    fn connection_names_are_trimmed_and_skip_empties() {
        let names: Vec<&[u8]> = connection_names(b" close ,\tX-Foo,, keep-alive\t,").collect();
        assert_eq!(names, [&b"close"[..], b"X-Foo", b"keep-alive"]);
        assert_eq!(connection_names(b"").count(), 0);
        assert_eq!(connection_names(b" , ,").count(), 0);
    }

    #[test]
    fn contains_token_is_exact_and_case_insensitive() {
        assert!(contains_token(b"Keep-Alive, CLOSE", "close"));
        assert!(contains_token(b"upgrade", "Upgrade"));
        assert!(!contains_token(b"closed, xclose", "close"));
        assert!(!contains_token(b"", "close"));
    }

    #[test]
    fn trim_ows_cases() {
        assert_eq!(trim_ows(b" \ta b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"x"), b"x");
    }

    #[test]
    fn content_length_grammar() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"0042"), Some(42));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"+5",
            b"-5",
            b"5 ",
            b" 5",
            b"0x5",
            b"5,5",
            b"18446744073709551616",
            b"1e3",
        ] {
            assert_eq!(parse_content_length(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn content_length_duplicates() {
        let mut cl = ContentLength::default();
        assert!(cl.add(b"5").is_ok());
        assert!(cl.add(b"5").is_ok());
        assert_eq!(cl.value, Some(5));
        assert!(cl.add(b"6").is_err());
    }

    fn te(lines: &[&str]) -> TeVerdict {
        let mut t = TransferCodings::default();
        for l in lines {
            t.add(l.as_bytes());
        }
        assert!(t.present());
        t.verdict()
    }

    #[test]
    fn transfer_coding_verdicts() {
        assert_eq!(te(&["chunked"]), TeVerdict::Chunked);
        assert_eq!(te(&["ChUnKeD"]), TeVerdict::Chunked);
        assert_eq!(te(&["chunked", ""]), TeVerdict::Chunked);
        assert_eq!(te(&["", " , chunked"]), TeVerdict::Chunked);
        assert_eq!(te(&[" chunked ,"]), TeVerdict::Chunked);
        assert_eq!(te(&["gzip, chunked"]), TeVerdict::UnsupportedCoding);
        assert_eq!(te(&["gzip", "chunked"]), TeVerdict::UnsupportedCoding);
        assert_eq!(te(&["chunked, gzip"]), TeVerdict::Invalid);
        assert_eq!(te(&["chunked", "chunked"]), TeVerdict::Invalid);
        assert_eq!(te(&["identity"]), TeVerdict::Invalid);
        assert_eq!(te(&["identity, chunked"]), TeVerdict::Invalid);
        assert_eq!(te(&["gzip"]), TeVerdict::Invalid);
        assert_eq!(te(&["chunked;x=1"]), TeVerdict::Invalid);
        assert_eq!(te(&["g zip, chunked"]), TeVerdict::Invalid);
        assert_eq!(te(&[""]), TeVerdict::Invalid);
        assert_eq!(te(&[","]), TeVerdict::Invalid);
        assert_eq!(te(&["", ""]), TeVerdict::Invalid);
        assert!(!TransferCodings::default().present());
    }

    #[test]
    fn connection_options_persistence() {
        let opts = |v: &str| {
            let mut c = ConnectionOptions::default();
            c.add(v.as_bytes());
            c
        };
        assert!(opts("").persistent(1));
        assert!(!opts("close").persistent(1));
        assert!(!opts("").persistent(0));
        assert!(opts("Keep-Alive").persistent(0));
        assert!(!opts("keep-alive, close").persistent(0));
    }

    #[test]
    fn authority_chars() {
        assert!(is_valid_authority(b"example.com:8080"));
        assert!(is_valid_authority(b"[::1]:80"));
        assert!(is_valid_authority(b""));
        for bad in [&b"a b"[..], b"a/b", b"u@h", b"h?x", b"h#x", b"h\t"] {
            assert!(!is_valid_authority(bad), "{:?}", bad);
        }
    }
}
