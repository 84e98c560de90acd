//! The applier's ordering contract (ARCHITECTURE.md, "Replication between clusters", and
//! invariant 4: "each origin's events are applied exactly once, in origin_seq order").

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use omnirelay_core::replication::{
    Applier, ApplierConfig, ApplyError, ClusterVersionVector, Delivery, Event, FailoverVersion,
    ResendRequest,
};
use omnirelay_core::{ClusterId, Instant, NamespaceId};
use proptest::prelude::*;
use proptest::sample::Index;

const ORIGINS: [&str; 3] = ["eu-west", "us-east", "ap-south"];

fn cid(name: &str) -> ClusterId {
    ClusterId::new(name).expect("valid test cluster id")
}

fn event(origin: &str, seq: u64) -> Event {
    Event {
        namespace: NamespaceId::new("orders").expect("valid test namespace"),
        origin_cluster: cid(origin),
        origin_seq: seq,
        failover_version: FailoverVersion(1),
        key: format!("{origin}/{seq}").into_bytes(),
        payload: seq.to_be_bytes().to_vec(),
        written_at: Instant::from_millis(seq),
    }
}

fn config(per_origin: usize, total: usize) -> ApplierConfig {
    ApplierConfig {
        max_buffered_per_origin: per_origin,
        max_buffered_total: total,
        resend_retry: Duration::from_millis(500),
        ..ApplierConfig::new(cid("local"))
    }
}

/// Everything the shell appended, in order.
fn drain_applied(applier: &mut Applier) -> Vec<Event> {
    std::iter::from_fn(|| applier.poll_applied())
        .map(|a| a.event)
        .collect()
}

/// A chaotic first delivery: each origin's events, some lost, some duplicated, shuffled.
#[derive(Clone, Debug)]
struct Chaos {
    counts: Vec<u64>,
    deliveries: Vec<(usize, u64)>,
    window: usize,
}

fn chaos() -> impl Strategy<Value = Chaos> {
    (prop::collection::vec(0u64..=12, ORIGINS.len()), 1usize..=16)
        .prop_flat_map(|(counts, window)| {
            let all: Vec<(usize, u64)> = counts
                .iter()
                .enumerate()
                .flat_map(|(o, &n)| (1..=n).map(move |s| (o, s)))
                .collect();
            let len = all.len();
            (
                Just(counts),
                Just(window),
                Just(all),
                prop::collection::vec(any::<bool>(), len),
                prop::collection::vec(any::<Index>(), 0..=12),
            )
        })
        .prop_flat_map(|(counts, window, all, lost, dups)| {
            let mut deliveries: Vec<(usize, u64)> = all
                .iter()
                .zip(&lost)
                .filter(|(_, lost)| !**lost)
                .map(|(d, _)| *d)
                .collect();
            if !all.is_empty() {
                deliveries.extend(dups.iter().map(|i| *i.get(&all)));
            }
            (Just(counts), Just(window), Just(deliveries).prop_shuffle())
        })
        .prop_map(|(counts, window, deliveries)| Chaos {
            counts,
            deliveries,
            window,
        })
}

/// Drives the chaotic delivery, then serves every resend request by re-streaming the
/// origin from the requested seq, then resumes each stream from the acknowledged VV (what
/// a reconnecting source does). Returns the applier and everything it applied.
fn run(chaos: &Chaos) -> (Applier, Vec<Event>) {
    let source = cid("relay");
    let mut applier = Applier::new(config(chaos.window, chaos.window * 2));
    let mut applied = Vec::new();
    let mut now = Instant::ZERO;
    let mut resends: Vec<ResendRequest> = Vec::new();
    for &(o, seq) in &chaos.deliveries {
        now += Duration::from_millis(1);
        let _ = applier.handle_event(now, &source, event(ORIGINS[o], seq));
        resends.extend(std::iter::from_fn(|| applier.poll_resend()));
        applied.extend(drain_applied(&mut applier));
    }
    while let Some(request) = resends.pop() {
        let o = ORIGINS
            .iter()
            .position(|name| cid(name) == request.origin)
            .expect("resends name a known origin");
        let batch = (request.from_seq..=chaos.counts[o]).map(|s| event(ORIGINS[o], s));
        let _ = applier.handle_batch(now, &source, batch);
        resends.extend(std::iter::from_fn(|| applier.poll_resend()));
        applied.extend(drain_applied(&mut applier));
    }
    for (o, name) in ORIGINS.iter().enumerate() {
        let from = applier.vv().get(&cid(name)) + 1;
        let batch = (from..=chaos.counts[o]).map(|s| event(name, s));
        let _ = applier.handle_batch(now, &source, batch);
        applied.extend(drain_applied(&mut applier));
    }
    (applier, applied)
}

