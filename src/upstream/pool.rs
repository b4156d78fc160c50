//! A shard's keep-alive connections to its backends.
//!
//! Each shard owns its pool outright (no lock, no sharing): connections are taken out for one
//! exchange and put back when the response was read to the end and the backend allowed reuse.
//! Most recently used connections are reused first so idle ones age out.
//!
//! `max_idle` is what the pool keeps for `idle_timeout`. Connections checked in beyond it (a
//! burst of concurrent exchanges ending together) are kept too, for [`SURPLUS_GRACE`] only and
//! at most [`SURPLUS_FACTOR`] times `max_idle` in all: an io_uring shard completes exchanges in
//! batches, so under steady concurrency above `max_idle` (many HTTP/2 streams) closing the
//! surplus at once meant reconnecting it a moment later, and connect + close cost the shard more
//! than the requests themselves. The surplus never raises the number of connections above what
//! concurrent exchanges already had open: a new one is only opened when none is idle.

use std::cell::RefCell;
use std::collections::VecDeque;
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
/// How long a connection beyond `max_idle` may stay unused before the purge closes it (the
/// purge runs every second, so it goes 1–2 s after its last exchange).
pub const SURPLUS_GRACE: Duration = Duration::from_secs(1);
/// Bound on the idle connections per backend, as a multiple of `max_idle`: beyond it the
/// least recently used is closed at check-in, as beyond `max_idle` before.
pub const SURPLUS_FACTOR: usize = 8;

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
    ) -> io::Result<Box<Self>> {
        let stream = backend::connect(addr, tls, timeout).await?;
        Ok(Box::new(BackendConn {
            stream,
            tls_name: tls.map(|(_, name)| name.clone()),
            inbuf: InBuf::with_capacity(BACKEND_BUF),
            head: ResponseHead::new(),
            reused: false,
            idle_since: Instant::now(),
        }))
    }
}

