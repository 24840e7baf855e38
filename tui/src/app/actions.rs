//! The action registry: one table drives key dispatch, the help overlay,
//! footer hints and the `:` palette, so they can never disagree. Whether an
//! action applies where the user is, is said in one place only:
//! `App::applies` (app/applies.rs), which the footer and the key path both ask.

macro_rules! actions {
    ($($action:ident),+ $(,)?) => {
        /// Every thing a user can do in the control room.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($action),+
        }

        impl Action {
            /// Every action; the registry test checks each has one row.
            pub const ALL: &'static [Action] = &[$(Action::$action),+];
        }
    };
}

actions! {
    Quit,
    Back,
    Help,
    Palette,
    Filter,
    NextView,
    ViewBoard,
    ViewRun,
    ViewInbox,
    ViewLogs,
    ViewSchedules,
    RunScheduleNow,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Refresh,
    Approve,
    EditApprove,
    RequestChanges,
    Reject,
    ChooseOption,
    ExtraRound,
    Proceed,
    StopReset,
    Mark,
    ApproveMarked,
    Start,
    Retry,
    RestartFrom,
    Stop,
    Freeze,
    Diff,
    NextFile,
    PrevFile,
    Act,
    Dismiss,
    ResumePaused,
    ReplyFinding,
    ResolveFinding,
    DismissFinding,
    ReopenFinding,
    Incorporate,
}

/// Where an action applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    /// Needs a gate selected (inbox row, a blocked run, a viewed proposal).
    Gate,
    /// Needs a run or block selected.
    Run,
    /// Needs an attention card selected in the inbox.
    Card,
    Logs,
    /// Needs a view that steps through parts: the Diff view's files, the
    /// Logs view's steps.
    Parts,
    /// Only in a review's findings pane, where its keys shadow the others.
    Review,
    /// Needs a schedule selected in the Schedules view.
    Schedules,
}

impl Scope {
    /// The one view a view-local action lives in: there its keys shadow
    /// the same keys of other actions, and elsewhere it has none.
    pub fn view(self) -> Option<super::View> {
        match self {
            Scope::Review => Some(super::View::Review),
            Scope::Schedules => Some(super::View::Schedules),
            _ => None,
        }
    }
}

/// How much an action commits the user to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Navigation and views.
    Safe,
    /// Changes a run; hidden and refused in read-only mode.
    Decision,
    /// A decision that cannot be taken back; asks for confirmation first.
    Final,
}

pub struct ActionSpec {
    pub action: Action,
    /// The name used in `keys.toml` and the palette.
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub help: &'static str,
    pub scope: Scope,
    pub weight: Weight,
    /// Shown in the footer of views where it applies.
    pub hint: bool,
}

const fn spec(
    action: Action,
    name: &'static str,
    keys: &'static [&'static str],
    help: &'static str,
    scope: Scope,
    weight: Weight,
    hint: bool,
) -> ActionSpec {
    ActionSpec {
        action,
        name,
        keys,
        help,
        scope,
        weight,
        hint,
    }
}

use Action as A;
use Scope::{Card, Gate, Global, Logs, Parts, Review, Run, Schedules};
use Weight::{Decision, Final, Safe};

