//! Why a client call was not served, and how each reason reads over HTTP and gRPC.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::{ClusterId, NamespaceId};
use serde::Serialize;

/// Metadata (gRPC) and header (HTTP) naming where a misrouted call should go.
pub const ACTIVE_ENDPOINT_HEADER: &str = "x-omnirelay-active-endpoint";
/// gRPC metadata carrying a retry hint in milliseconds (HTTP uses `Retry-After`).
pub const RETRY_AFTER_MS_HEADER: &str = "retry-after-ms";
/// Metadata (gRPC) and header (HTTP) set to `1` when this cluster is fenced for the
/// namespace: another region may take the write, so a client should try one.
pub const FENCED_HEADER: &str = "x-omnirelay-fenced";

/// A client call that was not served. Every variant but [`ApiError::PartiallyWritten`] means
/// nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (body, query, header or field named in `problem`).
    #[error("{problem}")]
    BadRequest {
        /// What is wrong, naming the field.
        problem: String,
    },
    /// The namespace is not in the registry.
    #[error("unknown namespace {0}")]
    UnknownNamespace(NamespaceId),
    /// One event's payload is over `api.max_payload_bytes`.
    #[error("events[{index}].payload is {size} bytes, over the {limit}-byte limit")]
    PayloadTooLarge {
        /// The event's position in the batch.
        index: usize,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request body is over `api.max_body_bytes`.
    #[error("request body over the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The client's fencing token is older than the namespace's failover version.
    #[error("stale fencing token {offered} for {namespace}: current is {current}")]
    StaleFencingToken {
        /// The namespace.
        namespace: NamespaceId,
        /// What the client sent.
        offered: FailoverVersion,
        /// The current failover version.
        current: FailoverVersion,
    },
    /// Another cluster must serve this call (not active for the namespace, not caught up
    /// with the caller's version vector, or not the preferred cluster).
    #[error("{why}: retry at {endpoint}")]
    Elsewhere {
        /// The cluster to go to, when known (a forwarded answer only carries the endpoint).
        cluster: Option<ClusterId>,
        /// One of its client endpoints (`https://host:port`).
        endpoint: String,
        /// Why this node did not serve it.
        why: String,
    },
    /// Nobody may serve it right now (draining, fenced, registry or replication behind,
    /// no cluster leader): retry after the hint.
    #[error("{reason}; retry in {retry_after:?}")]
    RetryLater {
        /// Why.
        reason: String,
        /// When.
        retry_after: Duration,
    },
    /// This cluster may not take writes for the namespace now: a failover fenced it, or it
    /// lost contact with the control group (its active lease ran out), so it does not know
    /// the new active. Nothing was written; another region may take the write.
    #[error(
        "this cluster is fenced for the namespace (a failover moved it, or this cluster lost \
         contact with the control group): write to another region; retry in {retry_after:?}"
    )]
    Fenced {
        /// When this cluster may know more.
        retry_after: Duration,
    },
    /// This node is a witness: it holds no data.
    #[error("this node is a witness and holds no data")]
    Witness,
    /// Leadership or placement changed in the middle of a batch: the first events were
    /// committed (`origin_seqs`), the rest were not. State changed for those events only.
    #[error("only the first {} events were written ({cause})", origin_seqs.len())]
    PartiallyWritten {
        /// The cluster that committed the first events.
        origin_cluster: ClusterId,
        /// Their `origin_seq`s, in request order.
        origin_seqs: Vec<u64>,
        /// Why the rest were not.
        cause: Box<ApiError>,
    },
    /// The leader this node forwarded the write to answered with an unexpected status.
    #[error("the cluster leader answered: {code:?}: {message}")]
    Upstream {
        /// The gRPC code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The node is shutting down.
    #[error("the node has stopped")]
    Stopped,
}

