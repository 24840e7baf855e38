use super::{BlockWrite, Result, Store, StoreError, codec};
use cattery_protocol::Block;
use cattery_protocol::agent::PullRequest;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, level, parent_id, title, description, status, progress, run_id, created_at, updated_at, pull_request, repository, estimate";

impl Store {
    pub fn insert_block(&self, block: &Block) -> Result<()> {
        self.writing(|conn| insert_checked(conn, block))
    }

    pub fn block(&self, id: &str) -> Result<Option<Block>> {
        let conn = self.read();
        let sql = format!("SELECT {COLUMNS} FROM blocks WHERE id = ?1");
        let mut stmt = conn
            .prepare_cached(&sql)
            .map_err(StoreError::sql("read a block"))?;
        let row = stmt
            .query_row([id], from_row)
            .optional()
            .map_err(StoreError::sql("read a block"))?;
        row.transpose()
    }

    pub fn blocks(&self) -> Result<Vec<Block>> {
        blocks_on(&self.read())
    }

    /// Ids of the blocks imported under a key, by key.
    pub fn imported_keys(&self) -> Result<std::collections::HashMap<String, String>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT import_key, id FROM blocks WHERE import_key IS NOT NULL")
            .map_err(StoreError::sql("list import keys"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(StoreError::sql("list import keys"))?;
        let mut keys = std::collections::HashMap::new();
        for row in rows {
            let (key, id) = row.map_err(StoreError::sql("list import keys"))?;
            keys.insert(key, id);
        }
        Ok(keys)
    }

    /// Points a block at a repository (or none); returns the block as stored.
    pub fn set_repository(
        &self,
        id: &str,
        repository: Option<&cattery_protocol::Repository>,
        at: cattery_protocol::Millis,
    ) -> Result<Block> {
        self.writing(|conn| {
            let sql = format!(
                "UPDATE blocks SET repository = ?2, updated_at = ?3 WHERE id = ?1 RETURNING {COLUMNS}"
            );
            let row = conn
                .prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_row(params![id, repository_json(repository), at], from_row)
                        .optional()
                })
                .map_err(StoreError::sql("set a block's repository"))?;
            row.ok_or_else(|| StoreError::NotFound {
                what: "block",
                id: id.to_owned(),
            })?
        })
    }

    /// Inserts an import's blocks, each under its key, in one transaction:
    /// all of them or, on any error, none.
    pub fn import_blocks(&self, blocks: &[(String, Block)]) -> Result<()> {
        self.writing(|conn| import_in(conn, blocks))
    }
}

/// All of an import's blocks in one transaction, or none.
fn import_in(conn: &mut Connection, blocks: &[(String, Block)]) -> Result<()> {
    let tx = conn
        .transaction()
        .map_err(StoreError::sql("begin an import"))?;
    for (key, block) in blocks {
        if insert(&tx, block, Some(key))? == 0 {
            return Err(StoreError::Duplicate {
                what: "block",
                id: block.id.clone(),
            });
        }
    }
    tx.commit().map_err(StoreError::sql("commit an import"))
}

/// Inserts a new block, refusing an unknown parent or a taken id.
fn insert_checked(conn: &mut Connection, block: &Block) -> Result<()> {
    if let Some(parent) = &block.parent_id {
        let exists: bool = conn
            .query_row("SELECT 1 FROM blocks WHERE id = ?1", [parent], |_| Ok(true))
            .optional()
            .map_err(StoreError::sql("look up a parent block"))?
            .unwrap_or(false);
        if !exists {
            return Err(StoreError::NotFound {
                what: "parent block",
                id: parent.clone(),
            });
        }
    }
    let inserted = insert(conn, block, None)?;
    if inserted == 0 {
        return Err(StoreError::Duplicate {
            what: "block",
            id: block.id.clone(),
        });
    }
    Ok(())
}

/// Inserts one new block; its id must be new.
pub(super) fn insert_one(conn: &Connection, block: &Block) -> Result<()> {
    match insert(conn, block, None)? {
        1 => Ok(()),
        _ => Err(StoreError::Duplicate {
            what: "block",
            id: block.id.clone(),
        }),
    }
}

