//! [`NodeHandle`]: what the client API and the control API call. Every call is a message to
//! the driver task, which owns the core machine; answers come back on a oneshot channel.

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::consensus::{RoleKind, StepDownReason, Term};
use omnirelay_core::failover::AuditRecord;
use omnirelay_core::gossip::{MemberMeta, Status};
use omnirelay_core::node::{
    ClientWrite, Divergence, Group, NodeDrop, OperatorReply, OperatorRequest, WriteOutcome,
};
use omnirelay_core::registry::{NamespacePlacement, Registry, Versioned};
use omnirelay_core::replication::{ClusterVersionVector, Event, Lag, QuarantinedEvent};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// The node's driver has stopped (shutdown or a fatal storage error): nothing was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the node has stopped")]
pub struct NodeStopped;

/// What a read returns: the namespace's events the caller had not seen, and what they are
/// relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Applied events of the namespace past the caller's version vector, in this cluster's
    /// apply order, at most `limit`.
    pub events: Vec<Arc<Event>>,
    /// What this cluster has applied (`x-omnirelay-version-vector`): read again from it.
    pub version_vector: ClusterVersionVector,
    /// The namespace's placement in this node's registry view, with its revision (`None`:
    /// the namespace is unknown here, or the registry has not reached this node yet).
    pub placement: Option<Versioned<NamespacePlacement>>,
}

/// This node's role in its cluster's consensus group (`None` in [`NodeStatus::role`] for
/// a witness).
pub type ClusterRole = RoleKind;

/// One gossip member as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    /// The member.
    pub id: NodeId,
    /// Alive, suspect, dead or left.
    pub status: Status,
    /// The incarnation that status is about.
    pub incarnation: u64,
    /// Its metadata (cluster, region, role, versions).
    pub meta: Arc<MemberMeta>,
}

/// One group's write-ahead log, as the driver last saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalPosition {
    /// First index held.
    pub first_index: u64,
    /// Last index written.
    pub last_index: u64,
    /// Last index fsynced (what acknowledgements may cover).
    pub durable_index: u64,
    /// Bytes of its segment files.
    pub bytes: u64,
    /// Fsyncs done since start (one per group-commit batch).
    pub syncs: u64,
}

/// A snapshot of everything the control layer shows about a node.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Its cluster (`None` for a witness).
    pub cluster: Option<ClusterId>,
    /// Its role in the cluster group (`None` for a witness).
    pub role: Option<ClusterRole>,
    /// The cluster's leader as known here, with the term it leads.
    pub cluster_leader: Option<(NodeId, Term)>,
    /// The control group's leader as known here.
    pub control_leader: Option<NodeId>,
    /// Whether this node leads the control group.
    pub is_control_leader: bool,
    /// The newest registry this node knows.
    pub registry: Arc<Registry>,
    /// Gossip's view of every member.
    pub members: Vec<MemberStatus>,
    /// How far every other cluster is behind this one (cluster leader only, else empty; a
    /// cluster that has not acknowledged anything to this leader yet is absent: unknown).
    pub stream_lags: Vec<(ClusterId, Lag)>,
    /// Every cluster's lag towards each other one, `(source, target, lag)`, as the
    /// cluster leaders reported them to the control group (control voters only, else empty).
    pub reported_lags: Vec<(ClusterId, ClusterId, Lag)>,
    /// Namespaces whose contents differ between clusters that applied the same events
    /// (control voters only, else empty).
    pub divergent: Vec<Divergence>,
    /// What this cluster has applied.
    pub applied: ClusterVersionVector,
    /// Events not applied because a newer failover superseded them (`/control/state-diff`).
    pub quarantined: Vec<QuarantinedEvent>,
    /// Each group's log (the cluster's, and the control group's on control voters).
    pub wal: Vec<(Group, WalPosition)>,
    /// Inputs the core dropped, by reason.
    pub drops: Vec<(NodeDrop, u64)>,
    /// Outbound messages dropped because a peer's queue was full, per peer.
    pub send_drops: Vec<(NodeId, u64)>,
}

/// A leadership change, for `/control/events/leadership` and the transition metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadershipNotice {
    /// Which group.
    pub group: Group,
    /// What happened.
    pub change: LeadershipChangeKind,
    /// Wall-clock time of the notice, nanoseconds since the Unix epoch.
    pub at_unix_nanos: u64,
}

