//! Recurring pipelines' arithmetic (DELIVERY.md §6, `schedule.logic`):
//! the next fire is one interval on, rounded up to the hour, then stepped
//! an hour at a time (at most a year) until the schedule's window allows
//! it in its timezone, so DST and wrapping windows need no date maths.
//! Also whether a due schedule may start its run. Pure: time comes in.

use cattery_protocol::schedule::Recurrence;
use cattery_protocol::{Millis, Run};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const HOUR_MS: Millis = 3_600_000;

/// The recurrence's timezone, or what is wrong with the recurrence.
pub fn checked(recurrence: &Recurrence) -> Result<TimeZone, String> {
    if let Some(problem) = recurrence.problem() {
        return Err(problem);
    }
    TimeZone::get(&recurrence.timezone).map_err(|e| {
        format!(
            "`{}` is not a timezone this daemon knows ({e}); use an IANA name such as UTC, Europe/Berlin or America/New_York",
            recurrence.timezone
        )
    })
}

/// The next fire after `from` (`computeNextRun`).
pub fn next_run(from: Millis, recurrence: &Recurrence) -> Result<Millis, String> {
    let tz = checked(recurrence)?;
    let base = from + Millis::from(recurrence.interval_hours) * HOUR_MS;
    // Up to the next whole hour, so fires land on the hour.
    let mut candidate = base.div_euclid(HOUR_MS) * HOUR_MS;
    if candidate < base {
        candidate += HOUR_MS;
    }
    for _ in 0..24 * 366 {
        if allowed(candidate, recurrence, &tz) {
            return Ok(candidate);
        }
        candidate += HOUR_MS;
    }
    Err(format!(
        "{} never allows a fire within a year; widen its days or hours",
        recurrence.describe()
    ))
}

/// Whether the schedule may fire at `at` (`isWithinWindow`).
fn allowed(at: Millis, recurrence: &Recurrence, tz: &TimeZone) -> bool {
    let Ok(timestamp) = Timestamp::from_millisecond(at) else {
        return false;
    };
    let local = timestamp.to_zoned_datetime(tz.clone());
    let weekday = local.weekday().to_sunday_zero_offset();
    let day_ok = recurrence.weekdays.is_empty()
        || recurrence
            .weekdays
            .iter()
            .any(|d| i16::from(*d) == i16::from(weekday));
    day_ok && hour_allowed(recurrence, local.hour())
}

/// `[start, end)`; a start with no end runs to midnight, an end with no
/// start from midnight; an end not after the start wraps past midnight.
fn hour_allowed(recurrence: &Recurrence, hour: i8) -> bool {
    let (start, end) = (recurrence.window_start_hour, recurrence.window_end_hour);
    if start.is_none() && end.is_none() {
        return true;
    }
    let lo = i16::from(start.unwrap_or(0));
    let hi = i16::from(end.unwrap_or(24));
    let hour = i16::from(hour);
    match lo < hi {
        true => (lo..hi).contains(&hour),
        false => hour >= lo || hour < hi,
    }
}

