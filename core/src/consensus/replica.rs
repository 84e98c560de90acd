//! One Raft replica: the machine a node runs for its cluster's consensus group.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{Priority, ReplicaConfig, VoterSet};
use super::durability::{InFlightPersist, PendingWrite};
use super::errors::{CompactError, DropReason, ProposeError, RestoreError, TransferError};
use super::events::Event;
use super::log::{Entry, EntryPayload, LogPosition, ReplicatedLog, Term};
use super::messages::{AppendOutcome, AppendResponse, Message};
use super::progress::Progress;
use super::snapshot::Snapshot;
use super::storage::{PersistId, PersistedState};
use super::timers::{Timer, Timers};
use crate::machine::{Machine, Transmit};
use crate::{Instant, NodeId};

/// What a replica is doing in its current term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Following `Replica::leader` (if known).
    Follower,
    /// Asking for pre-votes for `term + 1` without raising its own term.
    PreCandidate { granted: BTreeSet<NodeId> },
    /// Asking for votes in its term. Its own vote joins `granted` only once the write
    /// carrying it (`self_vote`) is durable: a node that won on an unsynced self-vote
    /// could restart in the previous term and lead the same term twice.
    Candidate {
        granted: BTreeSet<NodeId>,
        self_vote: PersistId,
    },
    /// Leading its term.
    Leader(LeaderState),
}

/// The public name of a replica's role, for shells and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Follower.
    Follower,
    /// Pre-vote round in progress.
    PreCandidate,
    /// Vote round in progress.
    Candidate,
    /// Leader.
    Leader,
}

/// A leadership transfer in progress (thesis §3.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub(crate) target: NodeId,
    /// Whether TimeoutNow was already sent.
    pub(crate) timeout_now_sent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaderState {
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) transfer: Option<Transfer>,
}

/// A Raft replica (Ongaro & Ousterhout 2014; thesis for pre-vote, check-quorum,
/// leadership transfer and single-server voter changes), sans IO.
///
/// Driving order, after building it with [`Replica::new`] (or after a restart, from
/// exactly what was persisted):
///
/// 1. inputs: `handle_message`, `handle_timeout` when `poll_timeout` is reached,
///    `handle_persisted` when the shell has made a [`Event::Persist`] request durable,
///    and the client calls `propose`, `propose_voter_change`, `transfer_leadership`,
///    `compact`;
/// 2. after each input drain `poll_event` then `poll_transmit`. Persist requests must be
///    written in the order they are polled; messages that depend on them (votes, append
///    acknowledgements) are only released by `poll_transmit` after `handle_persisted`
///    covers them, so a shell may send everything it polls immediately;
/// 3. `poll_timeout` for the next deadline.
#[derive(Debug)]
pub struct Replica {
    pub(crate) config: ReplicaConfig,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) term: Term,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) log: ReplicatedLog,
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) bootstrap_voters: VoterSet,
    pub(crate) voters: VoterSet,
    /// Every node any configuration this replica has seen names (only grows).
    pub(crate) known_nodes: BTreeSet<NodeId>,
    /// Index of the configuration entry in effect (0: snapshot or bootstrap set).
    pub(crate) voters_index: u64,
    pub(crate) commit_index: u64,
    pub(crate) applied_index: u64,
    /// The in-memory log equals the durable log up to here.
    pub(crate) persisted_index: u64,
    pub(crate) role: Role,
    /// Leader of the current term, if known (this node when leading).
    pub(crate) leader: Option<NodeId>,
    pub(crate) last_leader_contact: Option<Instant>,
    pub(crate) leaderless_since: Option<Instant>,
    pub(crate) timers: Timers,
    // Durability boundary.
    pub(crate) pending_write: PendingWrite,
    pub(crate) last_issued: PersistId,
    pub(crate) last_persisted: PersistId,
    pub(crate) in_flight: VecDeque<InFlightPersist>,
    /// Messages that may leave only once the write with this id is durable.
    pub(crate) awaiting_persist: VecDeque<(PersistId, Transmit<Message>)>,
    pub(crate) transmits: VecDeque<Transmit<Message>>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) drops: BTreeMap<DropReason, u64>,
}

