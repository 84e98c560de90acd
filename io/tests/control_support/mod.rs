//! An in-memory control backend: three clusters (eu-west active for `orders` and
//! `payments`, us-east and ap-south passive), nine peers, and failovers that advance one
//! step each time someone reads them. Test scaffolding only; the real backend is the node.

#![allow(dead_code)] // Each test crate uses a different part of it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use omnirelay_core::ClusterId;
use omnirelay_io::audit::AuditLog;
use omnirelay_io::control::model::{
    ClusterLag, ClusterState, ClusterView, ClustersSnapshot, FailoverKind, FailoverRequest,
    FailoverStatus, FailoverStep, FailoverSummary, FailoverTrailEntry, FailoverView, Health, Lag,
    LeaderView, LeadershipEvent, NamespaceState, PeerStatus, PeerView, PreflightCheck,
    QuarantinedRange, RemoteHealth, ReplicationHealth, StateDiff, WalPosition, WritesAtRisk,
};
use omnirelay_io::control::{
    self, BackendError, BackendFuture, BearerTokens, Caller, ControlBackend, ControlConfig,
    ControlRole, LeadershipStream,
};
use omnirelay_io::metrics::{Metrics, ReplicationStatusCode};

pub const READ_TOKEN: &str = "read-secret";
pub const OPERATE_TOKEN: &str = "operate-secret";
pub const ADMIN_TOKEN: &str = "admin-secret";
/// Every audit record of these tests carries this time.
pub const NOW_MS: u64 = 1_767_225_600_000;

pub const CLUSTERS: [&str; 3] = ["ap-south", "eu-west", "us-east"];
pub const NAMESPACES: [&str; 2] = ["orders", "payments"];
/// Preflight refuses this cluster as a planned target: its lag is over the threshold.
pub const LAGGING_CLUSTER: &str = "ap-south";

const STEPS: [FailoverStep; 6] = [
    FailoverStep::Preflight,
    FailoverStep::Drain,
    FailoverStep::CatchUp,
    FailoverStep::Promote,
    FailoverStep::Publish,
    FailoverStep::Done,
];

#[derive(Debug)]
struct Mesh {
    revision: u64,
    /// namespace -> (active cluster, failover_version)
    placement: BTreeMap<String, (String, u64)>,
    failovers: Vec<FailoverView>,
    next_id: u64,
    unhealthy: bool,
}

/// The in-memory backend.
#[derive(Debug)]
pub struct TestMesh {
    mesh: Mutex<Mesh>,
    metrics: Metrics,
}

impl TestMesh {
    pub fn new() -> Arc<TestMesh> {
        let placement = NAMESPACES
            .iter()
            .map(|ns| (ns.to_string(), ("eu-west".to_string(), 1)))
            .collect();
        let metrics = Metrics::new(ClusterId::new("eu-west").expect("id")).expect("metrics");
        let peer = ClusterId::new("us-east").expect("id");
        metrics.set_replication_lag(&peer, 0.25, 12);
        metrics.set_replication_status(&peer, ReplicationStatusCode::Healthy);
        Arc::new(TestMesh {
            mesh: Mutex::new(Mesh {
                revision: 7,
                placement,
                failovers: Vec::new(),
                next_id: 1,
                unhealthy: false,
            }),
            metrics,
        })
    }

