//! A simulated cluster of replicas: builds the nodes, crashes and restarts them from
//! their disks, drives a client workload, and owns the invariant checker.

use std::time::Duration;

use omnirelay_core::consensus::{
    ElectionTimeout, PersistedState, Priority, ReplicaConfig, RoleKind, VoterSet,
};
use omnirelay_core::{Instant, NodeId};
use rand::Rng;

use super::checker::{ConsensusChecker, ViolationKind};
use super::node::{ReplicaInput, SimReplica};
use crate::model::{LinkModel, NetworkModel, Simulation};

/// How to build a cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Priority of each voter; node ids are 1..=len.
    pub priorities: Vec<Priority>,
    /// Election timeout range.
    pub election_timeout: ElectionTimeout,
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// Pre-vote round on.
    pub pre_vote: bool,
    /// Check-quorum and leader lease on.
    pub check_quorum: bool,
    /// Time from a persist request to its fsync completion (at least).
    pub fsync_delay: Duration,
    /// Extra fsync time, uniform per request in `[0, fsync_jitter]`.
    pub fsync_jitter: Duration,
    /// Every link.
    pub link: LinkModel,
}

impl ClusterSpec {
    /// `voters` equal-priority voters, 150–300 ms timeouts, 50 ms heartbeats, pre-vote
    /// and check-quorum on, 1 ms fsync, LAN links.
    pub fn new(voters: usize) -> Self {
        ClusterSpec {
            priorities: vec![Priority(1); voters],
            election_timeout: ElectionTimeout::new(
                Duration::from_millis(150),
                Duration::from_millis(300),
            )
            .unwrap_or_else(|| ReplicaConfig::new(NodeId(0)).election_timeout),
            heartbeat: Duration::from_millis(50),
            pre_vote: true,
            check_quorum: true,
            fsync_delay: Duration::from_millis(1),
            fsync_jitter: Duration::ZERO,
            link: LinkModel::default(),
        }
    }

    /// The voter set at bootstrap.
    pub fn bootstrap(&self) -> VoterSet {
        VoterSet::new(
            self.priorities
                .iter()
                .zip(1..)
                .map(|(&p, id)| (NodeId(id), p)),
        )
    }

    /// The replica configuration of `id`.
    pub fn config(&self, id: NodeId) -> ReplicaConfig {
        let mut c = ReplicaConfig::new(id);
        c.election_timeout = self.election_timeout;
        c.heartbeat_interval = self.heartbeat;
        c.pre_vote = self.pre_vote;
        c.check_quorum = self.check_quorum;
        c
    }
}

/// A running simulated cluster and its checker.
#[derive(Debug)]
pub struct Cluster {
    /// The simulation.
    pub sim: Simulation<SimReplica>,
    /// The invariant checker (also the run's record).
    pub checker: ConsensusChecker,
    spec: ClusterSpec,
    bootstrap: VoterSet,
    next_command: u64,
}

impl Cluster {
    /// Builds and starts every voter of `spec` at time zero.
    pub fn new(seed: u64, spec: ClusterSpec) -> Self {
        let sim = Simulation::new(seed, NetworkModel::uniform(spec.link));
        let bootstrap = spec.bootstrap();
        let mut cluster = Cluster {
            sim,
            checker: ConsensusChecker::default(),
            spec,
            bootstrap,
            next_command: 0,
        };
        let ids: Vec<NodeId> = cluster.bootstrap.ids().collect();
        for id in ids {
            let node = cluster.build(id, PersistedState::default());
            cluster.sim.add_node(id, node);
        }
        cluster
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    fn build(&mut self, id: NodeId, disk: PersistedState) -> SimReplica {
        let seed = self.sim.rng().random::<u64>();
        let now = self.sim.now();
        let config = self.spec.config(id);
        match SimReplica::start(
            config.clone(),
            self.bootstrap.clone(),
            disk,
            seed,
            self.spec.fsync_delay,
            now,
        ) {
            Ok(mut node) => {
                node.set_fsync_delay(self.spec.fsync_delay, self.spec.fsync_jitter);
                node
            }
            Err(e) => {
                self.checker.violation(
                    ViolationKind::RestoreFailed,
                    now,
                    format!("n{} cannot restart from its disk: {e}", id.0),
                );
                // Keep the run going with an empty replica so the report is complete.
                match SimReplica::start(
                    config,
                    self.bootstrap.clone(),
                    PersistedState::default(),
                    seed,
                    self.spec.fsync_delay,
                    now,
                ) {
                    Ok(node) => node,
                    Err(e) => unreachable!("an empty disk is always valid: {e}"),
                }
            }
        }
    }

    /// Adds a brand-new node with an empty disk (e.g. before adding it as a voter).
    pub fn add_empty_node(&mut self, id: NodeId) {
        let node = self.build(id, PersistedState::default());
        self.sim.add_node(id, node);
    }

    /// Runs until `at`.
    pub fn run_until(&mut self, at: Instant) {
        self.sim.run_until(at, &mut self.checker);
    }

    /// Runs for `d`.
    pub fn run_for(&mut self, d: Duration) {
        let at = self.sim.now() + d;
        self.run_until(at);
    }

    /// Crashes `id`; its unsynced writes are lost, its disk is kept for the restart.
    pub fn crash(&mut self, id: NodeId) {
        if let Some(node) = self.sim.crash(id) {
            self.checker.crashed_disks.insert(id, node.disk().clone());
        }
    }

    /// Restarts a crashed `id` from its disk alone.
    pub fn restart(&mut self, id: NodeId) {
        if self.sim.is_up(id) {
            return;
        }
        let Some(disk) = self.checker.crashed_disks.remove(&id) else {
            return;
        };
        let node = self.build(id, disk);
        self.sim.restart(id, node);
    }

    /// The live node that believes it leads, with the highest term.
    pub fn leader(&self) -> Option<NodeId> {
        self.sim
            .machines()
            .filter(|(_, m)| m.replica().role() == RoleKind::Leader)
            .max_by_key(|(_, m)| m.replica().term())
            .map(|(id, _)| id)
    }

    /// Node ids, running or not.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.sim.node_ids().collect()
    }

    /// Queues a local input for `id` now.
    pub fn input(&mut self, id: NodeId, input: ReplicaInput) {
        let now = self.sim.now();
        self.sim.schedule_local(now, id, input);
    }

    /// Proposes a fresh command at `id`; returns its number.
    pub fn propose_at(&mut self, id: NodeId) -> u64 {
        self.next_command += 1;
        let seq = self.next_command;
        self.input(id, ReplicaInput::Propose(seq));
        seq
    }

    /// Proposes a fresh command at the current leader, if any.
    pub fn propose(&mut self) -> Option<u64> {
        let leader = self.leader()?;
        Some(self.propose_at(leader))
    }

    /// Violations so far.
    pub fn violations(&self) -> &[super::checker::Violation] {
        &self.checker.violations
    }
}
