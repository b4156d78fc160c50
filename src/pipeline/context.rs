//! What the phases of one request share.

use std::time::{Duration, Instant};

/// Per-request state handed from phase to phase.
#[derive(Debug)]
pub struct RequestCtx {
    /// `x-amzn-RequestId`: a UUID, unique per request, sent on every response so a client's
    /// report can be matched to the gateway's logs.
    pub request_id: [u8; 36],
    /// When the request head was complete; the base for `Latency`.
    pub start: Instant,
    /// Whether the client connection may carry another request after this one.
    pub keep_alive: bool,
    /// Whether the request was `HEAD` (responses then carry no body).
    pub is_head: bool,
    /// Status sent to the client (0 until a response head is written): `$context.status`.
    pub status: u16,
    /// Body bytes sent to the client: `$context.responseLength`.
    pub response_body_bytes: u64,
    /// Time from starting the integration to its response head: `IntegrationLatency`.
    pub integration_latency: Option<Duration>,
    /// The verified client certificate (mutual TLS): `$context.identity.clientCert`.
    pub client_cert: Option<std::rc::Rc<crate::tls::subject::ClientCert>>,
}

impl RequestCtx {
    /// State for a request whose head was just parsed; `random` supplies the id's bits.
    pub fn new(random: u128, keep_alive: bool, is_head: bool) -> Self {
        RequestCtx {
            request_id: format_uuid_v4(random),
            start: Instant::now(),
            keep_alive,
            is_head,
            status: 0,
            response_body_bytes: 0,
            integration_latency: None,
            client_cert: None,
        }
    }

    /// The request id as text.
    pub fn request_id_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written into the array.
        std::str::from_utf8(&self.request_id).unwrap_or("")
    }
}

/// Formats 128 random bits as a version-4 UUID without allocating.
pub fn format_uuid_v4(random: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = random;
    bits &= !(0xF000u128 << 64);
    bits |= 0x4000u128 << 64; // version 4
    bits &= !(0xC000u128 << 48);
    bits |= 0x8000u128 << 48; // RFC 4122 variant
    let bytes = bits.to_be_bytes();
    let mut out = [b'-'; 36];
    let mut o = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o] = HEX[(b >> 4) as usize];
        out[o + 1] = HEX[(b & 0xF) as usize];
        o += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_v4_shape() {
        let id = format_uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let s = std::str::from_utf8(&id).unwrap();
        assert_eq!(s.len(), 36);
        let dashes: Vec<usize> = s.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, vec![8, 13, 18, 23]);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(&s[..8], "01234567");
    }

    #[test]
    fn different_bits_give_different_ids() {
        assert_ne!(format_uuid_v4(1), format_uuid_v4(2));
    }
}
