//! Many concurrent writers through one leader's `NodeHandle` (ARCHITECTURE.md vocabulary,
//! `origin_seq`: contiguous and strictly increasing from 1, assigned at commit): every write
//! is accepted once with its own sequence number, the numbers have no gap, and the other
//! cluster applies all of them. Prints the rate it saw (not asserted: it depends on the
//! machine and the disk's fsync).

mod node_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use node_support::{TestMesh, eventually, leader_of, write, write_accepted};
use omnirelay_core::node::WriteOutcome;
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_io::node::NodeHandle;

const WRITERS: usize = 32;
const WRITES_EACH: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_get_unique_contiguous_origin_seqs_and_all_replicate() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    // Settle first: leader elected, registry distributed.
    write_accepted(&a, write("orders", "warm-up", "v")).await;
    let leader = leader_of(&a).await;

    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let leader = leader.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..WRITES_EACH {
                let payload = vec![0x5a; 256];
                let mut req = write("orders", &format!("w{w}-{i}"), "");
                req.payload = payload;
                match leader.write(req).await.expect("node runs") {
                    WriteOutcome::Accepted { origin_seq, .. } => seqs.push(origin_seq),
                    other => panic!("the stable leader answered {other:?}"),
                }
            }
            seqs
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        for s in t.await.expect("writer") {
            assert!(seqs.insert(s), "origin_seq {s} given twice");
        }
    }
    let accepted_in = start.elapsed();
    let total = (WRITERS * WRITES_EACH) as u64;
    // The warm-up write took seq 1.
    assert_eq!(
        seqs.iter().copied().collect::<Vec<_>>(),
        (2..=total + 1).collect::<Vec<_>>()
    );

    let origin = ClusterId::new("a").unwrap();
    let b = running[&4].handle();
    eventually(
        "cluster b to apply every write",
        Duration::from_secs(60),
        || async {
            let r = b
                .read(
                    NamespaceId::new("orders").unwrap(),
                    ClusterVersionVector::new(),
                    0,
                )
                .await
                .ok()?;
            (r.version_vector.get(&origin) == total + 1).then_some(())
        },
    )
    .await;
    let replicated_in = start.elapsed();
    eprintln!(
        "node_concurrency: {total} writes of 256 B from {WRITERS} writers: accepted in {:.2} s ({:.0}/s), applied on cluster b after {:.2} s",
        accepted_in.as_secs_f64(),
        total as f64 / accepted_in.as_secs_f64(),
        replicated_in.as_secs_f64()
    );
    for (_, r) in running {
        r.shutdown().await;
    }
}
