//! The cluster worker: one background thread per node that keeps the node's heartbeat in
//! Redis, counts the live nodes, and tops up the pool of every active bucket from the
//! fleet's buckets, one pipelined round trip per sync interval. Only this thread talks to
//! Redis; every call has a timeout, and a failure turns the link unhealthy (buckets then
//! spend the node's share) until a reconnect succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flush::Outbox;
use super::usage::Pending;
use super::{ClusterSettings, Link};
use crate::cache::CacheBoard;
use crate::throttle::quota::{blind_margin, Period};
use crate::throttle::{Bucket, QuotaState, TrafficNode};

/// The fleet's GCRA bucket, on Redis's clock (`TIME`, microseconds: a double holds them
/// exactly). KEYS[1]: the bucket's theoretical arrival time; ARGV: µs per token, burst
/// tolerance in µs, tokens wanted, tokens already spent (a cold node's allowance: charged
/// whatever the bucket holds). Returns the tokens granted and the tokens the bucket still
/// holds after the grant. The same arithmetic as the node-local bucket (`throttle::bucket`).
/// `TIME` before a write needs Redis 5 or later (scripts replicate their effects); the TAT is
/// kept to a thousandth of a microsecond so that fast limits' small charges do not round away.
const LEASE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local spent = tonumber(ARGV[4])
local base = math.max(tat, now) + spent * interval
local used = base - now
local n = 0
if used < tolerance and tolerance - used >= interval then
  n = math.min(want, math.floor((tolerance - used) / interval))
end
local next_tat = base + n * interval
local left = 0
if next_tat - now < tolerance then
  left = math.floor((tolerance - (next_tat - now)) / interval)
end
if n > 0 or spent > 0 then
  local ttl = math.ceil((next_tat - now) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', ttl)
end
return {n, left}
"#;

/// A node's heartbeat: KEYS[1] is the sorted set of live nodes (score: when each expires, ms
/// on Redis's clock); ARGV: this node's id, its time to live in ms. Returns the live count.
const HEARTBEAT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 10)
return redis.call('ZCARD', KEYS[1])
"#;

/// A quota's book for one period: a hash of what each node may reserve (its allowance).
/// KEYS[1]: the book; ARGV: this node's id, what it has reserved, how many more it wants,
/// the quota's limit, `1` to give back what it holds unreserved, the book's lifetime in ms,
/// the live nodes. The node's field never falls below what it reserved (so requests
/// admitted while Redis was away, or before it restarted empty, are charged once: the field
/// is a total, not an increment); grants never take the book past the limit, and never
/// exceed the node's part of what is left (rounded up), so that one busy node does not hold
/// what another will need. Returns the node's allowance and the fleet's total after it.
const QUOTA: &str = r#"
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local reserved = tonumber(ARGV[2])
local f = mine
if ARGV[5] == '1' or reserved > f then f = reserved end
local total = 0
local vals = redis.call('HVALS', KEYS[1])
for i = 1, #vals do total = total + tonumber(vals[i]) end
total = total - mine + f
local limit = tonumber(ARGV[4])
local g = 0
if total < limit then
  g = math.min(tonumber(ARGV[3]), math.ceil((limit - total) / tonumber(ARGV[7])))
end
f = f + g
redis.call('HSET', KEYS[1], ARGV[1], f)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {f, total + g}
"#;

pub use super::connect::IO_TIMEOUT;
/// Syncs without demand after which a bucket or a quota leaves the active list.
const IDLE_SYNCS: u32 = 100;
/// Most usage totals written per sync.
const USAGE_PER_SYNC: usize = 1000;
/// Most syncs between two answers of a listed quota's book.
const LOOK_SYNCS: u32 = 10;
/// Shortest gap between two syncs, however often shards hurry the worker: bounds the
/// round trips a node makes (500/s) when the fleet's limits are spent.
const MIN_GAP: Duration = Duration::from_millis(2);

