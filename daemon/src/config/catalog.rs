//! Agent kinds and pipelines, from the embedded defaults overlaid by the
//! user's config dir. Every problem names the file, the line and the fix.

use super::assets::{AGENTS_TOML, PIPELINES};
use super::error::ConfigError;
use cattery_protocol::estimate::{Gating, OnMissingEstimate};
use cattery_protocol::gate::{GateCheck, GateSpec};
use cattery_protocol::home;
use cattery_protocol::review::{ConcernThreshold, ReviewSpec, ReviewSubject};
use cattery_protocol::tester::TestSpec;
use cattery_protocol::{AgentRole, CompanionSpec, Pipeline, Runner, StepSpec, WorkspaceMode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

const DEFAULT_THRESHOLD: f64 = 0.8;
const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS_LIMIT: u32 = 20;
/// The presets' `maxRequirementIterations`.
const DEFAULT_REVIEW_ITERATIONS: u32 = 6;
/// A step may run for a week at most; 0 would fail every step at once.
const TIMEOUT_LIMIT_SECS: u64 = 7 * 24 * 3600;

/// How one agent kind runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentDef {
    pub kind: String,
    pub command: Vec<String>,
    pub image: Option<String>,
    /// The command inside the image (the `docker` executor).
    pub image_command: Vec<String>,
    /// Extra environment for the agent, in a container or as a process.
    pub env: BTreeMap<String, String>,
    pub limits: ContainerLimits,
    pub timeout_secs: u64,
    /// What the agent does in a pipeline: `grader` when it is a companion,
    /// else as configured (default `producer`).
    pub role: AgentRole,
    pub companion_of: Option<String>,
    pub threshold: f64,
    pub max_attempts: u32,
    /// How the kind gets the run's worktree; by default from its role.
    pub workspace: WorkspaceMode,
    pub runner: Runner,
    /// How the agent CLI is run, for the CLI runners (`claude-code`,
    /// `codex`); `None` for `command`.
    pub cli: Option<CliRunner>,
    /// A job that prints nothing this long is killed as stalled (off when
    /// unset; 600 s for CLI runners).
    pub inactivity_secs: Option<u64>,
    /// A polling gate runs no agent of its own; its helper does the work.
    pub gate: Option<GateSpec>,
    /// A tester's fix loop: the fixer it sends and how often.
    pub test: Option<TestSpec>,
    /// A review gate: its subject, writer and the preset's cap and threshold.
    pub review: Option<ReviewSpec>,
}

/// How an agent CLI is run for a kind.
#[derive(Debug, Clone, PartialEq)]
pub struct CliRunner {
    pub runner: Runner,
    /// The program (default: `claude` or `codex` on PATH).
    pub binary: String,
    pub model: Option<String>,
    /// Claude Code's `--max-turns`, mandatory for it: a CLI left to itself
    /// can loop on its own continuations. Codex has no such limit (0); its
    /// step's timeout and inactivity limit bound it.
    pub max_turns: u64,
    /// The CLI's own retries of a failed API call (default 2).
    pub max_retries: u64,
}

/// The image CLI-runner kinds run in unless they name one: Claude Code and
/// Codex on Debian (`assets/images/agent`).
pub const AGENT_IMAGE: &str = "cattery/agent:latest";

/// The container networks a kind may name.
const NETWORKS: [&str; 4] = ["gateway", "none", "bridge", "host"];

