//! A fixed, busy workspace for snapshot tests and render benchmarks: every
//! kind of gate, a working step with metrics, a failure, a finished run.
#![doc(hidden)]

use cattery_protocol::agent::LogLevel;
use cattery_protocol::event::Event;
use cattery_protocol::wire::ServerFrame;
use cattery_protocol::*;
use std::sync::Arc;

/// The clock every fixture is seen at.
pub const NOW: Millis = 1_700_000_000_000;
const MIN: Millis = 60_000;

pub fn block(id: &str, level: BlockLevel, parent: Option<&str>, title: &str) -> Block {
    Block {
        estimate: None,
        pull_request: None,
        id: id.to_owned(),
        level,
        parent_id: parent.map(str::to_owned),
        title: title.to_owned(),
        description: String::new(),
        status: BlockStatus::Planned,
        progress: 0.0,
        run_id: None,
        repository: None,
        created_at: NOW - 90 * MIN,
        updated_at: NOW - 30 * MIN,
    }
}

pub fn step(agent: &str, state: StepState) -> Step {
    Step {
        gating: None,
        review: None,
        gate: None,
        test: None,
        merge_assessment: None,
        warnings: Vec::new(),
        role: cattery_protocol::AgentRole::Producer,
        agent_kind: agent.to_owned(),
        state,
        progress: 0.0,
        progress_label: None,
        output: None,
        model: None,
        decision: None,
        requires_approval: false,
        approval: None,
        companion: None,
        rework: None,
        metrics: StepMetrics::default(),
        job: None,
        timeout_secs: 600,
        started_at: None,
        finished_at: None,
        attempts: 0,
        recoveries: 0,
        change: None,
        skipped: None,
    }
}

fn done(mut step: Step, minutes_ago: i64, took: i64) -> Step {
    step.state = StepState::Done;
    step.started_at = Some(NOW - minutes_ago * MIN);
    step.finished_at = Some(NOW - minutes_ago * MIN + took * 1_000);
    step.attempts = 1;
    step.progress = 1.0;
    step.model = Some("demo-large".to_owned());
    step.metrics = metrics(3, 1_800);
    step.output = Some(format!("{} output", step.agent_kind));
    step
}

pub fn metrics(calls: u64, completion: u64) -> StepMetrics {
    StepMetrics {
        calls,
        prompt_tokens: calls * 2_400,
        cache_read_tokens: calls * 600,
        cache_write_tokens: 0,
        completion_tokens: completion,
        peak_completion_tokens: completion / calls.max(1) + 200,
        max_output_tokens: 4_096,
        truncated_calls: 0,
        upstream_ms: calls * 1_350,
        overhead_ms: calls * 40,
        errors: 0,
        warnings: 0,
        cost_estimate: Some(calls as f64 * 0.0123),
        currency: Some("USD".to_owned()),
        recent_calls: Vec::new(),
    }
}

pub fn run(
    id: &str,
    block: &str,
    pipeline: &str,
    steps: Vec<Step>,
    current: usize,
    status: RunStatus,
) -> Run {
    Run {
        estimate: None,
        pull_request: None,
        id: id.to_owned(),
        block_id: block.to_owned(),
        pipeline_id: pipeline.to_owned(),
        pipeline_name: cattery_protocol::text::capitalised(pipeline),
        steps,
        current_step: current,
        status,
        failure: None,
        failure_history: Vec::new(),
        output_history: Vec::new(),
        resolved_gates: Vec::new(),
        previous_run_id: None,
        worktree: None,
        change: None,
        delivery: None,
        initiated_by: "ana".to_owned(),
        created_at: NOW - 20 * MIN,
        updated_at: NOW - 5 * MIN,
        rev: 7,
    }
}

fn waiting(mut step: Step, minutes_ago: i64) -> Step {
    step.state = StepState::WaitingDecision;
    step.started_at = Some(NOW - minutes_ago * MIN - 40_000);
    step.finished_at = Some(NOW - minutes_ago * MIN);
    step.attempts = 1;
    step.model = Some("demo-large".to_owned());
    step.metrics = metrics(2, 1_200);
    step
}

