use std::path::{Path, PathBuf};

/// Where the daemon keeps its files. `--home` / `CATTERY_HOME` puts them all
/// under one folder; otherwise the platform's data and config dirs are used.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Paths {
    pub fn under(home: &Path) -> Self {
        Self {
            data: home.join("data"),
            config: home.join("config"),
        }
    }

    /// Platform defaults, or `None` when no home directory can be found.
    pub fn platform() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("dev", "cattery", "cattery")?;
        Some(Self {
            data: dirs.data_dir().to_owned(),
            config: dirs.config_dir().to_owned(),
        })
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

    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    /// This home's identity on a shared Docker engine (container labels).
    pub fn daemon_id(&self) -> PathBuf {
        self.data.join("daemon-id")
    }

    /// The API token, mode 0600.
    pub fn token(&self) -> PathBuf {
        self.data.join("token")
    }

    /// The port the API listens on, written at every start.
    pub fn port_file(&self) -> PathBuf {
        self.data.join("port")
    }

    pub fn pidfile(&self) -> PathBuf {
        self.data.join("catteryd.pid")
    }
}
