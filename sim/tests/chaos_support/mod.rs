//! Shared by the chaos tests: certificates for turmoil hosts and a tiny Gossip server over
//! the real mesh transport.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{MeshListener, MeshRoutes, Refusal, ServerSettings, peer_identity};
use omnirelay_proto::v1::GossipEnvelope;
use omnirelay_proto::v1::GossipReplies;
use omnirelay_proto::v1::gossip_server::{Gossip, GossipServer};
use omnirelay_sim::chaos::net::TurmoilNetwork;
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