/// Resource limits and isolation for an agent's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerLimits {
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    /// Docker network mode: `gateway` (an internal network that reaches
    /// only the daemon's model gateway; the default for CLI runners),
    /// `none` (the default for `command` kinds), `bridge` or `host`.
    pub network: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub agents: BTreeMap<String, AgentDef>,
    pub pipelines: BTreeMap<String, Pipeline>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentFields {
    command: Option<Vec<String>>,
    image: Option<String>,
    image_command: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    memory_mb: Option<u64>,
    cpus: Option<f64>,
    pids_limit: Option<i64>,
    network: Option<String>,
    timeout_secs: Option<u64>,
    role: Option<AgentRole>,
    companion_of: Option<String>,
    threshold: Option<f64>,
    max_attempts: Option<u32>,
    workspace: Option<WorkspaceMode>,
    runner: Option<Runner>,
    /// The CLI runners' settings.
    binary: Option<String>,
    model: Option<String>,
    max_turns: Option<u64>,
    max_retries: Option<u64>,
    inactivity_secs: Option<u64>,
    /// A polling gate's settings: what it checks, its helper, its poll
    /// interval and budget, and a release watch window.
    gate: Option<GateCheck>,
    helper: Option<String>,
    poll_secs: Option<u64>,
    max_polls: Option<u32>,
    watch_window_minutes: Option<u64>,
    /// The same window in seconds, for short watches (and tests).
    watch_window_secs: Option<u64>,
    /// A tester's fixer kind (default `fixer`).
    fixer: Option<String>,
    /// A review gate's subject (`requirements` or `clarity`) and the kind
    /// that folds the answers in.
    review: Option<ReviewSubject>,
    writer: Option<String>,
}

impl AgentFields {
    fn overlay(self, over: AgentFields) -> AgentFields {
        AgentFields {
            command: over.command.or(self.command),
            image: over.image.or(self.image),
            image_command: over.image_command.or(self.image_command),
            env: over.env.or(self.env),
            memory_mb: over.memory_mb.or(self.memory_mb),
            cpus: over.cpus.or(self.cpus),
            pids_limit: over.pids_limit.or(self.pids_limit),
            network: over.network.or(self.network),
            timeout_secs: over.timeout_secs.or(self.timeout_secs),
            role: over.role.or(self.role),
            companion_of: over.companion_of.or(self.companion_of),
            threshold: over.threshold.or(self.threshold),
            max_attempts: over.max_attempts.or(self.max_attempts),
            workspace: over.workspace.or(self.workspace),
            runner: over.runner.or(self.runner),
            binary: over.binary.or(self.binary),
            model: over.model.or(self.model),
            max_turns: over.max_turns.or(self.max_turns),
            max_retries: over.max_retries.or(self.max_retries),
            inactivity_secs: over.inactivity_secs.or(self.inactivity_secs),
            gate: over.gate.or(self.gate),
            helper: over.helper.or(self.helper),
            poll_secs: over.poll_secs.or(self.poll_secs),
            max_polls: over.max_polls.or(self.max_polls),
            watch_window_minutes: over.watch_window_minutes.or(self.watch_window_minutes),
            watch_window_secs: over.watch_window_secs.or(self.watch_window_secs),
            fixer: over.fixer.or(self.fixer),
            review: over.review.or(self.review),
            writer: over.writer.or(self.writer),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    defaults: AgentFields,
    #[serde(default)]
    agents: BTreeMap<String, Spanned<AgentFields>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    #[serde(default)]
    description: String,
    steps: Spanned<Vec<Spanned<StepFields>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFields {
    agent: Spanned<String>,
    #[serde(default)]
    requires_approval: bool,
    threshold: Option<Spanned<f64>>,
    max_attempts: Option<Spanned<u32>>,
    timeout_secs: Option<Spanned<u64>>,
    /// An estimate gate: the step runs iff any axis meets its threshold.
    min_complexity: Option<Spanned<f64>>,
    min_risk: Option<Spanned<f64>>,
    min_impact: Option<Spanned<f64>>,
    on_missing_estimate: Option<OnMissingEstimate>,
    /// A review gate's cap and tolerated severity (the preset's 6 and
    /// `none` when unset).
    max_iterations: Option<Spanned<u32>>,
    concern_threshold: Option<ConcernThreshold>,
}

/// A file's text with the name used in error messages.
struct Source<'a> {
    label: String,
    text: &'a str,
}

impl Source<'_> {
    fn error<T>(&self, span: Option<usize>, message: String, fix: &str) -> Result<T, ConfigError> {
        Err(ConfigError::at(&self.label, self.text, span, message, fix))
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|e| ConfigError::parse(&self.label, self.text, &e))
    }
}

