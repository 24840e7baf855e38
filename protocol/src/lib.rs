//! Every type that crosses a cattery process boundary.
//!
//! `domain` holds the board and run model shared by the daemon and its
//! clients, `agent` the line protocol spoken by agent processes, and `event`
//! the change notifications the daemon publishes. Nothing here does I/O.

pub mod agent;
pub mod diff;
pub mod domain;
pub mod estimate;
pub mod event;
pub mod gate;
pub mod home;
pub mod names;
pub mod review;
pub mod schedule;
pub mod tester;
pub mod text;
pub mod transcript;
pub mod wire;
pub mod workspace;

pub use domain::*;

/// Bumped whenever a change to these types would break an older peer.
pub const PROTOCOL_VERSION: u32 = 8;

/// Milliseconds since the Unix epoch; every timestamp on the wire uses it.
pub type Millis = i64;

#[cfg(test)]
pub(crate) mod roundtrip {
    use serde::{Serialize, de::DeserializeOwned};
    use std::fmt::Debug;

    /// Serializes, parses back and checks nothing was lost or renamed.
    pub fn assert_roundtrip<T>(value: &T) -> serde_json::Value
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let json = serde_json::to_value(value).unwrap();
        let back: T = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, value);
        json
    }
}

#[cfg(test)]
mod tests;

/// Renders a timestamp for people: `2026-12-01 08:40:12 UTC`. Daemon
/// messages use UTC so they read the same in every client.
pub fn format_utc(at: Millis) -> String {
    match jiff::Timestamp::from_millisecond(at) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{at} ms since the epoch"),
    }
}

/// The same in the local time zone of this process, for the TUI and `ctl`.
pub fn format_local(at: Millis) -> String {
    match jiff::Timestamp::from_millisecond(at) {
        Ok(ts) => ts
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => format!("{at} ms since the epoch"),
    }
}
