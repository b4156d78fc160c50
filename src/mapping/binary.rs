//! Binary payloads of the non-proxy integrations: what `binaryMediaTypes` and
//! `contentHandling` make of a body on its way to the backend and back.
//!
//! A payload is *binary* when its media type is one of the API's `binaryMediaTypes` (the
//! request's `Content-Type` going in, the backend's `Content-Type` coming back), *text*
//! otherwise. The conversions are the two tables of the developer guide's "Content type
//! conversions in API Gateway":
//!
//! - Request: a binary payload passes as bytes, or as its base64 text with
//!   `CONVERT_TO_TEXT`; a text payload is read as UTF-8 (invalid sequences become U+FFFD, as
//!   LocalStack's AWS-validated `test_apigw_s3_binary_support_request` recorded for a gzip
//!   body sent without a binary media type), or base64-decoded with `CONVERT_TO_BINARY`.
//! - Response: the same, except that without `contentHandling` the request's first `Accept`
//!   media type decides ("API Gateway only honors the first Accept media type"): a binary
//!   `Accept` gets bytes (a text payload is base64-decoded), a text one gets text (a binary
//!   payload is base64-encoded).
//! - Text that must become bytes and is not base64 fails the request with 500 ("If the
//!   conversion fails, it returns a 500 response indicating an API configuration error").
//!
//! A template reads text only: after `CONVERT_TO_TEXT` it sees the base64 text through
//! `$input.body` ("can only access the Base64-encoded string in the mapping template through
//! `$input.body`"); a template matched for a payload that is bytes is a 500 (AWS-validated on
//! the request side: LocalStack's `test_apigw_s3_binary_support_request_convert_to_binary_with_request_template`).
//!
//! Every row above is recorded against AWS in LocalStack's `TestApiGatewayS3BinarySupport`
//! (`test_apigateway_s3.snapshot.json`, 2025): request `[None]`, `[CONVERT_TO_TEXT]`,
//! `_convert_to_binary`; response `_no_content_handling`, `_convert_to_text`,
//! `_convert_to_binary`.

use std::borrow::Cow;

use data_encoding::BASE64;

use super::request::MappingError;
use crate::http::media::decode_base64;

/// `contentHandling` of an integration or an integration response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHandling {
    /// Binary payloads become their base64 text.
    ConvertToText,
    /// Text payloads are base64-decoded into bytes.
    ConvertToBinary,
}

impl ContentHandling {
    /// The name as AWS spells it.
    pub fn parse(s: &str) -> Option<ContentHandling> {
        match s {
            "CONVERT_TO_TEXT" => Some(ContentHandling::ConvertToText),
            "CONVERT_TO_BINARY" => Some(ContentHandling::ConvertToBinary),
            _ => None,
        }
    }
}

/// A payload after conversion.
#[derive(Debug, PartialEq, Eq)]
pub struct Payload<'b> {
    /// The bytes sent on.
    pub bytes: Cow<'b, [u8]>,
    /// Whether they are binary (a template does not read them).
    pub binary: bool,
}

impl<'b> Payload<'b> {
    fn text(bytes: &'b [u8]) -> Payload<'b> {
        let bytes = match String::from_utf8_lossy(bytes) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        };
        Payload {
            bytes,
            binary: false,
        }
    }

    fn encoded(bytes: &[u8]) -> Payload<'b> {
        Payload {
            bytes: Cow::Owned(BASE64.encode(bytes).into_bytes()),
            binary: false,
        }
    }

    fn raw(bytes: &'b [u8]) -> Payload<'b> {
        Payload {
            bytes: Cow::Borrowed(bytes),
            binary: true,
        }
    }

    fn decoded(bytes: &[u8]) -> Result<Payload<'b>, MappingError> {
        let decoded = decode_base64(bytes.trim_ascii()).ok_or_else(|| {
            MappingError::Config("Unable to transform the payload: it is not base64".into())
        })?;
        Ok(Payload {
            bytes: Cow::Owned(decoded),
            binary: true,
        })
    }
}

