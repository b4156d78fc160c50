//! Traffic management as API Gateway does it: token-bucket throttling at the account, stage,
//! method, usage-plan-key and usage-plan-key-method levels, API keys, usage-plan quotas and
//! durable usage counters.
//!
//! Split between the two planes:
//! - the control plane compiles the configuration into a [`Traffic`] (part of the
//!   [`Snapshot`]) where every bucket, key and quota is a small index;
//! - [`TrafficNode`], created once per process, owns the live state behind those indices
//!   (buckets, quota leases, usage counters, the store). Publishing a snapshot *links* it to
//!   the node: a bucket whose id and settings are unchanged keeps its state across reloads,
//!   and counters are keyed by key id and plan id, never by position in the files.
//!
//! On the request path ([`crate::pipeline::throttle_filter`]) nothing is locked or hashed by
//! string, and shards only write their own cache lines except when a lease runs out.

pub mod bucket;
pub mod build;
mod handover;
pub mod keys;
mod padded;
pub mod quota;
pub mod report;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ahash::AHashMap;

pub use bucket::{Bucket, Limit};
pub use handover::UsageSink;
pub use keys::KeyTable;
pub use quota::{Period, QuotaSpec, QuotaState, Usage};
pub use store::{Delta, Store, StoreError};

use crate::clock::Clock;
use crate::snapshot::Snapshot;

/// AWS's account-level defaults.
pub const ACCOUNT_DEFAULT: Limit = Limit {
    rate: 10_000.0,
    burst: 5_000,
};
/// Default `[usage] flush_interval_ms`.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(1000);
/// Default `[usage] store`, relative to the configuration folder.
pub const DEFAULT_STORE: &str = "usage.redb";

/// Where usage is kept and how often it is written (read at start; changes need a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSettings {
    /// redb file.
    pub store: PathBuf,
    /// Longest time admitted requests stay only in memory (what `kill -9` can lose).
    pub flush_interval: Duration,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings {
            store: PathBuf::from(DEFAULT_STORE),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
        }
    }
}

/// One bucket of the configuration: a stable id (so a reload can find its live state) and
/// its settings.
#[derive(Debug, Clone)]
pub struct BucketSpec {
    /// e.g. `stage petstore/prod GET /pets`.
    pub id: Box<str>,
    /// Rate and burst.
    pub limit: Limit,
}

/// A usage plan, for quotas and reports.
#[derive(Debug)]
pub struct PlanInfo {
    /// Plan id.
    pub id: Box<str>,
    /// Its quota, if any.
    pub quota: Option<QuotaSpec>,
    /// Its keys, as indices into [`Traffic::key_plans`].
    pub key_plans: Vec<u32>,
}

/// One key in one plan: where its per-key bucket, quota and usage live.
#[derive(Debug)]
pub struct KeyPlan {
    /// Index into [`Traffic::plans`].
    pub plan: u32,
    /// Index into [`Traffic::keys`].
    pub key: u32,
    /// Per-key throttle of the plan (shared by every stage of the plan).
    pub bucket: Option<u32>,
}

/// The compiled traffic configuration of a snapshot.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Account-level bucket.
    pub account: Option<u32>,
    /// Every bucket, by index.
    pub buckets: Vec<BucketSpec>,
    /// Every API key.
    pub keys: KeyTable,
    /// Every usage plan.
    pub plans: Vec<PlanInfo>,
    /// Every (plan, key) pair.
    pub key_plans: Vec<KeyPlan>,
    /// Store settings.
    pub usage: UsageSettings,
    /// Live state, filled in by [`TrafficNode::link`]; empty (nothing throttled) until then.
    pub live: Live,
}

/// Live state behind a snapshot's indices.
#[derive(Debug, Default)]
pub struct Live {
    /// The node's clock.
    pub clock: Clock,
    /// By bucket index.
    pub buckets: Vec<Arc<Bucket>>,
    /// By key-plan index.
    pub usage: Vec<Arc<Usage>>,
    /// By key-plan index; `None` when the plan has no quota.
    pub quotas: Vec<Option<Arc<QuotaState>>>,
    /// Where a shard queues a usage counter it made dirty ([`Usage::record`]) for the flusher.
    pub dirty: Option<crossbeam_channel::Sender<Arc<Usage>>>,
}

