//! The conflict rule and quarantine (ARCHITECTURE.md, "Emergency failover": the writes the
//! promotion reported as possibly lost "are quarantined (never applied over newer writes)";
//! invariants 3, 4 and 6).

use std::collections::{BTreeMap, BTreeSet};

use omnirelay_core::replication::{
    Applier, ApplierConfig, Delivery, Event, FailoverVersion, Placement, PlacementError,
    QuarantineReason,
};
use omnirelay_core::{ClusterId, Instant, NamespaceId};
use proptest::prelude::*;

fn cid(name: &str) -> ClusterId {
    ClusterId::new(name).expect("valid test cluster id")
}

fn ns(name: &str) -> NamespaceId {
    NamespaceId::new(name).expect("valid test namespace")
}

fn event(namespace: &str, origin: &str, seq: u64, version: u64) -> Event {
    Event {
        namespace: ns(namespace),
        origin_cluster: cid(origin),
        origin_seq: seq,
        failover_version: FailoverVersion(version),
        key: format!("k{}", seq % 3).into_bytes(),
        payload: format!("{origin}/{seq}@{version}").into_bytes(),
        written_at: Instant::from_millis(seq),
    }
}

fn placement(namespace: &str, version: u64, active: &str, cutoff: Option<u64>) -> Placement {
    Placement {
        namespace: ns(namespace),
        failover_version: FailoverVersion(version),
        active_cluster: cid(active),
        superseded_cutoff: cutoff,
    }
}

fn applier() -> Applier {
    Applier::new(ApplierConfig::new(cid("local")))
}

/// `orders` was active on `old` at version 1; an emergency failover promoted `new` at
/// version 2 after it had applied `old` up to `cutoff`.
fn emergency_history(applier: &mut Applier, cutoff: u64) {
    applier
        .handle_placement(placement("orders", 1, "old", None))
        .expect("first placement");
    applier
        .handle_placement(placement("orders", 2, "new", Some(cutoff)))
        .expect("promotion");
}

/// Delivers `events` one at a time, serving resends by re-streaming from the asked seq
/// out of `streams`, the full per-origin streams. Returns the applied events.
fn deliver(
    applier: &mut Applier,
    events: &[Event],
    streams: &BTreeMap<ClusterId, Vec<Event>>,
) -> Vec<Event> {
    let source = cid("relay");
    let mut applied = Vec::new();
    let mut pending: Vec<Event> = events.iter().rev().cloned().collect();
    while let Some(e) = pending.pop() {
        let _ = applier.handle_event(Instant::from_secs(1), &source, e);
        while let Some(request) = applier.poll_resend() {
            if let Some(stream) = streams.get(&request.origin) {
                pending.extend(
                    stream
                        .iter()
                        .filter(|e| e.origin_seq >= request.from_seq)
                        .rev()
                        .cloned(),
                );
            }
        }
        applied.extend(std::iter::from_fn(|| applier.poll_applied()).map(|a| a.event));
    }
    applied
}

fn streams_of(events: &[Event]) -> BTreeMap<ClusterId, Vec<Event>> {
    let mut streams: BTreeMap<ClusterId, Vec<Event>> = BTreeMap::new();
    for e in events {
        streams
            .entry(e.origin_cluster.clone())
            .or_default()
            .push(e.clone());
    }
    for stream in streams.values_mut() {
        stream.sort_by_key(|e| e.origin_seq);
    }
    streams
}

#[derive(Clone, Debug)]
struct Mix {
    cutoff: u64,
    /// How many writes `old` made after the cutoff: the may-be-lost range.
    late_old: u64,
    /// The versions `rogue`, never active, stamped on its writes.
    rogue_versions: Vec<u64>,
    /// The legitimate events, shuffled.
    legit: Vec<Event>,
    /// The legitimate and the conflicting events, shuffled together.
    interleaved: Vec<Event>,
    /// The conflicting events alone.
    conflicting: Vec<Event>,
}