/// The integration request's payload (the request conversion table).
pub fn request<'b>(
    body: &'b [u8],
    binary: bool,
    handling: Option<ContentHandling>,
) -> Result<Payload<'b>, MappingError> {
    match (binary, handling) {
        (true, Some(ContentHandling::ConvertToText)) => Ok(Payload::encoded(body)),
        (true, _) => Ok(Payload::raw(body)),
        (false, Some(ContentHandling::ConvertToBinary)) => Payload::decoded(body),
        (false, _) => Ok(Payload::text(body)),
    }
}

/// The method response's payload (the response conversion table): `binary` is the backend
/// payload's kind, `binary_accept` the request's first `Accept` media type's.
pub fn response<'b>(
    body: &'b [u8],
    binary: bool,
    binary_accept: bool,
    handling: Option<ContentHandling>,
) -> Result<Payload<'b>, MappingError> {
    let to_binary = match handling {
        Some(ContentHandling::ConvertToText) => false,
        Some(ContentHandling::ConvertToBinary) => true,
        None => binary_accept,
    };
    match (binary, to_binary) {
        (true, true) => Ok(Payload::raw(body)),
        (true, false) => Ok(Payload::encoded(body)),
        (false, true) => Payload::decoded(body),
        (false, false) => Ok(Payload::text(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentHandling::*;

    const GZIP: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe];

    fn bytes(p: Result<Payload<'_>, MappingError>) -> (Vec<u8>, bool) {
        let p = p.expect("converted");
        (p.bytes.into_owned(), p.binary)
    }

    #[test]
    fn requests_follow_the_conversion_table() {
        // Binary data with a binary media type: bytes, or base64 text with CONVERT_TO_TEXT.
        assert_eq!(bytes(request(GZIP, true, None)), (GZIP.to_vec(), true));
        assert_eq!(
            bytes(request(GZIP, true, Some(ConvertToBinary))),
            (GZIP.to_vec(), true)
        );
        assert_eq!(
            bytes(request(GZIP, true, Some(ConvertToText))),
            (b"H4sIAP/+".to_vec(), false)
        );
        // Text data: UTF-8 (lossy), or base64-decoded with CONVERT_TO_BINARY.
        assert_eq!(
            bytes(request(GZIP, false, None)),
            (
                "\u{1f}\u{FFFD}\u{8}\0\u{FFFD}\u{FFFD}".as_bytes().to_vec(),
                false
            )
        );
        assert_eq!(
            bytes(request(b"hi", false, Some(ConvertToText))),
            (b"hi".to_vec(), false)
        );
        assert_eq!(
            bytes(request(b"H4sIAP/+\n", false, Some(ConvertToBinary))),
            (GZIP.to_vec(), true)
        );
        assert_eq!(
            bytes(request(b"aGk", false, Some(ConvertToBinary))),
            (b"hi".to_vec(), true),
            "unpadded base64 is taken"
        );
        assert!(matches!(
            request(b"not base64!", false, Some(ConvertToBinary)),
            Err(MappingError::Config(_))
        ));
    }

    #[test]
    fn responses_follow_the_accept_without_content_handling() {
        // Binary payload: bytes for a binary Accept, base64 text for a text one.
        assert_eq!(
            bytes(response(GZIP, true, true, None)),
            (GZIP.to_vec(), true)
        );
        assert_eq!(
            bytes(response(GZIP, true, false, None)),
            (b"H4sIAP/+".to_vec(), false)
        );
        assert_eq!(
            bytes(response(GZIP, true, true, Some(ConvertToText))),
            (b"H4sIAP/+".to_vec(), false)
        );
        assert_eq!(
            bytes(response(GZIP, true, false, Some(ConvertToBinary))),
            (GZIP.to_vec(), true)
        );
        // Text payload: decoded for a binary Accept or CONVERT_TO_BINARY, else text.
        assert_eq!(
            bytes(response(b"aGk=", false, true, None)),
            (b"hi".to_vec(), true)
        );
        assert_eq!(
            bytes(response(b"aGk=", false, true, Some(ConvertToText))),
            (b"aGk=".to_vec(), false)
        );
        assert_eq!(
            bytes(response(b"aGk=", false, false, None)),
            (b"aGk=".to_vec(), false)
        );
        assert!(response(b"{\"a\":1}", false, true, None).is_err());
    }
}
