//! The node's Prometheus metrics: every name of the observability contract in
//! ARCHITECTURE.md, verbatim, with low-cardinality labels only (`cluster`, `peer_cluster`,
//! `namespace`, `outcome`, and the bounded `status` of a gossip member).
//!
//! The node owns one [`Metrics`] and calls its typed setters as its machines report; the
//! control API serves [`Metrics::render`] at `GET /metrics`. The `cluster` label is always
//! the node's own cluster, fixed at construction, so a caller cannot mislabel a series.

mod codes;
mod node_status;

use std::sync::{Arc, Mutex};

use omnirelay_core::{ClusterId, NamespaceId};
use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder,
};

pub use codes::{ClusterStateCode, FailoverStateCode, GossipStatus, ReplicationStatusCode};

/// Every metric name the node exports, in the order of the observability contract.
pub const METRIC_NAMES: [&str; 14] = [
    "mesh_replication_lag_seconds",
    "mesh_replication_lag_entries",
    "mesh_replication_status",
    "mesh_gossip_members",
    "mesh_gossip_rtt_ms",
    "mesh_gossip_messages_total",
    "mesh_leadership_transitions_total",
    "mesh_leadership_election_duration_ms",
    "mesh_leadership_split_brain_total",
    "mesh_failover_state",
    "mesh_failover_duration_seconds",
    "mesh_cluster_state",
    "mesh_replication_events_total",
    "mesh_replication_duplicates_total",
];

/// Why the metrics could not be set up or rendered. Neither changes any metric value.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The registry refused a metric (a duplicate or malformed name: a bug, not input).
    #[error("metric registry: {0}")]
    Registry(#[from] prometheus::Error),
    /// The text encoder produced bytes that are not UTF-8.
    #[error("metric text is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
}

/// The metrics of one node, in their own registry (not the process-global one, so that
/// several nodes in one test process do not collide).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    cluster: ClusterId,
    replication_lag_seconds: GaugeVec,
    replication_lag_entries: GaugeVec,
    replication_status: GaugeVec,
    gossip_members: GaugeVec,
    gossip_rtt_ms: HistogramVec,
    gossip_messages: CounterVec,
    leadership_transitions: CounterVec,
    leadership_election_duration_ms: HistogramVec,
    leadership_split_brain: CounterVec,
    failover_state: GaugeVec,
    failover_duration_seconds: HistogramVec,
    cluster_state: GaugeVec,
    replication_events: CounterVec,
    replication_duplicates: CounterVec,
    /// Held from clearing the replication series to rendering them, so that two concurrent
    /// scrapes (an HA pair of Prometheus servers) never see the series half rebuilt.
    scrape: Arc<Mutex<()>>,
}

/// Bucket bounds for round trips inside and between regions, in milliseconds.
const RTT_BUCKETS_MS: [f64; 10] = [0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];
/// Election durations for 150-300 ms timeouts: the target is p99 <= 500 ms.
const ELECTION_BUCKETS_MS: [f64; 9] = [
    50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];
/// Failover durations: planned p99 <= 1 s, emergency p99 <= 3 s, seed SLO < 30 s.
const FAILOVER_BUCKETS_S: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 120.0];

const CLUSTER_PEER: &[&str] = &["cluster", "peer_cluster"];

