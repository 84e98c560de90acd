//! Arguments and JSON output of `omnirelay-sim gossip`.

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::experiment::{GossipExperiment, GossipReport};
use crate::stats::{Summary, parse_seed_range};

/// `omnirelay-sim gossip`: join spread, failure detection, false positives and traffic of
/// SWIM/Lifeguard membership on the model simulator.
#[derive(Clone, Debug, Args)]
pub struct GossipArgs {
    /// Members at the start.
    #[arg(long, default_value_t = 200)]
    pub nodes: u64,
    /// The seed of a single run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run seeds `A..B` (B exclusive) and add medians; overrides `--seed`.
    #[arg(long)]
    pub seeds: Option<String>,
    /// Timing profile: lan, wan or mesh.
    #[arg(long, default_value = "lan")]
    pub profile: String,
    /// Message loss probability on every link.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Simulated seconds per run.
    #[arg(long, default_value_t = 600)]
    pub duration_s: u64,
    /// Members crashed during a run (one every 50 s from 60 s).
    #[arg(long, default_value_t = 10)]
    pub crashes: u32,
    /// Aligned protocol periods, crashes just before a period (SWIM's analysis model).
    #[arg(long)]
    pub aligned: bool,
    /// Print JSON (the only output format; kept for scripts that pass it).
    #[arg(long)]
    pub json: bool,
}

impl GossipArgs {
    /// One experiment per seed asked for.
    pub fn experiments(&self) -> Result<Vec<GossipExperiment>, String> {
        let seeds = match &self.seeds {
            Some(range) => parse_seed_range(range)?,
            None => self.seed..self.seed.saturating_add(1),
        };
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("--loss {} must be within 0..=1", self.loss));
        }
        Ok(seeds
            .map(|seed| GossipExperiment {
                nodes: self.nodes,
                seed,
                profile: self.profile.clone(),
                loss: self.loss,
                duration: Duration::from_secs(self.duration_s),
                crashes: self.crashes,
                aligned: self.aligned,
            })
            .collect())
    }
}

fn run_json(report: &GossipReport, wall_seconds: f64) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("wall_seconds".into(), json!(wall_seconds));
        let steps_per_s = report.steps as f64 / wall_seconds.max(1e-9);
        map.insert("steps_per_s".into(), json!(steps_per_s));
        map.insert(
            "speedup_vs_real_time".into(),
            json!(report.simulated_seconds / wall_seconds.max(1e-9)),
        );
    }
    v
}

/// The one JSON object printed: the run itself for one seed; for several, every run plus
/// medians across seeds (join shares, detection) and totals (false positives).
pub fn render(runs: &[(GossipReport, f64)]) -> Value {
    if let [(report, wall)] = runs {
        return run_json(report, *wall);
    }
    let median = |f: &dyn Fn(&GossipReport) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(|(r, _)| f(r)).collect();
        Summary::of(&v)
    };
    let walls: Vec<f64> = runs.iter().map(|(_, w)| *w).collect();
    json!({
        "seeds": runs.len(),
        "join_p50_s": median(&|r| r.join.p50_s),
        "join_p95_s": median(&|r| r.join.p95_s),
        "join_p100_s": median(&|r| r.join.p100_s),
        "joins_never_complete": runs.iter().filter(|(r, _)| r.join.p100_s.is_none()).count(),
        "first_suspicion_periods_mean": median(&|r| Some(r.detect.first_suspicion_periods.mean)
            .filter(|_| r.detect.first_suspicion_periods.count > 0)),
        "first_suspicion_s_mean": median(&|r| Some(r.detect.first_suspicion_s.mean)
            .filter(|_| r.detect.first_suspicion_s.count > 0)),
        "all_dead_s_p50": median(&|r| Some(r.detect.all_dead_s.p50)
            .filter(|_| r.detect.all_dead_s.count > 0)),
        "undetected_total": runs.iter().map(|(r, _)| r.detect.undetected).sum::<usize>(),
        "false_positives_total": runs.iter().map(|(r, _)| r.false_positives).sum::<usize>(),
        "messages_per_node_per_s": median(&|r| Some(r.messages_per_node_per_s)),
        "bytes_per_node_per_s": median(&|r| Some(r.bytes_per_node_per_s)),
        "wall_seconds": Summary::of(&walls),
        "runs": runs.iter().map(|(r, w)| run_json(r, *w)).collect::<Vec<_>>(),
    })
}