fn approval_run() -> Run {
    let mut architect = waiting(step("architect", StepState::Pending), 12);
    architect.requires_approval = true;
    let plan = "Plan for the refund endpoint\n1. POST /refunds with an idempotency key\n2. Store refunds in the ledger\n3. Emit refund.created";
    architect.output = Some(plan.to_owned());
    architect.approval = Some(Approval {
        id: "gate-approval".to_owned(),
        status: ApprovalStatus::Pending,
        proposal: plan.to_owned(),
        feedback: None,
        comments: Vec::new(),
    });
    let steps = vec![
        architect,
        step("coder", StepState::Pending),
        step("reviewer", StepState::Pending),
        step("merger", StepState::Pending),
    ];
    run(
        "run-refund",
        "task-refund",
        "quick",
        steps,
        0,
        RunStatus::Blocked,
    )
}

fn decision_run() -> Run {
    let mut architect = waiting(step("architect", StepState::Pending), 3);
    architect.decision = Some(Decision {
        id: "gate-decision".to_owned(),
        question: "Which storage engine for the ledger?".to_owned(),
        options: vec!["SQLite".to_owned(), "PostgreSQL".to_owned()],
        chosen: None,
    });
    let steps = vec![
        architect,
        step("architect-companion", StepState::Pending),
        step("coder", StepState::Pending),
    ];
    run(
        "run-ledger",
        "task-ledger",
        "build",
        steps,
        0,
        RunStatus::Blocked,
    )
}

fn cap_run() -> Run {
    let mut reviewer = waiting(step("reviewer", StepState::Pending), 25);
    reviewer.attempts = 4;
    let verdict = |rating: f64, feedback: &str| Verdict {
        rating,
        threshold: 0.8,
        passed: false,
        feedback: feedback.to_owned(),
        comments: Vec::new(),
    };
    reviewer.companion = Some(CompanionState {
        grade_repairs: 0,
        producer_kind: "coder".to_owned(),
        threshold: 0.8,
        max_attempts: 3,
        attempts: 3,
        verdicts: vec![
            verdict(0.4, "retries are not jittered"),
            verdict(0.5, "backoff has no ceiling"),
            verdict(0.6, "no test for the ceiling"),
            verdict(0.7, "the ceiling test is flaky"),
        ],
        exceeded: true,
        cap_gate_id: Some("gate-cap".to_owned()),
    });
    let steps = vec![
        done(step("architect", StepState::Pending), 60, 40),
        done(step("coder", StepState::Pending), 40, 300),
        reviewer,
        step("merger", StepState::Pending),
    ];
    run(
        "run-webhooks",
        "task-webhooks",
        "quick",
        steps,
        2,
        RunStatus::Blocked,
    )
}

fn working_run() -> Run {
    let mut coder = step("coder", StepState::Working);
    coder.started_at = Some(NOW - 95_000);
    coder.attempts = 1;
    coder.model = Some("demo-large".to_owned());
    coder.progress = 0.6;
    coder.progress_label = Some("writing the migration".to_owned());
    coder.metrics = metrics(6, 3_900);
    coder.metrics.peak_completion_tokens = 3_850;
    coder.metrics.truncated_calls = 1;
    let mut architect = done(step("architect", StepState::Pending), 10, 30);
    architect.change = Some(cattery_protocol::StepChange {
        commit: Some("4be7c01d9e2f".into()),
        start_commit: "91aa03cc".into(),
        files: 3,
        insertions: 48,
        deletions: 7,
    });
    let steps = vec![
        architect,
        coder,
        step("reviewer", StepState::Pending),
        step("merger", StepState::Pending),
    ];
    let mut run = run(
        "run-vault",
        "task-vault",
        "quick",
        steps,
        1,
        RunStatus::Running,
    );
    run.worktree = Some(cattery_protocol::Worktree {
        repository: "/src/payments".into(),
        branch: "cattery/migrate-card-tokens-a1b2c3d4".into(),
        base: "main".into(),
        base_commit: "91aa03cc".into(),
        path: "/home/ana/.local/share/cattery/worktrees/run-vault".into(),
        start_commit: None,
    });
    run.change = run.steps[0].change.clone();
    run
}

