use crate::agent::*;
use crate::event::Event;
use crate::roundtrip::assert_roundtrip;
use crate::*;
use serde_json::json;

fn comment() -> ReviewComment {
    ReviewComment {
        quote: Some("fn main".into()),
        severity: CommentSeverity::Major,
        body: "split this".into(),
        path: Some("src/main.rs".into()),
        line: Some(12),
    }
}

fn gate() -> crate::gate::GateState {
    use crate::gate::*;
    let mut gate = GateState::new(GateSpec {
        kind: GateCheck::Ci,
        helper: Some("ci-fixer".into()),
        max_attempts: 10,
        poll_secs: 30,
        max_polls: 120,
        watch_window_secs: Some(1800),
    });
    gate.phase = GatePhase::Working;
    gate.attempts = 1;
    gate.polls = 2;
    gate.next_probe_at = Some(1_700_000_000_000);
    gate.last_verdict = Some(GateVerdict::Fail);
    gate.last_summary = Some("Failing checks: tests (failure)".into());
    gate.failing_checks = vec!["tests".into()];
    gate.head = Some("abc123".into());
    gate.watch_since = Some(1_699_999_000_000);
    gate.exhausted = true;
    gate.attempt_log.push(GateAttempt {
        attempt: 1,
        at: 1_699_999_500_000,
        outcome: HelperOutcome::Failed,
        head: Some("abc123".into()),
        instructions: "fix the tests".into(),
        failing_checks: vec!["tests".into()],
        summary: "gave up".into(),
    });
    gate
}

fn test_loop() -> crate::tester::TestLoop {
    use crate::agent::*;
    use crate::tester::*;
    let mut test = TestLoop::new(TestSpec {
        fixer: "fixer".into(),
        max_attempts: 10,
    });
    let concern = TestConcern {
        title: "refund over the payment".into(),
        detail: "refunds 120 of 100".into(),
        severity: ConcernSeverity::High,
    };
    test.phase = TestPhase::Fixing;
    test.attempts = 1;
    test.aborted = true;
    test.last_report = Some(TestReport {
        greenlight: false,
        summary: "one check failed".into(),
        tested: vec!["refunds".into()],
        outcomes: vec![TestOutcome {
            name: "refund".into(),
            status: OutcomeStatus::Failed,
            detail: Some("boom".into()),
        }],
        concerns: vec![concern.clone()],
        abort: Some(TestAbort {
            reason: "no database".into(),
        }),
    });
    test.attempt_log.push(FixAttempt {
        attempt: 1,
        at: 1_700_000_000_000,
        outcome: crate::gate::HelperOutcome::Completed,
        summary: "capped the refund".into(),
        concerns: vec![concern],
    });
    test
}

fn step() -> Step {
    Step {
        gating: None,
        review: None,
        gate: Some(gate()),
        test: Some(test_loop()),
        merge_assessment: Some(crate::agent::MergeAssessment {
            complexity: 0.2,
            risk: 0.1,
            impact: 0.4,
            rationale: "one function, covered by tests".into(),
        }),
        change: Some(StepChange {
            commit: Some("c0ffee".into()),
            start_commit: "beef00".into(),
            files: 2,
            insertions: 10,
            deletions: 3,
        }),
        warnings: Vec::new(),
        role: AgentRole::Grader,
        agent_kind: "reviewer".into(),
        state: StepState::WaitingDecision,
        progress: 0.5,
        progress_label: Some("reading".into()),
        output: Some("looks fine".into()),
        model: Some("m1".into()),
        decision: Some(Decision {
            id: "g_1".into(),
            question: "which db?".into(),
            options: vec!["sqlite".into(), "pg".into()],
            chosen: None,
        }),
        requires_approval: true,
        approval: Some(Approval {
            id: "g_2".into(),
            status: ApprovalStatus::ChangesRequested,
            proposal: "plan".into(),
            feedback: Some("more".into()),
            comments: vec![comment()],
        }),
        companion: Some(CompanionState {
            grade_repairs: 0,
            producer_kind: "coder".into(),
            threshold: 0.8,
            max_attempts: 3,
            attempts: 1,
            verdicts: vec![Verdict {
                rating: 0.5,
                threshold: 0.8,
                passed: false,
                feedback: "tests missing".into(),
                comments: vec![comment()],
            }],
            exceeded: true,
            cap_gate_id: Some("g_3".into()),
        }),
        rework: Some(Rework {
            previous_proposal: Some("v1".into()),
            feedback: "fix".into(),
            comments: vec![comment()],
            requested_by: ReworkSource::Reviewer,
        }),
        metrics: StepMetrics {
            calls: 2,
            prompt_tokens: 10,
            completion_tokens: 20,
            peak_completion_tokens: 15,
            max_output_tokens: 100,
            cost_estimate: Some(0.25),
            currency: Some("EUR".into()),
            ..StepMetrics::default()
        },
        job: Some(JobRef {
            id: "j_1".into(),
            handle: Some("1234".into()),
            dispatched_at: Some(5),
            metrics_at_start: StepMetrics::default(),
            start_commit: None,
            metered: StepMetrics {
                calls: 1,
                prompt_tokens: 3,
                ..StepMetrics::default()
            },
        }),
        timeout_secs: 60,
        started_at: Some(1),
        finished_at: None,
        attempts: 2,
        recoveries: 1,
        skipped: Some(SkipReason::Gated),
    }
}

