//! Seeds of chaos scenarios summed up: the one line per scenario `omnirelay-sim run`
//! prints, its JSON report, and its JUnit XML (one test case per seed, one per SLO).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::outcome::SeedOutcome;
use super::scenario::{Scenario, Slo};
use crate::stats::Summary;

/// One seed, as the reports keep it.
#[derive(Clone, Debug, Serialize)]
pub struct SeedRecord {
    /// The seed.
    pub seed: u64,
    /// Passed: no violation and, when run twice, both runs gave one hash.
    pub passed: bool,
    /// What broke (invariants, per-seed SLO bounds, a replay that diverged, a setup error).
    pub violations: Vec<String>,
    /// The trace hash of the first run.
    pub trace_hash: String,
    /// The trace hash of the second run, when the seed was run twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_hash: Option<String>,
    /// SLO samples of this seed, seconds.
    pub slo_samples: BTreeMap<String, Vec<f64>>,
    /// The runner's counters.
    pub counters: BTreeMap<String, u64>,
    /// The command that replays this seed.
    pub replay: String,
}

impl SeedRecord {
    /// The record of one run of a seed, and of its second run when there was one: a
    /// second run whose hash differs is a violation (the seed does not replay).
    pub fn new(outcome: &SeedOutcome, second: Option<&SeedOutcome>, scenario_arg: &str) -> Self {
        let mut violations = outcome.violations.clone();
        if let Some(second) = second
            && second.trace_hash != outcome.trace_hash
        {
            violations.push(format!(
                "determinism: the second run's trace hash {} differs from the first's {}",
                second.trace_hash, outcome.trace_hash
            ));
        }
        SeedRecord {
            seed: outcome.seed,
            passed: violations.is_empty(),
            violations,
            trace_hash: outcome.trace_hash.clone(),
            replay_hash: second.map(|s| s.trace_hash.clone()),
            slo_samples: outcome.slo_samples.clone(),
            counters: outcome.counters.clone(),
            replay: replay_command(scenario_arg, outcome.seed),
        }
    }

    /// A seed that could not be run at all (the error is its one violation).
    pub fn not_run(seed: u64, error: &str, scenario_arg: &str) -> Self {
        SeedRecord {
            seed,
            passed: false,
            violations: vec![format!("not run: {error}")],
            trace_hash: String::new(),
            replay_hash: None,
            slo_samples: BTreeMap::new(),
            counters: BTreeMap::new(),
            replay: replay_command(scenario_arg, seed),
        }
    }
}

/// `omnirelay-sim replay ...` for one seed, as a reader pastes it.
pub fn replay_command(scenario_arg: &str, seed: u64) -> String {
    format!(
        "omnirelay-sim replay --scenario {scenario_arg} --seed {seed} \
         --trace seed-{seed}.jsonl --timeline seed-{seed}.svg"
    )
}

/// One SLO over every seed of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct SloFigure {
    /// The SLO's name.
    pub name: String,
    /// The bound on the 99th percentile, seconds.
    pub p99_bound_s: f64,
    /// The bound on any one sample, seconds.
    pub max_bound_s: f64,
    /// The samples of every seed, summarised.
    pub measured: Summary,
    /// Both bounds held, and there was at least one sample to hold them on.
    pub met: bool,
}

impl SloFigure {
    fn new(slo: &Slo, seeds: &[SeedRecord]) -> Self {
        let samples: Vec<f64> = seeds
            .iter()
            .filter_map(|s| s.slo_samples.get(&slo.name))
            .flatten()
            .copied()
            .collect();
        let measured = Summary::of(&samples);
        // No sample at all means the event the SLO times never happened (the failover
        // never completed): that is a miss, not a pass.
        let met = measured.count > 0 && measured.p99 <= slo.p99_s && measured.max <= slo.max_s;
        SloFigure {
            name: slo.name.clone(),
            p99_bound_s: slo.p99_s,
            max_bound_s: slo.max_s,
            measured,
            met,
        }
    }

    /// `name p50/p99/max a/b/c s (p99 <= x, max <= y): met|MISSED`.
    pub fn line(&self) -> String {
        let m = &self.measured;
        format!(
            "{} p50/p99/max {:.3}/{:.3}/{:.3} s over {} samples (p99 <= {}, max <= {}): {}",
            self.name,
            m.p50,
            m.p99,
            m.max,
            m.count,
            self.p99_bound_s,
            self.max_bound_s,
            if self.met { "met" } else { "MISSED" }
        )
    }
}

