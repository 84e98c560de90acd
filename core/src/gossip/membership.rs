//! The SWIM member: one node's view of its cluster, kept current by probing and gossip.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::machine::{Machine, Transmit, WireMessage};
use crate::{Instant, NodeId};

use super::broadcast::BroadcastQueue;
use super::config::GossipConfig;
use super::drops::{DropCounts, DropReason};
use super::event::MembershipEvent;
use super::health::LocalHealth;
use super::member::{MemberMeta, MemberView, Status};
use super::message::{GossipMessage, MemberRecord, Update};
use super::probe::{Probe, ProbeOrder, Relay};
use super::suspicion::Suspicion;
use super::timer::{Timer, TimerQueue};

/// A restart that lost its incarnation may legitimately see a much higher one about
/// itself; anything beyond this jump is corruption, not history.
const MAX_SELF_INCARNATION_JUMP: u64 = 1 << 32;
/// Above this many members, random targets are drawn by rejection instead of by listing
/// every candidate, so a gossip round stays O(fanout).
const EXACT_SAMPLING_MAX: usize = 64;

/// Why a request to the membership machine was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// This member already left; it only finishes spreading that news.
    #[error("this member has left the cluster")]
    Left,
}

/// What this member knows about another.
#[derive(Clone, Debug)]
struct Member {
    incarnation: u64,
    status: Status,
    meta: Arc<MemberMeta>,
    changed_at: Instant,
    /// Index in `Membership::roster`.
    slot: usize,
    suspicion: Option<Suspicion>,
}

/// One node's SWIM membership with the Lifeguard refinements.
///
/// Driving it (see [`crate::machine`]): create it with [`Membership::new`], then call
/// [`Membership::join`] with seed members (or [`Membership::bootstrap_members`] to start
/// from a known roster). After that and after every `handle_message` / `handle_timeout`,
/// drain `poll_transmit` and `poll_event` until `None`, then call `handle_timeout` once the
/// instant from `poll_timeout` has passed. `leave`, `set_metadata` and `join` are inputs
/// too: drain the outputs after them the same way.
///
/// Each protocol period it probes the next member of a shuffled round-robin list (SWIM
/// §4.3), asks `indirect_checks` members to probe on a missed ack (§3.1, with Lifeguard
/// nacks), suspects on a failed period (§4.2), and spreads changes by piggybacking and by
/// periodic gossip, each update retransmitted `retransmit_mult * ceil(log10(n + 1))` times.
#[derive(Debug)]
pub struct Membership {
    id: NodeId,
    config: GossipConfig,
    rng: ChaCha8Rng,
    incarnation: u64,
    meta: Arc<MemberMeta>,
    leaving: bool,
    /// Every other member known, tombstones included.
    members: BTreeMap<NodeId, Member>,
    /// The keys of `members` in a `Vec`, for O(1) random draws.
    roster: Vec<NodeId>,
    /// Live members, this one included.
    live: usize,
    probe_order: ProbeOrder,
    probe: Option<Probe>,
    relays: BTreeMap<u64, Relay>,
    next_seq: u64,
    broadcasts: BroadcastQueue,
    health: LocalHealth,
    timers: TimerQueue,
    seeds: Vec<NodeId>,
    outbox: VecDeque<Transmit<GossipMessage>>,
    events: VecDeque<MembershipEvent>,
    drops: DropCounts,
}

impl Membership {
    /// A member alone in its cluster, alive at incarnation 0. `seed` drives every random
    /// choice it makes (targets, shuffles, start offsets).
    pub fn new(
        id: NodeId,
        meta: MemberMeta,
        config: GossipConfig,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut timers = TimerQueue::default();
        let offset = |rng: &mut ChaCha8Rng, period: std::time::Duration| {
            if config.stagger_start && !period.is_zero() {
                period.mul_f64(rng.random::<f64>())
            } else {
                period
            }
        };
        let probe_at = now + offset(&mut rng, config.probe_interval);
        let gossip_at = now + offset(&mut rng, config.gossip_interval);
        let push_pull_at = now + offset(&mut rng, config.push_pull_interval);
        timers.set(probe_at, Timer::ProbeTick);
        timers.set(gossip_at, Timer::GossipTick);
        timers.set(push_pull_at, Timer::PushPullTick);
        let meta = Arc::new(meta);
        let mut broadcasts = BroadcastQueue::default();
        broadcasts.push(Update::Alive {
            member: id,
            incarnation: 0,
            meta: Arc::clone(&meta),
        });
        Membership {
            id,
            health: LocalHealth::new(config.awareness_max_multiplier),
            config,
            rng,
            incarnation: 0,
            meta,
            leaving: false,
            members: BTreeMap::new(),
            roster: Vec::new(),
            live: 1,
            probe_order: ProbeOrder::default(),
            probe: None,
            relays: BTreeMap::new(),
            next_seq: 1,
            broadcasts,
            timers,
            seeds: Vec::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            drops: DropCounts::default(),
        }
    }

