//! What the gateway keeps across daemon restarts: its loopback port and
//! the secret its job tokens are derived from. A job the next daemon
//! re-attaches to was started with the old daemon's gateway address and
//! token in its environment; both stay good, so the job works on. (A
//! container reaches the gateway through the relay, which outlives the
//! daemon and forwards to its socket: `exec/relay.rs`.)

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Kept {
    #[serde(default)]
    loopback_port: u16,
    /// Hex; job tokens are its HMAC of the job id.
    #[serde(default)]
    secret: String,
}

/// The gateway's kept ports and token secret, saved in one file (mode 0600)
/// as they change, or only in memory.
pub struct Keeper {
    path: Option<PathBuf>,
    kept: Mutex<Kept>,
}

impl Keeper {
    /// Nothing kept: free ports and a secret for this process only.
    pub fn ephemeral() -> Self {
        Self::from_kept(None, Kept::default())
    }

    /// Reads what `path` kept; a missing or unreadable file starts afresh
    /// (re-attached jobs then lose the gateway, and the log says so).
    pub fn at(path: &Path) -> Self {
        let kept = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    path = %path.display(),
                    "the gateway's kept ports and secret are unreadable ({e}); starting afresh, so jobs from before this start lose the gateway"
                );
                Kept::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kept::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the gateway's kept ports: {e}");
                Kept::default()
            }
        };
        Self::from_kept(Some(path.to_owned()), kept)
    }

    fn from_kept(path: Option<PathBuf>, mut kept: Kept) -> Self {
        if kept.secret.len() < 32 {
            kept.secret = super::random_hex();
        }
        let keeper = Self {
            path,
            kept: Mutex::new(kept),
        };
        keeper.save();
        keeper
    }

    /// A job's token: the same for the same job id across restarts, and
    /// unguessable without the secret.
    pub fn token_for(&self, job_id: &str) -> String {
        let secret = self.kept().secret.clone();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, job_id.as_bytes());
        let hex: String = tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("cattery-job-{hex}")
    }

    /// Binds `ip` on the port the gateway had before, or on a free one
    /// when that is taken (and logs that jobs from before lose it); keeps
    /// the port bound.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<std::net::TcpListener> {
        let before = self.kept().loopback_port;
        let bound = match std::net::TcpListener::bind(SocketAddr::new(ip, before)) {
            Ok(bound) => bound,
            Err(e) if before != 0 => {
                tracing::warn!(
                    "the gateway cannot have {ip}:{before} again ({e}); it listens on a new port, and jobs started before this daemon lose it"
                );
                std::net::TcpListener::bind(SocketAddr::new(ip, 0))?
            }
            Err(e) => return Err(e),
        };
        let port = bound.local_addr()?.port();
        self.kept().loopback_port = port;
        self.save();
        Ok(bound)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self) {
        let Some(path) = &self.path else {
            return;
        };
        let text = match serde_json::to_vec(&*self.kept()) {
            Ok(text) => text,
            Err(e) => return tracing::warn!("cannot write the gateway's kept ports: {e}"),
        };
        if let Err(e) = crate::os::write_atomically(path, &text) {
            tracing::warn!(path = %path.display(), "cannot keep the gateway's ports: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_job_keeps_its_token_and_the_gateway_its_port_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        let first = Keeper::at(&path);
        let bound = first.bind(IpAddr::from([127, 0, 0, 1])).unwrap();
        let port = bound.local_addr().unwrap().port();
        let token = first.token_for("job-1");
        assert_ne!(token, first.token_for("job-2"), "each job its own token");
        drop(bound);
        let second = Keeper::at(&path);
        assert_eq!(second.token_for("job-1"), token);
        let again = second.bind(IpAddr::from([127, 0, 0, 1])).unwrap();
        assert_eq!(again.local_addr().unwrap().port(), port);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is the user's only");
    }

    #[test]
    fn a_kept_port_another_process_took_is_replaced_by_a_free_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        let first = Keeper::at(&path);
        let held = first.bind(IpAddr::from([127, 0, 0, 1])).unwrap();
        let second = Keeper::at(&path);
        let other = second.bind(IpAddr::from([127, 0, 0, 1])).unwrap();
        assert_ne!(
            other.local_addr().unwrap().port(),
            held.local_addr().unwrap().port()
        );
    }

    #[test]
    fn tokens_from_two_homes_differ() {
        assert_ne!(
            Keeper::ephemeral().token_for("job-1"),
            Keeper::ephemeral().token_for("job-1")
        );
    }
}
