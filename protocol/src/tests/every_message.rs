//! One example of every message that crosses the websocket, each checked to
//! round-trip under its pinned wire name. The `name_of` matches have no
//! wildcard, so a new variant does not compile until it has a name here, and
//! the coverage tests fail until it has an example.

use super::{block, card, run};
use crate::event::{Event, RunPatch};
use crate::roundtrip::assert_roundtrip;
use crate::wire::*;
use crate::*;
use std::collections::BTreeSet;
use std::sync::Arc;

fn call_name(call: &Call) -> &'static str {
    match call {
        Call::Status => "status",
        Call::Shutdown => "shutdown",
        Call::Board => "board",
        Call::Runs => "runs",
        Call::Inbox => "inbox",
        Call::Pipelines => "pipelines",
        Call::Notifications { .. } => "notifications",
        Call::Act { .. } => "act",
        Call::Dismiss { .. } => "dismiss",
        Call::ResumePaused => "resume_paused",
        Call::Spend => "spend",
        Call::Audit { .. } => "audit",
        Call::AddBlock { .. } => "add_block",
        Call::SetRepository { .. } => "set_repository",
        Call::Start { .. } => "start",
        Call::Import { .. } => "import",
        Call::Decide { .. } => "decide",
        Call::Review { .. } => "review",
        Call::Retry { .. } => "retry",
        Call::Merge { .. } => "merge",
        Call::RestartFromStep { .. } => "restart_from_step",
        Call::Cancel { .. } => "cancel",
        Call::Stop { .. } => "stop",
        Call::Diff { .. } => "diff",
        Call::Logs { .. } => "logs",
        Call::Worktrees { .. } => "worktrees",
        Call::DemoRepository => "demo_repository",
        Call::Schedules => "schedules",
        Call::AddSchedule { .. } => "add_schedule",
        Call::RemoveSchedule { .. } => "remove_schedule",
        Call::RunSchedule { .. } => "run_schedule",
        Call::ScheduleHistory { .. } => "schedule_history",
    }
}

fn client_frame_name(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Hello { .. } => "hello",
        ClientFrame::Subscribe { .. } => "subscribe",
        ClientFrame::Request { .. } => "request",
    }
}

fn server_frame_name(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Welcome { .. } => "welcome",
        ServerFrame::Snapshot { .. } => "snapshot",
        ServerFrame::Event { .. } => "event",
        ServerFrame::Response { .. } => "response",
        ServerFrame::Heartbeat { .. } => "heartbeat",
        ServerFrame::Resync { .. } => "resync",
        ServerFrame::Error { .. } => "error",
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Block { .. } => "block",
        Event::Run { .. } => "run",
        Event::RunPatch { .. } => "run_patch",
        Event::GateOpened { .. } => "gate_opened",
        Event::StepLog { .. } => "step_log",
        Event::Notification { .. } => "notification",
        Event::Bell { .. } => "bell",
        Event::StepMetrics { .. } => "step_metrics",
        Event::Health { .. } => "health",
        Event::SchedulesChanged => "schedules_changed",
    }
}

fn reply_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Done => "done",
        Reply::Status(_) => "status",
        Reply::Board(_) => "board",
        Reply::Block(_) => "block",
        Reply::Runs(_) => "runs",
        Reply::Run(_) => "run",
        Reply::Inbox(_) => "inbox",
        Reply::Pipelines(_) => "pipelines",
        Reply::Notifications(_) => "notifications",
        Reply::Notification(_) => "notification",
        Reply::Resumed(_) => "resumed",
        Reply::Spend(_) => "spend",
        Reply::Audit(_) => "audit",
        Reply::Imported(_) => "imported",
        Reply::Diff(_) => "diff",
        Reply::Logs(_) => "logs",
        Reply::Worktrees(_) => "worktrees",
        Reply::DemoRepository(_) => "demo_repository",
        Reply::Schedules(_) => "schedules",
        Reply::Schedule(_) => "schedule",
        Reply::ScheduleFires(_) => "schedule_fires",
    }
}

fn degraded() -> Health {
    Health::Degraded {
        reason: "the disk is full".into(),
        since: 1_700_000_000_000,
    }
}

