//! The verdict on one run: the invariants the scenario names, checked on its history
//! ([`super::checker`]), the SLO samples it measured, counters, the per-second write
//! summaries that close the trace, and the timeline.

use std::collections::BTreeMap;
use std::time::Duration;

use super::checker::{self, History, WriteOutcome, WriteRecord};
use super::outcome::SeedOutcome;
use super::runner::{RunState, lock, seconds};
use super::scenario::{FailoverMode, Fault, Scenario};
use super::timeline::{self, Sample, Timeline};

/// Checks the invariants the scenario names and measures its SLO samples.
pub(crate) fn outcome(
    scenario: &Scenario,
    seed: u64,
    run: &RunState,
    simulated: Duration,
) -> SeedOutcome {
    let final_state = lock(&run.final_state).take().unwrap_or_default();
    let writes = lock(&run.writes).clone();
    let planned = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::Failover {
                namespace,
                mode: FailoverMode::Planned,
                ..
            } => Some(namespace.clone()),
            _ => None,
        })
        .collect();
    let history = History {
        writes,
        held: final_state.held.clone(),
        version_vectors: final_state.version_vectors.clone(),
        losses: final_state.losses.clone(),
        planned,
        leaders: lock(&run.leaders).clone(),
        split_brains: lock(&run.split_brains).clone(),
        alive_views: final_state.alive_views.clone(),
        non_contiguous: final_state.non_contiguous.clone(),
    };
    let clusters: Vec<String> = scenario
        .topology
        .clusters
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let wants = |name: &str| scenario.invariants.iter().any(|i| i == name);
    let mut violations = Vec::new();
    let mut counters = BTreeMap::new();
    if wants("committed_entries_survive")
        || wants("planned_failover_loses_nothing")
        || wants("emergency_loss_within_reported_range")
    {
        let (lost, in_range) = checker::acknowledged_writes_survive(&history);
        violations.extend(lost);
        counters.insert("lost_within_reported_range".to_owned(), in_range);
    }
    if wants("exactly_once_in_order") {
        violations.extend(checker::exactly_once_in_order(&history));
    }
    if wants("one_writer_per_failover_version") {
        violations.extend(checker::one_writer_per_failover_version(&history));
    }
    if wants("one_leader_per_term") {
        violations.extend(checker::one_leader_per_term(&history));
    }
    if wants("gossip_membership_converges") {
        violations.extend(checker::gossip_membership_converges(&history));
    }
    if wants("convergence_after_heal") {
        violations.extend(checker::convergence_after_heal(&history, &clusters));
    }

    let mut slo_samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, sample, trigger) in slo_samples_of(scenario, &history) {
        match sample {
            Some(sample) => slo_samples.entry(name).or_default().push(sample),
            // The event the SLO times never completed: a miss, not a missing sample.
            None if scenario.slos.iter().any(|s| s.name == name) => violations.push(format!(
                "slo {name}: after {trigger}, writes never resumed on another cluster"
            )),
            None => {}
        }
    }
    let lags = lock(&run.lags).clone();
    if let Some(worst) = lags.iter().map(|(_, lag)| *lag).max() {
        slo_samples
            .entry("replication_lag".into())
            .or_default()
            .push(worst.as_secs_f64());
    }
    if let Some(heal_at) = scenario.last_heal() {
        match *lock(&run.caught_up_after_heal) {
            Some(after) => slo_samples
                .entry("convergence_after_heal".into())
                .or_default()
                .push(after.as_secs_f64()),
            None if scenario
                .slos
                .iter()
                .any(|s| s.name == "convergence_after_heal") =>
            {
                violations.push(format!(
                    "slo convergence_after_heal: the clusters never caught up after the heal at {:.3}s",
                    heal_at.as_secs_f64()
                ));
            }
            None => {}
        }
    }
    for slo in &scenario.slos {
        for sample in slo_samples.get(&slo.name).into_iter().flatten() {
            if *sample > slo.max_s {
                violations.push(format!(
                    "slo {}: {sample:.3}s over the per-seed bound {}s",
                    slo.name, slo.max_s
                ));
            }
        }
        if slo.name == "failover_to_first_write" && !slo_samples.contains_key(&slo.name) {
            violations.push(
                "slo failover_to_first_write: no kill, emergency or isolation was timed".into(),
            );
        }
    }

    let count = |f: &dyn Fn(&WriteOutcome) -> bool| {
        history.writes.iter().filter(|w| f(&w.outcome)).count() as u64
    };
    counters.insert("writes".into(), history.writes.len() as u64);
    counters.insert(
        "acknowledged".into(),
        count(&|o| matches!(o, WriteOutcome::Acknowledged { .. })),
    );
    counters.insert(
        "refused".into(),
        count(&|o| matches!(o, WriteOutcome::Refused)),
    );
    counters.insert(
        "unknown".into(),
        count(&|o| matches!(o, WriteOutcome::Unknown)),
    );
    counters.insert("loss_reports".into(), history.losses.len() as u64);
    counters.insert(
        "leader_elections".into(),
        lock(&run.leader_changes).len() as u64,
    );

    // Per-second write summaries, then the verdict, close the trace.
    let samples = write_samples(&history.writes, &lags, scenario.duration_s);
    for s in &samples {
        run.trace.record_at(
            seconds(s.at_s),
            "client",
            format!(
                "second ending {:.0}: success {:.3}",
                s.at_s, s.write_success
            ),
        );
    }
    for v in &violations {
        run.trace
            .record_at(simulated, "sim", format!("violation: {v}"));
    }
    let trace_hash = run.trace.hash_hex();
    let timeline = Timeline {
        title: format!("{} seed {seed} trace {trace_hash}", scenario.name),
        duration_s: simulated.as_secs_f64(),
        clusters,
        namespaces: scenario.workload.namespaces.clone(),
        states: run.state_changes().clone(),
        leader_changes: lock(&run.leader_changes).clone(),
        faults: timeline::fault_windows(scenario),
        samples,
    };
    SeedOutcome {
        scenario: scenario.name.clone(),
        seed,
        violations,
        slo_samples,
        counters,
        simulated_s: simulated.as_secs_f64(),
        trace_hash,
        trace: run.trace.records(),
        timeline,
    }
}

