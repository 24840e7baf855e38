//! Which home a client talks to. The files in it are laid out by
//! `cattery_protocol::home::Layout`, the same layout the daemon uses.

use cattery_protocol::home::{Layout, PROJECT};
use std::ops::Deref;
use std::path::PathBuf;

/// The home a client talks to: `--home`/`CATTERY_HOME`, else the platform dirs.
#[derive(Debug, Clone)]
pub struct Home {
    /// What to pass to `catteryd --home`, if anything.
    pub root: Option<PathBuf>,
    pub layout: Layout,
}

impl Home {
    pub fn resolve(root: Option<PathBuf>) -> Option<Self> {
        match root {
            Some(root) => Some(Self {
                layout: Layout::under(&root),
                root: Some(root),
            }),
            None => {
                let [qualifier, organisation, app] = PROJECT;
                let dirs = directories::ProjectDirs::from(qualifier, organisation, app)?;
                Some(Self {
                    root: None,
                    layout: Layout {
                        data: dirs.data_dir().to_owned(),
                        config: dirs.config_dir().to_owned(),
                    },
                })
            }
        }
    }
}

impl Deref for Home {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}