fn gate() -> PendingGate {
    run()
        .pending_gate()
        .expect("the fixture run waits on a gate")
}

fn every_gate_action() -> Vec<GateAction> {
    vec![
        GateAction::Approve {
            edited_proposal: Some("edited".into()),
        },
        GateAction::RequestChanges {
            feedback: "split it".into(),
            comments: vec![super::comment()],
        },
        GateAction::Reject {
            reason: "wrong service".into(),
        },
        GateAction::ChooseOption {
            option: "SQLite".into(),
        },
        GateAction::ResolveIterationCap {
            choice: IterationCapChoice::ExtraRound,
        },
    ]
}

fn every_call() -> Vec<Call> {
    let mut calls = vec![
        Call::Status,
        Call::Shutdown,
        Call::Board,
        Call::Runs,
        Call::Inbox,
        Call::Pipelines,
        Call::Notifications { all: true },
        Call::Act { id: "n_1".into() },
        Call::Dismiss { id: "n_2".into() },
        Call::ResumePaused,
        Call::Spend,
        Call::Audit {
            run_id: Some("r_1".into()),
        },
        Call::AddBlock {
            title: "Refunds".into(),
            description: "add refunds".into(),
            parent_id: Some("b_0".into()),
            level: BlockLevel::Module,
            repository: None,
        },
        Call::AddBlock {
            title: "Payments".into(),
            description: String::new(),
            parent_id: None,
            level: BlockLevel::Frame,
            repository: Some(RepositorySpec {
                path: "/src/payments".into(),
                base: Some("main".into()),
                remote: Some("origin".into()),
                merge: Some(MergeMode::Local),
                providers: Box::new(crate::Providers {
                    ci: Some("local".into()),
                    checks: [("tests".to_owned(), "make test".to_owned())].into(),
                    health: Some("./health.sh".into()),
                    test_command: Some("make test".into()),
                    risk_preset: Some(crate::RiskPreset::ManualReview),
                }),
            }),
        },
        Call::SetRepository {
            block_id: "b_0".into(),
            repository: Some(RepositorySpec {
                path: "/src/payments".into(),
                ..RepositorySpec::default()
            }),
        },
        Call::Start {
            block_id: "b_1".into(),
            pipeline_id: "quick".into(),
        },
        Call::Import {
            source: "demo.toml".into(),
            blocks: vec![crate::workspace::ImportBlock {
                line: 7,
                block: crate::workspace::WorkspaceBlock {
                    key: Some("api".into()),
                    level: BlockLevel::Module,
                    parent: Some("payments".into()),
                    title: "Public API".into(),
                    description: String::new(),
                    pipeline: Some("quick".into()),
                    repo: Some("/src/payments".into()),
                    base: Some("main".into()),
                    remote: None,
                    providers: crate::Providers::default(),
                    merge: Some(MergeMode::Pr),
                },
            }],
        },
        Call::Retry {
            run_id: "r_1".into(),
        },
        Call::Merge {
            block_id: "b_1".into(),
        },
        Call::RestartFromStep {
            run_id: "r_1".into(),
            step: 2,
        },
        Call::Cancel {
            block_id: "b_1".into(),
        },
        Call::Stop {
            run_id: "r_1".into(),
        },
        Call::Diff {
            run_id: "r_1".into(),
            step: Some(1),
        },
        Call::Logs {
            run_id: "r_1".into(),
            step: Some(2),
            offset: 100,
            limit: Some(50),
        },
        Call::Worktrees { prune: true },
        Call::DemoRepository,
        Call::Schedules,
        Call::AddSchedule {
            frame_id: "b_frame".into(),
            pipeline_id: "quick".into(),
            title: "Nightly dependency bump".into(),
            description: String::new(),
            recurrence: crate::schedule::Recurrence::default(),
            first_at: Some(1_700_000_000_000),
        },
        Call::RemoveSchedule { id: "s_1".into() },
        Call::RunSchedule { id: "s_1".into() },
        Call::ScheduleHistory { id: "s_1".into() },
    ];
    calls.extend(
        every_review_action()
            .into_iter()
            .map(|action| Call::Review {
                run_id: "r_1".into(),
                rev: 4,
                action,
            }),
    );
    calls.extend(every_gate_action().into_iter().map(|action| Call::Decide {
        run_id: "r_1".into(),
        gate_id: "g_1".into(),
        rev: 3,
        action,
    }));
    calls
}

