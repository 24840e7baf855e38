//! Recurring pipelines against a real daemon (DELIVERY.md §6). The fire
//! rules run on an injected clock through the daemon's own
//! `fire_due_schedules`; the timer, `ctl schedules` and a `kill -9` across
//! a due schedule run against a real catteryd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_daemon::service::schedules::NewSchedule;
use cattery_protocol::schedule::{FireOrigin, FireOutcome, Recurrence, Schedule, ScheduleFire};
use cattery_protocol::{BlockLevel, RunStatus};
use cattery_tests::{CtlHome, Home, eventually};

const HOUR: i64 = 3_600_000;

/// Quick parks at the architect's approval, so a fired run stays live.
const PARKS: &str = "@demo * sleep 0";

/// A day from now, on the hour: far enough that the daemon's own timer
/// never fires it during the test.
fn tomorrow() -> i64 {
    let now = jiff::Timestamp::now().as_millisecond();
    (now / HOUR + 24) * HOUR
}

fn nightly(home: &Home, first_at: i64) -> Schedule {
    let frame = home.add_block(BlockLevel::Frame, None, "Payments", "");
    home.daemon
        .add_schedule(NewSchedule {
            frame_id: frame.id,
            pipeline_id: "quick".into(),
            title: "Bump dependencies".into(),
            description: PARKS.into(),
            recurrence: Recurrence::default(),
            first_at: Some(first_at),
        })
        .unwrap()
}

