//! Typed timers: each carries what it is about, so one that fires late is a no-op.

use std::collections::BTreeMap;

use crate::{Instant, NodeId};

/// A deadline the membership machine set itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Start the next protocol period: finish the current probe, probe the next member.
    ProbeTick,
    /// The direct probe `seq` got no ack in time: ask others to probe indirectly.
    ProbeTimeout {
        /// The probe.
        seq: u64,
    },
    /// The indirect probe `seq` run for another member got no ack: send it a nack.
    RelayTimeout {
        /// Our own sequence number of the relayed ping.
        seq: u64,
    },
    /// Push queued updates to a few random members.
    GossipTick,
    /// Exchange full state with one random member.
    PushPullTick,
    /// `member`'s suspicion at `incarnation` may have run out.
    SuspicionTimeout {
        /// The suspect.
        member: NodeId,
        /// The incarnation suspected.
        incarnation: u64,
    },
    /// `member`'s tombstone at `incarnation` may be forgotten.
    TombstoneExpiry {
        /// The dead or left member.
        member: NodeId,
        /// The incarnation it died or left at.
        incarnation: u64,
    },
    /// No seed answered yet: try them again.
    JoinRetry {
        /// Attempts so far (the backoff doubles).
        attempt: u32,
    },
}

/// Pending timers in firing order; equal deadlines fire in the order they were set.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    pending: BTreeMap<(Instant, u64), Timer>,
    next: u64,
}

impl TimerQueue {
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        self.pending.insert((at, self.next), timer);
        self.next += 1;
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|(&(at, _), _)| at)
    }

    /// The earliest timer due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let entry = self.pending.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
