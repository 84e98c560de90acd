//! Voter-set changes, one server at a time (thesis §4.1): a configuration takes effect
//! on each replica as soon as it is appended, and only one may be uncommitted.

use std::collections::BTreeSet;

use super::config::{Priority, VoterSet};
use super::errors::VoterChangeError;
use super::events::Event;
use super::log::{EntryPayload, LogPosition};
use super::progress::Progress;
use super::replica::{Replica, Role};
use crate::{Instant, NodeId};

impl Replica {
    /// Proposes a voter set differing from the current one by exactly one server. It takes
    /// effect on each replica as soon as appended; another change is refused until it
    /// commits (thesis §4.1), and until the leader has committed an entry of its term.
    pub fn propose_voter_change(
        &mut self,
        now: Instant,
        voters: VoterSet,
    ) -> Result<LogPosition, VoterChangeError> {
        let Role::Leader(l) = &self.role else {
            return Err(VoterChangeError::NotLeader {
                leader_hint: self.leader_hint(),
            });
        };
        if l.transfer.is_some() {
            return Err(VoterChangeError::TransferInProgress);
        }
        if self.voters_index > self.commit_index {
            return Err(VoterChangeError::ChangePending {
                pending_index: self.voters_index,
            });
        }
        if self.log.term_at(self.commit_index) != Some(self.term) {
            return Err(VoterChangeError::LeaderNotSettled);
        }
        let changed = self.voters.changed_servers(&voters);
        if changed != 1 {
            return Err(VoterChangeError::NotSingleServer { changed });
        }
        if !voters
            .ids()
            .any(|id| voters.priority(id).is_some_and(Priority::may_lead))
        {
            return Err(VoterChangeError::NoEligibleLeader);
        }
        let position = self.append_as_leader(now, EntryPayload::VoterChange(voters));
        self.flush();
        Ok(position)
    }

    /// The voter set in effect at `index`: the last configuration entry at or before it.
    pub(crate) fn voters_at(&self, index: u64) -> VoterSet {
        let in_log = self
            .log
            .iter_from(self.log.snapshot_index() + 1)
            .take_while(|e| e.index <= index)
            .filter_map(|e| match &e.payload {
                EntryPayload::VoterChange(v) => Some(v.clone()),
                _ => None,
            })
            .last();
        in_log
            .or_else(|| self.snapshot.as_ref().map(|s| s.voters.clone()))
            .unwrap_or_else(|| self.bootstrap_voters.clone())
    }

    /// Recomputes the voter set in effect from the log (after an append, truncation or
    /// snapshot install); a configuration takes effect when appended (thesis §4.1).
    pub(crate) fn refresh_voters(&mut self) {
        let latest = self
            .log
            .iter_from(self.log.snapshot_index() + 1)
            .rev()
            .find_map(|e| match &e.payload {
                EntryPayload::VoterChange(v) => Some((e.index, v.clone())),
                _ => None,
            });
        let (index, voters) = latest.unwrap_or_else(|| {
            (
                0,
                self.snapshot
                    .as_ref()
                    .map_or_else(|| self.bootstrap_voters.clone(), |s| s.voters.clone()),
            )
        });
        let configured: Vec<NodeId> = self
            .log
            .iter_from(self.log.snapshot_index() + 1)
            .filter_map(|e| match &e.payload {
                EntryPayload::VoterChange(v) => Some(v.ids().collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .chain(self.snapshot.iter().flat_map(|s| s.voters.ids()))
            .collect();
        self.known_nodes.extend(configured);
        if index == self.voters_index && voters == self.voters {
            return;
        }
        self.voters_index = index;
        self.voters = voters.clone();
        let me = self.config.id;
        let next = self.log.last_index() + 1;
        let mut now_for_new = None;
        if let Role::Leader(l) = &mut self.role {
            l.progress.retain(|id, _| voters.contains(*id));
            for id in voters.ids().filter(|&id| id != me) {
                if !l.progress.contains_key(&id) {
                    // Borrow the most recent contact time so a new voter is not counted
                    // as silent before it had a chance to answer.
                    let heard = *now_for_new.get_or_insert_with(|| {
                        l.progress
                            .values()
                            .map(|p| p.last_heard)
                            .max()
                            .unwrap_or_default()
                    });
                    l.progress.insert(id, Progress::new(next, heard));
                }
            }
        }
        self.events
            .push_back(Event::VoterSetChanged { index, voters });
    }

    /// How many of `granted` are voters of the configuration in effect.
    pub(crate) fn votes_among_voters(&self, granted: &BTreeSet<NodeId>) -> usize {
        granted
            .iter()
            .filter(|&&id| self.voters.contains(id))
            .count()
    }
}