fn per_origin(applied: &[Event]) -> BTreeMap<ClusterId, Vec<Event>> {
    let mut out: BTreeMap<ClusterId, Vec<Event>> = BTreeMap::new();
    for e in applied {
        out.entry(e.origin_cluster.clone())
            .or_default()
            .push(e.clone());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Invariant 4 and "gaps are never applied — the receiver asks for a resend".
    #[test]
    fn any_permutation_and_duplication_of_a_stream_applies_like_the_in_order_stream(
        chaos in chaos()
    ) {
        let in_order = Chaos {
            deliveries: chaos
                .counts
                .iter()
                .enumerate()
                .flat_map(|(o, &n)| (1..=n).map(move |s| (o, s)))
                .collect(),
            ..chaos.clone()
        };
        let (reference, reference_applied) = run(&in_order);
        let (applier, applied) = run(&chaos);
        prop_assert_eq!(per_origin(&applied), per_origin(&reference_applied));
        prop_assert_eq!(applier.vv(), reference.vv());
        let mut expected_vv = ClusterVersionVector::new();
        for (name, &n) in ORIGINS.iter().zip(&chaos.counts) {
            expected_vv.set(&cid(name), n);
        }
        prop_assert_eq!(applier.vv(), &expected_vv);
        prop_assert_eq!(applier.buffered(), 0);
        // Every origin's events came out as 1, 2, 3, ...
        for (origin, events) in per_origin(&applied) {
            let seqs: Vec<u64> = events.iter().map(|e| e.origin_seq).collect();
            let expected: Vec<u64> = (1..=applier.vv().get(&origin)).collect();
            prop_assert_eq!(seqs, expected);
        }
    }

    #[test]
    fn no_event_is_applied_twice(chaos in chaos()) {
        let (applier, applied) = run(&chaos);
        let distinct: BTreeSet<(ClusterId, u64)> = applied
            .iter()
            .map(|e| (e.origin_cluster.clone(), e.origin_seq))
            .collect();
        prop_assert_eq!(distinct.len(), applied.len());
        let counters = applier.counters();
        prop_assert_eq!(counters.applied, applied.len() as u64);
        prop_assert_eq!(counters.quarantined, 0);
    }
}

#[test]
fn a_full_window_refuses_the_event_and_only_asks_for_the_first_missing_seq() {
    let source = cid("eu-west");
    let mut applier = Applier::new(config(2, 3));
    let now = Instant::from_secs(1);
    for seq in [3, 4] {
        assert_eq!(
            applier.handle_event(now, &source, event("eu-west", seq)),
            Ok(Delivery::Buffered)
        );
    }
    let _ = std::iter::from_fn(|| applier.poll_resend()).count();
    let vv_before = applier.vv().clone();
    let counters_before = applier.counters();

    // Per-origin bound.
    let refused = applier.handle_event(now, &source, event("eu-west", 5));
    assert_eq!(
        refused,
        Err(ApplyError::WindowFull {
            origin: cid("eu-west"),
            origin_seq: 5,
            buffered_for_origin: 2,
            buffered_total: 2,
        })
    );
    // Total bound: one more slot, then another origin is refused too.
    assert_eq!(
        applier.handle_event(now, &source, event("us-east", 3)),
        Ok(Delivery::Buffered)
    );
    let _ = std::iter::from_fn(|| applier.poll_resend()).count();
    assert!(matches!(
        applier.handle_event(now, &source, event("ap-south", 9)),
        Err(ApplyError::WindowFull {
            buffered_total: 3,
            ..
        })
    ));

    assert_eq!(applier.vv(), &vv_before);
    assert_eq!(applier.buffered(), 3);
    assert_eq!(applier.poll_applied(), None);
    // eu-west's gap was already asked for; ap-south's first event was refused, so without
    // this request nothing would ever ask ap-south for seq 1 again.
    let asked: Vec<ResendRequest> = std::iter::from_fn(|| applier.poll_resend()).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        (asked[0].origin.clone(), asked[0].from_seq),
        (cid("ap-south"), 1)
    );
    let counters = applier.counters();
    assert_eq!(counters.refused, counters_before.refused + 2);
    assert_eq!(counters.applied, counters_before.applied);
    assert_eq!(counters.duplicates, counters_before.duplicates);

    // The refused event is accepted once the gap closes, and the in-order one never needs room.
    for seq in [1, 2] {
        assert_eq!(
            applier.handle_event(now, &source, event("eu-west", seq)),
            Ok(Delivery::InOrder)
        );
    }
    assert_eq!(
        applier.handle_event(now, &source, event("eu-west", 5)),
        Ok(Delivery::InOrder)
    );
    assert_eq!(applier.vv().get(&cid("eu-west")), 5);
}