    fn mesh(&self) -> std::sync::MutexGuard<'_, Mesh> {
        self.mesh.lock().expect("test mesh lock")
    }

    /// Makes `/v1/replication/health` report unhealthy.
    pub fn set_unhealthy(&self) {
        self.mesh().unhealthy = true;
    }

    pub fn revision(&self) -> u64 {
        self.mesh().revision
    }

    pub fn active_of(&self, namespace: &str) -> String {
        self.mesh().placement[namespace].0.clone()
    }

    fn snapshot(mesh: &Mesh) -> ClustersSnapshot {
        let clusters = CLUSTERS
            .iter()
            .enumerate()
            .map(|(i, id)| ClusterView {
                id: id.to_string(),
                region: format!("region-{id}"),
                priority: 100 - i as u32 * 10,
                endpoints: vec![format!("https://{id}-1.example:7443")],
                namespaces: mesh
                    .placement
                    .iter()
                    .map(|(ns, (active, version))| NamespaceState {
                        namespace: ns.clone(),
                        state: if active == id {
                            ClusterState::Active
                        } else {
                            ClusterState::Passive
                        },
                        failover_version: *version,
                    })
                    .collect(),
                lag: CLUSTERS
                    .iter()
                    .filter(|p| *p != id)
                    .map(|p| ClusterLag {
                        peer: p.to_string(),
                        to_peer: Some(lag_between(id, p)),
                        from_peer: Some(lag_between(p, id)),
                    })
                    .collect(),
            })
            .collect();
        ClustersSnapshot {
            registry_revision: mesh.revision,
            clusters,
        }
    }

    /// Moves a running failover one step on; at `done` the registry changes.
    fn advance(mesh: &mut Mesh, index: usize) {
        let Some(view) = mesh.failovers.get_mut(index) else {
            return;
        };
        if view.status != FailoverStatus::Running {
            return;
        }
        let next = STEPS
            .iter()
            .position(|s| *s == view.step)
            .and_then(|i| STEPS.get(i + 1))
            .copied()
            .unwrap_or(FailoverStep::Done);
        view.step = next;
        view.progress_percent = match next {
            FailoverStep::Preflight => 0,
            FailoverStep::Drain => 20,
            FailoverStep::CatchUp => 40,
            FailoverStep::Promote => 60,
            FailoverStep::Publish => 80,
            FailoverStep::Done => 100,
        };
        view.trail.push(FailoverTrailEntry {
            at_unix_ms: NOW_MS,
            step: next,
            detail: "entered".into(),
        });
        if next == FailoverStep::Done {
            let (namespace, target, kind) = (
                view.namespace.clone(),
                view.target_cluster.clone(),
                view.kind,
            );
            let source = view.source_cluster.clone();
            view.status = FailoverStatus::Succeeded;
            view.finished_at_unix_ms = Some(NOW_MS + 1_500);
            let version = mesh.placement.get(&namespace).map_or(1, |p| p.1) + 1;
            let view = &mut mesh.failovers[index];
            view.summary = Some(FailoverSummary {
                duration_ms: 1_500,
                lag_at_promotion: if kind == FailoverKind::Emergency {
                    Lag {
                        entries: 3,
                        seconds: 0.4,
                    }
                } else {
                    Lag {
                        entries: 0,
                        seconds: 0.0,
                    }
                },
                writes_at_risk: (kind == FailoverKind::Emergency).then_some(WritesAtRisk {
                    origin_cluster: source,
                    from_seq: 1001,
                    to_seq: 1003,
                    open_ended: false,
                }),
                failover_version: version,
            });
            mesh.placement.insert(namespace, (target, version));
            mesh.revision += 1;
        }
    }
}

fn lag_between(from: &str, to: &str) -> Lag {
    if to == LAGGING_CLUSTER || from == LAGGING_CLUSTER {
        Lag {
            entries: 50_000,
            seconds: 42.0,
        }
    } else {
        Lag {
            entries: 12,
            seconds: 0.25,
        }
    }
}

fn peers() -> Vec<PeerView> {
    let mut peers = Vec::new();
    for (c, cluster) in CLUSTERS.iter().enumerate() {
        for n in 1..=3u64 {
            let id = c as u64 * 3 + n;
            peers.push(PeerView {
                node: format!("n{id}"),
                cluster: cluster.to_string(),
                region: format!("region-{cluster}"),
                role: if n == 3 { "learner" } else { "voter" }.into(),
                status: if *cluster == "ap-south" && n == 2 {
                    PeerStatus::Suspect
                } else {
                    PeerStatus::Alive
                },
                last_seen_unix_ms: NOW_MS - 200,
                rtt_ms: Some(1.5 + id as f64),
                incarnation: 1,
                metadata: BTreeMap::from([("mesh_version".to_string(), "0.1.0".to_string())]),
            });
        }
    }
    peers
}

fn ready<T: Send + 'static>(value: Result<T, BackendError>) -> BackendFuture<'static, T> {
    Box::pin(async move { value })
}

