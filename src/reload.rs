//! Publication of compiled snapshots to the shards, lock-free.
//!
//! The control plane stores a new `Arc<Snapshot>` in an [`ArcSwap`] and bumps a generation
//! counter. A shard never touches the shared `Arc`'s reference count per request (that would
//! bounce one cache line between cores): it keeps its own `Rc<Arc<Snapshot>>` and only reloads
//! it when the generation it last saw differs from the published one — one relaxed read of a
//! line that is written only on reload. A request clones the shard's `Rc` (a non-atomic
//! increment), so it finishes on the snapshot it started with even if a reload lands mid-way.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::access_log::writer::DestinationTracker;
use crate::clock::Clock;
use crate::config::load::ExtraSource;
use crate::config::{self, ConfigErrors, FileApi, NodeSettings};
use crate::metrics::NodeMetrics;
use crate::snapshot::Snapshot;
use crate::throttle::TrafficNode;

/// The published snapshot, shared by the control plane and every shard.
#[derive(Debug)]
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
    traffic: Arc<TrafficNode>,
}

impl SnapshotHandle {
    /// Starts publishing `snapshot`, with in-memory traffic state (no usage store).
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        Self::with_traffic(snapshot, TrafficNode::in_memory(1, Clock::default()))
    }

    /// Starts publishing `snapshot`, linked to the node-wide traffic state every published
    /// snapshot will share (buckets, quotas, usage counters).
    pub fn with_traffic(mut snapshot: Snapshot, traffic: Arc<TrafficNode>) -> Arc<Self> {
        traffic.link(&mut snapshot);
        let generation = snapshot.generation;
        Arc::new(SnapshotHandle {
            current: ArcSwap::from_pointee(snapshot),
            generation: AtomicU64::new(generation),
            traffic,
        })
    }

    /// The node-wide traffic state.
    pub fn traffic(&self) -> &Arc<TrafficNode> {
        &self.traffic
    }

    /// Replaces the published snapshot; shards pick it up on their next request.
    pub fn publish(&self, mut snapshot: Snapshot) {
        self.traffic.link(&mut snapshot);
        let generation = snapshot.generation;
        self.current.store(Arc::new(snapshot));
        self.generation.store(generation, Ordering::Release);
    }

    /// Generation of the published snapshot.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The published snapshot (control-plane use; shards use [`ShardSnapshot`]).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}

/// A shard's view of the published snapshot; see the module docs for why it exists.
pub struct ShardSnapshot {
    handle: Arc<SnapshotHandle>,
    seen: Cell<u64>,
    // The extra `Rc` layer is the point: cloning it per request is a shard-local increment,
    // where cloning the `Arc` would write a cache line shared by every shard.
    #[allow(clippy::redundant_allocation)]
    local: RefCell<Rc<Arc<Snapshot>>>,
}

impl ShardSnapshot {
    /// Creates the shard-local view.
    pub fn new(handle: Arc<SnapshotHandle>) -> Self {
        let seen = handle.generation();
        let local = RefCell::new(Rc::new(handle.load_full()));
        ShardSnapshot {
            handle,
            seen: Cell::new(seen),
            local,
        }
    }

    /// Lets go of a replaced snapshot even when no request comes to do it (an idle shard):
    /// called from the shard's housekeeping, so that what only the old snapshot used (its
    /// access-log files, see [`DestinationTracker`]) is released soon after a reload.
    pub fn refresh(&self) {
        drop(self.current());
    }

    /// The snapshot a new request should use; cheap when nothing was reloaded.
    #[allow(clippy::redundant_allocation)]
    pub fn current(&self) -> Rc<Arc<Snapshot>> {
        let published = self.handle.generation.load(Ordering::Acquire);
        if published != self.seen.get() {
            *self.local.borrow_mut() = Rc::new(self.handle.load_full());
            self.seen.set(published);
        }
        Rc::clone(&self.local.borrow())
    }
}

/// Definitions compiled beside the files on every reload: the control plane's APIs, usage
/// plans and API keys (`crate::control`), as it last committed them. Read without a lock of the owner's: they
/// only change inside [`Reloader::apply`], under the reloader's own lock.
pub trait ManagedApis: Send + Sync {
    /// The committed definitions.
    fn sources(&self) -> Arc<Vec<ExtraSource>>;
}

/// Why [`Reloader::apply`] did not publish.
#[derive(Debug)]
pub enum ApplyError<E> {
    /// The files with the candidate definitions do not compile.
    Rejected(ConfigErrors),
    /// They compiled, but the commit (the store's write) failed: nothing was published.
    Commit(E),
}

/// Re-reads the configuration directory on demand (SIGHUP) and publishes it when valid.
pub struct Reloader {
    dir: PathBuf,
    handle: Arc<SnapshotHandle>,
    node: NodeSettings,
    lock: Mutex<()>,
    metrics: Option<Arc<NodeMetrics>>,
    access_logs: Option<DestinationTracker>,
    managed: Option<Arc<dyn ManagedApis>>,
    file_apis: Mutex<Vec<FileApi>>,
}

