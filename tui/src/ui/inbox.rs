//! Every gate waiting for a human, worst and oldest first.

use super::{cut, duration, first_line, style, window_start};
use crate::app::model::InboxRow;
use crate::app::{App, Drawn, ListArea};
use cattery_protocol::{GateKind, Notification, PendingGate, Severity};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Cell, Paragraph, Row, Table, Wrap};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, drawn: &mut Drawn) {
    let rows_all = app.visible_inbox();
    let preview_height = if area.height > 16 { 8 } else { 5 };
    let [list_area, preview_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(preview_height)]).areas(area);
    let outer = Border::bordered().title(Span::styled(
        format!(" Inbox · {} waiting ", rows_all.len()),
        style::title(),
    ));
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if rows_all.is_empty() {
        let text = match app.filter.is_empty() {
            true => "nothing waits for you; gates appear here as runs reach them".to_owned(),
            false => format!(
                "no gate matches `{}`; esc clears the filter",
                app.filter.text
            ),
        };
        frame.render_widget(Paragraph::new(Line::styled(text, style::dim())), inner);
        frame.render_widget(Border::bordered().title(" gate "), preview_area);
        return;
    }
    let selected = app.inbox_position(&rows_all);
    let height = usize::from(inner.height.saturating_sub(1));
    let start = window_start(app.list_area.offset, selected, height, rows_all.len());
    let rows: Vec<Row<'static>> = rows_all
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, item)| {
            let row = match item {
                InboxRow::Gate { gate, urgent } => gate_row(app, gate, *urgent, inner.width),
                InboxRow::Card(card) => card_row(app, card, inner.width),
            };
            match i == selected {
                true => row.style(style::selected()),
                false => row,
            }
        })
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Length(13),
        Constraint::Length(11),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Fill(2),
    ];
    let header = Row::new(["", "kind", "agent", "block", "age", "asks"]).style(style::dim());
    frame.render_widget(Table::new(rows, widths).header(header), inner);
    drawn.list = ListArea::below_header(inner, start);
    match rows_all.get(selected) {
        Some(InboxRow::Gate { gate, .. }) => preview(frame, preview_area, app, gate),
        Some(InboxRow::Card(card)) => card_preview(frame, preview_area, card),
        None => {}
    }
}

fn gate_row(app: &App, gate: &PendingGate, urgent: bool, width: u16) -> Row<'static> {
    let mark = match (app.marked.contains(&gate.id), urgent) {
        (true, _) => Span::styled("●", style::key()),
        (false, true) => Span::styled("!", style::error()),
        (false, false) => Span::raw(" "),
    };
    let block = app
        .model
        .blocks
        .get(&gate.block_id)
        .map_or_else(|| gate.block_id.clone(), |b| b.title.clone());
    let asks = first_line(&gate.prompt, usize::from(width / 2));
    Row::new(vec![
        Cell::from(mark),
        Cell::from(Span::styled(gate.kind.label(), style::gate(gate.kind))),
        Cell::from(gate.agent_kind.clone()),
        Cell::from(cut(&block, 40)),
        Cell::from(duration(app.now - gate.since)),
        Cell::from(asks),
    ])
}

fn preview(frame: &mut Frame<'_>, area: Rect, app: &App, gate: &PendingGate) {
    let run = app.model.runs.get(&gate.run_id);
    let title = format!(
        " {} · step {} · {} ",
        gate.kind.label(),
        gate.step_index + 1,
        run.map_or("", |r| r.pipeline_name.as_str())
    );
    let outer = Border::bordered().title(Span::styled(title, style::gate(gate.kind)));
    let mut lines: Vec<Line<'static>> = Vec::new();
    match gate.kind {
        GateKind::Decision => {
            lines.push(Line::from(gate.prompt.clone()));
            let options: Vec<Span<'static>> = gate
                .options
                .iter()
                .enumerate()
                .flat_map(|(i, o)| {
                    [
                        Span::styled(format!(" {} ", i + 1), style::key()),
                        Span::raw(format!("{o}  ")),
                    ]
                })
                .collect();
            lines.push(Line::from(options));
        }
        GateKind::IterationCap => {
            lines.push(Line::styled(
                "the reviewer's budget of automatic reworks ran out; its last word:",
                Style::new().fg(Color::Red),
            ));
            lines.extend(gate.prompt.lines().map(|l| Line::from(l.to_owned())));
        }
        GateKind::Approval | GateKind::Review => {
            lines.extend(gate.prompt.lines().map(|l| Line::from(l.to_owned())));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn card_row(app: &App, card: &Notification, width: u16) -> Row<'static> {
    let mark = match card.severity {
        Severity::Urgent => Span::styled("!", style::error()),
        Severity::Normal => Span::raw(" "),
    };
    let block = app
        .model
        .blocks
        .get(&card.block_id)
        .map_or_else(|| card.block_id.clone(), |b| b.title.clone());
    Row::new(vec![
        Cell::from(mark),
        Cell::from(Span::styled(card.kind.label(), style::dim())),
        Cell::from(""),
        Cell::from(cut(&block, 40)),
        Cell::from(duration(app.now - card.created_at)),
        Cell::from(first_line(&card.body, usize::from(width / 2))),
    ])
}

fn card_preview(frame: &mut Frame<'_>, area: Rect, card: &Notification) {
    let title = format!(
        " {} · {} ",
        card.kind.label(),
        match card.severity {
            Severity::Urgent => "urgent",
            Severity::Normal => "normal",
        }
    );
    let outer = Border::bordered().title(Span::styled(title, style::title()));
    let lines = vec![
        Line::styled(card.title.clone(), style::title()),
        Line::from(card.body.clone()),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}
