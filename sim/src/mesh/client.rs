//! A model client: a steady write workload over several namespaces that follows redirects,
//! retries, and records every acknowledged write.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::node::{
    ClientMessage, ClientWrite, NodeMessage, Topology, WriteOutcome, WriteRefusal,
};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::routing::RetryReason;
use omnirelay_core::{ClusterId, Instant, NamespaceId, NodeId, Transmit};

/// How long a node that let a write time out is avoided.
const SUSPECT_FOR: Duration = Duration::from_secs(2);

/// How long a node that answered "fenced" is avoided.
const FENCED_FOR: Duration = Duration::from_millis(500);

/// An acknowledged write: the client was told it is durable in its active cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ack {
    /// Namespace.
    pub namespace: NamespaceId,
    /// The unique key the client wrote.
    pub key: Vec<u8>,
    /// Where it was accepted.
    pub origin_cluster: ClusterId,
    /// Its sequence there.
    pub origin_seq: u64,
    /// Its fencing token.
    pub failover_version: FailoverVersion,
    /// When the client first sent it.
    pub sent_at: Instant,
    /// When the acknowledgement arrived.
    pub acked_at: Instant,
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientEvent {
    /// A write was acknowledged.
    Acked(Ack),
    /// A write was refused for good.
    Refused {
        /// The namespace.
        namespace: NamespaceId,
        /// Why.
        refusal: WriteRefusal,
    },
}

#[derive(Clone, Debug)]
struct InFlight {
    namespace: NamespaceId,
    key: Vec<u8>,
    to: NodeId,
    first_sent: Instant,
    deadline: Instant,
}

/// A write workload at a fixed rate, round-robin over namespaces.
#[derive(Debug)]
pub struct ModelClient {
    id: NodeId,
    topology: Arc<Topology>,
    namespaces: Vec<NamespaceId>,
    interval: Duration,
    timeout: Duration,
    running: bool,
    next_send: Option<Instant>,
    sent: u64,
    /// Where each namespace's writes go now.
    route: BTreeMap<NamespaceId, NodeId>,
    rotation: usize,
    in_flight: BTreeMap<u64, InFlight>,
    retries: BTreeMap<Instant, Vec<u64>>,
    /// Nodes that let a write time out, avoided until the instant given (a client library's
    /// circuit breaker: a dead region is not retried on every write).
    suspect: BTreeMap<NodeId, Instant>,
    outbox: VecDeque<Transmit<NodeMessage>>,
    events: VecDeque<ClientEvent>,
}