#[test]
fn a_gap_asks_once_for_a_resend_until_progress_or_retry() {
    let source = cid("us-east");
    let mut applier = Applier::new(config(16, 64));
    let t0 = Instant::from_secs(10);
    applier
        .handle_event(t0, &source, event("us-east", 1))
        .expect("in order");
    assert_eq!(applier.poll_resend(), None, "no gap, no request");
    assert_eq!(applier.poll_timeout(), None);

    applier
        .handle_event(t0, &source, event("us-east", 4))
        .expect("buffered");
    let first = ResendRequest {
        origin: cid("us-east"),
        from_seq: 2,
        source: source.clone(),
    };
    assert_eq!(applier.poll_resend(), Some(first.clone()));
    assert_eq!(applier.poll_resend(), None);

    // More events past the same gap: the request is outstanding, not repeated.
    applier
        .handle_event(t0, &source, event("us-east", 5))
        .expect("buffered");
    applier
        .handle_event(t0, &source, event("us-east", 7))
        .expect("buffered");
    assert_eq!(applier.poll_resend(), None);

    // Early timeout: nothing due.
    let deadline = applier.poll_timeout().expect("a retry is scheduled");
    assert_eq!(deadline, t0 + Duration::from_millis(500));
    applier.handle_timeout(t0 + Duration::from_millis(499));
    assert_eq!(applier.poll_resend(), None);

    // Retry after the interval, then not again until the next interval.
    applier.handle_timeout(deadline);
    assert_eq!(applier.poll_resend(), Some(first));
    applier.handle_timeout(deadline);
    assert_eq!(applier.poll_resend(), None);

    // Progress that leaves a gap asks afresh from the new VV + 1.
    applier
        .handle_event(deadline, &source, event("us-east", 2))
        .expect("in order");
    applier
        .handle_event(deadline, &source, event("us-east", 3))
        .expect("in order");
    assert_eq!(applier.vv().get(&cid("us-east")), 5);
    let after_progress: Vec<u64> = std::iter::from_fn(|| applier.poll_resend())
        .map(|r| r.from_seq)
        .collect();
    assert_eq!(after_progress, vec![3, 6]);

    // Closing the gap clears the outstanding request and its timer.
    applier
        .handle_event(deadline, &source, event("us-east", 6))
        .expect("in order");
    assert_eq!(applier.vv().get(&cid("us-east")), 7);
    assert_eq!(applier.poll_timeout(), None);
    applier.handle_timeout(deadline + Duration::from_secs(60));
    assert_eq!(applier.poll_resend(), None);
}

#[test]
fn duplicates_and_echoes_of_our_own_writes_are_dropped_and_counted() {
    let source = cid("eu-west");
    let mut applier = Applier::new(config(16, 64));
    let now = Instant::ZERO;
    applier
        .handle_event(now, &source, event("eu-west", 1))
        .expect("in order");
    applier
        .handle_event(now, &source, event("eu-west", 3))
        .expect("buffered");
    let drops = [
        event("eu-west", 1), // already applied
        event("eu-west", 3), // already buffered
        event("eu-west", 0), // below every real seq
        event("local", 1),   // our own write coming back
    ];
    for e in drops {
        assert_eq!(
            applier.handle_event(now, &source, e),
            Ok(Delivery::Duplicate)
        );
    }
    assert_eq!(applier.counters().duplicates, 4);
    assert_eq!(applier.counters().applied, 1);
    assert_eq!(applier.vv().get(&cid("local")), 0);
    applier.handle_local_commit(9);
    assert_eq!(applier.vv().get(&cid("local")), 9);
}

