//! `config.toml`: daemon-wide settings.

use super::error::ConfigError;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// Which executor runs agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutorChoice {
    /// Docker when the engine answers, else local processes.
    #[default]
    Auto,
    Docker,
    Process,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub executor: ExecutorChoice,
    /// The engine's socket; else DOCKER_HOST, else /var/run/docker.sock.
    pub docker_socket: Option<String>,
    /// The API's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

pub const DEFAULT_PORT: u16 = 7457;

impl Default for Settings {
    fn default() -> Self {
        Self {
            executor: ExecutorChoice::Auto,
            docker_socket: None,
            port: DEFAULT_PORT,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    executor: Option<Spanned<String>>,
    docker_socket: Option<String>,
    port: Option<u16>,
}

impl Settings {
    /// Reads `config.toml` in `config_dir`; a missing file means defaults.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = config_dir.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ConfigError {
                    file: path.display().to_string(),
                    line: None,
                    message: format!("cannot read: {e}"),
                    fix: "check the file's permissions".to_owned(),
                });
            }
        };
        let label = path.display().to_string();
        let file: SettingsFile =
            toml::from_str(&text).map_err(|e| ConfigError::parse(&label, &text, &e))?;
        let executor = match file.executor {
            None => ExecutorChoice::Auto,
            Some(choice) => match choice.get_ref().as_str() {
                "auto" => ExecutorChoice::Auto,
                "docker" => ExecutorChoice::Docker,
                "process" => ExecutorChoice::Process,
                other => {
                    return Err(ConfigError::at(
                        &label,
                        &text,
                        Some(choice.span().start),
                        format!("unknown executor `{other}`"),
                        "use executor = \"auto\", \"docker\" or \"process\"",
                    ));
                }
            },
        };
        Ok(Self {
            executor,
            docker_socket: file.docker_socket,
            port: file.port.unwrap_or(DEFAULT_PORT),
        })
    }

    /// The Docker socket to try.
    pub fn docker_socket(&self) -> String {
        self.docker_socket
            .clone()
            .or_else(|| {
                std::env::var("DOCKER_HOST")
                    .ok()
                    .filter(|h| h.starts_with("unix://"))
            })
            .unwrap_or_else(|| "/var/run/docker.sock".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), text).unwrap();
        Settings::load(dir.path())
    }

    #[test]
    fn executor_choices_parse() {
        assert_eq!(load("").unwrap().executor, ExecutorChoice::Auto);
        assert_eq!(
            load("executor = \"docker\"").unwrap().executor,
            ExecutorChoice::Docker
        );
        let settings = load("executor = \"process\"\ndocker_socket = \"/x.sock\"").unwrap();
        assert_eq!(settings.executor, ExecutorChoice::Process);
        assert_eq!(settings.docker_socket(), "/x.sock");
    }

    #[test]
    fn an_unknown_executor_is_refused_at_its_line() {
        let err = load("\nexecutor = \"podman\"\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("podman"), "{err}");
        assert!(err.fix.contains("\"docker\""), "{err}");
    }
}
