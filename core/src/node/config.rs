//! What a node is told at start: the mesh's static topology and its own knobs.

use std::sync::Arc;
use std::time::Duration;

use crate::consensus::ElectionTimeout;
use crate::failover::{AutoFailoverPolicy, FailoverPolicy};
use crate::gossip::GossipConfig;
use crate::{ClusterId, NamespaceId, NodeId};

/// One cluster of the mesh as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterSpec {
    /// The cluster.
    pub id: ClusterId,
    /// Its region.
    pub region: String,
    /// Higher wins when automation picks a failover target.
    pub priority: u32,
    /// Its voters, which also hold its data.
    pub nodes: Vec<NodeId>,
    /// Its initial failover version (unique in the mesh, `1..increment`).
    pub initial_failover_version: u64,
    /// Client-facing endpoints, for redirects.
    pub endpoints: Vec<String>,
}

/// The mesh as every node is configured with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Topology {
    /// The clusters.
    pub clusters: Vec<ClusterSpec>,
    /// Nodes that vote in the control group and hold no data.
    pub witnesses: Vec<NodeId>,
    /// The control group's voters: some cluster nodes and the witnesses.
    pub control_voters: Vec<NodeId>,
    /// Namespaces created at bootstrap, with their first active cluster.
    pub namespaces: Vec<(NamespaceId, ClusterId)>,
    /// The failover-version increment (Temporal's scheme).
    pub failover_version_increment: u64,
}

/// Why a topology is unusable. Nothing was built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A node id appears twice.
    #[error("node {0} appears twice in the topology")]
    DuplicateNode(NodeId),
    /// A cluster id appears twice.
    #[error("cluster {0} appears twice in the topology")]
    DuplicateCluster(ClusterId),
    /// A cluster has no node.
    #[error("cluster {0} has no node")]
    EmptyCluster(ClusterId),
    /// A control voter is neither a cluster node nor a witness.
    #[error("control voter {0} is not a node of the topology")]
    UnknownControlVoter(NodeId),
    /// The control group has no voter.
    #[error("the control group has no voter")]
    NoControlVoter,
    /// A namespace names a cluster that does not exist.
    #[error("namespace {namespace} is placed on unknown cluster {cluster}")]
    UnknownPlacement {
        /// The namespace.
        namespace: NamespaceId,
        /// The missing cluster.
        cluster: ClusterId,
    },
    /// This node is not in the topology.
    #[error("node {0} is not in the topology")]
    NotInTopology(NodeId),
    /// `witness` names the control reports of witnesses; no cluster may use it.
    #[error("cluster name `witness` is reserved")]
    ReservedClusterName,
}

/// The pseudo-cluster witnesses report reachability under.
pub const WITNESS_CLUSTER: &str = "witness";

impl Topology {
    /// Checks the topology is coherent.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let mut nodes = std::collections::BTreeSet::new();
        let mut clusters = std::collections::BTreeSet::new();
        for c in &self.clusters {
            if c.id.as_str() == WITNESS_CLUSTER {
                return Err(TopologyError::ReservedClusterName);
            }
            if !clusters.insert(c.id.clone()) {
                return Err(TopologyError::DuplicateCluster(c.id.clone()));
            }
            if c.nodes.is_empty() {
                return Err(TopologyError::EmptyCluster(c.id.clone()));
            }
            for n in &c.nodes {
                if !nodes.insert(*n) {
                    return Err(TopologyError::DuplicateNode(*n));
                }
            }
        }
        for w in &self.witnesses {
            if !nodes.insert(*w) {
                return Err(TopologyError::DuplicateNode(*w));
            }
        }
        if self.control_voters.is_empty() {
            return Err(TopologyError::NoControlVoter);
        }
        for v in &self.control_voters {
            if !nodes.contains(v) {
                return Err(TopologyError::UnknownControlVoter(*v));
            }
        }
        for (namespace, cluster) in &self.namespaces {
            if !clusters.contains(cluster) {
                return Err(TopologyError::UnknownPlacement {
                    namespace: namespace.clone(),
                    cluster: cluster.clone(),
                });
            }
        }
        Ok(())
    }

    /// The cluster `node` belongs to (`None` for a witness or a stranger).
    pub fn cluster_of(&self, node: NodeId) -> Option<&ClusterSpec> {
        self.clusters.iter().find(|c| c.nodes.contains(&node))
    }

    /// A cluster by id.
    pub fn cluster(&self, id: &ClusterId) -> Option<&ClusterSpec> {
        self.clusters.iter().find(|c| c.id == *id)
    }

    /// Every node: cluster nodes in cluster order, then witnesses.
    pub fn all_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.clusters
            .iter()
            .flat_map(|c| c.nodes.iter().copied())
            .chain(self.witnesses.iter().copied())
    }

    /// Whether `node` votes in the control group.
    pub fn is_control_voter(&self, node: NodeId) -> bool {
        self.control_voters.contains(&node)
    }
}

