//! Throughput of the mesh transport over loopback with mutual TLS: unary calls per second
//! (1 and 16 in flight on one channel) and server-stream messages per second, with
//! 256-byte encoded messages.
//!
//! ```sh
//! cargo run --release -p omnirelay-io --example transport_bench [seconds per run]
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{
    ClientSettings, Dialer, MeshChannel, MeshListener, MeshRoutes, ServerSettings, TokioNetwork,
};
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_proto::v1::gossip_server::{Gossip, GossipServer};
use omnirelay_proto::v1::leadership_client::LeadershipClient;
use omnirelay_proto::v1::leadership_server::{Leadership, LeadershipServer};
use omnirelay_proto::v1::{GossipEnvelope, GossipReplies, LeadershipEvent, WatchLeadershipRequest};
use prost::Message;
use tonic::{Request, Response, Status};

const MESSAGE_BYTES: usize = 256;

fn node(n: u64) -> Identity {
    Identity::Node {
        node: NodeId(n),
        cluster: ClusterId::new("bench").expect("valid cluster name"),
        role: Role::Voter,
    }
}

fn material(ca: &MeshCa, who: &Identity) -> anyhow::Result<TlsMaterial> {
    let issued = ca.issue(who, &[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])?;
    Ok(TlsMaterial::from_pem(
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )?)
}

/// Pads a string field until the whole message encodes to exactly `MESSAGE_BYTES`.
fn padded<M: Message>(make: impl Fn(String) -> M) -> M {
    let mut pad = String::new();
    while make(pad.clone()).encoded_len() < MESSAGE_BYTES {
        pad.push('x');
    }
    make(pad)
}

fn envelope() -> GossipEnvelope {
    padded(|cluster_id| GossipEnvelope {
        sender: 2,
        scope: 1,
        cluster_id,
        body: None,
    })
}

fn event() -> LeadershipEvent {
    padded(|cluster_id| LeadershipEvent {
        cluster_id,
        leader_id: 1,
        term: 7,
        at_unix_nanos: 1,
    })
}

/// Echoes each envelope back.
struct Echo;

#[tonic::async_trait]
impl Gossip for Echo {
    async fn exchange(
        &self,
        request: Request<GossipEnvelope>,
    ) -> Result<Response<GossipReplies>, Status> {
        Ok(Response::new(GossipReplies {
            replies: vec![request.into_inner()],
        }))
    }
}

/// Streams the same event until the watcher hangs up.
struct Firehose;

#[tonic::async_trait]
impl Leadership for Firehose {
    type WatchStream = tokio_stream::Iter<
        std::iter::Map<
            std::iter::Repeat<LeadershipEvent>,
            fn(LeadershipEvent) -> Result<LeadershipEvent, Status>,
        >,
    >;

    async fn watch(
        &self,
        _: Request<WatchLeadershipRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let ok: fn(LeadershipEvent) -> Result<LeadershipEvent, Status> = Ok;
        Ok(Response::new(tokio_stream::iter(
            std::iter::repeat(event()).map(ok),
        )))
    }
}

async fn unary(channel: &MeshChannel, in_flight: usize, run: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let deadline = started + run;
    let mut callers = Vec::new();
    for _ in 0..in_flight {
        let mut client = GossipClient::new(channel.clone());
        callers.push(tokio::spawn(async move {
            let request = envelope();
            let mut calls = 0u64;
            while Instant::now() < deadline {
                client.exchange(request.clone()).await?;
                calls += 1;
            }
            Ok::<_, Status>(calls)
        }));
    }
    let mut calls = 0;
    for caller in callers {
        calls += caller.await??;
    }
    Ok(calls as f64 / started.elapsed().as_secs_f64())
}

async fn server_stream(channel: &MeshChannel, run: Duration) -> anyhow::Result<f64> {
    let mut stream = LeadershipClient::new(channel.clone())
        .watch(WatchLeadershipRequest::default())
        .await?
        .into_inner();
    let started = Instant::now();
    let mut messages = 0u64;
    while started.elapsed() < run {
        // Checking the clock every message would cost as much as a message.
        for _ in 0..1024 {
            if stream.message().await?.is_none() {
                anyhow::bail!("stream ended early");
            }
            messages += 1;
        }
    }
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 3,
    };
    let run = Duration::from_secs(secs);
    let ca = MeshCa::generate("bench mesh")?;
    let listener = MeshListener::bind(
        TokioNetwork,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        &material(&ca, &node(1))?,
        ServerSettings::default(),
    )
    .await?;
    let endpoint = listener.local_addr().to_string();
    let routes = MeshRoutes::new()
        .add_service(GossipServer::new(Echo))
        .add_service(LeadershipServer::new(Firehose));
    tokio::spawn(listener.serve(routes, std::future::pending()));

    let dialer = Dialer::new(
        TokioNetwork,
        &material(&ca, &node(2))?,
        ClientSettings::default(),
    )?;
    let channel = dialer.connect(&endpoint).await?;
    println!(
        "mTLS loopback, {MESSAGE_BYTES}-byte messages (request {} B, event {} B), {secs} s per run",
        envelope().encoded_len(),
        event().encoded_len()
    );
    // Warm up the connection and the allocator.
    unary(&channel, 16, Duration::from_millis(300)).await?;
    println!(
        "unary, 1 in flight:    {:>10.0} calls/s",
        unary(&channel, 1, run).await?
    );
    println!(
        "unary, 16 in flight:   {:>10.0} calls/s",
        unary(&channel, 16, run).await?
    );
    println!(
        "server stream:         {:>10.0} msgs/s",
        server_stream(&channel, run).await?
    );
    Ok(())
}
