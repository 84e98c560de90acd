//! How a running node's state reads in the control API's JSON contract: core's registry,
//! gossip members, failovers and quarantine turned into [`model`](super::model) views.
//! Pure functions, so the mapping is tested without a mesh.

use std::collections::BTreeMap;
use std::time::Duration;

use omnirelay_core::ClusterId;
use omnirelay_core::consensus::RoleKind;
use omnirelay_core::failover::{
    Failover, FailoverKind as CoreKind, FailoverStep as CoreStep, PreflightRefusal,
};
use omnirelay_core::gossip::{Role, Status};
use omnirelay_core::registry::PlacementState;
use omnirelay_core::replication::{Lag as CoreLag, QuarantinedEvent};

use super::backend::BackendError;
use super::model::{
    ClusterDigest, ClusterLag, ClusterState, ClusterView, ClustersSnapshot, DivergentNamespace,
    FailoverKind, FailoverStatus, FailoverStep, FailoverSummary, FailoverTrailEntry, FailoverView,
    Health, Lag, NamespaceState, PeerStatus, PeerView, PreflightCheck, QuarantinedRange, StateDiff,
    WritesAtRisk,
};
use crate::node::NodeStatus;

/// Core instants are Unix nanoseconds in the io layer (`node::NodeClock`).
pub(super) fn unix_ms(at: omnirelay_core::Instant) -> u64 {
    at.as_nanos() / 1_000_000
}

pub(super) fn lag(l: CoreLag) -> Lag {
    Lag {
        entries: l.entries,
        seconds: l.seconds.as_secs_f64(),
    }
}

/// Lag limits above which a stream counts as degraded (the planned-failover thresholds:
/// a stream past them could not serve as a failover target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LagLimits {
    /// Entries behind.
    pub entries: u64,
    /// Age of the oldest unacknowledged event.
    pub seconds: Duration,
}

impl LagLimits {
    pub(super) fn health(&self, l: &CoreLag) -> Health {
        if l.entries <= self.entries && l.seconds <= self.seconds {
            Health::Healthy
        } else {
            Health::Degraded
        }
    }
}

/// `GET /control/clusters` from one node's status. Lag is measured by the source cluster's
/// leader (on its clock, as ARCHITECTURE.md defines lag): this node's own streams when it
/// leads its cluster, and every leader's reports to the control group when it is a control
/// voter. A pair this node knows nothing of is `null`, never a made-up zero.
pub(super) fn clusters(status: &NodeStatus) -> ClustersSnapshot {
    let registry = &status.registry;
    let own = status.cluster.as_ref();
    let clusters = registry
        .clusters()
        .map(|c| {
            let d = &c.value;
            let namespaces = registry
                .placements()
                .map(|p| {
                    let p = &p.value;
                    let state = if p.active_cluster == d.id {
                        match p.state {
                            PlacementState::Active => ClusterState::Active,
                            PlacementState::Draining => ClusterState::Draining,
                            PlacementState::Fenced => ClusterState::Fenced,
                        }
                    } else if own == Some(&d.id)
                        && holds_superseded_writes(status, &d.id, p.namespace.as_str())
                    {
                        // It wrote under a version that a promotion elsewhere superseded.
                        ClusterState::Fenced
                    } else {
                        ClusterState::Passive
                    };
                    NamespaceState {
                        namespace: p.namespace.as_str().to_owned(),
                        state,
                        failover_version: p.failover_version.0,
                    }
                })
                .collect();
            let lag = lags_of(status, &d.id, registry.clusters().map(|c| &c.value.id));
            ClusterView {
                id: d.id.as_str().to_owned(),
                region: d.region.clone(),
                priority: d.priority,
                endpoints: d.endpoints.clone(),
                namespaces,
                lag,
            }
        })
        .collect();
    ClustersSnapshot {
        registry_revision: registry.revision(),
        clusters,
    }
}

