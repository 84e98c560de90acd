//! The channel under load and at rest: Nagle off on real sockets, keepalive that keeps
//! idle streams alive, many calls multiplexed on one connection (FINDINGS.md, transport
//! traps).

mod transport_support;

use std::time::Duration;

use omnirelay_io::tls::MeshCa;
use omnirelay_io::transport::{ClientSettings, Dialer, ServerSettings};
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_proto::v1::leadership_client::LeadershipClient;
use omnirelay_proto::v1::{LeadershipEvent, WatchLeadershipRequest};
use transport_support::*;

fn event(term: u64) -> LeadershipEvent {
    LeadershipEvent {
        cluster_id: "us-east".into(),
        leader_id: 1,
        term,
        at_unix_nanos: 0,
    }
}

#[tokio::test]
async fn accepted_and_dialed_sockets_have_tcp_nodelay_set() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let network = ObservedNetwork::default();
    let server = serve(
        network.clone(),
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    for n in 2..5 {
        let dialer = Dialer::new(
            network.clone(),
            &material(&ca, &node(n, "us-east")),
            ClientSettings::default(),
        )
        .unwrap();
        let channel = dialer.connect(&server.endpoint).await.unwrap();
        GossipClient::new(channel)
            .exchange(envelope(n))
            .await
            .unwrap();
    }
    // Read back from the kernel (getsockopt), not from a flag of ours.
    assert_eq!(network.seen.accepted(), vec![true; 3]);
    assert_eq!(network.seen.dialed(), vec![true; 3]);
}

