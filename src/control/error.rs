//! The `apigateway` API's errors as AWS answers them: a status, the exception's name in
//! `x-amzn-ErrorType`, and `{"message": "..."}` (botocore's rest-json parser reads the code
//! from that header). Messages are AWS's own where recorded (LocalStack's snapshots of
//! `test_apigateway_api.py`, recorded against AWS), cited where they are used.

/// One refused call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `NotFoundException`, `BadRequestException` ...
    pub kind: &'static str,
    /// AWS's wording.
    pub message: String,
}

impl ApiError {
    /// 404 `NotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            kind: "NotFoundException",
            message: message.into(),
        }
    }

    /// 400 `BadRequestException`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "BadRequestException",
            message: message.into(),
        }
    }

    /// 400 `ValidationException` (input that breaks the model's constraints).
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "ValidationException",
            message: message.into(),
        }
    }

    /// 409 `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: 409,
            kind: "ConflictException",
            message: message.into(),
        }
    }

    /// 403 for a request that did not authenticate, with the exception AWS names.
    pub fn forbidden(kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: 403,
            kind,
            message: message.into(),
        }
    }

    /// 500 when the node could not do what it answered it would (the store failed).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            kind: "InternalFailure",
            message: message.into(),
        }
    }

    /// The body, `{"message": "..."}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }
}
