//! The SQLite store: the only code that touches SQL. One connection, WAL,
//! and every multi-row change in one transaction.

mod audit;
mod blocks;
mod codec;
mod error;
mod migrate;
mod runs;
#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use runs::RunWrite;

use cattery_protocol::{BlockStatus, GateKind, Millis};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    commits: AtomicU64,
}

/// The block fields a run transition writes.
#[derive(Debug, Clone)]
pub struct BlockWrite {
    pub id: String,
    pub status: BlockStatus,
    pub progress: f64,
    pub run_id: Option<String>,
    pub at: Millis,
}

/// An accepted decision for the audit log.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: Millis,
    pub actor: String,
    pub run_id: String,
    pub gate_id: String,
    pub gate_kind: GateKind,
    pub choice: String,
    pub text: Option<String>,
}

/// Everything one engine transition writes, applied atomically.
#[derive(Debug, Default)]
pub struct Commit {
    pub runs: Vec<RunWrite>,
    pub block: Option<BlockWrite>,
    pub audit: Option<NewAudit>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
        let store = Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
            commits: AtomicU64::new(0),
        };
        store.configure()?;
        migrate::run(&mut store.lock(), path)?;
        Ok(store)
    }

    /// Transactions committed through [`Store::commit`] since open.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> Result<()> {
        let conn = self.lock();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| StoreError::open(&self.path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| StoreError::open(&self.path, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| StoreError::open(&self.path, e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| StoreError::open(&self.path, e))?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; the
        // connection itself rolls back unfinished transactions, so keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a transition: CAS run writes, the block, and the audit entry.
    /// Returns the runs as stored (with their new `rev`).
    pub fn commit(&self, commit: Commit) -> Result<Vec<cattery_protocol::Run>> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(StoreError::sql("begin"))?;
        let mut stored = Vec::with_capacity(commit.runs.len());
        for write in commit.runs {
            stored.push(runs::write(&tx, write)?);
        }
        if let Some(block) = &commit.block {
            blocks::write_status(&tx, block)?;
        }
        if let Some(entry) = &commit.audit {
            audit::append(&tx, entry)?;
        }
        tx.commit().map_err(StoreError::sql("commit"))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(stored)
    }
}
