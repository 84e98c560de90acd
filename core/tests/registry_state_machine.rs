//! The registry state machine (ARCHITECTURE.md, "Registry"): compare-and-set on every
//! change, failover versions unique per cluster, refusals that change nothing.

use omnirelay_core::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, Expect, FailoverVersionScheme, PlacementState,
    Registry, RegistryChange, RegistryCommand, RegistryError,
};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::{ClusterId, NamespaceId};
use proptest::prelude::*;

fn cid(s: &str) -> ClusterId {
    ClusterId::new(s).unwrap()
}

fn ns(s: &str) -> NamespaceId {
    NamespaceId::new(s).unwrap()
}

fn descriptor(id: &str, initial: u64) -> ClusterDescriptor {
    ClusterDescriptor {
        id: cid(id),
        region: format!("region-{id}"),
        priority: 10,
        state: ClusterState::Online,
        endpoints: vec![format!("{id}.example:7000")],
        replication_endpoints: vec![format!("{id}.example:7001")],
        owners: vec!["team-storage".into()],
        initial_failover_version: initial,
        change: ChangeMetadata::default(),
    }
}

/// Three online clusters a (initial 1), b (2), c (3) and namespace `orders` active on a.
fn mesh() -> Registry {
    let mut r = Registry::new(FailoverVersionScheme::new(10).unwrap());
    for (id, initial) in [("a", 1), ("b", 2), ("c", 3)] {
        r.apply(RegistryCommand::PutCluster {
            descriptor: descriptor(id, initial),
            expect: Expect::Absent,
        })
        .unwrap();
    }
    r.apply(RegistryCommand::CreateNamespace {
        namespace: ns("orders"),
        active_cluster: cid("a"),
        change: ChangeMetadata::default(),
    })
    .unwrap();
    r
}

fn promote(r: &Registry, to: &str, cutoff: Option<u64>) -> RegistryCommand {
    RegistryCommand::Promote {
        namespace: ns("orders"),
        to: cid(to),
        expect: r.placement(&ns("orders")).unwrap().version,
        superseded_cutoff: cutoff,
        change: ChangeMetadata::default(),
    }
}

/// Applies a command that must be refused and checks that nothing changed.
fn refused(r: &mut Registry, command: RegistryCommand) -> RegistryError {
    let before = r.clone();
    let err = r.apply(command).unwrap_err();
    assert_eq!(*r, before, "a refused command changed the registry");
    err
}

#[test]
fn a_new_namespace_gets_its_clusters_first_failover_version() {
    let r = mesh();
    let p = &r.placement(&ns("orders")).unwrap().value;
    assert_eq!(
        (p.active_cluster.clone(), p.failover_version),
        (cid("a"), FailoverVersion(1))
    );
    assert_eq!(p.state, PlacementState::Active);
    assert_eq!(r.history(&ns("orders")).len(), 1);
}

#[test]
fn promotion_raises_the_failover_version_to_one_the_target_owns() {
    let mut r = mesh();
    let change = r.apply(promote(&r, "c", None)).unwrap();
    let RegistryChange::PlacementChanged {
        placement,
        previous_active,
    } = change
    else {
        panic!("expected a placement change, got {change:?}");
    };
    assert_eq!(previous_active, Some(cid("a")));
    assert_eq!(placement.failover_version, FailoverVersion(3));
    r.apply(promote(&r, "a", None)).unwrap();
    assert_eq!(
        r.placement(&ns("orders")).unwrap().value.failover_version,
        FailoverVersion(11)
    );
    assert_eq!(r.cluster_of_version(FailoverVersion(11)), Some(&cid("a")));
}

