//! The read routes: everything `mesh.read` may call.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::StreamExt;

use super::auth::ControlRole;
use super::error::ApiError;
use super::model::{
    ClustersSnapshot, Health, LeaderView, PeerStatus, PeerView, PeersPage, StateDiff,
};
use super::state::{Authenticated, SharedState};
use crate::audit::AuditPage;

/// Peers per page when the caller does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a caller may ask for.
const MAX_PAGE_SIZE: u32 = 1000;
/// Audit records per page when the caller does not say, and the most it may ask for.
const DEFAULT_AUDIT_LIMIT: usize = 100;
const MAX_AUDIT_LIMIT: usize = 1000;

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))
}

/// The `ETag` of a registry revision (a strong validator: the revision names the bytes).
fn etag(revision: u64) -> String {
    format!("\"r{revision}\"")
}

/// Whether `If-None-Match` already names `tag` (RFC 9110 13.1.2: weak comparison).
fn none_match_hits(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == tag)
}

pub(super) async fn clusters(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/clusters",
            "clusters",
        )
        .await?;
    let snapshot: ClustersSnapshot = state.backend.clusters().await?;
    let tag = etag(snapshot.registry_revision);
    let tag_header = HeaderValue::from_str(&tag)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "etag", "bad etag"))?;
    if none_match_hits(&headers, &tag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, tag_header)]).into_response());
    }
    Ok(([(ETAG, tag_header)], Json(snapshot)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeerQuery {
    cluster: Option<String>,
    role: Option<String>,
    status: Option<PeerStatus>,
    page: Option<u32>,
    page_size: Option<u32>,
}

const PEER_ROLES: [&str; 3] = ["voter", "learner", "witness"];

pub(super) async fn peers(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    filter: Result<Query<PeerQuery>, QueryRejection>,
) -> Result<Json<PeersPage>, ApiError> {
    state
        .require(&caller, ControlRole::Read, "GET /control/peers", "peers")
        .await?;
    let filter = query(filter)?;
    let page = filter.page.unwrap_or(1);
    let page_size = filter.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page == 0 {
        return Err(ApiError::bad_request("invalid_query", "page starts at 1"));
    }
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("page_size must be 1..={MAX_PAGE_SIZE}, not {page_size}"),
        ));
    }
    if let Some(role) = &filter.role
        && !PEER_ROLES.contains(&role.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("role {role:?} is not one of voter, learner, witness"),
        ));
    }
    if let Some(cluster) = &filter.cluster {
        let snapshot = state.backend.clusters().await?;
        if !snapshot.clusters.iter().any(|c| &c.id == cluster) {
            return Err(ApiError::not_found(
                "unknown_cluster",
                format!("unknown cluster {cluster:?}"),
            ));
        }
    }
    let mut matching: Vec<PeerView> = state
        .backend
        .peers()
        .await?
        .into_iter()
        .filter(|p| filter.cluster.as_ref().is_none_or(|c| &p.cluster == c))
        .filter(|p| filter.role.as_ref().is_none_or(|r| &p.role == r))
        .filter(|p| filter.status.is_none_or(|s| p.status == s))
        .collect();
    matching.sort_by(|a, b| (&a.cluster, &a.node).cmp(&(&b.cluster, &b.node)));
    let total = matching.len() as u64;
    let skip = usize::try_from(u64::from(page - 1) * u64::from(page_size)).unwrap_or(usize::MAX);
    let peers = matching
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .collect();
    Ok(Json(PeersPage {
        peers,
        page,
        page_size,
        total,
    }))
}

pub(super) async fn leaders(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<LeaderView>>, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/leaders",
            "leaders",
        )
        .await?;
    Ok(Json(state.backend.leaders().await?))
}

pub(super) async fn leadership_events(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/events/leadership",
            "leaders",
        )
        .await?;
    let events = state.backend.leadership_events().await?;
    let sse = events.map(|event| {
        // A LeadershipEvent always encodes; fall back to a comment rather than end the stream.
        Ok::<_, Infallible>(
            Event::default()
                .event("leadership")
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().comment("unencodable event")),
        )
    });
    Ok(Sse::new(sse)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateDiffQuery {
    namespace: Option<String>,
}

pub(super) async fn state_diff(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    filter: Result<Query<StateDiffQuery>, QueryRejection>,
) -> Result<Json<StateDiff>, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/state-diff",
            "state-diff",
        )
        .await?;
    let filter = query(filter)?;
    let mut diff = state.backend.state_diff().await?;
    if let Some(namespace) = filter.namespace {
        let snapshot = state.backend.clusters().await?;
        let known = snapshot
            .clusters
            .iter()
            .flat_map(|c| &c.namespaces)
            .any(|n| n.namespace == namespace);
        if !known {
            return Err(ApiError::not_found(
                "unknown_namespace",
                format!("unknown namespace {namespace:?}"),
            ));
        }
        diff.quarantined.retain(|q| q.namespace == namespace);
        diff.divergent_namespaces
            .retain(|d| d.namespace == namespace);
    }
    Ok(Json(diff))
}

pub(super) async fn replication_health(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /v1/replication/health",
            "replication",
        )
        .await?;
    let health = state.backend.replication_health().await?;
    // Load balancers and probes read the status code alone, as with Patroni's /health.
    let status = if health.status == Health::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Json(health)).into_response())
}

pub(super) async fn metrics(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    state
        .require(&caller, ControlRole::Read, "GET /metrics", "metrics")
        .await?;
    let text = state.backend.metrics_text().await?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn audit(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    filter: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    state
        .require(&caller, ControlRole::Read, "GET /control/audit", "audit")
        .await?;
    let filter = query(filter)?;
    let limit = filter.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    if limit == 0 || limit > MAX_AUDIT_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1..={MAX_AUDIT_LIMIT}, not {limit}"),
        ));
    }
    let log = state.audit_log();
    let from = filter.from.unwrap_or(0);
    let page = tokio::task::spawn_blocking(move || log.read(from, limit))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit", e.to_string()))?;
    Ok(Json(page))
}
