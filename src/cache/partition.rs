//! One shard's share of one stage's cache: a segmented LRU of complete responses, bounded
//! by bytes.
//!
//! Segmented LRU (SLRU): a new entry enters the *probation* segment; a hit there promotes it
//! to the *protected* segment (at most 80 % of the bytes), whose least recently used entries
//! fall back to probation. Eviction takes probation's oldest first, so a scan of one-off keys
//! (a crawler walking `?page=1..N`) churns probation and leaves the entries that were asked
//! for twice in place — the hot-set protection TinyLFU is used for, at LRU's cost.
//!
//! Why two `lru::LruCache`s and not a TinyLFU crate: a shard is single-threaded, so the cache
//! needs no synchronisation at all, and `lru` is a small, well-kept intrusive list + hash map
//! with O(1) `get`/`put`/`pop_lru` and no background work. The TinyLFU crates (`moka`,
//! `mini-moka`) are built for concurrent use (atomics, epoch GC, housekeeping threads) that a
//! shard would pay for on every hit.
//!
//! Memory is bounded by counting what each entry really holds (key, status line, headers,
//! body, plus a fixed overhead for the list node, map slot and `Rc`), and evicting until the
//! total fits.

use std::rc::Rc;

use lru::LruCache;

/// Share of a partition's bytes the protected segment may hold, in percent.
const PROTECTED_PERCENT: usize = 80;

/// Bytes charged per entry on top of its key, headers and body: the `Rc` header, the
/// `CachedResponse` struct, the LRU list node and the hash-map slot.
pub const ENTRY_OVERHEAD: usize = 160;

/// A complete response as it will be replayed on a hit (without `Date`, `x-amzn-RequestId`,
/// framing and connection headers, which the response filter writes fresh for every hit).
#[derive(Debug)]
pub struct CachedResponse {
    /// The full cache key, compared on lookup so that two keys with one hash never mix.
    pub key: Box<[u8]>,
    /// Status code.
    pub status: u16,
    /// Reason phrase as the backend sent it.
    pub reason: Box<[u8]>,
    /// End-to-end header lines (`Name: value\r\n` ...), as relayed to the first client.
    pub headers: Box<[u8]>,
    /// The body, de-chunked.
    pub body: Box<[u8]>,
    /// True for statuses that carry no body (204, 304): replayed without framing headers.
    pub no_body: bool,
    /// Expiry on the cache clock, in milliseconds.
    pub expires_at_ms: u64,
}

impl CachedResponse {
    /// Bytes this entry is charged against the partition's capacity.
    pub fn charge(&self) -> usize {
        self.key.len() + self.reason.len() + self.headers.len() + self.body.len() + ENTRY_OVERHEAD
    }
}

