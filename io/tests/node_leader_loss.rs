//! Losing a cluster's leader loses no acknowledged write (ARCHITECTURE.md invariant 2;
//! Raft §5.4 Leader Completeness): the remaining nodes elect a new leader that serves every
//! write the old one acknowledged, and takes new ones.

mod node_support;

use std::collections::BTreeSet;
use std::time::Duration;

use node_support::{TestMesh, eventually, leader_of, write, write_accepted};
use omnirelay_core::NamespaceId;
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_io::node::NodeHandle;

async fn keys(h: &NodeHandle) -> BTreeSet<Vec<u8>> {
    let orders = NamespaceId::new("orders").unwrap();
    h.read(orders, ClusterVersionVector::new(), 1000)
        .await
        .map(|r| r.events.iter().map(|e| e.key.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_acknowledged_before_the_leader_stops_is_served_by_the_next_leader() {
    let mesh = TestMesh::two_clusters_of_three();
    let mut running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    let mut acknowledged = BTreeSet::new();
    for i in 0..10 {
        let key = format!("before-{i}");
        write_accepted(&a, write("orders", &key, "v")).await;
        acknowledged.insert(key.into_bytes());
    }
    let old = leader_of(&a).await.id();
    running
        .remove(&old.0)
        .expect("the leader runs")
        .shutdown()
        .await;

    let rest: Vec<NodeHandle> = a.iter().filter(|h| h.id() != old).cloned().collect();
    let new = leader_of(&rest).await;
    assert_ne!(new.id(), old);
    for i in 0..10 {
        let key = format!("after-{i}");
        write_accepted(&rest, write("orders", &key, "v")).await;
        acknowledged.insert(key.into_bytes());
    }
    for h in rest.iter().chain([&running[&4].handle()]) {
        eventually(
            "every acknowledged write",
            Duration::from_secs(30),
            || async { keys(h).await.is_superset(&acknowledged).then_some(()) },
        )
        .await;
    }
    for (_, r) in running {
        r.shutdown().await;
    }
}
