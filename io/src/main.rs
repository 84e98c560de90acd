//! `omnirelay`: the node and operator CLI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omnirelay_io::cli::cert::{self, CertCommand};
use omnirelay_io::cli::config::{self as config_cli, ConfigCommand};
use omnirelay_io::cli::demo::{self, DemoArgs};
use omnirelay_io::cli::dev::{self, DevCommand};
use omnirelay_io::cli::mesh::{self, MeshArgs};
use omnirelay_io::cli::node::{self as node_cli, NodeArgs};

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
    /// Check a node configuration file, or print a complete example.
    #[command(subcommand, after_help = config_cli::EXIT_CODES_HELP)]
    Config(ConfigCommand),
    /// Run one node of the mesh until SIGTERM or ctrl-c.
    #[command(after_help = node_cli::EXIT_CODES_HELP)]
    Node(NodeArgs),
    /// Operate the mesh through a node's control API.
    #[command(after_help = mesh::EXIT_CODES_HELP)]
    Mesh(MeshArgs),
    /// Run the three-minute tour: a local mesh, a workload, failovers and a region kill.
    Demo(DemoArgs),
    /// Local development mesh: `dev up` runs 3 clusters x 3 nodes until ctrl-c.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Measure replication throughput and lag against this machine's raw ceilings.
    #[command(subcommand)]
    Bench(omnirelay_io::cli::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(command) => cert::run(command).map_err(anyhow::Error::from),
        // Its own exit codes: 2 means "fix the configuration".
        Command::Config(command) => return config_cli::run(command),
        Command::Node(args) => return node_cli::run(args),
        // Its own exit codes: 1 refused, 2 usage, 3 unreachable.
        Command::Mesh(args) => return mesh::run(args),
        Command::Demo(args) => return demo::run(args),
        Command::Dev(command) => return dev::run(command),
        Command::Bench(command) => return omnirelay_io::cli::bench::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("omnirelay: {err:#}");
            ExitCode::FAILURE
        }
    }
}
