//! The chaos checker catches what it claims to: each invariant, fed a fabricated history
//! that breaks it, names the violation (ARCHITECTURE.md, "Invariants the simulators check
//! on every seed").

use std::collections::BTreeMap;
use std::time::Duration;

use omnirelay_sim::chaos::checker::{
    self, HeldEvent, History, LeaderRecord, ReportedLoss, WriteOutcome, WriteRecord,
};

fn acked(key: &str, cluster: &str, seq: u64, fv: u64) -> WriteRecord {
    WriteRecord {
        namespace: "orders".into(),
        key: key.into(),
        sent_at: Duration::from_secs(seq),
        answered_at: Duration::from_secs(seq),
        outcome: WriteOutcome::Acknowledged {
            cluster: cluster.into(),
            seq,
            failover_version: fv,
        },
    }
}

fn held(events: &[(&str, u64, &str)]) -> BTreeMap<String, Vec<HeldEvent>> {
    let events = events
        .iter()
        .map(|(origin, seq, key)| HeldEvent {
            origin: (*origin).into(),
            seq: *seq,
            key: (*key).into(),
        })
        .collect();
    BTreeMap::from([("orders".to_owned(), events)])
}

/// Two clusters; `b` misses `a`'s write 2.
fn history_losing_write_two() -> History {
    History {
        writes: vec![acked("k1", "a", 1, 1), acked("k2", "a", 2, 1)],
        held: BTreeMap::from([
            ("a".to_owned(), held(&[("a", 1, "k1"), ("a", 2, "k2")])),
            ("b".to_owned(), held(&[("a", 1, "k1")])),
        ]),
        ..History::default()
    }
}

#[test]
fn an_acknowledged_write_missing_on_a_cluster_is_a_violation() {
    let (violations, in_range) = checker::acknowledged_writes_survive(&history_losing_write_two());
    assert_eq!(in_range, 0);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with("committed_entries_survive"));
    assert!(violations[0].contains("k2") && violations[0].contains(" b"));
}

#[test]
fn a_write_lost_after_a_planned_failover_names_that_invariant() {
    let mut history = history_losing_write_two();
    history.planned.insert("orders".into());
    let (violations, _) = checker::acknowledged_writes_survive(&history);
    assert!(violations[0].starts_with("planned_failover_loses_nothing"));
}

#[test]
fn a_write_lost_inside_the_reported_emergency_range_is_counted_not_reported() {
    let mut history = history_losing_write_two();
    history.losses.push(ReportedLoss {
        namespace: "orders".into(),
        origin: "a".into(),
        failover_version: 1,
        first_seq: 2,
        last_seq: Some(2),
        open_ended: false,
    });
    let (violations, in_range) = checker::acknowledged_writes_survive(&history);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(in_range, 1);

    // The same loss outside the range it reported is a violation.
    history.losses[0].first_seq = 3;
    history.losses[0].last_seq = None;
    let (violations, _) = checker::acknowledged_writes_survive(&history);
    assert!(violations[0].starts_with("emergency_loss_within_reported_range"));
}

#[test]
fn a_closed_range_excuses_nothing_past_its_end_and_an_open_one_everything_after_its_start() {
    let mut history = history_losing_write_two();
    // The range as first reported: write 1 known, write 2 acknowledged unseen.
    history.losses.push(ReportedLoss {
        namespace: "orders".into(),
        origin: "a".into(),
        failover_version: 1,
        first_seq: 1,
        last_seq: Some(1),
        open_ended: false,
    });
    let (violations, _) = checker::acknowledged_writes_survive(&history);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with("emergency_loss_within_reported_range"));

    history.losses[0].open_ended = true;
    let (violations, in_range) = checker::acknowledged_writes_survive(&history);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(in_range, 1);
}

#[test]
fn a_loss_range_excuses_only_writes_at_the_superseded_version() {
    let mut history = history_losing_write_two();
    history.losses.push(ReportedLoss {
        namespace: "orders".into(),
        origin: "a".into(),
        failover_version: 7,
        first_seq: 1,
        last_seq: None,
        open_ended: true,
    });
    let (violations, _) = checker::acknowledged_writes_survive(&history);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with("emergency_loss_within_reported_range"));
}

