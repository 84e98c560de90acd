//! The JSON contract of the control API: what each route accepts and returns. The node's
//! backend fills these in; the CLI reads them. Field names are snake_case, enums are
//! lowercase strings, times are milliseconds since the Unix epoch read on the serving
//! node's clock.

use serde::{Deserialize, Serialize};

/// `GET /control/clusters`: every cluster of the mesh as the registry holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClustersSnapshot {
    /// The registry version this snapshot was read at; the `ETag` is derived from it.
    pub registry_revision: u64,
    /// Clusters in id order.
    pub clusters: Vec<ClusterView>,
}

/// One cluster's descriptor, its role per namespace, and its replication lag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Cluster id.
    pub id: String,
    /// Region it runs in.
    pub region: String,
    /// Higher is preferred as a failover target.
    pub priority: u32,
    /// Control endpoints of its nodes.
    pub endpoints: Vec<String>,
    /// Its state for each namespace, in namespace order.
    pub namespaces: Vec<NamespaceState>,
    /// Lag from this cluster to every other cluster and back.
    pub lag: Vec<ClusterLag>,
}

/// A cluster's role for one namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamespaceState {
    /// Namespace id.
    pub namespace: String,
    /// What this cluster is for it.
    pub state: ClusterState,
    /// The namespace's failover_version as this cluster knows it.
    pub failover_version: u64,
}

/// `active | passive | draining | fenced` (ARCHITECTURE.md, vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// Takes the namespace's writes.
    Active,
    /// Receives its events, takes no writes.
    Passive,
    /// Stopped taking writes during a planned failover.
    Draining,
    /// Learned of a higher failover_version.
    Fenced,
}

/// Replication lag between this cluster and `peer`, both directions. A direction is
/// `null` when the node asked holds no measurement of it (lag is measured by the source
/// cluster's leader and reported to the control group's voters; ask a control voter for
/// every pair).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterLag {
    /// The other cluster.
    pub peer: String,
    /// From this cluster to the peer.
    #[serde(default)]
    pub to_peer: Option<Lag>,
    /// From the peer to this cluster.
    #[serde(default)]
    pub from_peer: Option<Lag>,
}

/// Lag as defined in ARCHITECTURE.md: read on the source's clock.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lag {
    /// Events the target has not acknowledged.
    pub entries: u64,
    /// Age of the oldest of them, 0 when caught up.
    pub seconds: f64,
}

/// One gossip member as `GET /control/peers` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Node id, e.g. `n3`.
    pub node: String,
    /// Its cluster.
    pub cluster: String,
    /// Its region.
    pub region: String,
    /// `voter`, `learner` or `witness`.
    pub role: String,
    /// Gossip status.
    pub status: PeerStatus,
    /// Last time it answered, on the serving node's clock.
    pub last_seen_unix_ms: u64,
    /// Last probe round trip, if any.
    pub rtt_ms: Option<f64>,
    /// Its gossip incarnation.
    pub incarnation: u64,
    /// Its advertised metadata (mesh version, endpoints, protocol versions), in key order.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A member's gossip status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStatus {
    /// Answering probes.
    Alive,
    /// Missed probes; not yet confirmed.
    Suspect,
    /// Confirmed dead.
    Dead,
}

impl PeerStatus {
    /// The query and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Alive => "alive",
            PeerStatus::Suspect => "suspect",
            PeerStatus::Dead => "dead",
        }
    }
}

/// `GET /control/peers`: one page of members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeersPage {
    /// The members on this page, in (cluster, node) order.
    pub peers: Vec<PeerView>,
    /// This page, from 1.
    pub page: u32,
    /// Members per page.
    pub page_size: u32,
    /// Members matching the filters, over all pages.
    pub total: u64,
}

/// The leader of one cluster (`GET /control/leaders`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderView {
    /// Cluster id.
    pub cluster: String,
    /// Its leader, if it has one now.
    pub leader: Option<String>,
    /// The current term.
    pub term: u64,
    /// The token the leader fences its writes with.
    pub fencing_token: u64,
    /// When this leader was elected.
    pub since_unix_ms: u64,
}

/// One `leadership` event of `GET /control/events/leadership`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadershipEvent {
    /// Cluster id.
    pub cluster: String,
    /// The new leader, or none when the cluster lost its leader.
    pub leader: Option<String>,
    /// Term of the change.
    pub term: u64,
    /// Fencing token of the new leader.
    pub fencing_token: u64,
    /// When it happened.
    pub at_unix_ms: u64,
}

