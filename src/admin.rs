//! The control-plane listener: health checks (`GET /ping`) for load balancers and deploy
//! scripts, metrics (`GET /metrics`, Prometheus text format), usage reports
//! (`GET /usageplans/{id}/usage`) and cache flushes
//! (`DELETE /restapis/{api}/stages/{stage}/cache/data`, see `cache::control`), and the Lambda
//! Invoke API for hosted functions (`POST /2015-03-31/functions/{name}/invocations`, see
//! `function::invoke_api`); the rest of the admin API joins it later.
//!
//! Test only, when the gateway was started with the test clock (`crate::clock`,
//! `TOLLGATE_TEST_CLOCK_MS`): `POST /test/clock?ms=N` sets the node's frozen clock to Unix
//! time N ms and `POST /test/clock/advance?ms=N` moves it forward by N ms; both answer
//! `{"ms":<new time>}`. Without the variable they answer 404 like any unknown path.
//!
//! The `apigateway` API (`crate::control`) answers every other `/restapis...` path:
//! SigV4-signed calls of the AWS CLI or boto3 with `--endpoint-url http://{admin}`.
//!
//! It runs on plain threads outside the shards, because nothing here is on the request path
//! and its work (snapshot inspection, config compiles, store writes) blocks: an accepting
//! thread, and one thread per connection (at most [`MAX_CONNECTIONS`] at once; more are
//! answered 429 `TooManyRequestsException`, which the AWS SDKs retry).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::AtomicUsize;

use crate::cache::CacheBoard;
use crate::control::ControlPlane;
use crate::function::invoke_api::{self, AdminInbox, InvokeRequest};
use crate::http::{BodyFraming, Parsed, RequestHead};
use crate::metrics::{exposition, NodeMetrics};
use crate::reload::{Reloader, SnapshotHandle};

/// Largest admin request head accepted.
const MAX_HEAD: usize = 8192;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Largest control-plane request body (an `ImportRestApi` document is the largest there is;
/// AWS's own limit for it is 6 MB).
const MAX_CONTROL_BODY: u64 = 6 * 1024 * 1024;

/// What the admin listener serves, shared by its connection threads.
pub struct Admin {
    /// The published snapshot.
    pub snapshots: Arc<SnapshotHandle>,
    /// Metric tables for `/metrics`.
    pub metrics: Arc<NodeMetrics>,
    /// Cache flush board.
    pub cache: Arc<CacheBoard>,
    /// Invoke API calls for the shards.
    pub inbox: AdminInbox,
    /// The `apigateway` API and the reloader its changes publish through.
    pub control: Option<(Arc<ControlPlane>, Arc<Reloader>)>,
}

/// The admin listener: the one handed over by the process this one upgrades (`inherited`,
/// when it is on `addr`), or a new one bound on `addr`.
pub fn bind(addr: SocketAddr, mut inherited: Vec<TcpListener>) -> io::Result<TcpListener> {
    match crate::server::listener::take_matching(&mut inherited, addr).pop() {
        Some(listener) => Ok(listener),
        None => TcpListener::bind(addr),
    }
}

/// How often the admin thread looks at its stop flag while no connection comes.
const STOP_POLL_MS: i32 = 100;

/// Serves `listener` on a background thread until `stop` is raised (the node handed over to
/// a new binary, which serves the same socket from then on); returns the bound address.
pub fn start(listener: TcpListener, admin: Admin, stop: Arc<AtomicBool>) -> io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let admin = Arc::new(admin);
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if !readable(&listener) {
                    continue;
                }
                // Another process sharing the socket may have taken the connection.
                let Ok((stream, _)) = listener.accept() else {
                    continue;
                };
                serve_connection(stream, &admin, &open);
            }
        })?;
    Ok(bound)
}

