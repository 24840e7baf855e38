//! Gate decisions and run operations, from key press to request.

use super::actions::Action;
use super::{App, DiffTag, EditPurpose, Effect, Modal, View, Viewer};
use cattery_protocol::wire::Call;
use cattery_protocol::{
    CommentSeverity, GateAction, GateKind, IterationCapChoice, PendingGate, ReviewComment,
    RunStatus,
};

impl App {
    pub(super) fn decide(&mut self, action: Action, index: usize) -> Vec<Effect> {
        match action {
            Action::Start => self.pick_pipeline(),
            Action::Retry => return self.retry(),
            Action::RestartFrom => self.confirm_restart(),
            Action::Stop => self.confirm_stop(),
            Action::Mark => self.toggle_mark(),
            Action::ApproveMarked => self.confirm_approve_marked(),
            Action::Act | Action::Dismiss => return self.close_card(action),
            Action::ResumePaused => return self.resume_paused(),
            review_action if self.view() == View::Review => return self.on_review(review_action),
            gate_action => {
                let effects = self.on_gate(gate_action, index);
                // The gate is answered; the viewer of its question has done its job.
                if !effects.is_empty() && matches!(self.view(), View::Viewer | View::Diff) {
                    self.back();
                }
                return effects;
            }
        }
        Vec::new()
    }

    fn on_gate(&mut self, action: Action, index: usize) -> Vec<Effect> {
        let kind = match action {
            Action::ChooseOption => GateKind::Decision,
            Action::ExtraRound | Action::Proceed | Action::StopReset => GateKind::IterationCap,
            _ => GateKind::Approval,
        };
        // `applies` has checked the gate; this only fetches it.
        let Ok(gate) = self.gate_of_kind(kind) else {
            return Vec::new();
        };
        match action {
            Action::Approve => self.approve(&gate, None).into_iter().collect(),
            Action::EditApprove => self.edit(gate.prompt.clone(), EditPurpose::Proposal(gate)),
            Action::RequestChanges => {
                // From a diff, the remark starts at the line on screen.
                let anchor = (self.view() == View::Diff)
                    .then(|| self.diff.as_ref().and_then(|d| d.anchor()))
                    .flatten()
                    .map_or_else(String::new, |at| format!("{at}: "));
                self.edit(anchor, EditPurpose::Changes(gate))
            }
            Action::Reject => self.edit(String::new(), EditPurpose::Reject(gate)),
            Action::ChooseOption => self.choose(&gate, index).into_iter().collect(),
            Action::ExtraRound => self.cap(&gate, IterationCapChoice::ExtraRound),
            Action::Proceed => self.cap(&gate, IterationCapChoice::Proceed),
            _ => {
                self.confirm(
                    "Stop this run and put the block back to planned?".to_owned(),
                    vec![cap_call(&gate, IterationCapChoice::StopReset)],
                );
                Vec::new()
            }
        }
    }

    fn resume_paused(&mut self) -> Vec<Effect> {
        let paused = self
            .model
            .runs
            .values()
            .filter(|r| r.status == RunStatus::Paused)
            .count();
        let what = format!("resume {paused} paused run{}", plural(paused));
        self.send(Call::ResumePaused, what).into_iter().collect()
    }

    fn close_card(&mut self, action: Action) -> Vec<Effect> {
        let Some(card) = self.selected_card() else {
            return Vec::new();
        };
        let (call, what) = match action {
            Action::Act => (
                Call::Act {
                    id: card.id.clone(),
                },
                "act on",
            ),
            _ => (
                Call::Dismiss {
                    id: card.id.clone(),
                },
                "dismiss",
            ),
        };
        self.send(call, format!("{what} `{}`", card.title))
            .into_iter()
            .collect()
    }

    fn approve(&mut self, gate: &PendingGate, edited: Option<String>) -> Option<Effect> {
        let what = match edited {
            Some(_) => "approve (edited)",
            None => "approve",
        };
        let call = Call::decide(
            gate,
            GateAction::Approve {
                edited_proposal: edited,
            },
        );
        self.send(call, format!("{what} {}", gate.agent_kind))
    }

