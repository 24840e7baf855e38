use super::*;
use std::path::PathBuf;

fn load_with(files: &[(&str, &str)]) -> Result<Catalog, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Catalog::load(Some(dir.path()), &PathBuf::from("/opt/assets"))
}

#[test]
fn embedded_pipelines_load_with_their_gates_and_companions() {
    let catalog = load_with(&[]).unwrap();
    let quick = &catalog.pipelines["quick"];
    let kinds: Vec<_> = quick.steps.iter().map(|s| s.agent_kind.as_str()).collect();
    assert_eq!(kinds, ["architect", "coder", "reviewer", "merger"]);
    assert!(quick.steps[0].requires_approval);
    let companion = quick.steps[2].companion.clone().unwrap();
    assert_eq!(companion.producer_kind, "coder");
    assert_eq!((companion.threshold, companion.max_attempts), (0.8, 3));
    let build: Vec<_> = catalog.pipelines["build"]
        .steps
        .iter()
        .map(|s| s.agent_kind.as_str())
        .collect();
    assert_eq!(
        build,
        [
            "architect",
            "architect-companion",
            "coder",
            "reviewer",
            "tester",
            "conflicts",
            "ci",
            "merger"
        ]
    );
    assert!(catalog.pipelines["bugfix"].steps[0].requires_approval);
    assert_eq!(
        catalog.agents["coder"].command,
        ["sh", "/opt/assets/agents/demo.sh"]
    );
}

#[test]
fn user_files_override_agents_and_pipelines() {
    let catalog = load_with(&[
        (
            "agents.toml",
            "[agents.coder]\ntimeout_secs = 5\ncommand = [\"my-coder\"]\nenv = { MODEL = \"big\" }\n",
        ),
        (
            "pipelines/quick.toml",
            "name = \"Mine\"\n[[steps]]\nagent = \"coder\"\n",
        ),
        (
            "pipelines/tiny.toml",
            "name = \"Tiny\"\n[[steps]]\nagent = \"merger\"\n",
        ),
    ])
    .unwrap();
    assert_eq!(catalog.agents["coder"].command, ["my-coder"]);
    assert_eq!(catalog.agents["coder"].env["MODEL"], "big");
    assert_eq!(catalog.agents["coder"].timeout_secs, 5);
    assert_eq!(
        catalog.agents["reviewer"].companion_of.as_deref(),
        Some("coder")
    );
    assert_eq!(catalog.pipelines["quick"].name, "Mine");
    assert_eq!(catalog.pipelines["quick"].steps[0].timeout_secs, 5);
    assert!(catalog.pipelines.contains_key("tiny"));
}

#[test]
fn bad_toml_names_the_file_and_line() {
    let err = load_with(&[(
        "pipelines/broken.toml",
        "name = \"x\"\n[[steps]\nagent = 1\n",
    )])
    .unwrap_err();
    assert!(err.file.ends_with("pipelines/broken.toml"), "{err}");
    assert_eq!(err.line, Some(2), "{err}");
    assert!(err.to_string().contains("invalid TOML"), "{err}");
    assert!(err.to_string().contains("fix:"), "{err}");
}

#[test]
fn an_unknown_agent_kind_is_refused_with_the_known_ones() {
    let text = "name = \"x\"\n\n[[steps]]\nagent = \"coder\"\n\n[[steps]]\nagent = \"codr\"\n";
    let err = load_with(&[("pipelines/typo.toml", text)]).unwrap_err();
    assert_eq!(err.line, Some(7), "{err}");
    assert!(err.message.contains("unknown agent kind `codr`"), "{err}");
    assert!(err.fix.contains("coder"), "{err}");
}

#[test]
fn a_companion_with_no_producer_before_it_is_refused() {
    let text = "name = \"x\"\n[[steps]]\nagent = \"reviewer\"\n[[steps]]\nagent = \"coder\"\n";
    let err = load_with(&[("pipelines/backwards.toml", text)]).unwrap_err();
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("grades `coder`"), "{err}");
    assert!(err.fix.contains("add a `coder` step earlier"), "{err}");
}

