use super::{NewAudit, Result, Store, StoreError, codec};
use cattery_protocol::AuditEntry;
use rusqlite::{Connection, params};

pub fn append(tx: &Connection, entry: &NewAudit) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, run_id, gate_id, gate_kind, choice, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.at,
            entry.actor,
            entry.run_id,
            entry.gate_id,
            codec::text(&entry.gate_kind),
            entry.choice,
            entry.text,
        ])
    })
    .map_err(StoreError::sql("append to the audit log"))?;
    Ok(())
}

impl Store {
    /// The whole audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        self.audit_entries(None)
    }

    /// The audit log, oldest first: every run's, or only `run_id`'s.
    pub fn audit_entries(&self, run_id: Option<&str>) -> Result<Vec<AuditEntry>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, at, actor, run_id, gate_id, gate_kind, choice, text FROM audit WHERE ?1 IS NULL OR run_id = ?1 ORDER BY seq",
            )
            .map_err(StoreError::sql("read the audit log"))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(StoreError::sql("read the audit log"))?;
        let mut entries = Vec::new();
        for row in rows {
            let (seq, at, actor, run_id, gate_id, kind, choice, text) =
                row.map_err(StoreError::sql("read the audit log"))?;
            entries.push(AuditEntry {
                seq,
                at,
                actor,
                run_id,
                gate_id,
                gate_kind: codec::parse(&kind, "gate kind")?,
                choice,
                text,
            });
        }
        Ok(entries)
    }
}
