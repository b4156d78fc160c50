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

use std::sync::atomic::{AtomicU64, Ordering};

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
        }
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
        let mut cur = self.tat.load(Ordering::Acquire);
        loop {
            let base = cur.max(now);
            let used = base - now;
            if used >= self.tolerance || self.tolerance - used < self.interval {
                return 0;
            }
            let available = (self.tolerance - used) / self.interval;
            let n = want.min(available);
            let next = base.saturating_add(n * self.interval);
            match self
                .tat
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return n,
                Err(seen) => cur = seen,
            }
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
    fn unknown_shard_goes_straight_to_the_shared_bucket() {
        let b = Bucket::new(limit(1.0, 2), 1);
        assert!(b.try_acquire(7, 0));
        assert!(b.try_acquire(7, 0));
        assert!(!b.try_acquire(7, 0));
    }
}
