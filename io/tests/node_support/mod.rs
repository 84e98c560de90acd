//! Shared by the node runtime tests: a mesh of in-process nodes on loopback, each with a
//! freshly issued certificate, a config file's text parsed like the binary parses it, and
//! its own data directory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use omnirelay_core::consensus::RoleKind;
use omnirelay_core::node::{ClientWrite, WriteOutcome};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use omnirelay_io::config;
use omnirelay_io::node::{NodeHandle, NodeRuntime, RuntimeOptions};
use omnirelay_io::tls::{Identity, MeshCa, Role};
use omnirelay_io::transport::TokioNetwork;
use tempfile::TempDir;

/// One node of the test mesh.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: u64,
    pub cluster: &'static str,
    pub grpc_port: u16,
}

/// A mesh of clusters `a` (n1..n3, active for `orders`) and `b` (n4..n6).
pub struct TestMesh {
    pub dir: TempDir,
    pub ca: MeshCa,
    pub nodes: Vec<NodeSpec>,
    /// Node 7, a control voter outside every cluster, when the mesh has one.
    pub witness: Option<NodeSpec>,
    pub control_voters: Vec<u64>,
    /// Namespaces and their initially active cluster; `orders` on `a` unless a test adds more.
    pub namespaces: Vec<(String, &'static str)>,
}

/// A loopback port below the ephemeral range (see `free_local_port`).
pub fn free_port() -> u16 {
    omnirelay_io::cli::dev::ports::free_local_port().expect("a free loopback port")
}

impl TestMesh {
    pub fn two_clusters_of_three() -> TestMesh {
        TestMesh::two_clusters_of_three_in(&std::env::temp_dir())
    }

    /// [`two_clusters_of_three`](Self::two_clusters_of_three) in a fresh directory under
    /// `parent`.
    pub fn two_clusters_of_three_in(parent: &std::path::Path) -> TestMesh {
        let dir = tempfile::tempdir_in(parent).expect("tempdir");
        let ca = MeshCa::generate("node test CA").expect("CA");
        ca.write(&dir.path().join("tls")).expect("write CA");
        let nodes: Vec<NodeSpec> = (1..=6)
            .map(|id| NodeSpec {
                id,
                cluster: if id <= 3 { "a" } else { "b" },
                grpc_port: free_port(),
            })
            .collect();
        for n in &nodes {
            let identity = Identity::Node {
                node: NodeId(n.id),
                cluster: ClusterId::new(n.cluster).expect("cluster"),
                role: Role::Voter,
            };
            ca.issue(
                &identity,
                &["localhost".to_owned()],
                &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            )
            .expect("issue")
            .write(&dir.path().join("tls"), &format!("n{}", n.id))
            .expect("write cert");
        }
        TestMesh {
            dir,
            ca,
            nodes,
            witness: None,
            control_voters: vec![1, 2, 4],
            namespaces: vec![("orders".to_owned(), "a")],
        }
    }

    /// The same two clusters plus witness n7; control voters n1, n4 and n7, so the
    /// control group keeps a majority without either whole cluster.
    pub fn two_clusters_of_three_and_a_witness() -> TestMesh {
        let mut mesh = TestMesh::two_clusters_of_three();
        let witness = NodeSpec {
            id: 7,
            cluster: "witness",
            grpc_port: free_port(),
        };
        let identity = Identity::Node {
            node: NodeId(7),
            cluster: ClusterId::new("witness").expect("cluster"),
            role: Role::Witness,
        };
        mesh.ca
            .issue(
                &identity,
                &["localhost".to_owned()],
                &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            )
            .expect("issue")
            .write(&mesh.dir.path().join("tls"), "n7")
            .expect("write cert");
        mesh.witness = Some(witness);
        mesh.control_voters = vec![1, 4, 7];
        mesh
    }

    pub fn spec(&self, id: u64) -> &NodeSpec {
        self.nodes
            .iter()
            .chain(self.witness.as_ref())
            .find(|n| n.id == id)
            .expect("node of the mesh")
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("data-n{id}"))
    }

