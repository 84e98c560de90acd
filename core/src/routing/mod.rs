//! Which cluster serves a read or a write (ARCHITECTURE.md, "api" and "Registry").
//!
//! Pure functions over the node's view of the registry: the io layer turns a
//! [`WriteRoute::Redirect`] into HTTP 307 or gRPC `FAILED_PRECONDITION` with the active
//! cluster's endpoint, and a [`WriteRoute::RetryLater`] into 503 with `Retry-After`.

use std::time::Duration;

use crate::registry::{ClusterState, PlacementState, Registry};
use crate::replication::{ClusterVersionVector, FailoverVersion};
use crate::{ClusterId, NamespaceId};

/// What to do with a client write to a namespace arriving at the local cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WriteRoute {
    /// Accept it here and stamp it with this fencing token.
    Accept {
        /// The namespace's failover version: the write's fencing token.
        failover_version: FailoverVersion,
    },
    /// Another cluster is active: send the client there.
    Redirect {
        /// The active cluster.
        active_cluster: ClusterId,
        /// Its client endpoints, as the registry lists them.
        endpoints: Vec<String>,
    },
    /// Nobody may take the write right now; the client retries after the hint.
    RetryLater {
        /// Why.
        reason: RetryReason,
        /// How long to wait before retrying.
        retry_after: Duration,
    },
}

/// Why a write must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// A planned failover drains the namespace.
    Draining,
    /// The active cluster is fenced while an emergency promotion settles.
    Fenced,
    /// The client knows a newer failover version than this node: its registry view lags.
    RegistryBehind,
}

/// What to do with a client read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReadRoute {
    /// Serve it here; the response carries this version vector.
    ServeLocal {
        /// What the local cluster has applied.
        version_vector: ClusterVersionVector,
    },
    /// The caller demands more than the local cluster has applied: go to the active one.
    Redirect {
        /// The namespace's active cluster.
        active_cluster: ClusterId,
        /// Its client endpoints.
        endpoints: Vec<String>,
    },
    /// The local cluster is the active one and has not reached what the caller demands
    /// (it may still be applying, or the caller's vector came from a superseded active):
    /// redirecting would loop, so the caller retries here.
    RetryLater {
        /// How long to wait before retrying.
        retry_after: Duration,
    },
}

/// Why a request cannot be routed at all. Nothing changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The namespace is not in the registry.
    #[error("unknown namespace {0}")]
    UnknownNamespace(NamespaceId),
    /// The client's fencing token is older than the namespace's: it acts on an old
    /// placement and must refresh it before writing.
    #[error("stale fencing token {offered} for {namespace}: current is {current}")]
    StaleFencingToken {
        /// The namespace.
        namespace: NamespaceId,
        /// The token the client sent.
        offered: FailoverVersion,
        /// The namespace's current one.
        current: FailoverVersion,
    },
}

/// How long clients wait before retrying a draining or fenced namespace.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_millis(200);

/// Routes a write to `namespace` arriving at `local`. `client_token` is the failover
/// version the client last saw, if it sends one.
pub fn route_write(
    registry: &Registry,
    local: &ClusterId,
    namespace: &NamespaceId,
    client_token: Option<FailoverVersion>,
) -> Result<WriteRoute, RoutingError> {
    let placement = &registry
        .placement(namespace)
        .ok_or_else(|| RoutingError::UnknownNamespace(namespace.clone()))?
        .value;
    let current = placement.failover_version;
    match client_token {
        Some(offered) if offered < current => {
            return Err(RoutingError::StaleFencingToken {
                namespace: namespace.clone(),
                offered,
                current,
            });
        }
        Some(offered) if offered > current => {
            return Ok(WriteRoute::RetryLater {
                reason: RetryReason::RegistryBehind,
                retry_after: DEFAULT_RETRY_AFTER,
            });
        }
        _ => {}
    }
    if placement.active_cluster != *local {
        return Ok(WriteRoute::Redirect {
            active_cluster: placement.active_cluster.clone(),
            endpoints: endpoints_of(registry, &placement.active_cluster),
        });
    }
    let local_fenced = registry
        .cluster(local)
        .is_some_and(|c| c.value.state == ClusterState::Fenced);
    let reason = match placement.state {
        PlacementState::Active if !local_fenced => {
            return Ok(WriteRoute::Accept {
                failover_version: current,
            });
        }
        PlacementState::Active | PlacementState::Fenced => RetryReason::Fenced,
        PlacementState::Draining => RetryReason::Draining,
    };
    Ok(WriteRoute::RetryLater {
        reason,
        retry_after: DEFAULT_RETRY_AFTER,
    })
}

/// Routes a read of `namespace` at `local`, which has applied `local_vv`. A caller that
/// demands `required` (read-your-writes after writing elsewhere) is redirected to the
/// active cluster unless the local cluster has caught up with it.
pub fn route_read(
    registry: &Registry,
    local: &ClusterId,
    local_vv: &ClusterVersionVector,
    namespace: &NamespaceId,
    required: Option<&ClusterVersionVector>,
) -> Result<ReadRoute, RoutingError> {
    let placement = &registry
        .placement(namespace)
        .ok_or_else(|| RoutingError::UnknownNamespace(namespace.clone()))?
        .value;
    match required {
        Some(required) if !local_vv.dominates(required) && placement.active_cluster == *local => {
            Ok(ReadRoute::RetryLater {
                retry_after: DEFAULT_RETRY_AFTER,
            })
        }
        Some(required) if !local_vv.dominates(required) => Ok(ReadRoute::Redirect {
            active_cluster: placement.active_cluster.clone(),
            endpoints: endpoints_of(registry, &placement.active_cluster),
        }),
        _ => Ok(ReadRoute::ServeLocal {
            version_vector: local_vv.clone(),
        }),
    }
}

fn endpoints_of(registry: &Registry, cluster: &ClusterId) -> Vec<String> {
    registry
        .cluster(cluster)
        .map(|c| c.value.endpoints.clone())
        .unwrap_or_default()
}
