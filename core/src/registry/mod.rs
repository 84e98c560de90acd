//! The mesh registry: cluster descriptors and namespace placement, applied on the mesh-wide
//! control group's log.
//!
//! [`Registry`] is a deterministic state machine: every replica applies the same committed
//! [`RegistryCommand`]s in the same order and reaches the same state. Every change is a
//! compare-and-set on the version of the record it touches (the registry revision that last
//! wrote it), so two operators racing to move one namespace cannot both win; the loser gets
//! [`RegistryError::VersionMismatch`] and the registry is unchanged. Failover versions come
//! from a [`FailoverVersionScheme`], so each one names exactly one cluster.

mod descriptor;
mod failover_version;

use std::collections::BTreeMap;

use crate::replication::{FailoverVersion, Placement};
use crate::{ClusterId, NamespaceId};

pub use descriptor::{
    ChangeMetadata, ClusterDescriptor, ClusterState, NamespacePlacement, PlacementState, Versioned,
};
pub use failover_version::FailoverVersionScheme;

/// What a compare-and-set expects of the record it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Expect {
    /// The record must not exist yet.
    Absent,
    /// The record must be at exactly this version.
    Version(u64),
}

/// A change to the registry, as committed on the control group's log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RegistryCommand {
    /// Creates or replaces a cluster descriptor.
    PutCluster {
        /// The new descriptor.
        descriptor: ClusterDescriptor,
        /// `Absent` to create, the current version to replace.
        expect: Expect,
    },
    /// Removes a cluster that is active for no namespace.
    RemoveCluster {
        /// The cluster.
        id: ClusterId,
        /// Its current version.
        expect: u64,
        /// Who and why.
        change: ChangeMetadata,
    },
    /// Places a new namespace on its first active cluster.
    CreateNamespace {
        /// The namespace.
        namespace: NamespaceId,
        /// Its first active cluster, which must be online.
        active_cluster: ClusterId,
        /// Who and why.
        change: ChangeMetadata,
    },
    /// Drains, fences or re-activates a namespace without moving it.
    SetPlacementState {
        /// The namespace.
        namespace: NamespaceId,
        /// The new state.
        state: PlacementState,
        /// Its current version.
        expect: u64,
        /// Who and why.
        change: ChangeMetadata,
    },
    /// Makes `to` the active cluster of a namespace under a new, higher failover version.
    Promote {
        /// The namespace.
        namespace: NamespaceId,
        /// The new active cluster, which must be online.
        to: ClusterId,
        /// The placement's current version.
        expect: u64,
        /// Emergency failover: the highest `origin_seq` of the superseded active that `to`
        /// had applied; its later writes at the old version are the reported possible loss.
        /// `None` for a planned failover, which loses nothing.
        superseded_cutoff: Option<u64>,
        /// Who and why.
        change: ChangeMetadata,
    },
}

/// What an applied command changed, for watchers and the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegistryChange {
    /// A cluster descriptor was written.
    ClusterPut(ClusterId),
    /// A cluster was removed.
    ClusterRemoved(ClusterId),
    /// A namespace's placement was written (created, state changed, or promoted).
    PlacementChanged {
        /// The new placement.
        placement: NamespacePlacement,
        /// The cluster active before, when it changed.
        previous_active: Option<ClusterId>,
    },
}

