//! The golden messages committed under proto/tests/fixtures/ (bytes published with each
//! message) convert to domain values: what peers really send is what io reads. Fixtures
//! that use wire features core cannot represent yet are refused naming that field.

use std::path::PathBuf;

use omnirelay_core::Instant;
use omnirelay_core::failover::{FailoverRequest, FailoverStep, LossReport};
use omnirelay_core::gossip::{GossipMessage, Status, Update};
use omnirelay_core::registry::{ClusterDescriptor, ClusterState, PlacementState, Versioned};
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion};
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::convert::gossip::{Arrival, GossipEnvelope, GossipScope};
use omnirelay_io::convert::registry::PlacementRecord;
use omnirelay_io::convert::replication::{EventBatch, ReplicationAck, ReplicationFrame};
use omnirelay_io::convert::{FieldDefect, FromWire};
use omnirelay_proto::v1;
use prost::Message;

fn fixture<M: Message + Default>(name: &str) -> M {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../proto/tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{name} does not decode: {e}"))
}

fn cid(s: &str) -> ClusterId {
    ClusterId::new(s).expect("valid")
}

#[test]
fn the_golden_event_batch_converts_to_core_events() {
    let batch = EventBatch::from_wire(fixture("event_batch.bin")).expect("converts");
    assert_eq!(batch.source_last_origin_seq, 99);
    let seqs: Vec<u64> = batch.events.iter().map(|e| e.origin_seq).collect();
    assert_eq!(seqs, vec![41, 42]);
    let first = &batch.events[0];
    assert_eq!(first.namespace.as_str(), "payments");
    assert_eq!(first.origin_cluster, cid("eu-west"));
    assert_eq!(first.failover_version, FailoverVersion(7));
    assert_eq!(first.key, b"acct/1");
    assert_eq!(first.payload, vec![0x00, 0xff, 0x10, 0x80]);
    assert_eq!(
        first.written_at,
        Instant::from_nanos(1_795_000_000_123_456_789)
    );
}

#[test]
fn the_golden_version_vector_and_replication_frames_convert() {
    let vv = ClusterVersionVector::from_wire(fixture("version_vector.bin")).expect("converts");
    assert_eq!(vv.to_string(), "eu-west=41,us-east=1000000007");

    let hello = ReplicationFrame::from_wire(fixture("replication_hello.bin")).expect("converts");
    assert!(
        matches!(hello, ReplicationFrame::Hello(h) if h.term == 17 && h.target_cluster == cid("us-east"))
    );

    let batch = ReplicationFrame::from_wire(fixture("replication_batch.bin")).expect("converts");
    assert!(
        matches!(batch, ReplicationFrame::Batch { batch_seq: 5, batch } if batch.events.len() == 1)
    );

    let ack = ReplicationAck::from_wire(fixture("replication_ack.bin"), &cid("eu-west"))
        .expect("converts");
    assert_eq!(ack.version_vector, vv);
    let resend = ack.resend.expect("the fixture asks for a resend");
    assert_eq!(
        (resend.origin, resend.from_seq, resend.source),
        (cid("eu-west"), 42, cid("eu-west"))
    );
}

#[test]
fn the_golden_gossip_messages_core_can_represent_convert() {
    let ack =
        GossipEnvelope::from_wire(fixture("gossip_ack.bin"), Arrival::Request).expect("converts");
    assert_eq!(ack.scope, GossipScope::Cluster(cid("eu-west")));
    let GossipMessage::Ack { seq: 1001, updates } = &ack.message else {
        panic!("an ack of probe 1001, got {:?}", ack.message);
    };
    assert!(
        matches!(&updates[..], [Update::Alive { incarnation: 3, meta, .. }]
        if meta.endpoints.len() == 2 && meta.protocols.min == 1 && meta.protocols.max == 2)
    );

    let nack =
        GossipEnvelope::from_wire(fixture("gossip_nack.bin"), Arrival::Request).expect("converts");
    assert_eq!(nack.message, GossipMessage::Nack { seq: 1002 });

    let push_pull = GossipEnvelope::from_wire(fixture("gossip_push_pull.bin"), Arrival::Request)
        .expect("converts");
    let GossipMessage::PushPull {
        join: true,
        members,
    } = &push_pull.message
    else {
        panic!("a joining push-pull, got {:?}", push_pull.message);
    };
    let statuses: Vec<Status> = members.iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![Status::Alive, Status::Dead]);

    let gossip = GossipEnvelope::from_wire(fixture("gossip_updates.bin"), Arrival::Request)
        .expect("converts");
    let GossipMessage::Gossip { updates } = &gossip.message else {
        panic!("pure gossip, got {:?}", gossip.message);
    };
    assert!(matches!(
        &updates[..],
        [
            Update::Alive { .. },
            Update::Suspect {
                from: NodeId(9),
                ..
            }
        ]
    ));
}

