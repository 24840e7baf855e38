//! The daemon's health. It is degraded while the disk refuses writes: reads
//! keep serving, drivers hold their writes back, and every client is told.
//! A small probe write finds out when space is back, so recovery needs no
//! other write and no restart.

use super::Daemon;
use crate::clock::Clock;
use crate::events::EventSink;
use crate::store::Store;
use cattery_protocol::event::Event;
use cattery_protocol::wire::Health;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a degraded daemon tries the disk again.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The current health, shared by the daemon's reads and its watcher task.
pub(crate) type Shared = Arc<Mutex<Health>>;

impl Daemon {
    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }

    /// The task that keeps [`Daemon::health`] true: it follows the store's
    /// disk state, probes while the disk is full, and publishes each change.
    /// Runs until the runtime stops.
    pub fn watch_health(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let watcher = Watcher {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            events: Arc::clone(&self.events),
            health: Arc::clone(&self.health),
        };
        watcher.run()
    }
}

fn lock(health: &Shared) -> std::sync::MutexGuard<'_, Health> {
    health.lock().unwrap_or_else(|p| p.into_inner())
}

struct Watcher {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    health: Shared,
}

impl Watcher {
    async fn run(self) {
        let mut disk = self.store.watch_disk();
        loop {
            let refused = *disk.borrow_and_update();
            self.set(refused);
            let next = match refused {
                None => disk.changed().await,
                Some(_) => tokio::select! {
                    changed = disk.changed() => changed,
                    () = tokio::time::sleep(PROBE_EVERY) => {
                        self.probe().await;
                        Ok(())
                    }
                },
            };
            if next.is_err() {
                return;
            }
        }
    }

    /// A probe that succeeds flips the store's disk state back, which the
    /// loop then sees; one that fails changes nothing.
    async fn probe(&self) {
        let store = Arc::clone(&self.store);
        let now = self.clock.now();
        let _ = tokio::task::spawn_blocking(move || store.probe_disk(now)).await;
    }

    /// Records the health that `refused` (what a full disk stopped) implies,
    /// and publishes it when it changed.
    fn set(&self, refused: Option<&'static str>) {
        let health = match refused {
            None => Health::Ok,
            Some(what) => Health::Degraded {
                reason: format!(
                    "the disk holding {} is full, so writes are refused (the daemon could not {what}); reads still work, and writes resume by themselves once space is freed",
                    self.store.path().display()
                ),
                since: self.clock.now(),
            },
        };
        {
            let mut current = lock(&self.health);
            if current.is_degraded() == health.is_degraded() {
                return;
            }
            *current = health.clone();
        }
        match &health {
            Health::Ok => tracing::info!("the disk takes writes again; health is ok"),
            Health::Degraded { reason, .. } => tracing::error!("degraded: {reason}"),
        }
        self.events.publish(Event::Health { health });
    }
}
