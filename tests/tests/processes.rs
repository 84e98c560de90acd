//! Real `omnirelay node` processes on loopback: two clusters × three nodes with mutual TLS
//! and durable logs (issue #6 "Tests"; ARCHITECTURE.md invariants 2 and 5).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use omnirelay_io::api::client::HttpApiClient;
use omnirelay_io::api::{ACTIVE_ENDPOINT_HEADER, AppendReply, ReadReply};
use omnirelay_io::tls::{Identity, MeshCa, TlsMaterial};
use omnirelay_proto::v1;
use omnirelay_tests::{ProcessMesh, binary, eventually, exclusive};
use serde_json::json;

/// A write the API acknowledged: its key and where it landed.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    seq: u64,
    committed_by: String,
}

fn one_event(key: &str) -> Vec<u8> {
    json!({"events": [{"key": key, "payload": format!("payload of {key}")}]})
        .to_string()
        .into_bytes()
}

/// Writes `w0, w1, ...` one at a time to the nodes of `urls` in turn until `stop`, each
/// until acknowledged (a 503 or a dead node moves on to the next node, same key).
fn write_stream(
    client: HttpApiClient,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut target = 0usize;
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("w{i}");
            let url = &urls[target % urls.len()];
            let reply = client
                .call_following(Method::POST, url, &[], Some(&one_event(&key)), 2)
                .await;
            match reply {
                Ok(reply) if reply.status == StatusCode::OK => {
                    let appended: AppendReply = reply.json().expect("append reply");
                    acked.lock().unwrap().push(Acked {
                        key,
                        seq: appended.origin_seqs[0],
                        committed_by: appended.committed_by,
                    });
                    i += 1;
                }
                _ => {
                    target += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    })
}

/// Every event of `orders` node `id` serves, by origin `a`'s seq → key.
async fn events_on(mesh: &ProcessMesh, id: u64) -> Option<BTreeMap<u64, String>> {
    let url = format!("{}?limit=10000", mesh.events_url(id, "orders"));
    let reply = mesh.http().call(Method::GET, &url, &[], None).await.ok()?;
    if reply.status != StatusCode::OK {
        return None;
    }
    let read: ReadReply = reply.json().ok()?;
    Some(
        read.events
            .into_iter()
            .filter(|e| e.origin_cluster == "a")
            .map(|e| (e.origin_seq, e.key.unwrap_or_default()))
            .collect(),
    )
}

/// Waits until node `id` serves every acknowledged write under its acknowledged seq.
async fn serves_every_acked_write(mesh: &ProcessMesh, id: u64, acked: &[Acked]) {
    let missing = eventually(
        &format!("every acknowledged write on n{id}"),
        Duration::from_secs(30),
        || async {
            let events = events_on(mesh, id).await?;
            let missing: Vec<&Acked> = acked
                .iter()
                .filter(|a| events.get(&a.seq) != Some(&a.key))
                .collect();
            missing.is_empty().then_some(())
        },
    )
    .await;
    let () = missing;
}