impl Replica {
    /// Builds a replica from what it persisted (`PersistedState::default()` for a new
    /// node). `bootstrap_voters` is the voter set before any configuration entry; `rng`
    /// draws election timeouts and must be seeded by the caller.
    pub fn new(
        config: ReplicaConfig,
        bootstrap_voters: VoterSet,
        persisted: PersistedState,
        rng: ChaCha8Rng,
        now: Instant,
    ) -> Result<Self, RestoreError> {
        let (snap_index, snap_term) = persisted
            .snapshot
            .as_ref()
            .map_or((0, Term(0)), |s| (s.last_index, s.last_term));
        let log = ReplicatedLog::restore(snap_index, snap_term, persisted.entries)
            .ok_or(RestoreError::CorruptLog)?;
        if persisted.hard_state.term < log.last_term() {
            return Err(RestoreError::TermBehindLog);
        }
        let last = log.last_index();
        let mut replica = Replica {
            config,
            rng,
            term: persisted.hard_state.term,
            voted_for: persisted.hard_state.voted_for,
            log,
            snapshot: persisted.snapshot,
            voters: bootstrap_voters.clone(),
            known_nodes: bootstrap_voters.ids().collect(),
            bootstrap_voters,
            voters_index: 0,
            commit_index: snap_index,
            applied_index: snap_index,
            persisted_index: last,
            role: Role::Follower,
            leader: None,
            last_leader_contact: None,
            leaderless_since: Some(now),
            timers: Timers::default(),
            pending_write: PendingWrite::default(),
            last_issued: PersistId(0),
            last_persisted: PersistId(0),
            in_flight: VecDeque::new(),
            awaiting_persist: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            drops: BTreeMap::new(),
        };
        replica.refresh_voters();
        replica.events.clear();
        replica.reset_election_timer(now);
        Ok(replica)
    }

    // ---- read-only views --------------------------------------------------------------

    /// This node.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// Current role.
    pub fn role(&self) -> RoleKind {
        match self.role {
            Role::Follower => RoleKind::Follower,
            Role::PreCandidate { .. } => RoleKind::PreCandidate,
            Role::Candidate { .. } => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
        }
    }

    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Highest index known committed.
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    /// Highest index handed to the shell as committed (or covered by a snapshot).
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Index of the last entry in the (in-memory) log.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// Highest index the in-memory log and the durable log agree on.
    pub fn persisted_index(&self) -> u64 {
        self.persisted_index
    }