fn failure() -> Failure {
    Failure {
        cancellation: None,
        kind: FailureKind::HarnessShutdown,
        message: "lost".into(),
        detail: Some("tail".into()),
        hint: Some("retry".into()),
        occurred_at: 9,
        step_index: 1,
    }
}

fn run() -> Run {
    Run {
        estimate: None,
        pull_request: None,
        id: "r_1".into(),
        block_id: "b_1".into(),
        pipeline_id: "quick".into(),
        pipeline_name: "Quick".into(),
        steps: vec![step()],
        current_step: 0,
        status: RunStatus::Blocked,
        failure: Some(failure()),
        failure_history: vec![failure()],
        output_history: vec![OutputRecord {
            step_index: 0,
            agent_kind: "architect".into(),
            output: "plan".into(),
            recorded_at: 3,
        }],
        resolved_gates: vec![ResolvedGate {
            id: "g_0".into(),
            kind: GateKind::Approval,
            step_index: 0,
            choice: "approve".into(),
            resolved_at: 4,
        }],
        previous_run_id: Some("r_0".into()),
        worktree: None,
        change: None,
        delivery: None,
        initiated_by: "me".into(),
        created_at: 1,
        updated_at: 2,
        rev: 7,
    }
}

fn block() -> Block {
    Block {
        estimate: None,
        pull_request: None,
        id: "b_1".into(),
        level: BlockLevel::Task,
        parent_id: Some("b_0".into()),
        title: "Add login".into(),
        description: "@demo coder sleep 10".into(),
        status: BlockStatus::PrReady,
        progress: 0.25,
        run_id: Some("r_1".into()),
        repository: None,
        created_at: 1,
        updated_at: 2,
    }
}

#[test]
fn a_frame_carries_its_repository_and_a_task_leaves_it_out() {
    let mut frame = block();
    frame.level = BlockLevel::Frame;
    frame.repository = Some(Repository {
        path: "/src/payments".into(),
        base: "main".into(),
        remote: None,
        merge: MergeMode::default(),
        providers: Box::default(),
    });
    let json = assert_roundtrip(&frame);
    assert_eq!(json["repository"]["base"], "main");
    assert_eq!(json["repository"]["merge"], "branch");
    assert!(assert_roundtrip(&block()).get("repository").is_none());
}

#[test]
fn block_round_trips_with_snake_case_fields() {
    let json = assert_roundtrip(&block());
    assert_eq!(json["parent_id"], "b_0");
    assert_eq!(json["status"], "pr_ready");
    assert_eq!(json["level"], "task");
}

#[test]
fn pipeline_round_trips() {
    let pipeline = Pipeline {
        id: "quick".into(),
        name: "Quick".into(),
        description: "d".into(),
        steps: vec![StepSpec {
            gating: None,
            review: None,
            role: crate::AgentRole::Producer,
            agent_kind: "reviewer".into(),
            requires_approval: false,
            companion: Some(CompanionSpec {
                producer_kind: "coder".into(),
                threshold: 0.8,
                max_attempts: 3,
            }),
            timeout_secs: 60,
            gate: None,
            test: None,
        }],
    };
    let json = assert_roundtrip(&pipeline);
    assert_eq!(json["steps"][0]["companion"]["producer_kind"], "coder");
}

