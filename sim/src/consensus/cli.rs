//! The `election` subcommand of `omnirelay-sim`.

use std::process::ExitCode;
use std::time::Duration;

use omnirelay_core::consensus::ElectionTimeout;

use super::election::{ElectionExperiment, run_election_experiment};

/// `omnirelay-sim election`: the Figure 16 experiment.
#[derive(Debug, clap::Args)]
pub struct ElectionArgs {
    /// Voters per cluster.
    #[arg(long, default_value_t = 5)]
    voters: usize,
    /// Election timeout range in milliseconds, `MIN-MAX`.
    #[arg(long = "timeout-ms", default_value = "150-300")]
    timeout_ms: String,
    /// Leader crashes measured.
    #[arg(long, default_value_t = 1000)]
    trials: usize,
    /// Base seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One-way network latency range in milliseconds, `MIN-MAX` (fractions allowed).
    #[arg(long = "one-way-ms", default_value = "6-9")]
    one_way_ms: String,
    /// Time an fsync takes, in milliseconds (fractions allowed).
    #[arg(long = "fsync-ms", default_value_t = 0.5)]
    fsync_ms: f64,
    /// Turn pre-vote off (the paper's setup had none).
    #[arg(long)]
    no_pre_vote: bool,
    /// Turn check-quorum and the leader lease off.
    #[arg(long)]
    no_check_quorum: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_range(text: &str) -> Option<ElectionTimeout> {
    let (a, b) = text.split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    let b: u64 = b.trim().parse().ok()?;
    ElectionTimeout::new(Duration::from_millis(a), Duration::from_millis(b))
}

fn parse_latency(text: &str) -> Option<(Duration, Duration)> {
    let (a, b) = text.split_once('-')?;
    let a = millis(a.trim().parse().ok()?)?;
    let b = millis(b.trim().parse().ok()?)?;
    (a <= b).then_some((a, b))
}

/// Milliseconds as a duration: finite, non-negative and at most a day (a larger value
/// would only make a trial run forever, and an infinite one cannot be represented).
fn millis(ms: f64) -> Option<Duration> {
    (ms.is_finite() && (0.0..=MAX_MS).contains(&ms)).then(|| Duration::from_secs_f64(ms / 1e3))
}

const MAX_MS: f64 = 86_400_000.0;

/// Runs the experiment and prints its report; fails when any trial saw two leaders in a
/// term or a split-brain event.
pub fn election(args: &ElectionArgs) -> ExitCode {
    let Some(latency) = parse_latency(&args.one_way_ms) else {
        eprintln!("--one-way-ms must be MIN-MAX in milliseconds with 0 <= MIN <= MAX <= 86400000");
        return ExitCode::from(2);
    };
    let Some(fsync) = millis(args.fsync_ms) else {
        eprintln!("--fsync-ms must be a number of milliseconds from 0 to 86400000");
        return ExitCode::from(2);
    };
    if args.voters == 0 {
        eprintln!("--voters must be at least 1");
        return ExitCode::from(2);
    }
    let Some(timeout) = parse_range(&args.timeout_ms) else {
        eprintln!("--timeout-ms must be MIN-MAX in milliseconds with 0 < MIN <= MAX");
        return ExitCode::from(2);
    };
    let mut exp = ElectionExperiment::new(timeout, args.trials, args.seed);
    exp.voters = args.voters;
    exp.pre_vote = !args.no_pre_vote;
    exp.check_quorum = !args.no_check_quorum;
    exp.latency = latency;
    exp.fsync = fsync;
    let report = run_election_experiment(&exp);
    if args.json {
        match serde_json::to_string(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "election voters={} timeout={}ms pre_vote={} check_quorum={} trials={} unresolved={}",
            report.voters,
            report.timeout_ms,
            report.pre_vote,
            report.check_quorum,
            report.trials,
            report.unresolved
        );
        println!(
            "time to elect a new leader (ms): median {:.1}  mean {:.1}  p99 {:.1}  max {:.1}",
            report.median_ms, report.mean_ms, report.p99_ms, report.max_ms
        );
        println!(
            "two leaders in a term: {}  split-brain events: {}  trace_hash {}",
            report.two_leaders_in_a_term, report.split_brain_events, report.trace_hash
        );
    }
    if report.two_leaders_in_a_term > 0 || report.split_brain_events > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
