//! The `omnirelay mesh` CLI against the control API of REAL nodes: an in-process mesh of
//! two clusters x three nodes on loopback (node_support), each node serving its control
//! API on its own port over mutual TLS (`control::serve_control`), operators holding
//! certificates from the mesh CA (issue #7, "Control API" and "CLI";
//! ARCHITECTURE.md, "Planned failover").

mod node_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Output};
use std::time::Duration;

use node_support::{TestMesh, eventually, write, write_accepted};
use omnirelay_io::audit::{AuditLog, AuditOutcome};
use omnirelay_io::control::ControlRole;
use omnirelay_io::control::model::{ClusterState, ClustersSnapshot, FailoverStatus, FailoverView};
use omnirelay_io::node::{NodeHandle, NodeRuntime, RuntimeOptions};
use omnirelay_io::tls::Identity;
use omnirelay_io::transport::TokioNetwork;

const OPERATE_TOKEN: &str = "operate-token-0123456789";

/// One mesh at a time: two would race for the free ports they pick, and share 2 cores.
static ONE_MESH_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The mesh with every node's control API served, and operator certificates on disk.
struct ControlledMesh {
    mesh: TestMesh,
    running: BTreeMap<u64, NodeRuntime>,
    control: BTreeMap<u64, SocketAddr>,
}