#[test]
fn run_with_every_nested_type_round_trips() {
    let json = assert_roundtrip(&run());
    assert_eq!(json["status"], "blocked");
    assert_eq!(json["steps"][0]["state"], "waiting_decision");
    assert_eq!(json["steps"][0]["approval"]["status"], "changes_requested");
    assert_eq!(json["steps"][0]["rework"]["requested_by"], "reviewer");
    assert_eq!(json["failure"]["kind"], "harness_shutdown");
    assert_eq!(json["steps"][0]["metrics"]["peak_completion_tokens"], 15);
}

/// What every `wire_enum!` must hold for each of its variants: serde writes
/// the wire name, reads it back, and no two variants share a name or label.
fn check_names<T>(all: &[T], as_str: fn(T) -> &'static str, label: fn(T) -> &'static str)
where
    T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut wire = std::collections::HashSet::new();
    let mut labels = std::collections::HashSet::new();
    for &value in all {
        assert_eq!(assert_roundtrip(&value), json!(as_str(value)), "{value:?}");
        assert!(wire.insert(as_str(value)), "{value:?} repeats a wire name");
        assert!(labels.insert(label(value)), "{value:?} repeats a label");
        assert!(!label(value).is_empty(), "{value:?} has no label");
    }
}

macro_rules! check_all_names {
    ($($t:ty),+ $(,)?) => {
        $( check_names(<$t>::ALL, <$t>::as_str, <$t>::label); )+
    };
}

#[test]
fn every_variant_of_every_named_enum_has_its_wire_name_as_serde_name() {
    use crate::diff::{FileStatus, LineKind};
    use crate::wire::ErrorCode;
    check_all_names!(
        FileStatus,
        LineKind,
        MergeMode,
        WorkspaceMode,
        Runner,
        BlockLevel,
        BlockStatus,
        RunStatus,
        StepState,
        SkipReason,
        ApprovalStatus,
        CommentSeverity,
        ReworkSource,
        FailureKind,
        Cancellation,
        GateKind,
        IterationCapChoice,
        NotificationType,
        NotificationStatus,
        Severity,
        ErrorCode,
        AgentRole,
    );
}

#[test]
fn an_unknown_wire_name_is_refused_with_the_names_it_could_be() {
    let err = serde_json::from_value::<RunStatus>(json!("runing")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("runing") && text.contains("running"),
        "{text}"
    );
}

#[test]
fn the_stored_names_the_store_and_recovery_filter_on_are_stable() {
    let live: Vec<_> = RunStatus::live().map(RunStatus::as_str).collect();
    assert_eq!(live, ["running", "blocked", "paused"]);
    assert_eq!(
        FailureKind::CompanionRejected.as_str(),
        "companion_rejected"
    );
    assert_eq!(IterationCapChoice::StopReset.as_str(), "stop-reset");
    assert_eq!(GateKind::IterationCap.as_str(), "iteration_cap");
}

#[test]
fn blocked_run_exposes_its_one_pending_gate() {
    let gate = run().pending_gate().unwrap();
    assert_eq!(gate.kind, GateKind::IterationCap);
    assert_eq!(gate.id, "g_3");
    assert_eq!(gate.options, ["extra-round", "proceed", "stop-reset"]);
    assert_roundtrip(&gate);
}

#[test]
fn gate_decisions_round_trip_flattened() {
    let actions = [
        GateAction::Approve {
            edited_proposal: Some("v2".into()),
        },
        GateAction::RequestChanges {
            feedback: "more tests".into(),
            comments: vec![comment()],
        },
        GateAction::Reject {
            reason: "no".into(),
        },
        GateAction::ChooseOption {
            option: "pg".into(),
        },
        GateAction::ResolveIterationCap {
            choice: IterationCapChoice::ExtraRound,
        },
    ];
    for action in actions {
        let decision = GateDecision {
            gate_id: "g_1".into(),
            rev: 3,
            actor: "ana".into(),
            action,
        };
        let json = assert_roundtrip(&decision);
        assert_eq!(json["gate_id"], "g_1");
        assert!(json["action"].is_string());
    }
}

fn card() -> Notification {
    Notification {
        id: "n_1".into(),
        kind: NotificationType::DecisionRequired,
        status: NotificationStatus::Open,
        severity: Severity::Urgent,
        block_id: "b_1".into(),
        run_id: Some("r_1".into()),
        title: "t".into(),
        body: "b".into(),
        payload: json!({"gate_id": "g_1"}),
        created_at: 1,
        resolved_at: None,
    }
}

