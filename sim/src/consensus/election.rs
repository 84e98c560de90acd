//! The Raft paper's Figure 16 experiment: how long a five-server cluster takes to elect a
//! new leader after its leader crashes, for a range of election timeouts.
//!
//! Setup as in §9.3 of the paper: broadcast time about 15 ms (one-way latency uniform in
//! 6–9 ms), heartbeats at half the minimum election timeout, the leader crashed at a
//! uniformly random point of its heartbeat interval. The time measured runs from the crash
//! until a new leader wins its election.

use std::time::Duration;

use omnirelay_core::consensus::ElectionTimeout;
use omnirelay_core::{Instant, NodeId};
use rand::Rng;
use serde::Serialize;

use super::cluster::{Cluster, ClusterSpec};
use crate::model::{LinkModel, TraceHasher};
use crate::stats::Summary;

/// Parameters of the experiment.
#[derive(Clone, Copy, Debug)]
pub struct ElectionExperiment {
    /// Voters per cluster.
    pub voters: usize,
    /// Election timeout range.
    pub timeout: ElectionTimeout,
    /// Crashes measured (one fresh cluster each).
    pub trials: usize,
    /// Base seed: trial `i` uses a seed derived from it.
    pub seed: u64,
    /// Pre-vote on.
    pub pre_vote: bool,
    /// Check-quorum and leader lease on.
    pub check_quorum: bool,
    /// One-way latency range.
    pub latency: (Duration, Duration),
    /// Time an fsync takes (votes and acknowledgements wait for it).
    pub fsync: Duration,
}

impl ElectionExperiment {
    /// Five voters, the given timeouts, pre-vote and check-quorum on, 6–9 ms latency.
    pub fn new(timeout: ElectionTimeout, trials: usize, seed: u64) -> Self {
        ElectionExperiment {
            voters: 5,
            timeout,
            trials,
            seed,
            pre_vote: true,
            check_quorum: true,
            latency: (Duration::from_millis(6), Duration::from_millis(9)),
            fsync: Duration::from_micros(500),
        }
    }
}

/// What the experiment measured (milliseconds).
#[derive(Clone, Debug, Serialize)]
pub struct ElectionReport {
    /// Voters per cluster.
    pub voters: usize,
    /// `min-max` of the election timeout, ms.
    pub timeout_ms: String,
    /// Pre-vote on.
    pub pre_vote: bool,
    /// Check-quorum on.
    pub check_quorum: bool,
    /// One-way latency range, ms.
    pub one_way_ms: String,
    /// Fsync time, ms.
    pub fsync_ms: f64,
    /// Trials run.
    pub trials: usize,
    /// Trials where no leader won within 60 s, either the first one or the one after the
    /// crash (excluded from the figures).
    pub unresolved: usize,
    /// Median time to elect a new leader.
    pub median_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Terms in which two nodes declared themselves leader, over all trials (must be 0).
    pub two_leaders_in_a_term: usize,
    /// Split-brain events raised by replicas, over all trials (must be 0).
    pub split_brain_events: u64,
    /// Fingerprint of every trial's trace.
    pub trace_hash: String,
}

/// Runs the experiment.
pub fn run_election_experiment(exp: &ElectionExperiment) -> ElectionReport {
    let mut durations = Vec::with_capacity(exp.trials);
    let mut unresolved = 0;
    let mut two_leaders = 0;
    let mut split_brain = 0;
    let mut trace = TraceHasher::default();
    for trial in 0..exp.trials {
        let seed = exp.seed.wrapping_mul(1_000_003).wrapping_add(trial as u64);
        let outcome = run_trial(exp, seed);
        trace.record(&(trial, outcome.trace_hash));
        two_leaders += outcome.two_leaders;
        split_brain += outcome.split_brain;
        match outcome.election {
            Some(d) => durations.push(d.as_secs_f64() * 1e3),
            None => unresolved += 1,
        }
    }
    let s = Summary::of(&durations);
    ElectionReport {
        voters: exp.voters,
        timeout_ms: format!(
            "{}-{}",
            exp.timeout.min().as_millis(),
            exp.timeout.max().as_millis()
        ),
        pre_vote: exp.pre_vote,
        check_quorum: exp.check_quorum,
        one_way_ms: format!(
            "{}-{}",
            exp.latency.0.as_secs_f64() * 1e3,
            exp.latency.1.as_secs_f64() * 1e3
        ),
        fsync_ms: exp.fsync.as_secs_f64() * 1e3,
        trials: exp.trials,
        unresolved,
        median_ms: s.p50,
        mean_ms: s.mean,
        p99_ms: s.p99,
        max_ms: s.max,
        two_leaders_in_a_term: two_leaders,
        split_brain_events: split_brain,
        trace_hash: trace.hex(),
    }
}

