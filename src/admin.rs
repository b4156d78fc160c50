//! The control-plane listener: health checks (`GET /ping`) for load balancers and deploy
//! scripts, metrics (`GET /metrics`, Prometheus text format), usage reports
//! (`GET /usageplans/{id}/usage`) and cache flushes
//! (`DELETE /restapis/{api}/stages/{stage}/cache/data`, see `cache::control`); the rest of the
//! admin API joins it later.
//!
//! It runs on its own plain thread, outside the shards, because nothing here is on the
//! request path and its work (snapshot inspection, later config writes) may block.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::CacheBoard;
use crate::http::{Parsed, RequestHead};
use crate::metrics::{exposition, NodeMetrics};
use crate::reload::SnapshotHandle;

/// Largest admin request head accepted.
const MAX_HEAD: usize = 8192;

/// Binds the admin listener and serves it on a background thread; returns the bound address.
pub fn start(
    addr: SocketAddr,
    snapshots: Arc<SnapshotHandle>,
    (metrics, cache): (Arc<NodeMetrics>, Arc<CacheBoard>),
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = handle(stream, &snapshots, &metrics, &cache) {
                    tracing::debug!("admin connection: {e}");
                }
            }
        })?;
    Ok(bound)
}

fn handle(
    mut stream: TcpStream,
    snapshots: &SnapshotHandle,
    metrics: &NodeMetrics,
    cache: &CacheBoard,
) -> io::Result<()> {
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
        (b"GET", path) if path.starts_with(b"/usageplans/") => {
            let (status, body) = usage_report(snapshots, head.target.get(&buf));
            respond(&mut stream, status, &body)
        }
        (b"POST", b"/test/clock") => {
            let (status, body) = set_test_clock(snapshots, head.target.get(&buf));
            respond(&mut stream, status, &body)
        }
        _ => {
            match crate::cache::control::admin_request(method, path, &snapshots.load_full(), cache)
            {
                Some((status, body)) => respond(&mut stream, status, &body),
                None => respond(&mut stream, 404, r#"{"message":"Not Found"}"#),
            }
        }
    }
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

/// `POST /test/clock?ms=N`: moves the frozen test clock (only when the gateway was started
/// with `TOLLGATE_TEST_CLOCK_MS`); counted usage is flushed first so it is attributed to the
/// day it happened.
fn set_test_clock(snapshots: &SnapshotHandle, target: &[u8]) -> (u16, String) {
    let traffic = snapshots.traffic();
    if !traffic.clock().is_fixed() {
        return (404, r#"{"message":"Not Found"}"#.to_string());
    }
    let target = String::from_utf8_lossy(target);
    let Some(ms) = target
        .split_once("?ms=")
        .and_then(|(_, v)| v.parse::<u64>().ok())
    else {
        return (400, r#"{"message":"ms is required"}"#.to_string());
    };
    if let Err(e) = traffic.flush() {
        tracing::error!("{e}");
    }
    traffic.clock().set_ms(ms);
    (200, format!(r#"{{"ms":{ms}}}"#))
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    respond_typed(stream, status, "application/json", body)
}

fn respond_typed(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let reason = String::from_utf8_lossy(crate::pipeline::response_filter::reason_phrase(status));
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
