//! The environment of every process the daemon starts: agents, provider
//! commands, the PR and push commands, the notify command and the CLIs'
//! `--version` probes. Each starts from an empty environment plus the
//! allow-listed variables of its purpose, so no vendor key, no cattery
//! secret and nothing else catteryd was started with reaches a child by
//! inheritance. What a child needs on top (a job's token, a provider's
//! `CATTERY_*` facts) its caller sets by name.

use std::ffi::OsString;

/// Why a child runs, which decides what it may inherit beyond the basics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An agent process, a local check or a test command: untrusted code.
    Agent,
    /// A CLI's `--version`.
    Probe,
    /// A CI or health provider, `git push` or `pr_command`: the user's own
    /// tools, run with the user's forge credentials, never a model's.
    Forge,
    /// `notify_command`: it may want the user's desktop session.
    Notify,
}

/// What any program needs to run as the user: where programs and home
/// are, who the user is, the locale, the terminal and the temp folder.
const BASIC: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
    "NO_COLOR",
];

/// Prefixes any child may inherit: the locale's parts, and the demo
/// agent's own knobs (its crash ledger), which hold no secret.
const BASIC_PREFIXES: &[&str] = &["LC_", "CATTERY_DEMO_"];

/// A forge command's credentials and network: the SSH agent, `gh`'s token
/// and config, git's askpass and ssh, proxies and CA bundles.
const FORGE: &[&str] = &[
    "SSH_AUTH_SOCK",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_HOST",
    "GH_CONFIG_DIR",
    "GH_ENTERPRISE_TOKEN",
    "XDG_CONFIG_HOME",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A notify command's way to the user's desktop.
const NOTIFY: &[&str] = &[
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
];

/// The variables of catteryd's own environment a child of `purpose` gets.
pub fn inherited(purpose: Purpose) -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(name, _)| name.to_str().is_some_and(|n| allowed(purpose, n)))
        .collect()
}

/// Whether a child of `purpose` may inherit the variable `name`.
pub fn allowed(purpose: Purpose, name: &str) -> bool {
    if crate::gateway::secrets::KEY_VARIABLES.contains(&name) {
        return false;
    }
    let extra: &[&str] = match purpose {
        Purpose::Agent | Purpose::Probe => &[],
        Purpose::Forge => FORGE,
        Purpose::Notify => NOTIFY,
    };
    BASIC.contains(&name)
        || extra.contains(&name)
        || BASIC_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A tokio command for `program` with only the allow-listed environment.
pub fn command(program: impl AsRef<std::ffi::OsStr>, purpose: Purpose) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.env_clear().envs(inherited(purpose));
    command
}

/// [`command`] for code that waits on a thread rather than a task.
pub fn blocking_command(
    program: impl AsRef<std::ffi::OsStr>,
    purpose: Purpose,
) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command.env_clear().envs(inherited(purpose));
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_purpose_inherits_a_vendor_key_or_an_unlisted_variable() {
        for purpose in [
            Purpose::Agent,
            Purpose::Probe,
            Purpose::Forge,
            Purpose::Notify,
        ] {
            for key in crate::gateway::secrets::KEY_VARIABLES {
                assert!(!allowed(purpose, key), "{purpose:?} inherits {key}");
            }
            assert!(!allowed(purpose, "AWS_SECRET_ACCESS_KEY"));
            assert!(!allowed(purpose, "CATTERY_TOKEN"));
            assert!(allowed(purpose, "PATH"));
            assert!(allowed(purpose, "LC_ALL"));
        }
        assert!(allowed(Purpose::Forge, "GH_TOKEN"));
        assert!(!allowed(Purpose::Agent, "GH_TOKEN"));
        assert!(!allowed(Purpose::Agent, "SSH_AUTH_SOCK"));
        assert!(allowed(Purpose::Notify, "DBUS_SESSION_BUS_ADDRESS"));
        assert!(!allowed(Purpose::Agent, "DBUS_SESSION_BUS_ADDRESS"));
    }
}
