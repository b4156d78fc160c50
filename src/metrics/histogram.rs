//! Latency histograms with fixed, log-spaced buckets from 50 µs to 30 s.
//!
//! Fixed buckets (not per-series configuration) keep recording to a short linear scan and one
//! counter bump, and let a scrape add shards' histograms bucket by bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets in nanoseconds (1-2.5-5 steps; `+Inf` is implicit). They cover
/// a MOCK answered in tens of microseconds as well as an integration at AWS's 29 s limit.
pub const BOUNDS_NANOS: [u64; 18] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// Number of buckets including `+Inf`.
pub const BUCKETS: usize = BOUNDS_NANOS.len() + 1;

/// One histogram, written by exactly one shard thread and read by scrapes.
///
/// Buckets are stored non-cumulative (one bump per observation); the exposition makes them
/// cumulative.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation. Single writer: see [`bump`].
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        bump(&self.buckets[bucket_of(nanos)], 1);
        bump(&self.sum_nanos, nanos);
    }

    /// Adds this histogram's buckets and sum into `acc` (scrape side).
    pub fn add_to(&self, acc: &mut HistogramTotals) {
        for (a, b) in acc.buckets.iter_mut().zip(&self.buckets) {
            *a += b.load(Ordering::Relaxed);
        }
        acc.sum_nanos = acc
            .sum_nanos
            .wrapping_add(self.sum_nanos.load(Ordering::Relaxed));
    }
}

/// A histogram summed over shards, as a scrape sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramTotals {
    /// Non-cumulative bucket counts, `+Inf` last.
    pub buckets: [u64; BUCKETS],
    /// Sum of observations in nanoseconds.
    pub sum_nanos: u64,
}

impl HistogramTotals {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Index of the bucket holding `nanos`: the first bound at or above it.
pub fn bucket_of(nanos: u64) -> usize {
    BOUNDS_NANOS
        .iter()
        .position(|&b| nanos <= b)
        .unwrap_or(BOUNDS_NANOS.len())
}

/// Adds `n` to a counter that only the calling thread writes.
///
/// A plain load and store, not `fetch_add`: with a single writer no update can be lost, and it
/// avoids a locked read-modify-write instruction per request. Readers on other threads see
/// every value eventually (relaxed ordering is enough for monotonic counters).
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(50_000), 0);
        assert_eq!(bucket_of(50_001), 1);
        assert_eq!(bucket_of(30_000_000_000), BOUNDS_NANOS.len() - 1);
        assert_eq!(bucket_of(30_000_000_001), BOUNDS_NANOS.len());
    }

    #[test]
    fn totals_add_buckets_and_sums() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut acc = HistogramTotals::default();
        h.add_to(&mut acc);
        h.add_to(&mut acc);
        assert_eq!(acc.count(), 6);
        assert_eq!(acc.buckets[0], 2);
        assert_eq!(acc.buckets[bucket_of(3_000_000)], 2);
        assert_eq!(acc.buckets[BUCKETS - 1], 2);
        assert_eq!(acc.sum_nanos, 2 * (10_000 + 3_000_000 + 60_000_000_000));
    }

    #[test]
    fn bounds_increase() {
        assert!(BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
    }
}
