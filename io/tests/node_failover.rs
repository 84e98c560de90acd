//! A planned failover driven through `NodeHandle::operator` on a node that does not lead
//! the control group: the request is forwarded over the peer transport, the namespace moves
//! (ARCHITECTURE.md, "Planned failover": drain, catch up, promote, publish), the new active
//! cluster accepts writes under a higher failover version, and the old one redirects.

mod node_support;

use std::time::Duration;

use node_support::{TestMesh, eventually, leader_of, write, write_accepted};
use omnirelay_core::failover::{FailoverKind, FailoverRequest, FailoverStep};
use omnirelay_core::node::{OperatorReply, OperatorRequest, WriteOutcome};
use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_io::node::NodeHandle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_failover_requested_on_any_node_moves_the_active_role_and_fences_the_old_one() {
    let mesh = TestMesh::two_clusters_of_three();
    let running = mesh.start_all().await;
    let a: Vec<NodeHandle> = [1, 2, 3].iter().map(|id| running[id].handle()).collect();
    let b: Vec<NodeHandle> = [4, 5, 6].iter().map(|id| running[id].handle()).collect();
    let mut audits: Vec<_> = running
        .values()
        .map(|r| r.handle().audit_events())
        .collect();
    let before = write_accepted(&a, write("orders", "k0", "before")).await;
    let WriteOutcome::Accepted {
        failover_version: old_version,
        ..
    } = before
    else {
        unreachable!()
    };

    // n6 neither leads nor votes in the control group: its request is forwarded.
    let asker = running[&6].handle();
    let request = OperatorRequest::Failover {
        request: FailoverRequest {
            namespace: NamespaceId::new("orders").unwrap(),
            target: Some(ClusterId::new("b").unwrap()),
            kind: FailoverKind::Planned,
            requested_by: "test-operator".into(),
            ticket: None,
            approver: None,
        },
        dry_run: false,
    };
    let started = eventually("the failover to start", Duration::from_secs(30), || async {
        match asker.operator(request.clone()).await.ok()? {
            OperatorReply::Started(id) => Some(id),
            // Lag reports and the control leader take a moment to be known everywhere.
            OperatorReply::Refused(_) | OperatorReply::Unavailable(_) => None,
            other => panic!("unexpected reply {other:?}"),
        }
    })
    .await;

    let accepted = eventually(
        "cluster b to accept writes",
        Duration::from_secs(30),
        || async {
            let leader = leader_of(&b).await;
            match leader.write(write("orders", "k1", "after")).await.ok()? {
                accepted @ WriteOutcome::Accepted { .. } => Some(accepted),
                _ => None,
            }
        },
    )
    .await;
    let WriteOutcome::Accepted {
        origin_cluster,
        failover_version,
        ..
    } = accepted
    else {
        unreachable!()
    };
    assert_eq!(origin_cluster, ClusterId::new("b").unwrap());
    assert!(
        failover_version > old_version,
        "promotion raised the fencing token"
    );

    let redirected = eventually("cluster a to redirect", Duration::from_secs(30), || async {
        let leader = leader_of(&a).await;
        match leader.write(write("orders", "k2", "stale")).await.ok()? {
            WriteOutcome::Redirect { active_cluster, .. } => Some(active_cluster),
            WriteOutcome::Accepted { .. } => {
                panic!("the old active accepted a write after the move")
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(redirected, ClusterId::new("b").unwrap());

    // The control leader audited the failover through to `done`.
    let mut done = false;
    for rx in &mut audits {
        while let Ok(record) = rx.try_recv() {
            if record.failover == started && record.to == FailoverStep::Done {
                done = true;
            }
        }
    }
    assert!(done, "an audit record of {started} reaching done");
    for (_, r) in running {
        r.shutdown().await;
    }
}