#[test]
fn the_golden_push_pull_answer_reads_as_an_answer_even_delivered_as_a_call() {
    let reply = GossipEnvelope::from_wire(fixture("gossip_push_pull_reply.bin"), Arrival::Request)
        .expect("converts");
    assert_eq!(reply.scope, GossipScope::Mesh);
    assert!(
        matches!(&reply.message, GossipMessage::PushPullReply { members } if members.len() == 1)
    );
}

#[test]
fn the_golden_gossip_messages_core_cannot_represent_are_refused_by_field() {
    let err = GossipEnvelope::from_wire(fixture("gossip_ping.bin"), Arrival::Request)
        .expect_err("on_behalf_of is set");
    assert_eq!(err.field, "Ping.on_behalf_of");
    let err = GossipEnvelope::from_wire(fixture("gossip_ping_req.bin"), Arrival::Request)
        .expect_err("it piggybacks updates");
    assert_eq!(err.field, "PingReq.updates");
}

#[test]
fn the_golden_registry_records_convert() {
    let d = Versioned::<ClusterDescriptor>::from_wire(fixture(
        "cluster_descriptor_initial_version.bin",
    ))
    .expect("converts");
    assert_eq!(d.value.state, ClusterState::Online);
    assert_eq!(d.value.initial_failover_version, 2);
    assert_eq!(d.value.change.ticket.as_deref(), Some("CHG-2211"));
    assert_eq!(
        d.value.endpoints,
        vec!["control.us-east.example:9443".to_owned()]
    );
    assert_eq!(d.version, 12);

    let p = PlacementRecord::from_wire(fixture("namespace_placement.bin")).expect("converts");
    assert_eq!(p.placement.value.state, PlacementState::Fenced);
    assert_eq!(p.placement.value.failover_version, FailoverVersion(7));
    assert!(p.auto_failover);
    // Written before ChangeMetadata.ticket: no ticket.
    assert_eq!(p.placement.value.change.ticket, None);
}

#[test]
fn a_golden_descriptor_from_before_the_initial_version_field_is_refused_by_name() {
    // Core cannot use a descriptor without its initial failover version, and guessing one
    // could mint versions that belong to another cluster.
    let err = Versioned::<ClusterDescriptor>::from_wire(fixture("cluster_descriptor.bin"))
        .expect_err("no initial failover version");
    assert_eq!(
        (err.field, err.defect),
        (
            "ClusterDescriptor.initial_failover_version",
            FieldDefect::Missing
        )
    );
}

#[test]
fn the_golden_failover_messages_convert_or_name_what_core_lacks() {
    // The fixture is a forced emergency dry run with a version guard: core runs neither a
    // dry run nor a guard yet, and must not run it as a real failover.
    let err = FailoverRequest::from_wire(fixture("failover_request.bin")).expect_err("dry run");
    assert_eq!(err.field, "FailoverRequest.dry_run");
    assert!(matches!(err.defect, FieldDefect::Unsupported(_)));

    let status: v1::FailoverStatus = fixture("failover_status.bin");
    assert_eq!(
        FailoverStep::from_wire(status.step),
        Ok(FailoverStep::RolledBack)
    );
    // Written before LossRange.old_failover_version: refused rather than guessed.
    let err = LossReport::from_wire(status.reported_loss[0].clone()).expect_err("no version");
    assert_eq!(
        (err.field, err.defect),
        ("LossRange.old_failover_version", FieldDefect::Missing)
    );

    let status: v1::FailoverStatus = fixture("failover_status_awaiting_approval.bin");
    assert_eq!(
        FailoverStep::from_wire(status.step),
        Ok(FailoverStep::AwaitingApproval)
    );
    let loss = LossReport::from_wire(status.reported_loss[0].clone()).expect("converts");
    assert_eq!(loss.old_failover_version, FailoverVersion(7));
    assert_eq!((loss.first_seq, loss.last_seq), (118, Some(120)));
    assert_eq!(loss.old_active, cid("eu-west"));
}