fn spend() -> SpendReport {
    SpendReport {
        month: "2026-12".into(),
        spent: 1.5,
        budget: 10.0,
        currency: "EUR".into(),
        unpriced_calls: 1,
        over_budget: false,
    }
}

fn schedule() -> crate::schedule::Schedule {
    crate::schedule::Schedule {
        id: "s_1".into(),
        frame_id: "b_frame".into(),
        block_id: "b_1".into(),
        pipeline_id: "quick".into(),
        recurrence: crate::schedule::Recurrence {
            interval_hours: 24,
            weekdays: vec![1, 2, 3, 4, 5],
            window_start_hour: Some(22),
            window_end_hour: Some(6),
            timezone: "Europe/Berlin".into(),
        },
        next_run_at: 1_700_000_000_000,
        last_run_at: None,
        held: Some("run r_1 is still blocked".into()),
        created_at: 1_600_000_000_000,
    }
}

fn every_reply() -> Vec<Reply> {
    let pipeline = Pipeline {
        id: "quick".into(),
        name: "Quick".into(),
        description: String::new(),
        steps: Vec::new(),
    };
    let audit = AuditEntry {
        seq: 1,
        at: 2,
        actor: "ana".into(),
        run_id: "r_1".into(),
        gate_id: "g_1".into(),
        gate_kind: GateKind::Approval,
        choice: "approve".into(),
        text: None,
    };
    vec![
        Reply::Done,
        Reply::Status(Box::new(DaemonStatus {
            daemon_version: "0.1.0".into(),
            protocol_version: PROTOCOL_VERSION,
            executor: "process".into(),
            pid: 42,
            seq: 9,
            live_runs: 1,
            health: degraded(),
            runners: vec![crate::wire::RunnerFound {
                runner: crate::Runner::ClaudeCode,
                binary: "claude".into(),
                version: Some("2.1.332 (Claude Code)".into()),
                problem: None,
                kinds: vec!["coder".into()],
            }],
            gateway: Some(crate::wire::GatewayStatus {
                url: "http://127.0.0.1:40001".into(),
                container_url: None,
                container_problem: Some("the Docker network cannot be made".into()),
            }),
            warnings: vec!["agents run as processes".into()],
        })),
        Reply::Board(vec![block()]),
        Reply::Block(Box::new(block())),
        Reply::Runs(vec![run()]),
        Reply::Run(Box::new(run())),
        Reply::Inbox(vec![gate()]),
        Reply::Pipelines(vec![pipeline]),
        Reply::Notifications(vec![card()]),
        Reply::Notification(Box::new(card())),
        Reply::Resumed(Resumed {
            resumed: 2,
            spend: spend(),
        }),
        Reply::Spend(spend()),
        Reply::Audit(vec![audit]),
        Reply::Imported(crate::workspace::Imported {
            created: vec![block()],
            unchanged: 2,
        }),
        Reply::Diff(Box::new(diff())),
        Reply::Logs(Box::new(log_page())),
        Reply::Worktrees(vec![crate::wire::WorktreeInfo {
            path: "/data/worktrees/r_1".into(),
            run_id: Some("r_1".into()),
            run_status: Some(RunStatus::Failed),
            branch: Some("cattery/t-1".into()),
            bytes: 4096,
            needed: false,
            removed: true,
        }]),
        Reply::DemoRepository("/data/demo-repo".into()),
        Reply::Schedules(vec![schedule()]),
        Reply::Schedule(Box::new(schedule())),
        Reply::ScheduleFires(vec![
            crate::schedule::ScheduleFire {
                schedule_id: "s_1".into(),
                at: 1_700_000_000_000,
                origin: crate::schedule::FireOrigin::Missed,
                outcome: crate::schedule::FireOutcome::Started,
                run_id: Some("r_1".into()),
                message: String::new(),
            },
            crate::schedule::ScheduleFire {
                schedule_id: "s_1".into(),
                at: 1_700_000_360_000,
                origin: crate::schedule::FireOrigin::Manual,
                outcome: crate::schedule::FireOutcome::Failed,
                run_id: None,
                message: "no pipeline `gone`".into(),
            },
        ]),
    ]
}

