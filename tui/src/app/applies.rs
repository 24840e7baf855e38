//! Whether an action applies where the user is, and if not, why. This is
//! the one predicate: the footer offers an action only when it applies, and
//! a key or palette entry for an action that does not apply gets this reason
//! instead of a request. The match is exhaustive, so a new action must say
//! here where it applies.

use super::actions::{Action, Weight, spec_of};
use super::{App, View};
use cattery_protocol::{GateKind, PendingGate, Run, RunStatus};

impl App {
    /// `Ok` when `action` (with option `index`, for answers) can act here;
    /// otherwise the reason, worded for the footer.
    pub fn applies(&self, action: Action, index: usize) -> Result<(), String> {
        if !self.shows(action) {
            return Err("read-only: decisions are off (started with --read-only)".to_owned());
        }
        use Action as A;
        match action {
            A::Quit | A::Back | A::Help | A::Palette | A::Filter | A::NextView => Ok(()),
            A::ViewBoard | A::ViewRun | A::ViewInbox | A::ViewLogs | A::ViewSchedules => Ok(()),
            A::RunScheduleNow => self.schedule_applies(),
            A::Up | A::Down | A::PageUp | A::PageDown | A::Top | A::Bottom => Ok(()),
            A::Open | A::Refresh => Ok(()),
            A::Freeze => self.in_view(View::Logs, "freeze applies to the log view (4)"),
            A::Diff => self.diffable().map(drop),
            A::NextFile | A::PrevFile if self.view() == View::Logs => self
                .selected_run()
                .map(drop)
                .ok_or_else(|| "no run is selected".to_owned()),
            A::NextFile | A::PrevFile => self.in_view(
                View::Diff,
                "files are stepped through in a diff (D), steps in the log (4)",
            ),
            A::Approve | A::EditApprove | A::RequestChanges | A::Reject => {
                self.gate_of_kind(GateKind::Approval).map(drop)
            }
            A::ChooseOption => self.answerable(index),
            A::ExtraRound | A::Proceed | A::StopReset if self.view() == View::Review => {
                self.review_applies(action)
            }
            A::ExtraRound | A::Proceed | A::StopReset => {
                self.gate_of_kind(GateKind::IterationCap).map(drop)
            }
            A::ReplyFinding
            | A::ResolveFinding
            | A::DismissFinding
            | A::ReopenFinding
            | A::Incorporate => self.review_applies(action),
            // Any gate may be marked; a bulk approve takes only the approvals.
            A::Mark => {
                self.in_view(View::Inbox, "gates are marked in the inbox (3)")?;
                self.selected_gate()
                    .map(drop)
                    .ok_or_else(|| "no gate is selected here".to_owned())
            }
            A::ApproveMarked => self.has_marked_approvals(),
            A::Act | A::Dismiss => self.selected_card().map(drop).ok_or_else(|| {
                "no card is selected; gates are decided with their own keys".to_owned()
            }),
            A::ResumePaused => self.has_paused_run(),
            A::Start => self.startable(),
            A::Retry => self.retryable(),
            A::RestartFrom => self.restartable(),
            A::Stop => self
                .selected_run()
                .filter(|r| r.status.is_live())
                .map(drop)
                .ok_or_else(|| "no live run is selected".to_owned()),
        }
    }

    /// Hidden in read-only mode: anything that changes a run.
    pub fn shows(&self, action: Action) -> bool {
        !(self.read_only && spec_of(action).weight != Weight::Safe)
    }

    fn in_view(&self, view: View, why: &str) -> Result<(), String> {
        (self.view() == view)
            .then_some(())
            .ok_or_else(|| why.to_owned())
    }

    /// The selected gate, when it is of `kind` and no decision on it is on
    /// its way.
    pub(super) fn gate_of_kind(&self, kind: GateKind) -> Result<PendingGate, String> {
        let Some(gate) = self.selected_gate() else {
            let why = match self.shown_gate() {
                Some(_) => "a decision on this gate is on its way; waiting for catteryd",
                None => "no gate is selected here; the inbox (3) lists them",
            };
            return Err(why.to_owned());
        };
        if gate.kind != kind {
            return Err(super::decide::wrong_kind(&gate, self));
        }
        Ok(gate)
    }