pub const OPTION_KEYS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The registry, in help order.
#[rustfmt::skip]
pub const REGISTRY: &[ActionSpec] = &[
    spec(A::Approve, "approve", &["a"], "approve the selected gate", Gate, Decision, true),
    spec(A::EditApprove, "edit-approve", &["e"], "edit the proposal in $EDITOR, review the diff, approve", Gate, Decision, true),
    spec(A::RequestChanges, "request-changes", &["c"], "request changes (feedback in the editor)", Gate, Decision, true),
    spec(A::Reject, "reject", &["X"], "reject the proposal with a reason; fails the run", Gate, Final, true),
    spec(A::ChooseOption, "choose", OPTION_KEYS, "answer a decision with option 1-9", Gate, Decision, true),
    spec(A::ExtraRound, "extra-round", &["+"], "at a cap (a grader's or a review's): one more round", Gate, Decision, true),
    spec(A::Proceed, "proceed", &["p"], "at a cap, or a review: accept the work as it is and go on", Gate, Decision, true),
    spec(A::StopReset, "stop-reset", &["S"], "at a cap, or a review: cancel the run, block back to planned", Gate, Final, true),
    spec(A::Mark, "mark", &["space"], "mark the gate for a bulk approve", Gate, Decision, true),
    spec(A::ApproveMarked, "approve-marked", &["A"], "approve every marked gate", Gate, Final, true),
    spec(A::ReplyFinding, "reply", &["r"], "review: answer the selected finding (in the editor)", Review, Decision, true),
    spec(A::ResolveFinding, "resolve", &["R"], "review: mark the selected finding resolved", Review, Decision, true),
    spec(A::DismissFinding, "dismiss-finding", &["d"], "review: dismiss the selected finding as out of scope", Review, Decision, true),
    spec(A::ReopenFinding, "reopen", &["o"], "review: put the selected finding back to open", Review, Decision, true),
    spec(A::Incorporate, "incorporate", &["I"], "review: have the writer fold the answers in, then review again", Review, Decision, true),
    spec(A::Act, "act", &["o"], "act on the selected card: merge a review, retry failed CI or tests, else mark it handled", Card, Decision, true),
    spec(A::Dismiss, "dismiss", &["d"], "dismiss the selected card", Card, Decision, true),
    spec(A::ResumePaused, "resume-paused", &["u"], "re-drive runs paused over budget (they pause again if still over)", Global, Decision, true),
    spec(A::Start, "start", &["s"], "start a pipeline on the selected block", Run, Decision, true),
    spec(A::Retry, "retry", &["r"], "retry a failed or stopped run", Run, Decision, true),
    spec(A::RestartFrom, "restart-from", &["R"], "restart the run from the selected step", Run, Final, true),
    spec(A::Stop, "stop", &["x"], "stop the live run", Run, Final, true),
    spec(A::Freeze, "freeze", &["f"], "freeze or follow the log", Logs, Safe, true),
    spec(A::Diff, "diff", &["D"], "the code the selected step (or run) changed", Run, Safe, true),
    spec(A::NextFile, "next", &["]"], "the diff's next file; the log's next step", Parts, Safe, true),
    spec(A::PrevFile, "prev", &["["], "the diff's previous file; the log's previous step", Parts, Safe, true),
    spec(A::Open, "open", &["enter"], "drill into the selection", Global, Safe, true),
    spec(A::Back, "back", &["esc"], "back out one level", Global, Safe, false),
    spec(A::Filter, "filter", &["/"], "filter (status:blocked pipeline:quick age>1h text) or search the log", Global, Safe, true),
    spec(A::Help, "help", &["?"], "keys and actions (searchable)", Global, Safe, true),
    spec(A::Palette, "palette", &[":"], "run any action by name", Global, Safe, true),
    spec(A::NextView, "next-view", &["tab"], "cycle the views", Global, Safe, false),
    spec(A::ViewBoard, "board", &["1"], "the board", Global, Safe, false),
    spec(A::ViewRun, "run", &["2"], "the selected run's steps and metrics", Global, Safe, false),
    spec(A::ViewInbox, "inbox", &["3"], "gates waiting for a human", Global, Safe, false),
    spec(A::ViewLogs, "logs", &["4"], "the step's log: live while it works, then its transcript", Global, Safe, false),
    spec(A::ViewSchedules, "schedules", &["5"], "recurring pipelines, their next fires and history", Global, Safe, false),
    spec(A::RunScheduleNow, "run-now", &["n"], "fire the selected schedule now", Schedules, Decision, true),
    spec(A::Up, "up", &["k", "up"], "move up", Global, Safe, false),
    spec(A::Down, "down", &["j", "down"], "move down", Global, Safe, false),
    spec(A::PageUp, "page-up", &["pgup", "ctrl-u"], "page up", Global, Safe, false),
    spec(A::PageDown, "page-down", &["pgdn", "ctrl-d"], "page down", Global, Safe, false),
    spec(A::Top, "top", &["g", "home"], "go to the top", Global, Safe, false),
    spec(A::Bottom, "bottom", &["G", "end"], "go to the bottom (and follow a log)", Global, Safe, false),
    spec(A::Refresh, "refresh", &["ctrl-r"], "fetch a fresh snapshot from the daemon", Global, Safe, false),
    spec(A::Quit, "quit", &["q", "ctrl-c"], "quit (q backs out first when not at the top)", Global, Safe, true),
];

/// What an action without a registry row is taken to be: the most guarded
/// kind, never offered. The registry test fails for such an action.
const UNREGISTERED: ActionSpec = spec(
    Action::Quit,
    "unregistered",
    &[],
    "an action with no registry row",
    Global,
    Final,
    false,
);

pub fn spec_of(action: Action) -> &'static ActionSpec {
    REGISTRY
        .iter()
        .find(|s| s.action == action)
        .unwrap_or(&UNREGISTERED)
}

pub fn by_name(name: &str) -> Option<&'static ActionSpec> {
    REGISTRY.iter().find(|s| s.name == name)
}
