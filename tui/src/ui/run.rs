//! One run: its steps with live metrics, and the selected step in detail.

use super::{bar, cut, duration, first_line, style, window_start};
use crate::app::{App, Drawn, ListArea};
use cattery_protocol::{Run, Step, StepMetrics, StepState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block as Border, Cell, Gauge, Paragraph, Row, Sparkline, Table, Wrap};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, drawn: &mut Drawn) {
    let Some(run) = app.selected_run().cloned() else {
        let text = vec![
            Line::from("no run selected"),
            Line::styled(
                "pick a block with a run on the board (1) or a gate in the inbox (3), then press 2 or enter",
                style::dim(),
            ),
        ];
        let outer = Border::bordered().title(" Run ");
        frame.render_widget(
            Paragraph::new(text).block(outer).wrap(Wrap { trim: true }),
            area,
        );
        return;
    };
    let steps_height = (run.steps.len() as u16 + 3).min(area.height / 2 + 2);
    let history_height = history_height(app, &run, area.height);
    let [steps_area, detail_area, history_area] = Layout::vertical([
        Constraint::Length(steps_height),
        Constraint::Fill(1),
        Constraint::Length(history_height),
    ])
    .areas(area);
    draw_steps(frame, steps_area, app, &run, drawn);
    if let Some(step) = run.steps.get(app.selected_step()) {
        draw_detail(frame, detail_area, app, &run, step);
    }
    if history_height > 0 {
        draw_history(frame, history_area, app, &run);
    }
}

/// Rows for the history pane: its entries (at most 6) plus borders, and
/// none on a screen too short to spare them.
fn history_height(app: &App, run: &Run, total: u16) -> u16 {
    if total < 20 {
        return 0;
    }
    let entries = history_of(app, run).len().clamp(1, 6);
    entries as u16 + 2
}

fn history_of<'a>(app: &'a App, run: &Run) -> &'a [cattery_protocol::AuditEntry] {
    match app.history.run_id.as_deref() == Some(run.id.as_str()) {
        true => &app.history.entries,
        false => &[],
    }
}

/// Who decided what at this run's gates, newest last: how long ago, who,
/// the step and gate, the choice and the first line of its text.
fn draw_history(frame: &mut Frame<'_>, area: Rect, app: &App, run: &Run) {
    let entries = history_of(app, run);
    let outer = Border::bordered().title(Span::styled(
        format!(" history · {} decisions ", entries.len()),
        style::title(),
    ));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let shown = usize::from(inner.height);
    let mut lines: Vec<Line<'static>> = entries
        .iter()
        .skip(entries.len().saturating_sub(shown))
        .map(|e| history_line(e, run, app.now, inner.width))
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled("no decisions yet", style::dim()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn history_line(
    e: &cattery_protocol::AuditEntry,
    run: &Run,
    now: i64,
    width: u16,
) -> Line<'static> {
    let step = run
        .resolved_gates
        .iter()
        .find(|g| g.id == e.gate_id)
        .and_then(|g| run.steps.get(g.step_index).map(|s| (g.step_index, s)))
        .map_or_else(String::new, |(i, s)| {
            format!("step {} {} ", i + 1, s.agent_kind)
        });
    let text = e
        .text
        .as_deref()
        .map(|t| format!(" {}", first_line(t, usize::from(width) / 2)))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled(format!("{:>6} ago ", duration(now - e.at)), style::dim()),
        Span::styled(format!("{} ", e.actor), style::title()),
        Span::raw(format!("{step}{} {} → ", e.gate_kind.label(), e.gate_id)),
        Span::styled(e.choice.clone(), Style::new().fg(Color::Cyan)),
        Span::styled(text, style::dim()),
    ])
}

fn run_title(app: &App, run: &Run) -> Line<'static> {
    let block = app
        .model
        .blocks
        .get(&run.block_id)
        .map_or("?", |b| b.title.as_str());
    Line::from(vec![
        Span::styled(format!(" {} ", cut(block, 32)), style::title()),
        Span::raw(format!("· {} · ", run.pipeline_name)),
        Span::styled(run.status.as_str(), style::run_status(run.status)),
        Span::styled(
            format!(
                " · {} · rev {} ",
                duration(app.now - run.created_at),
                run.rev
            ),
            style::dim(),
        ),
    ])
}

