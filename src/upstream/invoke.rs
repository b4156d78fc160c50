//! The Lambda Invoke API client: `POST {endpoint}/2015-03-31/functions/{name}/invocations`
//! with `X-Amz-Invocation-Type: RequestResponse`, signed with SigV4 (service `lambda`), over
//! the shard's own backend [`Pool`](super::pool::Pool).
//!
//! The whole result is read into memory (a synchronous invocation's payload is at most 6 MB,
//! Lambda quotas). What the Invoke API itself says goes back as an [`InvokeError`]: the
//! function failed (`X-Amz-Function-Error`, Lambda API reference, Invoke "Response Syntax"),
//! Lambda refused the call (any status but 200), or it could not be reached in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exchange::BufferPool;
use crate::http::write_header;
use crate::snapshot::{AwsProxyIntegration, InvokeEndpoint, LambdaSettings, Limits};
use crate::tls::backend::BackendTls;
use crate::upstream::client::{self, Answer, CallError};
use crate::upstream::pool::Pool;
use crate::upstream::sigv4::{self, Scope, SigningTime};

/// Largest result read (Lambda's 6 MB synchronous response payload quota, with room for
/// framing).
const MAX_RESULT: u64 = 6 * 1024 * 1024 + 1024;

/// Why an invocation produced no result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No answer before the integration timeout.
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint could not be reached or broke the exchange.
    #[error("Invoke API unreachable: {0}")]
    Unreachable(String),
    /// Lambda answered the call with an error status (throttled, no such function, denied).
    #[error("Invoke API answered {status}: {body}")]
    Refused {
        /// Status of the Invoke API's answer.
        status: u16,
        /// Its body (Lambda's error JSON), cut to 512 bytes.
        body: String,
    },
    /// The function ran and failed (`X-Amz-Function-Error: Unhandled`).
    #[error("function error ({kind}): {}", excerpt(body.as_bytes()))]
    Function {
        /// `X-Amz-Function-Error` value.
        kind: String,
        /// The error payload (`{"errorMessage": ...}`), whole: a Lambda custom integration
        /// selects its response by the `errorMessage` and may map the document.
        body: String,
    },
}

/// What one invocation needs from the request's snapshot.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The integration (function, timeout).
    pub integration: &'a AwsProxyIntegration,
    /// The region's Invoke API.
    pub endpoint: &'a InvokeEndpoint,
    /// Credentials and account.
    pub lambda: &'a LambdaSettings,
    /// How `https://` endpoints are verified.
    pub tls: Option<&'a BackendTls>,
    /// Pool sizes.
    pub limits: &'a Limits,
    /// The shard's signing keys.
    pub keys: &'a sigv4::KeyCache,
    /// The shard's spare buffers (the signed request is built in one).
    pub buffers: &'a BufferPool,
}

/// Invokes the function with `payload` (the event) and returns its result payload. `now`
/// signs the request (the time the request arrived: one clock reading serves the event and
/// the signature).
pub async fn invoke(
    pool: &Pool,
    target: Target<'_>,
    payload: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, InvokeError> {
    let mut request = target.buffers.take(1024 + payload.len());
    write_request(&mut request, target, payload, now);
    let endpoint = client::Endpoint {
        addr: target.endpoint.addr,
        tls_name: &target.endpoint.tls_name,
        tls: target.tls,
        limits: target.limits,
    };
    let timeout = target.integration.timeout;
    let answered = client::call(pool, endpoint, &mut request, timeout, MAX_RESULT).await;
    target.buffers.give(request);
    match answered {
        Ok(answer) => result_of(answer),
        Err(CallError::Timeout) => Err(InvokeError::Timeout(timeout)),
        Err(e) => Err(InvokeError::Unreachable(e.to_string())),
    }
}

/// The signed request, head and payload in one buffer.
fn write_request(out: &mut Vec<u8>, target: Target<'_>, payload: &[u8], now: SystemTime) {
    let integration = target.integration;
    let host = &*target.endpoint.host_header;
    let mut digits = itoa::Buffer::new();
    let length = digits.format(payload.len());
    let unsigned: [(&str, &str); 4] = [
        ("host", host),
        ("content-length", length),
        ("content-type", "application/json"),
        ("x-amz-invocation-type", "RequestResponse"),
    ];
    let signed = target.lambda.credentials.as_ref().map(|creds| {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let scope = Scope {
            region: &integration.region,
            service: "lambda",
        };
        let time = SigningTime::from_unix(secs);
        let path = &integration.invoke_path;
        let keys = target.keys;
        sigv4::sign_with_content_sha256(
            "POST", path, "", &unsigned, payload, creds, &scope, &time, false, keys,
        )
    });
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(integration.invoke_path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut header = |name: &str, value: &str| write_header(out, name.as_bytes(), value.as_bytes());
    header("Host", host);
    header("Content-Length", length);
    header("X-Amz-Invocation-Type", "RequestResponse");
    header("Content-Type", "application/json");
    for (name, value) in signed.iter().flatten() {
        header(name, value);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
}

/// The Invoke API's answer as a result: the payload, or what went wrong.
fn result_of(answer: Answer) -> Result<Vec<u8>, InvokeError> {
    let function_error = answer.header("x-amz-function-error").map(str::to_string);
    match (answer.status, function_error) {
        (200, None) => Ok(answer.body),
        (200, Some(kind)) => Err(InvokeError::Function {
            kind,
            body: String::from_utf8_lossy(&answer.body).into_owned(),
        }),
        (status, _) => Err(InvokeError::Refused {
            status,
            body: excerpt(&answer.body),
        }),
    }
}

/// At most 512 bytes of a payload, for logs.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}
