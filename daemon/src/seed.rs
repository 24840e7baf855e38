//! Seeding a workspace from TOML: the demo workspace, and tests' fixtures.
//! Runs only on an empty board, so restarts never duplicate blocks.

use crate::drive::ENGINE_ACTOR;
use crate::service::ops::NewBlock;
use crate::service::{Daemon, ServiceError};
use cattery_protocol::workspace::WorkspaceFile;
use std::collections::HashMap;
use std::sync::Arc;

pub const DEMO: &str = include_str!("../../assets/demo.toml");

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{label}: invalid seed file: {message}")]
    Parse { label: String, message: String },
    #[error("{label}: block `{title}` names parent `{parent}`, which no earlier block has as key")]
    UnknownParent {
        label: String,
        title: String,
        parent: String,
    },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Creates the seed's blocks and starts their pipelines, if the board is
/// empty. Returns the number of runs started.
pub async fn seed(daemon: &Arc<Daemon>, label: &str, text: &str) -> Result<usize, SeedError> {
    let file: WorkspaceFile = toml::from_str(text).map_err(|e| SeedError::Parse {
        label: label.to_owned(),
        message: e.to_string(),
    })?;
    if !daemon.board()?.is_empty() {
        return Ok(0);
    }
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut to_start = Vec::new();
    for entry in file.blocks {
        let parent_id = match &entry.parent {
            Some(parent) => {
                Some(
                    keys.get(parent)
                        .cloned()
                        .ok_or_else(|| SeedError::UnknownParent {
                            label: label.to_owned(),
                            title: entry.title.clone(),
                            parent: parent.clone(),
                        })?,
                )
            }
            None => None,
        };
        let block = daemon.add_block(NewBlock {
            level: entry.level,
            parent_id,
            title: entry.title,
            description: entry.description,
        })?;
        if let Some(key) = entry.key {
            keys.insert(key, block.id.clone());
        }
        if let Some(pipeline) = entry.pipeline {
            to_start.push((block.id, pipeline));
        }
    }
    for (block_id, pipeline) in &to_start {
        daemon.start(block_id, pipeline, ENGINE_ACTOR).await?;
    }
    Ok(to_start.len())
}