impl ControlBackend for TestMesh {
    fn clusters(&self) -> BackendFuture<'_, ClustersSnapshot> {
        ready(Ok(TestMesh::snapshot(&self.mesh())))
    }

    fn peers(&self) -> BackendFuture<'_, Vec<PeerView>> {
        ready(Ok(peers()))
    }

    fn leaders(&self) -> BackendFuture<'_, Vec<LeaderView>> {
        ready(Ok(CLUSTERS
            .iter()
            .enumerate()
            .map(|(i, c)| LeaderView {
                cluster: c.to_string(),
                leader: Some(format!("n{}", i * 3 + 1)),
                term: 4,
                fencing_token: 4,
                since_unix_ms: NOW_MS - 60_000,
            })
            .collect()))
    }

    fn leadership_events(&self) -> BackendFuture<'_, LeadershipStream> {
        let events = vec![
            LeadershipEvent {
                cluster: "eu-west".into(),
                leader: None,
                term: 5,
                fencing_token: 4,
                at_unix_ms: NOW_MS,
            },
            LeadershipEvent {
                cluster: "eu-west".into(),
                leader: Some("n2".into()),
                term: 5,
                fencing_token: 5,
                at_unix_ms: NOW_MS + 180,
            },
        ];
        let stream: LeadershipStream = Box::pin(tokio_stream::iter(events));
        ready(Ok(stream))
    }

    fn create_failover<'a>(
        &'a self,
        request: FailoverRequest,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        let mut mesh = self.mesh();
        let result = (|| {
            let (active, _) = mesh
                .placement
                .get(&request.namespace)
                .cloned()
                .ok_or_else(|| BackendError::UnknownNamespace(request.namespace.clone()))?;
            let target = match (&request.target_cluster, request.kind) {
                (Some(t), _) => t.clone(),
                // Failback with no target: back to the home cluster.
                (None, _) => "eu-west".to_string(),
            };
            if !CLUSTERS.contains(&target.as_str()) {
                return Err(BackendError::UnknownCluster(target));
            }
            if target == active {
                return Err(BackendError::Invalid(format!(
                    "{target} is already active for {}",
                    request.namespace
                )));
            }
            if let Some(moving) = mesh
                .failovers
                .iter()
                .find(|f| f.namespace == request.namespace && !f.status.is_terminal())
            {
                return Err(BackendError::AlreadyMoving {
                    namespace: request.namespace.clone(),
                    failover: moving.id.clone(),
                });
            }
            let lag = lag_between(&active, &target);
            let lag_ok = request.kind == FailoverKind::Emergency || lag.entries < 1_000;
            let checks = vec![
                PreflightCheck {
                    name: "target_healthy".into(),
                    passed: true,
                    detail: format!("{target}: 3 of 3 voters alive"),
                },
                PreflightCheck {
                    name: "lag_under_threshold".into(),
                    passed: lag_ok,
                    detail: format!("{} entries behind (threshold 1000)", lag.entries),
                },
            ];
            if !lag_ok {
                return Err(BackendError::PreflightRefused {
                    reason: format!("{target} is {} entries behind {active}", lag.entries),
                    checks,
                });
            }
            let id = format!("fo-{}", mesh.next_id);
            let status = if request.dry_run {
                FailoverStatus::DryRun
            } else if request.approver.is_some() {
                FailoverStatus::AwaitingApproval
            } else {
                FailoverStatus::Running
            };
            let view = FailoverView {
                id,
                kind: request.kind,
                namespace: request.namespace.clone(),
                source_cluster: active,
                target_cluster: target,
                step: FailoverStep::Preflight,
                status,
                progress_percent: 0,
                requested_by: caller.name.clone(),
                ticket: request.ticket.clone(),
                approver: request.approver.clone(),
                approved_by: None,
                force: request.force,
                started_at_unix_ms: NOW_MS,
                finished_at_unix_ms: None,
                preflight: checks,
                trail: vec![FailoverTrailEntry {
                    at_unix_ms: NOW_MS,
                    step: FailoverStep::Preflight,
                    detail: format!("requested by {}", caller.name),
                }],
                summary: None,
                reason: None,
            };
            if !request.dry_run {
                mesh.next_id += 1;
                mesh.failovers.push(view.clone());
            }
            Ok(view)
        })();
        ready(result)
    }

    fn failovers(&self) -> BackendFuture<'_, Vec<FailoverView>> {
        let mut list = self.mesh().failovers.clone();
        list.reverse();
        ready(Ok(list))
    }

    fn failover<'a>(&'a self, id: &'a str) -> BackendFuture<'a, FailoverView> {
        let mut mesh = self.mesh();
        let result = match mesh.failovers.iter().position(|f| f.id == id) {
            Some(index) => {
                TestMesh::advance(&mut mesh, index);
                Ok(mesh.failovers[index].clone())
            }
            None => Err(BackendError::UnknownFailover(id.to_owned())),
        };
        ready(result)
    }

    fn approve_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        let mut mesh = self.mesh();
        let result = match mesh.failovers.iter_mut().find(|f| f.id == id) {
            None => Err(BackendError::UnknownFailover(id.to_owned())),
            Some(f) if f.status != FailoverStatus::AwaitingApproval => Err(BackendError::Conflict(
                format!("{id} is {}, not awaiting approval", f.status.as_str()),
            )),
            Some(f) => {
                f.status = FailoverStatus::Running;
                f.approved_by = Some(caller.name.clone());
                Ok(f.clone())
            }
        };
        ready(result)
    }

    fn cancel_failover<'a>(
        &'a self,
        id: &'a str,
        caller: &'a Caller,
    ) -> BackendFuture<'a, FailoverView> {
        let mut mesh = self.mesh();
        let result = match mesh.failovers.iter_mut().find(|f| f.id == id) {
            None => Err(BackendError::UnknownFailover(id.to_owned())),
            Some(f) if f.status.is_terminal() || f.step >= FailoverStep::Promote => {
                Err(BackendError::Conflict(format!(
                    "{id} is past the point of cancelling ({} at {})",
                    f.status.as_str(),
                    f.step.as_str()
                )))
            }
            Some(f) => {
                f.status = FailoverStatus::Cancelled;
                f.reason = Some(format!("cancelled by {}", caller.name));
                f.finished_at_unix_ms = Some(NOW_MS);
                Ok(f.clone())
            }
        };
        ready(result)
    }

    fn state_diff(&self) -> BackendFuture<'_, StateDiff> {
        ready(Ok(StateDiff {
            quarantined: vec![QuarantinedRange {
                namespace: "orders".into(),
                origin_cluster: "eu-west".into(),
                from_seq: 1001,
                to_seq: 1003,
                failover_version: 1,
            }],
            divergent_namespaces: Vec::new(),
        }))
    }

    fn replication_health(&self) -> BackendFuture<'_, ReplicationHealth> {
        let unhealthy = self.mesh().unhealthy;
        let health = if unhealthy {
            Health::Unhealthy
        } else {
            Health::Healthy
        };
        ready(Ok(ReplicationHealth {
            status: health,
            node: "n4".into(),
            cluster: "eu-west".into(),
            region: "region-eu-west".into(),
            role: "leader".into(),
            wal: WalPosition {
                last_index: 2048,
                commit_index: 2047,
                size_bytes: 1 << 20,
            },
            followers: Vec::new(),
            remotes: vec![RemoteHealth {
                cluster: "us-east".into(),
                lag: Lag {
                    entries: 12,
                    seconds: 0.25,
                },
                health,
            }],
        }))
    }

    fn metrics_text(&self) -> BackendFuture<'_, String> {
        ready(
            self.metrics
                .render()
                .map_err(|e| BackendError::Unavailable(e.to_string())),
        )
    }
}

/// The tokens every test uses.
pub fn tokens() -> BearerTokens {
    BearerTokens::new()
        .with(READ_TOKEN, "reader", ControlRole::Read)
        .with(OPERATE_TOKEN, "operator", ControlRole::Operate)
        .with(ADMIN_TOKEN, "admin", ControlRole::Admin)
}

/// A router over a fresh test mesh, auditing into `dir`.
pub fn router(dir: &std::path::Path) -> (axum::Router, Arc<TestMesh>, Arc<AuditLog>) {
    let mesh = TestMesh::new();
    let audit = Arc::new(AuditLog::open(&dir.join("audit.jsonl")).expect("audit log"));
    let config = ControlConfig::new(mesh.clone(), audit.clone())
        .tokens(tokens())
        .clock(Arc::new(|| NOW_MS));
    (control::router(config), mesh, audit)
}
