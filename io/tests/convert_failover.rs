//! Failover conversions (io/src/convert/failover.rs): every valid request, step and loss
//! report survives domain -> wire -> bytes -> wire -> domain unchanged; a status report is
//! derived from core's failover; bad wire input is a typed error naming its message and
//! field (ARCHITECTURE.md, "Planned failover", "Emergency failover"; failover.proto).

use omnirelay_core::failover::{
    Failover, FailoverId, FailoverKind, FailoverRequest, FailoverStep, LossReport,
};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::{ClusterId, Instant, NamespaceId};
use omnirelay_io::convert::failover::{StatusFacts, failover_status_to_wire};
use omnirelay_io::convert::{ConvertError, FieldDefect, FromWire, ToWire};
use omnirelay_proto::v1;
use proptest::prelude::*;
use prost::Message;

fn through_bytes<M: Message + Default>(wire: M) -> M {
    M::decode(wire.encode_to_vec().as_slice()).expect("prost decodes what it encoded")
}

fn cluster() -> impl Strategy<Value = ClusterId> {
    "[a-z0-9._-]{1,20}".prop_map(|s| ClusterId::new(&s).expect("valid by construction"))
}

fn namespace() -> impl Strategy<Value = NamespaceId> {
    "[a-z0-9._-]{1,20}".prop_map(|s| NamespaceId::new(&s).expect("valid by construction"))
}

fn kind() -> impl Strategy<Value = FailoverKind> {
    prop_oneof![
        Just(FailoverKind::Planned),
        any::<bool>().prop_map(|force| FailoverKind::Emergency { force }),
        Just(FailoverKind::Failback),
        Just(FailoverKind::Migration),
    ]
}

/// An empty ticket or approver is no ticket or approver (proto3 cannot tell them apart).
fn request() -> impl Strategy<Value = FailoverRequest> {
    (
        namespace(),
        proptest::option::of(cluster()),
        kind(),
        ".{0,12}",
        proptest::option::of(".{1,12}"),
        proptest::option::of(".{1,12}"),
    )
        .prop_map(
            |(namespace, target, kind, requested_by, ticket, approver)| FailoverRequest {
                namespace,
                target,
                kind,
                requested_by,
                ticket,
                approver,
            },
        )
}

/// Every step core has.
fn step() -> impl Strategy<Value = FailoverStep> {
    prop::sample::select(vec![
        FailoverStep::Preflight,
        FailoverStep::AwaitingApproval,
        FailoverStep::Drain,
        FailoverStep::CatchUp,
        FailoverStep::Promote,
        FailoverStep::Publish,
        FailoverStep::Done,
        FailoverStep::Aborted,
        FailoverStep::RolledBack,
    ])
}

