//! Where a cattery home keeps its files. The daemon lays them out and the
//! client reads them (port, token, log, keys), so both take every name and
//! join from here and cannot drift apart. Pure: nothing here touches disk.

use std::path::{Path, PathBuf};

/// The platform directories' project name (qualifier, organisation, app),
/// for `directories::ProjectDirs::from`.
pub const PROJECT: [&str; 3] = ["dev", "cattery", "cattery"];

/// File names in the config dir, for code handed only that dir.
pub const SETTINGS_FILE: &str = "config.toml";
pub const AGENTS_FILE: &str = "agents.toml";
pub const PIPELINES_DIR: &str = "pipelines";
pub const KEYS_FILE: &str = "keys.toml";
/// The vendors' API keys, for the daemon only (mode 0600).
pub const SECRETS_FILE: &str = "secrets.toml";

/// A home's two roots and every file under them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The database, job files, logs, the lock, port and token.
    pub data: PathBuf,
    /// `config.toml`, `agents.toml`, `pipelines/`, `keys.toml`.
    pub config: PathBuf,
}

impl Layout {
    /// Everything under one folder: `--home DIR` or `CATTERY_HOME`.
    pub fn under(home: &Path) -> Self {
        Self {
            data: home.join("data"),
            config: home.join("config"),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data.join("cattery.db")
    }

    pub fn assets(&self) -> PathBuf {
        self.data.join("assets")
    }

    pub fn jobs(&self) -> PathBuf {
        self.data.join("jobs")
    }

    /// The demo's toy service, a git repository `cattery demo` points its
    /// frame at.
    pub fn demo_repository(&self) -> PathBuf {
        self.data.join("demo-repo")
    }

    /// Where runs' worktrees live, one folder per run.
    pub fn worktrees(&self) -> PathBuf {
        self.data.join("worktrees")
    }

    /// Where the agent CLIs keep their state (config, sessions), one folder
    /// per run and step, so a rework of the step can resume its session.
    pub fn agent_state(&self) -> PathBuf {
        self.data.join("agent-state")
    }

    /// Copies of base branches as committed, one folder per commit, where
    /// host provider commands run.
    pub fn provider_trees(&self) -> PathBuf {
        self.data.join("provider-trees")
    }

    /// Where each job's transcript is kept, one folder per run.
    pub fn transcripts(&self) -> PathBuf {
        self.data.join("transcripts")
    }

    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    /// Where a daemon started in the background writes its output.
    pub fn daemon_log(&self) -> PathBuf {
        self.logs().join("catteryd.log")
    }

    /// The `n`th older daemon log, once the current one outgrew its size.
    pub fn daemon_log_rotated(&self, n: u32) -> PathBuf {
        self.logs().join(format!("catteryd.log.{n}"))
    }

    /// This home's identity on a shared Docker engine (container labels).
    pub fn daemon_id(&self) -> PathBuf {
        self.data.join("daemon-id")
    }

    /// The API token, mode 0600.
    pub fn token(&self) -> PathBuf {
        self.data.join("token")
    }

    /// The read-only API token, mode 0600: a client that greets with it may
    /// look but not change anything (`cattery --read-only`).
    pub fn read_only_token(&self) -> PathBuf {
        self.data.join("token-read-only")
    }

    /// The port the API listens on, written at every start.
    pub fn port_file(&self) -> PathBuf {
        self.data.join("port")
    }

    /// The gateway's ports and job-token secret, kept across restarts so
    /// a re-attached container still reaches it (mode 0600).
    pub fn gateway_kept(&self) -> PathBuf {
        self.data.join("gateway.json")
    }

    /// The gateway's unix socket, in a folder of its own that the relay
    /// container mounts (and nothing else of the home).
    pub fn gateway_socket(&self) -> PathBuf {
        self.data.join("relay").join("gateway.sock")
    }

    /// Holds the daemon's pid; its lock says a daemon owns this home.
    pub fn pidfile(&self) -> PathBuf {
        self.data.join("catteryd.pid")
    }

    /// Taken by a client while it starts a daemon, so two clients started at
    /// once start one daemon between them.
    pub fn start_lock(&self) -> PathBuf {
        self.data.join("catteryd.start.lock")
    }

    pub fn settings(&self) -> PathBuf {
        self.config.join(SETTINGS_FILE)
    }

    pub fn agents(&self) -> PathBuf {
        self.config.join(AGENTS_FILE)
    }

    pub fn pipelines(&self) -> PathBuf {
        self.config.join(PIPELINES_DIR)
    }

    /// The TUI's key remaps.
    pub fn secrets(&self) -> PathBuf {
        self.config.join(SECRETS_FILE)
    }

    pub fn keys(&self) -> PathBuf {
        self.config.join(KEYS_FILE)
    }
}

/// The last line a daemon logs when it stops on request. A daemon log that
/// ends without it belongs to a daemon that was killed or crashed.
pub const CLEAN_STOP: &str = "catteryd stopped cleanly";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_puts_data_and_config_side_by_side_and_the_client_files_in_data() {
        let layout = Layout::under(Path::new("/h"));
        assert_eq!(layout.port_file(), Path::new("/h/data/port"));
        assert_eq!(layout.token(), Path::new("/h/data/token"));
        assert_eq!(layout.daemon_log(), Path::new("/h/data/logs/catteryd.log"));
        assert_eq!(layout.keys(), Path::new("/h/config/keys.toml"));
    }
}
