//! `omnirelay-sim run` and `omnirelay-sim replay`: chaos scenarios over seed ranges in
//! parallel jobs, with text, JSON and JUnit reports, and one seed replayed into its trace
//! and timeline picture.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::harness::{TOKIO_RNG_SEEDED, log_subscriber_to};
use super::outcome::{ChaosError, SeedOutcome};
use super::report::{ScenarioReport, SeedRecord, junit};
use super::scenario::Scenario;
use super::timeline::render_svg;
use crate::stats::parse_seed_range;

/// Runs one seed of one scenario (the chaos runner; tests pass a stand-in).
pub type Runner<'a> = dyn Fn(&Scenario, u64) -> Result<SeedOutcome, ChaosError> + Sync + 'a;

/// Where `--scenario NAME` and `--scenario all` look.
pub const SCENARIO_DIR: &str = "scenarios";

/// Arguments of `omnirelay-sim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario file (`scenarios/region-kill.toml`), a scenario name (`region-kill`, read
    /// from `scenarios/`), or `all`. Repeatable.
    #[arg(long = "scenario", required_unless_present = "regressions")]
    scenarios: Vec<String>,
    /// Seeds, `A..B` (B exclusive) or one seed `N`.
    #[arg(long, default_value = "1..11")]
    seeds: String,
    /// Seeds run at once, each on its own thread (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run every seed twice and fail it if the two trace hashes differ.
    #[arg(long)]
    twice: bool,
    /// Also run every seed of this regression list (`scenarios/regressions.toml`) for the
    /// scenarios it names.
    #[arg(long)]
    regressions: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

/// Arguments of `omnirelay-sim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A scenario file or name (see `run --scenario`).
    #[arg(long)]
    scenario: String,
    /// The seed.
    #[arg(long)]
    seed: u64,
    /// Write the trace here, one JSON record per line.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write the timeline picture (SVG) here.
    #[arg(long)]
    timeline: Option<PathBuf>,
    /// Write every node's log here (simulated timestamps), at `--log-level`.
    #[arg(long)]
    log: Option<PathBuf>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

/// A seed that once failed, kept so CI always runs it again.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// What it once broke, and the commit that fixed it.
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegressionList {
    #[serde(default)]
    regression: Vec<Regression>,
}

/// Reads a regression list: `[[regression]]` tables of `{scenario, seed, note}`.
pub fn load_regressions(path: &Path) -> Result<Vec<Regression>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let list: RegressionList =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(list.regression)
}

/// The scenario files an argument names: a path as given, a bare name from
/// [`SCENARIO_DIR`], or every `*.toml` there for `all` (in name order).
pub fn scenario_files(arg: &str) -> Result<Vec<PathBuf>, String> {
    if arg == "all" {
        let mut files: Vec<PathBuf> = std::fs::read_dir(SCENARIO_DIR)
            .map_err(|e| format!("{SCENARIO_DIR}: {e} (run from the repository root)"))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .filter(|p| p.file_stem().is_some_and(|s| s != "regressions"))
            .collect();
        files.sort();
        return Ok(files);
    }
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "toml") || arg.contains('/') {
        return Ok(vec![path.to_path_buf()]);
    }
    Ok(vec![Path::new(SCENARIO_DIR).join(format!("{arg}.toml"))])
}

/// Runs `seeds` of `scenario` on `jobs` threads (each takes the next seed when it is
/// free), twice each when `twice`. Records come back in seed order.
pub fn run_seeds(
    runner: &Runner<'_>,
    scenario: &Scenario,
    scenario_arg: &str,
    seeds: &[u64],
    jobs: usize,
    twice: bool,
) -> (Vec<SeedRecord>, f64) {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(SeedRecord, f64)>> = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, seeds.len().max(1)) {
            scope.spawn(|| {
                while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    // A panicking seed is a failed seed, not a lost report of the others.
                    let run_once = |seed| {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            runner(scenario, seed)
                        }))
                        .unwrap_or_else(|panic| {
                            let what = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            Err(ChaosError::Simulation {
                                scenario: scenario.name.clone(),
                                seed,
                                reason: format!("panicked: {what}"),
                            })
                        })
                    };
                    let record = match run_once(seed) {
                        Err(error) => (
                            SeedRecord::not_run(seed, &error.to_string(), scenario_arg),
                            0.0,
                        ),
                        Ok(first) => {
                            let second = twice.then(|| run_once(seed));
                            let record = match &second {
                                None => SeedRecord::new(&first, None, scenario_arg),
                                Some(Ok(second)) => {
                                    SeedRecord::new(&first, Some(second), scenario_arg)
                                }
                                Some(Err(error)) => SeedRecord::not_run(
                                    seed,
                                    &format!("second run: {error}"),
                                    scenario_arg,
                                ),
                            };
                            // Both runs were simulated: the speed figure counts both.
                            let simulated = first.simulated_s
                                + second
                                    .as_ref()
                                    .and_then(|s| s.as_ref().ok())
                                    .map_or(0.0, |s| s.simulated_s);
                            (record, simulated)
                        }
                    };
                    done.lock().unwrap_or_else(|p| p.into_inner()).push(record);
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(r, _)| r.seed);
    let simulated = done.iter().map(|(_, s)| s).sum();
    (done.into_iter().map(|(r, _)| r).collect(), simulated)
}