impl ApiError {
    /// A short machine-readable code for the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::UnknownNamespace(_) => "unknown_namespace",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::StaleFencingToken { .. } => "stale_fencing_token",
            ApiError::Elsewhere { .. } => "misrouted",
            ApiError::RetryLater { .. } => "retry_later",
            ApiError::Fenced { .. } => "fenced",
            ApiError::Witness => "witness",
            ApiError::PartiallyWritten { .. } => "partially_written",
            ApiError::Upstream { .. } => "upstream",
            ApiError::Stopped => "stopped",
        }
    }

    /// The HTTP status of this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownNamespace(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::StaleFencingToken { .. } => StatusCode::CONFLICT,
            ApiError::Elsewhere { .. } => StatusCode::TEMPORARY_REDIRECT,
            ApiError::Witness => StatusCode::MISDIRECTED_REQUEST,
            ApiError::RetryLater { .. }
            | ApiError::Fenced { .. }
            | ApiError::PartiallyWritten { .. }
            | ApiError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream { code, .. } => match code {
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RetryLater { retry_after, .. } | ApiError::Fenced { retry_after } => {
                Some(*retry_after)
            }
            ApiError::PartiallyWritten { cause, .. } => cause.retry_after(),
            ApiError::Stopped => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The gRPC status of this error, with the redirect or retry hint in its metadata.
    pub fn into_status(self) -> tonic::Status {
        let message = self.to_string();
        let mut status = match &self {
            ApiError::BadRequest { .. } => tonic::Status::invalid_argument(message),
            ApiError::UnknownNamespace(_) => tonic::Status::not_found(message),
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTooLarge { .. } => {
                tonic::Status::resource_exhausted(message)
            }
            ApiError::StaleFencingToken { .. } | ApiError::Elsewhere { .. } => {
                tonic::Status::failed_precondition(message)
            }
            ApiError::Witness => tonic::Status::failed_precondition(message),
            ApiError::RetryLater { .. } | ApiError::Fenced { .. } | ApiError::Stopped => {
                tonic::Status::unavailable(message)
            }
            ApiError::PartiallyWritten { .. } => tonic::Status::aborted(message),
            ApiError::Upstream { code, .. } => tonic::Status::new(*code, message),
        };
        if let ApiError::Elsewhere { endpoint, .. } = &self
            && let Ok(value) = endpoint.parse()
        {
            status.metadata_mut().insert(ACTIVE_ENDPOINT_HEADER, value);
        }
        if let Some(after) = self.retry_after()
            && let Ok(value) = after.as_millis().to_string().parse()
        {
            status.metadata_mut().insert(RETRY_AFTER_MS_HEADER, value);
        }
        if let ApiError::Fenced { .. } = &self {
            status.metadata_mut().insert(
                FENCED_HEADER,
                tonic::metadata::MetadataValue::from_static("1"),
            );
        }
        status
    }

    /// The error a forwarded write's status stands for (the inverse of [`into_status`]
    /// for the statuses a leader answers with).
    ///
    /// [`into_status`]: ApiError::into_status
    pub fn from_status(status: &tonic::Status) -> ApiError {
        let metadata = status.metadata();
        let text = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok());
        if let Some(endpoint) = text(ACTIVE_ENDPOINT_HEADER) {
            return ApiError::Elsewhere {
                cluster: None,
                endpoint: endpoint.to_owned(),
                why: status.message().to_owned(),
            };
        }
        if status.code() == tonic::Code::Unavailable {
            let retry_after = text(RETRY_AFTER_MS_HEADER)
                .and_then(|ms| ms.parse().ok())
                .map_or(Duration::from_millis(200), Duration::from_millis);
            if text(FENCED_HEADER).is_some() {
                return ApiError::Fenced { retry_after };
            }
            return ApiError::RetryLater {
                reason: format!("cluster leader: {}", status.message()),
                retry_after,
            };
        }
        ApiError::Upstream {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// A parse error's text, naming the field: bad input.
impl From<String> for ApiError {
    fn from(problem: String) -> Self {
        ApiError::BadRequest { problem }
    }
}

impl From<crate::node::NodeStopped> for ApiError {
    fn from(_: crate::node::NodeStopped) -> Self {
        ApiError::Stopped
    }
}

/// The JSON body of every HTTP error.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error, as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorDetail {
    /// A stable code (`bad_request`, `unknown_namespace`, `misrouted`, ...).
    pub code: &'static str,
    /// What went wrong, naming the field, namespace or cluster.
    pub message: String,
    /// For `misrouted`: where to retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// For `retry_later`: milliseconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For `partially_written`: the events that were committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_seqs: Option<Vec<u64>>,
}

/// An [`ApiError`] answered over HTTP; `path_and_query` is appended to a redirect's endpoint
/// so the client retries the same call there.
#[derive(Debug)]
pub struct HttpError {
    /// The error.
    pub error: ApiError,
    /// The request's path and query, for `Location`.
    pub path_and_query: String,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let HttpError {
            error,
            path_and_query,
        } = self;
        let location = match &error {
            ApiError::Elsewhere { endpoint, .. } => Some(format!("{endpoint}{path_and_query}")),
            _ => None,
        };
        let retry_after = error.retry_after();
        let body = ErrorBody {
            error: ErrorDetail {
                code: error.code(),
                message: error.to_string(),
                location: location.clone(),
                retry_after_ms: retry_after
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                origin_seqs: match &error {
                    ApiError::PartiallyWritten { origin_seqs, .. } => Some(origin_seqs.clone()),
                    _ => None,
                },
            },
        };
        let mut response = (error.http_status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let ApiError::Elsewhere { endpoint, .. } = &error
            && let Ok(value) = HeaderValue::from_str(endpoint)
        {
            headers.insert(ACTIVE_ENDPOINT_HEADER, value);
        }
        if let ApiError::Fenced { .. } = &error {
            headers.insert(FENCED_HEADER, HeaderValue::from_static("1"));
        }
        if let Some(after) = retry_after {
            // Whole seconds, rounded up: `Retry-After` has no finer unit.
            let seconds = after.as_millis().div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
