//! Inputs refused without effect, counted by kind so operators and tests can see them.

/// Why an incoming message, or one update inside it, was ignored. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The message claims to come from this member.
    FromSelf,
    /// Larger than `max_packet_bytes` (datagrams) or `max_push_pull_bytes` (state).
    Oversized,
    /// An alive update or record whose metadata is larger than `max_meta_bytes`: it could
    /// never be piggybacked, so it is not learned and not re-gossiped.
    OversizedMetadata,
    /// An ack or nack for a sequence number this member never issued.
    UnknownSequence,
    /// An ack or nack for a probe that already finished (normal after loss or relays).
    LateAnswer,
    /// A ping meant for another member id.
    MisdirectedPing,
    /// Self-contradictory content: a ping-req for ourselves or for its own sender, a
    /// full-state exchange listing a member twice.
    Malformed,
    /// A suspect or dead update about a member we do not know (or forgot).
    UnknownMember,
    /// An update no newer than what we know.
    StaleUpdate,
    /// An incarnation that cannot be real: at the top of the range (no room to refute) or
    /// more than 2^32 above the one known for that member (0 for a member not known).
    ImpossibleIncarnation,
    /// Too many indirect probes already running for others.
    RelayOverflow,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 11] = [
        DropReason::FromSelf,
        DropReason::Oversized,
        DropReason::OversizedMetadata,
        DropReason::UnknownSequence,
        DropReason::LateAnswer,
        DropReason::MisdirectedPing,
        DropReason::Malformed,
        DropReason::UnknownMember,
        DropReason::StaleUpdate,
        DropReason::ImpossibleIncarnation,
        DropReason::RelayOverflow,
    ];
}

/// How many inputs were dropped, per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    pub(crate) fn record(&mut self, reason: DropReason) {
        if let Some(c) = self.counts.get_mut(reason as usize) {
            *c += 1;
        }
    }

    /// Drops for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}
