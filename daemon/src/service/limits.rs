//! The running-task limit per service frame: a start that would exceed it
//! is refused, naming the limit and the runs that hold it. The check here
//! words the refusal; the store counts again in the start's own
//! transaction (`FrameClaim`), so two starts racing cannot both fit.

use super::{Daemon, Result, ServiceError};
use crate::store::{FrameClaim, StoreError};
use cattery_protocol::{Block, BlockLevel};
use std::collections::HashMap;

impl Daemon {
    /// Refuses a start on `block` when its service frame is full; else the
    /// claim the start's commit makes on the frame.
    pub(crate) fn check_limits(
        &self,
        block: &Block,
        pipeline_id: &str,
    ) -> Result<Option<FrameClaim>> {
        let limits = self.limits();
        let per_pipeline = limits.per_pipeline.get(pipeline_id).copied();
        if limits.running_per_frame.is_none() && per_pipeline.is_none() {
            return Ok(None);
        }
        let blocks: HashMap<String, Block> = self
            .board()?
            .into_iter()
            .map(|b| (b.id.clone(), b))
            .collect();
        let Some(frame) = frame_of(&blocks, &block.id) else {
            return Ok(None);
        };
        let holders: Vec<(String, String, String)> = self
            .store
            .live_runs()?
            .into_iter()
            // The block's own live run is replaced by this start.
            .filter(|r| r.block_id != block.id)
            .filter(|r| frame_of(&blocks, &r.block_id).as_deref() == Some(frame.as_str()))
            .map(|r| {
                let title = blocks.get(&r.block_id).map_or("?", |b| b.title.as_str());
                (title.to_owned(), r.id.clone(), r.pipeline_id.clone())
            })
            .collect();
        let frame_title = blocks
            .get(&frame)
            .map_or(frame.as_str(), |b| b.title.as_str());
        if let Some(limit) = limits.running_per_frame {
            refuse_if_full(frame_title, limit, "running_per_frame", &holders)?;
        }
        if let Some(limit) = per_pipeline {
            let same: Vec<_> = holders.into_iter().filter(|h| h.2 == pipeline_id).collect();
            let setting = format!("[limits.per_pipeline] {pipeline_id}");
            refuse_if_full(frame_title, limit, &setting, &same)?;
        }
        Ok(Some(FrameClaim {
            frame_id: frame,
            block_id: block.id.clone(),
            limit: limits.running_per_frame,
            per_pipeline: per_pipeline.map(|limit| (pipeline_id.to_owned(), limit)),
        }))
    }

    /// A claim the store refused, worded as the check words it; the
    /// store's own wording if the holders ended meanwhile.
    pub(crate) fn refused_claim(
        &self,
        block: &Block,
        pipeline_id: &str,
        e: ServiceError,
    ) -> ServiceError {
        if !matches!(e, ServiceError::Store(StoreError::FrameFull { .. })) {
            return e;
        }
        match self.check_limits(block, pipeline_id) {
            Err(worded) => worded,
            Ok(_) => e,
        }
    }
}

fn refuse_if_full(
    frame: &str,
    limit: u32,
    setting: &str,
    holders: &[(String, String, String)],
) -> Result<()> {
    if holders.len() < limit as usize {
        return Ok(());
    }
    let named: Vec<String> = holders
        .iter()
        .map(|(title, run, pipeline)| format!("{title} ({pipeline} run {run})"))
        .collect();
    Err(ServiceError::Limit(format!(
        "service `{frame}` is at its limit of {limit} live run(s) ({setting} in config.toml), held by: {}; wait for one to finish, stop one, or raise the limit",
        named.join(", ")
    )))
}

/// The service frame a block sits under (itself, for a frame).
fn frame_of(blocks: &HashMap<String, Block>, id: &str) -> Option<String> {
    let mut at = blocks.get(id)?;
    for _ in 0..blocks.len() {
        if at.level == BlockLevel::Frame {
            return Some(at.id.clone());
        }
        at = blocks.get(at.parent_id.as_deref()?)?;
    }
    None
}
