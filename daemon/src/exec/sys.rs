//! The one place that sends signals directly.

/// Kills a whole process group, so an agent's children die with it.
#[allow(unsafe_code)]
pub fn kill_group(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(-pgid, libc::SIGKILL) == 0 }
}
