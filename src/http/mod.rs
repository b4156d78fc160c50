//! HTTP/1.1 codec: request and response head parsers, a chunked body decoder and header
//! helpers, all pure functions over byte buffers (no I/O).
//!
//! The server reads into a per-connection buffer and hands the received bytes to these parsers.
//! Results are [`Span`]s (index ranges) into that buffer rather than borrowed slices, so a parsed
//! head does not keep the buffer borrowed and the head structs can live next to the buffer in
//! the connection and be reused for every request on it. After the first parse nothing here
//! allocates: header storage is preallocated and httparse's scratch array lives on the stack.
//!
//! Strictness is deliberate: the gateway forwards requests to backends that may parse HTTP
//! differently, so anything ambiguous (request smuggling vectors, bare LF, obs-fold, conflicting
//! framing) is rejected with [`HttpError::BadRequest`] instead of being "repaired".

mod chunked;
mod error;
mod h2_request;
mod headers;
pub mod media;
mod request;
mod response;

pub use chunked::{
    write_chunk, write_chunk_header, ChunkedDecoder, Decoded, LAST_CHUNK, MAX_CHUNK_LINE,
    MAX_TRAILERS,
};
pub use error::HttpError;
pub use headers::{
    connection_names, contains_token, is_hop_by_hop, percent_encode, write_header, write_ip,
};
pub use request::{BodyFraming, RequestHead, MAX_HEADERS};
pub use response::{ResponseFraming, ResponseHead};

/// A byte range `start..end` in the connection's receive buffer.
///
/// Parsers return spans instead of slices so parsed heads carry no lifetime and can be stored
/// (and reused) beside the buffer they describe. `u32` keeps [`Header`] at 16 bytes; heads are
/// limited far below 4 GiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// Index of the first byte.
    pub start: u32,
    /// Index one past the last byte.
    pub end: u32,
}

impl Span {
    /// The bytes this span covers in `buf`, which must be the buffer that was parsed (same
    /// start). Returns an empty slice instead of panicking if the span does not fit `buf`, so a
    /// stale span can never crash a shard.
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }

    /// Whether the span covers no bytes (e.g. an empty header value or query).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Number of bytes covered.
    #[inline]
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// The span of `part`, a sub-slice of `base`, computed by pointer offset (no search).
    /// Falls back to an empty span at 0 if `part` is not inside `base` (httparse returns a
    /// static `""` for some reason phrases), so a caller can never index out of range.
    #[inline]
    pub(crate) fn of(base: &[u8], part: &[u8]) -> Span {
        let off = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        if off <= base.len() && part.len() <= base.len() - off {
            // Parsers only see buffers truncated to u32::MAX bytes, so these casts are exact.
            Span {
                start: off as u32,
                end: (off + part.len()) as u32,
            }
        } else {
            Span::default()
        }
    }

    /// A span `start..end` relative to this one's start (used to split a target into parts).
    #[inline]
    pub(crate) fn sub(&self, start: usize, end: usize) -> Span {
        Span {
            start: self.start + start as u32,
            end: self.start + end as u32,
        }
    }
}

/// One header field line: name and value as spans into the buffer.
///
/// The value excludes leading and trailing whitespace (RFC 9110 §5.5). Names keep the case the
/// peer sent; compare them with `eq_ignore_ascii_case`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// Field name.
    pub name: Span,
    /// Field value, trimmed.
    pub value: Span,
}

/// Outcome of a head parse that did not fail.
///
/// On `Complete` the head struct is filled and its `head_len` says how many bytes of the buffer
/// the head used (the body or the next pipelined message follows). On `Partial` the caller reads
/// more bytes, appends them and parses again from the same start; the head struct's fields are
/// then unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The whole head is in the buffer and valid.
    Complete,
    /// The head is valid so far but not finished.
    Partial,
}

/// Largest buffer prefix a head parser looks at: spans are `u32`.
const MAX_SPAN_BUF: usize = u32::MAX as usize;

/// Clamps a caller's head limit so that spans always fit in `u32`.
#[inline]
fn clamp_limit(max_head: usize) -> usize {
    max_head.min(MAX_SPAN_BUF)
}

/// Returns the first header named `name` (ASCII case-insensitive) among `headers`.
///
/// Shared by both head types so lookups behave identically for requests and responses.
#[inline]
fn find_header<'a>(headers: &[Header], buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    headers
        .iter()
        .find(|h| h.name.len() == name.len() && h.name.get(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(buf))
}

