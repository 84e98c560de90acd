//! `NodeHandle::write_many` (issue 6, "Benchmark": writes pipelined to the node in
//! batches): one call answers every write, in the order given, each with its own
//! `origin_seq` (ARCHITECTURE.md vocabulary: contiguous and strictly increasing from 1), and
//! `applied_watch` on the other cluster sees the last of them applied without polling.

mod node_support;

use std::time::Duration;

use node_support::{TestMesh, leader_of, write, write_accepted};
use omnirelay_core::ClusterId;
use omnirelay_core::consensus::RoleKind;
use omnirelay_core::node::WriteOutcome;
use omnirelay_io::node::NodeHandle;

const WRITES: u64 = 1500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_many_answers_every_write_in_order_and_the_other_cluster_applies_them() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    let WriteOutcome::Accepted {
        origin_seq: warm, ..
    } = write_accepted(&a, write("orders", "warm-up", "v")).await
    else {
        unreachable!("write_accepted returns only accepted writes");
    };
    let leader = leader_of(&a).await;
    let mut applied = running[&4].handle().applied_watch();

    // More than the core's 1,024 writes per log entry: the batch spans two entries.
    let writes = (0..WRITES)
        .map(|i| write("orders", &format!("k{i}"), "v"))
        .collect();
    let outcomes = leader.write_many(writes).await.expect("node runs");
    let seqs: Vec<u64> = outcomes
        .iter()
        .map(|o| match o {
            WriteOutcome::Accepted { origin_seq, .. } => *origin_seq,
            other => panic!("the stable leader answered {other:?}"),
        })
        .collect();
    assert_eq!(seqs, (warm + 1..=warm + WRITES).collect::<Vec<_>>());

    let origin = ClusterId::new("a").unwrap();
    let last = warm + WRITES;
    tokio::time::timeout(
        Duration::from_secs(60),
        applied.wait_for(|vv| vv.get(&origin) >= last),
    )
    .await
    .expect("cluster b applies every write (liveness bound, not a speed assertion)")
    .expect("node b runs");

    // A follower answers each write of the batch, none accepted.
    let mut follower = None;
    for h in &a {
        if h.status().await.unwrap().role == Some(RoleKind::Follower) {
            follower = Some(h.clone());
        }
    }
    let follower = follower.expect("a follower in a cluster of three");
    let outcomes = follower
        .write_many(vec![write("orders", "x", "v"), write("orders", "y", "v")])
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::NotLeader { .. })),
        "{outcomes:?}"
    );
    assert!(leader.write_many(Vec::new()).await.unwrap().is_empty());
    for (_, r) in running {
        r.shutdown().await;
    }
}