/// Inserts one block (under an import key, if any); 0 when its id exists.
fn insert(conn: &Connection, block: &Block, key: Option<&str>) -> Result<usize> {
    conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO blocks ({COLUMNS}, import_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            block.id,
            codec::text(&block.level),
            block.parent_id,
            block.title,
            block.description,
            codec::text(&block.status),
            block.progress,
            block.run_id,
            block.created_at,
            block.updated_at,
            pr_url(block.pull_request.as_ref()),
            repository_json(block.repository.as_ref()),
            block
                .estimate
                .as_ref()
                .and_then(|e| serde_json::to_string(e).ok()),
            key,
        ])
    })
    .map_err(StoreError::sql("insert a block"))
}

/// Every block, oldest first, read on `conn` (maybe inside a transaction).
pub(super) fn blocks_on(conn: &Connection) -> Result<Vec<Block>> {
    let sql = format!("SELECT {COLUMNS} FROM blocks ORDER BY created_at, id");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("list blocks"))?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(StoreError::sql("list blocks"))?;
    let mut blocks = Vec::new();
    for row in rows {
        blocks.push(row.map_err(StoreError::sql("list blocks"))??);
    }
    Ok(blocks)
}

/// Writes a run's effect on its block and returns the block as stored, so
/// publishing it needs no second read.
pub fn write_status(tx: &Connection, block: &BlockWrite) -> Result<Block> {
    let sql = format!(
        "UPDATE blocks SET status = ?2, progress = ?3, run_id = COALESCE(?4, run_id), updated_at = ?5, pull_request = ?6, estimate = COALESCE(?7, estimate) WHERE id = ?1 RETURNING {COLUMNS}"
    );
    let row = tx
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    block.id,
                    codec::text(&block.status),
                    block.progress,
                    block.run_id,
                    block.at,
                    pr_url(block.pull_request.as_ref()),
                    block
                        .estimate
                        .as_ref()
                        .and_then(|e| serde_json::to_string(e).ok()),
                ],
                from_row,
            )
            .optional()
        })
        .map_err(StoreError::sql("update a block"))?;
    row.ok_or_else(|| StoreError::NotFound {
        what: "block",
        id: block.id.clone(),
    })?
}

fn from_row(row: &Row) -> rusqlite::Result<Result<Block>> {
    let level: String = row.get(1)?;
    let status: String = row.get(5)?;
    let build = |level, status| Block {
        id: String::new(),
        level,
        parent_id: None,
        title: String::new(),
        description: String::new(),
        status,
        progress: 0.0,
        run_id: None,
        pull_request: None,
        repository: None,
        estimate: None,
        created_at: 0,
        updated_at: 0,
    };
    let parsed = codec::parse(&level, "block level")
        .and_then(|l| codec::parse(&status, "block status").map(|s| build(l, s)));
    let Ok(mut block) = parsed else {
        return Ok(parsed);
    };
    block.id = row.get(0)?;
    block.parent_id = row.get(2)?;
    block.title = row.get(3)?;
    block.description = row.get(4)?;
    block.progress = row.get(6)?;
    block.run_id = row.get(7)?;
    block.created_at = row.get(8)?;
    block.updated_at = row.get(9)?;
    block.pull_request = row
        .get::<_, Option<String>>(10)?
        .map(|url| PullRequest { url });
    let repository = row.get::<_, Option<String>>(11)?;
    match repository
        .map(|json| serde_json::from_str(&json))
        .transpose()
    {
        Ok(repository) => block.repository = repository,
        Err(source) => {
            return Ok(Err(StoreError::Decode {
                what: "block repository",
                source,
            }));
        }
    }
    // An estimate that no longer reads is dropped, not fatal: the next
    // estimator writes a fresh one, and a gated step falls back to its
    // `on_missing_estimate`.
    block.estimate = row
        .get::<_, Option<String>>(12)?
        .and_then(|json| serde_json::from_str(&json).ok());
    Ok(Ok(block))
}

fn repository_json(repository: Option<&cattery_protocol::Repository>) -> Option<String> {
    repository.and_then(|r| serde_json::to_string(r).ok())
}

fn pr_url(pr: Option<&PullRequest>) -> Option<&str> {
    pr.map(|p| p.url.as_str())
}
