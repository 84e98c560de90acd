//! `omnirelay`: the node and operator CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omnirelay_io::cli::cert::{self, CertCommand};

/// OmniRelay Mesh: multi-cluster replication and failover.
#[derive(Debug, Parser)]
#[command(name = "omnirelay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint the mesh CA and node or operator certificates.
    #[command(subcommand)]
    Cert(CertCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(command) => cert::run(command).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("omnirelay: {err:#}");
            ExitCode::FAILURE
        }
    }
}
