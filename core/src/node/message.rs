//! What nodes (and model clients) say to each other.

use std::sync::Arc;
use std::time::Duration;

use crate::consensus;
use crate::failover::{Failover, FailoverError, FailoverId, FailoverRequest, PreflightRefusal};
use crate::gossip::GossipMessage;
use crate::machine::WireMessage;
use crate::registry::{NamespacePlacement, Registry};
use crate::replication::{ClusterVersionVector, Event, FailoverVersion, Lag};
use crate::routing::RetryReason;
use crate::{ClusterId, NamespaceId, NodeId};

/// Every message a node sends or receives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeMessage {
    /// Mesh-wide membership (SWIM).
    Gossip(GossipMessage),
    /// The node's cluster consensus group.
    Cluster(consensus::Message),
    /// The mesh-wide control group (the registry's log).
    Control(consensus::Message),
    /// Leader-to-leader event streams between clusters.
    Replication(ReplicationMessage),
    /// Coordination between cluster leaders and the control group.
    Mesh(MeshMessage),
    /// A client's write and its answer (model clients; the io shell calls the API instead).
    Client(ClientMessage),
}

/// The replication stream between two clusters' leaders.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplicationMessage {
    /// Events `source` holds, in `origin_seq` order per origin (its own and relayed ones).
    Batch {
        /// The sending cluster.
        source: ClusterId,
        /// The events.
        events: Vec<Event>,
    },
    /// What the receiving cluster has durably applied.
    Ack {
        /// The receiving cluster.
        cluster: ClusterId,
        /// Its applied version vector.
        vv: ClusterVersionVector,
    },
    /// The receiver does not lead its cluster: try `leader`.
    NotLeader {
        /// The receiving cluster.
        cluster: ClusterId,
        /// Its leader, if known.
        leader: Option<NodeId>,
    },
}

/// A cluster leader's periodic report to the control voters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterStatus {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its leader (the sender).
    pub leader: NodeId,
    /// The leader's term.
    pub term: consensus::Term,
    /// What it has applied.
    pub vv: ClusterVersionVector,
    /// Its last own `origin_seq`.
    pub last_seq: u64,
    /// How far each other cluster is behind it, measured on its own clock; a cluster that
    /// has not acknowledged anything to this leader yet is absent (lag unknown).
    pub lags: Vec<(ClusterId, Lag)>,
    /// The digest of every namespace it applied events of, as of `vv`, with the failover
    /// version of the placement it obeys for that namespace.
    pub digests: Vec<(NamespaceId, FailoverVersion, u64)>,
    /// Namespaces emergency promotions took from it: the version it was active at and its
    /// last own origin_seq when it applied the promotion (closes the loss report).
    pub superseded: Vec<(NamespaceId, FailoverVersion, u64)>,
}

/// A namespace two clusters disagree on: they applied the same events (equal version
/// vectors) yet their digests differ (ARCHITECTURE.md, invariant 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The namespace.
    pub namespace: NamespaceId,
    /// What each of the compared clusters applied (the same for all of them).
    pub applied: ClusterVersionVector,
    /// The digest of every cluster that applied the same events, in cluster order (0: it
    /// applied no event of the namespace).
    pub digests: Vec<(ClusterId, u64)>,
}

