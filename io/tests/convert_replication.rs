//! Replication conversions (io/src/convert/replication.rs): every valid domain value
//! survives domain -> wire -> bytes -> wire -> domain unchanged, and every kind of bad wire
//! input is a typed error naming its message and field (ARCHITECTURE.md, "Replication
//! between clusters"; replication.proto, event.proto, version_vector.proto).

use std::collections::BTreeMap;

use omnirelay_core::replication::{ClusterVersionVector, Event, FailoverVersion, ResendRequest};
use omnirelay_core::{ClusterId, Instant, NamespaceId, NodeId};
use omnirelay_io::convert::replication::{
    EventBatch, ReplicationAck, ReplicationFrame, ReplicationHello, resend_request_from_wire,
};
use omnirelay_io::convert::{ConvertError, FieldDefect, FromWire, ToWire};
use omnirelay_proto::v1;
use proptest::prelude::*;
use prost::Message;

/// Encodes and decodes with prost, as the transport does.
fn through_bytes<M: Message + Default>(wire: M) -> M {
    M::decode(wire.encode_to_vec().as_slice()).expect("prost decodes what it encoded")
}

fn round_trip<T>(value: &T) -> Result<T, ConvertError>
where
    T: ToWire + FromWire<Wire = <T as ToWire>::Wire>,
    <T as ToWire>::Wire: Message + Default,
{
    T::from_wire(through_bytes(value.to_wire()))
}

const NAME: &str = "[a-z0-9._-]{1,63}";

fn cluster() -> impl Strategy<Value = ClusterId> {
    NAME.prop_map(|s| ClusterId::new(&s).expect("the pattern only makes valid ids"))
}

fn namespace() -> impl Strategy<Value = NamespaceId> {
    NAME.prop_map(|s| NamespaceId::new(&s).expect("the pattern only makes valid ids"))
}

fn event() -> impl Strategy<Value = Event> {
    (
        namespace(),
        cluster(),
        1..=u64::MAX,
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..24),
        proptest::collection::vec(any::<u8>(), 0..64),
        0..=i64::MAX as u64,
    )
        .prop_map(
            |(namespace, origin_cluster, origin_seq, fv, key, payload, at)| Event {
                namespace,
                origin_cluster,
                origin_seq,
                failover_version: FailoverVersion(fv),
                key,
                payload,
                written_at: Instant::from_nanos(at),
            },
        )
}

fn version_vector() -> impl Strategy<Value = ClusterVersionVector> {
    proptest::collection::btree_map(cluster(), any::<u64>(), 0..6).prop_map(
        |entries: BTreeMap<ClusterId, u64>| {
            let mut vv = ClusterVersionVector::new();
            for (origin, seq) in &entries {
                vv.set(origin, *seq);
            }
            vv
        },
    )
}

fn batch() -> impl Strategy<Value = EventBatch> {
    (proptest::collection::vec(event(), 0..6), any::<u64>()).prop_map(
        |(events, source_last_origin_seq)| EventBatch {
            events,
            source_last_origin_seq,
        },
    )
}

fn resend(source: ClusterId) -> impl Strategy<Value = ResendRequest> {
    (cluster(), 1..=u64::MAX).prop_map(move |(origin, from_seq)| ResendRequest {
        origin,
        from_seq,
        source: source.clone(),
    })
}

fn hello() -> impl Strategy<Value = ReplicationHello> {
    (
        cluster(),
        1..=u64::MAX,
        any::<u64>(),
        1..=u32::MAX,
        cluster(),
    )
        .prop_map(
            |(source_cluster, leader, term, protocol_version, target_cluster)| ReplicationHello {
                source_cluster,
                source_leader: NodeId(leader),
                term,
                protocol_version,
                target_cluster,
            },
        )
}

fn frame() -> impl Strategy<Value = ReplicationFrame> {
    prop_oneof![
        hello().prop_map(ReplicationFrame::Hello),
        (1..=u64::MAX, batch())
            .prop_map(|(batch_seq, batch)| ReplicationFrame::Batch { batch_seq, batch }),
    ]
}

fn source() -> ClusterId {
    ClusterId::new("eu-west").expect("valid")
}

