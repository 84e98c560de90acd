//! The HTTP/JSON form: `POST` and `GET /v1/namespaces/{ns}/events`.
//!
//! Keys and payloads travel as UTF-8 strings (`key`, `payload`) or, for arbitrary bytes,
//! as standard base64 (`key_base64`, `payload_base64`); a read answers with the string form
//! when the bytes are UTF-8 and the base64 form otherwise.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnirelay_core::replication::{ClusterVersionVector, Event, FailoverVersion};
use omnirelay_core::{ClusterId, NamespaceId};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::append::AppendBatch;
use super::error::{ApiError, HttpError};
use super::read::{DEFAULT_READ_LIMIT, ReadQuery};
use super::version_header::{self, PREFERRED_CLUSTER_HEADER, VERSION_VECTOR_HEADER};

/// The path of both calls.
pub const EVENTS_PATH: &str = "/v1/namespaces/{ns}/events";

/// `POST` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    /// The events, in order.
    pub events: Vec<EventBody>,
    /// The failover version the client last saw (a stale one is refused with 409).
    #[serde(default)]
    pub fencing_token: Option<u64>,
}

/// One event of a `POST` body: exactly one of `key` / `key_base64`, at most one of
/// `payload` / `payload_base64` (none: empty payload).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The key as UTF-8 text.
    #[serde(default)]
    pub key: Option<String>,
    /// The key as base64.
    #[serde(default)]
    pub key_base64: Option<String>,
    /// The payload as UTF-8 text.
    #[serde(default)]
    pub payload: Option<String>,
    /// The payload as base64.
    #[serde(default)]
    pub payload_base64: Option<String>,
}

/// `POST` answer (200).
#[derive(Debug, Serialize, Deserialize)]
pub struct AppendReply {
    /// The cluster that committed the events.
    pub origin_cluster: String,
    /// Their `origin_seq`s, in request order.
    pub origin_seqs: Vec<u64>,
    /// Their failover version (the fencing token to send next time).
    pub failover_version: u64,
    /// The node that committed them (its cluster's leader then), e.g. `n1`.
    pub committed_by: String,
}

/// `GET` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// A version vector (`a:3,b:1` or `a=3,b=1`): events it has not seen.
    #[serde(default)]
    pub after: Option<String>,
    /// Events of one origin after this `origin_seq` (with `origin`, default: the
    /// namespace's active cluster).
    #[serde(default)]
    pub after_seq: Option<u64>,
    /// The origin `after_seq` counts.
    #[serde(default)]
    pub origin: Option<String>,
    /// Most events returned (default 100, at most 10,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One event of a `GET` answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventView {
    /// The cluster that accepted it.
    pub origin_cluster: String,
    /// Its sequence number there.
    pub origin_seq: u64,
    /// Its fencing token.
    pub failover_version: u64,
    /// The key, when UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key as base64, when not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The payload, when UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The payload as base64, when not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// When the origin accepted it (its clock), ns since the Unix epoch.
    pub written_at_unix_nanos: u64,
}

/// `GET` answer (200); the `x-omnirelay-version-vector` header repeats `version_vector`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadReply {
    /// The cluster that served the read.
    pub served_by: String,
    /// The events.
    pub events: Vec<EventView>,
    /// What the serving cluster has applied (text form).
    pub version_vector: String,
    /// Pass as `after` to continue where this read stopped.
    pub next_after: String,
}

/// The routes of both calls, over `ctx`, with request bodies limited to `body_limit`.
pub fn router(ctx: Arc<ApiContext>, body_limit: usize) -> Router {
    Router::new()
        .route(EVENTS_PATH, post(append).get(read))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(ctx)
}

fn error(uri: &Uri, error: ApiError) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    HttpError {
        error,
        path_and_query,
    }
    .into_response()
}

fn bad(problem: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        problem: problem.into(),
    }
}

fn namespace(raw: &str) -> Result<NamespaceId, ApiError> {
    NamespaceId::new(raw).map_err(|e| bad(format!("namespace {raw:?}: {e}")))
}

fn bytes_of(
    index: usize,
    field: &str,
    text: Option<String>,
    base64: Option<String>,
) -> Result<Option<Vec<u8>>, ApiError> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(bad(format!(
            "events[{index}]: give {field} or {field}_base64, not both"
        ))),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(encoded)) => BASE64
            .decode(encoded.as_bytes())
            .map(Some)
            .map_err(|e| bad(format!("events[{index}].{field}_base64: {e}"))),
        (None, None) => Ok(None),
    }
}