/// The architect's change on run-vault: an edit in two hunks, a rename,
/// a new file and a binary.
pub fn vault_diff() -> cattery_protocol::diff::Diff {
    use cattery_protocol::diff::{Diff, FileDiff, FileStatus, Hunk};
    let file = |path: &str, status, hunks: Vec<Hunk>| {
        let count = |kind| {
            hunks
                .iter()
                .flat_map(|h| &h.lines)
                .filter(|l| l.kind == kind)
                .count() as u32
        };
        FileDiff {
            path: path.into(),
            old_path: None,
            status,
            binary: false,
            insertions: count(cattery_protocol::diff::LineKind::Added),
            deletions: count(cattery_protocol::diff::LineKind::Removed),
            hunks,
        }
    };
    let vault = file(
        "src/vault.rs",
        FileStatus::Modified,
        vec![
            hunk(
                10,
                &[
                    " fn store(card: &Card) {",
                    "-    db.put(card.number);",
                    "+    vault.seal(card)?;",
                    " }",
                ],
            ),
            hunk(
                40,
                &[
                    " // tokens",
                    "+pub fn token(card: &Card) -> Token {",
                    "+    vault.token(card)",
                    "+}",
                ],
            ),
        ],
    );
    let mut renamed = file("src/cards/token.rs", FileStatus::Renamed, Vec::new());
    renamed.old_path = Some("src/token.rs".into());
    let migration = file(
        "migrations/0042_vault.sql",
        FileStatus::Added,
        vec![hunk(
            0,
            &[
                "+ALTER TABLE cards ADD COLUMN token TEXT;",
                "+UPDATE cards SET token = seal(number);",
            ],
        )],
    );
    let mut logo = file("docs/vault.png", FileStatus::Added, Vec::new());
    logo.binary = true;
    Diff {
        run_id: "run-vault".into(),
        step_index: Some(0),
        from_commit: "91aa03cc".into(),
        to_commit: "4be7c01d9e2f".into(),
        files: vec![vault, renamed, migration, logo],
    }
}

/// A hunk at old line `at` of lines written as in `git diff` (`+`, `-`, ` `).
pub fn hunk(at: u32, text: &[&str]) -> cattery_protocol::diff::Hunk {
    use cattery_protocol::diff::{DiffLine, Hunk, LineKind};
    let (mut old, mut new) = (at.max(1), at.max(1));
    let mut lines = Vec::new();
    for row in text {
        let (kind, body) = row.split_at(1);
        let kind = match kind {
            "+" => LineKind::Added,
            "-" => LineKind::Removed,
            _ => LineKind::Context,
        };
        let (old_line, new_line) = match kind {
            LineKind::Added => (None, Some(new)),
            LineKind::Removed => (Some(old), None),
            LineKind::Context => (Some(old), Some(new)),
        };
        old += u32::from(old_line.is_some());
        new += u32::from(new_line.is_some());
        lines.push(DiffLine {
            kind,
            old_line,
            new_line,
            text: body.into(),
        });
    }
    let count = |k: LineKind| lines.iter().filter(|l| l.kind != k).count() as u32;
    Hunk {
        header: format!(
            "@@ -{at},{} +{at},{} @@",
            count(LineKind::Added),
            count(LineKind::Removed)
        ),
        old_start: at,
        old_lines: count(LineKind::Added),
        new_start: at.max(1),
        new_lines: count(LineKind::Removed),
        lines,
    }
}

/// A diff of `files` files of `lines` added lines each, for the bench.
pub fn large_diff(files: usize, lines: usize) -> cattery_protocol::diff::Diff {
    let text: Vec<String> = (0..lines)
        .map(|i| format!("+    let value_{i} = compute({i}) * 2; // generated"))
        .collect();
    let rows: Vec<&str> = text.iter().map(String::as_str).collect();
    let mut diff = vault_diff();
    diff.files = (0..files)
        .map(|f| cattery_protocol::diff::FileDiff {
            path: format!("src/generated/module_{f}.rs"),
            old_path: None,
            status: cattery_protocol::diff::FileStatus::Added,
            binary: false,
            insertions: lines as u32,
            deletions: 0,
            hunks: vec![hunk(0, &rows)],
        })
        .collect();
    diff
}