/// `failover_to_first_write` per region kill of an active cluster and per emergency
/// failover command; `write_unavailability` per planned failover.
fn slo_samples_of(scenario: &Scenario, history: &History) -> Vec<(String, Option<f64>, String)> {
    let mut acks: Vec<(Duration, &str, &str)> = history
        .writes
        .iter()
        .filter_map(|w| match &w.outcome {
            WriteOutcome::Acknowledged { cluster, .. } => {
                Some((w.answered_at, w.namespace.as_str(), cluster.as_str()))
            }
            _ => None,
        })
        .collect();
    acks.sort();
    let writes_end = seconds(scenario.duration_s);
    let mut samples = Vec::new();
    for fault in &scenario.faults {
        match fault {
            Fault::RegionKill { at_s, cluster } => {
                if let Some(s) = resumed_elsewhere(&acks, seconds(*at_s), cluster, None) {
                    samples.push((
                        "failover_to_first_write".to_owned(),
                        s,
                        format!("the kill of {cluster} at {at_s} s"),
                    ));
                }
            }
            Fault::Failover {
                at_s,
                namespace,
                mode: FailoverMode::Emergency,
                to,
            } => {
                // From the command until the namespace is written on a cluster other than
                // the one serving it then (the auto policy may have moved it elsewhere than
                // the command's target). Already served by the target: the auto policy
                // did the move before the command; nothing to time.
                let at = seconds(*at_s);
                let serving = acks
                    .iter()
                    .filter(|(t, ns, _)| *t <= at && *ns == namespace.as_str())
                    .map(|(_, _, c)| *c)
                    .next_back();
                if let Some(serving) = serving.filter(|c| *c != to.as_str()) {
                    samples.push((
                        "failover_to_first_write".to_owned(),
                        resumed_elsewhere(&acks, at, serving, Some(namespace.as_str())).flatten(),
                        format!("the emergency failover of {namespace} at {at_s} s"),
                    ));
                }
            }
            Fault::Failover {
                at_s,
                namespace,
                mode: FailoverMode::Planned,
                ..
            } => {
                let gap = longest_gap(&acks, seconds(*at_s), Some(namespace), writes_end);
                samples.push((
                    "write_unavailability".to_owned(),
                    Some(gap.as_secs_f64()),
                    String::new(),
                ));
            }
            // A node-level fault in a scenario that bounds write unavailability: the
            // longest gap in acknowledgements of any namespace after it.
            Fault::Crash { at_s, .. } | Fault::DiskFault { at_s, .. }
                if scenario
                    .slos
                    .iter()
                    .any(|s| s.name == "write_unavailability") =>
            {
                // Per namespace: one stalled tenant must not hide behind the others.
                let gap = scenario
                    .workload
                    .namespaces
                    .iter()
                    .map(|ns| longest_gap(&acks, seconds(*at_s), Some(ns), writes_end))
                    .max()
                    .unwrap_or_default();
                samples.push((
                    "write_unavailability".to_owned(),
                    Some(gap.as_secs_f64()),
                    String::new(),
                ));
            }
            _ => {}
        }
    }
    // A cluster cut off from every other one at once is dead to the mesh, as a killed
    // region is: the same sample, from the cut.
    for (at_s, cluster) in isolations(scenario) {
        if let Some(s) = resumed_elsewhere(&acks, seconds(at_s), &cluster, None) {
            samples.push((
                "failover_to_first_write".to_owned(),
                s,
                format!("the isolation of {cluster} at {at_s} s"),
            ));
        }
    }
    samples
}

