//! Where the real API keys come from: catteryd's own environment, else a
//! secrets file in the config dir that only its user may read. They stay in
//! the daemon: agents are started without these variables, and get a job
//! token instead.

use crate::config::ConfigError;
use std::path::Path;

/// The variables that carry vendors' keys; no agent inherits them.
pub const KEY_VARIABLES: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
];

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    anthropic: Option<VendorKey>,
    openai: Option<VendorKey>,
}

/// The real keys the gateway holds, each `None` when unset.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    pub anthropic: Option<String>,
    pub openai: Option<String>,
}

/// Both vendors' keys: each from catteryd's environment
/// (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`), else from its table in
/// `secrets.toml`, which must be mode 0600.
pub fn keys(secrets: &Path) -> Result<Keys, ConfigError> {
    let env = |name: &str| std::env::var(name).ok().filter(|k| !k.is_empty());
    let (anthropic, openai) = (env("ANTHROPIC_API_KEY"), env("OPENAI_API_KEY"));
    if anthropic.is_some() && openai.is_some() {
        return Ok(Keys { anthropic, openai });
    }
    let file = read(secrets)?.unwrap_or_default();
    Ok(Keys {
        anthropic: anthropic.or(file.anthropic.map(|k| k.api_key)),
        openai: openai.or(file.openai.map(|k| k.api_key)),
    })
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorKey {
    api_key: String,
}

/// The secrets file, refused when others may read it; `None` when absent.
fn read(secrets: &Path) -> Result<Option<SecretsFile>, ConfigError> {
    let label = secrets.display().to_string();
    let text = match std::fs::read_to_string(secrets) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError {
                file: label,
                line: None,
                message: format!("cannot read: {e}"),
                fix: "check the file's owner and permissions".to_owned(),
            });
        }
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(secrets)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        return Err(ConfigError {
            file: label.clone(),
            line: None,
            message: format!("holds API keys but other users may read it (mode {mode:o})"),
            fix: format!("run `chmod 600 {label}`"),
        });
    }
    let file: SecretsFile =
        toml::from_str(&text).map_err(|e| ConfigError::parse(&label, &text, &e))?;
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secrets_file_others_may_read_is_refused_with_the_chmod_that_fixes_it() {
        if std::env::var_os("ANTHROPIC_API_KEY").is_some()
            || std::env::var_os("OPENAI_API_KEY").is_some()
        {
            return; // the environment's key wins; nothing here to check
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.toml");
        std::fs::write(
            &file,
            "[anthropic]\napi_key = \"sk-test\"\n\n[openai]\napi_key = \"sk-oa\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = keys(&file).unwrap_err();
        assert!(err.message.contains("other users may read it"), "{err}");
        assert!(err.fix.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(keys(&file).unwrap().anthropic.as_deref(), Some("sk-test"));
        assert_eq!(keys(&file).unwrap().openai.as_deref(), Some("sk-oa"));
        assert_eq!(keys(&dir.path().join("none.toml")).unwrap().anthropic, None);
    }
}