fn failed_run() -> Run {
    let mut investigator = step("bug-investigator", StepState::Working);
    investigator.started_at = Some(NOW - 8 * MIN);
    investigator.attempts = 2;
    let mut run = run(
        "run-rounding",
        "task-rounding",
        "bugfix",
        vec![investigator, step("coder", StepState::Pending)],
        0,
        RunStatus::Failed,
    );
    run.failure = Some(Failure {
        cancellation: None,
        kind: FailureKind::Timeout,
        message: "bug-investigator ran past its 600s timeout and was killed".to_owned(),
        detail: Some("last output: scanning ledger/rounding.rs".to_owned()),
        hint: Some("raise timeout_secs for [agents.bug-investigator], or retry with r".to_owned()),
        occurred_at: NOW - 2 * MIN,
        step_index: 0,
    });
    run
}

fn done_run() -> Run {
    let steps = vec![
        done(step("architect", StepState::Pending), 80, 30),
        done(step("coder", StepState::Pending), 70, 240),
        done(step("reviewer", StepState::Pending), 60, 50),
        done(step("merger", StepState::Pending), 55, 10),
    ];
    run("run-docs", "task-docs", "quick", steps, 3, RunStatus::Done)
}

/// The busy workspace: board and runs as a daemon snapshot would send them.
pub fn busy() -> (Vec<Block>, Vec<Run>) {
    let runs = vec![
        approval_run(),
        decision_run(),
        cap_run(),
        working_run(),
        failed_run(),
        done_run(),
    ];
    let mut payments = block(
        "frame-payments",
        BlockLevel::Frame,
        None,
        "Payments service",
    );
    payments.repository = Some(cattery_protocol::Repository {
        path: "/home/me/src/payments".into(),
        base: "main".into(),
        remote: None,
        merge: cattery_protocol::MergeMode::Branch,
        providers: Box::default(),
    });
    let mut board = vec![
        payments,
        block(
            "module-api",
            BlockLevel::Module,
            Some("frame-payments"),
            "Public API",
        ),
        block(
            "module-ledger",
            BlockLevel::Module,
            Some("frame-payments"),
            "Ledger",
        ),
    ];
    let tasks = [
        (
            "task-refund",
            "module-api",
            "Add a refund endpoint",
            BlockStatus::Blocked,
            0.0,
        ),
        (
            "task-webhooks",
            "module-api",
            "Harden webhook retries",
            BlockStatus::Blocked,
            0.5,
        ),
        (
            "task-docs",
            "module-api",
            "Document the API errors",
            BlockStatus::Done,
            1.0,
        ),
        (
            "task-ledger",
            "module-ledger",
            "Choose the ledger storage",
            BlockStatus::Blocked,
            0.0,
        ),
        (
            "task-vault",
            "module-ledger",
            "Migrate card tokens to the vault",
            BlockStatus::InProgress,
            0.25,
        ),
        (
            "task-rounding",
            "module-ledger",
            "Fix rounding of minor units",
            BlockStatus::Blocked,
            0.0,
        ),
        (
            "task-idle",
            "module-ledger",
            "Archive old ledgers",
            BlockStatus::Planned,
            0.0,
        ),
    ];
    for (i, (id, parent, title, status, progress)) in tasks.into_iter().enumerate() {
        let mut task = block(id, BlockLevel::Task, Some(parent), title);
        task.status = status;
        task.progress = progress;
        task.created_at += i as Millis * MIN;
        task.run_id = runs.iter().find(|r| r.block_id == id).map(|r| r.id.clone());
        board.push(task);
    }
    (board, runs)
}

pub fn snapshot(board: Vec<Block>, runs: Vec<Run>, seq: u64) -> ServerFrame {
    ServerFrame::Snapshot {
        seq,
        board,
        runs,
        inbox: Vec::new(),
        notifications: Vec::new(),
        health: cattery_protocol::wire::Health::Ok,
    }
}

/// A board of `n` tasks spread over 10 frames and 100 modules, a tenth of them running.
pub fn large(n: usize) -> (Vec<Block>, Vec<Run>) {
    let mut board = Vec::with_capacity(n + 110);
    let mut runs = Vec::new();
    for f in 0..10 {
        board.push(block(
            &format!("f{f}"),
            BlockLevel::Frame,
            None,
            &format!("Service {f}"),
        ));
        for m in 0..10 {
            board.push(block(
                &format!("m{f}-{m}"),
                BlockLevel::Module,
                Some(&format!("f{f}")),
                &format!("Module {f}.{m}"),
            ));
        }
    }
    for t in 0..n {
        let parent = format!("m{}-{}", t % 10, (t / 10) % 10);
        let mut task = block(
            &format!("t{t}"),
            BlockLevel::Task,
            Some(&parent),
            &format!("Task number {t}"),
        );
        if t % 10 == 0 {
            let mut r = working_run();
            r.id = format!("r{t}");
            r.block_id = task.id.clone();
            task.run_id = Some(r.id.clone());
            task.status = BlockStatus::InProgress;
            runs.push(r);
        }
        board.push(task);
    }
    (board, runs)
}

