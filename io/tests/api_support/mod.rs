//! Shared by the client API tests: two clusters of three in-process nodes on loopback
//! (`a` active for `orders`), each serving its client API on its own `listen.http` with the
//! node's certificate, plus an application's certificate for the clients.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use omnirelay_core::consensus::RoleKind;
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::api::ClientApi;
use omnirelay_io::api::client::HttpApiClient;
use omnirelay_io::config;
use omnirelay_io::node::{NodeHandle, NodeRuntime, RuntimeOptions};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{ClientSettings, Dialer, MeshChannel, TokioNetwork};
use omnirelay_proto::v1::client_api_client::ClientApiClient;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Payloads over this many bytes are refused (small, so the test can exceed it).
pub const MAX_PAYLOAD: usize = 1024;
/// Bodies over this many bytes are refused.
pub const MAX_BODY: usize = 16 * 1024;

/// A loopback port below the ephemeral range (see `free_local_port`).
pub fn free_port() -> u16 {
    omnirelay_io::cli::dev::ports::free_local_port().expect("a free loopback port")
}

/// One node of the test mesh and where it listens.
#[derive(Clone, Debug)]
pub struct Spec {
    pub id: u64,
    pub cluster: &'static str,
    pub grpc: u16,
    pub http: u16,
}

/// A running node and its client API.
pub struct Running {
    pub node: NodeRuntime,
    stop_api: oneshot::Sender<()>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The test mesh.
pub struct ApiMesh {
    pub dir: TempDir,
    pub specs: Vec<Spec>,
    pub running: BTreeMap<u64, Running>,
}

fn issue(ca: &MeshCa, dir: &std::path::Path, identity: &Identity, stem: &str) {
    ca.issue(
        identity,
        &["localhost".to_owned()],
        &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
    )
    .expect("issue")
    .write(dir, stem)
    .expect("write cert");
}

impl ApiMesh {
    /// Issues certificates, writes configs and starts all six nodes with their APIs.
    pub async fn start() -> ApiMesh {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = dir.path().join("tls");
        let ca = MeshCa::generate("api test CA").expect("CA");
        ca.write(&tls).expect("write CA");
        let specs: Vec<Spec> = (1..=6)
            .map(|id| Spec {
                id,
                cluster: if id <= 3 { "a" } else { "b" },
                grpc: free_port(),
                http: free_port(),
            })
            .collect();
        for s in &specs {
            let identity = Identity::Node {
                node: NodeId(s.id),
                cluster: ClusterId::new(s.cluster).expect("cluster"),
                role: Role::Voter,
            };
            issue(&ca, &tls, &identity, &format!("n{}", s.id));
        }
        let app = Identity::Operator {
            name: ClusterId::new("app").expect("name"),
        };
        issue(&ca, &tls, &app, "app");
        let mut mesh = ApiMesh {
            dir,
            specs,
            running: BTreeMap::new(),
        };
        for id in 1..=6 {
            let running = mesh.start_node(id).await;
            mesh.running.insert(id, running);
        }
        mesh
    }

    fn spec(&self, id: u64) -> &Spec {
        self.specs.iter().find(|s| s.id == id).expect("node")
    }

    fn config_text(&self, id: u64) -> String {
        let n = self.spec(id);
        let voters: Vec<String> = self
            .specs
            .iter()
            .filter(|m| m.cluster == n.cluster)
            .map(|m| format!("{{ id = \"n{}\", grpc = \"127.0.0.1:{}\" }}", m.id, m.grpc))
            .collect();
        let mut mesh = String::from(
            "[mesh]\nfailover_version_increment = 10\ncontrol_voters = [\"n1\", \"n2\", \"n4\"]\nnamespaces = [{ name = \"orders\", active = \"a\" }]\n",
        );
        for (i, cluster) in ["a", "b"].iter().enumerate() {
            mesh += &format!(
                "\n[[mesh.clusters]]\nid = \"{cluster}\"\nregion = \"region-{cluster}\"\npriority = {}\ninitial_failover_version = {}\nnodes = [\n",
                2 - i,
                i + 1
            );
            for m in self.specs.iter().filter(|m| m.cluster == *cluster) {
                mesh += &format!(
                    "  {{ id = \"n{}\", grpc = \"127.0.0.1:{}\", http = \"127.0.0.1:{}\" }},\n",
                    m.id, m.grpc, m.http
                );
            }
            mesh += "]\n";
        }
        format!(
            r#"
[node]
id = "n{id}"
cluster = "{cluster}"
region = "region-{cluster}"
data_dir = "data-n{id}"

[listen]
grpc = "127.0.0.1:{grpc}"
http = "127.0.0.1:{http}"
control = "127.0.0.1:0"

[tls]
ca = "tls/ca.pem"
cert = "tls/n{id}.pem"
key = "tls/n{id}.key"

[gossip]
profile = "lan"

[consensus]
voters = [{voters}]

[api]
max_body_bytes = {MAX_BODY}
max_payload_bytes = {MAX_PAYLOAD}

{mesh}"#,
            cluster = n.cluster,
            grpc = n.grpc,
            http = n.http,
            voters = voters.join(", "),
        )
    }

