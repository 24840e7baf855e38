//! Assets compiled into the daemon so one binary runs anywhere.

use std::path::Path;

pub const AGENTS_TOML: &str = include_str!("../../../assets/agents.toml");

pub const PIPELINES: &[(&str, &str)] = &[
    (
        "quick",
        include_str!("../../../assets/pipelines/quick.toml"),
    ),
    (
        "build",
        include_str!("../../../assets/pipelines/build.toml"),
    ),
    (
        "bugfix",
        include_str!("../../../assets/pipelines/bugfix.toml"),
    ),
    ("full", include_str!("../../../assets/pipelines/full.toml")),
];

/// The demo's toy service, committed once into its repository.
pub const DEMO_REPOSITORY: &[(&str, &str)] = &[
    (
        "README.md",
        include_str!("../../../assets/demo-repo/README.md"),
    ),
    (
        "payments/__init__.py",
        include_str!("../../../assets/demo-repo/payments/__init__.py"),
    ),
    (
        "payments/api.py",
        include_str!("../../../assets/demo-repo/payments/api.py"),
    ),
    (
        "payments/ledger.py",
        include_str!("../../../assets/demo-repo/payments/ledger.py"),
    ),
    (
        "tests/test_ledger.py",
        include_str!("../../../assets/demo-repo/tests/test_ledger.py"),
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "agents/demo.sh",
        include_str!("../../../assets/agents/demo.sh"),
    ),
    (
        "providers/ci-gh.sh",
        include_str!("../../../assets/providers/ci-gh.sh"),
    ),
];

/// Writes the embedded files under `dir`, replacing older copies, so that
/// agent commands can name them through `{assets}`.
pub fn materialize_assets(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() != Some(*text) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(())
}
