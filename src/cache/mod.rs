//! The stage response cache, as API Gateway's `cacheClusterEnabled` stages have it, built the
//! thread-per-core way: every shard owns its own partition of every cached stage (no lock, no
//! shared map), sized `cacheClusterSize / shards`.
//!
//! - [`partition`]: one shard's segmented LRU for one stage, bounded by bytes.
//! - [`key`]: the cache key (method, resource, path parameters, configured query strings and
//!   headers) and the `Cache-Control: max-age=0` test.
//! - [`coalesce`]: concurrent misses for one key on a shard make one backend call.
//! - [`CacheBoard`]: the only node-wide part: flush epochs per stage, written by the admin
//!   thread, read by shards with one relaxed atomic load per cached request.
//! - [`ShardCache`]: what a shard holds (its partitions, fetches in flight).
//! - [`Capture`]: the copy of a backend response taken while it streams to the client.
//! - [`control`]: the admin call that flushes a stage.
//!
//! The request-path phase using all this is `pipeline::cache_filter`. TTLs run on the node's
//! [`Clock`], so the test clock (`crate::clock`) expires entries without a test sleeping.

pub mod coalesce;
pub mod control;
pub mod key;
pub mod partition;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ahash::AHashMap;
use arc_swap::ArcSwap;

pub use key::KeyParam;
pub use partition::{CachedResponse, Partition};

use crate::clock::Clock;
use crate::snapshot::{Method, Snapshot};

/// Responses whose body is larger than this are not cached (AWS: 1 MB).
pub const MAX_ENTRY_BODY: usize = 1024 * 1024;

/// Cache sizes AWS offers, in GB, as written in configuration.
pub const CLUSTER_SIZES: [&str; 8] = ["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"];

/// The `Warning` header added under `SUCCEED_WITH_RESPONSE_HEADER` when an unauthorized
/// `Cache-Control: max-age=0` was ignored.
pub const IGNORED_INVALIDATION_WARNING: &[u8] =
    b"199 tollgate \"Cache-Control max-age=0 ignored: caller is not authorized to invalidate the cache\"";

/// Whether a request was answered from the cache, for `CacheHitCount` / `CacheMissCount`
/// (unset when caching does not apply to the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Answered from memory; the backend was not called.
    Hit,
    /// Cacheable, but fetched from the backend (absent, expired, or `max-age=0`).
    Miss,
}

/// How an unauthorized `Cache-Control: max-age=0` is handled (AWS's
/// `unauthorizedCacheControlHeaderStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnauthorizedStrategy {
    /// Answer 403 without calling the backend.
    FailWith403,
    /// Ignore the header (answer from cache as usual) and add a `Warning` header.
    SucceedWithResponseHeader,
    /// Ignore the header silently.
    SucceedWithoutResponseHeader,
}

impl UnauthorizedStrategy {
    /// Parses AWS's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "FAIL_WITH_403" => Some(Self::FailWith403),
            "SUCCEED_WITH_RESPONSE_HEADER" => Some(Self::SucceedWithResponseHeader),
            "SUCCEED_WITHOUT_RESPONSE_HEADER" => Some(Self::SucceedWithoutResponseHeader),
            _ => None,
        }
    }
}

/// Cache settings of one method in one stage (stage defaults with the method's overrides).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodCacheSettings {
    /// `cachingEnabled`; `None` = AWS's default: only `GET` requests are cached.
    pub enabled: Option<bool>,
    /// `cacheTtlInSeconds` (0..=3600; 0 disables).
    pub ttl_secs: u32,
    /// `requireAuthorizationForCacheControl`.
    pub require_authorization: bool,
    /// `unauthorizedCacheControlHeaderStrategy`.
    pub strategy: UnauthorizedStrategy,
}

impl Default for MethodCacheSettings {
    fn default() -> Self {
        MethodCacheSettings {
            enabled: None,
            ttl_secs: 300,
            require_authorization: true,
            strategy: UnauthorizedStrategy::SucceedWithResponseHeader,
        }
    }
}