/// The running worker; stopping it leaves Redis to expire this node's heartbeat.
pub struct Worker {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker for `link`, and the subscriber that applies other nodes' cache
    /// flushes to `cache` (whose own flushes the worker publishes).
    pub fn start(
        settings: ClusterSettings,
        link: Arc<Link>,
        cache: Arc<CacheBoard>,
        traffic: Arc<TrafficNode>,
    ) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (asked, outbox) = crossbeam_channel::unbounded();
        cache.join_fleet(asked);
        let subscriber = super::flush::subscribe(settings.clone(), cache, Arc::clone(&stop))?;
        let flag = Arc::clone(&stop);
        let mut outbox = Outbox::new(outbox);
        let thread = std::thread::Builder::new()
            .name("tollgate-cluster".into())
            .spawn(move || run(&settings, &link, &traffic, &mut outbox, &flag))?;
        Ok(Worker {
            stop,
            threads: vec![thread, subscriber],
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A connection with the scripts loaded.
struct Session {
    conn: redis::Connection,
    /// With Sentinel: the master it is connected to.
    master: Option<(String, u16)>,
    lease: String,
    heartbeat: String,
    quota: String,
}

/// One quota on the worker's list.
struct ActiveQuota {
    quota: Arc<QuotaState>,
    idle: u32,
    /// Syncs since the book last answered for it.
    quiet: u32,
    /// `(period, reserved)` at the last sync: the demand since is the difference.
    last: (u32, u64),
    /// Gave back its allowance in this sync: leaves the list after the answer.
    leaving: bool,
}

/// The worker's quotas, with O(1) membership (after a reconnect every quota in use joins at
/// once).
#[derive(Default)]
struct QuotaList {
    items: Vec<ActiveQuota>,
    listed: ahash::AHashSet<usize>,
}

impl QuotaList {
    /// Adds `quota` unless it is listed; it reports at the first sync.
    fn add(&mut self, quota: Arc<QuotaState>) {
        if self.listed.insert(Arc::as_ptr(&quota) as usize) {
            self.items.push(ActiveQuota {
                quota,
                idle: 0,
                quiet: LOOK_SYNCS,
                last: (0, 0),
                leaving: false,
            });
        }
    }

    fn contains(&self, quota: &Arc<QuotaState>) -> bool {
        self.listed.contains(&(Arc::as_ptr(quota) as usize))
    }

    /// Drops the quotas marked leaving (or all), retiring them.
    fn retire(&mut self, all: bool) {
        let listed = &mut self.listed;
        self.items.retain(|a| {
            let leaving = all || a.leaving;
            if leaving {
                listed.remove(&(Arc::as_ptr(&a.quota) as usize));
                if let Some(f) = a.quota.fleet() {
                    f.retire(&a.quota);
                }
            }
            !leaving
        });
    }
}

/// One active bucket on the worker's list.
struct Active {
    bucket: Arc<Bucket>,
    idle: u32,
    /// What the fleet's bucket held after this node's last lease (`u64::MAX` before one).
    left: u64,
}

/// The worker's loop until `stop`: (re)connect, heartbeat every third of the node TTL, take
/// in woken buckets, sync the active ones, publish cache flushes; on any failure drop the
/// connection, retire every bucket to the node's share and log once; then wait for the next
/// interval or a hurry.
fn run(
    settings: &ClusterSettings,
    link: &Link,
    traffic: &TrafficNode,
    outbox: &mut Outbox,
    stop: &AtomicBool,
) {
    let nodes_key = format!("{}nodes", settings.key_prefix);
    let beat_every = settings.node_ttl / 3;
    let mut session: Option<Session> = None;
    let mut active: Vec<Active> = Vec::new();
    let mut quotas = QuotaList::default();
    let mut usage = Pending::default();
    // The fleet's books as this node last saw them (see [`rejoin`]), and a new epoch found
    // on reconnecting, adopted only once a whole pass answered (its reports reached the
    // books): a failure before that finds the epoch new again and reports again.
    let mut epoch: Option<String> = None;
    let mut adopt: Option<String> = None;
    // Until then, after Redis lost the books, quotas only report (see [`rejoin`]).
    let mut settle_until: Option<Instant> = None;
    let mut last_beat: Option<Instant> = None;
    let mut last_error = String::new();
    // When this connection started: for one node TTL after it, other nodes may not have
    // beaten again yet, so the count only grows (a low count would enlarge every share).
    let mut connected_at = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let tick = Instant::now();
        // Connected or not: the latest total per counter replaces the ones before it, so an
        // outage holds one entry per counter, not one per flush.
        usage.collect(link);
        let outcome = (|| -> Result<(), String> {
            if session.is_none() {
                let mut s = connect(settings)?;
                if let Some((seen, lost)) = rejoin(&mut s, link, traffic, &epoch, &mut quotas)? {
                    if lost {
                        settle_until = Some(Instant::now() + settings.node_ttl);
                    }
                    adopt = Some(seen);
                }
                session = Some(s);
                connected_at = Instant::now();
            }
            let Some(s) = session.as_mut() else {
                return Ok(());
            };
            if last_beat.is_none_or(|at| at.elapsed() >= beat_every) {
                let ttl = settings.node_ttl.as_millis() as u64;
                let n: u64 = redis::cmd("EVALSHA")
                    .arg(&s.heartbeat)
                    .arg(1)
                    .arg(&nodes_key)
                    .arg(&settings.node_id)
                    .arg(ttl)
                    .query(&mut s.conn)
                    .map_err(|e| e.to_string())?;
                let settling = connected_at.elapsed() < settings.node_ttl;
                link.set_nodes(if settling { n.max(link.nodes()) } else { n });
                last_beat = Some(Instant::now());
                if let Some(at) = &s.master {
                    if !super::connect::still_master(settings, at) {
                        return Err(format!(
                            "the sentinels no longer name {}:{} the master",
                            at.0, at.1
                        ));
                    }
                }
            }
            active.extend(link.woken.try_iter().map(|bucket| Active {
                bucket,
                idle: 0,
                left: u64::MAX,
            }));
            for q in link.woken_quotas.try_iter() {
                quotas.add(q);
            }
            let settling = settle_until.is_some_and(|t| Instant::now() < t);
            sync(s, link, &mut active, &mut quotas, settling)?;
            publish_usage(s, link, &mut usage)?;
            outbox.publish(&mut s.conn, settings)
        })();
        match outcome {
            Ok(()) => {
                if let Some(seen) = adopt.take() {
                    epoch = Some(seen);
                }
                if !link.set_healthy(true) {
                    tracing::info!(redis = %settings.redis_shown(), nodes = link.nodes(), "cluster: Redis reached; limits are shared with the fleet");
                }
                last_error.clear();
            }
            Err(e) => {
                session = None;
                adopt = None;
                last_beat = None;
                link.errors.fetch_add(1, Ordering::Relaxed);
                // Buckets spend the node's share until Redis answers again, then wake anew.
                for a in active.drain(..) {
                    if let Some(f) = a.bucket.fleet() {
                        f.retire();
                    }
                }
                // Quotas spend their share of what was left; one that reserves beyond its
                // allowance meanwhile queues itself, and is reported on reconnection.
                quotas.retire(true);
                if link.set_healthy(false) || last_error.is_empty() {
                    link.fallbacks.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(redis = %settings.redis_shown(), nodes = link.nodes(), "cluster: Redis unreachable ({e}); enforcing this node's share (1/{}) of every limit until it returns", link.nodes());
                }
                last_error = e;
            }
        }
        let pause = if link.healthy() {
            settings.sync_interval
        } else {
            // Reconnect attempts: often enough to rejoin quickly, not a busy loop.
            settings.sync_interval.max(Duration::from_millis(100))
        };
        if let Some(left) = pause.checked_sub(tick.elapsed()) {
            // A pool ran dry or a bucket woke: sync early (but not within MIN_GAP).
            // While Redis is away a hurry changes nothing (a quota re-queued by its retirement
            // would otherwise turn the reconnect pause into a busy loop).
            let hurried = if link.healthy() {
                link.nudged.recv_timeout(left).is_ok()
            } else {
                std::thread::sleep(left);
                false
            };
            if let Some(gap) = MIN_GAP.checked_sub(tick.elapsed()).filter(|_| hurried) {
                std::thread::sleep(gap);
            }
        }
    }
}

/// An [`open`](super::connect::open) connection with the scripts loaded (again after a
/// Redis restart, which forgets them).
fn connect(settings: &ClusterSettings) -> Result<Session, String> {
    let (mut conn, master) = super::connect::open_master(settings).map_err(|e| e.to_string())?;
    let load = |conn: &mut redis::Connection, script: &str| -> Result<String, String> {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(script)
            .query(conn)
            .map_err(|e| e.to_string())
    };
    let lease = load(&mut conn, LEASE)?;
    let heartbeat = load(&mut conn, HEARTBEAT)?;
    let quota = load(&mut conn, QUOTA)?;
    Ok(Session {
        conn,
        master,
        lease,
        heartbeat,
        quota,
    })
}

/// On each (re)connection: whether the fleet's books are the ones this node wrote to before.
/// A marker key holds a random *epoch*, set by the first node to find it missing; a new
/// epoch (the node's first connection, or Redis restarted empty, or a failover that lost
/// writes) means the books may lack this node's part, so it republishes its usage of the
/// last 90 days from its store and reports every quota it reserved in (totals, so nothing
/// is counted twice). Returns the new epoch, and whether the books were lost (not the node's
/// first connection): until every node has reported again (one node TTL), the books
/// under-count, so quotas report without asking for more.
fn rejoin(
    s: &mut Session,
    link: &Link,
    traffic: &TrafficNode,
    epoch: &Option<String>,
    quotas: &mut QuotaList,
) -> Result<Option<(String, bool)>, String> {
    let marker = format!("{}epoch", link.key_prefix);
    // Real time, not the node's clock (a frozen test clock would repeat itself).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let fresh = format!("{}-{}-{nanos}", link.node_id, std::process::id());
    let (seen,): (String,) = redis::pipe()
        .cmd("SET")
        .arg(&marker)
        .arg(&fresh)
        .arg("NX")
        .ignore()
        .cmd("GET")
        .arg(&marker)
        .query(&mut s.conn)
        .map_err(|e| e.to_string())?;
    // What this node learnt of quotas off its list predates the outage: should Redis go
    // away again, they get the blind margin, not their part of an old remainder.
    for q in traffic.quotas() {
        if let (Some(f), false) = (q.fleet(), quotas.contains(&q)) {
            f.knowledge_aged(link.nodes());
        }
    }
    if epoch.as_deref() == Some(seen.as_str()) {
        return Ok(None);
    }
    let today = traffic.clock().unix_day();
    let rows = traffic
        .usage_since(today.saturating_sub(90))
        .map_err(|e| e.to_string())?;
    let republished = rows.len();
    for (key, plan, day, requests) in rows {
        link.publish_usage(super::UsageTotal {
            plan,
            key,
            day,
            requests,
        });
    }
    for q in traffic.quotas() {
        if q.fleet().is_some() && q.reserved().1 > 0 {
            quotas.add(q);
        }
    }
    let lost = epoch.is_some();
    if lost {
        tracing::warn!(
            republished,
            "cluster: the fleet's books in Redis are new (restarted empty?); this node's usage and quotas are reported again"
        );
    }
    Ok(Some((seen, lost)))
}

/// Writes the usage totals the flusher queued to the fleet's book, in one pipeline; kept
/// for the next sync when Redis fails.
fn publish_usage(s: &mut Session, link: &Link, usage: &mut Pending) -> Result<(), String> {
    usage.collect(link);
    if usage.is_empty() {
        return Ok(());
    }
    // In pieces, so that a republish of 90 days never holds up a sync for long (nor fails
    // the read timeout again and again).
    let mut pipe = redis::pipe();
    let written = usage.write_into(&mut pipe, link, USAGE_PER_SYNC);
    pipe.query::<()>(&mut s.conn).map_err(|e| e.to_string())?;
    usage.written(&written);
    Ok(())
}

/// Tops up every active bucket's pool to what its demand needs, in one pipeline; drops
/// buckets idle for [`IDLE_SYNCS`] syncs.
fn sync(
    s: &mut Session,
    link: &Link,
    active: &mut Vec<Active>,
    quotas: &mut QuotaList,
    settling: bool,
) -> Result<(), String> {
    let nodes = link.nodes();
    let mut pipe = redis::pipe();
    let mut asked: Vec<(usize, u64)> = Vec::new();
    let asked_quotas = ask_quotas(s, link, &mut quotas.items, settling, &mut pipe);
    for (i, a) in active.iter_mut().enumerate() {
        let Some(f) = a.bucket.fleet() else {
            continue;
        };
        let demand = f.take_wanted();
        a.idle = if demand > 0 { 0 } else { a.idle + 1 };
        let need = need(&a.bucket, f.pool(), demand, a.left, nodes);
        let spent = f.take_cold_spent();
        // A woken bucket gets a lease (perhaps of nothing) so that it turns warm.
        if need == 0 && spent == 0 && f.is_warm() {
            continue;
        }
        let (interval_ns, tolerance_ns) = a.bucket.gcra();
        pipe.cmd("EVALSHA")
            .arg(&s.lease)
            .arg(1)
            .arg(&*f.key)
            .arg(interval_ns as f64 / 1000.0)
            .arg(tolerance_ns as f64 / 1000.0)
            .arg(need)
            .arg(spent);
        asked.push((i, spent));
    }
    if !asked.is_empty() || !asked_quotas.is_empty() {
        let mut granted: Vec<(u64, u64)> = match pipe.query(&mut s.conn) {
            Ok(g) => g,
            Err(e) => {
                // Charged next time (on this connection's successor).
                for &(i, spent) in &asked {
                    if let Some(f) = active[i].bucket.fleet() {
                        f.uncharged(spent);
                    }
                }
                return Err(e.to_string());
            }
        };
        link.syncs.fetch_add(1, Ordering::Relaxed);
        // The quotas' calls went into the pipeline first.
        let for_buckets = granted.split_off(asked_quotas.len());
        answer_quotas(&quotas.items, &asked_quotas, &granted, nodes);
        quotas.retire(false);
        for (&(i, _), (n, left)) in asked.iter().zip(for_buckets) {
            active[i].left = left;
            if let Some(f) = active[i].bucket.fleet() {
                // Every node may borrow its part of what is left until its next sync.
                f.granted(n, left / nodes);
            }
        }
    }
    active.retain(|a| {
        let keep = a.idle < IDLE_SYNCS;
        if !keep {
            if let Some(f) = a.bucket.fleet() {
                f.retire();
            }
        }
        keep
    });
    Ok(())
}

/// What a quota on the list asks of its book in this sync.
struct QuotaAsk {
    /// Index in the list.
    at: usize,
    period: u32,
    /// Giving back the unreserved allowance (the quota goes quiet).
    release: bool,
}

/// Adds a QUOTA call to `pipe` for every listed quota that needs one: it reserved beyond
/// its allowance (the book must hear of it), was refused, or its allowance no longer covers
/// two syncs of demand; a quota quiet for [`IDLE_SYNCS`] gives back what it holds unreserved
/// and leaves the list. While `settling`, quotas report and ask for nothing.
fn ask_quotas(
    s: &Session,
    link: &Link,
    quotas: &mut [ActiveQuota],
    settling: bool,
    pipe: &mut redis::Pipeline,
) -> Vec<QuotaAsk> {
    let nodes = link.nodes();
    let mut asks = Vec::new();
    for (at, a) in quotas.iter_mut().enumerate() {
        let Some(f) = a.quota.fleet() else {
            continue;
        };
        let spec = a.quota.spec();
        let (period, reserved) = a.quota.reserved();
        let (granted_for, allowance) = f.allowance();
        let allowance = if granted_for == period { allowance } else { 0 };
        let since = if a.last.0 == period { a.last.1 } else { 0 };
        // A spent quota's refusals are no demand: nothing is left to lease.
        let spent = f.spent(period);
        let dry = f.is_dry() && !spent;
        let demand = reserved.saturating_sub(since) + u64::from(dry);
        a.last = (period, reserved);
        a.idle = if demand > 0 { 0 } else { a.idle + 1 };
        let release = a.idle >= IDLE_SYNCS;
        let headroom = allowance.saturating_sub(reserved);
        let low = demand
            .saturating_mul(2)
            .max(blind_margin(spec.limit, nodes));
        let want = if release || settling || spent || headroom >= low {
            0
        } else {
            demand.saturating_mul(AHEAD).max(low) - headroom
        };
        let unreported = reserved > allowance || granted_for != period;
        // A listed quota hears from its book at least every LOOK_SYNCS, so that what it
        // would spend with Redis gone is its part of what is really left.
        a.quiet += 1;
        if want == 0 && !unreported && !release && a.quiet < LOOK_SYNCS {
            continue;
        }
        a.quiet = 0;
        if release {
            f.release(period, reserved);
            a.leaving = true;
        }
        tracing::debug!(key = %f.key, period, reserved, allowance, want, release, "quota ask");
        pipe.cmd("EVALSHA")
            .arg(&s.quota)
            .arg(1)
            .arg(format!("{}{period}", f.key))
            .arg(&link.node_id)
            .arg(reserved)
            .arg(want)
            .arg(spec.limit)
            .arg(if release { "1" } else { "0" })
            .arg(book_lifetime_ms(spec.period))
            .arg(nodes);
        asks.push(QuotaAsk {
            at,
            period,
            release,
        });
    }
    asks
}

fn answer_quotas(quotas: &[ActiveQuota], asks: &[QuotaAsk], answers: &[(u64, u64)], nodes: u64) {
    for (ask, &(allowance, fleet_used)) in asks.iter().zip(answers) {
        if let Some(f) = quotas[ask.at].quota.fleet() {
            tracing::debug!(key = %f.key, allowance, fleet_used, "quota answer");
            f.granted(ask.period, allowance, fleet_used, nodes);
            if ask.release {
                f.knowledge_aged(nodes);
            }
        }
    }
}

/// How long a quota's book lives after its last write: the period plus a day (so it outlives
/// its period whatever the traffic).
fn book_lifetime_ms(period: Period) -> u64 {
    let days = match period {
        Period::Day => 2,
        Period::Week => 8,
        Period::Month => 32,
    };
    days * 86_400_000
}

/// Syncs' worth of demand a lease covers while the fleet's bucket has plenty to spare: fewer
/// round trips for limits far from being reached (the worker's CPU and Redis's load per
/// request fall by this factor), at the cost of tokens held a little longer.
const AHEAD: u64 = 8;

/// Tokens to lease now: none while the pool holds twice the last interval's demand (and the
/// reserve); else enough for [`AHEAD`] intervals when the fleet's bucket held that much for
/// every node at the last lease, or for two intervals when it is close to empty. The reserve
/// (a quarter of the node's share of the burst) lets a quiet bucket answer a small burst at
/// once. Never more than the burst.
fn need(bucket: &Bucket, pool: u64, demand: u64, left: u64, nodes: u64) -> u64 {
    let burst = bucket.limit().burst.max(1);
    let reserve = crate::throttle::bucket::cold_allowance(burst, nodes);
    let low = demand.saturating_mul(2).max(reserve).min(burst);
    if pool >= low {
        return 0;
    }
    let ahead = demand.saturating_mul(AHEAD);
    let high = if left >= ahead.saturating_mul(nodes) {
        ahead.max(low).min(burst)
    } else {
        low
    };
    high - pool
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::Limit;

    #[test]
    fn leases_follow_demand_between_a_reserve_and_the_burst() {
        let b = Bucket::new(
            Limit {
                rate: 1000.0,
                burst: 400,
            },
            2,
        );
        let plenty = u64::MAX;
        // Quiet: the reserve, a quarter of the node's half of the burst.
        assert_eq!(need(&b, 0, 0, plenty, 2), 50);
        assert_eq!(need(&b, 50, 0, plenty, 2), 0);
        // Busy, the fleet far from its limit: eight intervals ahead.
        assert_eq!(need(&b, 0, 40, plenty, 2), 320);
        assert_eq!(need(&b, 80, 40, plenty, 2), 0);
        // Busy, the fleet nearly empty: two intervals.
        assert_eq!(need(&b, 0, 40, 100, 2), 80);
        // Never beyond the burst.
        assert_eq!(need(&b, 0, 1000, plenty, 2), 400);
        assert_eq!(need(&b, 0, 0, plenty, 1000), 1);
    }
}
