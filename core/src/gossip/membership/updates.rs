//! Applying membership updates under SWIM's precedence rules (§4.2), refuting suspicions
//! of ourselves, and running suspicion and tombstone timers out.

use std::sync::Arc;

use crate::machine::WireMessage;
use crate::{Instant, NodeId};

use super::{MAX_INCARNATION_JUMP, Member, Membership};
use crate::gossip::drops::DropReason;
use crate::gossip::event::MembershipEvent;
use crate::gossip::member::{MemberMeta, Status};
use crate::gossip::message::{GossipMessage, MemberRecord, Update};
use crate::gossip::suspicion::Suspicion;
use crate::gossip::timer::Timer;

impl Membership {
    /// Applies updates that arrived from `from`. A suspicion or death notice older than a
    /// refutation we hold means `from` missed that refutation: we send it the newer alive
    /// straight away, or its suspicion would time out and declare a live member dead (found
    /// by the simulator: `gossip --nodes 200 --profile lan --loss 0.05 --seed 3`).
    pub(super) fn apply_updates(&mut self, now: Instant, from: NodeId, updates: Vec<Update>) {
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
    pub(super) fn refutation_newer_than(&self, member: NodeId, incarnation: u64) -> Option<Update> {
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

    pub(super) fn apply(&mut self, now: Instant, update: Update) -> Result<(), DropReason> {
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
    pub(super) fn merge(&mut self, now: Instant, from: NodeId, records: Vec<MemberRecord>) {
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
            if let Err(
                reason @ (DropReason::ImpossibleIncarnation | DropReason::OversizedMetadata),
            ) = result
            {
                self.drops.record(reason);
            }
        }
    }

    /// Refuses an incarnation that cannot be real, for every member alike: one at the top
    /// of the range, or one more than `MAX_INCARNATION_JUMP` above what we know of the
    /// member (0 if we know nothing). Checking only updates about ourselves let a forged
    /// `Suspect { incarnation: 2^33 }` be accepted by peers yet ignored by its subject, who
    /// then could not refute it and was declared dead.
    pub(super) fn check_incarnation(
        &self,
        member: NodeId,
        incarnation: u64,
    ) -> Result<(), DropReason> {
        let known = if member == self.id {
            self.incarnation
        } else {
            self.members.get(&member).map_or(0, |m| m.incarnation)
        };
        let impossible =
            incarnation == u64::MAX || incarnation > known.saturating_add(MAX_INCARNATION_JUMP);
        if impossible {
            Err(DropReason::ImpossibleIncarnation)
        } else {
            Ok(())
        }
    }

    pub(super) fn on_alive(
        &mut self,
        now: Instant,
        member: NodeId,
        incarnation: u64,
        meta: Arc<MemberMeta>,
    ) -> Result<(), DropReason> {
        self.check_incarnation(member, incarnation)?;
        // Metadata that cannot be piggybacked would sit in the broadcast queue forever.
        if meta.wire_size() > self.config.max_meta_bytes() {
            return Err(DropReason::OversizedMetadata);
        }
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

    pub(super) fn on_suspect(
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
                self.spread_suspicion(member, incarnation, from, deadline);
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
                self.spread_suspicion(member, incarnation, from, deadline);
            }
        }
        Ok(())
    }

    /// `from` is who declared the death; `None` means the member left.
    /// Gossips a suspicion (new, or newly confirmed, so others' timers shrink too) and
    /// (re)arms its timeout, replacing any pending one for that member.
    fn spread_suspicion(
        &mut self,
        member: NodeId,
        incarnation: u64,
        from: NodeId,
        deadline: Instant,
    ) {
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

    pub(super) fn on_dead(
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

    pub(super) fn on_suspicion_timeout(&mut self, now: Instant, member: NodeId, incarnation: u64) {
        let due = self.members.get(&member).is_some_and(|m| {
            m.status == Status::Suspect
                && m.incarnation == incarnation
                && m.suspicion.as_ref().is_some_and(|s| s.deadline() <= now)
        });
        if due {
            let _ = self.on_dead(now, member, incarnation, Some(self.id));
        }
    }

    pub(super) fn on_tombstone_expiry(&mut self, now: Instant, member: NodeId, incarnation: u64) {
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

    pub(super) fn refute(&mut self, incarnation: u64) {
        self.incarnation = self.incarnation.max(incarnation).saturating_add(1);
        // Lifeguard: having to refute means others cannot hear us well; slow down.
        self.health.apply(1);
        self.broadcast_self_alive();
    }

    pub(super) fn broadcast_self_alive(&mut self) {
        self.broadcasts.push(Update::Alive {
            member: self.id,
            incarnation: self.incarnation,
            meta: Arc::clone(&self.meta),
        });
    }

    pub(super) fn insert_member(
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

/// Full-state lists are sent ordered by member id, so duplicates are found in one pass.
pub(super) fn strictly_ordered(records: &[MemberRecord]) -> bool {
    records.windows(2).all(|w| match w {
        [a, b] => a.member < b.member,
        _ => true,
    })
}
