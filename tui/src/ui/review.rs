//! A review gate's findings pane: the findings, worst first; the selected
//! one's detail and reply; and the revised requirements as a diff against
//! the text they replaced.

use super::{cut, style, window_start};
use crate::app::{App, DiffTag, diff_lines};
use cattery_protocol::review::{FindingSeverity, FindingStatus, ReviewState, ReviewStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Cell, Paragraph, Row, Table, Wrap};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some((run, _, review)) = app.shown_review() else {
        let text = Line::styled("this run has no review any more", style::dim());
        frame.render_widget(Paragraph::new(text).block(Border::bordered()), area);
        return;
    };
    let block = app
        .model
        .blocks
        .get(&run.block_id)
        .map_or_else(|| run.block_id.clone(), |b| b.title.clone());
    let revised = review.document.is_some();
    let detail_height = if area.height > 24 { 7 } else { 5 };
    let [list_area, detail_area, revised_area] = Layout::vertical([
        Constraint::Fill(2),
        Constraint::Length(detail_height),
        Constraint::Fill(if revised { 2 } else { 0 }),
    ])
    .areas(area);
    let selected = app
        .review
        .as_ref()
        .map_or(0, |p| p.selected)
        .min(review.findings.len().saturating_sub(1));
    findings(frame, list_area, review, &block, selected);
    detail(frame, detail_area, review, selected);
    if revised {
        let before = review
            .previous_document
            .clone()
            .or_else(|| {
                app.model
                    .blocks
                    .get(&run.block_id)
                    .map(|b| b.description.clone())
            })
            .unwrap_or_default();
        revision(frame, revised_area, review, &before);
    }
}

fn findings(frame: &mut Frame<'_>, area: Rect, review: &ReviewState, block: &str, selected: usize) {
    let title = format!(
        " {} · {} · pass {} of {} · {} · {} open of {} ",
        cattery_protocol::text::capitalised(review.spec.subject.label()),
        cut(block, 40),
        review.iteration,
        review.max_iterations,
        review.status.label(),
        review.open_count(),
        review.findings.len()
    );
    let status_style = match review.status {
        ReviewStatus::Exceeded => style::error(),
        _ => style::title(),
    };
    let outer = Border::bordered().title(Span::styled(title, status_style));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if review.findings.is_empty() {
        let text = match review.status {
            ReviewStatus::Reviewing | ReviewStatus::Incorporating => "the review is at work",
            _ => "no findings",
        };
        frame.render_widget(Paragraph::new(Line::styled(text, style::dim())), inner);
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1));
    let start = window_start(0, selected, height, review.findings.len());
    let rows: Vec<Row<'static>> = review
        .findings
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, f)| {
            let row = Row::new(vec![
                Cell::from(Span::styled(f.severity.as_str(), severity(f.severity))),
                Cell::from(Span::styled(f.category.as_str(), style::dim())),
                Cell::from(Span::styled(f.status.label(), status(f.status))),
                Cell::from(f.title.clone()),
            ]);
            match i == selected {
                true => row.style(style::selected()),
                false => row,
            }
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(14),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    let header = Row::new(["sev", "category", "status", "finding"]).style(style::dim());
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}

fn detail(frame: &mut Frame<'_>, area: Rect, review: &ReviewState, selected: usize) {
    let outer = Border::bordered().title(Span::styled(" finding ", style::dim()));
    let Some(finding) = review.findings.get(selected) else {
        frame.render_widget(outer, area);
        return;
    };
    let mut lines = vec![Line::from(finding.detail.clone())];
    match &finding.reply {
        Some(reply) => lines.push(Line::from(vec![
            Span::styled("reply: ", style::dim()),
            Span::raw(reply.clone()),
        ])),
        None => lines.push(Line::styled("no reply yet", style::dim())),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn revision(frame: &mut Frame<'_>, area: Rect, review: &ReviewState, before: &str) {
    let Some(after) = &review.document else {
        return;
    };
    let title = match review.previous_document {
        Some(_) => " revised (against the previous revision) ",
        None => " revised (against the task's description) ",
    };
    let lines: Vec<Line<'static>> = diff_lines(before, after)
        .into_iter()
        .map(|(tag, text)| match tag {
            DiffTag::Added => Line::styled(format!("+ {text}"), Style::new().fg(Color::Green)),
            DiffTag::Removed => Line::styled(format!("- {text}"), Style::new().fg(Color::Red)),
            DiffTag::Same | DiffTag::Plain => Line::from(format!("  {text}")),
        })
        .collect();
    let outer = Border::bordered().title(Span::styled(title, style::dim()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn severity(severity: FindingSeverity) -> Style {
    match severity {
        FindingSeverity::High => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        FindingSeverity::Medium => Style::new().fg(Color::Yellow),
        FindingSeverity::Low => style::dim(),
    }
}

fn status(status: FindingStatus) -> Style {
    match status {
        FindingStatus::Open => Style::new().fg(Color::Yellow),
        FindingStatus::Answered | FindingStatus::Resolved => Style::new().fg(Color::Green),
        FindingStatus::Dismissed => style::dim(),
    }
}
