//! Registry conversions (io/src/convert/registry.rs): every valid cluster descriptor and
//! namespace placement survives domain -> wire -> bytes -> wire -> domain unchanged,
//! change tickets and initial failover versions included; bad wire input is a typed error
//! naming its message and field (ARCHITECTURE.md, "Registry"; registry.proto).

use omnirelay_core::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, NamespacePlacement, PlacementState, Versioned,
};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_io::convert::registry::PlacementRecord;
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

/// An empty ticket is no ticket (proto3 cannot tell them apart): generated as `None`.
fn change() -> impl Strategy<Value = ChangeMetadata> {
    (".{0,12}", proptest::option::of(".{1,12}"), ".{0,24}").prop_map(
        |(changed_by, ticket, reason)| ChangeMetadata {
            changed_by,
            ticket,
            reason,
        },
    )
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(".{1,20}", 0..3)
}

fn descriptor() -> impl Strategy<Value = Versioned<ClusterDescriptor>> {
    (
        (cluster(), ".{1,12}", any::<u32>()),
        prop::sample::select(vec![
            ClusterState::Online,
            ClusterState::Draining,
            ClusterState::Fenced,
            ClusterState::Offline,
        ]),
        (texts(), texts(), texts()),
        (1..100u64, change(), any::<u64>()),
    )
        .prop_map(
            |(
                (id, region, priority),
                state,
                (endpoints, replication_endpoints, owners),
                (initial_failover_version, change, version),
            )| Versioned {
                value: ClusterDescriptor {
                    id,
                    region,
                    priority,
                    state,
                    endpoints,
                    replication_endpoints,
                    owners,
                    initial_failover_version,
                    change,
                },
                version,
            },
        )
}

