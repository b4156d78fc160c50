//! Issuers' key sets (JWKS), fetched off the request path.
//!
//! Every JWT authorizer names a key set URI (`{issuer}/.well-known/jwks.json`, Cognito's and
//! OIDC's convention). [`source`] hands out one shared [`JwksSource`] per URI, so a reload
//! that keeps an authorizer keeps its keys. One background thread fetches each set when it is
//! first named, again every [`REFRESH`], and once on demand when a token names a key the set
//! does not have (key rotation): the shard that saw it raises a flag and waits, without
//! blocking, for the set's generation to move; requests that see the same unknown key at the
//! same time share that one fetch, and forced fetches of one set are at least
//! [`MIN_FORCED_GAP`] apart. Shards only ever read the current set through an `ArcSwap`: no
//! lock, no I/O on a shard thread. DNS, TCP and TLS happen on the fetcher thread.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::jwt::KeySet;

/// How often a key set is fetched again without being asked.
pub const REFRESH: Duration = Duration::from_secs(3600);
/// Least time between two fetches of one set asked for by unknown keys.
pub const MIN_FORCED_GAP: Duration = Duration::from_secs(1);
/// Retry delay after a failed fetch.
const RETRY: Duration = Duration::from_secs(2);
/// Connect and read deadline of one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set accepted.
const MAX_BYTES: usize = 1 << 20;

/// One issuer's key set as shards see it.
pub struct JwksSource {
    /// Where it is fetched from.
    pub uri: Box<str>,
    keys: ArcSwap<KeySet>,
    /// Moves on every fetch attempt that finished (success or failure).
    generation: AtomicU64,
    wanted: AtomicBool,
    state: Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    fetched_at: Option<Instant>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("uri", &self.uri)
            .finish()
    }
}

impl JwksSource {
    /// The current key set (empty until the first fetch succeeds).
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Fetch attempts finished so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Asks the fetcher for a fresh copy (a token named an unknown key).
    pub fn want_refresh(&self) {
        if !self.wanted.swap(true, Ordering::AcqRel) {
            registry().wake();
        }
    }

    /// Waits (without blocking the shard) until a fetch asked for now has finished or
    /// `limit` passed; returns the set then.
    pub async fn refreshed(&self, limit: Duration) -> Arc<KeySet> {
        let start = self.generation();
        self.want_refresh();
        let deadline = Instant::now() + limit;
        while self.generation() == start && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        self.keys()
    }
}

struct Registry {
    sources: Mutex<Vec<Weak<JwksSource>>>,
    wake: crossbeam_channel::Sender<()>,
}

impl Registry {
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tollgate-jwks".into())
            .spawn(move || fetcher(rx));
        if let Err(e) = spawned {
            tracing::error!("cannot start the JWKS fetcher thread: {e}");
        }
        Registry {
            sources: Mutex::new(Vec::new()),
            wake: tx,
        }
    })
}

/// The shared source of `uri` (created, and its first fetch started, on first use). Called by
/// the control plane while compiling a configuration.
pub fn source(uri: &str) -> Arc<JwksSource> {
    let reg = registry();
    let mut sources = reg.sources.lock().unwrap_or_else(|p| p.into_inner());
    sources.retain(|w| w.strong_count() > 0);
    if let Some(found) = sources
        .iter()
        .filter_map(Weak::upgrade)
        .find(|s| &*s.uri == uri)
    {
        return found;
    }
    let created = Arc::new(JwksSource {
        uri: uri.into(),
        keys: ArcSwap::from_pointee(KeySet::default()),
        generation: AtomicU64::new(0),
        wanted: AtomicBool::new(true),
        state: Mutex::new(FetchState::default()),
    });
    sources.push(Arc::downgrade(&created));
    drop(sources);
    reg.wake();
    created
}

/// The fetcher thread: wakes when asked, or every half second to check schedules.
fn fetcher(wake: crossbeam_channel::Receiver<()>) {
    loop {
        let _ = wake.recv_timeout(Duration::from_millis(500));
        let live: Vec<Arc<JwksSource>> = {
            let sources = registry().sources.lock().unwrap_or_else(|p| p.into_inner());
            sources.iter().filter_map(Weak::upgrade).collect()
        };
        for s in live {
            if due(&s) {
                fetch_into(&s);
            }
        }
    }
}

