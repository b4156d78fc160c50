//! The opening handshake of RFC 6455 §4.2: which requests are WebSocket upgrades, and the
//! `101 Switching Protocols` that accepts one.

use crate::http::contains_token;
use crate::http::RequestHead;

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a request to a WebSocket API is not an acceptable upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not `GET` with `Upgrade: websocket` and `Connection: Upgrade`.
    #[error("not a WebSocket upgrade")]
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13 (RFC 6455 §4.4: answer 426 with the version).
    #[error("unsupported Sec-WebSocket-Version")]
    Version,
    /// No `Sec-WebSocket-Key`, or not 16 bytes in base64 (§4.2.1 item 5).
    #[error("missing or malformed Sec-WebSocket-Key")]
    Key,
}

/// Whether the head asks for a WebSocket (the `Upgrade` and `Connection` tokens only; the
/// rest is checked by [`accept_key`]).
pub fn is_upgrade(head: &RequestHead, base: &[u8]) -> bool {
    let upgrade = head
        .header(base, "upgrade")
        .is_some_and(|v| contains_token(v, "websocket"));
    let connection = head
        .headers
        .iter()
        .filter(|h| h.name.get(base).eq_ignore_ascii_case(b"connection"))
        .any(|h| contains_token(h.value.get(base), "upgrade"));
    upgrade && connection
}

/// Checks the upgrade request and returns the `Sec-WebSocket-Accept` value.
pub fn accept_key(head: &RequestHead, base: &[u8]) -> Result<String, HandshakeError> {
    if head.method.get(base) != b"GET" || !is_upgrade(head, base) {
        return Err(HandshakeError::NotUpgrade);
    }
    if head.header(base, "sec-websocket-version") != Some(b"13") {
        return Err(HandshakeError::Version);
    }
    let key = head
        .header(base, "sec-websocket-key")
        .ok_or(HandshakeError::Key)?;
    match data_encoding::BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => Ok(accept_for(key)),
        _ => Err(HandshakeError::Key),
    }
}

/// `base64(SHA-1(key ++ GUID))`.
fn accept_for(key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    data_encoding::BASE64.encode(ctx.finish().as_ref())
}

/// Writes the `101` that completes the handshake, with `extra` headers (a `$connect`
/// integration's `Sec-WebSocket-Protocol`, for one).
pub fn write_switching(out: &mut Vec<u8>, accept: &str, extra: &[(String, String)]) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Parsed;

    fn head(text: &str) -> (RequestHead, Vec<u8>) {
        let buf = text.as_bytes().to_vec();
        let mut head = RequestHead::default();
        assert_eq!(head.parse(&buf, 10_240), Ok(Parsed::Complete));
        (head, buf)
    }

    #[test]
    fn the_rfc_example_key_is_accepted() {
        // RFC 6455 §1.3's example.
        let (h, b) = head("GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert_eq!(
            accept_key(&h, &b).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn other_requests_are_refused_with_a_reason() {
        let (h, b) = head("GET /prod HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(accept_key(&h, &b), Err(HandshakeError::NotUpgrade));
        let (h, b) = head("GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
        assert_eq!(accept_key(&h, &b), Err(HandshakeError::Version));
        let (h, b) = head("GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert_eq!(accept_key(&h, &b), Err(HandshakeError::Key));
    }
}
