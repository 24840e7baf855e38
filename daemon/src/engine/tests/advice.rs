//! Every lifecycle refusal advises only moves the lifecycle accepts: each
//! refusal kind is produced, and each move it offers is tried.

use super::*;
use crate::engine::advice::{Advice, Move};

/// Tries `m` on `current` (the run the advice is about) and says whether
/// the engine accepted it.
fn accepted(m: &Move, current: &Run, ids: &SeqIds) -> bool {
    let cx = cx(ids, 99);
    match m {
        Move::Decide { gate_id, .. } => {
            let Some(gate) = current.pending_gate() else {
                return false;
            };
            let action = match gate.kind {
                GateKind::Approval => approve(),
                GateKind::IterationCap => GateAction::ResolveIterationCap {
                    choice: IterationCapChoice::Proceed,
                },
                GateKind::Decision => GateAction::ChooseOption {
                    option: gate.options[0].clone(),
                },
                GateKind::Review => return false,
            };
            let decision = GateDecision {
                gate_id: gate_id.clone(),
                rev: current.rev,
                actor: "ana".into(),
                action,
            };
            decide(current, &decision, &cx).is_ok()
        }
        // The advice says "and retry it later": both must be accepted.
        Move::Stop { .. } => {
            stop(current, &cx).is_ok_and(|stopped| retry(&stopped.run, None, &cx).is_ok())
        }
        Move::Retry { .. } => retry(current, None, &cx).is_ok(),
        Move::RestartFrom { last, .. } => {
            (0..=*last).all(|i| restart_from(current, None, i, &cx).is_ok())
        }
        Move::StartAgain => true,
    }
}

fn advice_of(refusal: &EngineError) -> &Advice {
    match refusal {
        EngineError::NotRetryable { advice, .. }
        | EngineError::NotFailed { advice, .. }
        | EngineError::NotCurrent { advice, .. }
        | EngineError::NotReached { advice, .. }
        | EngineError::RunEnded { advice, .. } => advice,
        other => panic!("{other} carries no advice"),
    }
}

/// Asserts every move of `refusal`'s advice is accepted on `current`, and
/// that its text names each one.
fn assert_advice_holds(refusal: &EngineError, current: &Run) {
    let ids = SeqIds::default();
    let advice = advice_of(refusal);
    assert!(!advice.0.is_empty());
    for m in &advice.0 {
        assert!(
            accepted(m, current, &ids),
            "advised {m:?} is refused: {refusal}"
        );
    }
    let text = refusal.to_string();
    assert!(text.contains(&advice.to_string()), "{text}");
}

fn decision_on(run: &Run, gate_id: &str) -> GateDecision {
    GateDecision {
        gate_id: gate_id.to_owned(),
        rev: run.rev,
        actor: "ana".into(),
        action: approve(),
    }
}

#[test]
fn a_decision_after_cancel_advises_moves_that_are_accepted() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    let gate = h.run.pending_gate().unwrap();
    let cancelled = cancel(&h.run, &h.cx()).unwrap();
    h.apply(cancelled);
    let refused = decide(&h.run, &decision_on(&h.run, &gate.id), &h.cx()).unwrap_err();
    assert!(matches!(refused, EngineError::RunEnded { .. }), "{refused}");
    assert!(
        !refused.to_string().contains("retry run"),
        "a cancelled run cannot be retried: {refused}"
    );
    assert_advice_holds(&refused, &h.run);
}

#[test]
fn a_decision_after_stop_advises_retry_which_is_accepted() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    let gate = h.run.pending_gate().unwrap();
    let stopped = stop(&h.run, &h.cx()).unwrap();
    h.apply(stopped);
    let refused = decide(&h.run, &decision_on(&h.run, &gate.id), &h.cx()).unwrap_err();
    assert!(refused.to_string().contains("retry run"), "{refused}");
    assert_advice_holds(&refused, &h.run);
}

#[test]
fn retry_refused_for_a_cancelled_or_stop_reset_run_advises_accepted_moves() {
    let mut h = Harness::new(&quick());
    h.next_job();
    let cancelled = cancel(&h.run, &h.cx()).unwrap();
    h.apply(cancelled);
    let refused = retry(&h.run, None, &h.cx()).unwrap_err();
    assert_advice_holds(&refused, &h.run);

    let mut h = at_cap();
    h.decide(GateAction::ResolveIterationCap {
        choice: IterationCapChoice::StopReset,
    })
    .unwrap();
    let refused = retry(&h.run, None, &h.cx()).unwrap_err();
    assert!(matches!(refused, EngineError::NotRetryable { .. }));
    assert_advice_holds(&refused, &h.run);
}

#[test]
fn retry_refused_for_a_live_or_done_run_advises_accepted_moves() {
    let mut h = Harness::new(&quick());
    h.finish(output("plan"));
    let refused = retry(&h.run, None, &h.cx()).unwrap_err();
    assert!(
        matches!(refused, EngineError::NotFailed { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("answer gate"), "{refused}");
    assert_advice_holds(&refused, &h.run);

    let mut h = Harness::new(&Pipeline {
        steps: vec![spec("coder")],
        ..quick()
    });
    h.run_to_end();
    let refused = retry(&h.run, None, &h.cx()).unwrap_err();
    assert_advice_holds(&refused, &h.run);
}

#[test]
fn retrying_or_restarting_a_replaced_run_is_refused_naming_the_current_run() {
    let h = failed_at_coder();
    let first = retry(&h.run, None, &h.cx()).unwrap().run;
    let twice = retry(&h.run, Some(&first), &h.cx()).unwrap_err();
    let EngineError::NotCurrent { current, .. } = &twice else {
        panic!("expected NotCurrent, got {twice}");
    };
    assert_eq!(current, &first.id);
    assert_advice_holds(&twice, &first);
    let restarted = restart_from(&h.run, Some(&first), 0, &h.cx()).unwrap_err();
    assert!(matches!(restarted, EngineError::NotCurrent { .. }));
    assert_advice_holds(&restarted, &first);
}

#[test]
fn restart_from_a_step_never_reached_is_refused_listing_the_steps_it_may_restart_from() {
    let mut h = Harness::new(&quick());
    h.next_job();
    let refused = restart_from(&h.run, None, 3, &h.cx()).unwrap_err();
    let EngineError::NotReached { index: 3, .. } = &refused else {
        panic!("expected NotReached, got {refused}");
    };
    assert!(refused.to_string().contains("from step 0"), "{refused}");
    assert_advice_holds(&refused, &h.run);
    let h = failed_at_coder();
    let refused = restart_from(&h.run, None, 2, &h.cx()).unwrap_err();
    assert!(refused.to_string().contains("0 to 1"), "{refused}");
    assert_advice_holds(&refused, &h.run);
    assert!(restart_from(&h.run, None, 1, &h.cx()).is_ok());
}
