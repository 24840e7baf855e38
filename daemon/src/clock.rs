//! What the daemon asks of the world to stay deterministic under test: the
//! time, and fresh ids. Production and test implementations sit side by side.

use cattery_protocol::Millis;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        since_epoch.as_millis() as Millis
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn set(&self, now: Millis) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Mints ids. Injected so engine tests are deterministic.
pub trait IdGen: Send + Sync {
    fn mint(&self, prefix: &str) -> String;
}

/// Ids that sort by creation time and stay unique across daemon restarts.
pub struct TimeIds {
    counter: AtomicU64,
}

impl TimeIds {
    pub fn new(now: Millis) -> Self {
        // The start time in the high bits keeps ids minted after a restart
        // above those minted before it. Random low bits keep two daemons
        // started in the same millisecond (tests start many in one process)
        // from minting the same ids, and so the same container names.
        let random = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::process::id(),
        );
        let seed = ((now as u64) << 20) | (random & 0xFFFF);
        Self {
            counter: AtomicU64::new(seed),
        }
    }
}

impl IdGen for TimeIds {
    fn mint(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{n:x}")
    }
}

/// Deterministic ids for tests: `prefix_1`, `prefix_2`, …
#[derive(Default)]
pub struct SeqIds {
    counter: AtomicU64,
}

impl IdGen for SeqIds {
    fn mint(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}_{n}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn two_daemons_started_in_the_same_millisecond_mint_different_ids() {
        // CI saw two test daemons in one process name the same container.
        let a = TimeIds::new(1_700_000_000_000);
        let b = TimeIds::new(1_700_000_000_000);
        let ids_a: Vec<String> = (0..5).map(|_| a.mint("j")).collect();
        let ids_b: Vec<String> = (0..5).map(|_| b.mint("j")).collect();
        assert!(
            ids_a.iter().all(|id| !ids_b.contains(id)),
            "{ids_a:?} {ids_b:?}"
        );
        let value = |id: &str| u64::from_str_radix(&id[2..], 16).unwrap();
        let later = TimeIds::new(1_700_000_000_001).mint("j");
        assert!(
            ids_a.iter().all(|id| value(id) < value(&later)),
            "a restart mints above"
        );
    }
}
