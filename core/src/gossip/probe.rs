//! SWIM's round-robin probe schedule (§4.3) and the state of probes in flight.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::NodeId;

/// The order members are probed in: a shuffled list walked round-robin and reshuffled at
/// the end of each round, which bounds the time until a failed member is probed by every
/// other member to one round (SWIM §4.3), unlike picking a random target each period.
#[derive(Debug, Default)]
pub(crate) struct ProbeOrder {
    order: Vec<NodeId>,
    cursor: usize,
}

impl ProbeOrder {
    /// Adds a new member at a random position, so it is not always probed last.
    pub(crate) fn insert(&mut self, member: NodeId, rng: &mut ChaCha8Rng) {
        self.order.push(member);
        let last = self.order.len() - 1;
        let at = rng.random_range(0..=last);
        self.order.swap(at, last);
    }

    /// The next entry of the round, reshuffling `members` into a new round when this one is
    /// done. The caller skips entries that are no longer live.
    pub(crate) fn next(
        &mut self,
        rng: &mut ChaCha8Rng,
        members: impl FnOnce() -> Vec<NodeId>,
    ) -> Option<NodeId> {
        if self.cursor >= self.order.len() {
            self.order = members();
            self.order.shuffle(rng);
            self.cursor = 0;
        }
        let next = self.order.get(self.cursor).copied();
        self.cursor += 1;
        next
    }

    /// Entries in the current round.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

/// The probe of the current protocol period.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    pub(crate) seq: u64,
    pub(crate) target: NodeId,
    /// The target's incarnation when probed: a failed probe suspects that incarnation only.
    pub(crate) incarnation: u64,
    pub(crate) acked: bool,
    /// Ping-reqs were sent (the direct ping timed out).
    pub(crate) indirect: bool,
    pub(crate) expected_nacks: u32,
    pub(crate) nacks: u32,
}

/// An indirect probe this member runs on behalf of `requester`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Relay {
    pub(crate) requester: NodeId,
    pub(crate) requester_seq: u64,
}
