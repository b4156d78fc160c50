//! Cluster mode (`[cluster]` in `gateway.toml`): several nodes, one set of limits, shared
//! through Redis.
//!
//! Within a node, shards lease tokens from a node-wide bucket (`throttle::bucket`). In cluster
//! mode that node-wide bucket no longer refills by itself: it holds a *pool* of tokens the
//! node took from a fleet-wide GCRA bucket kept in Redis, and a background thread (the
//! [`worker`]) tops the pool up every `sync_interval_ms` by the demand it saw, in one
//! pipelined round trip for every active bucket. A shard never waits on Redis: with the
//! pool empty its request is throttled, as the fleet's bucket is then (nearly) empty too.
//!
//! Two cases use the node's *share* instead (the limit ÷ live nodes, a local GCRA): a bucket
//! that was idle until this request (its first lease arrives within one sync), and Redis
//! being unreachable (each node then enforces its share of every limit, so the fleet
//! together stays within the limit, and rejoins when Redis answers again). Live nodes are
//! counted from heartbeats in a sorted set. tuning.md, "Cluster mode", derives the error
//! bound.
//!
//! The Redis client is the `redis` crate's synchronous connection, used only on the worker
//! thread (no runtime of its own, nothing on a shard thread).

pub mod connect;
pub mod flush;
pub mod usage;
pub mod worker;

pub use usage::UsageTotal;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::throttle::quota::{Period, QuotaSpec};
use crate::throttle::{Bucket, QuotaState};

/// `[cluster]`, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's name in the fleet's heartbeats.
    pub node_id: String,
    /// The Redis server's URL.
    pub redis: String,
    /// Prefix of every key (default `tollgate:`).
    pub key_prefix: String,
    /// How often pools are topped up.
    pub sync_interval: Duration,
    /// How long a node counts as live after its last heartbeat.
    pub node_ttl: Duration,
    /// Fewest nodes the fleet is taken to have: shares are the limit ÷ max(this, live nodes),
    /// so a node that never reached Redis does not enforce the whole limit alone.
    pub min_nodes: u64,
    /// Redis Sentinel: the sentinels' URLs (empty: `redis` is the server).
    pub sentinels: Vec<String>,
    /// The master's name among the sentinels.
    pub sentinel_master: String,
    /// Certificates for `rediss://` (read when the file was loaded).
    pub tls: Option<RedisTls>,
}

/// PEM certificates for TLS to Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTls {
    /// The CA that signed the server's certificate (default: the system's roots).
    pub root_cert: Option<Vec<u8>>,
    /// Client certificate and key, for servers that require one.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

