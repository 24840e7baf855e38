//! The Schedules view: each recurring pipeline, its window and next fire,
//! and the selected one's fires.

use super::{cut, style, window_start};
use crate::app::App;
use cattery_protocol::format_local;
use cattery_protocol::schedule::FireOutcome;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Cell, Paragraph, Row, Table};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let view = &app.schedules;
    let history_height = if area.height > 20 { 8 } else { 5 };
    let [list_area, history_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(history_height)]).areas(area);
    let outer = Border::bordered().title(Span::styled(
        format!(" Schedules · {} ", view.list.len()),
        style::title(),
    ));
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if view.list.is_empty() {
        let text = match view.loaded {
            true => {
                "no schedules; add one with `cattery ctl schedules add --frame F --pipeline P --title T`"
            }
            false => "asking catteryd for the schedules…",
        };
        frame.render_widget(Paragraph::new(Line::styled(text, style::dim())), inner);
        frame.render_widget(Border::bordered().title(" fires "), history_area);
        return;
    }
    let selected = view.selected.min(view.list.len() - 1);
    let height = usize::from(inner.height.saturating_sub(1));
    let start = window_start(0, selected, height, view.list.len());
    let rows: Vec<Row<'static>> = view
        .list
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, s)| {
            let task = app
                .model
                .blocks
                .get(&s.block_id)
                .map_or_else(|| s.block_id.clone(), |b| b.title.clone());
            let next = match &s.held {
                Some(_) => format!("{} (held)", format_local(s.next_run_at)),
                None => format_local(s.next_run_at),
            };
            let row = Row::new(vec![
                Cell::from(cut(&task, 30)),
                Cell::from(s.pipeline_id.clone()),
                Cell::from(s.recurrence.describe()),
                Cell::from(next),
            ]);
            match i == selected {
                true => row.style(style::selected()),
                false => row,
            }
        })
        .collect();
    let widths = [
        Constraint::Fill(2),
        Constraint::Length(10),
        Constraint::Fill(3),
        Constraint::Length(34),
    ];
    let header = Row::new(["task", "pipeline", "when", "next fire"]).style(style::dim());
    frame.render_widget(Table::new(rows, widths).header(header), inner);
    fires(frame, history_area, app, selected);
}

fn fires(frame: &mut Frame<'_>, area: Rect, app: &App, selected: usize) {
    let view = &app.schedules;
    let Some(schedule) = view.list.get(selected) else {
        return;
    };
    let mut lines: Vec<Line<'static>> = Vec::new();
    if let Some(held) = &schedule.held {
        lines.push(Line::styled(format!("held: {held}"), style::warning()));
    }
    match &view.history {
        Some((id, fires)) if *id == schedule.id => {
            if fires.is_empty() {
                lines.push(Line::styled("no fires yet", style::dim()));
            }
            for fire in fires.iter().rev() {
                let outcome = match fire.outcome {
                    FireOutcome::Started => Span::raw(fire.outcome.label()),
                    FireOutcome::Failed => Span::styled(fire.outcome.label(), style::error()),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{}  ", format_local(fire.at)), style::dim()),
                    Span::raw(format!("{:<18}", fire.origin.label())),
                    outcome,
                    Span::raw(format!(
                        "  {}  {}",
                        fire.run_id.as_deref().unwrap_or("-"),
                        fire.message
                    )),
                ]));
            }
        }
        _ => lines.push(Line::styled("reading its fires…", style::dim())),
    }
    let title = format!(" fires · {} ", schedule.id);
    frame.render_widget(
        Paragraph::new(lines).block(Border::bordered().title(Span::styled(title, style::dim()))),
        area,
    );
}
