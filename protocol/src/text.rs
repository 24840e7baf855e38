//! Shortening text for one-line places: card bodies, table cells, toasts.
//! Daemon and clients cut the same way, so a card reads alike everywhere.

/// The first non-blank line of a text, trimmed and cut to `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    cut(line.trim(), max)
}

/// `text` cut to at most `max` characters, the last one an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_line_keeps_its_length_limit_including_the_ellipsis() {
        assert_eq!(first_line("\n  \n hello world \nmore", 5), "hell…");
        assert_eq!(first_line("short", 5), "short");
        assert_eq!(cut("ééééé", 3), "éé…");
    }
}
