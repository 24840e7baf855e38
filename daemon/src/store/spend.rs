//! The spend ledger.

use super::{Result, Store, StoreError};
use cattery_protocol::Millis;
use rusqlite::{Connection, params};

/// One priced model call.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendRow {
    pub job_id: String,
    /// The call's position in its job's output.
    pub call_no: u64,
    pub at: Millis,
    /// `YYYY-MM` in UTC.
    pub month: String,
    pub run_id: String,
    pub step_index: usize,
    pub model: String,
    pub cost: f64,
    pub currency: String,
}

impl Store {
    /// Records a call's cost; false when this call was already recorded
    /// (a job followed again replays its output).
    pub fn record_spend(&self, row: &SpendRow) -> Result<bool> {
        self.writing(|conn| record_in(conn, row))
    }

    /// Total cost recorded in `month` (`YYYY-MM`).
    pub fn spent_in(&self, month: &str) -> Result<f64> {
        let conn = self.read();
        conn.prepare_cached("SELECT COALESCE(SUM(cost), 0.0) FROM spend WHERE month = ?1")
            .and_then(|mut stmt| stmt.query_row([month], |row| row.get(0)))
            .map_err(StoreError::sql("sum spend"))
    }
}

/// Records a call's cost once.
fn record_in(conn: &Connection, row: &SpendRow) -> Result<bool> {
    let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO spend (job_id, call_no, at, month, run_id, step_index, model, cost, currency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    row.job_id,
                    row.call_no as i64,
                    row.at,
                    row.month,
                    row.run_id,
                    row.step_index as i64,
                    row.model,
                    row.cost,
                    row.currency
                ])
            })
            .map_err(StoreError::sql("record spend"))?;
    Ok(inserted == 1)
}
