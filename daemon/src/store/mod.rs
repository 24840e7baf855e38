//! The SQLite store: the only code that touches SQL. One connection, WAL,
//! and every multi-row change in one transaction.

mod audit;
mod blocks;
mod codec;
mod error;
pub(crate) mod migrate;
mod notifications;
mod runs;
mod schedules;
mod spend;
#[cfg(test)]
mod tests;
mod tx;

pub use error::StoreError;
pub use notifications::{CardChange, CardOp, NewCard};
pub use runs::RunWrite;
pub use spend::SpendRow;

use cattery_protocol::{BlockStatus, GateKind, Millis};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, watch};

pub type Result<T> = std::result::Result<T, StoreError>;

/// The board, every run and the open cards as of one committed state.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub board: Vec<cattery_protocol::Block>,
    pub runs: Vec<cattery_protocol::Run>,
    pub notifications: Vec<cattery_protocol::Notification>,
}

pub struct Store {
    conn: Mutex<Connection>,
    /// Reads go through their own connection, so they never wait behind a
    /// write (WAL lets a reader see the last commit while a writer works).
    reader: Mutex<Connection>,
    path: PathBuf,
    commits: AtomicU64,
    transactions: AtomicU64,
    /// Commits waiting for the next group commit.
    queue: Mutex<Vec<Pending>>,
    /// A drain is writing the queue; see [`Store::drain`].
    draining: AtomicBool,
    /// What the last write found the disk too full to do; `None` once a
    /// write succeeds again. Watched by the daemon to tell its clients.
    disk_full: watch::Sender<Option<&'static str>>,
}

struct Pending {
    commit: Commit,
    reply: oneshot::Sender<Result<Committed>>,
}