    /// Index up to which the log is compacted.
    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot_index()
    }

    /// The entry at `index`, unless compacted or beyond the end.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// The voter set in effect.
    pub fn voters(&self) -> &VoterSet {
        &self.voters
    }

    /// Where a client should retry: the known leader, unless that is this node (which
    /// then just stepped down in this term).
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader.filter(|&l| l != self.config.id)
    }

    /// Messages dropped, by reason.
    pub fn drops(&self) -> &BTreeMap<DropReason, u64> {
        &self.drops
    }

    /// Whether a leadership transfer is running.
    pub fn transfer_target(&self) -> Option<NodeId> {
        match &self.role {
            Role::Leader(l) => l.transfer.map(|t| t.target),
            _ => None,
        }
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        *self.drops.entry(reason).or_insert(0) += 1;
    }

    pub(crate) fn my_priority(&self) -> Option<Priority> {
        self.voters.priority(self.config.id)
    }

    /// Whether this node may campaign: a voter with a priority above 0.
    pub(crate) fn may_lead(&self) -> bool {
        self.my_priority().is_some_and(Priority::may_lead)
    }

    // ---- client inputs ----------------------------------------------------------------

    /// Appends a client command. The returned position is where it will be committed if
    /// it is committed at all; a `Committed` event for it follows when it is.
    pub fn propose(&mut self, now: Instant, data: Vec<u8>) -> Result<LogPosition, ProposeError> {
        match &self.role {
            Role::Leader(l) if l.transfer.is_some() => Err(ProposeError::TransferInProgress),
            Role::Leader(_) => {
                let position = self.append_as_leader(now, EntryPayload::Command(data));
                self.flush();
                Ok(position)
            }
            _ => Err(ProposeError::NotLeader {
                leader_hint: self.leader_hint(),
                term: self.term,
            }),
        }
    }

    /// Hands leadership to `target` (thesis §3.10): proposals are refused meanwhile; the
    /// target is caught up, then told to campaign at once. Aborted (with an event) after
    /// the maximum election timeout.
    pub fn transfer_leadership(
        &mut self,
        now: Instant,
        target: NodeId,
    ) -> Result<(), TransferError> {
        let eligible = target != self.config.id
            && self.voters.priority(target).is_some_and(Priority::may_lead);
        let term = self.term;
        let deadline = now + self.config.election_timeout.max();
        let Role::Leader(l) = &mut self.role else {
            return Err(TransferError::NotLeader);
        };
        if let Some(t) = l.transfer {
            return Err(TransferError::AlreadyInProgress(t.target));
        }
        if !eligible {
            return Err(TransferError::IneligibleTarget(target));
        }
        l.transfer = Some(Transfer {
            target,
            timeout_now_sent: false,
        });
        self.timers
            .set(Timer::TransferAbort { term, target }, deadline);
        self.advance_transfer(target);
        self.flush();
        Ok(())
    }

    /// Replaces the log up to `upto` (which must be applied) with the shell's snapshot
    /// of its state machine at that index.
    pub fn compact(&mut self, _now: Instant, upto: u64, data: Vec<u8>) -> Result<(), CompactError> {
        if upto <= self.log.snapshot_index() {
            return Err(CompactError::AlreadyCompacted {
                snapshot_index: self.log.snapshot_index(),
            });
        }
        let term = match self.log.term_at(upto) {
            Some(term) if upto <= self.applied_index => term,
            _ => {
                return Err(CompactError::BeyondApplied {
                    upto,
                    applied: self.applied_index,
                });
            }
        };
        let snapshot = Snapshot {
            last_index: upto,
            last_term: term,
            voters: self.voters_at(upto),
            data: data.into(),
        };
        self.log.compact(upto, term);
        self.snapshot = Some(snapshot.clone());
        self.pending_write.snapshot = Some(snapshot);
        self.flush();
        Ok(())
    }

    // ---- timers -----------------------------------------------------------------------

    /// Arms the election timer at a fresh random point of the configured range.
    /// The randomized timeout is followed by a priority delay (see `election` docs).
    pub(crate) fn reset_election_timer(&mut self, now: Instant) {
        let range = self.config.election_timeout;
        // Saturate rather than wrap: a wrapped max below min would make the draw panic.
        let min = u64::try_from(range.min().as_nanos()).unwrap_or(u64::MAX);
        let max = u64::try_from(range.max().as_nanos()).unwrap_or(u64::MAX);
        let timeout = self.rng.random_range(min..=max);
        let delay = self.priority_delay().as_nanos() as u64;
        self.timers.set(
            Timer::Election,
            Instant::from_nanos(now.as_nanos().saturating_add(timeout).saturating_add(delay)),
        );
    }

    /// How much longer than the randomized timeout this voter waits before campaigning:
    /// one step per distinct priority level above its own among the voters, a step being
    /// long enough (the timeout spread plus half the minimum) for a live higher-priority
    /// voter to time out, ask and win first.
    pub(crate) fn priority_delay(&self) -> std::time::Duration {
        let Some(mine) = self.my_priority() else {
            return std::time::Duration::ZERO;
        };
        let above: BTreeSet<Priority> = self
            .voters
            .ids()
            .filter_map(|id| self.voters.priority(id))
            .filter(|&p| p > mine)
            .collect();
        let range = self.config.election_timeout;
        let step = (range.max() - range.min()) + range.min() / 2;
        step * u32::try_from(above.len()).unwrap_or(u32::MAX)
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timeout(now),
            Timer::Heartbeat { term } => {
                if term == self.term && matches!(self.role, Role::Leader(_)) {
                    self.broadcast_append();
                    self.timers.set(
                        Timer::Heartbeat { term },
                        now + self.config.heartbeat_interval,
                    );
                }
            }
            Timer::CheckQuorum { term } => {
                if term == self.term && matches!(self.role, Role::Leader(_)) {
                    self.check_quorum(now);
                }
            }
            Timer::TransferAbort { term, target } => self.abort_transfer(term, target),
        }
    }

    fn abort_transfer(&mut self, term: Term, target: NodeId) {
        if term != self.term {
            return;
        }
        if let Role::Leader(l) = &mut self.role
            && l.transfer.is_some_and(|t| t.target == target)
        {
            l.transfer = None;
            self.events
                .push_back(Event::TransferAborted { target, term });
        }
    }

    /// Appends an entry of the current term as leader and sends it out.
    pub(crate) fn append_as_leader(&mut self, now: Instant, payload: EntryPayload) -> LogPosition {
        let is_config = matches!(payload, EntryPayload::VoterChange(_));
        let entry = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            payload,
        };
        let position = entry.position();
        self.append_entry(entry);
        if is_config {
            self.refresh_voters();
        }
        self.send_pending_appends();
        // A single voter commits on its own fsync; nothing else to wait for.
        self.maybe_commit(now);
        position
    }
}