impl MethodCacheSettings {
    /// Whether a request with this method is looked up and stored. `HEAD` never is: its
    /// response has no body to replay to a `GET`.
    pub fn caches(&self, request_method: &[u8]) -> bool {
        if self.ttl_secs == 0 || request_method == b"HEAD" {
            return false;
        }
        self.enabled.unwrap_or(request_method == b"GET")
    }
}

/// A stage's compiled cache configuration (present only when `cache_cluster_enabled`).
#[derive(Debug)]
pub struct StageCache {
    /// `{api}/{stage}`: names the stage's partitions and its flush epoch.
    pub id: Box<str>,
    /// What keys start with: the `id`, or for a canary on another deployment that shares
    /// the stage cache (`useStageCache`) `{id}@{deployment}`, since AWS caches the two
    /// deployments' answers apart (LocalStack's AWS-recorded canary tests).
    pub key_id: Box<str>,
    /// Hash of everything that invalidates cached entries when it changes (settings,
    /// deployment id): a reload with a new fingerprint drops the stage's entries.
    pub fingerprint: u64,
    /// `cacheClusterSize` in bytes, for the whole node (divided over the shards).
    pub capacity_bytes: u64,
    /// Stage-wide settings.
    pub defaults: MethodCacheSettings,
    /// Per-method overrides: (configured method, resource path, settings).
    pub overrides: Vec<(Box<str>, Box<str>, MethodCacheSettings)>,
}

impl StageCache {
    /// The settings that apply to `method`.
    pub fn settings_for(&self, method: &Method) -> &MethodCacheSettings {
        self.overrides
            .iter()
            .find(|(m, r, _)| *m == method.http_method && *r == method.resource_path)
            .map_or(&self.defaults, |(_, _, s)| s)
    }
}

/// Node-wide cache controls shared by the admin thread and the shards.
#[derive(Debug)]
pub struct CacheBoard {
    shards: usize,
    /// Bumped on every flush; shards compare it with the value they last applied.
    version: AtomicU64,
    /// Flush epoch per stage id (absent = 0).
    epochs: ArcSwap<AHashMap<Box<str>, u64>>,
    writer: Mutex<()>,
    /// Cluster mode: where a flush asked of this node goes to reach every other node.
    fleet: std::sync::OnceLock<crossbeam_channel::Sender<Box<str>>>,
}

impl CacheBoard {
    /// A board for `shards` shards.
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(CacheBoard {
            shards: shards.max(1),
            version: AtomicU64::new(0),
            epochs: ArcSwap::from_pointee(AHashMap::new()),
            writer: Mutex::new(()),
            fleet: std::sync::OnceLock::new(),
        })
    }

    /// Cluster mode: flushes asked of this node ([`CacheBoard::flush_everywhere`]) are also
    /// sent to `fleet`, which publishes them to the other nodes.
    pub fn join_fleet(&self, fleet: crossbeam_channel::Sender<Box<str>>) {
        let _ = self.fleet.set(fleet);
    }

    /// Flushes stage `id` here and, in cluster mode, on every node of the fleet (as AWS's
    /// `FlushStageCache` empties the stage's whole cache).
    pub fn flush_everywhere(&self, id: &str) {
        self.flush(id);
        if let Some(fleet) = self.fleet.get() {
            let _ = fleet.send(id.into());
        }
    }

    /// Flushes stage `id` on every shard: each drops the stage's entries before its next
    /// lookup in it. Control plane only (takes a lock that shards never take).
    pub fn flush(&self, id: &str) {
        let _serial = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut epochs = AHashMap::clone(&self.epochs.load());
        *epochs.entry(id.into()).or_insert(0) += 1;
        self.epochs.store(Arc::new(epochs));
        self.version.fetch_add(1, Ordering::Release);
    }

    fn epoch(epochs: &AHashMap<Box<str>, u64>, id: &str) -> u64 {
        epochs.get(id).copied().unwrap_or(0)
    }
}