impl Metrics {
    /// A registry holding every contract metric for a node of `cluster`. Series that need
    /// no peer or namespace (this cluster's leadership counters, gossip member counts) are
    /// created at zero, so a scrape right after start already shows them.
    pub fn new(cluster: ClusterId) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<GaugeVec, MetricsError> {
            let vec = GaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<CounterVec, MetricsError> {
                let vec = CounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(vec.clone()))?;
                Ok(vec)
            };
        let histogram = |name: &str,
                         help: &str,
                         labels: &[&str],
                         buckets: &[f64]|
         -> Result<HistogramVec, MetricsError> {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let vec = HistogramVec::new(opts, labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let metrics = Metrics {
            replication_lag_seconds: gauge(
                "mesh_replication_lag_seconds",
                "Seconds since the oldest event of this cluster that peer_cluster has not applied (0 when caught up), on this cluster's clock.",
                CLUSTER_PEER,
            )?,
            replication_lag_entries: gauge(
                "mesh_replication_lag_entries",
                "Events of this cluster that peer_cluster has not acknowledged: last origin_seq minus the peer's version vector entry.",
                CLUSTER_PEER,
            )?,
            replication_status: gauge(
                "mesh_replication_status",
                "Health of the replication stream to peer_cluster: 0 healthy, 1 degraded, 2 unhealthy.",
                CLUSTER_PEER,
            )?,
            gossip_members: gauge(
                "mesh_gossip_members",
                "Gossip members this node knows, by status (alive, suspect, dead).",
                &["cluster", "status"],
            )?,
            gossip_rtt_ms: histogram(
                "mesh_gossip_rtt_ms",
                "Round trip of gossip probes to members of peer_cluster, in milliseconds.",
                CLUSTER_PEER,
                &RTT_BUCKETS_MS,
            )?,
            gossip_messages: counter(
                "mesh_gossip_messages_total",
                "Gossip messages by outcome (sent, received, dropped).",
                &["cluster", "outcome"],
            )?,
            leadership_transitions: counter(
                "mesh_leadership_transitions_total",
                "Times this cluster's leader changed.",
                &["cluster"],
            )?,
            leadership_election_duration_ms: histogram(
                "mesh_leadership_election_duration_ms",
                "From the first election timeout to a leader being known, in milliseconds.",
                &["cluster"],
                &ELECTION_BUCKETS_MS,
            )?,
            leadership_split_brain: counter(
                "mesh_leadership_split_brain_total",
                "Times this node saw two leaders claim one term, or a fenced cluster still taking writes. Must stay 0.",
                &["cluster"],
            )?,
            failover_state: gauge(
                "mesh_failover_state",
                "Step of the failover in flight for namespace: 0 idle, 1 preflight, 2 drain, 3 catch_up, 4 promote, 5 publish, 6 done.",
                &["namespace"],
            )?,
            failover_duration_seconds: histogram(
                "mesh_failover_duration_seconds",
                "Duration of finished failovers by outcome (succeeded, aborted, cancelled, failed), in seconds.",
                &["namespace", "outcome"],
                &FAILOVER_BUCKETS_S,
            )?,
            cluster_state: gauge(
                "mesh_cluster_state",
                "State of this cluster for namespace: 0 passive, 1 active, 2 draining, 3 fenced.",
                &["cluster", "namespace"],
            )?,
            replication_events: counter(
                "mesh_replication_events_total",
                "Events from peer_cluster applied to this cluster's log.",
                CLUSTER_PEER,
            )?,
            replication_duplicates: counter(
                "mesh_replication_duplicates_total",
                "Events from peer_cluster dropped as duplicates (origin_seq <= VV[origin]).",
                CLUSTER_PEER,
            )?,
            registry,
            cluster,
            scrape: Arc::default(),
        };
        let own = [metrics.cluster.as_str()];
        metrics.leadership_transitions.with_label_values(&own);
        metrics.leadership_split_brain.with_label_values(&own);
        for status in GossipStatus::ALL {
            metrics
                .gossip_members
                .with_label_values(&[metrics.cluster.as_str(), status.as_str()]);
        }
        Ok(metrics)
    }

    /// The cluster every series is labelled with.
    pub fn cluster(&self) -> &ClusterId {
        &self.cluster
    }

    fn pair<'a>(&'a self, peer: &'a ClusterId) -> [&'a str; 2] {
        [self.cluster.as_str(), peer.as_str()]
    }

    /// Lag from this cluster to `peer`, as read from the peer's acknowledged VV.
    pub fn set_replication_lag(&self, peer: &ClusterId, seconds: f64, entries: u64) {
        let labels = self.pair(peer);
        self.replication_lag_seconds
            .with_label_values(&labels)
            .set(seconds);
        self.replication_lag_entries
            .with_label_values(&labels)
            .set(entries as f64);
    }

    /// Drops every replication lag and stream health series (before setting the ones whose
    /// lag is known).
    pub fn clear_replication_series(&self) {
        self.replication_lag_seconds.reset();
        self.replication_lag_entries.reset();
        self.replication_status.reset();
    }

