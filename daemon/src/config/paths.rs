//! The daemon's view of its home: the layout every process shares (in
//! protocol), found from `--home` or the platform dirs.

pub use cattery_protocol::home::Layout as Paths;

/// The platform's data and config dirs, or `None` when no home directory
/// can be found.
pub fn platform() -> Option<Paths> {
    let [qualifier, organisation, app] = cattery_protocol::home::PROJECT;
    let dirs = directories::ProjectDirs::from(qualifier, organisation, app)?;
    Some(Paths {
        data: dirs.data_dir().to_owned(),
        config: dirs.config_dir().to_owned(),
    })
}
