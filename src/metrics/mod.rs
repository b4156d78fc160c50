//! Request metrics as API Gateway reports them (`Count`, `4XXError`, `5XXError`, `Latency`,
//! `IntegrationLatency`, `CacheHitCount`, `CacheMissCount`, per API, stage, method and
//! resource) plus gateway gauges, served in Prometheus text format by the admin listener.
//!
//! Each shard counts in its own [`ShardMetrics`]: atomics that only that shard writes (plain
//! load + store, no locked instruction, no shared cache line), so counting costs a few memory
//! writes per request. A scrape, on the admin thread, reads every shard's tables and adds them
//! up ([`exposition`]). Series are numbered by [`series`] when a configuration is compiled,
//! and a shard's table is indexed by that number: no hashing or allocation per request.

pub mod exposition;
pub mod functions;
pub mod histogram;
pub mod series;
pub mod websocket;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use histogram::{bump, Histogram, HistogramTotals};

/// Series per lazily allocated block of a shard's table.
const SEGMENT: usize = 64;
/// Blocks per shard table (`SEGMENT * SEGMENTS` = [`series::MAX_SERIES`]).
const SEGMENTS: usize = series::MAX_SERIES as usize / SEGMENT;

/// Why a request was throttled, as AWS distinguishes throttling limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleLevel {
    /// The node-wide (AWS: account-level, per region) limit.
    Account,
    /// A stage's method limit (its default or a per-method override).
    Stage,
    /// A usage plan's limit for the caller's API key.
    UsagePlan,
    /// A usage plan's per-method limit for the caller's API key.
    UsagePlanMethod,
}

impl ThrottleLevel {
    /// Every level, in exposition order.
    pub const ALL: [ThrottleLevel; 4] = [
        ThrottleLevel::Account,
        ThrottleLevel::Stage,
        ThrottleLevel::UsagePlan,
        ThrottleLevel::UsagePlanMethod,
    ];

    /// The `level` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleLevel::Account => "account",
            ThrottleLevel::Stage => "stage",
            ThrottleLevel::UsagePlan => "usage_plan",
            ThrottleLevel::UsagePlanMethod => "usage_plan_method",
        }
    }
}

/// The counters of one series on one shard.
#[derive(Debug, Default)]
pub struct SeriesCells {
    count: AtomicU64,
    error_4xx: AtomicU64,
    error_5xx: AtomicU64,
    cache_hit: AtomicU64,
    cache_miss: AtomicU64,
    latency: Histogram,
    integration_latency: Histogram,
}

/// What one finished request contributes to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Status sent (0 when none could be sent).
    pub status: u16,
    /// Whole time in the gateway.
    pub latency: Duration,
    /// Backend time, when an integration was called.
    pub integration_latency: Option<Duration>,
    /// `Some(true)` for a cache hit, `Some(false)` for a miss, `None` when the cache was not
    /// consulted.
    pub cache_hit: Option<bool>,
}

impl SeriesCells {
    fn record(&self, o: &Outcome) {
        bump(&self.count, 1);
        match o.status {
            400..=499 => bump(&self.error_4xx, 1),
            500..=599 => bump(&self.error_5xx, 1),
            _ => {}
        }
        match o.cache_hit {
            Some(true) => bump(&self.cache_hit, 1),
            Some(false) => bump(&self.cache_miss, 1),
            None => {}
        }
        self.latency.observe(o.latency);
        if let Some(d) = o.integration_latency {
            self.integration_latency.observe(d);
        }
    }

    fn add_to(&self, acc: &mut SeriesTotals) {
        acc.count += self.count.load(Ordering::Relaxed);
        acc.error_4xx += self.error_4xx.load(Ordering::Relaxed);
        acc.error_5xx += self.error_5xx.load(Ordering::Relaxed);
        acc.cache_hit += self.cache_hit.load(Ordering::Relaxed);
        acc.cache_miss += self.cache_miss.load(Ordering::Relaxed);
        self.latency.add_to(&mut acc.latency);
        self.integration_latency
            .add_to(&mut acc.integration_latency);
    }
}

/// One series summed over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesTotals {
    /// `Count`.
    pub count: u64,
    /// `4XXError`.
    pub error_4xx: u64,
    /// `5XXError`.
    pub error_5xx: u64,
    /// `CacheHitCount`.
    pub cache_hit: u64,
    /// `CacheMissCount`.
    pub cache_miss: u64,
    /// `Latency`.
    pub latency: HistogramTotals,
    /// `IntegrationLatency`.
    pub integration_latency: HistogramTotals,
}

/// Requests that reached no API stage (unknown API or stage, unparsable request): AWS does not
/// see those in any API's metrics, so they are counted apart.
#[derive(Debug, Default)]
struct Unrouted {
    count: AtomicU64,
    error_4xx: AtomicU64,
    error_5xx: AtomicU64,
}

/// A shard's counters. Written only by its shard (see [`histogram::bump`]); read by scrapes.
#[derive(Debug)]
pub struct ShardMetrics {
    segments: Box<[OnceLock<Box<[SeriesCells]>>]>,
    unrouted: Unrouted,
    open_connections: AtomicU64,
    parked_connections: AtomicU64,
    throttled: [AtomicU64; ThrottleLevel::ALL.len()],
    access_log_dropped: AtomicU64,
    /// Hosted Lambda functions' counters.
    pub functions: functions::FunctionTable,
    /// WebSocket routes' counters.
    pub websocket: websocket::WsTable,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        ShardMetrics {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
            unrouted: Unrouted::default(),
            open_connections: AtomicU64::new(0),
            parked_connections: AtomicU64::new(0),
            throttled: Default::default(),
            access_log_dropped: AtomicU64::new(0),
            functions: Default::default(),
            websocket: Default::default(),
        }
    }
}

