//! One shard: a thread pinned to one core, with its own io_uring runtime, its own
//! SO_REUSEPORT listeners, its own backend pool, and nothing shared with other shards on the
//! request path except the read-only snapshot.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{CancelHandle, Canceller};
use monoio::net::TcpListener;

use crate::access_log::ShardLog;
use crate::cache::ShardCache;
use crate::metrics::ShardMetrics;
use crate::pipeline::response_filter::DateCache;
use crate::reload::{ShardSnapshot, SnapshotHandle};
use crate::server::{h2, https, NodeServices};
use crate::upstream::pool::Pool;

/// How often a shard looks at the node-wide shutdown flag and for a replaced snapshot to let
/// go of, and (every 20th tick) purges its pool.
/// It also advances the idle wheel, whose tick it is.
const HOUSEKEEPING_TICK: Duration = crate::server::idle::TICK;

/// How long a keep-alive connection idle when the shard starts draining may still send its
/// next request (answered with `Connection: close`) before it is closed. A second covers a
/// client whose request was already on its way (a loaded `wrk` sends the next one within
/// microseconds) without holding a draining process long; HAProxy and Envoy also let idle
/// HTTP/1.1 connections finish one more request rather than racing them with a close.
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// How many more connections must have parked in a second (each freeing ~22 KiB) for the
/// shard to hand the freed pages back to the kernel.
const COLLECT_AFTER_PARKED: usize = 256;

/// State owned by one shard and shared by its connection tasks (single-threaded: `Cell`s and
/// `RefCell`s, never locks).
pub struct ShardCtx {
    /// Shard number (= core number when pinned).
    pub id: usize,
    /// The shard's view of the published configuration.
    pub snapshots: ShardSnapshot,
    /// Keep-alive connections to backends.
    pub pool: Pool,
    /// SigV4 signing keys of Lambda invocations (derived once a day per scope).
    pub signing_keys: crate::upstream::sigv4::KeyCache,
    /// Spare request buffers (`exchange::Request`): a request that needs its whole body takes
    /// one for its life instead of allocating.
    pub buffers: crate::exchange::BufferPool,
    /// This shard's share of the hosted Lambda functions' workers.
    pub functions: crate::function::ShardFunctions,
    /// Invoke API calls from the admin listener (taken on the housekeeping tick).
    admin_invocations: crossbeam_channel::Receiver<crate::function::invoke_api::AdminInvocation>,
    /// This shard's slot is bumped on every housekeeping tick (systemd's watchdog reads it).
    heartbeats: Arc<crate::systemd::Heartbeats>,
    /// While raised, and once after, the shard submits its accepts again on each tick
    /// (`upgrade::Takeover::serving` says why).
    predecessor_running: Arc<AtomicBool>,
    saw_predecessor: Cell<bool>,
    /// Cancels the pending accepts (to submit them again, or for the drain).
    accept_canceller: RefCell<Canceller>,
    /// `Date` header cache.
    pub date: DateCache,
    /// This shard's metric counters (written only here, read by `/metrics` scrapes).
    pub metrics: Arc<ShardMetrics>,
    /// This shard's side of the access-log queue.
    pub access_log: ShardLog,
    /// This shard's partitions of the stage caches.
    pub cache: ShardCache,
    /// This shard's cache of Lambda authorizer results.
    pub authorizers: crate::auth::cache::DecisionCache,
    /// The node's clock (token expiry, signature dates).
    pub clock: crate::clock::Clock,
    /// Derived SigV4 signing keys of IAM callers.
    pub iam_keys: crate::auth::iam::SigningKeys,
    /// Tokens of JWT authorizers whose signatures were verified.
    pub tokens: crate::auth::jwt::VerifiedTokens,
    rng: RefCell<fastrand::Rng>,
    /// Set when the shard starts draining: until when an idle connection may still send a
    /// request ([`DRAIN_IDLE_GRACE`] after the drain began).
    drain_grace_until: Cell<Option<std::time::Instant>>,
    active: Cell<usize>,
    /// Connections waiting for their next request (deadlines, parking, the drain's wake-up).
    pub idle: crate::server::idle::IdleWheel,
    /// Buffers of connections that are not idle (parked connections hold none).
    pub conn_buffers: crate::server::client::ConnBufferPool,
    /// This shard's WebSocket connections (`crate::ws`).
    pub ws: crate::ws::LocalConnections,
}

