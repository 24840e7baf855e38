//! Random pipelines under random results and decisions keep the run invariants.

use super::tests::{block, output};
use super::*;
use crate::clock::SeqIds;
use crate::store::{Commit, NewAudit, RunWrite, Store};
use cattery_protocol::agent::{AgentResult, DecisionRequest, Grade};
use cattery_protocol::*;
use proptest::prelude::*;

fn pipeline(shape: &[(u8, bool)]) -> Pipeline {
    let mut steps: Vec<StepSpec> = Vec::new();
    for &(kind, gated) in shape {
        let has_coder = steps.iter().any(|s| s.agent_kind == "coder");
        let (agent_kind, companion) = match kind % 4 {
            0 => ("architect", None),
            1 => ("coder", None),
            2 if has_coder => (
                "reviewer",
                Some(CompanionSpec {
                    producer_kind: "coder".into(),
                    threshold: 0.8,
                    max_attempts: 2,
                }),
            ),
            _ => ("tester", None),
        };
        steps.push(StepSpec {
            gating: None,
            review: None,
            role: cattery_protocol::AgentRole::Producer,
            agent_kind: agent_kind.into(),
            requires_approval: gated,
            companion,
            timeout_secs: 60,
            gate: None,
            test: None,
        });
    }
    Pipeline {
        id: "p".into(),
        name: "P".into(),
        description: String::new(),
        steps,
    }
}

fn result(choice: u8) -> JobResult {
    match choice % 8 {
        0 => JobResult::Failed {
            kind: FailureKind::Agent,
            message: "boom".into(),
            detail: None,
            hint: None,
        },
        1 => JobResult::Succeeded(AgentResult {
            output: "?".into(),
            decision: Some(DecisionRequest {
                question: "q".into(),
                options: vec!["x".into(), "y".into()],
            }),
            grade: None,
            pull_request: None,
            merge_assessment: None,
            test_report: None,
        }),
        n => JobResult::Succeeded(AgentResult {
            output: format!("out {n}"),
            decision: None,
            grade: Some(Grade {
                rating: f64::from(n) / 8.0,
                feedback: "f".into(),
                blockers: if n == 2 { vec!["b".into()] } else { Vec::new() },
                comments: Vec::new(),
            }),
            pull_request: None,
            merge_assessment: None,
            test_report: None,
        }),
    }
}

fn action(gate: &PendingGate, choice: u8) -> GateAction {
    match gate.kind {
        GateKind::Approval => match choice % 4 {
            0 => GateAction::RequestChanges {
                feedback: "again".into(),
                comments: Vec::new(),
            },
            1 => GateAction::Reject {
                reason: "no".into(),
            },
            _ => GateAction::Approve {
                edited_proposal: None,
            },
        },
        GateKind::Decision => GateAction::ChooseOption {
            option: gate.options[usize::from(choice) % gate.options.len()].clone(),
        },
        GateKind::IterationCap => GateAction::ResolveIterationCap {
            choice: IterationCapChoice::ALL[usize::from(choice) % 3],
        },
        GateKind::Review => unreachable!("these pipelines have no review gate"),
    }
}

fn check_invariants(run: &Run) {
    let working: Vec<_> = run
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state == StepState::Working)
        .map(|(i, _)| i)
        .collect();
    let waiting = run
        .steps
        .iter()
        .filter(|s| s.state == StepState::WaitingDecision)
        .count();
    match run.status {
        RunStatus::Running => {
            assert!(run.current_step < run.steps.len(), "one current step");
            assert!(
                working.iter().all(|&i| i == run.current_step),
                "{working:?}"
            );
            assert_eq!(waiting, 0);
        }
        RunStatus::Blocked => {
            assert!(run.pending_gate().is_some(), "a blocked run has a gate");
            assert_eq!(waiting, 1, "exactly one pending gate");
            assert!(working.is_empty());
        }
        RunStatus::Done | RunStatus::Failed | RunStatus::Paused => {
            assert!(working.is_empty(), "no step works after the run ends");
            assert_eq!(waiting, 0);
        }
    }
    if run.status == RunStatus::Done {
        assert!(run.steps.iter().all(|s| s.state == StepState::Done));
    }
}

struct Sim {
    store: Store,
    run: Run,
    ids: SeqIds,
    accepted: usize,
    now: Millis,
    /// Steps of the current run whose approval is in the audit log (in
    /// this run, or carried from the run it retried or restarted) and that
    /// have not run again since.
    approved: std::collections::BTreeSet<usize>,
}

