//! [`NodeBackend`]: the control API's [`ControlBackend`] over a running node's
//! [`NodeHandle`]. Reads come from one `NodeStatus` snapshot each; failover calls go
//! through `NodeHandle::operator`, which core forwards to the control group's leader.
//!
//! A node keeps, beyond core's state, what it saw go by: each failover's audited steps
//! (emitted on the control leader), the time each leader was elected, and the free-text
//! reason of requests made through it. [`NodeBackend::watch`] records those and appends
//! core's failover audit records to the node's [`AuditLog`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use omnirelay_core::failover::{
    AuditRecord as CoreAudit, FailoverId, FailoverKind as CoreKind, FailoverRequest as CoreRequest,
    FailoverStep as CoreStep,
};
use omnirelay_core::node::{Group, OperatorReply, OperatorRequest};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{Caller, ControlRole};
use super::backend::{BackendError, BackendFuture, ControlBackend, LeadershipStream};
use super::model::{
    ClustersSnapshot, FailoverKind, FailoverRequest, FailoverStatus, FailoverStep, FailoverView,
    Health, LeaderView, LeadershipEvent, PeerView, PreflightCheck, RemoteHealth, ReplicationHealth,
    StateDiff, WalPosition,
};
use super::node_views::{self, LagLimits, RequestNote, TrailStep};
use crate::audit::{AuditLog, AuditOutcome, AuditRecord};
use crate::metrics::{FailoverOutcome, FailoverStateCode, Metrics};
use crate::node::{LeadershipChangeKind, LeadershipNotice, NodeHandle, NodeStatus, NodeStopped};

/// The name leadership of the mesh-wide control group is reported under (not a cluster
/// id: those cannot contain parentheses).
pub const CONTROL_GROUP: &str = "(control)";

/// What this node saw go by, beyond core's state.
#[derive(Debug, Default)]
struct Journal {
    trails: BTreeMap<FailoverId, Vec<TrailStep>>,
    notes: BTreeMap<FailoverId, RequestNote>,
    /// Per group: the leader, its term and when it was learned.
    leaders: BTreeMap<Group, (NodeId, u64, u64)>,
}

/// The control API's view of one running node.
#[derive(Debug, Clone)]
pub struct NodeBackend {
    handle: NodeHandle,
    metrics: Metrics,
    cluster: ClusterId,
    region: String,
    limits: LagLimits,
    journal: Arc<Mutex<Journal>>,
}