/// What a reload did, for logs and the admin API.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The new snapshot is being served.
    Applied {
        /// Its generation.
        generation: u64,
        /// Settings that changed but need a restart (listeners, shards, admin).
        restart_needed: bool,
    },
    /// The files were invalid; the old snapshot keeps serving.
    Rejected {
        /// The generation still serving.
        generation: u64,
        /// Why the files were rejected.
        errors: ConfigErrors,
    },
}

impl Reloader {
    /// Creates a reloader for `dir`, whose node settings were applied at start.
    pub fn new(dir: &Path, handle: Arc<SnapshotHandle>, node: NodeSettings) -> Self {
        Reloader {
            dir: dir.to_path_buf(),
            handle,
            node,
            lock: Mutex::new(()),
            metrics: None,
            access_logs: None,
            managed: None,
            file_apis: Mutex::new(Vec::new()),
        }
    }

    /// Compiles `managed`'s definitions beside the files on every reload; `file_apis` are
    /// the APIs the files defined at start.
    pub fn managing(mut self, managed: Arc<dyn ManagedApis>, file_apis: Vec<FileApi>) -> Self {
        self.managed = Some(managed);
        self.file_apis = Mutex::new(file_apis);
        self
    }

    /// The APIs the files defined at the last successful load.
    pub fn file_apis(&self) -> Vec<FileApi> {
        self.file_apis
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Compiles the files with `extra` in place of the managed definitions and, if that
    /// succeeds, runs `commit` (which makes `extra` what [`ManagedApis::sources`] answers) and
    /// publishes the result; all under the reload lock, so a SIGHUP never publishes a state
    /// older than a commit. Returns the new generation.
    pub fn apply<E>(
        &self,
        extra: &[ExtraSource],
        commit: impl FnOnce() -> Result<(), E>,
    ) -> Result<u64, ApplyError<E>> {
        let _serial = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.handle.generation() + 1;
        let loaded = config::load_with(&self.dir, generation, extra);
        if let Some(m) = &self.metrics {
            m.record_reload(loaded.is_ok());
        }
        let loaded = loaded.map_err(ApplyError::Rejected)?;
        commit().map_err(ApplyError::Commit)?;
        self.publish(loaded);
        Ok(generation)
    }

    /// Publishes a loaded configuration (the lock is held).
    fn publish(&self, loaded: config::LoadedConfig) {
        // Before publishing: see `DestinationTracker::track`.
        if let Some(tracker) = &self.access_logs {
            tracker.track(&loaded.snapshot);
        }
        *self.file_apis.lock().unwrap_or_else(|e| e.into_inner()) = loaded.file_apis;
        self.handle.publish(loaded.snapshot);
    }

    /// Counts every reload outcome in `metrics` (`tollgate_config_reloads_total`, ...).
    pub fn counting(mut self, metrics: Arc<NodeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Tells the access-log writer about every snapshot before it is published, so that it
    /// closes the files a reload stopped writing to (once their last records are written).
    pub fn tracking_access_logs(mut self, tracker: DestinationTracker) -> Self {
        self.access_logs = Some(tracker);
        self
    }

    /// Generation of the published snapshot.
    pub fn generation(&self) -> u64 {
        self.handle.generation()
    }

    /// Loads, validates and compiles the directory; publishes only if it is valid.
    pub fn reload(&self) -> ReloadOutcome {
        let _serial = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.handle.generation();
        let managed = self
            .managed
            .as_ref()
            .map(|m| m.sources())
            .unwrap_or_default();
        let loaded = config::load_with(&self.dir, current + 1, &managed);
        if let Some(m) = &self.metrics {
            m.record_reload(loaded.is_ok());
        }
        match loaded {
            Ok(loaded) => {
                let restart_needed = loaded.node != self.node;
                self.publish(loaded);
                ReloadOutcome::Applied {
                    generation: current + 1,
                    restart_needed,
                }
            }
            Err(errors) => ReloadOutcome::Rejected {
                generation: current,
                errors,
            },
        }
    }

    /// Reloads and logs the outcome in the words operators and tests look for.
    pub fn reload_and_log(&self) -> ReloadOutcome {
        let outcome = self.reload();
        match &outcome {
            ReloadOutcome::Applied {
                generation,
                restart_needed,
            } => {
                tracing::info!("config reloaded generation={generation}");
                if *restart_needed {
                    tracing::warn!(
                        "listen, shards, pin_cores, admin, access_log_queue, log_format or [cluster] changed: those take effect after a restart or a binary upgrade (SIGUSR2), which drops no connection"
                    );
                }
            }
            ReloadOutcome::Rejected { generation, errors } => {
                tracing::error!(
                    "config reload failed; still serving generation={generation}:\n{errors}\nfix the files above (`tollgate --check DIR` lists the same errors) and reload again (SIGHUP, or `systemctl reload tollgate`)"
                );
            }
        }
        outcome
    }
}
