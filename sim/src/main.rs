//! `omnirelay-sim`: seeded experiments over the core.
#![forbid(unsafe_code)]

use clap::Parser;

/// Seeded, replayable simulations of OmniRelay Mesh.
#[derive(Debug, Parser)]
#[command(name = "omnirelay-sim", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
