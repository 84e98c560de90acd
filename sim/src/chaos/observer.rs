//! The operator and the auditor on the `client` host: failover commands issued through
//! the nodes' operator API, the registry's placements followed as they change, and at the
//! end the state every cluster holds, read through the nodes' handles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::NamespaceId;
use omnirelay_core::failover::{FailoverKind, FailoverRequest};
use omnirelay_core::gossip::Status;
use omnirelay_core::node::{NodeDrop, OperatorReply, OperatorRequest};
use omnirelay_core::registry::PlacementState;
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_io::node::NodeHandle;

use super::checker::{HeldEvent, ReportedLoss};
use super::harness::sim_now;
use super::runner::{RunState, lock};
use super::scenario::{FailoverMode, Fault};
use super::timeline::{NamespaceState, StateChange};

/// How long an operator command waits for the control leader's answer.
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(5);
/// Events per read when collecting a cluster's final state.
const READ_PAGE: usize = 5_000;

/// Live handles, in host order: a crashed host's handle answers `NodeStopped`, and its
/// watch channels are closed.
fn live_handles(run: &RunState) -> Vec<(String, NodeHandle)> {
    run.handles()
        .into_iter()
        .filter(|(_, h)| h.applied_watch().has_changed().is_ok())
        .collect()
}

