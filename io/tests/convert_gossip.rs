//! Gossip conversions (io/src/convert/gossip.rs): every valid core SWIM message survives
//! domain -> wire -> bytes -> wire -> domain unchanged, and every kind of bad wire input is
//! a typed error naming its message and field (ARCHITECTURE.md, "Gossip"; gossip.proto).

use std::sync::Arc;

use omnirelay_core::gossip::{
    Endpoint, GossipMessage, MemberMeta, MemberRecord, MeshVersion, ProtocolRange, Role, Status,
    Update,
};
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::convert::gossip::{
    Arrival, GossipEnvelope, GossipScope, member_meta_from_wire, member_meta_to_wire,
};
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

fn node() -> impl Strategy<Value = NodeId> {
    (1..=u64::MAX).prop_map(NodeId)
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (
        prop::sample::select(vec![
            "gossip",
            "consensus",
            "replication",
            "grpc",
            "http",
            "control",
        ]),
        ".{0,24}",
    )
        .prop_map(|(name, address)| Endpoint {
            name: Arc::from(name),
            address: Arc::from(address.as_str()),
        })
}

fn meta() -> impl Strategy<Value = MemberMeta> {
    (
        prop::sample::select(vec![Role::Voter, Role::Learner, Role::Witness]),
        cluster(),
        ".{0,16}",
        any::<(u32, u32, u32)>(),
        proptest::collection::vec(endpoint(), 0..4),
        (any::<u32>(), 0..8u32),
    )
        .prop_map(
            |(role, cluster, region, (major, minor, patch), endpoints, (min, span))| MemberMeta {
                role,
                cluster,
                region: Arc::from(region.as_str()),
                mesh_version: MeshVersion {
                    major,
                    minor,
                    patch,
                },
                endpoints,
                protocols: ProtocolRange {
                    min: min.min(u32::MAX - span),
                    max: min.min(u32::MAX - span) + span,
                },
            },
        )
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        (node(), any::<u64>(), meta()).prop_map(|(member, incarnation, meta)| Update::Alive {
            member,
            incarnation,
            meta: Arc::new(meta),
        }),
        (node(), any::<u64>(), node()).prop_map(|(member, incarnation, from)| Update::Suspect {
            member,
            incarnation,
            from,
        }),
        (node(), any::<u64>(), node()).prop_map(|(member, incarnation, from)| Update::Dead {
            member,
            incarnation,
            from,
        }),
        (node(), any::<u64>()).prop_map(|(member, incarnation)| Update::Left {
            member,
            incarnation,
        }),
    ]
}

fn record() -> impl Strategy<Value = MemberRecord> {
    (
        node(),
        any::<u64>(),
        prop::sample::select(vec![
            Status::Alive,
            Status::Suspect,
            Status::Dead,
            Status::Left,
        ]),
        meta(),
    )
        .prop_map(|(member, incarnation, status, meta)| MemberRecord {
            member,
            incarnation,
            status,
            meta: Arc::new(meta),
        })
}

fn updates() -> impl Strategy<Value = Vec<Update>> {
    proptest::collection::vec(update(), 0..4)
}

fn records() -> impl Strategy<Value = Vec<MemberRecord>> {
    proptest::collection::vec(record(), 0..4)
}

/// Every core message; probe sequence numbers count from 1, as core numbers them.
fn message() -> impl Strategy<Value = GossipMessage> {
    let seq = 1..=u64::MAX;
    prop_oneof![
        (seq.clone(), node(), updates()).prop_map(|(seq, target, updates)| GossipMessage::Ping {
            seq,
            target,
            updates
        }),
        (seq.clone(), updates()).prop_map(|(seq, updates)| GossipMessage::Ack { seq, updates }),
        (seq.clone(), node()).prop_map(|(seq, target)| GossipMessage::PingReq { seq, target }),
        seq.prop_map(|seq| GossipMessage::Nack { seq }),
        updates().prop_map(|updates| GossipMessage::Gossip { updates }),
        (any::<bool>(), records())
            .prop_map(|(join, members)| GossipMessage::PushPull { join, members }),
        records().prop_map(|members| GossipMessage::PushPullReply { members }),
    ]
}