fn ack() -> impl Strategy<Value = ReplicationAck> {
    (
        cluster(),
        any::<u64>(),
        version_vector(),
        proptest::option::of(resend(source())),
        any::<u64>(),
    )
        .prop_map(
            |(receiver_cluster, acked_batch_seq, version_vector, resend, receiver_term)| {
                ReplicationAck {
                    receiver_cluster,
                    acked_batch_seq,
                    version_vector,
                    resend,
                    receiver_term,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_event_survives_the_wire_and_its_bytes_unchanged(e in event()) {
        prop_assert_eq!(round_trip(&e), Ok(e));
    }

    #[test]
    fn any_event_batch_survives_the_wire_and_its_bytes_unchanged(b in batch()) {
        prop_assert_eq!(round_trip(&b), Ok(b));
    }

    #[test]
    fn moving_a_batch_to_the_wire_equals_copying_it(b in batch()) {
        prop_assert_eq!(b.clone().into_wire(), b.to_wire());
    }

    #[test]
    fn any_version_vector_survives_the_wire_and_its_bytes_unchanged(vv in version_vector()) {
        prop_assert_eq!(round_trip(&vv), Ok(vv));
    }

    #[test]
    fn version_vectors_are_written_sorted_without_zero_entries(vv in version_vector()) {
        // version_vector.proto: writers emit entries sorted by origin, each at most once.
        let wire = vv.to_wire();
        let origins: Vec<&str> = wire.entries.iter().map(|e| e.origin_cluster.as_str()).collect();
        let mut sorted = origins.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(&origins, &sorted);
        prop_assert!(wire.entries.iter().all(|e| e.applied_origin_seq > 0));
    }

    #[test]
    fn a_version_vector_read_in_any_order_equals_the_sorted_one(vv in version_vector()) {
        let mut wire = vv.to_wire();
        wire.entries.reverse();
        wire.entries.push(v1::VersionVectorEntry {
            origin_cluster: "zero-entry".to_owned(),
            applied_origin_seq: 0,
        });
        prop_assert_eq!(ClusterVersionVector::from_wire(wire), Ok(vv));
    }

    #[test]
    fn any_resend_request_survives_the_wire_and_its_bytes_unchanged(r in resend(source())) {
        let back = resend_request_from_wire(through_bytes(r.to_wire()), &source());
        prop_assert_eq!(back, Ok(r));
    }

    #[test]
    fn any_replication_frame_survives_the_wire_and_its_bytes_unchanged(f in frame()) {
        prop_assert_eq!(round_trip(&f), Ok(f));
    }

    #[test]
    fn any_replication_ack_survives_the_wire_and_its_bytes_unchanged(a in ack()) {
        let back = ReplicationAck::from_wire(through_bytes(a.to_wire()), &source());
        prop_assert_eq!(back, Ok(a));
    }
}

fn wire_event() -> v1::Event {
    v1::Event {
        namespace: "orders".to_owned(),
        origin_cluster: "us-east".to_owned(),
        origin_seq: 7,
        failover_version: 3,
        key: b"k".to_vec(),
        payload: b"v".to_vec(),
        written_at_unix_nanos: 1_795_000_000_000_000_000,
    }
}

#[test]
fn written_at_keeps_unix_nanoseconds_unchanged() {
    let event = Event::from_wire(wire_event()).expect("valid");
    assert_eq!(
        event.written_at,
        Instant::from_nanos(1_795_000_000_000_000_000)
    );
}

#[test]
fn an_invalid_origin_cluster_is_named_with_its_text() {
    let err = Event::from_wire(v1::Event {
        origin_cluster: "US EAST".to_owned(),
        ..wire_event()
    })
    .expect_err("refused");
    assert_eq!(err.field, "Event.origin_cluster");
    assert!(matches!(
        err.defect,
        FieldDefect::InvalidId {
            kind: "cluster",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        r#"Event.origin_cluster: "US EAST" is not a valid cluster id"#
    );
}

#[test]
fn an_invalid_or_empty_namespace_is_refused() {
    for bad in ["", "Orders", "a/b"] {
        let err = Event::from_wire(v1::Event {
            namespace: bad.to_owned(),
            ..wire_event()
        })
        .expect_err("refused");
        assert_eq!(err.field, "Event.namespace", "{bad:?}");
        assert!(matches!(
            err.defect,
            FieldDefect::InvalidId {
                kind: "namespace",
                ..
            }
        ));
    }
}

#[test]
fn origin_seq_zero_is_out_of_range() {
    let err = Event::from_wire(v1::Event {
        origin_seq: 0,
        ..wire_event()
    })
    .expect_err("refused");
    assert_eq!(err.field, "Event.origin_seq");
    assert!(matches!(err.defect, FieldDefect::OutOfRange { .. }));
}

#[test]
fn a_write_before_the_unix_epoch_is_out_of_range() {
    let err = Event::from_wire(v1::Event {
        written_at_unix_nanos: -1,
        ..wire_event()
    })
    .expect_err("refused");
    assert_eq!(err.field, "Event.written_at_unix_nanos");
    assert!(matches!(err.defect, FieldDefect::OutOfRange { .. }));
}

#[test]
fn an_instant_past_the_signed_range_saturates_instead_of_wrapping_negative() {
    let event = Event::from_wire(wire_event()).expect("valid");
    let late = Event {
        written_at: Instant::from_nanos(u64::MAX),
        ..event
    };
    assert_eq!(late.to_wire().written_at_unix_nanos, i64::MAX);
}

#[test]
fn a_bad_event_in_a_batch_names_its_position() {
    let err = EventBatch::from_wire(v1::EventBatch {
        events: vec![
            wire_event(),
            v1::Event {
                origin_cluster: "US EAST".to_owned(),
                ..wire_event()
            },
        ],
        source_last_origin_seq: 9,
    })
    .expect_err("refused");
    assert_eq!(err.field, "Event.origin_cluster");
    assert_eq!(err.within, vec!["EventBatch.events[1]".to_owned()]);
    assert!(err.to_string().ends_with("(in EventBatch.events[1])"));
}

#[test]
fn an_origin_listed_twice_in_a_version_vector_is_refused() {
    let entry = |seq| v1::VersionVectorEntry {
        origin_cluster: "us-east".to_owned(),
        applied_origin_seq: seq,
    };
    let err = ClusterVersionVector::from_wire(v1::ClusterVersionVector {
        entries: vec![entry(3), entry(5)],
    })
    .expect_err("refused");
    assert_eq!(err.field, "ClusterVersionVector.entries");
    assert_eq!(err.defect, FieldDefect::Duplicate("us-east".to_owned()));
}

#[test]
fn an_invalid_origin_in_a_version_vector_names_its_entry() {
    let err = ClusterVersionVector::from_wire(v1::ClusterVersionVector {
        entries: vec![v1::VersionVectorEntry {
            origin_cluster: "a=b".to_owned(),
            applied_origin_seq: 1,
        }],
    })
    .expect_err("refused");
    assert_eq!(err.field, "VersionVectorEntry.origin_cluster");
    assert_eq!(
        err.within,
        vec!["ClusterVersionVector.entries[0]".to_owned()]
    );
}

fn wire_ack() -> v1::ReplicationAck {
    v1::ReplicationAck {
        receiver_cluster: "us-east".to_owned(),
        acked_batch_seq: 4,
        version_vector: Some(v1::ClusterVersionVector::default()),
        resend: None,
        receiver_term: 2,
    }
}

#[test]
fn an_ack_without_a_version_vector_is_missing_a_required_submessage() {
    let err = ReplicationAck::from_wire(
        v1::ReplicationAck {
            version_vector: None,
            ..wire_ack()
        },
        &source(),
    )
    .expect_err("refused");
    assert_eq!(err.field, "ReplicationAck.version_vector");
    assert_eq!(err.defect, FieldDefect::Missing);
}

#[test]
fn a_resend_from_zero_is_out_of_range_and_names_the_ack() {
    let err = ReplicationAck::from_wire(
        v1::ReplicationAck {
            resend: Some(v1::ResendRequest {
                origin_cluster: "eu-west".to_owned(),
                from_origin_seq: 0,
            }),
            ..wire_ack()
        },
        &source(),
    )
    .expect_err("refused");
    assert_eq!(err.field, "ResendRequest.from_origin_seq");
    assert_eq!(err.within, vec!["ReplicationAck.resend".to_owned()]);
}

#[test]
fn a_resend_request_is_addressed_to_the_stream_source() {
    let request = resend_request_from_wire(
        v1::ResendRequest {
            origin_cluster: "ap-south".to_owned(),
            from_origin_seq: 12,
        },
        &source(),
    )
    .expect("valid");
    assert_eq!(request.source, source());
    assert_eq!(request.origin.as_str(), "ap-south");
}

#[test]
fn a_frame_without_a_body_is_missing_its_oneof() {
    let err =
        ReplicationFrame::from_wire(v1::ReplicationFrame { body: None }).expect_err("refused");
    assert_eq!(err.field, "ReplicationFrame.body");
    assert_eq!(err.defect, FieldDefect::Missing);
}

#[test]
fn a_batch_frame_without_events_or_numbered_zero_is_refused() {
    let frame = |batch_seq, events| v1::ReplicationFrame {
        body: Some(v1::replication_frame::Body::Batch(v1::ReplicationBatch {
            batch_seq,
            events,
        })),
    };
    let err = ReplicationFrame::from_wire(frame(1, None)).expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("ReplicationBatch.events", FieldDefect::Missing)
    );
    let err = ReplicationFrame::from_wire(frame(0, Some(v1::EventBatch::default())))
        .expect_err("refused");
    assert_eq!(err.field, "ReplicationBatch.batch_seq");
    assert!(matches!(err.defect, FieldDefect::OutOfRange { .. }));
}

#[test]
fn a_hello_without_leader_or_protocol_version_is_refused() {
    let hello = v1::ReplicationHello {
        source_cluster: "eu-west".to_owned(),
        source_leader: 2,
        term: 17,
        protocol_version: 1,
        target_cluster: "us-east".to_owned(),
    };
    let err = ReplicationHello::from_wire(v1::ReplicationHello {
        source_leader: 0,
        ..hello.clone()
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("ReplicationHello.source_leader", FieldDefect::Missing)
    );
    let err = ReplicationHello::from_wire(v1::ReplicationHello {
        protocol_version: 0,
        ..hello.clone()
    })
    .expect_err("refused");
    assert_eq!(err.field, "ReplicationHello.protocol_version");
    let err = ReplicationHello::from_wire(v1::ReplicationHello {
        target_cluster: String::new(),
        ..hello
    })
    .expect_err("refused");
    assert_eq!(err.field, "ReplicationHello.target_cluster");
}
