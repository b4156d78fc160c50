//! Usage-plan quotas (`limit` requests per `DAY`, `WEEK` or `MONTH`, UTC) and per-key usage
//! counting, aggregated across shards without a shared write per request.
//!
//! [`QuotaState`] hands out the period's allowance in leases, like the token bucket: one
//! packed word holds (period start day, requests reserved in that period); a shard reserves
//! a few at once and spends them from its own slot. [`Usage`] counts admitted requests per
//! shard slot and per UTC day; the flusher thread sums the slots and writes the deltas to the
//! store under the day each request was admitted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::padded::Padded;
use crate::cluster::Link;

/// Quota period, as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// Resets every day at 00:00 UTC.
    Day,
    /// Resets every week on day `offset` (0 = Sunday) at 00:00 UTC.
    Week,
    /// Resets every month on day `offset + 1` at 00:00 UTC.
    Month,
}

impl Period {
    /// Parses `DAY`, `WEEK` or `MONTH`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "DAY" => Some(Period::Day),
            "WEEK" => Some(Period::Week),
            "MONTH" => Some(Period::Month),
            _ => None,
        }
    }

    /// Largest `offset` the period accepts.
    pub fn max_offset(self) -> u32 {
        match self {
            Period::Day => 0,
            Period::Week => 6,
            Period::Month => 27,
        }
    }
}

/// A quota as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotaSpec {
    /// Requests allowed per period.
    pub limit: u64,
    /// Period length.
    pub period: Period,
    /// Start of the period: weekday (0 = Sunday) for `WEEK`, day of month - 1 for `MONTH`.
    pub offset: u32,
}

/// Largest quota limit (the packed word keeps 40 bits for it).
pub const MAX_LIMIT: u64 = (1 << 40) - 1;
const RESERVED_BITS: u32 = 40;
const RESERVED_MASK: u64 = MAX_LIMIT;

