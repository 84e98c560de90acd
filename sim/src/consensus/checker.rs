//! Invariant checkers over a simulated consensus cluster (ARCHITECTURE.md, invariants 1
//! and 2, plus the Raft properties of Figure 3). Plain functions of events and states,
//! called from an [`Observer`].

use std::collections::BTreeMap;

use omnirelay_core::consensus::{
    Entry, Event, LeadershipChange, LogPosition, PersistedState, ProposeError, Term, TransferError,
    VoterChangeError,
};
use omnirelay_core::{Instant, NodeId};

use super::node::{NodeEvent, SimReplica, command_seq};
use crate::model::{Observer, Simulation};

/// Which property broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// Two nodes declared themselves leader of one term (election safety, invariant 1).
    TwoLeaders,
    /// A replica saw two leaders claim one term.
    SplitBrain,
    /// An index was applied with different entries (state machine safety, invariant 2).
    CommittedChanged,
    /// The state machines' digests differ at one index.
    StateDiverged,
    /// After healing, the leader had not committed everything once committed.
    CommitLost,
    /// A leader lacked a committed entry (Leader Completeness, §5.4).
    LeaderIncomplete,
    /// An entry was committed while fewer than a majority held it durably.
    CommittedUnderReplicated,
    /// A command was committed at two indexes.
    DuplicateCommand,
    /// An acknowledged proposal was found elsewhere than its index, or another entry at it.
    AcknowledgedMisplaced,
    /// Two logs agree on an entry but differ before it (Log Matching, §5.3).
    LogMatching,
    /// No leader once faults healed (liveness).
    NoLeaderAfterHealing,
    /// A voter had not caught up once faults healed (liveness).
    NotConverged,
    /// A node could not restart from its own disk.
    RestoreFailed,
}

/// A broken property, with when and where it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub kind: ViolationKind,
    /// Simulated time.
    pub at: Instant,
    /// What broke.
    pub what: String,
}

/// Watches every event of a run and records violations. Also the record of the run:
/// leaders per term, committed entries, acknowledged proposals, leadership changes.
#[derive(Debug, Default)]
pub struct ConsensusChecker {
    /// Self-declared leader of each term (invariant 1).
    pub leaders: BTreeMap<Term, NodeId>,
    /// Every committed entry by index, as first applied anywhere (invariant 2).
    pub committed: BTreeMap<u64, Entry>,
    /// Where each command number was committed.
    pub command_index: BTreeMap<u64, u64>,
    /// Proposals a leader accepted, by command number.
    pub accepted: BTreeMap<u64, LogPosition>,
    /// State-machine digest after each applied index, as first seen.
    pub digests: BTreeMap<u64, u64>,
    /// Durable state of crashed nodes (what a restart will read).
    pub crashed_disks: BTreeMap<NodeId, PersistedState>,
    /// Per leader and term, the highest index whose commit was checked for majority
    /// durability (one shared watermark would skip a stale leader of an older term, the
    /// very one that might commit too early).
    pub durability_checked_through: BTreeMap<(NodeId, Term), u64>,
    /// Split-brain events raised by replicas.
    pub split_brain_events: u64,
    /// Every `LeaderChanged` event: (time, node that saw it, the change).
    pub leadership_log: Vec<(Instant, NodeId, LeadershipChange)>,
    /// Every `SteppedDown` event: (time, node, term).
    pub step_downs: Vec<(Instant, NodeId, Term)>,
    /// Snapshots installed: (time, node, last index).
    pub snapshots_installed: Vec<(Instant, NodeId, u64)>,
    /// Transfers aborted: (time, leader, target).
    pub transfers_aborted: Vec<(Instant, NodeId, NodeId)>,
    /// Proposals refused: (command number, why).
    pub refused: Vec<(u64, ProposeError)>,
    /// Answers to voter-set change proposals.
    pub voter_changes: Vec<Result<LogPosition, VoterChangeError>>,
    /// Answers to transfer requests.
    pub transfers: Vec<Result<(), TransferError>>,
    /// What broke.
    pub violations: Vec<Violation>,
}

