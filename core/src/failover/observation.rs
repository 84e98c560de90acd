//! What the controller knows of the mesh: health, lag, applied version vectors.

use std::collections::BTreeMap;

use crate::ClusterId;
use crate::replication::{ClusterVersionVector, Lag};

/// A cluster's health as gossip and the replication streams report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterHealth {
    /// Its leader answers and replicates.
    Healthy,
    /// Reachable but struggling (lagging, no stable leader).
    Degraded,
    /// Not reachable from the control group.
    Unreachable,
}

/// The controller's latest knowledge of the mesh, fed by the shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    health: BTreeMap<ClusterId, ClusterHealth>,
    lag: BTreeMap<(ClusterId, ClusterId), Lag>,
    applied: BTreeMap<ClusterId, ClusterVersionVector>,
    last_seq: BTreeMap<ClusterId, u64>,
}

impl Observation {
    /// An observation that knows nothing: every cluster is treated as unreachable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a cluster's health.
    pub fn set_health(&mut self, cluster: ClusterId, health: ClusterHealth) {
        self.health.insert(cluster, health);
    }

    /// A cluster's health; unknown clusters are unreachable.
    pub fn health(&self, cluster: &ClusterId) -> ClusterHealth {
        self.health
            .get(cluster)
            .copied()
            .unwrap_or(ClusterHealth::Unreachable)
    }

    /// Records the replication lag from `source` to `target`, as `source` measured it.
    pub fn set_lag(&mut self, source: ClusterId, target: ClusterId, lag: Lag) {
        self.lag.insert((source, target), lag);
    }

    /// The lag from `source` to `target`, if reported.
    pub fn lag(&self, source: &ClusterId, target: &ClusterId) -> Option<Lag> {
        self.lag.get(&(source.clone(), target.clone())).copied()
    }

    /// Records what `cluster` has applied. Vector entries only rise: a late report never
    /// moves knowledge backwards.
    pub fn set_applied(&mut self, cluster: ClusterId, vv: &ClusterVersionVector) {
        self.applied.entry(cluster).or_default().merge(vv);
    }

    /// What `cluster` has applied, as last reported.
    pub fn applied(&self, cluster: &ClusterId) -> ClusterVersionVector {
        self.applied.get(cluster).cloned().unwrap_or_default()
    }

    /// Records the last `origin_seq` a cluster committed of its own writes (only rises).
    pub fn set_last_seq(&mut self, cluster: ClusterId, seq: u64) {
        let entry = self.last_seq.entry(cluster).or_default();
        *entry = (*entry).max(seq);
    }

    /// The last `origin_seq` `cluster` is known to have committed.
    pub fn last_seq(&self, cluster: &ClusterId) -> Option<u64> {
        self.last_seq.get(cluster).copied()
    }
}
