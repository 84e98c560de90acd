//! Log replication (§5.3), commitment (§5.4.2) and snapshot catch-up (§7).

use super::errors::DropReason;
use super::events::{Event, StepDownReason};
use super::log::{EntryPayload, Term};
use super::messages::{AppendEntries, AppendOutcome, AppendResponse, Message};
use super::replica::{Replica, Role};
use super::snapshot::Snapshot;
use crate::{Instant, NodeId};

/// Indexes at or above this are refused: no real log gets there, and index arithmetic
/// (`index + 1`) must never overflow.
const MAX_PLAUSIBLE_INDEX: u64 = u64::MAX / 2;

impl Replica {
    /// Sends `to` what it is missing from its next index: entries, or the snapshot when
    /// they were compacted away. Advances the next index optimistically.
    pub(crate) fn send_append(&mut self, to: NodeId) {
        let term = self.term;
        let last = self.log.last_index();
        let snapshot_index = self.log.snapshot_index();
        let max = self.config.max_entries_per_append.max(1);
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some(pr) = l.progress.get_mut(&to) else {
            return;
        };
        pr.next_index = pr.next_index.clamp(1, last + 1);
        let prev = pr.next_index - 1;
        let msg = if prev < snapshot_index {
            let Some(snapshot) = self.snapshot.clone() else {
                return;
            };
            pr.next_index = snapshot.last_index + 1;
            Message::InstallSnapshot { term, snapshot }
        } else {
            let Some(prev_term) = self.log.term_at(prev) else {
                return;
            };
            let entries = self.log.entries_from(pr.next_index, max);
            pr.next_index = prev + 1 + entries.len() as u64;
            Message::Append(AppendEntries {
                term,
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: self.commit_index,
            })
        };
        self.send(to, msg);
    }

    /// Heartbeat: every follower gets an append (which also retransmits what was lost).
    pub(crate) fn broadcast_append(&mut self) {
        for peer in self.peers() {
            self.send_append(peer);
        }
    }

    /// After new entries: every follower whose pipeline does not already cover them.
    pub(crate) fn send_pending_appends(&mut self) {
        let last = self.log.last_index();
        let behind: Vec<NodeId> = match &self.role {
            Role::Leader(l) => l
                .progress
                .iter()
                .filter(|(_, p)| p.next_index <= last)
                .map(|(&id, _)| id)
                .collect(),
            _ => Vec::new(),
        };
        for peer in behind {
            self.send_append(peer);
        }
    }