impl Machine for Replica {
    type Message = Message;
    type Event = Event;

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) {
        self.on_message(now, from, msg);
        self.flush();
    }

    fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.take_due(now) {
            self.on_timer(now, timer);
        }
        self.flush();
    }

    fn poll_transmit(&mut self) -> Option<Transmit<Message>> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}

impl Replica {
    /// Term rules common to every message (§5.1), then dispatch.
    fn on_message(&mut self, now: Instant, from: NodeId, msg: Message) {
        // Requests are processed without consulting the current configuration (thesis
        // §4.1): a server being added, or one whose configuration is stale, must take
        // entries from a leader it does not list, and vote for a candidate it does not
        // list, or a cluster whose members' configurations disagree can stall. Removed
        // servers are kept from disrupting by the lease and pre-vote instead. So every
        // request passes, including (pre-)votes from a voter added by a configuration this
        // replica never saw (otherwise it can never win, and the cluster can stall with a
        // majority alive); only responses from nodes no configuration ever named are
        // dropped. Other clusters' traffic is filtered by the shell, by cluster id.
        let request = matches!(
            msg,
            Message::Append(_)
                | Message::InstallSnapshot { .. }
                | Message::PreVote(_)
                | Message::Vote(_)
        );
        if from == self.config.id || !(self.known_nodes.contains(&from) || request) {
            self.count_drop(DropReason::UnknownSender);
            return;
        }
        match msg {
            // (Pre-)vote requests decide themselves whether a higher term is adopted: a
            // pre-vote never changes it, and the leader lease can refuse a vote.
            Message::PreVote(req) => self.on_pre_vote(now, from, req),
            Message::Vote(req) => self.on_vote(now, from, req),
            Message::PreVoteResponse(resp) => self.on_pre_vote_response(now, from, resp),
            other => {
                let term = other.term();
                if term < self.term {
                    self.on_stale(from, other);
                    return;
                }
                if term > self.term {
                    let leader = match other {
                        Message::Append(_)
                        | Message::InstallSnapshot { .. }
                        | Message::TimeoutNow { .. } => Some(from),
                        _ => None,
                    };
                    self.become_follower(now, term, leader);
                }
                match other {
                    Message::VoteResponse(resp) => self.on_vote_response(now, from, resp),
                    Message::Append(req) => self.on_append(now, from, req),
                    Message::AppendResponse(resp) => self.on_append_response(now, from, resp),
                    Message::InstallSnapshot { snapshot, .. } => {
                        self.on_install_snapshot(now, from, snapshot)
                    }
                    Message::TimeoutNow { .. } => self.on_timeout_now(now, from),
                    Message::PreVote(_) | Message::Vote(_) | Message::PreVoteResponse(_) => {}
                }
            }
        }
    }

    /// A message from an older term: dropped, but a deposed leader is told the current
    /// term so it steps down instead of retrying forever.
    fn on_stale(&mut self, from: NodeId, msg: Message) {
        self.count_drop(DropReason::StaleTerm);
        if let Message::Append(_) | Message::InstallSnapshot { .. } = msg {
            let outcome = AppendOutcome::Rejected {
                rejected_prev_index: 0,
                hint_index: 0,
                hint_term: Term(0),
            };
            let term = self.term;
            self.send_after_persist(
                from,
                Message::AppendResponse(AppendResponse { term, outcome }),
            );
        }
    }
}
