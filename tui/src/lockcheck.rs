//! Whether a daemon owns a home, told by its pidfile's record lock (the
//! daemon's `os::try_lock`), not by whether it answers: a daemon that is
//! starting, or whose port file went missing, still owns its home.

use std::os::fd::AsRawFd;
use std::path::Path;

/// The pid of the process holding the lock on `pidfile`, if one does.
#[allow(unsafe_code)]
pub fn lock_holder(pidfile: &Path) -> Option<u32> {
    let file = std::fs::OpenOptions::new().read(true).open(pidfile).ok()?;
    // SAFETY: a zeroed `flock` is a valid value of the plain C struct.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl(F_GETLK) reads and writes the struct we own. Asking
    // takes no lock, so closing `file` afterwards releases nothing.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    (result == 0 && lock.l_type != libc::F_UNLCK as libc::c_short)
        .then(|| u32::try_from(lock.l_pid).ok())
        .flatten()
}

/// Asks process `pid` to stop (SIGTERM), as `kill` would.
#[allow(unsafe_code)]
pub fn terminate(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    pid > 1 && unsafe { libc::kill(pid, libc::SIGTERM) } == 0
}
