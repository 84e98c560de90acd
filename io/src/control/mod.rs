//! The HTTP/JSON control API: `/control/*`, `/v1/replication/health` and `/metrics`, as an
//! axum [`Router`] over a [`ControlBackend`] that the node implements.
//!
//! Every call is authenticated (mTLS [`CertificateCaller`] extension, else a bearer
//! token) and authorised by role; every refused call (401/403) and every mutating call is
//! written to the [`AuditLog`] before the response goes out. Bodies over the limit get
//! 413, malformed JSON 400, unknown names 404, a second failover of a moving namespace
//! 409, each with a JSON [`ErrorBody`](model::ErrorBody).

mod auth;
mod backend;
mod error;
mod failovers;
pub mod model;
mod node_backend;
mod node_service;
mod node_views;
mod reads;
mod serve;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use auth::{BearerTokens, Caller, CertificateCaller, ControlRole, TokenGrant, UnknownRole};
pub use backend::{BackendError, BackendFuture, ControlBackend, LeadershipStream};
pub use error::ApiError;
pub use node_backend::{CONTROL_GROUP, NodeBackend};
pub use node_service::serve_control;
pub use node_views::LagLimits;
pub use serve::{ALPN_HTTP1, CertificateRoles, serve_mtls};

use crate::audit::AuditLog;
use state::ControlState;

/// Request bodies above this many bytes are refused with 413.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The clock the router stamps audit records with: milliseconds since the Unix epoch.
pub type UnixMillisClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Everything the router is built from.
#[derive(Clone)]
pub struct ControlConfig {
    backend: Arc<dyn ControlBackend>,
    audit: Arc<AuditLog>,
    tokens: BearerTokens,
    clock: UnixMillisClock,
    body_limit: usize,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("audit", &self.audit.path())
            .field("tokens", &self.tokens)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl ControlConfig {
    /// A router over `backend`, auditing to `audit`, with no bearer tokens (mTLS only),
    /// the system clock and a 64 KiB body limit.
    pub fn new(backend: Arc<dyn ControlBackend>, audit: Arc<AuditLog>) -> ControlConfig {
        ControlConfig {
            backend,
            audit,
            tokens: BearerTokens::new(),
            clock: Arc::new(system_unix_millis),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Accepts these bearer tokens.
    pub fn tokens(mut self, tokens: BearerTokens) -> ControlConfig {
        self.tokens = tokens;
        self
    }

    /// Stamps audit records with `clock` instead of the system clock.
    pub fn clock(mut self, clock: UnixMillisClock) -> ControlConfig {
        self.clock = clock;
        self
    }

    /// Refuses bodies over `bytes` with 413.
    pub fn body_limit(mut self, bytes: usize) -> ControlConfig {
        self.body_limit = bytes;
        self
    }
}

fn system_unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The control API's routes. Serve it with `axum::serve`; a TLS server layer inserts a
/// [`CertificateCaller`] extension into each request it accepted with a client certificate.
pub fn router(config: ControlConfig) -> Router {
    let body_limit = config.body_limit;
    let state = Arc::new(ControlState::from(config));
    Router::new()
        .route("/control/clusters", get(reads::clusters))
        .route("/control/peers", get(reads::peers))
        .route("/control/leaders", get(reads::leaders))
        .route("/control/events/leadership", get(reads::leadership_events))
        .route(
            "/control/failovers",
            post(failovers::create).get(failovers::list),
        )
        .route("/control/failovers/{id}", get(failovers::show))
        .route("/control/failovers/{id}/approve", post(failovers::approve))
        .route("/control/failovers/{id}/cancel", post(failovers::cancel))
        .route("/control/state-diff", get(reads::state_diff))
        .route("/control/audit", get(reads::audit))
        .route("/v1/replication/health", get(reads::replication_health))
        .route("/metrics", get(reads::metrics))
        .fallback(|| async {
            ApiError::not_found("no_such_route", "no control route at this path")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
