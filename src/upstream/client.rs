//! A buffered HTTP/1.1 exchange over the shard's backend [`Pool`]: send a whole request, read
//! the whole answer. What the Lambda Invoke API client and the non-proxy `HTTP` integration
//! (whose answer goes through mapping templates) both need; `HTTP_PROXY` streams instead.
//!
//! A request is replayable (it is all in one buffer), so an exchange that fails on a pooled
//! connection before any answer — a keep-alive connection the backend had closed — is
//! retried on a fresh one, at most twice.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::http::Parsed;
use crate::snapshot::Limits;
use crate::tls::backend::BackendTls;
use crate::upstream::pool::{BackendConn, Pool};
use crate::wire::{self, BodyReader, Framing, WireError};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Where a buffered exchange goes.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    /// Resolved address.
    pub addr: SocketAddr,
    /// `https://`: the TLS name (`None`: plain).
    pub tls_name: &'a Option<ServerName<'static>>,
    /// How `https://` backends are verified.
    pub tls: Option<&'a BackendTls>,
    /// Pool sizes and idle timeout.
    pub limits: &'a Limits,
}

/// A whole answer.
#[derive(Debug, Default)]
pub struct Answer {
    /// Status code (the final one; `1xx` are skipped).
    pub status: u16,
    /// Headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (framing removed).
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of header `name` (any case), the first of several.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why an exchange produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No whole answer before the deadline.
    #[error("no answer within the timeout")]
    Timeout,
    /// The endpoint could not be reached, or broke the exchange.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The answer's body is over the limit.
    #[error("the answer is over {0} bytes")]
    TooLarge(u64),
}

/// Sends `request` (head and body, in one buffer) and reads the answer, within `timeout`;
/// bodies over `max_body` bytes are refused.
pub async fn call(
    pool: &Pool,
    endpoint: Endpoint<'_>,
    request: &mut Vec<u8>,
    timeout: Duration,
    max_body: u64,
) -> Result<Answer, CallError> {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut conn = open(pool, endpoint, deadline, attempt > 1).await?;
        let reused = conn.reused;
        match exchange(&mut conn, request, deadline, max_body).await {
            Ok((answer, keep)) => {
                if keep {
                    let max_idle = endpoint.limits.pool_max_idle_per_backend;
                    pool.checkin(endpoint.addr, conn, max_idle);
                }
                return Ok(answer);
            }
            // A pooled connection the endpoint had closed: the request is replayable.
            Err(Failure::Stale) if reused && attempt < 3 => continue,
            Err(Failure::Stale) => return Err(CallError::Unreachable("connection closed".into())),
            Err(Failure::Failed(e)) => return Err(e),
        }
    }
}

/// How one attempt failed.
enum Failure {
    /// Closed before any answer: on a reused connection, probably stale.
    Stale,
    Failed(CallError),
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn open(
    pool: &Pool,
    endpoint: Endpoint<'_>,
    deadline: Instant,
    fresh: bool,
) -> Result<Box<BackendConn>, CallError> {
    if !fresh {
        let idle = endpoint.limits.pool_idle_timeout;
        if let Some(conn) = pool.checkout(endpoint.addr, endpoint.tls_name, idle) {
            return Ok(conn);
        }
    }
    let tls = endpoint
        .tls_name
        .as_ref()
        .and_then(|name| endpoint.tls.map(|tls| (tls.config_for(name), name)));
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
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(CallError::Timeout),
        Err(e) => Err(CallError::Unreachable(format!("{}: {e}", endpoint.addr))),
    }
}

/// Sends the request and reads the whole answer; the flag says whether the connection can be
/// pooled again.
async fn exchange(
    conn: &mut BackendConn,
    request: &mut Vec<u8>,
    deadline: Instant,
    max_body: u64,
) -> Result<(Answer, bool), Failure> {
    if let Err(e) = wire::write_kept(&mut conn.stream, request, remaining(deadline)).await {
        return Err(match e {
            WireError::Timeout => Failure::Failed(CallError::Timeout),
            _ => Failure::Stale,
        });
    }
    read_head(conn, deadline).await?;
    let base = conn.inbuf.pending();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut answer = Answer {
        status: conn.head.status,
        headers: conn
            .head
            .headers
            .iter()
            .map(|h| (text(h.name.get(base)), text(h.value.get(base))))
            .collect(),
        body: Vec::new(),
    };
    let keep = conn.head.keep_alive;
    let framing = Framing::from(conn.head.framing);
    let until_close = framing == Framing::UntilClose;
    conn.inbuf.consume(conn.head.head_len);
    let mut reader = BodyReader::new(framing, max_body);
    let broken = |e: String| Failure::Failed(CallError::Unreachable(e));
    loop {
        match reader
            .next(&mut conn.stream, &mut conn.inbuf, remaining(deadline))
            .await
        {
            Ok(Some((s, e))) => answer.body.extend_from_slice(&conn.inbuf.raw()[s..e]),
            Ok(None) => break,
            Err(WireError::Timeout) => return Err(Failure::Failed(CallError::Timeout)),
            Err(WireError::TooLarge) => return Err(Failure::Failed(CallError::TooLarge(max_body))),
            Err(e) => return Err(broken(format!("reading the answer: {e:?}"))),
        }
    }
    Ok((answer, keep && !until_close))
}

/// Reads the final response head, skipping `1xx`.
async fn read_head(conn: &mut BackendConn, deadline: Instant) -> Result<(), Failure> {
    let mut received = false;
    let broken = |e: String| Failure::Failed(CallError::Unreachable(e));
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
                Err(e) => return Err(broken(format!("bad response head: {e}"))),
            }
        }
        match conn.inbuf.fill(&mut conn.stream, remaining(deadline)).await {
            Ok(0) | Err(WireError::Closed | WireError::Io(_)) if !received => {
                return Err(Failure::Stale)
            }
            Ok(0) => return Err(broken("closed mid-answer".into())),
            Ok(_) => {}
            Err(WireError::Timeout) => return Err(Failure::Failed(CallError::Timeout)),
            Err(e) => return Err(broken(format!("{e:?}"))),
        }
    }
}