/// Why a due fire must wait: its task's previous run is still live
/// (running, paused or blocked). It is held without advancing.
pub fn held_by(prior: Option<&Run>) -> Option<String> {
    let prior = prior.filter(|r| r.status.is_live())?;
    Some(format!(
        "the previous run {} is still {}",
        prior.id, prior.status
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn local(ms: Millis, tz: &str) -> String {
        Timestamp::from_millisecond(ms)
            .unwrap()
            .to_zoned_datetime(TimeZone::get(tz).unwrap())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }

    fn every(
        hours: u32,
        weekdays: &[u8],
        window: (Option<u8>, Option<u8>),
        tz: &str,
    ) -> Recurrence {
        Recurrence {
            interval_hours: hours,
            weekdays: weekdays.to_vec(),
            window_start_hour: window.0,
            window_end_hour: window.1,
            timezone: tz.into(),
        }
    }

    #[test]
    fn friday_noon_plus_a_day_on_weekdays_lands_on_monday_midnight() {
        let weekdays = every(24, &[1, 2, 3, 4, 5], (None, None), "UTC");
        let next = next_run(at("2026-12-04T12:00:00Z"), &weekdays).unwrap();
        assert_eq!(next, at("2026-12-07T00:00:00Z"));
    }

    #[test]
    fn a_fire_is_rounded_up_to_the_hour() {
        let hourly = every(1, &[], (None, None), "UTC");
        let next = next_run(at("2026-12-01T10:20:30Z"), &hourly).unwrap();
        assert_eq!(next, at("2026-12-01T12:00:00Z"));
        let exact = next_run(at("2026-12-01T10:00:00Z"), &hourly).unwrap();
        assert_eq!(exact, at("2026-12-01T11:00:00Z"));
    }

    #[test]
    fn a_window_that_wraps_midnight_allows_late_evening_and_early_morning() {
        let nightly = every(1, &[], (Some(22), Some(6)), "UTC");
        let next = next_run(at("2026-12-01T07:00:00Z"), &nightly).unwrap();
        assert_eq!(next, at("2026-12-01T22:00:00Z"));
        let next = next_run(at("2026-12-02T04:00:00Z"), &nightly).unwrap();
        assert_eq!(next, at("2026-12-02T05:00:00Z"));
        let next = next_run(at("2026-12-02T05:00:00Z"), &nightly).unwrap();
        assert_eq!(next, at("2026-12-02T22:00:00Z"));
    }

    #[test]
    fn across_spring_forward_in_berlin_the_interval_is_absolute_hours_as_in_the_reference() {
        // 2026-03-29 02:00 CET becomes 03:00 CEST. From Saturday 09:00 CET,
        // 24 hours on is Sunday 10:00 CEST: inside a 9-11 window it fires
        // then; a 9-10 window is past, so the next is Monday 09:00.
        let before = at("2026-03-28T08:00:00Z");
        assert_eq!(local(before, "Europe/Berlin"), "Sat 2026-03-28 09:00 CET");
        let wide = every(24, &[], (Some(9), Some(11)), "Europe/Berlin");
        let next = next_run(before, &wide).unwrap();
        assert_eq!(local(next, "Europe/Berlin"), "Sun 2026-03-29 10:00 CEST");
        assert_eq!(next - before, 24 * HOUR_MS);
        let narrow = every(24, &[], (Some(9), Some(10)), "Europe/Berlin");
        let next = next_run(before, &narrow).unwrap();
        assert_eq!(local(next, "Europe/Berlin"), "Mon 2026-03-30 09:00 CEST");
    }

    #[test]
    fn across_fall_back_in_new_york_the_repeated_hour_is_allowed_once_per_step() {
        // 2026-11-01 02:00 EDT becomes 01:00 EST: 01:xx happens twice.
        let one_am = every(1, &[], (Some(1), Some(2)), "America/New_York");
        let first = next_run(at("2026-11-01T04:00:00Z"), &one_am).unwrap();
        assert_eq!(local(first, "America/New_York"), "Sun 2026-11-01 01:00 EDT");
        let second = next_run(first, &one_am).unwrap();
        assert_eq!(
            local(second, "America/New_York"),
            "Sun 2026-11-01 01:00 EST"
        );
        let third = next_run(second, &one_am).unwrap();
        assert_eq!(local(third, "America/New_York"), "Mon 2026-11-02 01:00 EST");
    }

    #[test]
    fn weekdays_are_local_days_in_the_schedules_timezone() {
        // Friday 23:30 in Los Angeles is Saturday in UTC.
        let fridays = every(1, &[5], (None, None), "America/Los_Angeles");
        let next = next_run(at("2026-12-05T06:30:00Z"), &fridays).unwrap();
        assert_eq!(
            local(next, "America/Los_Angeles"),
            "Fri 2026-12-11 00:00 PST"
        );
    }

    #[test]
    fn a_bad_timezone_interval_or_weekday_is_refused_with_the_fix() {
        let unknown = every(24, &[], (None, None), "Mars/Olympus");
        let err = next_run(0, &unknown).unwrap_err();
        assert!(err.contains("IANA name"), "{err}");
        // An end not after the start wraps, so 5-5 allows every hour.
        let all_day = every(24, &[], (Some(5), Some(5)), "UTC");
        assert_eq!(next_run(0, &all_day).unwrap(), 24 * HOUR_MS);
        let zero = every(0, &[], (None, None), "UTC");
        assert!(next_run(0, &zero).unwrap_err().contains("outside 1..=8760"));
        let bad_day = every(24, &[7], (None, None), "UTC");
        assert!(checked(&bad_day).unwrap_err().contains("weekday 7"));
    }
}
