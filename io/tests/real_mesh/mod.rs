//! A REAL mesh with every node's control API served (`control::serve_control`, mutual TLS),
//! operator certificates for each role and bearer tokens for each role; and ONE such mesh
//! shared by every test of a file ([`shared`]): starting one costs seconds on two shared
//! cores. Tests that change something use their own namespace, so they do not interfere.
//!
//! Needs `mod node_support;` next to `mod real_mesh;` in the test file.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use omnirelay_io::audit::{AuditLog, AuditRecord};
use omnirelay_io::control::ControlRole;
use omnirelay_io::control::model::{ClusterState, ClustersSnapshot, ErrorBody, NamespaceState};
use omnirelay_io::node::{NodeHandle, NodeRuntime, RuntimeOptions};
use omnirelay_io::tls::Identity;
use omnirelay_io::transport::TokioNetwork;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::node_support::{TestMesh, eventually};

/// Bearer tokens, one per role; callers present them with the role-less certificate.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const OPERATE_TOKEN: &str = "operate-token-0123456789";
pub const READ_TOKEN: &str = "read-token-0123456789";

/// Who calls: the operator certificate presented (the control API requires one at the TLS
/// handshake) and, optionally, a bearer token.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    pub cert: &'static str,
    pub token: Option<&'static str>,
}

/// Certificate `ops-admin`: mesh.admin.
pub const ADMIN: Who = Who {
    cert: "ops-admin",
    token: None,
};
/// Certificate `ops-operate`: mesh.operate.
pub const OPERATE: Who = Who {
    cert: "ops-operate",
    token: None,
};
/// Certificate `ops-reader`: mesh.read.
pub const READ: Who = Who {
    cert: "ops-reader",
    token: None,
};
/// Certificate `ops-norole`: signed by the mesh CA but granted no role; no token.
pub const NO_CREDENTIAL: Who = Who {
    cert: "ops-norole",
    token: None,
};

/// The role-less certificate with `token`.
pub fn token(token: &'static str) -> Who {
    Who {
        cert: "ops-norole",
        token: Some(token),
    }
}