/// The four ways to move a namespace's active role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverKind {
    /// Drain, catch up, promote: no data loss.
    Planned,
    /// Promote without the active's cooperation; reports writes at risk.
    Emergency,
    /// Move the namespace back to the cluster it failed away from.
    Failback,
    /// Planned move to a cluster that is not the namespace's usual home.
    Migration,
}

impl FailoverKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverKind::Planned => "planned",
            FailoverKind::Emergency => "emergency",
            FailoverKind::Failback => "failback",
            FailoverKind::Migration => "migration",
        }
    }
}

/// `POST /control/failovers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverRequest {
    /// What kind of move.
    pub kind: FailoverKind,
    /// The namespace to move.
    pub namespace: String,
    /// The cluster to make active. Failback may leave it out (back to the previous active).
    #[serde(default)]
    pub target_cluster: Option<String>,
    /// Run preflight only and report; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Change ticket, recorded in the audit log.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Who is expected to approve, when policy requires an approval.
    #[serde(default)]
    pub approver: Option<String>,
    /// Emergency without a registry quorum. Needs mesh.admin.
    #[serde(default)]
    pub force: bool,
    /// Free text for the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The steps of a failover workflow, in order (ARCHITECTURE.md, planned failover).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverStep {
    /// Health, lag, cooldown, approval.
    Preflight,
    /// The active stops taking writes.
    Drain,
    /// The target reaches the source's last seq.
    CatchUp,
    /// CAS of the new active and failover_version.
    Promote,
    /// Routing and gossip learn it.
    Publish,
    /// Finished.
    Done,
}

impl FailoverStep {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverStep::Preflight => "preflight",
            FailoverStep::Drain => "drain",
            FailoverStep::CatchUp => "catch_up",
            FailoverStep::Promote => "promote",
            FailoverStep::Publish => "publish",
            FailoverStep::Done => "done",
        }
    }
}

/// Where a failover stands as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverStatus {
    /// Preflight passed on a dry run; nothing was changed.
    DryRun,
    /// Waiting for an admin's approval before it leaves preflight.
    AwaitingApproval,
    /// Moving through its steps.
    Running,
    /// Reached `done`.
    Succeeded,
    /// Gave up by itself and restored the previous active.
    Aborted,
    /// Cancelled by an operator before promotion.
    Cancelled,
    /// Stopped on an error.
    Failed,
}

impl FailoverStatus {
    /// No further step will happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FailoverStatus::DryRun
                | FailoverStatus::Succeeded
                | FailoverStatus::Aborted
                | FailoverStatus::Cancelled
                | FailoverStatus::Failed
        )
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverStatus::DryRun => "dry_run",
            FailoverStatus::AwaitingApproval => "awaiting_approval",
            FailoverStatus::Running => "running",
            FailoverStatus::Succeeded => "succeeded",
            FailoverStatus::Aborted => "aborted",
            FailoverStatus::Cancelled => "cancelled",
            FailoverStatus::Failed => "failed",
        }
    }
}

/// One preflight check and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightCheck {
    /// e.g. `target_healthy`, `lag_under_threshold`, `no_failover_in_flight`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was measured against what.
    pub detail: String,
}

/// One entry of a failover's trail: a step reached or an operator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverTrailEntry {
    /// When.
    pub at_unix_ms: u64,
    /// The step it happened in.
    pub step: FailoverStep,
    /// What happened, e.g. `entered`, `approved by alice`.
    pub detail: String,
}

/// The origin_seq range of the old active that the new active had not applied when it
/// was promoted: the writes an emergency failover may have lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritesAtRisk {
    /// The old active.
    pub origin_cluster: String,
    /// First origin_seq not applied by the new active.
    pub from_seq: u64,
    /// Last origin_seq the old active is known to have committed.
    pub to_seq: u64,
    /// The old active may have committed past `to_seq` unseen: true until it reports where
    /// its writes ended (it does once it hears of the promotion).
    #[serde(default)]
    pub open_ended: bool,
}

impl WritesAtRisk {
    /// How many writes the range holds.
    pub fn count(&self) -> u64 {
        (self.to_seq + 1).saturating_sub(self.from_seq)
    }
}

/// How a finished failover went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailoverSummary {
    /// From creation to the last step.
    pub duration_ms: u64,
    /// Lag of the target behind the source at the promote step.
    pub lag_at_promotion: Lag,
    /// Writes that may be lost; none for a planned failover.
    pub writes_at_risk: Option<WritesAtRisk>,
    /// The namespace's failover_version after promotion.
    pub failover_version: u64,
}

