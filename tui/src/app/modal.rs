//! Overlays that take the keyboard while open: help, palette, filter,
//! confirmation, the inline editor and the pipeline picker.

use super::actions::{Action, REGISTRY};
use super::filter::Filter;
use super::keymap::Key;
use super::{App, Effect, View};
use cattery_protocol::PendingGate;
use cattery_protocol::wire::Call;
use crossterm::event::{KeyCode, KeyEvent};

/// Why an editor is open, carrying the gate it will decide.
#[derive(Debug, Clone, PartialEq)]
pub enum EditPurpose {
    Proposal(PendingGate),
    Changes(PendingGate),
    Reject(PendingGate),
    /// A reply to a review finding, at the rev the pane showed.
    Reply {
        run_id: String,
        rev: u64,
        finding: String,
    },
}

impl EditPurpose {
    pub fn title(&self) -> &'static str {
        match self {
            EditPurpose::Proposal(_) => "Edit the proposal",
            EditPurpose::Changes(_) => "What should change?",
            EditPurpose::Reject(_) => "Why reject it?",
            EditPurpose::Reply { .. } => "Your answer to the finding",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Help {
        query: String,
        scroll: usize,
    },
    Palette {
        input: String,
        selected: usize,
    },
    Filter {
        input: String,
    },
    Confirm {
        prompt: String,
        calls: Vec<(Call, String)>,
    },
    Input {
        title: String,
        text: String,
        purpose: EditPurpose,
    },
    Picker {
        block_id: String,
        selected: usize,
    },
}

impl Modal {
    pub fn help() -> Self {
        Modal::Help {
            query: String::new(),
            scroll: 0,
        }
    }

    pub fn palette() -> Self {
        Modal::Palette {
            input: String::new(),
            selected: 0,
        }
    }
}

impl App {
    pub(super) fn modal_key(&mut self, modal: Modal, event: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&event);
        match modal {
            Modal::Help { query, scroll } => self.help_key(key, query, scroll),
            Modal::Palette { input, selected } => return self.palette_key(key, input, selected),
            Modal::Filter { input } => self.filter_key(key, input),
            Modal::Confirm { prompt, calls } => return self.confirm_key(key, prompt, calls),
            Modal::Input {
                title,
                text,
                purpose,
            } => return self.input_key(key, title, text, purpose),
            Modal::Picker { block_id, selected } => {
                return self.picker_key(key, block_id, selected);
            }
        }
        Vec::new()
    }

    /// What a key means inside a pop-up, through the keymap, so remaps
    /// apply there too. In pop-ups that take typing, a plain character is
    /// text, never an action.
    fn popup_action(&self, key: &Key, typing: bool) -> Option<Action> {
        if typing && !key.ctrl && matches!(key.code, KeyCode::Char(_)) {
            return None;
        }
        const POPUP: [Action; 8] = [
            Action::Up,
            Action::Down,
            Action::PageUp,
            Action::PageDown,
            Action::Top,
            Action::Bottom,
            Action::Open,
            Action::Back,
        ];
        self.keymap
            .actions_for(key)
            .iter()
            .map(|(action, _)| *action)
            .find(|action| POPUP.contains(action))
    }

    fn help_key(&mut self, key: Key, mut query: String, scroll: usize) {
        let scroll = match (self.popup_action(&key, true), key.code) {
            (Some(Action::Back), _) => return,
            (_, KeyCode::Char('?')) if query.is_empty() => return,
            (Some(Action::Up), _) => scroll.saturating_sub(1),
            (Some(Action::Down), _) => scroll + 1,
            (Some(Action::PageUp), _) => scroll.saturating_sub(10),
            (Some(Action::PageDown), _) => scroll + 10,
            (_, code) => {
                edit_line(&mut query, code);
                0
            }
        };
        self.modal = Some(Modal::Help { query, scroll });
    }

