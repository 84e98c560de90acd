//! Mutual TLS through the whole gRPC stack: who gets a call through, who is refused and
//! what each side is told (ARCHITECTURE.md, "io: shells", transport).

mod transport_support;

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::ClusterId;
use omnirelay_io::tls::{self, Identity, MeshCa, TlsError};
use omnirelay_io::transport::{
    ClientSettings, DialError, Dialer, RefusalReason, ServerSettings, TokioNetwork, TransportError,
    peer_identity,
};
use omnirelay_proto::v1::WatchLeadershipRequest;
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_proto::v1::leadership_client::LeadershipClient;
use tokio::net::TcpStream;
use transport_support::*;

/// A client configuration trusting `ca` that presents no certificate at all.
fn anonymous_client(ca: &MeshCa) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pki_types::pem::PemObject::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(der.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![tls::ALPN_H2.to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn a_mesh_client_call_succeeds_and_the_handler_sees_its_exact_identity() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let gossip = EchoGossip::default();
    let server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(gossip.clone()),
    )
    .await;
    let client_id = node(2, "eu-west");
    let dialer = Dialer::new(
        TokioNetwork,
        &material(&ca, &client_id),
        ClientSettings::default(),
    )
    .unwrap();
    let channel = dialer.connect(&server.endpoint).await.unwrap();
    let reply = GossipClient::new(channel)
        .exchange(envelope(2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.replies, vec![envelope(2)]);
    assert_eq!(*gossip.callers.lock().unwrap(), vec![client_id]);
}

#[tokio::test]
async fn a_server_stream_handler_sees_the_watcher_identity() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let (leadership, events) = ScriptedLeadership::new();
    let watchers = leadership.watchers.clone();
    let server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        leadership_routes(leadership),
    )
    .await;
    let watcher = node(5, "ap-south");
    let dialer = Dialer::new(
        TokioNetwork,
        &material(&ca, &watcher),
        ClientSettings::default(),
    )
    .unwrap();
    let mut client = LeadershipClient::new(dialer.connect(&server.endpoint).await.unwrap());
    let mut stream = client
        .watch(WatchLeadershipRequest::default())
        .await
        .unwrap()
        .into_inner();
    let event = omnirelay_proto::v1::LeadershipEvent {
        cluster_id: "us-east".into(),
        leader_id: 1,
        term: 3,
        at_unix_nanos: 0,
    };
    events.send(event.clone()).await.unwrap();
    assert_eq!(stream.message().await.unwrap(), Some(event));
    assert_eq!(*watchers.lock().unwrap(), vec![watcher]);
}

#[tokio::test]
async fn a_client_without_a_certificate_is_told_its_certificate_was_refused() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let gossip = EchoGossip::default();
    let mut server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(gossip.clone()),
    )
    .await;
    let dialer = Dialer::with_client_config(
        TokioNetwork,
        anonymous_client(&ca),
        ClientSettings::default(),
    );
    let err = dialer.connect(&server.endpoint).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Dial(DialError::CertificateRefused { server: s, .. }) if *s == server.endpoint),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("certificate refused by server"),
        "{err}"
    );

    let refusal = server.refusals.recv().await.unwrap();
    assert!(
        matches!(&refusal.reason, RefusalReason::Tls(e) if matches!(&**e, TlsError::Handshake { reason, .. } if reason.contains("certificate"))),
        "{}",
        refusal.reason
    );
    assert!(gossip.callers.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_from_another_ca_is_told_its_certificate_was_refused() {
    let mesh = MeshCa::generate("test mesh").unwrap();
    let rogue = MeshCa::generate("rogue").unwrap();
    let mut server = serve(
        TokioNetwork,
        &material(&mesh, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    // Trusts the mesh CA, so it accepts the server; its own certificate is the rogue's.
    let client = material_from(&mesh, &rogue, &node(9, "us-east"));
    let dialer = Dialer::new(TokioNetwork, &client, ClientSettings::default()).unwrap();
    let err = dialer.connect(&server.endpoint).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Dial(DialError::CertificateRefused { reason, .. }) if reason.contains("UnknownCA")),
        "{err}"
    );
    let refusal = server.refusals.recv().await.unwrap();
    assert_eq!(refusal.remote_addr.ip(), server.addr.ip());
    assert!(
        refusal.reason.to_string().contains("UnknownIssuer"),
        "{}",
        refusal.reason
    );
}

#[tokio::test]
async fn a_lazy_channel_reports_a_refused_certificate_on_its_first_call() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let dialer = Dialer::with_client_config(
        TokioNetwork,
        anonymous_client(&ca),
        ClientSettings::default(),
    );
    let channel = dialer.connect_lazy(&server.endpoint).unwrap();
    let status = GossipClient::new(channel)
        .exchange(envelope(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("certificate refused by server"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused_by_the_dialer() {
    let mesh = MeshCa::generate("test mesh").unwrap();
    let rogue = MeshCa::generate("rogue").unwrap();
    let server = serve(
        TokioNetwork,
        &material(&rogue, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let dialer = Dialer::new(
        TokioNetwork,
        &material(&mesh, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let err = dialer.connect(&server.endpoint).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Dial(DialError::Handshake { reason, .. }) if reason.contains("UnknownIssuer")),
        "{err}"
    );
}

/// The mesh CA vouches for the host name, not for what the holder is: an operator's
/// certificate valid for the same host must not pass as a mesh server (found by review).
#[tokio::test]
async fn a_server_holding_an_operator_certificate_is_refused_by_the_dialer() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let operator = Identity::Operator {
        name: ClusterId::new("alice").unwrap(),
    };
    let server = serve(
        TokioNetwork,
        &material(&ca, &operator),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let dialer = Dialer::new(
        TokioNetwork,
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let err = dialer.connect(&server.endpoint).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Dial(DialError::NotANode { reason, .. }) if reason.contains("operator alice")),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_client_does_not_hold_up_other_handshakes() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let settings = ServerSettings {
        // Far longer than the dialer's budget: a serial accept path would make it fail.
        handshake_timeout: Duration::from_secs(600),
        ..ServerSettings::default()
    };
    let gossip = EchoGossip::default();
    let server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        settings,
        gossip_routes(gossip.clone()),
    )
    .await;
    // Connects and never says a word.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let dialer = Dialer::new(
        TokioNetwork,
        &material(&ca, &node(2, "us-east")),
        ClientSettings {
            connect_timeout: Duration::from_secs(20),
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let channel = dialer.connect(&server.endpoint).await.unwrap();
    GossipClient::new(channel)
        .exchange(envelope(2))
        .await
        .unwrap();
    assert_eq!(gossip.callers.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_refused_with_the_reason() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let settings = ServerSettings {
        handshake_timeout: Duration::from_millis(100),
        ..ServerSettings::default()
    };
    let mut server = serve(
        TokioNetwork,
        &material(&ca, &node(1, "us-east")),
        settings,
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let silent = TcpStream::connect(server.addr).await.unwrap();
    let refusal = server.refusals.recv().await.unwrap();
    assert_eq!(refusal.remote_addr, silent.local_addr().unwrap());
    assert!(matches!(
        refusal.reason,
        RefusalReason::HandshakeTimedOut(after) if after == Duration::from_millis(100)
    ));
}

#[test]
fn a_request_that_did_not_come_through_a_mesh_listener_has_no_identity() {
    let status = peer_identity(&tonic::Request::new(())).unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}