impl ControlledMesh {
    async fn start() -> ControlledMesh {
        let mesh = TestMesh::two_clusters_of_three();
        for name in ["ops-admin", "ops-reader", "ops-tokens"] {
            let identity = Identity::Operator {
                name: omnirelay_core::ClusterId::new(name).expect("operator name"),
            };
            mesh.ca
                .issue(&identity, &[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
                .expect("issue operator")
                .write(&mesh.dir.path().join("tls"), name)
                .expect("write operator");
        }
        let mut running = BTreeMap::new();
        let mut control = BTreeMap::new();
        for n in mesh.nodes.clone() {
            let mut loaded = mesh.loaded(n.id);
            let access = &mut loaded.config.control;
            access
                .operators
                .insert("ops-admin".into(), ControlRole::Admin);
            access
                .operators
                .insert("ops-reader".into(), ControlRole::Read);
            // ops-tokens has a certificate but no role: it must bring a token.
            access
                .tokens
                .push(("ci".into(), ControlRole::Operate, OPERATE_TOKEN.into()));
            let options = RuntimeOptions {
                seed: Some(n.id),
                ..RuntimeOptions::default()
            };
            let node = NodeRuntime::start_on(TokioNetwork, loaded.clone(), options)
                .await
                .expect("start node");
            let addr =
                omnirelay_io::control::serve_control(&loaded.config, &loaded.tls, node.handle())
                    .await
                    .expect("serve control");
            control.insert(n.id, addr);
            running.insert(n.id, node);
        }
        ControlledMesh {
            mesh,
            running,
            control,
        }
    }

    fn handles(&self, ids: &[u64]) -> Vec<NodeHandle> {
        ids.iter().map(|id| self.running[id].handle()).collect()
    }

    /// `omnirelay mesh --endpoint https://<node id's control> --ca --cert --key <args>`
    /// run as `operator`, off the runtime's threads.
    async fn cli(&self, node: u64, operator: &str, token: Option<&str>, args: &[&str]) -> Output {
        let tls = self.mesh.dir.path().join("tls");
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
        command
            .arg("mesh")
            .args(["--endpoint", &format!("https://{}", self.control[&node])])
            .arg("--ca")
            .arg(tls.join("ca.pem"))
            .arg("--cert")
            .arg(tls.join(format!("{operator}.pem")))
            .arg("--key")
            .arg(tls.join(format!("{operator}.key")))
            .args(args)
            .env_remove("OMNIRELAY_TOKEN")
            .env_remove("OMNIRELAY_ENDPOINT");
        if let Some(token) = token {
            command.env("OMNIRELAY_TOKEN", token);
        }
        tokio::task::spawn_blocking(move || command.output().expect("run omnirelay"))
            .await
            .expect("cli task")
    }

    async fn clusters(&self, node: u64) -> ClustersSnapshot {
        let out = self
            .cli(
                node,
                "ops-reader",
                None,
                &["--output", "json", "clusters", "list"],
            )
            .await;
        assert_exit(&out, 0);
        serde_json::from_slice(&out.stdout).expect("clusters JSON")
    }

    async fn stop(self) {
        for (_, node) in self.running {
            node.shutdown().await;
        }
    }

    fn audit(&self, node: u64) -> AuditLog {
        AuditLog::open(&self.mesh.data_dir(node).join("audit.jsonl")).expect("audit log")
    }
}

fn active_of(snapshot: &ClustersSnapshot, namespace: &str) -> Option<String> {
    snapshot
        .clusters
        .iter()
        .find(|c| {
            c.namespaces
                .iter()
                .any(|n| n.namespace == namespace && n.state == ClusterState::Active)
        })
        .map(|c| c.id.clone())
}

#[track_caller]
fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_promote_through_the_cli_moves_the_namespace_and_reports_zero_writes_at_risk() {
    let _serial = ONE_MESH_AT_A_TIME.lock().await;
    let m = ControlledMesh::start().await;
    let a = m.handles(&[1, 2, 3]);
    for i in 0..20 {
        write_accepted(&a, write("orders", &format!("k{i}"), "before")).await;
    }
    // n5 neither leads cluster a nor (usually) the control group: the CLI's calls are
    // forwarded by core to the control leader.
    let before = eventually(
        "n5 to know the placement",
        Duration::from_secs(20),
        || async {
            let snapshot = m.clusters(5).await;
            (active_of(&snapshot, "orders").as_deref() == Some("a")).then_some(snapshot)
        },
    )
    .await;

    // Preflight needs a lag report from a to b; retry while the mesh settles.
    let view: FailoverView = eventually(
        "the promote to succeed",
        Duration::from_secs(60),
        || async {
            let out = m
                .cli(
                    5,
                    "ops-admin",
                    None,
                    &[
                        "--output",
                        "json",
                        "clusters",
                        "promote",
                        "--namespace",
                        "orders",
                        "--to",
                        "b",
                        "--ticket",
                        "CHG-1",
                        "--poll-interval-ms",
                        "50",
                    ],
                )
                .await;
            match out.status.code() {
                Some(0) => Some(serde_json::from_slice(&out.stdout).expect("failover JSON")),
                Some(1) => None,
                _ => {
                    assert_exit(&out, 0);
                    None
                }
            }
        },
    )
    .await;
    assert_eq!(view.status, FailoverStatus::Succeeded);
    let summary = view
        .summary
        .as_ref()
        .expect("a finished failover has a summary");
    assert_eq!(summary.writes_at_risk, None, "planned failover: zero loss");
    assert_eq!(summary.lag_at_promotion.entries, 0);
    assert_eq!(view.ticket.as_deref(), Some("CHG-1"));
    assert_eq!(view.requested_by, "cert:ops-admin");

    // `failovers show` on another node reads the same failover from the control leader.
    let out = m
        .cli(
            2,
            "ops-reader",
            None,
            &["--output", "json", "failovers", "show", &view.id],
        )
        .await;
    assert_exit(&out, 0);
    let shown: FailoverView = serde_json::from_slice(&out.stdout).expect("show JSON");
    assert_eq!(shown.status, FailoverStatus::Succeeded);
    assert_eq!(shown.target_cluster, "b");

    let after = eventually("b active everywhere", Duration::from_secs(20), || async {
        let snapshot = m.clusters(1).await;
        (active_of(&snapshot, "orders").as_deref() == Some("b")).then_some(snapshot)
    })
    .await;
    assert!(after.registry_revision > before.registry_revision);

    // Every write acknowledged before the move is readable on the new active.
    let b = m.handles(&[4, 5, 6]);
    let read = b[0]
        .read(
            omnirelay_core::NamespaceId::new("orders").unwrap(),
            Default::default(),
            1000,
        )
        .await
        .expect("read");
    assert_eq!(read.events.len(), 20, "no acknowledged write lost");

    // The control leader appended the failover's steps to its audit log.
    let steps: usize = (1..=6)
        .map(|id| {
            m.audit(id)
                .read(0, 10_000)
                .expect("audit")
                .records
                .iter()
                .filter(|r| r.what == "failover.step.done" && r.target.starts_with(&view.id))
                .count()
        })
        .sum();
    assert!(
        steps >= 1,
        "a failover.step.done audit line for {}",
        view.id
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_promotes_exit_1_and_leave_the_registry_unchanged() {
    let _serial = ONE_MESH_AT_A_TIME.lock().await;
    let m = ControlledMesh::start().await;
    let a = m.handles(&[1, 2, 3]);
    write_accepted(&a, write("orders", "k", "v")).await;
    // The registry reaches n4 by the control group's broadcast.
    let before = eventually(
        "n4 to know the placement",
        Duration::from_secs(20),
        || async {
            let snapshot = m.clusters(4).await;
            (active_of(&snapshot, "orders").as_deref() == Some("a")).then_some(snapshot)
        },
    )
    .await;

    // Preflight refuses a promotion to the cluster that is already active.
    let out = m
        .cli(
            4,
            "ops-admin",
            None,
            &["clusters", "promote", "--namespace", "orders", "--to", "a"],
        )
        .await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already active"), "stderr: {stderr}");

    // A reader may list but not promote: 403, audited as refused.
    let out = m
        .cli(
            4,
            "ops-reader",
            None,
            &["clusters", "promote", "--namespace", "orders", "--to", "b"],
        )
        .await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mesh.operate"), "stderr: {stderr}");
    let refused = m
        .audit(4)
        .read(0, 1000)
        .expect("audit")
        .records
        .into_iter()
        .any(|r| r.who == "cert:ops-reader" && r.outcome == AuditOutcome::Refused);
    assert!(refused, "the RBAC refusal is in the audit log");

    // A certificate without a role gets nothing without a token...
    let out = m.cli(4, "ops-tokens", None, &["clusters", "list"]).await;
    assert_exit(&out, 1);
    // ...and what its token grants with one.
    let out = m
        .cli(4, "ops-tokens", Some(OPERATE_TOKEN), &["clusters", "list"])
        .await;
    assert_exit(&out, 0);

    // An unknown namespace is a refusal naming it.
    let out = m
        .cli(
            4,
            "ops-admin",
            None,
            &["clusters", "promote", "--namespace", "nope", "--to", "b"],
        )
        .await;
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));

    let after = m.clusters(4).await;
    assert_eq!(active_of(&after, "orders").as_deref(), Some("a"));
    assert_eq!(after.registry_revision, before.registry_revision);

    // Nothing was quarantined on a healthy mesh.
    let out = m
        .cli(
            1,
            "ops-reader",
            None,
            &["--output", "json", "failovers", "list"],
        )
        .await;
    assert_exit(&out, 0);
    m.stop().await;
}
