//! The real mesh transport (tonic over HTTP/2 over rustls mutual TLS) between turmoil
//! hosts, through `sim::chaos::net::TurmoilNetwork` (ARCHITECTURE.md, "io: shells":
//! "the transport is generic over the network so the same code runs on tokio sockets and
//! on turmoil's simulated ones").

mod chaos_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos_support::{EchoGossip, PORT, envelope, material, material_from, node, serve_gossip};
use omnirelay_io::tls::MeshCa;
use omnirelay_io::transport::{ClientSettings, DialError, Dialer, TransportError};
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_sim::chaos::harness::SimSettings;
use omnirelay_sim::chaos::net::TurmoilNetwork;

fn endpoint() -> String {
    format!("server:{PORT}")
}

#[test]
fn mtls_grpc_call_succeeds_between_turmoil_hosts() {
    let ca = MeshCa::generate("chaos-test").unwrap();
    let server = material(&ca, &node(1, "us-east"), "server");
    let client = material(&ca, &node(2, "eu-west"), "client");
    let gossip = EchoGossip::default();
    let callers = gossip.callers.clone();

    let mut sim = SimSettings::new(1).build();
    sim.host("server", move || {
        serve_gossip(server.clone(), gossip.clone(), None)
    });
    sim.client("client", async move {
        let dialer = Dialer::new(TurmoilNetwork, &client, ClientSettings::default())?;
        let channel = dialer.connect(&endpoint()).await?;
        let reply = GossipClient::new(channel)
            .exchange(envelope(2))
            .await?
            .into_inner();
        assert_eq!(
            reply.replies,
            vec![envelope(2)],
            "the server echoes the envelope"
        );
        Ok(())
    });
    sim.run().unwrap();

    // The handler saw the identity the client's certificate carries, verified by mTLS.
    assert_eq!(*callers.lock().unwrap(), vec![node(2, "eu-west")]);
}

#[test]
fn client_with_a_certificate_from_another_ca_is_refused() {
    let ca = MeshCa::generate("chaos-test").unwrap();
    let stranger_ca = MeshCa::generate("another-mesh").unwrap();
    let server = material(&ca, &node(1, "us-east"), "server");
    // Trusts our CA (so it accepts the server) but was issued by another one.
    let intruder = material_from(&ca, &stranger_ca, &node(9, "eu-west"), "client");
    let gossip = EchoGossip::default();
    let callers = gossip.callers.clone();
    let (refusals_tx, mut refusals) = tokio::sync::broadcast::channel(8);
    let outcome: Arc<Mutex<Option<Result<(), TransportError>>>> = Arc::default();
    let seen = outcome.clone();

    let mut sim = SimSettings::new(2).build();
    sim.host("server", move || {
        serve_gossip(server.clone(), gossip.clone(), Some(refusals_tx.clone()))
    });
    sim.client("client", async move {
        let dialer = Dialer::new(TurmoilNetwork, &intruder, ClientSettings::default())?;
        let result = dialer.connect(&endpoint()).await.map(drop);
        *seen.lock().unwrap() = Some(result);
        Ok(())
    });
    sim.run().unwrap();

    let result = outcome.lock().unwrap().take().expect("the client ran");
    assert!(
        matches!(
            result,
            Err(TransportError::Dial(DialError::CertificateRefused { .. }))
        ),
        "a foreign certificate is refused at connect time, and said so: {result:?}"
    );
    let refusal = refusals.try_recv().expect("the server reports the refusal");
    assert!(
        refusal.remote_addr.ip().is_ipv4(),
        "the refusal names the client's address"
    );
    assert!(
        callers.lock().unwrap().is_empty(),
        "no call reached the handler"
    );
}

/// (phase, call number, succeeded)
type CallOutcome = (&'static str, u32, bool);

/// FINDINGS.md, "Network behaviour under turmoil": a partition stalls TCP silently; with
/// HTTP/2 keepalive the channel notices, and a call after repair reconnects.
#[test]
fn calls_fail_during_a_partition_and_succeed_again_after_repair() {
    let ca = MeshCa::generate("chaos-test").unwrap();
    let server = material(&ca, &node(1, "us-east"), "server");
    let client = material(&ca, &node(2, "eu-west"), "client");
    let gossip = EchoGossip::default();
    let callers = gossip.callers.clone();
    let outcomes: Arc<Mutex<Vec<CallOutcome>>> = Arc::default();
    let log = outcomes.clone();

    let mut sim = SimSettings::new(3).build();
    sim.host("server", move || {
        serve_gossip(server.clone(), gossip.clone(), None)
    });
    sim.client("client", async move {
        let dialer = Dialer::new(TurmoilNetwork, &client, ClientSettings::default())?;
        // Lazy, as a node's long-lived peer channels are: it must reconnect by itself.
        let mut gossip = GossipClient::new(dialer.connect_lazy(&endpoint())?);
        let mut call = async |phase, n| {
            let reply =
                tokio::time::timeout(Duration::from_secs(1), gossip.exchange(envelope(2))).await;
            let ok = matches!(reply, Ok(Ok(_)));
            log.lock().unwrap().push((phase, n, ok));
            ok
        };

        assert!(call("before", 0).await, "the first call succeeds");
        turmoil::partition("client", "server");
        for n in 0..3 {
            call("partitioned", n).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        turmoil::repair("client", "server");
        // Liveness, not speed: within 30 simulated seconds a call gets through again.
        for n in 0..30 {
            if call("repaired", n).await {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    });
    sim.run().unwrap();

    let outcomes = outcomes.lock().unwrap().clone();
    let partitioned: Vec<bool> = outcomes
        .iter()
        .filter(|(phase, _, _)| *phase == "partitioned")
        .map(|(_, _, ok)| *ok)
        .collect();
    assert_eq!(partitioned, vec![false; 3], "no call crosses a partition");
    let repaired = outcomes
        .iter()
        .filter(|(phase, _, _)| *phase == "repaired")
        .collect::<Vec<_>>();
    assert_eq!(
        repaired.last().map(|(_, _, ok)| *ok),
        Some(true),
        "after repair a call succeeds again: {outcomes:?}"
    );
    println!(
        "calls after repair until one succeeded: {} (1 s timeout, 1 s apart); all: {outcomes:?}",
        repaired.len()
    );
    // Only the calls that succeeded reached the handler: nothing leaked across the cut.
    let successes = outcomes.iter().filter(|(_, _, ok)| *ok).count();
    assert_eq!(callers.lock().unwrap().len(), successes);
}
