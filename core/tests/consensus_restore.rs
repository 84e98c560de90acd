//! Whatever a peer sends, what the replica persists can be restored from: a message that
//! would leave an unrestorable disk is a counted drop (found by review).

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::consensus::{
    AppendEntries, DropReason, ElectionTimeout, Entry, EntryPayload, Event, Message,
    PersistedState, Replica, ReplicaConfig, RestoreError, Snapshot, Term, VoterSet,
};
use omnirelay_core::{Instant, Machine, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn voters() -> VoterSet {
    VoterSet::uniform([NodeId(1), NodeId(2), NodeId(3)])
}

fn restore(config: ReplicaConfig, disk: PersistedState) -> Result<Replica, RestoreError> {
    Replica::new(
        config,
        voters(),
        disk,
        ChaCha8Rng::seed_from_u64(1),
        Instant::ZERO,
    )
}

fn persist_all(r: &mut Replica, disk: &mut PersistedState) {
    while let Some(event) = r.poll_event() {
        if let Event::Persist(request) = event {
            disk.apply(&request);
        }
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term: Term(term),
        index,
        payload: EntryPayload::Noop,
    }
}

#[test]
fn an_append_whose_entry_terms_go_backwards_is_dropped_and_the_disk_stays_restorable() {
    let mut disk = PersistedState::default();
    let mut r = restore(ReplicaConfig::new(NodeId(2)), disk.clone()).unwrap();
    let append = AppendEntries {
        term: Term(3),
        prev_log_index: 0,
        prev_log_term: Term(0),
        entries: vec![entry(1, 3), entry(2, 1)],
        leader_commit: 0,
    };
    r.handle_message(Instant::from_millis(1), NodeId(1), Message::Append(append));
    persist_all(&mut r, &mut disk);
    assert_eq!(r.last_index(), 0);
    assert_eq!(r.drops().get(&DropReason::OutOfRangeIndex), Some(&1));
    assert!(restore(ReplicaConfig::new(NodeId(2)), disk).is_ok());
}

#[test]
fn a_snapshot_ending_after_its_senders_term_is_dropped_and_the_disk_stays_restorable() {
    let mut disk = PersistedState::default();
    let mut r = restore(ReplicaConfig::new(NodeId(2)), disk.clone()).unwrap();
    let snapshot = Snapshot {
        last_index: 5,
        last_term: Term(9),
        voters: voters(),
        data: Arc::from(vec![]),
    };
    r.handle_message(
        Instant::from_millis(1),
        NodeId(1),
        Message::InstallSnapshot {
            term: Term(2),
            snapshot,
        },
    );
    persist_all(&mut r, &mut disk);
    assert_eq!(r.snapshot_index(), 0);
    assert_eq!(r.drops().get(&DropReason::OutOfRangeIndex), Some(&1));
    assert!(restore(ReplicaConfig::new(NodeId(2)), disk).is_ok());
}

#[test]
fn election_timeouts_beyond_u64_nanoseconds_saturate_instead_of_panicking() {
    let mut config = ReplicaConfig::new(NodeId(2));
    config.election_timeout = ElectionTimeout::new(
        Duration::from_millis(18_446_744_073_709),
        Duration::from_millis(18_446_744_073_710),
    )
    .unwrap();
    assert!(restore(config, PersistedState::default()).is_ok());
}