    /// Health of the replication stream to `peer`.
    pub fn set_replication_status(&self, peer: &ClusterId, status: ReplicationStatusCode) {
        self.replication_status
            .with_label_values(&self.pair(peer))
            .set(f64::from(status.code()));
    }

    /// How many members gossip currently holds in `status`.
    pub fn set_gossip_members(&self, status: GossipStatus, count: u64) {
        self.gossip_members
            .with_label_values(&[self.cluster.as_str(), status.as_str()])
            .set(count as f64);
    }

    /// One probe round trip to a member of `peer` (the own cluster for LAN probes).
    pub fn observe_gossip_rtt(&self, peer: &ClusterId, rtt_ms: f64) {
        self.gossip_rtt_ms
            .with_label_values(&self.pair(peer))
            .observe(rtt_ms);
    }

    /// `count` gossip messages that ended with `outcome`.
    pub fn add_gossip_messages(&self, outcome: GossipMessageOutcome, count: u64) {
        self.gossip_messages
            .with_label_values(&[self.cluster.as_str(), outcome.as_str()])
            .inc_by(count as f64);
    }

    /// The cluster's leader changed; `election_ms` is how long it had none.
    pub fn record_leadership_transition(&self, election_ms: f64) {
        let own = [self.cluster.as_str()];
        self.leadership_transitions.with_label_values(&own).inc();
        self.leadership_election_duration_ms
            .with_label_values(&own)
            .observe(election_ms);
    }

    /// Two leaders in one term, or a fenced cluster still accepting writes, was observed.
    pub fn record_split_brain(&self) {
        self.leadership_split_brain
            .with_label_values(&[self.cluster.as_str()])
            .inc();
    }

    /// The step of the failover in flight for `namespace` (`Idle` when none).
    pub fn set_failover_state(&self, namespace: &NamespaceId, step: FailoverStateCode) {
        self.failover_state
            .with_label_values(&[namespace.as_str()])
            .set(f64::from(step.code()));
    }

    /// A failover of `namespace` finished with `outcome` after `seconds`.
    pub fn observe_failover_duration(
        &self,
        namespace: &NamespaceId,
        outcome: FailoverOutcome,
        seconds: f64,
    ) {
        self.failover_duration_seconds
            .with_label_values(&[namespace.as_str(), outcome.as_str()])
            .observe(seconds);
    }

    /// This cluster's state for `namespace`.
    pub fn set_cluster_state(&self, namespace: &NamespaceId, state: ClusterStateCode) {
        self.cluster_state
            .with_label_values(&[self.cluster.as_str(), namespace.as_str()])
            .set(f64::from(state.code()));
    }

    /// `applied` events from `peer` were applied and `duplicates` dropped as duplicates.
    pub fn add_replication_events(&self, peer: &ClusterId, applied: u64, duplicates: u64) {
        let labels = self.pair(peer);
        self.replication_events
            .with_label_values(&labels)
            .inc_by(applied as f64);
        self.replication_duplicates
            .with_label_values(&labels)
            .inc_by(duplicates as f64);
    }

    /// Every series in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8(buf)?)
    }
}

/// What became of a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipMessageOutcome {
    /// Handed to the network.
    Sent,
    /// Decoded and handled.
    Received,
    /// Refused: malformed, stale or from an unknown member.
    Dropped,
}

impl GossipMessageOutcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GossipMessageOutcome::Sent => "sent",
            GossipMessageOutcome::Received => "received",
            GossipMessageOutcome::Dropped => "dropped",
        }
    }
}

/// How a failover ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverOutcome {
    /// Reached `done`.
    Succeeded,
    /// Gave up by itself (catch-up time box, lost quorum) and went back to `active`.
    Aborted,
    /// An operator cancelled it.
    Cancelled,
    /// Stopped on an error.
    Failed,
}

impl FailoverOutcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverOutcome::Succeeded => "succeeded",
            FailoverOutcome::Aborted => "aborted",
            FailoverOutcome::Cancelled => "cancelled",
            FailoverOutcome::Failed => "failed",
        }
    }
}