/// `first_seq` from 1; a known `last_seq` from `first_seq` on (`None` is the empty range); the
/// superseded failover version from 1 (core mints none below a cluster's initial version).
fn loss() -> impl Strategy<Value = LossReport> {
    (
        cluster(),
        1..=u64::MAX,
        1..=u64::MAX,
        proptest::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(|(old_active, fv, first_seq, last, open_ended)| LossReport {
            old_active,
            old_failover_version: FailoverVersion(fv),
            first_seq,
            last_seq: last.map(|l| l.max(first_seq)),
            open_ended,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_failover_request_survives_the_wire_and_its_bytes_unchanged(r in request()) {
        prop_assert_eq!(FailoverRequest::from_wire(through_bytes(r.to_wire())), Ok(r));
    }

    #[test]
    fn any_failover_step_survives_the_wire_and_its_bytes_unchanged(s in step()) {
        let status = through_bytes(v1::FailoverStatus {
            step: s.to_wire() as i32,
            ..v1::FailoverStatus::default()
        });
        prop_assert_eq!(FailoverStep::from_wire(status.step), Ok(s));
    }

    #[test]
    fn any_loss_report_survives_the_wire_and_its_bytes_unchanged(l in loss()) {
        prop_assert_eq!(LossReport::from_wire(through_bytes(l.to_wire())), Ok(l));
    }

    #[test]
    fn a_reported_loss_never_shrinks_on_the_wire(l in loss()) {
        // Invariant 6: emergency failover loses only writes inside the range it reported,
        // so the wire must never report fewer writes at risk than core computed.
        let wire = l.to_wire();
        let known = wire.last_origin_seq.saturating_add(1).saturating_sub(wire.first_origin_seq);
        prop_assert_eq!(known, l.known_at_risk());
        prop_assert_eq!(wire.open_ended, l.open_ended);
    }
}

#[test]
fn awaiting_approval_is_told_apart_from_preflight_on_the_wire() {
    // A dashboard must see that a failover waits for a person, not for its checks.
    assert_eq!(
        FailoverStep::AwaitingApproval.to_wire(),
        v1::FailoverStep::AwaitingApproval
    );
    assert_ne!(
        FailoverStep::AwaitingApproval.to_wire(),
        FailoverStep::Preflight.to_wire()
    );
}

#[test]
fn an_unspecified_or_unknown_step_is_refused() {
    assert_eq!(
        FailoverStep::from_wire(0).map_err(|e| e.defect),
        Err(FieldDefect::Unspecified)
    );
    let err = FailoverStep::from_wire(77).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "FailoverStatus.step: unknown enum value 77"
    );
}

fn wire_request() -> v1::FailoverRequest {
    v1::FailoverRequest {
        kind: v1::FailoverKind::Planned as i32,
        scope: Some(v1::failover_request::Scope::Namespace("orders".to_owned())),
        target_cluster: "us-east".to_owned(),
        dry_run: false,
        ticket: String::new(),
        approver: String::new(),
        force: false,
        requested_by: "alice".to_owned(),
        expected_failover_version: 0,
    }
}

fn request_error(wire: v1::FailoverRequest) -> ConvertError {
    FailoverRequest::from_wire(wire).expect_err("refused")
}

#[test]
fn a_request_kind_must_be_known_and_specified() {
    let err = request_error(v1::FailoverRequest {
        kind: 0,
        ..wire_request()
    });
    assert_eq!(
        (err.field, err.defect),
        ("FailoverRequest.kind", FieldDefect::Unspecified)
    );
    let err = request_error(v1::FailoverRequest {
        kind: 42,
        ..wire_request()
    });
    assert_eq!(err.defect, FieldDefect::UnknownEnumValue(42));
}

#[test]
fn only_an_emergency_failover_can_be_forced() {
    for kind in [
        v1::FailoverKind::Planned,
        v1::FailoverKind::Failback,
        v1::FailoverKind::Migration,
    ] {
        let err = request_error(v1::FailoverRequest {
            kind: kind as i32,
            force: true,
            ..wire_request()
        });
        assert_eq!(err.field, "FailoverRequest.force");
    }
    let forced = FailoverRequest::from_wire(v1::FailoverRequest {
        kind: v1::FailoverKind::Emergency as i32,
        force: true,
        ..wire_request()
    })
    .expect("valid");
    assert_eq!(forced.kind, FailoverKind::Emergency { force: true });
}

#[test]
fn a_request_without_scope_or_with_bad_names_is_refused() {
    let err = request_error(v1::FailoverRequest {
        scope: None,
        ..wire_request()
    });
    assert_eq!(
        (err.field, err.defect),
        ("FailoverRequest.scope", FieldDefect::Missing)
    );
    let err = request_error(v1::FailoverRequest {
        scope: Some(v1::failover_request::Scope::Namespace("Orders".to_owned())),
        ..wire_request()
    });
    assert_eq!(err.field, "FailoverRequest.namespace");
    let err = request_error(v1::FailoverRequest {
        target_cluster: "US".to_owned(),
        ..wire_request()
    });
    assert_eq!(err.field, "FailoverRequest.target_cluster");
}

#[test]
fn a_rehearsal_a_guard_or_a_whole_cluster_is_refused_never_run_as_a_plain_failover() {
    let err = request_error(v1::FailoverRequest {
        dry_run: true,
        ..wire_request()
    });
    assert_eq!(err.field, "FailoverRequest.dry_run");
    assert!(matches!(err.defect, FieldDefect::Unsupported(_)));
    let err = request_error(v1::FailoverRequest {
        expected_failover_version: 7,
        ..wire_request()
    });
    assert_eq!(err.field, "FailoverRequest.expected_failover_version");
    let err = request_error(v1::FailoverRequest {
        scope: Some(v1::failover_request::Scope::WholeCluster(
            "eu-west".to_owned(),
        )),
        ..wire_request()
    });
    assert_eq!(err.field, "FailoverRequest.whole_cluster");
}

#[test]
fn an_empty_target_lets_the_policy_choose() {
    let request = FailoverRequest::from_wire(v1::FailoverRequest {
        target_cluster: String::new(),
        ..wire_request()
    })
    .expect("valid");
    assert_eq!(request.target, None);
}

#[test]
fn a_loss_range_from_zero_or_ending_before_it_starts_is_refused() {
    let range = |first, last| v1::LossRange {
        origin_cluster: "eu-west".to_owned(),
        first_origin_seq: first,
        last_origin_seq: last,
        open_ended: false,
        old_failover_version: 1,
    };
    let err = LossReport::from_wire(range(0, 5)).expect_err("refused");
    assert_eq!(err.field, "LossRange.first_origin_seq");
    let err = LossReport::from_wire(range(10, 8)).expect_err("refused");
    assert_eq!(err.field, "LossRange.last_origin_seq");
    let err = LossReport::from_wire(v1::LossRange {
        origin_cluster: String::new(),
        ..range(10, 12)
    })
    .expect_err("refused");
    assert_eq!(err.field, "LossRange.origin_cluster");
}

#[test]
fn a_loss_range_without_its_superseded_failover_version_is_refused_not_guessed() {
    // Invariant 6 and "Emergency failover": the returning old active's events are
    // quarantined by the version they carry; a guessed version could let them through.
    let err = LossReport::from_wire(v1::LossRange {
        origin_cluster: "eu-west".to_owned(),
        first_origin_seq: 10,
        last_origin_seq: 12,
        open_ended: false,
        old_failover_version: 0,
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("LossRange.old_failover_version", FieldDefect::Missing)
    );
}

#[test]
fn an_open_ended_range_keeps_its_known_last_and_stays_open() {
    let report = LossReport::from_wire(v1::LossRange {
        origin_cluster: "eu-west".to_owned(),
        first_origin_seq: 10,
        last_origin_seq: 20,
        open_ended: true,
        old_failover_version: 101,
    })
    .expect("valid");
    assert_eq!((report.last_seq, report.open_ended), (Some(20), true));
    assert!(report.covers(FailoverVersion(101), 21));
    assert!(!report.covers(FailoverVersion(102), 21));
    assert_eq!(report.old_failover_version, FailoverVersion(101));
}

#[test]
fn a_closed_empty_range_reads_as_nothing_at_risk() {
    let report = LossReport::from_wire(v1::LossRange {
        origin_cluster: "eu-west".to_owned(),
        first_origin_seq: 10,
        last_origin_seq: 9,
        open_ended: false,
        old_failover_version: 101,
    })
    .expect("valid");
    assert_eq!((report.last_seq, report.open_ended), (None, false));
    assert!(!report.covers(FailoverVersion(101), 10));
}

fn failover(step: FailoverStep) -> Failover {
    let cid = |s: &str| ClusterId::new(s).expect("valid");
    Failover {
        id: FailoverId(7),
        request: FailoverRequest {
            namespace: NamespaceId::new("orders").expect("valid"),
            target: None,
            kind: FailoverKind::Emergency { force: false },
            requested_by: "alice".to_owned(),
            ticket: Some("INC-1".to_owned()),
            approver: None,
        },
        source: cid("eu-west"),
        target: cid("us-east"),
        step,
        started_at: Instant::from_secs(1_795_000_000),
        finished_at: None,
        approved_by: None,
        drained_at_seq: Some(120),
        drained_version: Some(4),
        drain_deadline: None,
        catch_up_deadline: None,
        loss: Some(LossReport {
            old_active: cid("eu-west"),
            old_failover_version: FailoverVersion(101),
            first_seq: 118,
            last_seq: Some(120),
            open_ended: false,
        }),
        promoted_to: Some(FailoverVersion(202)),
        cancelled: false,
    }
}

#[test]
fn a_status_report_derives_progress_and_carries_the_reported_loss() {
    let facts = StatusFacts {
        target_applied_origin_seq: 117,
        step_entered_at: Instant::from_secs(1_795_000_005),
        reason: String::new(),
    };
    let status = through_bytes(failover_status_to_wire(
        &failover(FailoverStep::Publish),
        &facts,
    ));
    assert_eq!(status.failover_id, "fo-7");
    assert_eq!(status.step, v1::FailoverStep::Publish as i32);
    assert_eq!(
        status.progress,
        Some(v1::FailoverProgress {
            source_last_origin_seq: 120,
            target_applied_origin_seq: 117,
            namespaces_done: 0,
            namespaces_total: 1,
        })
    );
    assert_eq!(status.new_failover_version, 202);
    assert_eq!(status.started_at_unix_nanos, 1_795_000_000_000_000_000);
    assert_eq!(status.step_entered_at_unix_nanos, 1_795_000_005_000_000_000);
    assert_eq!(
        (
            status.source_cluster.as_str(),
            status.target_cluster.as_str()
        ),
        ("eu-west", "us-east")
    );
    let loss: Vec<LossReport> = status
        .reported_loss
        .into_iter()
        .map(|r| LossReport::from_wire(r).expect("valid"))
        .collect();
    assert_eq!(
        loss,
        failover(FailoverStep::Publish)
            .loss
            .into_iter()
            .collect::<Vec<_>>()
    );
    let request = FailoverRequest::from_wire(status.request.expect("present")).expect("valid");
    assert_eq!(request, failover(FailoverStep::Publish).request);

    let done = failover_status_to_wire(&failover(FailoverStep::Done), &facts);
    assert_eq!(done.progress.map(|p| p.namespaces_done), Some(1));
}