/// A segmented LRU of responses bounded by `capacity` bytes.
pub struct Partition {
    probation: LruCache<u64, Rc<CachedResponse>>,
    protected: LruCache<u64, Rc<CachedResponse>>,
    probation_bytes: usize,
    protected_bytes: usize,
    capacity: usize,
    /// What the partition was built for (stage cache settings and deployment); a different
    /// fingerprint in a new snapshot drops the contents.
    pub fingerprint: u64,
    /// The flush epoch of the stage this partition has applied.
    pub flush_epoch: u64,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("entries", &self.len())
            .field("used", &self.used_bytes())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Partition {
    /// An empty partition of `capacity` bytes.
    pub fn new(capacity: usize, fingerprint: u64, flush_epoch: u64) -> Self {
        Partition {
            probation: LruCache::unbounded(),
            protected: LruCache::unbounded(),
            probation_bytes: 0,
            protected_bytes: 0,
            capacity,
            fingerprint,
            flush_epoch,
        }
    }

    /// The live entry for `key` (hash `hash`), marked most recently used (and promoted to the
    /// protected segment on its first hit); an expired entry is removed and reported absent.
    pub fn get(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Option<Rc<CachedResponse>> {
        let entry = match self.protected.get(&hash) {
            Some(entry) => Rc::clone(entry),
            None => Rc::clone(self.probation.peek(&hash)?),
        };
        if *entry.key != *key {
            return None;
        }
        if entry.expires_at_ms <= now_ms {
            self.remove(hash);
            return None;
        }
        if let Some(promoted) = self.probation.pop(&hash) {
            self.probation_bytes -= promoted.charge();
            self.protected_bytes += promoted.charge();
            self.protected.put(hash, promoted);
            self.demote_overflow();
        }
        Some(entry)
    }

    /// Stores `entry` under `hash` (in probation), replacing what was there, then evicts until
    /// the partition fits. An entry larger than the whole capacity is refused.
    pub fn insert(&mut self, hash: u64, entry: CachedResponse) -> bool {
        let charge = entry.charge();
        if charge > self.capacity {
            return false;
        }
        self.remove(hash);
        self.probation.put(hash, Rc::new(entry));
        self.probation_bytes += charge;
        self.evict_overflow();
        true
    }

    /// Drops one entry.
    pub fn remove(&mut self, hash: u64) {
        if let Some(old) = self.probation.pop(&hash) {
            self.probation_bytes -= old.charge();
        }
        if let Some(old) = self.protected.pop(&hash) {
            self.protected_bytes -= old.charge();
        }
    }

    /// Drops every entry (flush, changed settings).
    pub fn clear(&mut self) {
        self.probation.clear();
        self.protected.clear();
        self.probation_bytes = 0;
        self.protected_bytes = 0;
    }

    /// Changes the capacity (settings changed), evicting as needed.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.demote_overflow();
        self.evict_overflow();
    }

    /// Moves protected entries beyond the protected share back to probation (most recent
    /// there: they were hot not long ago).
    fn demote_overflow(&mut self) {
        let limit = self.capacity / 100 * PROTECTED_PERCENT;
        while self.protected_bytes > limit {
            let Some((hash, entry)) = self.protected.pop_lru() else {
                break;
            };
            self.protected_bytes -= entry.charge();
            self.probation_bytes += entry.charge();
            self.probation.put(hash, entry);
        }
    }

    /// Evicts probation's oldest, then protected's oldest, until the partition fits.
    fn evict_overflow(&mut self) {
        while self.used_bytes() > self.capacity {
            if let Some((_, old)) = self.probation.pop_lru() {
                self.probation_bytes -= old.charge();
            } else if let Some((_, old)) = self.protected.pop_lru() {
                self.protected_bytes -= old.charge();
            } else {
                break;
            }
        }
    }

    /// Bytes currently charged.
    pub fn used_bytes(&self) -> usize {
        self.probation_bytes + self.protected_bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.probation.len() + self.protected.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, body_len: usize, expires_at_ms: u64) -> CachedResponse {
        CachedResponse {
            key: key.as_bytes().into(),
            status: 200,
            reason: b"OK"[..].into(),
            headers: b"Content-Type: text/plain\r\n"[..].into(),
            body: vec![b'x'; body_len].into(),
            no_body: false,
            expires_at_ms,
        }
    }

    #[test]
    fn hit_until_expiry() {
        let mut p = Partition::new(1 << 20, 0, 0);
        assert!(p.insert(1, entry("a", 10, 1000)));
        assert!(p.get(1, b"a", 999).is_some());
        assert!(p.get(1, b"a", 1000).is_none());
        assert!(p.is_empty(), "expired entries are dropped on sight");
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn hash_collisions_never_answer_another_key() {
        let mut p = Partition::new(1 << 20, 0, 0);
        p.insert(7, entry("GET /a", 1, u64::MAX));
        assert!(p.get(7, b"GET /b", 0).is_none());
        assert_eq!(&*p.get(7, b"GET /a", 0).unwrap().key, b"GET /a");
    }

    #[test]
    fn eviction_keeps_memory_under_capacity_and_the_hot_set() {
        let one = entry("k000", 1000, u64::MAX).charge();
        let capacity = one * 10;
        let mut p = Partition::new(capacity, 0, 0);
        for i in 0..100u64 {
            p.insert(i, entry(&format!("k{i:03}"), 1000, u64::MAX));
            // Key 0 is hot: it is read after every insert.
            if i > 0 {
                assert!(p.get(0, b"k000", 0).is_some(), "hot key evicted at {i}");
            }
            assert!(
                p.used_bytes() <= capacity,
                "{} > {capacity}",
                p.used_bytes()
            );
        }
        assert_eq!(p.len(), 10);
        assert!(p.get(99, b"k099", 0).is_some());
        assert!(p.get(50, b"k050", 0).is_none());
    }

    #[test]
    fn a_scan_of_one_off_keys_does_not_evict_entries_hit_twice() {
        let one = entry("k000", 1000, u64::MAX).charge();
        let mut p = Partition::new(one * 10, 0, 0);
        for i in 0..3u64 {
            p.insert(i, entry(&format!("k{i:03}"), 1000, u64::MAX));
            assert!(p.get(i, format!("k{i:03}").as_bytes(), 0).is_some());
        }
        // A crawler: 100 keys, each asked for once, none of them touching the hot three.
        for i in 100..200u64 {
            p.insert(i, entry(&format!("k{i:03}"), 1000, u64::MAX));
            assert!(p.used_bytes() <= one * 10);
        }
        for i in 0..3u64 {
            assert!(
                p.get(i, format!("k{i:03}").as_bytes(), 0).is_some(),
                "hot key {i} evicted"
            );
        }
        assert_eq!(p.len(), 10);
    }

    #[test]
    fn protected_share_is_bounded_and_overflow_returns_to_probation() {
        let one = entry("k000", 1000, u64::MAX).charge();
        let mut p = Partition::new(one * 10, 0, 0);
        for i in 0..10u64 {
            p.insert(i, entry(&format!("k{i:03}"), 1000, u64::MAX));
            p.get(i, format!("k{i:03}").as_bytes(), 0);
        }
        assert!(p.protected_bytes <= one * 10 / 100 * PROTECTED_PERCENT);
        assert_eq!(p.len(), 10, "demoted entries are kept, not dropped");
        assert_eq!(p.used_bytes(), one * 10);
    }

    #[test]
    fn replacing_an_entry_recharges_it() {
        let mut p = Partition::new(1 << 20, 0, 0);
        p.insert(1, entry("a", 100, u64::MAX));
        p.insert(1, entry("a", 10, u64::MAX));
        assert_eq!(p.used_bytes(), entry("a", 10, 0).charge());
        p.remove(1);
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn oversized_entries_are_refused_and_shrinking_evicts() {
        let mut p = Partition::new(500, 0, 0);
        assert!(!p.insert(1, entry("a", 1000, u64::MAX)));
        assert!(p.is_empty());
        p.set_capacity(10_000);
        for i in 0..5 {
            p.insert(i, entry("k", 1000, u64::MAX));
        }
        p.set_capacity(2500);
        assert!(p.used_bytes() <= 2500);
        p.clear();
        assert_eq!((p.len(), p.used_bytes()), (0, 0));
    }
}
