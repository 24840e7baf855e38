//! Schema migrations keyed by SQLite's `user_version`.

use super::{Result, StoreError};
use rusqlite::Connection;
use std::path::Path;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: board, runs and the audit log.
    r#"
    CREATE TABLE blocks (
        id          TEXT PRIMARY KEY,
        level       TEXT NOT NULL,
        parent_id   TEXT REFERENCES blocks(id),
        title       TEXT NOT NULL,
        description TEXT NOT NULL,
        status      TEXT NOT NULL,
        progress    REAL NOT NULL,
        run_id      TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX blocks_parent ON blocks(parent_id);

    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        block_id    TEXT NOT NULL REFERENCES blocks(id),
        status      TEXT NOT NULL,
        rev         INTEGER NOT NULL,
        doc         TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX runs_block ON runs(block_id);
    CREATE INDEX runs_status ON runs(status);

    CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        gate_id     TEXT NOT NULL,
        gate_kind   TEXT NOT NULL,
        choice      TEXT NOT NULL,
        text        TEXT
    );
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: steps become rows, so a transition writes only the steps it changed.
    r#"
    CREATE TABLE run_steps (
        run_id  TEXT NOT NULL REFERENCES runs(id),
        idx     INTEGER NOT NULL,
        doc     TEXT NOT NULL,
        PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID;
    INSERT INTO run_steps (run_id, idx, doc)
        SELECT runs.id, CAST(step.key AS INTEGER), step.value
        FROM runs, json_each(runs.doc, '$.steps') AS step;
    UPDATE runs SET doc = json_set(doc, '$.steps', json('[]'));
    "#,
    // 3: attention cards; at most one open card per block and type.
    r#"
    CREATE TABLE notifications (
        id          TEXT PRIMARY KEY,
        type        TEXT NOT NULL,
        status      TEXT NOT NULL,
        severity    TEXT NOT NULL,
        block_id    TEXT NOT NULL REFERENCES blocks(id),
        run_id      TEXT,
        title       TEXT NOT NULL,
        body        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        resolved_at INTEGER
    );
    CREATE UNIQUE INDEX notifications_one_open ON notifications(block_id, type)
        WHERE status = 'open';
    CREATE INDEX notifications_by_status ON notifications(status, created_at);
    "#,
    // 4: the spend ledger: one row per priced model call, keyed so a job
    // followed again after a restart cannot count a call twice.
    r#"
    CREATE TABLE spend (
        job_id      TEXT NOT NULL,
        call_no     INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        month       TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        step_index  INTEGER NOT NULL,
        model       TEXT NOT NULL,
        cost        REAL NOT NULL,
        currency    TEXT NOT NULL,
        PRIMARY KEY (job_id, call_no)
    ) WITHOUT ROWID;
    CREATE INDEX spend_by_month ON spend(month);
    "#,
    // 5: the pull request (its URL) the block's latest run opened.
    r#"
    ALTER TABLE blocks ADD COLUMN pull_request TEXT;
    "#,
    // 6: steps carry their agent's role. Steps stored before roles get the
    // role the old name rules implied, so a stored run ends as it would have.
    r#"
    UPDATE run_steps SET doc = json_set(doc, '$.role',
        CASE
            WHEN json_extract(doc, '$.companion') IS NOT NULL THEN 'grader'
            WHEN json_extract(doc, '$.agent_kind') = 'merger' THEN 'merger'
            WHEN json_extract(doc, '$.agent_kind') LIKE '%test%' THEN 'tester'
            WHEN json_extract(doc, '$.agent_kind') = 'ci'
              OR json_extract(doc, '$.agent_kind') LIKE 'ci-%' THEN 'gate-helper'
            ELSE 'producer'
        END)
    WHERE json_extract(doc, '$.role') IS NULL;
    "#,
    // 7: the key a block was imported under, so importing the same file
    // again finds it and changes nothing.
    r#"
    ALTER TABLE blocks ADD COLUMN import_key TEXT;
    CREATE UNIQUE INDEX blocks_import_key ON blocks(import_key)
        WHERE import_key IS NOT NULL;
    "#,
    // 8: one row the daemon rewrites to learn whether a full disk takes
    // writes again, with no other write to try.
    r#"
    CREATE TABLE disk_probe (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        at  INTEGER NOT NULL,
        pad BLOB
    );
    "#,
    // 9: a frame's git repository (JSON: path, base, remote, merge).
    r#"
    ALTER TABLE blocks ADD COLUMN repository TEXT;
    "#,
    // 10: a task's latest estimate (JSON: complexity, risk, impact, rationale, at).
    r#"
    ALTER TABLE blocks ADD COLUMN estimate TEXT;
    "#,
    // 11: recurring pipelines: each schedule's JSON with its next fire,
    // and every fire as its history.
    r#"
    CREATE TABLE schedules (
        id          TEXT PRIMARY KEY,
        doc         TEXT NOT NULL,
        next_run_at INTEGER NOT NULL
    );
    CREATE TABLE schedule_fires (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule_id TEXT NOT NULL,
        at          INTEGER NOT NULL,
        doc         TEXT NOT NULL
    );
    CREATE INDEX schedule_fires_by_schedule ON schedule_fires(schedule_id, seq);
    "#,
    // 12: at most one live run per block, enforced by the store, so two
    // starts racing cannot both win. A block that already holds more than
    // one (possible before this) keeps its current run; the others end as
    // superseded. The status list is `RunStatus::live()` (a store test
    // holds them equal).
    r#"
    CREATE TEMP TABLE doubled AS
        SELECT id FROM runs
        WHERE status IN ('running', 'blocked', 'paused')
          AND id != (
            SELECT r2.id FROM runs r2
            WHERE r2.block_id = runs.block_id
              AND r2.status IN ('running', 'blocked', 'paused')
            ORDER BY (r2.id = (SELECT b.run_id FROM blocks b WHERE b.id = r2.block_id)) DESC,
                     r2.created_at DESC, r2.id DESC
            LIMIT 1);
    UPDATE run_steps SET doc = json_set(doc, '$.state', 'pending')
        WHERE run_id IN (SELECT id FROM doubled)
          AND json_extract(doc, '$.state') IN ('working', 'waiting_decision');
    UPDATE runs SET status = 'failed', doc = json_set(doc,
            '$.status', 'failed',
            '$.failure', json_object(
                'kind', 'cancelled',
                'message', 'superseded: a second live run on its block, ended when the store began to allow only one',
                'occurred_at', updated_at,
                'step_index', COALESCE(json_extract(doc, '$.current_step'), 0),
                'cancellation', 'superseded'))
        WHERE id IN (SELECT id FROM doubled);
    DROP TABLE doubled;
    CREATE UNIQUE INDEX runs_one_live_per_block ON runs(block_id)
        WHERE status IN ('running', 'blocked', 'paused');
    "#,
];

pub fn supported_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn run(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    let supported = supported_version();
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn
            .transaction()
            .map_err(StoreError::sql("begin a migration"))?;
        tx.execute_batch(sql)
            .map_err(StoreError::sql("apply a migration"))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(StoreError::sql("record the schema version"))?;
        tx.commit().map_err(StoreError::sql("commit a migration"))?;
    }
    Ok(())
}
