//! Handing the usage store to a new binary during a zero-downtime upgrade (`crate::upgrade`).
//!
//! The embedded store has one owner at a time (redb locks its file). Both processes serve for
//! a moment, so the old one gives the store up first ([`TrafficNode::release_store`]): it
//! flushes everything counted so far and closes the database; what it counts next stays in
//! memory until the new node serves, then goes to it ([`TrafficNode::forward_to`]), which adds
//! it to the store and to its quotas ([`TrafficNode::absorb`]). Nothing is counted twice (each
//! request is counted by the one process that admitted it, and each count is written once)
//! and nothing is lost (a send that fails keeps the counts for the next flush, and a failed
//! hand-over takes the store back and writes them).

use super::{lock, read, write, Delta, Store, StoreError, TrafficNode};

/// Where the old node's counts go once the store is handed over.
pub trait UsageSink: Send + std::fmt::Debug {
    /// Delivers `deltas`; an error keeps them for the next flush.
    fn send(&mut self, deltas: &[Delta]) -> Result<(), StoreError>;
}

impl TrafficNode {
    /// Writes what is counted so far to the store and closes it. Until [`forward_to`] or
    /// [`reclaim_store`], flushes leave new counts queued in memory. A node without a store
    /// has nothing to hand over (`Ok`).
    ///
    /// [`forward_to`]: TrafficNode::forward_to
    /// [`reclaim_store`]: TrafficNode::reclaim_store
    pub fn release_store(&self) -> Result<(), StoreError> {
        let _serial = lock(&self.flush_lock);
        if read(&self.store).is_none() {
            return Ok(());
        }
        self.flush_locked()?;
        // Dropping the database releases its file lock for the new owner.
        *write(&self.store) = None;
        Ok(())
    }

    /// Sends what is counted from now on (and what was queued since the release) to `sink`:
    /// the new node serves and owns the store.
    pub fn forward_to(&self, sink: Box<dyn UsageSink>) {
        let _serial = lock(&self.flush_lock);
        *lock(&self.forward) = Some(sink);
    }

    /// Takes the store back after a hand-over failed (or at shutdown, if one failed and the
    /// store could not be reopened then): opens it again and stops sending, so that counts
    /// not handed over are written here.
    pub fn reclaim_store(&self) -> Result<(), StoreError> {
        let _serial = lock(&self.flush_lock);
        let Some(path) = &self.store_path else {
            return Ok(());
        };
        if read(&self.store).is_some() {
            return Ok(());
        }
        let store = Store::open(path)?;
        *lock(&self.forward) = None;
        *write(&self.store) = Some(store);
        drop(_serial);
        self.flush()
    }

    /// Counts requests the node this one took over from admitted after it handed over the
    /// store: spent from the matching quotas, and written to the store. The registry stays
    /// locked across both, as `link` holds it while it creates quotas from the store's sums:
    /// a quota made by a reload meanwhile either predates the write (and is spent here) or
    /// includes it (and is not).
    pub fn absorb(&self, deltas: &[Delta]) -> Result<(), StoreError> {
        let reg = lock(&self.registry);
        for (key, plan, day, n) in deltas {
            if let Some(q) = reg.quotas.get(&(key.clone(), plan.clone())) {
                q.absorb(*day, *n);
            }
        }
        match &*read(&self.store) {
            Some(store) => store.add_totals(deltas).map(|totals| {
                if let Some(link) = self.fleet() {
                    super::publish(link, deltas, &totals);
                }
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;

    /// A sink that collects what it is sent, or refuses while `fail` is set.
    #[derive(Clone, Debug, Default)]
    struct Collect {
        got: Arc<Mutex<Vec<Delta>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl UsageSink for Collect {
        fn send(&mut self, deltas: &[Delta]) -> Result<(), StoreError> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(StoreError::from_display("refused"));
            }
            self.got.lock().unwrap().extend_from_slice(deltas);
            Ok(())
        }
    }

    fn count(node: &TrafficNode, usage: &Arc<super::super::Usage>, n: usize) {
        let today = node.clock().unix_day();
        for _ in 0..n {
            if usage.record(0, today) {
                let _ = node.dirty.0.send(Arc::clone(usage));
            }
        }
    }

    fn node(path: &std::path::Path) -> Arc<TrafficNode> {
        TrafficNode::with_store(1, Clock::fixed(0), path, Duration::from_secs(3600)).unwrap()
    }

    #[test]
    fn counts_after_release_go_to_the_sink_and_the_store_opens_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.redb");
        let old = node(&path);
        let usage = Arc::new(super::super::Usage::named(1, ("k".into(), "p".into())));
        count(&old, &usage, 3);
        let sink = Collect::default();
        old.release_store().unwrap();
        // The old node flushed the first three and closed the file: a new owner can open it.
        let new = node(&path);
        assert_eq!(new.using_store(|s| s.sum("k", "p", 0, 0).unwrap()), Some(3));
        // Counted before the new node serves: kept until the sink is there.
        count(&old, &usage, 2);
        old.flush().unwrap();
        assert!(sink.got.lock().unwrap().is_empty());
        old.forward_to(Box::new(sink.clone()));
        old.flush().unwrap();
        let sent = sink.got.lock().unwrap().clone();
        assert_eq!(sent, vec![("k".into(), "p".into(), 0, 2)]);
        new.absorb(&sent).unwrap();
        assert_eq!(new.using_store(|s| s.sum("k", "p", 0, 0).unwrap()), Some(5));
        old.shutdown();
        new.shutdown();
    }

    #[test]
    fn a_failed_hand_over_takes_back_what_the_sink_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.redb");
        let old = node(&path);
        let usage = Arc::new(super::super::Usage::named(1, ("k".into(), "p".into())));
        count(&old, &usage, 1);
        let sink = Collect::default();
        sink.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        old.release_store().unwrap();
        count(&old, &usage, 2);
        old.forward_to(Box::new(sink));
        count(&old, &usage, 2);
        assert!(old.flush().is_err());
        old.reclaim_store().unwrap();
        assert_eq!(old.using_store(|s| s.sum("k", "p", 0, 0).unwrap()), Some(5));
        old.shutdown();
    }
}