impl Sim {
    fn cx(&self) -> Cx<'_> {
        Cx {
            now: self.now,
            ids: &self.ids,
            actor: "prop",
        }
    }

    fn commit(&mut self, t: Transition, audit: Option<NewAudit>) {
        let write = RunWrite::insert(t.run).over(std::sync::Arc::new(self.run.clone()));
        let commit = Commit {
            runs: vec![write],
            block: None,
            audit,
            claim: None,
        };
        self.run = self.store.commit(commit).unwrap().remove(0);
        self.now += 1;
        self.after_commit();
    }

    fn after_commit(&mut self) {
        check_invariants(&self.run);
        let steps = &self.run.steps;
        self.approved
            .retain(|&i| steps.get(i).is_some_and(|s| s.state == StepState::Done));
        // The final step never parks for approval (ARCHITECTURE.md, Engine
        // rules): delivery is its review. Every other gated step must have
        // been approved.
        if self.run.status == RunStatus::Done {
            let last = self.run.steps.len() - 1;
            for (i, step) in self.run.steps.iter().enumerate().take(last) {
                assert!(
                    !step.requires_approval || self.approved.contains(&i),
                    "run {} finished with step {i} unapproved",
                    self.run.id
                );
            }
        }
    }

    /// A random lifecycle call: retry, restart-from a random step, or stop.
    fn lifecycle(&mut self, choice: u8) {
        match choice % 3 {
            0 => match retry(&self.run, None, &self.cx()) {
                Ok(t) => self.succeed(t, None),
                Err(_) => assert_ne!(self.retryable(), Some(true), "a retryable run was refused"),
            },
            1 => {
                let index = usize::from(choice / 3) % (self.run.steps.len() + 1);
                match restart_from(&self.run, None, index, &self.cx()) {
                    Ok(started) => {
                        assert!(
                            index <= self.run.last_reached_step(),
                            "restarted past reach"
                        );
                        self.succeed(started.run, started.superseded);
                    }
                    Err(EngineError::NotReached { .. } | EngineError::StepOutOfRange { .. }) => {
                        assert!(index > self.run.last_reached_step());
                    }
                    Err(e) => panic!("restart-from a reached step was refused: {e}"),
                }
            }
            _ => {
                if let Ok(t) = stop(&self.run, &self.cx()) {
                    self.commit(t, None);
                }
            }
        }
    }

    fn retryable(&self) -> Option<bool> {
        let failure = self.run.failure.as_ref()?;
        Some(failure.cancellation.is_none_or(|c| c.retryable()))
    }

    /// Stores a retry's or restart's new run (and the run it supersedes)
    /// and follows the new one.
    fn succeed(&mut self, next: Transition, superseded: Option<Transition>) {
        let mut runs = vec![RunWrite::insert(next.run)];
        if let Some(old) = superseded {
            runs.push(RunWrite::insert(old.run).over(std::sync::Arc::new(self.run.clone())));
        }
        let commit = Commit {
            runs,
            ..Commit::default()
        };
        self.run = self.store.commit(commit).unwrap().remove(0);
        self.now += 1;
        self.after_commit();
    }

    fn step(&mut self, choice: u8) {
        if let Some(gate) = self.run.pending_gate() {
            return self.decide(&gate, choice);
        }
        let t = advance(&self.run, AdvanceOptions::default(), &self.cx());
        let job = match &t.outcome {
            Outcome::AwaitingJob { job_id, .. } => Some(job_id.clone()),
            _ => None,
        };
        if t.run != self.run {
            self.commit(t, None);
        }
        if let Some(job) = job {
            let t = record_result(&self.run, &job, result(choice), &self.cx()).unwrap();
            self.commit(t, None);
        }
    }

    fn decide(&mut self, gate: &PendingGate, choice: u8) {
        // Every fifth decision is sent against an old rev, and must be refused.
        let stale = choice % 5 == 4;
        let decision = GateDecision {
            gate_id: gate.id.clone(),
            rev: if stale {
                self.run.rev - 1
            } else {
                self.run.rev
            },
            actor: "prop".into(),
            action: action(gate, choice / 5),
        };
        match decide(&self.run, &decision, &self.cx()) {
            Ok(t) => {
                assert!(!stale, "a stale decision was accepted");
                let audit = NewAudit {
                    at: self.now,
                    actor: "prop".into(),
                    run_id: self.run.id.clone(),
                    gate_id: gate.id.clone(),
                    gate_kind: gate.kind,
                    choice: decision.action.choice(),
                    text: None,
                };
                self.commit(t, Some(audit));
                self.accepted += 1;
                if matches!(decision.action, GateAction::Approve { .. }) {
                    self.approved.insert(gate.step_index);
                }
                let again = GateDecision {
                    rev: self.run.rev,
                    ..decision
                };
                let repeated = decide(&self.run, &again, &self.cx());
                assert!(
                    matches!(repeated, Err(EngineError::AlreadyResolved { .. })),
                    "{repeated:?}"
                );
            }
            Err(e) => assert!(stale, "a valid decision was refused: {e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_runs_and_lifecycle_calls_keep_their_invariants_and_never_skip_an_approval(
        shape in prop::collection::vec((any::<u8>(), any::<bool>()), 1..7),
        choices in prop::collection::vec(any::<u8>(), 1..120),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db")).unwrap();
        store.insert_block(&block()).unwrap();
        let ids = SeqIds::default();
        let pipeline = pipeline(&shape);
        let started = start(&block(), &pipeline, None, &Cx { now: 0, ids: &ids, actor: "prop" });
        let write = RunWrite::insert(started.run.run);
        let run = store.commit(Commit { runs: vec![write], ..Commit::default() }).unwrap().remove(0);
        let mut sim = Sim { store, run, ids, accepted: 0, now: 1, approved: Default::default() };
        for choice in choices {
            // One call in eleven is a lifecycle call, the rest move the run.
            if choice % 11 == 10 {
                sim.lifecycle(choice / 11);
            } else if sim.run.status.is_live() {
                sim.step(choice);
            }
        }
        if !sim.run.status.is_live() {
            let frozen = sim.run.clone();
            let t = advance(&frozen, AdvanceOptions::default(), &sim.cx());
            prop_assert_eq!(&t.run, &frozen, "a finished run never changes");
            prop_assert!(stop(&frozen, &sim.cx()).is_err());
            let _ = record_result(&frozen, "j_any", output("late"), &sim.cx()).unwrap_err();
        }
        prop_assert_eq!(sim.store.audit_log().unwrap().len(), sim.accepted);
    }
}
