//! `omnirelay-sim`: seeded experiments over the core.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omnirelay_sim::chaos::cli::{ReplayArgs, RunArgs, replay, run};
use omnirelay_sim::chaos::run_seed;
use omnirelay_sim::consensus::cli::{ElectionArgs, election};
use omnirelay_sim::gossip::cli::{GossipArgs, render};
use omnirelay_sim::gossip::experiment;
use omnirelay_sim::mesh::cli::{MeshArgs, mesh};

/// Seeded, replayable simulations of OmniRelay Mesh.
#[derive(Debug, Parser)]
#[command(name = "omnirelay-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// SWIM/Lifeguard membership: join spread, failure detection, false positives, traffic.
    Gossip(GossipArgs),
    /// Raft Figure 16: time to elect a new leader after the leader crashes.
    Election(ElectionArgs),
    /// The whole mesh (3 clusters x 3 nodes + witness) through failover scenarios.
    Mesh(MeshArgs),
    /// Chaos scenarios (scenarios/*.toml) against the real node under turmoil, over seeds.
    Run(RunArgs),
    /// One seed of a chaos scenario again: its verdict, trace hash, trace and timeline.
    Replay(ReplayArgs),
}

fn gossip(args: GossipArgs) -> Result<(), String> {
    let mut runs = Vec::new();
    for exp in args.experiments()? {
        // Times the run for `wall_seconds`; never feeds the simulation.
        let started = omnirelay_sim::chaos::cli::wall_clock();
        let report = experiment::run(&exp)?;
        runs.push((report, started.elapsed().as_secs_f64()));
    }
    println!("{}", render(&runs));
    Ok(())
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Gossip(args) => match gossip(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Election(args) => election(&args),
        Command::Mesh(args) => mesh(&args),
        Command::Run(args) => run(&args, &run_seed),
        Command::Replay(args) => replay(&args, &run_seed),
    }
}