/// Seconds from `at` until every namespace `cluster` was serving at `at` (its last
/// acknowledgement before then came from it), or only `only`, was acknowledged by another
/// cluster. `None`: it served none of them (nothing to time); `Some(None)`: one never
/// resumed (a miss).
fn resumed_elsewhere(
    acks: &[(Duration, &str, &str)],
    at: Duration,
    cluster: &str,
    only: Option<&str>,
) -> Option<Option<f64>> {
    let mut served: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, ns, c) in acks.iter().filter(|(t, _, _)| *t <= at) {
        served.insert(ns, c);
    }
    let affected: Vec<&str> = served
        .iter()
        .filter(|(ns, c)| **c == cluster && only.is_none_or(|o| o == **ns))
        .map(|(ns, _)| *ns)
        .collect();
    if affected.is_empty() {
        return None;
    }
    let resumed: Vec<Duration> = affected
        .iter()
        .filter_map(|ns| {
            acks.iter()
                .find(|(t, n, c)| *t > at && n == ns && *c != cluster)
                .map(|(t, _, _)| *t - at)
        })
        .collect();
    Some(
        (resumed.len() == affected.len())
            .then(|| resumed.into_iter().max().unwrap_or_default().as_secs_f64()),
    )
}

/// `(at_s, cluster)` for each moment partitions cut `cluster` off from every other cluster
/// and witness at once.
fn isolations(scenario: &Scenario) -> Vec<(f64, String)> {
    let mut groups: Vec<String> = scenario
        .topology
        .clusters
        .iter()
        .map(|c| c.id.clone())
        .collect();
    groups.extend((1..=scenario.topology.witnesses).map(|i| format!("witness-{i}")));
    let mut cuts: BTreeMap<u64, Vec<(&str, &str)>> = BTreeMap::new();
    for fault in &scenario.faults {
        if let Fault::Partition { at_s, a, b } = fault {
            cuts.entry(at_s.to_bits()).or_default().push((a, b));
        }
    }
    let mut found = Vec::new();
    for (at_bits, pairs) in cuts {
        for cluster in &scenario.topology.clusters {
            let id = cluster.id.as_str();
            let cut_from_all = groups.iter().filter(|g| g.as_str() != id).all(|g| {
                pairs
                    .iter()
                    .any(|(a, b)| (*a == id && b == g) || (*b == id && a == g))
            });
            if cut_from_all {
                found.push((f64::from_bits(at_bits), id.to_owned()));
            }
        }
    }
    found
}

/// The longest stretch without an acknowledged write (of `namespace`, or of any) from `at`
/// until 20 s after it.
/// A window cut short by the end of the writes ends there; writes that never resume count
/// as unavailable until then.
fn longest_gap(
    acks: &[(Duration, &str, &str)],
    at: Duration,
    namespace: Option<&str>,
    writes_end: Duration,
) -> Duration {
    let until = (at + Duration::from_secs(20)).min(writes_end);
    let mut last = at;
    let mut worst = Duration::ZERO;
    for (t, ns, _) in acks {
        if namespace.is_some_and(|n| n != *ns) || *t <= at {
            continue;
        }
        if *t > until {
            break;
        }
        worst = worst.max(*t - last);
        last = *t;
    }
    // Acknowledgements stop a batch period before the writes do.
    worst.max(
        until
            .saturating_sub(last)
            .saturating_sub(Duration::from_millis(100)),
    )
}

/// Fraction of writes acknowledged per second of the run, with the worst replication lag
/// sampled in that second.
fn write_samples(
    writes: &[WriteRecord],
    lags: &[(Duration, Duration)],
    duration_s: f64,
) -> Vec<Sample> {
    let seconds_n = duration_s.ceil().max(0.0) as usize;
    let mut buckets = vec![(0u64, 0u64); seconds_n];
    for w in writes {
        let i = w.sent_at.as_secs() as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.1 += 1;
            if matches!(w.outcome, WriteOutcome::Acknowledged { .. }) {
                b.0 += 1;
            }
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (ok, all))| Sample {
            at_s: (i + 1) as f64,
            lag_s: lags
                .iter()
                .filter(|(at, _)| at.as_secs() as usize == i)
                .map(|(_, lag)| lag.as_secs_f64())
                .fold(0.0, f64::max),
            write_success: if all == 0 {
                0.0
            } else {
                ok as f64 / all as f64
            },
        })
        .collect()
}
