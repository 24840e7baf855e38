//! Recurring pipelines (DELIVERY.md §6): a schedule on a frame fires a
//! pipeline on its recurring task every `interval_hours`, only at hours
//! its window allows, in its IANA timezone.

use crate::Millis;
use serde::{Deserialize, Serialize};

/// When a schedule may fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// 1 ..= 8760 (a year).
    pub interval_hours: u32,
    /// Allowed days, 0 = Sunday .. 6 = Saturday; empty allows every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<u8>,
    /// The first allowed hour (inclusive), 0..=23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_hour: Option<u8>,
    /// The first hour no longer allowed (exclusive), 0..=23; a window whose
    /// end is not after its start wraps past midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_hour: Option<u8>,
    /// An IANA name, such as `Europe/Berlin`.
    pub timezone: String,
}

impl Default for Recurrence {
    /// The reference's default: every 24 hours, UTC, any hour.
    fn default() -> Self {
        Self {
            interval_hours: 24,
            weekdays: Vec::new(),
            window_start_hour: None,
            window_end_hour: None,
            timezone: "UTC".to_owned(),
        }
    }
}

/// The weekday names, Sunday first, as `--days` takes them.
pub const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Recurrence {
    /// What is wrong with it, if anything (the timezone is checked where
    /// the timezone database is: `engine::schedule`).
    pub fn problem(&self) -> Option<String> {
        if !(1..=8760).contains(&self.interval_hours) {
            return Some(format!(
                "interval {} h is outside 1..=8760 (an hour to a year)",
                self.interval_hours
            ));
        }
        if let Some(day) = self.weekdays.iter().find(|d| **d > 6) {
            return Some(format!("weekday {day} is not 0 (Sunday) ..= 6 (Saturday)"));
        }
        for hour in [self.window_start_hour, self.window_end_hour]
            .into_iter()
            .flatten()
        {
            if hour > 23 {
                return Some(format!("window hour {hour} is not 0..=23"));
            }
        }
        None
    }

    /// `every 24h · mon-fri · 09-17 · Europe/Berlin`, for screens.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("every {}h", self.interval_hours)];
        if !self.weekdays.is_empty() {
            let days: Vec<&str> = self
                .weekdays
                .iter()
                .filter_map(|d| WEEKDAYS.get(usize::from(*d)).copied())
                .collect();
            parts.push(days.join(","));
        }
        if self.window_start_hour.is_some() || self.window_end_hour.is_some() {
            parts.push(format!(
                "{:02}-{:02}h",
                self.window_start_hour.unwrap_or(0),
                self.window_end_hour.unwrap_or(24)
            ));
        }
        parts.push(self.timezone.clone());
        parts.join(" · ")
    }
}

/// A pipeline that runs on a frame's recurring task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: String,
    pub frame_id: String,
    /// The recurring task each fire starts the pipeline on.
    pub block_id: String,
    pub pipeline_id: String,
    pub recurrence: Recurrence,
    pub next_run_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<Millis>,
    /// Why the last due fire was held back (the previous run still live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    pub created_at: Millis,
}

crate::wire_enum! {
    /// How a fire went.
    pub enum FireOutcome {
        Started = "started" / "started",
        Failed = "failed" / "failed to start",
    }
}

crate::wire_enum! {
    /// What fired it.
    pub enum FireOrigin {
        Due = "due" / "on schedule",
        /// Due while the daemon was down: fired once at start.
        Missed = "missed" / "missed while down",
        Manual = "manual" / "run now",
    }
}

/// One fire of a schedule, kept as its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFire {
    pub schedule_id: String,
    pub at: Millis,
    pub origin: FireOrigin,
    pub outcome: FireOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
