//! The footer's hints: the registry's hinted actions that apply here (as
//! `App::applies` says), each under the key the keymap gives it.

use super::App;
use super::actions::{self, Action};

/// Footer hints for where the user is: the actions that apply right now.
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    use actions::REGISTRY;
    let gate = app.selected_gate();
    REGISTRY
        .iter()
        .filter(|spec| spec.hint && app.in_scope(spec.action))
        .filter(|spec| app.applies(spec.action, 0).is_ok())
        .map(|spec| {
            let label = match (spec.action, gate.as_ref()) {
                (Action::ChooseOption, Some(g)) => option_label(app, g.options.len()),
                _ => app.keymap.label(spec.action),
            };
            (label, spec.name)
        })
        .collect()
}

fn option_label(app: &App, options: usize) -> String {
    let keys = app.keymap.keys_of(Action::ChooseOption);
    match keys.get(..options.min(keys.len())) {
        Some([only]) => only.to_string(),
        Some([first, .., last]) => format!("{first}-{last}"),
        _ => app.keymap.label(Action::ChooseOption),
    }
}
