//! One shard's share of one stage's cache: an LRU of complete responses, bounded by bytes.
//!
//! Why `lru` and not TinyLFU: a shard is single-threaded, so the cache needs no
//! synchronisation at all, and `lru::LruCache` is a small, well-kept, `unsafe`-audited
//! intrusive list + hash map with O(1) `get`/`put`/`pop_lru` and no background work. The
//! TinyLFU crates (`moka`, `mini-moka`) are built for concurrent use (atomics, epoch GC,
//! housekeeping threads) that a shard would pay for on every hit. API Gateway responses are
//! usually a small hot set behind TTLs of minutes, where LRU keeps the hot set well; a scan of
//! one-off keys can push it out, which is the known trade-off.
//!
//! Memory is bounded by counting what each entry really holds (key, status line, headers,
//! body, plus a fixed overhead for the list node, map slot and `Rc`), and evicting least
//! recently used entries until the total fits.

use std::rc::Rc;

use lru::LruCache;

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

/// An LRU of responses bounded by `capacity` bytes.
pub struct Partition {
    entries: LruCache<u64, Rc<CachedResponse>>,
    used: usize,
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
            .field("entries", &self.entries.len())
            .field("used", &self.used)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Partition {
    /// An empty partition of `capacity` bytes.
    pub fn new(capacity: usize, fingerprint: u64, flush_epoch: u64) -> Self {
        Partition {
            entries: LruCache::unbounded(),
            used: 0,
            capacity,
            fingerprint,
            flush_epoch,
        }
    }

    /// The live entry for `key` (hash `hash`), marked most recently used; an expired entry is
    /// removed and reported as absent.
    pub fn get(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Option<Rc<CachedResponse>> {
        let entry = self.entries.get(&hash)?;
        if *entry.key != *key {
            return None;
        }
        if entry.expires_at_ms <= now_ms {
            self.remove(hash);
            return None;
        }
        Some(Rc::clone(entry))
    }

    /// Stores `entry` under `hash`, replacing what was there, then evicts least recently used
    /// entries until the partition fits. An entry larger than the whole capacity is refused.
    pub fn insert(&mut self, hash: u64, entry: CachedResponse) -> bool {
        let charge = entry.charge();
        if charge > self.capacity {
            return false;
        }
        if let Some(old) = self.entries.put(hash, Rc::new(entry)) {
            self.used -= old.charge();
        }
        self.used += charge;
        while self.used > self.capacity {
            match self.entries.pop_lru() {
                Some((_, old)) => self.used -= old.charge(),
                None => break,
            }
        }
        true
    }

    /// Drops one entry.
    pub fn remove(&mut self, hash: u64) {
        if let Some(old) = self.entries.pop(&hash) {
            self.used -= old.charge();
        }
    }

    /// Drops every entry (flush, changed settings).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.used = 0;
    }

    /// Changes the capacity (settings changed), evicting as needed.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.used > self.capacity {
            match self.entries.pop_lru() {
                Some((_, old)) => self.used -= old.charge(),
                None => break,
            }
        }
    }

    /// Bytes currently charged.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