/// The block fields a run transition writes.
#[derive(Debug, Clone)]
pub struct BlockWrite {
    pub id: String,
    pub status: BlockStatus,
    pub progress: f64,
    pub run_id: Option<String>,
    /// The run's pull request; `None` clears the block's.
    pub pull_request: Option<cattery_protocol::agent::PullRequest>,
    /// The run's estimate; `None` keeps the block's.
    pub estimate: Option<cattery_protocol::estimate::Estimate>,
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

/// What a commit stored: the runs (with their new `rev`) and the block as
/// the commit left it, when it wrote the block.
#[derive(Debug, Default)]
pub struct Committed {
    pub runs: Vec<cattery_protocol::Run>,
    pub block: Option<cattery_protocol::Block>,
}

/// Everything one engine transition writes, applied atomically.
#[derive(Debug, Default)]
pub struct Commit {
    pub runs: Vec<RunWrite>,
    pub block: Option<BlockWrite>,
    pub audit: Option<NewAudit>,
    /// A start's claim on its frame's live-run slots, counted in the same
    /// transaction as the new run, so racing starts cannot both fit.
    pub claim: Option<FrameClaim>,
}

/// The limits a new run on `block_id` must fit under in its frame.
#[derive(Debug, Clone)]
pub struct FrameClaim {
    pub frame_id: String,
    pub block_id: String,
    /// `running_per_frame`.
    pub limit: Option<u32>,
    /// `[limits.per_pipeline]`: the new run's pipeline and its limit.
    pub per_pipeline: Option<(String, u32)>,
}

impl Store {
    /// Reads the board, the runs and the open cards in one read
    /// transaction, so no commit lands between the tables.
    ///
    /// It reads on a connection of its own: a big board takes a while, and
    /// the drivers' own reads must not queue behind it.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let conn = open_reader(&self.path)?;
        let tx = conn
            .unchecked_transaction()
            .map_err(StoreError::sql("begin a snapshot"))?;
        let snapshot = Snapshot {
            board: blocks::blocks_on(&tx)?,
            runs: runs::query_runs_on(&tx, "")?,
            notifications: notifications::notifications_on(&tx, false)?,
        };
        tx.finish().map_err(StoreError::sql("end a snapshot"))?;
        Ok(snapshot)
    }

    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        let open_error = |e| StoreError::open(path, e);
        let mut writer = Connection::open(path).map_err(open_error)?;
        configure_writer(&writer).map_err(open_error)?;
        check_integrity(&writer, path)?;
        migrate::run(&mut writer, path)?;
        // Opened after the migrations, so it never sees a half-made schema.
        let reader = open_reader(path)?;
        Ok(Self {
            conn: Mutex::new(writer),
            reader: Mutex::new(reader),
            path: path.to_owned(),
            commits: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            queue: Mutex::new(Vec::new()),
            draining: AtomicBool::new(false),
            disk_full: watch::Sender::new(None),
        })
    }

    /// Follows whether writes are being refused for want of disk space:
    /// `Some(what could not be done)` from the first refusal until
    /// [`Store::probe_disk`] finds room again.
    pub fn watch_disk(&self) -> watch::Receiver<Option<&'static str>> {
        self.disk_full.subscribe()
    }

    /// Writes one small padded row and commits it. Success means the disk
    /// takes writes again and ends the refusal. A write that happened to
    /// succeed without needing new space (an update of nothing) says
    /// nothing about the disk, so only this probe ends it.
    pub fn probe_disk(&self, now: Millis) -> Result<()> {
        self.writing(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO disk_probe (id, at, pad) VALUES (1, ?1, zeroblob(2048))",
                [now],
            )
            .map(drop)
            .map_err(StoreError::sql("probe the disk"))
        })?;
        self.disk_full
            .send_if_modified(|full| full.take().is_some());
        Ok(())
    }

    /// Runs one write on the writer connection, noting a refusal for want
    /// of disk space, so the daemon's health follows every write path.
    pub(crate) fn writing<T>(&self, write: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let result = write(&mut self.lock());
        self.note_disk(result.as_ref().err());
        result
    }

    fn note_disk(&self, failed: Option<&StoreError>) {
        if let Some(StoreError::DiskFull { context }) = failed {
            self.disk_full.send_if_modified(|full| {
                let first = full.is_none();
                full.get_or_insert(context);
                first
            });
        }
    }

    /// Commits (engine transitions) applied since open.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// SQLite transactions those commits took; fewer than commits under group commit.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; the
        // connection itself rolls back unfinished transactions, so keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a transition in its own transaction: CAS run writes, the
    /// block, and the audit entry. Returns the runs as stored (new `rev`).
    pub fn commit(&self, commit: Commit) -> Result<Vec<cattery_protocol::Run>> {
        let stored = self.writing(|conn| tx::transaction(conn, |conn| apply(conn, commit)))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(stored.runs)
    }

    /// Like [`Store::commit`], but shares one SQLite transaction with every
    /// other commit submitted meanwhile (group commit). Each commit gets its
    /// own savepoint, so a refused one changes nothing and fails alone; the
    /// reply comes only after the shared transaction is committed.
    pub async fn submit(self: &Arc<Self>, commit: Commit) -> Result<Committed> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Pending { commit, reply });
        // SQLite work stays off the async workers, on one writer at a time:
        // whatever queues up while a batch is written goes into the next.
        if !self.draining.swap(true, Ordering::AcqRel) {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.drain());
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Batch {
                message: "the writer stopped before answering".to_owned(),
            })
        })
    }

    /// Writes queued commits in batches until the queue is empty. Only one
    /// drain runs at a time (`draining`): a second one would only wait for
    /// the connection, and a thread parked on that lock is a thread the
    /// scheduler must still wake.
    fn drain(&self) {
        loop {
            let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            if !batch.is_empty() {
                self.write_batch(&mut self.lock(), batch);
                continue;
            }
            self.draining.store(false, Ordering::Release);
            // A commit queued after the take saw `draining` still set; take
            // it unless its submitter has started a drain of its own.
            let queued = !self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
            if !queued || self.draining.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }

    fn write_batch(&self, conn: &mut Connection, batch: Vec<Pending>) {
        let mut replies = Vec::with_capacity(batch.len());
        let outcome = tx::transaction(conn, |conn| {
            for pending in batch {
                let result = tx::savepoint(conn, |conn| apply(conn, pending.commit));
                replies.push((pending.reply, result));
            }
            Ok(())
        });
        let failed = outcome.err();
        self.note_disk(failed.as_ref());
        if failed.is_none() {
            self.transactions.fetch_add(1, Ordering::Relaxed);
        }
        for (reply, result) in replies {
            let result = match &failed {
                Some(e) if e.is_disk_full() => Err(StoreError::DiskFull {
                    context: "write a batch of changes",
                }),
                Some(e) => Err(StoreError::Batch {
                    message: e.to_string(),
                }),
                None => {
                    self.commits
                        .fetch_add(u64::from(result.is_ok()), Ordering::Relaxed);
                    result
                }
            };
            // The submitter may be gone (shutdown); the write stands either way.
            let _ = reply.send(result);
        }
    }
}