/// Why a command was refused. The registry is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The record is not at the expected version: someone changed it first. Unchanged.
    #[error("{key}: expected {expected:?}, but it is at {actual:?}")]
    VersionMismatch {
        /// Which record.
        key: String,
        /// What the command expected.
        expected: Expect,
        /// Its version now (`None`: absent).
        actual: Option<u64>,
    },
    /// The cluster is not in the registry. Unchanged.
    #[error("unknown cluster {0}")]
    UnknownCluster(ClusterId),
    /// The namespace is not in the registry. Unchanged.
    #[error("unknown namespace {0}")]
    UnknownNamespace(NamespaceId),
    /// The namespace exists already. Unchanged.
    #[error("namespace {0} exists already")]
    NamespaceExists(NamespaceId),
    /// The cluster is not online, so it cannot become active. Unchanged.
    #[error("cluster {cluster} is {state:?}, not online")]
    ClusterNotOnline {
        /// The cluster.
        cluster: ClusterId,
        /// Its state.
        state: ClusterState,
    },
    /// The namespace is already active on that cluster. Unchanged.
    #[error("namespace {namespace} is already active on {cluster}")]
    AlreadyActive {
        /// The namespace.
        namespace: NamespaceId,
        /// Its active cluster.
        cluster: ClusterId,
    },
    /// The cluster is active for namespaces and cannot be removed. Unchanged.
    #[error("cluster {cluster} is still active for {namespaces:?}")]
    ClusterInUse {
        /// The cluster.
        cluster: ClusterId,
        /// Namespaces it is active for.
        namespaces: Vec<NamespaceId>,
    },
    /// Another cluster already owns that initial failover version. Unchanged.
    #[error("initial failover version {initial} is already owned by {owner}")]
    DuplicateInitialVersion {
        /// The contested initial version.
        initial: u64,
        /// Its owner.
        owner: ClusterId,
    },
    /// A cluster's initial failover version cannot change: past versions would change hands.
    #[error("cluster {cluster}: initial failover version is {current}, it cannot become {offered}")]
    ImmutableInitialVersion {
        /// The cluster.
        cluster: ClusterId,
        /// Its initial version.
        current: u64,
        /// The refused one.
        offered: u64,
    },
    /// The initial version is outside `1..increment`. Unchanged.
    #[error("cluster {cluster}: initial failover version {initial} must be in 1..{increment}")]
    BadInitialVersion {
        /// The cluster.
        cluster: ClusterId,
        /// The refused value.
        initial: u64,
        /// The scheme's increment.
        increment: u64,
    },
    /// A failover-version increment below 2 leaves no room for a cluster.
    #[error("failover version increment {0} must be at least 2")]
    BadIncrement(u64),
    /// No failover version above the current one is left for the cluster.
    #[error("no failover version left for cluster {0}")]
    VersionExhausted(ClusterId),
    /// A descriptor field is unusable. Unchanged.
    #[error("cluster {cluster}: {reason}")]
    InvalidDescriptor {
        /// The cluster.
        cluster: ClusterId,
        /// What is wrong.
        reason: String,
    },
}

/// The registry's state: a pure function of the commands applied to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    scheme: FailoverVersionScheme,
    revision: u64,
    clusters: BTreeMap<ClusterId, Versioned<ClusterDescriptor>>,
    namespaces: BTreeMap<NamespaceId, Versioned<NamespacePlacement>>,
    history: BTreeMap<NamespaceId, Vec<Placement>>,
    /// Initial versions of removed clusters: never handed out again, or old failover
    /// versions would name the wrong cluster.
    retired_initials: BTreeMap<u64, ClusterId>,
}

impl Registry {
    /// An empty registry using `scheme` for failover versions.
    pub fn new(scheme: FailoverVersionScheme) -> Self {
        Registry {
            scheme,
            revision: 0,
            clusters: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            history: BTreeMap::new(),
            retired_initials: BTreeMap::new(),
        }
    }

    /// The revision: how many commands changed the registry. Served as the `ETag`.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The failover-version scheme.
    pub fn scheme(&self) -> FailoverVersionScheme {
        self.scheme
    }

    /// A cluster's descriptor.
    pub fn cluster(&self, id: &ClusterId) -> Option<&Versioned<ClusterDescriptor>> {
        self.clusters.get(id)
    }

    /// Every cluster, in id order.
    pub fn clusters(&self) -> impl Iterator<Item = &Versioned<ClusterDescriptor>> {
        self.clusters.values()
    }

    /// A namespace's placement.
    pub fn placement(&self, namespace: &NamespaceId) -> Option<&Versioned<NamespacePlacement>> {
        self.namespaces.get(namespace)
    }

