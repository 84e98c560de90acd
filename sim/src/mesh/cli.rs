//! The `mesh` subcommand of `omnirelay-sim`.

use std::process::ExitCode;

use serde::Serialize;

use super::run::{SeedReport, run};
use super::scenario::{self, Scenario};
use crate::stats::{Summary, parse_seed_range};

/// `omnirelay-sim mesh`: whole-mesh scenarios over the core, checked against the invariants.
#[derive(Debug, clap::Args)]
pub struct MeshArgs {
    /// Scenario name, or `all`. Names: planned-failover, region-kill, region-kill-manual,
    /// partition, lag-spike, old-active-returns, failback, migration-cancel, flapping-link,
    /// planned-failover-2c, region-kill-2c.
    #[arg(long, default_value = "planned-failover")]
    scenario: String,
    /// Seeds, `A..B` (B exclusive) or one seed.
    #[arg(long, default_value = "1..11")]
    seeds: String,
    /// Print every seed's report, not only the summary.
    #[arg(long)]
    per_seed: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One scenario's summary over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioSummary {
    /// The scenario.
    pub scenario: String,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds where every invariant held.
    pub passed: usize,
    /// Seeds that broke an invariant, each with its replay command.
    pub failing: Vec<(u64, String, String)>,
    /// Longest write gap of `ns-0` after the measured moment, seconds.
    pub unavailability_s: Summary,
    /// Region kill to the first write on another cluster, seconds (kill scenarios).
    pub kill_to_write_s: Option<Summary>,
    /// Acknowledged writes lost inside reported ranges, over all seeds.
    pub reported_lost: usize,
    /// Writes acknowledged, over all seeds.
    pub acked: usize,
    /// Trace hash of the first seed (same seed, same hash).
    pub first_trace_hash: String,
}

/// Runs `scenario` over `seeds` and summarises.
pub fn summarise(
    scenario: &Scenario,
    seeds: std::ops::Range<u64>,
) -> (ScenarioSummary, Vec<SeedReport>) {
    let reports: Vec<SeedReport> = seeds.map(|seed| run(scenario, seed)).collect();
    let gaps: Vec<f64> = reports.iter().map(|r| r.unavailability_s).collect();
    let kills: Vec<f64> = reports.iter().filter_map(|r| r.kill_to_write_s).collect();
    let summary = ScenarioSummary {
        scenario: scenario.name.to_string(),
        seeds: reports.len(),
        passed: reports.iter().filter(|r| r.passed()).count(),
        failing: reports
            .iter()
            .filter(|r| !r.passed())
            .map(|r| {
                let first = r
                    .violations
                    .first()
                    .map(|v| format!("invariant {}: {}", v.invariant, v.detail))
                    .unwrap_or_default();
                (r.seed, first, r.replay_command())
            })
            .collect(),
        unavailability_s: Summary::of(&gaps),
        kill_to_write_s: (!kills.is_empty()).then(|| Summary::of(&kills)),
        reported_lost: reports.iter().map(|r| r.reported_lost).sum(),
        acked: reports.iter().map(|r| r.acked).sum(),
        first_trace_hash: reports
            .first()
            .map(|r| r.trace_hash.clone())
            .unwrap_or_default(),
    };
    (summary, reports)
}

/// Runs the subcommand; exits non-zero when any seed broke an invariant.
pub fn mesh(args: &MeshArgs) -> ExitCode {
    let seeds = match parse_seed_range(&args.seeds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let scenarios: Vec<Scenario> = if args.scenario == "all" {
        scenario::all()
    } else if let Some(s) = scenario::named(&args.scenario) {
        vec![s]
    } else {
        let names: Vec<&str> = scenario::all().iter().map(|s| s.name).collect();
        eprintln!(
            "error: unknown scenario {:?}; known: {}",
            args.scenario,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let mut failed = false;
    for scenario in &scenarios {
        let (summary, reports) = summarise(scenario, seeds.clone());
        failed |= summary.passed < summary.seeds;
        if args.json {
            if args.per_seed {
                for r in &reports {
                    println!("{}", serde_json::to_string(r).unwrap_or_default());
                }
            }
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        } else {
            if args.per_seed {
                for r in &reports {
                    println!(
                        "  seed {} trace {} acked {} gap {:.3}s kill->write {:?} violations {}",
                        r.seed,
                        r.trace_hash,
                        r.acked,
                        r.unavailability_s,
                        r.kill_to_write_s,
                        r.violations.len()
                    );
                }
            }
            let u = summary.unavailability_s;
            print!(
                "{}: {}/{} passed; write gap p50 {:.3}s p99 {:.3}s max {:.3}s",
                summary.scenario, summary.passed, summary.seeds, u.p50, u.p99, u.max
            );
            if let Some(k) = summary.kill_to_write_s {
                print!(
                    "; kill->write p50 {:.3}s p99 {:.3}s max {:.3}s",
                    k.p50, k.p99, k.max
                );
            }
            println!(
                "; reported lost {}; first trace {}",
                summary.reported_lost, summary.first_trace_hash
            );
            for (seed, why, replay) in &summary.failing {
                println!("  FAILED seed {seed}: {why}\n    replay: {replay}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
