//! Paths, embedded assets, and the agent and pipeline catalog.

mod assets;
mod catalog;
mod error;
mod paths;

pub use assets::materialize_assets;
pub use catalog::{AgentDef, Catalog};
pub use error::ConfigError;
pub use paths::Paths;