fn mix() -> impl Strategy<Value = Mix> {
    (
        0u64..=6,
        0u64..=6,
        0u64..=8,
        0u64..=6,
        prop::collection::vec(0u64..=2, 0..=6),
    )
        .prop_flat_map(
            |(cutoff, late_old, new_count, side_count, rogue_versions)| {
                let mut legit = Vec::new();
                legit.extend((1..=cutoff).map(|s| event("orders", "old", s, 1)));
                legit.extend((1..=new_count).map(|s| event("orders", "new", s, 2)));
                // A namespace the registry has not described: applied as it comes.
                legit.extend((1..=side_count).map(|s| event("billing", "side", s, 7)));
                let mut conflicting: Vec<Event> = (cutoff + 1..=cutoff + late_old)
                    .map(|s| event("orders", "old", s, 1))
                    .collect();
                conflicting.extend(
                    rogue_versions
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| event("orders", "rogue", i as u64 + 1, v)),
                );
                let both: Vec<Event> = legit.iter().chain(&conflicting).cloned().collect();
                (
                    Just((cutoff, late_old, rogue_versions, conflicting)),
                    Just(legit).prop_shuffle(),
                    Just(both).prop_shuffle(),
                )
            },
        )
        .prop_map(
            |((cutoff, late_old, rogue_versions, conflicting), legit, interleaved)| Mix {
                cutoff,
                late_old,
                rogue_versions,
                legit,
                interleaved,
                conflicting,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Quarantined events consume their seq but never change applied state: the applied
    /// sequence with the conflicting events interleaved equals the one without them.
    #[test]
    fn a_quarantined_event_never_changes_applied_state(mix in mix()) {
        let only_legit = &mix.legit;
        let interleaved = &mix.interleaved;
        let conflicting: BTreeSet<(ClusterId, u64)> = mix
            .conflicting
            .iter()
            .map(|e| (e.origin_cluster.clone(), e.origin_seq))
            .collect();

        let mut clean = applier();
        emergency_history(&mut clean, mix.cutoff);
        let clean_applied = deliver(&mut clean, only_legit, &streams_of(only_legit));

        let mut mixed = applier();
        emergency_history(&mut mixed, mix.cutoff);
        let mixed_applied = deliver(&mut mixed, interleaved, &streams_of(interleaved));

        prop_assert_eq!(streams_of(&mixed_applied), streams_of(&clean_applied));
        prop_assert_eq!(clean.quarantined().count(), 0);

        // Exactly the conflicting events are held, each once, with the right reason.
        let held: Vec<(ClusterId, u64)> = mixed
            .quarantined()
            .map(|q| (q.event.origin_cluster.clone(), q.event.origin_seq))
            .collect();
        prop_assert_eq!(held.len(), conflicting.len());
        prop_assert_eq!(held.iter().cloned().collect::<BTreeSet<_>>(), conflicting);
        prop_assert_eq!(mixed.counters().quarantined, held.len() as u64);
        for q in mixed.quarantined() {
            let expected = if q.event.origin_cluster == cid("old") {
                QuarantineReason::WrittenAfterSupersession {
                    superseded_by: FailoverVersion(2),
                    new_active: cid("new"),
                    cutoff: mix.cutoff,
                }
            } else {
                match q.event.failover_version.0 {
                    0 => QuarantineReason::UnknownFailoverVersion { current: FailoverVersion(2) },
                    1 => QuarantineReason::NotActiveAtVersion { active: cid("old") },
                    _ => QuarantineReason::NotActiveAtVersion { active: cid("new") },
                }
            };
            prop_assert_eq!(&q.reason, &expected);
        }

        // Quarantined seqs are consumed: the streams do not stall behind them.
        prop_assert_eq!(mixed.vv().get(&cid("old")), mix.cutoff + mix.late_old);
        prop_assert_eq!(mixed.vv().get(&cid("rogue")), mix.rogue_versions.len() as u64);
    }
}

#[test]
fn writes_of_the_old_active_after_the_cutoff_are_quarantined_and_reported() {
    let mut applier = applier();
    emergency_history(&mut applier, 2);
    let source = cid("old");
    for seq in 1..=4 {
        assert_eq!(
            applier.handle_event(
                Instant::from_secs(5),
                &source,
                event("orders", "old", seq, 1)
            ),
            Ok(Delivery::InOrder)
        );
    }
    let applied: Vec<u64> = std::iter::from_fn(|| applier.poll_applied())
        .map(|a| a.event.origin_seq)
        .collect();
    assert_eq!(applied, vec![1, 2]);
    let lost: Vec<u64> = applier.quarantined().map(|q| q.event.origin_seq).collect();
    assert_eq!(lost, vec![3, 4]);
    assert_eq!(applier.vv().get(&cid("old")), 4);
    let record = applier.quarantined().next().expect("a record");
    assert_eq!(record.namespace(), &ns("orders"));
    assert_eq!(record.quarantined_at, Instant::from_secs(5));
}

#[test]
fn a_planned_failover_quarantines_nothing_of_the_old_active() {
    let mut applier = applier();
    applier
        .handle_placement(placement("orders", 1, "old", None))
        .expect("first placement");
    applier
        .handle_placement(placement("orders", 3, "new", None))
        .expect("planned promotion");
    let source = cid("old");
    for seq in 1..=3 {
        let _ = applier.handle_event(Instant::ZERO, &source, event("orders", "old", seq, 1));
    }
    assert_eq!(applier.counters().applied, 3);
    assert_eq!(applier.quarantined().count(), 0);
}

#[test]
fn an_event_from_a_version_the_registry_has_not_announced_is_applied() {
    let mut applier = applier();
    applier
        .handle_placement(placement("orders", 1, "old", None))
        .expect("first placement");
    let _ = applier.handle_event(Instant::ZERO, &cid("new"), event("orders", "new", 1, 2));
    assert_eq!(applier.counters().applied, 1);
    assert_eq!(applier.counters().quarantined, 0);
}

#[test]
fn a_placement_learned_while_an_event_waits_in_the_window_applies_to_it() {
    let mut applier = applier();
    applier
        .handle_placement(placement("orders", 1, "old", None))
        .expect("first placement");
    let source = cid("old");
    assert_eq!(
        applier.handle_event(Instant::ZERO, &source, event("orders", "old", 2, 1)),
        Ok(Delivery::Buffered)
    );
    applier
        .handle_placement(placement("orders", 2, "new", Some(1)))
        .expect("emergency promotion");
    let _ = applier.handle_event(Instant::ZERO, &source, event("orders", "old", 1, 1));
    assert_eq!(applier.counters().applied, 1);
    assert_eq!(applier.counters().quarantined, 1);
    assert_eq!(applier.vv().get(&cid("old")), 2);
}

#[test]
fn a_stale_placement_is_refused_and_changes_nothing() {
    let mut applier = applier();
    emergency_history(&mut applier, 4);
    let refused = applier.handle_placement(placement("orders", 1, "old", None));
    assert_eq!(
        refused,
        Err(PlacementError::StaleVersion {
            namespace: ns("orders"),
            current: FailoverVersion(2),
            offered: FailoverVersion(1),
        })
    );
    let current = applier.history().current(&ns("orders")).expect("known");
    assert_eq!(current, &placement("orders", 2, "new", Some(4)));
}

#[test]
fn an_equal_version_with_another_cluster_is_refused_and_a_repeat_is_a_no_op() {
    let mut applier = applier();
    emergency_history(&mut applier, 4);
    assert_eq!(
        applier.handle_placement(placement("orders", 2, "rogue", Some(4))),
        Err(PlacementError::ConflictingPlacement {
            namespace: ns("orders"),
            version: FailoverVersion(2),
            known: cid("new"),
            offered: cid("rogue"),
        })
    );
    // Same cluster, different cutoff: also two stories for one fencing token.
    assert!(matches!(
        applier.handle_placement(placement("orders", 2, "new", Some(9))),
        Err(PlacementError::ConflictingPlacement { .. })
    ));
    assert_eq!(
        applier.handle_placement(placement("orders", 2, "new", Some(4))),
        Ok(false)
    );
    let current = applier.history().current(&ns("orders")).expect("known");
    assert_eq!(current, &placement("orders", 2, "new", Some(4)));
}

#[test]
fn a_full_quarantine_evicts_its_oldest_record_and_counts_it() {
    let mut applier = Applier::new(ApplierConfig {
        quarantine_capacity: 2,
        ..ApplierConfig::new(cid("local"))
    });
    emergency_history(&mut applier, 0);
    for seq in 1..=3 {
        let _ = applier.handle_event(Instant::ZERO, &cid("old"), event("orders", "old", seq, 1));
    }
    let held: Vec<u64> = applier.quarantined().map(|q| q.event.origin_seq).collect();
    assert_eq!(held, vec![2, 3]);
    assert_eq!(applier.quarantine().evicted(), 1);
    assert_eq!(applier.counters().quarantined, 3);
    assert_eq!(applier.take_quarantined().len(), 2);
    assert!(applier.quarantine().is_empty());
}