fn parse_append(
    ctx: &ApiContext,
    ns: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<AppendBatch, ApiError> {
    let namespace = namespace(ns)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: ctx.limits.max_body_bytes,
            }
        } else {
            bad(format!("body: {}", rejection.body_text()))
        }
    })?;
    let mut json = serde_json::Deserializer::from_slice(&body);
    let parsed: AppendBody = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        bad(format!("body: {path}: {}", e.into_inner()))
    })?;
    let mut events = Vec::with_capacity(parsed.events.len());
    for (index, event) in parsed.events.into_iter().enumerate() {
        let key = bytes_of(index, "key", event.key, event.key_base64)?
            .ok_or_else(|| bad(format!("events[{index}].key: missing")))?;
        let payload =
            bytes_of(index, "payload", event.payload, event.payload_base64)?.unwrap_or_default();
        events.push((key, payload));
    }
    Ok(AppendBatch {
        namespace,
        events,
        fencing_token: parsed.fencing_token.map(FailoverVersion),
    })
}

async fn append(
    State(ctx): State<Arc<ApiContext>>,
    Path(ns): Path<String>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let batch = match parse_append(&ctx, &ns, body) {
        Ok(batch) => batch,
        Err(e) => return error(&uri, e),
    };
    match ctx.append(batch, false).await {
        Ok(appended) => axum::Json(AppendReply {
            origin_cluster: appended.origin_cluster.as_str().to_owned(),
            origin_seqs: appended.origin_seqs,
            failover_version: appended.failover_version.0,
            committed_by: appended.committed_by.to_string(),
        })
        .into_response(),
        Err(e) => error(&uri, e),
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| bad(format!("{name}: not visible ASCII")))
        })
        .transpose()
}

fn parse_read(
    ctx: &ApiContext,
    ns: &str,
    headers: &HeaderMap,
    params: Result<Query<ReadParams>, QueryRejection>,
) -> Result<ReadQuery, ApiError> {
    let namespace = namespace(ns)?;
    let Query(params) = params.map_err(|e| bad(format!("query: {}", e.body_text())))?;
    let after = match (params.after, params.after_seq) {
        (Some(_), Some(_)) => return Err(bad("query: give after or after_seq, not both")),
        (Some(text), None) => version_header::parse(&text, "after")?,
        (None, Some(seq)) => {
            let origin = match params.origin {
                Some(origin) => {
                    ClusterId::new(&origin).map_err(|e| bad(format!("origin {origin:?}: {e}")))?
                }
                None => {
                    let registry = ctx.handle.registry_watch().borrow().clone();
                    match registry.placement(&namespace) {
                        Some(p) => p.value.active_cluster.clone(),
                        None if registry.revision() > 0 => {
                            return Err(ApiError::UnknownNamespace(namespace));
                        }
                        None => {
                            return Err(bad(
                                "query: after_seq needs origin until this node has the registry",
                            ));
                        }
                    }
                }
            };
            let mut vv = ClusterVersionVector::new();
            vv.set(&origin, seq);
            vv
        }
        (None, None) => ClusterVersionVector::new(),
    };
    let required = header_text(headers, VERSION_VECTOR_HEADER)?
        .map(|text| version_header::parse(text, VERSION_VECTOR_HEADER))
        .transpose()?;
    let preferred_cluster = header_text(headers, PREFERRED_CLUSTER_HEADER)?
        .filter(|text| !text.is_empty())
        .map(|text| {
            ClusterId::new(text).map_err(|e| bad(format!("{PREFERRED_CLUSTER_HEADER}: {e}")))
        })
        .transpose()?;
    Ok(ReadQuery {
        namespace,
        after,
        limit: params.limit.unwrap_or(DEFAULT_READ_LIMIT),
        required,
        preferred_cluster,
    })
}

async fn read(
    State(ctx): State<Arc<ApiContext>>,
    Path(ns): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    params: Result<Query<ReadParams>, QueryRejection>,
) -> Response {
    let query = match parse_read(&ctx, &ns, &headers, params) {
        Ok(query) => query,
        Err(e) => return error(&uri, e),
    };
    let answer = match ctx.read(query).await {
        Ok(answer) => answer,
        Err(e) => return error(&uri, e),
    };
    let version_vector = version_header::format(&answer.version_vector);
    let reply = ReadReply {
        served_by: answer.served_by.as_str().to_owned(),
        events: answer.events.iter().map(|e| view(e)).collect(),
        version_vector: version_vector.clone(),
        next_after: version_header::format(&answer.next_after),
    };
    let mut response = axum::Json(reply).into_response();
    if let Ok(value) = HeaderValue::from_str(&version_vector) {
        response.headers_mut().insert(VERSION_VECTOR_HEADER, value);
    }
    response
}

fn split(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(BASE64.encode(bytes))),
    }
}

/// The JSON view of an event.
pub fn view(event: &Event) -> EventView {
    let (key, key_base64) = split(&event.key);
    let (payload, payload_base64) = split(&event.payload);
    EventView {
        origin_cluster: event.origin_cluster.as_str().to_owned(),
        origin_seq: event.origin_seq,
        failover_version: event.failover_version.0,
        key,
        key_base64,
        payload,
        payload_base64,
        written_at_unix_nanos: event.written_at.as_nanos(),
    }
}
