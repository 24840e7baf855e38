//! The header (views, inbox badge, daemon and connection) and the footer
//! (hints for the focused view, messages, the filter line).

use super::style;
use crate::app::model::status_counts;
use crate::app::{App, ConnState, Modal, View, hints};
use cattery_protocol::wire::Health;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let [top, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let state = connection(app);
    let [tabs_area, state_area] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(state.width() as u16),
    ])
    .areas(top);
    frame.render_widget(Paragraph::new(tabs(app)), tabs_area);
    frame.render_widget(
        Paragraph::new(state).alignment(Alignment::Right),
        state_area,
    );
    // The counts come first; the daemon segment takes only the room left
    // after them and a two-space gap, so neither is cut into the other.
    let counts = count_line(app);
    let room = usize::from(area.width).saturating_sub(counts.width() + 2);
    let daemon = daemon_line(app, room);
    let [counts_area, daemon_area] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(daemon.width() as u16),
    ])
    .areas(second);
    frame.render_widget(Paragraph::new(counts), counts_area);
    frame.render_widget(
        Paragraph::new(daemon).alignment(Alignment::Right),
        daemon_area,
    );
}

/// Shorter than this, a cut daemon segment says nothing; it is left out.
const MIN_DAEMON_WIDTH: usize = 10;

/// Which daemon this is; while down, why it cannot be reached; while
/// degraded, why and what to do. In at most `max` columns (with its
/// trailing space).
fn daemon_line(app: &App, max: usize) -> Line<'static> {
    let (text, style) = match (&app.conn, &app.model.health) {
        (ConnState::Down { why, .. }, _) => (why.clone(), style::error()),
        (_, Health::Degraded { reason, .. }) => (reason.clone(), style::warning()),
        _ if app.daemon.version.is_empty() => return Line::default(),
        _ => (
            format!("catteryd {} · {}", app.daemon.version, app.daemon.executor),
            style::dim(),
        ),
    };
    if max < MIN_DAEMON_WIDTH {
        return Line::default();
    }
    Line::styled(format!("{} ", super::cut(&text, max - 1)), style)
}

fn spend_spans(app: &App) -> Vec<Span<'static>> {
    let Some(report) = &app.spend else {
        return Vec::new();
    };
    let symbol = match report.currency.as_str() {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        _ => "",
    };
    let money = |v: f64| match symbol {
        "" => format!("{v:.2} {}", report.currency),
        s => format!("{s}{v:.2}"),
    };
    let style = if report.over_budget {
        style::error()
    } else if report.spent >= report.budget * 0.8 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::Green)
    };
    let mut spans = vec![Span::styled(
        format!("{}/{} ", money(report.spent), money(report.budget)),
        style,
    )];
    if report.unpriced_calls > 0 {
        spans.push(Span::styled(
            format!("+{}? ", report.unpriced_calls),
            Style::new().fg(Color::Yellow),
        ));
    }
    spans
}

fn tabs(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled(" cattery ", style::title())];
    let current = match app.view() {
        View::Viewer | View::Diff => View::TOP
            .iter()
            .rev()
            .find(|v| app.stack.contains(v))
            .copied()
            .unwrap_or(View::Board),
        view => view,
    };
    for (i, view) in View::TOP.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, view.title());
        let style = if *view == current {
            style::selected()
        } else {
            Style::new()
        };
        spans.push(Span::styled(label, style));
        if *view == View::Inbox {
            spans.push(inbox_badge(app));
        }
    }
    if app.read_only {
        spans.push(Span::styled(" read-only ", Style::new().fg(Color::Magenta)));
    }
    Line::from(spans)
}

fn inbox_badge(app: &App) -> Span<'static> {
    let rows = app.model.inbox_rows();
    if rows.is_empty() {
        return Span::styled("0", style::dim());
    }
    let urgent = rows.iter().any(|r| r.urgent());
    Span::styled(
        format!("⚑{}", rows.len()),
        Style::new()
            .fg(Color::Black)
            .bg(if urgent { Color::Red } else { Color::Yellow })
            .add_modifier(Modifier::BOLD),
    )
}

fn connection(app: &App) -> Line<'static> {
    let (text, color) = match &app.conn {
        ConnState::Connected if app.model.health.is_degraded() => {
            ("▲ degraded".to_owned(), Color::Yellow)
        }
        ConnState::Connected => ("● connected".to_owned(), Color::Green),
        ConnState::Connecting { attempt } => (format!("◌ connecting ({attempt})"), Color::Yellow),
        ConnState::Down { retry_secs, .. } => {
            (format!("✗ down · retry in {retry_secs}s"), Color::Red)
        }
    };
    // Spend against budget sits beside the connection: `+N?` counts model
    // calls with no price, whose cost is unknown.
    let mut spans = spend_spans(app);
    spans.extend([Span::styled(text, Style::new().fg(color)), Span::raw(" ")]);
    Line::from(spans)
}

fn count_line(app: &App) -> Line<'static> {
    let mut spans = vec![Span::raw(" tasks ")];
    let counts = status_counts(&app.model.blocks);
    if counts.is_empty() {
        spans.push(Span::styled("none yet", style::dim()));
    }
    for (i, (status, n)) in counts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", style::dim()));
        }
        spans.push(Span::styled(
            format!("{n} {}", status.label()),
            style::block_status(*status),
        ));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled("  filter: ", style::dim()));
        spans.push(Span::styled(app.filter.text.clone(), style::key()));
    }
    if !app.marked.is_empty() {
        spans.push(Span::styled(
            format!("  {} marked", app.marked.len()),
            style::key(),
        ));
    }
    Line::from(spans)
}

pub fn footer(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let line = match (&app.modal, &app.toast) {
        (Some(Modal::Filter { input }), toast) => {
            let mut spans = vec![
                Span::styled(" / ", style::key()),
                Span::raw(input.clone()),
                Span::styled("▏", style::key()),
            ];
            if let Some(t) = toast.as_ref().filter(|t| t.error) {
                spans.push(Span::styled(format!("  {}", t.text), style::error()));
            }
            Line::from(spans)
        }
        (_, Some(toast)) => {
            let style = if toast.error {
                style::error()
            } else {
                Style::new().fg(Color::Green)
            };
            Line::from(Span::styled(format!(" {}", toast.text), style))
        }
        _ => hint_line(app),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hint_line(app: &App) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (key, name) in hints(app) {
        spans.push(Span::styled(key, style::key()));
        spans.push(Span::raw(format!(" {name}  ")));
    }
    Line::from(spans)
}
