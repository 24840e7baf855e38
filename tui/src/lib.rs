//! The cattery client side: a websocket client for catteryd, the `ctl`
//! commands built on it, and (later) the terminal UI.

pub mod client;