#[test]
fn a_companion_that_does_not_directly_follow_its_producer_is_refused_at_its_line() {
    let text = "name = \"x\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"tester\"\n[[steps]]\nagent = \"reviewer\"\n";
    let err = load_with(&[("pipelines/gap.toml", text)]).unwrap_err();
    assert!(err.file.ends_with("pipelines/gap.toml"), "{err}");
    assert_eq!(err.line, Some(7), "{err}");
    assert!(
        err.message
            .contains("a companion must run immediately after the step it grades"),
        "{err}"
    );
    assert!(err.message.contains("`tester` runs between them"), "{err}");
}

#[test]
fn an_out_of_range_threshold_is_refused_at_its_line() {
    let text = "name = \"x\"\n[[steps]]\nagent = \"coder\"\n[[steps]]\nagent = \"reviewer\"\nthreshold = 1.5\n";
    let err = load_with(&[("pipelines/strict.toml", text)]).unwrap_err();
    assert_eq!(err.line, Some(6), "{err}");
}

#[test]
fn an_unknown_key_is_refused() {
    let err = load_with(&[("agents.toml", "[agents.coder]\ncomand = [\"x\"]\n")]).unwrap_err();
    assert!(err.message.contains("comand"), "{err}");
    assert_eq!(err.line, Some(2), "{err}");
}

#[test]
fn built_in_kinds_have_their_roles_and_a_user_kind_takes_its_configured_role() {
    let catalog = load_with(&[("agents.toml", "[agents.merge-bot]\nrole = \"merger\"\n")]).unwrap();
    let role = |kind: &str| catalog.agents[kind].role;
    assert_eq!(role("merger"), AgentRole::Merger);
    assert_eq!(role("tester"), AgentRole::Tester);
    assert_eq!(role("reviewer"), AgentRole::Grader, "a companion grades");
    assert_eq!(role("coder"), AgentRole::Producer);
    assert_eq!(role("merge-bot"), AgentRole::Merger);
}

#[test]
fn a_misspelt_role_is_refused_with_the_file_line_and_the_roles_there_are() {
    let err = load_with(&[("agents.toml", "[agents.bot]\nrole = \"merge\"\n")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("agents.toml:2:"), "{text}");
    assert!(
        text.contains("merge") && text.contains("gate-helper"),
        "{text}"
    );
}

#[test]
fn a_role_that_contradicts_companion_of_is_refused() {
    let err = load_with(&[(
        "agents.toml",
        "[agents.bot]\ncompanion_of = \"coder\"\nrole = \"tester\"\n",
    )])
    .unwrap_err();
    assert!(err.to_string().contains("its role is grader"), "{err}");
    let err = load_with(&[("agents.toml", "[agents.bot]\nrole = \"grader\"\n")]).unwrap_err();
    assert!(err.to_string().contains("grades nothing"), "{err}");
}

#[test]
fn regression_a_zero_timeout_is_refused_at_load_with_file_and_line() {
    let err = load_with(&[("agents.toml", "[agents.coder]\ntimeout_secs = 0\n")]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("agents.toml:1:") && text.contains("timeout_secs = 0"),
        "{text}"
    );
    let err = load_with(&[(
        "pipelines/fast.toml",
        "name = \"Fast\"\n[[steps]]\nagent = \"coder\"\ntimeout_secs = 0\n",
    )])
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("fast.toml:4:") && text.contains("outside 1..="),
        "{text}"
    );
}

#[test]
fn regression_cpus_that_are_not_a_number_are_refused() {
    let err = load_with(&[("agents.toml", "[agents.coder]\ncpus = nan\n")]).unwrap_err();
    assert!(err.to_string().contains("cpus"), "{err}");
}

#[test]
fn cli_kinds_default_to_the_agent_image_on_the_gateway_network_and_a_bad_network_is_refused() {
    let catalog = load_with(&[(
        "agents.toml",
        "[agents.coder]\nrunner = \"claude-code\"\nmax_turns = 5\n\n[agents.helper]\nrunner = \"codex\"\nimage = \"mine:1\"\nnetwork = \"host\"\n",
    )])
    .unwrap();
    let coder = &catalog.agents["coder"];
    assert_eq!(
        coder.image.as_deref(),
        Some(super::AGENT_IMAGE),
        "not the demo image of [defaults]"
    );
    assert_eq!(coder.limits.network, "gateway");
    let helper = &catalog.agents["helper"];
    assert_eq!(
        (helper.image.as_deref(), helper.limits.network.as_str()),
        (Some("mine:1"), "host")
    );
    assert_eq!(helper.cli.as_ref().unwrap().binary, "codex");
    assert_eq!(
        catalog.agents["architect"].limits.network, "none",
        "command kinds stay off every network"
    );

    let err = load_with(&[(
        "agents.toml",
        "[agents.coder]\nrunner = \"codex\"\nnetwork = \"gatway\"\n",
    )])
    .unwrap_err();
    assert!(err.message.contains("network = \"gatway\""), "{err}");
    assert!(err.fix.contains("\"gateway\""), "{err}");
}

