//! What the control API needs from the node. The node implements [`ControlBackend`]; the
//! router only authenticates, validates, audits and translates to HTTP.

use std::future::Future;
use std::pin::Pin;

use tokio_stream::Stream;

use super::auth::Caller;
use super::model::{
    ClustersSnapshot, FailoverRequest, FailoverView, LeaderView, LeadershipEvent, PeerView,
    PreflightCheck, ReplicationHealth, StateDiff,
};

/// A boxed future, so the trait can be used as `Arc<dyn ControlBackend>`.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>;

/// The node's leadership changes, as they happen, until the node stops.
pub type LeadershipStream = Pin<Box<dyn Stream<Item = LeadershipEvent> + Send>>;

/// Why the node refused or could not serve a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No such cluster in the registry. Nothing changed.
    #[error("unknown cluster {0:?}")]
    UnknownCluster(String),
    /// No such namespace in the registry. Nothing changed.
    #[error("unknown namespace {0:?}")]
    UnknownNamespace(String),
    /// No failover with that id. Nothing changed.
    #[error("unknown failover {0:?}")]
    UnknownFailover(String),
    /// The namespace already has a failover in flight. Nothing changed.
    #[error("namespace {namespace:?} is already moving (failover {failover})")]
    AlreadyMoving {
        /// The namespace.
        namespace: String,
        /// The failover in flight.
        failover: String,
    },
    /// Preflight refused the failover. Nothing changed.
    #[error("preflight refused: {reason}")]
    PreflightRefused {
        /// One line for humans.
        reason: String,
        /// Every check, passed or not.
        checks: Vec<PreflightCheck>,
    },
    /// The request does not fit the failover's state (approving one that needs no
    /// approval, cancelling one past promotion). Nothing changed.
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed JSON but makes no sense (a target equal to the active).
    /// Nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The node cannot answer now (no leader, registry unreachable). Nothing changed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The node's side of the control API. Every method reads or changes the node's state;
/// none blocks the caller's thread. Mutations receive the authenticated caller so the
/// node can record who approved or cancelled.
pub trait ControlBackend: Send + Sync + 'static {
    /// Clusters with their namespace states and lag, at one registry revision.
    fn clusters(&self) -> BackendFuture<'_, ClustersSnapshot>;
    /// Every gossip member this node knows (the router filters and pages).
    fn peers(&self) -> BackendFuture<'_, Vec<PeerView>>;
    /// The current leader of every cluster.
    fn leaders(&self) -> BackendFuture<'_, Vec<LeaderView>>;
    /// Leadership changes from now on.
    fn leadership_events(&self) -> BackendFuture<'_, LeadershipStream>;
    /// Starts a failover, or with `dry_run` only runs its preflight.
    fn create_failover<'a>(
        &'a self,
        request: FailoverRequest,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView>;
    /// Every failover the node remembers, newest first.
    fn failovers(&self) -> BackendFuture<'_, Vec<FailoverView>>;
    /// One failover.
    fn failover<'a>(&'a self, id: &'a str) -> BackendFuture<'a, FailoverView>;
    /// Records the caller's approval.
    fn approve_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView>;
    /// Cancels a failover that has not promoted yet.
    fn cancel_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView>;
    /// Quarantined events and divergent namespaces.
    fn state_diff(&self) -> BackendFuture<'_, StateDiff>;
    /// This node's replication health.
    fn replication_health(&self) -> BackendFuture<'_, ReplicationHealth>;
    /// The node's metrics in Prometheus text format (see `crate::metrics::Metrics::render`).
    fn metrics_text(&self) -> BackendFuture<'_, String>;
}