    /// The `[mesh]` section every node shares.
    pub fn mesh_section(&self) -> String {
        let mut text = String::from("[mesh]\nfailover_version_increment = 10\n");
        let voters: Vec<String> = self
            .control_voters
            .iter()
            .map(|v| format!("\"n{v}\""))
            .collect();
        text += &format!("control_voters = [{}]\n", voters.join(", "));
        let namespaces: Vec<String> = self
            .namespaces
            .iter()
            .map(|(name, active)| format!("{{ name = \"{name}\", active = \"{active}\" }}"))
            .collect();
        text += &format!("namespaces = [{}]\n", namespaces.join(", "));
        if let Some(w) = &self.witness {
            text += &format!(
                "witnesses = [{{ id = \"n{}\", grpc = \"127.0.0.1:{}\" }}]\n",
                w.id, w.grpc_port
            );
        }
        for (i, cluster) in ["a", "b"].iter().enumerate() {
            text += &format!(
                "\n[[mesh.clusters]]\nid = \"{cluster}\"\nregion = \"region-{cluster}\"\npriority = {}\ninitial_failover_version = {}\nnodes = [\n",
                2 - i,
                i + 1
            );
            for n in self.nodes.iter().filter(|n| n.cluster == *cluster) {
                text += &format!(
                    "  {{ id = \"n{}\", grpc = \"127.0.0.1:{}\", http = \"127.0.0.1:{}\" }},\n",
                    n.id,
                    n.grpc_port,
                    20_000 + n.id
                );
            }
            text += "]\n";
        }
        text
    }

    /// The whole config file of node `id`.
    pub fn config_text(&self, id: u64) -> String {
        let n = self.spec(id);
        let is_witness = self.witness.as_ref().is_some_and(|w| w.id == id);
        // A witness votes in no cluster; its file still names cluster a's voters.
        let voter_cluster = if is_witness { "a" } else { n.cluster };
        let voters: Vec<String> = self
            .nodes
            .iter()
            .filter(|m| m.cluster == voter_cluster)
            .map(|m| {
                format!(
                    "{{ id = \"n{}\", grpc = \"127.0.0.1:{}\" }}",
                    m.id, m.grpc_port
                )
            })
            .collect();
        format!(
            r#"
[node]
id = "n{id}"
cluster = "{cluster}"
region = "region-{cluster}"
role = "{role}"
data_dir = "data-n{id}"

[listen]
grpc = "127.0.0.1:{grpc}"
http = "127.0.0.1:0"
control = "127.0.0.1:0"

[tls]
ca = "tls/ca.pem"
cert = "tls/n{id}.pem"
key = "tls/n{id}.key"

[gossip]
profile = "lan"

[consensus]
voters = [{voters}]

{mesh}"#,
            cluster = n.cluster,
            role = if is_witness { "witness" } else { "voter" },
            grpc = n.grpc_port,
            voters = voters.join(", "),
            mesh = self.mesh_section(),
        )
    }

    pub fn loaded(&self, id: u64) -> config::LoadedConfig {
        config::parse(
            &self.config_text(id),
            &format!("n{id}.toml"),
            self.dir.path(),
            &BTreeMap::new(),
        )
        .unwrap_or_else(|e| panic!("config of n{id}: {e}"))
    }

    pub async fn start(&self, id: u64) -> NodeRuntime {
        let options = RuntimeOptions {
            seed: Some(id),
            ..RuntimeOptions::default()
        };
        NodeRuntime::start_on(TokioNetwork, self.loaded(id), options)
            .await
            .unwrap_or_else(|e| panic!("start n{id}: {e}"))
    }

