//! The cattery client side: a websocket client for catteryd, the `ctl` and
//! `daemon` commands built on it, and (later) the terminal UI.

pub mod client;
pub mod ctl;
pub mod home;
pub mod lifecycle;