impl ConsensusChecker {
    pub(crate) fn violation(&mut self, kind: ViolationKind, at: Instant, what: String) {
        // Keep the first few: one bug tends to repeat on every later step.
        if self.violations.len() < 20 {
            self.violations.push(Violation { kind, at, what });
        }
    }

    /// Acknowledged proposals: accepted by a leader and committed at that position.
    pub fn acknowledged(&self) -> impl Iterator<Item = (u64, LogPosition)> + '_ {
        self.accepted.iter().filter_map(|(&seq, &pos)| {
            self.committed
                .get(&pos.index)
                .filter(|e| e.term == pos.term)
                .map(|_| (seq, pos))
        })
    }

    fn disk_of<'a>(
        &'a self,
        sim: &'a Simulation<SimReplica>,
        id: NodeId,
    ) -> Option<&'a PersistedState> {
        sim.machine(id)
            .map(SimReplica::disk)
            .or_else(|| self.crashed_disks.get(&id))
    }

    fn on_committed(&mut self, sim: &Simulation<SimReplica>, node: NodeId, entry: &Entry) {
        let now = sim.now();
        self.record_committed(now, node, entry);
        if let Some(seq) = command_seq(&entry.payload) {
            match self.command_index.get(&seq) {
                Some(&index) if index != entry.index => {
                    let what = format!("command {seq} committed at {index} and {}", entry.index);
                    self.violation(ViolationKind::DuplicateCommand, now, what);
                }
                Some(_) => {}
                None => {
                    self.command_index.insert(seq, entry.index);
                }
            }
            if let Some(pos) = self.accepted.get(&seq)
                && pos.index != entry.index
                && pos.term == entry.term
            {
                let what = format!(
                    "command {seq} accepted at {pos:?}, committed at {}",
                    entry.index
                );
                self.violation(ViolationKind::AcknowledgedMisplaced, now, what);
            }
        }
        if let Some(machine) = sim.machine(node) {
            let state = machine.state();
            if state.index == entry.index {
                match self.digests.get(&state.index) {
                    Some(&d) if d != state.digest => {
                        let what = format!("state machines diverge at index {}", state.index);
                        self.violation(ViolationKind::StateDiverged, now, what);
                    }
                    Some(_) => {}
                    None => {
                        self.digests.insert(state.index, state.digest);
                    }
                }
            }
        }
    }

    /// Leader Completeness (§5.4): a new leader's log holds every committed entry.
    fn check_leader_log(&mut self, sim: &Simulation<SimReplica>, node: NodeId, context: &str) {
        let Some(machine) = sim.machine(node) else {
            return;
        };
        let replica = machine.replica();
        let floor = replica.snapshot_index();
        let missing = self
            .committed
            .range(floor + 1..)
            .find(|(index, entry)| replica.entry(**index) != Some(*entry))
            .map(|(index, _)| *index);
        if let Some(index) = missing {
            let what = format!(
                "{context}: leader n{} of {} lacks committed index {index}",
                node.0,
                replica.term()
            );
            self.violation(ViolationKind::LeaderIncomplete, sim.now(), what);
        }
    }

    /// Checks that hold once faults healed and the cluster settled: a leader exists, its
    /// log holds every committed entry and it has committed them; acknowledged proposals
    /// sit at their index in every log and disk that holds that index; and any two logs
    /// that agree on an entry agree on everything before it (Log Matching).
    pub fn check_settled(&mut self, sim: &Simulation<SimReplica>) {
        let now = sim.now();
        let leader = sim
            .machines()
            .filter(|(_, m)| m.replica().current_fencing_token().is_some())
            .max_by_key(|(_, m)| m.replica().term())
            .map(|(id, _)| id);
        let Some(leader) = leader else {
            self.violation(
                ViolationKind::NoLeaderAfterHealing,
                now,
                "no leader after healing".to_owned(),
            );
            return;
        };
        self.check_leader_log(sim, leader, "after healing");
        let max_committed = self.committed.keys().next_back().copied().unwrap_or(0);
        if let Some(m) = sim.machine(leader)
            && m.replica().commit_index() < max_committed
        {
            let what = format!(
                "leader n{} commit {} is behind the highest committed index {max_committed}",
                leader.0,
                m.replica().commit_index()
            );
            self.violation(ViolationKind::CommitLost, now, what);
        }
        let acknowledged: Vec<(u64, LogPosition)> = self.acknowledged().collect();
        // Safety: a node that has committed an index holds the acknowledged entry there,
        // in memory and (once its disk caught up to it) on disk. A node that has not may
        // still hold a stale uncommitted entry, which its leader will overwrite.
        for (id, m) in sim.machines() {
            let r = m.replica();
            for &(seq, pos) in &acknowledged {
                if r.commit_index() < pos.index {
                    continue;
                }
                let in_log = r.entry(pos.index);
                let on_disk = (r.persisted_index() >= pos.index)
                    .then(|| m.disk().entry(pos.index))
                    .flatten();
                for held in [in_log, on_disk].into_iter().flatten() {
                    if held.term != pos.term || command_seq(&held.payload) != Some(seq) {
                        let what = format!(
                            "n{} holds {:?} at index {} of acknowledged command {seq}",
                            id.0, held, pos.index
                        );
                        self.violation(ViolationKind::AcknowledgedMisplaced, now, what);
                    }
                }
            }
        }
        // Liveness: once healed, every voter of the final configuration has caught up.
        let final_voters = sim
            .machine(leader)
            .map(|m| m.replica().voters().clone())
            .unwrap_or_default();
        let highest_acknowledged = acknowledged.iter().map(|(_, p)| p.index).max().unwrap_or(0);
        for (id, m) in sim.machines().filter(|(id, _)| final_voters.contains(*id)) {
            if m.replica().commit_index() < highest_acknowledged {
                let what = format!(
                    "n{} committed only {} of {highest_acknowledged} after healing",
                    id.0,
                    m.replica().commit_index()
                );
                self.violation(ViolationKind::NotConverged, now, what);
            }
        }
        let nodes: Vec<NodeId> = sim.machines().map(|(id, _)| id).collect();
        for (i, &a) in nodes.iter().enumerate() {
            for &b in nodes.iter().skip(i + 1) {
                if let (Some(ma), Some(mb)) = (sim.machine(a), sim.machine(b))
                    && let Some(index) = log_matching_violation(ma, mb)
                {
                    let what = format!("n{} and n{} break Log Matching at {index}", a.0, b.0);
                    self.violation(ViolationKind::LogMatching, now, what);
                }
            }
        }
    }
}

