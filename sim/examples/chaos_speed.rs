//! Where a chaos run's wall time goes: turmoil's own cost of stepping the scenario's hosts,
//! the real nodes with (almost) no writes, and the scenario as written.
//!
//! ```text
//! cargo run --release -p omnirelay-sim --example chaos_speed -- \
//!     scenarios/experiments/speed-2x3-10min.toml [--seed N] [--tick-us T]...
//! ```
//!
//! turmoil advances every host's runtime on every tick whether it has work or not, so a
//! simulation of H hosts for D simulated seconds at tick t costs at least H x D / t host
//! steps. The first row measures that floor with hosts that only sleep; the ratio it prints
//! is the fastest any scenario with that many hosts and that tick can run. Wall-clock reads
//! here (`wall_clock`) only measure; they never feed a simulation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use omnirelay_sim::chaos::cli::wall_clock;
use omnirelay_sim::chaos::deployment::Deployment;
use omnirelay_sim::chaos::runner::{RunOptions, run_seed_with};
use omnirelay_sim::chaos::scenario::Scenario;

/// The workload scale of the "idle" row: a write every few seconds keeps the checkers fed.
const IDLE_RATE_SCALE: f64 = 0.001;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut seed = 1u64;
    let mut ticks_us: Vec<u64> = Vec::new();
    while let Some(arg) = args.next() {
        let value = |args: &mut dyn Iterator<Item = String>| {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{arg} needs a whole number"))
        };
        let parsed = match arg.as_str() {
            "--seed" => value(&mut args).map(|v| seed = v),
            "--tick-us" => value(&mut args).and_then(|v| match v {
                0 => Err("--tick-us must be positive".to_owned()),
                v => {
                    ticks_us.push(v);
                    Ok(())
                }
            }),
            _ if path.is_none() && !arg.starts_with('-') => {
                path = Some(PathBuf::from(&arg));
                Ok(())
            }
            _ => Err(format!("unexpected argument {arg}")),
        };
        if let Err(e) = parsed {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let Some(path) = path else {
        eprintln!("usage: chaos_speed SCENARIO.toml [--seed N] [--tick-us T]...");
        return ExitCode::from(2);
    };
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if ticks_us.is_empty() {
        ticks_us.push(RunOptions::default().tick.as_micros() as u64);
    }
    // The runner's hosts: one per deployed node (witnesses too), plus the workload's client.
    let hosts = match Deployment::of(&scenario) {
        Ok(deployment) => deployment.nodes.len() + 1,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let simulated = Duration::from_secs_f64(scenario.duration_s);
    println!(
        "{}: {hosts} hosts, {:.0} simulated s, seed {seed}",
        scenario.name, scenario.duration_s
    );
    let mut failed = false;
    for tick_us in ticks_us {
        let tick = Duration::from_micros(tick_us);
        let floor = turmoil_floor(hosts, simulated, tick);
        row(
            tick,
            "turmoil floor (hosts that only sleep)",
            simulated,
            floor,
            None,
        );
        for (label, rate_scale) in [
            ("nodes, 1/1000 of the writes", IDLE_RATE_SCALE),
            ("scenario as written", 1.0),
        ] {
            let options = RunOptions {
                tick,
                rate_scale,
                ..RunOptions::default()
            };
            let start = wall_clock();
            let outcome = run_seed_with(&scenario, seed, options);
            let wall = start.elapsed();
            match outcome {
                Ok(outcome) => {
                    let verdict = if outcome.passed() {
                        format!("passed, trace {}", outcome.trace_hash)
                    } else {
                        failed = true;
                        format!("FAILED: {}", outcome.violations.join("; "))
                    };
                    let simulated = Duration::from_secs_f64(outcome.simulated_s);
                    row(tick, label, simulated, wall, Some((floor, verdict)));
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn row(
    tick: Duration,
    label: &str,
    simulated: Duration,
    wall: Duration,
    rest: Option<(Duration, String)>,
) {
    let ratio = simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let mut line = format!(
        "  tick {:>5} us  {label:<40} wall {:>6.2} s  {ratio:>6.1}x real time",
        tick.as_micros(),
        wall.as_secs_f64(),
    );
    if let Some((floor, verdict)) = rest {
        line.push_str(&format!(
            "  ({:.0} % of it the floor; {verdict})",
            100.0 * floor.as_secs_f64() / wall.as_secs_f64().max(1e-9)
        ));
    }
    println!("{line}");
}

/// Wall time turmoil takes to step `hosts` hosts that only sleep through `simulated`.
fn turmoil_floor(hosts: usize, simulated: Duration, tick: Duration) -> Duration {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(simulated + Duration::from_secs(1))
        .tick_duration(tick)
        .build();
    for h in 1..hosts {
        sim.host(format!("idle-{h}"), || async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    sim.client("idle-client", async move {
        tokio::time::sleep(simulated).await;
        Ok(())
    });
    let start = wall_clock();
    sim.run().expect("hosts that only sleep cannot fail");
    start.elapsed()
}
