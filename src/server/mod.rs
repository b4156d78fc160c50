//! The data plane's process structure: shard threads, their listeners, and the connection
//! loop each shard runs.

pub mod client;
pub mod connection;
pub mod h2;
pub mod h2_io;
pub mod h2_stream;
pub mod https;
pub mod idle;
pub mod listener;
pub mod shard;
pub mod stream;

use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::access_log::AccessLogQueue;
use crate::cache::CacheBoard;
use crate::clock::{Clock, TestClockEnvError};
use crate::config::{self, ConfigErrors};
use crate::lifecycle::SignalWatch;
use crate::metrics::NodeMetrics;
use crate::reload::{Reloader, SnapshotHandle};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{0}\nfix the files above (`tollgate --check DIR` lists the same errors) and start again")]
    Config(#[from] ConfigErrors),
    /// The usage store (quotas, usage counters) could not be opened.
    #[error("{0}")]
    Usage(#[from] crate::throttle::StoreError),
    /// The test clock variable is set but unreadable.
    #[error("{0}")]
    TestClock(#[from] TestClockEnvError),
    /// A socket, thread or runtime could not be set up.
    #[error("{context}: {source}")]
    Io {
        /// What was being set up.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A shard could not start its event loop.
    #[error("{0}")]
    Shard(String),
    /// Taking over from the process this one upgrades failed (that one goes on serving).
    #[error("upgrade: {0}")]
    Upgrade(#[from] crate::upgrade::UpgradeError),
}

/// The node-wide services shards report to or take part in, created once in [`run`] and
/// shared with the admin listener: one value instead of one parameter per feature.
#[derive(Clone)]
pub struct NodeServices {
    /// Per-shard metric tables, aggregated by `/metrics` scrapes.
    pub metrics: Arc<NodeMetrics>,
    /// The access-log writer and its per-shard queues.
    pub access_log: Arc<AccessLogQueue>,
    /// Stage-cache flush board (cross-shard flush messages).
    pub cache: Arc<CacheBoard>,
    /// The node's one clock (also held by the traffic node): shards expire cache entries on
    /// it, so the test clock moves TTLs, buckets and quota periods together.
    pub clock: Clock,
    /// Shards on the node (hosted functions split their workers between them).
    pub shards: usize,
    /// The thread that starts and reaps hosted-function workers (`None` if it could not start).
    pub spawner: Option<Arc<crate::function::Spawner>>,
    /// Invoke API calls from the admin listener, for any shard to run.
    pub admin_invocations: crate::function::invoke_api::AdminInbox,
    /// Each shard's housekeeping count, read by systemd's watchdog.
    pub heartbeats: Arc<crate::systemd::Heartbeats>,
    /// The WebSocket connections' mailboxes, one per shard (`@connections` across shards).
    pub ws: Arc<crate::ws::Registry>,
    /// Raised while the process this one took over from still runs (`crate::upgrade`):
    /// shards submit their accepts again on each tick meanwhile, and once after.
    pub predecessor_running: Arc<AtomicBool>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// Runs the gateway on the configuration in `dir` until SIGTERM or SIGINT (or until a new
/// binary took over, `crate::upgrade`), then drains.
pub fn run(dir: &Path) -> Result<(), StartError> {
    let mut takeover = crate::upgrade::Takeover::from_env()?;
    let exe = crate::upgrade::started_from();
    // The control plane's APIs, plans and keys compile with the files (which may refer to
    // them), so the store is read first.
    let (settings, account) = config::control::peek(dir);
    let control =
        crate::control::ControlPlane::open(&settings, &account).map_err(|e| StartError::Io {
            context: "opening the control-plane store".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let loaded = {
        use crate::reload::ManagedApis;
        config::load_with(dir, 1, &control.sources())?
    };
    let node = loaded.node.clone();
    let file_apis = loaded.file_apis.clone();
    let usage = loaded.snapshot.traffic.usage.clone();
    let clock = Clock::from_env()?;
    if clock.is_fixed() {
        tracing::warn!(
            "test clock frozen at unix_ms={} ({}); never set it in production",
            clock.unix_ms(),
            crate::clock::TEST_CLOCK_ENV
        );
    }
    let signals = SignalWatch::register().map_err(io_err("registering signal handlers"))?;
    // Taking over: the old process closes the usage store only now that this one has loaded
    // its configuration. Listeners are bound after that, so that one a new address adds
    // queues no connection for a process that may still fail before it serves.
    if let Some(t) = &mut takeover {
        t.prepared()?;
    }
    let sockets = Sockets::bind(&node, takeover.as_mut())?;
    let traffic = crate::throttle::TrafficNode::with_store(
        node.shards,
        clock.clone(),
        &usage.store,
        usage.flush_interval,
    )?;
    let metrics = NodeMetrics::new(node.shards);
    let cache = CacheBoard::new(node.shards);
    // Cluster mode: before the first snapshot is linked, so every bucket is a fleet bucket.
    let _cluster = match &node.cluster {
        None => None,
        Some(configured) => {
            let mut settings = configured.clone();
            if settings.node_id.is_empty() {
                settings.node_id = crate::cluster::stable_node_id(&usage.store);
            }
            let settings = &settings;
            let link = crate::cluster::Link::new(settings);
            traffic.join_fleet(Arc::clone(&link));
            let _ = metrics.cluster.set(Arc::clone(&link));
            let worker = crate::cluster::worker::Worker::start(
                settings.clone(),
                link,
                Arc::clone(&cache),
                Arc::clone(&traffic),
            )
            .map_err(io_err("starting the cluster worker"))?;
            tracing::info!(node = %settings.node_id, redis = %settings.redis_shown(), "cluster mode");
            Some(worker)
        }
    };
    let handle = SnapshotHandle::with_traffic(loaded.snapshot, Arc::clone(&traffic));
    let services = NodeServices {
        metrics,
        access_log: Arc::new(
            AccessLogQueue::start(node.access_log_queue, node.shards)
                .map_err(io_err("starting the access-log writer"))?,
        ),
        cache,
        clock,
        shards: node.shards,
        ws: Arc::new(crate::ws::Registry::new(node.shards)),
        admin_invocations: Default::default(),
        heartbeats: crate::systemd::Heartbeats::new(node.shards),
        predecessor_running: Arc::new(AtomicBool::new(takeover.is_some())),
        spawner: match crate::function::Spawner::start() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("cannot start the function host thread: {e}");
                None
            }
        },
    };
    // Before any shard can queue a record: the writer closes files no tracked snapshot names.
    let access_logs = services.access_log.tracker();
    access_logs.track(&handle.load_full());
    let admin_stop = Arc::new(AtomicBool::new(false));
    let inherit = sockets
        .descriptors()
        .map_err(io_err("duplicating the listeners"))?;
    let reloader = Arc::new(
        Reloader::new(dir, Arc::clone(&handle), node.clone())
            .counting(Arc::clone(&services.metrics))
            .tracking_access_logs(access_logs)
            .managing(Arc::clone(&control) as _, file_apis),
    );
    if let Some(listener) = sockets.admin {
        // Not the access-log queue: its writer is flushed once every holder is gone.
        let admin = crate::admin::Admin {
            snapshots: Arc::clone(&handle),
            metrics: Arc::clone(&services.metrics),
            cache: Arc::clone(&services.cache),
            inbox: services.admin_invocations.clone(),
            control: Some((Arc::clone(&control), Arc::clone(&reloader))),
        };
        let bound = crate::admin::start(listener, admin, Arc::clone(&admin_stop))
            .map_err(io_err("starting the admin listener"))?;
        tracing::info!("admin listening addr={bound}");
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = std::sync::mpsc::channel();
    let threads = spawn_shards(
        &node,
        &handle,
        sockets.plain,
        sockets.tls,
        &shutdown,
        &services,
        &started_tx,
    )?;
    drop(started_tx);
    // Ready means every shard runs its event loop on its listeners with the first snapshot
    // (systemd's `Type=notify` waits for exactly this); a shard that cannot start stops the
    // node rather than leaving it serving on fewer cores than configured.
    if let Err(e) = wait_for_shards(&started, node.shards) {
        shutdown.store(true, std::sync::atomic::Ordering::Release);
        for t in threads {
            let _ = t.join();
        }
        traffic.shutdown();
        return Err(e);
    }
    let driver = if io_driver() == IoDriver::Auto && monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    };
    tracing::info!(
        "ready generation={} shards={} driver={driver}",
        handle.generation(),
        node.shards
    );
    let notifier = Arc::new(crate::systemd::Notifier::from_env());
    crate::lifecycle::release_freed_memory();
    match takeover {
        // The old process tells systemd (only its main process is heard) that this one is
        // the main process now, and ready.
        Some(t) => t.serving(
            Arc::clone(&traffic),
            Arc::clone(&services.predecessor_running),
        )?,
        None => notifier.ready(&format!(
            "serving generation {} on {} shards",
            handle.generation(),
            node.shards
        )),
    }
    if let Some(interval) = crate::systemd::watchdog_interval().filter(|_| notifier.is_active()) {
        crate::systemd::spawn_watchdog(
            Arc::clone(&notifier),
            interval,
            Arc::clone(&services.heartbeats),
            Arc::clone(&shutdown),
        )
        .map_err(io_err("starting the watchdog thread"))?;
    }
    let upgrader = exe
        .map_err(|e| {
            tracing::error!("binary upgrades (SIGUSR2) are off: cannot tell which binary runs: {e}")
        })
        .ok()
        .map(|exe| {
            crate::upgrade::Upgrader::new(
                exe,
                inherit,
                Arc::clone(&traffic),
                Arc::clone(&notifier),
                Arc::clone(&services.predecessor_running),
            )
        });
    let NodeServices {
        metrics: _,
        access_log,
        cache: _,
        clock: _,
        shards: _,
        spawner,
        admin_invocations: _,
        heartbeats: _,
        predecessor_running: _,
        ws: _,
    } = services;
    let flags = (&*shutdown, &*access_log.reopen_flag());
    let handed_over = signals.run(&reloader, flags, &notifier, upgrader.as_ref());
    if handed_over {
        admin_stop.store(true, std::sync::atomic::Ordering::Release);
    }
    for t in threads {
        let _ = t.join();
    }
    traffic.shutdown();
    // Every shard has drained its in-flight invocations: stop the hosted functions' workers.
    if let Some(spawner) = spawner {
        spawner.send(crate::function::spawner::Command::Shutdown);
    }
    // Every shard (and its queue sender) is gone: flush the access logs.
    if let Ok(queue) = Arc::try_unwrap(access_log) {
        queue.shutdown();
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// The node's listening sockets, bound (or adopted from the process this one upgrades)
/// before anything else starts.
struct Sockets {
    /// Per shard: plain listeners.
    plain: Vec<Vec<std::net::TcpListener>>,
    /// Per shard: TLS listeners.
    tls: Vec<Vec<std::net::TcpListener>>,
    admin: Option<std::net::TcpListener>,
}

impl Sockets {
    fn bind(
        node: &config::NodeSettings,
        mut takeover: Option<&mut crate::upgrade::Takeover>,
    ) -> Result<Sockets, StartError> {
        use crate::upgrade::Kind;
        let mut inherited = |kind| takeover.as_mut().map_or_else(Vec::new, |t| t.take(kind));
        let (bound, plain) =
            listener::bind_adopting(&node.listen, node.shards, inherited(Kind::Http))
                .map_err(io_err("binding listeners"))?;
        for addr in &bound {
            tracing::info!("listening addr={addr}");
        }
        let (tls_bound, tls) =
            listener::bind_adopting(&node.tls_listen, node.shards, inherited(Kind::Tls))
                .map_err(io_err("binding tls listeners"))?;
        for addr in &tls_bound {
            tracing::info!("listening tls addr={addr}");
        }
        let admin_inherited = inherited(Kind::Admin);
        let admin = match node.admin {
            Some(addr) => Some(
                crate::admin::bind(addr, admin_inherited)
                    .map_err(io_err(format!("binding admin listener {addr}")))?,
            ),
            None => None,
        };
        Ok(Sockets { plain, tls, admin })
    }

    /// A duplicate of every listening descriptor (the same sockets), for a binary upgrade to
    /// hand over.
    fn descriptors(&self) -> std::io::Result<Vec<(crate::upgrade::Kind, std::os::fd::OwnedFd)>> {
        use crate::upgrade::Kind;
        use std::os::fd::AsFd;
        let plain = self.plain.iter().flatten().map(|l| (Kind::Http, l));
        let tls = self.tls.iter().flatten().map(|l| (Kind::Tls, l));
        let admin = self.admin.iter().map(|l| (Kind::Admin, l));
        plain
            .chain(tls)
            .chain(admin)
            .map(|(kind, l)| Ok((kind, l.as_fd().try_clone_to_owned()?)))
            .collect()
    }
}

/// What a shard reports once: its event loop runs (`Ok`), or why it could not start.
type Started = Result<usize, String>;

/// Waits for every shard's report.
fn wait_for_shards(
    started: &std::sync::mpsc::Receiver<Started>,
    shards: usize,
) -> Result<(), StartError> {
    for _ in 0..shards {
        match started.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(StartError::Shard(e)),
            Err(_) => return Err(StartError::Shard("a shard exited before starting".into())),
        }
    }
    Ok(())
}

fn spawn_shards(
    node: &config::NodeSettings,
    handle: &Arc<SnapshotHandle>,
    listeners: Vec<Vec<std::net::TcpListener>>,
    tls_listeners: Vec<Vec<std::net::TcpListener>>,
    shutdown: &Arc<AtomicBool>,
    services: &NodeServices,
    started: &std::sync::mpsc::Sender<Started>,
) -> Result<Vec<std::thread::JoinHandle<()>>, StartError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut threads = Vec::with_capacity(node.shards);
    let paired = listeners.into_iter().zip(tls_listeners);
    for (id, (shard_listeners, shard_tls)) in paired.enumerate() {
        let core = if node.pin_cores && !cores.is_empty() {
            Some(cores[id % cores.len()])
        } else {
            None
        };
        let handle = Arc::clone(handle);
        let shutdown = Arc::clone(shutdown);
        let services = services.clone();
        let started = started.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                shard_main(
                    id,
                    core,
                    handle,
                    (shard_listeners, shard_tls),
                    shutdown,
                    services,
                    started,
                )
            })
            .map_err(io_err(format!("spawning shard {id}")))?;
        threads.push(thread);
    }
    Ok(threads)
}

/// Entry point of a shard thread: pin, start the runtime (io_uring, or epoll where the kernel
/// refuses io_uring), report to `started`, serve until shutdown. `listeners`: the shard's
/// plain and TLS listeners.
fn shard_main(
    id: usize,
    core: Option<core_affinity::CoreId>,
    handle: Arc<SnapshotHandle>,
    (listeners, tls_listeners): (Vec<std::net::TcpListener>, Vec<std::net::TcpListener>),
    shutdown: Arc<AtomicBool>,
    services: NodeServices,
    started: std::sync::mpsc::Sender<Started>,
) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            tracing::warn!(shard = id, "could not pin to core {}", core.id);
        }
    }
    let started_err = started.clone();
    let work = async move {
        let ctx = Rc::new(shard::ShardCtx::new(id, handle, &services));
        let _ = started.send(Ok(id));
        // The access-log queue's sender lives in the shard context only, so the writer sees
        // every sender gone once the shards have stopped.
        drop(services);
        shard::run(ctx, listeners, tls_listeners, shutdown).await;
    };
    let failed = |e: std::io::Error| {
        tracing::error!(shard = id, "cannot start runtime: {e}");
        format!("shard {id} cannot start its runtime: {e}")
    };
    // The runtime's first act is to send `started`; only a runtime that fails to build
    // reports here.
    let not_started = match io_driver() {
        IoDriver::Epoll => match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => return rt.block_on(work),
            Err(e) => failed(e),
        },
        IoDriver::Auto => match monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .with_entries(RING_ENTRIES)
            .uring_builder(ring_setup())
            .enable_timer()
            .build()
        {
            Ok(mut rt) => return rt.block_on(work),
            Err(e) => failed(e),
        },
    };
    let _ = started_err.send(Err(not_started));
}

