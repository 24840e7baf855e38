//! The board: service frames → modules → tasks, with each live run's
//! pipeline, current step and progress.

use super::{bar, cut, style, window_start};
use crate::app::{App, Drawn, ListArea};
use cattery_protocol::{Block, BlockLevel, Run};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Cell, Paragraph, Row, Table};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, drawn: &mut Drawn) {
    let rows = app.visible_board();
    let title = format!(" Board · {} blocks ", rows.len());
    let outer = Border::bordered().title(Span::styled(title, style::title()));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if rows.is_empty() {
        frame.render_widget(Paragraph::new(empty_text(app)), inner);
        return;
    }
    let selected = app.board_position(&rows);
    let height = usize::from(inner.height.saturating_sub(1));
    let start = window_start(app.list_area.offset, selected, height, rows.len());
    let wide = inner.width >= 100;
    let end = (start + height).min(rows.len());
    let window: Vec<(String, u16)> = {
        let order = app.model.board_order();
        rows[start..end]
            .iter()
            .filter_map(|i| order.get(*i).cloned())
            .collect()
    };
    let table_rows: Vec<Row<'static>> = window
        .iter()
        .enumerate()
        .filter_map(|(i, (id, depth))| {
            let block = app.model.blocks.get(id)?;
            let run = app.model.run_of_block(id).map(|r| r.as_ref());
            let row = board_row(block, *depth, run, wide, app.now);
            Some(match start + i == selected {
                true => row.style(style::selected()),
                false => row,
            })
        })
        .collect();
    let widths = if wide {
        vec![
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(16),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(18),
        ]
    };
    let header = Row::new(["block", "status", "progress", "run"]).style(style::dim());
    frame.render_widget(Table::new(table_rows, widths).header(header), inner);
    drawn.list = ListArea::below_header(inner, start);
}

fn empty_text(app: &App) -> Vec<Line<'static>> {
    if !app.filter.is_empty() {
        return vec![Line::from(format!(
            "nothing matches `{}`; esc clears the filter",
            app.filter.text
        ))];
    }
    if !app.model.synced {
        return vec![Line::styled(
            "waiting for the daemon's snapshot…",
            style::dim(),
        )];
    }
    vec![
        Line::from("the board is empty"),
        Line::styled(
            "add work with `cattery ctl block add`, or seed the demo with `cattery demo`",
            style::dim(),
        ),
    ]
}

fn board_row(block: &Block, depth: u16, run: Option<&Run>, wide: bool, now: i64) -> Row<'static> {
    let icon = match block.level {
        BlockLevel::Frame | BlockLevel::Epic | BlockLevel::Initiative => "▣ ",
        BlockLevel::Module => "▤ ",
        BlockLevel::Task => "• ",
    };
    let indent = "  ".repeat(usize::from(depth));
    let title_style = match block.level {
        BlockLevel::Task => Style::new(),
        _ => Style::new().add_modifier(Modifier::BOLD),
    };
    let title = Line::from(vec![
        Span::raw(indent),
        Span::styled(icon, style::block_status(block.status)),
        Span::styled(block.title.clone(), title_style),
    ]);
    let status = Span::styled(block.status.label(), style::block_status(block.status));
    let progress = match block.level {
        BlockLevel::Task => {
            let width = if wide { 10 } else { 5 };
            format!(
                "{} {:>3}%",
                bar(block.progress, width),
                (block.progress * 100.0).round()
            )
        }
        // A frame's progress cell names its repository: the clone's
        // folder and the base branch its runs start from.
        _ => block.repository.as_ref().map_or_else(String::new, |repo| {
            let folder = std::path::Path::new(&repo.path)
                .file_name()
                .map_or(repo.path.clone(), |name| {
                    name.to_string_lossy().into_owned()
                });
            match wide {
                true => format!("⎇ {folder}@{}", repo.base),
                false => cut(&format!("⎇ {}", repo.base), 11),
            }
        }),
    };
    Row::new(vec![
        Cell::from(title),
        Cell::from(status),
        Cell::from(progress),
        Cell::from(run_cell(run, wide, now)),
    ])
}

fn run_cell(run: Option<&Run>, wide: bool, now: i64) -> Line<'static> {
    let Some(run) = run else {
        return Line::default();
    };
    let step = run.current().map(|s| s.agent_kind.as_str()).unwrap_or("");
    let state = run.status.as_str();
    let text = match wide {
        true => format!(
            "{} · {step} ({}/{}) · {state} · {}",
            run.pipeline_id,
            (run.current_step + 1).min(run.steps.len()),
            run.steps.len(),
            super::duration(run_age(run, now))
        ),
        false => cut(&format!("{} · {step}", run.pipeline_id), 18),
    };
    let mut spans = vec![Span::styled(text, style::run_status(run.status))];
    // What the run changed on its branch so far, where there is room.
    if let Some(change) = run.change.as_ref().filter(|c| wide && c.files > 0) {
        spans.extend([
            Span::styled(format!(" · ⎇ {} ", files(change.files)), style::dim()),
            Span::styled(
                format!("+{}", change.insertions),
                Style::new().fg(Color::Green),
            ),
            Span::styled(
                format!(" −{}", change.deletions),
                Style::new().fg(Color::Red),
            ),
        ]);
    }
    Line::from(spans)
}

/// How long a run has been going, or took once it ended.
fn run_age(run: &Run, now: i64) -> i64 {
    match run.status.is_live() {
        true => now - run.created_at,
        false => run.updated_at - run.created_at,
    }
}

fn files(count: u32) -> String {
    match count {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    }
}