impl Catalog {
    /// Embedded defaults, overridden by `agents.toml` and `pipelines/*.toml`
    /// in `config_dir` when present. `{assets}` in commands becomes `assets_dir`.
    pub fn load(config_dir: Option<&Path>, assets_dir: &Path) -> Result<Self, ConfigError> {
        let user_agents = config_dir.map(|d| d.join(home::AGENTS_FILE));
        let user_text = read_optional(user_agents.as_deref())?;
        let agents = match (&user_agents, &user_text) {
            (Some(path), Some(text)) => Some((path.display().to_string(), text.as_str())),
            _ => None,
        };
        let pipelines = match config_dir {
            Some(dir) => user_pipelines(&dir.join(home::PIPELINES_DIR))?,
            None => Vec::new(),
        };
        let pipelines: Vec<(&str, String, &str)> = pipelines
            .iter()
            .map(|(id, label, text)| (id.as_str(), label.clone(), text.as_str()))
            .collect();
        Self::from_texts(agents, &pipelines, assets_dir)
    }

    /// The catalog the built-in files give with a user's `agents.toml` text
    /// (and its label) and pipeline texts (id, label, text) laid over them.
    pub fn from_texts(
        user_agents: Option<(String, &str)>,
        user_pipelines: &[(&str, String, &str)],
        assets_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let embedded = Source {
            label: "assets/agents.toml (built in)".to_owned(),
            text: AGENTS_TOML,
        };
        let mut agents_file: AgentsFile = embedded.parse()?;
        let mut spans = BTreeMap::new();
        if let Some((label, text)) = &user_agents {
            let source = Source {
                label: label.clone(),
                text,
            };
            let user: AgentsFile = source.parse()?;
            agents_file.defaults = agents_file.defaults.clone().overlay(user.defaults);
            for (kind, fields) in user.agents {
                spans.insert(kind.clone(), (fields.span().start, true));
                let base = agents_file
                    .agents
                    .remove(&kind)
                    .map(Spanned::into_inner)
                    .unwrap_or_default();
                let merged = base.overlay(fields.into_inner());
                agents_file.agents.insert(kind, Spanned::new(0..0, merged));
            }
        }
        let agents = resolve_agents(
            agents_file,
            &spans,
            &embedded,
            user_agents
                .as_ref()
                .map(|(label, _)| Path::new(label.as_str())),
            user_agents.as_ref().map(|(_, text)| *text),
            assets_dir,
        )?;
        let mut catalog = Catalog {
            agents,
            pipelines: BTreeMap::new(),
        };
        for (id, text) in PIPELINES {
            let source = Source {
                label: format!("assets/pipelines/{id}.toml (built in)"),
                text,
            };
            catalog.add_pipeline(id, &source)?;
        }
        for (id, label, text) in user_pipelines {
            let source = Source {
                label: label.clone(),
                text,
            };
            catalog.add_pipeline(id, &source)?;
        }
        Ok(catalog)
    }

    fn add_pipeline(&mut self, id: &str, source: &Source) -> Result<(), ConfigError> {
        let file: PipelineFile = source.parse()?;
        if file.steps.get_ref().is_empty() {
            return source.error(
                Some(file.steps.span().start),
                format!("pipeline `{id}` has no steps"),
                "add at least one [[steps]] table with an `agent`",
            );
        }
        let mut steps: Vec<StepSpec> = Vec::new();
        for step in file.steps.into_inner() {
            let spec = self.step_spec(step.into_inner(), &steps, source)?;
            steps.push(spec);
        }
        let pipeline = Pipeline {
            id: id.to_owned(),
            name: file.name,
            description: file.description,
            steps,
        };
        self.pipelines.insert(id.to_owned(), pipeline);
        Ok(())
    }