/// A scenario over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub scenario: String,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds that passed.
    pub passed: usize,
    /// Each SLO of the scenario over every seed.
    pub slos: Vec<SloFigure>,
    /// Counters summed over the seeds.
    pub counters: BTreeMap<String, u64>,
    /// Wall-clock seconds the seeds took (all jobs), as the CLI measured them.
    pub wall_s: f64,
    /// Simulated seconds over all seeds.
    pub simulated_s: f64,
    /// Every seed, in seed order.
    pub records: Vec<SeedRecord>,
}

impl ScenarioReport {
    /// Sums `records` (any order) of `scenario` up.
    pub fn new(
        scenario: &Scenario,
        mut records: Vec<SeedRecord>,
        simulated_s: f64,
        wall_s: f64,
    ) -> Self {
        records.sort_by_key(|r| r.seed);
        let mut counters = BTreeMap::new();
        for record in &records {
            for (name, n) in &record.counters {
                *counters.entry(name.clone()).or_insert(0u64) += n;
            }
        }
        ScenarioReport {
            scenario: scenario.name.clone(),
            seeds: records.len(),
            passed: records.iter().filter(|r| r.passed).count(),
            slos: scenario
                .slos
                .iter()
                .map(|slo| SloFigure::new(slo, &records))
                .collect(),
            counters,
            wall_s,
            simulated_s,
            records,
        }
    }

    /// Every seed passed and every SLO was met.
    pub fn ok(&self) -> bool {
        self.passed == self.seeds && self.slos.iter().all(|s| s.met)
    }

    /// What `run` prints: the summary line, an indented line per SLO, and each failing
    /// seed with its first violation and its replay command.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let failing: Vec<String> = self
            .records
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.seed.to_string())
            .collect();
        let speed = if self.wall_s > 0.0 {
            format!(", {:.0}x real time", self.simulated_s / self.wall_s)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}: {}/{} passed; failing seeds: [{}]; wall {:.1} s for {:.0} simulated s{speed}",
            self.scenario,
            self.passed,
            self.seeds,
            failing.join(", "),
            self.wall_s,
            self.simulated_s,
        );
        for slo in &self.slos {
            let _ = writeln!(out, "  {}", slo.line());
        }
        if !self.counters.is_empty() {
            let counters: Vec<String> = self
                .counters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "  counters: {}", counters.join(" "));
        }
        for record in self.records.iter().filter(|r| !r.passed) {
            let why = record.violations.first().map_or("", String::as_str);
            let more = record.violations.len().saturating_sub(1);
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            let _ = writeln!(out, "  FAILED seed {}: {why}{more}", record.seed);
            let _ = writeln!(out, "    replay: {}", record.replay);
        }
        out
    }
}

