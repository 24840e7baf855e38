//! `cattery ctl schedules`: recurring pipelines on frames: list, add,
//! remove, fire now, and each one's history of fires.

use super::CtlError;
use crate::client::Client;
use cattery_protocol::schedule::{Recurrence, Schedule, ScheduleFire, WEEKDAYS};
use cattery_protocol::wire::{Call, Reply};
use cattery_protocol::{Millis, format_local};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug, Clone)]
pub enum ScheduleCommand {
    /// A schedule on FRAME that fires PIPELINE on a new recurring task.
    Add(AddSchedule),
    /// Remove a schedule; its task and runs stay.
    Rm { id: String },
    /// Fire a schedule now (refused while its previous run is live).
    RunNow { id: String },
    /// A schedule's fires, oldest first.
    History { id: String },
}

#[derive(Args, Debug, Clone)]
pub struct AddSchedule {
    #[arg(long)]
    pub frame: String,
    #[arg(long)]
    pub pipeline: String,
    /// The recurring task's title.
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Hours between fires, 1 to 8760.
    #[arg(long, default_value_t = 24)]
    pub every: u32,
    /// Allowed days: `mon-fri`, `sat,sun`, `weekdays` (default: every day).
    #[arg(long)]
    pub days: Option<String>,
    /// Allowed hours, start inclusive and end exclusive: `9-17`; `22-6`
    /// wraps past midnight; `9-` or `-17` leave one end open.
    #[arg(long)]
    pub hours: Option<String>,
    /// The IANA timezone the days and hours are in.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// The first fire: an RFC 3339 time (`2026-12-02T09:00:00+01:00`) or
    /// a delay (`+30s`, `+5m`, `+2h`); default one interval from now.
    #[arg(long)]
    pub first_at: Option<String>,
}

/// The daemon's answer to a schedules command; `ctl` prints it.
pub async fn schedules(
    client: &mut Client,
    command: Option<ScheduleCommand>,
) -> Result<Reply, CtlError> {
    Ok(match command {
        None => client.call(Call::Schedules).await?,
        Some(ScheduleCommand::Add(add)) => {
            let call = add_call(add, now_ms())?;
            client.call(call).await?
        }
        Some(ScheduleCommand::Rm { id }) => client.call(Call::RemoveSchedule { id }).await?,
        Some(ScheduleCommand::RunNow { id }) => client.call(Call::RunSchedule { id }).await?,
        Some(ScheduleCommand::History { id }) => client.call(Call::ScheduleHistory { id }).await?,
    })
}

fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

fn add_call(add: AddSchedule, now: Millis) -> Result<Call, CtlError> {
    let (window_start_hour, window_end_hour) = match &add.hours {
        Some(text) => hours(text)?,
        None => (None, None),
    };
    let recurrence = Recurrence {
        interval_hours: add.every,
        weekdays: match &add.days {
            Some(text) => days(text)?,
            None => Vec::new(),
        },
        window_start_hour,
        window_end_hour,
        timezone: add.tz,
    };
    let first_at = add
        .first_at
        .as_deref()
        .map(|t| first_at(t, now))
        .transpose()?;
    Ok(Call::AddSchedule {
        frame_id: add.frame,
        pipeline_id: add.pipeline,
        title: add.title,
        description: add.description,
        recurrence,
        first_at,
    })
}

/// `mon-fri`, `mon,wed,fri`, `weekdays`, `weekends`, or a mix.
fn days(text: &str) -> Result<Vec<u8>, CtlError> {
    let day = |name: &str| {
        WEEKDAYS
            .iter()
            .position(|d| name.to_ascii_lowercase().starts_with(d))
            .map(|i| i as u8)
            .ok_or_else(|| {
                CtlError::Input(format!(
                    "`{name}` is not a day; use mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or weekdays"
                ))
            })
    };
    let mut found = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "weekdays" => found.extend(1..=5),
            "weekends" => found.extend([0, 6]),
            range if range.contains('-') => {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                let (mut at, to) = (day(from)?, day(to)?);
                loop {
                    found.push(at);
                    if at == to {
                        break;
                    }
                    at = (at + 1) % 7;
                }
            }
            single => found.push(day(single)?),
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// `9-17`, `22-6`, `9-`, `-17`.
fn hours(text: &str) -> Result<(Option<u8>, Option<u8>), CtlError> {
    let bad = || {
        CtlError::Input(format!(
            "`{text}` is not an hour window; use START-END in hours 0-23, such as 9-17 or 22-6"
        ))
    };
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let hour = |part: &str| match part.trim() {
        "" => Ok(None),
        h => h
            .parse::<u8>()
            .ok()
            .filter(|h| *h < 24)
            .map(Some)
            .ok_or_else(bad),
    };
    Ok((hour(start)?, hour(end)?))
}

/// An RFC 3339 time, or `+N` seconds, minutes or hours from now.
fn first_at(text: &str, now: Millis) -> Result<Millis, CtlError> {
    if let Some(delay) = text.strip_prefix('+') {
        let (number, unit) = delay.split_at(delay.len().saturating_sub(1));
        let scale = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 0,
        };
        if let (Ok(n), true) = (number.parse::<i64>(), scale > 0) {
            return Ok(now + n * scale);
        }
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| {
            CtlError::Input(format!(
                "`{text}` is not a time ({e}); use RFC 3339 such as 2026-12-02T09:00:00+01:00, or a delay such as +30m"
            ))
        })
}

pub(super) fn schedule_line(s: &Schedule) -> String {
    let mut line = format!(
        "{}  task {}  {}  {}  next {}  last {}",
        s.id,
        s.block_id,
        s.pipeline_id,
        s.recurrence.describe(),
        format_local(s.next_run_at),
        s.last_run_at.map_or_else(|| "-".to_owned(), format_local)
    );
    if let Some(held) = &s.held {
        line.push_str(&format!("  held: {held}"));
    }
    line
}

pub(super) fn fire_line(f: &ScheduleFire) -> String {
    format!(
        "{}  {}  {}  {}{}",
        format_local(f.at),
        f.origin.label(),
        f.outcome.label(),
        f.run_id.as_deref().unwrap_or("-"),
        if f.message.is_empty() {
            String::new()
        } else {
            format!("  {}", f.message)
        }
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn days_hours_and_first_fire_are_read_as_people_write_them() {
        assert_eq!(days("mon-fri").unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(days("fri-mon").unwrap(), [0, 1, 5, 6]);
        assert_eq!(days("weekends,wed").unwrap(), [0, 3, 6]);
        assert!(days("funday").is_err());
        assert_eq!(hours("22-6").unwrap(), (Some(22), Some(6)));
        assert_eq!(hours("9-").unwrap(), (Some(9), None));
        assert!(hours("25-3").is_err());
        assert_eq!(first_at("+5m", 1_000).unwrap(), 301_000);
        assert_eq!(
            first_at("2026-12-02T09:00:00+01:00", 0).unwrap(),
            1_796_198_400_000
        );
        assert!(first_at("tomorrow", 0).is_err());
    }
}
