//! The node runtime end to end, in process: two clusters of three nodes on loopback with
//! mutual TLS and durable logs (issue #6, "Tests"; ARCHITECTURE.md "Replication between
//! clusters", "Registry").

mod node_support;

use std::time::Duration;

use node_support::{TestMesh, eventually, leader_of, write, write_accepted};
use omnirelay_core::ClusterId;
use omnirelay_core::NamespaceId;
use omnirelay_core::consensus::RoleKind;
use omnirelay_core::node::WriteOutcome;
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_io::node::NodeHandle;

fn handles(
    running: &std::collections::BTreeMap<u64, omnirelay_io::node::NodeRuntime>,
    ids: &[u64],
) -> Vec<NodeHandle> {
    ids.iter().map(|id| running[id].handle()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_accepted_by_the_active_cluster_is_read_back_on_the_other_cluster() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let a = handles(&running, &[1, 2, 3]);
    let b = handles(&running, &[4, 5, 6]);

    let outcome = write_accepted(&a, write("orders", "k1", "hello")).await;
    let WriteOutcome::Accepted {
        origin_cluster,
        origin_seq,
        ..
    } = outcome
    else {
        unreachable!()
    };
    assert_eq!(origin_cluster, ClusterId::new("a").unwrap());
    assert_eq!(origin_seq, 1);

    // Every node of the other cluster applies it, once replicated and committed there.
    let orders = NamespaceId::new("orders").unwrap();
    for h in &b {
        let read = eventually(
            "the event on cluster b",
            Duration::from_secs(30),
            || async {
                let r = h
                    .read(orders.clone(), ClusterVersionVector::new(), 10)
                    .await
                    .ok()?;
                (!r.events.is_empty()).then_some(r)
            },
        )
        .await;
        assert_eq!(read.events.len(), 1, "applied exactly once on n{}", h.id());
        assert_eq!(read.events[0].payload, b"hello");
        assert_eq!(read.events[0].origin_seq, 1);
        assert_eq!(read.version_vector.get(&origin_cluster), 1);
        let placement = read.placement.expect("the registry reached cluster b");
        assert_eq!(placement.value.active_cluster, origin_cluster);
    }
    for (_, r) in running {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_the_passive_cluster_is_redirected_to_the_active_one() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let b = handles(&running, &[4, 5, 6]);
    let redirect = eventually(
        "a redirect from cluster b",
        Duration::from_secs(30),
        || async {
            let leader = leader_of(&b).await;
            match leader.write(write("orders", "k", "v")).await.ok()? {
                r @ WriteOutcome::Redirect { .. } => Some(r),
                WriteOutcome::Accepted { .. } => panic!("the passive cluster accepted a write"),
                _ => None,
            }
        },
    )
    .await;
    let WriteOutcome::Redirect {
        active_cluster,
        nodes,
        ..
    } = redirect
    else {
        unreachable!()
    };
    assert_eq!(active_cluster, ClusterId::new("a").unwrap());
    assert_eq!(nodes.len(), 3);
    for (_, r) in running {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_cluster_leader_the_control_leader_and_the_registry() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let a = handles(&running, &[1, 2, 3]);
    let leader = leader_of(&a).await;
    let status = eventually(
        "the registry on every node",
        Duration::from_secs(30),
        || async {
            let s = leader.status().await.ok()?;
            (s.registry.revision() > 0 && s.control_leader.is_some()).then_some(s)
        },
    )
    .await;
    assert_eq!(status.role, Some(RoleKind::Leader));
    assert_eq!(status.cluster_leader.map(|(id, _)| id), Some(leader.id()));
    assert!(
        status.members.len() >= 5,
        "gossip knows the mesh: {:?}",
        status.members.len()
    );
    let cluster_wal = status
        .wal
        .iter()
        .find(|(g, _)| *g == omnirelay_core::node::Group::Cluster)
        .map(|(_, p)| *p)
        .expect("a cluster log");
    assert!(
        cluster_wal.durable_index >= 1,
        "the leader's no-op entry is durable"
    );
    assert!(
        leader.registry_watch().borrow().revision() > 0,
        "the watch follows the registry"
    );
    for (_, r) in running {
        r.shutdown().await;
    }
}