/// The JUnit XML of `reports`: a test suite per scenario, a test case per seed
/// (`seed-N`, failing with its violations) and per SLO (`slo-NAME`).
pub fn junit(reports: &[ScenarioReport]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("omnirelay-sim chaos");
    for scenario in reports {
        let mut suite = TestSuite::new(scenario.scenario.as_str());
        for record in &scenario.records {
            let status = if record.passed {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(record.violations.first().cloned().unwrap_or_default())
                    .set_description(format!(
                        "{}\nreplay: {}",
                        record.violations.join("\n"),
                        record.replay
                    ));
                status
            };
            let mut case = TestCase::new(format!("seed-{}", record.seed), status);
            case.set_classname(scenario.scenario.as_str());
            suite.add_test_case(case);
        }
        for slo in &scenario.slos {
            let status = if slo.met {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(slo.line());
                status
            };
            let mut case = TestCase::new(format!("slo-{}", slo.name), status);
            case.set_classname(scenario.scenario.as_str());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::timeline::Timeline;

    fn scenario() -> Scenario {
        let text = r#"
name = "region-kill"
description = "d"
duration_s = 10
invariants = ["exactly_once_in_order"]

[topology]
witnesses = 0
rtt_inside_ms = 1
rtt_between_ms = 50

[[topology.clusters]]
id = "us-east"
nodes = 1
priority = 2

[[topology.clusters]]
id = "eu-west"
nodes = 1
priority = 1

[workload]
writes_per_s = 10
namespaces = ["orders"]
payload_bytes = 16

[[slos]]
name = "failover_to_first_write"
p99_s = 3
max_s = 30
"#;
        Scenario::parse(text, std::path::Path::new("region-kill.toml")).expect("scenario")
    }

    fn outcome(seed: u64, failover_s: &[f64], violations: &[&str], hash: &str) -> SeedOutcome {
        SeedOutcome {
            scenario: "region-kill".into(),
            seed,
            violations: violations.iter().map(|v| (*v).to_string()).collect(),
            slo_samples: BTreeMap::from([(
                "failover_to_first_write".to_string(),
                failover_s.to_vec(),
            )]),
            counters: BTreeMap::from([("acknowledged".to_string(), 10)]),
            simulated_s: 10.0,
            trace_hash: hash.into(),
            trace: Vec::new(),
            timeline: Timeline::default(),
        }
    }

    #[test]
    fn a_second_run_with_another_hash_fails_the_seed_as_nondeterministic() {
        let first = outcome(7, &[2.0], &[], "aa");
        let same = outcome(7, &[2.0], &[], "aa");
        let other = outcome(7, &[2.0], &[], "bb");
        assert!(SeedRecord::new(&first, Some(&same), "x").passed);
        let diverged = SeedRecord::new(&first, Some(&other), "x");
        assert!(!diverged.passed);
        assert!(diverged.violations[0].contains("determinism"));
    }

    #[test]
    fn an_slo_is_missed_when_its_p99_exceeds_the_bound_even_if_every_seed_passed() {
        // 100 seeds: 98 fast, 2 slow. The nearest-rank p99 is the 99th value, a slow one.
        let records: Vec<SeedRecord> = (0..100)
            .map(|seed| {
                let s = if seed < 98 { 2.0 } else { 4.0 };
                SeedRecord::new(&outcome(seed, &[s], &[], "h"), None, "x")
            })
            .collect();
        let report = ScenarioReport::new(&scenario(), records, 1000.0, 10.0);
        assert_eq!(report.passed, 100);
        assert!(!report.slos[0].met, "{}", report.slos[0].line());
        assert!(!report.ok());
    }

    #[test]
    fn an_slo_with_no_sample_at_all_is_missed() {
        let records = vec![SeedRecord::new(&outcome(1, &[], &[], "h"), None, "x")];
        let report = ScenarioReport::new(&scenario(), records, 10.0, 1.0);
        assert!(!report.slos[0].met);
    }

    #[test]
    fn the_text_names_each_failing_seed_with_its_replay_command() {
        let records = vec![
            SeedRecord::new(
                &outcome(3, &[1.0], &[], "h"),
                None,
                "scenarios/region-kill.toml",
            ),
            SeedRecord::new(
                &outcome(4, &[1.0], &["exactly_once_in_order: k-1 twice"], "h"),
                None,
                "scenarios/region-kill.toml",
            ),
        ];
        let report = ScenarioReport::new(&scenario(), records, 20.0, 1.0);
        let text = report.text();
        assert!(
            text.starts_with("region-kill: 1/2 passed; failing seeds: [4]"),
            "{text}"
        );
        assert!(
            text.contains("FAILED seed 4: exactly_once_in_order: k-1 twice"),
            "{text}"
        );
        assert!(
            text.contains(
                "replay: omnirelay-sim replay --scenario scenarios/region-kill.toml --seed 4"
            ),
            "{text}"
        );
        assert_eq!(report.counters["acknowledged"], 20);
    }

    #[test]
    fn junit_has_a_case_per_seed_and_per_slo_and_counts_the_failures() {
        let records = vec![
            SeedRecord::new(&outcome(1, &[1.0], &[], "h"), None, "x"),
            SeedRecord::new(
                &outcome(2, &[1.0], &["lost <acked> & \"gone\""], "h"),
                None,
                "x",
            ),
        ];
        let report = ScenarioReport::new(&scenario(), records, 20.0, 1.0);
        let xml = junit(&[report]).expect("xml");
        assert!(
            xml.contains(r#"<testsuites name="omnirelay-sim chaos" tests="3" failures="1""#),
            "{xml}"
        );
        assert!(xml.contains(r#"name="seed-2""#), "{xml}");
        assert!(
            xml.contains(r#"name="slo-failover_to_first_write""#),
            "{xml}"
        );
        // Violation text is escaped, not spliced into the XML.
        assert!(xml.contains("&lt;acked&gt; &amp;"), "{xml}");
    }
}
