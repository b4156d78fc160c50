//! A node-wide token bucket that shards take tokens from in leases.
//!
//! The bucket itself is GCRA (the "virtual scheduling" form of a token bucket): one `u64`, the
//! theoretical arrival time (TAT) in nanoseconds. Taking `n` tokens at `now` moves the TAT to
//! `max(TAT, now) + n·T` (T = 1 s / rate) and is allowed while the result stays within
//! `burst·T` of `now`. Because the state is one word, taking a whole lease is one
//! compare-exchange.
//!
//! A shard does not touch that word per request: it takes a *lease* of up to `lease` tokens
//! and spends them from its own slot (written only by that shard, on its own cache line).
//! It goes back to the shared word only when its lease is empty; a refused request only
//! *reads* the shared word. See tuning.md, "Throttling across shards", for the error bound.
//!
//! In cluster mode (`crate::cluster`) the node-wide bucket is a [`Fleet`] pool instead:
//! tokens the node took from the fleet's bucket in Redis, topped up by the cluster worker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::cluster::Link;

use super::padded::Padded;

/// Settings of one bucket, as configured (AWS: `rateLimit` requests/s, `burstLimit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Steady rate, requests per second.
    pub rate: f64,
    /// Bucket size: requests that may arrive at once.
    pub burst: u64,
}

/// One token bucket shared by every shard of the node.
#[derive(Debug)]
pub struct Bucket {
    limit: Limit,
    /// Nanoseconds per token.
    interval: u64,
    /// `burst · interval`.
    tolerance: u64,
    /// Tokens a shard takes at once.
    lease: u64,
    /// Rate 0 or burst 0: everything is refused.
    closed: bool,
    tat: Padded<AtomicU64>,
    /// Tokens each shard holds; written only by its own shard.
    slots: Box<[Padded<AtomicU64>]>,
    /// Cluster mode: the fleet's pool replaces the local GCRA above.
    fleet: Option<Fleet>,
}

/// A bucket's cluster-mode state: the pool of tokens taken from the fleet's bucket in Redis,
/// the demand the worker sizes the next lease by, and the node's share for when the pool
/// cannot be used (a bucket not yet leased for, or Redis unreachable).
#[derive(Debug)]
pub struct Fleet {
    link: Arc<Link>,
    /// The fleet bucket's Redis key.
    pub key: Box<str>,
    me: Weak<Bucket>,
    pool: Padded<AtomicU64>,
    /// Tokens shards asked for since the worker last looked (granted or not).
    wanted: Padded<AtomicU64>,
    /// On the worker's active list.
    queued: AtomicBool,
    /// The pool ran dry and the worker was hurried; cleared by the next lease.
    dry: AtomicBool,
    /// A lease answered: spend the pool only (an empty pool means throttled).
    warm: AtomicBool,
    /// The share's GCRA word (limit ÷ live nodes).
    share_tat: Padded<AtomicU64>,
    /// Tokens spent without a lease (cold, or borrowed): charged to the fleet's bucket by the
    /// next lease, so the fleet's books hold every admitted request.
    cold_spent: Padded<AtomicU64>,
    /// Tokens this node may borrow before the next sync once its pool is empty: its part of
    /// what the fleet's bucket still held at the last sync.
    spare: Padded<AtomicU64>,
}

impl Bucket {
    /// A full bucket for a node of `shards` shards.
    pub fn new(limit: Limit, shards: usize) -> Self {
        let shards = shards.max(1);
        let closed = limit.burst == 0 || limit.rate <= 0.0 || !limit.rate.is_finite();
        let interval = if closed {
            1
        } else {
            ((1e9 / limit.rate).round() as u64).max(1)
        };
        Bucket {
            limit,
            interval,
            tolerance: interval.saturating_mul(limit.burst),
            lease: lease_size(limit, shards),
            closed,
            tat: Padded(AtomicU64::new(0)),
            slots: (0..shards).map(|_| Padded(AtomicU64::new(0))).collect(),
            fleet: None,
        }
    }