/// Idle connections to one address, one list per TLS name (`None`: plain). Virtual hosts
/// behind one address are few, so they are told apart by a scan, which also needs no key
/// allocation per lookup.
/// Connections are boxed: one allocation when a connection is opened, and every checkout,
/// check-in and hand-over between the integration and the relay moves a pointer instead of
/// the whole connection (socket, TLS state, buffers: over a kilobyte).
type ByName = Vec<(Option<ServerName<'static>>, VecDeque<Box<BackendConn>>)>;

/// Idle backend connections of one shard, by backend address and TLS name: a connection is
/// reused only for the identity it was negotiated for.
#[derive(Default)]
pub struct Pool {
    /// Per backend, least recently used first (check-in pushes to the back, check-out pops
    /// from the back), so `idle_since` grows from front to back.
    idle: RefCell<AHashMap<SocketAddr, ByName>>,
}

impl Pool {
    /// Takes the most recently used idle connection to `addr` for `tls_name` that is younger
    /// than `idle_timeout`; older ones are closed on the way.
    pub fn checkout(
        &self,
        addr: SocketAddr,
        tls_name: &Option<ServerName<'static>>,
        idle_timeout: Duration,
    ) -> Option<Box<BackendConn>> {
        let mut idle = self.idle.borrow_mut();
        let lists = idle.get_mut(&addr)?;
        let (_, list) = lists.iter_mut().find(|(name, _)| name == tls_name)?;
        while let Some(mut conn) = list.pop_back() {
            if conn.idle_since.elapsed() < idle_timeout {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange. `max_idle == 0` closes it (no
    /// pooling); beyond `max_idle` it is surplus that the next [`Pool::purge`] closes unless
    /// it was used again, and beyond [`SURPLUS_FACTOR`] × `max_idle` the least recently used
    /// is closed at once.
    pub fn checkin(&self, addr: SocketAddr, mut conn: Box<BackendConn>, max_idle: usize) {
        if max_idle == 0 {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let lists = idle.entry(addr).or_default();
        let at = match lists.iter().position(|(name, _)| *name == conn.tls_name) {
            Some(at) => at,
            None => {
                lists.push((conn.tls_name.clone(), VecDeque::new()));
                lists.len() - 1
            }
        };
        let list = &mut lists[at].1;
        if list.len() >= max_idle.saturating_mul(SURPLUS_FACTOR) {
            list.pop_front();
        }
        list.push_back(conn);
    }

    /// Closes connections idle for longer than `idle_timeout`, and those beyond `max_idle`
    /// unused for [`SURPLUS_GRACE`]; run every second by the shard.
    pub fn purge(&self, idle_timeout: Duration, max_idle: usize) {
        self.purge_at(Instant::now(), idle_timeout, max_idle);
    }

    fn purge_at(&self, now: Instant, idle_timeout: Duration, max_idle: usize) {
        let idle_for = |c: &BackendConn| now.saturating_duration_since(c.idle_since);
        let mut idle = self.idle.borrow_mut();
        for lists in idle.values_mut() {
            for (_, list) in lists.iter_mut() {
                list.retain(|c| idle_for(c) < idle_timeout);
                // Least recently used first: the front is the surplus nobody needed lately.
                while list.len() > max_idle
                    && list.front().is_some_and(|c| idle_for(c) >= SURPLUS_GRACE)
                {
                    list.pop_front();
                }
            }
            lists.retain(|(_, list)| !list.is_empty());
        }
        idle.retain(|_, lists| !lists.is_empty());
    }

    /// Number of idle connections held, for tests and metrics.
    pub fn idle_count(&self) -> usize {
        let idle = self.idle.borrow();
        idle.values().flatten().map(|(_, list)| list.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` with `n` fresh connections to a local listener (accepted by the kernel's
    /// backlog; nothing is ever sent on them).
    fn with_conns(n: usize, test: impl FnOnce(SocketAddr, Vec<Box<BackendConn>>)) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut conns = Vec::new();
            for _ in 0..n {
                let conn = BackendConn::connect(addr, None, Duration::from_secs(5)).await;
                conns.push(conn.unwrap());
            }
            test(addr, conns);
        });
    }

    #[test]
    fn connections_are_reused_only_for_their_tls_name() {
        with_conns(2, |addr, conns| {
            let pool = Pool::default();
            let names = ["a.test", "b.test"].map(|n| ServerName::try_from(n).ok());
            for (mut conn, name) in conns.into_iter().zip(&names) {
                conn.tls_name = name.clone();
                pool.checkin(addr, conn, 4);
            }
            let ttl = Duration::from_secs(60);
            assert!(pool.checkout(addr, &None, ttl).is_none());
            let b = pool
                .checkout(addr, &names[1], ttl)
                .expect("b.test's connection");
            assert_eq!(b.tls_name, names[1]);
            let a = pool
                .checkout(addr, &names[0], ttl)
                .expect("a.test's connection");
            assert_eq!(a.tls_name, names[0]);
            assert_eq!(pool.idle_count(), 0);
        });
    }

    #[test]
    fn surplus_is_kept_until_the_purge_finds_it_unused() {
        with_conns(6, |addr, conns| {
            let pool = Pool::default();
            let idle_timeout = Duration::from_secs(60);
            for conn in conns {
                pool.checkin(addr, conn, 2);
            }
            // A burst of six ending together keeps all six for the next burst.
            assert_eq!(pool.idle_count(), 6);
            pool.purge(idle_timeout, 2);
            assert_eq!(pool.idle_count(), 6, "surplus closed before its grace");
            // Two are used again: the purge closes the surplus that was not.
            let a = pool.checkout(addr, &None, idle_timeout).unwrap();
            let b = pool.checkout(addr, &None, idle_timeout).unwrap();
            let later = Instant::now() + SURPLUS_GRACE + Duration::from_millis(1);
            pool.checkin(addr, a, 2);
            pool.checkin(addr, b, 2);
            pool.idle.borrow_mut().get_mut(&addr).unwrap()[0]
                .1
                .back_mut()
                .unwrap()
                .idle_since = later;
            pool.purge_at(later, idle_timeout, 2);
            assert_eq!(pool.idle_count(), 2);
            // What is left is within `max_idle`: it stays for the idle timeout.
            pool.purge_at(later + SURPLUS_GRACE * 5, idle_timeout, 2);
            assert_eq!(pool.idle_count(), 2);
            pool.purge_at(later + idle_timeout, idle_timeout, 2);
            assert_eq!(pool.idle_count(), 0);
        });
    }

    #[test]
    fn surplus_is_bounded_and_zero_disables_pooling() {
        with_conns(SURPLUS_FACTOR + 3, |addr, conns| {
            let pool = Pool::default();
            let mut conns = conns.into_iter();
            pool.checkin(addr, conns.next().unwrap(), 0);
            assert_eq!(pool.idle_count(), 0, "max_idle 0 pools nothing");
            for conn in conns {
                pool.checkin(addr, conn, 1);
            }
            assert_eq!(pool.idle_count(), SURPLUS_FACTOR);
            pool.purge_at(Instant::now() + SURPLUS_GRACE, Duration::from_secs(60), 1);
            assert_eq!(pool.idle_count(), 1);
        });
    }
}
