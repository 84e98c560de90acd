//! A witness (ARCHITECTURE.md, "Vocabulary": votes, holds no data) runs only the control
//! group's log: with control voters n1, n4 and the witness, the registry keeps its quorum
//! with one whole cluster stopped, and the witness refuses client writes.

mod node_support;

use std::time::Duration;

use node_support::{TestMesh, eventually, write, write_accepted};
use omnirelay_core::node::{Group, WriteOutcome, WriteRefusal};
use omnirelay_io::node::NodeHandle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_holds_only_the_control_log_and_refuses_writes() {
    let mesh = TestMesh::two_clusters_of_three_and_a_witness();
    let mut running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    write_accepted(&a, write("orders", "k", "v")).await;

    let witness = running[&7].handle();
    assert_eq!(
        witness.write(write("orders", "k", "v")).await.unwrap(),
        WriteOutcome::Refused(WriteRefusal::Witness)
    );
    let status = eventually(
        "the registry on the witness",
        Duration::from_secs(30),
        || async {
            let s = witness.status().await.ok()?;
            (s.registry.revision() > 0).then_some(s)
        },
    )
    .await;
    assert_eq!(status.cluster, None);
    assert_eq!(status.role, None);
    let groups: Vec<Group> = status.wal.iter().map(|(g, _)| *g).collect();
    assert_eq!(groups, vec![Group::Control]);
    assert!(!mesh.data_dir(7).join("cluster").exists());

    // Cluster b stops entirely (n4 was a control voter): n1 and the witness still form the
    // control group's majority, so a control leader is (re)elected among them.
    for id in [4, 5, 6] {
        running.remove(&id).unwrap().shutdown().await;
    }
    // Past a check-quorum period (the control group's election timeout is at most 1 s),
    // a leader without a majority would have stepped down: one of n1 and n7 still leads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let survivors = [running[&1].handle(), witness.clone()];
    eventually(
        "a control leader without cluster b",
        Duration::from_secs(30),
        || async {
            for h in &survivors {
                if h.status().await.ok()?.is_control_leader {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
    for (_, r) in running {
        r.shutdown().await;
    }
}
