//! The durability boundary, replica side: writes are accumulated during one input and
//! handed out as one [`PersistRequest`]; messages whose safety depends on them wait in
//! `awaiting_persist` until `handle_persisted` covers them; committed entries are handed
//! out only once durable here.

use super::errors::PersistError;
use super::events::Event;
use super::log::Entry;
use super::messages::Message;
use super::replica::{Replica, Role};
use super::snapshot::Snapshot;
use super::storage::{HardState, PersistId, PersistRequest};
use crate::machine::Transmit;
use crate::{Instant, NodeId};

/// A write issued to the shell and not yet reported durable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InFlightPersist {
    pub(crate) id: PersistId,
    /// The log matches what this request leaves on disk up to this index (lowered when a
    /// later truncation rewrites the suffix).
    pub(crate) durable_through: u64,
}

/// Writes accumulated during one input, emitted as one [`PersistRequest`] at its end.
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingWrite {
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) truncate_from: Option<u64>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) hard_state_changed: bool,
}

impl PendingWrite {
    pub(crate) fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && !self.hard_state_changed
    }
}

impl Replica {
    /// The shell made every persist request up to `id` durable.
    pub fn handle_persisted(&mut self, now: Instant, id: PersistId) -> Result<(), PersistError> {
        if id > self.last_issued {
            return Err(PersistError::NeverIssued {
                acknowledged: id,
                last_issued: self.last_issued,
            });
        }
        if id <= self.last_persisted {
            return Ok(());
        }
        self.last_persisted = id;
        while let Some(done) = self.in_flight.front().copied() {
            if done.id > id {
                break;
            }
            self.in_flight.pop_front();
            self.persisted_index = self.persisted_index.max(done.durable_through);
        }
        while self
            .awaiting_persist
            .front()
            .is_some_and(|(waits_for, _)| *waits_for <= id)
        {
            if let Some((_, t)) = self.awaiting_persist.pop_front() {
                self.transmits.push_back(t);
            }
        }
        if matches!(self.role, Role::Leader(_)) {
            self.maybe_commit(now);
        }
        self.count_durable_self_vote(now);
        self.emit_committed();
        self.flush();
        Ok(())
    }

    pub(crate) fn mark_hard_state_changed(&mut self) {
        self.pending_write.hard_state_changed = true;
    }

    /// Appends `entry` to the log and to the pending write.
    pub(crate) fn append_entry(&mut self, entry: Entry) {
        self.pending_write.entries.push(entry.clone());
        self.log.push(entry);
    }

    /// Drops the log suffix from `index` on, in memory and (pending) on disk.
    pub(crate) fn truncate_log(&mut self, index: u64) {
        self.log.truncate_from(index);
        let cap = index.saturating_sub(1);
        self.persisted_index = self.persisted_index.min(cap);
        for w in &mut self.in_flight {
            w.durable_through = w.durable_through.min(cap);
        }
        self.pending_write.entries.retain(|e| e.index < index);
        let from = self
            .pending_write
            .truncate_from
            .map_or(index, |t| t.min(index));
        self.pending_write.truncate_from = Some(from);
    }

    /// Replaces the whole log with an installed snapshot.
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) {
        let keeps_suffix = self.log.term_at(snapshot.last_index) == Some(snapshot.last_term);
        if !keeps_suffix {
            self.truncate_log(snapshot.last_index + 1);
            self.pending_write.truncate_from = None;
        }
        self.log.compact(snapshot.last_index, snapshot.last_term);
        self.pending_write
            .entries
            .retain(|e| e.index > snapshot.last_index);
        self.snapshot = Some(snapshot.clone());
        self.pending_write.snapshot = Some(snapshot);
    }

    /// The last write the shell reported durable.
    pub(crate) fn last_persisted_id(&self) -> PersistId {
        self.last_persisted
    }

    /// The id the write being accumulated will get when flushed.
    pub(crate) fn next_persist_id(&self) -> PersistId {
        PersistId(self.last_issued.0 + 1)
    }

    /// Queues a message that may leave now.
    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        self.transmits.push_back(Transmit { to, msg });
    }

    /// Queues a message that may leave only once every write issued so far (and the one
    /// being accumulated) is durable.
    pub(crate) fn send_after_persist(&mut self, to: NodeId, msg: Message) {
        let waits_for = if !self.pending_write.is_empty() {
            PersistId(self.last_issued.0 + 1)
        } else {
            self.last_issued
        };
        if waits_for <= self.last_persisted {
            self.send(to, msg);
        } else {
            self.awaiting_persist
                .push_back((waits_for, Transmit { to, msg }));
        }
    }

    /// Emits the accumulated writes as one persist request.
    pub(crate) fn flush(&mut self) {
        if self.pending_write.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_write);
        self.last_issued = PersistId(self.last_issued.0 + 1);
        self.in_flight.push_back(InFlightPersist {
            id: self.last_issued,
            durable_through: self.log.last_index(),
        });
        let hard_state = pending.hard_state_changed.then_some(HardState {
            term: self.term,
            voted_for: self.voted_for,
        });
        self.events.push_back(Event::Persist(PersistRequest {
            id: self.last_issued,
            snapshot: pending.snapshot,
            truncate_from: pending.truncate_from,
            entries: pending.entries,
            hard_state,
        }));
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Hands committed entries that are durable here to the shell, in order.
    pub(crate) fn emit_committed(&mut self) {
        let upto = self.commit_index.min(self.persisted_index);
        while self.applied_index < upto {
            let Some(entry) = self.log.entry(self.applied_index + 1).cloned() else {
                break;
            };
            self.applied_index = entry.index;
            self.events.push_back(Event::Committed(entry));
        }
    }
}
