//! Typed timers: each carries what it needs to recognise itself as stale, so a timer that
//! fires after the state it was armed for has gone is a no-op.

use super::log::Term;
use crate::{Instant, NodeId};

/// A deadline the replica is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Timer {
    /// Follower/candidate: no word from a leader, start (pre-)campaigning.
    Election,
    /// Leader: send AppendEntries to every follower.
    Heartbeat {
        /// The term it was armed in.
        term: Term,
    },
    /// Leader: step down unless a majority was heard from recently.
    CheckQuorum {
        /// The term it was armed in.
        term: Term,
    },
    /// Leader: give up a transfer to `target`.
    TransferAbort {
        /// The term it was armed in.
        term: Term,
        /// The chosen successor.
        target: NodeId,
    },
}

impl Timer {
    fn kind(&self) -> u8 {
        match self {
            Timer::Election => 0,
            Timer::Heartbeat { .. } => 1,
            Timer::CheckQuorum { .. } => 2,
            Timer::TransferAbort { .. } => 3,
        }
    }
}

/// At most one armed timer per kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    armed: Vec<(Timer, Instant)>,
}

impl Timers {
    /// Arms `timer` at `at`, replacing the armed timer of the same kind.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel_kind(&timer);
        self.armed.push((timer, at));
    }

    fn cancel_kind(&mut self, timer: &Timer) {
        let kind = timer.kind();
        self.armed.retain(|(t, _)| t.kind() != kind);
    }

    /// Disarms the election timer.
    pub(crate) fn cancel_election(&mut self) {
        self.cancel_kind(&Timer::Election);
    }

    /// Disarms every leader timer.
    pub(crate) fn cancel_leader_timers(&mut self) {
        self.armed.retain(|(t, _)| matches!(t, Timer::Election));
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.armed.iter().map(|&(_, at)| at).min()
    }

    /// Removes and returns the timers due at `now`, earliest first (ties by kind).
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<(Timer, Instant)> = Vec::new();
        self.armed.retain(|&(t, at)| {
            if at <= now {
                due.push((t, at));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(t, at)| (*at, t.kind()));
        due.into_iter().map(|(t, _)| t).collect()
    }
}
