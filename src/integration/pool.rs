//! A shard's keep-alive connections to its backends.
//!
//! Each shard owns its pool outright (no lock, no sharing): connections are taken out for one
//! exchange and put back when the response was read to the end and the backend allowed reuse.
//! Most recently used connections are reused first so idle ones age out.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::sync::Arc;

use crate::http::ResponseHead;
use crate::tls::backend::{self, BackendStream};
use crate::wire::InBuf;

/// Receive buffer size for a backend connection.
const BACKEND_BUF: usize = 16 * 1024;

/// One connection to a backend, with its receive buffer and parsed-head storage, all reused
/// across the exchanges it carries.
pub struct BackendConn {
    /// The socket, plain or TLS.
    pub stream: BackendStream,
    /// The name TLS was negotiated for (`None`: plain), so a pooled connection is only reused
    /// for the same backend identity.
    pub tls_name: Option<ServerName<'static>>,
    /// Bytes received from the backend.
    pub inbuf: InBuf,
    /// Storage for the backend's response heads.
    pub head: ResponseHead,
    /// Whether this connection already carried an exchange (a failure on it may be a stale
    /// keep-alive connection the backend closed, which is worth one retry).
    pub reused: bool,
    idle_since: Instant,
}

impl BackendConn {
    /// Opens a new connection to `addr` (with TLS for `name` when `tls` is given) within
    /// `timeout`.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(&Arc<ClientConfig>, &ServerName<'static>)>,
        timeout: Duration,
    ) -> io::Result<Self> {
        let stream = backend::connect(addr, tls, timeout).await?;
        Ok(BackendConn {
            stream,
            tls_name: tls.map(|(_, name)| name.clone()),
            inbuf: InBuf::with_capacity(BACKEND_BUF),
            head: ResponseHead::new(),
            reused: false,
            idle_since: Instant::now(),
        })
    }
}

/// Idle backend connections of one shard, by backend address.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<AHashMap<SocketAddr, Vec<BackendConn>>>,
}

impl Pool {
    /// Takes the most recently used idle connection to `addr` that is younger than
    /// `idle_timeout`; older ones are closed on the way.
    pub fn checkout(&self, addr: SocketAddr, idle_timeout: Duration) -> Option<BackendConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&addr)?;
        while let Some(mut conn) = list.pop() {
            if conn.idle_since.elapsed() < idle_timeout {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange; beyond `max_idle` per backend the
    /// oldest is closed.
    pub fn checkin(&self, addr: SocketAddr, mut conn: BackendConn, max_idle: usize) {
        if max_idle == 0 {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() >= max_idle {
            list.remove(0);
        }
        list.push(conn);
    }

    /// Closes connections idle for longer than `idle_timeout`; run periodically by the shard.
    pub fn purge(&self, idle_timeout: Duration) {
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            list.retain(|c| c.idle_since.elapsed() < idle_timeout);
        }
        idle.retain(|_, list| !list.is_empty());
    }

    /// Number of idle connections held, for tests and metrics.
    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }
}
