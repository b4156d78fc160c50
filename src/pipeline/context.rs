//! What the phases of one request share.

use std::time::{Duration, Instant};

use crate::gateway_response::GatewayResponse;

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
    /// Whether the client is an HTTP/2 stream (no connection-level fields, no chunked coding).
    pub h2: bool,
    /// Status sent to the client (0 until a response head is written): `$context.status`.
    pub status: u16,
    /// Body bytes sent to the client: `$context.responseLength`.
    pub response_body_bytes: u64,
    /// Time from starting the integration to its response head: `IntegrationLatency`.
    pub integration_latency: Option<Duration>,
    /// The gateway response sent instead of an integration's, if any:
    /// `$context.error.message` and `$context.error.responseType`.
    pub error: Option<GatewayResponse>,
    /// When the last response byte was handed to the kernel, if the connection then lingers
    /// before closing: `Latency` ends here, not after the linger.
    pub sent_at: Option<Instant>,
    /// The caller's API key, already masked for logs: `$context.identity.apiKey`.
    pub api_key: MaskedKey,
    /// Cache hit or miss, when the stage caches this request (none when the cache was not
    /// consulted): `CacheHitCount`, `CacheMissCount`.
    pub cache: Option<crate::cache::CacheOutcome>,
    /// On a cache miss, the copy of the backend response being taken to store it.
    pub cache_capture: Option<Box<crate::cache::Capture>>,
    /// The API's gateway response overrides, once the API is known (`None` when it has
    /// none: the common case costs no reference count).
    pub responses: Option<std::sync::Arc<crate::gateway_response::GatewayResponses>>,
    /// Who is calling, as the authorization phases establish it.
    pub identity: crate::exchange::Identity,
    /// `$context.error.message` when it is built for this request rather than fixed by the
    /// response type (a resource policy's denial names the method ARN).
    pub error_message: Option<Box<str>>,
    /// `$context.error.validationErrorString`: what request validation found.
    pub validation_error: Option<Box<str>>,
    /// The CORS headers of a CORS resource's responses (`crate::cors`).
    pub cors: Option<crate::cors::CorsAnswer>,
    /// The request values the API's gateway responses read
    /// (`GatewayResponses::reads`, same order); empty when they read none.
    pub response_values: Box<[Option<Box<str>>]>,
}

impl RequestCtx {
    /// State for a request whose head was just parsed; `random` supplies the id's bits.
    pub fn new(random: u128, keep_alive: bool, is_head: bool) -> Self {
        RequestCtx {
            request_id: format_uuid_v4(random),
            start: Instant::now(),
            keep_alive,
            is_head,
            h2: false,
            status: 0,
            response_body_bytes: 0,
            integration_latency: None,
            error: None,
            sent_at: None,
            api_key: MaskedKey::default(),
            cache: None,
            cache_capture: None,
            responses: None,
            identity: Default::default(),
            error_message: None,
            validation_error: None,
            cors: None,
            response_values: Box::default(),
        }
    }

    /// Records the API key the caller presented; only its masked form is kept.
    pub fn set_api_key(&mut self, key: &str) {
        self.api_key = MaskedKey::of(key);
    }
}

/// An API key as access logs may show it: `****` followed by its last four characters (keys
/// shorter than 8 characters show only `****`), so a log line never reveals a usable key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaskedKey {
    text: [u8; 8],
    len: u8,
}

impl MaskedKey {
    /// Masks `key`.
    pub fn of(key: &str) -> Self {
        let mut text = *b"********";
        let bytes = key.as_bytes();
        let len = if bytes.len() >= 8 {
            text[4..].copy_from_slice(&bytes[bytes.len() - 4..]);
            8
        } else {
            4
        };
        MaskedKey { text, len }
    }

    /// The masked key, or `None` when no key was presented.
    pub fn get(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| &self.text[..self.len as usize])
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
    fn api_keys_are_masked() {
        assert_eq!(MaskedKey::default().get(), None);
        assert_eq!(MaskedKey::of("abc").get(), Some(&b"****"[..]));
        assert_eq!(
            MaskedKey::of("0123456789wxyz").get(),
            Some(&b"****wxyz"[..])
        );
    }

    #[test]
    fn different_bits_give_different_ids() {
        assert_ne!(format_uuid_v4(1), format_uuid_v4(2));
    }
}
