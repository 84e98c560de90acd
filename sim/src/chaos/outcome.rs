//! What one seed of a chaos scenario produced: the contract between the runner (which
//! drives real nodes under turmoil) and `omnirelay-sim run` / `replay` (which aggregate
//! seeds into reports, compare replays, and draw timelines).

use std::collections::BTreeMap;

use serde::Serialize;

use super::harness::TraceRecord;
use super::timeline::Timeline;

/// Everything one seed of one scenario yields. A run is named by `(scenario, seed)` alone:
/// running it again must give the same `trace_hash`.
#[derive(Clone, Debug, Serialize)]
pub struct SeedOutcome {
    /// The scenario's name (its file stem).
    pub scenario: String,
    /// The turmoil seed.
    pub seed: u64,
    /// Each broken invariant or per-seed SLO bound, as one sentence naming it (`"
    /// exactly_once_in_order: key k-17 applied twice on eu-west-2"`). Empty: the seed passed.
    pub violations: Vec<String>,
    /// Per SLO name ([`super::scenario::SLO_NAMES`]), the durations this seed measured, in
    /// seconds (a seed with two region kills has two `failover_to_first_write` samples).
    pub slo_samples: BTreeMap<String, Vec<f64>>,
    /// Counts worth reporting: writes acknowledged, refused, unknown, lost within a
    /// reported range, … (names are the runner's; reports print them as they are).
    pub counters: BTreeMap<String, u64>,
    /// Simulated seconds the run covered.
    pub simulated_s: f64,
    /// Hex digest of the trace: equal for equal `(scenario, seed)`.
    pub trace_hash: String,
    /// The trace itself, in record order (written out by `replay --trace`).
    #[serde(skip)]
    pub trace: Vec<TraceRecord>,
    /// What `replay --timeline` draws.
    #[serde(skip)]
    pub timeline: Timeline,
}

impl SeedOutcome {
    /// No invariant broken and no per-seed bound exceeded.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Why a seed could not be run at all (as opposed to a run that broke an invariant, which
/// is a [`SeedOutcome`] with violations).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The mesh could not be set up (certificates, configuration): names what failed.
    #[error("setting up {scenario}: {reason}")]
    Setup {
        /// The scenario.
        scenario: String,
        /// What failed.
        reason: String,
    },
    /// turmoil stopped the simulation (a host task panicked or the run exceeded its
    /// duration): the message turmoil gave.
    #[error("simulation of {scenario} seed {seed} stopped: {reason}")]
    Simulation {
        /// The scenario.
        scenario: String,
        /// The seed.
        seed: u64,
        /// turmoil's error.
        reason: String,
    },
}