/// The namespaces on which clusters with equal version vectors report different digests.
///
/// Only clusters that applied exactly the same events are compared: under a steady write
/// load reports are taken at different moments and rarely coincide, so a divergence shows
/// once the writes pause (or the streams catch up between two reports), never as a false
/// alarm from reports of different moments.
pub fn divergences<'a>(statuses: impl IntoIterator<Item = &'a ClusterStatus>) -> Vec<Divergence> {
    let mut statuses: Vec<&ClusterStatus> = statuses.into_iter().collect();
    statuses.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut found = Vec::new();
    let mut grouped = vec![false; statuses.len()];
    for (i, first) in statuses.iter().enumerate() {
        if grouped.get(i).copied().unwrap_or(true) {
            continue;
        }
        let group: Vec<&ClusterStatus> = statuses
            .iter()
            .enumerate()
            .skip(i)
            .filter(|(_, s)| s.vv == first.vv)
            .map(|(j, s)| {
                if let Some(g) = grouped.get_mut(j) {
                    *g = true;
                }
                *s
            })
            .collect();
        if group.len() < 2 {
            continue;
        }
        let namespaces: std::collections::BTreeSet<&NamespaceId> = group
            .iter()
            .flat_map(|s| s.digests.iter().map(|(ns, _, _)| ns))
            .collect();
        for namespace in namespaces {
            let entries: Vec<(ClusterId, Option<FailoverVersion>, u64)> = group
                .iter()
                .map(|s| {
                    let d = s.digests.iter().find(|(ns, _, _)| ns == namespace);
                    (
                        s.cluster.clone(),
                        d.map(|(_, v, _)| *v),
                        d.map_or(0, |(_, _, d)| *d),
                    )
                })
                .collect();
            // A cluster that has not applied the newest placement yet may still hold events
            // that placement takes back: compare only under one version.
            let versions: std::collections::BTreeSet<FailoverVersion> =
                entries.iter().filter_map(|(_, v, _)| *v).collect();
            if versions.len() > 1 {
                continue;
            }
            let digests: Vec<(ClusterId, u64)> =
                entries.into_iter().map(|(c, _, d)| (c, d)).collect();
            if digests.windows(2).any(|w| w[0].1 != w[1].1) {
                found.push(Divergence {
                    namespace: namespace.clone(),
                    applied: first.vv.clone(),
                    digests,
                });
            }
        }
    }
    found
}

/// Coordination between cluster leaders and the control group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MeshMessage {
    /// Cluster leader to control voters.
    Status(ClusterStatus),
    /// Control voter to control leader: which clusters it cannot reach.
    Reachability {
        /// The voter's cluster (`witness` for witnesses).
        voter_cluster: ClusterId,
        /// Clusters it heard nothing from lately.
        unreachable: Vec<ClusterId>,
    },
    /// Control leader to every node: the registry as committed.
    Registry {
        /// The registry.
        registry: Arc<Registry>,
        /// The control group's leader (the sender).
        control_leader: NodeId,
    },
    /// Control leader to the source cluster: confirm the namespace is drained.
    Drain {
        /// The failover.
        failover: FailoverId,
        /// The draining placement.
        placement: NamespacePlacement,
        /// Its registry version.
        revision: u64,
    },
    /// Source leader to control leader: the drain is in its log; its last own seq.
    Drained {
        /// The failover.
        failover: FailoverId,
        /// The last `origin_seq` it committed.
        last_seq: u64,
    },
    /// Control leader to the emergency target: hold `origin`'s events and report.
    Freeze {
        /// The failover.
        failover: FailoverId,
        /// The superseded active.
        origin: ClusterId,
    },
    /// Target leader to control leader: `origin` is held, applied through `applied_through`.
    Frozen {
        /// The failover.
        failover: FailoverId,
        /// How far `origin` was applied.
        applied_through: u64,
    },
    /// Any node to the control leader: an operator's request.
    Operator {
        /// The asking node's handle for the answer.
        op: u64,
        /// The request.
        request: OperatorRequest,
    },
    /// Control leader to the asking node.
    OperatorReply {
        /// The handle from the request.
        op: u64,
        /// The answer.
        reply: OperatorReply,
    },
}

/// A client's write to one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientWrite {
    /// The client's handle for the answer.
    pub request: u64,
    /// The namespace.
    pub namespace: NamespaceId,
    /// The written key.
    pub key: Vec<u8>,
    /// The written value.
    pub payload: Vec<u8>,
    /// The failover version the client last saw (a stale one is refused).
    pub token: Option<FailoverVersion>,
}

/// What became of a write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// Committed by a majority of the active cluster (fsynced), with its identity.
    Accepted {
        /// The cluster that accepted it.
        origin_cluster: ClusterId,
        /// Its sequence number there.
        origin_seq: u64,
        /// The fencing token it carries.
        failover_version: FailoverVersion,
    },
    /// Another cluster is active for the namespace.
    Redirect {
        /// The active cluster.
        active_cluster: ClusterId,
        /// Its client endpoints.
        endpoints: Vec<String>,
        /// Its nodes, to try in turn.
        nodes: Vec<NodeId>,
    },
    /// This node does not lead its cluster.
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// This node proposed the write but lost its leadership before the write committed:
    /// it may or may not be written (the next leader decides). A retry may write it twice.
    Unknown {
        /// The new leader, if known.
        leader: Option<NodeId>,
    },
    /// Try again later.
    RetryLater {
        /// Why.
        reason: RetryReason,
        /// When.
        retry_after: Duration,
    },
    /// Refused for good: nothing was written.
    Refused(WriteRefusal),
}

