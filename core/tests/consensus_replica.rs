//! Single-replica properties of `core::consensus`, driven by hand (no network): the
//! durability boundary, pre-vote, the lease, commitment rules and input validation.
//! Section numbers refer to Ongaro & Ousterhout 2014 and Ongaro's thesis.

use std::time::Duration;

use omnirelay_core::consensus::{
    AppendEntries, AppendOutcome, AppendResponse, CompactError, DropReason, Entry, EntryPayload,
    Event, HardState, Message, PersistError, PersistId, PersistRequest, PersistedState, Priority,
    ProposeError, Replica, ReplicaConfig, RestoreError, RoleKind, Term, VoteRequest, VoteResponse,
    VoterSet,
};
use omnirelay_core::{Instant, Machine, NodeId, Transmit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn voters() -> VoterSet {
    VoterSet::uniform([N1, N2, N3])
}

fn replica(id: NodeId, seed: u64, disk: PersistedState) -> Replica {
    Replica::new(
        ReplicaConfig::new(id),
        voters(),
        disk,
        ChaCha8Rng::seed_from_u64(seed),
        Instant::ZERO,
    )
    .unwrap_or_else(|e| panic!("restore failed: {e}"))
}

/// Drains outputs, returning transmits and events.
fn drain(r: &mut Replica) -> (Vec<Transmit<Message>>, Vec<Event>) {
    let mut events = Vec::new();
    while let Some(e) = r.poll_event() {
        events.push(e);
    }
    let mut sent = Vec::new();
    while let Some(t) = r.poll_transmit() {
        sent.push(t);
    }
    (sent, events)
}

fn persists(events: &[Event]) -> Vec<PersistRequest> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Persist(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn last_persist_id(events: &[Event]) -> Option<PersistId> {
    persists(events).last().map(|p| p.id)
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn granted(term: Term) -> VoteResponse {
    VoteResponse {
        term,
        granted: true,
    }
}

/// Fires the election timer, then feeds a granted pre-vote and a granted vote from N2,
/// reporting every write durable. Returns the time reached.
fn elect(r: &mut Replica) -> Instant {
    let t = r.poll_timeout().unwrap_or(ms(300));
    r.handle_timeout(t);
    drain(r);
    let term = r.term().next();
    r.handle_message(t, N2, Message::PreVoteResponse(granted(term)));
    let (_, events) = drain(r);
    if let Some(id) = last_persist_id(&events) {
        r.handle_persisted(t, id).unwrap_or_default();
    }
    drain(r);
    r.handle_message(t, N2, Message::VoteResponse(granted(term)));
    let (_, events) = drain(r);
    assert_eq!(r.role(), RoleKind::Leader);
    if let Some(id) = last_persist_id(&events) {
        r.handle_persisted(t, id).unwrap_or_default();
    }
    drain(r);
    t
}

fn append(term: u64, prev: (u64, u64), entries: &[(u64, u64)], commit: u64) -> Message {
    Message::Append(AppendEntries {
        term: Term(term),
        prev_log_index: prev.0,
        prev_log_term: Term(prev.1),
        entries: entries
            .iter()
            .map(|&(index, term)| Entry {
                term: Term(term),
                index,
                payload: EntryPayload::Command(vec![index as u8]),
            })
            .collect(),
        leader_commit: commit,
    })
}

fn accepted(term: u64, index: u64) -> Message {
    Message::AppendResponse(AppendResponse {
        term: Term(term),
        outcome: AppendOutcome::Accepted { match_index: index },
    })
}

#[test]
fn election_timeouts_are_drawn_within_the_configured_range_and_replay_by_seed() {
    let mut deadlines = Vec::new();
    for seed in 0..200 {
        let a = replica(N1, seed, PersistedState::default());
        let b = replica(N1, seed, PersistedState::default());
        let d = a.poll_timeout().unwrap_or(Instant::ZERO);
        assert_eq!(Some(d), b.poll_timeout(), "same seed, same timeout");
        assert!((ms(150)..=ms(300)).contains(&d), "{d} outside 150-300 ms");
        deadlines.push(d);
    }
    deadlines.sort();
    deadlines.dedup();
    assert!(deadlines.len() > 150, "timeouts are not randomized");
}

#[test]
fn pre_vote_asks_for_the_next_term_without_raising_its_own() {
    // Thesis §9.6: a pre-candidate changes no persistent state.
    let mut r = replica(N1, 1, PersistedState::default());
    let t = r.poll_timeout().unwrap_or(ms(300));
    r.handle_timeout(t);
    let (sent, events) = drain(&mut r);
    assert_eq!(r.role(), RoleKind::PreCandidate);
    assert_eq!(r.term(), Term(0));
    assert!(
        persists(&events).is_empty(),
        "a pre-vote must not write anything"
    );
    assert_eq!(sent.len(), 2);
    for t in sent {
        assert!(matches!(
            t.msg,
            Message::PreVote(VoteRequest { term: Term(1), .. })
        ));
    }
}

#[test]
fn a_candidate_asks_for_votes_only_after_its_own_vote_is_persisted() {
    let mut r = replica(N1, 2, PersistedState::default());
    let t = r.poll_timeout().unwrap_or(ms(300));
    r.handle_timeout(t);
    drain(&mut r);
    r.handle_message(t, N2, Message::PreVoteResponse(granted(Term(1))));
    let (sent, events) = drain(&mut r);
    assert_eq!(r.role(), RoleKind::Candidate);
    assert!(
        sent.is_empty(),
        "vote requests left before the self-vote was durable"
    );
    let writes = persists(&events);
    assert_eq!(
        writes.last().and_then(|p| p.hard_state),
        Some(HardState {
            term: Term(1),
            voted_for: Some(N1)
        })
    );
    let id = last_persist_id(&events).unwrap_or_default();
    assert_eq!(r.handle_persisted(t, id), Ok(()));
    let (sent, _) = drain(&mut r);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| matches!(t.msg, Message::Vote(_))));
}

#[test]
fn a_single_voter_leads_only_once_its_self_vote_is_durable() {
    // Otherwise a crash before the fsync restarts it in the previous term, and it wins
    // the same term a second time, handing out the same log positions twice.
    let mut r = Replica::new(
        ReplicaConfig::new(N1),
        VoterSet::uniform([N1]),
        PersistedState::default(),
        ChaCha8Rng::seed_from_u64(16),
        Instant::ZERO,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let t = r.poll_timeout().unwrap_or(ms(300));
    r.handle_timeout(t);
    let (_, events) = drain(&mut r);
    assert_eq!(r.role(), RoleKind::Candidate);
    assert!(matches!(
        r.propose(t, vec![1]),
        Err(ProposeError::NotLeader { .. })
    ));
    let id = last_persist_id(&events).unwrap_or_default();
    assert_eq!(r.handle_persisted(t, id), Ok(()));
    drain(&mut r);
    assert_eq!(r.role(), RoleKind::Leader);
    assert_eq!(r.term(), Term(1));
}

#[test]
fn a_vote_is_sent_only_after_it_is_persisted() {
    // Figure 2: votedFor is persistent state, on stable storage before responding.
    let mut r = replica(N2, 3, PersistedState::default());
    let req = VoteRequest {
        term: Term(1),
        last_log_index: 0,
        last_log_term: Term(0),
        transfer: false,
    };
    r.handle_message(ms(1), N1, Message::Vote(req));
    let (sent, events) = drain(&mut r);
    assert!(sent.is_empty(), "the vote left before it was durable");
    let writes = persists(&events);
    assert_eq!(
        writes.last().and_then(|p| p.hard_state),
        Some(HardState {
            term: Term(1),
            voted_for: Some(N1)
        })
    );
    let id = last_persist_id(&events).unwrap_or_default();
    r.handle_persisted(ms(2), id).unwrap_or_default();
    let (sent, _) = drain(&mut r);
    assert_eq!(
        sent,
        vec![Transmit {
            to: N1,
            msg: Message::VoteResponse(granted(Term(1)))
        }]
    );
}

#[test]
fn a_follower_acknowledges_appends_only_after_persisting_them() {
    let mut r = replica(N2, 4, PersistedState::default());
    r.handle_message(ms(1), N1, append(1, (0, 0), &[(1, 1), (2, 1)], 0));
    let (sent, events) = drain(&mut r);
    assert!(
        sent.is_empty(),
        "acknowledged before the entries were durable"
    );
    let writes = persists(&events);
    assert_eq!(writes.iter().map(|p| p.entries.len()).sum::<usize>(), 2);
    let id = last_persist_id(&events).unwrap_or_default();
    r.handle_persisted(ms(2), id).unwrap_or_default();
    let (sent, _) = drain(&mut r);
    assert_eq!(
        sent.into_iter().map(|t| t.msg).collect::<Vec<_>>(),
        vec![accepted(1, 2)]
    );
}

#[test]
fn the_leader_does_not_count_its_own_copy_before_its_fsync_is_reported() {
    let mut r = replica(N1, 5, PersistedState::default());
    let t = elect(&mut r);
    // The no-op of term 1 is index 1 (already durable here). Propose index 2.
    let pos = r
        .propose(t, b"x".to_vec())
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, events) = drain(&mut r);
    let id = last_persist_id(&events).unwrap_or_default();
    r.handle_message(t, N2, accepted(1, pos.index));
    drain(&mut r);
    // One follower copy + the leader's unsynced copy is not a durable majority of three.
    assert!(
        r.commit_index() < pos.index,
        "committed on an unsynced leader copy"
    );
    r.handle_persisted(t, id).unwrap_or_default();
    let (_, events) = drain(&mut r);
    assert_eq!(r.commit_index(), pos.index);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Committed(en) if en.index == pos.index))
    );
}