impl ModelClient {
    /// A client writing `rate` writes per second over the topology's namespaces.
    pub fn new(id: NodeId, topology: Arc<Topology>, rate: u32, now: Instant) -> Self {
        let route = topology
            .namespaces
            .iter()
            .filter_map(|(ns, cluster)| {
                let first = topology.cluster(cluster)?.nodes.first().copied()?;
                Some((ns.clone(), first))
            })
            .collect();
        ModelClient {
            id,
            namespaces: topology.namespaces.iter().map(|(n, _)| n.clone()).collect(),
            topology,
            interval: Duration::from_secs(1) / rate.max(1),
            timeout: Duration::from_millis(500),
            running: true,
            next_send: Some(now),
            sent: 0,
            route,
            rotation: 0,
            in_flight: BTreeMap::new(),
            retries: BTreeMap::new(),
            suspect: BTreeMap::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts or stops issuing new writes (writes in flight still finish).
    pub fn set_running(&mut self, now: Instant, running: bool) {
        self.running = running;
        self.next_send = running.then_some(now);
    }

    /// Writes sent and not yet answered for good.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Writes issued.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn send(&mut self, now: Instant, request: u64) {
        let Some(f) = self.in_flight.get_mut(&request) else {
            return;
        };
        f.deadline = now + self.timeout;
        let write = ClientWrite {
            request,
            namespace: f.namespace.clone(),
            key: f.key.clone(),
            payload: vec![0x5a; 64],
            token: None,
        };
        self.outbox.push_back(Transmit {
            to: f.to,
            msg: NodeMessage::Client(ClientMessage::Write(write)),
        });
    }

    fn is_suspect(&self, node: NodeId, now: Instant) -> bool {
        self.suspect.get(&node).is_some_and(|until| *until > now)
    }

    /// The next node of `candidates` in turn that is not suspect (any, if all are).
    fn pick(&mut self, candidates: &[NodeId], avoid: NodeId, now: Instant) -> Option<NodeId> {
        let n = candidates.len();
        for _ in 0..n {
            self.rotation += 1;
            let node = candidates[self.rotation % n];
            if node != avoid && !self.is_suspect(node, now) {
                return Some(node);
            }
        }
        None
    }

    /// Any data node other than `avoid`, in turn, preferring ones that answer.
    fn next_node(&mut self, avoid: NodeId, now: Instant) -> NodeId {
        let nodes: Vec<NodeId> = self
            .topology
            .clusters
            .iter()
            .flat_map(|c| c.nodes.iter().copied())
            .collect();
        self.pick(&nodes, avoid, now)
            .unwrap_or_else(|| nodes[self.rotation % nodes.len().max(1)])
    }

    pub(crate) fn handle_message(&mut self, now: Instant, from: NodeId, msg: NodeMessage) {
        let NodeMessage::Client(ClientMessage::Reply(reply)) = msg else {
            return;
        };
        self.suspect.remove(&from);
        let Some(f) = self.in_flight.get(&reply.request).cloned() else {
            return; // a late answer to a write already settled
        };
        if f.to != from {
            return; // an answer from a node we gave up on; the retry will answer
        }
        match reply.outcome {
            WriteOutcome::Accepted {
                origin_cluster,
                origin_seq,
                failover_version,
            } => {
                self.in_flight.remove(&reply.request);
                self.route.insert(f.namespace.clone(), from);
                self.events.push_back(ClientEvent::Acked(Ack {
                    namespace: f.namespace,
                    key: f.key,
                    origin_cluster,
                    origin_seq,
                    failover_version,
                    sent_at: f.first_sent,
                    acked_at: now,
                }));
            }
            WriteOutcome::Redirect { nodes, .. } => match self.pick(&nodes, from, now) {
                Some(to) => self.reroute(now, reply.request, to),
                None => {
                    // Every node of the named cluster timed out lately: its news is stale.
                    // Ask the redirecting node again shortly; it learns placements first.
                    let at = now + Duration::from_millis(50);
                    self.retries.entry(at).or_default().push(reply.request);
                    if let Some(f) = self.in_flight.get_mut(&reply.request) {
                        f.deadline = at + self.timeout;
                    }
                }
            },
            WriteOutcome::NotLeader { leader } | WriteOutcome::Unknown { leader } => {
                let to = match leader {
                    Some(l) if l != from && !self.is_suspect(l, now) => l,
                    _ => self.next_node(from, now),
                };
                self.reroute(now, reply.request, to);
            }
            WriteOutcome::RetryLater {
                reason: RetryReason::Fenced,
                ..
            } => {
                // A fenced node may be cut off from the control group: do not wait on it,
                // ask elsewhere (any node answers with the placement it knows).
                self.suspect.insert(from, now + FENCED_FOR);
                let to = self.next_node(from, now);
                self.reroute(now, reply.request, to);
            }
            WriteOutcome::RetryLater { retry_after, .. } => {
                let at = now + retry_after.min(Duration::from_millis(100));
                self.retries.entry(at).or_default().push(reply.request);
                if let Some(f) = self.in_flight.get_mut(&reply.request) {
                    f.deadline = at + self.timeout;
                }
            }
            WriteOutcome::Refused(refusal) => {
                self.in_flight.remove(&reply.request);
                self.events.push_back(ClientEvent::Refused {
                    namespace: f.namespace,
                    refusal,
                });
            }
        }
    }

    fn reroute(&mut self, now: Instant, request: u64, to: NodeId) {
        if let Some(f) = self.in_flight.get_mut(&request) {
            f.to = to;
            self.route.insert(f.namespace.clone(), to);
        }
        self.send(now, request);
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Instant> = self.retries.range(..=now).map(|(at, _)| *at).collect();
        for at in due {
            for request in self.retries.remove(&at).unwrap_or_default() {
                let route = self
                    .in_flight
                    .get(&request)
                    .and_then(|f| self.route.get(&f.namespace).copied());
                if let (Some(to), Some(f)) = (route, self.in_flight.get_mut(&request)) {
                    f.to = to;
                }
                self.send(now, request);
            }
        }
        let silent: Vec<(u64, NodeId)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(r, f)| (*r, f.to))
            .collect();
        for (request, was) in silent {
            self.suspect.insert(was, now + SUSPECT_FOR);
            let to = self.next_node(was, now);
            self.reroute(now, request, to);
        }
        self.suspect.retain(|_, until| *until > now);
        while self.running && self.next_send.is_some_and(|t| t <= now) {
            let at = self.next_send.unwrap_or(now);
            self.next_send = Some(at + self.interval);
            if self.namespaces.is_empty() {
                break;
            }
            let namespace = self.namespaces[(self.sent as usize) % self.namespaces.len()].clone();
            self.sent += 1;
            let request = self.sent;
            let to = self
                .route
                .get(&namespace)
                .copied()
                .unwrap_or_else(|| self.next_node(self.id, now));
            let key = format!("{}-{request}", self.id).into_bytes();
            self.in_flight.insert(
                request,
                InFlight {
                    namespace,
                    key,
                    to,
                    first_sent: now,
                    deadline: now + self.timeout,
                },
            );
            self.send(now, request);
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit<NodeMessage>> {
        self.outbox.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut next = if self.running { self.next_send } else { None };
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if let Some((at, _)) = self.retries.first_key_value() {
            consider(*at);
        }
        if let Some(d) = self.in_flight.values().map(|f| f.deadline).min() {
            consider(d);
        }
        next
    }
}
