use std::fmt;

/// A configuration problem, located in its file and line, with the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn at(file: &str, text: &str, offset: Option<usize>, message: String, fix: &str) -> Self {
        Self {
            file: file.to_owned(),
            line: offset.map(|o| line_of(text, o)),
            message,
            fix: fix.to_owned(),
        }
    }

    pub fn parse(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let offset = err.span().map(|s| s.start);
        let message = err.message().trim().to_owned();
        Self::at(
            file,
            text,
            offset,
            format!("invalid TOML: {message}"),
            "correct the syntax at that line (see https://toml.io)",
        )
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