/// Which I/O driver the shards run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriver {
    /// io_uring where the kernel allows it, epoll otherwise (monoio's `FusionDriver`).
    Auto,
    /// epoll, even where io_uring works: `TOLLGATE_IO_DRIVER=epoll`, for kernels or sandboxes
    /// whose io_uring misbehaves, and so the tests run the fallback path on any machine.
    Epoll,
}

/// The driver `TOLLGATE_IO_DRIVER` asks for (anything but `epoll` is the default).
pub fn io_driver() -> IoDriver {
    match std::env::var("TOLLGATE_IO_DRIVER").as_deref() {
        Ok("epoll") => IoDriver::Epoll,
        _ => IoDriver::Auto,
    }
}

/// io_uring submission queue size per shard.
const RING_ENTRIES: u32 = 1024;

/// io_uring setup flags for a ring used by exactly one thread that waits for completions
/// itself: completions are not announced with inter-processor interrupts (which cost a
/// reschedule IPI per network event) but run when the shard enters the kernel anyway.
/// Kernels without these flags (before 6.1) get a plain ring.
fn ring_setup() -> io_uring::Builder {
    let mut tuned = io_uring::IoUring::builder();
    tuned
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    if tuned.build(8).is_ok() {
        tuned
    } else {
        io_uring::IoUring::builder()
    }
}