/// Lag between `cluster` and every other cluster of `all`, both directions, from what
/// `status` holds; a peer with neither direction known is left out.
fn lags_of<'a>(
    status: &NodeStatus,
    cluster: &ClusterId,
    all: impl Iterator<Item = &'a ClusterId>,
) -> Vec<ClusterLag> {
    let own_streams = status.cluster.as_ref() == Some(cluster);
    let reported = |source: &ClusterId, target: &ClusterId| {
        status
            .reported_lags
            .iter()
            .find(|(s, t, _)| s == source && t == target)
            .map(|(_, _, l)| lag(*l))
    };
    all.filter(|peer| *peer != cluster)
        .filter_map(|peer| {
            // This node's own streams are fresher than the report it sent the voters.
            let to_peer = own_streams
                .then(|| status.stream_lags.iter().find(|(t, _)| t == peer))
                .flatten()
                .map(|(_, l)| lag(*l))
                .or_else(|| reported(cluster, peer));
            let from_peer = reported(peer, cluster);
            (to_peer.is_some() || from_peer.is_some()).then(|| ClusterLag {
                peer: peer.as_str().to_owned(),
                to_peer,
                from_peer,
            })
        })
        .collect()
}

fn holds_superseded_writes(status: &NodeStatus, cluster: &ClusterId, namespace: &str) -> bool {
    status
        .quarantined
        .iter()
        .any(|q| &q.event.origin_cluster == cluster && q.namespace().as_str() == namespace)
}

/// Every gossip member as `GET /control/peers` lists it. `last_seen` is the time of this
/// answer for live members (gossip keeps no per-member clock), 0 for the others.
pub(super) fn peers(status: &NodeStatus, now_unix_ms: u64) -> Vec<PeerView> {
    let mut peers: Vec<PeerView> = status
        .members
        .iter()
        .filter_map(|m| {
            let status = match m.status {
                Status::Alive => PeerStatus::Alive,
                Status::Suspect => PeerStatus::Suspect,
                Status::Dead => PeerStatus::Dead,
                // Left on purpose: not a member any more.
                Status::Left => return None,
            };
            let meta = &m.meta;
            let mut metadata = BTreeMap::new();
            let v = meta.mesh_version;
            metadata.insert(
                "mesh_version".to_owned(),
                format!("{}.{}.{}", v.major, v.minor, v.patch),
            );
            metadata.insert(
                "protocols".to_owned(),
                format!("{}-{}", meta.protocols.min, meta.protocols.max),
            );
            for e in &meta.endpoints {
                metadata.insert(format!("endpoint.{}", e.name), e.address.to_string());
            }
            Some(PeerView {
                node: m.id.to_string(),
                cluster: meta.cluster.as_str().to_owned(),
                region: meta.region.to_string(),
                role: match meta.role {
                    Role::Voter => "voter",
                    Role::Learner => "learner",
                    Role::Witness => "witness",
                }
                .to_owned(),
                status,
                last_seen_unix_ms: if m.status.is_live() { now_unix_ms } else { 0 },
                rtt_ms: None,
                incarnation: m.incarnation,
                metadata,
            })
        })
        .collect();
    peers.sort_by(|a, b| (&a.cluster, &a.node).cmp(&(&b.cluster, &b.node)));
    peers
}

/// The cluster-group role in `/v1/replication/health` words.
pub(super) fn role_name(role: Option<RoleKind>) -> &'static str {
    match role {
        None => "witness",
        Some(RoleKind::Leader) => "leader",
        Some(RoleKind::Follower) => "follower",
        Some(RoleKind::PreCandidate | RoleKind::Candidate) => "candidate",
    }
}

