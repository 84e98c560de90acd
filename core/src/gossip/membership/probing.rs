//! SWIM's failure detector (§3.1, §4.3): one probe per period, indirect probes through
//! `indirect_checks` members, and the answers (acks, Lifeguard nacks) to both.

use crate::{Instant, NodeId};

use super::Membership;
use crate::gossip::drops::DropReason;
use crate::gossip::member::Status;
use crate::gossip::message::{GossipMessage, Update};
use crate::gossip::probe::{Probe, Relay};
use crate::gossip::timer::Timer;

impl Membership {
    pub(super) fn on_ack(&mut self, _now: Instant, seq: u64) {
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

    pub(super) fn on_nack(&mut self, seq: u64) {
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

    pub(super) fn unmatched_answer(&self, seq: u64) -> DropReason {
        if seq > 0 && seq < self.next_seq {
            DropReason::LateAnswer
        } else {
            DropReason::UnknownSequence
        }
    }

    pub(super) fn on_ping_req(&mut self, now: Instant, from: NodeId, seq: u64, target: NodeId) {
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

    pub(super) fn on_probe_tick(&mut self, now: Instant) {
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

    pub(super) fn next_probe_target(&mut self) -> Option<NodeId> {
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

    pub(super) fn on_probe_timeout(&mut self, _now: Instant, seq: u64) {
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

    pub(super) fn probe_failed(&mut self, now: Instant, p: Probe) {
        // Lifeguard §4.3: each missing nack means our own messages are getting lost.
        let delta = if p.expected_nacks > 0 {
            i64::from(p.expected_nacks - p.nacks.min(p.expected_nacks))
        } else {
            1
        };
        self.health.apply(delta);
        let _ = self.on_suspect(now, p.target, p.incarnation, self.id);
    }

    pub(super) fn send_ping(&mut self, seq: u64, target: NodeId) {
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
}
