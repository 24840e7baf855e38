//! Transactions and savepoints through cached statements: rusqlite's
//! `Transaction` re-parses `BEGIN`/`COMMIT` on every use, which showed up in
//! profiles of the write path.

use super::{Result, StoreError};
use rusqlite::Connection;

fn exec(conn: &Connection, sql: &'static str, context: &'static str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(StoreError::sql(context))
}

/// Runs `work` in a transaction: committed if it succeeds, rolled back if not.
pub fn transaction<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    exec(conn, "BEGIN", "begin a transaction")?;
    let done = work(conn).and_then(|value| {
        exec(conn, "COMMIT", "commit")?;
        Ok(value)
    });
    if done.is_err() && !conn.is_autocommit() {
        // The error being returned says what went wrong; a failed rollback
        // leaves nothing more to report and the next BEGIN would fail loudly.
        let _ = exec(conn, "ROLLBACK", "roll back");
    }
    done
}

/// Runs `work` inside the current transaction, undoing only its own changes
/// if it fails.
pub fn savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    exec(conn, "SAVEPOINT write", "open a savepoint")?;
    let done = work(conn);
    if done.is_err() {
        exec(conn, "ROLLBACK TO write", "roll back a savepoint")?;
    }
    exec(conn, "RELEASE write", "release a savepoint")?;
    done
}
