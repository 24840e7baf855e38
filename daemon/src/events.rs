//! The event publisher seam: every committed change is published in order.

use cattery_protocol::event::Event;
use std::sync::Mutex;
use tokio::sync::broadcast;

pub trait EventSink: Send + Sync {
    fn publish(&self, event: Event);
}

/// An event with its gap-free sequence number.
#[derive(Debug, Clone)]
pub struct Numbered {
    pub seq: u64,
    pub event: Event,
}

/// In-process fan-out with sequence numbers. The websocket server will
/// subscribe here.
pub struct Bus {
    seq: Mutex<u64>,
    sender: broadcast::Sender<Numbered>,
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            seq: Mutex::new(0),
            sender,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.sender.subscribe()
    }
}

impl EventSink for Bus {
    fn publish(&self, event: Event) {
        // Numbering and sending under one lock keeps sequence order equal to send order.
        let mut seq = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq += 1;
        let _ = self.sender.send(Numbered { seq: *seq, event });
    }
}

/// Discards events; for benchmarks and tests that do not look.
pub struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _event: Event) {}
}