fn stopped(_: NodeStopped) -> BackendError {
    BackendError::Unavailable("the node has stopped".to_owned())
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `fo-17` → 17; anything else is malformed (400), not an unknown failover (404).
fn parse_id(id: &str) -> Result<FailoverId, BackendError> {
    id.strip_prefix("fo-")
        .and_then(|n| n.parse().ok())
        .map(FailoverId)
        .ok_or_else(|| {
            BackendError::Invalid(format!("failover id {id:?} is not of the form fo-<number>"))
        })
}

impl NodeBackend {
    /// A backend over `handle`, a node of `cluster` in `region`; streams lagging past
    /// `limits` are reported degraded.
    pub fn new(
        handle: NodeHandle,
        metrics: Metrics,
        region: String,
        limits: LagLimits,
    ) -> NodeBackend {
        NodeBackend {
            handle,
            cluster: metrics.cluster().clone(),
            metrics,
            region,
            limits,
            journal: Arc::new(Mutex::new(Journal::default())),
        }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        // The journal holds plain records: a panic elsewhere leaves them consistent.
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records leadership changes and failover steps until the node stops: metrics,
    /// leaders' election times, failover trails, and one audit line per failover step.
    /// Subscribes before returning, so nothing published after this call is missed.
    pub fn watch(&self, audit: Arc<AuditLog>) -> impl Future<Output = ()> + Send + 'static {
        let mut leadership = self.handle.leadership_events();
        let mut steps = self.handle.audit_events();
        let backend = self.clone();
        async move {
            let mut leadership_open = true;
            let mut steps_open = true;
            while leadership_open || steps_open {
                tokio::select! {
                    notice = leadership.recv(), if leadership_open => match notice {
                        Ok(notice) => backend.record_leadership(&notice),
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => leadership_open = false,
                    },
                    record = steps.recv(), if steps_open => match record {
                        Ok(record) => backend.record_step(&record, &audit).await,
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "control: failover audit records missed");
                        }
                        Err(RecvError::Closed) => steps_open = false,
                    },
                }
            }
        }
    }

    fn record_leadership(&self, notice: &LeadershipNotice) {
        let at_ms = notice.at_unix_nanos / 1_000_000;
        match &notice.change {
            LeadershipChangeKind::Elected {
                leader,
                term,
                election,
            } => {
                if notice.group == Group::Cluster {
                    self.metrics
                        .record_leadership_transition(election.as_secs_f64() * 1000.0);
                }
                self.journal()
                    .leaders
                    .insert(notice.group, (*leader, term.0, at_ms));
            }
            LeadershipChangeKind::SteppedDown { .. } => {}
            LeadershipChangeKind::SplitBrain { .. } => self.metrics.record_split_brain(),
        }
    }

    async fn record_step(&self, record: &CoreAudit, audit: &Arc<AuditLog>) {
        let at_unix_ms = node_views::unix_ms(record.at);
        self.journal()
            .trails
            .entry(record.failover)
            .or_default()
            .push(TrailStep {
                at_unix_ms,
                to: record.to,
                actor: record.actor.clone(),
                reason: record.reason.clone(),
            });
        self.metrics
            .set_failover_state(&record.namespace, state_code(record.to));
        let outcome = match record.to {
            CoreStep::Aborted | CoreStep::RolledBack => AuditOutcome::Failed,
            _ => AuditOutcome::Accepted,
        };
        let line = AuditRecord {
            at_unix_ms,
            who: record.actor.clone(),
            what: format!("failover.step.{}", record.to),
            target: format!("{} {}", record.failover, record.namespace.as_str()),
            outcome,
            reason: Some(match record.from {
                Some(from) => format!("{from} -> {}: {}", record.to, record.reason),
                None => record.reason.clone(),
            }),
        };
        let log = audit.clone();
        match tokio::task::spawn_blocking(move || log.append(&line)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "control: failover audit record not written"),
            Err(err) => tracing::error!(%err, "control: failover audit task failed"),
        }
    }

    async fn status(&self) -> Result<NodeStatus, BackendError> {
        self.handle.status().await.map_err(stopped)
    }

    async fn operator(&self, request: OperatorRequest) -> Result<OperatorReply, BackendError> {
        self.handle.operator(request).await.map_err(stopped)
    }

    async fn show(&self, id: FailoverId) -> Result<FailoverView, BackendError> {
        match self.operator(OperatorRequest::Show { id }).await? {
            OperatorReply::Failover(Some(f)) => Ok(self.view(&f)),
            OperatorReply::Failover(None) => Err(BackendError::UnknownFailover(id.to_string())),
            other => Err(unexpected(other)),
        }
    }

    fn view(&self, f: &omnirelay_core::failover::Failover) -> FailoverView {
        let view = {
            let journal = self.journal();
            let trail = journal.trails.get(&f.id).map_or(&[][..], Vec::as_slice);
            node_views::failover_view(f, trail, journal.notes.get(&f.id))
        };
        if let (Some(summary), Some(outcome)) = (&view.summary, outcome_of(view.status)) {
            // Observed once per failover and node: the first time it is seen finished.
            let first = {
                let mut journal = self.journal();
                let note = journal.notes.entry(f.id).or_default();
                !std::mem::replace(&mut note.observed_finish, true)
            };
            if first {
                self.metrics.observe_failover_duration(
                    &f.request.namespace,
                    outcome,
                    summary.duration_ms as f64 / 1000.0,
                );
            }
        }
        view
    }
}