#[test]
fn notification_and_audit_entry_round_trip() {
    let json = assert_roundtrip(&card());
    assert_eq!(json["type"], "decision_required");
    for &kind in NotificationType::ALL {
        assert_eq!(NotificationType::parse(kind.as_str()), Some(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    let entry = AuditEntry {
        seq: 1,
        at: 2,
        actor: "ana".into(),
        run_id: "r_1".into(),
        gate_id: "g_1".into(),
        gate_kind: GateKind::Decision,
        choice: "option:pg".into(),
        text: None,
    };
    assert_eq!(assert_roundtrip(&entry)["gate_kind"], "decision");
}

#[test]
fn agent_lines_parse_from_the_documented_json() {
    let lines = [
        r#"{"type":"log","level":"warn","msg":"careful"}"#,
        r#"{"type":"progress","done":3,"total":7,"label":"tests"}"#,
        r#"{"type":"llm_call","model":"m","prompt_tokens":5,"completion_tokens":7,"max_output_tokens":8,"finish_reason":"length","upstream_ms":10,"overhead_ms":2}"#,
        r#"{"type":"result","output":"ok","decision":{"question":"q","options":["a","b"]},"grade":{"rating":0.7,"feedback":"f","blockers":["x"]},"pull_request":{"url":"u"}}"#,
    ];
    for line in lines {
        let parsed = AgentLine::parse(line, LogLevel::Info);
        assert!(
            !matches!(
                parsed,
                AgentLine::Log {
                    level: LogLevel::Info,
                    ..
                }
            ),
            "{line}"
        );
        assert_roundtrip(&parsed);
    }
}

#[test]
fn garbage_and_plain_text_become_log_lines() {
    for line in ["hello", "{not json", r#"{"type":"teleport"}"#] {
        let parsed = AgentLine::parse(line, LogLevel::Warn);
        assert_eq!(
            parsed,
            AgentLine::Log {
                level: LogLevel::Warn,
                msg: line.into()
            }
        );
    }
}

#[test]
fn llm_calls_roll_up_into_metrics() {
    let mut metrics = StepMetrics::default();
    let call = |completion, reason| LlmCall {
        model: "m".into(),
        prompt_tokens: 100,
        completion_tokens: completion,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        max_output_tokens: 1000,
        finish_reason: reason,
        upstream_ms: 40,
        overhead_ms: 5,
        first_token_ms: 12,
    };
    metrics.record_call(&call(300, FinishReason::Stop));
    metrics.record_call(&call(1000, FinishReason::Length));
    assert_eq!(metrics.calls, 2);
    assert_eq!(metrics.completion_tokens, 1300);
    assert_eq!(metrics.peak_completion_tokens, 1000);
    assert_eq!(metrics.truncated_calls, 1);
    assert_eq!(metrics.upstream_ms, 80);
    assert_eq!(metrics.headroom_used(), Some(1.0));
    let briefs: Vec<_> = metrics
        .recent_calls
        .iter()
        .map(|c| (c.completion_tokens, c.finish_reason))
        .collect();
    assert_eq!(
        briefs,
        [(300, FinishReason::Stop), (1000, FinishReason::Length)]
    );
    assert_eq!(metrics.recent_calls[0].first_token_ms, 12);
}

#[test]
fn a_steps_metrics_keep_only_its_latest_calls_one_by_one_and_their_cache_share() {
    let mut metrics = StepMetrics::default();
    for n in 0..(crate::domain::RECENT_CALLS as u64 + 10) {
        metrics.record_call(&LlmCall {
            model: "m".into(),
            prompt_tokens: 25,
            completion_tokens: n,
            cache_read_tokens: 75,
            cache_write_tokens: 0,
            max_output_tokens: 1000,
            finish_reason: FinishReason::Stop,
            upstream_ms: 40,
            overhead_ms: 0,
            first_token_ms: 0,
        });
    }
    assert_eq!(
        metrics.calls,
        crate::domain::RECENT_CALLS as u64 + 10,
        "totals count every call"
    );
    assert_eq!(metrics.recent_calls.len(), crate::domain::RECENT_CALLS);
    assert_eq!(
        metrics.recent_calls[0].completion_tokens, 10,
        "the oldest went first"
    );
    assert_eq!(metrics.cache_share(), Some(0.75));
    assert_eq!(StepMetrics::default().cache_share(), None);
}

#[test]
fn every_delivery_round_trips_under_its_mode() {
    let deliveries = [
        Delivery::Branch {
            branch: "cattery/a-1".into(),
            files: 2,
            insertions: 3,
            deletions: 1,
        },
        Delivery::Merged {
            base: "main".into(),
            commit: "c".repeat(40),
            fast_forward: true,
        },
        Delivery::CheckedOut {
            base: "main".into(),
            at: "/src/pay".into(),
            command: "git -C /src/pay merge cattery/a-1".into(),
        },
        Delivery::PullRequest {
            remote: "origin".into(),
            url: "https://example.test/pulls/1".into(),
        },
        Delivery::PullRequestMerged {
            remote: "origin".into(),
            url: "https://example.test/pulls/1".into(),
        },
        Delivery::Review {
            reason: ReviewReason::ExceededThresholds,
            exceeded: vec!["risk".into()],
            branch: "cattery/a-1".into(),
            files: 2,
            insertions: 3,
            deletions: 1,
            url: Some("https://example.test/pulls/1".into()),
        },
    ];
    let modes: Vec<_> = deliveries
        .iter()
        .map(|d| assert_roundtrip(d)["mode"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        modes,
        [
            "branch",
            "merged",
            "checked_out",
            "pull_request",
            "pull_request_merged",
            "review"
        ]
    );
    assert_eq!(deliveries.iter().filter(|d| d.merged()).count(), 2);
}

#[test]
fn a_comment_written_path_line_text_is_anchored_to_that_line() {
    let c =
        ReviewComment::parse_anchored("src/a.rs:12: off by one", CommentSeverity::Major).unwrap();
    assert_eq!(
        (c.path.as_deref(), c.line, c.body.as_str()),
        (Some("src/a.rs"), Some(12), "off by one")
    );
    let whole =
        ReviewComment::parse_anchored("README.md: say why", CommentSeverity::Minor).unwrap();
    assert_eq!(
        (whole.path.as_deref(), whole.line),
        (Some("README.md"), None)
    );
    assert_eq!(
        ReviewComment::parse_anchored("no anchor here", CommentSeverity::Minor),
        None
    );
    assert_eq!(
        ReviewComment::parse_anchored("a.rs:x: bad line", CommentSeverity::Minor),
        None
    );
}

#[test]
fn step_context_and_events_round_trip() {
    let context = StepContext {
        review_pass: None,
        protocol_version: PROTOCOL_VERSION,
        run_id: "r".into(),
        job_id: "j".into(),
        pipeline_id: "quick".into(),
        step_index: 1,
        agent_kind: "coder".into(),
        attempt: 2,
        grades: None,
        block_id: "b".into(),
        block_title: "t".into(),
        block_description: vec!["@demo coder sleep 0".into()],
        prior_outputs: vec![PriorOutput {
            step_index: 0,
            agent_kind: "architect".into(),
            output: "plan".into(),
        }],
        rework: None,
        chosen_option: Some(ChosenOption {
            question: "q".into(),
            option: "a".into(),
        }),
        workspace: Some(crate::agent::Workspace {
            repository: "/src/pay".into(),
            branch: "cattery/t-r".into(),
            base: "main".into(),
            base_commit: "c".repeat(40),
            path: Some("/workspace".into()),
            diff: Vec::new(),
            hunks_left_out: true,
        }),
    };
    assert_roundtrip(&context);
    let events = [
        Event::Block { block: block() },
        Event::Run {
            run: std::sync::Arc::new(run()),
        },
        Event::StepLog {
            run_id: "r".into(),
            step_index: 0,
            at: 1,
            level: LogLevel::Info,
            line: "hi".into(),
        },
        Event::StepMetrics {
            run_id: "r".into(),
            step_index: 0,
            metrics: StepMetrics::default(),
        },
    ];
    for event in events {
        assert_roundtrip(&event);
    }
}

#[test]
fn a_fresh_step_is_stored_compactly_and_reads_back_whole() {
    let mut fresh = step();
    fresh.progress_label = None;
    fresh.output = None;
    fresh.model = None;
    fresh.decision = None;
    fresh.approval = None;
    fresh.companion = None;
    fresh.rework = None;
    fresh.metrics = StepMetrics::default();
    fresh.job = None;
    fresh.skipped = None;
    let json = assert_roundtrip(&fresh);
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    for absent in [
        "output", "decision", "approval", "metrics", "job", "skipped",
    ] {
        assert!(
            !keys.contains(&absent.to_owned()),
            "{absent} was written: {keys:?}"
        );
    }
    assert!(keys.contains(&"agent_kind".to_owned()));
}

#[test]
fn a_request_omitting_defaulted_params_reads_with_their_defaults() {
    use crate::wire::*;
    let every_run: ClientFrame =
        serde_json::from_str(r#"{"type":"request","id":3,"method":"audit","params":{}}"#).unwrap();
    assert_eq!(
        every_run,
        ClientFrame::Request {
            id: 3,
            call: Call::Audit { run_id: None }
        }
    );
    let parsed: ClientFrame = serde_json::from_str(
        r#"{"type":"request","id":2,"method":"add_block","params":{"title":"x"}}"#,
    )
    .unwrap();
    assert!(matches!(
        parsed,
        ClientFrame::Request {
            call: Call::AddBlock {
                level: BlockLevel::Task,
                ..
            },
            ..
        }
    ));
}

#[test]
fn workspace_files_round_trip_and_default_to_tasks() {
    use crate::workspace::*;
    let file: WorkspaceFile =
        serde_json::from_value(json!({"blocks": [{"title": "t", "pipeline": "quick"}]})).unwrap();
    assert_eq!(file.blocks[0].level, BlockLevel::Task);
    assert_eq!(file.blocks[0].pipeline.as_deref(), Some("quick"));
    assert_roundtrip(&file);
    let typo = serde_json::from_value::<WorkspaceFile>(json!({"blocks": [{"titel": "t"}]}));
    assert!(typo.is_err(), "unknown keys are refused");
}

#[test]
fn a_run_patch_carries_only_what_changed_and_rebuilds_the_run() {
    use crate::event::RunPatch;
    let old = run();
    let mut new = old.clone();
    new.rev += 1;
    new.updated_at += 5;
    new.steps[0].attempts += 1;
    let patch = RunPatch::between(&old, &new).unwrap();
    assert_eq!(patch.steps.len(), 1, "one step changed");
    assert!(patch.rest.is_none(), "nothing else changed");
    let json = assert_roundtrip(&Event::RunPatch {
        patch: patch.clone(),
    });
    assert!(json["patch"].get("rest").is_none());
    let mut applied = old.clone();
    assert!(patch.apply(&mut applied));
    assert_eq!(applied, new);

    let mut failed = new.clone();
    failed.rev += 1;
    failed.status = RunStatus::Failed;
    failed.failure_history.push(Failure {
        cancellation: None,
        kind: FailureKind::Agent,
        message: "boom".into(),
        detail: None,
        hint: None,
        occurred_at: 9,
        step_index: 0,
    });
    let patch = RunPatch::between(&new, &failed).unwrap();
    assert!(patch.steps.is_empty());
    assert!(
        patch.rest.as_ref().unwrap().steps.is_empty(),
        "the rest leaves steps out"
    );
    let mut applied = new.clone();
    assert!(patch.apply(&mut applied));
    assert_eq!(applied, failed);
    let mut stale = old.clone();
    assert!(
        !patch.apply(&mut stale),
        "a patch on another rev is refused"
    );
    assert_eq!(stale, old, "and changes nothing");
}

mod every_message;

#[test]
fn a_finished_step_sends_its_appended_output_not_the_whole_rest_of_the_run() {
    use crate::event::RunPatch;
    let old = run();
    let mut new = old.clone();
    new.rev += 1;
    new.output_history.push(OutputRecord {
        step_index: 0,
        agent_kind: "architect".into(),
        output: "the plan".into(),
        recorded_at: 11,
    });
    let patch = RunPatch::between(&old, &new).unwrap();
    assert!(patch.rest.is_none(), "only outputs were added");
    assert_eq!(
        patch.outputs,
        new.output_history[old.output_history.len()..]
    );
    let mut applied = old.clone();
    assert!(patch.apply(&mut applied));
    assert_eq!(applied, new);

    let mut rewritten = new.clone();
    rewritten.rev += 1;
    rewritten.output_history.clear();
    let patch = RunPatch::between(&new, &rewritten).unwrap();
    assert!(patch.outputs.is_empty());
    assert!(patch.rest.is_some(), "a history that shrank goes whole");
    let mut applied = new.clone();
    assert!(patch.apply(&mut applied));
    assert_eq!(applied, rewritten);
}
