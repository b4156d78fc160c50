//! The control-plane listener. It answers health checks (`GET /ping`) for load balancers and
//! deploy scripts, and cache flushes (`DELETE /restapis/{api}/stages/{stage}/cache/data`, see
//! `cache::control`); metrics and the rest of the admin API join it later.
//!
//! It runs on its own plain thread, outside the shards, because nothing here is on the
//! request path and its work (snapshot inspection, later config writes) may block.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::CacheBoard;
use crate::http::{Parsed, RequestHead};
use crate::reload::SnapshotHandle;

/// Largest admin request head accepted.
const MAX_HEAD: usize = 8192;

/// Binds the admin listener and serves it on a background thread; returns the bound address.
pub fn start(
    addr: SocketAddr,
    snapshots: Arc<SnapshotHandle>,
    cache: Arc<CacheBoard>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = handle(stream, &snapshots, &cache) {
                    tracing::debug!("admin connection: {e}");
                }
            }
        })?;
    Ok(bound)
}

fn handle(mut stream: TcpStream, snapshots: &SnapshotHandle, cache: &CacheBoard) -> io::Result<()> {
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
        _ => {
            match crate::cache::control::admin_request(method, path, &snapshots.load_full(), cache)
            {
                Some((status, body)) => respond(&mut stream, status, &body),
                None => respond(&mut stream, 404, r#"{"message":"Not Found"}"#),
            }
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = String::from_utf8_lossy(crate::pipeline::response_filter::reason_phrase(status));
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