#[test]
fn a_leader_never_commits_an_earlier_term_entry_by_counting_replicas() {
    // §5.4.2 / Figure 8: index 2 of term 1 held by a majority is not committed by a
    // term-3 leader until an entry of term 3 is.
    let disk = PersistedState {
        hard_state: HardState {
            term: Term(2),
            voted_for: None,
        },
        snapshot: None,
        entries: vec![
            Entry {
                term: Term(1),
                index: 1,
                payload: EntryPayload::Noop,
            },
            Entry {
                term: Term(1),
                index: 2,
                payload: EntryPayload::Command(vec![7]),
            },
        ],
    };
    let mut r = replica(N1, 6, disk);
    let t = elect(&mut r);
    assert_eq!(r.term(), Term(3));
    r.handle_message(t, N2, accepted(3, 2));
    drain(&mut r);
    assert_eq!(
        r.commit_index(),
        0,
        "an earlier-term entry was committed by counting"
    );
    r.handle_message(t, N2, accepted(3, 3));
    drain(&mut r);
    assert_eq!(
        r.commit_index(),
        3,
        "the term-3 no-op commits everything before it"
    );
}

#[test]
fn a_follower_that_heard_a_live_leader_refuses_votes_and_keeps_its_term() {
    // Thesis §4.2.3: the lease keeps a disruptive server from deposing a live leader.
    let mut r = replica(N2, 7, PersistedState::default());
    r.handle_message(ms(1), N1, append(1, (0, 0), &[], 0));
    drain(&mut r);
    let req = VoteRequest {
        term: Term(5),
        last_log_index: 9,
        last_log_term: Term(4),
        transfer: false,
    };
    r.handle_message(ms(50), N3, Message::Vote(req.clone()));
    r.handle_message(ms(50), N3, Message::PreVote(req.clone()));
    let (sent, _) = drain(&mut r);
    assert_eq!(r.term(), Term(1));
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| matches!(
        t.msg,
        Message::VoteResponse(VoteResponse { granted: false, .. })
            | Message::PreVoteResponse(VoteResponse { granted: false, .. })
    )));
    // A transfer's vote request bypasses the lease.
    r.handle_message(
        ms(60),
        N3,
        Message::Vote(VoteRequest {
            transfer: true,
            ..req
        }),
    );
    assert_eq!(r.term(), Term(5));
}

