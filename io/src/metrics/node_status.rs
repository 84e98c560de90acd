//! Setting the gauges from a running node's [`NodeStatus`], read at each scrape so the
//! exposition is never staler than the scrape itself.

use omnirelay_core::gossip::Status;
use omnirelay_core::registry::PlacementState;
use omnirelay_core::replication::Lag;

use super::{ClusterStateCode, GossipStatus, Metrics, ReplicationStatusCode};
use crate::node::NodeStatus;

impl Metrics {
    /// Lag and stream health to every peer cluster (when this node leads its cluster),
    /// gossip member counts, and this cluster's state for every namespace. `degraded`
    /// says when a stream's lag counts as degraded.
    pub fn observe_node_status(&self, status: &NodeStatus, degraded: impl Fn(&Lag) -> bool) {
        for (peer, lag) in &status.stream_lags {
            self.set_replication_lag(peer, lag.seconds.as_secs_f64(), lag.entries);
            let code = if degraded(lag) {
                ReplicationStatusCode::Degraded
            } else {
                ReplicationStatusCode::Healthy
            };
            self.set_replication_status(peer, code);
        }
        for wanted in GossipStatus::ALL {
            let count = status
                .members
                .iter()
                .filter(|m| match wanted {
                    GossipStatus::Alive => m.status == Status::Alive,
                    GossipStatus::Suspect => m.status == Status::Suspect,
                    GossipStatus::Dead => m.status == Status::Dead,
                })
                .count();
            self.set_gossip_members(wanted, count as u64);
        }
        for p in status.registry.placements() {
            let p = &p.value;
            let state = if &p.active_cluster != self.cluster() {
                ClusterStateCode::Passive
            } else {
                match p.state {
                    PlacementState::Active => ClusterStateCode::Active,
                    PlacementState::Draining => ClusterStateCode::Draining,
                    PlacementState::Fenced => ClusterStateCode::Fenced,
                }
            };
            self.set_cluster_state(&p.namespace, state);
        }
    }
}