/// The Redis URL is printed without its credentials (`redis://user:password@host`).
impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("node_id", &self.node_id)
            .field("redis", &self.redis_shown())
            .field("key_prefix", &self.key_prefix)
            .field("sync_interval", &self.sync_interval)
            .field("node_ttl", &self.node_ttl)
            .field("min_nodes", &self.min_nodes)
            .field(
                "sentinels",
                &self.sentinels.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("sentinel_master", &self.sentinel_master)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl ClusterSettings {
    /// The defaults of every optional field; `redis` empty.
    pub fn standalone_defaults() -> Self {
        ClusterSettings {
            // Empty: none configured; the node takes a stable one at start
            // ([`stable_node_id`]).
            node_id: String::new(),
            redis: String::new(),
            key_prefix: "tollgate:".into(),
            sync_interval: Duration::from_millis(10),
            node_ttl: Duration::from_millis(3000),
            min_nodes: 1,
            sentinels: Vec::new(),
            sentinel_master: String::new(),
            tls: None,
        }
    }

    /// Where Redis is, for logs: the URL with its credentials replaced by `***`, or the
    /// sentinels and the master's name.
    pub fn redis_shown(&self) -> String {
        if self.sentinels.is_empty() {
            return redact(&self.redis);
        }
        let sentinels: Vec<String> = self.sentinels.iter().map(|u| redact(u)).collect();
        format!(
            "master {} of sentinels {}",
            self.sentinel_master,
            sentinels.join(", ")
        )
    }
}

/// `scheme://user:password@host...` → `scheme://***@host...`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The node id to use when none is configured: kept in `{store}.node-id` beside the node's
/// usage store, made once (host name and a random suffix). It must survive restarts and
/// binary upgrades: the fleet's books hold one field per node id, and a node that came back
/// under a new id would have its reservations and usage counted twice, once under each (a
/// review finding). Two nodes on one host have two stores, so two ids.
pub fn stable_node_id(store: &std::path::Path) -> String {
    let path = {
        let mut p = store.as_os_str().to_owned();
        p.push(".node-id");
        std::path::PathBuf::from(p)
    };
    match std::fs::read_to_string(&path) {
        Ok(id) => {
            let id = id.trim();
            if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
                return id.to_string();
            }
            tracing::warn!(
                "cluster: {} does not hold a node id; making a new one (this node's earlier usage in the fleet's books stays under the old id)",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            "cluster: cannot read {} ({e}); making a new node id",
            path.display()
        ),
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect();
    let host = if host.is_empty() { "node".into() } else { host };
    let mut random = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let id = format!(
        "{host}-{:08x}",
        u32::from_be_bytes(random) ^ std::process::id()
    );
    // Written to a temporary file and renamed: a crash mid-write leaves no empty id file.
    let tmp = {
        let mut p = path.clone().into_os_string();
        p.push(".tmp");
        std::path::PathBuf::from(p)
    };
    let kept = std::fs::write(&tmp, format!("{id}\n")).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = kept {
        tracing::warn!(
            "cluster: cannot keep the node id in {} ({e}); using {id} until the next restart (set [cluster] node_id)",
            path.display()
        );
    }
    id
}

/// Whether `url` is a Redis URL the client can use (checked when the file is read).
pub fn check_url(url: &str) -> Result<(), String> {
    match redis::Client::open(url) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("not a Redis URL (redis://host:port[/db]): {e}")),
    }
}

/// What buckets and metrics read of the cluster: whether Redis answers, how many nodes are
/// live; and where a bucket that wakes up asks the worker for leases. Written by the worker.
#[derive(Debug)]
pub struct Link {
    healthy: AtomicBool,
    /// Redis answered at least once since the node started.
    reached: AtomicBool,
    nodes: AtomicU64,
    min_nodes: u64,
    /// Buckets that started wanting tokens, for the worker's active list.
    wake: crossbeam_channel::Sender<Arc<Bucket>>,
    woken: crossbeam_channel::Receiver<Arc<Bucket>>,
    /// Quotas that reserved beyond their allowance or need one, likewise.
    wake_quota: crossbeam_channel::Sender<Arc<QuotaState>>,
    woken_quotas: crossbeam_channel::Receiver<Arc<QuotaState>>,
    /// This node's usage totals to publish: (plan id, key id, day, requests that day).
    usage_out: crossbeam_channel::Sender<UsageTotal>,
    usage_in: crossbeam_channel::Receiver<UsageTotal>,
    /// This node's id (its fields in the fleet's books).
    pub node_id: String,
    /// Where Redis is, for the admin thread's usage reports.
    settings: ClusterSettings,
    /// Asks the worker to sync now rather than at its next interval (one slot: a nudge while
    /// one is pending is a no-op).
    nudge: crossbeam_channel::Sender<()>,
    nudged: crossbeam_channel::Receiver<()>,
    /// Prefix of the fleet's keys.
    pub key_prefix: String,
    /// Times this node lost Redis and fell back to its share.
    pub fallbacks: AtomicU64,
    /// Failed Redis round trips.
    pub errors: AtomicU64,
    /// Lease round trips that answered.
    pub syncs: AtomicU64,
}