    pub async fn start_all(&self) -> BTreeMap<u64, NodeRuntime> {
        let mut running = BTreeMap::new();
        for n in self.nodes.iter().chain(self.witness.as_ref()) {
            running.insert(n.id, self.start(n.id).await);
        }
        running
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics naming `what` after
/// `timeout` (a liveness bound for a slow CI machine, not a speed assertion).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
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

/// The node of `handles` that leads its cluster, once one does.
pub async fn leader_of(handles: &[NodeHandle]) -> NodeHandle {
    eventually("a cluster leader", Duration::from_secs(20), || async {
        for h in handles {
            if let Ok(s) = h.status().await
                && s.role == Some(RoleKind::Leader)
            {
                return Some(h.clone());
            }
        }
        None
    })
    .await
}

pub fn write(namespace: &str, key: &str, payload: &str) -> ClientWrite {
    ClientWrite {
        request: 0,
        namespace: NamespaceId::new(namespace).expect("namespace"),
        key: key.as_bytes().to_vec(),
        payload: payload.as_bytes().to_vec(),
        token: None,
    }
}

/// Writes through the cluster's leader, retrying while the mesh is still settling
/// (registry not yet distributed, leader changing), until it is accepted.
pub async fn write_accepted(cluster: &[NodeHandle], w: ClientWrite) -> WriteOutcome {
    eventually("an accepted write", Duration::from_secs(30), || {
        let w = w.clone();
        async move {
            let leader = leader_of(cluster).await;
            match leader.write(w).await {
                Ok(outcome @ WriteOutcome::Accepted { .. }) => Some(outcome),
                Ok(WriteOutcome::Refused(r)) => panic!("write refused: {r}"),
                _ => None,
            }
        }
    })
    .await
}

impl TestMesh {
    /// Node `id`'s TLS material, as written to the fixture's `tls/` directory.
    pub fn material(&self, id: u64) -> omnirelay_io::tls::TlsMaterial {
        let tls = self.dir.path().join("tls");
        omnirelay_io::tls::TlsMaterial::load(
            &tls.join("ca.pem"),
            &tls.join(format!("n{id}.pem")),
            &tls.join(format!("n{id}.key")),
        )
        .expect("load material")
    }
}

/// Every group log of every node on simulated disks, kept here across restarts.
#[derive(Default)]
pub struct SimDisks {
    pub disks: std::sync::Mutex<
        BTreeMap<(u64, omnirelay_core::node::Group), omnirelay_io::storage::SimDisk>,
    >,
}

impl SimDisks {
    /// The disk of `id`'s `group` (created on first use, seeded by node and group).
    pub fn disk(
        &self,
        id: u64,
        group: omnirelay_core::node::Group,
        dir: &std::path::Path,
    ) -> omnirelay_io::storage::SimDisk {
        use rand::SeedableRng;
        let mut disks = self.disks.lock().unwrap();
        disks
            .entry((id, group))
            .or_insert_with(|| {
                let seed = id * 2 + u64::from(group == omnirelay_core::node::Group::Control);
                omnirelay_io::storage::SimDisk::new(
                    dir,
                    rand_chacha::ChaCha8Rng::seed_from_u64(seed),
                )
            })
            .clone()
    }

    /// Crashes every disk of node `id`: unsynced writes are kept only as a random prefix,
    /// the last one possibly torn.
    pub fn crash(&self, id: u64) {
        for ((node, _), disk) in self.disks.lock().unwrap().iter_mut() {
            if *node == id {
                disk.crash(omnirelay_io::storage::CrashMode::KeepRandomPrefix);
            }
        }
    }
}

impl TestMesh {
    /// Starts node `id` with its logs on `disks`, writers as tasks, a pinned clock, and a
    /// storage failure logged instead of ending the test process.
    pub async fn start_simulated(&self, id: u64, disks: &std::sync::Arc<SimDisks>) -> NodeRuntime {
        let options = RuntimeOptions {
            seed: Some(id),
            writer: omnirelay_io::node::WriterMode::Task,
            clock_anchor_unix_nanos: Some(1_767_225_600_000_000_000),
            on_fatal: std::sync::Arc::new(|group, error| {
                eprintln!("storage failed in {group:?}: {error}");
            }),
            ..RuntimeOptions::default()
        };
        let disks = std::sync::Arc::clone(disks);
        NodeRuntime::start_with_disks(TokioNetwork, self.loaded(id), options, move |group, dir| {
            Ok(disks.disk(id, group, dir))
        })
        .await
        .unwrap_or_else(|e| panic!("start n{id}: {e}"))
    }
}