/// What a stage adds: its per-method buckets and the usage plans that include it.
#[derive(Debug, Default)]
pub struct StageTraffic {
    /// By method index: the stage's per-method (or default) throttle.
    pub method_buckets: Vec<Option<u32>>,
    /// Usage plans including this stage.
    pub bindings: Vec<Binding>,
}

/// A usage plan's view of one stage.
#[derive(Debug, Default)]
pub struct Binding {
    /// Index into [`Traffic::plans`].
    pub plan: u32,
    /// Method indices with a per-key per-method throttle in this plan.
    pub overrides: Vec<u32>,
    /// Keys of the plan, by key index.
    pub keys: AHashMap<u32, BindingKey>,
}

/// One key of a plan as seen from one stage.
#[derive(Debug, Clone, Copy)]
pub struct BindingKey {
    /// Index into [`Traffic::key_plans`].
    pub key_plan: u32,
    /// Bucket of the first override (the i-th override uses `method_base + i`).
    pub method_base: u32,
}

/// What a method adds.
#[derive(Debug, Clone, Copy, Default)]
pub struct MethodTraffic {
    /// `apiKeyRequired`: the request needs a valid `x-api-key` in a plan of the stage.
    pub api_key_required: bool,
}

/// Node-wide traffic state: created once in `server::run`, shared with every shard (through
/// the snapshots it links) and with the admin listener.
#[derive(Debug)]
pub struct TrafficNode {
    shards: usize,
    clock: Clock,
    registry: Mutex<Registry>,
    /// The usage database; `None` in memory, and while a node this one hands over to owns it.
    store: RwLock<Option<Store>>,
    /// Where the store lives (to open it again when a hand-over fails).
    store_path: Option<PathBuf>,
    /// Where flushes go instead of the store once it is handed over (`handover.rs`).
    forward: Mutex<Option<Box<dyn UsageSink>>>,
    flush_lock: Mutex<()>,
    stop: Mutex<Option<mpsc::Sender<()>>>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
    stopped: AtomicBool,
    /// Usage counters shards made dirty since the last flush (sender cloned into each
    /// snapshot's [`Live`], receiver drained by [`TrafficNode::flush`]).
    dirty: (
        crossbeam_channel::Sender<Arc<Usage>>,
        crossbeam_channel::Receiver<Arc<Usage>>,
    ),
    /// Cluster mode: buckets take their tokens from the fleet's buckets in Redis.
    fleet: std::sync::OnceLock<Arc<crate::cluster::Link>>,
}

/// (key id, usage plan id): what usage and quotas are counted under.
type UsageId = (Box<str>, Box<str>);

/// Live state by stable identity, so that reloads find it again.
#[derive(Debug, Default)]
struct Registry {
    buckets: AHashMap<Box<str>, Arc<Bucket>>,
    usage: AHashMap<UsageId, Arc<Usage>>,
    quotas: AHashMap<UsageId, Arc<QuotaState>>,
}

impl TrafficNode {
    /// A node without a store (usage is counted but not kept): `--check`, unit tests.
    pub fn in_memory(shards: usize, clock: Clock) -> Arc<Self> {
        Arc::new(Self::build(shards, clock, None, None))
    }

    /// A node whose usage is kept in the redb file at `store`, flushed every
    /// `flush_interval` by a background thread.
    pub fn with_store(
        shards: usize,
        clock: Clock,
        store: &Path,
        flush_interval: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let opened = Store::open(store)?;
        let node = Arc::new(Self::build(shards, clock, Some(opened), Some(store.into())));
        let (tx, rx) = mpsc::channel::<()>();
        let worker = Arc::clone(&node);
        let handle = std::thread::Builder::new()
            .name("usage-flush".into())
            .spawn(move || worker.flush_loop(&rx, flush_interval))
            .map_err(|e| StoreError::from_display(format!("spawning flusher: {e}")))?;
        *lock(&node.stop) = Some(tx);
        *lock(&node.flusher) = Some(handle);
        Ok(node)
    }

    fn build(shards: usize, clock: Clock, store: Option<Store>, path: Option<PathBuf>) -> Self {
        TrafficNode {
            shards: shards.max(1),
            clock,
            registry: Mutex::new(Registry::default()),
            store: RwLock::new(store),
            store_path: path,
            forward: Mutex::new(None),
            flush_lock: Mutex::new(()),
            stop: Mutex::new(None),
            flusher: Mutex::new(None),
            stopped: AtomicBool::new(false),
            dirty: crossbeam_channel::unbounded(),
            fleet: std::sync::OnceLock::new(),
        }
    }

