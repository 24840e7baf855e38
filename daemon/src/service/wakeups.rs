//! The daemon's one timer for runs that wait on time (a polling gate's
//! next probe). A waiting run holds no task: it is a row here, keyed by
//! run, and the single wake-up task starts its driver when it is due. The
//! due times come from the run's stored gate state, so a restarted daemon
//! re-arms them by driving its running runs once.

use cattery_protocol::Millis;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Wakeups {
    due: Mutex<Due>,
    changed: Notify,
}

#[derive(Default)]
struct Due {
    by_time: BTreeSet<(Millis, String)>,
    by_run: HashMap<String, Millis>,
}

impl Wakeups {
    /// Wakes `run_id` at `at`, replacing any wake-up it had.
    pub fn at(&self, run_id: &str, at: Millis) {
        let Ok(mut due) = self.due.lock() else {
            return;
        };
        if let Some(old) = due.by_run.insert(run_id.to_owned(), at) {
            due.by_time.remove(&(old, run_id.to_owned()));
        }
        due.by_time.insert((at, run_id.to_owned()));
        drop(due);
        self.changed.notify_one();
    }

    /// Takes the runs due by `now`, and says when the next one is.
    pub fn take_due(&self, now: Millis) -> (Vec<String>, Option<Millis>) {
        let Ok(mut due) = self.due.lock() else {
            return (Vec::new(), None);
        };
        let mut ready = Vec::new();
        while let Some((at, run)) = due.by_time.first().cloned() {
            if at > now {
                break;
            }
            due.by_time.pop_first();
            due.by_run.remove(&run);
            ready.push(run);
        }
        let next = due.by_time.first().map(|(at, _)| *at);
        (ready, next)
    }

    #[cfg(test)]
    /// How many runs wait on a wake-up.
    pub fn len(&self) -> usize {
        self.due.lock().map_or(0, |d| d.by_run.len())
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves when a wake-up was added or moved.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_has_one_wakeup_and_the_earliest_comes_first() {
        let wakeups = Wakeups::default();
        wakeups.at("r1", 300);
        wakeups.at("r2", 100);
        wakeups.at("r1", 200);
        assert_eq!(wakeups.len(), 2);
        assert_eq!(wakeups.take_due(150), (vec!["r2".to_owned()], Some(200)));
        assert_eq!(wakeups.take_due(250), (vec!["r1".to_owned()], None));
        assert!(wakeups.is_empty());
    }
}