/// Seconds since `started`, for reports only (never fed to a simulation).
fn elapsed_since(started: std::time::Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// The wall clock, for timing runs in reports and experiments. The only wall-clock read in
/// sim: what it returns never reaches a simulation.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// `omnirelay-sim run`: prints one summary per scenario, writes the reports, and exits
/// non-zero when any seed failed or any SLO was missed.
pub fn run(args: &RunArgs, runner: &Runner<'_>) -> ExitCode {
    match try_run(args, runner) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Says so on stderr when this build cannot replay tokio's `select!` order from the seed.
fn warn_if_tokio_rng_unseeded() {
    if !TOKIO_RNG_SEEDED {
        eprintln!(
            "warning: built without `--cfg tokio_unstable` (RUSTFLAGS replaced \
             .cargo/config.toml?): tokio's select order is not seeded, so a replay may \
             not reproduce its run"
        );
    }
}

fn try_run(args: &RunArgs, runner: &Runner<'_>) -> Result<bool, String> {
    warn_if_tokio_rng_unseeded();
    let range = parse_seed_range(&args.seeds)?;
    let regressions = match &args.regressions {
        Some(path) => load_regressions(path)?,
        None => Vec::new(),
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // Scenario files: the ones asked for, plus every one a regression names.
    let mut plan: Vec<(String, Vec<u64>)> = Vec::new();
    for arg in &args.scenarios {
        for file in scenario_files(arg)? {
            plan.push((file.display().to_string(), range.clone().collect()));
        }
    }
    for regression in &regressions {
        let file = Path::new(SCENARIO_DIR)
            .join(format!("{}.toml", regression.scenario))
            .display()
            .to_string();
        let stem = |f: &str| {
            Path::new(f)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        };
        match plan
            .iter_mut()
            .find(|(f, _)| stem(f).as_deref() == Some(regression.scenario.as_str()))
        {
            Some((_, seeds)) if !seeds.contains(&regression.seed) => seeds.push(regression.seed),
            Some(_) => {}
            None => plan.push((file, vec![regression.seed])),
        }
    }
    let mut reports = Vec::new();
    for (file, seeds) in &plan {
        let scenario = Scenario::load(Path::new(file)).map_err(|e| e.to_string())?;
        let started = wall_clock();
        let (records, simulated) = run_seeds(runner, &scenario, file, seeds, jobs, args.twice);
        let report = ScenarioReport::new(&scenario, records, simulated, elapsed_since(started));
        print!("{}", report.text());
        reports.push(report);
    }
    let ok = reports.iter().all(ScenarioReport::ok);
    if let Some(path) = &args.report {
        let json = serde_json::json!({
            "ok": ok,
            "jobs": jobs,
            "twice": args.twice,
            "tokio_rng_seeded": TOKIO_RNG_SEEDED,
            "scenarios": reports,
        });
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let xml = junit(&reports).map_err(|e| e.to_string())?;
        std::fs::write(path, xml).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ok)
}

/// `omnirelay-sim replay`: runs one seed, prints its verdict and trace hash, writes its
/// trace and timeline, and exits non-zero when the seed fails.
pub fn replay(args: &ReplayArgs, runner: &Runner<'_>) -> ExitCode {
    match try_replay(args, runner) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn try_replay(args: &ReplayArgs, runner: &Runner<'_>) -> Result<bool, String> {
    warn_if_tokio_rng_unseeded();
    let file = scenario_files(&args.scenario)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no scenario {:?}", args.scenario))?;
    let scenario = Scenario::load(&file).map_err(|e| e.to_string())?;
    let _log = match &args.log {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let subscriber = log_subscriber_to(args.log_level, Mutex::new(file));
            Some(tracing::subscriber::set_default(subscriber))
        }
        None => None,
    };
    let outcome = runner(&scenario, args.seed).map_err(|e| e.to_string())?;
    println!(
        "{} seed {}: {}; trace hash {} ({} records, {:.0} simulated s)",
        outcome.scenario,
        outcome.seed,
        if outcome.passed() { "passed" } else { "FAILED" },
        outcome.trace_hash,
        outcome.trace.len(),
        outcome.simulated_s,
    );
    for violation in &outcome.violations {
        println!("  {violation}");
    }
    for (name, samples) in &outcome.slo_samples {
        let samples: Vec<String> = samples.iter().map(|s| format!("{s:.3}")).collect();
        println!("  {name}: [{}] s", samples.join(", "));
    }
    if let Some(path) = &args.trace {
        let mut text = String::new();
        for record in &outcome.trace {
            text.push_str(&serde_json::to_string(record).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("  trace: {}", path.display());
    }
    if let Some(path) = &args.timeline {
        std::fs::write(path, render_svg(&outcome.timeline))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("  timeline: {}", path.display());
    }
    Ok(outcome.passed())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::chaos::timeline::Timeline;

    fn scenario() -> Scenario {
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/region-kill.toml"))
            .expect("region-kill.toml")
    }

    fn outcome(seed: u64, hash: String) -> SeedOutcome {
        SeedOutcome {
            scenario: "region-kill".into(),
            seed,
            violations: if seed == 5 {
                vec!["broken".into()]
            } else {
                Vec::new()
            },
            slo_samples: BTreeMap::new(),
            counters: BTreeMap::new(),
            simulated_s: 90.0,
            trace_hash: hash,
            trace: Vec::new(),
            timeline: Timeline::default(),
        }
    }

    #[test]
    fn parallel_jobs_return_every_seed_once_in_seed_order() {
        let runner = |_: &Scenario, seed: u64| Ok(outcome(seed, format!("h{seed}")));
        let seeds: Vec<u64> = (1..=20).rev().collect();
        let (records, simulated) = run_seeds(&runner, &scenario(), "x", &seeds, 3, false);
        let got: Vec<u64> = records.iter().map(|r| r.seed).collect();
        assert_eq!(got, (1..=20).collect::<Vec<_>>());
        assert_eq!(simulated, 20.0 * 90.0);
        assert_eq!(
            records.iter().filter(|r| !r.passed).count(),
            1,
            "seed 5 fails"
        );
    }

    #[test]
    fn twice_fails_exactly_the_seed_whose_replay_hash_differs() {
        // Seed 3's second run gives another hash, as a run that read the wall clock would.
        let calls = AtomicU64::new(0);
        let runner = |_: &Scenario, seed: u64| {
            let salt = if seed == 3 {
                calls.fetch_add(1, Ordering::Relaxed)
            } else {
                0
            };
            Ok(outcome(seed, format!("h{seed}-{salt}")))
        };
        let (records, _) = run_seeds(&runner, &scenario(), "x", &[1, 2, 3, 4], 2, true);
        let failing: Vec<u64> = records
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.seed)
            .collect();
        assert_eq!(failing, vec![3]);
        assert!(records.iter().all(|r| r.replay_hash.is_some()));
    }

    #[test]
    fn a_setup_error_is_a_failed_seed_with_the_error_not_a_crash() {
        let runner = |s: &Scenario, seed: u64| {
            Err(ChaosError::Setup {
                scenario: s.name.clone(),
                reason: format!("no certs for {seed}"),
            })
        };
        let (records, _) = run_seeds(&runner, &scenario(), "x", &[9], 1, false);
        assert!(!records[0].passed);
        assert!(
            records[0].violations[0].contains("no certs for 9"),
            "{:?}",
            records[0].violations
        );
    }

    #[test]
    fn a_panicking_seed_fails_alone_and_the_other_seeds_are_reported() {
        let runner = |_: &Scenario, seed: u64| {
            assert_ne!(seed, 2, "seed 2 breaks the runner");
            Ok(outcome(seed, format!("h{seed}")))
        };
        let (records, _) = run_seeds(&runner, &scenario(), "x", &[1, 2, 3], 2, false);
        let seeds: Vec<u64> = records.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, vec![1, 2, 3]);
        assert!(records[0].passed && records[2].passed);
        assert!(
            records[1].violations[0].contains("seed 2 breaks the runner"),
            "{:?}",
            records[1]
        );
    }

    #[test]
    fn the_regression_list_parses_and_rejects_unknown_keys() {
        let dir =
            std::env::temp_dir().join(format!("omnirelay-regressions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "[[regression]]\nscenario = \"region-kill\"\nseed = 17\nnote = \"n\"\n",
        )
        .expect("write");
        let list = load_regressions(&good).expect("parses");
        assert_eq!(
            list,
            vec![Regression {
                scenario: "region-kill".into(),
                seed: 17,
                note: "n".into()
            }]
        );
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "[[regression]]\nscenario = \"x\"\nseed = 1\nnote = \"n\"\nsed = 2\n",
        )
        .expect("write");
        let error = load_regressions(&bad).expect_err("unknown key");
        assert!(error.contains("sed"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bare_name_resolves_in_the_scenario_directory_and_a_path_is_kept() {
        assert_eq!(
            scenario_files("region-kill").expect("name"),
            vec![PathBuf::from("scenarios/region-kill.toml")]
        );
        assert_eq!(
            scenario_files("x/y.toml").expect("path"),
            vec![PathBuf::from("x/y.toml")]
        );
    }
}
