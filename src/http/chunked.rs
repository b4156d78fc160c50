//! Incremental `Transfer-Encoding: chunked` decoder and encoder helpers (RFC 9112 §7.1).
//!
//! The decoder is a tiny `Copy` state machine over whatever bytes the connection has buffered:
//! it never copies body data, it only reports where data lies, so the caller can forward it
//! straight from its receive buffer. It is strict because a chunked body is where request
//! smuggling usually hides: sizes are bounded hex, extensions must be well-formed, every line
//! must end in CRLF and data must be followed by CRLF.

use super::headers::is_tchar;
use super::HttpError;

/// The terminating zero-size chunk with an empty trailer section; ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Longest accepted chunk-size line, including extensions and CRLF. Bounds how much a peer can
/// make the caller buffer before the decoder decides.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Largest accepted trailer section (all trailer lines and the final empty line).
pub const MAX_TRAILERS: usize = 8192;

/// Most hex digits in a chunk size: 16 digits are 64 bits, so a size can never overflow.
const MAX_SIZE_DIGITS: usize = 16;

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes at `buf[start..end]` (inside the consumed prefix); forward them and call
    /// again with the bytes after the consumed prefix.
    Data {
        /// Index of the first data byte in the buffer passed to `decode`.
        start: usize,
        /// Index one past the last data byte.
        end: usize,
    },
    /// More input is needed. The consumed prefix is done with; keep the rest and append to it.
    NeedMore,
    /// The last chunk and the trailer section have been consumed: the body is complete and
    /// whatever follows belongs to the next message.
    Done,
}

/// Where the decoder is within the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data; this many bytes remain.
    Data(u64),
    /// Chunk data finished; expecting its CRLF.
    DataEnd,
    /// After the last chunk; this many trailer bytes consumed so far.
    Trailers(usize),
    /// Body complete.
    Done,
}

/// Incremental decoder for one chunked body. Small and `Copy`, so it can sit in a body reader
/// and be reset with [`ChunkedDecoder::new`] for the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Errors are reported as [`HttpError::BadRequest`] whichever side sent the body: a caller
/// decoding a backend response maps any error to 502 itself.
fn bad(reason: &'static str) -> HttpError {
    HttpError::BadRequest(reason)
}

impl ChunkedDecoder {
    /// A decoder positioned at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedDecoder { state: State::Size }
    }

    /// Whether the whole body, trailers included, has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `buf`; returns bytes consumed and what was found.
    ///
    /// At most one `Data` range per call, lying inside `buf[..consumed]`; the caller forwards
    /// it, drops the consumed prefix and calls again with the rest. `NeedMore` may consume less
    /// than `buf.len()` when a size or trailer line is incomplete: the caller keeps the
    /// remainder and appends new input to it. After `Done` further calls consume nothing.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, Decoded), HttpError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Size => match size_line(rest)? {
                    Some((len, size)) => {
                        pos += len;
                        self.state = if size == 0 {
                            State::Trailers(0)
                        } else {
                            State::Data(size)
                        };
                    }
                    None => return Ok((pos, Decoded::NeedMore)),
                },
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok((pos, Decoded::NeedMore));
                    }
                    let n = remaining.min(rest.len() as u64);
                    self.state = if n == remaining {
                        State::DataEnd
                    } else {
                        State::Data(remaining - n)
                    };
                    // n <= rest.len(), so it fits usize.
                    let end = pos + n as usize;
                    return Ok((end, Decoded::Data { start: pos, end }));
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok((pos, Decoded::NeedMore)),
                    _ => return Err(bad("missing CRLF after chunk data")),
                },
                State::Trailers(seen) => match trailer_line(rest, seen)? {
                    Some(Trailer::Field(len)) => {
                        pos += len;
                        self.state = State::Trailers(seen + len);
                    }
                    Some(Trailer::End) => {
                        self.state = State::Done;
                        return Ok((pos + 2, Decoded::Done));
                    }
                    None => return Ok((pos, Decoded::NeedMore)),
                },
                State::Done => return Ok((pos, Decoded::Done)),
            }
        }
    }
}