    fn choose(&mut self, gate: &PendingGate, index: usize) -> Option<Effect> {
        let option = gate.options.get(index)?.clone();
        let call = Call::decide(
            gate,
            GateAction::ChooseOption {
                option: option.clone(),
            },
        );
        self.send(call, format!("answer `{option}`"))
    }

    fn cap(&mut self, gate: &PendingGate, choice: IterationCapChoice) -> Vec<Effect> {
        let what = format!("{} at the iteration cap", choice.as_str());
        self.send(cap_call(gate, choice).0, what)
            .into_iter()
            .collect()
    }

    pub(super) fn edit(&mut self, text: String, purpose: EditPurpose) -> Vec<Effect> {
        if self.editor {
            return vec![Effect::Edit { text, purpose }];
        }
        self.modal = Some(Modal::Input {
            title: purpose.title().to_owned(),
            text,
            purpose,
        });
        Vec::new()
    }

    /// What the editor (or the inline editor) gave back.
    pub fn on_edited(
        &mut self,
        purpose: EditPurpose,
        edited: Result<String, String>,
    ) -> Vec<Effect> {
        self.dirty = true;
        let text = match edited {
            Err(why) => {
                self.error(format!("{why}; nothing was sent"));
                return Vec::new();
            }
            Ok(text) if text.trim().is_empty() => {
                self.error("the text was empty; nothing was sent".to_owned());
                return Vec::new();
            }
            Ok(text) => text.trim_end().to_owned(),
        };
        match purpose {
            EditPurpose::Proposal(gate) => self.show_diff(gate, text),
            EditPurpose::Changes(gate) => {
                let (feedback, comments) = split_comments(&text);
                let action = GateAction::RequestChanges { feedback, comments };
                let call = Call::decide(&gate, action);
                return self
                    .send(call, "request changes".to_owned())
                    .into_iter()
                    .collect();
            }
            EditPurpose::Reply {
                run_id,
                rev,
                finding,
            } => {
                let action = cattery_protocol::review::ReviewAction::Reply { finding, text };
                return self.send_review(run_id, rev, action);
            }
            EditPurpose::Reject(gate) => {
                let call = Call::decide(&gate, GateAction::Reject { reason: text });
                self.confirm(
                    format!("Reject the {} proposal? The run fails.", gate.agent_kind),
                    vec![(call, "reject".to_owned())],
                );
            }
        }
        Vec::new()
    }

    fn show_diff(&mut self, gate: PendingGate, edited: String) {
        if edited == gate.prompt.trim_end() {
            self.info("the proposal is unchanged; press a to approve it as is".to_owned());
            return;
        }
        let lines = diff_lines(&gate.prompt, &edited);
        self.viewer = Some(Viewer {
            title: format!(
                "{} · your edit (enter sends, esc discards)",
                gate.agent_kind
            ),
            lines,
            scroll: 0,
            pending: Some((gate, edited)),
        });
        if self.view() != View::Viewer {
            self.stack.push(View::Viewer);
        }
    }

    pub(super) fn send_edited(&mut self) -> Vec<Effect> {
        let Some((gate, edited)) = self.viewer.as_mut().and_then(|v| v.pending.take()) else {
            return Vec::new();
        };
        self.back();
        self.approve(&gate, Some(edited)).into_iter().collect()
    }

    fn pick_pipeline(&mut self) {
        let Some(block_id) = self.sel.board.clone() else {
            return;
        };
        self.modal = Some(Modal::Picker {
            block_id,
            selected: 0,
        });
    }

    fn retry(&mut self) -> Vec<Effect> {
        let Some(run) = self.selected_run().cloned() else {
            return Vec::new();
        };
        let call = Call::Retry {
            run_id: run.id.clone(),
        };
        self.send(call, "retry".to_owned()).into_iter().collect()
    }

    fn confirm_restart(&mut self) {
        let Some(run) = self.selected_run().cloned() else {
            return;
        };
        let step = self.sel.step;
        let Some(agent) = run.steps.get(step).map(|s| s.agent_kind.clone()) else {
            return;
        };
        let call = Call::RestartFromStep {
            run_id: run.id.clone(),
            step,
        };
        self.confirm(
            format!("Restart this run from step {} ({agent})?", step + 1),
            vec![(call, format!("restart from {agent}"))],
        );
    }

