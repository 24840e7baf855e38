//! The daemon's few direct OS calls, each small and documented: the home
//! lock, atomic file writes, the file-creation mask and the descriptor limit.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Takes an exclusive POSIX record lock on all of `file`, without waiting.
/// `Ok(false)` when another process holds it.
///
/// A record lock belongs to this process, not to the open file: a child
/// forked to run an agent never holds it, even in the moment before it
/// execs, so a daemon killed at that moment does not lock the next one out
/// (an `flock` would be shared with such a child). It is released when the
/// process dies or closes any descriptor of the file, so the file must be
/// opened once and kept open.
#[allow(unsafe_code)]
pub fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: a zeroed `flock` is a valid value of the plain C struct.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl(F_SETLK) reads the struct we own for the call's length.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
    if result == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EACCES | libc::EAGAIN) => Ok(false),
        _ => Err(error),
    }
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole
/// new one, never a part: a temporary file beside it, synced, then renamed
/// over it. The file is created 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Makes every file and directory this process creates private to its
/// user (0600 / 0700), whatever umask it was started with.
#[allow(unsafe_code)]
pub fn private_umask() {
    // SAFETY: umask(2) takes and returns a plain integer.
    unsafe {
        libc::umask(0o077);
    }
}

/// Raises the soft limit on open files to the hard limit, so many clients
/// and jobs do not run the daemon out of descriptors. Returns the new soft
/// limit.
#[allow(unsafe_code)]
pub fn raise_file_limit() -> std::io::Result<u64> {
    // SAFETY: a zeroed rlimit is a valid value of the plain C struct.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Whether this process runs as root.
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and takes nothing.
    unsafe { libc::geteuid() == 0 }
}

/// Gives everything under `dir` (itself included) that `from` owns to
/// `to`, without following symlinks. Returns how many entries changed hands.
pub fn hand_over_tree(dir: &Path, from: u32, (uid, gid): (u32, u32)) -> std::io::Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let mut given = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.uid() == from {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
            given += 1;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("port");
        write_atomically(&path, b"1234").unwrap();
        write_atomically(&path, b"56").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "56");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
