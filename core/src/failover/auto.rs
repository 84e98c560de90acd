//! The automatic failover policy (ARCHITECTURE.md, "Automatic failover"): off by default,
//! and when on, conservative: a majority of outside witnesses, a detection window, an
//! inhibit window against flapping, and a lag ceiling above which only a human may act.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::registry::{ClusterState, Registry};
use crate::{ClusterId, Instant, NamespaceId};

use super::observation::{ClusterHealth, Observation};

/// Per-namespace automatic failover settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AutoFailoverPolicy {
    /// Off by default: moving a tenant is an operator's call unless they opt in.
    pub enabled: bool,
    /// How long the active cluster must be judged unreachable before failing over.
    pub detection_window: Duration,
    /// After an automatic failover of the namespace, no other for this long.
    pub inhibit_window: Duration,
    /// Above this many entries of lag, the best target would lose too much: a human decides.
    pub lag_ceiling_entries: u64,
}

impl Default for AutoFailoverPolicy {
    fn default() -> Self {
        AutoFailoverPolicy {
            enabled: false,
            detection_window: Duration::from_secs(2),
            inhibit_window: Duration::from_secs(300),
            lag_ceiling_entries: 100_000,
        }
    }
}

/// What the policy concluded for a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AutoDecision {
    /// The policy is off, or the active cluster is reachable.
    Stay,
    /// The active cluster looks unreachable; the detection window runs until `until`.
    Suspect {
        /// When the window closes.
        until: Instant,
    },
    /// Fail over now to `target` (an emergency failover on the policy's behalf).
    FailOver {
        /// The chosen target.
        target: ClusterId,
        /// Its lag behind the failed active, in entries.
        lag_entries: u64,
    },
    /// A failover would be justified, but the inhibit window forbids it until `until`.
    Inhibited {
        /// When automatic failover is allowed again.
        until: Instant,
    },
    /// A failover is justified but must be a human's decision.
    NeedsHuman {
        /// Why.
        reason: String,
    },
}

/// The detector's memory, per namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoFailoverState {
    unreachable_since: BTreeMap<NamespaceId, Instant>,
    last_auto_failover: BTreeMap<NamespaceId, Instant>,
}

impl AutoFailoverState {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the policy failed `namespace` over at `now` (starts the inhibit window).
    pub fn record_failover(&mut self, namespace: &NamespaceId, now: Instant) {
        self.last_auto_failover.insert(namespace.clone(), now);
        self.unreachable_since.remove(namespace);
    }

    /// Evaluates the policy for `namespace`.
    ///
    /// `voter_reports` holds, for each control-group voter, its cluster and whether it finds
    /// the namespace's active cluster unreachable. Only voters outside the active cluster
    /// count, and a strict majority of them must agree.
    pub fn evaluate(
        &mut self,
        now: Instant,
        policy: &AutoFailoverPolicy,
        namespace: &NamespaceId,
        registry: &Registry,
        observation: &Observation,
        voter_reports: &[(ClusterId, bool)],
    ) -> AutoDecision {
        let Some(placement) = registry.placement(namespace) else {
            return AutoDecision::Stay;
        };
        let active = &placement.value.active_cluster;
        if !policy.enabled {
            return AutoDecision::Stay;
        }
        let outside: Vec<bool> = voter_reports
            .iter()
            .filter(|(cluster, _)| cluster != active)
            .map(|(_, unreachable)| *unreachable)
            .collect();
        let agreeing = outside.iter().filter(|u| **u).count();
        if outside.is_empty() || agreeing * 2 <= outside.len() {
            self.unreachable_since.remove(namespace);
            return AutoDecision::Stay;
        }
        let since = *self
            .unreachable_since
            .entry(namespace.clone())
            .or_insert(now);
        let until = since + policy.detection_window;
        if now < until {
            return AutoDecision::Suspect { until };
        }
        if let Some(last) = self.last_auto_failover.get(namespace) {
            let until = *last + policy.inhibit_window;
            if now < until {
                return AutoDecision::Inhibited { until };
            }
        }
        if observation.last_seq(active).is_none() {
            return AutoDecision::NeedsHuman {
                reason: format!(
                    "{active}'s last committed seq is unknown: no target's lag can be judged"
                ),
            };
        }
        match choose_target(active, registry, observation) {
            None => AutoDecision::NeedsHuman {
                reason: format!("no healthy online cluster can take over from {active}"),
            },
            Some((target, lag_entries)) if lag_entries > policy.lag_ceiling_entries => {
                AutoDecision::NeedsHuman {
                    reason: format!(
                        "best target {target} lags {lag_entries} entries, above the ceiling of {}",
                        policy.lag_ceiling_entries
                    ),
                }
            }
            Some((target, lag_entries)) => AutoDecision::FailOver {
                target,
                lag_entries,
            },
        }
    }
}

/// The highest-priority healthy online passive cluster, the least lagging among equals.
/// Lag is what the failed active committed that the candidate has not applied.
fn choose_target(
    active: &ClusterId,
    registry: &Registry,
    observation: &Observation,
) -> Option<(ClusterId, u64)> {
    // Without the failed active's last seq nobody's lag is known: a human must judge.
    let active_last = observation.last_seq(active)?;
    registry
        .clusters()
        .map(|c| &c.value)
        .filter(|c| &c.id != active && c.state == ClusterState::Online)
        .filter(|c| observation.health(&c.id) == ClusterHealth::Healthy)
        .map(|c| {
            let applied = observation.applied(&c.id).get(active);
            (c, active_last.saturating_sub(applied))
        })
        // Highest priority first, then least lag, then id for a deterministic tie-break.
        .min_by(|(a, lag_a), (b, lag_b)| {
            b.priority
                .cmp(&a.priority)
                .then(lag_a.cmp(lag_b))
                .then(a.id.cmp(&b.id))
        })
        .map(|(c, lag)| (c.id.clone(), lag))
}
