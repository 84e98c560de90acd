//! `[mesh]`: the static topology every node of the mesh is configured with, and the one
//! function that turns a node's whole configuration into core's `node::NodeConfig`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use omnirelay_core::consensus::ElectionTimeout;
use omnirelay_core::node::{self as core_node, ClusterSpec, Topology, WITNESS_CLUSTER};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};

use super::address::HostPort;
use super::error::ConfigError;
use super::node::NodeConfig;
use super::raw::{RawConfig, RawMesh, RawNodeId};

/// `[mesh]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshSettings {
    /// The failover-version increment (Temporal's scheme): every promotion adds it.
    pub failover_version_increment: u64,
    /// The clusters, in file order.
    pub clusters: Vec<MeshCluster>,
    /// Nodes that vote in the control group and hold no data.
    pub witnesses: Vec<MeshWitness>,
    /// The control group's voters (cluster nodes and witnesses).
    pub control_voters: Vec<NodeId>,
    /// Namespaces created at bootstrap, with their first active cluster.
    pub namespaces: Vec<(NamespaceId, ClusterId)>,
}

/// One cluster of `[mesh]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshCluster {
    /// The cluster.
    pub id: ClusterId,
    /// Its region.
    pub region: String,
    /// Higher wins when automation picks a failover target.
    pub priority: u32,
    /// Its first failover version, `1..failover_version_increment`, unique in the mesh.
    pub initial_failover_version: u64,
    /// Its nodes (its voters).
    pub nodes: Vec<MeshNode>,
}

/// One node of a cluster in `[mesh]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshNode {
    /// The node.
    pub id: NodeId,
    /// Where peers dial its peer transport.
    pub grpc: HostPort,
    /// Where clients reach its API (redirects name it).
    pub http: HostPort,
}

/// One witness of `[mesh]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshWitness {
    /// The witness.
    pub id: NodeId,
    /// Where peers dial it.
    pub grpc: HostPort,
}

impl MeshSettings {
    /// Every node's peer address: cluster nodes, then witnesses.
    pub fn peer_addresses(&self) -> BTreeMap<NodeId, HostPort> {
        self.clusters
            .iter()
            .flat_map(|c| c.nodes.iter().map(|n| (n.id, n.grpc.clone())))
            .chain(self.witnesses.iter().map(|w| (w.id, w.grpc.clone())))
            .collect()
    }

    /// The core's topology; client endpoints are the `http` addresses of each cluster's
    /// nodes, as `http://host:port`.
    pub fn topology(&self) -> Topology {
        Topology {
            clusters: self
                .clusters
                .iter()
                .map(|c| ClusterSpec {
                    id: c.id.clone(),
                    region: c.region.clone(),
                    priority: c.priority,
                    nodes: c.nodes.iter().map(|n| n.id).collect(),
                    initial_failover_version: c.initial_failover_version,
                    endpoints: c
                        .nodes
                        .iter()
                        .map(|n| format!("http://{}", n.http))
                        .collect(),
                })
                .collect(),
            witnesses: self.witnesses.iter().map(|w| w.id).collect(),
            control_voters: self.control_voters.clone(),
            namespaces: self.namespaces.clone(),
            failover_version_increment: self.failover_version_increment,
        }
    }
}

impl NodeConfig {
    /// The core machine's configuration for this node: `[mesh]` as the topology, the
    /// consensus timings, gossip, failover policies and payload limit of this file. The one
    /// place io's configuration becomes core's; `omnirelay config validate` runs it too.
    pub fn core_config(&self) -> Result<core_node::NodeConfig, ConfigError> {
        let Some(mesh) = &self.mesh else {
            return Err(ConfigError::invalid(
                "mesh",
                "missing: a node needs the mesh's topology ([mesh] with clusters, control_voters, namespaces)",
            ));
        };
        let topology = mesh.topology();
        topology
            .validate()
            .map_err(|e| ConfigError::invalid("mesh", e.to_string()))?;
        if topology.cluster_of(self.node.id).is_none()
            && !topology.witnesses.contains(&self.node.id)
        {
            return Err(ConfigError::invalid(
                "node.id",
                format!(
                    "{} is neither a node of mesh.clusters nor one of mesh.witnesses",
                    self.node.id
                ),
            ));
        }
        let mut config = core_node::NodeConfig::new(self.node.id, Arc::new(topology));
        config.gossip = self.gossip.timing.clone();
        config.cluster_election = ElectionTimeout::new(
            self.consensus.election_timeout_min,
            self.consensus.election_timeout_max,
        )
        .ok_or_else(|| {
            ConfigError::invalid(
                "consensus.election_timeout_min_ms",
                "must be less than consensus.election_timeout_max_ms",
            )
        })?;
        config.cluster_heartbeat = self.consensus.heartbeat;
        config.failover = self.failover.clone();
        config.auto_failover = self.auto_failover.clone();
        config.limits.max_payload_bytes = self.api.max_payload_bytes;
        config.limits.max_stream_batch = self.replication.batch_max_events;
        Ok(config)
    }
}