/// A run of `n` steps, the middle one working.
/// A run of the build pipeline's tail: a tester that needed one fix, a
/// conflicts gate that passed, and a CI gate on its second fixer round.
pub fn gated_run() -> Run {
    use cattery_protocol::agent::{ConcernSeverity, TestConcern, TestReport};
    use cattery_protocol::gate::*;
    use cattery_protocol::tester::*;
    let mut tester = done(step("tester", StepState::Pending), 30, 90);
    let mut test = TestLoop::new(TestSpec {
        fixer: "fixer".into(),
        max_attempts: 10,
    });
    test.attempts = 1;
    test.last_report = Some(TestReport {
        greenlight: true,
        summary: "refunds pass".into(),
        concerns: vec![TestConcern {
            title: "naming".into(),
            detail: "refund_amount reads better".into(),
            severity: ConcernSeverity::Low,
        }],
        ..TestReport::default()
    });
    test.attempt_log.push(FixAttempt {
        attempt: 1,
        at: NOW - 28 * MIN,
        outcome: HelperOutcome::Completed,
        summary: "capped the refund at the payment".into(),
        concerns: Vec::new(),
    });
    tester.test = Some(test);
    let spec = |kind, helper: &str, max| GateSpec {
        kind,
        helper: Some(helper.into()),
        max_attempts: max,
        poll_secs: 30,
        max_polls: 120,
        watch_window_secs: None,
    };
    let mut conflicts = done(step("conflicts", StepState::Pending), 25, 2);
    let mut passed = GateState::new(spec(GateCheck::Conflicts, "conflict-resolver", 3));
    passed.last_verdict = Some(GateVerdict::Pass);
    passed.last_summary = Some("Conflict gate passed: the PR merges cleanly with its base.".into());
    conflicts.output = passed.last_summary.clone();
    conflicts.gate = Some(passed);
    let mut ci = step("ci", StepState::Working);
    ci.started_at = Some(NOW - 20 * MIN);
    let mut gate = GateState::new(spec(GateCheck::Ci, "ci-fixer", 10));
    gate.phase = GatePhase::Working;
    gate.attempts = 2;
    gate.last_verdict = Some(GateVerdict::Fail);
    gate.last_summary = Some("Failing checks: tests (failure), lint (failure)".into());
    gate.failing_checks = vec!["tests".into(), "lint".into()];
    gate.attempt_log.push(GateAttempt {
        attempt: 1,
        at: NOW - 15 * MIN,
        outcome: HelperOutcome::Failed,
        head: Some("4be1c2d".into()),
        instructions: "Failing checks: tests (failure)".into(),
        failing_checks: vec!["tests".into()],
        summary: "the ci-fixer stalled".into(),
    });
    ci.gate = Some(gate);
    let steps = vec![
        done(step("coder", StepState::Pending), 40, 240),
        tester,
        conflicts,
        ci,
        step("merger", StepState::Pending),
    ];
    run(
        "run-gated",
        "task-vault",
        "build",
        steps,
        3,
        RunStatus::Running,
    )
}

pub fn long_run(n: usize) -> Run {
    let steps = (0..n)
        .map(|i| match i {
            i if i < n / 2 => done(step(&format!("agent-{i}"), StepState::Pending), 60, 20),
            i if i == n / 2 => working_run().steps[1].clone(),
            i => step(&format!("agent-{i}"), StepState::Pending),
        })
        .collect();
    let mut run = run(
        "run-long",
        "task-vault",
        "long",
        steps,
        n / 2,
        RunStatus::Running,
    );
    run.steps[n / 2].agent_kind = "coder".to_owned();
    run
}

pub fn log_event(seq: u64, run_id: &str, step_index: usize, line: &str) -> ServerFrame {
    ServerFrame::Event {
        seq,
        event: Event::StepLog {
            run_id: run_id.to_owned(),
            step_index,
            at: NOW,
            level: LogLevel::Info,
            line: line.to_owned(),
        },
    }
}

