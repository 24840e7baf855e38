//! Drawing: one function per view, plus the header, footer and overlays.
//! Everything reads the app state and draws it; nothing here changes the
//! app. What drawing learns about the screen returns as `Drawn`.

mod board;
mod chrome;
mod diff;
mod inbox;
mod logs;
mod overlay;
mod review;
mod run;
mod schedules;
pub mod style;
mod viewer;

use crate::app::{App, Drawn, View};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// Below this the views cannot be laid out; the screen says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// Draws the app. Drawing changes nothing in it: what the app needs to know
/// about the frame (where the list is, how many log rows fit) comes back as
/// [`Drawn`], for the runtime to hand to [`App::on_drawn`].
pub fn draw(frame: &mut Frame<'_>, app: &App) -> Drawn {
    let mut drawn = Drawn::default();
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return drawn;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::header(frame, header, app);
    match app.view() {
        View::Board => board::draw(frame, body, app, &mut drawn),
        View::Run => run::draw(frame, body, app, &mut drawn),
        View::Inbox => inbox::draw(frame, body, app, &mut drawn),
        View::Logs => logs::draw(frame, body, app, &mut drawn),
        View::Viewer => viewer::draw(frame, body, app),
        View::Diff => diff::draw(frame, body, app, &mut drawn),
        View::Review => review::draw(frame, body, app),
        View::Schedules => schedules::draw(frame, body, app),
    }
    chrome::footer(frame, footer, app);
    overlay::draw(frame, body, app);
    drawn
}

fn too_small(frame: &mut Frame<'_>, area: Rect) {
    let text = vec![
        Line::from(format!(
            "terminal too small: {}×{}",
            area.width, area.height
        )),
        Line::from(format!("cattery needs at least {MIN_WIDTH}×{MIN_HEIGHT}")),
    ];
    frame.render_widget(Paragraph::new(text), area);
}

/// `1m05s`, `12s`, `3h02m`.
pub fn duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A text bar `█████░░░░░` of `width` cells for a share in 0..=1.
pub fn bar(share: f64, width: usize) -> String {
    let filled = ((share.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

pub use cattery_protocol::text::{cut, first_line};

/// The first row to show so that `selected` stays inside `height` rows.
pub fn window_start(previous: usize, selected: usize, height: usize, len: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let start = if selected < previous {
        selected
    } else if selected >= previous + height {
        selected + 1 - height
    } else {
        previous
    };
    start.min(len - height)
}
