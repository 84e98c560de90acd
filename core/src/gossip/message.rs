//! What members send each other: probes, their answers, gossip and full-state exchanges.

use std::sync::Arc;

use crate::NodeId;
use crate::machine::WireMessage;

use super::member::{MemberMeta, Status};
use super::wire;

/// Envelope bytes every message pays: sender id, message kind, cluster label.
const ENVELOPE_BYTES: usize = 12;

/// One membership change, piggybacked on probes or carried by gossip.
///
/// Precedence (SWIM §4.2, memberlist): `Alive(i)` overrides `Suspect(j)` and `Alive(j)`
/// iff `i > j`; `Suspect(i)` overrides `Alive(j)` iff `i >= j`; `Dead(i)` and `Left(i)`
/// override anything of incarnation `<= i`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Update {
    /// `member` is alive at `incarnation`, with this metadata.
    Alive {
        /// Who.
        member: NodeId,
        /// Its incarnation.
        incarnation: u64,
        /// Its metadata at that incarnation.
        meta: Arc<MemberMeta>,
    },
    /// `from` suspects `member` at `incarnation`.
    Suspect {
        /// Who.
        member: NodeId,
        /// The incarnation suspected.
        incarnation: u64,
        /// Who suspects it (Lifeguard counts distinct suspecters as confirmations).
        from: NodeId,
    },
    /// `from` declared `member` dead at `incarnation`.
    Dead {
        /// Who.
        member: NodeId,
        /// The incarnation declared dead.
        incarnation: u64,
        /// Who declared it.
        from: NodeId,
    },
    /// `member` left on purpose at `incarnation`.
    Left {
        /// Who.
        member: NodeId,
        /// The incarnation it left with (one above its last alive).
        incarnation: u64,
    },
}

impl Update {
    /// The member the update is about.
    pub fn member(&self) -> NodeId {
        match self {
            Update::Alive { member, .. }
            | Update::Suspect { member, .. }
            | Update::Dead { member, .. }
            | Update::Left { member, .. } => *member,
        }
    }

    /// The incarnation the update is about.
    pub fn incarnation(&self) -> u64 {
        match self {
            Update::Alive { incarnation, .. }
            | Update::Suspect { incarnation, .. }
            | Update::Dead { incarnation, .. }
            | Update::Left { incarnation, .. } => *incarnation,
        }
    }

    /// Bytes of an `Alive` update whose metadata encodes in `meta_bytes`, at the largest
    /// member id and incarnation.
    pub(crate) fn largest_alive_size(meta_bytes: usize) -> usize {
        wire::embedded(2 * wire::uint(u64::MAX) + wire::embedded(meta_bytes))
    }

    /// Bytes of its encoding as a field of a message.
    pub fn wire_size(&self) -> usize {
        let body = wire::uint(self.member().0) + wire::uint(self.incarnation());
        let body = match self {
            Update::Alive { meta, .. } => body + wire::embedded(meta.wire_size()),
            Update::Suspect { from, .. } | Update::Dead { from, .. } => body + wire::uint(from.0),
            Update::Left { .. } => body,
        };
        wire::embedded(body)
    }
}

/// One member's entry in a full-state exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberRecord {
    /// Who.
    pub member: NodeId,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its status at the sender.
    pub status: Status,
    /// Its metadata.
    pub meta: Arc<MemberMeta>,
}

impl MemberRecord {
    /// Bytes of its encoding as a field of a message.
    pub fn wire_size(&self) -> usize {
        wire::embedded(
            wire::uint(self.member.0)
                + wire::uint(self.incarnation)
                + wire::uint(self.status as u64 + 1)
                + wire::embedded(self.meta.wire_size()),
        )
    }
}

/// A gossip protocol message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipMessage {
    /// A direct probe of `target` (SWIM §3.1); the receiver answers `Ack { seq }` if it is
    /// `target`.
    Ping {
        /// The prober's sequence number.
        seq: u64,
        /// Who is meant to answer (a renumbered node drops pings meant for its old id).
        target: NodeId,
        /// Piggybacked updates.
        updates: Vec<Update>,
    },
    /// The answer to a `Ping`, or an indirect probe's answer relayed to the requester.
    Ack {
        /// The sequence number of the probe answered.
        seq: u64,
        /// Piggybacked updates.
        updates: Vec<Update>,
    },
    /// "Probe `target` for me" (SWIM §3.1 ping-req).
    PingReq {
        /// The requester's sequence number, echoed in the relayed `Ack` or `Nack`.
        seq: u64,
        /// Who to probe.
        target: NodeId,
    },
    /// "I could not reach your target either" (Lifeguard §4.3): a requester that misses
    /// nacks learns its own network, not the target, is in trouble.
    Nack {
        /// The requester's sequence number.
        seq: u64,
    },
    /// Updates pushed on the gossip timer.
    Gossip {
        /// The updates.
        updates: Vec<Update>,
    },
    /// A full-state exchange, answered by `PushPullReply`.
    PushPull {
        /// Sent by `join`.
        join: bool,
        /// Every member the sender knows, tombstones included.
        members: Vec<MemberRecord>,
    },
    /// The answer to a `PushPull`.
    PushPullReply {
        /// Every member the sender knows, tombstones included.
        members: Vec<MemberRecord>,
    },
}

fn updates_size(updates: &[Update]) -> usize {
    updates.iter().map(Update::wire_size).sum()
}

fn records_size(members: &[MemberRecord]) -> usize {
    members.iter().map(MemberRecord::wire_size).sum()
}

impl GossipMessage {
    /// Whether it travels as a datagram (bounded by `max_packet_bytes`) rather than over a
    /// stream.
    pub fn is_datagram(&self) -> bool {
        !matches!(
            self,
            GossipMessage::PushPull { .. } | GossipMessage::PushPullReply { .. }
        )
    }

    /// Bytes of a message carrying no updates, to budget piggybacking.
    pub(crate) fn probe_overhead(seq: u64, target: NodeId) -> usize {
        ENVELOPE_BYTES + wire::uint(seq) + wire::uint(target.0)
    }

    /// Room for updates in the tightest datagram that carries any: a ping with the largest
    /// sequence number and target id, a buddy suspicion (the largest `Suspect`) first. An
    /// update no larger than this fits in every ping, ack and gossip message on its own.
    pub(crate) fn update_room(max_packet_bytes: usize) -> usize {
        let most = NodeId(u64::MAX);
        let buddy = Update::Suspect {
            member: most,
            incarnation: u64::MAX,
            from: most,
        };
        max_packet_bytes.saturating_sub(Self::probe_overhead(u64::MAX, most) + buddy.wire_size())
    }
}

impl WireMessage for GossipMessage {
    fn wire_size(&self) -> usize {
        ENVELOPE_BYTES
            + match self {
                GossipMessage::Ping {
                    seq,
                    target,
                    updates,
                } => wire::uint(*seq) + wire::uint(target.0) + updates_size(updates),
                GossipMessage::Ack { seq, updates } => wire::uint(*seq) + updates_size(updates),
                GossipMessage::PingReq { seq, target } => wire::uint(*seq) + wire::uint(target.0),
                GossipMessage::Nack { seq } => wire::uint(*seq),
                GossipMessage::Gossip { updates } => updates_size(updates),
                GossipMessage::PushPull { join, members } => {
                    wire::uint(u64::from(*join)) + records_size(members)
                }
                // The answer carries `reply = true` (PushPull.reply) on the wire.
                GossipMessage::PushPullReply { members } => {
                    wire::uint(u64::from(true)) + records_size(members)
                }
            }
    }
}