/// What a [`LeadershipNotice`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadershipChangeKind {
    /// `leader` became known as leader of `term` (this node or another).
    Elected {
        /// The leader.
        leader: NodeId,
        /// Its term.
        term: Term,
        /// From losing the previous leader to learning this one.
        election: Duration,
    },
    /// This node stopped leading.
    SteppedDown {
        /// The term it led.
        term: Term,
        /// Why.
        reason: StepDownReason,
    },
    /// Two leaders claimed one term. Must never happen.
    SplitBrain {
        /// The term.
        term: Term,
        /// The first claimant.
        first: NodeId,
        /// The second.
        second: NodeId,
    },
}

/// A request to the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Write(ClientWrite, oneshot::Sender<WriteOutcome>),
    WriteMany(Vec<ClientWrite>, oneshot::Sender<Vec<WriteOutcome>>),
    Operator(OperatorRequest, oneshot::Sender<OperatorReply>),
    Read {
        namespace: NamespaceId,
        after: ClusterVersionVector,
        limit: usize,
        reply: oneshot::Sender<ReadResult>,
    },
    Status(oneshot::Sender<NodeStatus>),
}

/// The API of a running node, for the client and control layers. Cheap to clone; every
/// clone talks to the same driver task. Calls fail with [`NodeStopped`] once it has ended.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub(crate) id: NodeId,
    pub(crate) cluster: Option<ClusterId>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) registry: watch::Receiver<Arc<Registry>>,
    pub(crate) applied: watch::Receiver<ClusterVersionVector>,
    pub(crate) leadership: broadcast::Sender<LeadershipNotice>,
    pub(crate) audit: broadcast::Sender<AuditRecord>,
}

impl NodeHandle {
    /// This node.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Its cluster (`None` for a witness).
    pub fn cluster(&self) -> Option<&ClusterId> {
        self.cluster.as_ref()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeStopped> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeStopped)?;
        rx.await.map_err(|_| NodeStopped)
    }

    /// Writes one event. `w.request` is ignored: the driver assigns its own handle.
    /// `Accepted` means committed (fsynced) by a majority of this cluster. A write whose
    /// leader loses leadership before it commits is answered `NotLeader` with the new
    /// leader if known: it may still commit under that leader (core cannot know), so a
    /// retry may duplicate it.
    pub async fn write(&self, w: ClientWrite) -> Result<WriteOutcome, NodeStopped> {
        self.ask(|tx| Command::Write(w, tx)).await
    }

    /// Writes a batch of events with one message to the driver and one answer: the
    /// outcomes in the order of `writes`, each as [`NodeHandle::write`] would give it.
    /// The writes reach the core together, so the leader proposes them in as few log
    /// entries as its batch limit allows. `request` fields are ignored. The driver takes
    /// the whole batch in one turn, so keep it near the core's batch limit (1,024 writes)
    /// rather than sending everything at once.
    pub async fn write_many(
        &self,
        writes: Vec<ClientWrite>,
    ) -> Result<Vec<WriteOutcome>, NodeStopped> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        self.ask(|tx| Command::WriteMany(writes, tx)).await
    }

    /// An operator request, served by the control group's leader (forwarded there when
    /// this node does not lead it).
    pub async fn operator(&self, r: OperatorRequest) -> Result<OperatorReply, NodeStopped> {
        self.ask(|tx| Command::Operator(r, tx)).await
    }

    /// Events of `namespace` this cluster has applied and `after` has not seen.
    pub async fn read(
        &self,
        namespace: NamespaceId,
        after: ClusterVersionVector,
        limit: usize,
    ) -> Result<ReadResult, NodeStopped> {
        self.ask(|reply| Command::Read {
            namespace,
            after,
            limit,
            reply,
        })
        .await
    }

    /// Everything the control layer shows about this node, read at one instant.
    pub async fn status(&self) -> Result<NodeStatus, NodeStopped> {
        self.ask(Command::Status).await
    }

    /// The registry as this node knows it, updated whenever it changes.
    pub fn registry_watch(&self) -> watch::Receiver<Arc<Registry>> {
        self.registry.clone()
    }

    /// What this cluster has applied, updated as soon as the driver sees it move (for
    /// waiting on replication without polling; a witness's stays empty).
    pub fn applied_watch(&self) -> watch::Receiver<ClusterVersionVector> {
        self.applied.clone()
    }

    /// Leadership changes of both groups, from now on.
    pub fn leadership_events(&self) -> broadcast::Receiver<LeadershipNotice> {
        self.leadership.subscribe()
    }

    /// Failover audit records (emitted on the control group's leader), from now on.
    pub fn audit_events(&self) -> broadcast::Receiver<AuditRecord> {
        self.audit.subscribe()
    }
}