impl ShardCtx {
    /// Creates the state of shard `id`, with its part of each node-wide service (metric
    /// table, access-log queue, cache partitions).
    pub fn new(id: usize, handle: Arc<SnapshotHandle>, services: &NodeServices) -> Self {
        let metrics = &services.metrics;
        ShardCtx {
            id,
            snapshots: ShardSnapshot::new(handle),
            pool: Pool::default(),
            signing_keys: Default::default(),
            // Enough for the requests one shard has in flight at once; a buffer that grew past
            // 256 KiB (a large body) is freed rather than kept.
            buffers: crate::exchange::BufferPool::new(256, 256 * 1024),
            functions: crate::function::ShardFunctions::new(
                id,
                services.shards,
                services.spawner.clone(),
                metrics.shard(id),
            ),
            admin_invocations: services.admin_invocations.receiver(),
            heartbeats: Arc::clone(&services.heartbeats),
            predecessor_running: Arc::clone(&services.predecessor_running),
            saw_predecessor: Cell::new(true),
            accept_canceller: RefCell::new(Canceller::new()),
            date: DateCache::default(),
            metrics: metrics.shard(id),
            access_log: services.access_log.shard_sender(id, metrics.shard(id)),
            cache: ShardCache::new(Arc::clone(&services.cache), services.clock.clone()),
            authorizers: crate::auth::cache::DecisionCache::new(
                services.clock.clone(),
                crate::auth::cache::DEFAULT_MAX_BYTES,
            ),
            clock: services.clock.clone(),
            iam_keys: crate::auth::cache::TtlCache::new(services.clock.clone(), 1 << 20),
            tokens: crate::auth::cache::TtlCache::new(
                services.clock.clone(),
                crate::auth::cache::DEFAULT_MAX_BYTES,
            ),
            rng: RefCell::new(fastrand::Rng::new()),
            drain_grace_until: Cell::new(None),
            active: Cell::new(0),
            idle: Default::default(),
            // Enough for the connections one shard has busy at once under load; beyond that
            // a waking connection allocates (the allocator reuses what parking freed).
            conn_buffers: crate::server::client::ConnBufferPool::new(64),
            ws: crate::ws::LocalConnections::new(id, Arc::clone(&services.ws)),
        }
    }

    /// 128 random bits (request ids).
    pub fn random_u128(&self) -> u128 {
        self.rng.borrow_mut().u128(..)
    }

    /// Whether the shard is shutting down: connections close after their current request.
    pub fn is_draining(&self) -> bool {
        self.drain_grace_until.get().is_some()
    }

    /// What is left of the grace an idle keep-alive connection gets once the shard drains.
    pub fn drain_grace_left(&self) -> Duration {
        self.drain_grace_until.get().map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(std::time::Instant::now())
        })
    }

    /// A handle whose accepts are cancelled when the shard drains or re-arms its accepts.
    fn accept_handle(&self) -> CancelHandle {
        self.accept_canceller.borrow().handle()
    }

    /// Cancels the pending accepts; each accept loop submits its accept again unless the
    /// shard drains.
    fn rearm_accepts(&self) {
        cancel_all(&self.accept_canceller);
    }

    /// Connections currently open on this shard.
    pub fn active_connections(&self) -> usize {
        self.active.get()
    }

    fn begin_drain(&self) {
        let drain_timeout = self.snapshots.current().limits.drain_timeout;
        let grace = DRAIN_IDLE_GRACE.min(drain_timeout);
        self.drain_grace_until
            .set(Some(std::time::Instant::now() + grace));
        // Wakes every connection waiting for a request, and every accept (with ECANCELED).
        self.idle.drain();
        // WebSockets close with 1001 "Going away" and run `$disconnect`.
        self.ws.close_all();
        self.rearm_accepts();
    }
}

/// Cancels every operation of the canceller's handles; later handles belong to a new one.
fn cancel_all(canceller: &RefCell<Canceller>) {
    let old = std::mem::take(&mut *canceller.borrow_mut());
    *canceller.borrow_mut() = old.cancel();
}

/// Counts a connection as active for as long as it lives.
struct ActiveGuard(Rc<ShardCtx>);

impl ActiveGuard {
    fn new(shard: Rc<ShardCtx>) -> Self {
        shard.active.set(shard.active.get() + 1);
        shard.metrics.connection_opened();
        ActiveGuard(shard)
    }

    /// Ends the connection's count; `served`: its task ended without a panic.
    fn finish(self, served: bool, peer: std::net::SocketAddr) {
        if !served {
            tracing::error!(shard = self.0.id, %peer, "connection task panicked; connection dropped");
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get().saturating_sub(1));
        self.0.metrics.connection_closed();
    }
}

