//! [`LocalMesh`]: three clusters of three `omnirelay node` processes on loopback, in a
//! fresh directory with a freshly minted CA, for `omnirelay demo` and `omnirelay dev up`.
//! Every child is killed when the value is dropped (and on ctrl-c, by the callers' guard).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use omnirelay_core::{ClusterId, NodeId};

use crate::api::client::HttpApiClient;
use crate::control::model::{ClusterState, ClustersSnapshot};
use crate::tls::{Identity, MeshCa, Role, TlsMaterial};

/// The operator certificate the demo acts with (mesh.admin on every node).
pub const OPERATOR: &str = "demo-admin";

/// The namespace the story moves around, active on `us-east` at start.
pub const NAMESPACE: &str = "orders";

/// One node of the local mesh and its ports.
#[derive(Clone, Debug)]
pub struct LocalNode {
    /// Node id (1..=9).
    pub id: u64,
    /// Its cluster.
    pub cluster: &'static str,
    /// Peer transport port.
    pub grpc: u16,
    /// Client API port.
    pub http: u16,
    /// Control API port.
    pub control: u16,
}

/// The clusters, in priority order (the first is preferred as a failover target).
pub const CLUSTERS: [&str; 3] = ["us-east", "eu-west", "ap-south"];

/// The mesh on disk and its running processes.
pub struct LocalMesh {
    dir: PathBuf,
    keep: bool,
    nodes: Vec<LocalNode>,
    children: BTreeMap<u64, Child>,
    exe: PathBuf,
}