/// Parses a complete chunk-size line at the start of `rest`: returns its length (CRLF
/// included) and the size, or `None` if the line is not complete yet.
fn size_line(rest: &[u8]) -> Result<Option<(usize, u64)>, HttpError> {
    let window = &rest[..rest.len().min(MAX_CHUNK_LINE)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        if rest.len() >= MAX_CHUNK_LINE {
            return Err(bad("chunk size line too long"));
        }
        if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            // Fail fast on garbage instead of waiting for a whole line.
            return Err(bad("invalid chunk size"));
        }
        return Ok(None);
    };
    let line = match window[..lf].strip_suffix(b"\r") {
        Some(line) => line,
        None => return Err(bad("bare LF in chunk size line")),
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_SIZE_DIGITS {
        return Err(bad("invalid chunk size"));
    }
    let size = line[..digits]
        .iter()
        .fold(0u64, |acc, &b| (acc << 4) | u64::from(hex_value(b)));
    if !valid_extensions(&line[digits..]) {
        return Err(bad("invalid chunk extension"));
    }
    Ok(Some((lf + 1, size)))
}

/// The value of an ASCII hex digit (callers pass only hex digits).
fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Whether `ext` is a valid `chunk-ext`: `*( BWS ";" BWS name [ BWS "=" BWS value ] )` with
/// token names and token or quoted-string values. Whitespace not followed by `;` or `=` is
/// refused (e.g. `5 \r\n`), as peers disagree on it.
fn valid_extensions(ext: &[u8]) -> bool {
    let mut i = 0;
    while i < ext.len() {
        i = skip_ws(ext, i);
        if ext.get(i) != Some(&b';') {
            return false;
        }
        i = skip_ws(ext, i + 1);
        let name_end = skip_token(ext, i);
        if name_end == i {
            return false;
        }
        i = name_end;
        let after_ws = skip_ws(ext, i);
        if ext.get(after_ws) == Some(&b'=') {
            let v = skip_ws(ext, after_ws + 1);
            match extension_value_end(ext, v) {
                Some(end) => i = end,
                None => return false,
            }
        }
    }
    true
}

/// Index of the first non-SP/HTAB byte at or after `i`.
fn skip_ws(s: &[u8], i: usize) -> usize {
    i + s.get(i..).map_or(0, |r| {
        r.iter().take_while(|&&b| b == b' ' || b == b'\t').count()
    })
}

/// Index one past the token starting at `i` (equal to `i` if there is none).
fn skip_token(s: &[u8], i: usize) -> usize {
    i + s
        .get(i..)
        .map_or(0, |r| r.iter().take_while(|&&b| is_tchar(b)).count())
}

/// End of a token or quoted-string extension value starting at `i`, if well-formed.
fn extension_value_end(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        let end = skip_token(s, i);
        return (end > i).then_some(end);
    }
    let mut j = i + 1;
    loop {
        match *s.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => {
                let escaped = *s.get(j + 1)?;
                if !is_qd_escapable(escaped) {
                    return None;
                }
                j += 2;
            }
            b if is_qdtext(b) => j += 1,
            _ => return None,
        }
    }
}

/// RFC 9110 `qdtext`: what may appear unescaped inside a quoted-string.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

/// What may follow a backslash in a quoted-pair.
fn is_qd_escapable(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff)
}

/// One step through the trailer section.
enum Trailer {
    /// A field line of this many bytes (CRLF included), discarded.
    Field(usize),
    /// The empty line ending the body (2 bytes).
    End,
}

/// Examines the next trailer line; `None` if it is not complete yet. `seen` is the size of
/// the trailer section so far, checked against [`MAX_TRAILERS`].
fn trailer_line(rest: &[u8], seen: usize) -> Result<Option<Trailer>, HttpError> {
    let budget = MAX_TRAILERS.saturating_sub(seen);
    let window = &rest[..rest.len().min(budget)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        if rest.len() >= budget {
            return Err(bad("trailer section too large"));
        }
        return Ok(None);
    };
    let line = match window[..lf].strip_suffix(b"\r") {
        Some(line) => line,
        None => return Err(bad("bare LF in trailer section")),
    };
    if line.is_empty() {
        return Ok(Some(Trailer::End));
    }
    if !valid_field_line(line) {
        return Err(bad("invalid trailer field"));
    }
    Ok(Some(Trailer::Field(lf + 1)))
}

/// Whether `line` (without CRLF) is `token ":" value` with valid value bytes: trailers are
/// discarded, but malformed ones mean the peer is not speaking the protocol we think it is.
fn valid_field_line(line: &[u8]) -> bool {
    let name_end = skip_token(line, 0);
    name_end > 0
        && line.get(name_end) == Some(&b':')
        && line[name_end + 1..]
            .iter()
            .all(|&b| matches!(b, b'\t' | b' '..=0x7e | 0x80..=0xff))
}

