//! Stand-ins for the TUI until the websocket API exists: a printer of
//! events, an autopilot for gates, and an idle detector.

use cattery_daemon::events::Numbered;
use cattery_daemon::service::Daemon;
use cattery_protocol::event::Event;
use cattery_protocol::{
    GateAction, GateDecision, GateKind, IterationCapChoice, PendingGate, Run, RunStatus, StepState,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

pub async fn print_events(mut events: broadcast::Receiver<Numbered>) {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut titles: HashMap<String, String> = HashMap::new();
    loop {
        let event = match events.recv().await {
            Ok(n) => n.event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                println!("… {n} events skipped");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match event {
            Event::Block { block } => {
                titles.insert(block.id.clone(), block.title.clone());
            }
            Event::Run { run } => {
                let title = titles
                    .get(&run.block_id)
                    .cloned()
                    .unwrap_or_else(|| run.block_id.clone());
                let line = describe(&run);
                if seen.get(&run.id) != Some(&line) {
                    println!(
                        "{:<28} {:<7} {}",
                        truncate(&title, 28),
                        run.pipeline_id,
                        line
                    );
                    seen.insert(run.id.clone(), line);
                }
            }
            Event::GateOpened { gate } => {
                println!(
                    "  ⏸ {} gate {} at {}: {}",
                    kind_name(gate.kind),
                    gate.id,
                    gate.agent_kind,
                    first_line(&gate.prompt)
                );
            }
            Event::StepLog { .. } | Event::StepMetrics { .. } => {}
        }
    }
}

fn describe(run: &Run) -> String {
    let Some(step) = run.current() else {
        return format!("{:?}", run.status).to_lowercase();
    };
    match run.status {
        RunStatus::Done => "✔ done".to_owned(),
        RunStatus::Failed => {
            let failure = run
                .failure
                .as_ref()
                .map(|f| format!("{:?}: {}", f.kind, f.message))
                .unwrap_or_default();
            format!("✘ failed at {}: {failure}", step.agent_kind)
        }
        _ => {
            let state = match step.state {
                StepState::Pending => "next",
                StepState::Working => "working",
                StepState::WaitingDecision => "waiting",
                StepState::Done => "done",
            };
            format!(
                "step {}/{} {} {} (attempt {})",
                run.current_step + 1,
                run.steps.len(),
                step.agent_kind,
                state,
                step.attempts
            )
        }
    }
}

fn kind_name(kind: GateKind) -> &'static str {
    match kind {
        GateKind::Approval => "approval",
        GateKind::Decision => "decision",
        GateKind::IterationCap => "iteration-cap",
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}

/// Decides every gate after `delay`: approve, take the first option, proceed.
pub async fn autopilot(
    mut events: broadcast::Receiver<Numbered>,
    daemon: Arc<Daemon>,
    delay: Duration,
) {
    loop {
        match events.recv().await {
            Ok(Numbered {
                event: Event::GateOpened { gate },
                ..
            }) => {
                let daemon = daemon.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    decide(&daemon, gate).await;
                });
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn decide(daemon: &Arc<Daemon>, gate: PendingGate) {
    let action = match gate.kind {
        GateKind::Approval => GateAction::Approve {
            edited_proposal: None,
        },
        GateKind::Decision => GateAction::ChooseOption {
            option: gate.options.first().cloned().unwrap_or_default(),
        },
        GateKind::IterationCap => GateAction::ResolveIterationCap {
            choice: IterationCapChoice::Proceed,
        },
    };
    let decision = GateDecision {
        gate_id: gate.id.clone(),
        rev: gate.rev,
        actor: "autopilot".to_owned(),
        action,
    };
    match daemon.decide(&gate.run_id, &decision).await {
        Ok(_) => println!(
            "  ▶ autopilot: {} on gate {}",
            decision.action.choice(),
            gate.id
        ),
        Err(e) => println!("  ! autopilot could not decide gate {}: {e}", gate.id),
    }
}

/// Resolves once no run is running and no driver is active, when enabled.
pub async fn wait_idle(daemon: &Arc<Daemon>, enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    let mut quiet_ticks = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let running = daemon
            .store
            .live_runs()
            .map(|runs| runs.iter().any(|r| r.status == RunStatus::Running))
            .unwrap_or(true);
        if running || daemon.active_drivers() > 0 {
            quiet_ticks = 0;
            continue;
        }
        quiet_ticks += 1;
        if quiet_ticks >= 3 {
            return;
        }
    }
}