#[test]
fn a_batch_reports_each_outcome_and_does_not_stop_at_a_refusal() {
    let source = cid("eu-west");
    let mut applier = Applier::new(config(1, 8));
    let batch = [3, 4, 1, 2, 1].map(|s| event("eu-west", s));
    let report = applier.handle_batch(Instant::ZERO, &source, batch);
    assert_eq!(report.buffered, 1);
    assert_eq!(report.refused, vec![(cid("eu-west"), 4)]);
    assert_eq!(report.in_order, 2);
    assert_eq!(report.duplicates, 1);
    assert_eq!(applier.vv().get(&cid("eu-west")), 3);
    let seqs: Vec<u64> = drain_applied(&mut applier)
        .iter()
        .map(|e| e.origin_seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn a_resumed_applier_treats_what_its_log_holds_as_applied() {
    let vv: ClusterVersionVector = "eu-west=5".parse().expect("valid vv text");
    let mut applier = Applier::resume(config(4, 8), vv);
    let source = cid("eu-west");
    assert_eq!(
        applier.handle_event(Instant::ZERO, &source, event("eu-west", 5)),
        Ok(Delivery::Duplicate)
    );
    assert_eq!(
        applier.handle_event(Instant::ZERO, &source, event("eu-west", 6)),
        Ok(Delivery::InOrder)
    );
}

#[test]
fn a_held_origin_applies_nothing_and_its_release_judges_events_by_the_new_placement() {
    use omnirelay_core::replication::{Placement, QuarantineReason};
    let ns = NamespaceId::new("orders").unwrap();
    let old = cid("eu-west");
    let mut applier = Applier::new(config(16, 64));
    let now = Instant::from_secs(1);
    applier
        .handle_placement(Placement {
            namespace: ns.clone(),
            failover_version: FailoverVersion(1),
            active_cluster: old.clone(),
            superseded_cutoff: None,
        })
        .unwrap();
    for seq in 1..=5 {
        applier
            .handle_event(now, &old, event("eu-west", seq))
            .unwrap();
    }
    assert_eq!(drain_applied(&mut applier).len(), 5);

    // Emergency: the target freezes the old active's stream and reports exactly 5.
    assert!(applier.hold_origin(&old));
    for seq in [6, 7] {
        assert_eq!(
            applier.handle_event(now, &old, event("eu-west", seq)),
            Ok(Delivery::Buffered)
        );
    }
    assert_eq!(
        applier.vv().get(&old),
        5,
        "a held origin's VV stays at the reported cutoff"
    );
    assert!(drain_applied(&mut applier).is_empty());
    assert_eq!(
        applier.poll_resend(),
        None,
        "in-order events waiting on a hold are no gap"
    );
    // A gap while held asks for the first seq that is neither applied nor waiting.
    applier
        .handle_event(now, &old, event("eu-west", 9))
        .unwrap();
    let asked: Vec<ResendRequest> = std::iter::from_fn(|| applier.poll_resend()).collect();
    assert_eq!(
        asked.iter().map(|r| r.from_seq).collect::<Vec<_>>(),
        vec![8]
    );

    // The promotion records cutoff 5; released, the later writes are quarantined, not applied.
    applier
        .handle_placement(Placement {
            namespace: ns,
            failover_version: FailoverVersion(2),
            active_cluster: cid("us-east"),
            superseded_cutoff: Some(5),
        })
        .unwrap();
    assert!(applier.release_origin(now, &old));
    assert!(drain_applied(&mut applier).is_empty());
    assert_eq!(applier.vv().get(&old), 7);
    let held: Vec<(u64, bool)> = applier
        .quarantined()
        .map(|q| {
            let after = matches!(
                q.reason,
                QuarantineReason::WrittenAfterSupersession { cutoff: 5, .. }
            );
            (q.event.origin_seq, after)
        })
        .collect();
    assert_eq!(held, vec![(6, true), (7, true)]);
}