/// Appends a chunk-size line, `{len:x}\r\n`, without formatting machinery or allocation
/// beyond `out`'s growth.
///
/// `len` must not be 0 for a data chunk: a zero-size chunk is the terminator. Use
/// [`write_chunk`] to frame data safely, and [`LAST_CHUNK`] to end the body.
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 2 * std::mem::size_of::<usize>() + 2];
    let mut i = tmp.len() - 2;
    let mut n = len;
    loop {
        i -= 1;
        tmp[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let crlf = tmp.len() - 2;
    tmp[crlf..].copy_from_slice(b"\r\n");
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `data` as one complete chunk (size line, data, CRLF). Writes nothing for empty
/// `data`, because an empty chunk would end the body early.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_chunk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes the way a connection would (keeping
    /// unconsumed bytes), returning the body and whether `Done` was reached.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), HttpError> {
        let mut dec = ChunkedDecoder::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            let (consumed, d) = dec.decode(&pending)?;
            if let Decoded::Data { start, end } = d {
                assert!(start <= end && end <= consumed);
                body.extend_from_slice(&pending[start..end]);
            }
            pending.drain(..consumed);
            match d {
                Decoded::Done => return Ok((body, true, pending.len() + input.len() - fed)),
                Decoded::NeedMore if fed == input.len() => return Ok((body, false, pending.len())),
                Decoded::NeedMore => {
                    let n = step.min(input.len() - fed);
                    pending.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
                Decoded::Data { .. } => {}
            }
        }
    }

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool, usize), HttpError> {
        decode_in_steps(input, input.len().max(1))
    }

    fn bad_body(input: &[u8]) {
        let r = decode_all(input);
        assert!(
            matches!(r, Err(HttpError::BadRequest(_))),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn decodes_simple_body() {
        let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        let (body, done, left) = decode_all(input).expect("valid");
        assert_eq!(body, b"hello world");
        assert!(done);
        assert_eq!(left, 4);
    }

    #[test]
    fn decodes_byte_by_byte() {
        let input = b"3;a=b;c=\"q\\\"x\"\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: v\r\nY: \r\n\r\n";
        for step in 1..input.len() {
            let (body, done, left) = decode_in_steps(input, step).expect("valid");
            assert_eq!(body, b"abc0123456789", "step {step}");
            assert!(done);
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn one_data_range_per_call_and_done_is_sticky() {
        let input = b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let (c1, d1) = dec.decode(input).expect("ok");
        assert_eq!(d1, Decoded::Data { start: 3, end: 5 });
        let (c2, d2) = dec.decode(&input[c1..]).expect("ok");
        assert_eq!(d2, Decoded::Data { start: 5, end: 7 });
        let (c3, d3) = dec.decode(&input[c1 + c2..]).expect("ok");
        assert_eq!(d3, Decoded::Done);
        assert_eq!(c1 + c2 + c3, input.len());
        assert!(dec.is_done());
        assert_eq!(dec.decode(b"GET"), Ok((0, Decoded::Done)));
    }

    #[test]
    fn partial_size_line_keeps_remainder() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"1f"), Ok((0, Decoded::NeedMore)));
        assert_eq!(dec.decode(b"1f\r"), Ok((0, Decoded::NeedMore)));
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(b"1\r\nx\r\n"),
            Ok((4, Decoded::Data { start: 3, end: 4 }))
        );
        assert_eq!(dec.decode(b"\r\n2"), Ok((2, Decoded::NeedMore)));
    }

    #[test]
    fn large_sizes() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(b"FFFFFFFFFFFFFFFF\r\nab"),
            Ok((20, Decoded::Data { start: 18, end: 20 }))
        );
        bad_body(b"10000000000000000\r\n");
        bad_body(b"00000000000000001\r\nx\r\n0\r\n\r\n");
    }

    #[test]
    fn rejects_bad_sizes() {
        for input in [
            &b"\r\n"[..],
            b"x\r\n",
            b"-1\r\n",
            b"+1\r\n",
            b"0x1\r\n",
            b" 1\r\n",
            b"1 \r\nx\r\n",
            b"1\t\r\nx\r\n",
            b"g\r\n",
        ] {
            bad_body(input);
        }
    }

    #[test]
    fn extensions() {
        for ok in [
            &b"1;a\r\nx\r\n0\r\n\r\n"[..],
            b"1 ; a = b\r\nx\r\n0;z\r\n\r\n",
            b"1;a=\"\"\r\nx\r\n0\r\n\r\n",
        ] {
            assert_eq!(decode_all(ok).expect("valid").0, b"x");
        }
        for input in [
            &b"1;\r\nx\r\n0\r\n\r\n"[..],
            b"1;a=\r\nx\r\n",
            b"1;a b\r\nx\r\n",
            b"1;a=\"x\r\nx\r\n",
            b"1;a=b c\r\nx\r\n",
            b"1;(a)\r\nx\r\n",
            b"1;a=\"\x01\"\r\nx\r\n",
            b"1;a=b;\r\nx\r\n",
            b"1;a=b \r\nx\r\n",
        ] {
            bad_body(input);
        }
    }

    #[test]
    fn extension_length_is_limited() {
        let mut long = b"1;a=".to_vec();
        long.extend(std::iter::repeat_n(b'b', MAX_CHUNK_LINE));
        bad_body(&long);
        long.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        bad_body(&long);
    }

    #[test]
    fn strict_crlf() {
        bad_body(b"1\nx\r\n0\r\n\r\n");
        bad_body(b"1\r\nx\n0\r\n\r\n");
        bad_body(b"1\r\nxy\r\n0\r\n\r\n");
        bad_body(b"1\r\nx\rX0\r\n\r\n");
        bad_body(b"1\r\nx\r\n0\n\r\n");
        bad_body(b"1\r\nx\r\n0\r\n\n");
        bad_body(b"1\r\nx\r\n0\r\nA: b\n\r\n");
        bad_body(b"1\r\nx\r\n0\r\n\r\r\n");
        bad_body(b"1\r\nx\r\r\n0\r\n\r\n");
    }

    #[test]
    fn trailers() {
        let (body, done, _) = decode_all(b"1\r\nx\r\n0\r\nA: 1\r\nB:\r\n\r\n").expect("valid");
        assert_eq!(body, b"x");
        assert!(done);
        bad_body(b"0\r\nno colon\r\n\r\n");
        bad_body(b"0\r\n: v\r\n\r\n");
        bad_body(b"0\r\n A: v\r\n\r\n");
        bad_body(b"0\r\nA: \x01\r\n\r\n");
    }

    #[test]
    fn trailer_size_limit() {
        let mut input = b"0\r\n".to_vec();
        while input.len() < MAX_TRAILERS + 100 {
            input.extend_from_slice(b"X-Pad: 0123456789012345678901234567890123456789\r\n");
        }
        input.extend_from_slice(b"\r\n");
        bad_body(&input);
        for step in [1, 7, 1000] {
            assert!(matches!(
                decode_in_steps(&input, step),
                Err(HttpError::BadRequest(_))
            ));
        }
        // A trailer line that never ends is refused once it exceeds the limit.
        let mut endless = b"0\r\nX: ".to_vec();
        endless.extend(std::iter::repeat_n(b'a', MAX_TRAILERS));
        bad_body(&endless);
    }

    #[test]
    fn incomplete_body_needs_more() {
        for input in [
            &b""[..],
            b"5",
            b"5\r\nhel",
            b"5\r\nhello",
            b"5\r\nhello\r",
            b"5\r\nhello\r\n0\r\n",
            b"0\r\nA: b\r\n",
        ] {
            let (_, done, _) = decode_all(input).expect("valid prefix");
            assert!(!done, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn encoder_helpers() {
        let mut out = Vec::new();
        write_chunk_header(&mut out, 0x1a2b);
        assert_eq!(out, b"1a2b\r\n");
        out.clear();
        write_chunk_header(&mut out, usize::MAX);
        if cfg!(target_pointer_width = "64") {
            assert_eq!(out, b"ffffffffffffffff\r\n");
        }
        out.clear();
        write_chunk_header(&mut out, 1);
        write_chunk(&mut out, b"");
        write_chunk(&mut out, b"hello");
        assert_eq!(out, b"1\r\n5\r\nhello\r\n");
        let mut roundtrip = Vec::new();
        write_chunk(&mut roundtrip, b"abc");
        write_chunk(&mut roundtrip, &[7u8; 300]);
        roundtrip.extend_from_slice(LAST_CHUNK);
        let (body, done, _) = decode_all(&roundtrip).expect("valid");
        assert!(done);
        assert_eq!(body.len(), 303);
    }
}