impl std::fmt::Debug for LocalMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMesh")
            .field("dir", &self.dir)
            .field("running", &self.children.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn free_port() -> anyhow::Result<u16> {
    super::ports::free_local_port()
        .ok_or_else(|| anyhow::anyhow!("no free loopback port in 20000..32000"))
}

impl LocalMesh {
    /// Mints a CA, node and operator certificates, and one config file per node under
    /// `dir` (a fresh temporary directory when `None`, removed on drop unless `keep`).
    pub fn create(dir: Option<PathBuf>, keep: bool) -> anyhow::Result<LocalMesh> {
        let dir = match dir {
            Some(dir) => dir,
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                std::env::temp_dir().join(format!("omnirelay-demo-{}-{nanos}", std::process::id()))
            }
        };
        std::fs::create_dir_all(dir.join("tls"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut nodes = Vec::new();
        for (i, cluster) in CLUSTERS.iter().enumerate() {
            for j in 1..=3u64 {
                nodes.push(LocalNode {
                    id: i as u64 * 3 + j,
                    cluster,
                    grpc: free_port()?,
                    http: free_port()?,
                    control: free_port()?,
                });
            }
        }
        let ca = MeshCa::generate("omnirelay demo CA")?;
        ca.write(&dir.join("tls"))?;
        let localhost = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let hosts = ["localhost".to_owned()];
        for n in &nodes {
            let identity = Identity::Node {
                node: NodeId(n.id),
                cluster: ClusterId::new(n.cluster)?,
                role: Role::Voter,
            };
            ca.issue(&identity, &hosts, &localhost)?
                .write(&dir.join("tls"), &format!("n{}", n.id))?;
        }
        let operator = Identity::Operator {
            name: ClusterId::new(OPERATOR)?,
        };
        ca.issue(&operator, &hosts, &localhost)?
            .write(&dir.join("tls"), OPERATOR)?;
        let mesh = LocalMesh {
            dir,
            keep,
            nodes,
            children: BTreeMap::new(),
            exe: std::env::current_exe().context("finding the omnirelay binary")?,
        };
        for n in &mesh.nodes {
            std::fs::write(mesh.config_path(n.id), mesh.config_text(n))?;
        }
        Ok(mesh)
    }

    /// The directory holding configs, certificates, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> &[LocalNode] {
        &self.nodes
    }

    /// The nodes of `cluster`.
    pub fn nodes_of(&self, cluster: &str) -> impl Iterator<Item = &LocalNode> + '_ {
        let cluster = cluster.to_owned();
        self.nodes.iter().filter(move |n| n.cluster == cluster)
    }

    /// Node `id`'s config file.
    pub fn config_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("n{id}.toml"))
    }

    /// Node `id`'s log (its stderr).
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("n{id}.log"))
    }

    /// The operator's TLS material (CA, certificate, key).
    pub fn operator_material(&self) -> anyhow::Result<TlsMaterial> {
        let tls = self.dir.join("tls");
        Ok(TlsMaterial::load(
            &tls.join("ca.pem"),
            &tls.join(format!("{OPERATOR}.pem")),
            &tls.join(format!("{OPERATOR}.key")),
        )?)
    }

    /// `https://127.0.0.1:<control port of id><path>`.
    pub fn control_url(&self, id: u64, path: &str) -> String {
        let port = self.node(id).map_or(0, |n| n.control);
        format!("https://127.0.0.1:{port}{path}")
    }

    /// `https://127.0.0.1:<client API port of id><path>`.
    pub fn http_url(&self, id: u64, path: &str) -> String {
        let port = self.node(id).map_or(0, |n| n.http);
        format!("https://127.0.0.1:{port}{path}")
    }

    fn node(&self, id: u64) -> Option<&LocalNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn config_text(&self, n: &LocalNode) -> String {
        let voters: Vec<String> = self
            .nodes_of(n.cluster)
            .map(|m| format!("{{ id = \"n{}\", grpc = \"127.0.0.1:{}\" }}", m.id, m.grpc))
            .collect();
        let mut text = format!(
            r#"# omnirelay demo: node n{id} of cluster {cluster}
[node]
id = "n{id}"
cluster = "{cluster}"
region = "{cluster}"
role = "voter"
data_dir = "data-n{id}"

[listen]
grpc = "127.0.0.1:{grpc}"
http = "127.0.0.1:{http}"
control = "127.0.0.1:{control}"

[tls]
ca = "tls/ca.pem"
cert = "tls/n{id}.pem"
key = "tls/n{id}.key"

[gossip]
profile = "lan"

[consensus]
voters = [{voters}]

[failover]
# A demo moves the same namespace several times in a minute.
cooldown_s = 0

[auto_failover]
enabled = true
detection_window_ms = 1500
inhibit_window_s = 30

[control]
operators = ["{operator}=mesh.admin"]

[mesh]
failover_version_increment = 10
# One control voter per region: any two regions keep the registry's majority.
control_voters = ["n1", "n4", "n7"]
namespaces = [{{ name = "{namespace}", active = "{first}" }}]
"#,
            id = n.id,
            cluster = n.cluster,
            grpc = n.grpc,
            http = n.http,
            control = n.control,
            voters = voters.join(", "),
            operator = OPERATOR,
            namespace = NAMESPACE,
            first = CLUSTERS[0],
        );
        for (i, cluster) in CLUSTERS.iter().enumerate() {
            let _ = write!(
                text,
                "\n[[mesh.clusters]]\nid = \"{cluster}\"\nregion = \"{cluster}\"\npriority = {}\ninitial_failover_version = {}\nnodes = [\n",
                30 - i * 10,
                i + 1
            );
            for m in self.nodes_of(cluster) {
                let _ = writeln!(
                    text,
                    "  {{ id = \"n{}\", grpc = \"127.0.0.1:{}\", http = \"127.0.0.1:{}\" }},",
                    m.id, m.grpc, m.http
                );
            }
            text.push_str("]\n");
        }
        text
    }

    /// Starts node `id` as an `omnirelay node` process (stderr to its log file).
    pub fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        if self.children.contains_key(&id) {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))?;
        let child = Command::new(&self.exe)
            .arg("node")
            .arg("--config")
            .arg(self.config_path(id))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node n{id}"))?;
        self.children.insert(id, child);
        Ok(())
    }

    /// Starts every node of `cluster`.
    pub fn spawn_cluster(&mut self, cluster: &str) -> anyhow::Result<()> {
        let ids: Vec<u64> = self.nodes_of(cluster).map(|n| n.id).collect();
        ids.into_iter().try_for_each(|id| self.spawn(id))
    }

    /// Starts every node.
    pub fn spawn_all(&mut self) -> anyhow::Result<()> {
        CLUSTERS.iter().try_for_each(|c| self.spawn_cluster(c))
    }

    /// `kill -9` of node `id`, waited for.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -9` of every node of `cluster`.
    pub fn kill_cluster(&mut self, cluster: &str) {
        let ids: Vec<u64> = self.nodes_of(cluster).map(|n| n.id).collect();
        for id in ids {
            self.kill(id);
        }
    }

    /// A node that exited by itself, with its status: something went wrong.
    pub fn exited(&mut self) -> Option<(u64, std::process::ExitStatus)> {
        self.children
            .iter_mut()
            .find_map(|(id, child)| child.try_wait().ok().flatten().map(|s| (*id, s)))
    }

    /// Waits until every running node's control API answers and agrees that `NAMESPACE`
    /// is active somewhere.
    pub async fn wait_ready(
        &mut self,
        client: &HttpApiClient,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((id, status)) = self.exited() {
                // The directory (and the log) is removed on exit without --keep: say
                // why here.
                let log = self.log_path(id);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!(
                    "node n{id} exited ({status}); its log: {}; last lines:\n{}",
                    log.display(),
                    tail.join("\n")
                );
            }
            let mut ready = true;
            for id in self.children.keys().copied().collect::<Vec<_>>() {
                let snapshot: Option<ClustersSnapshot> = client
                    .call(
                        hyper::Method::GET,
                        &self.control_url(id, "/control/clusters"),
                        &[],
                        None,
                    )
                    .await
                    .ok()
                    .filter(|r| r.status.is_success())
                    .and_then(|r| r.json().ok());
                let placed = snapshot.is_some_and(|s| {
                    s.clusters.iter().any(|c| {
                        c.namespaces
                            .iter()
                            .any(|n| n.namespace == NAMESPACE && n.state == ClusterState::Active)
                    })
                });
                ready &= placed;
            }
            if ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the mesh was not ready within {timeout:?}; node logs are in {}",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills every node now (the drop does the same), leaving files in place.
    pub fn stop_all(&mut self) {
        let ids: Vec<u64> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
    }
}

impl Drop for LocalMesh {
    fn drop(&mut self) {
        self.stop_all();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
