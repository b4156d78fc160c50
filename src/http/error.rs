//! The codec's error type: every rejection carries the status the gateway answers with.

/// Why bytes were rejected by a parser or the chunked decoder.
///
/// Each variant maps to one HTTP status ([`HttpError::status`]) so the server can answer
/// without inspecting the reason. The `&'static str` reasons are for logs only (no allocation,
/// and never echoed to clients so hostile input is not reflected). After any error the
/// connection's framing is unknown and it must be closed once the error response is sent.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The head exceeds the configured size or [`super::MAX_HEADERS`]; answered with 431.
    #[error("request header fields too large")]
    HeadersTooLarge,
    /// Malformed or ambiguous request (including smuggling attempts); answered with 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Well-formed but uses a feature the gateway does not support (e.g. a transfer coding
    /// other than chunked); answered with 501.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// An `HTTP/x.y` version other than 1.0 and 1.1; answered with 505.
    #[error("HTTP version not supported")]
    VersionNotSupported,
    /// The backend's response head was unusable; the gateway answers its client with 502.
    #[error("bad response from backend: {0}")]
    BadResponse(&'static str),
}

impl HttpError {
    /// The status code to answer with, so callers need not duplicate the mapping.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadersTooLarge => 431,
            HttpError::BadRequest(_) => 400,
            HttpError::NotImplemented(_) => 501,
            HttpError::VersionNotSupported => 505,
            HttpError::BadResponse(_) => 502,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HttpError::HeadersTooLarge.status(), 431);
        assert_eq!(HttpError::BadRequest("x").status(), 400);
        assert_eq!(HttpError::NotImplemented("x").status(), 501);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
        assert_eq!(HttpError::BadResponse("x").status(), 502);
        assert_eq!(
            HttpError::BadRequest("bare LF").to_string(),
            "bad request: bare LF"
        );
    }
}