    /// Every placement, in namespace order.
    pub fn placements(&self) -> impl Iterator<Item = &Versioned<NamespacePlacement>> {
        self.namespaces.values()
    }

    /// A namespace's promotions in version order: what every cluster's replication applier
    /// must know to judge old events (`Applier::handle_placement`).
    pub fn history(&self, namespace: &NamespaceId) -> &[Placement] {
        self.history.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// The cluster a failover version was minted for.
    pub fn cluster_of_version(&self, version: FailoverVersion) -> Option<&ClusterId> {
        let initial = self.scheme.initial_of(version);
        self.clusters
            .values()
            .find(|c| c.value.initial_failover_version == initial)
            .map(|c| &c.value.id)
    }

    /// Applies one committed command. On error nothing changed.
    pub fn apply(&mut self, command: RegistryCommand) -> Result<RegistryChange, RegistryError> {
        let next = self.revision + 1;
        let change = match command {
            RegistryCommand::PutCluster { descriptor, expect } => {
                self.check_descriptor(&descriptor)?;
                let current = self.clusters.get(&descriptor.id).map(|c| c.version);
                check_expect(&format!("cluster {}", descriptor.id), expect, current)?;
                let id = descriptor.id.clone();
                self.clusters.insert(
                    id.clone(),
                    Versioned {
                        value: descriptor,
                        version: next,
                    },
                );
                RegistryChange::ClusterPut(id)
            }
            RegistryCommand::RemoveCluster { id, expect, .. } => {
                let current = self
                    .clusters
                    .get(&id)
                    .ok_or_else(|| RegistryError::UnknownCluster(id.clone()))?;
                check_expect(
                    &format!("cluster {id}"),
                    Expect::Version(expect),
                    Some(current.version),
                )?;
                let in_use: Vec<NamespaceId> = self
                    .namespaces
                    .values()
                    .filter(|p| p.value.active_cluster == id)
                    .map(|p| p.value.namespace.clone())
                    .collect();
                if !in_use.is_empty() {
                    return Err(RegistryError::ClusterInUse {
                        cluster: id,
                        namespaces: in_use,
                    });
                }
                if let Some(removed) = self.clusters.remove(&id) {
                    self.retired_initials
                        .insert(removed.value.initial_failover_version, id.clone());
                }
                RegistryChange::ClusterRemoved(id)
            }
            RegistryCommand::CreateNamespace {
                namespace,
                active_cluster,
                change,
            } => {
                if self.namespaces.contains_key(&namespace) {
                    return Err(RegistryError::NamespaceExists(namespace));
                }
                let initial = self.online_initial(&active_cluster)?;
                let version = self
                    .scheme
                    .next_for(FailoverVersion(0), &active_cluster, initial)?;
                let placement = self.place(namespace, active_cluster, version, None, change, next);
                RegistryChange::PlacementChanged {
                    placement,
                    previous_active: None,
                }
            }
            RegistryCommand::SetPlacementState {
                namespace,
                state,
                expect,
                change,
            } => {
                let entry = self.checked_placement(&namespace, expect)?;
                let mut placement = entry.value.clone();
                placement.state = state;
                placement.change = change;
                self.namespaces.insert(
                    namespace,
                    Versioned {
                        value: placement.clone(),
                        version: next,
                    },
                );
                RegistryChange::PlacementChanged {
                    placement,
                    previous_active: None,
                }
            }
            RegistryCommand::Promote {
                namespace,
                to,
                expect,
                superseded_cutoff,
                change,
            } => {
                let entry = self.checked_placement(&namespace, expect)?;
                let current = entry.value.clone();
                if current.active_cluster == to {
                    return Err(RegistryError::AlreadyActive {
                        namespace,
                        cluster: to,
                    });
                }
                let initial = self.online_initial(&to)?;
                let version = self
                    .scheme
                    .next_for(current.failover_version, &to, initial)?;
                let placement = self.place(namespace, to, version, superseded_cutoff, change, next);
                RegistryChange::PlacementChanged {
                    placement,
                    previous_active: Some(current.active_cluster),
                }
            }
        };
        self.revision = next;
        Ok(change)
    }

    /// Makes `active` the namespace's active cluster under `version` at registry revision
    /// `revision`, and records the promotion in its history.
    fn place(
        &mut self,
        namespace: NamespaceId,
        active: ClusterId,
        version: FailoverVersion,
        superseded_cutoff: Option<u64>,
        change: ChangeMetadata,
        revision: u64,
    ) -> NamespacePlacement {
        let placement = NamespacePlacement {
            namespace: namespace.clone(),
            active_cluster: active.clone(),
            failover_version: version,
            state: PlacementState::Active,
            change,
        };
        self.history
            .entry(namespace.clone())
            .or_default()
            .push(Placement {
                namespace: namespace.clone(),
                failover_version: version,
                active_cluster: active,
                superseded_cutoff,
            });
        self.namespaces.insert(
            namespace,
            Versioned {
                value: placement.clone(),
                version: revision,
            },
        );
        placement
    }

    fn check_descriptor(&self, d: &ClusterDescriptor) -> Result<(), RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidDescriptor {
            cluster: d.id.clone(),
            reason: reason.to_owned(),
        };
        if d.region.trim().is_empty() {
            return Err(invalid("region must not be empty"));
        }
        if d.endpoints
            .iter()
            .chain(&d.replication_endpoints)
            .any(|e| e.trim().is_empty())
        {
            return Err(invalid("endpoints must not be empty strings"));
        }
        if !self.scheme.valid_initial(d.initial_failover_version) {
            return Err(RegistryError::BadInitialVersion {
                cluster: d.id.clone(),
                initial: d.initial_failover_version,
                increment: self.scheme.increment(),
            });
        }
        if let Some(existing) = self.clusters.get(&d.id)
            && existing.value.initial_failover_version != d.initial_failover_version
        {
            return Err(RegistryError::ImmutableInitialVersion {
                cluster: d.id.clone(),
                current: existing.value.initial_failover_version,
                offered: d.initial_failover_version,
            });
        }
        if let Some(owner) = self.retired_initials.get(&d.initial_failover_version)
            && *owner != d.id
        {
            return Err(RegistryError::DuplicateInitialVersion {
                initial: d.initial_failover_version,
                owner: owner.clone(),
            });
        }
        if let Some(owner) = self.clusters.values().find(|c| {
            c.value.id != d.id && c.value.initial_failover_version == d.initial_failover_version
        }) {
            return Err(RegistryError::DuplicateInitialVersion {
                initial: d.initial_failover_version,
                owner: owner.value.id.clone(),
            });
        }
        Ok(())
    }