fn pipeline_error(text: &str) -> ConfigError {
    load_with(&[("pipelines/gated.toml", text)]).unwrap_err()
}

#[test]
fn an_estimate_gate_loads_with_its_thresholds_after_an_estimator() {
    let text = "name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"architect\"\nmin_complexity = 0.4\n[[steps]]\nagent = \"coder\"\nmin_risk = 0.8\non_missing_estimate = \"skip\"\n";
    let catalog = load_with(&[("pipelines/gated.toml", text)]).unwrap();
    let steps = &catalog.pipelines["gated"].steps;
    assert_eq!(steps[0].role, AgentRole::Estimator);
    assert_eq!(steps[1].gating.as_ref().unwrap().min_complexity, Some(0.4));
    let coder = steps[2].gating.as_ref().unwrap();
    assert_eq!(coder.on_missing_estimate, OnMissingEstimate::Skip);
    assert_eq!(coder.describe(), "risk ≥ 0.8");
}

#[test]
fn invalid_estimate_gating_is_refused_when_the_pipeline_loads() {
    let no_estimator =
        pipeline_error("name = \"x\"\n[[steps]]\nagent = \"architect\"\nmin_complexity = 0.4\n");
    assert!(
        no_estimator
            .message
            .contains("no estimator step comes before it"),
        "{no_estimator}"
    );
    assert_eq!(no_estimator.line, Some(3), "{no_estimator}");
    let merger = pipeline_error(
        "name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"merger\"\nmin_risk = 0.5\n",
    );
    assert!(
        merger
            .message
            .contains("is the merger, which an estimate cannot skip"),
        "{merger}"
    );
    let gate = pipeline_error(
        "name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"ci\"\nmin_risk = 0.5\n",
    );
    assert!(gate.message.contains("is a polling gate"), "{gate}");
    let no_threshold = pipeline_error(
        "name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"coder\"\non_missing_estimate = \"skip\"\n",
    );
    assert!(
        no_threshold.message.contains("but no threshold"),
        "{no_threshold}"
    );
    let range = pipeline_error(
        "name = \"x\"\n[[steps]]\nagent = \"task-estimator\"\n[[steps]]\nagent = \"coder\"\nmin_risk = 2.0\n",
    );
    assert_eq!(range.line, Some(6), "{range}");
}

#[test]
fn a_review_kind_gets_the_presets_cap_and_threshold_unless_its_step_sets_them() {
    let text = "name = \"x\"\n[[steps]]\nagent = \"requirements-review\"\nmax_iterations = 2\nconcern_threshold = \"medium\"\n[[steps]]\nagent = \"clarity-review\"\n";
    let catalog = load_with(&[("pipelines/reviewed.toml", text)]).unwrap();
    let steps = &catalog.pipelines["reviewed"].steps;
    let requirements = steps[0].review.as_ref().unwrap();
    assert_eq!(requirements.writer, "requirements-writer");
    assert_eq!(
        (requirements.max_iterations, requirements.concern_threshold),
        (2, ConcernThreshold::Medium)
    );
    let clarity = steps[1].review.as_ref().unwrap();
    assert_eq!(
        (
            clarity.subject,
            clarity.max_iterations,
            clarity.concern_threshold
        ),
        (ReviewSubject::Clarity, 6, ConcernThreshold::None)
    );
    let err = load_with(&[(
        "agents.toml",
        "[agents.requirements-review]\nwriter = \"nobody\"\n",
    )])
    .unwrap_err();
    assert!(err.message.contains("sends writer `nobody`"), "{err}");
    let err = pipeline_error("name = \"x\"\n[[steps]]\nagent = \"coder\"\nmax_iterations = 3\n");
    assert!(err.message.contains("is not a review gate"), "{err}");
}