/// A page holding an entry of every kind.
fn log_page() -> crate::transcript::LogPage {
    use crate::transcript::{EntryKind, LogEntry, LogPage};
    let entry = |kind, text: &str| LogEntry {
        at: 1_700_000_000_000,
        level: crate::agent::LogLevel::Info,
        kind,
        text: text.into(),
    };
    LogPage {
        run_id: "r_1".into(),
        step_index: 2,
        offset: 100,
        entries: vec![
            entry(EntryKind::Attempt, "attempt 1 · job j_1 · coder"),
            entry(EntryKind::Line, "tool Bash: cargo test"),
            entry(
                EntryKind::Call,
                "claude-sonnet in 1200 out 40 end_turn 812 ms",
            ),
            entry(EntryKind::Cut, "2000 earlier lines cut"),
        ],
        total: 104,
        finished: true,
    }
}

/// A diff with a hunk of every line kind, a rename and a binary file.
fn diff() -> crate::diff::Diff {
    use crate::diff::{DiffLine, FileDiff, FileStatus, Hunk, LineKind};
    let line = |kind, old_line, new_line, text: &str| DiffLine {
        kind,
        old_line,
        new_line,
        text: text.into(),
    };
    crate::diff::Diff {
        run_id: "r_1".into(),
        step_index: Some(1),
        from_commit: "a".repeat(40),
        to_commit: "b".repeat(40),
        files: vec![
            FileDiff {
                path: "src/new.rs".into(),
                old_path: Some("src/old.rs".into()),
                status: FileStatus::Renamed,
                binary: false,
                insertions: 1,
                deletions: 1,
                hunks: vec![Hunk {
                    header: "@@ -1,2 +1,2 @@".into(),
                    old_start: 1,
                    old_lines: 2,
                    new_start: 1,
                    new_lines: 2,
                    lines: vec![
                        line(LineKind::Context, Some(1), Some(1), "fn a() {}"),
                        line(LineKind::Removed, Some(2), None, "fn b() {}"),
                        line(LineKind::Added, None, Some(2), "fn c() {}"),
                    ],
                }],
            },
            FileDiff {
                path: "logo.png".into(),
                old_path: None,
                status: FileStatus::Added,
                binary: true,
                insertions: 0,
                deletions: 0,
                hunks: Vec::new(),
            },
        ],
    }
}

fn every_event() -> Vec<Event> {
    let old = run();
    let mut new = old.clone();
    new.rev += 1;
    new.steps[0].attempts += 1;
    new.output_history.push(OutputRecord {
        step_index: 0,
        agent_kind: "architect".into(),
        output: "the plan".into(),
        recorded_at: 3,
    });
    vec![
        Event::Block { block: block() },
        Event::Run {
            run: Arc::new(run()),
        },
        Event::RunPatch {
            patch: RunPatch::between(&old, &new).expect("the runs differ"),
        },
        Event::GateOpened { gate: gate() },
        Event::StepLog {
            run_id: "r_1".into(),
            step_index: 0,
            at: 1,
            level: agent::LogLevel::Warn,
            line: "careful".into(),
        },
        Event::Notification { card: card() },
        Event::Bell {
            title: "t".into(),
            body: "b".into(),
        },
        Event::StepMetrics {
            run_id: "r_1".into(),
            step_index: 0,
            metrics: StepMetrics::default(),
        },
        Event::Health { health: degraded() },
        Event::Health { health: Health::Ok },
        Event::SchedulesChanged,
    ]
}

fn every_client_frame() -> Vec<ClientFrame> {
    let mut frames = vec![
        ClientFrame::Hello {
            protocol_version: PROTOCOL_VERSION,
            token: "t".into(),
            client: "ctl".into(),
        },
        ClientFrame::Subscribe { since_seq: Some(4) },
    ];
    frames.extend(
        every_call()
            .into_iter()
            .enumerate()
            .map(|(i, call)| ClientFrame::Request { id: i as u64, call }),
    );
    frames
}

