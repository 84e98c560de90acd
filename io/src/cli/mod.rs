//! The `omnirelay` command line. Each subcommand lives in its own file.

pub mod bench;
pub mod cert;
pub mod config;
pub mod demo;
pub mod dev;
pub mod mesh;
pub mod node;