    /// Palette entries matching what was typed: name prefix first, then
    /// names or help containing it.
    pub fn palette_matches(&self, input: &str) -> Vec<&'static super::actions::ActionSpec> {
        let word = input.split_whitespace().next().unwrap_or("").to_lowercase();
        let visible = REGISTRY.iter().filter(|s| self.shows(s.action));
        let (mut prefix, mut rest): (Vec<_>, Vec<_>) = visible
            .filter(|s| s.name.contains(&word) || s.help.contains(&word))
            .partition(|s| s.name.starts_with(&word));
        prefix.append(&mut rest);
        prefix
    }

    fn palette_key(&mut self, key: Key, mut input: String, selected: usize) -> Vec<Effect> {
        let matches = self.palette_matches(&input);
        let selected = match (self.popup_action(&key, true), key.code) {
            (Some(Action::Back), _) => return Vec::new(),
            (Some(Action::Open), _) => {
                return self.run_palette(&input, matches.get(selected).copied());
            }
            (_, KeyCode::Tab) => {
                if let Some(spec) = matches.get(selected) {
                    input = format!("{} ", spec.name);
                }
                0
            }
            (Some(Action::Up), _) => selected.saturating_sub(1),
            (Some(Action::Down), _) => (selected + 1).min(matches.len().saturating_sub(1)),
            (_, code) => {
                edit_line(&mut input, code);
                0
            }
        };
        self.modal = Some(Modal::Palette { input, selected });
        Vec::new()
    }

    fn run_palette(
        &mut self,
        input: &str,
        spec: Option<&'static super::actions::ActionSpec>,
    ) -> Vec<Effect> {
        let Some(spec) = spec else {
            self.error(format!(
                "no action is called `{}`; ? lists them",
                input.trim()
            ));
            return Vec::new();
        };
        let index = match spec.action {
            Action::ChooseOption => {
                let arg = input
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<usize>().ok());
                match arg {
                    Some(n) if n >= 1 => n - 1,
                    _ => {
                        self.error("say which option: `choose 2`".to_owned());
                        return Vec::new();
                    }
                }
            }
            _ => 0,
        };
        self.perform(spec.action, index)
    }

    fn filter_key(&mut self, key: Key, mut input: String) {
        match (self.popup_action(&key, true), key.code) {
            (Some(Action::Back), _) => {
                self.set_filter(String::new());
                return;
            }
            (Some(Action::Open), _) => return,
            (_, code) => edit_line(&mut input, code),
        }
        self.set_filter(input.clone());
        self.modal = Some(Modal::Filter { input });
    }

    fn set_filter(&mut self, text: String) {
        if self.view() == View::Logs {
            self.logs.search = (!text.is_empty()).then_some(text);
            return;
        }
        match Filter::parse(&text) {
            Ok(filter) => {
                self.filter = filter;
                if matches!(&self.toast, Some(t) if t.error) {
                    self.toast = None;
                }
            }
            Err(why) => self.error(why),
        }
    }

    fn confirm_key(&mut self, key: Key, prompt: String, calls: Vec<(Call, String)>) -> Vec<Effect> {
        // `y` and `n` are the prompt's own words; open and back follow the keymap.
        match (self.popup_action(&key, false), key.code) {
            (Some(Action::Open), _) | (_, KeyCode::Char('y' | 'Y')) => self.confirmed(calls),
            (Some(Action::Back), _) | (_, KeyCode::Char('n' | 'N')) => {
                self.info("cancelled; nothing was sent".to_owned());
                Vec::new()
            }
            _ => {
                self.modal = Some(Modal::Confirm { prompt, calls });
                Vec::new()
            }
        }
    }

    fn input_key(
        &mut self,
        key: Key,
        title: String,
        mut text: String,
        purpose: EditPurpose,
    ) -> Vec<Effect> {
        if self.popup_action(&key, true) == Some(Action::Back) {
            self.info("cancelled; nothing was sent".to_owned());
            return Vec::new();
        }
        match key.code {
            KeyCode::Char('s') if key.ctrl => return self.on_edited(purpose, Ok(text)),
            KeyCode::Enter => text.push('\n'),
            code => edit_line(&mut text, code),
        }
        self.modal = Some(Modal::Input {
            title,
            text,
            purpose,
        });
        Vec::new()
    }

    fn picker_key(&mut self, key: Key, block_id: String, selected: usize) -> Vec<Effect> {
        let count = self.model.pipelines.len();
        let last = count.saturating_sub(1);
        let selected = match self.popup_action(&key, false) {
            Some(Action::Back) => return Vec::new(),
            Some(Action::Open) => return self.start(block_id, selected),
            Some(Action::Up) => selected.saturating_sub(1),
            Some(Action::Down) => (selected + 1).min(last),
            Some(Action::Top) => 0,
            Some(Action::Bottom) => last,
            _ => selected,
        };
        self.modal = Some(Modal::Picker { block_id, selected });
        Vec::new()
    }
}

fn edit_line(text: &mut String, code: KeyCode) {
    match code {
        KeyCode::Char(c) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        _ => {}
    }
}
