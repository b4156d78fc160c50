//! API keys: lookup of the `x-api-key` value in constant time per candidate (access logs mask
//! keys with `pipeline::context::MaskedKey`).
//!
//! Keys are found through a hash of the value under a per-process random seed (so the table's
//! layout reveals nothing useful to a client), then compared in full with
//! `subtle::ConstantTimeEq`, so the time a comparison takes does not depend on how many
//! leading bytes of a guess were right.

use ahash::{AHashMap, RandomState};
use subtle::ConstantTimeEq;

/// One configured key, as the data plane needs it.
#[derive(Debug)]
pub struct ApiKey {
    /// Key id (`keyId` in AWS's usage reports); stable across reloads and restarts, so usage
    /// counters follow the key, not its position in the files.
    pub id: Box<str>,
    /// The secret sent in `x-api-key`.
    pub value: Box<[u8]>,
    /// Disabled keys are answered 403 like unknown ones.
    pub enabled: bool,
}

/// Every key of the configuration, indexed for lookup by value.
#[derive(Debug)]
pub struct KeyTable {
    keys: Vec<ApiKey>,
    by_hash: AHashMap<u64, Vec<u32>>,
    hasher: RandomState,
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable::new(Vec::new())
    }
}

impl KeyTable {
    /// Indexes `keys`; a key's index in the table is its position in `keys`.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        let hasher = RandomState::new();
        let mut by_hash: AHashMap<u64, Vec<u32>> = AHashMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_hash
                .entry(hasher.hash_one(&*k.value))
                .or_default()
                .push(i as u32);
        }
        KeyTable {
            keys,
            by_hash,
            hasher,
        }
    }

    /// Index of the key whose value is `sent`, if any (enabled or not).
    pub fn find(&self, sent: &[u8]) -> Option<u32> {
        let candidates = self.by_hash.get(&self.hasher.hash_one(sent))?;
        candidates.iter().copied().find(|&i| {
            let stored = &self.keys[i as usize].value;
            stored.len() == sent.len() && bool::from(stored.ct_eq(sent))
        })
    }

    /// The key at `index`.
    pub fn get(&self, index: u32) -> Option<&ApiKey> {
        self.keys.get(index as usize)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, value: &str, enabled: bool) -> ApiKey {
        ApiKey {
            id: id.into(),
            value: value.as_bytes().into(),
            enabled,
        }
    }

    #[test]
    fn finds_keys_by_exact_value_only() {
        let t = KeyTable::new(vec![
            key("a", "aaaaaaaaaaaaaaaaaaaaaaaa", true),
            key("b", "bbbbbbbbbbbbbbbbbbbbbbbb", false),
        ]);
        assert_eq!(t.find(b"aaaaaaaaaaaaaaaaaaaaaaaa"), Some(0));
        assert_eq!(t.find(b"bbbbbbbbbbbbbbbbbbbbbbbb"), Some(1));
        assert_eq!(t.find(b"aaaaaaaaaaaaaaaaaaaaaaa"), None);
        assert_eq!(t.find(b""), None);
        assert!(!t.get(1).unwrap().enabled);
    }
}
