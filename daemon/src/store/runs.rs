use super::{FrameClaim, Result, Store, StoreError, codec};
use cattery_protocol::{Run, RunStatus, Step};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

/// A run to store: inserted when `expected_rev` is `None`, else
/// compare-and-swapped against the rev the writer loaded. Steps are rows of
/// their own; with `previous_steps`, only the steps that differ are written.
#[derive(Debug, Clone)]
pub struct RunWrite {
    pub run: Run,
    pub expected_rev: Option<u64>,
    pub previous: Option<Arc<Run>>,
}

impl RunWrite {
    pub fn insert(run: Run) -> Self {
        Self {
            run,
            expected_rev: None,
            previous: None,
        }
    }

    pub fn update(run: Run, expected_rev: u64) -> Self {
        Self {
            run,
            expected_rev: Some(expected_rev),
            previous: None,
        }
    }

    /// The run as loaded: its rev is the CAS token, and its steps let
    /// unchanged ones go unwritten.
    pub fn over(mut self, previous: Arc<Run>) -> Self {
        self.expected_rev = Some(previous.rev);
        self.previous = Some(previous);
        self
    }
}

pub fn write(tx: &Connection, write: RunWrite) -> Result<Run> {
    let mut run = write.run;
    run.rev = write.expected_rev.map_or(1, |rev| rev + 1);
    let steps = std::mem::take(&mut run.steps);
    let header = serde_json::to_string(&run);
    run.steps = steps;
    let header = header.map_err(|source| StoreError::Decode {
        what: "run",
        source,
    })?;
    let status = codec::text(&run.status);
    let changed = match write.expected_rev {
        None => tx
            .prepare_cached(
                "INSERT INTO runs (id, block_id, status, rev, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    run.id, run.block_id, status, run.rev as i64, header, run.created_at, run.updated_at
                ])
            })
            .map_err(|e| refused_insert(tx, &run.block_id, e))?,
        Some(expected) => {
            // Naming `status` in the SET rewrites its index entry even when
            // the value stays; most transitions keep the status, so leave it
            // out then. Both statements are cached; only the SET differs (?2
            // is bound either way: SQLite counts parameters up to ?6).
            let same_status = write.previous.as_ref().map(|p| p.status) == Some(run.status);
            let sql = if same_status {
                "UPDATE runs SET rev = ?3, doc = ?4, updated_at = ?5 WHERE id = ?1 AND rev = ?6"
            } else {
                "UPDATE runs SET status = ?2, rev = ?3, doc = ?4, updated_at = ?5 WHERE id = ?1 AND rev = ?6"
            };
            tx.prepare_cached(sql)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        run.id, status, run.rev as i64, header, run.updated_at, expected as i64
                    ])
                })
                .map_err(StoreError::sql("update a run"))?
        }
    };
    if changed == 0 {
        return Err(conflict(tx, run.id, write.expected_rev));
    }
    let previous_steps = write.previous.as_ref().map(|p| p.steps.as_slice());
    write_steps(tx, &run, previous_steps)?;
    Ok(run)
}

fn write_steps(tx: &Connection, run: &Run, previous: Option<&[Step]>) -> Result<()> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO run_steps (run_id, idx, doc) VALUES (?1, ?2, ?3) ON CONFLICT(run_id, idx) DO UPDATE SET doc = excluded.doc",
        )
        .map_err(StoreError::sql("write a step"))?;
    for (index, step) in run.steps.iter().enumerate() {
        if previous.and_then(|p| p.get(index)) == Some(step) {
            continue;
        }
        let doc = serde_json::to_string(step).map_err(|source| StoreError::Decode {
            what: "step",
            source,
        })?;
        upsert
            .execute(params![run.id, index as i64, doc])
            .map_err(StoreError::sql("write a step"))?;
    }
    if previous.is_some_and(|p| p.len() > run.steps.len()) {
        tx.execute(
            "DELETE FROM run_steps WHERE run_id = ?1 AND idx >= ?2",
            params![run.id, run.steps.len() as i64],
        )
        .map_err(StoreError::sql("trim a run's steps"))?;
    }
    Ok(())
}

/// An insert the one-live-run index refused names the run that holds the
/// block; any other failure is reported as it is.
fn refused_insert(tx: &Connection, block_id: &str, e: rusqlite::Error) -> StoreError {
    let unique = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    );
    if !unique {
        return StoreError::sql("insert a run")(e);
    }
    let holder = tx
        .query_row(
            &format!(
                "SELECT id FROM runs WHERE block_id = ?1 AND {}",
                live_filter()
            ),
            [block_id],
            |r| r.get::<_, String>(0),
        )
        .optional();
    match holder {
        Ok(Some(holder)) => StoreError::LiveRun {
            block_id: block_id.to_owned(),
            holder,
        },
        _ => StoreError::sql("insert a run")(e),
    }
}