    fn online_initial(&self, id: &ClusterId) -> Result<u64, RegistryError> {
        let cluster = self
            .clusters
            .get(id)
            .ok_or_else(|| RegistryError::UnknownCluster(id.clone()))?;
        if cluster.value.state != ClusterState::Online {
            return Err(RegistryError::ClusterNotOnline {
                cluster: id.clone(),
                state: cluster.value.state,
            });
        }
        Ok(cluster.value.initial_failover_version)
    }

    fn checked_placement(
        &self,
        namespace: &NamespaceId,
        expect: u64,
    ) -> Result<&Versioned<NamespacePlacement>, RegistryError> {
        let entry = self
            .namespaces
            .get(namespace)
            .ok_or_else(|| RegistryError::UnknownNamespace(namespace.clone()))?;
        check_expect(
            &format!("namespace {namespace}"),
            Expect::Version(expect),
            Some(entry.version),
        )?;
        Ok(entry)
    }
}

fn check_expect(key: &str, expected: Expect, actual: Option<u64>) -> Result<(), RegistryError> {
    let ok = match expected {
        Expect::Absent => actual.is_none(),
        Expect::Version(v) => actual == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(RegistryError::VersionMismatch {
            key: key.to_owned(),
            expected,
            actual,
        })
    }
}
