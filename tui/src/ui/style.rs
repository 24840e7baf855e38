//! Colours from the 16 ANSI ones only, so every terminal shows them.

use cattery_protocol::{BlockStatus, GateKind, RunStatus, StepState};
use ratatui::style::{Color, Modifier, Style};

pub fn block_status(status: BlockStatus) -> Style {
    let color = match status {
        BlockStatus::Planned => Color::Gray,
        BlockStatus::Ready => Color::Blue,
        BlockStatus::InProgress => Color::Cyan,
        BlockStatus::Blocked => Color::Yellow,
        BlockStatus::PrReady => Color::Magenta,
        BlockStatus::Done => Color::Green,
    };
    Style::new().fg(color)
}

pub fn run_status(status: RunStatus) -> Style {
    let color = match status {
        RunStatus::Running => Color::Cyan,
        RunStatus::Blocked => Color::Yellow,
        RunStatus::Paused => Color::Magenta,
        RunStatus::Done => Color::Green,
        RunStatus::Failed => Color::Red,
    };
    Style::new().fg(color)
}

pub fn gate(kind: GateKind) -> Style {
    match kind {
        GateKind::IterationCap => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        GateKind::Decision => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        GateKind::Approval => Style::new().fg(Color::Yellow),
        GateKind::Review => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
    }
}

pub fn step_icon(state: StepState, failed: bool, skipped: bool) -> (&'static str, Style) {
    match (state, failed, skipped) {
        (_, true, _) => ("✗", Style::new().fg(Color::Red)),
        (_, _, true) => ("⤼", Style::new().fg(Color::DarkGray)),
        (StepState::Pending, ..) => ("·", Style::new().fg(Color::DarkGray)),
        (StepState::Working, ..) => ("▶", Style::new().fg(Color::Cyan)),
        (StepState::WaitingDecision, ..) => ("⏸", Style::new().fg(Color::Yellow)),
        (StepState::Done, ..) => ("✓", Style::new().fg(Color::Green)),
    }
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn error() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// Something is wrong but work goes on (a degraded daemon).
pub fn warning() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}