/// Checks `[mesh]` and its agreement with `[node]` and `[consensus]`, pushing every problem.
pub(crate) fn validate(raw: &RawConfig, problems: &mut Vec<ConfigError>) -> Option<MeshSettings> {
    let m: &RawMesh = raw.mesh.as_ref()?;
    let before = problems.len();
    let mut bad = |key: String, reason: String| problems.push(ConfigError::Invalid { key, reason });
    let node_id = |text: &RawNodeId| text.0.parse::<NodeId>().map_err(|e| e.to_string());

    let increment = m.failover_version_increment;
    if increment < 2 {
        bad(
            "mesh.failover_version_increment".into(),
            format!(
                "{increment} leaves no room for initial failover versions: use at least the number of clusters + 1"
            ),
        );
    }
    let mut seen_nodes = BTreeSet::new();
    let mut seen_versions = BTreeMap::new();
    let mut clusters = Vec::new();
    for (i, c) in m.clusters.iter().enumerate() {
        let key = format!("mesh.clusters[{i}]");
        let id = match ClusterId::new(&c.id) {
            Ok(id) if id.as_str() == WITNESS_CLUSTER => {
                bad(
                    format!("{key}.id"),
                    "`witness` is reserved for witnesses' reports".into(),
                );
                None
            }
            Ok(id) if clusters.iter().any(|x: &MeshCluster| x.id == id) => {
                bad(format!("{key}.id"), format!("cluster {id} is listed twice"));
                None
            }
            Ok(id) => Some(id),
            Err(e) => {
                bad(format!("{key}.id"), e.to_string());
                None
            }
        };
        if let Err(e) = ClusterId::new(&c.region) {
            bad(
                format!("{key}.region"),
                e.to_string().replace("cluster", "region"),
            );
        }
        let v = c.initial_failover_version;
        if v == 0 || v >= increment {
            bad(
                format!("{key}.initial_failover_version"),
                format!("{v} must be in 1..{increment} (below mesh.failover_version_increment)"),
            );
        } else if let Some(other) = seen_versions.insert(v, i) {
            bad(
                format!("{key}.initial_failover_version"),
                format!("{v} is also mesh.clusters[{other}]'s: each cluster needs its own"),
            );
        }
        if c.nodes.is_empty() {
            bad(
                format!("{key}.nodes"),
                "a cluster needs at least one node".into(),
            );
        }
        let mut nodes = Vec::new();
        for (j, n) in c.nodes.iter().enumerate() {
            let nkey = format!("{key}.nodes[{j}]");
            let id = match node_id(&n.id) {
                Ok(id) if !seen_nodes.insert(id) => {
                    bad(
                        format!("{nkey}.id"),
                        format!("{id} appears twice in the mesh"),
                    );
                    None
                }
                Ok(id) => Some(id),
                Err(e) => {
                    bad(format!("{nkey}.id"), e);
                    None
                }
            };
            let grpc = n
                .grpc
                .parse::<HostPort>()
                .map_err(|e| bad(format!("{nkey}.grpc"), e.to_string()));
            let http = n
                .http
                .parse::<HostPort>()
                .map_err(|e| bad(format!("{nkey}.http"), e.to_string()));
            if let (Some(id), Ok(grpc), Ok(http)) = (id, grpc, http) {
                nodes.push(MeshNode { id, grpc, http });
            }
        }
        if let Some(id) = id {
            clusters.push(MeshCluster {
                id,
                region: c.region.clone(),
                priority: c.priority,
                initial_failover_version: v,
                nodes,
            });
        }
    }
    let mut witnesses = Vec::new();
    for (i, w) in m.witnesses.iter().enumerate() {
        let key = format!("mesh.witnesses[{i}]");
        let id = match node_id(&w.id) {
            Ok(id) if !seen_nodes.insert(id) => {
                bad(
                    format!("{key}.id"),
                    format!("{id} appears twice in the mesh"),
                );
                None
            }
            Ok(id) => Some(id),
            Err(e) => {
                bad(format!("{key}.id"), e);
                None
            }
        };
        let grpc = w
            .grpc
            .parse::<HostPort>()
            .map_err(|e| bad(format!("{key}.grpc"), e.to_string()));
        if let (Some(id), Ok(grpc)) = (id, grpc) {
            witnesses.push(MeshWitness { id, grpc });
        }
    }
    let mut control_voters = Vec::new();
    for (i, v) in m.control_voters.iter().enumerate() {
        let key = format!("mesh.control_voters[{i}]");
        match node_id(v) {
            Ok(id) if !seen_nodes.contains(&id) => {
                bad(
                    key,
                    format!("{id} is neither a cluster node nor a witness of the mesh"),
                );
            }
            Ok(id) if control_voters.contains(&id) => bad(key, format!("{id} is listed twice")),
            Ok(id) => control_voters.push(id),
            Err(e) => bad(key, e),
        }
    }
    if m.control_voters.is_empty() {
        bad(
            "mesh.control_voters".into(),
            "missing: the registry's control group needs voters (spread over clusters and witnesses)".into(),
        );
    }
    let mut namespaces: Vec<(NamespaceId, ClusterId)> = Vec::new();
    for (i, n) in m.namespaces.iter().enumerate() {
        let key = format!("mesh.namespaces[{i}]");
        let name = match NamespaceId::new(&n.name) {
            Ok(name) if namespaces.iter().any(|(x, _)| *x == name) => {
                bad(
                    format!("{key}.name"),
                    format!("namespace {name} is listed twice"),
                );
                None
            }
            Ok(name) => Some(name),
            Err(e) => {
                bad(format!("{key}.name"), e.to_string());
                None
            }
        };
        let active = match ClusterId::new(&n.active) {
            Ok(a) if !m.clusters.iter().any(|c| c.id == n.active) => {
                bad(
                    format!("{key}.active"),
                    format!("{a} is not a cluster of mesh.clusters"),
                );
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                bad(format!("{key}.active"), e.to_string());
                None
            }
        };
        if let (Some(name), Some(active)) = (name, active) {
            namespaces.push((name, active));
        }
    }
    agree_with_node(raw, &clusters, &witnesses, &mut bad);
    if problems.len() > before {
        return None;
    }
    Some(MeshSettings {
        failover_version_increment: increment,
        clusters,
        witnesses,
        control_voters,
        namespaces,
    })
}

