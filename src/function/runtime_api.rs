//! The Lambda Runtime API (version 2018-06-01) for one worker, on its own loopback port of
//! its shard, as AWS documents it (Lambda developer guide, "Using the Lambda runtime API for
//! custom runtimes"):
//!
//! - `GET /2018-06-01/runtime/invocation/next`: long poll; the event, with
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response`: the result (at most 6 MB), `202`;
//! - `POST /2018-06-01/runtime/invocation/{id}/error`: a handler error, with
//!   `Lambda-Runtime-Function-Error-Type`, `202`;
//! - `POST /2018-06-01/runtime/init/error`: the function could not initialise, `202`.
//!
//! Plus [`EXITED_PATH`], which only the node's spawner calls, when the worker's process ends.

use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use monoio::net::{TcpListener, TcpStream};

use super::host::{self, Call, FunctionPool, HostCtx, HostedError, Worker, WorkerState};
use super::spawner::EXITED_PATH;
use crate::http::{Parsed, RequestHead};
use crate::wire::{self, BodyReader, InBuf, WireError};

/// Lambda's synchronous response payload quota.
const MAX_PAYLOAD: u64 = 6 * 1024 * 1024;
/// A runtime client's request head is small.
const MAX_HEAD: usize = 16 * 1024;
/// Reads and writes of the runtime client (not the long poll, which has no limit).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const PREFIX: &str = "/2018-06-01/runtime/";

/// Serves the worker's Runtime API until the worker is dead.
pub(crate) async fn serve(
    listener: TcpListener,
    worker: Rc<Worker>,
    pool: Rc<FunctionPool>,
    ctx: Rc<HostCtx>,
) {
    loop {
        let closed = std::future::poll_fn(|cx| {
            if worker.exit_reported.get() {
                Poll::Ready(())
            } else {
                worker.port_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        });
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            () = closed => return,
        };
        let Ok((stream, _)) = accepted else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let (worker, pool, ctx) = (Rc::clone(&worker), Rc::clone(&pool), Rc::clone(&ctx));
        monoio::spawn(async move { connection(stream, &worker, &pool, &ctx).await });
    }
}

/// One connection of the runtime client (or the spawner), requests served in order.
async fn connection(
    mut stream: TcpStream,
    worker: &Rc<Worker>,
    pool: &Rc<FunctionPool>,
    ctx: &Rc<HostCtx>,
) {
    let mut inbuf = InBuf::with_capacity(8192);
    let mut head = RequestHead::new();
    let mut out = Vec::with_capacity(1024);
    loop {
        loop {
            match head.parse(inbuf.pending(), MAX_HEAD) {
                Ok(Parsed::Complete) => break,
                Ok(Parsed::Partial) => {}
                Err(_) => return,
            }
            // Between requests the client may wait as long as it likes (it is ours).
            match inbuf
                .fill(&mut stream, Duration::from_secs(24 * 3600))
                .await
            {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
        let base = inbuf.pending();
        let method = head.method.get(base).to_vec();
        let path = String::from_utf8_lossy(head.path.get(base)).into_owned();
        let error_type = head
            .header(base, "lambda-runtime-function-error-type")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let keep_alive = head.keep_alive;
        inbuf.consume(head.head_len);
        let mut body = Vec::new();
        let mut reader = BodyReader::new(head.framing.reader(), MAX_PAYLOAD);
        let too_large = loop {
            match reader.next(&mut stream, &mut inbuf, IO_TIMEOUT).await {
                Ok(Some((s, e))) => body.extend_from_slice(&inbuf.raw()[s..e]),
                Ok(None) => break false,
                Err(WireError::TooLarge) => break true,
                Err(_) => return,
            }
        };
        let request = Request {
            method: &method,
            path: &path,
            error_type: error_type.as_deref(),
            body: &body,
            too_large,
        };
        let answer = handle(&request, worker, pool, ctx).await;
        write_answer(&mut out, &answer, keep_alive && !too_large);
        if wire::write_out(&mut stream, &mut out, IO_TIMEOUT)
            .await
            .is_err()
            || !keep_alive
            || too_large
        {
            return;
        }
    }
}

/// One request of the runtime client.
struct Request<'a> {
    method: &'a [u8],
    path: &'a str,
    error_type: Option<&'a str>,
    body: &'a [u8],
    too_large: bool,
}

/// What the Runtime API answers.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Rc<[u8]>,
}

impl Answer {
    fn status(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: Rc::from(body.as_bytes()),
        }
    }

    /// `{"errorMessage": ..., "errorType": ...}`, the Runtime API's error document.
    fn error(status: u16, error_type: &str, message: &str) -> Answer {
        let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
        Answer::status(status, &body.to_string())
    }
}

async fn handle(
    req: &Request<'_>,
    worker: &Rc<Worker>,
    pool: &Rc<FunctionPool>,
    ctx: &Rc<HostCtx>,
) -> Answer {
    if req.method == b"POST" && req.path == EXITED_PATH {
        worker.exit_reported.set(true);
        if let Some(w) = worker.port_waker.take() {
            w.wake();
        }
        let status = String::from_utf8_lossy(req.body);
        host::exited(ctx, pool, worker, &status);
        return Answer::status(202, "{\"status\":\"OK\"}");
    }
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return Answer::error(404, "InvalidRequest", "unknown Runtime API path");
    };
    match (req.method, rest) {
        (b"GET", "invocation/next") => next(worker, pool).await,
        (b"POST", "init/error") => {
            let excerpt = excerpt(req.body);
            tracing::error!(function = %worker.spec.name, worker = worker.key.id, "init error: {excerpt}");
            Answer::status(202, "{\"status\":\"OK\"}")
        }
        (b"POST", rest) => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, "response")) => respond(req, id, Ok(()), worker, pool, ctx),
            Some((id, "error")) => respond(req, id, Err(()), worker, pool, ctx),
            _ => Answer::error(404, "InvalidRequest", "unknown Runtime API path"),
        },
        _ => Answer::error(404, "InvalidRequest", "unknown Runtime API path"),
    }
}

/// `GET .../invocation/next`: the invocation handed to this worker, the next queued one, or
/// a wait for one.
async fn next(worker: &Rc<Worker>, pool: &Rc<FunctionPool>) -> Answer {
    let call = std::future::poll_fn(|cx| {
        let mut state = worker.state.borrow_mut();
        match &mut *state {
            WorkerState::Dead => return Poll::Ready(None),
            WorkerState::Busy { call, handed } if !*handed => {
                *handed = true;
                return Poll::Ready(Some(Rc::clone(call)));
            }
            WorkerState::Busy { call, .. } => {
                // Asking again without answering: the previous invocation gets no result.
                call.complete(Err(HostedError::Function {
                    kind: "Runtime.NoResponse".into(),
                    body: "the runtime asked for the next invocation without answering".into(),
                }));
                *state = WorkerState::Ready;
            }
            WorkerState::Starting => {
                host::started(pool);
                let ms = worker.started_at.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(function = %worker.spec.name, worker = worker.key.id, "worker ready after {ms:.1} ms (process start and runtime init)");
                *state = WorkerState::Ready;
            }
            WorkerState::Ready => {}
        }
        if let Some(call) = host::next_queued(pool, worker) {
            *state = WorkerState::Busy {
                call: Rc::clone(&call),
                handed: true,
            };
            return Poll::Ready(Some(call));
        }
        worker.waiting.set(Some(cx.waker().clone()));
        Poll::Pending
    })
    .await;
    worker.waiting.take();
    pool.update_concurrency();
    let Some(call) = call else {
        return Answer::error(500, "Runtime.Stopped", "the worker was stopped");
    };
    event(&call)
}

/// The event as `next` returns it.
fn event(call: &Call) -> Answer {
    Answer {
        status: 200,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("Lambda-Runtime-Aws-Request-Id", call.request_id.clone()),
            (
                "Lambda-Runtime-Deadline-Ms",
                call.deadline_unix_ms.to_string(),
            ),
            ("Lambda-Runtime-Invoked-Function-Arn", call.arn.clone()),
            (
                "Lambda-Runtime-Trace-Id",
                trace_id(&call.request_id, call.deadline_unix_ms),
            ),
        ],
        body: Rc::clone(&call.payload),
    }
}

/// An X-Ray trace header for the invocation (`Root=1-{time}-{id};Parent=...;Sampled=0`),
/// derived from the request id: Tollgate has no tracing yet, runtimes only pass it on.
fn trace_id(request_id: &str, deadline_ms: u64) -> String {
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let pad = |s: &str, n: usize| format!("{s:0<n$}")[..n].to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        deadline_ms / 1000,
        pad(&hex, 24),
        pad(hex.get(16..).unwrap_or(""), 16)
    )
}

/// `POST .../invocation/{id}/response` (`Ok`) or `/error` (`Err`).
fn respond(
    req: &Request<'_>,
    id: &str,
    result: Result<(), ()>,
    worker: &Rc<Worker>,
    pool: &Rc<FunctionPool>,
    ctx: &Rc<HostCtx>,
) -> Answer {
    let call = match &*worker.state.borrow() {
        WorkerState::Busy { call, .. } if call.request_id == id => Rc::clone(call),
        _ => {
            return Answer::error(400, "InvalidRequestID", "no such invocation in progress");
        }
    };
    if req.too_large {
        // Lambda's "Response payload size exceeded maximum allowed payload size": a failed
        // invocation (API Gateway answers 502).
        call.complete(Err(HostedError::Function {
            kind: "Function.ResponseSizeTooLarge".into(),
            body: format!("response over {MAX_PAYLOAD} bytes"),
        }));
        host::finished(ctx, pool, worker);
        return Answer::error(413, "RequestEntityTooLarge", "response payload too large");
    }
    let outcome = match result {
        Ok(()) => Ok(req.body.to_vec()),
        Err(()) => {
            let kind = req.error_type.unwrap_or("Unhandled").to_owned();
            let excerpt = excerpt(req.body);
            tracing::warn!(function = %worker.spec.name, request_id = %call.request_id, "function error ({kind}): {excerpt}");
            let body = String::from_utf8_lossy(req.body).into_owned();
            Err(HostedError::Function { kind, body })
        }
    };
    call.complete(outcome);
    host::finished(ctx, pool, worker);
    Answer::status(202, "{\"status\":\"OK\"}")
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}

fn write_answer(out: &mut Vec<u8>, answer: &Answer, keep_alive: bool) {
    let reason = match answer.status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Payload Too Large",
        _ => "Internal Server Error",
    };
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", answer.status).as_bytes());
    for (name, value) in &answer.headers {
        crate::http::write_header(out, name.as_bytes(), value.as_bytes());
    }
    let mut digits = itoa::Buffer::new();
    crate::http::write_header(
        out,
        b"Content-Length",
        digits.format(answer.body.len()).as_bytes(),
    );
    if !keep_alive {
        crate::http::write_header(out, b"Connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&answer.body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_have_xrays_shape() {
        let t = trace_id("8f5a0d3c-1b2e-4c6d-9e0f-a1b2c3d4e5f6", 1_700_000_000_000);
        assert!(t.starts_with("Root=1-6553f100-"), "{t}");
        let root = t.split(';').next().unwrap();
        assert_eq!(root.len(), "Root=1-".len() + 8 + 1 + 24);
        assert!(t.ends_with(";Sampled=0"));
    }
}