    /// Cluster mode: buckets linked from now on share their limits with the fleet through
    /// `link` (set once, before the first snapshot is linked).
    pub fn join_fleet(&self, link: Arc<crate::cluster::Link>) {
        if self.fleet.set(link).is_err() {
            tracing::warn!("the node already joined a fleet");
        }
    }

    /// The node's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Runs `f` on the store; `None` when this node keeps no store (in memory, or handed
    /// over to a new binary).
    pub fn using_store<R>(&self, f: impl FnOnce(&Store) -> R) -> Option<R> {
        read(&self.store).as_ref().map(f)
    }

    /// Fills `snapshot.traffic.live`, reusing the state of unchanged buckets and of every
    /// (key, plan) counter. Runs on the control plane before a snapshot is published.
    pub fn link(&self, snapshot: &mut Snapshot) {
        // Quotas created now start from the store, which must hold everything counted so far.
        if let Err(e) = self.flush() {
            tracing::error!("{e}");
        }
        let traffic = &mut snapshot.traffic;
        let today = self.clock.unix_day();
        let mut reg = lock(&self.registry);
        let mut buckets = AHashMap::with_capacity(traffic.buckets.len());
        let live_buckets = traffic
            .buckets
            .iter()
            .map(|spec| {
                let live = match (reg.buckets.get(&spec.id), self.fleet.get()) {
                    (Some(b), _) if b.limit() == spec.limit => Arc::clone(b),
                    (_, None) => Arc::new(Bucket::new(spec.limit, self.shards)),
                    (_, Some(link)) => {
                        let key = link.bucket_key(&spec.id, spec.limit.rate, spec.limit.burst);
                        Bucket::in_fleet(spec.limit, self.shards, link, key)
                    }
                };
                buckets.insert(spec.id.clone(), Arc::clone(&live));
                live
            })
            .collect();
        reg.buckets = buckets;
        let mut usage = Vec::with_capacity(traffic.key_plans.len());
        let mut quotas = Vec::with_capacity(traffic.key_plans.len());
        let mut kept_quotas = AHashMap::new();
        for kp in &traffic.key_plans {
            let plan = &traffic.plans[kp.plan as usize];
            let key_id: Box<str> = traffic
                .keys
                .get(kp.key)
                .map_or_else(|| "".into(), |k| k.id.clone());
            let id = (key_id, plan.id.clone());
            let u = reg
                .usage
                .entry(id.clone())
                .or_insert_with(|| Arc::new(Usage::named(self.shards, id.clone())));
            usage.push(Arc::clone(u));
            let quota = plan.quota.map(|spec| match reg.quotas.get(&id) {
                Some(q) if q.spec() == spec => Arc::clone(q),
                _ => self.new_quota(spec, &id.0, &id.1, today),
            });
            if let Some(q) = &quota {
                kept_quotas.insert(id, Arc::clone(q));
            }
            quotas.push(quota);
        }
        reg.quotas = kept_quotas;
        traffic.live = Live {
            clock: self.clock.clone(),
            buckets: live_buckets,
            usage,
            quotas,
            dirty: Some(self.dirty.0.clone()),
        };
    }

    /// A quota for the current period, starting from what the store counted in it; in
    /// cluster mode its allowance comes from the fleet's book.
    fn new_quota(&self, spec: QuotaSpec, key: &str, plan: &str, today: u32) -> Arc<QuotaState> {
        let start = spec.period_start(today);
        let used = match &*read(&self.store) {
            Some(store) => store.sum(key, plan, start, today).unwrap_or_else(|e| {
                tracing::error!("{e}; quota of key {key} in plan {plan} starts from 0");
                0
            }),
            None if self.store_path.is_some() => {
                tracing::warn!("the usage store is handed over; quota of key {key} in plan {plan} starts from 0 on this node");
                0
            }
            None => 0,
        };
        match self.fleet.get() {
            None => Arc::new(QuotaState::new(spec, self.shards, today, used)),
            Some(link) => {
                let book = link.quota_key(plan, key, spec);
                let quota = QuotaState::in_fleet(spec, self.shards, today, used, link, book);
                // What this node already counted in the period must reach the book (a
                // restart, or a key a reload brought back), even if the key stays quiet.
                if let (true, Some(f)) = (used > 0, quota.fleet()) {
                    f.wake();
                }
                quota
            }
        }
    }

