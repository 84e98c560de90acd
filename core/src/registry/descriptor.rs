//! What the registry records about a cluster and about a namespace's placement.

use std::fmt;

use crate::replication::FailoverVersion;
use crate::{ClusterId, NamespaceId};

/// Whether a cluster takes part in the mesh right now.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ClusterState {
    /// Serving: may be active for namespaces, receives replication.
    Online,
    /// Being emptied of active namespaces (a whole-cluster planned failover).
    Draining,
    /// Learned of a higher failover version while it believed itself active: refuses
    /// writes until an operator reconciles it.
    Fenced,
    /// Known but not serving (maintenance, or lost with its region).
    Offline,
}

/// Who changed a record, why, and under which change ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ChangeMetadata {
    /// The operator or automation that made the change.
    pub changed_by: String,
    /// The change-management ticket, when policy requires one.
    pub ticket: Option<String>,
    /// Free text.
    pub reason: String,
}

/// A cluster as the registry describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClusterDescriptor {
    /// The cluster.
    pub id: ClusterId,
    /// Its region, e.g. `us-east-1`.
    pub region: String,
    /// Higher wins when automation picks a failover target.
    pub priority: u32,
    /// Whether it serves.
    pub state: ClusterState,
    /// Client-facing endpoints (`host:port`).
    pub endpoints: Vec<String>,
    /// Endpoints other clusters stream replication to.
    pub replication_endpoints: Vec<String>,
    /// Teams or people who own it.
    pub owners: Vec<String>,
    /// Its initial failover version (see `FailoverVersionScheme`); unique in the mesh.
    pub initial_failover_version: u64,
    /// The last change's metadata.
    pub change: ChangeMetadata,
}

/// A namespace's placement state (ARCHITECTURE.md, cluster state per namespace).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PlacementState {
    /// The active cluster accepts writes.
    Active,
    /// A planned failover drains it: writes are told to retry.
    Draining,
    /// The active cluster was fenced (an emergency promotion elsewhere is in progress).
    Fenced,
}

impl fmt::Display for PlacementState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlacementState::Active => "active",
            PlacementState::Draining => "draining",
            PlacementState::Fenced => "fenced",
        })
    }
}

/// Which cluster is active for a namespace, under which fencing token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NamespacePlacement {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The one cluster that accepts its writes.
    pub active_cluster: ClusterId,
    /// The fencing token of that role.
    pub failover_version: FailoverVersion,
    /// Active, draining or fenced.
    pub state: PlacementState,
    /// The last change's metadata.
    pub change: ChangeMetadata,
}

/// A record with the registry revision that last changed it: the compare-and-set token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Versioned<T> {
    /// The record.
    pub value: T,
    /// The registry revision at which it was last written.
    pub version: u64,
}
