//! The vocabulary of a failover: requests, steps, refusals, audit records.

use std::fmt;
use std::time::Duration;

use crate::replication::FailoverVersion;
use crate::{ClusterId, Instant, NamespaceId};

/// Identifies one failover for its whole life (API paths, audit records, metrics).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FailoverId(pub u64);

impl fmt::Display for FailoverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fo-{}", self.0)
    }
}

/// Which workflow a request runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailoverKind {
    /// Drain, catch up, promote: loses nothing.
    Planned,
    /// Promote without the active's cooperation. `force` allows it without a control-group
    /// quorum (an operator's explicit decision).
    Emergency {
        /// Proceed without a control-group quorum.
        force: bool,
    },
    /// A planned failover back to the cluster that was active before the last promotion.
    Failback,
    /// A tenant migration: a planned failover of one namespace, reported in migration terms.
    Migration,
}

impl FailoverKind {
    /// Whether the workflow drains and catches up (loses nothing).
    pub fn is_planned(self) -> bool {
        !matches!(self, FailoverKind::Emergency { .. })
    }
}

/// A request to move a namespace's active role.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FailoverRequest {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The cluster to make active. For a failback, `None` means "the previous active".
    pub target: Option<ClusterId>,
    /// The workflow.
    pub kind: FailoverKind,
    /// Who asked (operator name, or `auto-policy`).
    pub requested_by: String,
    /// The change ticket, when policy requires one.
    pub ticket: Option<String>,
    /// The approver, when given with the request.
    pub approver: Option<String>,
}

/// Thresholds and timers a failover obeys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FailoverPolicy {
    /// Preflight refuses a planned failover when the target lags more entries than this.
    pub max_lag_entries: u64,
    /// ... or more seconds than this.
    pub max_lag: Duration,
    /// Time after a namespace's last completed failover before a planned one may start.
    pub cooldown: Duration,
    /// How long catch-up may take before the failover rolls back.
    pub catch_up_timeout: Duration,
    /// A change ticket must accompany planned failovers.
    pub require_ticket: bool,
    /// An approver other than the requester must approve before `drain`.
    pub require_approval: bool,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            max_lag_entries: 10_000,
            max_lag: Duration::from_secs(5),
            cooldown: Duration::from_secs(60),
            catch_up_timeout: Duration::from_secs(10),
            require_ticket: false,
            require_approval: false,
        }
    }
}

/// Where a failover is. `Done`, `Aborted` and `RolledBack` are terminal.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum FailoverStep {
    /// Checks are running.
    Preflight,
    /// Waiting for an approver (policy requires one).
    AwaitingApproval,
    /// The active cluster is told to stop taking writes.
    Drain,
    /// Waiting for the target to apply everything the source committed.
    CatchUp,
    /// The registry is moving the active role.
    Promote,
    /// Routing and gossip are learning the new placement.
    Publish,
    /// The target is active.
    Done,
    /// Stopped before anything changed.
    Aborted,
    /// Stopped after the drain; the source is active again and nothing was lost.
    RolledBack,
}

impl FailoverStep {
    /// Whether the failover is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FailoverStep::Done | FailoverStep::Aborted | FailoverStep::RolledBack
        )
    }

    /// Progress for dashboards (`mesh_failover_state`), from 0 to 1.
    pub fn progress(self) -> f64 {
        match self {
            FailoverStep::Preflight => 0.0,
            FailoverStep::AwaitingApproval => 0.1,
            FailoverStep::Drain => 0.2,
            FailoverStep::CatchUp => 0.4,
            FailoverStep::Promote => 0.7,
            FailoverStep::Publish => 0.9,
            FailoverStep::Done | FailoverStep::Aborted | FailoverStep::RolledBack => 1.0,
        }
    }
}

impl fmt::Display for FailoverStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailoverStep::Preflight => "preflight",
            FailoverStep::AwaitingApproval => "awaiting_approval",
            FailoverStep::Drain => "drain",
            FailoverStep::CatchUp => "catch_up",
            FailoverStep::Promote => "promote",
            FailoverStep::Publish => "publish",
            FailoverStep::Done => "done",
            FailoverStep::Aborted => "aborted",
            FailoverStep::RolledBack => "rolled_back",
        })
    }
}

/// A tenant migration's state, derived from its failover step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MigrationState {
    /// Not started (preflight, approval).
    Pending,
    /// Draining, catching up, promoting, publishing.
    InProgress,
    /// Done.
    Completed,
    /// Rolled back by a timeout or a refusal.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

