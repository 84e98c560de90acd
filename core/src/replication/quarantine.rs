//! Events that arrived in order but must never be applied, kept for the state-diff report.

use std::collections::VecDeque;

use crate::{ClusterId, Instant, NamespaceId};

use super::{Event, FailoverVersion};

/// Why an event was quarantined instead of applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QuarantineReason {
    /// The event's origin was not the namespace's active cluster at the event's failover
    /// version: a write the fencing token forbids (invariant 3).
    NotActiveAtVersion {
        /// Who the registry says was active at that version.
        active: ClusterId,
    },
    /// The origin was active at the event's version, but an emergency failover superseded
    /// it and the new active had applied only up to `cutoff`: this write came later. These
    /// are exactly the writes the promotion reported as possibly lost.
    WrittenAfterSupersession {
        /// The version that superseded the event's.
        superseded_by: FailoverVersion,
        /// The cluster promoted at `superseded_by`.
        new_active: ClusterId,
        /// The highest `origin_seq` of the old active the new active had applied.
        cutoff: u64,
    },
    /// The event's version is older than the namespace's current one but the applier was
    /// never told who was active at it, so it cannot prove the write legitimate. The shell
    /// avoids this by feeding the namespace's whole failover history.
    UnknownFailoverVersion {
        /// The namespace's current version when the event was judged.
        current: FailoverVersion,
    },
}

/// One quarantined event with what the state-diff report needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuarantinedEvent {
    /// The event, untouched.
    pub event: Event,
    /// Why it was not applied.
    pub reason: QuarantineReason,
    /// When the applier judged it.
    pub quarantined_at: Instant,
}

impl QuarantinedEvent {
    /// The event's namespace.
    pub fn namespace(&self) -> &NamespaceId {
        &self.event.namespace
    }
}

/// A bounded store of quarantined events, oldest first.
///
/// Bounded because a misbehaving peer could otherwise grow it without limit; when full the
/// oldest record is evicted and counted. The shell is expected to copy records to durable
/// storage (or the state-diff report) with [`take`](Self::take) long before that happens.
#[derive(Clone, Debug)]
pub struct Quarantine {
    records: VecDeque<QuarantinedEvent>,
    capacity: usize,
    evicted: u64,
}

impl Quarantine {
    /// An empty store holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Quarantine {
            records: VecDeque::new(),
            capacity,
            evicted: 0,
        }
    }

    pub(crate) fn push(&mut self, record: QuarantinedEvent) {
        if self.capacity == 0 {
            self.evicted += 1;
            return;
        }
        while self.records.len() >= self.capacity {
            self.records.pop_front();
            self.evicted += 1;
        }
        self.records.push_back(record);
    }

    /// The held records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &QuarantinedEvent> + '_ {
        self.records.iter()
    }

    /// Removes and returns every held record, oldest first.
    pub fn take(&mut self) -> Vec<QuarantinedEvent> {
        self.records.drain(..).collect()
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many records were evicted because the store was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}
