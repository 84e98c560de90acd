//! The gRPC form: `omnirelay.v1.ClientApi` (`client.proto`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use omnirelay_core::registry::Registry;
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion};
use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_proto::v1;
use omnirelay_proto::v1::client_api_server::ClientApi;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::ApiContext;
use super::append::{AppendBatch, FORWARDED_HEADER};
use super::error::ApiError;
use super::read::{DEFAULT_READ_LIMIT, ReadQuery};
use crate::convert::registry::PlacementRecord;
use crate::convert::{FromWire, ToWire};

/// The `ClientApi` service over a node.
#[derive(Clone, Debug)]
pub struct GrpcClientApi {
    ctx: Arc<ApiContext>,
}

impl GrpcClientApi {
    /// The service over `ctx`.
    pub fn new(ctx: Arc<ApiContext>) -> GrpcClientApi {
        GrpcClientApi { ctx }
    }
}

fn invalid(problem: String) -> Status {
    ApiError::BadRequest { problem }.into_status()
}

fn namespace(raw: &str, field: &str) -> Result<NamespaceId, Status> {
    NamespaceId::new(raw).map_err(|e| invalid(format!("{field} {raw:?}: {e}")))
}

fn version_vector(
    wire: Option<v1::ClusterVersionVector>,
    field: &str,
) -> Result<Option<ClusterVersionVector>, Status> {
    wire.map(|w| ClusterVersionVector::from_wire(w).map_err(|e| invalid(format!("{field}: {e}"))))
        .transpose()
}

/// Watch updates buffered per stream before the watcher waits for the client.
const WATCH_BUFFER: usize = 64;

#[tonic::async_trait]
impl ClientApi for GrpcClientApi {
    async fn append(
        &self,
        request: Request<v1::AppendRequest>,
    ) -> Result<Response<v1::AppendResponse>, Status> {
        let forwarded = request.metadata().contains_key(FORWARDED_HEADER);
        let request = request.into_inner();
        let batch = AppendBatch {
            namespace: namespace(&request.namespace, "namespace")?,
            events: request
                .events
                .into_iter()
                .map(|e| (e.key, e.payload))
                .collect(),
            fencing_token: (request.fencing_token != 0)
                .then_some(FailoverVersion(request.fencing_token)),
        };
        let appended = self
            .ctx
            .append(batch, forwarded)
            .await
            .map_err(ApiError::into_status)?;
        Ok(Response::new(v1::AppendResponse {
            origin_cluster: appended.origin_cluster.as_str().to_owned(),
            origin_seqs: appended.origin_seqs,
            failover_version: appended.failover_version.0,
            committed_by: appended.committed_by.0,
        }))
    }

    async fn read(
        &self,
        request: Request<v1::ReadRequest>,
    ) -> Result<Response<v1::ReadResponse>, Status> {
        let request = request.into_inner();
        let preferred_cluster = match request.preferred_cluster.as_str() {
            "" => None,
            name => Some(
                ClusterId::new(name)
                    .map_err(|e| invalid(format!("preferred_cluster {name:?}: {e}")))?,
            ),
        };
        let query = ReadQuery {
            namespace: namespace(&request.namespace, "namespace")?,
            after: version_vector(request.after, "after")?.unwrap_or_default(),
            limit: match request.limit {
                0 => DEFAULT_READ_LIMIT,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
            required: version_vector(request.required, "required")?
                .filter(|vv| *vv != ClusterVersionVector::new()),
            preferred_cluster,
        };
        let answer = self.ctx.read(query).await.map_err(ApiError::into_status)?;
        Ok(Response::new(v1::ReadResponse {
            events: answer.events.iter().map(|e| e.to_wire()).collect(),
            version_vector: Some(answer.version_vector.to_wire()),
            next_after: Some(answer.next_after.to_wire()),
            served_by: answer.served_by.as_str().to_owned(),
        }))
    }

    type WatchRoutingStream = ReceiverStream<Result<v1::RoutingUpdate, Status>>;

    async fn watch_routing(
        &self,
        request: Request<v1::WatchRoutingRequest>,
    ) -> Result<Response<Self::WatchRoutingStream>, Status> {
        let wanted: BTreeSet<NamespaceId> = request
            .into_inner()
            .namespaces
            .iter()
            .map(|n| namespace(n, "namespaces"))
            .collect::<Result<_, _>>()?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let mut registry = self.ctx.handle.registry_watch();
        tokio::spawn(async move {
            // The version each namespace was last sent at: only changes are sent again.
            let mut sent: BTreeMap<NamespaceId, u64> = BTreeMap::new();
            loop {
                let current = Arc::clone(&registry.borrow_and_update());
                for update in changes(&current, &wanted, &mut sent) {
                    if tx.send(Ok(update)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    biased;
                    changed = registry.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The placements of `wanted` (all when empty) that changed since `sent`.
fn changes(
    registry: &Registry,
    wanted: &BTreeSet<NamespaceId>,
    sent: &mut BTreeMap<NamespaceId, u64>,
) -> Vec<v1::RoutingUpdate> {
    let changed: Vec<_> = registry
        .placements()
        .filter(|p| wanted.is_empty() || wanted.contains(&p.value.namespace))
        .filter(|p| sent.get(&p.value.namespace) != Some(&p.version))
        .collect();
    changed
        .into_iter()
        .map(|p| {
            sent.insert(p.value.namespace.clone(), p.version);
            let active_endpoints = registry
                .cluster(&p.value.active_cluster)
                .map(|c| {
                    c.value
                        .endpoints
                        .iter()
                        .map(|e| super::directory::https(e))
                        .collect()
                })
                .unwrap_or_default();
            v1::RoutingUpdate {
                placement: Some(
                    PlacementRecord {
                        placement: p.clone(),
                        auto_failover: false,
                    }
                    .to_wire(),
                ),
                revision: p.version,
                active_endpoints,
            }
        })
        .collect()
}
