//! Durable usage counters: requests per (key id, usage plan id, UTC day) in an embedded
//! [redb](https://docs.rs/redb) database, written by a background thread, never by a shard.
//!
//! redb is chosen over a hand-written append log because it gives crash-safe transactions
//! (copy-on-write B-trees, fsync on commit), ordered range reads (a quota period or a usage
//! report is one range scan) and is pure Rust with no C dependency.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// (key id, plan id, day since epoch) → requests admitted that day.
const DAILY: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("daily_usage");

/// Requests admitted for (key id, plan id) on a UTC day (days since the epoch).
pub type Delta = (Box<str>, Box<str>, u32, u64);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("usage store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl StoreError {
    /// An error from any displayable cause.
    pub fn from_display(e: impl std::fmt::Display) -> Self {
        err(e)
    }
}

/// The usage database.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let at = |e: &dyn std::fmt::Display| err(format!("cannot open {}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| at(&e))?;
        }
        let db = Database::create(path).map_err(|e| at(&e))?;
        // The table is created once: a store that has it opens without a write transaction
        // (each commit is an fsync, and a binary upgrade opens the store on its way).
        let exists = db
            .begin_read()
            .map_err(|e| at(&e))?
            .open_table(DAILY)
            .is_ok();
        if !exists {
            let txn = db.begin_write().map_err(|e| at(&e))?;
            txn.open_table(DAILY).map_err(|e| at(&e))?;
            txn.commit().map_err(|e| at(&e))?;
        }
        Ok(Store { db })
    }

    /// Adds `(key id, plan id, day, requests)` deltas in one transaction.
    pub fn add(&self, deltas: &[Delta]) -> Result<(), StoreError> {
        self.add_totals(deltas).map(drop)
    }

    /// [`Store::add`], returning each delta's day total after it (what cluster mode
    /// publishes to the fleet's usage book).
    pub fn add_totals(&self, deltas: &[Delta]) -> Result<Vec<u64>, StoreError> {
        if deltas.is_empty() {
            return Ok(Vec::new());
        }
        let mut totals = Vec::with_capacity(deltas.len());
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(DAILY).map_err(err)?;
            for (key, plan, day, n) in deltas {
                let k = (&**key, &**plan, *day);
                let old = table.get(k).map_err(err)?.map_or(0, |v| v.value());
                table.insert(k, old + n).map_err(err)?;
                totals.push(old + n);
            }
        }
        txn.commit().map_err(err)?;
        Ok(totals)
    }

    /// Every `(key id, plan id, day, requests)` row of a day from `since` on (a full scan:
    /// only when cluster mode republishes the node's usage after Redis lost it).
    pub fn since(&self, since: u32) -> Result<Vec<Delta>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(DAILY).map_err(err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let (key, plan, day) = k.value();
            if day >= since {
                out.push((key.into(), plan.into(), day, v.value()));
            }
        }
        Ok(out)
    }

    /// Requests per day in `first..=last` for one key in one plan, with zero for days
    /// without traffic.
    pub fn daily(
        &self,
        key: &str,
        plan: &str,
        first: u32,
        last: u32,
    ) -> Result<Vec<u64>, StoreError> {
        if last < first {
            return Ok(Vec::new());
        }
        let mut out = vec![0u64; (last - first + 1) as usize];
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(DAILY).map_err(err)?;
        for entry in table
            .range((key, plan, first)..=(key, plan, last))
            .map_err(err)?
        {
            let (k, v) = entry.map_err(err)?;
            let day = k.value().2;
            out[(day - first) as usize] = v.value();
        }
        Ok(out)
    }

    /// Requests from `first` to `last` (inclusive) for one key in one plan.
    pub fn sum(&self, key: &str, plan: &str, first: u32, last: u32) -> Result<u64, StoreError> {
        Ok(self.daily(key, plan, first, last)?.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_add_up_per_day_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.redb");
        {
            let s = Store::open(&path).unwrap();
            s.add(&[("k".into(), "p".into(), 10, 3)]).unwrap();
            s.add(&[
                ("k".into(), "p".into(), 10, 2),
                ("k".into(), "p".into(), 12, 1),
                ("k".into(), "q".into(), 11, 9),
            ])
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.daily("k", "p", 9, 12).unwrap(), vec![0, 5, 0, 1]);
        assert_eq!(s.sum("k", "p", 0, 100).unwrap(), 6);
        assert_eq!(s.sum("k", "q", 0, 100).unwrap(), 9);
        let totals = s.add_totals(&[("k".into(), "p".into(), 12, 4)]).unwrap();
        assert_eq!(totals, [5]);
        let mut recent = s.since(11).unwrap();
        recent.sort();
        assert_eq!(
            recent,
            [
                ("k".into(), "p".into(), 12, 5),
                ("k".into(), "q".into(), 11, 9)
            ]
        );
    }
}
