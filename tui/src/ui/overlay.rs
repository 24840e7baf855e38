//! Boxes drawn over the view: help, palette, confirmation, the inline
//! editor and the pipeline picker.

use super::{cut, style};
use crate::app::actions::{REGISTRY, Weight};
use crate::app::{App, Modal};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Clear, Paragraph, Wrap};

pub fn draw(frame: &mut Frame<'_>, body: Rect, app: &App) {
    match &app.modal {
        Some(Modal::Help { query, scroll }) => help(frame, body, app, query, *scroll),
        Some(Modal::Palette { input, selected }) => palette(frame, body, app, input, *selected),
        Some(Modal::Confirm { prompt, .. }) => confirm(frame, body, prompt),
        Some(Modal::Input { title, text, .. }) => input(frame, body, title, text),
        Some(Modal::Picker { selected, .. }) => picker(frame, body, app, *selected),
        Some(Modal::Filter { .. }) | None => {}
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    let [_, row, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, cell, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(width),
        Constraint::Fill(1),
    ])
    .areas(row);
    cell
}

fn boxed(frame: &mut Frame<'_>, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    frame.render_widget(Clear, area);
    let outer = Border::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(Span::styled(format!(" {title} "), style::title()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(outer)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn help(frame: &mut Frame<'_>, body: Rect, app: &App, query: &str, scroll: usize) {
    let query = query.to_lowercase();
    let rows: Vec<Line<'static>> = REGISTRY
        .iter()
        .filter(|s| app.shows(s.action))
        .filter(|s| {
            query.is_empty()
                || s.name.contains(&query)
                || s.help.to_lowercase().contains(&query)
                || app.keymap.label(s.action).contains(&query)
        })
        .skip(scroll)
        .map(|s| {
            let asks = match s.weight {
                Weight::Final => " (asks first)",
                _ => "",
            };
            let room = usize::from(body.width).saturating_sub(33);
            Line::from(vec![
                Span::styled(format!("{:>12} ", app.keymap.label(s.action)), style::key()),
                Span::styled(format!("{:<16}", s.name), style::title()),
                Span::raw(cut(&format!("{}{asks}", s.help), room)),
            ])
        })
        .collect();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" search: ", style::dim()),
            Span::raw(query.clone()),
            Span::styled("▏", style::key()),
        ]),
        Line::default(),
    ];
    if rows.is_empty() {
        lines.push(Line::styled(" no action matches", style::dim()));
    }
    lines.extend(rows);
    if app.read_only {
        lines.push(Line::styled(
            " read-only: decision keys are off",
            style::dim(),
        ));
    }
    let area = centered(body, 110, body.height);
    frame.render_widget(Clear, area);
    let outer = Border::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(Span::styled(
            " Help · type to search · esc closes ",
            style::title(),
        ));
    frame.render_widget(Paragraph::new(lines).block(outer), area);
}

fn palette(frame: &mut Frame<'_>, body: Rect, app: &App, input: &str, selected: usize) {
    let matches = app.palette_matches(input);
    let mut lines = vec![Line::from(vec![
        Span::styled(" : ", style::key()),
        Span::raw(input.to_owned()),
        Span::styled("▏", style::key()),
    ])];
    let room = usize::from(body.width.min(90)).saturating_sub(31);
    for (i, spec) in matches
        .iter()
        .take(usize::from(body.height.saturating_sub(4)))
        .enumerate()
    {
        let style = if i == selected {
            style::selected()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<16}", spec.name), style),
            Span::styled(
                format!("{:>8}  ", app.keymap.label(spec.action)),
                style::key(),
            ),
            Span::styled(cut(spec.help, room), style::dim()),
        ]));
    }
    if matches.is_empty() {
        lines.push(Line::styled(" no action matches", style::dim()));
    }
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = Rect {
        height,
        ..centered(body, 90, height)
    };
    boxed(
        frame,
        Rect { y: body.y, ..area },
        "Command · tab completes · enter runs",
        lines,
    );
}

fn confirm(frame: &mut Frame<'_>, body: Rect, prompt: &str) {
    let lines = vec![
        Line::from(prompt.to_owned()),
        Line::default(),
        Line::from(vec![
            Span::styled(" y ", style::key()),
            Span::raw("yes   "),
            Span::styled(" n ", style::key()),
            Span::raw("no"),
        ]),
    ];
    boxed(frame, centered(body, 64, 7), "Confirm", lines);
}

fn input(frame: &mut Frame<'_>, body: Rect, title: &str, text: &str) {
    let mut lines: Vec<Line<'static>> =
        text.split('\n').map(|l| Line::from(l.to_owned())).collect();
    if let Some(last) = lines.last_mut() {
        last.push_span(Span::styled("▏", style::key()));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        "ctrl-s sends · enter new line · esc cancels",
        style::dim(),
    ));
    let area = centered(body, 90, body.height.saturating_sub(2).max(8));
    boxed(frame, area, title, lines);
}

fn picker(frame: &mut Frame<'_>, body: Rect, app: &App, selected: usize) {
    let lines = app
        .model
        .pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let style = if i == selected {
                style::selected()
            } else {
                Style::new()
            };
            let steps: Vec<&str> = p.steps.iter().map(|s| s.agent_kind.as_str()).collect();
            Line::from(vec![
                Span::styled(format!(" {:<10}", p.id), style),
                Span::raw(format!(" {} ", cut(&p.description, 40))),
                Span::styled(steps.join(" → "), style::dim()),
            ])
        })
        .collect::<Vec<_>>();
    let height = lines.len() as u16 + 2;
    boxed(
        frame,
        centered(body, 100, height),
        "Start which pipeline? · enter starts · esc cancels",
        lines,
    );
}