/// Whether `s` should be fetched now.
fn due(s: &JwksSource) -> bool {
    let state = s.state.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if state.failed_at.is_some_and(|t| now - t < RETRY) {
        return false;
    }
    match state.fetched_at {
        None => true,
        Some(t) if now - t >= REFRESH => true,
        Some(t) => s.wanted.load(Ordering::Acquire) && now - t >= MIN_FORCED_GAP,
    }
}

fn fetch_into(s: &JwksSource) {
    s.wanted.store(false, Ordering::Release);
    // A bug in parsing an issuer's answer must not end the one thread all key sets share.
    let outcome = std::panic::catch_unwind(|| fetch(&s.uri).and_then(|body| KeySet::parse(&body)))
        .unwrap_or_else(|_| Err("the fetch panicked".to_string()));
    let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(keys) => {
            tracing::debug!(uri = %s.uri, keys = keys.len(), "key set fetched");
            s.keys.store(Arc::new(keys));
            state.fetched_at = Some(Instant::now());
            state.failed_at = None;
        }
        Err(e) => {
            tracing::warn!(uri = %s.uri, "cannot fetch the key set (keeping the previous one): {e}");
            state.failed_at = Some(Instant::now());
        }
    }
    drop(state);
    s.generation.fetch_add(1, Ordering::AcqRel);
}

/// `GET uri` (http or https) and its body.
fn fetch(uri: &str) -> Result<Vec<u8>, String> {
    let (tls, rest) = if let Some(r) = uri.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = uri.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("`{uri}` is not an http:// or https:// URI"));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in `{uri}`"))?,
        ),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host_name = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host_name, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host_name}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host_name} has no address"))?;
    let mut tcp = TcpStream::connect_timeout(&addr, FETCH_TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(FETCH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(FETCH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: tollgate\r\n\r\n"
    );
    let mut raw = Vec::new();
    if tls {
        let config = tls_config();
        let name = rustls::pki_types::ServerName::try_from(host_name.to_string())
            .map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        read_all(&mut stream, &mut raw)?;
    } else {
        tcp.write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        read_all(&mut tcp, &mut raw)?;
    }
    body_of(&raw)
}

fn read_all(r: &mut impl Read, out: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                if out.len() > MAX_BYTES {
                    return Err("the key set is over 1 MiB".into());
                }
            }
            // A TLS peer that closes without close_notify: what was read is complete if the
            // framing says so (checked by `body_of`).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The body of a complete `200` response (Content-Length, chunked or close-delimited).
fn body_of(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err("no complete HTTP response".into()),
    };
    if resp.code != Some(200) {
        return Err(format!("answered {}", resp.code.unwrap_or(0)));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let body = &raw[head_len..];
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return dechunk(body);
    }
    match header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(n) if body.len() >= n => Ok(body[..n].to_vec()),
        Some(_) => Err("the body is shorter than its Content-Length".into()),
        None => Ok(body.to_vec()),
    }
}

/// A chunked body, decoded by the codec's own decoder.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    use crate::http::{ChunkedDecoder, Decoded};
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    loop {
        let (used, found) = decoder.decode(body).map_err(|e| e.to_string())?;
        match found {
            Decoded::Data { start, end } => out.extend_from_slice(&body[start..end]),
            Decoded::Done => return Ok(out),
            Decoded::NeedMore if used == 0 => return Err("truncated chunked body".into()),
            Decoded::NeedMore => {}
        }
        body = &body[used..];
    }
}

/// TLS to issuers: the system's CAs, else the Mozilla roots compiled in.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        match config {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!("TLS client configuration for key sets: {e}");
                Arc::new(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_taken_from_each_framing() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra";
        assert_eq!(body_of(raw).unwrap(), b"{}");
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n0\r\n\r\n";
        assert_eq!(body_of(raw).unwrap(), b"{\"a\":");
        let raw = b"HTTP/1.1 200 OK\r\n\r\n{\"keys\":[]}";
        assert_eq!(body_of(raw).unwrap(), b"{\"keys\":[]}");
        assert!(body_of(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").is_err());
    }

    #[test]
    fn sources_are_shared_per_uri() {
        let a = source("http://127.0.0.1:9/a.json");
        let b = source("http://127.0.0.1:9/a.json");
        let c = source("http://127.0.0.1:9/c.json");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(a.keys().is_empty());
    }
}
