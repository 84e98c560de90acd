//! The client API's HTTP/JSON form, in process: two clusters of three nodes with mutual
//! TLS (issue #6 "Client API"; ARCHITECTURE.md io "api").

mod api_support;

use std::sync::Arc;

use api_support::{ApiMesh, MAX_BODY, MAX_PAYLOAD, eventually};
use axum::http::{Method, StatusCode};
use omnirelay_io::api::client::HttpApiClient;
use omnirelay_io::api::{AppendReply, ReadReply, VERSION_VECTOR_HEADER};
use omnirelay_io::tls::{Identity, MeshCa, TlsMaterial};
use serde_json::json;

/// POSTs `body` to node `id`, retrying while the mesh settles (503), following redirects.
async fn append(mesh: &ApiMesh, id: u64, body: &serde_json::Value) -> AppendReply {
    let client = mesh.http();
    let body = body.to_string();
    eventually("an accepted HTTP write", || async {
        let reply = client
            .call_following(
                Method::POST,
                &mesh.events_url(id, "orders"),
                &[],
                Some(body.as_bytes()),
                2,
            )
            .await
            .ok()?;
        match reply.status {
            StatusCode::OK => Some(reply.json().expect("append reply")),
            StatusCode::SERVICE_UNAVAILABLE => None,
            other => panic!(
                "write answered {other}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
    })
    .await
}

async fn read(mesh: &ApiMesh, id: u64, query: &str) -> (ReadReply, String) {
    let reply = mesh
        .http()
        .call(
            Method::GET,
            &format!("{}{query}", mesh.events_url(id, "orders")),
            &[],
            None,
        )
        .await
        .expect("read");
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let vv = reply
        .header(VERSION_VECTOR_HEADER)
        .expect("VV header")
        .to_owned();
    (reply.json().expect("read reply"), vv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_written_to_any_node_of_the_active_cluster_is_committed_and_read_back_on_the_other_cluster()
 {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    // A follower forwards the batch to its leader: no redirect for the client.
    let follower = mesh.follower_of("a").await;
    let body = json!({"events": [
        {"key": "k1", "payload": "one"},
        {"key": "k2", "payload_base64": "AAEC/w=="},
        {"key_base64": "a2V5Mw==", "payload": "three"},
    ]});
    let appended = append(&mesh, follower, &body).await;
    assert_eq!(appended.origin_cluster, "a");
    assert_eq!(appended.origin_seqs.len(), 3);
    assert!(
        appended.origin_seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "a batch gets consecutive origin_seqs: {:?}",
        appended.origin_seqs
    );
    let last = *appended.origin_seqs.last().expect("seqs");

    // Acknowledged means committed: the leader serves it at once.
    // Replicated: every node of cluster b eventually serves all three, with its VV header.
    for id in [4, 5, 6] {
        let (reply, vv) = eventually("the batch on cluster b", || async {
            let (reply, vv) = read(&mesh, id, "").await;
            (reply.events.len() == 3).then_some((reply, vv))
        })
        .await;
        assert_eq!(reply.served_by, "b");
        assert_eq!(reply.events[0].payload.as_deref(), Some("one"));
        assert_eq!(
            reply.events[1].payload_base64.as_deref(),
            Some("AAEC/w=="),
            "non-UTF-8 payloads come back as base64"
        );
        assert_eq!(reply.events[2].key.as_deref(), Some("key3"));
        assert!(
            vv.contains(&format!("a={last}")),
            "VV header {vv:?} covers a:{last}"
        );
        assert_eq!(reply.version_vector, vv);
        // Reading on from next_after returns nothing new.
        let (again, _) = read(&mesh, id, &format!("?after={}", reply.next_after)).await;
        assert!(
            again.events.is_empty(),
            "next_after continues after the last event"
        );
    }
    // after_seq (default origin: the active cluster) skips what the caller has.
    let (tail, _) = read(&mesh, 4, &format!("?after_seq={}&limit=10", last - 1)).await;
    assert_eq!(tail.events.len(), 1);
    assert_eq!(tail.events[0].origin_seq, last);
    // A limit cuts the page, and next_after resumes exactly after it.
    let (page, _) = read(&mesh, 4, "?limit=2").await;
    assert_eq!(page.events.len(), 2);
    let (rest, _) = read(
        &mesh,
        4,
        &format!("?after={}", page.next_after.replace('=', ":")),
    )
    .await;
    assert_eq!(rest.events.len(), 1);
    assert_eq!(rest.events[0].origin_seq, last);
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_the_passive_cluster_is_redirected_with_307_to_the_active_cluster() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let client = mesh.http();
    let body = json!({"events": [{"key": "k", "payload": "v"}]}).to_string();
    let redirect = eventually("a 307 from cluster b", || async {
        let reply = client
            .call(
                Method::POST,
                &mesh.events_url(5, "orders"),
                &[],
                Some(body.as_bytes()),
            )
            .await
            .ok()?;
        (reply.status == StatusCode::TEMPORARY_REDIRECT).then_some(reply)
    })
    .await;
    let location = redirect.header("location").expect("Location").to_owned();
    let a_urls: Vec<String> = [1, 2, 3]
        .iter()
        .map(|id| mesh.events_url(*id, "orders"))
        .collect();
    assert!(
        a_urls.contains(&location),
        "Location {location} is cluster a's, same path"
    );
    let error: serde_json::Value = redirect.json().expect("JSON error");
    assert_eq!(error["error"]["code"], "misrouted");

    // Following it (then the leader forward inside cluster a) succeeds.
    let reply = client
        .call_following(
            Method::POST,
            &mesh.events_url(5, "orders"),
            &[],
            Some(body.as_bytes()),
            2,
        )
        .await
        .expect("followed");
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.redirects, 1,
        "one redirect: any node of the active cluster takes it"
    );
    let appended: AppendReply = reply.json().expect("reply");
    assert_eq!(appended.origin_cluster, "a");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_4xx_naming_the_problem_and_writes_nothing() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let client = mesh.http();
    let url = mesh.events_url(1, "orders");
    let big = "x".repeat(MAX_PAYLOAD + 1);
    let huge = "y".repeat(MAX_BODY + 1);
    // (body, expected status, error code, words the message must contain)
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            "{\"events\": [".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "body",
        ),
        (
            json!({"events": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "at least one",
        ),
        (
            json!({"events": [{"payload": "v"}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "events[0].key",
        ),
        (
            json!({"events": [{"key": "ok", "payload": "v"}, {"key": "", "payload": "v"}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "events[1].key",
        ),
        (
            json!({"events": [{"key": "k", "payload_base64": "not base64!"}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "payload_base64",
        ),
        (
            json!({"events": [{"key": "k", "colour": "red"}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "colour",
        ),
        (
            json!({"events": [{"key": "ok", "payload": "v"}, {"key": "k", "payload": big}]})
                .to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "events[1].payload",
        ),
        (
            json!({"events": [{"key": "k", "payload": huge}]}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "limit",
        ),
        // Failover versions start at 1: 0 is older than any.
        (
            json!({"events": [{"key": "k", "payload": "v"}], "fencing_token": 0}).to_string(),
            StatusCode::CONFLICT,
            "stale_fencing_token",
            "stale fencing token",
        ),
    ];
    for (body, status, code, words) in &cases {
        let reply = client
            .call(Method::POST, &url, &[], Some(body.as_bytes()))
            .await
            .expect("answer");
        assert_eq!(
            reply.status,
            *status,
            "body {:.60}: {}",
            body,
            String::from_utf8_lossy(&reply.body)
        );
        let error: serde_json::Value = reply.json().expect("a JSON error body");
        assert_eq!(error["error"]["code"], *code);
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(words), "{message:?} names {words:?}");
    }
    let unknown = client
        .call(
            Method::POST,
            &mesh.events_url(1, "payments"),
            &[],
            Some(json!({"events": [{"key": "k"}]}).to_string().as_bytes()),
        )
        .await
        .expect("answer");
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&unknown.body).contains("payments"));
    let invalid_name = client
        .call(Method::GET, &mesh.events_url(1, "Not_Valid!"), &[], None)
        .await
        .expect("answer");
    assert_eq!(invalid_name.status, StatusCode::BAD_REQUEST);
    let bad_vv = client
        .call(Method::GET, &format!("{url}?after=a:x"), &[], None)
        .await
        .expect("answer");
    assert_eq!(bad_vv.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bad_vv.body).contains("after"));

    // Nothing was written: cluster a's own origin never moved.
    for id in [1, 2, 3] {
        let status = mesh.handle(id).status().await.expect("status");
        let a = omnirelay_core::ClusterId::new("a").unwrap();
        assert_eq!(status.applied.get(&a), 0, "n{id} applied no event");
    }
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_follow_the_version_vector_header_and_the_preferred_cluster() {
    let mesh = ApiMesh::start().await;
    mesh.settled().await;
    let client = mesh.http();
    // A vector nobody has reached: the passive cluster sends the client to the active one,
    // and the active one (which would loop) asks it to retry.
    let ahead = [(VERSION_VECTOR_HEADER, "a:1000")];
    let from_b = client
        .call(Method::GET, &mesh.events_url(4, "orders"), &ahead, None)
        .await
        .expect("answer");
    assert_eq!(from_b.status, StatusCode::TEMPORARY_REDIRECT);
    let location = from_b.header("location").expect("Location");
    assert!(
        [1, 2, 3]
            .iter()
            .any(|id| location == mesh.events_url(*id, "orders")),
        "{location} is cluster a's"
    );
    let from_a = client
        .call(Method::GET, &mesh.events_url(1, "orders"), &ahead, None)
        .await
        .expect("answer");
    assert_eq!(from_a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        from_a.header("retry-after").is_some(),
        "503 carries Retry-After"
    );

    // A vector the cluster has reached is served locally.
    let caught_up = client
        .call(
            Method::GET,
            &mesh.events_url(4, "orders"),
            &[(VERSION_VECTOR_HEADER, "")],
            None,
        )
        .await
        .expect("answer");
    assert_eq!(caught_up.status, StatusCode::OK);

    // Affinity: a read at a that prefers b goes to b (same path and query); at b it stays.
    let url = format!("{}?limit=5", mesh.events_url(1, "orders"));
    let prefer_b = client
        .call(
            Method::GET,
            &url,
            &[("x-omnirelay-preferred-cluster", "b")],
            None,
        )
        .await
        .expect("answer");
    assert_eq!(prefer_b.status, StatusCode::TEMPORARY_REDIRECT);
    let location = prefer_b.header("location").expect("Location").to_owned();
    assert!(
        [4, 5, 6]
            .iter()
            .any(|id| location == format!("{}?limit=5", mesh.events_url(*id, "orders"))),
        "{location} is cluster b's"
    );
    let served = client
        .call_following(
            Method::GET,
            &url,
            &[("x-omnirelay-preferred-cluster", "b")],
            None,
            1,
        )
        .await
        .expect("followed");
    assert_eq!(served.status, StatusCode::OK);
    let reply: ReadReply = served.json().expect("reply");
    assert_eq!(reply.served_by, "b");
    let unknown = client
        .call(
            Method::GET,
            &url,
            &[("x-omnirelay-preferred-cluster", "zz")],
            None,
        )
        .await
        .expect("answer");
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_of_the_mesh_ca_is_refused() {
    let mesh = ApiMesh::start().await;
    let url = mesh.events_url(1, "orders");
    // No certificate at all.
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(mesh.dir.path().join("tls/ca.pem")).expect("ca");
        for der in <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem) {
            roots.add(der.expect("pem")).expect("root");
        }
        roots
    };
    let anonymous = rustls::ClientConfig::builder_with_provider(omnirelay_io::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let refused = HttpApiClient::with_config(Arc::new(anonymous))
        .call(Method::GET, &url, &[], None)
        .await;
    assert!(refused.is_err(), "no certificate: refused, got {refused:?}");

    // A certificate from another CA (it still trusts the mesh CA for the server).
    let other = MeshCa::generate("another CA").expect("CA");
    let identity = Identity::Operator {
        name: omnirelay_core::ClusterId::new("intruder").unwrap(),
    };
    let issued = other
        .issue(&identity, &["localhost".into()], &[])
        .expect("issue");
    let pem = std::fs::read(mesh.dir.path().join("tls/ca.pem")).expect("ca");
    let foreign =
        TlsMaterial::from_pem(&pem, issued.cert_pem.as_bytes(), issued.key_pem.as_bytes())
            .expect("material");
    let refused = HttpApiClient::new(&foreign)
        .expect("client")
        .call(Method::GET, &url, &[], None)
        .await;
    assert!(refused.is_err(), "foreign CA: refused, got {refused:?}");

    // The mesh's own application certificate is served.
    let served = mesh
        .http()
        .call(Method::GET, &url, &[], None)
        .await
        .expect("served");
    assert_ne!(served.status.as_u16(), 0);
    mesh.stop().await;
}