fn envelope() -> impl Strategy<Value = GossipEnvelope> {
    (
        node(),
        prop_oneof![
            cluster().prop_map(GossipScope::Cluster),
            Just(GossipScope::Mesh)
        ],
        message(),
    )
        .prop_map(|(sender, scope, message)| GossipEnvelope {
            sender,
            scope,
            message,
        })
}

fn arrival_of(envelope: &GossipEnvelope) -> Arrival {
    if envelope.travels_as_reply() {
        Arrival::Reply
    } else {
        Arrival::Request
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_member_meta_survives_the_wire_and_its_bytes_unchanged(id in node(), m in meta()) {
        let back = member_meta_from_wire(through_bytes(member_meta_to_wire(id, &m)));
        prop_assert_eq!(back, Ok((id, m)));
    }

    #[test]
    fn any_update_survives_the_wire_and_its_bytes_unchanged(u in update()) {
        prop_assert_eq!(Update::from_wire(through_bytes(u.to_wire())), Ok(u));
    }

    #[test]
    fn any_member_record_survives_the_wire_and_its_bytes_unchanged(r in record()) {
        prop_assert_eq!(MemberRecord::from_wire(through_bytes(r.to_wire())), Ok(r));
    }

    #[test]
    fn any_gossip_envelope_survives_the_wire_and_its_bytes_unchanged(e in envelope()) {
        let arrival = arrival_of(&e);
        let back = GossipEnvelope::from_wire(through_bytes(e.to_wire()), arrival);
        prop_assert_eq!(back, Ok(e));
    }

    #[test]
    fn a_push_pull_answer_never_reads_as_a_new_push_pull_wherever_it_arrives(
        members in records(),
        arrival in prop::sample::select(vec![Arrival::Request, Arrival::Reply]),
    ) {
        // Read as a request it would be answered again: ping-pong forever. The answer is
        // marked on the wire (gossip.proto, PushPull.reply), so even a transport that
        // delivers it as a call of its own cannot make a node answer it.
        let reply = GossipEnvelope {
            sender: NodeId(1),
            scope: GossipScope::Mesh,
            message: GossipMessage::PushPullReply { members },
        };
        prop_assert!(reply.travels_as_reply());
        let wire = through_bytes(reply.to_wire());
        let marked = matches!(
            &wire.body,
            Some(v1::gossip_envelope::Body::PushPull(v1::PushPull { reply: true, .. }))
        );
        prop_assert!(marked);
        let back = GossipEnvelope::from_wire(wire, arrival)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, reply);
    }
}

fn wire_meta() -> v1::MemberMeta {
    member_meta_to_wire(
        NodeId(4),
        &MemberMeta {
            role: Role::Voter,
            cluster: ClusterId::new("eu-west").expect("valid"),
            region: Arc::from("eu-west-1"),
            mesh_version: MeshVersion {
                major: 0,
                minor: 3,
                patch: 1,
            },
            endpoints: Vec::new(),
            protocols: ProtocolRange { min: 1, max: 2 },
        },
    )
}

fn wire_update(status: v1::MemberStatus) -> v1::MemberUpdate {
    v1::MemberUpdate {
        member: Some(wire_meta()),
        incarnation: 3,
        status: status as i32,
        reported_by: 9,
    }
}

fn meta_error(change: impl FnOnce(&mut v1::MemberMeta)) -> ConvertError {
    let mut meta = wire_meta();
    change(&mut meta);
    member_meta_from_wire(meta).expect_err("refused")
}

#[test]
fn an_unknown_member_status_number_is_named() {
    let err = Update::from_wire(v1::MemberUpdate {
        status: 7,
        ..wire_update(v1::MemberStatus::Alive)
    })
    .expect_err("refused");
    assert_eq!(err.to_string(), "MemberUpdate.status: unknown enum value 7");
}

#[test]
fn an_unspecified_member_status_is_refused() {
    let err = Update::from_wire(wire_update(v1::MemberStatus::Unspecified)).expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("MemberUpdate.status", FieldDefect::Unspecified)
    );
}