    /// Asks `seeds` for their full state (a push-pull marked `join`), retrying with backoff
    /// until one answers. An empty list starts a new cluster.
    pub fn join(&mut self, now: Instant, seeds: &[NodeId]) -> Result<(), GossipError> {
        if self.leaving {
            return Err(GossipError::Left);
        }
        self.seeds = seeds.iter().copied().filter(|s| *s != self.id).collect();
        self.seeds.dedup();
        if self.seeds.is_empty() {
            return Ok(());
        }
        self.send_joins();
        self.timers.set(
            now + self.config.probe_interval,
            Timer::JoinRetry { attempt: 1 },
        );
        Ok(())
    }

    /// Starts from an already converged view: every listed member alive at incarnation 0,
    /// with no events and nothing queued to gossip. Simulators use it to measure a settled
    /// cluster; real nodes use [`Membership::join`].
    pub fn bootstrap_members(
        &mut self,
        now: Instant,
        members: impl IntoIterator<Item = (NodeId, Arc<MemberMeta>)>,
    ) {
        for (id, meta) in members {
            if id == self.id || self.members.contains_key(&id) {
                continue;
            }
            self.insert_member(now, id, 0, Status::Alive, meta);
        }
    }

    /// Leaves gracefully: disseminates `Left` one incarnation above the last alive, stops
    /// probing, keeps gossiping so the news spreads. Other members keep a tombstone.
    pub fn leave(&mut self, _now: Instant) -> Result<(), GossipError> {
        if self.leaving {
            return Err(GossipError::Left);
        }
        self.leaving = true;
        self.incarnation = self.incarnation.saturating_add(1);
        self.probe = None;
        self.broadcasts.push(Update::Left {
            member: self.id,
            incarnation: self.incarnation,
        });
        Ok(())
    }

    /// Announces new metadata at a new incarnation, which overrides the old everywhere.
    pub fn set_metadata(&mut self, _now: Instant, meta: MemberMeta) -> Result<(), GossipError> {
        if self.leaving {
            return Err(GossipError::Left);
        }
        self.incarnation = self.incarnation.saturating_add(1);
        self.meta = Arc::new(meta);
        self.broadcast_self_alive();
        Ok(())
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This member's own incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// This member's own metadata.
    pub fn meta(&self) -> &Arc<MemberMeta> {
        &self.meta
    }

    /// Whether `leave` was called.
    pub fn has_left(&self) -> bool {
        self.leaving
    }

    /// The configuration in force.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// What this member knows about `id` (not itself).
    pub fn member(&self, id: NodeId) -> Option<MemberView> {
        self.members.get(&id).map(|m| view(id, m))
    }

    /// Every other member known, tombstones included, by id.
    pub fn members(&self) -> impl Iterator<Item = MemberView> + '_ {
        self.members.iter().map(|(&id, m)| view(id, m))
    }

    /// Members known, tombstones included (itself excluded).
    pub fn known_members(&self) -> usize {
        self.members.len()
    }

    /// Alive or suspect members, this one included: the `n` of the log(n) formulas.
    pub fn live_members(&self) -> usize {
        self.live
    }

    /// The Lifeguard local health score.
    pub fn health(&self) -> LocalHealth {
        self.health
    }

    /// Inputs dropped so far, by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// Updates still waiting for retransmission.
    pub fn pending_broadcasts(&self) -> usize {
        self.broadcasts.len()
    }

    /// Timers set, including ones that will fire as no-ops.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// The current suspicion deadline of `member`, if it is suspect here.
    pub fn suspicion_deadline(&self, member: NodeId) -> Option<Instant> {
        self.members
            .get(&member)
            .and_then(|m| m.suspicion.as_ref())
            .map(Suspicion::deadline)
    }

    // ---- inputs ------------------------------------------------------------------------

