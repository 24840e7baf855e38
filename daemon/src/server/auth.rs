//! The API token: created once, readable by its owner only.

use std::io::Read;
use std::path::Path;

/// Reads the token at `path`, creating it (mode 0600) on first start.
pub fn load_or_create_token(path: &Path) -> std::io::Result<String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        let token = token.trim().to_owned();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::os::write_atomically(path, token.as_bytes())?;
    Ok(token)
}

/// Compares without stopping at the first different byte.
pub fn same_token(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_token_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/token");
        let first = load_or_create_token(&path).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(same_token(&first, &first));
        assert!(!same_token(&first, "nope"));
    }
}
