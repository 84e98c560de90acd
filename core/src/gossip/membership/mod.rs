//! The SWIM member: one node's view of its cluster, kept current by probing and gossip.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

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
use super::message::{GossipMessage, Update};
use super::probe::{Probe, ProbeOrder, Relay};
use super::suspicion::Suspicion;
use super::timer::{Timer, TimerQueue};

mod dissemination;
mod probing;
mod updates;

use updates::strictly_ordered;

/// How far above the incarnation we know of a member (ourselves included) an update may
/// be. A restart that lost its incarnation may legitimately see a much higher one about
/// itself, and a peer may have missed many refutations; anything beyond this jump is
/// corruption or forgery, not history, and is refused by every member alike.
pub(super) const MAX_INCARNATION_JUMP: u64 = 1 << 32;
/// Above this many members, random targets are drawn by rejection instead of by listing
/// every candidate, so a gossip round stays O(fanout).
pub(super) const EXACT_SAMPLING_MAX: usize = 64;

/// Why a request to the membership machine was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// This member already left; it only finishes spreading that news. Nothing changed.
    #[error("this member has left the cluster")]
    Left,
    /// The metadata encodes larger than [`GossipConfig::max_meta_bytes`], so its alive
    /// update could not fit in a datagram and refutations would wait for push-pull.
    /// Nothing changed (no member was created; the metadata and incarnation in force stay).
    #[error("metadata of {bytes} bytes exceeds the {limit}-byte limit")]
    MetadataTooLarge {
        /// Its encoded size.
        bytes: usize,
        /// `max_meta_bytes` of the configuration.
        limit: usize,
    },
}

/// What this member knows about another.
#[derive(Clone, Debug)]
pub(super) struct Member {
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
    /// choice it makes (targets, shuffles, start offsets). Refuses metadata larger than
    /// [`GossipConfig::max_meta_bytes`].
    pub fn new(
        id: NodeId,
        meta: MemberMeta,
        config: GossipConfig,
        seed: u64,
        now: Instant,
    ) -> Result<Self, GossipError> {
        check_meta_size(&config, &meta)?;
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
        let mut broadcasts =
            BroadcastQueue::new(GossipMessage::update_room(config.max_packet_bytes));
        broadcasts.push(Update::Alive {
            member: id,
            incarnation: 0,
            meta: Arc::clone(&meta),
        });
        Ok(Membership {
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
        })
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
    /// Refuses metadata larger than [`GossipConfig::max_meta_bytes`].
    pub fn set_metadata(&mut self, _now: Instant, meta: MemberMeta) -> Result<(), GossipError> {
        if self.leaving {
            return Err(GossipError::Left);
        }
        check_meta_size(&self.config, &meta)?;
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
}

fn check_meta_size(config: &GossipConfig, meta: &MemberMeta) -> Result<(), GossipError> {
    let (bytes, limit) = (meta.wire_size(), config.max_meta_bytes());
    if bytes > limit {
        return Err(GossipError::MetadataTooLarge { bytes, limit });
    }
    Ok(())
}

fn view(id: NodeId, m: &Member) -> MemberView {
    MemberView {
        id,
        status: m.status,
        incarnation: m.incarnation,
        meta: Arc::clone(&m.meta),
    }
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