/// Finds the highest index where both logs hold an entry of the same term, then checks
/// that every entry both hold up to it is identical. Returns a differing index.
fn log_matching_violation(a: &SimReplica, b: &SimReplica) -> Option<u64> {
    let (ra, rb) = (a.replica(), b.replica());
    let floor = ra.snapshot_index().max(rb.snapshot_index());
    let top = ra.last_index().min(rb.last_index());
    let agree = (floor + 1..=top)
        .rev()
        .find(|&i| ra.entry(i).map(|e| e.term) == rb.entry(i).map(|e| e.term))?;
    (floor + 1..=agree).find(|&i| ra.entry(i) != rb.entry(i))
}

impl ConsensusChecker {
    /// Commit only after majority persistence: whenever a leader's commit index moves,
    /// a majority of the voter set it committed under must hold each newly committed
    /// entry on disk already. (Checked at the leader, at that moment: a follower may
    /// apply later, under a voter set that has changed since.)
    fn check_leader_commits(&mut self, sim: &Simulation<SimReplica>) {
        for (id, machine) in sim.machines() {
            let replica = machine.replica();
            if replica.current_fencing_token().is_none() {
                continue;
            }
            // A leader is answerable for what it commits, from the commit index it inherited
            // when first seen leading this term (checked at every step, so that is the
            // moment it won): earlier entries were committed under earlier voter sets.
            let key = (id, replica.term());
            let Some(&checked) = self.durability_checked_through.get(&key) else {
                self.durability_checked_through
                    .insert(key, replica.commit_index());
                continue;
            };
            if replica.commit_index() <= checked {
                continue;
            }
            let voters = replica.voters().clone();
            let from = (checked + 1).max(replica.snapshot_index() + 1);
            let mut short = None;
            for index in from..=replica.commit_index() {
                let Some(entry) = replica.entry(index) else {
                    continue;
                };
                // The leader committed it: known committed now, not only once some node
                // applies it, so a later loss or change of it cannot go unseen.
                self.record_committed(sim.now(), id, entry);
                let durable = voters
                    .ids()
                    .filter(|&v| {
                        self.disk_of(sim, v)
                            .is_some_and(|d| d.covers(index, entry.term))
                    })
                    .count();
                if durable < voters.quorum() && short.is_none() {
                    short = Some((index, entry.term, durable));
                }
            }
            self.durability_checked_through
                .insert(key, replica.commit_index());
            if let Some((index, term, durable)) = short {
                let what = format!(
                    "leader n{} committed index {index} ({term}) with {durable} durable copies among {} voters",
                    id.0,
                    voters.len()
                );
                self.violation(ViolationKind::CommittedUnderReplicated, sim.now(), what);
            }
        }
    }