    fn step_spec(
        &self,
        step: StepFields,
        earlier: &[StepSpec],
        source: &Source,
    ) -> Result<StepSpec, ConfigError> {
        let kind = step.agent.get_ref().clone();
        let at = Some(step.agent.span().start);
        let Some(agent) = self.agents.get(&kind) else {
            let known: Vec<_> = self.agents.keys().map(String::as_str).collect();
            return source.error(
                at,
                format!("unknown agent kind `{kind}`"),
                &format!(
                    "use one of: {}; or define [agents.{kind}] in agents.toml",
                    known.join(", ")
                ),
            );
        };
        let mut gate = agent.gate.clone();
        let companion = match &agent.companion_of {
            Some(producer) => Some(companion_spec(agent, producer, &step, earlier, source)?),
            None if gate.is_some() && step.threshold.is_none() => {
                if let (Some(spec), Some(max)) = (gate.as_mut(), &step.max_attempts) {
                    if *max.get_ref() > MAX_ATTEMPTS_LIMIT {
                        return source.error(
                            Some(max.span().start),
                            format!(
                                "max_attempts {} is more than {MAX_ATTEMPTS_LIMIT}",
                                max.get_ref()
                            ),
                            "use a small helper budget, such as 3 (0: no helper)",
                        );
                    }
                    spec.max_attempts = *max.get_ref();
                }
                None
            }
            None => {
                if let Some(extra) = step
                    .threshold
                    .as_ref()
                    .map(|t| t.span().start)
                    .or(step.max_attempts.as_ref().map(|m| m.span().start))
                {
                    return source.error(
                        Some(extra),
                        format!(
                            "`{kind}` is not a companion, so it takes no threshold or max_attempts"
                        ),
                        "remove those keys, or set companion_of for this kind in agents.toml",
                    );
                }
                None
            }
        };
        let timeout_secs = match &step.timeout_secs {
            Some(t) => checked_timeout(*t.get_ref(), source, t.span().start)?,
            None => agent.timeout_secs,
        };
        let gating = gating_of(agent, &step, earlier, source)?;
        let review = review_of(agent, &step, source)?;
        Ok(StepSpec {
            agent_kind: kind,
            role: agent.role,
            requires_approval: step.requires_approval,
            companion,
            timeout_secs,
            gate,
            test: agent.test.clone(),
            gating,
            review,
        })
    }
}

/// A step's estimate gate, refused as the reference refuses one: on a
/// kind that cannot be skipped (a merger, a polling gate, the estimator),
/// with no threshold, or with no estimator step before it.
fn gating_of(
    agent: &AgentDef,
    step: &StepFields,
    earlier: &[StepSpec],
    source: &Source,
) -> Result<Option<Gating>, ConfigError> {
    let kind = &agent.kind;
    let at = Some(step.agent.span().start);
    let mut gating = Gating {
        on_missing_estimate: step.on_missing_estimate.unwrap_or_default(),
        ..Gating::default()
    };
    for (value, slot) in [
        (&step.min_complexity, &mut gating.min_complexity),
        (&step.min_risk, &mut gating.min_risk),
        (&step.min_impact, &mut gating.min_impact),
    ] {
        let Some(value) = value else { continue };
        if !(0.0..=1.0).contains(value.get_ref()) {
            return source.error(
                Some(value.span().start),
                format!("estimate threshold {} is outside 0..1", value.get_ref()),
                "use a score between 0.0 and 1.0, such as min_complexity = 0.4",
            );
        }
        *slot = Some(*value.get_ref());
    }
    if !gating.has_thresholds() {
        if step.on_missing_estimate.is_some() {
            return source.error(
                at,
                format!(
                    "step `{kind}` sets on_missing_estimate but no threshold, so it would never run"
                ),
                "add min_complexity, min_risk or min_impact, or remove on_missing_estimate",
            );
        }
        return Ok(None);
    }
    let ungatable = match (agent.gate.is_some(), agent.role) {
        (true, _) => Some("a polling gate"),
        (false, AgentRole::Merger) => Some("the merger"),
        (false, AgentRole::Estimator) => Some("the estimator itself"),
        _ => None,
    };
    if let Some(what) = ungatable {
        return source.error(
            at,
            format!("step `{kind}` is {what}, which an estimate cannot skip"),
            "remove min_complexity, min_risk, min_impact and on_missing_estimate from this step",
        );
    }
    if !earlier.iter().any(|s| s.role == AgentRole::Estimator) {
        return source.error(
            at,
            format!("step `{kind}` is gated on the task's estimate, but no estimator step comes before it"),
            "add a `task-estimator` step (role = \"estimator\") earlier in the pipeline",
        );
    }
    Ok(Some(gating))
}