/// Why a write was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WriteRefusal {
    /// The namespace is not in the registry.
    #[error("unknown namespace {0}")]
    UnknownNamespace(NamespaceId),
    /// The client's token is older than the namespace's failover version.
    #[error("stale fencing token {offered} for {namespace}: current is {current}")]
    StaleFencingToken {
        /// The namespace.
        namespace: NamespaceId,
        /// What the client sent.
        offered: FailoverVersion,
        /// The current version.
        current: FailoverVersion,
    },
    /// The payload is over the limit.
    #[error("payload of {size} bytes is over the {limit}-byte limit")]
    PayloadTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The key is empty or over the limit.
    #[error("key of {size} bytes must be 1..={limit} bytes")]
    BadKey {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A witness holds no data.
    #[error("this node is a witness and holds no data")]
    Witness,
}

/// A write's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WriteReply {
    /// The client's handle.
    pub request: u64,
    /// The outcome.
    pub outcome: WriteOutcome,
}

/// Model clients' traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientMessage {
    /// Client to node.
    Write(ClientWrite),
    /// Node to client.
    Reply(WriteReply),
}

/// An operator's request, served by the control group's leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OperatorRequest {
    /// Start a failover, or with `dry_run` only run its preflight.
    Failover {
        /// The request.
        request: FailoverRequest,
        /// Preflight only.
        dry_run: bool,
    },
    /// Approve a failover awaiting approval.
    Approve {
        /// The failover.
        id: FailoverId,
        /// Who approves.
        approver: String,
    },
    /// Cancel a failover.
    Cancel {
        /// The failover.
        id: FailoverId,
        /// Who cancels.
        by: String,
    },
    /// One failover's state.
    Show {
        /// The failover.
        id: FailoverId,
    },
    /// Every failover the control leader knows.
    List,
}

/// The control leader's answer to an operator.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OperatorReply {
    /// The failover started.
    Started(FailoverId),
    /// The dry run passed: it would move the namespace from `source` to `target`.
    Plan {
        /// The active cluster now.
        source: ClusterId,
        /// The cluster it would move to.
        target: ClusterId,
    },
    /// Preflight refused the request.
    Refused(PreflightRefusal),
    /// The call on an existing failover was refused.
    Rejected(FailoverError),
    /// Done (approve, cancel).
    Done,
    /// A failover's state (`None`: unknown id).
    Failover(Option<Box<Failover>>),
    /// Every known failover.
    Failovers(Vec<Failover>),
    /// No control leader could serve it (no quorum, or no answer in time).
    Unavailable(String),
}

fn vv_size(vv: &ClusterVersionVector) -> usize {
    vv.iter().map(|(c, _)| c.as_str().len() + 12).sum::<usize>() + 2
}

fn event_size(e: &Event) -> usize {
    e.namespace.as_str().len()
        + e.origin_cluster.as_str().len()
        + e.key.len()
        + e.payload.len()
        + 40
}

impl WireMessage for NodeMessage {
    fn wire_size(&self) -> usize {
        match self {
            NodeMessage::Gossip(m) => m.wire_size(),
            NodeMessage::Cluster(m) | NodeMessage::Control(m) => m.wire_size(),
            NodeMessage::Replication(ReplicationMessage::Batch { source, events }) => {
                source.as_str().len() + events.iter().map(event_size).sum::<usize>() + 4
            }
            NodeMessage::Replication(ReplicationMessage::Ack { cluster, vv }) => {
                cluster.as_str().len() + vv_size(vv) + 2
            }
            NodeMessage::Replication(ReplicationMessage::NotLeader { cluster, .. }) => {
                cluster.as_str().len() + 12
            }
            NodeMessage::Mesh(MeshMessage::Status(s)) => {
                s.cluster.as_str().len() + vv_size(&s.vv) + s.lags.len() * 24 + 24
            }
            NodeMessage::Mesh(MeshMessage::Registry { registry, .. }) => {
                64 + registry.clusters().count() * 160 + registry.placements().count() * 96
            }
            NodeMessage::Mesh(_) => 96,
            NodeMessage::Client(ClientMessage::Write(w)) => {
                w.namespace.as_str().len() + w.key.len() + w.payload.len() + 24
            }
            NodeMessage::Client(ClientMessage::Reply(_)) => 48,
        }
    }
}