pub fn run_event(seq: u64, run: Run) -> ServerFrame {
    ServerFrame::Event {
        seq,
        event: Event::Run { run: Arc::new(run) },
    }
}

/// An open attention card.
pub fn card(
    id: &str,
    kind: NotificationType,
    block: &str,
    run: &str,
    severity: Severity,
    title: &str,
) -> Notification {
    Notification {
        id: id.to_owned(),
        kind,
        status: NotificationStatus::Open,
        severity,
        block_id: block.to_owned(),
        run_id: Some(run.to_owned()),
        title: title.to_owned(),
        body: "all 4 steps are done".to_owned(),
        payload: serde_json::Value::Null,
        created_at: NOW - 40 * MIN,
        resolved_at: None,
    }
}

pub fn card_event(seq: u64, card: Notification) -> ServerFrame {
    ServerFrame::Event {
        seq,
        event: Event::Notification { card },
    }
}

/// A finished run's card and an escalated approval's card for the busy workspace.
pub fn busy_cards() -> Vec<Notification> {
    vec![
        card(
            "n_done",
            NotificationType::PipelineComplete,
            "task-docs",
            "run-docs",
            Severity::Normal,
            "Document the API errors: Quick finished",
        ),
        card(
            "n_gate",
            NotificationType::DecisionRequired,
            "task-refund",
            "run-refund",
            Severity::Urgent,
            "Add a refund endpoint: approval waiting (architect)",
        ),
    ]
}

/// Two accepted decisions on the failed `run-rounding` run, as the audit
/// log answers them.
pub fn rounding_history() -> Vec<cattery_protocol::AuditEntry> {
    vec![
        cattery_protocol::AuditEntry {
            seq: 4,
            at: NOW - 40 * MIN,
            actor: "ana".to_owned(),
            run_id: "run-rounding".to_owned(),
            gate_id: "gate-plan".to_owned(),
            gate_kind: cattery_protocol::GateKind::Approval,
            choice: "request_changes".to_owned(),
            text: Some("round half to even, not up\nand say so in the docs".to_owned()),
        },
        cattery_protocol::AuditEntry {
            seq: 9,
            at: NOW - 25 * MIN,
            actor: "bo".to_owned(),
            run_id: "run-rounding".to_owned(),
            gate_id: "gate-plan-2".to_owned(),
            gate_kind: cattery_protocol::GateKind::Approval,
            choice: "approve".to_owned(),
            text: None,
        },
    ]
}

/// The answer to the request that asked for `call`, found in `effects`.
pub fn answer(
    effects: &[crate::app::Effect],
    wanted: impl Fn(&cattery_protocol::wire::Call) -> bool,
    result: cattery_protocol::wire::Reply,
) -> Option<ServerFrame> {
    effects.iter().find_map(|e| match e {
        crate::app::Effect::Send { id, call } if wanted(call) => Some(ServerFrame::Response {
            id: *id,
            result: Some(result.clone()),
            error: None,
        }),
        _ => None,
    })
}

/// A run parked at a requirements review on its second pass: one finding
/// answered, one dismissed and one open, after a revision of the task's
/// description.
pub fn review_run() -> Run {
    use cattery_protocol::review::*;
    let finding =
        |id: &str, severity, category, status, title: &str, reply: Option<&str>| Finding {
            id: id.into(),
            category,
            severity,
            title: title.into(),
            detail: format!("{title} The product owner decides."),
            status,
            reply: reply.map(str::to_owned),
            auto_answerable: false,
        };
    let mut review = ReviewState::new(ReviewSpec {
        subject: ReviewSubject::Requirements,
        writer: "requirements-writer".into(),
        max_iterations: 6,
        concern_threshold: ConcernThreshold::None,
    });
    review.status = ReviewStatus::Ready;
    review.iteration = 2;
    review.findings = vec![
        finding(
            "f_1",
            FindingSeverity::High,
            FindingCategory::Question,
            FindingStatus::Open,
            "Which ledgers count as old?",
            None,
        ),
        finding(
            "f_2",
            FindingSeverity::Medium,
            FindingCategory::Risk,
            FindingStatus::Answered,
            "Archived ledgers and audits",
            Some("Keep them readable for 7 years."),
        ),
        finding(
            "f_3",
            FindingSeverity::Low,
            FindingCategory::Gap,
            FindingStatus::Dismissed,
            "Export format",
            None,
        ),
    ];
    review.previous_document = Some("# Archive old ledgers\nMove ledgers to cold storage.".into());
    review.document =
        Some("# Archive old ledgers\nMove ledgers closed over a year ago to cold storage.\nArchived ledgers stay readable for audits.".into());
    let mut reviewing = waiting(step("requirements-review", StepState::Pending), 3);
    reviewing.approval = Some(Approval {
        id: "gate-review".into(),
        status: ApprovalStatus::Pending,
        proposal: "The reviewer raised 3 findings to react to.".into(),
        feedback: None,
        comments: Vec::new(),
    });
    reviewing.review = Some(review);
    run(
        "run-review",
        "task-idle",
        "reviewed",
        vec![reviewing, step("coder", StepState::Pending)],
        0,
        RunStatus::Blocked,
    )
}