/// A review kind's spec with this step's cap and threshold.
fn review_of(
    agent: &AgentDef,
    step: &StepFields,
    source: &Source,
) -> Result<Option<ReviewSpec>, ConfigError> {
    let Some(mut review) = agent.review.clone() else {
        if let Some(max) = &step.max_iterations {
            return source.error(
                Some(max.span().start),
                format!("`{}` is not a review gate, so it takes no max_iterations", agent.kind),
                "remove max_iterations, or set review = \"requirements\" for this kind in agents.toml",
            );
        }
        return Ok(None);
    };
    if let Some(max) = &step.max_iterations {
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(max.get_ref()) {
            return source.error(
                Some(max.span().start),
                format!(
                    "max_iterations {} is outside 1..={MAX_ATTEMPTS_LIMIT}",
                    max.get_ref()
                ),
                "use a small number of review passes, such as the preset's 6",
            );
        }
        review.max_iterations = *max.get_ref();
    }
    if let Some(threshold) = step.concern_threshold {
        review.concern_threshold = threshold;
    }
    Ok(Some(review))
}

fn companion_spec(
    agent: &AgentDef,
    producer: &str,
    step: &StepFields,
    earlier: &[StepSpec],
    source: &Source,
) -> Result<CompanionSpec, ConfigError> {
    let at = Some(step.agent.span().start);
    if !earlier.iter().any(|s| s.agent_kind == producer) {
        return source.error(
            at,
            format!(
                "`{}` grades `{producer}`, but no `{producer}` step comes before it",
                agent.kind
            ),
            &format!("add a `{producer}` step earlier in the pipeline, or remove this step"),
        );
    }
    // A rework re-runs producer..=companion; steps in between would re-run
    // too, and the human would review work the grader never saw.
    if let Some(previous) = earlier.last().filter(|s| s.agent_kind != producer) {
        return source.error(
            at,
            format!(
                "a companion must run immediately after the step it grades: `{}` grades `{producer}`, but `{}` runs between them",
                agent.kind, previous.agent_kind
            ),
            &format!("move this step to just after the `{producer}` step"),
        );
    }
    let threshold = step
        .threshold
        .as_ref()
        .map_or(agent.threshold, |t| *t.get_ref());
    if !(0.0..=1.0).contains(&threshold) {
        let span = step.threshold.as_ref().map(|t| t.span().start).or(at);
        return source.error(
            span,
            format!("threshold {threshold} is outside 0..1"),
            "use a rating between 0.0 and 1.0, such as 0.8",
        );
    }
    let max_attempts = step
        .max_attempts
        .as_ref()
        .map_or(agent.max_attempts, |m| *m.get_ref());
    if max_attempts > MAX_ATTEMPTS_LIMIT {
        let span = step.max_attempts.as_ref().map(|m| m.span().start).or(at);
        return source.error(
            span,
            format!("max_attempts {max_attempts} is more than {MAX_ATTEMPTS_LIMIT}"),
            "use a small number of automatic rework rounds, such as 3",
        );
    }
    Ok(CompanionSpec {
        producer_kind: producer.to_owned(),
        threshold,
        max_attempts,
    })
}

