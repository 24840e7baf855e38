//! One request, one engine operation, one answer.

use super::Shared;
use crate::service::ServiceError;
use crate::service::ops::NewBlock;
use cattery_protocol::wire::{Call, DaemonStatus, ErrorCode, WireError};
use cattery_protocol::{
    GateAction, GateDecision, NotificationStatus, PROTOCOL_VERSION, PendingGate,
};
use serde::Serialize;
use serde_json::Value;

pub async fn handle(shared: &Shared, actor: &str, call: Call) -> Result<Value, WireError> {
    let daemon = &shared.daemon;
    match call {
        Call::Status => to_json(DaemonStatus {
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: PROTOCOL_VERSION,
            executor: daemon.executor.name().to_owned(),
            pid: std::process::id(),
            seq: shared.bus.seq(),
            live_runs: daemon.store.live_runs().map_err(service)?.len(),
        }),
        Call::Shutdown => {
            shared.shutdown.notify_one();
            Ok(Value::Null)
        }
        Call::Board => to_json(daemon.board().map_err(service)?),
        Call::Runs => to_json(daemon.store.runs().map_err(service)?),
        Call::Inbox => to_json(inbox(shared)?),
        Call::Notifications { all } => to_json(daemon.store.notifications(all).map_err(service)?),
        Call::Act { id } => to_json(
            daemon
                .attention
                .resolve(&id, NotificationStatus::Acted)
                .map_err(service)?,
        ),
        Call::Dismiss { id } => to_json(
            daemon
                .attention
                .resolve(&id, NotificationStatus::Dismissed)
                .map_err(service)?,
        ),
        Call::ResumePaused => to_json(serde_json::json!({
            "resumed": daemon.resume_paused().map_err(service)?,
            "spend": daemon.spend.report(),
        })),
        Call::Spend => to_json(daemon.spend.report()),
        Call::Audit { run_id } => to_json(daemon.audit(run_id.as_deref()).map_err(service)?),
        Call::Pipelines => to_json(daemon.catalog.pipelines.values().collect::<Vec<_>>()),
        Call::AddBlock {
            title,
            description,
            parent_id,
            level,
        } => {
            let new = NewBlock {
                level,
                parent_id,
                title,
                description,
            };
            to_json(daemon.add_block(new).map_err(service)?)
        }
        Call::Start {
            block_id,
            pipeline_id,
        } => to_json(
            daemon
                .start(&block_id, &pipeline_id, actor)
                .await
                .map_err(service)?,
        ),
        Call::Approve {
            gate_id,
            rev,
            edited_proposal,
        } => {
            decide(
                shared,
                actor,
                gate_id,
                rev,
                GateAction::Approve { edited_proposal },
            )
            .await
        }
        Call::RequestChanges {
            gate_id,
            rev,
            feedback,
            comments,
        } => {
            let action = GateAction::RequestChanges { feedback, comments };
            decide(shared, actor, gate_id, rev, action).await
        }
        Call::Reject {
            gate_id,
            rev,
            reason,
        } => decide(shared, actor, gate_id, rev, GateAction::Reject { reason }).await,
        Call::ResolveDecision {
            gate_id,
            rev,
            option,
        } => {
            decide(
                shared,
                actor,
                gate_id,
                rev,
                GateAction::ChooseOption { option },
            )
            .await
        }
        Call::ResolveIterationCap {
            gate_id,
            rev,
            choice,
        } => {
            let action = GateAction::ResolveIterationCap { choice };
            decide(shared, actor, gate_id, rev, action).await
        }
        Call::Retry { run_id } => to_json(daemon.retry(&run_id, actor).await.map_err(service)?),
        Call::RestartFromStep { run_id, step } => to_json(
            daemon
                .restart_from(&run_id, step, actor)
                .await
                .map_err(service)?,
        ),
        Call::Cancel { block_id } => {
            to_json(daemon.cancel(&block_id, actor).await.map_err(service)?)
        }
        Call::Stop { run_id } => to_json(daemon.stop(&run_id, actor).await.map_err(service)?),
    }
}

async fn decide(
    shared: &Shared,
    actor: &str,
    gate_id: String,
    rev: u64,
    action: GateAction,
) -> Result<Value, WireError> {
    let run = shared.daemon.run_for_gate(&gate_id).map_err(service)?;
    let decision = GateDecision {
        gate_id,
        rev,
        actor: actor.to_owned(),
        action,
    };
    to_json(
        shared
            .daemon
            .decide(&run.id, &decision)
            .await
            .map_err(service)?,
    )
}

/// Gates waiting for a human across all live runs, oldest first.
pub fn inbox(shared: &Shared) -> Result<Vec<PendingGate>, WireError> {
    let runs = shared.daemon.store.live_runs().map_err(service)?;
    let mut gates: Vec<_> = runs.iter().filter_map(|r| r.pending_gate()).collect();
    gates.sort_by_key(|g| g.since);
    Ok(gates)
}

fn to_json<T: Serialize>(value: T) -> Result<Value, WireError> {
    serde_json::to_value(value).map_err(|e| WireError {
        code: ErrorCode::Unavailable,
        message: format!("cannot encode the answer: {e}"),
    })
}

pub fn service(error: impl Into<ServiceError>) -> WireError {
    let error = error.into();
    let code = error.code();
    WireError {
        code,
        message: error.to_string(),
    }
}
