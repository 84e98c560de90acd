//! The composite machine of one node.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::consensus::{
    self, Entry, EntryPayload, PersistId, PersistedState, Priority, Replica, ReplicaConfig,
    RoleKind, Term, VoterSet,
};
use crate::failover::FailoverController;
use crate::gossip::{
    GossipError, MemberMeta, Membership, MeshVersion, ProtocolRange, Role as GossipRole,
};
use crate::machine::{Machine, Transmit};
use crate::registry::{FailoverVersionScheme, Registry, RegistryError};
use crate::replication::{ClusterVersionVector, Lag};
use crate::routing::{self, RoutingError, WriteRoute};
use crate::{ClusterId, Instant, NodeId};

use super::command::{self, ClusterCommand, WriteCommand};
use super::config::{NodeConfig, TopologyError, WITNESS_CLUSTER};
use super::control::ControlRole;
use super::data::ClusterData;
use super::event::{Group, NodeDrop, NodeEvent};
use super::message::{
    ClientMessage, ClientWrite, MeshMessage, NodeMessage, OperatorReply, OperatorRequest,
    WriteOutcome, WriteRefusal, WriteReply,
};
use super::stream::Stream;

/// Who waits for a write's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Requester {
    /// A model client on the network, with its request handle.
    Remote(NodeId, u64),
    /// The shell's API, by its handle.
    Local(u64),
}

impl Requester {
    fn request(self) -> u64 {
        match self {
            Requester::Remote(_, request) | Requester::Local(request) => request,
        }
    }
}

/// What a node restarts from: each group's durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// The cluster group's log and hard state.
    pub cluster: PersistedState,
    /// The control group's log and hard state (voters only).
    pub control: PersistedState,
}