fn resolve_agents(
    file: AgentsFile,
    user_spans: &BTreeMap<String, (usize, bool)>,
    embedded: &Source,
    user_path: Option<&Path>,
    user_text: Option<&str>,
    assets_dir: &Path,
) -> Result<BTreeMap<String, AgentDef>, ConfigError> {
    let kinds: Vec<String> = file.agents.keys().cloned().collect();
    let mut agents = BTreeMap::new();
    for (kind, fields) in file.agents {
        let span = fields.span().start;
        // A CLI kind's image is its own or the agent image, never the
        // [defaults] one (which runs the demo agent).
        let own_image = fields.get_ref().image.clone();
        let own_network = fields.get_ref().network.clone();
        let fields = file.defaults.clone().overlay(fields.into_inner());
        let source = match (user_spans.get(&kind), user_path, user_text) {
            (Some(&(offset, _)), Some(path), Some(text)) => (
                Source {
                    label: path.display().to_string(),
                    text,
                },
                offset,
            ),
            _ => (
                Source {
                    label: embedded.label.clone(),
                    text: embedded.text,
                },
                span,
            ),
        };
        let (source, offset) = source;
        let gate = gate_spec(&kind, &fields, &kinds, &source, offset)?;
        let role = role_of(
            &kind,
            fields.role,
            fields.companion_of.as_deref(),
            &source,
            offset,
        )?;
        let test = test_spec(&kind, role, &fields, &kinds, &source, offset)?;
        let review = review_spec(&kind, &fields, &kinds, &source, offset)?;
        let command: Vec<String> = fields
            .command
            .unwrap_or_default()
            .into_iter()
            .map(|part| part.replace("{assets}", &assets_dir.display().to_string()))
            .collect();
        let runner = fields.runner.unwrap_or_default();
        let cli = match runner {
            Runner::Command | Runner::TestCommand => None,
            Runner::Codex => Some(CliRunner {
                runner,
                binary: fields.binary.clone().unwrap_or_else(|| "codex".to_owned()),
                model: fields.model.clone(),
                max_turns: 0,
                max_retries: fields.max_retries.unwrap_or(2),
            }),
            Runner::ClaudeCode => {
                let Some(max_turns) = fields.max_turns.filter(|t| *t > 0) else {
                    return source.error(
                        Some(offset),
                        format!("agent `{kind}` runs Claude Code but sets no max_turns"),
                        "set max_turns = 20 (or what the kind needs): a CLI with no turn limit can loop on its own continuations",
                    );
                };
                Some(CliRunner {
                    runner,
                    binary: fields.binary.clone().unwrap_or_else(|| "claude".to_owned()),
                    model: fields.model.clone(),
                    max_turns,
                    max_retries: fields.max_retries.unwrap_or(2),
                })
            }
        };
        if command.is_empty() && runner == Runner::Command {
            return source.error(
                Some(offset),
                format!("agent `{kind}` has no command"),
                "set `command = [\"program\", \"arg\"]` for it or under [defaults]",
            );
        }
        if let Some(producer) = fields.companion_of.as_ref().filter(|p| !kinds.contains(p)) {
            return source.error(
                Some(offset),
                format!(
                    "agent `{kind}` is a companion of `{producer}`, which is not a known agent kind"
                ),
                &format!("define [agents.{producer}], or fix companion_of"),
            );
        }

        let limits = ContainerLimits {
            memory_mb: fields.memory_mb.unwrap_or(512),
            cpus: fields.cpus.unwrap_or(1.0),
            pids: fields.pids_limit.unwrap_or(256),
            network: match cli.is_some() {
                true => own_network.unwrap_or_else(|| "gateway".to_owned()),
                false => fields.network.unwrap_or_else(|| "none".to_owned()),
            },
        };
        if !NETWORKS.contains(&limits.network.as_str()) {
            return source.error(
                Some(offset),
                format!("agent `{kind}` has network = {:?}", limits.network),
                "use network = \"gateway\" (reaches only the model gateway), \"none\", \"bridge\" or \"host\"",
            );
        }
        if limits.memory_mb < 6 || !(limits.cpus > 0.0 && limits.cpus <= 1024.0) || limits.pids < 1
        {
            return source.error(
                Some(offset),
                format!(
                    "agent `{kind}` has a memory, cpus or pids_limit out of range (too small to run anything, or cpus above 1024)"
                ),
                "use at least memory_mb = 6, cpus between 0 and 1024 and pids_limit >= 1",
            );
        }
        agents.insert(
            kind.clone(),
            AgentDef {
                kind,
                command,
                // CLI runners default to the agent image (scripts/build-agent-image.sh).
                image: match cli.is_some() {
                    true => Some(own_image.unwrap_or_else(|| AGENT_IMAGE.to_owned())),
                    false => fields.image,
                },
                image_command: fields.image_command.unwrap_or_default(),
                env: fields.env.unwrap_or_default(),
                limits,
                timeout_secs: checked_timeout(fields.timeout_secs.unwrap_or(600), &source, offset)?,
                role,
                companion_of: fields.companion_of,
                threshold: fields.threshold.unwrap_or(DEFAULT_THRESHOLD),
                max_attempts: fields.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                workspace: fields.workspace.unwrap_or(role.workspace()),
                runner,
                cli,
                inactivity_secs: fields
                    .inactivity_secs
                    .filter(|s| *s > 0)
                    .or((runner != Runner::Command).then_some(600)),
                gate,
                test,
                review,
            },
        );
    }
    Ok(agents)
}