    async fn start_node(&self, id: u64) -> Running {
        let loaded = config::parse(
            &self.config_text(id),
            &format!("n{id}.toml"),
            self.dir.path(),
            &BTreeMap::new(),
        )
        .unwrap_or_else(|e| panic!("config of n{id}: {e}"));
        let (config, tls) = (loaded.config.clone(), loaded.tls.clone());
        let options = RuntimeOptions {
            seed: Some(id),
            ..RuntimeOptions::default()
        };
        let node = NodeRuntime::start_on(TokioNetwork, loaded, options)
            .await
            .unwrap_or_else(|e| panic!("start n{id}: {e}"));
        let api = ClientApi::new(node.handle(), &config, &tls).expect("client API");
        let listener = ClientApi::bind(config.listen.http)
            .await
            .expect("bind http");
        let (stop_api, stopped) = oneshot::channel::<()>();
        let api = tokio::spawn(api.serve(listener, async move {
            let _ = stopped.await;
        }));
        Running {
            node,
            stop_api,
            api,
        }
    }

    /// Stops every node and API.
    pub async fn stop(self) {
        for (_, r) in self.running {
            let _ = r.stop_api.send(());
            let _ = r.api.await;
            r.node.shutdown().await;
        }
    }

    pub fn handle(&self, id: u64) -> NodeHandle {
        self.running[&id].node.handle()
    }

    /// `https://127.0.0.1:<http>` of node `id`.
    pub fn endpoint(&self, id: u64) -> String {
        format!("https://127.0.0.1:{}", self.spec(id).http)
    }

    /// The events URL of `namespace` on node `id`.
    pub fn events_url(&self, id: u64, namespace: &str) -> String {
        format!("{}/v1/namespaces/{namespace}/events", self.endpoint(id))
    }

    pub fn material(&self, stem: &str) -> TlsMaterial {
        let tls = self.dir.path().join("tls");
        TlsMaterial::load(
            &tls.join("ca.pem"),
            &tls.join(format!("{stem}.pem")),
            &tls.join(format!("{stem}.key")),
        )
        .expect("load material")
    }

    /// An application's HTTP client (certificate `app` of the mesh CA).
    pub fn http(&self) -> HttpApiClient {
        HttpApiClient::new(&self.material("app")).expect("client")
    }

    /// An application's gRPC client of node `id`.
    pub async fn grpc(&self, id: u64) -> ClientApiClient<MeshChannel> {
        let dialer = Dialer::new(
            TokioNetwork,
            &self.material("app"),
            ClientSettings::default(),
        )
        .expect("dialer");
        let channel = dialer
            .connect(&format!("127.0.0.1:{}", self.spec(id).http))
            .await
            .expect("connect");
        ClientApiClient::new(channel)
    }

    /// Waits until cluster `cluster`'s nodes agree on a leader and every node of the mesh
    /// has the registry (the mesh is ready for client traffic).
    pub async fn settled(&self) {
        for cluster in ["a", "b"] {
            let ids: Vec<u64> = self
                .specs
                .iter()
                .filter(|s| s.cluster == cluster)
                .map(|s| s.id)
                .collect();
            eventually("a leader known by its whole cluster", || async {
                let mut leaders = Vec::new();
                for id in &ids {
                    let status = self.handle(*id).status().await.ok()?;
                    leaders.push(status.cluster_leader.map(|(l, _)| l)?);
                }
                leaders.windows(2).all(|w| w[0] == w[1]).then_some(())
            })
            .await;
        }
        eventually("the registry on every node", || async {
            for id in 1..=6 {
                let registry = self.handle(id).registry_watch().borrow().clone();
                registry.placement(&omnirelay_core::NamespaceId::new("orders").ok()?)?;
            }
            Some(())
        })
        .await;
    }

    /// A node of cluster `cluster` that does not lead it.
    pub async fn follower_of(&self, cluster: &str) -> u64 {
        let ids: Vec<u64> = self
            .specs
            .iter()
            .filter(|s| s.cluster == cluster)
            .map(|s| s.id)
            .collect();
        eventually("a follower", || async {
            for id in &ids {
                let status = self.handle(*id).status().await.ok()?;
                if status.role == Some(RoleKind::Follower) {
                    return Some(*id);
                }
            }
            None
        })
        .await
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what` after 30 s
/// (a liveness bound for a slow CI machine, not a speed assertion).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