/// This node must be in the mesh where `[node]` says, and its cluster's nodes must be
/// exactly `consensus.voters`, at the same addresses.
fn agree_with_node(
    raw: &RawConfig,
    clusters: &[MeshCluster],
    witnesses: &[MeshWitness],
    bad: &mut impl FnMut(String, String),
) {
    // Invalid values of [node] are reported by its own checks.
    let Some(this) = raw
        .node
        .id
        .as_ref()
        .and_then(|id| id.0.parse::<NodeId>().ok())
    else {
        return;
    };
    let home = clusters
        .iter()
        .find(|c| c.nodes.iter().any(|n| n.id == this));
    let is_witness = witnesses.iter().any(|w| w.id == this);
    match (home, raw.node.role.as_str()) {
        (None, "witness") if is_witness => {}
        (None, "witness") => bad(
            "node.id".into(),
            format!("{this} is a witness but is not listed in mesh.witnesses"),
        ),
        (Some(c), "witness") => bad(
            "node.role".into(),
            format!("witness, but {this} is a node of mesh cluster {}", c.id),
        ),
        (None, _) => bad(
            "node.id".into(),
            format!("{this} is not a node of any cluster in mesh.clusters"),
        ),
        (Some(c), _) => {
            if raw
                .node
                .cluster
                .as_deref()
                .is_some_and(|n| n != c.id.as_str())
            {
                bad(
                    "node.cluster".into(),
                    format!("mesh.clusters lists {this} in cluster {}", c.id),
                );
            }
            if raw.node.region.as_deref().is_some_and(|r| r != c.region) {
                bad(
                    "node.region".into(),
                    format!("mesh.clusters gives cluster {} region {}", c.id, c.region),
                );
            }
            let voters: BTreeMap<NodeId, String> = raw
                .consensus
                .voters
                .iter()
                .filter_map(|v| Some((v.id.0.parse::<NodeId>().ok()?, v.grpc.clone())))
                .collect();
            let mesh_ids: BTreeSet<NodeId> = c.nodes.iter().map(|n| n.id).collect();
            let voter_ids: BTreeSet<NodeId> = voters.keys().copied().collect();
            if !voters.is_empty() && mesh_ids != voter_ids {
                bad(
                    "consensus.voters".into(),
                    format!(
                        "lists {} but mesh.clusters gives cluster {} the nodes {}",
                        join(&voter_ids),
                        c.id,
                        join(&mesh_ids)
                    ),
                );
            }
            for n in &c.nodes {
                if let Some(grpc) = voters.get(&n.id)
                    && grpc.parse::<HostPort>().is_ok_and(|g| g != n.grpc)
                {
                    bad(
                        "consensus.voters".into(),
                        format!(
                            "gives {} the address {grpc}, mesh.clusters gives {}",
                            n.id, n.grpc
                        ),
                    );
                }
            }
        }
    }
}

fn join(ids: &BTreeSet<NodeId>) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