fn draw_steps(frame: &mut Frame<'_>, area: Rect, app: &App, run: &Run, drawn: &mut Drawn) {
    let outer = Border::bordered().title(run_title(app, run));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let wide = inner.width >= 120;
    let height = usize::from(inner.height.saturating_sub(1));
    let start = window_start(
        app.list_area.offset,
        app.selected_step(),
        height,
        run.steps.len(),
    );
    let rows: Vec<Row<'static>> = run
        .steps
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, step)| {
            let row = step_row(i, step, run, wide, app.now);
            match i == app.selected_step() {
                true => row.style(style::selected()),
                false => row,
            }
        })
        .collect();
    let mut header = vec![
        "",
        "#",
        "agent",
        "state",
        "time",
        "calls",
        "tokens in/out",
        "headroom",
    ];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(13),
        Constraint::Length(9),
    ];
    if wide {
        header.extend(["trunc", "upstream/ovh", "cost", "model"]);
        widths.extend([
            Constraint::Length(5),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Length(18),
        ]);
    }
    let table = Table::new(rows, widths).header(Row::new(header).style(style::dim()));
    frame.render_widget(table, inner);
    drawn.list = ListArea::below_header(inner, start);
}

fn step_row(index: usize, step: &Step, run: &Run, wide: bool, now: i64) -> Row<'static> {
    let failed = run.failure.as_ref().is_some_and(|f| f.step_index == index)
        && run.status == cattery_protocol::RunStatus::Failed;
    let (icon, icon_style) = style::step_icon(step.state, failed, step.skipped.is_some());
    let m = &step.metrics;
    let headroom = m
        .headroom_used()
        .map(|h| format!("{} {:>2.0}%", bar(h, 4), h * 100.0))
        .unwrap_or_default();
    let mut cells = vec![
        Cell::from(Span::styled(icon, icon_style)),
        Cell::from(format!("{}", index + 1)),
        Cell::from(agent_cell(step)),
        Cell::from(state_word(step, failed)),
        Cell::from(step_time(step, now)),
        Cell::from(count(m.calls)),
        Cell::from(tokens(m)),
        Cell::from(Span::styled(headroom, headroom_style(m))),
    ];
    if wide {
        cells.extend([
            Cell::from(count(m.truncated_calls)),
            Cell::from(latency(m)),
            Cell::from(cost(m)),
            Cell::from(step.model.clone().unwrap_or_default()),
        ]);
    }
    Row::new(cells)
}

/// The step's kind; a skipped one says why beside it, as the state
/// column is too narrow for the reason.
fn agent_cell(step: &Step) -> Line<'static> {
    match step.skipped {
        Some(reason) => Line::from(vec![
            Span::raw(step.agent_kind.clone()),
            Span::styled(format!(" (skipped: {})", reason.label()), style::dim()),
        ]),
        None => Line::from(step.agent_kind.clone()),
    }
}

fn state_word(step: &Step, failed: bool) -> String {
    if failed {
        return "failed".to_owned();
    }
    if step.skipped.is_some() {
        return "skipped".to_owned();
    }
    if let Some(review) = &step.review
        && step.state != cattery_protocol::StepState::Pending
        && step.state != cattery_protocol::StepState::Done
    {
        return review.status.label().to_owned();
    }
    let working = step.state == cattery_protocol::StepState::Working;
    if let Some(gate) = step.gate.as_ref().filter(|_| working) {
        return gate.phase.label().to_owned();
    }
    if let Some(test) = step
        .test
        .as_ref()
        .filter(|t| working && t.fixer_working().is_some())
    {
        return test.phase.label().to_owned();
    }
    step.state.label().to_owned()
}

/// How long the step ran, or has run so far while it works.
fn elapsed(step: &Step, now: i64) -> Option<i64> {
    match (step.started_at, step.finished_at) {
        (Some(start), Some(end)) => Some(end - start),
        (Some(start), None) if step.state == StepState::Working => Some(now - start),
        _ => None,
    }
}

