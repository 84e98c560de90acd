//! Shared by the chaos tests: certificates for turmoil hosts and a tiny Gossip server over
//! the real mesh transport.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{
    ClientSettings, Dialer, MeshListener, MeshRoutes, Refusal, ServerSettings, peer_identity,
};
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_proto::v1::gossip_server::{Gossip, GossipServer};
use omnirelay_proto::v1::{GossipEnvelope, GossipReplies};
use omnirelay_sim::chaos::harness::{SimSettings, TraceRecorder};
use omnirelay_sim::chaos::net::TurmoilNetwork;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

/// The port every test server listens on.
pub const PORT: u16 = 7000;

pub fn node(n: u64, cluster: &str) -> Identity {
    Identity::Node {
        node: NodeId(n),
        cluster: ClusterId::new(cluster).unwrap(),
        role: Role::Voter,
    }
}

/// Material for `who` on turmoil host `host` (its certificate names the host, because the
/// dialer verifies the server against the name it dialed), issued by `issuer`, trusting
/// `trust`.
pub fn material_from(trust: &MeshCa, issuer: &MeshCa, who: &Identity, host: &str) -> TlsMaterial {
    let issued = issuer.issue(who, &[host.to_owned()], &[]).unwrap();
    TlsMaterial::from_pem(
        trust.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap()
}

pub fn material(ca: &MeshCa, who: &Identity, host: &str) -> TlsMaterial {
    material_from(ca, ca, who, host)
}

/// Gossip that echoes the envelope and records who called.
#[derive(Clone, Debug, Default)]
pub struct EchoGossip {
    pub callers: Arc<Mutex<Vec<Identity>>>,
}

#[tonic::async_trait]
impl Gossip for EchoGossip {
    async fn exchange(
        &self,
        request: Request<GossipEnvelope>,
    ) -> Result<Response<GossipReplies>, Status> {
        let caller = peer_identity(&request)?;
        self.callers.lock().unwrap().push(caller);
        Ok(Response::new(GossipReplies {
            replies: vec![request.into_inner()],
        }))
    }
}

pub fn envelope(sender: u64) -> GossipEnvelope {
    GossipEnvelope {
        sender,
        scope: 1,
        cluster_id: "us-east".into(),
        body: None,
    }
}

/// Serves `gossip` on this turmoil host's port [`PORT`] until the host stops; refusals
/// are forwarded to `refusals`.
pub async fn serve_gossip(
    material: TlsMaterial,
    gossip: EchoGossip,
    refusals: Option<broadcast::Sender<Refusal>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = MeshListener::bind(
        TurmoilNetwork,
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)),
        &material,
        ServerSettings::default(),
    )
    .await?;
    if let Some(sink) = refusals {
        let mut seen = listener.refusals();
        tokio::spawn(async move {
            while let Ok(refusal) = seen.recv().await {
                let _ = sink.send(refusal);
            }
        });
    }
    let routes = MeshRoutes::new().add_service(GossipServer::new(gossip));
    listener.serve(routes, std::future::pending()).await?;
    Ok(())
}

/// Gossip that records each call it serves into the trace.
#[derive(Clone, Debug)]
struct TracedGossip {
    trace: TraceRecorder,
}

#[tonic::async_trait]
impl Gossip for TracedGossip {
    async fn exchange(
        &self,
        request: Request<GossipEnvelope>,
    ) -> Result<Response<GossipReplies>, Status> {
        let caller = peer_identity(&request)?;
        let envelope = request.into_inner();
        self.trace.record(
            "server",
            format!("served {caller} sender={}", envelope.sender),
        );
        tracing::info!(%caller, sender = envelope.sender, "served");
        Ok(Response::new(GossipReplies {
            replies: vec![envelope],
        }))
    }
}

/// Certificates for one run, minted fresh (so rustls and rcgen draw new keys and nonces
/// from the OS each run: the trace must not notice).
struct Pki {
    server: TlsMaterial,
    clients: [TlsMaterial; 2],
}

fn pki() -> Pki {
    let ca = MeshCa::generate("chaos-determinism").unwrap();
    Pki {
        server: material(&ca, &node(1, "us-east"), "server"),
        clients: [
            material(&ca, &node(2, "eu-west"), "client-1"),
            material(&ca, &node(3, "ap-south"), "client-2"),
        ],
    }
}

/// One run of `seed`: the real mesh transport under load and a partition. Two clients
/// call a server at intervals drawn from the seed, through mTLS gRPC, while the driver cuts
/// client-1 off from 4 s to 9 s. Returns its trace.
pub fn run(seed: u64) -> TraceRecorder {
    let trace = TraceRecorder::new();
    let Pki { server, clients } = pki();
    let mut settings = SimSettings::new(seed);
    settings.duration = Duration::from_secs(40);
    settings.max_latency = Duration::from_millis(20);
    let mut sim = settings.build();

    let gossip = TracedGossip {
        trace: trace.clone(),
    };
    sim.host("server", move || {
        let (server, gossip) = (server.clone(), gossip.clone());
        async move {
            let listener = MeshListener::bind(
                TurmoilNetwork,
                ([0, 0, 0, 0], PORT).into(),
                &server,
                ServerSettings::default(),
            )
            .await?;
            let routes = MeshRoutes::new().add_service(GossipServer::new(gossip));
            listener.serve(routes, std::future::pending()).await?;
            Ok(())
        }
    });
    for (i, material) in clients.into_iter().enumerate() {
        let name = format!("client-{}", i + 1);
        let trace = trace.clone();
        // The workload's own randomness: from the seed, never from the OS.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64 + 1));
        let host = name.clone();
        sim.client(name, async move {
            let dialer = Dialer::new(TurmoilNetwork, &material, ClientSettings::default())?;
            let mut gossip = GossipClient::new(dialer.connect_lazy(&format!("server:{PORT}"))?);
            for n in 0..40u64 {
                let pause = rng.random_range(50..600);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let reply =
                    tokio::time::timeout(Duration::from_secs(1), gossip.exchange(envelope(n)))
                        .await;
                // Only what the run decides: the call, its outcome's kind, the time.
                let outcome = match reply {
                    Ok(Ok(_)) => "ok".to_owned(),
                    Ok(Err(status)) => format!("error {:?}", status.code()),
                    Err(_) => "timed out".to_owned(),
                };
                trace.record(&host, format!("call {n} {outcome}"));
            }
            Ok(())
        });
    }

    // The driver steps the simulation and injects a partition from 4 s to 9 s.
    let mut partitioned = false;
    let mut healed = false;
    loop {
        let elapsed = sim.elapsed();
        if !partitioned && elapsed >= Duration::from_secs(4) {
            sim.partition("client-1", "server");
            trace.record_at(elapsed, "sim", "partition client-1 server");
            partitioned = true;
        }
        if !healed && elapsed >= Duration::from_secs(9) {
            sim.repair("client-1", "server");
            trace.record_at(elapsed, "sim", "repair client-1 server");
            healed = true;
        }
        if sim.step().unwrap() {
            break;
        }
    }
    trace.record_at(sim.elapsed(), "sim", "end");
    trace
}
