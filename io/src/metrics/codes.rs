//! The numeric values of the enum-valued gauges. Dashboards and alert rules compare
//! against these numbers, so they are fixed here once and documented in each HELP text.

/// `mesh_replication_status`: ordered so that "greater is worse" alerts are one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplicationStatusCode {
    /// Streaming, lag under threshold.
    Healthy,
    /// Streaming, lag over threshold.
    Degraded,
    /// Not streaming.
    Unhealthy,
}

impl ReplicationStatusCode {
    /// The gauge value.
    pub fn code(self) -> u8 {
        match self {
            ReplicationStatusCode::Healthy => 0,
            ReplicationStatusCode::Degraded => 1,
            ReplicationStatusCode::Unhealthy => 2,
        }
    }
}

/// `mesh_failover_state`: the step of the failover in flight, in workflow order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverStateCode {
    /// No failover in flight.
    Idle,
    /// Checking health, lag, cooldown and approval.
    Preflight,
    /// The active stopped taking writes.
    Drain,
    /// Waiting for the target's VV to reach the source's last seq.
    CatchUp,
    /// Compare-and-set of the new active and failover_version.
    Promote,
    /// Routing watchers and gossip learn the new active.
    Publish,
    /// Finished.
    Done,
}

impl FailoverStateCode {
    /// The gauge value.
    pub fn code(self) -> u8 {
        match self {
            FailoverStateCode::Idle => 0,
            FailoverStateCode::Preflight => 1,
            FailoverStateCode::Drain => 2,
            FailoverStateCode::CatchUp => 3,
            FailoverStateCode::Promote => 4,
            FailoverStateCode::Publish => 5,
            FailoverStateCode::Done => 6,
        }
    }
}

/// `mesh_cluster_state`: this cluster's role for a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterStateCode {
    /// Receives the namespace's events, takes no writes.
    Passive,
    /// Takes the namespace's writes.
    Active,
    /// Was active, stopped taking writes during a planned failover.
    Draining,
    /// Learned of a higher failover_version: must not take writes.
    Fenced,
}

impl ClusterStateCode {
    /// The gauge value.
    pub fn code(self) -> u8 {
        match self {
            ClusterStateCode::Passive => 0,
            ClusterStateCode::Active => 1,
            ClusterStateCode::Draining => 2,
            ClusterStateCode::Fenced => 3,
        }
    }
}

/// The `status` label of `mesh_gossip_members`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipStatus {
    /// Answering probes.
    Alive,
    /// Missed a probe; not yet confirmed dead.
    Suspect,
    /// Confirmed dead, kept until removal.
    Dead,
}

impl GossipStatus {
    /// Every status, so each series exists from the start.
    pub const ALL: [GossipStatus; 3] = [
        GossipStatus::Alive,
        GossipStatus::Suspect,
        GossipStatus::Dead,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GossipStatus::Alive => "alive",
            GossipStatus::Suspect => "suspect",
            GossipStatus::Dead => "dead",
        }
    }
}
