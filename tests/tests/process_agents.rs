//! A process agent runs as the daemon's user; with vendor keys configured,
//! the daemon says so at start and in `daemon status`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cattery_tests::CtlHome;

fn status_text(home: &CtlHome) -> String {
    let out = std::process::Command::new(cattery_tests::cattery())
        .arg("--home")
        .arg(home.path())
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keys_on_the_process_executor_are_warned_about_in_daemon_status_and_none_without_keys() {
    let keyed = CtlHome::with_config(&[]);
    keyed.set_anthropic_key("sk-ant-test-0000");
    keyed.ctl(&["board"]);
    let text = status_text(&keyed);
    assert!(
        text.contains("warning: agents run as processes") && text.contains("executor = \"docker\""),
        "{text}"
    );
    assert!(!text.contains("sk-ant-test-0000"), "{text}");

    let plain = CtlHome::with_config(&[]);
    plain.ctl(&["board"]);
    let text = status_text(&plain);
    assert!(!text.contains("warning:"), "{text}");
}