#[test]
fn an_update_without_its_member_is_missing_a_required_submessage() {
    let err = Update::from_wire(v1::MemberUpdate {
        member: None,
        ..wire_update(v1::MemberStatus::Suspect)
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("MemberUpdate.member", FieldDefect::Missing)
    );
}

#[test]
fn a_suspicion_without_a_suspecter_cannot_count_as_a_confirmation() {
    // Lifeguard §4.2 counts distinct suspecters; an unknown one would be a free vote.
    for status in [v1::MemberStatus::Suspect, v1::MemberStatus::Dead] {
        let err = Update::from_wire(v1::MemberUpdate {
            reported_by: 0,
            ..wire_update(status)
        })
        .expect_err("refused");
        assert_eq!(
            (err.field, err.defect),
            ("MemberUpdate.reported_by", FieldDefect::Missing)
        );
    }
}

#[test]
fn a_member_id_of_zero_is_missing() {
    let err = meta_error(|m| m.node_id = 0);
    assert_eq!(
        (err.field, err.defect),
        ("MemberMeta.node_id", FieldDefect::Missing)
    );
}

#[test]
fn an_alive_update_names_the_bad_field_inside_its_member() {
    let mut update = wire_update(v1::MemberStatus::Alive);
    if let Some(meta) = update.member.as_mut() {
        meta.role = v1::NodeRole::Unspecified as i32;
    }
    let err = Update::from_wire(update).expect_err("refused");
    assert_eq!(
        (err.field, &err.defect),
        ("MemberMeta.role", &FieldDefect::Unspecified)
    );
    assert_eq!(err.within, vec!["MemberUpdate.member".to_owned()]);
}

#[test]
fn unknown_roles_and_invalid_clusters_are_refused() {
    let err = meta_error(|m| m.role = 12);
    assert_eq!(err.defect, FieldDefect::UnknownEnumValue(12));
    // A witness outside any cluster has no core form yet.
    let err = meta_error(|m| m.cluster_id = String::new());
    assert_eq!(err.field, "MemberMeta.cluster_id");
    let err = meta_error(|m| m.cluster_id = "EU".to_owned());
    assert!(matches!(
        err.defect,
        FieldDefect::InvalidId {
            kind: "cluster",
            ..
        }
    ));
}

#[test]
fn a_mesh_version_that_is_not_three_numbers_is_malformed() {
    for bad in [
        "",
        "1.2",
        "1.2.3.4",
        "1.+2.3",
        "v1.2.3",
        "1.2.4294967296",
        "1..3",
    ] {
        let err = meta_error(|m| m.mesh_version = bad.to_owned());
        assert_eq!(err.field, "MemberMeta.mesh_version", "{bad:?}");
        assert!(matches!(err.defect, FieldDefect::Malformed(_)), "{bad:?}");
    }
}

#[test]
fn protocol_versions_must_be_a_non_empty_run_without_holes() {
    let err = meta_error(|m| m.protocol_versions = Vec::new());
    assert_eq!(err.defect, FieldDefect::Missing);
    for bad in [vec![1, 3], vec![2, 1], vec![1, 1], vec![u32::MAX, 0]] {
        let err = meta_error(|m| m.protocol_versions = bad.clone());
        assert_eq!(err.field, "MemberMeta.protocol_versions");
        assert!(matches!(err.defect, FieldDefect::Malformed(_)), "{bad:?}");
    }
}

#[test]
fn an_unknown_endpoint_kind_is_refused_and_an_unspecified_one_skipped() {
    let endpoint = |kind: i32| v1::Endpoint {
        kind,
        address: "10.0.0.1:1".to_owned(),
    };
    let err = meta_error(|m| m.endpoints = vec![endpoint(1), endpoint(99)]);
    assert_eq!(err.defect, FieldDefect::UnknownEnumValue(99));
    assert_eq!(err.within, vec!["MemberMeta.endpoints[1]".to_owned()]);

    let mut meta = wire_meta();
    meta.endpoints = vec![endpoint(0), endpoint(v1::EndpointKind::Http as i32)];
    let (_, meta) = member_meta_from_wire(meta).expect("valid");
    assert_eq!(meta.endpoints.len(), 1);
    assert_eq!(&*meta.endpoints[0].name, "http");
}

#[test]
fn an_endpoint_name_the_wire_has_no_kind_for_is_sent_unspecified() {
    let (id, mut meta) = member_meta_from_wire(wire_meta()).expect("valid");
    meta.endpoints = vec![Endpoint {
        name: Arc::from("pprof"),
        address: Arc::from("10.0.0.1:6060"),
    }];
    let wire = member_meta_to_wire(id, &meta);
    assert_eq!(wire.endpoints[0].kind, v1::EndpointKind::Unspecified as i32);
}

#[test]
fn the_control_endpoint_has_its_own_kind() {
    // endpoint.proto: ENDPOINT_KIND_CONTROL, so `control` no longer travels as UNSPECIFIED
    // (which readers skip) and no longer disappears on the way.
    let (id, mut meta) = member_meta_from_wire(wire_meta()).expect("valid");
    meta.endpoints = vec![Endpoint {
        name: Arc::from("control"),
        address: Arc::from("10.0.0.1:9443"),
    }];
    let wire = member_meta_to_wire(id, &meta);
    assert_eq!(wire.endpoints[0].kind, v1::EndpointKind::Control as i32);
    assert_eq!(member_meta_from_wire(wire), Ok((id, meta)));
}

fn wire_envelope(body: v1::gossip_envelope::Body) -> v1::GossipEnvelope {
    v1::GossipEnvelope {
        sender: 1,
        scope: v1::GossipScope::Cluster as i32,
        cluster_id: "eu-west".to_owned(),
        body: Some(body),
    }
}

fn nack() -> v1::gossip_envelope::Body {
    v1::gossip_envelope::Body::Nack(v1::Nack {
        probe_id: 5,
        target: 6,
    })
}

fn envelope_error(wire: v1::GossipEnvelope, arrival: Arrival) -> ConvertError {
    GossipEnvelope::from_wire(wire, arrival).expect_err("refused")
}

#[test]
fn an_envelope_without_sender_scope_or_body_is_refused() {
    let err = envelope_error(
        v1::GossipEnvelope {
            sender: 0,
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(
        (err.field, err.defect),
        ("GossipEnvelope.sender", FieldDefect::Missing)
    );
    let err = envelope_error(
        v1::GossipEnvelope {
            scope: 0,
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(
        (err.field, err.defect),
        ("GossipEnvelope.scope", FieldDefect::Unspecified)
    );
    let err = envelope_error(
        v1::GossipEnvelope {
            scope: 3,
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(err.defect, FieldDefect::UnknownEnumValue(3));
    let err = envelope_error(
        v1::GossipEnvelope {
            body: None,
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(
        (err.field, err.defect),
        ("GossipEnvelope.body", FieldDefect::Missing)
    );
}

#[test]
fn the_pool_and_the_cluster_label_must_agree() {
    let err = envelope_error(
        v1::GossipEnvelope {
            cluster_id: String::new(),
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(err.field, "GossipEnvelope.cluster_id");
    let err = envelope_error(
        v1::GossipEnvelope {
            scope: v1::GossipScope::Mesh as i32,
            ..wire_envelope(nack())
        },
        Arrival::Request,
    );
    assert_eq!(err.field, "GossipEnvelope.cluster_id");
    assert!(matches!(err.defect, FieldDefect::Malformed(_)));
}

#[test]
fn what_core_cannot_represent_is_refused_rather_than_half_read() {
    use v1::gossip_envelope::Body;
    let ping = Body::Ping(v1::Ping {
        probe_id: 1,
        target: 2,
        on_behalf_of: 3,
        updates: Vec::new(),
    });
    let err = envelope_error(wire_envelope(ping), Arrival::Request);
    assert_eq!(err.field, "Ping.on_behalf_of");
    assert!(matches!(err.defect, FieldDefect::Unsupported(_)));

    let ping_req = Body::PingReq(v1::PingReq {
        probe_id: 1,
        target: 2,
        updates: vec![wire_update(v1::MemberStatus::Alive)],
    });
    let err = envelope_error(wire_envelope(ping_req), Arrival::Request);
    assert_eq!(err.field, "PingReq.updates");
    assert!(matches!(err.defect, FieldDefect::Unsupported(_)));
}

#[test]
fn a_joining_push_pull_cannot_be_an_answer() {
    let push_pull = |reply| {
        v1::gossip_envelope::Body::PushPull(v1::PushPull {
            members: Vec::new(),
            join: true,
            reply,
        })
    };
    // Returned by an Exchange call (a peer before the mark), or marked as an answer.
    let err = envelope_error(wire_envelope(push_pull(false)), Arrival::Reply);
    assert_eq!(err.field, "PushPull.join");
    let err = envelope_error(wire_envelope(push_pull(true)), Arrival::Request);
    assert_eq!(err.field, "PushPull.join");
}

#[test]
fn an_unmarked_push_pull_returned_by_an_exchange_is_an_answer_from_an_older_peer() {
    // Peers before PushPull.reply marked answers only by returning them in GossipReplies.
    let body = v1::gossip_envelope::Body::PushPull(v1::PushPull {
        members: Vec::new(),
        join: false,
        reply: false,
    });
    let back =
        GossipEnvelope::from_wire(wire_envelope(body.clone()), Arrival::Reply).expect("valid");
    assert_eq!(
        back.message,
        GossipMessage::PushPullReply {
            members: Vec::new()
        }
    );
    let back = GossipEnvelope::from_wire(wire_envelope(body), Arrival::Request).expect("valid");
    assert_eq!(
        back.message,
        GossipMessage::PushPull {
            join: false,
            members: Vec::new()
        }
    );
}

#[test]
fn a_bad_piggybacked_update_names_its_position() {
    let body = v1::gossip_envelope::Body::Ack(v1::Ack {
        probe_id: 4,
        target: 0,
        updates: vec![
            wire_update(v1::MemberStatus::Alive),
            v1::MemberUpdate {
                status: 9,
                ..wire_update(v1::MemberStatus::Alive)
            },
        ],
    });
    let err = envelope_error(wire_envelope(body), Arrival::Request);
    assert_eq!(err.field, "MemberUpdate.status");
    assert_eq!(err.within, vec!["Ack.updates[1]".to_owned()]);
}

#[test]
fn pure_gossip_travels_in_its_own_body_not_as_an_ack() {
    let gossip = GossipEnvelope {
        sender: NodeId(1),
        scope: GossipScope::Mesh,
        message: GossipMessage::Gossip {
            updates: vec![Update::Left {
                member: NodeId(5),
                incarnation: 2,
            }],
        },
    };
    let wire = gossip.to_wire();
    assert!(matches!(
        &wire.body,
        Some(v1::gossip_envelope::Body::Gossip(g)) if g.updates.len() == 1
    ));
    assert_eq!(
        GossipEnvelope::from_wire(wire, Arrival::Request),
        Ok(gossip)
    );
}

#[test]
fn an_ack_of_probe_zero_is_an_ack_and_keeps_its_updates() {
    // Peers before the `gossip` arm sent pure gossip this way. It now reads as what it
    // says; core applies an ack's updates before matching its probe, so none are lost.
    let body = v1::gossip_envelope::Body::Ack(v1::Ack {
        probe_id: 0,
        target: 0,
        updates: vec![wire_update(v1::MemberStatus::Alive)],
    });
    let back = GossipEnvelope::from_wire(wire_envelope(body), Arrival::Request).expect("valid");
    assert!(matches!(
        back.message,
        GossipMessage::Ack { seq: 0, ref updates } if updates.len() == 1
    ));
}

#[test]
fn a_bad_update_in_pure_gossip_names_its_position() {
    let body = v1::gossip_envelope::Body::Gossip(v1::GossipUpdates {
        updates: vec![v1::MemberUpdate {
            status: 9,
            ..wire_update(v1::MemberStatus::Alive)
        }],
    });
    let err = envelope_error(wire_envelope(body), Arrival::Request);
    assert_eq!(err.field, "MemberUpdate.status");
    assert_eq!(err.within, vec!["GossipUpdates.updates[0]".to_owned()]);
}