/// A reply read in full.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: status {} body {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The JSON error body every refusal carries.
    #[track_caller]
    pub fn error(&self) -> ErrorBody {
        self.json()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The mesh with every node's control API served, and operator certificates on disk.
pub struct ControlledMesh {
    pub mesh: TestMesh,
    pub running: BTreeMap<u64, NodeRuntime>,
    pub control: BTreeMap<u64, SocketAddr>,
}

impl ControlledMesh {
    /// Two clusters of three (n1..n3 in `a`, n4..n6 in `b`) with `namespaces` (name,
    /// initially active cluster) besides `orders` on `a`. Failover policy: a change ticket
    /// and an approval required (an `approver` given with the request by mesh.admin counts
    /// as one), no cooldown, so one namespace may move and move back within a test.
    pub async fn start(namespaces: &[(&str, &'static str)], parent: Option<PathBuf>) -> Self {
        ControlledMesh::start_with_policy(namespaces, parent, |_| {}).await
    }

    /// [`start`](Self::start), then `policy` changes every node's failover policy (which
    /// also holds the lag limits health is judged by).
    pub async fn start_with_policy(
        namespaces: &[(&str, &'static str)],
        parent: Option<PathBuf>,
        policy: impl Fn(&mut omnirelay_core::failover::FailoverPolicy),
    ) -> Self {
        let mut mesh = match parent {
            Some(parent) => TestMesh::two_clusters_of_three_in(&parent),
            None => TestMesh::two_clusters_of_three(),
        };
        mesh.namespaces
            .extend(namespaces.iter().map(|(n, c)| ((*n).to_owned(), *c)));
        for name in ["ops-admin", "ops-operate", "ops-reader", "ops-norole"] {
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
            loaded.config.failover.require_approval = true;
            loaded.config.failover.require_ticket = true;
            loaded.config.failover.cooldown = Duration::ZERO;
            policy(&mut loaded.config.failover);
            let access = &mut loaded.config.control;
            for (cert, role) in [
                ("ops-admin", ControlRole::Admin),
                ("ops-operate", ControlRole::Operate),
                ("ops-reader", ControlRole::Read),
            ] {
                access.operators.insert(cert.into(), role);
            }
            // ops-norole has a certificate but no role: it must bring a token.
            for (name, role, token) in [
                ("ci-admin", ControlRole::Admin, ADMIN_TOKEN),
                ("ci-operate", ControlRole::Operate, OPERATE_TOKEN),
                ("ci-read", ControlRole::Read, READ_TOKEN),
            ] {
                access.tokens.push((name.into(), role, token.into()));
            }
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

    pub fn handles(&self, ids: &[u64]) -> Vec<NodeHandle> {
        ids.iter().map(|id| self.running[id].handle()).collect()
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.mesh.dir.path().join("tls")
    }

    /// `omnirelay mesh --endpoint https://<node's control> --ca --cert --key <args>` as
    /// `who`, not yet run.
    pub fn cli_command(&self, node: u64, who: Who, args: &[&str]) -> Command {
        let tls = self.tls_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
        command
            .arg("mesh")
            .args(["--endpoint", &format!("https://{}", self.control[&node])])
            .arg("--ca")
            .arg(tls.join("ca.pem"))
            .arg("--cert")
            .arg(tls.join(format!("{}.pem", who.cert)))
            .arg("--key")
            .arg(tls.join(format!("{}.key", who.cert)))
            .args(args)
            .env_remove("OMNIRELAY_TOKEN")
            .env_remove("OMNIRELAY_ENDPOINT");
        if let Some(token) = who.token {
            command.env("OMNIRELAY_TOKEN", token);
        }
        command
    }

    /// Runs the CLI off the runtime's threads and waits for it.
    pub async fn cli(&self, node: u64, who: Who, args: &[&str]) -> Output {
        let mut command = self.cli_command(node, who, args);
        tokio::task::spawn_blocking(move || command.output().expect("run omnirelay"))
            .await
            .expect("cli task")
    }

    fn client_config(&self, cert: &str) -> Arc<rustls::ClientConfig> {
        let tls = self.tls_dir();
        let mut roots = rustls::RootCertStore::empty();
        for der in CertificateDer::pem_file_iter(tls.join("ca.pem")).expect("ca.pem") {
            roots.add(der.expect("CA certificate")).expect("add CA");
        }
        let chain = CertificateDer::pem_file_iter(tls.join(format!("{cert}.pem")))
            .expect("certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate chain");
        let key = PrivateKeyDer::from_pem_file(tls.join(format!("{cert}.key"))).expect("key");
        let mut config = rustls::ClientConfig::builder_with_provider(omnirelay_io::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Sends one HTTP/1.1 request over mutual TLS to `node`'s control API as `who`, with
    /// extra `headers`; returns the response with its body still streaming (for SSE).
    pub async fn open(
        &self,
        node: u64,
        who: Who,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response<Incoming> {
        let addr = self.control[&node];
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the control API");
        let connector = tokio_rustls::TlsConnector::from(self.client_config(who.cert));
        let name = ServerName::IpAddress(addr.ip().into());
        let stream = connector.connect(name, tcp).await.expect("TLS handshake");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, addr.to_string());
        if let Some(token) = who.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        sender.send_request(request).await.expect("response")
    }

    /// [`open`](Self::open), reading the whole body.
    pub async fn call(
        &self,
        node: u64,
        who: Who,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let response = self.open(node, who, method, path, headers, body).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, node: u64, who: Who, path: &str) -> Reply {
        self.call(node, who, Method::GET, path, &[], None).await
    }

    pub async fn post(&self, node: u64, who: Who, path: &str, body: serde_json::Value) -> Reply {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.call(node, who, Method::POST, path, &[], Some(bytes))
            .await
    }

    pub async fn clusters(&self, node: u64) -> ClustersSnapshot {
        let reply = self.get(node, READ, "/control/clusters").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    /// The audit log node `id` wrote (its own file, read directly).
    pub fn audit(&self, id: u64) -> Vec<AuditRecord> {
        AuditLog::open(&self.mesh.data_dir(id).join("audit.jsonl"))
            .expect("audit log")
            .read(0, 100_000)
            .expect("audit read")
            .records
    }

    pub async fn stop(self) {
        for (_, node) in self.running {
            node.shutdown().await;
        }
    }
}

/// The cluster active for `namespace` in `snapshot`.
pub fn active_of(snapshot: &ClustersSnapshot, namespace: &str) -> Option<String> {
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

/// `namespace`'s state on every cluster, in cluster order.
pub fn placement_of(snapshot: &ClustersSnapshot, namespace: &str) -> Vec<NamespaceState> {
    snapshot
        .clusters
        .iter()
        .flat_map(|c| c.namespaces.iter().filter(|n| n.namespace == namespace))
        .cloned()
        .collect()
}

#[track_caller]
pub fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shared mesh and the runtime its nodes run on. The runtime lives in a static, so it
/// outlives each test (a `#[tokio::test]` runtime would take the nodes down with it).
pub struct Shared {
    runtime: tokio::runtime::Runtime,
    pub mesh: ControlledMesh,
}

impl Shared {
    /// Runs `future` to completion on the mesh's runtime (from a plain `#[test]`).
    pub fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// The namespaces of the shared mesh: one per test that moves one, all active on `a`
/// except `home-b` (on `b`, so that the lag b -> a is known before any test starts).
pub const SHARED_NAMESPACES: &[(&str, &str)] = &[
    ("home-b", "b"),
    ("r-etag", "a"),
    ("r-planned", "a"),
    ("r-approve", "a"),
    ("r-cancel", "a"),
    ("r-emergency", "a"),
    ("r-forced", "a"),
    ("r-quarantine", "a"),
    ("r-migrate", "a"),
    ("r-dry", "a"),
    ("r-refused", "a"),
    ("c-promote", "a"),
    ("c-dry", "a"),
    ("c-emergency", "a"),
    ("c-approve", "a"),
    ("c-cancel", "a"),
    ("c-migrate", "a"),
    ("c-refused", "a"),
];

/// The one mesh of this test process, started (and settled) on first use. If starting it
/// fails, that test reports why and every later one fails at once (no second attempt).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    static FAILED: AtomicBool = AtomicBool::new(false);
    SHARED.get_or_init(|| {
        assert!(
            !FAILED.swap(true, Ordering::SeqCst),
            "the shared mesh failed to start: see the first failing test"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("mesh runtime");
        let mesh = runtime.block_on(async {
            let mesh = ControlledMesh::start(SHARED_NAMESPACES, Some(mesh_parent())).await;
            settle(&mesh).await;
            mesh
        });
        FAILED.store(false, Ordering::SeqCst);
        Shared { runtime, mesh }
    })
}

/// A static is never dropped, so neither is the shared mesh's directory: keep it under the
/// target directory, one per process, and remove those of processes that have ended.
fn mesh_parent() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("real_mesh");
    let proc_fs = std::path::Path::new("/proc/self").exists();
    if let (true, Ok(entries)) = (proc_fs, std::fs::read_dir(&root)) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_string_lossy()
                .strip_prefix("pid-")
                .map(str::to_owned);
            if pid.is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let parent = root.join(format!("pid-{}", std::process::id()));
    std::fs::create_dir_all(&parent).expect("mesh parent directory");
    parent
}

/// [`settle_for`] both ways (a -> b and b -> a: the control leader has both lag reports).
async fn settle(mesh: &ControlledMesh) {
    settle_for(mesh, &[("orders", "b"), ("home-b", "a")]).await;
}

/// Waits until every node knows both clusters and every namespace's active cluster, and a
/// dry run of moving each `(namespace, to)` passes preflight.
pub async fn settle_for(mesh: &ControlledMesh, moves: &[(&str, &str)]) {
    for id in mesh.control.keys() {
        eventually(
            "the registry to reach every node",
            Duration::from_secs(60),
            || async {
                let snapshot = mesh.clusters(*id).await;
                let complete = snapshot.clusters.len() == 2
                    && mesh
                        .mesh
                        .namespaces
                        .iter()
                        .all(|(n, c)| active_of(&snapshot, n).as_deref() == Some(*c));
                complete.then_some(())
            },
        )
        .await;
    }
    for &(namespace, to) in moves {
        eventually(
            "preflight to pass on the mesh",
            Duration::from_secs(60),
            || async {
                let reply = mesh
                    .post(
                        1,
                        ADMIN,
                        "/control/failovers",
                        serde_json::json!({
                            "kind": "planned", "namespace": namespace,
                            "target_cluster": to, "dry_run": true, "ticket": "CHG-0",
                        }),
                    )
                    .await;
                (reply.status == StatusCode::OK).then_some(())
            },
        )
        .await;
    }
}
