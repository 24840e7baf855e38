//! `config.toml`: daemon-wide settings.

use super::error::ConfigError;
use super::policy::{
    Checker, LimitsConfig, LimitsFile, NotifyConfig, NotifyFile, PriceFile, SpendConfig, SpendFile,
    TranscriptConfig, TranscriptFile,
};
use serde::Deserialize;
use std::collections::BTreeMap;
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
    /// The subnet of the internal network `network = "gateway"` agents join.
    pub docker_gateway_subnet: String,
    /// The API's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub notify: NotifyConfig,
    pub spend: SpendConfig,
    pub limits: LimitsConfig,
    /// Opens a pull request for `merge = "pr"`: a program and its arguments,
    /// with `{branch}`, `{base}`, `{remote}`, `{title}` and `{body}` (a file
    /// holding the description) filled in. It prints the request's URL.
    pub pr_command: Vec<String>,
    /// Merges a pull request the merge policy lets through, with `{url}`,
    /// `{branch}`, `{base}` and `{remote}` filled in.
    pub pr_merge_command: Vec<String>,
    /// Who cattery's commits are by (`commit_author = "Name <email>"`);
    /// unset, each repository's own `user.name` and `user.email`.
    pub commit_author: Option<crate::git::Author>,
    /// Where the gateway sends Anthropic Messages calls.
    pub anthropic_url: String,
    /// Where the gateway sends OpenAI Responses and Chat Completions calls.
    pub openai_url: String,
    /// CA certificates (PEM) trusted for the upstreams besides the public
    /// roots: a company gateway's private CA.
    pub upstream_ca_file: Option<std::path::PathBuf>,
    pub transcripts: TranscriptConfig,
}

pub const DEFAULT_PORT: u16 = 7457;

pub const DEFAULT_GATEWAY_SUBNET: &str = "172.30.77.0/24";

pub const DEFAULT_ANTHROPIC_URL: &str = "https://api.anthropic.com";

pub const DEFAULT_OPENAI_URL: &str = "https://api.openai.com";

/// `gh pr merge`, for a pull request the merge policy lets through.
pub fn default_pr_merge_command() -> Vec<String> {
    ["gh", "pr", "merge", "{url}", "--merge"]
        .map(str::to_owned)
        .to_vec()
}

/// GitHub's CLI, which most of our users have signed in already.
pub fn default_pr_command() -> Vec<String> {
    [
        "gh",
        "pr",
        "create",
        "--head",
        "{branch}",
        "--base",
        "{base}",
        "--title",
        "{title}",
        "--body-file",
        "{body}",
    ]
    .map(str::to_owned)
    .to_vec()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            executor: ExecutorChoice::Auto,
            docker_socket: None,
            docker_gateway_subnet: DEFAULT_GATEWAY_SUBNET.to_owned(),
            port: DEFAULT_PORT,
            notify: NotifyConfig::default(),
            spend: SpendConfig::default(),
            limits: LimitsConfig::default(),
            pr_command: default_pr_command(),
            pr_merge_command: default_pr_merge_command(),
            commit_author: None,
            anthropic_url: DEFAULT_ANTHROPIC_URL.to_owned(),
            openai_url: DEFAULT_OPENAI_URL.to_owned(),
            upstream_ca_file: None,
            transcripts: TranscriptConfig::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    executor: Option<Spanned<String>>,
    docker_socket: Option<String>,
    docker_gateway_subnet: Option<String>,
    port: Option<u16>,
    notify: Option<NotifyFile>,
    spend: Option<SpendFile>,
    #[serde(default)]
    prices: BTreeMap<String, PriceFile>,
    limits: Option<LimitsFile>,
    pr_command: Option<Spanned<Vec<String>>>,
    pr_merge_command: Option<Spanned<Vec<String>>>,
    commit_author: Option<Spanned<String>>,
    anthropic_url: Option<String>,
    openai_url: Option<String>,
    upstream_ca_file: Option<std::path::PathBuf>,
    transcripts: Option<TranscriptFile>,
}