fn schedule(home: &Home, id: &str) -> Schedule {
    let all = home.daemon.schedules().unwrap();
    all.into_iter().find(|s| s.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_fire_starts_the_run_a_live_run_holds_the_next_without_advancing_and_missed_slots_fire_once()
 {
    let home = Home::new();
    let t0 = tomorrow();
    let s = nightly(&home, t0);
    assert!(
        home.daemon
            .fire_due_schedules(t0 - 1, FireOrigin::Due)
            .await
            .unwrap()
            .is_empty()
    );

    let fires = home
        .daemon
        .fire_due_schedules(t0, FireOrigin::Due)
        .await
        .unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].outcome, FireOutcome::Started);
    let run_id = fires[0].run_id.clone().unwrap();
    let after = schedule(&home, &s.id);
    assert_eq!(
        (after.next_run_at, after.last_run_at),
        (t0 + 24 * HOUR, Some(t0))
    );
    home.wait_run(&run_id, 30, |r| r.status == RunStatus::Blocked)
        .await;

    // Due again while the run waits at its approval: held, not advanced.
    let due = t0 + 24 * HOUR;
    assert!(
        home.daemon
            .fire_due_schedules(due, FireOrigin::Due)
            .await
            .unwrap()
            .is_empty()
    );
    let held = schedule(&home, &s.id);
    assert_eq!(held.next_run_at, due, "a held fire keeps its time");
    assert_eq!(
        held.held.as_deref(),
        Some(format!("the previous run {run_id} is still blocked").as_str())
    );
    let refused = home.daemon.run_schedule(&s.id, "ana").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("already has a run in progress"),
        "{refused}"
    );

    // The run ends; three days of slots later, the schedule fires once.
    home.daemon.cancel(&s.block_id, "ana").await.unwrap();
    let late = due + 72 * HOUR + 20 * 60_000;
    let fires = home
        .daemon
        .fire_due_schedules(late, FireOrigin::Missed)
        .await
        .unwrap();
    assert_eq!(fires.len(), 1, "missed slots fire once, not once each");
    let next = schedule(&home, &s.id);
    assert_eq!(
        next.next_run_at,
        (late + 24 * HOUR).div_euclid(HOUR) * HOUR + HOUR
    );
    assert!(next.held.is_none());
    let history: Vec<(FireOrigin, FireOutcome)> = home
        .daemon
        .schedule_history(&s.id)
        .unwrap()
        .iter()
        .map(|f| (f.origin, f.outcome))
        .collect();
    assert_eq!(
        history,
        [
            (FireOrigin::Due, FireOutcome::Started),
            (FireOrigin::Missed, FireOutcome::Started)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_is_recorded_and_still_advances_the_schedule() {
    // One live run per frame: a colleague's run on the same frame refuses
    // the scheduled start.
    let home = Home::with_config(&[("config.toml", "[limits]\nrunning_per_frame = 1\n")]);
    let t0 = tomorrow();
    let s = nightly(&home, t0);
    let colleague = home.add_block(BlockLevel::Task, Some(&s.frame_id), "Hotfix", PARKS);
    home.daemon
        .start(&colleague.id, "quick", "bo")
        .await
        .unwrap();
    let fires = home
        .daemon
        .fire_due_schedules(t0, FireOrigin::Due)
        .await
        .unwrap();
    assert_eq!(fires.len(), 1);
    let ScheduleFire {
        outcome, message, ..
    } = &fires[0];
    assert_eq!(*outcome, FireOutcome::Failed);
    assert!(
        message.contains("Hotfix"),
        "the refusal names who holds the frame: {message}"
    );
    assert_eq!(schedule(&home, &s.id).next_run_at, t0 + 24 * HOUR);
}

#[test]
fn ctl_schedules_refuses_a_bad_schedule_with_the_fix_and_a_kill_9_across_a_due_fire_fires_it_once_at_start()
 {
    let home = CtlHome::with_config(&[]);
    let frame = home.ctl(&["block", "add", "--level", "frame", "--title", "Payments"]);
    let frame = frame["id"].as_str().unwrap().to_owned();
    let add = |extra: &[&str]| {
        let mut args = vec![
            "ctl",
            "schedules",
            "add",
            "--frame",
            &frame,
            "--pipeline",
            "quick",
            "--title",
            "Nightly",
            "--description",
            PARKS,
        ];
        args.extend_from_slice(extra);
        home.cli(&args)
    };
    let (code, _, err) = add(&["--tz", "Mars/Olympus"]);
    assert_ne!(code, 0);
    assert!(err.contains("IANA name"), "{err}");
    let (code, _, err) = add(&["--every", "0"]);
    assert_ne!(code, 0);
    assert!(err.contains("outside 1..=8760"), "{err}");
    let task = home.ctl(&["block", "add", "--title", "Not a frame"]);
    let task = task["id"].as_str().unwrap();
    let (code, _, err) = home.cli(&[
        "ctl",
        "schedules",
        "add",
        "--frame",
        task,
        "--pipeline",
        "quick",
        "--title",
        "Nightly",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("not a frame; a schedule belongs on a frame"),
        "{err}"
    );

    let (code, out, err) = add(&[
        "--days",
        "mon-fri",
        "--hours",
        "22-6",
        "--tz",
        "Europe/Berlin",
        "--first-at",
        "+3s",
    ]);
    assert_eq!(code, 0, "{err}");
    let added: Schedule = serde_json::from_str(&out).unwrap();
    assert_eq!(added.recurrence.weekdays, [1, 2, 3, 4, 5]);
    home.kill_daemon();
    std::thread::sleep(std::time::Duration::from_secs(4));
    // The next command starts a daemon, whose timer fires what it missed.
    let fires: Vec<ScheduleFire> = eventually(
        30,
        || {
            let fires: Vec<ScheduleFire> =
                serde_json::from_value(home.ctl(&["schedules", "history", &added.id])).unwrap();
            (!fires.is_empty()).then_some(fires)
        },
        || "the missed fire never happened".to_owned(),
    );
    assert_eq!(fires.len(), 1);
    assert_eq!(
        (fires[0].origin, fires[0].outcome),
        (FireOrigin::Missed, FireOutcome::Started)
    );
    let listed: Vec<Schedule> = serde_json::from_value(home.ctl(&["schedules"])).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    assert!(listed[0].next_run_at > now, "the next fire is ahead");
    let run = home.run(fires[0].run_id.as_deref().unwrap());
    assert_eq!(run.block_id, added.block_id);
    // Its run is live, so run-now is refused; removing keeps the task.
    let (code, _, err) = home.cli(&["ctl", "schedules", "run-now", &added.id]);
    assert_ne!(code, 0);
    assert!(err.contains("already has a run in progress"), "{err}");
    home.ctl(&["schedules", "rm", &added.id]);
    let listed: Vec<Schedule> = serde_json::from_value(home.ctl(&["schedules"])).unwrap();
    assert!(listed.is_empty());
    assert_eq!(home.block(&added.block_id).title, "Nightly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_firing_a_schedule_tell_the_clients_to_look_again() {
    let mut home = Home::new();
    let t0 = tomorrow();
    let s = nightly(&home, t0);
    home.daemon
        .fire_due_schedules(t0, FireOrigin::Due)
        .await
        .unwrap();
    home.daemon.remove_schedule(&s.id).unwrap();
    let mut told = 0;
    while let Ok(numbered) = home.events.try_recv() {
        if matches!(
            &*numbered.event,
            cattery_protocol::event::Event::SchedulesChanged
        ) {
            told += 1;
        }
    }
    assert_eq!(told, 3, "added, fired, removed");
}
