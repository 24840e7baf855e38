//! The findings pane of a review gate: the run's findings, one selected,
//! and the actions a human takes on them (reply, resolve, dismiss, reopen,
//! incorporate, and the cap's choices). Every action is one `Call::Review`
//! at the rev the pane shows.

use super::actions::Action;
use super::{App, EditPurpose, Effect, View};
use cattery_protocol::review::{FindingStatus, ReviewAction, ReviewState, ReviewStatus};
use cattery_protocol::wire::Call;
use cattery_protocol::{GateKind, Run};
use std::sync::Arc;

/// Which run's review the pane shows and which finding is selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewPane {
    pub run_id: String,
    pub selected: usize,
}

impl App {
    /// Opens the findings pane on `run_id`'s review.
    pub(super) fn open_review(&mut self, run_id: &str) {
        self.sel.run = Some(run_id.to_owned());
        self.review = Some(ReviewPane {
            run_id: run_id.to_owned(),
            selected: 0,
        });
        self.stack.push(View::Review);
    }

    /// The run on the pane and its review step, when it has one.
    pub fn shown_review(&self) -> Option<(&Arc<Run>, usize, &ReviewState)> {
        let run = self.model.runs.get(&self.review.as_ref()?.run_id)?;
        let (index, review) = run.review()?;
        Some((run, index, review))
    }

    pub(super) fn move_finding(&mut self, delta: isize) {
        let count = self.shown_review().map_or(0, |(_, _, r)| r.findings.len());
        if let Some(pane) = &mut self.review {
            pane.selected = super::nav::step(pane.selected, delta, count);
        }
    }

    /// The selected finding's id and status.
    fn selected_finding(&self) -> Option<(String, FindingStatus)> {
        let (_, _, review) = self.shown_review()?;
        let at = self
            .review
            .as_ref()?
            .selected
            .min(review.findings.len().checked_sub(1)?);
        review.findings.get(at).map(|f| (f.id.clone(), f.status))
    }

    /// Whether a review action applies on the pane; the reason when not.
    pub(super) fn review_applies(&self, action: Action) -> Result<(), String> {
        if self.view() != View::Review {
            return Err(
                "findings are worked in a review's pane: open a review gate (enter) in the inbox"
                    .to_owned(),
            );
        }
        let Some((run, _, review)) = self.shown_review() else {
            return Err("this run has no review".to_owned());
        };
        let parked = run
            .pending_gate()
            .is_some_and(|g| g.kind == GateKind::Review);
        if !parked || self.requests.is_in_flight(&in_flight_key(&run.id, run.rev)) {
            return Err(format!(
                "the review is {}; it takes actions while it waits on you",
                review.status.label()
            ));
        }
        let selected = self.selected_finding();
        match action {
            Action::ReplyFinding | Action::ResolveFinding | Action::DismissFinding => selected
                .map(drop)
                .ok_or_else(|| "no finding is selected".to_owned()),
            Action::ReopenFinding => match selected {
                Some((_, FindingStatus::Open)) => Err("this finding is open already".to_owned()),
                Some(_) => Ok(()),
                None => Err("no finding is selected".to_owned()),
            },
            Action::Incorporate => match review.open_count() {
                0 => Ok(()),
                open => Err(format!(
                    "{open} finding{} still open: answer (r), resolve (R) or dismiss (d) {} before incorporating",
                    if open == 1 { " is" } else { "s are" },
                    if open == 1 { "it" } else { "them" },
                )),
            },
            Action::ExtraRound if review.status != ReviewStatus::Exceeded => Err(format!(
                "an extra round is for a review at its cap; this is pass {} of {}",
                review.iteration, review.max_iterations
            )),
            _ => Ok(()),
        }
    }

    /// Does a review action: the reply goes through the editor first.
    pub(super) fn on_review(&mut self, action: Action) -> Vec<Effect> {
        let Some((run, _, _)) = self.shown_review() else {
            return Vec::new();
        };
        let (run_id, rev) = (run.id.clone(), run.rev);
        let finding = || {
            self.selected_finding()
                .map(|(id, _)| id)
                .unwrap_or_default()
        };
        let review_action = match action {
            Action::ReplyFinding => {
                let purpose = EditPurpose::Reply {
                    run_id,
                    rev,
                    finding: finding(),
                };
                return self.edit(String::new(), purpose);
            }
            Action::ResolveFinding => ReviewAction::Resolve { finding: finding() },
            Action::DismissFinding => ReviewAction::Dismiss { finding: finding() },
            Action::ReopenFinding => ReviewAction::Reopen { finding: finding() },
            Action::Incorporate => ReviewAction::Incorporate { feedback: None },
            Action::ExtraRound => ReviewAction::ExtraRound,
            Action::Proceed => ReviewAction::Proceed,
            _ => {
                let call = Call::Review {
                    run_id,
                    rev,
                    action: ReviewAction::StopReset,
                };
                self.confirm(
                    "Stop this run and put the task back to planned?".to_owned(),
                    vec![(call, "stop-reset at the review".to_owned())],
                );
                return Vec::new();
            }
        };
        self.send_review(run_id, rev, review_action)
    }

    pub(super) fn send_review(
        &mut self,
        run_id: String,
        rev: u64,
        action: ReviewAction,
    ) -> Vec<Effect> {
        let what = format!("{} at the review", action.name());
        let call = Call::Review {
            run_id,
            rev,
            action,
        };
        self.send(call, what).into_iter().collect()
    }
}

/// What marks a review action in flight: its run at the rev it named.
pub(super) fn in_flight_key(run_id: &str, rev: u64) -> String {
    format!("{run_id}@{rev}")
}
