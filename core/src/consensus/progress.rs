//! The leader's view of each follower's log.

use crate::Instant;

/// Replication state of one follower, kept by the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Next index to send. Advanced optimistically after each send; a rejection (or the
    /// follower's hint) moves it back.
    pub(crate) next_index: u64,
    /// Highest index known to be durably replicated on the follower. Never decreases.
    pub(crate) match_index: u64,
    /// Last time any current-term message arrived from the follower (check-quorum).
    pub(crate) last_heard: Instant,
}

impl Progress {
    pub(crate) fn new(next_index: u64, now: Instant) -> Self {
        Progress {
            next_index,
            match_index: 0,
            last_heard: now,
        }
    }

    /// An acknowledgement that the follower durably matches through `index`.
    pub(crate) fn on_accepted(&mut self, index: u64) {
        self.match_index = self.match_index.max(index);
        self.next_index = self.next_index.max(self.match_index + 1);
    }

    /// A rejection of `prev_index`; retry after `hint`. Returns whether it was current
    /// (rejections below what is already matched are stale and ignored). Only ever moves
    /// the next index down: a late or duplicated rejection of an older, higher probe must
    /// not undo the progress of newer ones.
    pub(crate) fn on_rejected(&mut self, prev_index: u64, hint: u64) -> bool {
        if prev_index < self.match_index {
            return false;
        }
        let retry = hint.saturating_add(1).min(prev_index.max(1));
        self.next_index = self.next_index.min(retry).max(self.match_index + 1);
        true
    }
}
