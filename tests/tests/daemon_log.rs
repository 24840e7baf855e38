//! A daemon started in the background appends to its log, so after a
//! `kill -9` the next start keeps the dead daemon's log and points at it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_protocol::home::{CLEAN_STOP, Layout};
use cattery_tests::CtlHome;

#[test]
fn a_start_after_kill_9_keeps_the_dead_daemons_log_and_names_it_and_a_clean_stop_does_not() {
    let home = CtlHome::with_config(&[]);
    let log = Layout::under(home.path()).daemon_log();
    home.ctl(&["board"]);
    home.kill_daemon();

    let (code, _, err) = home.cli(&["daemon", "start"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("did not stop cleanly"), "{err}");
    assert!(err.contains(&log.display().to_string()), "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("catteryd started on").count(), 2, "{text}");

    let (code, _, err) = home.cli(&["daemon", "stop"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = home.cli(&["daemon", "start"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("did not stop cleanly"), "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches(CLEAN_STOP).count(), 1, "{text}");
    assert_eq!(text.matches("catteryd started on").count(), 3, "{text}");
}
