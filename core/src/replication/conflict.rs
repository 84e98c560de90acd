//! The conflict rule: each namespace's failover history decides whether an event may apply.

use std::collections::BTreeMap;

use crate::{ClusterId, NamespaceId};

use super::{Event, FailoverVersion, QuarantineReason};

/// One promotion as the registry recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    /// The namespace whose active role moved.
    pub namespace: NamespaceId,
    /// The version the promotion raised the namespace to.
    pub failover_version: FailoverVersion,
    /// The cluster active from this version on.
    pub active_cluster: ClusterId,
    /// Emergency failover only: the highest `origin_seq` of the superseded active (the
    /// cluster active at the namespace's previous version) that the new active had applied
    /// when promoted. Later events of the superseded active at its version are the writes
    /// the promotion reported as possibly lost. `None` for planned failover (nothing lost)
    /// and for the namespace's first placement.
    pub superseded_cutoff: Option<u64>,
}

/// Why a placement update was refused. State is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// The offered version is lower than the namespace's current one: versions only rise.
    /// State unchanged.
    #[error("namespace {namespace}: placement at {offered} is older than current {current}")]
    StaleVersion {
        /// The namespace.
        namespace: NamespaceId,
        /// Its current version.
        current: FailoverVersion,
        /// The refused version.
        offered: FailoverVersion,
    },
    /// Same version as the current one but a different active cluster or cutoff: two
    /// promotions claim one fencing token. State unchanged.
    #[error("namespace {namespace}: {version} is already held by {known}, refused {offered}")]
    ConflictingPlacement {
        /// The namespace.
        namespace: NamespaceId,
        /// The contested version.
        version: FailoverVersion,
        /// The active cluster already recorded at it.
        known: ClusterId,
        /// The refused active cluster.
        offered: ClusterId,
    },
}

/// What the applier does with an event that is next in its origin's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Apply,
    Quarantine(QuarantineReason),
}

/// Every namespace's promotions, in version order.
///
/// Events are judged against it (ARCHITECTURE.md, emergency failover):
///
/// - no placement known for the namespace, or an event version above the current one:
///   apply. The registry may simply not have told us yet, and the origin could only have
///   that version if a promotion gave it.
/// - an event version recorded in the history: apply only if the origin was the active
///   cluster at it, and, when the next promotion recorded a cutoff, only if
///   `origin_seq <= cutoff`.
/// - an event version below the current one that the history does not hold: quarantine;
///   nobody can vouch for it.
#[derive(Clone, Debug, Default)]
pub struct FailoverHistory {
    namespaces: BTreeMap<NamespaceId, Vec<Placement>>,
}

impl FailoverHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a promotion. Repeating the current placement exactly is a no-op, so the
    /// registry may resend it; returns whether the history changed.
    pub fn handle_placement(&mut self, placement: Placement) -> Result<bool, PlacementError> {
        let history = self
            .namespaces
            .entry(placement.namespace.clone())
            .or_default();
        if let Some(current) = history.last() {
            if placement.failover_version < current.failover_version {
                return Err(PlacementError::StaleVersion {
                    namespace: placement.namespace,
                    current: current.failover_version,
                    offered: placement.failover_version,
                });
            }
            if placement.failover_version == current.failover_version {
                if *current == placement {
                    return Ok(false);
                }
                return Err(PlacementError::ConflictingPlacement {
                    namespace: placement.namespace,
                    version: current.failover_version,
                    known: current.active_cluster.clone(),
                    offered: placement.active_cluster,
                });
            }
        }
        history.push(placement);
        Ok(true)
    }

    /// The namespace's latest placement, if any.
    pub fn current(&self, namespace: &NamespaceId) -> Option<&Placement> {
        self.namespaces.get(namespace).and_then(|h| h.last())
    }

    pub(crate) fn judge(&self, event: &Event) -> Verdict {
        let Some(history) = self.namespaces.get(&event.namespace) else {
            return Verdict::Apply;
        };
        let Some(current) = history.last() else {
            return Verdict::Apply;
        };
        if event.failover_version > current.failover_version {
            return Verdict::Apply;
        }
        let Ok(at) = history.binary_search_by(|p| p.failover_version.cmp(&event.failover_version))
        else {
            return Verdict::Quarantine(QuarantineReason::UnknownFailoverVersion {
                current: current.failover_version,
            });
        };
        let Some(then) = history.get(at) else {
            return Verdict::Apply;
        };
        if then.active_cluster != event.origin_cluster {
            return Verdict::Quarantine(QuarantineReason::NotActiveAtVersion {
                active: then.active_cluster.clone(),
            });
        }
        if let Some(next) = history.get(at + 1)
            && let Some(cutoff) = next.superseded_cutoff
            && event.origin_seq > cutoff
        {
            return Verdict::Quarantine(QuarantineReason::WrittenAfterSupersession {
                superseded_by: next.failover_version,
                new_active: next.active_cluster.clone(),
                cutoff,
            });
        }
        Verdict::Apply
    }
}
