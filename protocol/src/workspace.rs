//! The workspace file: blocks to create (and pipelines to start on them),
//! read by `catteryd --seed` and `cattery ctl block import` alike.

use crate::BlockLevel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    pub blocks: Vec<WorkspaceBlock>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBlock {
    /// A name later blocks use as `parent`.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default = "task")]
    pub level: BlockLevel,
    /// An earlier block's key (or an existing block id).
    #[serde(default)]
    pub parent: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Started on the block right after it is created.
    #[serde(default)]
    pub pipeline: Option<String>,
}

/// One block of an import, with the line of the file it came from, so the
/// daemon's refusals can name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportBlock {
    pub line: u32,
    pub block: WorkspaceBlock,
}

/// What an import did: the blocks it created, and how many of the file's
/// blocks were there already (same key) and were left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub created: Vec<crate::Block>,
    pub unchanged: usize,
}

fn task() -> BlockLevel {
    BlockLevel::Task
}