/// Writes updates before inserts, so a run a start supersedes is no longer
/// live when the one-live-run index checks the new one; the runs come back
/// in the order given.
fn write_runs(tx: &Connection, writes: Vec<RunWrite>) -> Result<Vec<cattery_protocol::Run>> {
    let mut stored: Vec<Option<cattery_protocol::Run>> = vec![None; writes.len()];
    let (updates, inserts): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .enumerate()
        .partition(|(_, w)| w.expected_rev.is_some());
    for (i, write) in updates.into_iter().chain(inserts) {
        stored[i] = Some(runs::write(tx, write)?);
    }
    Ok(stored.into_iter().flatten().collect())
}

fn check_claim(tx: &Connection, claim: &FrameClaim) -> Result<()> {
    let holders = runs::frame_holders(tx, claim)?;
    let full = |setting: String, limit: u32, held: Vec<String>| {
        if held.len() < limit as usize {
            return Ok(());
        }
        Err(StoreError::FrameFull {
            frame_id: claim.frame_id.clone(),
            setting,
            limit,
            holders: held,
        })
    };
    if let Some(limit) = claim.limit {
        let held = holders.iter().map(|(id, _)| id.clone()).collect();
        full("running_per_frame".to_owned(), limit, held)?;
    }
    if let Some((pipeline, limit)) = &claim.per_pipeline {
        let held = holders
            .iter()
            .filter(|(_, p)| p == pipeline)
            .map(|(id, _)| id.clone())
            .collect();
        full(format!("[limits.per_pipeline] {pipeline}"), *limit, held)?;
    }
    Ok(())
}

/// Refuses a damaged database before anything writes to it. `quick_check`
/// reads every page once (milliseconds for a home's database) without
/// changing it.
fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let found: Vec<String> = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| StoreError::open(path, e))?;
    if found.iter().all(|line| line == "ok") {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.display().to_string(),
        found: found.join("; "),
    })
}

/// A connection that may only read.
fn open_reader(path: &Path) -> Result<Connection> {
    let open_error = |e| StoreError::open(path, e);
    let reader = Connection::open(path).map_err(open_error)?;
    reader
        .busy_timeout(std::time::Duration::from_secs(5))
        .and_then(|()| reader.pragma_update(None, "query_only", "ON"))
        .map_err(open_error)?;
    Ok(reader)
}

fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 64 MiB of page cache: the live working set of a busy daemon stays in
    // memory instead of being re-read from the OS on every write.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "foreign_keys", "ON")
}

fn apply(tx: &rusqlite::Connection, commit: Commit) -> Result<Committed> {
    let runs = write_runs(tx, commit.runs)?;
    if let Some(claim) = &commit.claim {
        check_claim(tx, claim)?;
    }
    let block = match &commit.block {
        Some(block) => Some(blocks::write_status(tx, block)?),
        None => None,
    };
    if let Some(entry) = &commit.audit {
        audit::append(tx, entry)?;
    }
    Ok(Committed { runs, block })
}
