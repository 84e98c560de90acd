//! Shared by the transport tests: certificates, a network that reports what the transport
//! did to its sockets, and tiny Gossip and Leadership servers.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{
    MeshListener, MeshRoutes, Network, Refusal, ServerSettings, TokioNetwork, peer_identity,
};
use omnirelay_proto::v1::gossip_server::{Gossip, GossipServer};
use omnirelay_proto::v1::leadership_server::{Leadership, LeadershipServer};
use omnirelay_proto::v1::{GossipEnvelope, GossipReplies, LeadershipEvent, WatchLeadershipRequest};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{broadcast, mpsc, oneshot};
use tonic::{Request, Response, Status};

pub fn node(n: u64, cluster: &str) -> Identity {
    Identity::Node {
        node: NodeId(n),
        cluster: ClusterId::new(cluster).unwrap(),
        role: Role::Voter,
    }
}

/// Material for `who`, issued by `issuer`, trusting `trust`'s CA.
pub fn material_from(trust: &MeshCa, issuer: &MeshCa, who: &Identity) -> TlsMaterial {
    let issued = issuer
        .issue(
            who,
            &["localhost".into()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
        .unwrap();
    TlsMaterial::from_pem(
        trust.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap()
}

pub fn material(ca: &MeshCa, who: &Identity) -> TlsMaterial {
    material_from(ca, ca, who)
}

/// What the transport did with the sockets of an [`ObservedNetwork`], read from the real
/// sockets.
#[derive(Debug, Default)]
pub struct Observations {
    /// `TCP_NODELAY` of each accepted socket, as the OS reports it after the accept.
    pub accepted_nodelay: Mutex<Vec<bool>>,
    /// `TCP_NODELAY` of each dialed socket.
    pub dialed_nodelay: Mutex<Vec<bool>>,
    /// Bytes written on accepted sockets (TLS records: data, PINGs, PING ACKs).
    pub server_bytes_written: AtomicU64,
}

impl Observations {
    pub fn accepted(&self) -> Vec<bool> {
        self.accepted_nodelay.lock().unwrap().clone()
    }
    pub fn dialed(&self) -> Vec<bool> {
        self.dialed_nodelay.lock().unwrap().clone()
    }
    pub fn server_bytes(&self) -> u64 {
        self.server_bytes_written.load(Ordering::SeqCst)
    }
}

/// [`TokioNetwork`], observed.
#[derive(Clone, Debug, Default)]
pub struct ObservedNetwork {
    pub seen: Arc<Observations>,
}

impl Network for ObservedNetwork {
    type Stream = CountedStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        TokioNetwork.bind(addr).await
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        TokioNetwork.local_addr(listener)
    }

    async fn accept<'a>(
        &'a self,
        listener: &'a Self::Listener,
    ) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, remote) = TokioNetwork.accept(listener).await?;
        self.seen
            .accepted_nodelay
            .lock()
            .unwrap()
            .push(stream.nodelay()?);
        Ok((
            CountedStream {
                inner: stream,
                written: Some(self.seen.clone()),
            },
            remote,
        ))
    }

    async fn connect<'a>(&'a self, host: &'a str, port: u16) -> io::Result<Self::Stream> {
        let stream = TokioNetwork.connect(host, port).await?;
        self.seen
            .dialed_nodelay
            .lock()
            .unwrap()
            .push(stream.nodelay()?);
        Ok(CountedStream {
            inner: stream,
            written: None,
        })
    }
}

/// A TCP stream that counts what the server side writes.
#[derive(Debug)]
pub struct CountedStream {
    inner: tokio::net::TcpStream,
    written: Option<Arc<Observations>>,
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(seen)) = (&written, &this.written) {
            seen.server_bytes_written
                .fetch_add(*n as u64, Ordering::SeqCst);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

/// Leadership whose watch streams forward what the test pushes, and which records who
/// watched.
#[derive(Debug)]
pub struct ScriptedLeadership {
    events: Mutex<Option<mpsc::Receiver<LeadershipEvent>>>,
    pub watchers: Arc<Mutex<Vec<Identity>>>,
}

impl ScriptedLeadership {
    /// The service (one watch stream) and the sender of its events.
    pub fn new() -> (Self, mpsc::Sender<LeadershipEvent>) {
        let (tx, rx) = mpsc::channel(1024);
        (
            ScriptedLeadership {
                events: Mutex::new(Some(rx)),
                watchers: Arc::default(),
            },
            tx,
        )
    }
}

#[tonic::async_trait]
impl Leadership for ScriptedLeadership {
    type WatchStream = tokio_stream::wrappers::ReceiverStream<Result<LeadershipEvent, Status>>;

    async fn watch(
        &self,
        request: Request<WatchLeadershipRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let caller = peer_identity(&request)?;
        self.watchers.lock().unwrap().push(caller);
        let mut events = self
            .events
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| Status::resource_exhausted("one watcher only"))?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
}

/// A running test server; dropping it stops the server.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub endpoint: String,
    pub refusals: broadcast::Receiver<Refusal>,
    _stop: oneshot::Sender<()>,
}

/// Serves `routes` on 127.0.0.1, port 0.
pub async fn serve<N: Network>(
    network: N,
    material: &TlsMaterial,
    settings: ServerSettings,
    routes: MeshRoutes,
) -> TestServer {
    let listener = MeshListener::bind(
        network,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        material,
        settings,
    )
    .await
    .unwrap();
    let addr = listener.local_addr();
    let refusals = listener.refusals();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(listener.serve(routes, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        endpoint: addr.to_string(),
        refusals,
        _stop: stop,
    }
}

/// Routes with an echoing Gossip service.
pub fn gossip_routes(gossip: EchoGossip) -> MeshRoutes {
    MeshRoutes::new().add_service(GossipServer::new(gossip))
}

/// Routes with a scripted Leadership service.
pub fn leadership_routes(leadership: ScriptedLeadership) -> MeshRoutes {
    MeshRoutes::new().add_service(LeadershipServer::new(leadership))
}

pub fn envelope(sender: u64) -> GossipEnvelope {
    GossipEnvelope {
        sender,
        scope: 1,
        cluster_id: "us-east".into(),
        body: None,
    }
}
