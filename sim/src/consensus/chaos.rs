//! The chaos run: one seed of a cluster under crashes (losing unsynced writes),
//! restarts, partitions, one-way cuts, loss, duplication, reordering, compactions and
//! leadership transfers, with a client workload; then healing and the settled checks.

use std::time::Duration;

use omnirelay_core::NodeId;
use rand::Rng;
use rand::seq::IndexedRandom;

use super::checker::Violation;
use super::cluster::{Cluster, ClusterSpec};
use super::node::ReplicaInput;
use crate::model::LinkModel;

/// What one chaos seed produced.
#[derive(Clone, Debug)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// Voters.
    pub voters: usize,
    /// Fingerprint of the whole run.
    pub trace_hash: u64,
    /// Terms that had a leader.
    pub terms_led: usize,
    /// Entries committed.
    pub committed: usize,
    /// Proposals acknowledged (accepted and committed).
    pub acknowledged: usize,
    /// Snapshots installed on followers.
    pub snapshots_installed: usize,
    /// What broke (empty when every invariant held).
    pub violations: Vec<Violation>,
}

impl ChaosReport {
    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        format!(
            "OMNIRELAY_REPLAY_SEED={} OMNIRELAY_REPLAY_VOTERS={} cargo test -p omnirelay-sim --test consensus_chaos replays_a_chosen_seed -- --nocapture",
            self.seed, self.voters
        )
    }
}

/// Simulated length of the faulty phase and of the calm phase after it.
#[derive(Clone, Copy, Debug)]
pub struct ChaosLength {
    /// Faults and workload.
    pub faulty: Duration,
    /// Healed, everyone restarted, workload for the first half.
    pub calm: Duration,
}

impl Default for ChaosLength {
    fn default() -> Self {
        ChaosLength {
            faulty: Duration::from_secs(8),
            calm: Duration::from_secs(4),
        }
    }
}

/// The network of a chaos run: 1–8 ms, 2 % loss, 2 % duplication, 5 % reordered by up
/// to 20 ms.
pub fn chaos_link() -> LinkModel {
    LinkModel::uniform(Duration::from_millis(1), Duration::from_millis(8))
        .with_loss(0.02)
        .with_duplication(0.02)
        .with_reordering(0.05, Duration::from_millis(20))
}

/// Runs one seed and checks every invariant.
pub fn run_chaos(seed: u64, voters: usize, length: ChaosLength) -> ChaosReport {
    let cluster = run_chaos_cluster(seed, voters, length);
    ChaosReport {
        seed,
        voters,
        trace_hash: cluster.sim.trace_hash(),
        terms_led: cluster.checker.leaders.len(),
        committed: cluster.checker.committed.len(),
        acknowledged: cluster.checker.acknowledged().count(),
        snapshots_installed: cluster.checker.snapshots_installed.len(),
        violations: cluster.checker.violations.clone(),
    }
}

/// [`run_chaos`], returning the cluster itself for inspection (debugging a seed).
pub fn run_chaos_cluster(seed: u64, voters: usize, length: ChaosLength) -> Cluster {
    let mut spec = ClusterSpec::new(voters);
    spec.link = chaos_link();
    spec.fsync_delay = Duration::from_millis(1);
    spec.fsync_jitter = Duration::from_millis(10);
    let mut cluster = Cluster::new(seed, spec);
    let ids = cluster.node_ids();
    let faulty_end = cluster.sim.now() + length.faulty;
    while cluster.sim.now() < faulty_end {
        let step = Duration::from_millis(cluster.sim.rng().random_range(5..=40));
        cluster.run_for(step);
        if cluster.sim.rng().random_bool(0.8) {
            cluster.propose();
        }
        if cluster.sim.rng().random_bool(0.05) {
            // Also at a random node: followers must refuse with a hint, not accept.
            if let Some(&id) = ids.choose(cluster.sim.rng()) {
                cluster.propose_at(id);
            }
        }
        if cluster.sim.rng().random_bool(0.08) {
            inject_fault(&mut cluster, &ids);
        }
    }
    // Heal: every link back, every node restarted, workload for half the calm phase.
    cluster.sim.network_mut().heal();
    for &id in &ids {
        cluster.restart(id);
    }
    let calm_end = cluster.sim.now() + length.calm;
    let workload_end = cluster.sim.now() + length.calm / 2;
    while cluster.sim.now() < workload_end {
        cluster.run_for(Duration::from_millis(20));
        cluster.propose();
    }
    cluster.run_until(calm_end);
    cluster.checker.check_settled(&cluster.sim);
    cluster
}

fn inject_fault(cluster: &mut Cluster, ids: &[NodeId]) {
    let Some(&target) = ids.choose(cluster.sim.rng()) else {
        return;
    };
    let kind = cluster.sim.rng().random_range(0..11u8);
    match kind {
        // Crash the leader more often than a random node: that is where bugs hide.
        0 => {
            let victim = cluster.leader().unwrap_or(target);
            cluster.crash(victim);
        }
        1 => cluster.crash(target),
        2 | 3 => {
            for &id in ids {
                cluster.restart(id);
            }
        }
        4 => {
            let mut shuffled = ids.to_vec();
            shuffled.sort_by_key(|_| cluster.sim.rng().random::<u32>());
            let cut = cluster.sim.rng().random_range(1..shuffled.len().max(2));
            let (a, b) = shuffled.split_at(cut.min(shuffled.len()));
            cluster.sim.network_mut().partition(&[a, b]);
        }
        5 => {
            let others: Vec<NodeId> = ids.iter().copied().filter(|&i| i != target).collect();
            if let Some(&other) = others.choose(cluster.sim.rng()) {
                cluster.sim.network_mut().block_one_way(target, other);
            }
        }
        6 => cluster.sim.network_mut().heal(),
        7 => cluster.input(target, ReplicaInput::Compact),
        8 => {
            // A disk that stalls: fsyncs of 20-60 ms on one node.
            let ms = cluster.sim.rng().random_range(20..=60);
            if let Some(node) = cluster.sim.machine_mut(target) {
                node.set_fsync_delay(Duration::from_millis(ms), Duration::from_millis(5));
            }
        }
        9 => {
            if let Some(leader) = cluster.leader()
                && leader != target
            {
                cluster.input(leader, ReplicaInput::Transfer(target));
            }
        }
        _ => change_voters(cluster, ids, target),
    }
}

/// One server at a time: removes `target` when every node votes, otherwise adds back a
/// node that was removed. The leader may remove itself.
fn change_voters(cluster: &mut Cluster, ids: &[NodeId], target: NodeId) {
    let Some(leader) = cluster.leader() else {
        return;
    };
    let Some(voters) = cluster
        .sim
        .machine(leader)
        .map(|m| m.replica().voters().clone())
    else {
        return;
    };
    let missing = ids.iter().copied().find(|&id| !voters.contains(id));
    let next = match missing {
        Some(id) => voters.with_voter(id, omnirelay_core::consensus::Priority(1)),
        None => voters.without_voter(target),
    };
    cluster.input(leader, ReplicaInput::ChangeVoters(next));
}
