//! A node restarted from its data directory recovers its logs (issue #6, "kill a node
//! mid-write and restart it: it recovers, no acknowledged write is lost, a torn tail is
//! truncated"; Raft §5.4: a committed entry survives any crash).

mod node_support;

use std::io::Write;
use std::time::Duration;

use node_support::{TestMesh, eventually, write, write_accepted};
use omnirelay_core::NamespaceId;
use omnirelay_core::node::{Group, WriteOutcome};
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_io::node::NodeHandle;

fn seq_of(outcome: &WriteOutcome) -> u64 {
    match outcome {
        WriteOutcome::Accepted { origin_seq, .. } => *origin_seq,
        other => panic!("not accepted: {other:?}"),
    }
}

async fn read_count(h: &NodeHandle) -> usize {
    let orders = NamespaceId::new("orders").unwrap();
    h.read(orders, ClusterVersionVector::new(), 100)
        .await
        .map_or(0, |r| r.events.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restarted_from_its_data_dirs_keeps_every_acknowledged_write_and_continues_its_sequence()
 {
    let mesh = TestMesh::two_clusters_of_three();
    let mut running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    let mut seqs = Vec::new();
    for i in 0..3 {
        seqs.push(seq_of(
            &write_accepted(&a, write("orders", &format!("k{i}"), "v")).await,
        ));
    }
    assert_eq!(seqs, vec![1, 2, 3]);

    // Stop the whole mesh: no memory of the writes survives outside the data dirs.
    for (_, r) in std::mem::take(&mut running) {
        r.shutdown().await;
    }

    // A torn write at the end of n3's cluster log, as a crash mid-append leaves it.
    let segment = std::fs::read_dir(mesh.data_dir(3).join("cluster"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .expect("a segment");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[0x55; 11])
        .unwrap();

    // Only cluster a comes back (control voters n1, n2 still form a quorum): what it
    // serves can only come from its own logs.
    for id in [1, 2, 3] {
        running.insert(id, mesh.start(id).await);
    }
    let torn = running[&3]
        .recovery()
        .iter()
        .find(|(g, _)| *g == Group::Cluster)
        .and_then(|(_, report)| report.torn_tail.clone())
        .expect("n3 reports the torn tail it cut off");
    assert_eq!(torn.path, segment);
    assert_eq!(torn.dropped_bytes, 11);
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    for h in &a {
        eventually("the recovered events", Duration::from_secs(30), || async {
            (read_count(h).await == 3).then_some(())
        })
        .await;
    }
    let next = seq_of(&write_accepted(&a, write("orders", "after", "v")).await);
    assert_eq!(next, 4, "origin_seq continues after recovery, never reused");
    for (_, r) in running {
        r.shutdown().await;
    }
}