/// A gate kind's spec, with the reference's budgets where agents.toml
/// sets none (conflicts 3, ci 10, post-release-health 1 and a 30-minute
/// watch) and its poll budget (every 30 s, 120 polls).
fn gate_spec(
    kind: &str,
    fields: &AgentFields,
    kinds: &[String],
    source: &Source,
    offset: usize,
) -> Result<Option<GateSpec>, ConfigError> {
    let Some(gate) = fields.gate else {
        if fields.helper.is_some() || fields.poll_secs.is_some() || fields.max_polls.is_some() {
            return source.error(
                Some(offset),
                format!("agent `{kind}` sets a gate's helper or polling but no `gate`"),
                "add gate = \"conflicts\", \"ci\" or \"post-release-health\", or remove helper, poll_secs and max_polls",
            );
        }
        return Ok(None);
    };
    if fields.companion_of.is_some() {
        return source.error(
            Some(offset),
            format!("agent `{kind}` is a gate, so it cannot grade another step"),
            "remove companion_of, or remove gate",
        );
    }
    if let Some(helper) = fields
        .helper
        .as_ref()
        .filter(|h| !kinds.contains(h) || *h == kind)
    {
        return source.error(
            Some(offset),
            format!("gate `{kind}` names helper `{helper}`, which is not another known agent kind"),
            &format!("define [agents.{helper}] (role = \"gate-helper\"), or fix helper"),
        );
    }
    let max_attempts = fields.max_attempts.unwrap_or(match gate {
        GateCheck::Conflicts => 3,
        GateCheck::Ci => 10,
        GateCheck::PostReleaseHealth => 1,
    });
    if max_attempts > MAX_ATTEMPTS_LIMIT {
        return source.error(
            Some(offset),
            format!(
                "gate `{kind}` has max_attempts {max_attempts}, more than {MAX_ATTEMPTS_LIMIT}"
            ),
            "use a small helper budget, such as 3",
        );
    }
    let poll_secs = fields.poll_secs.unwrap_or(30);
    let max_polls = fields.max_polls.unwrap_or(120);
    if poll_secs == 0 || poll_secs > 24 * 3600 || max_polls == 0 {
        return source.error(
            Some(offset),
            format!("gate `{kind}` has poll_secs {poll_secs} and max_polls {max_polls}"),
            "use poll_secs between 1 and 86400 and max_polls of at least 1, such as 30 and 120",
        );
    }
    let default_minutes = match gate {
        GateCheck::PostReleaseHealth => 30,
        _ => 0,
    };
    let watch_secs = fields
        .watch_window_secs
        .or(fields.watch_window_minutes.map(|m| m * 60))
        .unwrap_or(default_minutes * 60);
    if watch_secs > 10_080 * 60 {
        return source.error(
            Some(offset),
            format!("gate `{kind}` watches for {watch_secs} s, more than a week"),
            "use watch_window_minutes between 1 and 10080",
        );
    }
    Ok(Some(GateSpec {
        kind: gate,
        helper: fields.helper.clone(),
        max_attempts,
        poll_secs,
        max_polls,
        watch_window_secs: (watch_secs > 0).then_some(watch_secs),
    }))
}