/// Why a node could not be built. Nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The topology is incoherent or does not name this node.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A persisted log could not be restored.
    #[error("{group:?} log: {source}")]
    Restore {
        /// Which log.
        group: Group,
        /// Why.
        source: consensus::RestoreError,
    },
    /// Gossip refused the node's metadata.
    #[error(transparent)]
    Gossip(#[from] GossipError),
    /// The failover-version scheme is unusable.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A configured name is not a valid cluster id.
    #[error(transparent)]
    Id(#[from] crate::IdError),
}

/// The data side of a cluster node: its consensus replica, its applied state, and what
/// its leader does for clients and other clusters.
#[derive(Debug)]
pub(crate) struct DataRole {
    pub(crate) replica: Replica,
    pub(crate) data: ClusterData,
    pub(crate) batch: Vec<(Requester, WriteCommand)>,
    pub(crate) flush_at: Option<Instant>,
    /// Proposed write batches by log index, with the term that proposed them.
    pub(crate) pending: BTreeMap<u64, (Term, Vec<Requester>)>,
    pub(crate) streams: BTreeMap<ClusterId, Stream>,
    /// Highest `origin_seq` per origin proposed into our log (leader only).
    pub(crate) proposed: ClusterVersionVector,
    pub(crate) proposed_placements: BTreeMap<crate::NamespaceId, (u64, Instant)>,
    pub(crate) proposed_holds: BTreeMap<ClusterId, Instant>,
    /// Which node of each cluster last streamed to us (where acknowledgements go).
    pub(crate) senders: BTreeMap<ClusterId, NodeId>,
    pub(crate) drain_waiters:
        BTreeMap<crate::failover::FailoverId, (crate::NamespaceId, u64, NodeId)>,
    pub(crate) freeze_waiters: BTreeMap<crate::failover::FailoverId, (ClusterId, NodeId)>,
    /// Since when this leader has seen each origin held, and when it last proposed a release.
    pub(crate) held_since: BTreeMap<ClusterId, (Instant, Option<Instant>)>,
}

/// One node of the mesh: gossip, its cluster's consensus and data, the control group's
/// registry when it is a control voter, and the failover controller when it leads that
/// group, behind one `handle_*`/`poll_*` contract.
///
/// Driving order (the same for the model simulator and the io shell):
///
/// 1. inputs: [`handle_message`](Machine::handle_message) for every arrived message,
///    [`handle_timeout`](Machine::handle_timeout) once [`poll_timeout`](Machine::poll_timeout)
///    is reached, [`handle_persisted`](Node::handle_persisted) when a
///    [`NodeEvent::Persist`] request of a group is durable, and the API calls
///    [`handle_client_write`](Node::handle_client_write) and
///    [`handle_operator`](Node::handle_operator);
/// 2. after each input drain [`poll_event`](Machine::poll_event) (write each `Persist`
///    request to its group's log, in order per group) and
///    [`poll_transmit`](Machine::poll_transmit) (send each). Messages that depend on a
///    write are released only after `handle_persisted` covers it, so sending at once is safe;
/// 3. ask `poll_timeout` again.
#[derive(Debug)]
pub struct Node {
    pub(crate) config: NodeConfig,
    pub(crate) cluster: Option<ClusterId>,
    /// The cluster name this node reports reachability under (`witness` for witnesses).
    pub(crate) reporter: ClusterId,
    pub(crate) gossip: Membership,
    pub(crate) data: Option<DataRole>,
    pub(crate) control: Option<ControlRole>,
    /// The newest registry this node knows (its own replica's, or the leader's broadcast).
    pub(crate) registry_view: Arc<Registry>,
    pub(crate) control_leader_hint: Option<NodeId>,
    /// When this node last heard the control group's leader (or led it).
    pub(crate) control_contact: Instant,
    pub(crate) last_heard: BTreeMap<ClusterId, Instant>,
    pub(crate) pending_ops: BTreeMap<u64, Instant>,
    next_tick: Instant,
    next_status: Instant,
    pub(crate) transmits: VecDeque<Transmit<NodeMessage>>,
    pub(crate) events: VecDeque<NodeEvent>,
    pub(crate) drops: BTreeMap<NodeDrop, u64>,
}

impl Node {
    /// Builds node `config.id` from what it persisted (`Restored::default()` for a new
    /// node). `seed` drives every random choice of its machines.
    pub fn new(
        config: NodeConfig,
        restored: Restored,
        seed: u64,
        now: Instant,
    ) -> Result<Node, NodeError> {
        let topology = Arc::clone(&config.topology);
        topology.validate()?;
        let id = config.id;
        let spec = topology.cluster_of(id);
        let is_witness = topology.witnesses.contains(&id);
        if spec.is_none() && !is_witness {
            return Err(TopologyError::NotInTopology(id).into());
        }
        let witness = ClusterId::new(WITNESS_CLUSTER)?;
        let reporter = spec.map_or(witness.clone(), |s| s.id.clone());
        let meta_of = |node: NodeId| -> MemberMeta {
            let spec = topology.cluster_of(node);
            MemberMeta {
                role: if spec.is_some() {
                    GossipRole::Voter
                } else {
                    GossipRole::Witness
                },
                cluster: spec.map_or(witness.clone(), |s| s.id.clone()),
                region: Arc::from(spec.map_or("witness", |s| s.region.as_str())),
                mesh_version: MeshVersion {
                    major: 0,
                    minor: 1,
                    patch: 0,
                },
                endpoints: Vec::new(),
                protocols: ProtocolRange { min: 1, max: 1 },
            }
        };
        let mut gossip = Membership::new(id, meta_of(id), config.gossip.clone(), seed, now)?;
        gossip.bootstrap_members(
            now,
            topology
                .all_nodes()
                .filter(|n| *n != id)
                .map(|n| (n, Arc::new(meta_of(n)))),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6f6d_6e69_7265_6c61);
        let data = match spec {
            Some(spec) => {
                let mut rc = ReplicaConfig::new(id);
                rc.election_timeout = config.cluster_election;
                rc.heartbeat_interval = config.cluster_heartbeat;
                let voters = VoterSet::uniform(spec.nodes.iter().copied());
                let replica = Replica::new(
                    rc,
                    voters,
                    restored.cluster,
                    ChaCha8Rng::from_rng(&mut rng),
                    now,
                )
                .map_err(|source| NodeError::Restore {
                    group: Group::Cluster,
                    source,
                })?;
                Some(DataRole {
                    replica,
                    data: ClusterData::new(spec.id.clone()),
                    batch: Vec::new(),
                    flush_at: None,
                    pending: BTreeMap::new(),
                    streams: BTreeMap::new(),
                    proposed: ClusterVersionVector::new(),
                    proposed_placements: BTreeMap::new(),
                    proposed_holds: BTreeMap::new(),
                    senders: BTreeMap::new(),
                    drain_waiters: BTreeMap::new(),
                    freeze_waiters: BTreeMap::new(),
                    held_since: BTreeMap::new(),
                })
            }
            None => None,
        };
        let scheme = FailoverVersionScheme::new(topology.failover_version_increment)?;
        let control = if topology.is_control_voter(id) {
            let mut rc = ReplicaConfig::new(id);
            rc.election_timeout = config.control_election;
            rc.heartbeat_interval = config.control_heartbeat;
            let voters = VoterSet::new(topology.control_voters.iter().map(|v| (*v, Priority(1))));
            let replica = Replica::new(
                rc,
                voters,
                restored.control,
                ChaCha8Rng::from_rng(&mut rng),
                now,
            )
            .map_err(|source| NodeError::Restore {
                group: Group::Control,
                source,
            })?;
            Some(ControlRole::new(replica, Registry::new(scheme)))
        } else {
            None
        };
        let last_heard = topology
            .clusters
            .iter()
            .map(|c| (c.id.clone(), now))
            .collect();
        Ok(Node {
            cluster: spec.map(|s| s.id.clone()),
            reporter,
            gossip,
            data,
            control,
            registry_view: Arc::new(Registry::new(scheme)),
            control_leader_hint: None,
            control_contact: now,
            last_heard,
            pending_ops: BTreeMap::new(),
            next_tick: now,
            next_status: now,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            drops: BTreeMap::new(),
            config,
        })
    }

    // ---- views ----------------------------------------------------------------------

    /// This node.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// Its configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Its cluster (`None` for a witness).
    pub fn cluster(&self) -> Option<&ClusterId> {
        self.cluster.as_ref()
    }

    /// The newest registry this node knows.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry_view
    }

    /// Its cluster's applied state (`None` for a witness).
    pub fn data(&self) -> Option<&ClusterData> {
        self.data.as_ref().map(|d| &d.data)
    }

    /// Its cluster's consensus replica.
    pub fn cluster_replica(&self) -> Option<&Replica> {
        self.data.as_ref().map(|d| &d.replica)
    }

    /// Its control-group replica (control voters only).
    pub fn control_replica(&self) -> Option<&Replica> {
        self.control.as_ref().map(|c| &c.replica)
    }

    /// The failover controller (control leader only).
    pub fn controller(&self) -> Option<&FailoverController> {
        self.control
            .as_ref()
            .and_then(|c| c.leader.as_ref())
            .map(|l| &l.controller)
    }

    /// Gossip membership.
    pub fn membership(&self) -> &Membership {
        &self.gossip
    }

    /// Whether this node leads its cluster.
    pub fn is_cluster_leader(&self) -> bool {
        self.data
            .as_ref()
            .is_some_and(|d| d.replica.role() == RoleKind::Leader)
    }

    /// Whether this node leads the control group.
    pub fn is_control_leader(&self) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c.replica.role() == RoleKind::Leader)
    }

    /// The control group's leader as this node last learned it.
    pub fn control_leader(&self) -> Option<NodeId> {
        self.control
            .as_ref()
            .and_then(|c| c.replica.leader())
            .or(self.control_leader_hint)
    }

    /// Replication lag of every other cluster behind this one (cluster leader only). A
    /// cluster that has not acknowledged anything to this leader yet is left out: its lag
    /// is unknown (a failover preflight refuses with `LagUnknown`), not "everything".
    pub fn stream_lags(&self, now: Instant) -> Vec<(ClusterId, Lag)> {
        let Some(d) = self.data.as_ref().filter(|_| self.is_cluster_leader()) else {
            return Vec::new();
        };
        d.streams
            .iter()
            .filter_map(|(target, s)| Some((target.clone(), s.lag(&d.data, now)?)))
            .collect()
    }

    /// Every cluster's replication lag towards each other cluster, as its leader last
    /// reported it to the control group: `(source, target, lag)`, in cluster order. Only a
    /// control voter holds these reports (empty elsewhere); a cluster that went quiet keeps
    /// its last report.
    pub fn reported_lags(&self) -> Vec<(ClusterId, ClusterId, Lag)> {
        let Some(c) = self.control.as_ref() else {
            return Vec::new();
        };
        c.statuses
            .values()
            .flat_map(|(_, status)| {
                status
                    .lags
                    .iter()
                    .map(|(target, lag)| (status.cluster.clone(), target.clone(), *lag))
            })
            .collect()
    }

    /// Namespaces on which clusters that applied the same events hold different contents,
    /// from the leaders' last reports (control voters only; empty elsewhere).
    pub fn divergent_namespaces(&self) -> Vec<super::message::Divergence> {
        self.control
            .as_ref()
            .map(|c| super::message::divergences(c.statuses.values().map(|(_, s)| s)))
            .unwrap_or_default()
    }

    /// A one-line view of the replication streams this node runs (leader) and what it has
    /// proposed from others, for debugging a stalled stream.
    pub fn describe_streams(&self) -> String {
        let Some(d) = self.data.as_ref() else {
            return String::new();
        };
        let streams: Vec<String> = d
            .streams
            .iter()
            .map(|(target, s)| format!("{target}: {}", s.describe()))
            .collect();
        format!("proposed {} | {}", d.proposed, streams.join(" | "))
    }

    /// Inputs the node dropped, by reason.
    pub fn drops(&self) -> &BTreeMap<NodeDrop, u64> {
        &self.drops
    }

    pub(crate) fn count_drop(&mut self, reason: NodeDrop) {
        *self.drops.entry(reason).or_default() += 1;
    }

    pub(crate) fn send(&mut self, to: NodeId, msg: NodeMessage) {
        self.transmits.push_back(Transmit { to, msg });
    }

    // ---- inputs ---------------------------------------------------------------------

    /// A persist request of `group` is durable.
    pub fn handle_persisted(&mut self, now: Instant, group: Group, id: PersistId) {
        let result = match group {
            Group::Cluster => self
                .data
                .as_mut()
                .map(|d| d.replica.handle_persisted(now, id)),
            Group::Control => self
                .control
                .as_mut()
                .map(|c| c.replica.handle_persisted(now, id)),
        };
        if matches!(result, None | Some(Err(_))) {
            self.count_drop(NodeDrop::UnknownPersist);
        }
        self.pump(now);
    }

    /// A client write through the shell's API; the answer comes as
    /// [`NodeEvent::WriteReply`] with `write.request`.
    pub fn handle_client_write(&mut self, now: Instant, write: ClientWrite) {
        self.on_write(now, Requester::Local(write.request), write);
        self.pump(now);
    }

    /// An operator's request; the answer comes as [`NodeEvent::OperatorReply`] with `op`.
    /// Served here when this node leads the control group, forwarded to the leader otherwise.
    pub fn handle_operator(&mut self, now: Instant, op: u64, request: OperatorRequest) {
        if self.is_control_leader() {
            let reply = self.serve_operator(now, request);
            self.events
                .push_back(NodeEvent::OperatorReply { op, reply });
        } else if let Some(leader) = self.control_leader().filter(|l| *l != self.id()) {
            self.pending_ops
                .insert(op, now + self.config.timings.operator_timeout);
            self.send(
                leader,
                NodeMessage::Mesh(MeshMessage::Operator { op, request }),
            );
        } else {
            self.events.push_back(NodeEvent::OperatorReply {
                op,
                reply: OperatorReply::Unavailable("no control-group leader is known".into()),
            });
        }
        self.pump(now);
    }

    fn on_write(&mut self, now: Instant, requester: Requester, write: ClientWrite) {
        let limits = self.config.limits;
        let refused = if write.payload.len() > limits.max_payload_bytes {
            Some(WriteRefusal::PayloadTooLarge {
                size: write.payload.len(),
                limit: limits.max_payload_bytes,
            })
        } else if write.key.is_empty() || write.key.len() > limits.max_key_bytes {
            Some(WriteRefusal::BadKey {
                size: write.key.len(),
                limit: limits.max_key_bytes,
            })
        } else if self.data.is_none() {
            Some(WriteRefusal::Witness)
        } else {
            None
        };
        if let Some(refusal) = refused {
            self.reply(requester, WriteOutcome::Refused(refusal));
            return;
        }
        let Some(local) = self.cluster.clone() else {
            return;
        };
        let route =
            routing::route_write(&self.registry_view, &local, &write.namespace, write.token);
        let token = match route {
            Err(RoutingError::UnknownNamespace(ns)) if self.registry_view.revision() > 0 => {
                let outcome = WriteOutcome::Refused(WriteRefusal::UnknownNamespace(ns));
                return self.reply(requester, outcome);
            }
            Err(RoutingError::UnknownNamespace(_)) => {
                let outcome = WriteOutcome::RetryLater {
                    reason: routing::RetryReason::RegistryBehind,
                    retry_after: routing::DEFAULT_RETRY_AFTER,
                };
                return self.reply(requester, outcome);
            }
            Err(RoutingError::StaleFencingToken {
                namespace,
                offered,
                current,
            }) => {
                let refusal = WriteRefusal::StaleFencingToken {
                    namespace,
                    offered,
                    current,
                };
                return self.reply(requester, WriteOutcome::Refused(refusal));
            }
            Ok(WriteRoute::Redirect {
                active_cluster,
                endpoints,
            }) => {
                let nodes = self
                    .config
                    .topology
                    .cluster(&active_cluster)
                    .map(|c| c.nodes.clone())
                    .unwrap_or_default();
                let outcome = WriteOutcome::Redirect {
                    active_cluster,
                    endpoints,
                    nodes,
                };
                return self.reply(requester, outcome);
            }
            Ok(WriteRoute::RetryLater {
                reason,
                retry_after,
            }) => {
                let outcome = WriteOutcome::RetryLater {
                    reason,
                    retry_after,
                };
                return self.reply(requester, outcome);
            }
            Ok(WriteRoute::Accept { failover_version }) => failover_version,
        };
        let leader = self.is_cluster_leader();
        let Some(d) = self.data.as_mut() else {
            return;
        };
        if !leader {
            let outcome = WriteOutcome::NotLeader {
                leader: d.replica.leader(),
            };
            return self.reply(requester, outcome);
        }
        if now.saturating_duration_since(self.control_contact) > self.config.timings.active_lease {
            let outcome = WriteOutcome::RetryLater {
                reason: routing::RetryReason::Fenced,
                retry_after: routing::DEFAULT_RETRY_AFTER,
            };
            return self.reply(requester, outcome);
        }
        // The registry says yes; the cluster's own log must agree before we propose, or
        // the write would only be refused at commit.
        let obeyed = d.data.placement(&write.namespace).is_some_and(|(p, _)| {
            p.active_cluster == local
                && p.failover_version == token
                && p.state == crate::registry::PlacementState::Active
        });
        if !obeyed {
            let outcome = WriteOutcome::RetryLater {
                reason: routing::RetryReason::RegistryBehind,
                retry_after: routing::DEFAULT_RETRY_AFTER,
            };
            return self.reply(requester, outcome);
        }
        d.batch.push((
            requester,
            WriteCommand {
                namespace: write.namespace,
                key: write.key,
                payload: write.payload,
                token,
                written_at: now,
            },
        ));
        if d.batch.len() >= limits.max_batch_writes {
            self.flush_writes(now);
        } else if d.flush_at.is_none() {
            d.flush_at = Some(now + self.config.timings.batch_delay);
        }
    }

    pub(crate) fn reply(&mut self, requester: Requester, outcome: WriteOutcome) {
        let reply = WriteReply {
            request: requester.request(),
            outcome,
        };
        match requester {
            Requester::Local(_) => self.events.push_back(NodeEvent::WriteReply(reply)),
            Requester::Remote(client, _) => {
                self.send(client, NodeMessage::Client(ClientMessage::Reply(reply)));
            }
        }
    }

    fn flush_writes(&mut self, now: Instant) {
        let Some(d) = self.data.as_mut() else {
            return;
        };
        d.flush_at = None;
        if d.batch.is_empty() {
            return;
        }
        let (requesters, writes): (Vec<Requester>, Vec<WriteCommand>) =
            std::mem::take(&mut d.batch).into_iter().unzip();
        let bytes = command::encode(&ClusterCommand::Writes(writes));
        match d.replica.propose(now, bytes) {
            Ok(position) => {
                d.pending
                    .insert(position.index, (position.term, requesters));
            }
            Err(_) => {
                // Never entered the log: "not the leader" is the whole truth.
                let leader = d.replica.leader();
                for r in requesters {
                    self.reply(r, WriteOutcome::NotLeader { leader });
                }
            }
        }
    }
}