fn outcome_of(status: FailoverStatus) -> Option<FailoverOutcome> {
    match status {
        FailoverStatus::Succeeded => Some(FailoverOutcome::Succeeded),
        FailoverStatus::Aborted => Some(FailoverOutcome::Aborted),
        FailoverStatus::Cancelled => Some(FailoverOutcome::Cancelled),
        FailoverStatus::Failed => Some(FailoverOutcome::Failed),
        FailoverStatus::DryRun | FailoverStatus::AwaitingApproval | FailoverStatus::Running => None,
    }
}

fn state_code(step: CoreStep) -> FailoverStateCode {
    match step {
        CoreStep::Preflight | CoreStep::AwaitingApproval => FailoverStateCode::Preflight,
        CoreStep::Drain => FailoverStateCode::Drain,
        CoreStep::CatchUp => FailoverStateCode::CatchUp,
        CoreStep::Promote => FailoverStateCode::Promote,
        CoreStep::Publish => FailoverStateCode::Publish,
        CoreStep::Done => FailoverStateCode::Done,
        CoreStep::Aborted | CoreStep::RolledBack => FailoverStateCode::Idle,
    }
}

/// A reply that does not answer the request asked: a bug, reported as unavailable rather
/// than a panic.
fn unexpected(reply: OperatorReply) -> BackendError {
    match reply {
        OperatorReply::Unavailable(why) => BackendError::Unavailable(why),
        OperatorReply::Refused(r) => node_views::refusal(r),
        OperatorReply::Rejected(e) => rejected(e),
        other => BackendError::Unavailable(format!(
            "unexpected answer from the control leader: {other:?}"
        )),
    }
}

fn rejected(e: omnirelay_core::failover::FailoverError) -> BackendError {
    match e {
        omnirelay_core::failover::FailoverError::Unknown(id) => {
            BackendError::UnknownFailover(id.to_string())
        }
        other => BackendError::Conflict(other.to_string()),
    }
}

