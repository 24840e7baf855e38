//! The live log of the selected run's working step: follows the tail
//! unless frozen or scrolled back, and highlights a search.

use super::style;
use crate::app::{App, Drawn};
use cattery_protocol::transcript::EntryKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Paragraph};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, drawn: &mut Drawn) {
    let Some(run) = app.selected_run().cloned() else {
        let outer = Border::bordered().title(" Logs ");
        let text = Line::styled(
            "no run selected; pick one on the board (1) or in the inbox (3)",
            style::dim(),
        );
        frame.render_widget(Paragraph::new(text).block(outer), area);
        return;
    };
    let step = app.log_step(&run);
    let agent = run.steps.get(step).map_or("", |s| s.agent_kind.as_str());
    let empty = Default::default();
    let (lines, stored) = app.shown_log(&run);
    let lines = lines.unwrap_or(&empty);
    let height = usize::from(area.height.saturating_sub(2));
    let back = app.logs.scroll_back.min(lines.len().saturating_sub(height));
    drawn.log_rows = height;
    let end = lines.len() - back;
    let start = end.saturating_sub(height);
    let search = app.logs.search.as_deref().map(str::to_lowercase);
    let matches = search
        .as_ref()
        .map(|s| app.logs.matches(&run.id, step, s, lines));
    let mode = match (stored, app.logs.frozen) {
        (true, _) => Span::styled(" transcript ", Style::new().fg(Color::Cyan)),
        (false, true) => Span::styled(" frozen ", Style::new().fg(Color::Black).bg(Color::Yellow)),
        (false, false) => Span::styled(" following ", Style::new().fg(Color::Green)),
    };
    let mut title = vec![
        Span::styled(
            format!(" Logs · step {} {agent} · {} lines ", step + 1, lines.len()),
            style::title(),
        ),
        mode,
    ];
    if let (Some(s), Some(n)) = (&app.logs.search, matches) {
        title.push(Span::styled(format!(" /{s}: {n} matches "), style::key()));
    }
    let shown: Vec<Line<'static>> = lines
        .range(start..end)
        .map(|line| {
            let hit = search
                .as_ref()
                .is_some_and(|s| line.text.to_lowercase().contains(s));
            let level_style = level_style(line.level);
            let text_style = match (hit, line.kind) {
                (true, _) => Style::new().fg(Color::Black).bg(Color::Yellow),
                (false, EntryKind::Attempt | EntryKind::Cut) => style::title(),
                (false, EntryKind::Call) => Style::new().fg(Color::Magenta),
                (false, EntryKind::Line) => Style::new(),
            };
            Line::from(vec![
                Span::styled(
                    format!("{:<5} ", format!("{:?}", line.level).to_lowercase()),
                    level_style,
                ),
                Span::styled(line.text.clone(), text_style),
            ])
        })
        .collect();
    let reading = stored && app.logs.stored.as_ref().is_some_and(|s| !s.complete);
    let body = match (shown.is_empty(), stored) {
        (true, true) if reading => vec![Line::styled("reading the transcript…", style::dim())],
        (true, true) => vec![Line::styled(
            "nothing stored for this step: it never ran, or its transcript was pruned",
            style::dim(),
        )],
        (true, false) => vec![Line::styled(
            "no log lines from this step yet",
            style::dim(),
        )],
        (false, _) => shown,
    };
    frame.render_widget(
        Paragraph::new(body).block(Border::bordered().title(Line::from(title))),
        area,
    );
}

fn level_style(level: cattery_protocol::agent::LogLevel) -> Style {
    use cattery_protocol::agent::LogLevel as L;
    match level {
        L::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        L::Warn => Style::new().fg(Color::Yellow),
        L::Info => Style::new().fg(Color::Cyan),
        L::Debug | L::Trace => style::dim(),
    }
}
