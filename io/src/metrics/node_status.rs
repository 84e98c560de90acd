//! Setting the gauges from a running node's [`NodeStatus`], read at each scrape so the
//! exposition is never staler than the scrape itself.

use std::sync::PoisonError;

use omnirelay_core::gossip::Status;
use omnirelay_core::registry::PlacementState;
use omnirelay_core::replication::Lag;

use super::{ClusterStateCode, GossipStatus, Metrics, MetricsError, ReplicationStatusCode};
use crate::node::NodeStatus;

impl Metrics {
    /// The exposition as of `status`: [`observe_node_status`](Self::observe_node_status)
    /// then [`render`](Self::render), with no other scrape in between.
    pub fn render_node_status(
        &self,
        status: &NodeStatus,
        degraded: impl Fn(&Lag) -> bool,
    ) -> Result<String, MetricsError> {
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.observe_node_status(status, degraded);
        self.render()
    }

    /// Lag and stream health to every peer cluster whose lag this node knows (it leads its
    /// cluster and the peer has acknowledged to it), gossip member counts, and this
    /// cluster's state for every namespace. `degraded` says when a stream's lag counts as
    /// degraded.
    pub fn observe_node_status(&self, status: &NodeStatus, degraded: impl Fn(&Lag) -> bool) {
        // A follower, or a new leader not yet acknowledged by a peer, does not know the lag:
        // its series are absent rather than the last value this node once measured.
        self.clear_replication_series();
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use omnirelay_core::registry::{FailoverVersionScheme, Registry};
    use omnirelay_core::replication::{ClusterVersionVector, Lag};
    use omnirelay_core::{ClusterId, NodeId};

    use crate::metrics::Metrics;
    use crate::node::NodeStatus;

    fn status(stream_lags: Vec<(ClusterId, Lag)>) -> NodeStatus {
        let scheme = FailoverVersionScheme::new(10).expect("increment");
        NodeStatus {
            id: NodeId(1),
            cluster: Some(ClusterId::new("eu-west").expect("id")),
            role: None,
            cluster_leader: None,
            control_leader: None,
            is_control_leader: false,
            registry: Arc::new(Registry::new(scheme)),
            members: Vec::new(),
            stream_lags,
            reported_lags: Vec::new(),
            divergent: Vec::new(),
            applied: ClusterVersionVector::new(),
            quarantined: Vec::new(),
            wal: Vec::new(),
            drops: Vec::new(),
            send_drops: Vec::new(),
        }
    }

    #[test]
    fn a_lag_the_node_no_longer_knows_is_no_longer_exposed() {
        let metrics = Metrics::new(ClusterId::new("eu-west").expect("id")).expect("registry");
        let peer = ClusterId::new("us-east").expect("id");
        let lag = Lag {
            entries: 42,
            seconds: Duration::from_millis(1500),
        };
        let text = metrics
            .render_node_status(&status(vec![(peer, lag)]), |_| false)
            .expect("render");
        assert!(text.contains(
            "mesh_replication_lag_entries{cluster=\"eu-west\",peer_cluster=\"us-east\"} 42"
        ));
        // Stepped down, or a new leader the peer has not acknowledged yet: unknown.
        let text = metrics
            .render_node_status(&status(Vec::new()), |_| false)
            .expect("render");
        for name in [
            "mesh_replication_lag_entries{",
            "mesh_replication_lag_seconds{",
            "mesh_replication_status{",
        ] {
            assert!(!text.contains(name), "{name} still exposed:\n{text}");
        }
    }
}