    /// A cluster-mode bucket: its tokens come from the fleet's bucket `key` in Redis through
    /// `link`'s worker. Shard leases are sized for every shard of every live node.
    pub fn in_fleet(limit: Limit, shards: usize, link: &Arc<Link>, key: Box<str>) -> Arc<Self> {
        let nodes = link.nodes() as usize;
        Arc::new_cyclic(|me| {
            let mut bucket = Bucket::new(limit, shards);
            bucket.lease = lease_size(limit, shards.max(1) * nodes);
            bucket.fleet = Some(Fleet {
                link: Arc::clone(link),
                key,
                me: me.clone(),
                pool: Padded(AtomicU64::new(0)),
                wanted: Padded(AtomicU64::new(0)),
                queued: AtomicBool::new(false),
                dry: AtomicBool::new(false),
                warm: AtomicBool::new(false),
                share_tat: Padded(AtomicU64::new(0)),
                cold_spent: Padded(AtomicU64::new(0)),
                spare: Padded(AtomicU64::new(0)),
            });
            bucket
        })
    }

    /// Its cluster-mode state, if any.
    pub fn fleet(&self) -> Option<&Fleet> {
        self.fleet.as_ref()
    }

    /// Nanoseconds per token and the burst tolerance, for the fleet's bucket in Redis.
    pub fn gcra(&self) -> (u64, u64) {
        (self.interval, self.tolerance)
    }

    /// The configured settings (a reload reuses a bucket only when they are unchanged).
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Tokens a shard leases at once.
    pub fn lease(&self) -> u64 {
        self.lease
    }

    /// Takes one token for a request on `shard` at monotonic time `now` (ns); false when the
    /// request must be throttled.
    #[inline]
    pub fn try_acquire(&self, shard: usize, now: u64) -> bool {
        let Some(slot) = self.slots.get(shard) else {
            return self.take(now, 1) == 1;
        };
        // Only this shard writes its slot, so a load and a store are enough (no RMW).
        let held = slot.load(Ordering::Relaxed);
        if held > 0 {
            slot.store(held - 1, Ordering::Relaxed);
            return true;
        }
        let got = self.take(now, self.lease);
        if got == 0 {
            return false;
        }
        slot.store(got - 1, Ordering::Relaxed);
        true
    }

    /// Takes up to `want` tokens from the shared bucket; returns how many it got (0 when the
    /// bucket is empty, found with a plain read).
    fn take(&self, now: u64, want: u64) -> u64 {
        if self.closed {
            return 0;
        }
        match &self.fleet {
            None => gcra_take(&self.tat, self.interval, self.tolerance, now, want),
            Some(fleet) => fleet.take(self, now, want),
        }
    }
}

impl Fleet {
    /// The pool once the worker leases for this bucket and Redis answers; the node's share
    /// before that and while Redis is away.
    fn take(&self, bucket: &Bucket, now: u64, want: u64) -> u64 {
        if !self.link.healthy() {
            return self.share(bucket, now, want, bucket.tolerance);
        }
        self.wanted.fetch_add(want, Ordering::Relaxed);
        if !self.queued.load(Ordering::Acquire) && !self.queued.swap(true, Ordering::AcqRel) {
            if let Some(me) = self.me.upgrade() {
                self.link.activate(me);
            }
        }
        if self.warm.load(Ordering::Acquire) {
            let n = take_counter(&self.pool, want);
            if n > 0 {
                return n;
            }
            // A burst faster than the syncs: borrow what the fleet had to spare, charged at
            // the next sync. With the fleet's bucket empty there is nothing to borrow.
            let n = take_counter(&self.spare, want);
            self.uncharged(n);
            // The worker is hurried once per dry spell, not per refused request (a nudge
            // takes the channel's waker lock and a futex wake).
            if !self.dry.load(Ordering::Relaxed) && !self.dry.swap(true, Ordering::AcqRel) {
                self.link.hurry();
            }
            return n;
        }
        // Cold: a small allowance of the share until the first lease (one sync away), charged
        // to the fleet then. Small, because the fleet's bucket may be empty by now: each
        // waking node can over-admit by at most this (tuning.md, "Cluster mode").
        let nodes = self.link.nodes();
        let allowance = cold_allowance(bucket.limit.burst, nodes);
        let tolerance = bucket
            .interval
            .saturating_mul(nodes)
            .saturating_mul(allowance);
        let n = self.share(bucket, now, want, tolerance);
        self.uncharged(n);
        n
    }