/// Serves `stream` on a thread of its own, or refuses it when [`MAX_CONNECTIONS`] are open.
fn serve_connection(mut stream: TcpStream, admin: &Arc<Admin>, open: &Arc<AtomicUsize>) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
        open.fetch_sub(1, Ordering::AcqRel);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let body = r#"{"message":"Too Many Requests"}"#;
        let _ = respond_with(
            &mut stream,
            429,
            &[("x-amzn-ErrorType", "TooManyRequestsException")],
            body.as_bytes(),
        );
        return;
    }
    let admin = Arc::clone(admin);
    let slot = Slot(Arc::clone(open));
    let spawned = std::thread::Builder::new()
        .name("admin-conn".into())
        .spawn(move || {
            // Given back when the thread ends, by return or by panic.
            let _slot = slot;
            if let Err(e) = handle(stream, &admin) {
                tracing::debug!("admin connection: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::error!("admin connection: cannot start a thread: {e}");
    }
}

/// One of the [`MAX_CONNECTIONS`] taken; given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits up to [`STOP_POLL_MS`] for a connection to accept.
fn readable(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe { libc::poll(&mut fds, 1, STOP_POLL_MS) > 0 }
}

fn handle(mut stream: TcpStream, admin: &Admin) -> io::Result<()> {
    let peer = stream.peer_addr().ok();
    let (snapshots, metrics, cache) = (&admin.snapshots, &admin.metrics, &admin.cache);
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut head = RequestHead::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match head.parse(&buf, MAX_HEAD) {
            Ok(Parsed::Complete) => break,
            Ok(Parsed::Partial) => continue,
            Err(_) => return respond(&mut stream, 400, r#"{"message":"Bad Request"}"#),
        }
    }
    let method = head.method.get(&buf);
    let path = head.path.get(&buf);
    match (method, path) {
        (b"GET", b"/ping") => {
            let body = format!(
                r#"{{"status":"ok","generation":{}}}"#,
                snapshots.generation()
            );
            respond(&mut stream, 200, &body)
        }
        (b"GET", b"/metrics") => {
            let body = exposition::render(metrics, snapshots.generation());
            respond_typed(&mut stream, 200, exposition::CONTENT_TYPE, &body)
        }
        (b"GET", path) if is_usage_report(path) => {
            if !signed_or_refused(&mut stream, admin, (&head, &buf, b""), "apigateway")? {
                return Ok(());
            }
            let (status, body) = usage_report(snapshots, head.target.get(&buf));
            respond(&mut stream, status, &body)
        }
        (b"POST", path) if path.starts_with(b"/2015-03-31/functions/") => {
            invoke_function(&mut stream, &head, buf, admin)
        }
        (b"POST", b"/test/clock") => {
            let (status, body) =
                move_test_clock(snapshots.traffic(), ClockMove::Set, head.target.get(&buf));
            respond(&mut stream, status, &body)
        }
        (b"POST", b"/test/clock/advance") => {
            let (status, body) = move_test_clock(
                snapshots.traffic(),
                ClockMove::Advance,
                head.target.get(&buf),
            );
            respond(&mut stream, status, &body)
        }
        (b"DELETE", path) if path.starts_with(b"/restapis/") && path.ends_with(b"/cache/data") => {
            if !signed_or_refused(&mut stream, admin, (&head, &buf, b""), "apigateway")? {
                return Ok(());
            }
            let snapshot = snapshots.load_full();
            match crate::cache::control::admin_request(method, path, &snapshot, cache) {
                Some((status, body)) => respond(&mut stream, status, &body),
                None => respond(&mut stream, 404, r#"{"message":"Not Found"}"#),
            }
        }
        _ => {
            match crate::cache::control::admin_request(method, path, &snapshots.load_full(), cache)
            {
                Some((status, body)) => respond(&mut stream, status, &body),
                None if [&b"/restapis"[..], b"/usageplans", b"/apikeys", b"/tags/"]
                    .iter()
                    .any(|p| path.starts_with(p)) =>
                {
                    control_call(&mut stream, &head, buf, admin, peer)
                }
                None => respond(&mut stream, 404, r#"{"message":"Not Found"}"#),
            }
        }
    }
}

/// A request head's parts as text, for the signature check and the control plane.
struct OwnedHead {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl OwnedHead {
    fn of(head: &RequestHead, buf: &[u8]) -> OwnedHead {
        let text = |s: crate::http::Span| String::from_utf8_lossy(s.get(buf)).into_owned();
        OwnedHead {
            method: text(head.method),
            path: text(head.path),
            query: head.query.map(text).unwrap_or_default(),
            headers: head
                .headers
                .iter()
                .map(|h| (text(h.name), text(h.value)))
                .collect(),
        }
    }

    fn header_list(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// With `[control]` credentials configured, the admin listener's other AWS operations —
/// GetUsage and FlushStageCache (service `apigateway`), Lambda Invoke (service `lambda`,
/// when `[lambda]` has no credentials of its own to check it against) — must be signed with
/// them too (the listener may then be reachable off loopback). Writes
/// the refusal and answers false when the call is refused.
fn signed_or_refused(
    stream: &mut TcpStream,
    admin: &Admin,
    (head, buf, body): (&RequestHead, &[u8], &[u8]),
    service: &str,
) -> io::Result<bool> {
    let Some((control, _)) = admin.control.as_ref().filter(|(c, _)| c.has_credentials()) else {
        return Ok(true);
    };
    let owned = OwnedHead::of(head, buf);
    let headers = owned.header_list();
    let request_id = request_id();
    let request = crate::control::Request {
        method: &owned.method,
        path: &owned.path,
        query: &owned.query,
        headers: &headers,
        body,
        peer: None,
        request_id: &request_id,
    };
    let region = admin.snapshots.load_full().region.clone();
    match control.verify(&request, service, &region) {
        Ok(()) => Ok(true),
        Err(e) => {
            let extra = [
                ("x-amzn-RequestId", request_id.as_str()),
                ("x-amzn-ErrorType", e.kind),
            ];
            respond_with(stream, e.status, &extra, e.body().as_bytes())?;
            Ok(false)
        }
    }
}

/// An `apigateway` call: reads its body, lets the control plane answer it.
fn control_call(
    stream: &mut TcpStream,
    head: &RequestHead,
    buf: Vec<u8>,
    admin: &Admin,
    peer: Option<SocketAddr>,
) -> io::Result<()> {
    let request_id = request_id();
    let rid = ("x-amzn-RequestId", request_id.as_str());
    let Some((control, reloader)) = &admin.control else {
        return respond(stream, 404, r#"{"message":"Not Found"}"#);
    };
    let length = match head.framing {
        BodyFraming::None => 0,
        BodyFraming::Length(n) if n <= MAX_CONTROL_BODY => n as usize,
        BodyFraming::Length(_) => {
            let body = br#"{"message":"Request body too large"}"#;
            return respond_with(
                stream,
                413,
                &[rid, ("x-amzn-ErrorType", "BadRequestException")],
                body,
            );
        }
        _ => {
            let body = br#"{"message":"Content-Length is required"}"#;
            return respond_with(
                stream,
                411,
                &[rid, ("x-amzn-ErrorType", "BadRequestException")],
                body,
            );
        }
    };
    let Some(buf) = read_body(stream, buf, head.head_len, length)? else {
        return Ok(());
    };
    let owned = OwnedHead::of(head, &buf);
    let headers = owned.header_list();
    let request = crate::control::Request {
        method: &owned.method,
        path: &owned.path,
        query: &owned.query,
        headers: &headers,
        body: &buf[head.head_len..head.head_len + length],
        peer,
        request_id: &request_id,
    };
    let answer = control.handle(&request, reloader, &admin.snapshots.load_full());
    let mut extra = vec![rid];
    if let Some(kind) = answer.error_type {
        extra.push(("x-amzn-ErrorType", kind));
    }
    if let Some(media) = answer.content_type {
        extra.push(("Content-Type", media));
    }
    respond_with(stream, answer.status, &extra, &answer.body)
}

/// `buf` with the rest of a `length`-byte body after `body_start` read into it; `None` when
/// the client went away first.
fn read_body(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    body_start: usize,
    length: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < body_start + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(buf))
}

/// The Lambda Invoke API for hosted functions (`function::invoke_api`): reads the payload
/// (at most Lambda's 6 MB), then waits for the shard that runs it.
fn invoke_function(
    stream: &mut TcpStream,
    head: &RequestHead,
    buf: Vec<u8>,
    admin: &Admin,
) -> io::Result<()> {
    let (snapshots, inbox) = (&admin.snapshots, &admin.inbox);
    const MAX_PAYLOAD: u64 = 6 * 1024 * 1024;
    let length = match head.framing {
        BodyFraming::None => 0,
        BodyFraming::Length(n) if n <= MAX_PAYLOAD => n as usize,
        _ => {
            let body = r#"{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}"#;
            return respond(stream, 413, body);
        }
    };
    let body_start = head.head_len;
    let Some(buf) = read_body(stream, buf, body_start, length)? else {
        return Ok(());
    };
    let body = &buf[body_start..body_start + length];
    // With `[lambda]` credentials `invoke_api` checks the signature against them itself.
    let checks_itself = snapshots.load_full().lambda.credentials.is_some();
    if !checks_itself && !signed_or_refused(stream, admin, (head, &buf, body), "lambda")? {
        return Ok(());
    }
    let owned = OwnedHead::of(head, &buf);
    let headers = owned.header_list();
    let request = InvokeRequest {
        path: &owned.path,
        query: &owned.query,
        headers: &headers,
        body,
    };
    let request_id = request_id();
    let answer = invoke_api::invoke(&request, &snapshots.load_full(), inbox, request_id.clone());
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    headers.extend(answer.headers.iter().map(|(n, v)| (*n, v.as_ref())));
    headers.push(("x-amzn-RequestId", &request_id));
    respond_with(stream, answer.status, &headers, &answer.body)
}

/// A random request id in UUID form for an admin invocation.
fn request_id() -> String {
    let v = fastrand::u128(..);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `/usageplans/{id}/usage` exactly (`/usageplans/{id}/keys/usage` is a plan key).
fn is_usage_report(path: &[u8]) -> bool {
    let parts: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    matches!(parts.as_slice(), [b"", b"usageplans", id, b"usage"] if !id.is_empty())
}

/// `GET /usageplans/{usagePlanId}/usage?keyId=&startDate=&endDate=` (AWS's shape).
fn usage_report(snapshots: &SnapshotHandle, target: &[u8]) -> (u16, String) {
    let target = String::from_utf8_lossy(target);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let plan = path
        .strip_prefix("/usageplans/")
        .and_then(|rest| rest.strip_suffix("/usage"));
    match plan {
        Some(plan) if !plan.contains('/') => {
            let snapshot = snapshots.load_full();
            crate::throttle::report::usage(snapshots.traffic(), &snapshot, plan, query)
        }
        _ => (404, r#"{"message":"Not Found"}"#.to_string()),
    }
}

/// How a `/test/clock` call moves the test clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClockMove {
    /// `POST /test/clock?ms=N`: to Unix time N ms (forwards or back).
    Set,
    /// `POST /test/clock/advance?ms=N`: forward by N ms.
    Advance,
}

/// Why a `/test/clock` call's query was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ClockQueryError {
    /// No `ms` parameter.
    #[error("ms is required")]
    Missing,
    /// `ms` is not a whole, non-negative number of milliseconds.
    #[error("ms must be a whole number of milliseconds")]
    Invalid,
}

/// Serves the test-clock calls (see the module documentation). The node's one clock is the
/// traffic node's, shared with the shards' caches, so this moves buckets, quota periods and
/// cache TTLs alike. Counted usage needs no flush first: each count carries the day it was
/// made on.
fn move_test_clock(
    traffic: &crate::throttle::TrafficNode,
    how: ClockMove,
    target: &[u8],
) -> (u16, String) {
    let clock = traffic.clock();
    if !clock.is_fixed() {
        return (404, r#"{"message":"Not Found"}"#.to_string());
    }
    let ms = match query_ms(target) {
        Ok(ms) => ms,
        Err(e) => return (400, format!(r#"{{"message":"{e}"}}"#)),
    };
    let now = match how {
        ClockMove::Set => clock.set_ms(ms),
        ClockMove::Advance => clock.advance_ms(ms),
    };
    match now {
        Some(now) => (200, format!(r#"{{"ms":{now}}}"#)),
        None => (404, r#"{"message":"Not Found"}"#.to_string()),
    }
}

/// The `ms` query parameter of a request target.
fn query_ms(target: &[u8]) -> Result<u64, ClockQueryError> {
    let target = std::str::from_utf8(target).map_err(|_| ClockQueryError::Invalid)?;
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ms="))
        .ok_or(ClockQueryError::Missing)?;
    value.parse().map_err(|_| ClockQueryError::Invalid)
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    respond_typed(stream, status, "application/json", body)
}

/// A JSON answer with `headers` besides the framing ones.
fn respond_with(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let reason = String::from_utf8_lossy(crate::pipeline::response_filter::reason_phrase(status));
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    let typed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn respond_typed(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    respond_with(
        stream,
        status,
        &[("Content-Type", content_type)],
        body.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::throttle::TrafficNode;

    #[test]
    fn only_the_usage_path_is_the_usage_report() {
        assert!(is_usage_report(b"/usageplans/p1/usage"));
        assert!(!is_usage_report(b"/usageplans/p1/keys/usage"));
        assert!(!is_usage_report(b"/usageplans//usage"));
        assert!(!is_usage_report(b"/usageplans/p1"));
    }

    #[test]
    fn test_clock_calls_set_and_advance_the_frozen_clock() {
        let node = TrafficNode::in_memory(1, Clock::fixed(5_000));
        let set = move_test_clock(&node, ClockMove::Set, b"/test/clock?ms=86400000");
        assert_eq!(set, (200, r#"{"ms":86400000}"#.to_string()));
        assert_eq!(node.clock().unix_day(), 1);
        let advanced = move_test_clock(
            &node,
            ClockMove::Advance,
            b"/test/clock/advance?x=1&ms=1500",
        );
        assert_eq!(advanced, (200, r#"{"ms":86401500}"#.to_string()));
        assert_eq!(node.clock().mono_ms(), 86_401_500);
    }

    #[test]
    fn test_clock_calls_are_not_found_on_the_real_clock() {
        let node = TrafficNode::in_memory(1, Clock::default());
        for how in [ClockMove::Set, ClockMove::Advance] {
            let (status, body) = move_test_clock(&node, how, b"/test/clock?ms=1");
            assert_eq!((status, body.as_str()), (404, r#"{"message":"Not Found"}"#));
        }
    }

    #[test]
    fn bad_ms_is_refused_and_leaves_the_clock_alone() {
        let node = TrafficNode::in_memory(1, Clock::fixed(5_000));
        for (target, message) in [
            (&b"/test/clock"[..], "ms is required"),
            (b"/test/clock?when=3", "ms is required"),
            (
                b"/test/clock?ms=",
                "ms must be a whole number of milliseconds",
            ),
            (
                b"/test/clock?ms=-1",
                "ms must be a whole number of milliseconds",
            ),
            (
                b"/test/clock?ms=1e3",
                "ms must be a whole number of milliseconds",
            ),
        ] {
            let (status, body) = move_test_clock(&node, ClockMove::Advance, target);
            assert_eq!(status, 400, "{target:?}");
            assert_eq!(body, format!(r#"{{"message":"{message}"}}"#));
        }
        assert_eq!(node.clock().mono_ms(), 5_000);
    }
}