fn placement() -> impl Strategy<Value = PlacementRecord> {
    (
        namespace(),
        cluster(),
        any::<u64>(),
        prop::sample::select(vec![
            PlacementState::Active,
            PlacementState::Draining,
            PlacementState::Fenced,
        ]),
        change(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(namespace, active_cluster, fv, state, change, version, auto_failover)| {
                PlacementRecord {
                    placement: Versioned {
                        value: NamespacePlacement {
                            namespace,
                            active_cluster,
                            failover_version: FailoverVersion(fv),
                            state,
                            change,
                        },
                        version,
                    },
                    auto_failover,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_cluster_descriptor_survives_the_wire_and_its_bytes_unchanged(d in descriptor()) {
        let back = Versioned::<ClusterDescriptor>::from_wire(through_bytes(d.to_wire()));
        prop_assert_eq!(back, Ok(d));
    }

    #[test]
    fn the_record_version_travels_as_the_change_version(d in descriptor()) {
        // registry.proto: every change is a CAS on ChangeMetadata.version.
        let wire = d.to_wire();
        prop_assert_eq!(wire.change.map(|c| c.version), Some(d.version));
    }

    #[test]
    fn any_namespace_placement_survives_the_wire_and_its_bytes_unchanged(p in placement()) {
        prop_assert_eq!(PlacementRecord::from_wire(through_bytes(p.to_wire())), Ok(p));
    }
}

fn wire_descriptor() -> v1::ClusterDescriptor {
    v1::ClusterDescriptor {
        cluster_id: "eu-west".to_owned(),
        region: "eu-west-1".to_owned(),
        priority: 10,
        state: v1::ClusterState::Online as i32,
        endpoints: Vec::new(),
        replication_endpoints: vec!["10.0.0.1:7070".to_owned()],
        owners: vec!["team-a".to_owned()],
        change: Some(v1::ChangeMetadata {
            version: 3,
            changed_by: "alice".to_owned(),
            changed_at_unix_nanos: 5,
            reason: "rebalance".to_owned(),
            ticket: "CHG-1".to_owned(),
        }),
        initial_failover_version: 2,
    }
}

fn descriptor_from_wire(
    wire: v1::ClusterDescriptor,
) -> Result<Versioned<ClusterDescriptor>, ConvertError> {
    Versioned::<ClusterDescriptor>::from_wire(wire)
}

fn wire_placement() -> v1::NamespacePlacement {
    v1::NamespacePlacement {
        namespace: "orders".to_owned(),
        active_cluster: "eu-west".to_owned(),
        failover_version: 101,
        state: v1::NamespaceState::Active as i32,
        auto_failover: true,
        change: Some(v1::ChangeMetadata::default()),
    }
}

#[test]
fn a_descriptor_state_must_be_known_and_specified() {
    for (state, defect) in [
        (0, FieldDefect::Unspecified),
        (9, FieldDefect::UnknownEnumValue(9)),
    ] {
        let err = descriptor_from_wire(v1::ClusterDescriptor {
            state,
            ..wire_descriptor()
        })
        .expect_err("refused");
        assert_eq!((err.field, err.defect), ("ClusterDescriptor.state", defect));
    }
}

#[test]
fn a_descriptor_with_an_invalid_id_or_no_change_metadata_is_refused() {
    let err = descriptor_from_wire(v1::ClusterDescriptor {
        cluster_id: "EU WEST".to_owned(),
        ..wire_descriptor()
    })
    .expect_err("refused");
    assert_eq!(
        err.to_string(),
        r#"ClusterDescriptor.cluster_id: "EU WEST" is not a valid cluster id"#
    );
    let err = descriptor_from_wire(v1::ClusterDescriptor {
        change: None,
        ..wire_descriptor()
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("ClusterDescriptor.change", FieldDefect::Missing)
    );
}

#[test]
fn descriptor_endpoints_keep_known_kinds_skip_unspecified_and_refuse_unknown() {
    let endpoint = |kind: i32, address: &str| v1::Endpoint {
        kind,
        address: address.to_owned(),
    };
    let d = descriptor_from_wire(v1::ClusterDescriptor {
        endpoints: vec![
            endpoint(v1::EndpointKind::ClientGrpc as i32, "a:1"),
            endpoint(0, "ignored:2"),
            endpoint(v1::EndpointKind::Http as i32, "b:3"),
        ],
        ..wire_descriptor()
    })
    .expect("valid");
    assert_eq!(d.value.endpoints, vec!["a:1".to_owned(), "b:3".to_owned()]);

    let err = descriptor_from_wire(v1::ClusterDescriptor {
        endpoints: vec![endpoint(42, "c:4")],
        ..wire_descriptor()
    })
    .expect_err("refused");
    assert_eq!(err.defect, FieldDefect::UnknownEnumValue(42));
    assert_eq!(
        err.within,
        vec!["ClusterDescriptor.endpoints[0]".to_owned()]
    );
}

#[test]
fn the_initial_failover_version_and_the_ticket_come_from_the_wire() {
    let d = descriptor_from_wire(wire_descriptor()).expect("valid");
    assert_eq!(d.value.initial_failover_version, 2);
    assert_eq!(d.value.change.ticket.as_deref(), Some("CHG-1"));
    assert_eq!(d.value.change.reason, "rebalance");
    assert_eq!(d.version, 3);
}

#[test]
fn a_descriptor_without_an_initial_failover_version_is_refused_not_guessed() {
    // Core's scheme hands out initial versions in 1..increment (Temporal's scheme): 0 means
    // a writer from before the field, and a guessed version could mint another cluster's.
    let err = descriptor_from_wire(v1::ClusterDescriptor {
        initial_failover_version: 0,
        ..wire_descriptor()
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        (
            "ClusterDescriptor.initial_failover_version",
            FieldDefect::Missing
        )
    );
}

#[test]
fn an_empty_ticket_reads_as_no_ticket() {
    let mut wire = wire_descriptor();
    if let Some(change) = wire.change.as_mut() {
        change.ticket = String::new();
    }
    let d = descriptor_from_wire(wire).expect("valid");
    assert_eq!(d.value.change.ticket, None);
    let placement = PlacementRecord::from_wire(wire_placement()).expect("valid");
    assert_eq!(placement.placement.value.change.ticket, None);
}

#[test]
fn a_placement_state_must_be_known_and_specified() {
    for (state, defect) in [
        (0, FieldDefect::Unspecified),
        (4, FieldDefect::UnknownEnumValue(4)),
    ] {
        let err = PlacementRecord::from_wire(v1::NamespacePlacement {
            state,
            ..wire_placement()
        })
        .expect_err("refused");
        assert_eq!(
            (err.field, err.defect),
            ("NamespacePlacement.state", defect)
        );
    }
}

#[test]
fn a_placement_with_invalid_names_or_no_change_metadata_is_refused() {
    let err = PlacementRecord::from_wire(v1::NamespacePlacement {
        namespace: String::new(),
        ..wire_placement()
    })
    .expect_err("refused");
    assert_eq!(err.field, "NamespacePlacement.namespace");
    let err = PlacementRecord::from_wire(v1::NamespacePlacement {
        active_cluster: "x y".to_owned(),
        ..wire_placement()
    })
    .expect_err("refused");
    assert_eq!(err.field, "NamespacePlacement.active_cluster");
    let err = PlacementRecord::from_wire(v1::NamespacePlacement {
        change: None,
        ..wire_placement()
    })
    .expect_err("refused");
    assert_eq!(
        (err.field, err.defect),
        ("NamespacePlacement.change", FieldDefect::Missing)
    );
}