    /// This node's share: the limit's rate ÷ live nodes (`n·T` a token) within `tolerance`
    /// ns; the bucket's own tolerance is its burst ÷ live nodes (`burst/n` tokens of `n·T`).
    fn share(&self, bucket: &Bucket, now: u64, want: u64, tolerance: u64) -> u64 {
        let interval = bucket.interval.saturating_mul(self.link.nodes());
        gcra_take(&self.share_tat, interval, tolerance, now, want)
    }

    /// Tokens spent cold since the last call, for the next lease to charge.
    pub fn take_cold_spent(&self) -> u64 {
        self.cold_spent.swap(0, Ordering::AcqRel)
    }

    /// Tokens shards asked for since the last call (the worker's demand signal).
    pub fn take_wanted(&self) -> u64 {
        self.wanted.swap(0, Ordering::AcqRel)
    }

    /// Tokens in the pool.
    pub fn pool(&self) -> u64 {
        self.pool.load(Ordering::Acquire)
    }

    /// Adds what a lease granted, and sets what may be borrowed until the next sync; from
    /// now on the pool is what shards spend.
    pub fn granted(&self, n: u64, spare: u64) {
        self.pool.fetch_add(n, Ordering::AcqRel);
        self.spare.store(spare, Ordering::Release);
        self.dry.store(false, Ordering::Release);
        self.warm.store(true, Ordering::Release);
    }

    /// Whether a lease answered since the bucket last woke.
    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::Acquire)
    }

    /// Records `n` tokens spent without a lease (cold, borrowed, or taken back from a failed
    /// sync), for the next lease to charge.
    pub fn uncharged(&self, n: u64) {
        if n > 0 {
            self.cold_spent.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The worker dropped the bucket from its active list (idle, or Redis lost): the next
    /// request wakes it again, spending the cold allowance until the first lease. What its
    /// pool and spare held is dropped, not kept for later: those tokens were taken from the
    /// fleet's bucket long ago, and spending them on top of a refilled bucket would exceed
    /// the burst (a review finding); dropping them can only under-admit.
    pub fn retire(&self) {
        self.warm.store(false, Ordering::Release);
        self.pool.store(0, Ordering::Release);
        self.spare.store(0, Ordering::Release);
        self.dry.store(false, Ordering::Release);
        self.queued.store(false, Ordering::Release);
    }
}

/// Takes up to `want` from a counter of tokens; returns how many it got.
fn take_counter(counter: &AtomicU64, want: u64) -> u64 {
    let mut cur = counter.load(Ordering::Acquire);
    loop {
        if cur == 0 {
            return 0;
        }
        let n = want.min(cur);
        match counter.compare_exchange_weak(cur, cur - n, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return n,
            Err(seen) => cur = seen,
        }
    }
}

/// Tokens a cold bucket may spend on a node before its first lease: a quarter of the node's
/// share of the burst, at least 1 (so the first request of a quiet bucket is answered).
pub fn cold_allowance(burst: u64, nodes: u64) -> u64 {
    (burst / (4 * nodes.max(1))).max(1)
}

/// GCRA on one word: takes up to `want` tokens of `interval` ns each at `now` within a
/// `tolerance` ns burst; returns how many it got.
fn gcra_take(tat: &AtomicU64, interval: u64, tolerance: u64, now: u64, want: u64) -> u64 {
    let mut cur = tat.load(Ordering::Acquire);
    loop {
        let base = cur.max(now);
        let used = base - now;
        if used >= tolerance || tolerance - used < interval {
            return 0;
        }
        let available = (tolerance - used) / interval;
        let n = want.min(available);
        let next = base.saturating_add(n * interval);
        match tat.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return n,
            Err(seen) => cur = seen,
        }
    }
}

