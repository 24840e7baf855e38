//! Every type that crosses a cattery process boundary.
//!
//! `domain` holds the board and run model shared by the daemon and its
//! clients, `agent` the line protocol spoken by agent processes, and `event`
//! the change notifications the daemon publishes. Nothing here does I/O.

pub mod agent;
pub mod domain;
pub mod event;
pub mod wire;
pub mod workspace;

pub use domain::*;

/// Bumped whenever a change to these types would break an older peer.
pub const PROTOCOL_VERSION: u32 = 1;

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