    fn on_message(&mut self, now: Instant, from: NodeId, msg: GossipMessage) {
        if from == self.id {
            return self.drops.record(DropReason::FromSelf);
        }
        let limit = if msg.is_datagram() {
            self.config.max_packet_bytes
        } else {
            self.config.max_push_pull_bytes
        };
        if msg.wire_size() > limit {
            return self.drops.record(DropReason::Oversized);
        }
        match msg {
            GossipMessage::Ping {
                seq,
                target,
                updates,
            } => {
                if target != self.id {
                    return self.drops.record(DropReason::MisdirectedPing);
                }
                self.apply_updates(now, from, updates);
                let budget = self
                    .config
                    .max_packet_bytes
                    .saturating_sub(GossipMessage::probe_overhead(seq, from));
                let updates = self.piggyback(budget);
                self.send(from, GossipMessage::Ack { seq, updates });
            }
            GossipMessage::Ack { seq, updates } => {
                self.apply_updates(now, from, updates);
                self.on_ack(now, seq);
            }
            GossipMessage::PingReq { seq, target } => self.on_ping_req(now, from, seq, target),
            GossipMessage::Nack { seq } => self.on_nack(seq),
            GossipMessage::Gossip { updates } => self.apply_updates(now, from, updates),
            GossipMessage::PushPull { join: _, members } => {
                if !strictly_ordered(&members) {
                    return self.drops.record(DropReason::Malformed);
                }
                // Merge first: if the requester listed us dead (a healed partition), the
                // reply already carries our refutation.
                self.merge(now, from, members);
                let members_here = self.snapshot();
                self.send(
                    from,
                    GossipMessage::PushPullReply {
                        members: members_here,
                    },
                );
            }
            GossipMessage::PushPullReply { members } => {
                if !strictly_ordered(&members) {
                    return self.drops.record(DropReason::Malformed);
                }
                self.merge(now, from, members);
            }
        }
    }