/// Why preflight refused a failover. Nothing changed.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum PreflightRefusal {
    /// The namespace is not in the registry.
    #[error("unknown namespace {0}")]
    UnknownNamespace(NamespaceId),
    /// The target is not in the registry.
    #[error("unknown target cluster {0}")]
    UnknownTarget(ClusterId),
    /// The request names no target and none can be derived.
    #[error("no target: name one, or fail back a namespace that has a previous active")]
    NoTarget,
    /// The target is already active.
    #[error("{namespace} is already active on {cluster}")]
    AlreadyActive {
        /// The namespace.
        namespace: NamespaceId,
        /// Its active cluster.
        cluster: ClusterId,
    },
    /// The target is not healthy, or not online in the registry.
    #[error("target {cluster} is not healthy ({why})")]
    TargetUnhealthy {
        /// The target.
        cluster: ClusterId,
        /// What was seen.
        why: String,
    },
    /// The target lags the active cluster too much for a planned failover.
    #[error(
        "target lags {entries} entries / {seconds:?} behind {source_cluster} (limits {max_entries} / {max:?})"
    )]
    LagOverThreshold {
        /// The active cluster.
        source_cluster: ClusterId,
        /// Entries behind.
        entries: u64,
        /// Seconds behind.
        seconds: Duration,
        /// The entry limit.
        max_entries: u64,
        /// The time limit.
        max: Duration,
    },
    /// The active cluster never reported lag to the target: nothing says it is caught up.
    #[error("no lag report from {source_cluster} to {target}")]
    LagUnknown {
        /// The active cluster.
        source_cluster: ClusterId,
        /// The target.
        target: ClusterId,
    },
    /// Another failover of the namespace is in flight.
    #[error("{namespace} is already moving ({id})")]
    FailoverInFlight {
        /// The namespace.
        namespace: NamespaceId,
        /// The failover in flight.
        id: FailoverId,
    },
    /// The namespace moved too recently.
    #[error("cooldown: {remaining:?} left before {namespace} may move again")]
    CooldownNotElapsed {
        /// The namespace.
        namespace: NamespaceId,
        /// Time left.
        remaining: Duration,
    },
    /// Policy requires a change ticket.
    #[error("policy requires a change ticket")]
    TicketMissing,
    /// An emergency failover without a control-group quorum needs `force`.
    #[error("the control group has no quorum; an emergency failover needs --force")]
    NoQuorum,
}

/// The writes an emergency failover may lose: the old active's `origin_seq`s from
/// `first_seq` on (through `last_seq` when known) at its superseded failover version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LossReport {
    /// The superseded active cluster.
    pub old_active: ClusterId,
    /// The failover version its writes carry.
    pub old_failover_version: FailoverVersion,
    /// The first `origin_seq` the new active had not applied.
    pub first_seq: u64,
    /// The last one the mesh knows the old active committed at this version; `None` when
    /// nothing is known past the cutoff.
    pub last_seq: Option<u64>,
    /// The old active may have committed past `last_seq` unseen. True from the promotion
    /// (its last status can be older than its last acknowledged write) until the old active
    /// reports the exact end itself, which it does once it has applied the promotion: it
    /// takes no write at the old version after that.
    pub open_ended: bool,
}

impl LossReport {
    /// How many writes are known to be at risk (0 when the range is empty or open-ended
    /// with nothing known beyond the cutoff; more may be when it is open-ended).
    pub fn known_at_risk(&self) -> u64 {
        self.last_seq.map_or(0, |last| {
            last.saturating_add(1).saturating_sub(self.first_seq)
        })
    }

    /// Whether the old active's write `origin_seq`, acknowledged at `failover_version`, is
    /// inside the range (may be lost).
    pub fn covers(&self, failover_version: FailoverVersion, origin_seq: u64) -> bool {
        failover_version == self.old_failover_version
            && origin_seq >= self.first_seq
            && (self.open_ended || self.last_seq.is_some_and(|last| origin_seq <= last))
    }
}

/// One failover as the controller tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Failover {
    /// Its id.
    pub id: FailoverId,
    /// What was asked.
    pub request: FailoverRequest,
    /// The cluster active when it started.
    pub source: ClusterId,
    /// The resolved target.
    pub target: ClusterId,
    /// Where it is.
    pub step: FailoverStep,
    /// When it was accepted.
    pub started_at: Instant,
    /// When it reached a terminal step.
    pub finished_at: Option<Instant>,
    /// Who approved it, once approved.
    pub approved_by: Option<String>,
    /// The source's last `origin_seq` when it confirmed the drain: the catch-up goal.
    pub drained_at_seq: Option<u64>,
    /// The placement's registry version right after this failover's drain: the
    /// compare-and-set token of its promotion.
    pub drained_version: Option<u64>,
    /// When an unconfirmed drain gives up.
    pub drain_deadline: Option<Instant>,
    /// When catch-up gives up.
    pub catch_up_deadline: Option<Instant>,
    /// For emergency failovers: what may be lost.
    pub loss: Option<LossReport>,
    /// The failover version it promoted to, once promoted.
    pub promoted_to: Option<FailoverVersion>,
    /// Whether an operator cancelled it.
    pub cancelled: bool,
}

impl Failover {
    /// The migration view of this failover.
    pub fn migration_state(&self) -> MigrationState {
        match self.step {
            FailoverStep::Preflight | FailoverStep::AwaitingApproval => MigrationState::Pending,
            FailoverStep::Drain
            | FailoverStep::CatchUp
            | FailoverStep::Promote
            | FailoverStep::Publish => MigrationState::InProgress,
            FailoverStep::Done => MigrationState::Completed,
            FailoverStep::Aborted | FailoverStep::RolledBack if self.cancelled => {
                MigrationState::Cancelled
            }
            FailoverStep::Aborted | FailoverStep::RolledBack => MigrationState::Failed,
        }
    }
}

/// One audited transition: who, what, when, from, to, why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuditRecord {
    /// When.
    pub at: Instant,
    /// Which failover.
    pub failover: FailoverId,
    /// Its namespace.
    pub namespace: NamespaceId,
    /// Who caused the transition (requester, approver, canceller, or `controller`).
    pub actor: String,
    /// The step before (`None` for the request itself).
    pub from: Option<FailoverStep>,
    /// The step after.
    pub to: FailoverStep,
    /// Why, in words for the operator.
    pub reason: String,
}
