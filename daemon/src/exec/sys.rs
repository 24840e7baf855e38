//! The one place that sends signals directly.

/// Kills every process group whose processes carry `CATTERY_JOB_ID=job_id`
/// in their environment: what a killed daemon left of a job, even one it
/// spawned but never recorded. Returns how many groups were killed.
pub fn kill_job_leftovers(job_id: &str) -> usize {
    let marker = format!("CATTERY_JOB_ID={job_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut groups = std::collections::BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let carries = std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()));
        if let Some(group) = carries.then(|| process_group(pid)).flatten() {
            groups.insert(group);
        }
    }
    groups.into_iter().filter(|g| kill_group(*g)).count()
}

/// The process group of `pid`, from `/proc/PID/stat` (the field after the
/// state, which follows the parenthesised command).
fn process_group(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_command = stat.rsplit_once(')')?.1;
    after_command.split_whitespace().nth(2)?.parse().ok()
}

/// Kills a whole process group, so an agent's children die with it.
#[allow(unsafe_code)]
pub fn kill_group(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(-pgid, libc::SIGKILL) == 0 }
}