/// Quarantined events as contiguous runs per (namespace, origin, version).
pub(super) fn state_diff(status: &NodeStatus) -> StateDiff {
    let mut sorted: Vec<&QuarantinedEvent> = status.quarantined.iter().collect();
    sorted.sort_by(|a, b| {
        (
            a.namespace(),
            &a.event.origin_cluster,
            a.event.failover_version,
            a.event.origin_seq,
        )
            .cmp(&(
                b.namespace(),
                &b.event.origin_cluster,
                b.event.failover_version,
                b.event.origin_seq,
            ))
    });
    let mut ranges: Vec<QuarantinedRange> = Vec::new();
    for q in sorted {
        let e = &q.event;
        if let Some(last) = ranges.last_mut()
            && last.namespace == e.namespace.as_str()
            && last.origin_cluster == e.origin_cluster.as_str()
            && last.failover_version == e.failover_version.0
            && last.to_seq.checked_add(1) == Some(e.origin_seq)
        {
            last.to_seq = e.origin_seq;
            continue;
        }
        ranges.push(QuarantinedRange {
            namespace: e.namespace.as_str().to_owned(),
            origin_cluster: e.origin_cluster.as_str().to_owned(),
            from_seq: e.origin_seq,
            to_seq: e.origin_seq,
            failover_version: e.failover_version.0,
        });
    }
    StateDiff {
        quarantined: ranges,
        divergent_namespaces: status
            .divergent
            .iter()
            .map(|d| DivergentNamespace {
                namespace: d.namespace.as_str().to_owned(),
                digests: d
                    .digests
                    .iter()
                    .map(|(cluster, digest)| ClusterDigest {
                        cluster: cluster.as_str().to_owned(),
                        digest: format!("{digest:016x}"),
                        version_vector: d.applied.to_string(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The contract's kind for a core kind.
pub(super) fn kind(k: CoreKind) -> FailoverKind {
    match k {
        CoreKind::Planned => FailoverKind::Planned,
        CoreKind::Emergency { .. } => FailoverKind::Emergency,
        CoreKind::Failback => FailoverKind::Failback,
        CoreKind::Migration => FailoverKind::Migration,
    }
}

/// Where a core step falls in the contract's steps and statuses.
fn step_and_status(f: &Failover) -> (FailoverStep, FailoverStatus) {
    match f.step {
        CoreStep::Preflight => (FailoverStep::Preflight, FailoverStatus::Running),
        CoreStep::AwaitingApproval => (FailoverStep::Preflight, FailoverStatus::AwaitingApproval),
        CoreStep::Drain => (FailoverStep::Drain, FailoverStatus::Running),
        CoreStep::CatchUp => (FailoverStep::CatchUp, FailoverStatus::Running),
        CoreStep::Promote => (FailoverStep::Promote, FailoverStatus::Running),
        CoreStep::Publish => (FailoverStep::Publish, FailoverStatus::Running),
        CoreStep::Done => (FailoverStep::Done, FailoverStatus::Succeeded),
        CoreStep::Aborted | CoreStep::RolledBack => {
            // The step it stopped in is not kept by core: a rollback stopped after the
            // drain, an abort before it.
            let step = if f.step == CoreStep::RolledBack {
                FailoverStep::CatchUp
            } else {
                FailoverStep::Preflight
            };
            let status = if f.cancelled {
                FailoverStatus::Cancelled
            } else {
                FailoverStatus::Aborted
            };
            (step, status)
        }
    }
}

fn contract_step(step: CoreStep) -> FailoverStep {
    match step {
        CoreStep::Preflight | CoreStep::AwaitingApproval | CoreStep::Aborted => {
            FailoverStep::Preflight
        }
        CoreStep::Drain => FailoverStep::Drain,
        CoreStep::CatchUp | CoreStep::RolledBack => FailoverStep::CatchUp,
        CoreStep::Promote => FailoverStep::Promote,
        CoreStep::Publish => FailoverStep::Publish,
        CoreStep::Done => FailoverStep::Done,
    }
}

/// One step of a failover's trail, as the control leader audited it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TrailStep {
    pub at_unix_ms: u64,
    pub to: CoreStep,
    pub actor: String,
    pub reason: String,
}

/// What the node remembers of a request beyond what core keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RequestNote {
    pub reason: Option<String>,
    /// Who the requester expects to approve, when core was not told (see
    /// `NodeBackend::create_failover`).
    pub expected_approver: Option<String>,
    /// Its duration went into the metrics already.
    pub observed_finish: bool,
}

/// `GET /control/failovers/{id}` from core's failover, the trail this node saw and its
/// own notes of the request.
pub(super) fn failover_view(
    f: &Failover,
    trail: &[TrailStep],
    note: Option<&RequestNote>,
) -> FailoverView {
    let (step, status) = step_and_status(f);
    let started = unix_ms(f.started_at);
    let finished = f.finished_at.map(unix_ms);
    let mut entries: Vec<FailoverTrailEntry> = trail
        .iter()
        .map(|t| FailoverTrailEntry {
            at_unix_ms: t.at_unix_ms,
            step: contract_step(t.to),
            detail: format!("{} by {}: {}", t.to, t.actor, t.reason),
        })
        .collect();
    if entries.is_empty() {
        // This node was not the control leader when it ran: core's state is the trail.
        entries.push(FailoverTrailEntry {
            at_unix_ms: finished.unwrap_or(started),
            step,
            detail: format!("at {}", f.step),
        });
    }
    if let Some(approver) = &f.approved_by {
        entries.push(FailoverTrailEntry {
            at_unix_ms: started,
            step: FailoverStep::Preflight,
            detail: format!("approved by {approver}"),
        });
        entries.sort_by_key(|e| e.at_unix_ms);
    }
    let writes_at_risk = f.loss.as_ref().map(|loss| WritesAtRisk {
        origin_cluster: loss.old_active.as_str().to_owned(),
        from_seq: loss.first_seq,
        // An open-ended range is reported as what is known: up to the cutoff.
        to_seq: loss
            .last_seq
            .unwrap_or_else(|| loss.first_seq.saturating_sub(1)),
        open_ended: loss.open_ended,
    });
    let summary = finished.map(|end| FailoverSummary {
        duration_ms: end.saturating_sub(started),
        // A planned failover promotes only once caught up; an emergency one promotes
        // with exactly the reported range unapplied.
        lag_at_promotion: Lag {
            entries: writes_at_risk.as_ref().map_or(0, WritesAtRisk::count),
            seconds: 0.0,
        },
        writes_at_risk: writes_at_risk.clone(),
        failover_version: f.promoted_to.map_or(0, |v| v.0),
    });
    let reason = match status {
        FailoverStatus::Aborted | FailoverStatus::Cancelled | FailoverStatus::Failed => trail
            .last()
            .map(|t| t.reason.clone())
            .or_else(|| note.and_then(|n| n.reason.clone())),
        _ => note.and_then(|n| n.reason.clone()),
    };
    FailoverView {
        id: f.id.to_string(),
        kind: kind(f.request.kind),
        namespace: f.request.namespace.as_str().to_owned(),
        source_cluster: f.source.as_str().to_owned(),
        target_cluster: f.target.as_str().to_owned(),
        step,
        status,
        progress_percent: progress(f.step),
        requested_by: f.request.requested_by.clone(),
        ticket: f.request.ticket.clone(),
        approver: f
            .request
            .approver
            .clone()
            .or_else(|| note.and_then(|n| n.expected_approver.clone())),
        approved_by: f.approved_by.clone(),
        force: matches!(f.request.kind, CoreKind::Emergency { force: true }),
        started_at_unix_ms: started,
        finished_at_unix_ms: finished,
        preflight: vec![PreflightCheck {
            name: "preflight".to_owned(),
            passed: true,
            detail: "accepted by the control leader".to_owned(),
        }],
        trail: entries,
        summary,
        reason,
    }
}

fn progress(step: CoreStep) -> u8 {
    // `progress` is within 0..=1, so the product fits.
    (step.progress().clamp(0.0, 1.0) * 100.0).round() as u8
}

/// A preflight refusal as the API reports it: unknown names are 404s, a namespace already
/// moving is a 409, everything else a refused check naming what was measured.
pub(super) fn refusal(r: PreflightRefusal) -> BackendError {
    let check = |name: &str, detail: String| BackendError::PreflightRefused {
        reason: detail.clone(),
        checks: vec![PreflightCheck {
            name: name.to_owned(),
            passed: false,
            detail,
        }],
    };
    let detail = r.to_string();
    match r {
        PreflightRefusal::UnknownNamespace(ns) => {
            BackendError::UnknownNamespace(ns.as_str().to_owned())
        }
        PreflightRefusal::UnknownTarget(c) => BackendError::UnknownCluster(c.as_str().to_owned()),
        PreflightRefusal::FailoverInFlight { namespace, id } => BackendError::AlreadyMoving {
            namespace: namespace.as_str().to_owned(),
            failover: id.to_string(),
        },
        PreflightRefusal::NoTarget => BackendError::Invalid(detail),
        PreflightRefusal::AlreadyActive { .. } => check("target_not_active", detail),
        PreflightRefusal::TargetUnhealthy { .. } => check("target_healthy", detail),
        PreflightRefusal::LagOverThreshold { .. } => check("lag_under_threshold", detail),
        PreflightRefusal::LagUnknown { .. } => check("lag_known", detail),
        PreflightRefusal::CooldownNotElapsed { .. } => check("cooldown_passed", detail),
        PreflightRefusal::TicketMissing => check("ticket_present", detail),
        PreflightRefusal::NoQuorum => check("control_quorum", detail),
    }
}