/// Lease size: about 1/50 s of the rate split over the shards, at most a quarter of each
/// shard's share of the burst, at least 1. Small limits (burst < 8 per shard) are exact.
fn lease_size(limit: Limit, shards: usize) -> u64 {
    let by_rate = (limit.rate / (50.0 * shards as f64)) as u64;
    let by_burst = limit.burst / (4 * shards as u64);
    by_rate.min(by_burst).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rate: f64, burst: u64) -> Limit {
        Limit { rate, burst }
    }

    #[test]
    fn a_full_bucket_admits_exactly_the_burst_at_one_instant() {
        let b = Bucket::new(limit(10.0, 5), 2);
        let admitted = (0..20).filter(|i| b.try_acquire(i % 2, 1_000)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn tokens_refill_at_the_rate() {
        let b = Bucket::new(limit(10.0, 1), 1);
        assert!(b.try_acquire(0, 0));
        assert!(!b.try_acquire(0, 50_000_000));
        assert!(b.try_acquire(0, 100_000_000));
        assert!(!b.try_acquire(0, 100_000_001));
    }

    #[test]
    fn zero_rate_or_burst_refuses_everything() {
        assert!(!Bucket::new(limit(0.0, 5), 1).try_acquire(0, 0));
        assert!(!Bucket::new(limit(5.0, 0), 1).try_acquire(0, 0));
    }

    #[test]
    fn leases_scale_with_rate_and_burst() {
        assert_eq!(lease_size(limit(10_000.0, 5_000), 2), 100);
        assert_eq!(lease_size(limit(1_000.0, 1_000), 2), 10);
        assert_eq!(lease_size(limit(10.0, 5), 2), 1);
    }

    #[test]
    fn long_run_rate_holds_when_all_traffic_is_on_one_shard_or_spread() {
        for spread in [false, true] {
            let b = Bucket::new(limit(1_000.0, 100), 4);
            let mut admitted = 0u64;
            // 2,000 req/s offered for 10 s, one request every 0.5 ms.
            for i in 0..20_000u64 {
                let shard = if spread { (i % 4) as usize } else { 0 };
                if b.try_acquire(shard, i * 500_000) {
                    admitted += 1;
                }
            }
            // 10 s at 1,000/s plus the initial burst; leases can only under-admit.
            assert!(admitted <= 10_100, "{admitted}");
            assert!(admitted >= 10_100 - 4 * b.lease(), "{admitted}");
        }
    }

    #[test]
    fn extreme_settings_do_not_overflow() {
        let slow = Bucket::new(limit(0.000_001, 1_000_000_000), 2);
        assert!(slow.try_acquire(0, u64::MAX / 2));
        let fast = Bucket::new(limit(1e12, 1_000_000_000), 2);
        assert!((0..1000).all(|_| fast.try_acquire(1, 5)));
    }

    #[test]
    fn a_fleet_bucket_spends_its_cold_allowance_its_pool_what_it_may_borrow_then_nothing() {
        let link = Link::new(&crate::cluster::ClusterSettings::standalone_defaults());
        link.set_healthy(true);
        link.set_nodes(2);
        let b = Bucket::in_fleet(limit(1000.0, 100), 1, &link, "k".into());
        let Some(f) = b.fleet() else {
            panic!("a fleet bucket");
        };
        // Shard 7 is unknown: every request goes to the node-wide state.
        let admit = |n: usize, now: u64| (0..n).filter(|_| b.try_acquire(7, now)).count();
        // Cold: a quarter of the node's half of the burst, charged at the next lease.
        assert_eq!(admit(20, 0), 12);
        assert_eq!(f.take_cold_spent(), 12);
        assert_eq!(f.take_wanted(), 20);
        // A lease of 5, and 3 to borrow until the next sync; then throttled.
        f.granted(5, 3);
        assert_eq!(admit(20, 0), 8);
        assert_eq!(f.take_cold_spent(), 3);
        // Redis away: the node's share, half the burst.
        link.set_healthy(false);
        assert_eq!(admit(100, 10_000_000_000), 50);
        // Back, after the worker retired it: cold again.
        link.set_healthy(true);
        f.retire();
        assert_eq!(admit(20, 20_000_000_000), 12);
    }

    #[test]
    fn unknown_shard_goes_straight_to_the_shared_bucket() {
        let b = Bucket::new(limit(1.0, 2), 1);
        assert!(b.try_acquire(7, 0));
        assert!(b.try_acquire(7, 0));
        assert!(!b.try_acquire(7, 0));
    }
}