    /// Cluster mode: every quota of the current configuration (the worker reports them all
    /// to the fleet's books after Redis lost them).
    pub fn quotas(&self) -> Vec<Arc<QuotaState>> {
        lock(&self.registry).quotas.values().cloned().collect()
    }

    /// Every usage row of the node's store from `since` on (see [`Store::since`]).
    pub fn usage_since(&self, since: u32) -> Result<Vec<Delta>, StoreError> {
        self.using_store(|s| s.since(since))
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Cluster mode's link, if the node joined a fleet.
    pub fn fleet(&self) -> Option<&Arc<crate::cluster::Link>> {
        self.fleet.get()
    }

    /// Writes every counted request not yet in the store, under the UTC day it was admitted.
    /// Once the store is handed over, what is counted goes to the new node instead.
    pub fn flush(&self) -> Result<(), StoreError> {
        let _serial = lock(&self.flush_lock);
        self.flush_locked()
    }

    /// [`TrafficNode::flush`] with `flush_lock` held.
    fn flush_locked(&self) -> Result<(), StoreError> {
        let store = read(&self.store);
        let mut forward = lock(&self.forward);
        if store.is_none() && forward.is_none() {
            return Ok(());
        }
        // Only the counters shards queued since the last flush (one entry per counter and
        // shard that counted): no walk over every configured key.
        let mut counters: Vec<Arc<Usage>> = self.dirty.1.try_iter().collect();
        // Each shard that counted queued the counter: take each once.
        counters.sort_unstable_by_key(Arc::as_ptr);
        counters.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let mut deltas = Vec::new();
        let mut taken = Vec::new();
        let mut days = Vec::new();
        for u in &counters {
            days.clear();
            let marks = u.take_unflushed(&mut days);
            if !days.is_empty() {
                let (key, plan) = u.id();
                for &(day, n) in &days {
                    deltas.push((key.clone(), plan.clone(), day, n));
                }
                taken.push((Arc::clone(u), marks));
            }
        }
        let written = match (&mut *forward, &*store) {
            (Some(sink), _) => sink.send(&deltas),
            (None, Some(store)) => store.add_totals(&deltas).map(|totals| {
                if let Some(link) = self.fleet.get() {
                    publish(link, &deltas, &totals);
                }
            }),
            (None, None) => Ok(()),
        };
        if written.is_err() {
            // Counted again next time: the marks back, the counters back in the queue.
            for (u, marks) in taken {
                u.restore_unflushed(&marks);
                let _ = self.dirty.0.send(u);
            }
        }
        written
    }

    fn flush_loop(&self, stop: &mpsc::Receiver<()>, interval: Duration) {
        loop {
            let stopping = !matches!(
                stop.recv_timeout(interval),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if let Err(e) = self.flush() {
                tracing::error!("{e}");
            }
            if stopping {
                return;
            }
        }
    }

    /// Stops the flusher after a last flush (graceful shutdown). Idempotent. A store left
    /// closed by a failed hand-over is opened again for that flush.
    pub fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if lock(&self.forward).is_none() {
            if let Err(e) = self.reclaim_store() {
                tracing::error!("{e}; the requests counted since the failed upgrade are lost");
            }
        }
        drop(lock(&self.stop).take());
        if let Some(handle) = lock(&self.flusher).take() {
            let _ = handle.join();
        }
        if let Err(e) = self.flush() {
            tracing::error!("{e}");
        }
        // After a hand-over: dropping the sink tells the new node nothing more will come.
        drop(lock(&self.forward).take());
    }
}

/// Cluster mode: hands the node's new day totals to the fleet's usage book.
pub(crate) fn publish(link: &crate::cluster::Link, deltas: &[Delta], totals: &[u64]) {
    for ((key, plan, day, _), &requests) in deltas.iter().zip(totals) {
        link.publish_usage(crate::cluster::UsageTotal {
            plan: plan.clone(),
            key: key.clone(),
            day: *day,
            requests,
        });
    }
}

/// Locks a control-plane mutex, ignoring poisoning (the data is counters, still valid).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads behind a control-plane lock, ignoring poisoning.
fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

/// Writes behind a control-plane lock, ignoring poisoning.
fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