/// Runs a shard until shutdown: accepts on every listener, serves connections, and when
/// `shutdown` is raised stops accepting and waits for open connections to finish, up to the
/// snapshot's drain timeout.
pub async fn run(
    shard: Rc<ShardCtx>,
    listeners: Vec<std::net::TcpListener>,
    tls_listeners: Vec<std::net::TcpListener>,
    shutdown: Arc<AtomicBool>,
) {
    let tagged = listeners.into_iter().map(|l| (l, false));
    for (std_listener, tls) in tagged.chain(tls_listeners.into_iter().map(|l| (l, true))) {
        match TcpListener::from_std(std_listener) {
            Ok(listener) => {
                monoio::spawn(accept_loop(Rc::clone(&shard), listener, tls));
            }
            Err(e) => tracing::error!(shard = shard.id, "cannot adopt listener: {e}"),
        }
    }
    // `@connections` calls from other shards for this shard's WebSockets.
    let mailbox = Rc::clone(&shard);
    monoio::spawn(async move { mailbox.ws.serve_mailbox().await });
    housekeeping(&shard, &shutdown).await;
    let drain_timeout = shard.snapshots.current().limits.drain_timeout;
    let waited = monoio::time::timeout(drain_timeout, async {
        while shard.active_connections() > 0 {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!(
            shard = shard.id,
            open = shard.active_connections(),
            "drain timeout reached; closing remaining connections"
        );
    }
}

/// Watches the shutdown flag, drops a replaced snapshot even when no request comes, and ages
/// out idle backend connections until shutdown.
async fn housekeeping(shard: &Rc<ShardCtx>, shutdown: &AtomicBool) {
    let mut ticks: u32 = 0;
    let mut parked_at_collect = 0;
    shard
        .functions
        .maintain(&shard.snapshots.current().functions);
    while !shutdown.load(Ordering::Acquire) {
        monoio::time::sleep(HOUSEKEEPING_TICK).await;
        ticks = ticks.wrapping_add(1);
        shard.idle.advance();
        let parked = shard.idle.parked() + shard.ws.parked();
        shard.metrics.set_parked_connections(parked);
        shard.heartbeats.beat(shard.id);
        let running = shard.predecessor_running.load(Ordering::Acquire);
        if shard.saw_predecessor.replace(running) {
            shard.rearm_accepts();
        }
        shard.snapshots.refresh();
        run_admin_invocations(shard);
        if ticks.is_multiple_of(20) {
            let snapshot = shard.snapshots.current();
            shard.pool.purge(
                snapshot.limits.pool_idle_timeout,
                snapshot.limits.pool_max_idle_per_backend,
            );
            shard.cache.retain_current(&snapshot);
            shard.functions.maintain(&snapshot.functions);
            // Connections that parked since the last look freed their buffers; the allocator
            // returns the emptied pages to the kernel only when this thread asks (it would
            // otherwise wait for the next allocation, which an idle shard may not make).
            // Forced: mimalloc (v3) purges a freed page only once its purge delay (1 s) has
            // passed, and a normal collection right after a wave would find most pages still
            // inside it. At most once a second; its duration is logged at debug level (4.4 ms
            // measured after 10,000 connections parked at once, 40-220 us for ~700).
            if parked >= parked_at_collect + COLLECT_AFTER_PARKED {
                let started = std::time::Instant::now();
                crate::lifecycle::release_freed_memory();
                let took_us = started.elapsed().as_micros() as u64;
                tracing::debug!(shard = shard.id, parked, took_us, "freed pages returned");
            }
            parked_at_collect = parked;
        }
    }
    shard.begin_drain();
}

/// Starts the Invoke API calls the admin listener queued (each runs on this shard's workers).
fn run_admin_invocations(shard: &Rc<ShardCtx>) {
    while let Ok(call) = shard.admin_invocations.try_recv() {
        let shard = Rc::clone(shard);
        monoio::spawn(async move {
            let qualifier = call.qualifier.as_deref();
            let result = shard
                .functions
                .invoke(&call.spec, qualifier, &call.payload, &call.request_id)
                .await;
            if let Some(reply) = call.reply {
                let _ = reply.send(result);
            }
        });
    }
}

async fn accept_loop(shard: Rc<ShardCtx>, listener: TcpListener, tls: bool) {
    loop {
        if shard.is_draining() {
            return;
        }
        match listener.cancelable_accept(shard.accept_handle()).await {
            Ok((stream, peer)) => {
                let guard = ActiveGuard::new(Rc::clone(&shard));
                // Two task types, so a plain connection's task is not sized for TLS's state.
                if tls {
                    monoio::spawn(async move {
                        let served = CatchUnwind(https::serve(&guard.0, stream, peer)).await;
                        guard.finish(served.is_ok(), peer);
                    });
                } else {
                    monoio::spawn(async move {
                        let served = CatchUnwind(h2::serve_plain(&guard.0, stream, peer)).await;
                        guard.finish(served.is_ok(), peer);
                    });
                }
            }
            // Re-armed (the loop submits the accept again) or draining (it returns).
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => continue,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(shard = shard.id, "accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs a future and turns a panic inside it into an `Err`, so that a bug hit by one
/// connection drops that connection instead of the whole shard and every connection on it.
/// Needs `panic = "unwind"` (the release profile's setting, see tuning.md "Panics"): under
/// `abort` the process would end before this runs.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // SAFETY: the inner future is structurally pinned: it is never moved out of `self`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}
