//! `omnirelay`: the node and operator CLI.

use clap::Parser;

/// OmniRelay Mesh: multi-cluster replication and failover.
///
/// The node, control API and operator commands arrive with their issues; today this
/// binary only reports its version.
#[derive(Debug, Parser)]
#[command(name = "omnirelay", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!(
        "omnirelay {}: no subcommands yet; see README.md",
        env!("CARGO_PKG_VERSION")
    );
}