#[test]
fn a_priority_zero_voter_never_campaigns() {
    let set = VoterSet::new([
        (N1, Priority::NEVER_LEADS),
        (N2, Priority(1)),
        (N3, Priority(1)),
    ]);
    let mut r = Replica::new(
        ReplicaConfig::new(N1),
        set,
        PersistedState::default(),
        ChaCha8Rng::seed_from_u64(8),
        Instant::ZERO,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut now = Instant::ZERO;
    for _ in 0..50 {
        now = r.poll_timeout().unwrap_or(now + Duration::from_millis(300));
        r.handle_timeout(now);
        let (sent, _) = drain(&mut r);
        assert!(sent.is_empty(), "a priority-0 voter asked for votes");
        assert_eq!(r.role(), RoleKind::Follower);
    }
}

#[test]
fn an_equally_up_to_date_voter_of_higher_priority_refuses_and_campaigns_itself() {
    let set = VoterSet::new([(N1, Priority(1)), (N2, Priority(5)), (N3, Priority(1))]);
    let mut r = Replica::new(
        ReplicaConfig::new(N2),
        set,
        PersistedState::default(),
        ChaCha8Rng::seed_from_u64(14),
        Instant::ZERO,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let req = VoteRequest {
        term: Term(1),
        last_log_index: 0,
        last_log_term: Term(0),
        transfer: false,
    };
    r.handle_message(ms(400), N1, Message::PreVote(req));
    let (sent, _) = drain(&mut r);
    assert!(sent.contains(&Transmit {
        to: N1,
        msg: Message::PreVoteResponse(VoteResponse {
            term: Term(0),
            granted: false
        })
    }));
    assert_eq!(
        r.role(),
        RoleKind::PreCandidate,
        "it should campaign instead"
    );
}

#[test]
fn a_follower_refuses_proposals_with_the_leader_as_hint() {
    let mut r = replica(N2, 9, PersistedState::default());
    r.handle_message(ms(1), N1, append(1, (0, 0), &[], 0));
    drain(&mut r);
    assert_eq!(
        r.propose(ms(2), vec![1]),
        Err(ProposeError::NotLeader {
            leader_hint: Some(N1),
            term: Term(1)
        })
    );
}

#[test]
fn stale_unknown_and_out_of_range_messages_are_counted_drops() {
    let mut r = replica(N2, 10, PersistedState::default());
    r.handle_message(ms(1), N1, append(2, (0, 0), &[(1, 2)], 0));
    drain(&mut r);
    r.handle_message(ms(2), N1, append(1, (0, 0), &[], 0));
    // A response from a node no configuration ever named (requests pass: thesis §4.1).
    let stranger_grant = VoteResponse {
        term: Term(2),
        granted: true,
    };
    r.handle_message(ms(3), NodeId(99), Message::VoteResponse(stranger_grant));
    r.handle_message(ms(4), N1, append(2, (1, 2), &[(5, 2)], 0));
    drain(&mut r);
    let drops = r.drops();
    assert_eq!(drops.get(&DropReason::StaleTerm), Some(&1));
    assert_eq!(drops.get(&DropReason::UnknownSender), Some(&1));
    assert_eq!(drops.get(&DropReason::OutOfRangeIndex), Some(&1));
    assert_eq!(r.last_index(), 1, "a dropped message changed the log");
}

fn random_message(rng: &mut ChaCha8Rng) -> Option<Message> {
    let term = Term(rng.random_range(0..4));
    let mut idx = || rng.random_range(0..8u64);
    let (a, b, c) = (idx(), idx(), idx());
    let flip = rng.random_bool(0.5);
    Some(match rng.random_range(0..8) {
        0 => Message::PreVote(VoteRequest {
            term,
            last_log_index: a,
            last_log_term: term,
            transfer: false,
        }),
        1 => Message::Vote(VoteRequest {
            term,
            last_log_index: a,
            last_log_term: term,
            transfer: flip,
        }),
        2 => Message::PreVoteResponse(VoteResponse {
            term,
            granted: flip,
        }),
        3 => Message::VoteResponse(VoteResponse {
            term,
            granted: flip,
        }),
        4 => {
            let n = rng.random_range(0..3);
            let gap = rng.random_range(0..2);
            let entries: Vec<(u64, u64)> = (0..n).map(|i| (a + 1 + i + gap, term.0)).collect();
            append(term.0, (a, rng.random_range(0..4)), &entries, b)
        }
        5 => Message::AppendResponse(AppendResponse {
            term,
            outcome: if flip {
                AppendOutcome::Accepted { match_index: a }
            } else {
                AppendOutcome::Rejected {
                    rejected_prev_index: b,
                    hint_index: c,
                    hint_term: term,
                }
            },
        }),
        6 => Message::TimeoutNow { term },
        _ => return None,
    })
}

/// Random garbage from every sender in every role: never a panic, and the replica's
/// own bookkeeping stays consistent after each input.
#[test]
fn arbitrary_messages_never_panic_or_break_local_invariants() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for seed in 0..40 {
        let mut r = replica(N1, seed, PersistedState::default());
        let mut now = Instant::ZERO;
        if seed % 2 == 0 {
            now = elect(&mut r);
        }
        for _ in 0..300 {
            now += Duration::from_millis(rng.random_range(0..20));
            let from = NodeId(rng.random_range(0..5));
            match random_message(&mut rng) {
                Some(msg) => r.handle_message(now, from, msg),
                None => r.handle_timeout(now),
            }
            let (_, events) = drain(&mut r);
            if let Some(id) = last_persist_id(&events)
                && rng.random_bool(0.7)
            {
                assert_eq!(r.handle_persisted(now, id), Ok(()));
                drain(&mut r);
            }
            assert!(r.commit_index() <= r.last_index());
            assert!(r.applied_index() <= r.commit_index().max(r.snapshot_index()));
            assert!(r.persisted_index() <= r.last_index());
        }
    }
}

#[test]
fn absurd_indexes_and_terms_never_panic() {
    let mut r = replica(N2, 15, PersistedState::default());
    let max = u64::MAX;
    r.handle_message(ms(1), N1, append(3, (max, 3), &[], max));
    r.handle_message(ms(1), N1, append(3, (max - 1, 3), &[(max, 3)], max));
    r.handle_message(ms(1), N1, append(3, (0, 0), &[(1, 3), (max, 3)], max));
    let snapshot = omnirelay_core::consensus::Snapshot {
        last_index: max,
        last_term: Term(3),
        voters: voters(),
        data: std::sync::Arc::from(&[][..]),
    };
    r.handle_message(
        ms(2),
        N1,
        Message::InstallSnapshot {
            term: Term(3),
            snapshot,
        },
    );
    r.handle_message(ms(3), N1, append(max, (0, 0), &[], 0));
    let (_, events) = drain(&mut r);
    if let Some(id) = last_persist_id(&events) {
        assert_eq!(r.handle_persisted(ms(4), id), Ok(()));
    }
    // A replica at the last possible term never campaigns (it would vote twice).
    let t = r.poll_timeout().unwrap_or(ms(5000));
    r.handle_timeout(t);
    r.handle_message(t, N3, Message::PreVoteResponse(granted(Term(max))));
    assert_eq!(r.term(), Term(max));
    assert_ne!(r.role(), RoleKind::Candidate);
    assert_eq!(r.last_index(), 0);
    assert!(r.drops().get(&DropReason::OutOfRangeIndex).is_some());
}

#[test]
fn restart_rebuilds_the_replica_from_what_was_persisted() {
    let mut r = replica(N2, 12, PersistedState::default());
    let mut disk = PersistedState::default();
    r.handle_message(ms(1), N1, append(3, (0, 0), &[(1, 2), (2, 3)], 1));
    let (_, events) = drain(&mut r);
    for p in persists(&events) {
        disk.apply(&p);
    }
    let back = replica(N2, 12, disk.clone());
    assert_eq!(back.term(), Term(3));
    assert_eq!(back.last_index(), 2);
    assert_eq!(back.entry(2).map(|e| e.term), Some(Term(3)));
    // A hole in the log, or a term older than the log, is refused.
    let mut holed = disk.clone();
    holed.entries.push(Entry {
        term: Term(3),
        index: 9,
        payload: EntryPayload::Noop,
    });
    let rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        Replica::new(ReplicaConfig::new(N2), voters(), holed, rng, Instant::ZERO).err(),
        Some(RestoreError::CorruptLog)
    );
    let mut behind = disk;
    behind.hard_state.term = Term(1);
    let rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        Replica::new(ReplicaConfig::new(N2), voters(), behind, rng, Instant::ZERO).err(),
        Some(RestoreError::TermBehindLog)
    );
}

#[test]
fn impossible_shell_inputs_are_refused_without_changing_state() {
    let mut r = replica(N1, 13, PersistedState::default());
    assert_eq!(
        r.handle_persisted(ms(1), PersistId(7)),
        Err(PersistError::NeverIssued {
            acknowledged: PersistId(7),
            last_issued: PersistId(0)
        })
    );
    assert_eq!(
        r.compact(ms(1), 5, vec![]),
        Err(CompactError::BeyondApplied {
            upto: 5,
            applied: 0
        })
    );
    assert_eq!(
        r.compact(ms(1), 0, vec![]),
        Err(CompactError::AlreadyCompacted { snapshot_index: 0 })
    );
}