/// Issues `fault` (a [`Fault::Failover`]) through the operator API of a live node (the
/// control group's leader serves it, wherever it is asked); retries while no control
/// leader answers.
pub async fn issue_failover(run: &RunState, fault: Fault) {
    let Fault::Failover {
        namespace,
        to,
        mode,
        ..
    } = fault
    else {
        return;
    };
    let (Ok(ns), Ok(target)) = (
        NamespaceId::new(&namespace),
        omnirelay_core::ClusterId::new(&to),
    ) else {
        run.trace.record(
            "operator",
            format!("failover {namespace} -> {to}: bad names"),
        );
        return;
    };
    let kind = match mode {
        FailoverMode::Planned => FailoverKind::Planned,
        FailoverMode::Emergency => FailoverKind::Emergency { force: false },
    };
    let request = OperatorRequest::Failover {
        request: FailoverRequest {
            namespace: ns,
            target: Some(target),
            kind,
            requested_by: "chaos-operator".into(),
            ticket: None,
            approver: None,
        },
        dry_run: false,
    };
    for attempt in 0..5 {
        let Some((host, handle)) = live_handles(run).into_iter().next() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let reply = tokio::time::timeout(OPERATOR_TIMEOUT, handle.operator(request.clone())).await;
        let said = match reply {
            Ok(Ok(OperatorReply::Started(id))) => {
                run.trace.record(
                    "operator",
                    format!("failover {namespace} -> {to} ({mode:?}) started as {id:?} via {host}"),
                );
                return;
            }
            Ok(Ok(other)) => format!("{other:?}"),
            Ok(Err(stopped)) => stopped.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        run.trace.record(
            "operator",
            format!("failover {namespace} -> {to} attempt {attempt} via {host}: {said}"),
        );
        if !said.starts_with("Unavailable") && said != "no answer" && said != "the node has stopped"
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Follows the registry as the first live node sees it, recording every placement change
/// (active cluster, failover version, state) in the trace and the timeline, until
/// `stop_at`.
pub async fn follow_placements(run: Arc<RunState>, clusters: Vec<String>, stop_at: Duration) {
    let mut last: BTreeMap<String, (String, u64, PlacementState)> = BTreeMap::new();
    let mut round = 0u64;
    loop {
        let now = sim_now().unwrap_or_default();
        if now >= stop_at {
            return;
        }
        round += 1;
        if round.is_multiple_of(4) {
            sample_lag(&run, now).await;
        }
        if let Some((_, handle)) = live_handles(&run).into_iter().next() {
            let registry = Arc::clone(&handle.registry_watch().borrow());
            for placement in registry.placements() {
                let p = &placement.value;
                let seen = (p.active_cluster.to_string(), p.failover_version.0, p.state);
                let ns = p.namespace.to_string();
                if last.get(&ns) == Some(&seen) {
                    continue;
                }
                run.trace.record(
                    "registry",
                    format!("{ns} active {} version {} {}", seen.0, seen.1, seen.2),
                );
                let at_s = now.as_secs_f64();
                for cluster in &clusters {
                    let state = if *cluster == seen.0 {
                        match seen.2 {
                            PlacementState::Active => NamespaceState::Active,
                            PlacementState::Draining => NamespaceState::Draining,
                            PlacementState::Fenced => NamespaceState::Fenced,
                        }
                    } else {
                        NamespaceState::Passive
                    };
                    run.state_changes().push(StateChange {
                        at_s,
                        cluster: cluster.clone(),
                        namespace: ns.clone(),
                        state,
                    });
                }
                last.insert(ns, seen);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Times the scenario's last heal: from `heal_at` until every cluster (its most advanced
/// live node) has applied, of every origin, at least what any node had applied at the heal,
/// i.e. until the backlog the faults built up has been delivered everywhere. Checks every
/// 50 ms until `until`; the figure goes to `caught_up_after_heal` and the trace.
pub async fn time_catch_up(
    run: Arc<RunState>,
    clusters: Vec<String>,
    heal_at: Duration,
    until: Duration,
) {
    let now = sim_now().unwrap_or_default();
    tokio::time::sleep(heal_at.saturating_sub(now)).await;
    let mut backlog: BTreeMap<String, u64> = BTreeMap::new();
    for (_, handle) in live_handles(&run) {
        for (origin, seq) in vv_map(&handle.applied_watch().borrow()) {
            let at_least = backlog.entry(origin).or_default();
            *at_least = (*at_least).max(seq);
        }
    }
    loop {
        let now = sim_now().unwrap_or_default();
        if now >= until {
            run.trace
                .record("sim", "not caught up on the backlog of the last heal");
            return;
        }
        let views = cluster_views(&run, &clusters);
        let caught_up = views.len() == clusters.len()
            && views.values().all(|(_, vv)| {
                backlog
                    .iter()
                    .all(|(origin, seq)| vv.get(origin).copied().unwrap_or(0) >= *seq)
            });
        if caught_up {
            let after = now.saturating_sub(heal_at);
            *lock(&run.caught_up_after_heal) = Some(after);
            run.trace.record(
                "sim",
                format!(
                    "every cluster caught up on the heal's backlog {:.3}s after it",
                    after.as_secs_f64()
                ),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The worst replication lag any cluster leader reports now (leaders measure it on their
/// own clock from their targets' acknowledged VVs, ARCHITECTURE.md "lag").
async fn sample_lag(run: &RunState, now: Duration) {
    let mut worst = Duration::ZERO;
    for (_, handle) in live_handles(run) {
        let status = tokio::time::timeout(Duration::from_millis(200), handle.status()).await;
        if let Ok(Ok(status)) = status {
            for (_, lag) in &status.stream_lags {
                worst = worst.max(lag.seconds);
            }
        }
    }
    run.record_lag(now, worst);
}

/// What the clusters hold at the end.
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    /// Per cluster, per namespace, events in apply order.
    pub held: BTreeMap<String, BTreeMap<String, Vec<HeldEvent>>>,
    /// Per cluster, its version vector.
    pub version_vectors: BTreeMap<String, BTreeMap<String, u64>>,
    /// Emergency promotions' loss reports.
    pub losses: Vec<ReportedLoss>,
    /// Seconds from the end of the writes until every cluster's VV was equal (`None`: never
    /// within the settle time). Traced; the `convergence_after_heal` SLO times the heal
    /// instead ([`time_catch_up`]).
    pub converged_after: Option<Duration>,
    /// Per live node (by host), the nodes its gossip holds alive (by host).
    pub alive_views: BTreeMap<String, BTreeSet<String>>,
    /// Per live node (by host), events its store refused for arriving out of order.
    pub non_contiguous: BTreeMap<String, u64>,
}

fn vv_map(vv: &ClusterVersionVector) -> BTreeMap<String, u64> {
    vv.iter().map(|(c, s)| (c.to_string(), s)).collect()
}

/// The most advanced live node of each cluster and its version vector.
fn cluster_views(
    run: &RunState,
    clusters: &[String],
) -> BTreeMap<String, (NodeHandle, BTreeMap<String, u64>)> {
    let mut views: BTreeMap<String, (NodeHandle, BTreeMap<String, u64>)> = BTreeMap::new();
    for (_, handle) in live_handles(run) {
        let Some(cluster) = handle.cluster().map(ToString::to_string) else {
            continue;
        };
        if !clusters.contains(&cluster) {
            continue;
        }
        let vv = vv_map(&handle.applied_watch().borrow());
        let total: u64 = vv.values().sum();
        let better = views
            .get(&cluster)
            .is_none_or(|(_, theirs)| theirs.values().sum::<u64>() < total);
        if better {
            views.insert(cluster, (handle, vv));
        }
    }
    views
}

/// Waits up to `settle` for every cluster's version vector to be equal, then reads every
/// namespace from the most advanced live node of each cluster, and the failovers' loss
/// reports from the control leader.
pub async fn collect_final_state(
    run: &RunState,
    clusters: &[String],
    namespaces: &[String],
    settle: Duration,
) -> FinalState {
    let started = sim_now().unwrap_or_default();
    let mut state = FinalState::default();
    loop {
        let views = cluster_views(run, clusters);
        let mut vvs = views.values().map(|(_, vv)| vv);
        let first = vvs.next();
        if views.len() == clusters.len() && vvs.all(|vv| Some(vv) == first) {
            state.converged_after = Some(sim_now().unwrap_or_default().saturating_sub(started));
            break;
        }
        if sim_now().unwrap_or_default().saturating_sub(started) >= settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    run.trace.record(
        "sim",
        match state.converged_after {
            Some(after) => format!(
                "converged {:.3}s after the writes stopped",
                after.as_secs_f64()
            ),
            None => "not converged within the settle time".to_owned(),
        },
    );

    for (cluster, (handle, vv)) in cluster_views(run, clusters) {
        let mut per_ns = BTreeMap::new();
        let mut complete = true;
        for ns in namespaces {
            let Ok(id) = NamespaceId::new(ns) else {
                continue;
            };
            let mut after = ClusterVersionVector::new();
            let mut events = Vec::new();
            loop {
                let Ok(read) = handle.read(id.clone(), after.clone(), READ_PAGE).await else {
                    complete = false;
                    break;
                };
                if read.events.is_empty() {
                    break;
                }
                for e in &read.events {
                    after.advance(&e.origin_cluster, e.origin_seq);
                    events.push(HeldEvent {
                        origin: e.origin_cluster.to_string(),
                        seq: e.origin_seq,
                        key: String::from_utf8_lossy(&e.key).into_owned(),
                    });
                }
            }
            per_ns.insert(ns.clone(), events);
        }
        if complete {
            run.trace
                .record("sim", format!("final {cluster} vv {vv:?}"));
            state.held.insert(cluster.clone(), per_ns);
            state.version_vectors.insert(cluster, vv);
        }
    }

    let hosts: BTreeMap<u64, String> = run
        .handles()
        .into_iter()
        .map(|(host, h)| (h.id().0, host))
        .collect();
    for (host, handle) in live_handles(run) {
        let Ok(Ok(status)) = tokio::time::timeout(OPERATOR_TIMEOUT, handle.status()).await else {
            continue;
        };
        let alive = status
            .members
            .iter()
            .filter(|m| m.status == Status::Alive)
            .filter_map(|m| hosts.get(&m.id.0).cloned())
            .collect();
        let refused = status
            .drops
            .iter()
            .filter(|(reason, _)| *reason == NodeDrop::NonContiguousEvent)
            .map(|(_, n)| *n)
            .sum::<u64>();
        if refused > 0 {
            state.non_contiguous.insert(host.clone(), refused);
        }
        state.alive_views.insert(host, alive);
    }

    for (_, handle) in live_handles(run) {
        let reply =
            tokio::time::timeout(OPERATOR_TIMEOUT, handle.operator(OperatorRequest::List)).await;
        if let Ok(Ok(OperatorReply::Failovers(list))) = reply {
            for f in list {
                let loss = f.loss.as_ref().map_or(String::new(), |l| {
                    let last = match (l.open_ended, l.last_seq) {
                        (true, Some(s)) => format!("..={s} (open-ended)"),
                        (true, None) => ".. (open-ended)".into(),
                        (false, Some(s)) => format!("..={s}"),
                        (false, None) => " (nothing)".into(),
                    };
                    format!(
                        ", may lose {}@v{}:{}{last}",
                        l.old_active, l.old_failover_version.0, l.first_seq
                    )
                });
                run.trace.record(
                    "sim",
                    format!(
                        "failover {} {} -> {} {:?} ended {:?}{loss}",
                        f.request.namespace, f.source, f.target, f.request.kind, f.step
                    ),
                );
                if let Some(loss) = f.loss {
                    state.losses.push(ReportedLoss {
                        namespace: f.request.namespace.to_string(),
                        origin: loss.old_active.to_string(),
                        failover_version: loss.old_failover_version.0,
                        first_seq: loss.first_seq,
                        last_seq: loss.last_seq,
                        open_ended: loss.open_ended,
                    });
                }
            }
            break;
        }
    }
    state
}
