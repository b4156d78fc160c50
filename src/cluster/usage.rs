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
    totals: HashMap<Id, u64>,
}

/// (plan id, key id, day).
type Id = (Box<str>, Box<str>, u32);

impl Pending {
    /// Takes in what the flusher queued on `link`. A node's day totals only grow, so the
    /// larger wins: a republished row read before a flush cannot replace the flush's newer
    /// total.
    pub fn collect(&mut self, link: &Link) {
        for t in link.usage_in.try_iter() {
            let n = self.totals.entry((t.plan, t.key, t.day)).or_insert(0);
            *n = (*n).max(t.requests);
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }

    /// Adds an `HSET` (and the book's expiry) to `pipe` for up to `most` waiting totals;
    /// returns them, for [`Pending::written`] once the pipeline answered.
    pub fn write_into(
        &self,
        pipe: &mut redis::Pipeline,
        link: &Link,
        most: usize,
    ) -> Vec<(Id, u64)> {
        let taken: Vec<(Id, u64)> = self
            .totals
            .iter()
            .take(most)
            .map(|(id, n)| (id.clone(), *n))
            .collect();
        for ((plan, key, day), n) in &taken {
            let book = link.usage_key(plan, *day);
            pipe.cmd("HSET")
                .arg(&book)
                .arg(format!("{}\t{key}", link.node_id))
                .arg(*n)
                .ignore();
            pipe.cmd("PEXPIRE").arg(&book).arg(KEEP_MS).ignore();
        }
        taken
    }

    /// The pipeline answered: these totals are written (unless a larger one came since).
    pub fn written(&mut self, written: &[(Id, u64)]) {
        for (id, n) in written {
            if self.totals.get(id) == Some(n) {
                self.totals.remove(id);
            }
        }
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
