//! One audit record.

use serde::{Deserialize, Serialize};

/// How the audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The action was accepted (and, for a mutation, carried out or started).
    Accepted,
    /// The caller was refused: not authenticated, not allowed, or the request was invalid.
    Refused,
    /// The action was allowed but failed.
    Failed,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch, as the caller read its clock.
    pub at_unix_ms: u64,
    /// Who: the authenticated principal, or what was known of an unauthenticated caller.
    pub who: String,
    /// What: the action, e.g. `failover.create` or `POST /control/failovers`.
    pub what: String,
    /// On what: a namespace, cluster, failover id or route.
    pub target: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Why, when there is more to say than the outcome (a refusal's reason, a ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
