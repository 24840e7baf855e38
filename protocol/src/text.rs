//! Shortening text for one-line places: card bodies, table cells, toasts.
//! Daemon and clients cut the same way, so a card reads alike everywhere.
//! And reading the JSON an agent's reply carries (`json_in`).

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

/// `text` with its first letter upper-cased: a label that starts a sentence.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The JSON an agent's reply carries: the whole reply, else its last
/// fenced block (```json or plain ```), else the span from its first `{`
/// or `[` to the last matching bracket. Models wrap JSON in prose and
/// fences; every reader of a structured reply takes it the same way.
pub fn json_in(reply: &str) -> Option<serde_json::Value> {
    let trimmed = reply.trim();
    if let Ok(value) = serde_json::from_str(trimmed) {
        return Some(value);
    }
    for fence in ["```json", "```"] {
        if let Some(start) = trimmed.rfind(fence).map(|i| i + fence.len())
            && let Some(end) = trimmed[start..].find("```")
            && let Ok(value) = serde_json::from_str(trimmed[start..start + end].trim())
        {
            return Some(value);
        }
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(start), Some(end)) = (trimmed.find(open), trimmed.rfind(close))
            && start < end
            && let Ok(value) = serde_json::from_str(&trimmed[start..=end])
        {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_bare_fenced_or_inside_prose() {
        assert_eq!(json_in(" {\"a\": 1} ").unwrap()["a"], 1);
        assert_eq!(json_in("ok\n```json\n[1, 2]\n```\nbye").unwrap()[1], 2);
        assert_eq!(json_in("I think {\"b\": true} is it").unwrap()["b"], true);
        assert!(json_in("no structure").is_none());
    }

    #[test]
    fn a_cut_line_keeps_its_length_limit_including_the_ellipsis() {
        assert_eq!(first_line("\n  \n hello world \nmore", 5), "hell…");
        assert_eq!(first_line("short", 5), "short");
        assert_eq!(cut("ééééé", 3), "éé…");
    }
}