impl ShardMetrics {
    /// Counts a finished request in `series` (an id from [`series`]).
    pub fn record(&self, series: u32, outcome: &Outcome) {
        let id = (series as usize).min(SEGMENTS * SEGMENT - 1);
        // The first request of a block of 64 series allocates the block, once.
        let segment = self.segments[id / SEGMENT]
            .get_or_init(|| (0..SEGMENT).map(|_| SeriesCells::default()).collect());
        segment[id % SEGMENT].record(outcome);
    }

    /// Counts a request that reached no stage.
    pub fn record_unrouted(&self, status: u16) {
        bump(&self.unrouted.count, 1);
        match status {
            400..=499 => bump(&self.unrouted.error_4xx, 1),
            500..=599 => bump(&self.unrouted.error_5xx, 1),
            _ => {}
        }
    }

    /// Counts a request refused by a throttling limit.
    pub fn record_throttled(&self, level: ThrottleLevel) {
        bump(&self.throttled[level as usize], 1);
    }

    /// Counts an access-log record dropped because the writer's queue was full.
    pub fn record_access_log_dropped(&self) {
        bump(&self.access_log_dropped, 1);
    }

    /// A client connection was accepted.
    pub fn connection_opened(&self) {
        bump(&self.open_connections, 1);
    }

    /// A client connection ended.
    pub fn connection_closed(&self) {
        let n = self.open_connections.load(Ordering::Relaxed);
        self.open_connections
            .store(n.saturating_sub(1), Ordering::Relaxed);
    }

    /// How many of the shard's connections wait for a request holding no buffers (set on
    /// each housekeeping tick).
    pub fn set_parked_connections(&self, n: usize) {
        self.parked_connections.store(n as u64, Ordering::Relaxed);
    }

    /// Adds this shard's counters of `series` (if it ever counted any) into `acc`.
    fn add_series(&self, series: usize, acc: &mut SeriesTotals) {
        if let Some(segment) = self.segments.get(series / SEGMENT).and_then(|s| s.get()) {
            segment[series % SEGMENT].add_to(acc);
        }
    }
}

/// Node-wide counters that are not per request: configuration reloads.
#[derive(Debug, Default)]
pub struct ReloadCounters {
    /// Reloads that published a new snapshot.
    pub applied: AtomicU64,
    /// Reloads refused because the files were invalid.
    pub failed: AtomicU64,
}

/// Every shard's metrics, created in `server::run` before the shards start; the admin
/// listener reads it to answer scrapes.
#[derive(Debug)]
pub struct NodeMetrics {
    shards: Vec<Arc<ShardMetrics>>,
    /// Configuration reload outcomes (written by the control plane).
    pub reloads: ReloadCounters,
    /// Cluster mode's link to Redis, when the node is in a fleet.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Link>>,
}

impl NodeMetrics {
    /// Tables for `shards` shards.
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(NodeMetrics {
            shards: (0..shards).map(|_| Arc::default()).collect(),
            reloads: ReloadCounters::default(),
            cluster: std::sync::OnceLock::new(),
        })
    }

    /// The table shard `id` writes (a fresh, unregistered one for an unknown id, so a caller
    /// never panics; its counts are then not scraped).
    pub fn shard(&self, id: usize) -> Arc<ShardMetrics> {
        self.shards.get(id).cloned().unwrap_or_default()
    }

    /// Counts a reload outcome.
    pub fn record_reload(&self, applied: bool) {
        let counter = match applied {
            true => &self.reloads.applied,
            false => &self.reloads.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A series summed over every shard.
    pub fn series_totals(&self, series: usize) -> SeriesTotals {
        let mut acc = SeriesTotals::default();
        for shard in &self.shards {
            shard.add_series(series, &mut acc);
        }
        acc
    }

    fn sum(&self, f: impl Fn(&ShardMetrics) -> u64) -> u64 {
        self.shards.iter().map(|s| f(s)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16) -> Outcome {
        Outcome {
            status,
            latency: Duration::from_micros(300),
            integration_latency: None,
            cache_hit: None,
        }
    }

    #[test]
    fn shards_are_added_up_per_series_and_class() {
        let node = NodeMetrics::new(2);
        let (a, b) = (node.shard(0), node.shard(1));
        a.record(5, &outcome(200));
        b.record(5, &outcome(404));
        b.record(5, &outcome(502));
        a.record(
            70,
            &Outcome {
                integration_latency: Some(Duration::from_millis(2)),
                cache_hit: Some(true),
                ..outcome(200)
            },
        );
        let t = node.series_totals(5);
        assert_eq!((t.count, t.error_4xx, t.error_5xx), (3, 1, 1));
        assert_eq!(t.latency.count(), 3);
        assert_eq!(t.integration_latency.count(), 0);
        let t = node.series_totals(70);
        assert_eq!((t.count, t.cache_hit, t.cache_miss), (1, 1, 0));
        assert_eq!(t.integration_latency.count(), 1);
        assert_eq!(node.series_totals(6), SeriesTotals::default());
    }

    #[test]
    fn gauges_follow_connections() {
        let node = NodeMetrics::new(1);
        let s = node.shard(0);
        s.connection_opened();
        s.connection_opened();
        s.connection_closed();
        assert_eq!(node.sum(|s| s.open_connections.load(Ordering::Relaxed)), 1);
        s.record_throttled(ThrottleLevel::UsagePlanMethod);
        assert_eq!(
            s.throttled[ThrottleLevel::UsagePlanMethod as usize].load(Ordering::Relaxed),
            1
        );
    }
}
