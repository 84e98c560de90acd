//! Leader election: randomized timeouts, pre-vote (thesis §9.6), votes (§5.2), the
//! leader lease and check-quorum (thesis §4.2.3, §6.2), and voter priority.
//!
//! Priority rule, in two parts. (1) A lower-priority voter delays its campaign: after its
//! randomized timeout it waits one more step per distinct priority level above its own
//! (a step is the timeout spread plus half the minimum timeout), so a live
//! higher-priority voter times out, asks and wins first. (2) A voter whose log is exactly
//! as up to date as a candidate's (same last term and index), and whose own priority is
//! higher and non-zero, refuses that candidate's (pre-)vote and campaigns itself at once.
//! So among equally up-to-date candidates the highest priority wins, while a more
//! up-to-date log always beats priority (safety first); if the top voters are down, the
//! next level campaigns one step later. A priority-0 voter never campaigns. Transfers
//! (TimeoutNow) bypass both: the leader already chose. With equal priorities (the
//! default) there is no delay at all.

use std::collections::BTreeSet;

use super::errors::DropReason;
use super::events::{Event, LeadershipChange, StepDownReason};
use super::log::{EntryPayload, Term};
use super::messages::{Message, VoteRequest, VoteResponse};
use super::progress::Progress;
use super::replica::{LeaderState, Replica, Role};
use super::timers::Timer;
use crate::{Instant, NodeId};

