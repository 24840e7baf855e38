//! The `[notify]`, `[spend]`, `[prices.*]` and `[limits]` sections of
//! config.toml: how attention reaches a human, what models cost, and how
//! much may run at once.

use super::error::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    pub escalate_after_minutes: u64,
    /// Tell the desktop when a gate starts waiting, not only on escalation.
    pub on_new_gate: bool,
    /// Try the desktop notification server at all.
    pub desktop: bool,
    /// Run when the desktop cannot be reached; gets the card as JSON on stdin.
    pub notify_command: Option<Vec<String>>,
    /// Alerts this close together are sent as one summary.
    pub coalesce_ms: u64,
    /// At most this many deliveries per minute; the rest fold into a summary.
    pub max_per_minute: u32,
    /// A delivery (desktop or command) taking longer is abandoned.
    pub timeout_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            escalate_after_minutes: 120,
            on_new_gate: true,
            desktop: true,
            notify_command: None,
            coalesce_ms: 1_500,
            max_per_minute: 6,
            timeout_ms: 3_000,
        }
    }
}

/// Price of a model per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpendConfig {
    /// Month-to-date limit for this workspace; runs pause when it is reached.
    pub monthly_budget: f64,
    pub currency: String,
    pub prices: BTreeMap<String, Price>,
}