    /// A decision is selected where digits answer (not the board, where
    /// they switch views) and it offers option `index`.
    fn answerable(&self, index: usize) -> Result<(), String> {
        if !matches!(
            self.view(),
            View::Inbox | View::Run | View::Viewer | View::Diff
        ) {
            return Err("answer decisions in the inbox (3) or the run view (2)".to_owned());
        }
        let gate = self.gate_of_kind(GateKind::Decision)?;
        if index >= gate.options.len() {
            return Err(format!(
                "this decision offers options 1-{}",
                gate.options.len()
            ));
        }
        Ok(())
    }

    fn has_marked_approvals(&self) -> Result<(), String> {
        let any = self
            .model
            .inbox()
            .iter()
            .any(|g| self.marked.contains(&g.id) && g.kind == GateKind::Approval);
        any.then_some(())
            .ok_or_else(|| "no marked approvals; mark gates with space first".to_owned())
    }

    fn has_paused_run(&self) -> Result<(), String> {
        let any = self
            .model
            .runs
            .values()
            .any(|r| r.status == RunStatus::Paused);
        any.then_some(())
            .ok_or_else(|| "no run is paused".to_owned())
    }

    fn startable(&self) -> Result<(), String> {
        let block = match self.view() {
            View::Board => self.sel.board.as_deref(),
            _ => None,
        };
        let Some(block) = block else {
            return Err("select a block on the board to start a pipeline".to_owned());
        };
        if self
            .model
            .run_of_block(block)
            .is_some_and(|r| r.status.is_live())
        {
            return Err("this block already has a live run".to_owned());
        }
        if self.model.pipelines.is_empty() {
            return Err("no pipelines known yet; is the daemon connected?".to_owned());
        }
        Ok(())
    }

    /// The run and step whose change `D` shows: the selected step's in the
    /// Run view when it changed code, else the whole run's so far.
    pub(super) fn diffable(&self) -> Result<(String, Option<usize>), String> {
        let Some(run) = self.selected_run() else {
            return Err("no run is selected".to_owned());
        };
        if run.worktree.is_none() {
            return Err("this run has no repository, so it changed no code".to_owned());
        }
        let step = (self.view() == View::Run)
            .then(|| run.steps.get(self.sel.step))
            .flatten()
            .filter(|s| s.change.as_ref().is_some_and(|c| c.commit.is_some()))
            .map(|_| self.sel.step);
        Ok((run.id.clone(), step))
    }

    fn retryable(&self) -> Result<(), String> {
        let Some(run) = self.selected_run() else {
            return Err("no run is selected".to_owned());
        };
        self.is_current(run)?;
        (run.status == RunStatus::Failed)
            .then_some(())
            .ok_or_else(|| "only a failed run can be retried".to_owned())
    }

    /// Restart from the selected step: only the block's current run, and
    /// only from a step it reached (a later one would skip its gates).
    fn restartable(&self) -> Result<(), String> {
        self.in_view(
            View::Run,
            "restart from a step selected in the run view (2)",
        )?;
        let Some(run) = self.selected_run() else {
            return Err("no run is selected".to_owned());
        };
        self.is_current(run)?;
        let last = run.last_reached_step();
        if self.sel.step > last {
            return Err(format!(
                "this run never reached step {}; restart from step 0 to {last}",
                self.sel.step
            ));
        }
        Ok(())
    }

    /// Only the block's current run may be retried or restarted.
    fn is_current(&self, run: &Run) -> Result<(), String> {
        match self
            .model
            .blocks
            .get(&run.block_id)
            .and_then(|b| b.run_id.as_deref())
        {
            Some(current) if current != run.id => Err(format!(
                "a newer run, {current}, replaced this one; act on that run instead"
            )),
            _ => Ok(()),
        }
    }
}
