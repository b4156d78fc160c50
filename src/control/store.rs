//! Where the control plane keeps what the `apigateway` API creates: one redb file (the
//! embedded engine the usage counters already use; copy-on-write B-trees, fsync on commit),
//! one row per REST API holding its whole [`ApiState`] as JSON. A call answers 2xx only after
//! its commit returned, so what was acknowledged survives a restart or `kill -9`.
//!
//! The file is opened for each transaction and closed after it, not held: control calls are
//! rare, and a binary upgrade (SIGUSR2) starts a second process that must read the same file
//! while the first still runs. redb locks an open file, so an open that finds it locked
//! retries for a while before giving up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::model::{ApiState, TrafficState};

/// API id → `ApiState` as JSON.
const APIS: TableDefinition<&str, &[u8]> = TableDefinition::new("rest_apis");
/// `"traffic"` → the usage plans and API keys (`TrafficState`) as JSON.
const TRAFFIC: TableDefinition<&str, &[u8]> = TableDefinition::new("traffic");
const TRAFFIC_ROW: &str = "traffic";
/// `"version"` → how many commits the file has seen: a process that finds a version other
/// than the one it last read or wrote reads the file again before changing it (during a
/// binary upgrade, the old and the new process both serve the admin socket for a while).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const VERSION_ROW: &str = "version";

/// How long an open waits for another process to close the file.
const LOCKED_WAIT: Duration = Duration::from_secs(3);

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("control store {path}: {message}")]
pub struct StoreError {
    path: PathBuf,
    message: String,
}

/// The store file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store at `path` (created on first write).
    pub fn new(path: &Path) -> Store {
        Store {
            path: path.to_path_buf(),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Opens the file, waiting while another process has it open.
    fn open(&self) -> Result<Database, StoreError> {
        let started = Instant::now();
        loop {
            match Database::create(&self.path) {
                Ok(db) => return Ok(db),
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if started.elapsed() < LOCKED_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// Every API kept; an absent file holds none.
    pub fn load(&self) -> Result<BTreeMap<String, ApiState>, StoreError> {
        if !self.path.exists() {
            return Ok(BTreeMap::new());
        }
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.err(e))?;
        let table = match txn.open_table(APIS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut apis = BTreeMap::new();
        for row in table.iter().map_err(|e| self.err(e))? {
            let (id, json) = row.map_err(|e| self.err(e))?;
            let state: ApiState = serde_json::from_slice(json.value())
                .map_err(|e| self.err(format!("row {}: {e}", id.value())))?;
            apis.insert(id.value().to_string(), state);
        }
        Ok(apis)
    }

    /// The file's commit count (0 for an absent or new file).
    pub fn version(&self) -> Result<u64, StoreError> {
        if !self.path.exists() {
            return Ok(0);
        }
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.err(e))?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(self.err(e)),
        };
        let version = table.get(VERSION_ROW).map_err(|e| self.err(e))?;
        Ok(version.map_or(0, |v| v.value()))
    }

    /// The usage plans and API keys kept; none in an absent file.
    pub fn load_traffic(&self) -> Result<TrafficState, StoreError> {
        if !self.path.exists() {
            return Ok(TrafficState::default());
        }
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.err(e))?;
        let table = match txn.open_table(TRAFFIC) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(TrafficState::default()),
            Err(e) => return Err(self.err(e)),
        };
        match table.get(TRAFFIC_ROW).map_err(|e| self.err(e))? {
            None => Ok(TrafficState::default()),
            Some(json) => serde_json::from_slice(json.value())
                .map_err(|e| self.err(format!("row {TRAFFIC_ROW}: {e}"))),
        }
    }

    /// Writes `put`, removes `delete` and replaces the plans and keys with `traffic` (when
    /// given), in one durable commit; returns the file's new version.
    pub fn write(
        &self,
        put: &[&ApiState],
        delete: &[&str],
        traffic: Option<&TrafficState>,
    ) -> Result<u64, StoreError> {
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.err(e))?;
        let version = {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            let old = meta
                .get(VERSION_ROW)
                .map_err(|e| self.err(e))?
                .map_or(0, |v| v.value());
            meta.insert(VERSION_ROW, old + 1).map_err(|e| self.err(e))?;
            old + 1
        };
        if let Some(t) = traffic {
            let mut table = txn.open_table(TRAFFIC).map_err(|e| self.err(e))?;
            let json = serde_json::to_vec(t).map_err(|e| self.err(e))?;
            table
                .insert(TRAFFIC_ROW, json.as_slice())
                .map_err(|e| self.err(e))?;
        }
        {
            let mut table = txn.open_table(APIS).map_err(|e| self.err(e))?;
            for state in put {
                let json = serde_json::to_vec(state).map_err(|e| self.err(e))?;
                table
                    .insert(state.api.id.as_str(), json.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            for id in delete {
                table.remove(*id).map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_commit_moves_the_version_and_keeps_what_it_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(&dir.path().join("control.redb"));
        assert_eq!(store.version().expect("version"), 0);
        let mut traffic = TrafficState::default();
        assert_eq!(store.write(&[], &[], Some(&traffic)).expect("write"), 1);
        traffic.plan_keys.insert("p".into(), Default::default());
        assert_eq!(store.write(&[], &[], Some(&traffic)).expect("write"), 2);
        // A second handle (another process) sees the same version and state.
        let other = Store::new(&dir.path().join("control.redb"));
        assert_eq!(other.version().expect("version"), 2);
        assert_eq!(other.load_traffic().expect("traffic"), traffic);
    }
}
