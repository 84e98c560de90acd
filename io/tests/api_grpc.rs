//! The client API's gRPC form (`ClientApi` in client.proto), in process: two clusters of
//! three nodes with mutual TLS (issue #6 "Client API"; ARCHITECTURE.md "Planned failover").

mod api_support;

use api_support::{ApiMesh, MAX_PAYLOAD, eventually};
use omnirelay_core::failover::{FailoverKind, FailoverRequest};
use omnirelay_core::node::{OperatorReply, OperatorRequest};
use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_io::api::ACTIVE_ENDPOINT_HEADER;
use omnirelay_proto::v1;
use tonic::Code;

fn batch(namespace: &str, events: &[(&str, &str)], token: u64) -> v1::AppendRequest {
    v1::AppendRequest {
        namespace: namespace.into(),
        events: events
            .iter()
            .map(|(k, p)| v1::AppendEvent {
                key: k.as_bytes().to_vec(),
                payload: p.as_bytes().to_vec(),
            })
            .collect(),
        fencing_token: token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_append_to_a_follower_is_committed_and_read_from_the_other_cluster() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let follower = mesh.follower_of("a").await;
    let mut client = mesh.grpc(follower).await;
    let appended = eventually("an accepted Append", || {
        let mut client = client.clone();
        async move {
            match client
                .append(batch("orders", &[("k1", "x"), ("k2", "y")], 0))
                .await
            {
                Ok(reply) => Some(reply.into_inner()),
                Err(status) if status.code() == Code::Unavailable => None,
                Err(status) => panic!("Append: {status}"),
            }
        }
    })
    .await;
    assert_eq!(appended.origin_cluster, "a");
    assert_eq!(appended.origin_seqs, vec![1, 2]);
    assert!(appended.failover_version >= 1);

    let mut reader = mesh.grpc(6).await;
    let read = eventually("both events on cluster b", || {
        let mut reader = reader.clone();
        async move {
            let request = v1::ReadRequest {
                namespace: "orders".into(),
                ..Default::default()
            };
            let read = reader.read(request).await.ok()?.into_inner();
            (read.events.len() == 2).then_some(read)
        }
    })
    .await;
    assert_eq!(read.served_by, "b");
    assert_eq!(read.events[1].payload, b"y");
    // Continuing from next_after returns nothing; a `required` vector b has reached is served.
    let again = reader
        .read(v1::ReadRequest {
            namespace: "orders".into(),
            after: read.next_after.clone(),
            required: read.version_vector.clone(),
            ..Default::default()
        })
        .await
        .expect("read")
        .into_inner();
    assert!(again.events.is_empty());
    // Write-then-read elsewhere: a vector b has not reached names the active endpoint.
    let ahead = v1::ClusterVersionVector {
        entries: vec![v1::VersionVectorEntry {
            origin_cluster: "a".into(),
            applied_origin_seq: 1_000,
        }],
    };
    let status = reader
        .read(v1::ReadRequest {
            namespace: "orders".into(),
            required: Some(ahead),
            ..Default::default()
        })
        .await
        .expect_err("b has not applied a:1000");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.metadata().get(ACTIVE_ENDPOINT_HEADER).is_some());
    let _ = client.read(v1::ReadRequest::default()).await;
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misrouted_and_malformed_appends_get_their_status_and_write_nothing() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let mut passive = mesh.grpc(4).await;
    let status = eventually("FAILED_PRECONDITION from cluster b", || {
        let mut passive = passive.clone();
        async move {
            match passive.append(batch("orders", &[("k", "v")], 0)).await {
                Err(status) if status.code() == Code::FailedPrecondition => Some(status),
                _ => None,
            }
        }
    })
    .await;
    let endpoint = status
        .metadata()
        .get(ACTIVE_ENDPOINT_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("active endpoint metadata")
        .to_owned();
    assert!(
        [1, 2, 3].iter().any(|id| endpoint == mesh.endpoint(*id)),
        "{endpoint} is a node of cluster a"
    );

    let mut active = mesh.grpc(1).await;
    let big = "x".repeat(MAX_PAYLOAD + 1);
    let cases = [
        (batch("Bad Name", &[("k", "v")], 0), Code::InvalidArgument),
        (batch("payments", &[("k", "v")], 0), Code::NotFound),
        (batch("orders", &[], 0), Code::InvalidArgument),
        (
            batch("orders", &[("ok", "v"), ("", "v")], 0),
            Code::InvalidArgument,
        ),
        (
            batch("orders", &[("ok", "v"), ("k", &big)], 0),
            Code::ResourceExhausted,
        ),
    ];
    for (request, code) in cases {
        let status = active.append(request.clone()).await.expect_err("refused");
        assert_eq!(status.code(), code, "{request:?}: {status}");
        assert!(!status.message().is_empty());
    }
    let a = ClusterId::new("a").unwrap();
    for id in [1, 2, 3] {
        let applied = mesh.handle(id).status().await.expect("status").applied;
        assert_eq!(applied.get(&a), 0, "n{id} applied nothing");
    }
    let _ = passive.read(v1::ReadRequest::default()).await;
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_routing_sees_a_planned_failover_and_the_old_token_is_then_refused() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let mut watcher = mesh.grpc(5).await;
    let mut updates = watcher
        .watch_routing(v1::WatchRoutingRequest {
            namespaces: vec!["orders".into()],
        })
        .await
        .expect("watch")
        .into_inner();
    let first = updates.message().await.expect("stream").expect("an update");
    let placement = first.placement.clone().expect("placement");
    assert_eq!(placement.active_cluster, "a");
    assert!(
        [1, 2, 3]
            .iter()
            .any(|id| first.active_endpoints.contains(&mesh.endpoint(*id))),
        "endpoints {:?} are cluster a's",
        first.active_endpoints
    );
    let old_token = placement.failover_version;

    // A planned failover a -> b through the operator API (ARCHITECTURE.md "Planned failover").
    let request = OperatorRequest::Failover {
        request: FailoverRequest {
            namespace: NamespaceId::new("orders").unwrap(),
            target: Some(ClusterId::new("b").unwrap()),
            kind: FailoverKind::Planned,
            requested_by: "api-test".into(),
            ticket: Some("CHG-1".into()),
            approver: None,
        },
        dry_run: false,
    };
    let handle = mesh.handle(1);
    eventually("the failover started", || {
        let (handle, request) = (handle.clone(), request.clone());
        async move {
            match handle.operator(request).await.ok()? {
                OperatorReply::Started(_) => Some(()),
                _ => None,
            }
        }
    })
    .await;
    // Updates (drain, promotion) arrive in order; wait for the one naming b active.
    let moved = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let update = updates
                .message()
                .await
                .expect("stream open")
                .expect("an update");
            let p = update.placement.clone().expect("placement");
            if p.active_cluster == "b" && p.state == v1::NamespaceState::Active as i32 {
                return update;
            }
        }
    })
    .await;
    let Ok(moved) = moved else {
        let list = handle.operator(OperatorRequest::List).await;
        panic!("no routing update naming b within 30 s; failovers: {list:?}");
    };
    let new_token = moved.placement.expect("placement").failover_version;
    assert!(
        new_token > old_token,
        "promotion raised the failover version"
    );
    assert!(moved.revision > first.revision);
    assert!(
        [4, 5, 6]
            .iter()
            .any(|id| moved.active_endpoints.contains(&mesh.endpoint(*id))),
        "endpoints {:?} are cluster b's",
        moved.active_endpoints
    );

    // The old fencing token is refused at the new active; its own is accepted.
    let mut b = mesh.grpc(4).await;
    let stale = eventually("the stale token refused", || {
        let mut b = b.clone();
        async move {
            match b.append(batch("orders", &[("k", "v")], old_token)).await {
                Err(status) if status.code() == Code::FailedPrecondition => Some(status),
                _ => None,
            }
        }
    })
    .await;
    assert!(
        stale.message().contains("stale fencing token"),
        "{}",
        stale.message()
    );
    let accepted = eventually("a write at b with the new token", || {
        let mut b = b.clone();
        async move {
            b.append(batch("orders", &[("k", "v")], new_token))
                .await
                .ok()
        }
    })
    .await
    .into_inner();
    assert_eq!(accepted.origin_cluster, "b");
    assert_eq!(accepted.failover_version, new_token);
    let _ = b.read(v1::ReadRequest::default()).await;
    mesh.stop().await;
}