impl Default for SpendConfig {
    fn default() -> Self {
        Self {
            monthly_budget: 100.0,
            currency: "EUR".to_owned(),
            prices: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LimitsConfig {
    /// Live runs allowed under one service frame, whatever the pipeline.
    pub running_per_frame: Option<u32>,
    /// Live runs allowed under one service frame for a pipeline.
    pub per_pipeline: BTreeMap<String, u32>,
}

/// How much of each job's transcript is kept, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptConfig {
    pub max_bytes_per_job: u64,
    pub keep_days: u32,
}

impl Default for TranscriptConfig {
    fn default() -> Self {
        Self {
            max_bytes_per_job: 16 << 20,
            keep_days: 14,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TranscriptFile {
    max_mb_per_job: Option<Spanned<i64>>,
    keep_days: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifyFile {
    escalate_after_minutes: Option<Spanned<i64>>,
    on_new_gate: Option<bool>,
    desktop: Option<bool>,
    notify_command: Option<Spanned<Vec<String>>>,
    coalesce_ms: Option<Spanned<i64>>,
    max_per_minute: Option<Spanned<i64>>,
    timeout_ms: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpendFile {
    monthly_budget: Option<Spanned<f64>>,
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceFile {
    prompt_per_million: Spanned<f64>,
    completion_per_million: Spanned<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    running_per_frame: Option<Spanned<i64>>,
    #[serde(default)]
    per_pipeline: BTreeMap<String, Spanned<i64>>,
}

/// Checks values against their sane range, naming the line when not.
pub(super) struct Checker<'a> {
    pub label: &'a str,
    pub text: &'a str,
}

impl Checker<'_> {
    fn range(
        &self,
        value: &Spanned<i64>,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<u64, ConfigError> {
        let v = *value.get_ref();
        if v < min || v > max {
            return Err(ConfigError::at(
                self.label,
                self.text,
                Some(value.span().start),
                format!("{name} = {v} is out of range"),
                &format!("use a whole number from {min} to {max}"),
            ));
        }
        Ok(v.unsigned_abs())
    }

    fn money(&self, value: &Spanned<f64>, name: &str, max: f64) -> Result<f64, ConfigError> {
        let v = *value.get_ref();
        if !v.is_finite() || !(0.0..=max).contains(&v) {
            return Err(ConfigError::at(
                self.label,
                self.text,
                Some(value.span().start),
                format!("{name} = {v} is not a sensible amount"),
                &format!("use a number from 0 to {max}"),
            ));
        }
        Ok(v)
    }

    pub fn notify(&self, file: Option<NotifyFile>) -> Result<NotifyConfig, ConfigError> {
        let file = file.unwrap_or_default();
        let d = NotifyConfig::default();
        let command = match file.notify_command {
            Some(cmd) if cmd.get_ref().is_empty() => {
                return Err(ConfigError::at(
                    self.label,
                    self.text,
                    Some(cmd.span().start),
                    "notify_command is empty".to_owned(),
                    "give the program and its arguments, e.g. notify_command = [\"/usr/local/bin/page-me\"]",
                ));
            }
            other => other.map(Spanned::into_inner),
        };
        Ok(NotifyConfig {
            escalate_after_minutes: self
                .opt(
                    &file.escalate_after_minutes,
                    "escalate_after_minutes",
                    1,
                    43_200,
                )?
                .unwrap_or(d.escalate_after_minutes),
            on_new_gate: file.on_new_gate.unwrap_or(d.on_new_gate),
            desktop: file.desktop.unwrap_or(d.desktop),
            notify_command: command,
            coalesce_ms: self
                .opt(&file.coalesce_ms, "coalesce_ms", 0, 60_000)?
                .unwrap_or(d.coalesce_ms),
            max_per_minute: self
                .opt(&file.max_per_minute, "max_per_minute", 1, 600)?
                .map_or(d.max_per_minute, |v| v as u32),
            timeout_ms: self
                .opt(&file.timeout_ms, "timeout_ms", 100, 60_000)?
                .unwrap_or(d.timeout_ms),
        })
    }

    fn opt(
        &self,
        value: &Option<Spanned<i64>>,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<u64>, ConfigError> {
        value
            .as_ref()
            .map(|v| self.range(v, name, min, max))
            .transpose()
    }

    pub fn spend(
        &self,
        file: Option<SpendFile>,
        prices: BTreeMap<String, PriceFile>,
    ) -> Result<SpendConfig, ConfigError> {
        let file = file.unwrap_or_default();
        let d = SpendConfig::default();
        let budget = match &file.monthly_budget {
            Some(b) => self.money(b, "monthly_budget", 1_000_000_000.0)?,
            None => d.monthly_budget,
        };
        let mut table = BTreeMap::new();
        for (model, price) in prices {
            let prompt =
                self.money(&price.prompt_per_million, "prompt_per_million", 1_000_000.0)?;
            let completion = self.money(
                &price.completion_per_million,
                "completion_per_million",
                1_000_000.0,
            )?;
            table.insert(
                model,
                Price {
                    prompt_per_million: prompt,
                    completion_per_million: completion,
                },
            );
        }
        Ok(SpendConfig {
            monthly_budget: budget,
            currency: file.currency.unwrap_or(d.currency),
            prices: table,
        })
    }

    pub fn limits(&self, file: Option<LimitsFile>) -> Result<LimitsConfig, ConfigError> {
        let file = file.unwrap_or_default();
        let running_per_frame = self
            .opt(&file.running_per_frame, "running_per_frame", 1, 10_000)?
            .map(|v| v as u32);
        let mut per_pipeline = BTreeMap::new();
        for (pipeline, limit) in &file.per_pipeline {
            let name = format!("per_pipeline.{pipeline}");
            per_pipeline.insert(
                pipeline.clone(),
                self.range(limit, &name, 1, 10_000)? as u32,
            );
        }
        Ok(LimitsConfig {
            running_per_frame,
            per_pipeline,
        })
    }

    pub fn transcripts(
        &self,
        file: Option<TranscriptFile>,
    ) -> Result<TranscriptConfig, ConfigError> {
        let file = file.unwrap_or_default();
        let defaults = TranscriptConfig::default();
        Ok(TranscriptConfig {
            max_bytes_per_job: self
                .opt(&file.max_mb_per_job, "max_mb_per_job", 1, 4_096)?
                .map_or(defaults.max_bytes_per_job, |mb| mb << 20),
            keep_days: self
                .opt(&file.keep_days, "keep_days", 1, 3_650)?
                .map_or(defaults.keep_days, |d| d as u32),
        })
    }
}
