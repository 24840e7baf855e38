//! The request ledger: which requests are on their way, what each was for,
//! and which gates have a decision in flight (so a second key press waits
//! instead of deciding twice).

use std::collections::{HashMap, HashSet};

/// What a request was sent for, to handle its answer.
pub(super) enum Pending {
    Pipelines,
    Spend,
    Audit { run_id: String },
    Diff { run_id: String, step: Option<usize> },
    Logs { run_id: String, step: usize },
    Decision { what: String, gate: Option<String> },
    Schedules,
    ScheduleHistory { id: String },
}

#[derive(Default)]
pub struct Requests {
    pending: HashMap<u64, Pending>,
    next_id: u64,
    /// Gates a decision was sent for and not yet answered.
    in_flight: HashSet<String>,
}

impl Requests {
    /// A fresh request id, remembered with what it is for.
    pub(super) fn register(&mut self, pending: Pending) -> u64 {
        self.next_id += 1;
        if let Pending::Decision {
            gate: Some(gate), ..
        } = &pending
        {
            self.in_flight.insert(gate.clone());
        }
        self.pending.insert(self.next_id, pending);
        self.next_id
    }

    /// The answer to `id` arrived: what it was for, if this client asked.
    /// A gate stays in flight after an accepted decision: the change that
    /// closes it arrives as an event, and until then a key must not decide
    /// again.
    pub(super) fn answered(&mut self, id: u64) -> Option<Pending> {
        self.pending.remove(&id)
    }

    /// The decision on `gate` was refused; the gate can be decided again.
    pub(super) fn refused(&mut self, gate: &str) {
        self.in_flight.remove(gate);
    }

    /// The connection broke: every answer is lost. Returns how many of the
    /// lost requests were decisions.
    pub(super) fn lose_all(&mut self) -> usize {
        let decisions = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Decision { .. }))
            .count();
        self.pending.clear();
        self.in_flight.clear();
        decisions
    }

    pub fn is_in_flight(&self, gate_id: &str) -> bool {
        self.in_flight.contains(gate_id)
    }
}
