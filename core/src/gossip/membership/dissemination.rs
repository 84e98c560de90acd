//! Spreading what this member knows: piggybacking, gossip rounds, push-pull full-state
//! exchanges, joins and reconnects.

use std::sync::Arc;

use rand::Rng;
use rand::seq::SliceRandom;

use crate::machine::{Transmit, WireMessage};
use crate::{Instant, NodeId};

use super::{EXACT_SAMPLING_MAX, Member, Membership};
use crate::gossip::member::Status;
use crate::gossip::message::{GossipMessage, MemberRecord, Update};
use crate::gossip::timer::Timer;

impl Membership {
    pub(super) fn on_gossip_tick(&mut self, now: Instant) {
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

    pub(super) fn on_push_pull_tick(&mut self, now: Instant) {
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
    pub(super) fn reconnect(&mut self) {
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

    pub(super) fn send_joins(&mut self) {
        let members = self.snapshot();
        for seed in self.seeds.clone() {
            let msg = GossipMessage::PushPull {
                join: true,
                members: members.clone(),
            };
            self.send(seed, msg);
        }
    }

    pub(super) fn piggyback(&mut self, budget: usize) -> Vec<Update> {
        let limit = self.config.retransmit_limit(self.live);
        self.broadcasts.take(budget, limit)
    }

    pub(super) fn send(&mut self, to: NodeId, msg: GossipMessage) {
        self.outbox.push_back(Transmit { to, msg });
    }

    pub(super) fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// Every member known, this one included, ordered by id.
    pub(super) fn snapshot(&self) -> Vec<MemberRecord> {
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
    pub(super) fn random_members(
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
}