/// A failover as `GET /control/failovers/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailoverView {
    /// Its id, e.g. `fo-17`.
    pub id: String,
    /// Its kind.
    pub kind: FailoverKind,
    /// The namespace moving.
    pub namespace: String,
    /// The active cluster when it started.
    pub source_cluster: String,
    /// The cluster being made active.
    pub target_cluster: String,
    /// The step it is in (or ended in).
    pub step: FailoverStep,
    /// Where it stands.
    pub status: FailoverStatus,
    /// 0-100, for a progress bar.
    pub progress_percent: u8,
    /// Who asked for it.
    pub requested_by: String,
    /// Its change ticket.
    pub ticket: Option<String>,
    /// Who is expected to approve.
    pub approver: Option<String>,
    /// Who approved, once approved.
    pub approved_by: Option<String>,
    /// Whether it was forced without a registry quorum.
    pub force: bool,
    /// When it was created.
    pub started_at_unix_ms: u64,
    /// When it ended.
    pub finished_at_unix_ms: Option<u64>,
    /// Preflight verdicts.
    pub preflight: Vec<PreflightCheck>,
    /// Steps and operator actions so far.
    pub trail: Vec<FailoverTrailEntry>,
    /// Set once it has finished.
    pub summary: Option<FailoverSummary>,
    /// Why it was aborted, cancelled or failed.
    pub reason: Option<String>,
}

/// `POST /control/failovers/{id}/approve` and `/cancel`: an optional comment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverAction {
    /// Free text for the audit log.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `GET /control/failovers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailoverList {
    /// Failovers, newest first.
    pub failovers: Vec<FailoverView>,
}

/// `GET /control/state-diff`: what a returning old active holds that the mesh does not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateDiff {
    /// Events quarantined because a higher failover_version superseded their writer.
    pub quarantined: Vec<QuarantinedRange>,
    /// Namespaces whose digests differ between clusters.
    pub divergent_namespaces: Vec<DivergentNamespace>,
}

/// A contiguous run of quarantined events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRange {
    /// Namespace.
    pub namespace: String,
    /// The fenced cluster that wrote them.
    pub origin_cluster: String,
    /// First origin_seq.
    pub from_seq: u64,
    /// Last origin_seq.
    pub to_seq: u64,
    /// The failover_version they were written under.
    pub failover_version: u64,
}

/// A namespace whose clusters disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DivergentNamespace {
    /// Namespace.
    pub namespace: String,
    /// Each cluster's digest of it.
    pub digests: Vec<ClusterDigest>,
}

/// One cluster's digest of a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDigest {
    /// Cluster id.
    pub cluster: String,
    /// Hex digest.
    pub digest: String,
    /// Its version vector in compact text form.
    pub version_vector: String,
}

/// `healthy | degraded | unhealthy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// All good.
    Healthy,
    /// Working, with lag or a follower down.
    Degraded,
    /// Not replicating.
    Unhealthy,
}

impl Health {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// `GET /v1/replication/health` (answered with 503 when unhealthy, for load balancers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationHealth {
    /// Overall verdict: the worst of the parts below.
    pub status: Health,
    /// The serving node.
    pub node: String,
    /// Its cluster.
    pub cluster: String,
    /// Its region.
    pub region: String,
    /// `leader`, `follower`, `candidate` or `witness`.
    pub role: String,
    /// The node's write-ahead log.
    pub wal: WalPosition,
    /// Followers of this node's cluster (empty unless it leads).
    pub followers: Vec<FollowerHealth>,
    /// Streams to and from the other clusters.
    pub remotes: Vec<RemoteHealth>,
}

/// Where the write-ahead log stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalPosition {
    /// Last durable index.
    pub last_index: u64,
    /// Committed index.
    pub commit_index: u64,
    /// Bytes on disk.
    pub size_bytes: u64,
}

/// One follower of the cluster leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerHealth {
    /// Node id.
    pub node: String,
    /// Highest index known replicated on it.
    pub match_index: u64,
    /// Entries behind the leader.
    pub lag_entries: u64,
    /// Verdict.
    pub health: Health,
}

/// The replication stream with one other cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteHealth {
    /// The other cluster.
    pub cluster: String,
    /// Lag from this cluster to it.
    pub lag: Lag,
    /// Verdict.
    pub health: Health,
}

/// Every 4xx/5xx body: a stable code, a message naming the problem, and for a preflight
/// refusal the checks that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable, e.g. `unknown_namespace`, `forbidden`, `malformed_json`.
    pub code: String,
    /// For a human: what was wrong with which value.
    pub message: String,
    /// Failed preflight checks, on `preflight_refused`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<PreflightCheck>,
}
