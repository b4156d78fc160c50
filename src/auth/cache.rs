//! Each shard's caches of authorization results: Lambda authorizer grants
//! (`authorizerResultTtlInSeconds`), verified tokens of JWT authorizers, and SigV4 signing
//! keys of IAM callers; one [`TtlCache`] type for all three.
//!
//! Lambda grants:
//! Keyed by the authorizer's scope (API, stage, authorizer, settings) and its identity source
//! values, as AWS keys it ("API Gateway uses the specified identity sources as the request
//! authorizer caching key", developer guide); the whole grant is kept, and its policy is
//! evaluated again for every method ARN it is used for, so a policy cached for one path
//! allows another only if its resources cover it. Per shard, like the stage cache: no lock
//! and no shared line on the request path; a caller whose requests land on two shards may be
//! authorized once per shard, which only costs an extra invocation. Bounded in bytes, least
//! recently used out first; entries expire on the node's clock (the test clock in tests).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lru::LruCache;

use super::lambda::Grant;
use crate::clock::Clock;

/// Bytes a shard's authorizer cache may hold by default.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;

/// A shard's Lambda authorizer grants.
pub type DecisionCache = TtlCache<Grant>;

/// What a cached value weighs, for the byte bound.
pub trait Weigh {
    /// Bytes held (an estimate).
    fn size(&self) -> usize;
}

impl Weigh for Grant {
    /// Bytes the grant holds, for the cache's bound (an estimate: strings plus a fixed cost
    /// per statement).
    fn size(&self) -> usize {
        let strings: usize = self
            .context
            .iter()
            .map(|(k, v)| k.len() + v.len() + 32)
            .sum();
        std::mem::size_of::<Grant>()
            + self.principal_id.len()
            + self.usage_identifier_key.as_ref().map_or(0, |k| k.len())
            + strings
            + self.policy.statement_count() * 256
    }
}

struct Entry<V> {
    value: Rc<V>,
    expires_ms: u64,
    size: usize,
}

/// A shard-local cache: string keys, values shared by `Rc`, a TTL per entry on the node's
/// clock, a byte bound with least-recently-used eviction.
pub struct TtlCache<V> {
    entries: RefCell<LruCache<Box<str>, Entry<V>, ahash::RandomState>>,
    bytes: Cell<usize>,
    max_bytes: usize,
    clock: Clock,
}

impl<V: Weigh> TtlCache<V> {
    /// An empty cache of at most `max_bytes`, expiring on `clock`.
    pub fn new(clock: Clock, max_bytes: usize) -> Self {
        TtlCache {
            entries: RefCell::new(LruCache::unbounded_with_hasher(ahash::RandomState::new())),
            bytes: Cell::new(0),
            max_bytes,
            clock,
        }
    }

    /// The value cached under `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<Rc<V>> {
        let now = self.clock.mono_ms();
        let mut entries = self.entries.borrow_mut();
        let entry = entries.get(key)?;
        if now < entry.expires_ms {
            return Some(Rc::clone(&entry.value));
        }
        if let Some(gone) = entries.pop(key) {
            self.bytes.set(self.bytes.get() - gone.size);
        }
        None
    }

    /// Keeps `value` under `key` for `ttl_ms`, evicting the least recently used entries past
    /// the byte bound.
    pub fn put(&self, key: &str, value: Rc<V>, ttl_ms: u64) {
        let size = value.size() + key.len() + 64;
        if size > self.max_bytes {
            return;
        }
        let entry = Entry {
            value,
            expires_ms: self.clock.mono_ms().saturating_add(ttl_ms),
            size,
        };
        let mut entries = self.entries.borrow_mut();
        let mut bytes = self.bytes.get() + size;
        if let Some(old) = entries.put(key.into(), entry) {
            bytes -= old.size;
        }
        while bytes > self.max_bytes {
            match entries.pop_lru() {
                Some((_, old)) => bytes -= old.size,
                None => break,
            }
        }
        self.bytes.set(bytes);
    }

    /// Entries held (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::lambda::parse_result;

    fn grant(principal: &str) -> Rc<Grant> {
        let raw = format!(
            r#"{{"principalId":"{principal}","policyDocument":{{"Statement":[{{"Effect":"Allow","Action":"*","Resource":"*"}}]}}}}"#
        );
        Rc::new(parse_result(raw.as_bytes()).unwrap())
    }

    #[test]
    fn entries_expire_on_the_clock() {
        let clock = Clock::fixed(1_000_000);
        let cache = DecisionCache::new(clock.clone(), DEFAULT_MAX_BYTES);
        cache.put("a", grant("alice"), 300_000);
        clock.advance_ms(299_999);
        assert_eq!(&*cache.get("a").unwrap().principal_id, "alice");
        clock.advance_ms(1);
        assert!(cache.get("a").is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_byte_bound_evicts_the_least_recently_used() {
        let clock = Clock::fixed(0);
        let one = grant("x").size() + 1 + 64;
        let cache = DecisionCache::new(clock, one * 2);
        cache.put("a", grant("x"), 1000);
        cache.put("b", grant("x"), 1000);
        assert!(cache.get("a").is_some()); // b is now the least recently used
        cache.put("c", grant("x"), 1000);
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert!(cache.bytes() <= one * 2);
        cache.put("a", grant("y"), 1000);
        assert_eq!(cache.len(), 2);
        assert_eq!(&*cache.get("a").unwrap().principal_id, "y");
    }
}
