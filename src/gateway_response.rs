//! Responses the gateway itself produces, with Amazon API Gateway's status codes, bodies and
//! `x-amzn-ErrorType` values, so clients written against AWS handle them unchanged.

use crate::http::HttpError;

/// A response the gateway generates instead of an integration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayResponse {
    /// No stage, resource or method matched (AWS answers 403 here, not 404).
    MissingAuthenticationToken,
    /// Body over the payload limit.
    RequestTooLong,
    /// The integration did not answer in time.
    IntegrationTimeout,
    /// The integration could not be reached or answered with something unusable.
    IntegrationFailure,
    /// A malformed request (framing, syntax): answered and the connection closed.
    BadRequest,
    /// Request line plus headers over the header limit.
    HeadersTooLarge,
    /// A transfer coding the gateway does not implement.
    NotImplemented,
    /// An HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
    /// Missing, unknown or disabled API key, or a key not in a plan of the stage.
    Forbidden,
    /// Over a throttle (any level).
    TooManyRequests,
    /// Over a usage plan's quota.
    LimitExceeded,
    /// The caller is not allowed to do what it asked (AWS `ACCESS_DENIED`), e.g. invalidate
    /// a cache entry with `Cache-Control: max-age=0` under `FAIL_WITH_403`.
    AccessDenied,
    /// The `Host` names a mutual-TLS custom domain the connection's TLS session was not
    /// established (and the client certificate not checked) for.
    MisdirectedRequest,
}

impl GatewayResponse {
    /// Status code sent.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken => 403,
            Self::RequestTooLong => 413,
            Self::IntegrationTimeout => 504,
            Self::IntegrationFailure => 502,
            Self::BadRequest => 400,
            Self::HeadersTooLarge => 431,
            Self::NotImplemented => 501,
            Self::VersionNotSupported => 505,
            Self::Forbidden => 403,
            Self::TooManyRequests | Self::LimitExceeded => 429,
            Self::AccessDenied => 403,
            Self::MisdirectedRequest => 421,
        }
    }

    /// JSON body sent, byte for byte what AWS sends (including its inconsistent spacing).
    pub fn body(self) -> &'static [u8] {
        match self {
            Self::MissingAuthenticationToken => br#"{"message":"Missing Authentication Token"}"#,
            Self::RequestTooLong => br#"{"message":"Request Too Long"}"#,
            Self::IntegrationTimeout => br#"{"message": "Endpoint request timed out"}"#,
            Self::IntegrationFailure => br#"{"message": "Internal server error"}"#,
            Self::BadRequest => br#"{"message":"Bad Request"}"#,
            Self::HeadersTooLarge => br#"{"message":"Request Header Fields Too Large"}"#,
            Self::NotImplemented => br#"{"message":"Not Implemented"}"#,
            Self::VersionNotSupported => br#"{"message":"HTTP Version Not Supported"}"#,
            Self::Forbidden => br#"{"message":"Forbidden"}"#,
            Self::TooManyRequests => br#"{"message":"Too Many Requests"}"#,
            Self::LimitExceeded => br#"{"message":"Limit Exceeded"}"#,
            Self::AccessDenied => {
                br#"{"message":"User is not authorized to access this resource"}"#
            }
            Self::MisdirectedRequest => br#"{"message":"Misdirected Request"}"#,
        }
    }

    /// Value of `x-amzn-ErrorType`, which AWS SDKs use to pick an exception class.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::RequestTooLong => "RequestTooLongException",
            Self::IntegrationTimeout | Self::IntegrationFailure => "InternalServerErrorException",
            Self::BadRequest | Self::NotImplemented | Self::VersionNotSupported => {
                "BadRequestException"
            }
            Self::HeadersTooLarge => "RequestHeaderFieldsTooLargeException",
            Self::Forbidden => "ForbiddenException",
            Self::TooManyRequests => "TooManyRequestsException",
            Self::LimitExceeded => "LimitExceededException",
            Self::AccessDenied => "AccessDeniedException",
            Self::MisdirectedRequest => "MisdirectedRequestException",
        }
    }

    /// Whether the connection must close after this response because the request stream can
    /// no longer be trusted to be in sync.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            Self::BadRequest
                | Self::HeadersTooLarge
                | Self::NotImplemented
                | Self::VersionNotSupported
        )
    }

    /// The response for a request the codec rejected.
    pub fn from_http_error(err: HttpError) -> Self {
        match err {
            HttpError::HeadersTooLarge => Self::HeadersTooLarge,
            HttpError::NotImplemented(_) => Self::NotImplemented,
            HttpError::VersionNotSupported => Self::VersionNotSupported,
            HttpError::BadRequest(_) => Self::BadRequest,
            HttpError::BadResponse(_) => Self::IntegrationFailure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_bodies_are_valid_json_with_a_message() {
        for r in [
            GatewayResponse::MissingAuthenticationToken,
            GatewayResponse::RequestTooLong,
            GatewayResponse::IntegrationTimeout,
            GatewayResponse::IntegrationFailure,
            GatewayResponse::BadRequest,
            GatewayResponse::HeadersTooLarge,
            GatewayResponse::NotImplemented,
            GatewayResponse::VersionNotSupported,
            GatewayResponse::Forbidden,
            GatewayResponse::TooManyRequests,
            GatewayResponse::LimitExceeded,
            GatewayResponse::AccessDenied,
            GatewayResponse::MisdirectedRequest,
        ] {
            let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
            assert!(v["message"].is_string(), "{r:?}");
        }
    }

    #[test]
    fn codec_errors_map_to_their_status() {
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::HeadersTooLarge).status(),
            431
        );
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::BadRequest("x")).status(),
            400
        );
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::NotImplemented("x")).status(),
            501
        );
    }
}