/// One shard's cache state.
pub struct ShardCache {
    board: Arc<CacheBoard>,
    seen_version: Cell<u64>,
    partitions: RefCell<AHashMap<Box<str>, Partition>>,
    /// Fetches in flight, for coalescing.
    pub inflight: coalesce::Inflight,
    hasher: ahash::RandomState,
    /// Reused buffer for composing keys (no allocation on a hit).
    scratch: RefCell<Vec<u8>>,
    /// The node's clock (a clone: reading it touches no shared state in production).
    clock: Clock,
    /// Snapshot generation [`ShardCache::retain_current`] last looked at.
    retained_generation: Cell<u64>,
}

impl ShardCache {
    /// Empty caches of a shard, whose entries expire on `clock` (the node's clock, so that
    /// the test clock moves TTLs too).
    pub fn new(board: Arc<CacheBoard>, clock: Clock) -> Self {
        ShardCache {
            seen_version: Cell::new(board.version.load(Ordering::Acquire)),
            board,
            partitions: RefCell::new(AHashMap::new()),
            inflight: coalesce::Inflight::default(),
            hasher: ahash::RandomState::new(),
            scratch: RefCell::new(Vec::with_capacity(256)),
            clock,
            retained_generation: Cell::new(0),
        }
    }

    /// The cache clock in milliseconds: the node clock's monotonic reading, frozen under the
    /// test clock.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.clock.mono_ms()
    }

    /// Composes a key into the shard's scratch buffer with `compose`, and returns what
    /// `use_key` makes of the key and its hash (a hit then needs no allocation).
    pub fn with_key<R>(
        &self,
        compose: impl FnOnce(&mut Vec<u8>),
        use_key: impl FnOnce(u64, &[u8]) -> R,
    ) -> R {
        let mut scratch = self.scratch.borrow_mut();
        compose(&mut scratch);
        let hash = self.hasher.hash_one(&scratch[..]);
        use_key(hash, &scratch)
    }

    /// The live entry of `key` in `stage`'s partition.
    pub fn get(
        &self,
        stage: &StageCache,
        hash: u64,
        key: &[u8],
    ) -> Option<std::rc::Rc<CachedResponse>> {
        let now = self.now_ms();
        self.with_partition(stage, |p| p.get(hash, key, now))
    }

    /// Stores an entry in `stage`'s partition.
    pub fn insert(&self, stage: &StageCache, hash: u64, entry: CachedResponse) -> bool {
        self.with_partition(stage, |p| p.insert(hash, entry))
    }

    /// Bytes and entries held for stage `id` on this shard (tests, introspection).
    pub fn usage(&self, id: &str) -> (usize, usize) {
        self.partitions
            .borrow()
            .get(id)
            .map_or((0, 0), |p| (p.used_bytes(), p.len()))
    }

    /// Runs `f` on `stage`'s partition, creating it, applying pending flushes, and dropping
    /// its contents when the stage's settings or deployment changed.
    fn with_partition<R>(&self, stage: &StageCache, f: impl FnOnce(&mut Partition) -> R) -> R {
        self.apply_flushes();
        let capacity = self.shard_capacity(stage);
        let mut partitions = self.partitions.borrow_mut();
        if !partitions.contains_key(&*stage.id) {
            let epoch = CacheBoard::epoch(&self.board.epochs.load(), &stage.id);
            let partition = Partition::new(capacity, stage.fingerprint, epoch);
            partitions.insert(stage.id.clone(), partition);
        }
        let Some(partition) = partitions.get_mut(&*stage.id) else {
            unreachable!("inserted above")
        };
        if partition.fingerprint != stage.fingerprint {
            partition.clear();
            partition.set_capacity(capacity);
            partition.fingerprint = stage.fingerprint;
        }
        f(partition)
    }

    fn shard_capacity(&self, stage: &StageCache) -> usize {
        usize::try_from(stage.capacity_bytes / self.board.shards as u64).unwrap_or(usize::MAX)
    }

    /// Applies flushes published since the last look: one atomic load when there are none.
    fn apply_flushes(&self) {
        let version = self.board.version.load(Ordering::Acquire);
        if version == self.seen_version.get() {
            return;
        }
        let epochs = self.board.epochs.load();
        for (id, partition) in self.partitions.borrow_mut().iter_mut() {
            let epoch = CacheBoard::epoch(&epochs, id);
            if epoch != partition.flush_epoch {
                partition.clear();
                partition.flush_epoch = epoch;
            }
        }
        self.seen_version.set(version);
    }

    /// Housekeeping (about once a second): applies pending flushes and, after a reload, drops
    /// partitions of stages that no longer cache or whose settings or deployment changed, so
    /// their memory is returned without waiting for a request to the stage.
    pub fn retain_current(&self, snapshot: &Snapshot) {
        self.apply_flushes();
        if self.retained_generation.replace(snapshot.generation) == snapshot.generation {
            return;
        }
        let mut partitions = self.partitions.borrow_mut();
        let mut live: AHashMap<&str, u64> = AHashMap::new();
        for api in snapshot.apis.values() {
            for stage in api.stages.values() {
                if let Some(c) = &stage.cache {
                    live.insert(&c.id, c.fingerprint);
                }
            }
        }
        partitions.retain(|id, p| live.get(&**id) == Some(&p.fingerprint));
    }
}