fn step_time(step: &Step, now: i64) -> String {
    elapsed(step, now).map(duration).unwrap_or_default()
}

fn count(n: u64) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

fn tokens(m: &StepMetrics) -> String {
    if m.calls == 0 {
        return String::new();
    }
    format!("{}/{}", human(m.prompt_tokens), human(m.completion_tokens))
}

/// `950`, `12.4k`, `3.1M`.
pub fn human(n: u64) -> String {
    match n {
        n if n < 1_000 => n.to_string(),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        n => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

fn latency(m: &StepMetrics) -> String {
    if m.calls == 0 {
        return String::new();
    }
    format!(
        "{}/{}",
        duration_ms(m.upstream_ms),
        duration_ms(m.overhead_ms)
    )
}

fn duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1_000.0)
    }
}

fn cost(m: &StepMetrics) -> String {
    match (m.cost_estimate, m.calls) {
        (_, 0) => String::new(),
        (Some(c), _) => format!("{}{c:.4}", currency(m)),
        (None, _) => "?".to_owned(),
    }
}

fn currency(m: &StepMetrics) -> &'static str {
    match m.currency.as_deref() {
        Some("USD") | None => "$",
        Some("EUR") => "€",
        Some(_) => "",
    }
}

fn headroom_style(m: &StepMetrics) -> Style {
    match m.headroom_used() {
        Some(h) if h >= 0.9 => Style::new().fg(Color::Red),
        Some(h) if h >= 0.7 => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Green),
    }
}

fn draw_detail(frame: &mut Frame<'_>, area: Rect, app: &App, run: &Run, step: &Step) {
    let title = format!(" step {} · {} ", app.selected_step() + 1, step.agent_kind);
    let outer = Border::bordered().title(Span::styled(title, style::title()));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let samples: Vec<u64> = app
        .model
        .tokens
        .get(&(run.id.clone(), app.selected_step()))
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let per_call = !step.metrics.recent_calls.is_empty() && inner.height > 12;
    let show_spark =
        !per_call && step.state == StepState::Working && samples.len() > 1 && inner.height > 8;
    let show_gauge = step.metrics.headroom_used().is_some() && inner.height > 4;
    let calls_height = if per_call {
        (inner.height / 2).min(12)
    } else {
        0
    };
    let [text_area, gauge_area, spark_area, calls_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(show_gauge)),
        Constraint::Length(if show_spark { 3 } else { 0 }),
        Constraint::Length(calls_height),
    ])
    .areas(inner);
    if per_call {
        draw_calls(frame, calls_area, &step.metrics);
    }
    let lines = detail_lines(run, step, app.selected_step(), inner.width, app.now);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
    if show_gauge {
        let used = step.metrics.headroom_used().unwrap_or(0.0);
        let label = format!(
            "output headroom: peak {} of {} tokens",
            step.metrics.peak_completion_tokens, step.metrics.max_output_tokens
        );
        let gauge = Gauge::default()
            .ratio(used.clamp(0.0, 1.0))
            .label(label)
            .gauge_style(headroom_style(&step.metrics));
        frame.render_widget(gauge, gauge_area);
    }
    if show_spark {
        let spark = Sparkline::default()
            .block(Border::new().title(Span::styled("completion tokens", style::dim())))
            .data(samples)
            .style(Style::new().fg(Color::Cyan));
        frame.render_widget(spark, spark_area);
    }
}