/// The live runs under `claim`'s frame, other than its own block's, with
/// their pipelines.
pub(super) fn frame_holders(tx: &Connection, claim: &FrameClaim) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "WITH RECURSIVE under(id) AS (
            SELECT ?1
            UNION SELECT b.id FROM blocks b JOIN under u ON b.parent_id = u.id
            WHERE b.level != 'frame')
         SELECT id, COALESCE(json_extract(doc, '$.pipeline_id'), '') FROM runs
         WHERE block_id IN under AND block_id != ?2 AND {}
         ORDER BY created_at, id",
        live_filter()
    );
    let mut stmt = tx
        .prepare_cached(&sql)
        .map_err(StoreError::sql("count a frame's live runs"))?;
    let rows = stmt
        .query_map(params![claim.frame_id, claim.block_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(StoreError::sql("count a frame's live runs"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(StoreError::sql("count a frame's live runs"))
}

fn conflict(tx: &Connection, run_id: String, expected: Option<u64>) -> StoreError {
    // An unreadable rev reads as a missing run: either way the write lost.
    let found: Option<i64> = tx
        .query_row("SELECT rev FROM runs WHERE id = ?1", [&run_id], |r| {
            r.get(0)
        })
        .optional()
        .ok()
        .flatten();
    StoreError::Conflict {
        run_id,
        expected: expected.unwrap_or(0),
        found: found.and_then(|rev| u64::try_from(rev).ok()),
    }
}

fn decode<T: serde::de::DeserializeOwned>(doc: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(doc).map_err(|source| StoreError::Decode { what, source })
}

/// The SQL filter for live runs, built from the one list of live statuses.
pub(super) fn live_filter() -> String {
    let names: Vec<String> = RunStatus::live().map(|s| format!("'{s}'")).collect();
    format!("status IN ({})", names.join(", "))
}

impl Store {
    pub fn run(&self, id: &str) -> Result<Option<Run>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM runs WHERE id = ?1")
            .map_err(StoreError::sql("read a run"))?;
        let header: Option<String> = stmt
            .query_row([id], |r| r.get(0))
            .optional()
            .map_err(StoreError::sql("read a run"))?;
        let Some(header) = header else {
            return Ok(None);
        };
        let mut run: Run = decode(&header, "run")?;
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM run_steps WHERE run_id = ?1 ORDER BY idx")
            .map_err(StoreError::sql("read a run's steps"))?;
        let docs = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("read a run's steps"))?;
        for doc in docs {
            let doc = doc.map_err(StoreError::sql("read a run's steps"))?;
            run.steps.push(decode(&doc, "step")?);
        }
        Ok(Some(run))
    }

    /// Runs that may still change: running, blocked or paused.
    pub fn live_runs(&self) -> Result<Vec<Run>> {
        self.query_runs(&format!("WHERE {}", live_filter()))
    }

    pub fn runs(&self) -> Result<Vec<Run>> {
        self.query_runs("")
    }

    fn query_runs(&self, filter: &str) -> Result<Vec<Run>> {
        query_runs_on(&self.read(), filter)
    }
}

/// Runs matching `filter` (a SQL `WHERE` clause or nothing), read on `conn`.
pub(super) fn query_runs_on(conn: &Connection, filter: &str) -> Result<Vec<Run>> {
    let headers = format!("SELECT id, doc FROM runs {filter} ORDER BY created_at, id");
    let mut stmt = conn
        .prepare_cached(&headers)
        .map_err(StoreError::sql("list runs"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(StoreError::sql("list runs"))?;
    let mut runs = Vec::new();
    let mut position = std::collections::HashMap::new();
    for row in rows {
        let (id, doc) = row.map_err(StoreError::sql("list runs"))?;
        position.insert(id, runs.len());
        runs.push(decode::<Run>(&doc, "run")?);
    }
    let steps = format!(
        "SELECT run_id, doc FROM run_steps WHERE run_id IN (SELECT id FROM runs {filter}) ORDER BY run_id, idx"
    );
    let mut stmt = conn
        .prepare_cached(&steps)
        .map_err(StoreError::sql("list runs' steps"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(StoreError::sql("list runs' steps"))?;
    for row in rows {
        let (run_id, doc) = row.map_err(StoreError::sql("list runs' steps"))?;
        if let Some(run) = position.get(&run_id).and_then(|&i| runs.get_mut(i)) {
            run.steps.push(decode(&doc, "step")?);
        }
    }
    Ok(runs)
}