impl QuotaSpec {
    /// First day (days since 1970-01-01) of the period holding `day`.
    pub fn period_start(&self, day: u32) -> u32 {
        match self.period {
            Period::Day => day,
            Period::Week => {
                // 1970-01-01 was a Thursday (Sunday = 0 → 4).
                let weekday = (day + 4) % 7;
                let back = (weekday + 7 - self.offset % 7) % 7;
                day.saturating_sub(back)
            }
            Period::Month => {
                let (y, m, d) = civil_from_days(day);
                let start_dom = self.offset + 1;
                if d >= start_dom {
                    days_from_civil(y, m, start_dom)
                } else if m == 1 {
                    days_from_civil(y - 1, 12, start_dom)
                } else {
                    days_from_civil(y, m - 1, start_dom)
                }
            }
        }
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) (H. Hinnant's algorithm).
pub fn civil_from_days(days: u32) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01 (0 for dates before it).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> u32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days).unwrap_or(0)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: u32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` → day number; `None` when malformed or before 1970.
pub fn parse_day(s: &str) -> Option<u32> {
    let mut parts = s.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (d >= 1 && civil_from_days(day) == (y, m, d)).then_some(day)
}

/// Per-shard lease state of a quota.
#[derive(Debug, Default)]
struct QuotaSlot {
    /// Period (start day) the held requests belong to.
    period: AtomicU64,
    /// Requests still held from the last lease.
    left: AtomicU64,
}

/// Node-wide allowance of one key in one usage plan for the current period.
#[derive(Debug)]
pub struct QuotaState {
    spec: QuotaSpec,
    /// `(period start day << 40) | reserved`.
    shared: Padded<AtomicU64>,
    slots: Box<[Padded<QuotaSlot>]>,
    /// Cluster mode: how much of the period the fleet let this node reserve.
    fleet: Option<FleetQuota>,
}

/// A quota's cluster-mode state. The fleet's book of a (key, plan, period) is a Redis hash
/// of what each node may reserve (its *allowance*: what it reserved plus what it was granted
/// ahead of demand); the cluster worker reports this node's reservations and asks for more
/// in its syncs (`cluster::worker`). Between syncs a node reserves up to its allowance, plus
/// a small blind margin so that a key's first request after a quiet spell is answered
/// without waiting for Redis. tuning.md, "Cluster mode", derives the bound.
#[derive(Debug)]
pub struct FleetQuota {
    link: Arc<Link>,
    /// The quota's limit.
    limit: u64,
    /// The Redis key of the fleet's book, without the period's start day.
    pub key: Box<str>,
    me: Weak<QuotaState>,
    /// `(period << 40) | allowance` the fleet's book gave this node at the last sync.
    ceiling: Padded<AtomicU64>,
    /// `(period << 40) | requests reserved fleet-wide` as the last sync saw them (at
    /// creation: this node's own, from its store).
    known: Padded<AtomicU64>,
    /// `(period << 40) | margin` this node may reserve beyond its allowance while Redis is
    /// away: its part of what the book had left, when it heard from the book lately; the
    /// blind margin when its knowledge is old (others may have spent the rest since); its
    /// share of the limit when it never reached Redis (it knows nothing of the others).
    fallback: Padded<AtomicU64>,
    /// `(period << 40) | total` of the book's latest answer (allowances, granted or given
    /// back): whether the period is spent now, as opposed to `known`'s highest total.
    latest: Padded<AtomicU64>,
    /// On the worker's active list.
    queued: AtomicBool,
    /// A request was refused for want of an allowance: the next lease covers it.
    dry: AtomicBool,
}

/// A new quota's margin for when Redis is away: its share of what this node's store says is
/// left (limit ÷ nodes) if the node never reached Redis; the blind margin if it did (the
/// other nodes may have spent it).
fn initial_fallback(limit: u64, used: u64, link: &Link) -> u64 {
    let nodes = link.nodes();
    let left = limit.saturating_sub(used);
    if link.reached() {
        blind_margin(limit, nodes).min(left / nodes)
    } else {
        left / nodes
    }
}

/// What a node may reserve beyond its allowance before the next sync, at most: 1/256 of its
/// share of the quota, between 1 and 1,024. Spent blind (the fleet may have used the period
/// up since the last sync), so each node can over-admit by at most this once per exhaustion
/// (under 0.4 % of the quota fleet-wide). Large enough that a burst on a key that just woke
/// is answered before its first lease (a cap of 16 refused the 17th request of a sequential
/// client on a key with a quota of 10⁹ under valgrind, `loadtest/cluster.sh CALLGRIND=1`).
pub fn blind_margin(limit: u64, nodes: u64) -> u64 {
    (limit / (256 * nodes.max(1))).clamp(1, 1024)
}

fn pack(day: u32, reserved: u64) -> u64 {
    ((day as u64) << RESERVED_BITS) | (reserved & RESERVED_MASK)
}

fn unpack(word: u64) -> (u32, u64) {
    ((word >> RESERVED_BITS) as u32, word & RESERVED_MASK)
}

impl QuotaState {
    /// State for the period holding `today`, of which `used` requests are already spent
    /// (read from the store).
    pub fn new(spec: QuotaSpec, shards: usize, today: u32, used: u64) -> Self {
        let start = spec.period_start(today);
        QuotaState {
            spec,
            shared: Padded(AtomicU64::new(pack(start, used.min(MAX_LIMIT)))),
            slots: (0..shards.max(1))
                .map(|_| Padded(QuotaSlot::default()))
                .collect(),
            fleet: None,
        }
    }

    /// A cluster-mode quota: the period's allowance comes from the fleet's book `key` (plus
    /// the period's start day) in Redis through `link`'s worker. `used` is this node's own
    /// count for the period, from its store.
    pub fn in_fleet(
        spec: QuotaSpec,
        shards: usize,
        today: u32,
        used: u64,
        link: &Arc<Link>,
        key: Box<str>,
    ) -> Arc<Self> {
        let start = spec.period_start(today);
        Arc::new_cyclic(|me| {
            let mut q = QuotaState::new(spec, shards, today, used);
            q.fleet = Some(FleetQuota {
                link: Arc::clone(link),
                limit: spec.limit,
                key,
                me: me.clone(),
                // What it reserved is part of its allowance (its field in the book is at
                // least that).
                ceiling: Padded(AtomicU64::new(pack(start, used.min(MAX_LIMIT)))),
                known: Padded(AtomicU64::new(pack(start, used.min(MAX_LIMIT)))),
                fallback: Padded(AtomicU64::new(pack(
                    start,
                    initial_fallback(spec.limit, used, link),
                ))),
                latest: Padded(AtomicU64::new(pack(start, 0))),
                queued: AtomicBool::new(false),
                dry: AtomicBool::new(false),
            });
            q
        })
    }

    /// Its cluster-mode state, if any.
    pub fn fleet(&self) -> Option<&FleetQuota> {
        self.fleet.as_ref()
    }

    /// `(period start day, requests reserved in it)` on this node.
    pub fn reserved(&self) -> (u32, u64) {
        unpack(self.shared.load(Ordering::Acquire))
    }

    /// Most requests this node may reserve in the period starting on `period`: the limit;
    /// in cluster mode its allowance plus a margin (blind while Redis answers; its share of
    /// what the fleet had left, limit ÷ live nodes of it, while Redis is away).
    fn cap(&self, period: u32) -> u64 {
        let limit = self.spec.limit;
        let Some(f) = &self.fleet else {
            return limit;
        };
        let of_period = |word: u64| {
            let (p, n) = unpack(word);
            (p == period).then_some(n)
        };
        let ceiling = of_period(f.ceiling.load(Ordering::Acquire)).unwrap_or(0);
        // A period no sync has seen yet: nothing known to be used.
        let left = of_period(f.known.load(Ordering::Acquire))
            .map_or(limit, |used| limit.saturating_sub(used));
        let nodes = f.link.nodes();
        let margin = if f.link.healthy() {
            blind_margin(limit, nodes).min(left / nodes)
        } else {
            // A period no sync has seen: the node's share of the whole limit.
            of_period(f.fallback.load(Ordering::Acquire)).unwrap_or(limit / nodes)
        };
        ceiling.saturating_add(margin).min(limit)
    }

    /// The configured quota.
    pub fn spec(&self) -> QuotaSpec {
        self.spec
    }

    /// Admits one request on `shard` on `today`; false when the period's quota is spent.
    #[inline]
    pub fn try_admit(&self, shard: usize, today: u32) -> bool {
        let period = self.spec.period_start(today) as u64;
        let Some(slot) = self.slots.get(shard) else {
            return self.reserve(period as u32, Some(1)).is_some();
        };
        let left = slot.left.load(Ordering::Relaxed);
        if left > 0 && slot.period.load(Ordering::Relaxed) == period {
            slot.left.store(left - 1, Ordering::Relaxed);
            return true;
        }
        match self.reserve(period as u32, None) {
            Some((day, got)) => {
                slot.period.store(day as u64, Ordering::Relaxed);
                slot.left.store(got - 1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Counts `n` requests another process admitted on `day` (the node this one took over
    /// from, while both served): they use up this period's allowance as if admitted here. A
    /// day of an earlier period counts for nothing now.
    pub fn absorb(&self, day: u32, n: u64) {
        let period = self.spec.period_start(day);
        let _ = self
            .shared
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let (current, reserved) = unpack(cur);
                let reserved = match current.cmp(&period) {
                    std::cmp::Ordering::Greater => return None,
                    std::cmp::Ordering::Equal => reserved,
                    std::cmp::Ordering::Less => 0,
                };
                Some(pack(period, (reserved + n).min(MAX_LIMIT)))
            });
    }

    /// Reserves up to `want` requests of the period starting on `period` (`None`: a shard's
    /// lease, which shrinks as the quota runs out so that little is stranded on idle
    /// shards); returns the period they belong to and how many were reserved. In cluster
    /// mode, a reservation beyond the allowance, or a refusal, puts the quota on the
    /// worker's list.
    fn reserve(&self, period: u32, want: Option<u64>) -> Option<(u32, u64)> {
        let slots = self.slots.len() as u64;
        // (period, reserved now, of which taken here)
        let mut got = (0, 0, 0);
        let done = self
            .shared
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let (day, reserved) = unpack(cur);
                // A new period starts from zero; a clock that went back keeps the newer period.
                let (day, reserved) = if day < period {
                    (period, 0)
                } else {
                    (day, reserved)
                };
                let available = self.cap(day).saturating_sub(reserved);
                if available == 0 {
                    return None;
                }
                let want = want.unwrap_or((available / (8 * slots)).clamp(1, 64));
                let n = want.min(available);
                got = (day, reserved + n, n);
                Some(pack(day, reserved + n))
            })
            .map(|_| got);
        if let Some(f) = &self.fleet {
            f.after_reserve(done.map(|(day, reserved, _)| (day, reserved)));
        }
        done.ok().map(|(day, _, n)| (day, n))
    }
}

impl FleetQuota {
    /// Queues the quota for the worker when this node reserved beyond its allowance (the
    /// fleet's book must hear of it) or was refused (it needs an allowance): `reserved` is
    /// the period reserved in and what the node has reserved in it now, `Err` on a refusal.
    fn after_reserve(&self, reserved: Result<(u32, u64), u64>) {
        let beyond = match reserved {
            Ok((day, now)) => {
                let (p, allowance) = unpack(self.ceiling.load(Ordering::Acquire));
                p != day || now > allowance
            }
            Err(_) => {
                if !self.dry.load(Ordering::Relaxed) && !self.dry.swap(true, Ordering::AcqRel) {
                    self.link.hurry();
                }
                true
            }
        };
        if beyond {
            self.wake();
        }
    }

    /// Puts the quota on the worker's list unless it is there.
    pub fn wake(&self) {
        if !self.queued.load(Ordering::Acquire) && !self.queued.swap(true, Ordering::AcqRel) {
            if let Some(me) = self.me.upgrade() {
                self.link.activate_quota(me);
            }
        }
    }

    /// Records what the fleet's book answered for `period`: this node's allowance and the
    /// requests reserved fleet-wide. Until the next answer, should Redis go away, the node
    /// may add its part of what the book had left.
    ///
    /// The fleet's total is taken as the highest seen in the period: a book that restarted
    /// empty under-counts until every node has reported again, and margins sized from that
    /// would over-admit (found by `tests/cluster_quota.rs`); a total that fell because a node
    /// gave back its unreserved allowance only makes the margins smaller than they could be.
    pub fn granted(&self, period: u32, allowance: u64, fleet_used: u64, nodes: u64) {
        self.ceiling
            .store(pack(period, allowance), Ordering::Release);
        let highest = |word: u64| match unpack(word) {
            (p, used) if p == period => used.max(fleet_used),
            _ => fleet_used,
        };
        let seen = self
            .known
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                Some(pack(period, highest(word).min(MAX_LIMIT)))
            })
            .map_or(fleet_used, highest);
        let left = self.limit.saturating_sub(seen);
        self.fallback
            .store(pack(period, left / nodes.max(1)), Ordering::Release);
        // A spent quota stays dry: its refusals then neither hurry the worker nor count as
        // demand, and it is asked about only every few syncs (a review finding: it was asked
        // at every sync for the rest of the period). Spent by the latest answer, not the
        // highest: allowances given back make room again.
        self.latest
            .store(pack(period, fleet_used.min(MAX_LIMIT)), Ordering::Release);
        if fleet_used < self.limit {
            self.dry.store(false, Ordering::Release);
        }
    }

    /// Whether the book's latest answer for `period` had every request of it allotted.
    pub fn spent(&self, period: u32) -> bool {
        let (p, total) = unpack(self.latest.load(Ordering::Acquire));
        p == period && total >= self.limit
    }

    /// What this node knows of the book is getting old (the quota left the worker's list,
    /// or it was never asked for since Redis answered): should Redis go away, only the
    /// blind margin may be added to the allowance.
    pub fn knowledge_aged(&self, nodes: u64) {
        let (period, used) = unpack(self.known.load(Ordering::Acquire));
        let limit = self.limit;
        let margin = blind_margin(limit, nodes).min(limit.saturating_sub(used) / nodes.max(1));
        let _ = self
            .fallback
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (p, m) = unpack(word);
                (p == period && m > margin).then_some(pack(p, margin))
            });
    }

    /// `(period, allowance)` from the last sync.
    pub fn allowance(&self) -> (u32, u64) {
        unpack(self.ceiling.load(Ordering::Acquire))
    }

    /// Whether a request was refused since the last grant.
    pub fn is_dry(&self) -> bool {
        self.dry.load(Ordering::Acquire)
    }

    /// Gives up the allowance not yet reserved (the quota went quiet: another node may need
    /// it): the allowance becomes what is reserved, `reserved` of `period`.
    pub fn release(&self, period: u32, reserved: u64) {
        self.ceiling
            .store(pack(period, reserved.min(MAX_LIMIT)), Ordering::Release);
    }

    /// The worker dropped the quota from its list; the next reservation beyond the
    /// allowance queues it again. One made while the worker was dropping it (after its last
    /// look, before this) found it still queued: it is queued again now, or the book would
    /// never hear of it.
    pub fn retire(&self, quota: &QuotaState) {
        self.queued.store(false, Ordering::SeqCst);
        let (day, reserved) = quota.reserved();
        let (p, allowance) = unpack(self.ceiling.load(Ordering::SeqCst));
        if p != day || reserved > allowance {
            self.wake();
        }
    }
}

/// Requests admitted for one key in one usage plan, per shard and per UTC day, so that a
/// request is filed under the day it was admitted even when the flush that writes it runs
/// after midnight.
#[derive(Debug)]
pub struct Usage {
    slots: Box<[Padded<UsageSlot>]>,
    /// (key id, usage plan id): the store's key for these counts.
    id: (Box<str>, Box<str>),
}

/// One shard's counts: the day it is counting and the day before it had traffic. Written
/// only by its shard (plain stores, no read-modify-write on shared memory).
#[derive(Debug, Default)]
struct UsageSlot {
    /// `(day << 40) | requests admitted on that day`.
    current: AtomicU64,
    /// What `current` held when the shard's day last changed.
    previous: AtomicU64,
    /// The `current` word as last written to the store (flusher thread only).
    flushed: AtomicU64,
    /// Counted since the flusher last looked (set by the shard, cleared by the flusher): a
    /// shard that sets it queues the counter for the next flush, so a flush reads only the
    /// counters that changed, not every configured key (issue 19).
    dirty: AtomicBool,
}

/// Requests counted on one day and not yet in the store.
pub type DayCount = (u32, u64);

impl Usage {
    /// Zeroed counters for `shards` shards, unnamed (the node names them with
    /// [`Usage::named`]).
    #[cfg(test)]
    pub fn new(shards: usize) -> Self {
        Self::named(shards, ("".into(), "".into()))
    }

    /// Zeroed counters of `(key id, plan id)` for `shards` shards.
    pub fn named(shards: usize, id: (Box<str>, Box<str>)) -> Self {
        Usage {
            slots: (0..shards.max(1))
                .map(|_| Padded(UsageSlot::default()))
                .collect(),
            id,
        }
    }

    /// The key id and plan id counted.
    pub fn id(&self) -> &(Box<str>, Box<str>) {
        &self.id
    }

    /// Counts one request admitted on `shard` on `today` (days since 1970-01-01, UTC).
    /// Returns true when the shard's slot was clean: the caller queues the counter for the
    /// next flush.
    ///
    /// Ordering: the count is stored and the dirty flag swapped `SeqCst`, and the flusher
    /// clears the flag and then reads the count `SeqCst` ([`Usage::take_unflushed`]). In the
    /// single total order either the flusher's read sees the new count, or its clear comes
    /// before this swap, which then finds the flag clear and queues the counter again: no
    /// count is left unqueued.
    #[inline]
    pub fn record(&self, shard: usize, today: u32) -> bool {
        let slot = &self.slots[shard.min(self.slots.len() - 1)];
        // Only the slot's own shard writes it, so load + store cannot lose a count; a shard
        // number beyond the slots (never in the server) shares the last slot and may.
        let word = slot.current.load(Ordering::Relaxed);
        let (day, n) = unpack(word);
        if day == today {
            slot.current.store(pack(day, n + 1), Ordering::SeqCst);
        } else {
            // `previous` first: a flusher that sees the new day in `current` sees it too.
            slot.previous.store(word, Ordering::Release);
            slot.current.store(pack(today, 1), Ordering::SeqCst);
        }
        // Already dirty (every request but the first per shard between flushes): a load, not
        // a locked swap. A `true` read here means the counter is queued and the flusher has
        // not cleared the flag yet, so its later read sees this count.
        if slot.dirty.load(Ordering::SeqCst) {
            return false;
        }
        !slot.dirty.swap(true, Ordering::SeqCst)
    }

    /// Admitted requests since start on all days (for tests and diagnostics; the days a
    /// shard has moved past and already flushed are not kept).
    pub fn total(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| {
                let (_, cur) = unpack(s.current.load(Ordering::Acquire));
                let (_, prev) = unpack(s.previous.load(Ordering::Acquire));
                cur + prev
            })
            .sum()
    }

    /// Requests not yet written to the store, per day (at most two days per shard: the one
    /// it counts and the one before); marks them written. Returns the marks to hand back to
    /// [`Usage::restore_unflushed`] if the write fails.
    pub fn take_unflushed(&self, out: &mut Vec<DayCount>) -> Vec<u64> {
        let mut marks = Vec::with_capacity(self.slots.len());
        for slot in self.slots.iter() {
            // Cleared before the read: see [`Usage::record`].
            slot.dirty.store(false, Ordering::SeqCst);
            let current = slot.current.load(Ordering::SeqCst);
            let previous = slot.previous.load(Ordering::Acquire);
            let flushed = slot.flushed.swap(current, Ordering::AcqRel);
            marks.push(flushed);
            let (day, n) = unpack(current);
            let (done_day, done) = unpack(flushed);
            if day == done_day {
                add_day(out, day, n.saturating_sub(done));
                continue;
            }
            // The shard moved to a new day since the last flush: the rest of the day it
            // left, then the new day's count.
            let (prev_day, prev_n) = unpack(previous);
            let already = if prev_day == done_day { done } else { 0 };
            add_day(out, prev_day, prev_n.saturating_sub(already));
            add_day(out, day, n);
        }
        marks
    }

    /// Gives back the marks of a [`Usage::take_unflushed`] whose write failed, so the next
    /// flush writes the same counts again.
    pub fn restore_unflushed(&self, marks: &[u64]) {
        for (slot, &mark) in self.slots.iter().zip(marks) {
            slot.flushed.store(mark, Ordering::Release);
        }
    }
}

/// Adds `n` requests on `day` to `out` (nothing for 0).
fn add_day(out: &mut Vec<DayCount>, day: u32, n: u64) {
    if n == 0 {
        return;
    }
    match out.iter_mut().find(|(d, _)| *d == day) {
        Some((_, total)) => *total += n,
        None => out.push((day, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(limit: u64, period: Period, offset: u32) -> QuotaSpec {
        QuotaSpec {
            limit,
            period,
            offset,
        }
    }

    #[test]
    fn calendar_round_trips() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(parse_day("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2024-13-01"), None);
        let d = parse_day("2026-11-23").unwrap();
        assert_eq!(format_day(d), "2026-11-23");
    }

    #[test]
    fn periods_start_where_aws_starts_them() {
        let mon = parse_day("2026-11-23").unwrap(); // a Monday
        assert_eq!(spec(1, Period::Day, 0).period_start(mon), mon);
        assert_eq!(
            format_day(spec(1, Period::Week, 0).period_start(mon)),
            "2026-11-22"
        );
        assert_eq!(spec(1, Period::Week, 1).period_start(mon), mon);
        assert_eq!(
            format_day(spec(1, Period::Week, 2).period_start(mon)),
            "2026-11-17"
        );
        assert_eq!(
            format_day(spec(1, Period::Month, 0).period_start(mon)),
            "2026-11-01"
        );
        assert_eq!(
            format_day(spec(1, Period::Month, 24).period_start(mon)),
            "2026-10-25"
        );
        let jan = parse_day("2026-01-03").unwrap();
        assert_eq!(
            format_day(spec(1, Period::Month, 4).period_start(jan)),
            "2025-12-05"
        );
    }

    #[test]
    fn quota_is_exact_across_shards_and_resets_with_the_period() {
        let day = parse_day("2026-11-23").unwrap();
        let q = QuotaState::new(spec(5, Period::Day, 0), 2, day, 0);
        let admitted = (0..10).filter(|i| q.try_admit(i % 2, day)).count();
        assert_eq!(admitted, 5);
        let admitted = (0..10).filter(|i| q.try_admit(i % 2, day + 1)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn stored_usage_counts_against_the_period() {
        let day = parse_day("2026-11-23").unwrap();
        let q = QuotaState::new(spec(5, Period::Day, 0), 2, day, 3);
        assert_eq!((0..10).filter(|_| q.try_admit(0, day)).count(), 2);
    }

    #[test]
    fn absorbed_requests_use_up_the_current_period_only() {
        let day = parse_day("2026-11-23").unwrap();
        let q = QuotaState::new(spec(5, Period::Day, 0), 2, day, 1);
        q.absorb(day - 1, 100);
        q.absorb(day, 2);
        assert_eq!((0..10).filter(|i| q.try_admit(i % 2, day)).count(), 2);
        q.absorb(day + 1, 4);
        assert_eq!((0..10).filter(|_| q.try_admit(0, day + 1)).count(), 1);
    }

    #[test]
    fn big_quotas_admit_exactly_their_limit_on_one_shard() {
        let day = 20_000;
        let q = QuotaState::new(spec(10_000, Period::Month, 0), 4, day, 0);
        assert_eq!((0..20_000).filter(|_| q.try_admit(1, day)).count(), 10_000);
    }

    /// A link to a fleet of `nodes`, Redis answering or not.
    fn link(nodes: u64, healthy: bool) -> Arc<Link> {
        let link = Link::new(&crate::cluster::ClusterSettings::standalone_defaults());
        link.set_nodes(nodes);
        link.set_healthy(healthy);
        link
    }

    fn fleet_quota(limit: u64, used: u64, link: &Arc<Link>) -> Arc<QuotaState> {
        let spec = spec(limit, Period::Day, 0);
        QuotaState::in_fleet(spec, 1, 20_000, used, link, "q:".into())
    }

    fn admitted(q: &QuotaState, n: usize) -> usize {
        (0..n).filter(|_| q.try_admit(0, 20_000)).count()
    }

    #[test]
    fn a_fleet_quota_spends_its_allowance_and_a_blind_margin_then_asks_the_worker() {
        let link = link(2, true);
        let q = fleet_quota(100, 0, &link);
        // No allowance yet: the blind margin (1/256 of the node's share, at least 1).
        assert_eq!(admitted(&q, 5), 1);
        let f = q.fleet().unwrap();
        assert!(f.queued.load(Ordering::Acquire), "queued for the worker");
        assert!(f.is_dry(), "a refusal marks it dry");
        f.granted(20_000, 10, 10, 2);
        assert!(!f.is_dry());
        // Its allowance of 10, of which 1 is spent, plus the margin again.
        assert_eq!(admitted(&q, 20), 10);
        // Another period: nothing granted in it yet, only the margin.
        assert!(q.try_admit(0, 20_001));
        assert!(!q.try_admit(0, 20_001));
    }

    #[test]
    fn with_redis_away_a_fleet_quota_adds_its_part_of_what_the_book_had_left() {
        let link = link(2, false);
        let q = fleet_quota(100, 0, &link);
        let f = q.fleet().unwrap();
        f.granted(20_000, 10, 60, 2);
        // Allowance 10 plus half of the 40 left.
        assert_eq!(admitted(&q, 100), 30);
        // Knowledge grown old: only the blind margin beyond the allowance.
        let q = fleet_quota(100, 0, &link);
        let f = q.fleet().unwrap();
        f.granted(20_000, 10, 60, 2);
        f.knowledge_aged(2);
        assert_eq!(admitted(&q, 100), 11);
    }

    #[test]
    fn a_node_that_never_reached_redis_keeps_to_its_share_of_the_limit() {
        let link = link(2, false);
        // 10 already counted in this node's store: half of the 90 left.
        let q = fleet_quota(100, 10, &link);
        assert_eq!(admitted(&q, 100), 45);
    }

    #[test]
    fn a_book_that_restarted_empty_does_not_enlarge_the_margins() {
        let link = link(2, false);
        let q = fleet_quota(100, 0, &link);
        let f = q.fleet().unwrap();
        f.granted(20_000, 10, 90, 2);
        // The book lost everything: only this node has reported again.
        f.granted(20_000, 10, 10, 2);
        assert_eq!(admitted(&q, 100), 15, "allowance 10 + half of the 10 left");
    }

    #[test]
    fn a_quota_is_spent_while_the_latest_answer_allots_everything() {
        let link = link(2, true);
        let q = fleet_quota(100, 0, &link);
        let f = q.fleet().unwrap();
        f.granted(20_000, 50, 100, 2);
        assert!(f.spent(20_000));
        assert_eq!(admitted(&q, 100), 50, "its allowance, no margin");
        assert!(f.is_dry(), "a spent quota stays dry");
        // Another node gave back what it held: room again, though the highest total seen
        // was the limit.
        f.granted(20_000, 50, 80, 2);
        assert!(!f.spent(20_000) && !f.is_dry());
        assert!(!f.spent(20_001), "another period is not spent");
    }

    #[test]
    fn a_counter_asks_to_be_queued_once_per_shard_between_flushes() {
        let day = 20_000;
        let u = Usage::new(2);
        assert!(u.record(0, day), "first count on shard 0 queues");
        assert!(!u.record(0, day), "already queued");
        assert!(u.record(1, day), "shard 1 queues for itself");
        let mut out = Vec::new();
        u.take_unflushed(&mut out);
        assert_eq!(out, [(day, 3)]);
        // The flusher looked: the next count queues again.
        assert!(u.record(1, day));
    }

    #[test]
    fn usage_deltas_are_flushed_once() {
        let day = 20_000;
        let u = Usage::new(2);
        u.record(0, day);
        u.record(1, day);
        u.record(1, day);
        let mut out = Vec::new();
        u.take_unflushed(&mut out);
        assert_eq!(out, [(day, 3)]);
        out.clear();
        u.take_unflushed(&mut out);
        assert_eq!(out, []);
        u.record(0, day);
        let marks = u.take_unflushed(&mut out);
        u.restore_unflushed(&marks);
        out.clear();
        u.take_unflushed(&mut out);
        assert_eq!(out, [(day, 1)]);
        assert_eq!(u.total(), 4);
    }

    #[test]
    fn usage_is_filed_under_the_day_it_was_counted() {
        let (monday, tuesday) = (20_000, 20_001);
        let u = Usage::new(2);
        let mut out = Vec::new();
        u.record(0, monday);
        u.take_unflushed(&mut out);
        assert_eq!(out, [(monday, 1)]);
        // Before midnight, unflushed; after midnight, more traffic; then one flush.
        u.record(0, monday);
        u.record(1, monday);
        u.record(0, tuesday);
        u.record(0, tuesday);
        u.record(1, tuesday);
        out.clear();
        u.take_unflushed(&mut out);
        out.sort_unstable();
        assert_eq!(out, [(monday, 2), (tuesday, 3)]);
        // A failed write gives everything back, still on the right days.
        let marks = {
            out.clear();
            u.record(1, tuesday);
            u.take_unflushed(&mut out)
        };
        assert_eq!(out, [(tuesday, 1)]);
        u.restore_unflushed(&marks);
        out.clear();
        u.take_unflushed(&mut out);
        assert_eq!(out, [(tuesday, 1)]);
    }
}