/// The step's latest calls: tokens and upstream time per call as
/// sparklines, the cache's share of the input, and the newest calls with
/// their stop reasons, so a truncation or a slow provider shows at once.
fn draw_calls(frame: &mut Frame<'_>, area: Rect, m: &StepMetrics) {
    let calls = &m.recent_calls;
    let [tokens_area, latency_area, list_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Fill(1),
    ])
    .areas(area);
    let halves = |area: Rect| {
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(18)]).areas::<2>(area)
    };
    let peak = |values: &[u64]| values.iter().copied().max().unwrap_or(0);
    let tokens: Vec<u64> = calls
        .iter()
        .map(|c| c.input_tokens() + c.completion_tokens)
        .collect();
    let latency: Vec<u64> = calls.iter().map(|c| c.upstream_ms).collect();
    for (area, values, label, shown, color) in [
        (
            tokens_area,
            &tokens,
            "tokens per call",
            human(peak(&tokens)),
            Color::Cyan,
        ),
        (
            latency_area,
            &latency,
            "upstream per call",
            duration_ms(peak(&latency)),
            Color::Magenta,
        ),
    ] {
        let [spark_at, peak_at] = halves(area);
        let spark = Sparkline::default()
            .block(Border::new().title(Span::styled(label, style::dim())))
            .data(values.as_slice())
            .style(Style::new().fg(color));
        frame.render_widget(spark, spark_at);
        let text = vec![
            Line::raw(""),
            Line::styled(format!(" peak {shown}"), style::dim()),
        ];
        frame.render_widget(Paragraph::new(text), peak_at);
    }
    let mut lines = vec![Line::from(vec![
        Span::styled("cache share ", style::dim()),
        Span::raw(
            m.cache_share()
                .map_or("—".to_owned(), |s| format!("{:.0}%", s * 100.0)),
        ),
        Span::styled(
            format!(" of the last {} calls' input", calls.len()),
            style::dim(),
        ),
    ])];
    let first = m.calls.saturating_sub(calls.len() as u64);
    let newest = calls.iter().enumerate().rev();
    for (at, call) in newest.take(usize::from(list_area.height.saturating_sub(1))) {
        lines.push(call_line(first + at as u64 + 1, call));
    }
    frame.render_widget(Paragraph::new(lines), list_area);
}

fn call_line(number: u64, call: &cattery_protocol::CallBrief) -> Line<'static> {
    use cattery_protocol::agent::FinishReason;
    let (stop, stop_style) = match call.finish_reason {
        FinishReason::Stop => ("stop", style::dim()),
        FinishReason::Length => ("TRUNCATED", style::error()),
        FinishReason::Other => ("other", Style::new().fg(Color::Yellow)),
    };
    let first_token = match call.first_token_ms {
        0 => String::new(),
        ms => format!(" · first byte {}", duration_ms(ms)),
    };
    Line::from(vec![
        Span::styled(format!("#{number:<4}"), style::dim()),
        Span::raw(format!(
            "in {} (cache {}) out {}/{} · ",
            human(call.input_tokens()),
            human(call.cache_read_tokens),
            human(call.completion_tokens),
            human(call.max_output_tokens)
        )),
        Span::styled(stop, stop_style),
        Span::raw(format!(" · {}{first_token}", duration_ms(call.upstream_ms))),
    ])
}

/// What the step changed on the run's branch: its commit and diff stat.
fn change_line(change: &cattery_protocol::StepChange) -> Line<'static> {
    let Some(commit) = &change.commit else {
        return Line::from(Span::styled("⎇ no change", style::dim()));
    };
    let short: String = commit.chars().take(8).collect();
    let files = if change.files == 1 { "file" } else { "files" };
    Line::from(vec![
        Span::styled(format!("⎇ {short} "), style::key()),
        Span::raw(format!("{} {files} ", change.files)),
        Span::styled(
            format!("+{}", change.insertions),
            Style::new().fg(Color::Green),
        ),
        Span::raw(" "),
        Span::styled(
            format!("−{}", change.deletions),
            Style::new().fg(Color::Red),
        ),
    ])
}

/// The step's upstream time against its own: how much of the step the
/// model API took.
fn upstream_share(m: &StepMetrics, step: &Step, now: i64) -> String {
    let Some(elapsed) = elapsed(step, now) else {
        return String::new();
    };
    match elapsed > 0 {
        true => format!(
            " ({:.0}% of the step's {})",
            (m.upstream_ms as f64 / elapsed as f64 * 100.0).min(100.0),
            duration(elapsed)
        ),
        false => String::new(),
    }
}

