//! The fleet's usage book: how many requests each node admitted per (plan, key, UTC day), so
//! that a usage report on any node shows the whole fleet.
//!
//! Each node publishes its own *totals* (from its redb store, after the usage flusher wrote
//! them) into one Redis hash per plan and day, field `node<TAB>key`. Writing totals rather
//! than increments makes every write idempotent: a retry after a lost answer, a reconnect, or
//! a republish after Redis restarted empty never counts a request twice, and the node's own
//! store stays the record it republishes from. A report adds the other nodes' fields to the
//! node's own store (which is always current), so it needs no wait for the worker.

use std::collections::HashMap;

use ahash::AHashMap;

use super::Link;

/// One node's total for (plan id, key id, day): requests admitted that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    /// Usage plan id.
    pub plan: Box<str>,
    /// API key id.
    pub key: Box<str>,
    /// Days since 1970-01-01 (UTC).
    pub day: u32,
    /// Requests this node admitted on that day.
    pub requests: u64,
}

/// How long a day's book is kept: AWS reports usage for up to 90 days back.
pub const KEEP_MS: u64 = 100 * 86_400_000;

/// Totals waiting for the worker's next round trip, latest per (plan, key, day): a total
/// replaces the one before it, so an outage costs one entry per counter, not one per flush.
#[derive(Debug, Default)]
pub struct Pending {
    totals: HashMap<(Box<str>, Box<str>, u32), u64>,
}

impl Pending {
    /// Takes in what the flusher queued on `link`.
    pub fn collect(&mut self, link: &Link) {
        for t in link.usage_in.try_iter() {
            self.totals.insert((t.plan, t.key, t.day), t.requests);
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }

    /// Adds an `HSET` (and the book's expiry) per waiting total to `pipe`.
    pub fn write_into(&self, pipe: &mut redis::Pipeline, link: &Link) {
        for ((plan, key, day), n) in &self.totals {
            let book = link.usage_key(plan, *day);
            pipe.cmd("HSET")
                .arg(&book)
                .arg(format!("{}\t{key}", link.node_id))
                .arg(*n)
                .ignore();
            pipe.cmd("PEXPIRE").arg(&book).arg(KEEP_MS).ignore();
        }
    }

    /// The pipeline answered: nothing waits any more.
    pub fn clear(&mut self) {
        self.totals.clear();
    }
}

/// Requests the *other* nodes admitted for each (key id, day) of `plan` in `first..=last`,
/// read from the fleet's book (blocking, with the worker's timeouts: called by the admin
/// thread, never a shard).
pub fn others(
    link: &Link,
    plan: &str,
    first: u32,
    last: u32,
) -> Result<AHashMap<(String, u32), u64>, String> {
    let mut conn = super::connect::open(&link.settings).map_err(|e| e.to_string())?;
    let mut pipe = redis::pipe();
    for day in first..=last {
        pipe.cmd("HGETALL").arg(link.usage_key(plan, day));
    }
    let books: Vec<HashMap<String, u64>> = pipe.query(&mut conn).map_err(|e| e.to_string())?;
    let mut out = AHashMap::new();
    for (day, book) in (first..=last).zip(books) {
        for (field, n) in book {
            let Some((node, key)) = field.split_once('\t') else {
                continue;
            };
            if node != link.node_id {
                *out.entry((key.to_string(), day)).or_insert(0) += n;
            }
        }
    }
    Ok(out)
}
