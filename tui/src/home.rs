//! Where a daemon's files are, as the daemon itself lays them out.

use std::path::PathBuf;

/// The home a client talks to: `--home`/`CATTERY_HOME`, else the platform dirs.
#[derive(Debug, Clone)]
pub struct Home {
    /// What to pass to `catteryd --home`, if anything.
    pub root: Option<PathBuf>,
    pub data: PathBuf,
    /// Where `keys.toml` (and the daemon's config) live.
    pub config: PathBuf,
}

impl Home {
    pub fn resolve(root: Option<PathBuf>) -> Option<Self> {
        match root {
            Some(root) => Some(Self {
                data: root.join("data"),
                config: root.join("config"),
                root: Some(root),
            }),
            None => {
                let dirs = directories::ProjectDirs::from("dev", "cattery", "cattery")?;
                Some(Self {
                    root: None,
                    data: dirs.data_dir().to_owned(),
                    config: dirs.config_dir().to_owned(),
                })
            }
        }
    }
}
