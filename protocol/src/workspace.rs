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
    /// A frame's repository: the path of a local clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The branch runs start from; default: the clone's current branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<crate::MergeMode>,
    /// A frame's delivery providers (`[blocks.providers]`): ci, checks,
    /// health and test_command.
    #[serde(default, skip_serializing_if = "crate::Providers::is_empty")]
    pub providers: crate::Providers,
}

impl WorkspaceBlock {
    /// The repository this block names, if it names one.
    pub fn repository(&self) -> Option<crate::RepositorySpec> {
        let path = self.repo.clone()?;
        Some(crate::RepositorySpec {
            path,
            base: self.base.clone(),
            remote: self.remote.clone(),
            merge: self.merge,
            providers: Box::new(self.providers.clone()),
        })
    }
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