impl Link {
    /// A link that has not reached Redis yet (each node enforces its share until it does).
    pub fn new(settings: &ClusterSettings) -> Arc<Self> {
        let (wake, woken) = crossbeam_channel::unbounded();
        let (wake_quota, woken_quotas) = crossbeam_channel::unbounded();
        let (usage_out, usage_in) = crossbeam_channel::unbounded();
        let (nudge, nudged) = crossbeam_channel::bounded(1);
        Arc::new(Link {
            healthy: AtomicBool::new(false),
            reached: AtomicBool::new(false),
            nodes: AtomicU64::new(settings.min_nodes.max(1)),
            min_nodes: settings.min_nodes.max(1),
            wake,
            woken,
            wake_quota,
            woken_quotas,
            usage_out,
            usage_in,
            node_id: settings.node_id.clone(),
            settings: settings.clone(),
            nudge,
            nudged,
            key_prefix: settings.key_prefix.clone(),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        })
    }

    /// Whether the last round trip to Redis answered.
    #[inline]
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Live nodes, as the last heartbeat counted them (at least 1).
    #[inline]
    pub fn nodes(&self) -> u64 {
        self.nodes.load(Ordering::Relaxed).max(1)
    }

    /// Hands a bucket that started wanting tokens to the worker, which leases for it at once.
    pub fn activate(&self, bucket: Arc<Bucket>) {
        let _ = self.wake.send(bucket);
        self.hurry();
    }

    /// Hands a quota that reserved beyond its allowance (or was refused) to the worker.
    pub fn activate_quota(&self, quota: Arc<QuotaState>) {
        let _ = self.wake_quota.send(quota);
        self.hurry();
    }

    /// Queues this node's total for (plan, key, day) for the fleet's usage book (from the
    /// usage flusher, after the node's own store has it).
    pub fn publish_usage(&self, total: UsageTotal) {
        let _ = self.usage_out.send(total);
    }

    /// The Redis key of a quota's book, without the period's start day: plan, key and
    /// settings, so a changed quota starts afresh (as a node-local one does on reload).
    pub fn quota_key(&self, plan: &str, key: &str, spec: QuotaSpec) -> Box<str> {
        let period = match spec.period {
            Period::Day => "DAY",
            Period::Week => "WEEK",
            Period::Month => "MONTH",
        };
        format!(
            "{}quota:{plan}:{key}:{}:{period}:{}:",
            self.key_prefix, spec.limit, spec.offset
        )
        .into()
    }

    /// The Redis key of the fleet's usage book of `plan` on `day` (fields `node<TAB>key`).
    pub fn usage_key(&self, plan: &str, day: u32) -> String {
        format!("{}usage:{plan}:{day}", self.key_prefix)
    }

    /// Asks the worker for a sync before its interval is up (a pool ran dry): never waits.
    pub fn hurry(&self) {
        let _ = self.nudge.try_send(());
    }

    /// The Redis key of a bucket: its id and settings, so a changed limit starts afresh (as a
    /// node-local bucket does on reload).
    pub fn bucket_key(&self, id: &str, rate: f64, burst: u64) -> Box<str> {
        format!("{}bucket:{id}:{rate}:{burst}", self.key_prefix).into()
    }

    /// Marks Redis reachable or not; returns what it was.
    pub(crate) fn set_healthy(&self, up: bool) -> bool {
        if up {
            self.reached.store(true, Ordering::Release);
        }
        self.healthy.swap(up, Ordering::AcqRel)
    }

    /// Whether Redis answered at least once since the node started.
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::Acquire)
    }

    /// Records the live node count.
    pub(crate) fn set_nodes(&self, n: u64) {
        self.nodes.store(n.max(self.min_nodes), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_never_show_the_redis_password() {
        assert_eq!(redact("redis://u:pw@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("redis://:pw@h"), "redis://***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        let mut s = ClusterSettings::standalone_defaults();
        s.redis = "redis://:s3cret@127.0.0.1:1".into();
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
