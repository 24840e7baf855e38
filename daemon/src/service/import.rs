//! Importing a workspace file: every block checked before any is written,
//! then all written in one transaction, and a block whose key the board
//! already holds left alone, so importing the same file twice is harmless.

use super::ops::NewBlock;
use super::{Daemon, Result, ServiceError};
use cattery_protocol::Block;
use cattery_protocol::workspace::{ImportBlock, Imported};
use std::collections::HashMap;
use std::sync::Arc;

/// A block of the file, ready to write, and the pipeline to start on it.
struct Planned {
    key: String,
    block: Block,
    pipeline: Option<String>,
}

impl Daemon {
    pub async fn import(
        self: &Arc<Self>,
        source: &str,
        blocks: Vec<ImportBlock>,
        actor: &str,
    ) -> Result<Imported> {
        let existing = self.store.imported_keys()?;
        let (planned, unchanged) = self.plan_import(source, blocks, &existing)?;
        let rows: Vec<(String, Block)> = planned
            .iter()
            .map(|p| (p.key.clone(), p.block.clone()))
            .collect();
        self.store.import_blocks(&rows)?;
        for p in &planned {
            self.publish_block(&p.block.id);
        }
        let mut created = Vec::new();
        for p in planned {
            if let Some(pipeline) = &p.pipeline {
                self.start(&p.block.id, pipeline, actor).await?;
            }
            created.push(self.block(&p.block.id)?);
        }
        Ok(Imported { created, unchanged })
    }

    /// Checks the whole file and builds its new blocks; nothing is written.
    fn plan_import(
        &self,
        source: &str,
        blocks: Vec<ImportBlock>,
        existing: &HashMap<String, String>,
    ) -> Result<(Vec<Planned>, usize)> {
        let mut ids_by_key = existing.clone();
        let mut planned = Vec::new();
        let mut unchanged = 0;
        for ImportBlock { line, block } in blocks {
            let at = |what: String| ServiceError::Invalid(format!("{source}:{line}: {what}"));
            if block.title.trim().is_empty() {
                return Err(at("the block has an empty title; give it one".to_owned()));
            }
            // Without a key, a block is known by its parent and its title.
            let key = block.key.clone().unwrap_or_else(|| {
                format!("{}/{}", block.parent.as_deref().unwrap_or(""), block.title)
            });
            if let Some(pipeline) = block.pipeline.as_deref()
                && !self.catalog.pipelines.contains_key(pipeline)
            {
                let known: Vec<&str> = self.catalog.pipelines.keys().map(String::as_str).collect();
                return Err(at(format!(
                    "pipeline `{pipeline}` does not exist; use one of: {}",
                    known.join(", ")
                )));
            }
            let parent_id = match block.parent.as_deref() {
                None => None,
                Some(parent) => Some(self.resolve_parent(parent, &ids_by_key).ok_or_else(|| {
                    at(format!(
                        "parent `{parent}` not found: name the key of an earlier block in this file, or the id of a block on the board"
                    ))
                })?),
            };
            if existing.contains_key(&key) {
                unchanged += 1;
                continue;
            }
            if ids_by_key.contains_key(&key) {
                return Err(at(format!("key `{key}` is used twice in this file")));
            }
            let repository = block.repository();
            if repository.is_none()
                && (block.base.is_some() || block.remote.is_some() || block.merge.is_some())
            {
                return Err(at(
                    "`base`, `remote` and `merge` belong with `repo`: name the clone too"
                        .to_owned(),
                ));
            }
            let block_row = self
                .planned_block(NewBlock {
                    level: block.level,
                    parent_id,
                    title: block.title,
                    description: block.description,
                    repository,
                })
                .map_err(|e| at(e.to_string()))?;
            ids_by_key.insert(key.clone(), block_row.id.clone());
            planned.push(Planned {
                key,
                pipeline: block.pipeline,
                block: block_row,
            });
        }
        Ok((planned, unchanged))
    }

    /// A parent named by an import key, or by the id of a block on the board.
    fn resolve_parent(&self, parent: &str, ids_by_key: &HashMap<String, String>) -> Option<String> {
        if let Some(id) = ids_by_key.get(parent) {
            return Some(id.clone());
        }
        self.store.block(parent).ok().flatten().map(|b| b.id)
    }
}
