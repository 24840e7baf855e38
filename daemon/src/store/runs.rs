use super::{Result, Store, StoreError, codec};
use cattery_protocol::Run;
use rusqlite::{OptionalExtension, Transaction, params};

/// A run to store: inserted when `expected_rev` is `None`, else
/// compare-and-swapped against the rev the writer loaded.
#[derive(Debug, Clone)]
pub struct RunWrite {
    pub run: Run,
    pub expected_rev: Option<u64>,
}

pub fn write(tx: &Transaction, write: RunWrite) -> Result<Run> {
    let mut run = write.run;
    run.rev = write.expected_rev.map_or(1, |rev| rev + 1);
    let doc = serde_json::to_string(&run).map_err(|source| StoreError::Decode {
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
                    run.id, run.block_id, status, run.rev as i64, doc, run.created_at, run.updated_at
                ])
            })
            .map_err(StoreError::sql("insert a run"))?,
        Some(expected) => tx
            .prepare_cached(
                "UPDATE runs SET status = ?2, rev = ?3, doc = ?4, updated_at = ?5 WHERE id = ?1 AND rev = ?6",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    run.id, status, run.rev as i64, doc, run.updated_at, expected as i64
                ])
            })
            .map_err(StoreError::sql("update a run"))?,
    };
    if changed == 0 {
        let found: Option<i64> = tx
            .query_row("SELECT rev FROM runs WHERE id = ?1", [&run.id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(StoreError::sql("read a run's rev"))?;
        return Err(StoreError::Conflict {
            run_id: run.id,
            expected: write.expected_rev.unwrap_or(0),
            found: found.map_or("no such run".to_owned(), |rev| format!("rev {rev}")),
        });
    }
    Ok(run)
}

fn decode(doc: String) -> Result<Run> {
    serde_json::from_str(&doc).map_err(|source| StoreError::Decode {
        what: "run",
        source,
    })
}

impl Store {
    pub fn run(&self, id: &str) -> Result<Option<Run>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM runs WHERE id = ?1")
            .map_err(StoreError::sql("read a run"))?;
        let doc: Option<String> = stmt
            .query_row([id], |r| r.get(0))
            .optional()
            .map_err(StoreError::sql("read a run"))?;
        doc.map(decode).transpose()
    }

    /// Runs that may still change: running, blocked or paused.
    pub fn live_runs(&self) -> Result<Vec<Run>> {
        self.query_runs(
            "SELECT doc FROM runs WHERE status IN ('running', 'blocked', 'paused') ORDER BY created_at, id",
        )
    }

    pub fn runs(&self) -> Result<Vec<Run>> {
        self.query_runs("SELECT doc FROM runs ORDER BY created_at, id")
    }

    fn query_runs(&self, sql: &str) -> Result<Vec<Run>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(StoreError::sql("list runs"))?;
        let docs = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("list runs"))?;
        let mut runs = Vec::new();
        for doc in docs {
            runs.push(decode(doc.map_err(StoreError::sql("list runs"))?)?);
        }
        Ok(runs)
    }
}