impl ControlBackend for NodeBackend {
    fn clusters(&self) -> BackendFuture<'_, ClustersSnapshot> {
        Box::pin(async move { Ok(node_views::clusters(&self.status().await?)) })
    }

    fn peers(&self) -> BackendFuture<'_, Vec<PeerView>> {
        Box::pin(async move { Ok(node_views::peers(&self.status().await?, now_unix_ms())) })
    }

    fn leaders(&self) -> BackendFuture<'_, Vec<LeaderView>> {
        Box::pin(async move {
            let status = self.status().await?;
            let journal = self.journal();
            let since = |group: Group, leader: NodeId| {
                journal
                    .leaders
                    .get(&group)
                    .filter(|(l, _, _)| *l == leader)
                    .map_or(0, |(_, _, at)| *at)
            };
            let mut views = Vec::new();
            if let Some(cluster) = &status.cluster {
                let (leader, term) = match status.cluster_leader {
                    Some((leader, term)) => (Some(leader), term.0),
                    None => (None, 0),
                };
                views.push(LeaderView {
                    cluster: cluster.as_str().to_owned(),
                    leader: leader.map(|l| l.to_string()),
                    term,
                    fencing_token: term,
                    since_unix_ms: leader.map_or(0, |l| since(Group::Cluster, l)),
                });
            }
            let control_term = journal
                .leaders
                .get(&Group::Control)
                .filter(|(l, _, _)| Some(*l) == status.control_leader)
                .map_or(0, |(_, term, _)| *term);
            views.push(LeaderView {
                cluster: CONTROL_GROUP.to_owned(),
                leader: status.control_leader.map(|l| l.to_string()),
                term: control_term,
                fencing_token: control_term,
                since_unix_ms: status
                    .control_leader
                    .map_or(0, |l| since(Group::Control, l)),
            });
            Ok(views)
        })
    }

    fn leadership_events(&self) -> BackendFuture<'_, LeadershipStream> {
        let mut notices = self.handle.leadership_events();
        let cluster = self.cluster.as_str().to_owned();
        Box::pin(async move {
            // The stream opens with the leaders as they are now, so a watcher has a starting
            // point (and a quiet mesh still shows something); changes follow. Subscribed
            // above, before this snapshot: a change in between is sent, not lost.
            let current = self.leaders().await?;
            let (tx, rx) = tokio::sync::mpsc::channel(64.max(current.len()));
            for view in current {
                let event = LeadershipEvent {
                    cluster: view.cluster,
                    leader: view.leader,
                    term: view.term,
                    fencing_token: view.fencing_token,
                    at_unix_ms: view.since_unix_ms,
                };
                // The receiver is still ours and the channel has room for every leader.
                let _ = tx.try_send(event);
            }
            tokio::spawn(async move {
                loop {
                    let notice = match notices.recv().await {
                        Ok(notice) => notice,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let name = match notice.group {
                        Group::Cluster => cluster.clone(),
                        Group::Control => CONTROL_GROUP.to_owned(),
                    };
                    let at_unix_ms = notice.at_unix_nanos / 1_000_000;
                    let event = match notice.change {
                        LeadershipChangeKind::Elected { leader, term, .. } => LeadershipEvent {
                            cluster: name,
                            leader: Some(leader.to_string()),
                            term: term.0,
                            fencing_token: term.0,
                            at_unix_ms,
                        },
                        LeadershipChangeKind::SteppedDown { term, .. } => LeadershipEvent {
                            cluster: name,
                            leader: None,
                            term: term.0,
                            fencing_token: term.0,
                            at_unix_ms,
                        },
                        LeadershipChangeKind::SplitBrain { .. } => continue,
                    };
                    // The subscriber went away: stop forwarding.
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            });
            let stream: LeadershipStream =
                Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
            Ok(stream)
        })
    }

    fn create_failover<'a>(
        &'a self,
        request: FailoverRequest,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        Box::pin(async move {
            let namespace = NamespaceId::new(&request.namespace)
                .map_err(|e| BackendError::Invalid(e.to_string()))?;
            let target = request
                .target_cluster
                .as_deref()
                .map(ClusterId::new)
                .transpose()
                .map_err(|e| BackendError::Invalid(e.to_string()))?;
            let kind = match request.kind {
                FailoverKind::Planned => CoreKind::Planned,
                FailoverKind::Emergency => CoreKind::Emergency {
                    force: request.force,
                },
                FailoverKind::Failback => CoreKind::Failback,
                FailoverKind::Migration => CoreKind::Migration,
            };
            // Core records an approver named in the request as an approval at once, and
            // approving needs mesh.admin: from anyone below, the name only says who is
            // expected to approve (through /approve).
            let approval = request
                .approver
                .clone()
                .filter(|_| caller.role >= ControlRole::Admin);
            let core = CoreRequest {
                namespace,
                target,
                kind,
                requested_by: caller.name.clone(),
                ticket: request.ticket.clone(),
                approver: approval,
            };
            let reply = self
                .operator(OperatorRequest::Failover {
                    request: core,
                    dry_run: request.dry_run,
                })
                .await?;
            match reply {
                OperatorReply::Started(id) => {
                    {
                        let mut journal = self.journal();
                        let note = journal.notes.entry(id).or_default();
                        note.reason = request.reason.clone();
                        note.expected_approver = request.approver.clone();
                    }
                    self.show(id).await
                }
                OperatorReply::Plan { source, target } => Ok(dry_run_view(
                    &request,
                    caller,
                    source.as_str(),
                    target.as_str(),
                )),
                other => Err(unexpected(other)),
            }
        })
    }

    fn failovers(&self) -> BackendFuture<'_, Vec<FailoverView>> {
        Box::pin(async move {
            match self.operator(OperatorRequest::List).await? {
                OperatorReply::Failovers(list) => {
                    let mut views: Vec<FailoverView> = list.iter().map(|f| self.view(f)).collect();
                    // Newest first: ids grow with time.
                    views.sort_by_key(|v| std::cmp::Reverse(parse_id(&v.id).map_or(0, |id| id.0)));
                    Ok(views)
                }
                other => Err(unexpected(other)),
            }
        })
    }

    fn failover<'a>(&'a self, id: &'a str) -> BackendFuture<'a, FailoverView> {
        Box::pin(async move { self.show(parse_id(id)?).await })
    }

    fn approve_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        Box::pin(async move {
            let id = parse_id(id)?;
            let request = OperatorRequest::Approve {
                id,
                approver: caller.name.clone(),
            };
            match self.operator(request).await? {
                OperatorReply::Done => self.show(id).await,
                other => Err(unexpected(other)),
            }
        })
    }

    fn cancel_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        Box::pin(async move {
            let id = parse_id(id)?;
            let request = OperatorRequest::Cancel {
                id,
                by: caller.name.clone(),
            };
            match self.operator(request).await? {
                OperatorReply::Done => self.show(id).await,
                other => Err(unexpected(other)),
            }
        })
    }

    fn state_diff(&self) -> BackendFuture<'_, StateDiff> {
        Box::pin(async move { Ok(node_views::state_diff(&self.status().await?)) })
    }

    fn replication_health(&self) -> BackendFuture<'_, ReplicationHealth> {
        Box::pin(async move {
            let status = self.status().await?;
            let remotes: Vec<RemoteHealth> = status
                .stream_lags
                .iter()
                .map(|(peer, lag)| RemoteHealth {
                    cluster: peer.as_str().to_owned(),
                    lag: node_views::lag(*lag),
                    health: self.limits.health(lag),
                })
                .collect();
            let wal = status
                .wal
                .iter()
                .find(|(g, _)| *g == Group::Cluster)
                .or_else(|| status.wal.first())
                .map(|(_, w)| WalPosition {
                    last_index: w.last_index,
                    commit_index: w.durable_index,
                    size_bytes: w.bytes,
                })
                .unwrap_or(WalPosition {
                    last_index: 0,
                    commit_index: 0,
                    size_bytes: 0,
                });
            // A cluster member without a known leader cannot replicate anything.
            let own = if status.cluster.is_some() && status.cluster_leader.is_none() {
                Health::Unhealthy
            } else {
                Health::Healthy
            };
            let worst = remotes.iter().map(|r| r.health).fold(own, Ord::max);
            Ok(ReplicationHealth {
                status: worst,
                node: status.id.to_string(),
                cluster: self.cluster.as_str().to_owned(),
                region: self.region.clone(),
                role: node_views::role_name(status.role).to_owned(),
                wal,
                followers: Vec::new(),
                remotes,
            })
        })
    }

    fn metrics_text(&self) -> BackendFuture<'_, String> {
        Box::pin(async move {
            let status = self.status().await?;
            let limits = self.limits;
            self.metrics
                .render_node_status(&status, |lag| limits.health(lag) != Health::Healthy)
                .map_err(|e| BackendError::Unavailable(e.to_string()))
        })
    }
}

fn dry_run_view(
    request: &FailoverRequest,
    caller: &Caller,
    source: &str,
    target: &str,
) -> FailoverView {
    let now = now_unix_ms();
    FailoverView {
        id: "dry-run".to_owned(),
        kind: request.kind,
        namespace: request.namespace.clone(),
        source_cluster: source.to_owned(),
        target_cluster: target.to_owned(),
        step: FailoverStep::Preflight,
        status: FailoverStatus::DryRun,
        progress_percent: 100,
        requested_by: caller.name.clone(),
        ticket: request.ticket.clone(),
        approver: request.approver.clone(),
        approved_by: None,
        force: request.force,
        started_at_unix_ms: now,
        finished_at_unix_ms: Some(now),
        preflight: vec![PreflightCheck {
            name: "preflight".to_owned(),
            passed: true,
            detail: format!("would move {} from {source} to {target}", request.namespace),
        }],
        trail: Vec::new(),
        summary: None,
        reason: request.reason.clone(),
    }
}