/// The copy of a backend response taken while it is relayed, to store on a miss.
#[derive(Debug, Default)]
pub struct Capture {
    /// Add the ignored-invalidation `Warning` header to the response (not stored).
    pub warn: bool,
    abandoned: bool,
    complete: bool,
    status: u16,
    no_body: bool,
    reason: Vec<u8>,
    headers: Vec<u8>,
    body: Vec<u8>,
}

impl Capture {
    /// A capture for a miss; `warn` as for [`Capture::warn`].
    pub fn new(warn: bool) -> Self {
        Capture {
            warn,
            ..Capture::default()
        }
    }

    /// Records the response head: status, reason and the relayed header lines. Anything but
    /// 2xx, or an announced body over the limit, abandons the capture.
    pub fn head(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[u8],
        body_len: Option<u64>,
        no_body: bool,
    ) {
        if !(200..300).contains(&status) || body_len.is_some_and(|n| n > MAX_ENTRY_BODY as u64) {
            self.abandon();
            return;
        }
        self.status = status;
        self.no_body = no_body;
        self.reason.extend_from_slice(reason);
        self.headers.extend_from_slice(headers);
        if let Some(n) = body_len {
            self.body.reserve_exact(n as usize);
        }
    }

    /// Appends a piece of the body; past the size limit the capture is abandoned.
    pub fn body(&mut self, data: &[u8]) {
        if self.abandoned {
            return;
        }
        if self.body.len() + data.len() > MAX_ENTRY_BODY {
            self.abandon();
            return;
        }
        self.body.extend_from_slice(data);
    }

    /// Marks the response as relayed completely (only complete responses are stored).
    pub fn finish(&mut self) {
        self.complete = true;
    }

    fn abandon(&mut self) {
        self.abandoned = true;
        self.body = Vec::new();
        self.headers = Vec::new();
    }

