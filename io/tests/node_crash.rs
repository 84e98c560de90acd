//! A cluster killed abruptly, its disks crashed (unsynced writes lost or torn, as
//! `SimDisk` does it), and restarted keeps every write it acknowledged (issue #6: "kill -9 a
//! node mid-write and restart it: it recovers, no acknowledged write is lost"; Raft §5.4
//! and the durability boundary: acknowledged means fsynced by a majority).

mod node_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use node_support::{SimDisks, TestMesh, eventually, write, write_accepted};
use omnirelay_core::NamespaceId;
use omnirelay_core::node::WriteOutcome;
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
async fn a_cluster_killed_mid_write_with_crashed_disks_keeps_every_acknowledged_write() {
    let mesh = TestMesh::two_clusters_of_three();
    let disks = Arc::new(SimDisks::default());
    let mut running = std::collections::BTreeMap::new();
    for id in 1..=6 {
        running.insert(id, mesh.start_simulated(id, &disks).await);
    }
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    let mut acknowledged = BTreeSet::new();
    for i in 0..10 {
        let key = format!("k{i}");
        write_accepted(&a, write("orders", &key, "v")).await;
        acknowledged.insert(key.into_bytes());
    }
    // More writes in flight when the whole cluster dies: their fate is open, the ten
    // acknowledged ones' is not.
    let leader = node_support::leader_of(&a).await;
    let in_flight: Vec<_> = (0..20)
        .map(|i| {
            let leader = leader.clone();
            tokio::spawn(async move {
                let key = format!("late{i}");
                let outcome = leader.write(write("orders", &key, "v")).await;
                (key, outcome)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2)).await;
    for id in [1, 2, 3] {
        running.remove(&id).unwrap().kill().await;
        disks.crash(id);
    }
    for t in in_flight {
        if let Ok((key, Ok(WriteOutcome::Accepted { .. }))) = t.await {
            acknowledged.insert(key.into_bytes());
        }
    }

    for id in [1, 2, 3] {
        running.insert(id, mesh.start_simulated(id, &disks).await);
    }
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    for h in &a {
        eventually(
            "every acknowledged write after the crash",
            Duration::from_secs(30),
            || async { keys(h).await.is_superset(&acknowledged).then_some(()) },
        )
        .await;
    }
    for (_, r) in running {
        r.shutdown().await;
    }
}
