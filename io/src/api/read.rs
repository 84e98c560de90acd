//! The read path both protocols share: affinity, staleness routing, and where to continue.

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::replication::{ClusterVersionVector, Event};
use omnirelay_core::routing::{self, ReadRoute, RoutingError};
use omnirelay_core::{ClusterId, NamespaceId};

use super::ApiContext;
use super::error::ApiError;

/// Events returned when the client names no limit.
pub const DEFAULT_READ_LIMIT: usize = 100;
/// Most events one read returns.
pub const MAX_READ_LIMIT: usize = 10_000;

/// A read as either protocol received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadQuery {
    /// The namespace.
    pub namespace: NamespaceId,
    /// Return events this vector has not seen.
    pub after: ClusterVersionVector,
    /// Most events to return (clamped to 1..=[`MAX_READ_LIMIT`]).
    pub limit: usize,
    /// What the serving cluster must have applied (read-your-writes).
    pub required: Option<ClusterVersionVector>,
    /// The cluster the client wants to be served by.
    pub preferred_cluster: Option<ClusterId>,
}

/// What a read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadAnswer {
    /// The cluster that served it.
    pub served_by: ClusterId,
    /// Events past `after`, in apply order.
    pub events: Vec<Arc<Event>>,
    /// What the serving cluster has applied.
    pub version_vector: ClusterVersionVector,
    /// The `after` of the next read: everything returned, and when nothing was cut off by
    /// the limit, everything the cluster has applied.
    pub next_after: ClusterVersionVector,
}

impl ApiContext {
    /// Serves `query` here, or says which cluster should.
    pub async fn read(&self, query: ReadQuery) -> Result<ReadAnswer, ApiError> {
        let local = self.handle.cluster().cloned().ok_or(ApiError::Witness)?;
        let registry = Arc::clone(&self.handle.registry_watch().borrow());
        if let Some(preferred) = query.preferred_cluster.as_ref().filter(|p| **p != local) {
            if registry.cluster(preferred).is_none() {
                return Err(ApiError::BadRequest {
                    problem: format!(
                        "x-omnirelay-preferred-cluster: unknown cluster {}",
                        preferred.as_str()
                    ),
                });
            }
            let endpoint = self
                .directory
                .cluster_endpoint(&registry, preferred)
                .ok_or_else(|| ApiError::BadRequest {
                    problem: format!(
                        "x-omnirelay-preferred-cluster: cluster {} lists no client endpoint",
                        preferred.as_str()
                    ),
                })?;
            return Err(ApiError::Elsewhere {
                why: format!("the client prefers cluster {}", preferred.as_str()),
                cluster: Some(preferred.clone()),
                endpoint,
            });
        }
        let limit = query.limit.clamp(1, MAX_READ_LIMIT);
        let read = self
            .handle
            .read(query.namespace.clone(), query.after.clone(), limit)
            .await?;
        let route = routing::route_read(
            &registry,
            &local,
            &read.version_vector,
            &query.namespace,
            query.required.as_ref(),
        );
        match route {
            Ok(ReadRoute::ServeLocal { .. }) => {}
            Ok(ReadRoute::Redirect {
                active_cluster,
                endpoints,
            }) => {
                return Err(match self.directory.pick(&endpoints) {
                    Some(endpoint) => ApiError::Elsewhere {
                        why: format!(
                            "cluster {} has not applied the requested version vector",
                            local.as_str()
                        ),
                        cluster: Some(active_cluster),
                        endpoint,
                    },
                    None => behind(routing::DEFAULT_RETRY_AFTER),
                });
            }
            Ok(ReadRoute::RetryLater { retry_after }) => return Err(behind(retry_after)),
            Err(RoutingError::UnknownNamespace(ns)) if registry.revision() > 0 => {
                return Err(ApiError::UnknownNamespace(ns));
            }
            Err(RoutingError::UnknownNamespace(_)) => {
                return Err(ApiError::RetryLater {
                    reason: "this node has not received the registry yet".into(),
                    retry_after: routing::DEFAULT_RETRY_AFTER,
                });
            }
            Err(e) => {
                return Err(ApiError::BadRequest {
                    problem: e.to_string(),
                });
            }
        }
        let mut next_after = query.after.clone();
        if read.events.len() < limit {
            next_after.merge(&read.version_vector);
        }
        for event in &read.events {
            next_after.advance(&event.origin_cluster, event.origin_seq);
        }
        Ok(ReadAnswer {
            served_by: local,
            events: read.events,
            version_vector: read.version_vector,
            next_after,
        })
    }
}

fn behind(retry_after: Duration) -> ApiError {
    ApiError::RetryLater {
        reason: "this cluster has not yet applied the requested version vector".into(),
        retry_after,
    }
}