fn detail_lines(run: &Run, step: &Step, index: usize, width: u16, now: i64) -> Vec<Line<'static>> {
    let m = &step.metrics;
    let mut lines = vec![Line::from(vec![
        Span::styled("model ", style::dim()),
        Span::raw(step.model.clone().unwrap_or_else(|| "—".to_owned())),
        Span::styled(
            format!(
                " · attempts {} · recoveries {} · timeout {}s",
                step.attempts, step.recoveries, step.timeout_secs
            ),
            style::dim(),
        ),
    ])];
    if let Some(change) = &step.change {
        lines.push(change_line(change));
    }
    if m.calls > 0 {
        lines.push(Line::from(format!(
            "calls {} · prompt {} (cache read {} / write {}) · completion {} · truncated {} · errors {} · warnings {}",
            m.calls,
            human(m.prompt_tokens),
            human(m.cache_read_tokens),
            human(m.cache_write_tokens),
            human(m.completion_tokens),
            m.truncated_calls,
            m.errors,
            m.warnings
        )));
        lines.push(Line::from(format!(
            "latency upstream {}{} · overhead {} · cost {}",
            duration_ms(m.upstream_ms),
            upstream_share(m, step, now),
            duration_ms(m.overhead_ms),
            match cost(m).as_str() {
                "?" => "unknown (no price for this model)".to_owned(),
                c => c.to_owned(),
            }
        )));
    }
    if let Some(label) = &step.progress_label {
        lines.push(Line::styled(
            format!(
                "{} {:.0}% {label}",
                bar(step.progress, 10),
                step.progress * 100.0
            ),
            Style::new().fg(Color::Cyan),
        ));
    }
    companion_lines(step, width, &mut lines);
    gate_lines(step, width, &mut lines);
    test_lines(step, width, &mut lines);
    review_lines(step, &mut lines);
    for warning in &step.warnings {
        lines.push(Line::styled(
            format!("warning: {}", first_line(warning, usize::from(width))),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(rework) = &step.rework {
        lines.push(Line::styled(
            format!(
                "rework asked by {:?}: {}",
                rework.requested_by,
                first_line(&rework.feedback, usize::from(width))
            )
            .to_lowercase(),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(failure) = run.failure.as_ref().filter(|f| f.step_index == index) {
        lines.push(Line::styled(
            format!("failed ({:?}): {}", failure.kind, failure.message).to_lowercase(),
            style::error(),
        ));
        if let Some(hint) = &failure.hint {
            lines.push(Line::styled(
                format!("hint: {hint}"),
                Style::new().fg(Color::Yellow),
            ));
        }
    }
    if let Some(output) = step.output.as_deref().filter(|o| !o.is_empty()) {
        lines.push(Line::styled(
            format!(
                "output: {} (enter shows it all)",
                first_line(output, usize::from(width).saturating_sub(30))
            ),
            style::dim(),
        ));
    }
    lines
}

/// A polling gate: what it checks, its phase, helper rounds against the
/// budget, the last verdict and failing checks, and the attempt log.
fn gate_lines(step: &Step, width: u16, lines: &mut Vec<Line<'static>>) {
    use cattery_protocol::gate::GateVerdict;
    let Some(g) = &step.gate else {
        return;
    };
    let verdict = g.last_verdict.map_or(Span::raw("not probed yet"), |v| {
        let color = match v {
            GateVerdict::Pass => Color::Green,
            GateVerdict::Pending => Color::Yellow,
            GateVerdict::Fail => Color::Red,
        };
        Span::styled(format!("last {}", v.label()), Style::new().fg(color))
    });
    lines.push(Line::from(vec![
        Span::styled(format!("{} gate ", g.spec.kind.label()), style::title()),
        Span::raw(format!(
            "· {} · rounds {}/{} · polls {}/{} every {}s · ",
            g.phase.label(),
            g.attempts,
            g.spec.max_attempts,
            g.polls,
            g.spec.max_polls,
            g.spec.poll_secs
        )),
        verdict,
    ]));
    if !g.failing_checks.is_empty() {
        lines.push(Line::styled(
            format!("failing: {}", g.failing_checks.join(", ")),
            style::error(),
        ));
    }
    if let Some(summary) = g
        .last_summary
        .as_deref()
        .filter(|_| g.last_verdict != Some(GateVerdict::Pass))
    {
        lines.push(Line::styled(
            first_line(summary, usize::from(width)),
            style::dim(),
        ));
    }
    for a in &g.attempt_log {
        lines.push(round_line(a.attempt, a.outcome, &a.summary, width));
    }
}

/// One helper or fixer round: its number, how it ended and what it said.
fn round_line(
    attempt: u32,
    outcome: cattery_protocol::gate::HelperOutcome,
    summary: &str,
    width: u16,
) -> Line<'static> {
    use cattery_protocol::gate::HelperOutcome;
    let (mark, color) = match outcome {
        HelperOutcome::Completed => ("✓", Color::Green),
        HelperOutcome::Failed => ("✗", Color::Red),
    };
    Line::from(vec![
        Span::styled(format!("  #{attempt} {mark} "), Style::new().fg(color)),
        Span::styled(
            first_line(summary, usize::from(width).saturating_sub(8)),
            style::dim(),
        ),
    ])
}

/// A tester's fix loop: fixer rounds against the budget, the last report's
/// verdict and concerns, and each round.
/// A review step's pass and findings; enter opens them.
fn review_lines(step: &Step, lines: &mut Vec<Line<'static>>) {
    let Some(r) = &step.review else {
        return;
    };
    if step.state == cattery_protocol::StepState::Pending {
        return;
    }
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", r.spec.subject.label()), style::title()),
        Span::raw(format!(
            "· {} · pass {} of {} · {} open of {} findings · writer {}",
            r.status.label(),
            r.iteration,
            r.max_iterations,
            r.open_count(),
            r.findings.len(),
            r.spec.writer
        )),
    ]));
    if !r.findings.is_empty() {
        lines.push(Line::styled("enter opens the findings", style::dim()));
    }
}

fn test_lines(step: &Step, width: u16, lines: &mut Vec<Line<'static>>) {
    let Some(t) = &step.test else {
        return;
    };
    if t.last_report.is_none() && t.attempts == 0 {
        return;
    }
    let report = t.last_report.as_ref();
    let verdict = match report {
        Some(r) if r.abort.is_some() => Span::styled("aborted", style::error()),
        Some(r) if r.greenlight => Span::styled("greenlight", Style::new().fg(Color::Green)),
        Some(_) => Span::styled("greenlight withheld", style::error()),
        None => Span::raw("no report yet"),
    };
    lines.push(Line::from(vec![
        Span::styled(format!("fixes by {} ", t.spec.fixer), style::title()),
        Span::raw(format!(
            "· {} · rounds {}/{} · ",
            t.phase.label(),
            t.attempts,
            t.spec.max_attempts
        )),
        verdict,
    ]));
    for c in report.map(|r| r.concerns.as_slice()).unwrap_or_default() {
        lines.push(Line::styled(
            first_line(
                &format!("  [{}] {}: {}", c.severity.as_str(), c.title, c.detail),
                usize::from(width),
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    for a in &t.attempt_log {
        lines.push(round_line(a.attempt, a.outcome, &a.summary, width));
    }
}

fn companion_lines(step: &Step, width: u16, lines: &mut Vec<Line<'static>>) {
    let Some(c) = &step.companion else {
        return;
    };
    lines.push(Line::from(vec![
        Span::styled(format!("grades {} ", c.producer_kind), style::title()),
        Span::raw(format!(
            "· reworks {}/{} · threshold {:.2}",
            c.attempts, c.max_attempts, c.threshold
        )),
        match c.exceeded {
            true => Span::styled(" · iteration cap reached", style::error()),
            false => Span::raw(""),
        },
    ]));
    for (i, v) in c.verdicts.iter().enumerate() {
        let (mark, color) = if v.passed {
            ("✓", Color::Green)
        } else {
            ("✗", Color::Red)
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("  #{} {mark} {:.2} ", i + 1, v.rating),
                Style::new().fg(color),
            ),
            Span::styled(
                first_line(&v.feedback, usize::from(width).saturating_sub(14)),
                style::dim(),
            ),
        ]));
    }
}
