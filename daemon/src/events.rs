//! The event publisher seam: every committed change is published in order,
//! numbered without gaps, and kept in a ring so a reconnecting client can
//! catch up on what it missed.

use cattery_protocol::event::Event;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub trait EventSink: Send + Sync {
    fn publish(&self, event: Event);
}

/// An event with its gap-free sequence number.
#[derive(Debug, Clone)]
pub struct Numbered {
    pub seq: u64,
    /// Shared, so handing the event to every subscriber copies a pointer,
    /// not the run patch inside it.
    pub event: Arc<Event>,
    /// The event's wire frame, encoded once and shared (not copied) by
    /// every client that sends it.
    wire: Arc<OnceLock<Utf8Bytes>>,
}

/// Borrowing twin of `ServerFrame::Event`, so encoding needs no copy of the event.
#[derive(Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    event: &'a Event,
}

impl Numbered {
    pub fn new(seq: u64, event: Event) -> Self {
        Self {
            seq,
            event: Arc::new(event),
            wire: Arc::new(OnceLock::new()),
        }
    }

    /// `{"type":"event","seq":…,"event":…}`, encoded on first use; a
    /// cheap reference-counted handle.
    pub fn wire_frame(&self) -> Utf8Bytes {
        let frame = self.wire.get_or_init(|| {
            let frame = EventFrame {
                kind: "event",
                seq: self.seq,
                event: &self.event,
            };
            // Events are plain data; encoding cannot fail, but never panic here.
            Utf8Bytes::from(serde_json::to_string(&frame).unwrap_or_default())
        });
        frame.clone()
    }
}

/// The numbered events after a client's last one, and the live stream after those.
pub struct CatchUp {
    pub missed: Vec<Numbered>,
    pub live: broadcast::Receiver<Numbered>,
}

struct State {
    seq: u64,
    ring: VecDeque<Numbered>,
}

/// In-process fan-out with sequence numbers and a replay ring.
pub struct Bus {
    state: Mutex<State>,
    ring_capacity: usize,
    sender: broadcast::Sender<Numbered>,
}

impl Bus {
    /// `capacity` bounds both the replay ring and each subscriber's queue: a
    /// subscriber that falls further behind is told it lagged.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (sender, _) = broadcast::channel(capacity);
        Self {
            state: Mutex::new(State {
                seq: 0,
                ring: VecDeque::with_capacity(capacity),
            }),
            ring_capacity: capacity,
            sender,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest sequence number.
    pub fn seq(&self) -> u64 {
        self.state().seq
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.sender.subscribe()
    }

    /// Live events from now on, and the sequence number they follow.
    pub fn subscribe_now(&self) -> (u64, broadcast::Receiver<Numbered>) {
        let state = self.state();
        (state.seq, self.sender.subscribe())
    }

    /// Events after `since`, then the live stream, with no gap and no
    /// repeat between them; `None` when the ring no longer reaches back.
    pub fn catch_up(&self, since: u64) -> Option<CatchUp> {
        let state = self.state();
        if since > state.seq {
            return None;
        }
        let oldest_kept = state.ring.front().map_or(state.seq + 1, |n| n.seq);
        if since + 1 < oldest_kept {
            return None;
        }
        let missed = state
            .ring
            .iter()
            .filter(|n| n.seq > since)
            .cloned()
            .collect();
        Some(CatchUp {
            missed,
            live: self.sender.subscribe(),
        })
    }
}

impl EventSink for Bus {
    fn publish(&self, event: Event) {
        // Numbering, keeping and sending under one lock keeps the ring, the
        // stream and the numbers in the same order.
        let mut state = self.state();
        state.seq += 1;
        let numbered = Numbered::new(state.seq, event);
        if state.ring.len() == self.ring_capacity {
            state.ring.pop_front();
        }
        state.ring.push_back(numbered.clone());
        let _ = self.sender.send(numbered);
    }
}

/// Discards events; for benchmarks and tests that do not look.
pub struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _event: Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use cattery_protocol::agent::LogLevel;

    fn log(n: u64) -> Event {
        Event::StepLog {
            run_id: "r".into(),
            step_index: 0,
            at: n as i64,
            level: LogLevel::Info,
            line: format!("line {n}"),
        }
    }

    #[test]
    fn catch_up_replays_exactly_what_was_missed_then_streams() {
        let bus = Bus::new(4);
        for n in 1..=3 {
            bus.publish(log(n));
        }
        let mut caught = bus.catch_up(1).unwrap();
        let seqs: Vec<_> = caught.missed.iter().map(|n| n.seq).collect();
        assert_eq!(seqs, [2, 3]);
        bus.publish(log(4));
        assert_eq!(caught.live.try_recv().unwrap().seq, 4);
        assert!(bus.catch_up(4).unwrap().missed.is_empty());
    }

    #[test]
    fn the_shared_wire_frame_is_exactly_the_server_frame() {
        let numbered = Numbered::new(7, log(7));
        let shared: serde_json::Value =
            serde_json::from_str(numbered.wire_frame().as_str()).unwrap();
        let frame = cattery_protocol::wire::ServerFrame::Event {
            seq: 7,
            event: log(7),
        };
        assert_eq!(shared, serde_json::to_value(frame).unwrap());
    }

    #[test]
    fn a_gap_older_than_the_ring_needs_a_snapshot() {
        let bus = Bus::new(2);
        for n in 1..=5 {
            bus.publish(log(n));
        }
        assert!(bus.catch_up(2).is_none(), "event 3 is gone");
        assert_eq!(bus.catch_up(3).unwrap().missed.len(), 2);
        assert!(
            bus.catch_up(9).is_none(),
            "a future seq is from another daemon life"
        );
    }
}
