//! The cattery client side: a websocket client for catteryd, the `ctl` and
//! `daemon` commands built on it, and the terminal control room.

pub mod app;
pub mod client;
pub mod ctl;
pub mod daemon_log;
pub mod fixtures;
pub mod home;
pub mod lifecycle;
mod lockcheck;
pub mod runtime;
pub mod ui;