#[tokio::test]
async fn a_server_stream_keeps_delivering_after_idling_longer_than_the_keepalive_interval() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let network = ObservedNetwork::default();
    let keepalive = Duration::from_millis(200);
    let (leadership, events) = ScriptedLeadership::new();
    let server = serve(
        network.clone(),
        &material(&ca, &node(1, "us-east")),
        ServerSettings {
            keepalive_interval: keepalive,
            keepalive_timeout: Duration::from_secs(2),
            ..ServerSettings::default()
        },
        leadership_routes(leadership),
    )
    .await;
    let dialer = Dialer::new(
        network.clone(),
        &material(&ca, &node(2, "us-east")),
        // The client stays quiet, so whatever the server writes while idle is its own
        // keepalive.
        ClientSettings {
            keepalive_interval: Duration::from_secs(3600),
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let mut client = LeadershipClient::new(dialer.connect(&server.endpoint).await.unwrap());
    let mut stream = client
        .watch(WatchLeadershipRequest::default())
        .await
        .unwrap()
        .into_inner();
    events.send(event(1)).await.unwrap();
    assert_eq!(stream.message().await.unwrap(), Some(event(1)));

    // Idle for several keepalive intervals: only the server's PINGs cross the wire.
    let before_idle = network.seen.server_bytes();
    tokio::time::sleep(keepalive * 6).await;
    let during_idle = network.seen.server_bytes() - before_idle;
    assert!(during_idle > 0, "the server sent no keepalive while idle");

    events.send(event(2)).await.unwrap();
    assert_eq!(stream.message().await.unwrap(), Some(event(2)));
    assert_eq!(network.seen.accepted().len(), 1, "the stream reconnected");
}

#[tokio::test]
async fn many_concurrent_unary_calls_share_one_channel_and_one_connection() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let network = ObservedNetwork::default();
    let gossip = EchoGossip::default();
    let server = serve(
        network.clone(),
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(gossip.clone()),
    )
    .await;
    let dialer = Dialer::new(
        network.clone(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let channel = dialer.connect(&server.endpoint).await.unwrap();
    let calls = 500;
    let tasks: Vec<_> = (0..calls)
        .map(|n| {
            let mut client = GossipClient::new(channel.clone());
            tokio::spawn(async move { client.exchange(envelope(n)).await })
        })
        .collect();
    for (n, task) in (0..calls).zip(tasks) {
        // Each answer belongs to its own call: no crossed streams.
        let reply = task.await.unwrap().unwrap().into_inner();
        assert_eq!(reply.replies, vec![envelope(n)]);
    }
    assert_eq!(gossip.callers.lock().unwrap().len(), calls as usize);
    assert_eq!(network.seen.accepted().len(), 1);
}

#[tokio::test]
async fn a_service_the_listener_does_not_serve_is_answered_unimplemented() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let server = serve(
        ObservedNetwork::default(),
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let dialer = Dialer::new(
        ObservedNetwork::default(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let channel = dialer.connect(&server.endpoint).await.unwrap();
    let status = LeadershipClient::new(channel.clone())
        .watch(WatchLeadershipRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    // The routed service still answers on the same channel.
    GossipClient::new(channel)
        .exchange(envelope(2))
        .await
        .unwrap();
}

#[tokio::test]
async fn endpoints_that_are_not_host_and_port_are_refused() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let dialer = Dialer::new(
        ObservedNetwork::default(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    for bad in [
        "localhost",
        "https://localhost:7000",
        "localhost:7000/x",
        "a b:1",
    ] {
        let err = dialer.connect_lazy(bad).unwrap_err();
        assert!(
            matches!(&err, omnirelay_io::transport::TransportError::InvalidEndpoint { endpoint, .. } if endpoint == bad),
            "{bad}: {err}"
        );
    }
    assert!(dialer.connect_lazy("[::1]:7000").is_ok());
}

#[tokio::test]
async fn an_idle_channel_keeps_pinging_the_server() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let network = ObservedNetwork::default();
    let keepalive = Duration::from_millis(200);
    let server = serve(
        network.clone(),
        &material(&ca, &node(1, "us-east")),
        // The server stays quiet, so whatever it writes while idle answers client PINGs.
        ServerSettings {
            keepalive_interval: Duration::from_secs(3600),
            ..ServerSettings::default()
        },
        gossip_routes(EchoGossip::default()),
    )
    .await;
    let dialer = Dialer::new(
        network.clone(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings {
            keepalive_interval: keepalive,
            keepalive_timeout: Duration::from_secs(2),
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let mut client = GossipClient::new(dialer.connect(&server.endpoint).await.unwrap());
    client.exchange(envelope(2)).await.unwrap();

    // No call open: a partition would go unnoticed without PINGs while idle (FINDINGS.md).
    let before_idle = network.seen.server_bytes();
    tokio::time::sleep(keepalive * 6).await;
    assert!(
        network.seen.server_bytes() > before_idle,
        "the client sent no keepalive while idle"
    );
    client.exchange(envelope(3)).await.unwrap();
    assert_eq!(network.seen.accepted().len(), 1, "the channel reconnected");
}

#[tokio::test]
async fn a_stopped_server_releases_its_port() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let listener = omnirelay_io::transport::MeshListener::bind(
        ObservedNetwork::default(),
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        &material(&ca, &node(1, "us-east")),
        ServerSettings::default(),
    )
    .await
    .unwrap();
    let addr = listener.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(listener.serve(gossip_routes(EchoGossip::default()), async {
        let _ = stopped.await;
    }));
    let dialer = Dialer::new(
        ObservedNetwork::default(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let channel = dialer.connect(&addr.to_string()).await.unwrap();
    GossipClient::new(channel.clone())
        .exchange(envelope(2))
        .await
        .unwrap();
    drop(channel);
    drop(stop);
    serving.await.unwrap().unwrap();
    // The accept task notices the server is gone and drops the listening socket with it.
    let mut refused = false;
    for _ in 0..500 {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(
        refused,
        "{addr} still accepts connections after the server stopped"
    );
}

#[tokio::test]
async fn dialing_a_port_nobody_listens_on_says_unreachable() {
    let ca = MeshCa::generate("test mesh").unwrap();
    let vacated = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = vacated.local_addr().unwrap().to_string();
    drop(vacated);
    let dialer = Dialer::new(
        ObservedNetwork::default(),
        &material(&ca, &node(2, "us-east")),
        ClientSettings::default(),
    )
    .unwrap();
    let err = dialer.connect(&endpoint).await.unwrap_err();
    assert!(
        matches!(&err, omnirelay_io::transport::TransportError::Dial(omnirelay_io::transport::DialError::Unreachable { server, .. }) if *server == endpoint),
        "{err}"
    );
}