/// Periods and deadlines of the node's own coordination (the protocols' own timers live in
/// their configs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeTimings {
    /// The node's housekeeping period: stream retries, drain/freeze retries, auto policy.
    pub tick: Duration,
    /// How often a cluster leader reports its status to the control voters, and a control
    /// voter its reachability view to the control leader.
    pub status_interval: Duration,
    /// A cluster from which nothing was heard for this long is unreachable.
    pub unreachable_after: Duration,
    /// How often the control leader re-sends the registry to every node.
    pub registry_broadcast: Duration,
    /// A replication stream with unacknowledged events and no progress for this long is
    /// rewound to the last acknowledgement.
    pub stream_retry: Duration,
    /// How long a leader gathers client writes into one log entry.
    pub batch_delay: Duration,
    /// How long a forwarded operator request waits for the control leader's answer.
    pub operator_timeout: Duration,
    /// An active cluster's leader that has not heard the control group's leader for this
    /// long stops accepting writes (they are told to retry): a region cut off from the
    /// control group is about to be failed over, and every write it acknowledged from then
    /// on would be at risk. Bounds what an emergency failover can lose to about this long.
    pub active_lease: Duration,
    /// A cluster leader releases a hold (emergency freeze) older than this: the failover that
    /// asked for it was abandoned, or a late duplicate request re-held the stream. Safe at any
    /// time: writes of the old active beyond a promotion's cutoff are taken back wherever
    /// they were applied when the promotion arrives.
    pub freeze_timeout: Duration,
}

impl Default for NodeTimings {
    fn default() -> Self {
        NodeTimings {
            tick: Duration::from_millis(50),
            status_interval: Duration::from_millis(100),
            unreachable_after: Duration::from_millis(800),
            registry_broadcast: Duration::from_millis(500),
            stream_retry: Duration::from_millis(300),
            batch_delay: Duration::from_millis(1),
            operator_timeout: Duration::from_secs(5),
            active_lease: Duration::from_secs(2),
            freeze_timeout: Duration::from_secs(5),
        }
    }
}

/// Size limits that protect a node from its clients and peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeLimits {
    /// Largest accepted payload of one write.
    pub max_payload_bytes: usize,
    /// Largest accepted key of one write.
    pub max_key_bytes: usize,
    /// Most client writes gathered into one log entry.
    pub max_batch_writes: usize,
    /// Most events in one replication message.
    pub max_stream_batch: usize,
    /// Most events sent ahead of the target's acknowledgement, per origin.
    pub stream_window: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_payload_bytes: 1 << 20,
            max_key_bytes: 1024,
            max_batch_writes: 1024,
            max_stream_batch: 512,
            stream_window: 8192,
        }
    }
}

/// Everything a node is built from, besides what it persisted.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node.
    pub id: NodeId,
    /// The mesh.
    pub topology: Arc<Topology>,
    /// Gossip settings (one mesh-wide membership).
    pub gossip: GossipConfig,
    /// Election timeouts of the cluster's consensus group.
    pub cluster_election: ElectionTimeout,
    /// Heartbeat period of the cluster's consensus group.
    pub cluster_heartbeat: Duration,
    /// Election timeouts of the control group (spans regions: longer).
    pub control_election: ElectionTimeout,
    /// Heartbeat period of the control group.
    pub control_heartbeat: Duration,
    /// Failover thresholds and timers.
    pub failover: FailoverPolicy,
    /// Automatic failover, applied to every namespace (off by default).
    pub auto_failover: AutoFailoverPolicy,
    /// The node's own periods.
    pub timings: NodeTimings,
    /// Input limits.
    pub limits: NodeLimits,
}

impl NodeConfig {
    /// Defaults for `id` in `topology`: LAN consensus timings inside a cluster (150-300 ms),
    /// WAN timings for the control group (300-600 ms: six or more round trips of a 50 ms
    /// inter-region link), the mesh gossip profile.
    pub fn new(id: NodeId, topology: Arc<Topology>) -> Self {
        let lan = crate::consensus::ReplicaConfig::new(id).election_timeout;
        let wan = ElectionTimeout::new(Duration::from_millis(300), Duration::from_millis(600))
            .unwrap_or(lan);
        NodeConfig {
            id,
            topology,
            gossip: GossipConfig::mesh(),
            cluster_election: lan,
            cluster_heartbeat: Duration::from_millis(50),
            control_election: wan,
            control_heartbeat: Duration::from_millis(60),
            failover: FailoverPolicy::default(),
            auto_failover: AutoFailoverPolicy::default(),
            timings: NodeTimings::default(),
            limits: NodeLimits::default(),
        }
    }
}
