//! The Lambda Invoke API client: `POST {endpoint}/2015-03-31/functions/{name}/invocations`
//! with `X-Amz-Invocation-Type: RequestResponse`, signed with SigV4 (service `lambda`), over
//! the shard's own backend [`Pool`](super::pool::Pool).
//!
//! The whole result is read into memory (a synchronous invocation's payload is at most 6 MB,
//! Lambda quotas). What the Invoke API itself says goes back as an [`InvokeError`]: the
//! function failed (`X-Amz-Function-Error`, Lambda API reference, Invoke "Response Syntax"),
//! Lambda refused the call (any status but 200), or it could not be reached in time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::exchange::BufferPool;
use crate::http::{write_header, Parsed};
use crate::snapshot::{AwsProxyIntegration, InvokeEndpoint, LambdaSettings, Limits};
use crate::tls::backend::BackendTls;
use crate::upstream::pool::{BackendConn, Pool};
use crate::upstream::sigv4::{self, Scope, SigningTime};
use crate::wire::{self, BodyReader, Framing, WireError};

/// Largest result read (Lambda's 6 MB synchronous response payload quota, with room for
/// framing).
const MAX_RESULT: u64 = 6 * 1024 * 1024 + 1024;
/// Largest response head accepted from the Invoke API.
const MAX_HEAD: usize = 64 * 1024;

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
    #[error("function error ({kind}): {body}")]
    Function {
        /// `X-Amz-Function-Error` value.
        kind: String,
        /// The error payload, cut to 512 bytes.
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
    let result = send(pool, target, &mut request).await;
    target.buffers.give(request);
    result
}

/// Sends the signed request, once more on a fresh connection when a pooled one turns out to
/// be stale.
async fn send(
    pool: &Pool,
    target: Target<'_>,
    request: &mut Vec<u8>,
) -> Result<Vec<u8>, InvokeError> {
    let integration = target.integration;
    let deadline = Instant::now() + integration.timeout;
    let timed_out = || InvokeError::Timeout(integration.timeout);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conn = open(pool, target, deadline, attempt > 1).await?;
        let reused = conn.reused;
        match exchange(&mut conn, request, deadline).await {
            Ok((result, keep)) => {
                if keep {
                    let max_idle = target.limits.pool_max_idle_per_backend;
                    pool.checkin(target.endpoint.addr, conn, max_idle);
                }
                return result;
            }
            // A pooled connection the endpoint had closed: the request is replayable.
            Err(Failure::Stale) if reused && attempt < 3 => continue,
            Err(Failure::Timeout) => return Err(timed_out()),
            Err(Failure::Stale) => {
                return Err(InvokeError::Unreachable("connection closed".into()))
            }
            Err(Failure::Broken(e)) => return Err(InvokeError::Unreachable(e)),
        }
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

/// How one attempt failed.
enum Failure {
    /// Closed before any answer: on a reused connection, probably stale.
    Stale,
    Timeout,
    Broken(String),
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn open(
    pool: &Pool,
    target: Target<'_>,
    deadline: Instant,
    fresh: bool,
) -> Result<Box<BackendConn>, InvokeError> {
    let endpoint = target.endpoint;
    if !fresh {
        let idle = target.limits.pool_idle_timeout;
        if let Some(conn) = pool.checkout(endpoint.addr, &endpoint.tls_name, idle) {
            return Ok(conn);
        }
    }
    let tls = endpoint
        .tls_name
        .as_ref()
        .and_then(|name| target.tls.map(|tls| (tls.config_for(name), name)));
    // Boxed: a connect (TCP, then perhaps a TLS handshake) is rare next to a pooled
    // connection, and its large state inline would grow, and be copied with, every exchange's
    // future.
    match Box::pin(BackendConn::connect(
        endpoint.addr,
        tls,
        remaining(deadline),
    ))
    .await
    {
        Ok(conn) => Ok(conn),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(InvokeError::Timeout(target.integration.timeout))
        }
        Err(e) => Err(InvokeError::Unreachable(format!("{}: {e}", endpoint.addr))),
    }
}

/// Sends the request and reads the whole answer; the flag says whether the connection can be
/// pooled again.
async fn exchange(
    conn: &mut BackendConn,
    request: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(Result<Vec<u8>, InvokeError>, bool), Failure> {
    if let Err(e) = wire::write_kept(&mut conn.stream, request, remaining(deadline)).await {
        return Err(match e {
            WireError::Timeout => Failure::Timeout,
            _ => Failure::Stale,
        });
    }
    read_head(conn, deadline).await?;
    let status = conn.head.status;
    let base = conn.inbuf.pending();
    let function_error = conn
        .head
        .headers
        .iter()
        .find(|h| {
            h.name
                .get(base)
                .eq_ignore_ascii_case(b"x-amz-function-error")
        })
        .map(|h| String::from_utf8_lossy(h.value.get(base)).into_owned());
    let keep = conn.head.keep_alive;
    let framing = Framing::from(conn.head.framing);
    let until_close = framing == Framing::UntilClose;
    conn.inbuf.consume(conn.head.head_len);
    let mut body = Vec::new();
    let mut reader = BodyReader::new(framing, MAX_RESULT);
    loop {
        match reader
            .next(&mut conn.stream, &mut conn.inbuf, remaining(deadline))
            .await
        {
            Ok(Some((s, e))) => body.extend_from_slice(&conn.inbuf.raw()[s..e]),
            Ok(None) => break,
            Err(WireError::Timeout) => return Err(Failure::Timeout),
            Err(e) => return Err(Failure::Broken(format!("reading the result: {e:?}"))),
        }
    }
    let result = match (status, function_error) {
        (200, None) => Ok(body),
        (200, Some(kind)) => Err(InvokeError::Function {
            kind,
            body: excerpt(&body),
        }),
        (status, _) => Err(InvokeError::Refused {
            status,
            body: excerpt(&body),
        }),
    };
    Ok((result, keep && !until_close))
}

/// Reads the final response head, skipping `1xx`.
async fn read_head(conn: &mut BackendConn, deadline: Instant) -> Result<(), Failure> {
    let mut received = false;
    loop {
        if !conn.inbuf.pending().is_empty() {
            received = true;
            match conn.head.parse(conn.inbuf.pending(), MAX_HEAD, false) {
                Ok(Parsed::Complete) if conn.head.status < 200 => {
                    conn.inbuf.consume(conn.head.head_len);
                    continue;
                }
                Ok(Parsed::Complete) => return Ok(()),
                Ok(Parsed::Partial) => {}
                Err(e) => return Err(Failure::Broken(format!("bad response head: {e}"))),
            }
        }
        match conn.inbuf.fill(&mut conn.stream, remaining(deadline)).await {
            Ok(0) | Err(WireError::Closed | WireError::Io(_)) if !received => {
                return Err(Failure::Stale)
            }
            Ok(0) => return Err(Failure::Broken("closed mid-answer".into())),
            Ok(_) => {}
            Err(WireError::Timeout) => return Err(Failure::Timeout),
            Err(e) => return Err(Failure::Broken(format!("{e:?}"))),
        }
    }
}

/// At most 512 bytes of a payload, for logs.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}