fn every_server_frame() -> Vec<ServerFrame> {
    let error = WireError {
        code: ErrorCode::Stale,
        message: "refresh".into(),
    };
    let mut frames = vec![
        ServerFrame::Welcome {
            protocol_version: PROTOCOL_VERSION,
            daemon_version: "0.1.0".into(),
            executor: "docker".into(),
            seq: 9,
            health: Health::Ok,
        },
        ServerFrame::Snapshot {
            seq: 9,
            health: degraded(),
            board: vec![block()],
            runs: vec![run()],
            inbox: vec![gate()],
            notifications: vec![card()],
        },
        ServerFrame::Response {
            id: 7,
            result: None,
            error: Some(error.clone()),
        },
        ServerFrame::Heartbeat { seq: 10 },
        ServerFrame::Resync {
            reason: "slow".into(),
        },
        ServerFrame::Error { error },
    ];
    frames.extend(
        every_event()
            .into_iter()
            .map(|event| ServerFrame::Event { seq: 11, event }),
    );
    frames.extend(
        every_reply()
            .into_iter()
            .map(|reply| ServerFrame::Response {
                id: 8,
                result: Some(reply),
                error: None,
            }),
    );
    frames
}

/// Round-trips each example, checks its tag is the pinned name and returns
/// the names seen.
fn check<T>(examples: &[T], tag: &str, name: fn(&T) -> &'static str) -> BTreeSet<&'static str>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    examples
        .iter()
        .map(|example| {
            let json = assert_roundtrip(example);
            assert_eq!(json[tag], name(example), "{example:?}");
            name(example)
        })
        .collect()
}

#[test]
fn every_call_round_trips_under_its_method_name() {
    let seen = check(&every_call(), "method", call_name);
    assert_eq!(seen.len(), 32, "an example per Call variant: {seen:?}");
}

#[test]
fn every_reply_round_trips_under_its_reply_name_and_hands_back_its_payload() {
    let seen = check(&every_reply(), "reply", reply_name);
    assert_eq!(seen.len(), 21, "an example per Reply variant: {seen:?}");
    let runs: Vec<Run> = FromReply::from_reply(Reply::Runs(vec![run()])).unwrap();
    assert_eq!(runs, [run()]);
    let wrong = <Vec<Block> as FromReply>::from_reply(Reply::Spend(spend()));
    assert_eq!(
        wrong,
        Err(Reply::Spend(spend())),
        "another shape is handed back"
    );
}

#[test]
fn every_event_round_trips_under_its_kind() {
    let seen = check(&every_event(), "kind", event_name);
    assert_eq!(seen.len(), 10, "an example per Event variant: {seen:?}");
}

#[test]
fn every_client_and_server_frame_round_trips_under_its_type() {
    let seen = check(&every_client_frame(), "type", client_frame_name);
    assert_eq!(seen.len(), 3, "{seen:?}");
    let seen = check(&every_server_frame(), "type", server_frame_name);
    assert_eq!(seen.len(), 7, "{seen:?}");
}

#[test]
fn a_decision_names_its_run_gate_rev_and_action() {
    let call = Call::Decide {
        run_id: "r_1".into(),
        gate_id: "g_1".into(),
        rev: 3,
        action: GateAction::ResolveIterationCap {
            choice: IterationCapChoice::StopReset,
        },
    };
    let json = assert_roundtrip(&call);
    assert_eq!(json["params"]["run_id"], "r_1");
    assert_eq!(json["params"]["rev"], 3);
    assert_eq!(json["params"]["action"]["action"], "resolve_iteration_cap");
    assert_eq!(json["params"]["action"]["choice"], "stop-reset");
}

fn every_review_action() -> Vec<crate::review::ReviewAction> {
    use crate::review::ReviewAction::*;
    let finding = || "f_1".to_owned();
    vec![
        Reply {
            finding: finding(),
            text: "EUR only".into(),
        },
        Resolve { finding: finding() },
        Dismiss { finding: finding() },
        Reopen { finding: finding() },
        Incorporate { feedback: None },
        Incorporate {
            feedback: Some("shorter".into()),
        },
        Proceed,
        ExtraRound,
        StopReset,
    ]
}

#[test]
fn review_actions_are_named_as_ctl_review_spells_them() {
    for action in every_review_action() {
        let json = assert_roundtrip(&action);
        assert_eq!(json["action"], action.name());
    }
}
