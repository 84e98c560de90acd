//! The tokio shells around the core: transport security, storage, APIs, and the CLI.

pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod control;
pub mod convert;
pub mod metrics;
pub mod node;
pub mod storage;
pub mod tls;
pub mod transport;
