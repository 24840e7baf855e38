//! Schedules and their fires. A schedule is one JSON document per row,
//! with its next fire in a column of its own for the due query.

use super::{Result, Store, StoreError, blocks, tx};
use cattery_protocol::schedule::{Schedule, ScheduleFire};
use cattery_protocol::{Block, Millis};
use rusqlite::{Connection, OptionalExtension, params};

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Decode {
        what: "schedule",
        source,
    })
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|source| StoreError::Decode { what, source })
}

fn put(conn: &Connection, schedule: &Schedule) -> Result<()> {
    let doc = encode(schedule)?;
    conn.prepare_cached(
        "INSERT INTO schedules (id, doc, next_run_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, next_run_at = excluded.next_run_at",
    )
    .and_then(|mut stmt| stmt.execute(params![schedule.id, doc, schedule.next_run_at]))
    .map_err(StoreError::sql("write a schedule"))?;
    Ok(())
}

impl Store {
    /// A new schedule and its recurring task, in one transaction.
    pub fn insert_schedule(&self, task: &Block, schedule: &Schedule) -> Result<()> {
        self.writing(|conn| {
            tx::transaction(conn, |conn| {
                blocks::insert_one(conn, task)?;
                put(conn, schedule)
            })
        })
    }

    /// A schedule's new state, and the fire that changed it, together, so
    /// a crash never records a fire without its advance or the reverse.
    pub fn record_fire(&self, schedule: &Schedule, fire: Option<&ScheduleFire>) -> Result<()> {
        let doc = fire.map(encode).transpose()?;
        self.writing(|conn| {
            tx::transaction(conn, |conn| {
                put(conn, schedule)?;
                if let (Some(fire), Some(doc)) = (fire, &doc) {
                    conn.prepare_cached(
                        "INSERT INTO schedule_fires (schedule_id, at, doc) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![fire.schedule_id, fire.at, doc]))
                    .map_err(StoreError::sql("record a schedule's fire"))?;
                }
                Ok(())
            })
        })
    }

    /// Removes a schedule; false when there was none. Its fires stay.
    pub fn delete_schedule(&self, id: &str) -> Result<bool> {
        self.writing(|conn| {
            conn.execute("DELETE FROM schedules WHERE id = ?1", [id])
                .map(|n| n > 0)
                .map_err(StoreError::sql("remove a schedule"))
        })
    }

    /// Every schedule, soonest fire first.
    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM schedules ORDER BY next_run_at, id")
            .map_err(StoreError::sql("list schedules"))?;
        let docs = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("list schedules"))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(StoreError::sql("list schedules"))?;
        docs.iter().map(|d| decode("schedule", d)).collect()
    }

    pub fn schedule(&self, id: &str) -> Result<Option<Schedule>> {
        let conn = self.read();
        let doc = conn
            .query_row("SELECT doc FROM schedules WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(StoreError::sql("read a schedule"))?;
        doc.map(|d| decode("schedule", &d)).transpose()
    }

    /// The soonest fire of any schedule.
    pub fn next_schedule_due(&self) -> Result<Option<Millis>> {
        let conn = self.read();
        conn.query_row("SELECT MIN(next_run_at) FROM schedules", [], |r| r.get(0))
            .map_err(StoreError::sql("read the next schedule"))
    }

    /// A schedule's fires, oldest first.
    pub fn schedule_fires(&self, id: &str) -> Result<Vec<ScheduleFire>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT doc FROM schedule_fires WHERE schedule_id = ?1 ORDER BY seq")
            .map_err(StoreError::sql("read a schedule's fires"))?;
        let docs = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("read a schedule's fires"))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(StoreError::sql("read a schedule's fires"))?;
        docs.iter().map(|d| decode("schedule fire", d)).collect()
    }
}