impl Machine for Node {
    type Message = NodeMessage;
    type Event = NodeEvent;

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: NodeMessage) {
        if let Some(spec) = self.config.topology.cluster_of(from) {
            self.last_heard.insert(spec.id.clone(), now);
        }
        match msg {
            NodeMessage::Gossip(m) => self.gossip.handle_message(now, from, m),
            NodeMessage::Cluster(m) => match self.data.as_mut() {
                Some(d) => d.replica.handle_message(now, from, m),
                None => self.count_drop(NodeDrop::NotForThisNode),
            },
            NodeMessage::Control(m) => match self.control.as_mut() {
                Some(c) => c.replica.handle_message(now, from, m),
                None => self.count_drop(NodeDrop::NotForThisNode),
            },
            NodeMessage::Replication(m) => self.on_replication(now, from, m),
            NodeMessage::Mesh(m) => self.on_mesh(now, from, m),
            NodeMessage::Client(ClientMessage::Write(w)) => {
                self.on_write(now, Requester::Remote(from, w.request), w);
            }
            NodeMessage::Client(ClientMessage::Reply(_)) => {
                self.count_drop(NodeDrop::NotForThisNode);
            }
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gossip.handle_timeout(now);
        if let Some(d) = self.data.as_mut() {
            d.replica.handle_timeout(now);
            if d.flush_at.is_some_and(|at| now >= at) {
                self.flush_writes(now);
            }
        }
        if let Some(c) = self.control.as_mut() {
            c.replica.handle_timeout(now);
        }
        let expired: Vec<u64> = self
            .pending_ops
            .iter()
            .filter(|(_, deadline)| now >= **deadline)
            .map(|(op, _)| *op)
            .collect();
        for op in expired {
            self.pending_ops.remove(&op);
            self.events.push_back(NodeEvent::OperatorReply {
                op,
                reply: OperatorReply::Unavailable(
                    "the control-group leader did not answer in time".into(),
                ),
            });
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.timings.tick;
            let status_due = now >= self.next_status;
            if status_due {
                self.next_status = now + self.config.timings.status_interval;
            }
            self.on_tick(now, status_due);
        }
        self.control_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit<NodeMessage>> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_tick);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.gossip.poll_timeout());
        if let Some(d) = &self.data {
            consider(d.replica.poll_timeout());
            consider(d.flush_at);
        }
        if let Some(c) = &self.control {
            consider(c.replica.poll_timeout());
            consider(c.leader.as_ref().and_then(|l| l.controller.poll_timeout()));
        }
        consider(self.pending_ops.values().min().copied());
        next
    }
}

