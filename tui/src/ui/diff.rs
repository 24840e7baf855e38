//! The Diff view: the files on the left, the rows of the change on the
//! right. Only the rows on screen are built, so a 20,000-line diff draws
//! as fast as a short one.

use super::style;
use crate::app::{App, DiffRow, DiffView, Drawn};
use cattery_protocol::diff::{FileDiff, FileStatus, LineKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Paragraph};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, drawn: &mut Drawn) {
    let Some(view) = &app.diff else {
        return;
    };
    let list_width = (area.width / 4).clamp(20, 40);
    let [files, rows] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Fill(1)]).areas(area);
    draw_files(frame, files, view);
    drawn.diff_rows = draw_rows(frame, rows, view);
}

fn status_mark(status: FileStatus) -> (&'static str, Color) {
    match status {
        FileStatus::Added => ("A", Color::Green),
        FileStatus::Modified => ("M", Color::Yellow),
        FileStatus::Deleted => ("D", Color::Red),
        FileStatus::Renamed => ("R", Color::Cyan),
        FileStatus::Copied => ("C", Color::Cyan),
        FileStatus::TypeChanged => ("T", Color::Magenta),
    }
}

fn draw_files(frame: &mut Frame<'_>, area: Rect, view: &DiffView) {
    let outer = Border::bordered().title(Span::styled(" files ", style::title()));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let Some(diff) = &view.diff else {
        return;
    };
    let current = view.current_file();
    let height = usize::from(inner.height);
    // Keep the current file in sight.
    let first = current.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line<'static>> = diff
        .files
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, file)| file_line(file, i == current, usize::from(inner.width)))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn file_line(file: &FileDiff, current: bool, width: usize) -> Line<'static> {
    let (mark, color) = status_mark(file.status);
    let counts = if file.binary {
        "bin".to_owned()
    } else {
        format!("+{} −{}", file.insertions, file.deletions)
    };
    let room = width.saturating_sub(3 + counts.chars().count());
    let line = Line::from(vec![
        Span::styled(format!("{mark} "), Style::new().fg(color)),
        Span::raw(format!("{} ", tail(&file.path, room))),
        Span::styled(counts, style::dim()),
    ]);
    if current {
        line.style(style::selected())
    } else {
        line
    }
}

/// The end of `path` in `room` columns: the file name matters most.
fn tail(path: &str, room: usize) -> String {
    let count = path.chars().count();
    if count <= room || room < 2 {
        return path.to_owned();
    }
    let kept: String = path.chars().skip(count - (room - 1)).collect();
    format!("…{kept}")
}

/// Draws the rows on screen; returns how many fit.
fn draw_rows(frame: &mut Frame<'_>, area: Rect, view: &DiffView) -> usize {
    let stat = view.diff.as_ref().map(|d| d.stat()).unwrap_or_default();
    let position = match &view.diff {
        Some(diff) if !diff.files.is_empty() => format!(
            " file {}/{} · row {}/{} ",
            view.current_file() + 1,
            diff.files.len(),
            view.scroll + 1,
            view.rows.len()
        ),
        _ => String::new(),
    };
    let outer = Border::bordered()
        .title(Span::styled(
            format!(" {} · {stat} ", view.title),
            style::title(),
        ))
        .title_bottom(Line::styled(position, style::dim()).right_aligned());
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let height = usize::from(inner.height);
    let lines: Vec<Line<'static>> = match &view.diff {
        None => vec![Line::styled("asking catteryd for the diff…", style::dim())],
        Some(diff) if diff.files.is_empty() => {
            vec![Line::styled(
                "no change: the branch is where it started",
                style::dim(),
            )]
        }
        Some(_) => view
            .rows
            .iter()
            .skip(view.scroll)
            .take(height)
            .map(|row| row_line(view, *row))
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines), inner);
    height
}

fn row_line(view: &DiffView, row: DiffRow) -> Line<'static> {
    match row {
        DiffRow::File { file } => {
            let Some(file) = view.file(file) else {
                return Line::default();
            };
            let name = match &file.old_path {
                Some(old) => format!("{old} → {}", file.path),
                None => file.path.clone(),
            };
            Line::styled(
                format!("━━ {name} ({})", file.status.label()),
                Style::new().add_modifier(Modifier::BOLD),
            )
        }
        DiffRow::Hunk { file, hunk } => {
            let header = view
                .file(file)
                .and_then(|f| f.hunks.get(hunk))
                .map_or_else(String::new, |h| h.header.clone());
            Line::styled(header, Style::new().fg(Color::Cyan))
        }
        DiffRow::NoText { file } => {
            let binary = view.file(file).is_some_and(|f| f.binary);
            let what = if binary {
                "binary file: no text to show"
            } else {
                "no lines changed"
            };
            Line::styled(what, style::dim())
        }
        DiffRow::Line { file, hunk, line } => {
            let Some(line) = view.line(file, hunk, line) else {
                return Line::default();
            };
            let number =
                |n: Option<u32>| n.map_or_else(|| "     ".to_owned(), |n| format!("{n:>5}"));
            let gutter = format!("{} {} │", number(line.old_line), number(line.new_line));
            let (mark, text_style) = match line.kind {
                LineKind::Added => ('+', Style::new().fg(Color::Green)),
                LineKind::Removed => ('-', Style::new().fg(Color::Red)),
                LineKind::Context => (' ', Style::new()),
            };
            Line::from(vec![
                Span::styled(gutter, style::dim()),
                Span::styled(format!("{mark}{}", line.text), text_style),
            ])
        }
    }
}
