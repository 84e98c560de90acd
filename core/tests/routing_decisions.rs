//! Routing (ARCHITECTURE.md, "api"): accept with the fencing token at the active cluster,
//! redirect elsewhere, retry while draining or fenced, refuse stale tokens.

use omnirelay_core::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, Expect, FailoverVersionScheme, PlacementState,
    Registry, RegistryCommand,
};
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion};
use omnirelay_core::routing::{
    ReadRoute, RetryReason, RoutingError, WriteRoute, route_read, route_write,
};
use omnirelay_core::{ClusterId, NamespaceId};

fn cid(s: &str) -> ClusterId {
    ClusterId::new(s).unwrap()
}

fn orders() -> NamespaceId {
    NamespaceId::new("orders").unwrap()
}

fn mesh() -> Registry {
    let mut r = Registry::new(FailoverVersionScheme::new(10).unwrap());
    for (id, initial) in [("a", 1), ("b", 2)] {
        r.apply(RegistryCommand::PutCluster {
            descriptor: ClusterDescriptor {
                id: cid(id),
                region: id.into(),
                priority: 1,
                state: ClusterState::Online,
                endpoints: vec![format!("https://{id}:7000")],
                replication_endpoints: vec![],
                owners: vec![],
                initial_failover_version: initial,
                change: ChangeMetadata::default(),
            },
            expect: Expect::Absent,
        })
        .unwrap();
    }
    r.apply(RegistryCommand::CreateNamespace {
        namespace: orders(),
        active_cluster: cid("a"),
        change: ChangeMetadata::default(),
    })
    .unwrap();
    r
}

fn set_state(r: &mut Registry, state: PlacementState) {
    let expect = r.placement(&orders()).unwrap().version;
    r.apply(RegistryCommand::SetPlacementState {
        namespace: orders(),
        state,
        expect,
        change: ChangeMetadata::default(),
    })
    .unwrap();
}

#[test]
fn the_active_cluster_accepts_a_write_with_the_current_fencing_token() {
    let r = mesh();
    assert_eq!(
        route_write(&r, &cid("a"), &orders(), None),
        Ok(WriteRoute::Accept {
            failover_version: FailoverVersion(1)
        })
    );
    assert!(matches!(
        route_write(&r, &cid("a"), &orders(), Some(FailoverVersion(1))),
        Ok(WriteRoute::Accept { .. })
    ));
}

#[test]
fn a_passive_cluster_redirects_writes_to_the_active_one() {
    let r = mesh();
    assert_eq!(
        route_write(&r, &cid("b"), &orders(), None),
        Ok(WriteRoute::Redirect {
            active_cluster: cid("a"),
            endpoints: vec!["https://a:7000".into()]
        })
    );
}

#[test]
fn a_draining_or_fenced_namespace_tells_writers_to_retry() {
    let mut r = mesh();
    set_state(&mut r, PlacementState::Draining);
    assert!(matches!(
        route_write(&r, &cid("a"), &orders(), None),
        Ok(WriteRoute::RetryLater {
            reason: RetryReason::Draining,
            ..
        })
    ));
    set_state(&mut r, PlacementState::Fenced);
    assert!(matches!(
        route_write(&r, &cid("a"), &orders(), None),
        Ok(WriteRoute::RetryLater {
            reason: RetryReason::Fenced,
            ..
        })
    ));
}

#[test]
fn a_write_with_a_stale_fencing_token_is_refused() {
    let mut r = mesh();
    let expect = r.placement(&orders()).unwrap().version;
    r.apply(RegistryCommand::Promote {
        namespace: orders(),
        to: cid("b"),
        expect,
        superseded_cutoff: None,
        change: ChangeMetadata::default(),
    })
    .unwrap();
    assert_eq!(
        route_write(&r, &cid("b"), &orders(), Some(FailoverVersion(1))),
        Err(RoutingError::StaleFencingToken {
            namespace: orders(),
            offered: FailoverVersion(1),
            current: FailoverVersion(2)
        })
    );
    // A token from the future means this node's registry view lags: retry, don't accept.
    assert!(matches!(
        route_write(&r, &cid("b"), &orders(), Some(FailoverVersion(12))),
        Ok(WriteRoute::RetryLater {
            reason: RetryReason::RegistryBehind,
            ..
        })
    ));
}

#[test]
fn an_unknown_namespace_is_an_error_for_reads_and_writes() {
    let r = mesh();
    let unknown = NamespaceId::new("nope").unwrap();
    assert!(matches!(
        route_write(&r, &cid("a"), &unknown, None),
        Err(RoutingError::UnknownNamespace(_))
    ));
    assert!(matches!(
        route_read(&r, &cid("a"), &ClusterVersionVector::new(), &unknown, None),
        Err(RoutingError::UnknownNamespace(_))
    ));
}

#[test]
fn reads_are_served_locally_unless_the_caller_demands_an_unreached_version_vector() {
    let r = mesh();
    let local: ClusterVersionVector = "a=5,b=3".parse().unwrap();
    assert_eq!(
        route_read(&r, &cid("b"), &local, &orders(), None),
        Ok(ReadRoute::ServeLocal {
            version_vector: local.clone()
        })
    );
    let reached: ClusterVersionVector = "a=5".parse().unwrap();
    assert!(matches!(
        route_read(&r, &cid("b"), &local, &orders(), Some(&reached)),
        Ok(ReadRoute::ServeLocal { .. })
    ));
    let ahead: ClusterVersionVector = "a=6".parse().unwrap();
    assert_eq!(
        route_read(&r, &cid("b"), &local, &orders(), Some(&ahead)),
        Ok(ReadRoute::Redirect {
            active_cluster: cid("a"),
            endpoints: vec!["https://a:7000".into()]
        })
    );
}

#[test]
fn the_active_cluster_never_redirects_a_read_to_itself() {
    let r = mesh();
    let local: ClusterVersionVector = "a=5".parse().unwrap();
    let ahead: ClusterVersionVector = "a=6".parse().unwrap();
    assert!(matches!(
        route_read(&r, &cid("a"), &local, &orders(), Some(&ahead)),
        Ok(ReadRoute::RetryLater { .. })
    ));
}
