//! Keys: parsing `keys.toml` names, showing them, and resolving a key press
//! to the actions bound to it.

use super::actions::{Action, REGISTRY, by_name};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A key as the registry names it: a code plus whether ctrl or alt is held.
/// Shift is folded into the character, so `A` is shift-a.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(event: &KeyEvent) -> Self {
        Self {
            code: event.code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut rest = text;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                (ctrl, rest) = (true, r);
            } else if let Some(r) = rest.strip_prefix("alt-") {
                (alt, rest) = (true, r);
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') => KeyCode::F(f[1..].parse().ok()?),
            c => {
                let mut chars = c.chars();
                let (Some(ch), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                KeyCode::Char(ch)
            }
        };
        Some(Self { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::Char(c) => write!(f, "{c}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeymapError {
    #[error("{file}: {message}\nfix: {fix}")]
    Invalid {
        file: String,
        message: String,
        fix: String,
    },
}

/// Which actions each key triggers, and which keys each action has.
#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: HashMap<Key, Vec<(Action, usize)>>,
    by_action: HashMap<Action, Vec<Key>>,
}

impl Keymap {
    pub fn defaults() -> Self {
        let mut map = Self {
            by_key: HashMap::new(),
            by_action: HashMap::new(),
        };
        for spec in REGISTRY {
            let keys = spec.keys.iter().filter_map(|k| Key::parse(k)).collect();
            map.bind(spec.action, keys);
        }
        map
    }

    /// The defaults with `keys.toml` from `config_dir` laid over, if it exists.
    pub fn load(config_dir: &Path) -> Result<Self, KeymapError> {
        let path = config_dir.join(cattery_protocol::home::KEYS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::with_overrides(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::defaults()),
            Err(e) => Err(invalid(
                &path.display().to_string(),
                format!("cannot read it: {e}"),
                "check its permissions, or remove it to use the default keys",
            )),
        }
    }

    pub fn with_overrides(file: &str, text: &str) -> Result<Self, KeymapError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            invalid(
                file,
                e.message().to_owned(),
                "write lines like `approve = \"y\"` or `quit = [\"q\", \"ctrl-c\"]`",
            )
        })?;
        let mut map = Self::defaults();
        for (name, value) in &table {
            let spec = by_name(name).ok_or_else(|| {
                let known: Vec<_> = REGISTRY.iter().map(|s| s.name).collect();
                invalid(
                    file,
                    format!("`{name}` is not an action"),
                    &format!("use one of: {}", known.join(", ")),
                )
            })?;
            let keys = parse_keys(file, name, value)?;
            map.bind(spec.action, keys);
        }
        map.check_conflicts(file)?;
        Ok(map)
    }

    fn bind(&mut self, action: Action, keys: Vec<Key>) {
        for bound in self.by_action.remove(&action).unwrap_or_default() {
            if let Some(list) = self.by_key.get_mut(&bound) {
                list.retain(|(a, _)| *a != action);
            }
        }
        for (index, key) in keys.iter().enumerate() {
            self.by_key.entry(*key).or_default().push((action, index));
        }
        self.by_action.insert(action, keys);
    }

    /// Two actions on one key are refused, except answer digits, which only
    /// act while a decision is selected.
    fn check_conflicts(&self, file: &str) -> Result<(), KeymapError> {
        for (key, actions) in &self.by_key {
            // A view's own keys shadow the others there, and only there.
            let plain: Vec<_> = actions
                .iter()
                .filter(|(a, _)| *a != Action::ChooseOption)
                .filter(|(a, _)| super::actions::spec_of(*a).scope.view().is_none())
                .collect();
            if let [(first, _), (second, _), ..] = plain.as_slice() {
                let (a, b) = (spec_name(*first), spec_name(*second));
                return Err(invalid(
                    file,
                    format!("`{key}` is bound to both `{a}` and `{b}`"),
                    "give one of them another key",
                ));
            }
        }
        Ok(())
    }

    pub fn actions_for(&self, key: &Key) -> &[(Action, usize)] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn keys_of(&self, action: Action) -> &[Key] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// How the help and footer name an action's keys: `a`, `1-9`, `k/up`.
    pub fn label(&self, action: Action) -> String {
        let keys = self.keys_of(action);
        if action == Action::ChooseOption && keys.len() > 2 {
            return format!("{}-{}", keys[0], keys[keys.len() - 1]);
        }
        let names: Vec<String> = keys.iter().map(Key::to_string).collect();
        names.join("/")
    }
}

fn spec_name(action: Action) -> &'static str {
    super::actions::spec_of(action).name
}

fn parse_keys(file: &str, name: &str, value: &toml::Value) -> Result<Vec<Key>, KeymapError> {
    let texts: Vec<&str> = match value {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(items) => items.iter().filter_map(toml::Value::as_str).collect(),
        _ => Vec::new(),
    };
    if texts.is_empty() {
        return Err(invalid(
            file,
            format!("`{name}` needs a key name or a list of them"),
            &format!("write `{name} = \"k\"` or `{name} = [\"k\", \"ctrl-k\"]`"),
        ));
    }
    texts
        .iter()
        .map(|text| {
            Key::parse(text).ok_or_else(|| {
                invalid(
                    file,
                    format!("`{text}` (for `{name}`) is not a key"),
                    "use a character, or enter, esc, tab, space, up, down, pgup, pgdn, home, end, f1-f12, with ctrl-/alt- prefixes",
                )
            })
        })
        .collect()
}

fn invalid(file: &str, message: String, fix: &str) -> KeymapError {
    KeymapError::Invalid {
        file: file.to_owned(),
        message,
        fix: fix.to_owned(),
    }
}