    fn on_ack(&mut self, _now: Instant, seq: u64) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            if p.acked {
                return self.drops.record(DropReason::LateAnswer);
            }
            p.acked = true;
            if !p.indirect {
                // Lifeguard: a timely direct ack is evidence our own node is healthy.
                self.health.apply(-1);
            }
            return;
        }
        if let Some(relay) = self.relays.remove(&seq) {
            let ack = GossipMessage::Ack {
                seq: relay.requester_seq,
                updates: Vec::new(),
            };
            return self.send(relay.requester, ack);
        }
        self.drops.record(self.unmatched_answer(seq));
    }

    fn on_nack(&mut self, seq: u64) {
        if let Some(p) = self
            .probe
            .as_mut()
            .filter(|p| p.seq == seq && p.indirect && !p.acked)
        {
            p.nacks = (p.nacks + 1).min(p.expected_nacks);
            return;
        }
        self.drops.record(self.unmatched_answer(seq));
    }

    fn unmatched_answer(&self, seq: u64) -> DropReason {
        if seq > 0 && seq < self.next_seq {
            DropReason::LateAnswer
        } else {
            DropReason::UnknownSequence
        }
    }

    fn on_ping_req(&mut self, now: Instant, from: NodeId, seq: u64, target: NodeId) {
        if target == self.id || target == from {
            return self.drops.record(DropReason::Malformed);
        }
        if self.relays.len() >= self.config.max_pending_relays {
            return self.drops.record(DropReason::RelayOverflow);
        }
        let relay_seq = self.take_seq();
        self.relays.insert(
            relay_seq,
            Relay {
                requester: from,
                requester_seq: seq,
            },
        );
        self.send_ping(relay_seq, target);
        let at = now + self.health.scale(self.config.probe_timeout);
        self.timers.set(at, Timer::RelayTimeout { seq: relay_seq });
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::ProbeTick => self.on_probe_tick(now),
            Timer::ProbeTimeout { seq } => self.on_probe_timeout(now, seq),
            Timer::RelayTimeout { seq } => {
                if let Some(relay) = self.relays.remove(&seq) {
                    let nack = GossipMessage::Nack {
                        seq: relay.requester_seq,
                    };
                    self.send(relay.requester, nack);
                }
            }
            Timer::GossipTick => self.on_gossip_tick(now),
            Timer::PushPullTick => self.on_push_pull_tick(now),
            Timer::SuspicionTimeout {
                member,
                incarnation,
            } => self.on_suspicion_timeout(now, member, incarnation),
            Timer::TombstoneExpiry {
                member,
                incarnation,
            } => self.on_tombstone_expiry(now, member, incarnation),
            Timer::JoinRetry { attempt } => {
                if self.live > 1 || self.leaving || self.seeds.is_empty() {
                    return;
                }
                self.send_joins();
                let backoff = self
                    .config
                    .probe_interval
                    .saturating_mul(1 << attempt.min(16))
                    .min(self.config.push_pull_interval);
                let next = Timer::JoinRetry {
                    attempt: attempt.saturating_add(1),
                };
                self.timers.set(now + backoff, next);
            }
        }
    }

    // ---- probing -----------------------------------------------------------------------

    fn on_probe_tick(&mut self, now: Instant) {
        if let Some(p) = self.probe.take().filter(|p| !p.acked) {
            self.probe_failed(now, p);
        }
        if self.leaving {
            return;
        }
        if let Some(target) = self.next_probe_target() {
            let incarnation = self.members.get(&target).map_or(0, |m| m.incarnation);
            let seq = self.take_seq();
            self.send_ping(seq, target);
            self.probe = Some(Probe {
                seq,
                target,
                incarnation,
                acked: false,
                indirect: false,
                expected_nacks: 0,
                nacks: 0,
            });
            let at = now + self.health.scale(self.config.probe_timeout);
            self.timers.set(at, Timer::ProbeTimeout { seq });
        }
        let at = now + self.health.scale(self.config.probe_interval);
        self.timers.set(at, Timer::ProbeTick);
    }

    fn next_probe_target(&mut self) -> Option<NodeId> {
        // At most one reshuffle's worth of skipped (dead or forgotten) entries.
        for _ in 0..self.probe_order.len() + self.members.len() + 1 {
            let members = &self.members;
            let candidate = self.probe_order.next(&mut self.rng, || {
                members
                    .iter()
                    .filter(|(_, m)| m.status.is_live())
                    .map(|(&id, _)| id)
                    .collect()
            })?;
            if self
                .members
                .get(&candidate)
                .is_some_and(|m| m.status.is_live())
            {
                return Some(candidate);
            }
        }
        None
    }

    fn on_probe_timeout(&mut self, _now: Instant, seq: u64) {
        let Some(target) = self
            .probe
            .as_ref()
            .filter(|p| p.seq == seq && !p.acked && !p.indirect)
            .map(|p| p.target)
        else {
            return;
        };
        let helpers = self.random_members(self.config.indirect_checks, |id, m| {
            id != target && m.status == Status::Alive
        });
        for &helper in &helpers {
            self.send(helper, GossipMessage::PingReq { seq, target });
        }
        if let Some(p) = self.probe.as_mut() {
            p.indirect = true;
            p.expected_nacks = u32::try_from(helpers.len()).unwrap_or(u32::MAX);
        }
    }

    fn probe_failed(&mut self, now: Instant, p: Probe) {
        // Lifeguard §4.3: each missing nack means our own messages are getting lost.
        let delta = if p.expected_nacks > 0 {
            i64::from(p.expected_nacks - p.nacks.min(p.expected_nacks))
        } else {
            1
        };
        self.health.apply(delta);
        let _ = self.on_suspect(now, p.target, p.incarnation, self.id);
    }

    // ---- dissemination -----------------------------------------------------------------

    fn on_gossip_tick(&mut self, now: Instant) {
        if self.broadcasts.len() > 0 {
            let to_the_dead = self.config.gossip_to_the_dead;
            let targets = self.random_members(self.config.gossip_nodes, |_, m| {
                m.status.is_live() || now - m.changed_at < to_the_dead
            });
            let budget = GossipMessage::Gossip {
                updates: Vec::new(),
            }
            .wire_size();
            let budget = self.config.max_packet_bytes.saturating_sub(budget);
            for target in targets {
                let updates = self.piggyback(budget);
                if updates.is_empty() {
                    break;
                }
                self.send(target, GossipMessage::Gossip { updates });
            }
        }
        self.timers
            .set(now + self.config.gossip_interval, Timer::GossipTick);
    }

    fn on_push_pull_tick(&mut self, now: Instant) {
        let peer = self
            .random_members(1, |_, m| m.status == Status::Alive)
            .first()
            .copied()
            .or_else(|| {
                let i = self.rng.random_range(0..self.seeds.len().max(1));
                self.seeds.get(i).copied()
            });
        if let Some(peer) = peer {
            let members = self.snapshot();
            self.send(
                peer,
                GossipMessage::PushPull {
                    join: false,
                    members,
                },
            );
        }
        self.reconnect();
        let period = self.config.push_pull_period(self.live);
        self.timers.set(now + period, Timer::PushPullTick);
    }

    /// Serf's reconnect: now and then exchange state with a member declared dead (with
    /// probability dead / live), or with a seed we forgot. A member that was only cut off
    /// hears of its death, refutes, and the two sides of a healed partition merge again;
    /// SWIM alone never probes the dead.
    fn reconnect(&mut self) {
        let dead = self
            .members
            .values()
            .filter(|m| m.status == Status::Dead)
            .count();
        let target = if dead > 0 && self.rng.random::<f64>() * (self.live as f64) < dead as f64 {
            self.random_members(1, |_, m| m.status == Status::Dead)
                .first()
                .copied()
        } else {
            let forgotten: Vec<NodeId> = self
                .seeds
                .iter()
                .copied()
                .filter(|s| !self.members.contains_key(s))
                .collect();
            forgotten
                .get(self.rng.random_range(0..forgotten.len().max(1)))
                .copied()
        };
        if let (Some(target), false) = (target, self.leaving) {
            let members = self.snapshot();
            self.send(
                target,
                GossipMessage::PushPull {
                    join: false,
                    members,
                },
            );
        }
    }

    fn send_joins(&mut self) {
        let members = self.snapshot();
        for seed in self.seeds.clone() {
            let msg = GossipMessage::PushPull {
                join: true,
                members: members.clone(),
            };
            self.send(seed, msg);
        }
    }

    fn piggyback(&mut self, budget: usize) -> Vec<Update> {
        let limit = self.config.retransmit_limit(self.live);
        self.broadcasts.take(budget, limit)
    }

    fn send_ping(&mut self, seq: u64, target: NodeId) {
        let mut budget = self
            .config
            .max_packet_bytes
            .saturating_sub(GossipMessage::probe_overhead(seq, target));
        // Lifeguard's buddy system: a suspect we probe hears of the suspicion from us
        // directly, so it can refute without waiting for gossip to reach it.
        let buddy = self
            .members
            .get(&target)
            .filter(|m| m.status == Status::Suspect)
            .map(|m| Update::Suspect {
                member: target,
                incarnation: m.incarnation,
                from: self.id,
            });
        if let Some(b) = &buddy {
            budget = budget.saturating_sub(b.wire_size());
        }
        let mut updates = self.piggyback(budget);
        updates.splice(0..0, buddy);
        self.send(
            target,
            GossipMessage::Ping {
                seq,
                target,
                updates,
            },
        );
    }

    fn send(&mut self, to: NodeId, msg: GossipMessage) {
        self.outbox.push_back(Transmit { to, msg });
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// Every member known, this one included, ordered by id.
    fn snapshot(&self) -> Vec<MemberRecord> {
        let me = MemberRecord {
            member: self.id,
            incarnation: self.incarnation,
            status: if self.leaving {
                Status::Left
            } else {
                Status::Alive
            },
            meta: Arc::clone(&self.meta),
        };
        let mut out = Vec::with_capacity(self.members.len() + 1);
        let mut me = Some(me);
        for (&id, m) in &self.members {
            if id > self.id
                && let Some(me) = me.take()
            {
                out.push(me);
            }
            out.push(MemberRecord {
                member: id,
                incarnation: m.incarnation,
                status: m.status,
                meta: Arc::clone(&m.meta),
            });
        }
        out.extend(me);
        out
    }

    /// Up to `k` distinct members passing `filter`, drawn at random.
    fn random_members(
        &mut self,
        k: usize,
        filter: impl Fn(NodeId, &Member) -> bool,
    ) -> Vec<NodeId> {
        let n = self.roster.len();
        if k == 0 || n == 0 {
            return Vec::new();
        }
        if n <= EXACT_SAMPLING_MAX {
            let mut all: Vec<NodeId> = self
                .roster
                .iter()
                .copied()
                .filter(|id| self.members.get(id).is_some_and(|m| filter(*id, m)))
                .collect();
            let (chosen, _) = all.partial_shuffle(&mut self.rng, k);
            return chosen.to_vec();
        }
        let mut out = Vec::with_capacity(k);
        for _ in 0..(3 * n).min(16 * k + 64) {
            if out.len() >= k {
                break;
            }
            let Some(&id) = self.roster.get(self.rng.random_range(0..n)) else {
                continue;
            };
            if !out.contains(&id) && self.members.get(&id).is_some_and(|m| filter(id, m)) {
                out.push(id);
            }
        }
        out
    }

    // ---- applying updates --------------------------------------------------------------

    /// Applies updates that arrived from `from`. A suspicion or death notice older than a
    /// refutation we hold means `from` missed that refutation: we send it the newer alive
    /// straight away, or its suspicion would time out and declare a live member dead (found
    /// by the simulator: `gossip --nodes 200 --profile lan --loss 0.05 --seed 3`).
    fn apply_updates(&mut self, now: Instant, from: NodeId, updates: Vec<Update>) {
        let mut corrections = Vec::new();
        for update in updates {
            let behind = match &update {
                Update::Suspect {
                    member,
                    incarnation,
                    ..
                }
                | Update::Dead {
                    member,
                    incarnation,
                    ..
                } => Some((*member, *incarnation)),
                _ => None,
            };
            if let Err(reason) = self.apply(now, update) {
                self.drops.record(reason);
                if reason == DropReason::StaleUpdate
                    && let Some((member, incarnation)) = behind
                    && let Some(newer) = self.refutation_newer_than(member, incarnation)
                {
                    corrections.push(newer);
                }
            }
        }
        if corrections.is_empty() {
            return;
        }
        let mut room = self.config.max_packet_bytes.saturating_sub(
            GossipMessage::Gossip {
                updates: Vec::new(),
            }
            .wire_size(),
        );
        corrections.retain(|u| {
            let size = u.wire_size();
            let fits = size <= room;
            room = room.saturating_sub(size);
            fits
        });
        self.send(
            from,
            GossipMessage::Gossip {
                updates: corrections,
            },
        );
    }

    /// Our alive record of `member` if it is newer than `incarnation` (a refutation).
    fn refutation_newer_than(&self, member: NodeId, incarnation: u64) -> Option<Update> {
        if member == self.id {
            return (!self.leaving && self.incarnation > incarnation).then(|| Update::Alive {
                member,
                incarnation: self.incarnation,
                meta: Arc::clone(&self.meta),
            });
        }
        let m = self.members.get(&member)?;
        (m.status == Status::Alive && m.incarnation > incarnation).then(|| Update::Alive {
            member,
            incarnation: m.incarnation,
            meta: Arc::clone(&m.meta),
        })
    }

    fn apply(&mut self, now: Instant, update: Update) -> Result<(), DropReason> {
        match update {
            Update::Alive {
                member,
                incarnation,
                meta,
            } => self.on_alive(now, member, incarnation, meta),
            Update::Suspect {
                member,
                incarnation,
                from,
            } => self.on_suspect(now, member, incarnation, from),
            Update::Dead {
                member,
                incarnation,
                from,
            } => self.on_dead(now, member, incarnation, Some(from)),
            Update::Left {
                member,
                incarnation,
            } => self.on_dead(now, member, incarnation, None),
        }
    }

    /// Full state from `from`: alive entries merge as alive, suspect and dead ones as
    /// suspicions (memberlist: a remote "dead" is only grounds to suspect), left as left.
    /// Entries about members we never heard of that are not alive are skipped silently,
    /// and staleness is not counted: most of any exchange is already known.
    fn merge(&mut self, now: Instant, from: NodeId, records: Vec<MemberRecord>) {
        for r in records {
            if r.member != self.id
                && r.status != Status::Alive
                && !self.members.contains_key(&r.member)
            {
                continue;
            }
            let result = match r.status {
                Status::Alive => self.on_alive(now, r.member, r.incarnation, r.meta),
                Status::Suspect | Status::Dead => {
                    self.on_suspect(now, r.member, r.incarnation, from)
                }
                Status::Left => self.on_dead(now, r.member, r.incarnation, None),
            };
            if let Err(reason @ DropReason::ImpossibleIncarnation) = result {
                self.drops.record(reason);
            }
        }
    }

    fn check_incarnation(&self, member: NodeId, incarnation: u64) -> Result<(), DropReason> {
        let impossible = incarnation == u64::MAX
            || (member == self.id
                && incarnation > self.incarnation.saturating_add(MAX_SELF_INCARNATION_JUMP));
        if impossible {
            Err(DropReason::ImpossibleIncarnation)
        } else {
            Ok(())
        }
    }

    fn on_alive(
        &mut self,
        now: Instant,
        member: NodeId,
        incarnation: u64,
        meta: Arc<MemberMeta>,
    ) -> Result<(), DropReason> {
        self.check_incarnation(member, incarnation)?;
        if member == self.id {
            let conflicting = incarnation > self.incarnation
                || (incarnation == self.incarnation && *meta != *self.meta);
            if self.leaving || !conflicting {
                return Err(DropReason::StaleUpdate);
            }
            self.refute(incarnation);
            return Ok(());
        }
        let Some(m) = self.members.get_mut(&member) else {
            self.insert_member(now, member, incarnation, Status::Alive, Arc::clone(&meta));
            self.events.push_back(MembershipEvent::Joined {
                member,
                incarnation,
                meta: Arc::clone(&meta),
            });
            self.broadcasts.push(Update::Alive {
                member,
                incarnation,
                meta,
            });
            return Ok(());
        };
        // SWIM: alive(i) overrides alive(j), suspect(j), dead(j) and left(j) only if i > j.
        if incarnation <= m.incarnation {
            return Err(DropReason::StaleUpdate);
        }
        let was = m.status;
        let meta_changed = *m.meta != *meta;
        m.incarnation = incarnation;
        m.status = Status::Alive;
        m.meta = Arc::clone(&meta);
        m.changed_at = now;
        m.suspicion = None;
        match was {
            Status::Alive | Status::Suspect => {
                if was == Status::Suspect {
                    self.events.push_back(MembershipEvent::Alive {
                        member,
                        incarnation,
                    });
                }
                if meta_changed {
                    self.events.push_back(MembershipEvent::MetadataChanged {
                        member,
                        incarnation,
                        meta: Arc::clone(&meta),
                    });
                }
            }
            Status::Dead | Status::Left => {
                self.live += 1;
                self.probe_order.insert(member, &mut self.rng);
                self.events.push_back(MembershipEvent::Joined {
                    member,
                    incarnation,
                    meta: Arc::clone(&meta),
                });
            }
        }
        self.broadcasts.push(Update::Alive {
            member,
            incarnation,
            meta,
        });
        Ok(())
    }

    fn on_suspect(
        &mut self,
        now: Instant,
        member: NodeId,
        incarnation: u64,
        from: NodeId,
    ) -> Result<(), DropReason> {
        self.check_incarnation(member, incarnation)?;
        if member == self.id {
            // SWIM §4.2: suspect(i) about us with i >= ours is refuted with i + 1.
            if self.leaving || incarnation < self.incarnation {
                return Err(DropReason::StaleUpdate);
            }
            self.refute(incarnation);
            return Ok(());
        }
        let live = self.live;
        let (min, max) = self.config.suspicion_bounds(live);
        // Lifeguard: expect suspicion_mult - 2 confirmations, if there are enough members.
        let expected = self.config.suspicion_mult.saturating_sub(2);
        let expected = if live.saturating_sub(2) < expected as usize {
            0
        } else {
            expected
        };
        let Some(m) = self.members.get_mut(&member) else {
            return Err(DropReason::UnknownMember);
        };
        if incarnation < m.incarnation || !m.status.is_live() {
            return Err(DropReason::StaleUpdate);
        }
        match (m.status, m.suspicion.as_mut()) {
            (Status::Suspect, Some(s)) => {
                let newer = incarnation > m.incarnation;
                m.incarnation = incarnation;
                let confirmed = s.confirm(from);
                let deadline = s.deadline();
                if !(newer || confirmed) {
                    return Err(DropReason::StaleUpdate);
                }
                // Re-gossip new confirmations so others' timers shrink too.
                self.broadcasts.push(Update::Suspect {
                    member,
                    incarnation,
                    from,
                });
                self.timers.set(
                    deadline,
                    Timer::SuspicionTimeout {
                        member,
                        incarnation,
                    },
                );
            }
            _ => {
                let s = Suspicion::new(now, from, expected, min, max);
                let deadline = s.deadline();
                m.status = Status::Suspect;
                m.incarnation = incarnation;
                m.changed_at = now;
                m.suspicion = Some(s);
                self.events.push_back(MembershipEvent::Suspect {
                    member,
                    incarnation,
                });
                self.broadcasts.push(Update::Suspect {
                    member,
                    incarnation,
                    from,
                });
                self.timers.set(
                    deadline,
                    Timer::SuspicionTimeout {
                        member,
                        incarnation,
                    },
                );
            }
        }
        Ok(())
    }

    /// `from` is who declared the death; `None` means the member left.
    fn on_dead(
        &mut self,
        now: Instant,
        member: NodeId,
        incarnation: u64,
        from: Option<NodeId>,
    ) -> Result<(), DropReason> {
        self.check_incarnation(member, incarnation)?;
        if member == self.id {
            if self.leaving || incarnation < self.incarnation {
                return Err(DropReason::StaleUpdate);
            }
            self.refute(incarnation);
            return Ok(());
        }
        let Some(m) = self.members.get_mut(&member) else {
            return Err(DropReason::UnknownMember);
        };
        // Dead and left override anything of incarnation <= theirs.
        if incarnation < m.incarnation || !m.status.is_live() {
            return Err(DropReason::StaleUpdate);
        }
        m.status = if from.is_some() {
            Status::Dead
        } else {
            Status::Left
        };
        m.incarnation = incarnation;
        m.changed_at = now;
        m.suspicion = None;
        self.live -= 1;
        let (event, update) = match from {
            Some(from) => (
                MembershipEvent::Dead {
                    member,
                    incarnation,
                },
                Update::Dead {
                    member,
                    incarnation,
                    from,
                },
            ),
            None => (
                MembershipEvent::Left {
                    member,
                    incarnation,
                },
                Update::Left {
                    member,
                    incarnation,
                },
            ),
        };
        self.events.push_back(event);
        self.broadcasts.push(update);
        self.timers.set(
            now + self.config.tombstone_ttl,
            Timer::TombstoneExpiry {
                member,
                incarnation,
            },
        );
        Ok(())
    }

    fn on_suspicion_timeout(&mut self, now: Instant, member: NodeId, incarnation: u64) {
        let due = self.members.get(&member).is_some_and(|m| {
            m.status == Status::Suspect
                && m.incarnation == incarnation
                && m.suspicion.as_ref().is_some_and(|s| s.deadline() <= now)
        });
        if due {
            let _ = self.on_dead(now, member, incarnation, Some(self.id));
        }
    }

    fn on_tombstone_expiry(&mut self, now: Instant, member: NodeId, incarnation: u64) {
        let expired = self.members.get(&member).is_some_and(|m| {
            !m.status.is_live()
                && m.incarnation == incarnation
                && now - m.changed_at >= self.config.tombstone_ttl
        });
        if !expired {
            return;
        }
        if let Some(m) = self.members.remove(&member) {
            self.roster.swap_remove(m.slot);
            if let Some(moved) = self.roster.get(m.slot).copied()
                && let Some(mm) = self.members.get_mut(&moved)
            {
                mm.slot = m.slot;
            }
        }
        self.broadcasts.forget(member);
    }

    fn refute(&mut self, incarnation: u64) {
        self.incarnation = self.incarnation.max(incarnation).saturating_add(1);
        // Lifeguard: having to refute means others cannot hear us well; slow down.
        self.health.apply(1);
        self.broadcast_self_alive();
    }

    fn broadcast_self_alive(&mut self) {
        self.broadcasts.push(Update::Alive {
            member: self.id,
            incarnation: self.incarnation,
            meta: Arc::clone(&self.meta),
        });
    }

    fn insert_member(
        &mut self,
        now: Instant,
        id: NodeId,
        incarnation: u64,
        status: Status,
        meta: Arc<MemberMeta>,
    ) {
        let slot = self.roster.len();
        self.roster.push(id);
        self.members.insert(
            id,
            Member {
                incarnation,
                status,
                meta,
                changed_at: now,
                slot,
                suspicion: None,
            },
        );
        if status.is_live() {
            self.live += 1;
            self.probe_order.insert(id, &mut self.rng);
        }
    }
}

fn view(id: NodeId, m: &Member) -> MemberView {
    MemberView {
        id,
        status: m.status,
        incarnation: m.incarnation,
        meta: Arc::clone(&m.meta),
    }
}

fn strictly_ordered(records: &[MemberRecord]) -> bool {
    records.windows(2).all(|w| match w {
        [a, b] => a.member < b.member,
        _ => true,
    })
}

impl Machine for Membership {
    type Message = GossipMessage;
    type Event = MembershipEvent;

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: GossipMessage) {
        self.on_message(now, from, msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            self.on_timer(now, timer);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit<GossipMessage>> {
        self.outbox.pop_front()
    }

    fn poll_event(&mut self) -> Option<MembershipEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}
