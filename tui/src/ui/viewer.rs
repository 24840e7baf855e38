//! A scrollable text: a proposal, a step output, or an edit's diff.

use super::style;
use crate::app::{App, DiffTag};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Paragraph, Wrap};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(viewer) = &app.viewer else {
        return;
    };
    let lines: Vec<Line<'static>> = viewer
        .lines
        .iter()
        .skip(viewer.scroll)
        .map(|(tag, text)| match tag {
            DiffTag::Plain => Line::from(text.clone()),
            DiffTag::Same => Line::from(format!("  {text}")),
            DiffTag::Added => Line::styled(format!("+ {text}"), Style::new().fg(Color::Green)),
            DiffTag::Removed => Line::styled(format!("- {text}"), Style::new().fg(Color::Red)),
        })
        .collect();
    let position = format!(
        " {}/{} ",
        (viewer.scroll + 1).min(viewer.lines.len()),
        viewer.lines.len()
    );
    let outer = Border::bordered()
        .title(Span::styled(format!(" {} ", viewer.title), style::title()))
        .title_bottom(Line::styled(position, style::dim()).right_aligned());
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}