impl Settings {
    /// Reads `config.toml` in `config_dir`; a missing file means defaults.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        let path = config_dir.join(cattery_protocol::home::SETTINGS_FILE);
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
        Self::parse(&path.display().to_string(), &text)
    }

    /// The settings a `config.toml` text gives; `label` names it in errors.
    pub fn parse(label: &str, text: &str) -> Result<Self, ConfigError> {
        let file: SettingsFile =
            toml::from_str(text).map_err(|e| ConfigError::parse(label, text, &e))?;
        let executor = match file.executor {
            None => ExecutorChoice::Auto,
            Some(choice) => match choice.get_ref().as_str() {
                "auto" => ExecutorChoice::Auto,
                "docker" => ExecutorChoice::Docker,
                "process" => ExecutorChoice::Process,
                other => {
                    return Err(ConfigError::at(
                        label,
                        text,
                        Some(choice.span().start),
                        format!("unknown executor `{other}`"),
                        "use executor = \"auto\", \"docker\" or \"process\"",
                    ));
                }
            },
        };
        let pr_command = match file.pr_command {
            None => default_pr_command(),
            Some(command) if command.get_ref().is_empty() => {
                return Err(ConfigError::at(
                    label,
                    text,
                    Some(command.span().start),
                    "pr_command is empty".to_owned(),
                    "name the program that opens a pull request, such as pr_command = [\"gh\", \"pr\", \"create\", \"--head\", \"{branch}\", \"--base\", \"{base}\", \"--title\", \"{title}\", \"--body-file\", \"{body}\"], or leave it out",
                ));
            }
            Some(command) => command.into_inner(),
        };
        let pr_merge_command = match file.pr_merge_command {
            None => default_pr_merge_command(),
            Some(command) if command.get_ref().is_empty() => {
                return Err(ConfigError::at(
                    label,
                    text,
                    Some(command.span().start),
                    "pr_merge_command is empty".to_owned(),
                    "name the program that merges a pull request, such as pr_merge_command = [\"gh\", \"pr\", \"merge\", \"{url}\", \"--merge\"], or leave it out",
                ));
            }
            Some(command) => command.into_inner(),
        };
        let commit_author = match file.commit_author {
            None => None,
            Some(given) => Some(crate::git::Author::parse(given.get_ref()).ok_or_else(|| {
                ConfigError::at(
                    label,
                    text,
                    Some(given.span().start),
                    format!("commit_author = {:?} is not `Name <email>`", given.get_ref()),
                    "write it as commit_author = \"Ana Lima <ana@example.com>\", or leave it out to use each repository's own user.name and user.email",
                )
            })?),
        };
        let check = Checker { label, text };
        Ok(Self {
            pr_command,
            pr_merge_command,
            commit_author,
            anthropic_url: file
                .anthropic_url
                .unwrap_or_else(|| DEFAULT_ANTHROPIC_URL.to_owned()),
            openai_url: file
                .openai_url
                .unwrap_or_else(|| DEFAULT_OPENAI_URL.to_owned()),
            upstream_ca_file: file.upstream_ca_file,
            executor,
            docker_socket: file.docker_socket,
            docker_gateway_subnet: file
                .docker_gateway_subnet
                .unwrap_or_else(|| DEFAULT_GATEWAY_SUBNET.to_owned()),
            port: file.port.unwrap_or(DEFAULT_PORT),
            notify: check.notify(file.notify)?,
            spend: check.spend(file.spend, file.prices)?,
            limits: check.limits(file.limits)?,
            transcripts: check.transcripts(file.transcripts)?,
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
    fn notify_spend_prices_and_limits_parse() {
        let text = "[notify]\nescalate_after_minutes = 30\nnotify_command = [\"/bin/page\", \"-q\"]\n\n[spend]\nmonthly_budget = 25.5\ncurrency = \"USD\"\n\n[prices.\"demo-large\"]\nprompt_per_million = 3.0\ncompletion_per_million = 15.0\n\n[limits]\nrunning_per_frame = 2\n[limits.per_pipeline]\nbuild = 1\n";
        let s = load(text).unwrap();
        assert_eq!(s.notify.escalate_after_minutes, 30);
        assert_eq!(s.notify.notify_command.unwrap(), ["/bin/page", "-q"]);
        assert_eq!(s.spend.monthly_budget, 25.5);
        assert_eq!(s.spend.prices["demo-large"].completion_per_million, 15.0);
        assert_eq!(s.limits.running_per_frame, Some(2));
        assert_eq!(s.limits.per_pipeline["build"], 1);
        assert_eq!(load("").unwrap().notify.escalate_after_minutes, 120);
    }

    #[test]
    fn transcript_bounds_parse_and_a_zero_bound_is_refused_at_its_line() {
        let s = load("[transcripts]\nmax_mb_per_job = 2\nkeep_days = 3\n").unwrap();
        assert_eq!(s.transcripts.max_bytes_per_job, 2 << 20);
        assert_eq!(s.transcripts.keep_days, 3);
        assert_eq!(load("").unwrap().transcripts, TranscriptConfig::default());
        let err = load("[transcripts]\n\nmax_mb_per_job = 0\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn a_negative_or_absurd_budget_is_refused_at_its_line() {
        for bad in ["-5.0", "1e300", "nan"] {
            let err = load(&format!("[spend]\n\nmonthly_budget = {bad}\n")).unwrap_err();
            assert_eq!(err.line, Some(3), "{bad}: {err}");
            assert!(err.message.contains("monthly_budget"), "{err}");
        }
        let err = load("[notify]\nescalate_after_minutes = 0\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        let err = load("[prices.m]\nprompt_per_million = -1.0\ncompletion_per_million = 1.0\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        let err = load("[limits]\nrunning_per_frame = 0\n").unwrap_err();
        assert!(err.fix.contains("from 1"), "{err}");
    }

    #[test]
    fn an_unknown_executor_is_refused_at_its_line() {
        let err = load("\nexecutor = \"podman\"\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("podman"), "{err}");
        assert!(err.fix.contains("\"docker\""), "{err}");
    }

    #[test]
    fn commit_author_reads_name_and_email_and_anything_else_is_refused_at_its_line() {
        let set = load("commit_author = \"Ana Lima <ana@example.com>\"\n").unwrap();
        let who = set.commit_author.unwrap();
        assert_eq!(
            (who.name.as_str(), who.email.as_str()),
            ("Ana Lima", "ana@example.com")
        );
        assert_eq!(load("").unwrap().commit_author, None);
        let err = load("\n\ncommit_author = \"ana\"\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.fix.contains("Name <email>") || err.message.contains("Name <email>"),
            "{err}"
        );
    }

    #[test]
    fn pr_command_defaults_to_gh_and_an_empty_one_is_refused_at_its_line() {
        assert_eq!(load("").unwrap().pr_command[0], "gh");
        let own = load("pr_command = [\"glab\", \"mr\", \"create\"]\n").unwrap();
        assert_eq!(own.pr_command, ["glab", "mr", "create"]);
        let err = load("\npr_command = []\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("pr_command is empty"), "{err}");
    }
}