    /// Records `entry` as committed, or reports it if another entry was committed there.
    fn record_committed(&mut self, now: Instant, node: NodeId, entry: &Entry) {
        match self.committed.get(&entry.index) {
            Some(known) if known != entry => {
                let what = format!(
                    "n{} committed {:?} at index {} where {:?} was committed",
                    node.0, entry, entry.index, known
                );
                self.violation(ViolationKind::CommittedChanged, now, what);
            }
            Some(_) => {}
            None => {
                self.committed.insert(entry.index, entry.clone());
            }
        }
    }
}

impl Observer<SimReplica> for ConsensusChecker {
    fn after_step(&mut self, sim: &Simulation<SimReplica>) {
        self.check_leader_commits(sim);
    }

    fn on_event(&mut self, sim: &mut Simulation<SimReplica>, node: NodeId, event: &NodeEvent) {
        let now = sim.now();
        match event {
            NodeEvent::Raft(Event::LeaderChanged(change)) => {
                self.leadership_log.push((now, node, *change));
                if change.leader == node {
                    match self.leaders.get(&change.term) {
                        Some(&other) if other != node => {
                            let what = format!(
                                "two leaders in {}: n{} and n{}",
                                change.term, other.0, node.0
                            );
                            self.violation(ViolationKind::TwoLeaders, now, what);
                        }
                        Some(_) => {
                            // Winning means starting a new term: the same node winning a
                            // term twice (e.g. after a restart) is two leaderships of it.
                            let what = format!("n{} won {} twice", node.0, change.term);
                            self.violation(ViolationKind::TwoLeaders, now, what);
                        }
                        None => {
                            self.leaders.insert(change.term, node);
                        }
                    }
                    self.check_leader_log(sim, node, "on election");
                }
            }
            NodeEvent::Raft(Event::SplitBrain {
                term,
                first,
                second,
            }) => {
                self.split_brain_events += 1;
                let what = format!("split brain in {term}: n{} and n{}", first.0, second.0);
                self.violation(ViolationKind::SplitBrain, now, what);
            }
            NodeEvent::Raft(Event::Committed(entry)) => self.on_committed(sim, node, entry),
            NodeEvent::Raft(Event::SteppedDown { term, .. }) => {
                self.step_downs.push((now, node, *term));
            }
            NodeEvent::Raft(Event::SnapshotInstalled { last_index, .. }) => {
                self.snapshots_installed.push((now, node, *last_index));
            }
            NodeEvent::Raft(Event::TransferAborted { target, .. }) => {
                self.transfers_aborted.push((now, node, *target));
            }
            NodeEvent::Proposed {
                seq,
                result: Ok(pos),
            } => {
                self.accepted.insert(*seq, *pos);
            }
            NodeEvent::Proposed {
                seq,
                result: Err(e),
            } => self.refused.push((*seq, *e)),
            NodeEvent::VotersProposed(result) => self.voter_changes.push(result.clone()),
            NodeEvent::TransferStarted(result) => self.transfers.push(*result),
            _ => {}
        }
    }
}