    fn confirm_stop(&mut self) {
        let Some(run) = self.selected_run().filter(|r| r.status.is_live()).cloned() else {
            return;
        };
        let call = Call::Stop {
            run_id: run.id.clone(),
        };
        self.confirm(
            format!(
                "Stop the {} run? Its working step is killed.",
                run.pipeline_name
            ),
            vec![(call, "stop".to_owned())],
        );
    }

    fn toggle_mark(&mut self) {
        let Some(gate) = self.selected_gate() else {
            return;
        };
        if !self.marked.remove(&gate.id) {
            self.marked.insert(gate.id);
        }
        if self.view() == View::Inbox {
            self.move_by(1);
        }
    }

    fn confirm_approve_marked(&mut self) {
        let approvals: Vec<PendingGate> = self
            .model
            .inbox()
            .into_iter()
            .filter(|g| self.marked.contains(&g.id) && g.kind == GateKind::Approval)
            .collect();
        let calls = approvals
            .iter()
            .map(|g| {
                let call = Call::decide(
                    g,
                    GateAction::Approve {
                        edited_proposal: None,
                    },
                );
                (call, format!("approve {}", g.agent_kind))
            })
            .collect();
        let n = approvals.len();
        self.confirm(format!("Approve {n} marked gate{}?", plural(n)), calls);
    }

    pub(super) fn confirm(&mut self, prompt: String, calls: Vec<(Call, String)>) {
        self.modal = Some(Modal::Confirm { prompt, calls });
    }

    pub(super) fn confirmed(&mut self, calls: Vec<(Call, String)>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (call, what) in calls {
            if let Call::Decide { gate_id, .. } = &call {
                self.marked.remove(gate_id);
            }
            effects.extend(self.send(call, what));
        }
        effects
    }

    pub(super) fn start(&mut self, block_id: String, pipeline: usize) -> Vec<Effect> {
        let Some(pipeline) = self.model.pipelines.get(pipeline) else {
            return Vec::new();
        };
        let what = format!("start {}", pipeline.name);
        let call = Call::Start {
            block_id,
            pipeline_id: pipeline.id.clone(),
        };
        self.send(call, what).into_iter().collect()
    }
}

fn cap_call(gate: &PendingGate, choice: IterationCapChoice) -> (Call, String) {
    let call = Call::decide(gate, GateAction::ResolveIterationCap { choice });
    (call, format!("{} at the iteration cap", choice.as_str()))
}

pub(super) fn wrong_kind(gate: &PendingGate, app: &App) -> String {
    let keys = |a| app.keymap.label(a);
    match gate.kind {
        GateKind::Approval => format!(
            "this gate is an approval: {} approve, {} edit, {} request changes, {} reject",
            keys(Action::Approve),
            keys(Action::EditApprove),
            keys(Action::RequestChanges),
            keys(Action::Reject)
        ),
        GateKind::Decision => format!(
            "this gate is a decision: answer with 1-{}",
            gate.options.len().min(9)
        ),
        GateKind::IterationCap => format!(
            "this gate is an iteration cap: {} extra round, {} proceed, {} stop-reset",
            keys(Action::ExtraRound),
            keys(Action::Proceed),
            keys(Action::StopReset)
        ),
        GateKind::Review => {
            "this gate is a review: open it (enter) to work its findings, or use `cattery ctl review`"
                .to_owned()
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A line diff of the original proposal against the edit.
pub fn diff_lines(before: &str, after: &str) -> Vec<(DiffTag, String)> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .map(|change| {
            let tag = match change.tag() {
                similar::ChangeTag::Equal => DiffTag::Same,
                similar::ChangeTag::Insert => DiffTag::Added,
                similar::ChangeTag::Delete => DiffTag::Removed,
            };
            (tag, change.value().trim_end_matches('\n').to_owned())
        })
        .collect()
}

/// Feedback as written: lines `path:line: text` become comments on those
/// lines of the code; the rest is the feedback.
fn split_comments(text: &str) -> (String, Vec<ReviewComment>) {
    let mut feedback = Vec::new();
    let mut comments = Vec::new();
    for line in text.lines() {
        match ReviewComment::parse_anchored(line, CommentSeverity::Major) {
            Some(comment) if comment.line.is_some() => comments.push(comment),
            _ => feedback.push(line),
        }
    }
    (feedback.join("\n").trim().to_owned(), comments)
}
