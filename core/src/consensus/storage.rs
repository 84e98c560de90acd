//! The durability boundary: what the replica asks the shell to make durable, and what the
//! shell hands back on restart.
//!
//! The replica never assumes a write is durable until the shell calls
//! `Replica::handle_persisted` with the request's [`PersistId`]. Until then, anything whose
//! safety depends on that write (a vote, an append acknowledgement, the leader counting
//! its own copy of an entry) is held back.

use super::log::{Entry, Term};
use super::snapshot::Snapshot;
use crate::NodeId;

/// Raft's persistent per-server state besides the log (Figure 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HardState {
    /// Latest term this server has seen.
    pub term: Term,
    /// Candidate voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}

/// Names one persist request. Requests are issued in increasing order and the shell must
/// make them durable in that order, so acknowledging one acknowledges all before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistId(pub u64);

/// A batch of writes the shell must make durable atomically, then report with
/// `handle_persisted(now, id)`. Applied in field order: snapshot, truncation, entries,
/// hard state (see [`PersistedState::apply`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersistRequest {
    /// Acknowledge with this id.
    pub id: PersistId,
    /// A snapshot that replaces the log prefix up to its `last_index`.
    pub snapshot: Option<Snapshot>,
    /// Drop every stored entry at or after this index (a conflicting suffix).
    pub truncate_from: Option<u64>,
    /// Entries to append after the stored log.
    pub entries: Vec<Entry>,
    /// New hard state, when the term or the vote changed.
    pub hard_state: Option<HardState>,
}

impl PersistRequest {
    /// Whether there is nothing to write (never emitted by the replica).
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
    }
}

/// Everything a replica persisted: what a restart rebuilds it from, and the reference
/// implementation of how a shell's storage applies [`PersistRequest`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PersistedState {
    /// Term and vote.
    pub hard_state: HardState,
    /// Latest snapshot, if the log was ever compacted or a snapshot installed.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl PersistedState {
    /// Applies one durable request, in the documented order.
    pub fn apply(&mut self, request: &PersistRequest) {
        if let Some(snapshot) = &request.snapshot {
            let upto = snapshot.last_index;
            let keeps_suffix = self
                .entries
                .iter()
                .any(|e| e.index == upto && e.term == snapshot.last_term);
            if keeps_suffix {
                self.entries.retain(|e| e.index > upto);
            } else {
                self.entries.clear();
            }
            self.snapshot = Some(snapshot.clone());
        }
        if let Some(from) = request.truncate_from {
            self.entries.retain(|e| e.index < from);
        }
        self.entries.extend(request.entries.iter().cloned());
        if let Some(hard_state) = request.hard_state {
            self.hard_state = hard_state;
        }
    }

    /// Index of the last durable entry (or of the snapshot).
    pub fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map(|e| e.index)
            .or(self.snapshot.as_ref().map(|s| s.last_index))
            .unwrap_or(0)
    }

    /// The term of the durable entry at `index`, counting the snapshot boundary.
    pub fn term_at(&self, index: u64) -> Option<Term> {
        if let Some(s) = &self.snapshot
            && s.last_index == index
        {
            return Some(s.last_term);
        }
        // Entries are contiguous, so the position is arithmetic.
        let first = self.entries.first()?.index;
        let offset = usize::try_from(index.checked_sub(first)?).ok()?;
        self.entries.get(offset).map(|e| e.term)
    }

    /// The durable entry at `index`, if held (not compacted).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let first = self.entries.first()?.index;
        let offset = usize::try_from(index.checked_sub(first)?).ok()?;
        self.entries.get(offset)
    }

    /// Whether the entry at `index` is durable here or covered by the durable snapshot.
    pub fn covers(&self, index: u64, term: Term) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| s.last_index >= index)
            || self.term_at(index) == Some(term)
    }
}