/// A tester's fix loop: its fixer (default `fixer`) must be a kind, and
/// its budget (`max_attempts`, default 10, the reference's) is small.
fn test_spec(
    kind: &str,
    role: AgentRole,
    fields: &AgentFields,
    kinds: &[String],
    source: &Source,
    offset: usize,
) -> Result<Option<TestSpec>, ConfigError> {
    if role != AgentRole::Tester {
        if fields.fixer.is_some() {
            return source.error(
                Some(offset),
                format!("agent `{kind}` names a fixer but is not a tester"),
                "set role = \"tester\", or remove fixer",
            );
        }
        return Ok(None);
    }
    let fixer = fields.fixer.clone().unwrap_or_else(|| "fixer".to_owned());
    if !kinds.contains(&fixer) || fixer == kind {
        return source.error(
            Some(offset),
            format!("tester `{kind}` sends fixer `{fixer}`, which is not another known agent kind"),
            &format!("define [agents.{fixer}], or set fixer to a producer kind"),
        );
    }
    let max_attempts = fields.max_attempts.unwrap_or(10);
    if max_attempts > MAX_ATTEMPTS_LIMIT {
        return source.error(
            Some(offset),
            format!(
                "tester `{kind}` has max_attempts {max_attempts}, more than {MAX_ATTEMPTS_LIMIT}"
            ),
            "use a small fixer budget, such as 10",
        );
    }
    Ok(Some(TestSpec {
        fixer,
        max_attempts,
    }))
}

/// A review kind's writer (default `<subject>-writer`) must be another
/// kind; cap and threshold start at the preset's (6, `none`).
fn review_spec(
    kind: &str,
    fields: &AgentFields,
    kinds: &[String],
    source: &Source,
    offset: usize,
) -> Result<Option<ReviewSpec>, ConfigError> {
    let Some(subject) = fields.review else {
        if fields.writer.is_some() {
            return source.error(
                Some(offset),
                format!("agent `{kind}` names a writer but is not a review gate"),
                "set review = \"requirements\" or \"clarity\", or remove writer",
            );
        }
        return Ok(None);
    };
    if fields.gate.is_some() || fields.companion_of.is_some() {
        return source.error(
            Some(offset),
            format!("agent `{kind}` is a review gate, so it cannot also be a polling gate or a companion"),
            "remove gate and companion_of, or remove review",
        );
    }
    let writer = fields
        .writer
        .clone()
        .unwrap_or_else(|| format!("{}-writer", subject.as_str()));
    if !kinds.contains(&writer) || writer == kind {
        return source.error(
            Some(offset),
            format!(
                "review `{kind}` sends writer `{writer}`, which is not another known agent kind"
            ),
            &format!("define [agents.{writer}], or set writer to a producer kind"),
        );
    }
    Ok(Some(ReviewSpec {
        subject,
        writer,
        max_iterations: DEFAULT_REVIEW_ITERATIONS,
        concern_threshold: ConcernThreshold::None,
    }))
}

/// A step timeout in 1 s ..= a week.
fn checked_timeout(secs: u64, source: &Source, at: usize) -> Result<u64, ConfigError> {
    if (1..=TIMEOUT_LIMIT_SECS).contains(&secs) {
        return Ok(secs);
    }
    source.error(
        Some(at),
        format!("timeout_secs = {secs} is outside 1..={TIMEOUT_LIMIT_SECS} (a week)"),
        "give a step the seconds it may run, such as timeout_secs = 600",
    )
}

/// An agent's role: a companion grades, and only a companion may.
fn role_of(
    kind: &str,
    role: Option<AgentRole>,
    companion_of: Option<&str>,
    source: &Source,
    offset: usize,
) -> Result<AgentRole, ConfigError> {
    match (role, companion_of) {
        (None | Some(AgentRole::Grader), Some(_)) => Ok(AgentRole::Grader),
        (Some(role), Some(producer)) => source.error(
            Some(offset),
            format!(
                "agent `{kind}` grades `{producer}` (companion_of), so its role is grader, not {}",
                role.as_str()
            ),
            "remove `role`, or remove companion_of if it does not grade",
        ),
        (Some(AgentRole::Grader), None) => source.error(
            Some(offset),
            format!("agent `{kind}` has role grader but grades nothing"),
            "set companion_of to the kind it grades, or choose another role",
        ),
        (role, None) => Ok(role.unwrap_or_default()),
    }
}

/// The user's pipeline files, sorted: (id, label, text).
fn user_pipelines(dir: &Path) -> Result<Vec<(String, String, String)>, ConfigError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = read_optional(Some(&path))?.unwrap_or_default();
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((id, path.display().to_string(), text));
    }
    Ok(files)
}

fn read_optional(path: Option<&Path>) -> Result<Option<String>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
            fix: "check the file's permissions".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
