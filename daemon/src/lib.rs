//! catteryd: the pipeline engine, its SQLite store and agent execution.

pub mod app;
pub mod children;
pub mod clock;
pub mod config;
pub mod engine;
pub mod events;
pub mod exec;
pub mod gateway;
pub mod git;
pub mod notify;
pub mod os;
pub mod runner;
pub mod server;
pub mod service;
pub mod spend;
pub mod store;
pub mod transcript;