#[test]
fn a_stale_compare_and_set_is_refused_and_changes_nothing() {
    let mut r = mesh();
    let first = promote(&r, "b", None);
    let racing = promote(&r, "c", None);
    r.apply(first).unwrap();
    let err = refused(&mut r, racing);
    assert!(
        matches!(err, RegistryError::VersionMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        r.placement(&ns("orders")).unwrap().value.active_cluster,
        cid("b")
    );
}

#[test]
fn creating_an_existing_cluster_is_a_version_mismatch() {
    let mut r = mesh();
    let err = refused(
        &mut r,
        RegistryCommand::PutCluster {
            descriptor: descriptor("a", 1),
            expect: Expect::Absent,
        },
    );
    assert!(
        matches!(
            err,
            RegistryError::VersionMismatch {
                actual: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn promotion_to_an_offline_unknown_or_current_cluster_is_refused() {
    let mut r = mesh();
    let mut offline = descriptor("b", 2);
    offline.state = ClusterState::Offline;
    let version = r.cluster(&cid("b")).unwrap().version;
    r.apply(RegistryCommand::PutCluster {
        descriptor: offline,
        expect: Expect::Version(version),
    })
    .unwrap();
    let to_b = promote(&r, "b", None);
    assert!(matches!(
        refused(&mut r, to_b),
        RegistryError::ClusterNotOnline { .. }
    ));
    let to_a = promote(&r, "a", None);
    assert!(matches!(
        refused(&mut r, to_a),
        RegistryError::AlreadyActive { .. }
    ));
    let mut to_z = promote(&r, "a", None);
    if let RegistryCommand::Promote { to, .. } = &mut to_z {
        *to = cid("z");
    }
    assert!(matches!(
        refused(&mut r, to_z),
        RegistryError::UnknownCluster(_)
    ));
}

#[test]
fn initial_failover_versions_are_unique_valid_and_immutable() {
    let mut r = mesh();
    let dup = refused(
        &mut r,
        RegistryCommand::PutCluster {
            descriptor: descriptor("d", 2),
            expect: Expect::Absent,
        },
    );
    assert!(matches!(
        dup,
        RegistryError::DuplicateInitialVersion { initial: 2, .. }
    ));
    let out_of_range = refused(
        &mut r,
        RegistryCommand::PutCluster {
            descriptor: descriptor("d", 10),
            expect: Expect::Absent,
        },
    );
    assert!(matches!(
        out_of_range,
        RegistryError::BadInitialVersion { .. }
    ));
    let version = r.cluster(&cid("a")).unwrap().version;
    let changed = refused(
        &mut r,
        RegistryCommand::PutCluster {
            descriptor: descriptor("a", 4),
            expect: Expect::Version(version),
        },
    );
    assert!(matches!(
        changed,
        RegistryError::ImmutableInitialVersion { .. }
    ));
}

#[test]
fn a_cluster_active_for_a_namespace_cannot_be_removed() {
    let mut r = mesh();
    let version = r.cluster(&cid("a")).unwrap().version;
    let err = refused(
        &mut r,
        RegistryCommand::RemoveCluster {
            id: cid("a"),
            expect: version,
            change: ChangeMetadata::default(),
        },
    );
    assert!(matches!(err, RegistryError::ClusterInUse { .. }), "{err}");
    let version = r.cluster(&cid("c")).unwrap().version;
    r.apply(RegistryCommand::RemoveCluster {
        id: cid("c"),
        expect: version,
        change: ChangeMetadata::default(),
    })
    .unwrap();
    assert!(r.cluster(&cid("c")).is_none());
}

#[test]
fn an_emergency_promotion_records_its_cutoff_in_the_history() {
    let mut r = mesh();
    r.apply(promote(&r, "b", Some(41))).unwrap();
    let history = r.history(&ns("orders"));
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].superseded_cutoff, Some(41));
    assert_eq!(history[1].active_cluster, cid("b"));
}

#[test]
fn draining_keeps_the_active_cluster_and_bumps_the_record_version() {
    let mut r = mesh();
    let before = r.placement(&ns("orders")).unwrap().clone();
    r.apply(RegistryCommand::SetPlacementState {
        namespace: ns("orders"),
        state: PlacementState::Draining,
        expect: before.version,
        change: ChangeMetadata::default(),
    })
    .unwrap();
    let after = r.placement(&ns("orders")).unwrap();
    assert_eq!(after.value.state, PlacementState::Draining);
    assert_eq!(after.value.active_cluster, before.value.active_cluster);
    assert_eq!(after.value.failover_version, before.value.failover_version);
    assert!(after.version > before.version);
    assert_eq!(r.revision(), after.version);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever sequence of promotions (some stale, some invalid) is attempted, the applied
    /// ones raise the failover version strictly, each version names the cluster it was
    /// given to, and refused ones change nothing.
    #[test]
    fn failover_versions_rise_strictly_and_name_their_cluster(
        moves in proptest::collection::vec((0usize..4, any::<bool>()), 1..40),
    ) {
        let mut r = mesh();
        let targets = ["a", "b", "c", "z"];
        let mut last = r.placement(&ns("orders")).unwrap().value.failover_version;
        for (target, stale) in moves {
            let mut command = promote(&r, targets[target], None);
            if stale && let RegistryCommand::Promote { expect, .. } = &mut command {
                *expect -= 1;
            }
            let before = r.clone();
            match r.apply(command) {
                Ok(_) => {
                    let p = &r.placement(&ns("orders")).unwrap().value;
                    prop_assert!(p.failover_version > last);
                    prop_assert_eq!(r.cluster_of_version(p.failover_version), Some(&p.active_cluster));
                    prop_assert_eq!(&p.active_cluster, &cid(targets[target]));
                    last = p.failover_version;
                }
                Err(_) => prop_assert_eq!(&r, &before),
            }
        }
        let history = r.history(&ns("orders"));
        prop_assert!(history.windows(2).all(|w| w[0].failover_version < w[1].failover_version));
    }
}

#[test]
fn failover_versions_near_the_top_of_the_range_are_exhausted_not_wrapped() {
    let big = (1u64 << 63) + 1;
    let mut r = Registry::new(FailoverVersionScheme::new(big).unwrap());
    for (id, initial) in [("a", 1u64 << 63), ("b", 1)] {
        r.apply(RegistryCommand::PutCluster {
            descriptor: descriptor(id, initial),
            expect: Expect::Absent,
        })
        .unwrap();
    }
    r.apply(RegistryCommand::CreateNamespace {
        namespace: ns("orders"),
        active_cluster: cid("a"),
        change: ChangeMetadata::default(),
    })
    .unwrap();
    r.apply(promote(&r, "b", None)).unwrap();
    let back = promote(&r, "a", None);
    let err = refused(&mut r, back);
    assert!(matches!(err, RegistryError::VersionExhausted(_)), "{err}");
}

#[test]
fn a_removed_clusters_initial_version_is_never_handed_to_another() {
    let mut r = mesh();
    let version = r.cluster(&cid("c")).unwrap().version;
    r.apply(RegistryCommand::RemoveCluster {
        id: cid("c"),
        expect: version,
        change: ChangeMetadata::default(),
    })
    .unwrap();
    let err = refused(
        &mut r,
        RegistryCommand::PutCluster {
            descriptor: descriptor("d", 3),
            expect: Expect::Absent,
        },
    );
    assert!(
        matches!(
            err,
            RegistryError::DuplicateInitialVersion { initial: 3, .. }
        ),
        "{err}"
    );
    // The same cluster may come back with its own initial version.
    r.apply(RegistryCommand::PutCluster {
        descriptor: descriptor("c", 3),
        expect: Expect::Absent,
    })
    .unwrap();
}