fn node_number(name: &str) -> u64 {
    name.trim_start_matches('n').parse().expect("node name nN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_http_and_grpc_are_read_back_from_the_other_cluster() {
    let _one = exclusive().await;
    let mesh = ProcessMesh::start().await;
    let client = mesh.http();
    let http = eventually(
        "an HTTP write accepted",
        Duration::from_secs(30),
        || async {
            let reply = client
                .call_following(
                    Method::POST,
                    &mesh.events_url(2, "orders"),
                    &[],
                    Some(&one_event("via-http")),
                    2,
                )
                .await
                .ok()?;
            (reply.status == StatusCode::OK).then(|| reply.json::<AppendReply>().expect("reply"))
        },
    )
    .await;
    assert_eq!(http.origin_cluster, "a");
    let mut grpc = mesh.grpc(3).await;
    let appended = grpc
        .append(v1::AppendRequest {
            namespace: "orders".into(),
            events: vec![v1::AppendEvent {
                key: b"via-grpc".to_vec(),
                payload: b"payload of via-grpc".to_vec(),
            }],
            fencing_token: 0,
        })
        .await
        .expect("gRPC append")
        .into_inner();
    assert_eq!(appended.origin_cluster, "a");

    // Read back on cluster b: over HTTP from n5, over gRPC from n6.
    let acked = [
        Acked {
            key: "via-http".into(),
            seq: http.origin_seqs[0],
            committed_by: http.committed_by,
        },
        Acked {
            key: "via-grpc".into(),
            seq: appended.origin_seqs[0],
            committed_by: String::new(),
        },
    ];
    serves_every_acked_write(&mesh, 5, &acked).await;
    let reader = mesh.grpc(6).await;
    let read = eventually(
        "both events over gRPC on n6",
        Duration::from_secs(30),
        || {
            let mut reader = reader.clone();
            async move {
                let read = reader
                    .read(v1::ReadRequest {
                        namespace: "orders".into(),
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner();
                (read.events.len() == 2).then_some(read)
            }
        },
    )
    .await;
    assert_eq!(read.served_by, "b");
    let keys: Vec<&[u8]> = read.events.iter().map(|e| e.key.as_slice()).collect();
    assert!(keys.contains(&b"via-http".as_slice()) && keys.contains(&b"via-grpc".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misrouted_write_is_redirected_over_http_and_grpc() {
    let _one = exclusive().await;
    let mesh = ProcessMesh::start().await;
    let a_endpoints: Vec<String> = [1, 2, 3].iter().map(|id| mesh.endpoint(*id)).collect();
    let reply = eventually("a 307 from cluster b", Duration::from_secs(30), || async {
        let reply = mesh
            .http()
            .call(
                Method::POST,
                &mesh.events_url(4, "orders"),
                &[],
                Some(&one_event("k")),
            )
            .await
            .ok()?;
        (reply.status == StatusCode::TEMPORARY_REDIRECT).then_some(reply)
    })
    .await;
    let location = reply.header("location").expect("Location");
    assert!(
        a_endpoints
            .iter()
            .any(|e| location == format!("{e}/v1/namespaces/orders/events")),
        "{location} is cluster a's"
    );
    let mut b = mesh.grpc(5).await;
    let status = b
        .append(v1::AppendRequest {
            namespace: "orders".into(),
            events: vec![v1::AppendEvent {
                key: b"k".to_vec(),
                payload: Vec::new(),
            }],
            fencing_token: 0,
        })
        .await
        .expect_err("cluster b is passive");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let endpoint = status
        .metadata()
        .get(ACTIVE_ENDPOINT_HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("active endpoint metadata");
    assert!(
        a_endpoints.iter().any(|e| e == endpoint),
        "{endpoint} is cluster a's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_or_from_another_ca_is_refused() {
    let _one = exclusive().await;
    let mesh = ProcessMesh::start().await;
    let url = mesh.events_url(1, "orders");
    let ca_pem = std::fs::read(mesh.dir.path().join("tls/ca.pem")).expect("ca");
    let roots = rustls_roots(&ca_pem);
    let anonymous = rustls::ClientConfig::builder_with_provider(omnirelay_io::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let refused = HttpApiClient::with_config(Arc::new(anonymous))
        .call(Method::GET, &url, &[], None)
        .await;
    assert!(refused.is_err(), "no certificate: {refused:?}");

    let other = MeshCa::generate("another CA").expect("CA");
    let intruder = Identity::Operator {
        name: omnirelay_core::ClusterId::new("intruder").unwrap(),
    };
    let issued = other
        .issue(&intruder, &["localhost".into()], &[])
        .expect("issue");
    let foreign = TlsMaterial::from_pem(
        &ca_pem,
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .expect("material");
    let refused = HttpApiClient::new(&foreign)
        .expect("client")
        .call(Method::GET, &url, &[], None)
        .await;
    assert!(refused.is_err(), "foreign CA over HTTP: {refused:?}");
    let dialer = omnirelay_io::transport::Dialer::new(
        omnirelay_io::transport::TokioNetwork,
        &foreign,
        omnirelay_io::transport::ClientSettings::default(),
    )
    .expect("dialer");
    let grpc = dialer
        .connect(&url["https://".len()..url.find("/v1").unwrap()])
        .await;
    let refused = match grpc {
        Err(_) => true,
        Ok(channel) => omnirelay_proto::v1::client_api_client::ClientApiClient::new(channel)
            .read(v1::ReadRequest {
                namespace: "orders".into(),
                ..Default::default()
            })
            .await
            .is_err(),
    };
    assert!(refused, "foreign CA over gRPC is refused");
    // The server says why in its log (FINDINGS.md: the client cannot see it).
    let log = eventually("the refusal logged", Duration::from_secs(10), || async {
        let log = mesh.stderr(1);
        log.contains("refused TLS client").then_some(log)
    })
    .await;
    assert!(log.contains("refused TLS client"));
    // And the mesh's own application certificate is served.
    let served = mesh
        .http()
        .call(Method::GET, &url, &[], None)
        .await
        .expect("served");
    assert_eq!(served.status, StatusCode::OK);
}

fn rustls_roots(pem: &[u8]) -> rustls::RootCertStore {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(pem) {
        roots.add(der.expect("pem")).expect("root");
    }
    roots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_leader_under_writes_loses_no_acknowledged_write() {
    let _one = exclusive().await;
    let mut mesh = ProcessMesh::start().await;
    let urls: Vec<String> = [1, 2, 3]
        .iter()
        .map(|id| mesh.events_url(*id, "orders"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = write_stream(mesh.http(), urls, stop.clone(), acked.clone());

    let leader = eventually(
        "20 acknowledged writes",
        Duration::from_secs(30),
        || async {
            let acked = acked.lock().unwrap();
            (acked.len() >= 20).then(|| acked[acked.len() - 1].committed_by.clone())
        },
    )
    .await;
    mesh.kill(node_number(&leader));
    // The stream goes on under a new leader.
    let before = acked.lock().unwrap().len();
    eventually(
        "20 writes acknowledged by a new leader",
        Duration::from_secs(30),
        || async {
            let acked = acked.lock().unwrap();
            let by_new = acked[before..]
                .iter()
                .filter(|a| a.committed_by != leader)
                .count();
            (by_new >= 20).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.iter().any(|a| a.committed_by != leader));

    // Invariant 2: every acknowledged write, at its seq, on both survivors and on cluster b.
    let killed = node_number(&leader);
    for id in [1, 2, 3, 4].into_iter().filter(|id| *id != killed) {
        serves_every_acked_write(&mesh, id, &acked).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_write_recovers_cuts_its_torn_tail_and_loses_no_acknowledged_write() {
    let _one = exclusive().await;
    let mut mesh = ProcessMesh::start().await;
    let urls: Vec<String> = [1, 2, 3]
        .iter()
        .map(|id| mesh.events_url(*id, "orders"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = write_stream(mesh.http(), urls, stop.clone(), acked.clone());
    let leader = eventually(
        "20 acknowledged writes",
        Duration::from_secs(30),
        || async {
            let acked = acked.lock().unwrap();
            (acked.len() >= 20).then(|| node_number(&acked[acked.len() - 1].committed_by))
        },
    )
    .await;
    // A follower, killed while writes stream through its cluster.
    let victim = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    mesh.kill(victim);
    let before = acked.lock().unwrap().len();
    eventually(
        "10 more writes while it is down",
        Duration::from_secs(30),
        || async { (acked.lock().unwrap().len() >= before + 10).then_some(()) },
    )
    .await;
    // While it is down, its last write is torn: garbage after the last whole record.
    let segment = mesh.tear_last_segment(victim, &[0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03]);
    mesh.spawn(victim);
    let log = eventually("the torn tail logged", Duration::from_secs(30), || async {
        let log = mesh.stderr(victim);
        log.contains("torn tail truncated").then_some(log)
    })
    .await;
    let name = segment.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        log.lines()
            .any(|l| l.contains("torn tail truncated") && l.contains(name)),
        "the log line names the segment {name}:\n{log}"
    );
    eventually(
        "writes keep being acknowledged",
        Duration::from_secs(30),
        || async { (acked.lock().unwrap().len() >= before + 20).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let acked = acked.lock().unwrap().clone();
    // The restarted node serves every acknowledged write (its own and those it missed).
    serves_every_acked_write(&mesh, victim, &acked).await;
}

#[test]
fn a_node_whose_config_has_an_error_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[node]\nid = \"n1\"\ncluster = \"a\"\nregion = \"r\"\ndata_dir = \"data\"\n\n[gossip]\nprofile = \"warp-speed\"\n",
    )
    .expect("write");
    let output = std::process::Command::new(binary())
        .args(["node", "--config"])
        .arg(&config)
        .output()
        .expect("run omnirelay");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("gossip.profile"), "names the key: {stderr}");
}
