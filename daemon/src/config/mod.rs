//! Paths, embedded assets, and the agent and pipeline catalog.

mod assets;
mod catalog;
mod error;
mod paths;
mod policy;
mod settings;

pub use assets::{DEMO_REPOSITORY, materialize_assets};
pub use catalog::{AgentDef, Catalog, CliRunner, ContainerLimits};
pub use error::ConfigError;
pub use paths::{Paths, platform as platform_paths};
pub use policy::{LimitsConfig, NotifyConfig, Price, SpendConfig, TranscriptConfig};
pub use settings::{ExecutorChoice, Settings, default_pr_command, default_pr_merge_command};