impl Node {
    /// Drains every inner machine's outputs until nothing moves.
    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(t) = self.gossip.poll_transmit() {
                moved = true;
                self.send(t.to, NodeMessage::Gossip(t.msg));
            }
            while let Some(e) = self.gossip.poll_event() {
                moved = true;
                self.events.push_back(NodeEvent::Membership(e));
            }
            while let Some(e) = self.data.as_mut().and_then(|d| d.replica.poll_event()) {
                moved = true;
                self.on_cluster_event(now, e);
            }
            while let Some(t) = self.data.as_mut().and_then(|d| d.replica.poll_transmit()) {
                moved = true;
                self.send(t.to, NodeMessage::Cluster(t.msg));
            }
            while let Some(e) = self.control.as_mut().and_then(|c| c.replica.poll_event()) {
                moved = true;
                self.on_control_event(now, e);
            }
            while let Some(t) = self
                .control
                .as_mut()
                .and_then(|c| c.replica.poll_transmit())
            {
                moved = true;
                self.send(t.to, NodeMessage::Control(t.msg));
            }
            while let Some(out) = self
                .control
                .as_mut()
                .and_then(|c| c.leader.as_mut())
                .and_then(|l| l.controller.poll_output())
            {
                moved = true;
                self.on_controller_output(now, out);
            }
            if !moved {
                break;
            }
        }
    }

    fn on_cluster_event(&mut self, now: Instant, event: consensus::Event) {
        match event {
            consensus::Event::Persist(request) => self.events.push_back(NodeEvent::Persist {
                group: Group::Cluster,
                request,
            }),
            consensus::Event::Committed(entry) => self.apply_cluster_entry(now, entry),
            consensus::Event::LeaderChanged(change) => {
                if change.leader == self.id() {
                    self.on_cluster_leadership(now);
                } else {
                    self.on_cluster_followership();
                }
                self.events.push_back(NodeEvent::Leadership {
                    group: Group::Cluster,
                    change,
                });
            }
            consensus::Event::SteppedDown { term, reason } => {
                self.on_cluster_followership();
                self.events.push_back(NodeEvent::SteppedDown {
                    group: Group::Cluster,
                    term,
                    reason,
                });
            }
            consensus::Event::SplitBrain {
                term,
                first,
                second,
            } => self.events.push_back(NodeEvent::SplitBrain {
                group: Group::Cluster,
                term,
                first,
                second,
            }),
            consensus::Event::SnapshotInstalled { .. } => {
                // The node never compacts its logs yet, so no peer sends snapshots.
                self.count_drop(NodeDrop::UnexpectedSnapshot);
            }
            consensus::Event::VoterSetChanged { .. } | consensus::Event::TransferAborted { .. } => {
            }
        }
    }

    fn on_cluster_leadership(&mut self, now: Instant) {
        let topology = Arc::clone(&self.config.topology);
        let Some(d) = self.data.as_mut() else {
            return;
        };
        d.proposed = d.data.vv().clone();
        d.proposed_placements.clear();
        d.proposed_holds.clear();
        d.streams = topology
            .clusters
            .iter()
            .filter(|c| c.id != *d.data.cluster())
            .map(|c| (c.id.clone(), Stream::new(now)))
            .collect();
        self.sync_placements(now);
    }

    /// No longer leading: writes never proposed were not written; proposed ones may still
    /// commit under the next leader, so their callers learn exactly that.
    fn on_cluster_followership(&mut self) {
        let Some(d) = self.data.as_mut() else {
            return;
        };
        let leader = d.replica.leader().filter(|l| *l != self.config.id);
        d.streams.clear();
        d.flush_at = None;
        d.drain_waiters.clear();
        d.freeze_waiters.clear();
        let unproposed = std::mem::take(&mut d.batch);
        let proposed = std::mem::take(&mut d.pending);
        for (requester, _) in unproposed {
            self.reply(requester, WriteOutcome::NotLeader { leader });
        }
        for requester in proposed.into_values().flat_map(|(_, r)| r) {
            self.count_drop(NodeDrop::UnansweredWrite);
            self.reply(requester, WriteOutcome::Unknown { leader });
        }
    }

    fn apply_cluster_entry(&mut self, now: Instant, entry: Entry) {
        let Some(d) = self.data.as_mut() else {
            return;
        };
        let pending = d.pending.remove(&entry.index);
        let EntryPayload::Command(bytes) = entry.payload else {
            return;
        };
        let Ok(cmd) = command::decode::<ClusterCommand>(&bytes) else {
            self.count_drop(NodeDrop::UndecodableEntry);
            return;
        };
        let remote_source = match &cmd {
            ClusterCommand::Remote { source, .. } => Some(source.clone()),
            _ => None,
        };
        let outcomes = d.data.apply(now, cmd);
        let refused = d.data.take_non_contiguous();
        if refused > 0 {
            *self.drops.entry(NodeDrop::NonContiguousEvent).or_default() += refused;
        }
        if let Some((term, requesters)) = pending
            && term == entry.term
        {
            for (requester, outcome) in requesters.into_iter().zip(outcomes) {
                self.reply(requester, outcome);
            }
        }
        if self.is_cluster_leader() {
            if let Some(source) = remote_source {
                self.ack_source(&source);
            }
            self.answer_waiters();
        }
    }
}