/// A run whose estimator scored the task low, so its gated architect and
/// that step's companion were skipped.
pub fn estimated_run() -> Run {
    let mut estimator = done(step("task-estimator", StepState::Pending), 10, 4);
    estimator.output = Some("**Task estimate**: Complexity 20% · Risk 10% · Impact 30%".into());
    let skipped = |kind: &str, reason| {
        let mut s = step(kind, StepState::Done);
        s.progress = 1.0;
        s.skipped = Some(reason);
        s
    };
    let mut coder = step("coder", StepState::Working);
    coder.started_at = Some(NOW - 2 * MIN);
    let mut run = run(
        "run-estimated",
        "task-idle",
        "gated",
        vec![
            estimator,
            skipped("architect", SkipReason::Gated),
            skipped("architect-companion", SkipReason::ProducerSkipped),
            coder,
        ],
        3,
        RunStatus::Running,
    );
    run.estimate = Some(cattery_protocol::estimate::Estimate {
        complexity: 0.2,
        risk: 0.1,
        impact: 0.3,
        rationale: String::new(),
        at: NOW - 9 * MIN,
    });
    run
}

/// Two schedules on the payments frame: a nightly one held by its live
/// run, and a weekly one.
pub fn schedules() -> Vec<cattery_protocol::schedule::Schedule> {
    use cattery_protocol::schedule::{Recurrence, Schedule};
    vec![
        Schedule {
            id: "s_nightly".into(),
            frame_id: "frame-payments".into(),
            block_id: "task-idle".into(),
            pipeline_id: "quick".into(),
            recurrence: Recurrence {
                interval_hours: 24,
                weekdays: vec![1, 2, 3, 4, 5],
                window_start_hour: Some(22),
                window_end_hour: Some(6),
                timezone: "Europe/Berlin".into(),
            },
            next_run_at: NOW - 10 * MIN,
            last_run_at: Some(NOW - 24 * 60 * MIN),
            held: Some("the previous run run-idle is still blocked".into()),
            created_at: NOW - 7 * 24 * 60 * MIN,
        },
        Schedule {
            id: "s_weekly".into(),
            frame_id: "frame-payments".into(),
            block_id: "task-docs".into(),
            pipeline_id: "bugfix".into(),
            recurrence: Recurrence {
                interval_hours: 168,
                ..Recurrence::default()
            },
            next_run_at: NOW + 3 * 24 * 60 * MIN,
            last_run_at: None,
            held: None,
            created_at: NOW - 60 * MIN,
        },
    ]
}

/// The nightly schedule's fires: one missed while down, one refused.
pub fn schedule_fires() -> Vec<cattery_protocol::schedule::ScheduleFire> {
    use cattery_protocol::schedule::{FireOrigin, FireOutcome, ScheduleFire};
    vec![
        ScheduleFire {
            schedule_id: "s_nightly".into(),
            at: NOW - 48 * 60 * MIN,
            origin: FireOrigin::Due,
            outcome: FireOutcome::Failed,
            run_id: None,
            message: "frame Payments service allows 1 live run".into(),
        },
        ScheduleFire {
            schedule_id: "s_nightly".into(),
            at: NOW - 24 * 60 * MIN,
            origin: FireOrigin::Missed,
            outcome: FireOutcome::Started,
            run_id: Some("run-idle".into()),
            message: String::new(),
        },
    ]
}