    fn peers(&self) -> Vec<NodeId> {
        match &self.role {
            Role::Leader(l) => l.progress.keys().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// A current-term append reached a follower (or a candidate, which yields to it).
    pub(crate) fn on_append(&mut self, now: Instant, from: NodeId, req: AppendEntries) {
        if !self.follow_sender(now, from) {
            return;
        }
        let term = self.term;
        if req.prev_log_index > self.log.last_index() {
            // Cannot match (a lost earlier append); also keeps index arithmetic below
            // far from overflow whatever the sender claims.
            let outcome = AppendOutcome::Rejected {
                rejected_prev_index: req.prev_log_index,
                hint_index: self.log.last_index(),
                hint_term: self.log.last_term(),
            };
            self.send_after_persist(
                from,
                Message::AppendResponse(AppendResponse { term, outcome }),
            );
            return;
        }
        let contiguous = req
            .entries
            .iter()
            .zip(req.prev_log_index.saturating_add(1)..)
            .all(|(e, i)| e.index == i && e.term <= req.term && e.term >= req.prev_log_term);
        // Terms never go backwards along a log; a log that did could not be restored.
        let terms_rise = req.entries.windows(2).all(|w| w[0].term <= w[1].term);
        if !contiguous || !terms_rise {
            self.count_drop(DropReason::OutOfRangeIndex);
            return;
        }
        // Entries through our commit index are settled (Leader Completeness): skip them
        // and check the match at the commit index instead.
        let (mut prev, mut prev_term, mut entries) =
            (req.prev_log_index, req.prev_log_term, req.entries);
        if prev < self.commit_index {
            let commit = self.commit_index;
            entries.retain(|e| e.index > commit);
            prev = commit;
            prev_term = match self.log.term_at(commit) {
                Some(t) => t,
                None => {
                    self.count_drop(DropReason::OutOfRangeIndex);
                    return;
                }
            };
            if entries.first().is_some_and(|e| e.term < prev_term) {
                self.count_drop(DropReason::CommittedConflict);
                return;
            }
        }
        if self.log.term_at(prev) != Some(prev_term) {
            let hint_index = self.log.rejection_hint(prev, prev_term, self.commit_index);
            let outcome = AppendOutcome::Rejected {
                rejected_prev_index: req.prev_log_index,
                hint_index,
                hint_term: self.log.term_at(hint_index).unwrap_or_default(),
            };
            self.send_after_persist(
                from,
                Message::AppendResponse(AppendResponse { term, outcome }),
            );
            return;
        }
        let match_index = prev + entries.len() as u64;
        let mut config_touched = false;
        for entry in entries {
            match self.log.term_at(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    if entry.index <= self.commit_index {
                        self.count_drop(DropReason::CommittedConflict);
                        return;
                    }
                    self.truncate_log(entry.index);
                    config_touched = true;
                }
                None => {}
            }
            config_touched |= matches!(entry.payload, EntryPayload::VoterChange(_));
            self.append_entry(entry);
        }
        if config_touched {
            self.refresh_voters();
        }
        self.commit_index = self.commit_index.max(req.leader_commit.min(match_index));
        let outcome = AppendOutcome::Accepted { match_index };
        self.send_after_persist(
            from,
            Message::AppendResponse(AppendResponse { term, outcome }),
        );
        self.emit_committed();
    }

    /// Accepts `from` as the leader of the current term; `false` if that contradicts a
    /// leader already known for it (split brain, reported and dropped).
    fn follow_sender(&mut self, now: Instant, from: NodeId) -> bool {
        if let Role::Leader(_) = self.role {
            self.count_drop(DropReason::SecondLeader);
            let term = self.term;
            self.push_event(Event::SplitBrain {
                term,
                first: self.config.id,
                second: from,
            });
            return false;
        }
        if !self.note_leader(now, from) {
            return false;
        }
        self.role = Role::Follower;
        self.reset_election_timer(now);
        true
    }

    pub(crate) fn on_install_snapshot(&mut self, now: Instant, from: NodeId, snapshot: Snapshot) {
        if snapshot.last_index >= MAX_PLAUSIBLE_INDEX {
            self.count_drop(DropReason::OutOfRangeIndex);
            return;
        }
        if !self.follow_sender(now, from) {
            return;
        }
        let term = self.term;
        // A leader's snapshot cannot end in a term after its own; one that does could not
        // be restored from after a restart.
        if snapshot.last_term > term {
            self.count_drop(DropReason::OutOfRangeIndex);
            return;
        }
        if snapshot.last_index <= self.commit_index {
            let outcome = AppendOutcome::Accepted {
                match_index: self.commit_index,
            };
            self.send_after_persist(
                from,
                Message::AppendResponse(AppendResponse { term, outcome }),
            );
            return;
        }
        let (last_index, last_term, data) = (
            snapshot.last_index,
            snapshot.last_term,
            snapshot.data.clone(),
        );
        self.install_snapshot(snapshot);
        self.commit_index = last_index;
        self.applied_index = self.applied_index.max(last_index);
        self.refresh_voters();
        self.push_event(Event::SnapshotInstalled {
            last_index,
            last_term,
            data,
        });
        let outcome = AppendOutcome::Accepted {
            match_index: last_index,
        };
        self.send_after_persist(
            from,
            Message::AppendResponse(AppendResponse { term, outcome }),
        );
        self.emit_committed();
    }

    pub(crate) fn on_append_response(&mut self, now: Instant, from: NodeId, resp: AppendResponse) {
        let last = self.log.last_index();
        let Role::Leader(l) = &mut self.role else {
            self.count_drop(DropReason::UnexpectedRole);
            return;
        };
        let Some(pr) = l.progress.get_mut(&from) else {
            self.count_drop(DropReason::UnknownSender);
            return;
        };
        pr.last_heard = now;
        match resp.outcome {
            AppendOutcome::Accepted { match_index } => {
                if match_index > last {
                    self.count_drop(DropReason::OutOfRangeIndex);
                    return;
                }
                pr.on_accepted(match_index);
                let behind = pr.next_index <= last;
                self.maybe_commit(now);
                self.advance_transfer(from);
                if behind {
                    self.send_append(from);
                }
            }
            AppendOutcome::Rejected {
                rejected_prev_index,
                hint_index,
                hint_term,
            } => {
                // Our last entry that can match the follower's at `hint_index`: skip
                // back over ours of a higher term (never below the snapshot).
                let mut retry = hint_index.min(last);
                while retry > self.log.snapshot_index()
                    && self.log.term_at(retry).is_some_and(|t| t > hint_term)
                {
                    retry -= 1;
                }
                let Role::Leader(l) = &mut self.role else {
                    return;
                };
                let Some(pr) = l.progress.get_mut(&from) else {
                    return;
                };
                if pr.on_rejected(rejected_prev_index, retry) {
                    self.send_append(from);
                }
            }
        }
    }

    /// Sends TimeoutNow once the transfer target holds the leader's whole log.
    pub(crate) fn advance_transfer(&mut self, target: NodeId) {
        let term = self.term;
        let last = self.log.last_index();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some(transfer) = &mut l.transfer else {
            return;
        };
        if transfer.target != target || transfer.timeout_now_sent {
            return;
        }
        let caught_up = l
            .progress
            .get(&target)
            .is_some_and(|p| p.match_index >= last);
        if caught_up {
            transfer.timeout_now_sent = true;
            self.send(target, Message::TimeoutNow { term });
        } else {
            self.send_append(target);
        }
    }

    /// Commits the highest index a majority holds durably, if it is of the current term
    /// (§5.4.2). The leader's own copy counts only once its fsync was reported.
    pub(crate) fn maybe_commit(&mut self, now: Instant) {
        let me = self.config.id;
        let Role::Leader(l) = &self.role else {
            return;
        };
        let mut matched: Vec<u64> = self
            .voters
            .ids()
            .map(|id| {
                if id == me {
                    self.persisted_index
                } else {
                    l.progress.get(&id).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = matched.get(self.voters.quorum().saturating_sub(1)) else {
            return;
        };
        if candidate <= self.commit_index || self.log.term_at(candidate) != Some(self.term) {
            return;
        }
        self.commit_index = candidate;
        self.emit_committed();
        if self.voters_index <= self.commit_index && !self.voters.contains(me) {
            // Removed by a committed change: stop leading (thesis §4.2.2).
            self.step_down(now, StepDownReason::Removed);
        }
    }

    /// The term a leader would stamp on an entry now (for tests and shells).
    pub fn current_fencing_token(&self) -> Option<Term> {
        matches!(self.role, Role::Leader(_)).then_some(self.term)
    }
}