    /// The entry to store, if the response was complete, successful and small enough.
    pub fn into_entry(self, key: Box<[u8]>, expires_at_ms: u64) -> Option<CachedResponse> {
        if self.abandoned || !self.complete || self.status == 0 {
            return None;
        }
        Some(CachedResponse {
            key,
            status: self.status,
            reason: self.reason.into(),
            headers: self.headers.into(),
            body: self.body.into(),
            no_body: self.no_body,
            expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: &str, fingerprint: u64) -> StageCache {
        StageCache {
            id: id.into(),
            key_id: id.into(),
            fingerprint,
            capacity_bytes: 1 << 20,
            defaults: MethodCacheSettings::default(),
            overrides: Vec::new(),
        }
    }

    fn entry(key: &[u8]) -> CachedResponse {
        entry_until(key, u64::MAX)
    }

    fn entry_until(key: &[u8], expires_at_ms: u64) -> CachedResponse {
        let mut c = Capture::new(false);
        c.head(200, b"OK", b"A: b\r\n", Some(2), false);
        c.body(b"hi");
        c.finish();
        c.into_entry(key.into(), expires_at_ms).unwrap()
    }

    #[test]
    fn entries_expire_on_the_node_clock() {
        let clock = Clock::fixed(1_700_000_000_000);
        let shard = ShardCache::new(CacheBoard::new(1), clock.clone());
        let a = stage("api/a", 1);
        shard.insert(&a, 1, entry_until(b"k", shard.now_ms() + 60_000));
        assert!(clock.advance_ms(59_999).is_some());
        assert!(shard.get(&a, 1, b"k").is_some(), "live until the TTL");
        assert!(clock.advance_ms(1).is_some());
        assert!(shard.get(&a, 1, b"k").is_none(), "expired at the TTL");
    }

    #[test]
    fn flush_reaches_a_shard_through_the_board() {
        let board = CacheBoard::new(2);
        let shard = ShardCache::new(Arc::clone(&board), Clock::default());
        let (a, b) = (stage("api/a", 1), stage("api/b", 1));
        shard.insert(&a, 1, entry(b"k"));
        shard.insert(&b, 1, entry(b"k"));
        board.flush("api/a");
        assert!(shard.get(&a, 1, b"k").is_none());
        assert!(
            shard.get(&b, 1, b"k").is_some(),
            "other stages keep their entries"
        );
        // A partition created after a flush starts at the current epoch.
        let later = ShardCache::new(Arc::clone(&board), Clock::default());
        later.insert(&a, 1, entry(b"k"));
        assert!(later.get(&a, 1, b"k").is_some());
    }

    #[test]
    fn new_fingerprint_drops_entries_and_capacity_is_per_shard() {
        let shard = ShardCache::new(CacheBoard::new(4), Clock::default());
        shard.insert(&stage("api/a", 1), 1, entry(b"k"));
        assert!(shard.get(&stage("api/a", 2), 1, b"k").is_none());
        let p = shard.partitions.borrow();
        assert_eq!(p["api/a"].capacity(), (1 << 20) / 4);
    }

    #[test]
    fn partitions_of_stages_gone_from_a_new_snapshot_are_dropped() {
        let shard = ShardCache::new(CacheBoard::new(1), Clock::default());
        shard.insert(&stage("api/a", 1), 1, entry(b"k"));
        assert_eq!(shard.usage("api/a").1, 1);
        let snapshot = Snapshot {
            generation: 2,
            ..Snapshot::empty()
        };
        shard.retain_current(&snapshot);
        assert_eq!(shard.usage("api/a"), (0, 0));
    }

    #[test]
    fn captures_only_complete_successful_small_responses() {
        let mut c = Capture::new(false);
        c.head(500, b"Oops", b"", Some(0), false);
        c.finish();
        assert!(c.into_entry(b"k"[..].into(), 1).is_none());

        let mut c = Capture::new(false);
        c.head(200, b"OK", b"", None, false);
        c.body(&vec![0; MAX_ENTRY_BODY]);
        c.finish();
        assert_eq!(
            c.into_entry(b"k"[..].into(), 1).unwrap().body.len(),
            MAX_ENTRY_BODY
        );

        let mut c = Capture::new(false);
        c.head(200, b"OK", b"", None, false);
        c.body(&vec![0; MAX_ENTRY_BODY]);
        c.body(b"x");
        c.finish();
        assert!(c.into_entry(b"k"[..].into(), 1).is_none());

        let mut c = Capture::new(false);
        c.head(200, b"OK", b"", Some(3), false);
        c.body(b"ab");
        assert!(c.into_entry(b"k"[..].into(), 1).is_none(), "incomplete");
    }

    #[test]
    fn only_get_is_cached_by_default() {
        let s = MethodCacheSettings::default();
        assert!(s.caches(b"GET"));
        assert!(!s.caches(b"POST"));
        assert!(!s.caches(b"HEAD"));
        let on = MethodCacheSettings {
            enabled: Some(true),
            ..s.clone()
        };
        assert!(on.caches(b"POST"));
        let zero = MethodCacheSettings { ttl_secs: 0, ..s };
        assert!(!zero.caches(b"GET"));
    }
}
