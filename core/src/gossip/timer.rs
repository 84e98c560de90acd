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

/// Timers of which at most one may be pending: setting one again replaces the old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerSlot {
    Suspicion(NodeId),
    Tombstone(NodeId),
}

impl Timer {
    /// Per-member timers are driven by updates from peers; one slot each keeps a peer
    /// from growing the queue by sending update after update about the same member.
    fn slot(&self) -> Option<TimerSlot> {
        match *self {
            Timer::SuspicionTimeout { member, .. } => Some(TimerSlot::Suspicion(member)),
            Timer::TombstoneExpiry { member, .. } => Some(TimerSlot::Tombstone(member)),
            _ => None,
        }
    }
}

/// Pending timers in firing order; equal deadlines fire in the order they were set.
/// Suspicion and tombstone timers are kept one per member: the latest set wins.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    pending: BTreeMap<(Instant, u64), Timer>,
    slots: BTreeMap<TimerSlot, (Instant, u64)>,
    next: u64,
}

impl TimerQueue {
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        let key = (at, self.next);
        self.next += 1;
        if let Some(slot) = timer.slot()
            && let Some(old) = self.slots.insert(slot, key)
        {
            self.pending.remove(&old);
        }
        self.pending.insert(key, timer);
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
        let timer = entry.remove();
        if let Some(slot) = timer.slot() {
            self.slots.remove(&slot);
        }
        Some(timer)
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspicion_timer_set_again_replaces_the_pending_one() {
        let mut q = TimerQueue::default();
        let suspect = |incarnation| Timer::SuspicionTimeout {
            member: NodeId(2),
            incarnation,
        };
        q.set(Instant::from_secs(5), suspect(0));
        q.set(Instant::from_secs(3), suspect(1));
        q.set(Instant::from_secs(4), Timer::ProbeTick);
        q.set(Instant::from_secs(4), Timer::ProbeTick);
        assert_eq!(q.len(), 3, "one suspicion timer, both probe ticks");
        assert_eq!(q.pop_due(Instant::from_secs(9)), Some(suspect(1)));
        q.set(Instant::from_secs(6), suspect(2));
        assert_eq!(q.len(), 3, "a fired slot can be set again");
    }
}
