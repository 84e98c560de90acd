//! The simulator's replica: a core `Replica` plus a simulated disk and a state machine.

use std::collections::VecDeque;
use std::time::Duration;

use omnirelay_core::consensus::{
    EntryPayload, Event, LogPosition, PersistRequest, PersistedState, ProposeError, Replica,
    ReplicaConfig, RestoreError, TransferError, VoterChangeError, VoterSet,
};
use omnirelay_core::{Instant, Machine, NodeId, Transmit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{SimMachine, TraceHasher};

/// Inputs the harness gives a node besides messages and timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaInput {
    /// A client proposes command number `seq`.
    Propose(u64),
    /// Snapshot the state machine and compact the log up to the applied index.
    Compact,
    /// Hand leadership to this node.
    Transfer(NodeId),
    /// Propose this voter set.
    ChangeVoters(VoterSet),
}

/// What a simulated node reports: the replica's own events, plus client-visible answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeEvent {
    /// An event of the replica.
    Raft(Event),
    /// Answer to `ReplicaInput::Propose`.
    Proposed {
        /// The command number.
        seq: u64,
        /// Where it went, or why not.
        result: Result<LogPosition, ProposeError>,
    },
    /// Answer to `ReplicaInput::Transfer`.
    TransferStarted(Result<(), TransferError>),
    /// Answer to `ReplicaInput::ChangeVoters`.
    VotersProposed(Result<LogPosition, VoterChangeError>),
}

/// The replicated state machine of the simulation: a running digest of applied commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AppliedState {
    /// Last applied index.
    pub index: u64,
    /// Digest of every command applied up to `index`.
    pub digest: u64,
}

impl AppliedState {
    fn apply(&mut self, index: u64, payload: &EntryPayload) {
        let mut h = TraceHasher::default();
        h.record(&(self.digest, index, payload));
        self.index = index;
        self.digest = h.value();
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = self.index.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.digest.to_le_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let index = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let digest = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(AppliedState { index, digest })
    }
}

/// Encodes command number `seq` as a command payload.
pub fn command(seq: u64) -> Vec<u8> {
    seq.to_le_bytes().to_vec()
}

/// Decodes a command payload made by [`command`].
pub fn command_seq(payload: &EntryPayload) -> Option<u64> {
    match payload {
        EntryPayload::Command(bytes) => Some(u64::from_le_bytes(bytes.as_slice().try_into().ok()?)),
        _ => None,
    }
}

/// A core replica with a simulated disk: persist requests become durable `fsync_delay`
/// after they were issued, in order, and only then reach `handle_persisted`. A crash
/// keeps only the durable part ([`SimReplica::disk`]), so unsynced writes are lost.
#[derive(Debug)]
pub struct SimReplica {
    replica: Replica,
    disk: PersistedState,
    unsynced: VecDeque<(Instant, PersistRequest)>,
    fsync_delay: Duration,
    fsync_jitter: Duration,
    disk_rng: ChaCha8Rng,
    state: AppliedState,
    now: Instant,
    events: VecDeque<NodeEvent>,
}

impl SimReplica {
    /// Starts (or restarts) a node from what its disk holds.
    pub fn start(
        config: ReplicaConfig,
        bootstrap: VoterSet,
        disk: PersistedState,
        seed: u64,
        fsync_delay: Duration,
        now: Instant,
    ) -> Result<Self, RestoreError> {
        // The state machine restarts from the durable snapshot; entries after it are
        // re-applied as the replica learns they are committed.
        let state = disk
            .snapshot
            .as_ref()
            .and_then(|s| AppliedState::from_bytes(&s.data))
            .unwrap_or_default();
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let replica = Replica::new(config, bootstrap, disk.clone(), rng, now)?;
        let disk_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_d15c);
        Ok(SimReplica {
            replica,
            disk,
            unsynced: VecDeque::new(),
            fsync_delay,
            fsync_jitter: Duration::ZERO,
            disk_rng,
            state,
            now,
            events: VecDeque::new(),
        })
    }

    /// The replica.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The durable state: what survives a crash.
    pub fn disk(&self) -> &PersistedState {
        &self.disk
    }

    /// The state machine.
    pub fn state(&self) -> AppliedState {
        self.state
    }

    /// Changes how long an fsync takes from now on: `delay` plus up to `jitter`, drawn
    /// per request (completions stay in issue order, as on one disk).
    pub fn set_fsync_delay(&mut self, delay: Duration, jitter: Duration) {
        self.fsync_delay = delay;
        self.fsync_jitter = jitter;
    }

    fn pull_events(&mut self) {
        while let Some(event) = self.replica.poll_event() {
            match &event {
                Event::Persist(request) => {
                    let jitter = self.fsync_jitter.as_nanos() as u64;
                    let extra = Duration::from_nanos(self.disk_rng.random_range(0..=jitter));
                    let after_previous = self.unsynced.back().map_or(Instant::ZERO, |(d, _)| *d);
                    let done = (self.now + self.fsync_delay + extra).max(after_previous);
                    self.unsynced.push_back((done, request.clone()));
                }
                Event::Committed(entry) if entry.index == self.state.index + 1 => {
                    self.state.apply(entry.index, &entry.payload);
                }
                Event::SnapshotInstalled { data, .. } => {
                    if let Some(state) = AppliedState::from_bytes(data) {
                        self.state = state;
                    }
                }
                _ => {}
            }
            self.events.push_back(NodeEvent::Raft(event));
        }
    }

    fn complete_fsyncs(&mut self, now: Instant) {
        let mut last = None;
        while self.unsynced.front().is_some_and(|(done, _)| *done <= now) {
            if let Some((_, request)) = self.unsynced.pop_front() {
                self.disk.apply(&request);
                last = Some(request.id);
            }
        }
        if let Some(id) = last {
            // Ids come from this replica in order, so this cannot be refused.
            let _ = self.replica.handle_persisted(now, id);
            self.pull_events();
        }
    }
}

impl Machine for SimReplica {
    type Message = omnirelay_core::consensus::Message;
    type Event = NodeEvent;

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Self::Message) {
        self.now = now;
        self.replica.handle_message(now, from, msg);
        self.pull_events();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.complete_fsyncs(now);
        if self.replica.poll_timeout().is_some_and(|t| t <= now) {
            self.replica.handle_timeout(now);
        }
        self.pull_events();
    }

    fn poll_transmit(&mut self) -> Option<Transmit<Self::Message>> {
        self.replica.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let fsync = self.unsynced.front().map(|(done, _)| *done);
        match (self.replica.poll_timeout(), fsync) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl SimMachine for SimReplica {
    type Local = ReplicaInput;

    fn handle_local(&mut self, now: Instant, input: ReplicaInput) {
        self.now = now;
        match input {
            ReplicaInput::Propose(seq) => {
                let result = self.replica.propose(now, command(seq));
                self.pull_events();
                self.events.push_back(NodeEvent::Proposed { seq, result });
            }
            ReplicaInput::Compact => {
                let upto = self.state.index;
                // Refusals (nothing new applied) are normal here.
                let _ = self.replica.compact(now, upto, self.state.to_bytes());
                self.pull_events();
            }
            ReplicaInput::Transfer(target) => {
                let result = self.replica.transfer_leadership(now, target);
                self.pull_events();
                self.events.push_back(NodeEvent::TransferStarted(result));
            }
            ReplicaInput::ChangeVoters(voters) => {
                let result = self.replica.propose_voter_change(now, voters);
                self.pull_events();
                self.events.push_back(NodeEvent::VotersProposed(result));
            }
        }
    }
}