/// Whether `head` contains an LF that is not preceded by CR.
///
/// httparse accepts bare LF as a line terminator; some backends do not (and some treat a bare
/// LF inside a value as part of it), which is a request-smuggling vector, so requests must use
/// CRLF everywhere. The scan is branch-free over byte pairs so it vectorises (about 20 ns
/// for a 600-byte head, 4x faster than a memchr per line ending).
#[inline]
fn has_bare_lf(head: &[u8]) -> bool {
    let Some((&first, rest)) = head.split_first() else {
        return false;
    };
    let mut bare = u8::from(first == b'\n');
    for (&prev, &byte) in head.iter().zip(rest) {
        bare |= u8::from(byte == b'\n') & u8::from(prev != b'\r');
    }
    bare != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_get_never_panics_and_measures() {
        let buf = b"hello";
        let s = Span { start: 1, end: 3 };
        assert_eq!(s.get(buf), b"el");
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
        assert_eq!(Span { start: 4, end: 9 }.get(buf), b"");
        assert_eq!(Span { start: 3, end: 1 }.get(buf), b"");
        assert_eq!(Span { start: 3, end: 1 }.len(), 0);
        assert!(Span::default().is_empty());
    }

    #[test]
    fn span_of_subslice_and_foreign_slice() {
        let buf = b"abcdef";
        assert_eq!(Span::of(buf, &buf[2..5]), Span { start: 2, end: 5 });
        assert_eq!(Span::of(buf, &buf[6..]), Span { start: 6, end: 6 });
        assert_eq!(Span::of(buf, b"zz"), Span::default());
    }

    #[test]
    fn bare_lf_detection() {
        assert!(!has_bare_lf(b"a\r\nb\r\n\r\n"));
        assert!(has_bare_lf(b"a\nb"));
        assert!(has_bare_lf(b"\n"));
        assert!(has_bare_lf(b"a\r\n\n"));
    }

    use crate::testing::XorShift;

    /// A byte biased towards the ones HTTP parsers branch on.
    fn byte(rng: &mut XorShift) -> u8 {
        const INTERESTING: &[u8] =
            b"\r\n\r\n \t:;,=\"\\/?#0123456789abcdefABCDEF-_HTP.%\x00\x01\x7f\x80\xff";
        if rng.below(4) == 0 {
            rng.next() as u8
        } else {
            INTERESTING[rng.below(INTERESTING.len())]
        }
    }

    const SEEDS: &[&[u8]] = &[
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n",
        b"POST http://h:1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
        b"PUT /x HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        b"HTTP/1.0 304 Not Modified\nTransfer-Encoding: chunked\n\n",
        b"1a;x=y\r\n01234567890123456789012345\r\n0\r\n\r\n",
    ];

    /// Mutates a valid message: replace, insert or delete a few bytes.
    fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(v.len() + 1);
            match rng.below(3) {
                0 if at < v.len() => v[at] = byte(rng),
                1 => v.insert(at, byte(rng)),
                _ if at < v.len() => {
                    v.remove(at);
                }
                _ => {}
            }
        }
        v
    }

    /// Feeds one input to every parser and checks the invariants the server relies on.
    fn exercise(rng: &mut XorShift, input: &[u8], req: &mut RequestHead, resp: &mut ResponseHead) {
        let max_head = match rng.below(3) {
            0 => rng.below(input.len() + 2),
            _ => 8192,
        };
        if let Ok(Parsed::Complete) = req.parse(input, max_head) {
            assert!(req.head_len <= input.len() && req.head_len <= max_head);
            let head = &input[..req.head_len];
            for s in [req.method, req.target, req.path]
                .into_iter()
                .chain(req.query)
                .chain(req.host)
            {
                assert!(s.end as usize <= req.head_len && s.start <= s.end);
            }
            assert_eq!(req.path.get(input).first(), Some(&b'/'));
            assert!(!has_bare_lf(head));
            assert!(req.headers.len() <= MAX_HEADERS);
        }
        if let Ok(Parsed::Complete) = resp.parse(input, max_head, rng.below(2) == 0) {
            assert!(resp.head_len <= input.len() && resp.head_len <= max_head);
            assert!((100..=999).contains(&resp.status));
            assert!(resp.reason.end as usize <= resp.head_len);
        }
        let _ = req.header(input, "host");
        let _ = resp.header(input, "content-length");
        decode_whole(input);
        for name in connection_names(input) {
            assert!(!name.is_empty());
        }
        let _ = contains_token(input, "close") | is_hop_by_hop(input);
    }

    /// Runs the chunked decoder over `input` checking that progress is always made and every
    /// reported range lies inside the consumed prefix.
    fn decode_whole(input: &[u8]) {
        let mut dec = ChunkedDecoder::new();
        let mut at = 0;
        for _ in 0..=input.len() + 2 {
            match dec.decode(&input[at..]) {
                Ok((consumed, d)) => {
                    assert!(consumed <= input.len() - at);
                    if let Decoded::Data { start, end } = d {
                        assert!(start < end && end <= consumed);
                    }
                    at += consumed;
                    if !matches!(d, Decoded::Data { .. }) {
                        return;
                    }
                }
                Err(e) => {
                    assert_eq!(e.status(), 400);
                    return;
                }
            }
        }
        panic!("decoder made no progress on {input:?}");
    }

    #[test]
    fn property_no_panics_on_random_and_mutated_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut req = RequestHead::new();
        let mut resp = ResponseHead::new();
        for seed in SEEDS {
            for cut in 0..=seed.len() {
                exercise(&mut rng, &seed[..cut], &mut req, &mut resp);
            }
        }
        for _ in 0..20_000 {
            let input = match rng.below(3) {
                0 => (0..rng.below(160)).map(|_| byte(&mut rng)).collect(),
                _ => {
                    let seed = SEEDS[rng.below(SEEDS.len())];
                    let m = mutate(&mut rng, seed);
                    let cut = rng.below(m.len() + 1);
                    m[..if rng.below(2) == 0 { m.len() } else { cut }].to_vec()
                }
            };
            exercise(&mut rng, &input, &mut req, &mut resp);
        }
    }
}