struct TrialOutcome {
    election: Option<Duration>,
    two_leaders: usize,
    split_brain: u64,
    trace_hash: u64,
}

fn run_trial(exp: &ElectionExperiment, seed: u64) -> TrialOutcome {
    let mut spec = ClusterSpec::new(exp.voters);
    spec.election_timeout = exp.timeout;
    spec.heartbeat = exp.timeout.min() / 2;
    spec.pre_vote = exp.pre_vote;
    spec.check_quorum = exp.check_quorum;
    spec.fsync_delay = exp.fsync;
    spec.link = LinkModel::uniform(exp.latency.0, exp.latency.1);
    let mut cluster = Cluster::new(seed, spec);
    let max = exp.timeout.max();
    let cap = Duration::from_secs(60);

    // Elect a first leader and let it settle for a while (every follower hears it).
    let first_deadline = cluster.sim.now() + cap;
    let first = wait_for_leader_after(&mut cluster, None, first_deadline);
    let Some((_, old_term, _)) = first else {
        return outcome(&cluster, None);
    };
    cluster.run_for(max * 4);
    // The run so far has no relation to the heartbeat phase beyond it: a uniform offset
    // of one heartbeat interval puts the crash at a uniform point of that interval.
    let hb = cluster.spec().heartbeat.as_nanos() as u64;
    let offset = cluster.sim.rng().random_range(0..hb.max(1));
    cluster.run_for(Duration::from_nanos(offset));
    let Some(leader) = cluster.leader() else {
        return outcome(&cluster, None);
    };
    let term = cluster
        .sim
        .machine(leader)
        .map_or(old_term, |m| m.replica().term());
    let crashed_at = cluster.sim.now();
    cluster.crash(leader);
    let next = wait_for_leader_after(&mut cluster, Some(term), crashed_at + cap);
    let election = next.map(|(_, _, at)| at - crashed_at);
    outcome(&cluster, election)
}

fn outcome(cluster: &Cluster, election: Option<Duration>) -> TrialOutcome {
    TrialOutcome {
        election,
        two_leaders: cluster
            .checker
            .violations
            .iter()
            .filter(|v| v.kind == super::checker::ViolationKind::TwoLeaders)
            .count(),
        split_brain: cluster.checker.split_brain_events,
        trace_hash: cluster.sim.trace_hash(),
    }
}

/// Runs until some node declares itself leader of a term above `after` (any term when
/// `None`); returns (leader, term, when it won).
fn wait_for_leader_after(
    cluster: &mut Cluster,
    after: Option<omnirelay_core::consensus::Term>,
    deadline: Instant,
) -> Option<(NodeId, omnirelay_core::consensus::Term, Instant)> {
    let slice = cluster.spec().election_timeout.min() / 4;
    loop {
        let found = cluster
            .checker
            .leadership_log
            .iter()
            .find(|(_, node, change)| {
                *node == change.leader && after.is_none_or(|a| change.term > a)
            })
            .map(|&(at, _, change)| (change.leader, change.term, at));
        if found.is_some() {
            return found;
        }
        if cluster.sim.now() >= deadline {
            return None;
        }
        cluster.run_for(slice);
    }
}