#[test]
fn an_event_a_store_refused_for_arriving_out_of_order_is_a_violation() {
    let history = History {
        held: BTreeMap::from([("a".to_owned(), held(&[("a", 1, "k1")]))]),
        non_contiguous: BTreeMap::from([("a-2".to_owned(), 3)]),
        ..History::default()
    };
    let violations = checker::exactly_once_in_order(&history);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with("exactly_once_in_order") && violations[0].contains("a-2"));
}

#[test]
fn a_write_applied_twice_or_out_of_order_is_a_violation() {
    let history = History {
        held: BTreeMap::from([("a".to_owned(), held(&[("a", 2, "k2"), ("a", 1, "k2")]))]),
        ..History::default()
    };
    let violations = checker::exactly_once_in_order(&history);
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations
            .iter()
            .all(|v| v.starts_with("exactly_once_in_order"))
    );
}

#[test]
fn two_clusters_accepting_writes_under_one_failover_version_is_a_violation() {
    let history = History {
        writes: vec![
            acked("k1", "a", 1, 7),
            acked("k2", "b", 1, 7),
            acked("k3", "b", 2, 8),
        ],
        ..History::default()
    };
    let violations = checker::one_writer_per_failover_version(&history);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("version 7"));
}

#[test]
fn two_leaders_of_one_term_is_a_violation() {
    let leader = |term, who: &str| LeaderRecord {
        at: Duration::ZERO,
        group: "a".into(),
        term,
        leader: who.into(),
    };
    let history = History {
        leaders: vec![
            leader(1, "a-1"),
            leader(1, "a-1"),
            leader(2, "a-2"),
            leader(2, "a-3"),
        ],
        ..History::default()
    };
    let violations = checker::one_leader_per_term(&history);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("term 2"));
}

#[test]
fn clusters_that_differ_or_were_not_read_at_the_end_did_not_converge() {
    let mut history = history_losing_write_two();
    history.version_vectors = BTreeMap::from([
        ("a".to_owned(), BTreeMap::from([("a".to_owned(), 2)])),
        ("b".to_owned(), BTreeMap::from([("a".to_owned(), 1)])),
    ]);
    let expected = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let violations = checker::convergence_after_heal(&history, &expected);
    assert!(violations.iter().any(|v| v.contains("c could not be read")));
    assert!(
        violations
            .iter()
            .any(|v| v.contains("version vectors differ"))
    );
    assert!(violations.iter().any(|v| v.contains("orders differs")));

    history
        .held
        .insert("b".into(), held(&[("a", 1, "k1"), ("a", 2, "k2")]));
    history
        .version_vectors
        .insert("b".into(), BTreeMap::from([("a".to_owned(), 2)]));
    assert!(checker::convergence_after_heal(&history, &expected[..2]).is_empty());
}

#[test]
fn a_running_node_missing_from_a_view_or_a_stopped_one_held_alive_is_a_violation() {
    let view = |hosts: &[&str]| hosts.iter().map(|h| (*h).to_owned()).collect();
    let mut history = History {
        alive_views: BTreeMap::from([
            ("a-1".to_owned(), view(&["a-1", "a-2"])),
            ("a-2".to_owned(), view(&["a-1", "a-2"])),
        ]),
        ..History::default()
    };
    assert!(checker::gossip_membership_converges(&history).is_empty());

    history
        .alive_views
        .insert("a-3".into(), view(&["a-1", "a-2", "a-3"]));
    history
        .alive_views
        .insert("a-1".into(), view(&["a-1", "a-2", "a-3", "a-4"]));
    let violations = checker::gossip_membership_converges(&history);
    assert!(
        violations
            .iter()
            .any(|v| v.contains("a-2 does not hold a-3"))
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("a-1 holds stopped a-4"))
    );
}
