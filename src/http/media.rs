//! Media types as API Gateway matches them against an API's `binaryMediaTypes`.

/// Whether a body with this Content-Type (request) is passed base64-encoded, per the API's
/// binaryMediaTypes (exact type, `type/*` wildcards, `*/*`; parameters after ';' ignored;
/// case-insensitive). Without a Content-Type, or with one that is not `type/subtype`, nothing
/// matches. Also decides a response's kind from the Accept header's first media type.
pub fn is_binary(content_type: Option<&[u8]>, binary_media_types: &[Box<str>]) -> bool {
    let Some(media) = content_type.and_then(|ct| media_type(ct)) else {
        return false;
    };
    binary_media_types.iter().any(|t| {
        media_type(t.as_bytes()).is_some_and(|pattern| {
            let part = |p: &[u8], v: &[u8]| p == b"*" || p.eq_ignore_ascii_case(v);
            part(pattern.0, media.0) && part(pattern.1, media.1)
        })
    })
}

/// `type/subtype` of a media type, parameters and surrounding whitespace dropped.
fn media_type(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = s
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let slash = memchr::memchr(b'/', s)?;
    let (t, st) = (s[..slash].trim_ascii(), s[slash + 1..].trim_ascii());
    (!t.is_empty() && !st.is_empty()).then_some((t, st))
}

/// Whether the first media type of an `Accept` header is binary for the API ("API Gateway
/// only honors the first Accept media type", developer guide, "Content type conversions").
pub fn is_binary_accept(accept: Option<&[u8]>, binary_media_types: &[Box<str>]) -> bool {
    let first = accept.map(|h| &h[..memchr::memchr(b',', h).unwrap_or(h.len())]);
    is_binary(first, binary_media_types)
}

/// Base64 text as API Gateway reads it: padding optional, as in `java.util.Base64`; `None`
/// when it is not base64.
pub fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use data_encoding::{BASE64, BASE64_NOPAD};
    BASE64
        .decode(text)
        .or_else(|_| BASE64_NOPAD.decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_media_types_match_exactly_by_wildcard_and_ignoring_parameters() {
        let is = |ct: Option<&str>, types: &[&str]| {
            let types: Vec<Box<str>> = types.iter().map(|&t| t.into()).collect();
            is_binary(ct.map(str::as_bytes), &types)
        };
        let types = ["image/png", "application/*"];
        assert!(is(Some("image/png"), &types));
        assert!(is(Some(" IMAGE/PNG ; charset=binary"), &types));
        assert!(is(Some("application/octet-stream"), &types));
        assert!(!is(Some("image/jpeg"), &types));
        assert!(!is(Some("text/plain"), &types));
        assert!(!is(Some("image"), &types));
        assert!(!is(None, &types));
        assert!(!is(Some("image/png"), &[]));
        assert!(is(Some("text/plain"), &["*/*"]));
        assert!(!is(None, &["*/*"]));
        assert!(!is(Some(""), &["*/*"]));
    }

    #[test]
    fn only_the_first_accept_media_type_counts() {
        let types: Vec<Box<str>> = vec!["image/*".into()];
        assert!(is_binary_accept(Some(b"image/webp,text/html"), &types));
        assert!(!is_binary_accept(Some(b"text/html, image/png"), &types));
        assert!(is_binary_accept(Some(b"IMAGE/PNG; q=0.9"), &types));
        assert!(!is_binary_accept(None, &types));
        assert!(!is_binary_accept(Some(b"image/png"), &[]));
    }
}
