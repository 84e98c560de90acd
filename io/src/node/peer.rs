//! The peer transport: `NodeTransport/Deliver` client streams over the mesh's mutual-TLS
//! gRPC (`io::transport`).
//!
//! Outbound: one task per peer owns one connection to it and one open `Deliver` stream;
//! the driver's sends go into that peer's bounded queue, which drops its *oldest* entry when
//! full (a peer that is down must not make the node run out of memory, and for Raft and
//! gossip the newest message supersedes older ones). Inbound: the server checks that the
//! sender's certificate names the node in the envelope's `from`, decodes, and hands the
//! message to the driver.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnirelay_core::NodeId;
use omnirelay_core::node::NodeMessage;
use omnirelay_proto::v1;
use omnirelay_proto::v1::node_transport_client::NodeTransportClient;
use omnirelay_proto::v1::node_transport_server::NodeTransport;
use tokio::sync::{Notify, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::driver::Inbound;
use super::outbox::Outbox;
use crate::convert::node::{envelope_from_wire, envelope_into_wire};
use crate::tls::Identity;
use crate::transport::{Dialer, Network, peer_identity};

/// Envelopes queued per peer before the oldest are dropped.
pub const DEFAULT_PEER_QUEUE: usize = 4096;

/// One peer's queue.
#[derive(Debug)]
struct PeerQueue {
    envelopes: Mutex<VecDeque<v1::NodeEnvelope>>,
    ready: Notify,
    dropped: AtomicU64,
    capacity: usize,
}

impl PeerQueue {
    fn push(&self, envelope: v1::NodeEnvelope) {
        if let Ok(mut q) = self.envelopes.lock() {
            q.push_back(envelope);
            while q.len() > self.capacity {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ready.notify_one();
    }

    fn take(&self) -> Vec<v1::NodeEnvelope> {
        self.envelopes
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }
}

/// The outbound side: a queue and a sender task per peer.
#[derive(Debug)]
pub struct PeerOutbox {
    me: NodeId,
    peers: BTreeMap<NodeId, Arc<PeerQueue>>,
    unknown: AtomicU64,
}

impl PeerOutbox {
    /// Starts one sender task per peer of `addresses` (except `me`), dialing with
    /// `dialer`, until `shutdown` turns true.
    pub fn start<N: Network>(
        me: NodeId,
        addresses: &BTreeMap<NodeId, String>,
        dialer: Arc<Dialer<N>>,
        queue: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<PeerOutbox> {
        let mut peers = BTreeMap::new();
        for (&peer, address) in addresses.iter().filter(|(id, _)| **id != me) {
            let q = Arc::new(PeerQueue {
                envelopes: Mutex::new(VecDeque::new()),
                ready: Notify::new(),
                dropped: AtomicU64::new(0),
                capacity: queue.max(1),
            });
            tokio::spawn(run_peer(
                peer,
                address.clone(),
                Arc::clone(&dialer),
                Arc::clone(&q),
                shutdown.clone(),
            ));
            peers.insert(peer, q);
        }
        Arc::new(PeerOutbox {
            me,
            peers,
            unknown: AtomicU64::new(0),
        })
    }
}

impl Outbox for PeerOutbox {
    fn send(&self, to: NodeId, message: NodeMessage) {
        let Some(queue) = self.peers.get(&to) else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(envelope) = envelope_into_wire(self.me, to, message) {
            queue.push(envelope);
        }
    }

    fn drops(&self) -> Vec<(NodeId, u64)> {
        self.peers
            .iter()
            .map(|(id, q)| (*id, q.dropped.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Dial, open a stream, feed it from the queue; on any failure wait and start over. While
/// the peer is unreachable the queue keeps only its newest entries.
async fn run_peer<N: Network>(
    peer: NodeId,
    address: String,
    dialer: Arc<Dialer<N>>,
    queue: Arc<PeerQueue>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut reported = false;
    while !*shutdown.borrow() {
        let channel = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            dialed = dialer.connect(&address) => dialed,
        };
        let channel = match channel {
            Ok(c) => c,
            Err(e) => {
                if !reported {
                    tracing::warn!(%peer, %address, error = %e, "peer unreachable; retrying");
                    reported = true;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if reported {
            tracing::info!(%peer, %address, "peer reachable again");
        }
        reported = false;
        backoff = Duration::from_millis(50);
        let (tx, rx) = mpsc::channel::<v1::NodeEnvelope>(1024);
        let mut client = NodeTransportClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let mut call = tokio::spawn(async move { client.deliver(ReceiverStream::new(rx)).await });
        'stream: loop {
            for envelope in queue.take() {
                if tx.send(envelope).await.is_err() {
                    break 'stream;
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    drop(tx);
                    let _ = tokio::time::timeout(Duration::from_secs(1), &mut call).await;
                    return;
                }
                ended = &mut call => {
                    tracing::debug!(%peer, ?ended, "stream to peer ended");
                    break 'stream;
                }
                () = queue.ready.notified() => {}
            }
        }
        call.abort();
    }
}

/// The inbound side: the `NodeTransport` service.
#[derive(Debug, Clone)]
pub struct TransportService {
    me: NodeId,
    inbound: mpsc::Sender<Inbound>,
    refused: Arc<AtomicU64>,
}

impl TransportService {
    pub(crate) fn new(me: NodeId, inbound: mpsc::Sender<Inbound>) -> Self {
        TransportService {
            me,
            inbound,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Envelopes refused so far (undecodable, misaddressed, or sent under another identity).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[tonic::async_trait]
impl NodeTransport for TransportService {
    async fn deliver(
        &self,
        request: Request<Streaming<v1::NodeEnvelope>>,
    ) -> Result<Response<v1::DeliverAck>, Status> {
        let Identity::Node { node: sender, .. } = peer_identity(&request)? else {
            return Err(Status::permission_denied(
                "only mesh nodes may deliver node messages",
            ));
        };
        let mut stream = request.into_inner();
        let (mut received, mut refused) = (0u64, 0u64);
        loop {
            // A stopped driver ends every inbound stream at once, so the listener's graceful
            // shutdown does not wait for each peer's next message.
            // biased: a replay must resolve "message and stop both ready" the same way.
            let envelope = tokio::select! {
                biased;
                next = stream.message() => match next? {
                    Some(envelope) => envelope,
                    None => break,
                },
                () = self.inbound.closed() => {
                    return Err(Status::unavailable("the node is stopping"));
                }
            };
            received += 1;
            match envelope_from_wire(envelope) {
                Ok((from, to, message)) if from == sender && to == self.me => {
                    if self.inbound.send(Inbound { from, message }).await.is_err() {
                        return Err(Status::unavailable("the node is stopping"));
                    }
                }
                Ok((from, to, _)) => {
                    refused += 1;
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%sender, %from, %to, me = %self.me, "envelope refused: sender or addressee does not match");
                }
                Err(e) => {
                    refused += 1;
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%sender, error = %e, "envelope refused: does not decode");
                }
            }
        }
        Ok(Response::new(v1::DeliverAck { received, refused }))
    }
}
