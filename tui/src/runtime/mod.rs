//! The terminal loop: draws only when state changed, ticks only while a
//! clock is on screen, and always gives the terminal back (quit, panic,
//! SIGTERM).

pub mod conn;
pub mod editor;
mod terminal;

use crate::app::keymap::Keymap;
use crate::app::{App, EditPurpose, Effect};
use crate::ui;
use cattery_protocol::Millis;
use conn::{Incoming, Outgoing};
use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

pub struct Options {
    pub home: cattery_protocol::home::Layout,
    pub keymap: Keymap,
    pub read_only: bool,
    /// Said in the footer at start, e.g. why the daemon could not be started.
    pub notice: Option<String>,
}

/// Draws at most this often, however fast events arrive.
const FRAME_BUDGET: Duration = Duration::from_millis(16);
const CLOCK: Duration = Duration::from_secs(1);

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

pub async fn run(options: Options) -> std::io::Result<()> {
    let editor = editor::command();
    let mut app = App::new(
        options.keymap,
        options.read_only,
        editor.is_some(),
        now_ms(),
    );
    if let Some(notice) = options.notice {
        app.error(notice);
    }
    let (to_ui, mut incoming) = mpsc::unbounded_channel();
    let (outgoing, from_ui) = mpsc::unbounded_channel();
    let connection = tokio::spawn(conn::run(options.home, options.read_only, to_ui, from_ui));
    let mut term = terminal::enter()?;
    let result = event_loop(
        &mut term,
        &mut app,
        &mut incoming,
        &outgoing,
        editor.as_deref(),
    )
    .await;
    connection.abort();
    terminal::leave(&mut term);
    result
}

async fn event_loop(
    term: &mut terminal::Term,
    app: &mut App,
    incoming: &mut mpsc::UnboundedReceiver<Incoming>,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
    editor: Option<&str>,
) -> std::io::Result<()> {
    let mut keys = EventStream::new();
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut last_draw = Instant::now() - FRAME_BUDGET;
    let mut clock = tokio::time::interval(CLOCK);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if app.dirty && last_draw.elapsed() >= FRAME_BUDGET {
            let mut drawn = Default::default();
            term.draw(|frame| drawn = ui::draw(frame, app))?;
            app.on_drawn(drawn);
            app.dirty = false;
            last_draw = Instant::now();
        }
        let draw_due = app.dirty.then(|| last_draw + FRAME_BUDGET);
        let effects = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(event)) => on_terminal(app, event),
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            message = incoming.recv() => {
                let mut effects = Vec::new();
                let mut next = message;
                // Take everything queued before drawing once.
                while let Some(message) = next {
                    effects.extend(on_incoming(app, message));
                    next = incoming.try_recv().ok();
                }
                effects
            },
            _ = clock.tick(), if app.needs_clock() => {
                app.on_tick(now_ms());
                Vec::new()
            },
            _ = sleep_until(draw_due), if draw_due.is_some() => Vec::new(),
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
        };
        if !apply(term, app, effects, outgoing, editor)? {
            return Ok(());
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

fn on_terminal(app: &mut App, event: TermEvent) -> Vec<Effect> {
    app.now = now_ms();
    match event {
        TermEvent::Key(key) => app.on_key(key),
        TermEvent::Mouse(mouse) => {
            app.on_mouse(mouse);
            Vec::new()
        }
        TermEvent::Resize(..) => {
            app.dirty = true;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn on_incoming(app: &mut App, message: Incoming) -> Vec<Effect> {
    app.now = now_ms();
    match message {
        Incoming::Connected(welcome) => app.on_connected(welcome),
        Incoming::State(state) => {
            app.on_conn_state(state);
            Vec::new()
        }
        Incoming::Frame(frame) => app.on_frame(*frame),
    }
}

/// Carries out effects; false when the app should quit.
fn apply(
    term: &mut terminal::Term,
    app: &mut App,
    effects: Vec<Effect>,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
    editor: Option<&str>,
) -> std::io::Result<bool> {
    let mut queue: VecDeque<Effect> = effects.into();
    while let Some(effect) = queue.pop_front() {
        match effect {
            Effect::Quit => return Ok(false),
            Effect::Bell => {
                use std::io::Write;
                let mut out = std::io::stdout();
                out.write_all(b"\x07")?;
                out.flush()?;
            }
            Effect::Send { id, call } => {
                let _ = outgoing.send(Outgoing::Request { id, call });
            }
            Effect::Resubscribe => {
                let _ = outgoing.send(Outgoing::Resubscribe);
            }
            Effect::Edit { text, purpose } => {
                let result = run_editor(term, editor, &text)?;
                queue.extend(finish_edit(app, purpose, result));
            }
        }
    }
    Ok(true)
}

fn run_editor(
    term: &mut terminal::Term,
    editor: Option<&str>,
    text: &str,
) -> std::io::Result<Result<String, String>> {
    let Some(editor) = editor else {
        return Ok(Err("no editor is set".to_owned()));
    };
    terminal::suspend(term)?;
    let result = editor::edit(editor, text);
    terminal::resume(term)?;
    Ok(result)
}

fn finish_edit(app: &mut App, purpose: EditPurpose, result: Result<String, String>) -> Vec<Effect> {
    app.now = now_ms();
    app.on_edited(purpose, result)
}
