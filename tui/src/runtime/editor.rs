//! `$VISUAL` / `$EDITOR` on a temporary file.

use std::io::Write;
use std::process::Command;

/// The user's editor command, if one is set.
pub fn command() -> Option<String> {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|cmd| !cmd.trim().is_empty())
}

/// Runs `editor` on `text` and returns what was saved. The command goes
/// through `sh` so values like `code --wait` work.
pub fn edit(editor: &str, text: &str) -> Result<String, String> {
    let mut file = tempfile::Builder::new()
        .prefix("cattery-")
        .suffix(".md")
        .tempfile()
        .map_err(|e| format!("cannot create a file to edit: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the file to edit: {e}"))?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot run the editor `{editor}`: {e}"))?;
    if !status.success() {
        return Err(format!("the editor `{editor}` exited with {status}"));
    }
    std::fs::read_to_string(file.path()).map_err(|e| format!("cannot read the edited file: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_saved_text_comes_back() {
        let out = edit("sed -i 's/plan/better plan/'", "the plan\n").unwrap();
        assert_eq!(out, "the better plan\n");
    }

    #[test]
    fn an_editor_that_fails_is_an_error_naming_it() {
        let err = edit("false", "x").unwrap_err();
        assert!(err.contains("`false` exited"), "{err}");
    }
}
