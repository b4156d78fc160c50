//! Stable numbering of metric series (`api`, `stage`, `method`, `resource`).
//!
//! The configuration compiler gives every stage method a series id; shards index their
//! counter tables with it, so the request path does an array index and never hashes or
//! allocates. Ids are interned for the life of the process: the same labels get the same id in
//! every snapshot, so counters carry on across reloads, and series a reload removed keep their
//! totals (Prometheus counters must not go backwards while the process lives).
//!
//! The interner is process-wide (not created in `server::run`) because `config::load` compiles
//! snapshots without a handle to the running node; it is touched only when a configuration is
//! compiled and when `/metrics` is scraped, never by a shard.

use std::sync::{Mutex, OnceLock};

use ahash::AHashMap;

/// Most series a process numbers; further label sets share the last id (and a warning is
/// logged) so that a runaway configuration cannot exhaust memory.
pub const MAX_SERIES: u32 = 64 * 1024;

/// Labels of one series. A stage's requests that matched no method use [`NO_METHOD`] for
/// `method` and `resource`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// API id.
    pub api: Box<str>,
    /// Stage name.
    pub stage: Box<str>,
    /// Method as configured (`GET`, `ANY`).
    pub method: Box<str>,
    /// Resource path as configured.
    pub resource: Box<str>,
}

/// `method` and `resource` label of a stage's requests that matched no method (403 Missing
/// Authentication Token): AWS counts those in the stage's metrics but under no method.
pub const NO_METHOD: &str = "-";

/// Series ids of one stage, looked up per request by the routed method's slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSeries {
    /// Series of the stage's methods, indexed by `Method::index`.
    pub methods: Box<[u32]>,
    /// Series of the stage's requests that matched no method.
    pub unmatched: u32,
}

impl StageSeries {
    /// Series of the method in `slot` (the stage's unmatched series for an unknown slot).
    pub fn method(&self, slot: u32) -> u32 {
        self.methods
            .get(slot as usize)
            .copied()
            .unwrap_or(self.unmatched)
    }
}

#[derive(Default)]
struct Interner {
    ids: AHashMap<SeriesKey, u32>,
    keys: Vec<SeriesKey>,
}

fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(Mutex::default)
}

/// The id of a series, numbering it if it is new.
pub fn intern(api: &str, stage: &str, method: &str, resource: &str) -> u32 {
    let key = SeriesKey {
        api: api.into(),
        stage: stage.into(),
        method: method.into(),
        resource: resource.into(),
    };
    let mut interner = interner().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = interner.ids.get(&key) {
        return id;
    }
    let next = interner.keys.len() as u32;
    if next >= MAX_SERIES {
        tracing::warn!("more than {MAX_SERIES} metric series: further methods share the last one");
        return MAX_SERIES - 1;
    }
    interner.ids.insert(key.clone(), next);
    interner.keys.push(key);
    next
}

/// Every series numbered so far, in id order (scrape side).
pub fn all() -> Vec<SeriesKey> {
    interner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys
        .clone()
}

/// The series of a stage: one per method slot (`methods[i]` is the resource and method of slot
/// `i`), plus the stage's unmatched series.
pub fn stage_series<'a>(
    api: &str,
    stage: &str,
    methods: impl IntoIterator<Item = (u32, &'a str, &'a str)>,
) -> StageSeries {
    let unmatched = intern(api, stage, NO_METHOD, NO_METHOD);
    let mut ids: Vec<u32> = Vec::new();
    for (slot, method, resource) in methods {
        let slot = slot as usize;
        if ids.len() <= slot {
            ids.resize(slot + 1, unmatched);
        }
        ids[slot] = intern(api, stage, method, resource);
    }
    StageSeries {
        methods: ids.into(),
        unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_labels_keep_their_id() {
        let a = intern("series-test", "prod", "GET", "/a");
        let b = intern("series-test", "prod", "GET", "/b");
        assert_ne!(a, b);
        assert_eq!(intern("series-test", "prod", "GET", "/a"), a);
        let keys = all();
        assert_eq!(&*keys[a as usize].resource, "/a");
    }

    #[test]
    fn stage_series_are_indexed_by_slot() {
        let s = stage_series(
            "series-test2",
            "dev",
            [(1, "GET", "/x"), (0, "ANY", "/{proxy+}")],
        );
        assert_eq!(
            s.method(0),
            intern("series-test2", "dev", "ANY", "/{proxy+}")
        );
        assert_eq!(s.method(1), intern("series-test2", "dev", "GET", "/x"));
        assert_eq!(s.method(7), s.unmatched);
        assert_eq!(s.unmatched, intern("series-test2", "dev", "-", "-"));
    }
}