impl Replica {
    /// Whether this node believes a leader is alive: then it refuses to help anyone
    /// start a new term (only with check-quorum, which guarantees the leader steps down
    /// when it loses its majority).
    pub(crate) fn lease_active(&self, now: Instant) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        match self.role {
            Role::Leader(_) => true,
            _ => {
                self.leader.is_some()
                    && self
                        .last_leader_contact
                        .is_some_and(|t| now < t + self.config.election_timeout.min())
            }
        }
    }

    /// Whether this node may start an election: a voter of priority above 0, or a node
    /// that an uncommitted configuration removed (it may still be needed to commit that
    /// very change: thesis §4.2.2 — it then leads without counting itself).
    pub(crate) fn may_campaign(&self) -> bool {
        if self.my_priority().is_some() {
            return self.may_lead();
        }
        self.voters_index > self.commit_index
            && self
                .voters_at(self.voters_index.saturating_sub(1))
                .priority(self.config.id)
                .is_some_and(|p| p.may_lead())
    }

    /// The priority rule (module docs): equally up to date, and we rank higher.
    fn prefers_self_over(&self, candidate: NodeId, req: &VoteRequest) -> bool {
        self.may_lead()
            && self.my_priority() > self.voters.priority(candidate)
            && (req.last_log_term, req.last_log_index)
                == (self.log.last_term(), self.log.last_index())
    }

    fn vote_request(&self, term: Term, transfer: bool) -> VoteRequest {
        VoteRequest {
            term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            transfer,
        }
    }

    fn other_voters(&self) -> Vec<NodeId> {
        let me = self.config.id;
        self.voters.ids().filter(|&id| id != me).collect()
    }

    pub(crate) fn on_election_timeout(&mut self, now: Instant) {
        if matches!(self.role, Role::Leader(_)) {
            return;
        }
        self.leader = None;
        self.leaderless_since.get_or_insert(now);
        if !self.may_campaign() {
            self.role = Role::Follower;
            self.reset_election_timer(now);
            return;
        }
        if self.config.pre_vote {
            self.start_pre_vote(now);
        } else {
            self.start_election(now, false);
        }
    }

    fn start_pre_vote(&mut self, now: Instant) {
        let me = self.config.id;
        self.role = Role::PreCandidate {
            granted: BTreeSet::from([me]),
        };
        self.reset_election_timer(now);
        let req = self.vote_request(self.term.next(), false);
        for peer in self.other_voters() {
            self.send(peer, Message::PreVote(req.clone()));
        }
        if self.votes_among_voters(&BTreeSet::from([me])) >= self.voters.quorum() {
            // A single voter needs nobody's pre-vote.
            self.start_election(now, false);
        }
    }

    /// Raises the term and asks for votes; the requests leave only once the self-vote is
    /// durable, so a crash cannot make this node vote twice in the term.
    pub(crate) fn start_election(&mut self, now: Instant, transfer: bool) {
        let me = self.config.id;
        if self.term == Term(u64::MAX) {
            // The term cannot rise any more: campaigning would vote twice in it.
            return;
        }
        self.term = self.term.next();
        self.voted_for = Some(me);
        self.mark_hard_state_changed();
        self.leader = None;
        self.leaderless_since.get_or_insert(now);
        self.role = Role::Candidate {
            granted: BTreeSet::new(),
            self_vote: self.next_persist_id(),
        };
        self.timers.cancel_leader_timers();
        self.reset_election_timer(now);
        let req = self.vote_request(self.term, transfer);
        for peer in self.other_voters() {
            self.send_after_persist(peer, Message::Vote(req.clone()));
        }
    }

    /// Counts the candidate's own vote once `handle_persisted` covers it (for a single
    /// voter, that is the moment it wins).
    pub(crate) fn count_durable_self_vote(&mut self, now: Instant) {
        let me = self.config.id;
        let durable = self.last_persisted_id();
        let Role::Candidate { granted, self_vote } = &mut self.role else {
            return;
        };
        if *self_vote > durable || granted.contains(&me) {
            return;
        }
        granted.insert(me);
        let granted = granted.clone();
        if self.votes_among_voters(&granted) >= self.voters.quorum() {
            self.become_leader(now);
        }
    }

    pub(crate) fn on_pre_vote(&mut self, now: Instant, from: NodeId, req: VoteRequest) {
        let lease = self.lease_active(now);
        let up_to_date = self
            .log
            .candidate_is_up_to_date(req.last_log_term, req.last_log_index);
        let yields = self.prefers_self_over(from, &req);
        let fresh = req.term > self.term;
        let granted = fresh && up_to_date && !lease && !yields;
        let term = if granted { req.term } else { self.term };
        // A pre-vote changes nothing here, so the answer needs no fsync.
        self.send(
            from,
            Message::PreVoteResponse(VoteResponse { term, granted }),
        );
        if granted && matches!(self.role, Role::Follower) {
            // Give the candidate we back a head start instead of racing it with our own
            // campaign (which would split the vote); its vote request follows shortly.
            self.reset_election_timer(now);
        }
        if fresh && yields && !lease && matches!(self.role, Role::Follower) {
            self.leader = None;
            self.leaderless_since.get_or_insert(now);
            self.start_pre_vote(now);
        }
    }

    pub(crate) fn on_pre_vote_response(&mut self, now: Instant, from: NodeId, resp: VoteResponse) {
        if !resp.granted && resp.term > self.term {
            self.become_follower(now, resp.term, None);
            return;
        }
        let wanted = self.term.next();
        let Role::PreCandidate { granted } = &mut self.role else {
            self.count_drop(DropReason::UnexpectedRole);
            return;
        };
        if resp.granted && resp.term == wanted {
            granted.insert(from);
            let granted = granted.clone();
            if self.votes_among_voters(&granted) >= self.voters.quorum() {
                self.start_election(now, false);
            }
        }
    }

    pub(crate) fn on_vote(&mut self, now: Instant, from: NodeId, req: VoteRequest) {
        if req.term < self.term {
            self.count_drop(DropReason::StaleTerm);
            let term = self.term;
            self.send(
                from,
                Message::VoteResponse(VoteResponse {
                    term,
                    granted: false,
                }),
            );
            return;
        }
        if req.term > self.term {
            if !req.transfer && self.lease_active(now) {
                // Leader lease (thesis §4.2.3): neither adopt the term nor vote.
                let term = self.term;
                self.send(
                    from,
                    Message::VoteResponse(VoteResponse {
                        term,
                        granted: false,
                    }),
                );
                return;
            }
            self.become_follower(now, req.term, None);
        }
        let free = self.voted_for.is_none_or(|v| v == from);
        let up_to_date = self
            .log
            .candidate_is_up_to_date(req.last_log_term, req.last_log_index);
        let yields = !req.transfer && self.prefers_self_over(from, &req);
        let granted = free && up_to_date && !yields;
        if granted && self.voted_for.is_none() {
            self.voted_for = Some(from);
            self.mark_hard_state_changed();
        }
        if granted {
            self.reset_election_timer(now);
        }
        let term = self.term;
        self.send_after_persist(from, Message::VoteResponse(VoteResponse { term, granted }));
    }

    pub(crate) fn on_vote_response(&mut self, now: Instant, from: NodeId, resp: VoteResponse) {
        let Role::Candidate { granted, .. } = &mut self.role else {
            self.count_drop(DropReason::UnexpectedRole);
            return;
        };
        if resp.granted {
            granted.insert(from);
            let granted = granted.clone();
            if self.votes_among_voters(&granted) >= self.voters.quorum() {
                self.become_leader(now);
            }
        }
    }

    pub(crate) fn on_timeout_now(&mut self, now: Instant, from: NodeId) {
        if self.may_lead() && !matches!(self.role, Role::Leader(_)) && self.leader == Some(from) {
            self.start_election(now, true);
        } else {
            self.count_drop(DropReason::UnexpectedRole);
        }
    }

    /// Adopts `term` (clearing the vote when it is new) and follows `leader` if given.
    pub(crate) fn become_follower(&mut self, now: Instant, term: Term, leader: Option<NodeId>) {
        if let Role::Leader(_) = self.role {
            self.push_event(Event::SteppedDown {
                term: self.term,
                reason: StepDownReason::HigherTerm,
            });
            self.timers.cancel_leader_timers();
            self.leaderless_since = Some(now);
        }
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.mark_hard_state_changed();
            self.leader = None;
        }
        self.role = Role::Follower;
        if let Some(id) = leader {
            self.note_leader(now, id);
        } else if self.leader.is_none() {
            self.leaderless_since.get_or_insert(now);
        }
        self.reset_election_timer(now);
    }

    /// Records that `id` leads the current term. Returns `false` (and raises a
    /// split-brain event) when another node already claimed this term.
    pub(crate) fn note_leader(&mut self, now: Instant, id: NodeId) -> bool {
        match self.leader {
            Some(known) if known == id => {}
            Some(known) => {
                self.count_drop(DropReason::SecondLeader);
                self.push_event(Event::SplitBrain {
                    term: self.term,
                    first: known,
                    second: id,
                });
                return false;
            }
            None => {
                self.leader = Some(id);
                let since = self.leaderless_since.take().unwrap_or(now);
                self.push_event(Event::LeaderChanged(LeadershipChange {
                    term: self.term,
                    leader: id,
                    election_duration: now - since,
                }));
            }
        }
        self.last_leader_contact = Some(now);
        true
    }

    pub(crate) fn become_leader(&mut self, now: Instant) {
        let me = self.config.id;
        let next = self.log.last_index() + 1;
        let progress = self
            .other_voters()
            .into_iter()
            .map(|id| (id, Progress::new(next, now)))
            .collect();
        self.role = Role::Leader(LeaderState {
            progress,
            transfer: None,
        });
        self.timers.cancel_election();
        self.note_leader(now, me);
        let term = self.term;
        self.timers.set(
            Timer::Heartbeat { term },
            now + self.config.heartbeat_interval,
        );
        if self.config.check_quorum {
            self.timers.set(
                Timer::CheckQuorum { term },
                now + self.config.election_timeout.max(),
            );
            // Later checks run every heartbeat, so a cut-off leader steps down within one
            // window (plus a heartbeat) of its last contact, not two.
        }
        // Commits everything from earlier terms once it commits (§5.4.2, §8).
        self.append_as_leader(now, EntryPayload::Noop);
    }

    /// Check-quorum: step down unless a majority (counting this node if it votes) was
    /// heard from within the last election timeout (thesis §6.2). The window is the
    /// maximum timeout: with the minimum, a round trip longer than it (timeouts close to
    /// the network delay) would depose every new leader before its first acknowledgements
    /// arrive. Leadership safety does not depend on the window; the lease followers
    /// enforce (minimum timeout) is what keeps a partitioned node from disrupting.
    pub(crate) fn check_quorum(&mut self, now: Instant) {
        let me = self.config.id;
        let window = self.config.election_timeout.max();
        let Role::Leader(l) = &self.role else {
            return;
        };
        let heard = self
            .voters
            .ids()
            .filter(|&id| {
                id == me
                    || l.progress
                        .get(&id)
                        .is_some_and(|p| now - p.last_heard < window)
            })
            .count();
        if heard >= self.voters.quorum() {
            let term = self.term;
            let every = self.config.heartbeat_interval.min(window);
            self.timers.set(Timer::CheckQuorum { term }, now + every);
        } else {
            self.step_down(now, StepDownReason::LostQuorum);
        }
    }

    /// Leaves leadership without changing term.
    pub(crate) fn step_down(&mut self, now: Instant, reason: StepDownReason) {
        self.push_event(Event::SteppedDown {
            term: self.term,
            reason,
        });
        self.timers.cancel_leader_timers();
        self.role = Role::Follower;
        self.leaderless_since = Some(now);
        // Keep `leader` as this node: the term stays claimed by us, so an append from
        // someone else in this term is still recognised as a second leader.
        self.last_leader_contact = None;
        self.reset_election_timer(now);
    }
}
