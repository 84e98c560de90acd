//! A harness for multi-process tests: a mesh of two clusters × three real `omnirelay node`
//! processes on loopback, with certificates from a fresh CA, killed when dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::api::client::HttpApiClient;
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};
use omnirelay_io::transport::{ClientSettings, Dialer, MeshChannel, TokioNetwork};
use omnirelay_proto::v1::client_api_client::ClientApiClient;
use tempfile::TempDir;

/// Serializes the tests of one binary: a mesh is six processes on a shared 2-core machine.
/// An async mutex, held across the whole test (each test has its own runtime); a panicked
/// test releases it without poisoning the others.
static ONE_MESH_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes the one-mesh-at-a-time lock.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_MESH_AT_A_TIME.lock().await
}

/// The `omnirelay` binary next to this test executable (`target/<profile>/omnirelay`).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("omnirelay{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace` builds it, or run `cargo build -p omnirelay-io --bin omnirelay` first",
        bin.display()
    );
    bin
}

/// A loopback port below the ephemeral range (see `free_local_port`).
pub fn free_port() -> u16 {
    omnirelay_io::cli::dev::ports::free_local_port().expect("a free loopback port")
}

/// One node: its id, cluster and ports.
#[derive(Clone, Debug)]
pub struct Spec {
    /// `n<id>`.
    pub id: u64,
    /// `a` (n1..n3, active for `orders`) or `b` (n4..n6).
    pub cluster: &'static str,
    /// Peer transport port.
    pub grpc: u16,
    /// Client API port.
    pub http: u16,
}

/// A running node process.
#[derive(Debug)]
struct NodeProcess {
    child: Child,
    stderr: PathBuf,
}

/// Six node processes and their files. Dropping it kills (SIGKILL) and reaps every child.
#[derive(Debug)]
pub struct ProcessMesh {
    /// Configs, certificates, data dirs and stderr logs.
    pub dir: TempDir,
    /// The nodes.
    pub specs: Vec<Spec>,
    bin: PathBuf,
    running: BTreeMap<u64, NodeProcess>,
    starts: u32,
}

impl Drop for ProcessMesh {
    fn drop(&mut self) {
        for node in self.running.values_mut() {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

fn issue(ca: &MeshCa, dir: &Path, identity: &Identity, stem: &str) {
    ca.issue(
        identity,
        &["localhost".to_owned()],
        &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
    )
    .expect("issue")
    .write(dir, stem)
    .expect("write cert");
}

/// Why a start attempt failed: a port was taken by someone else between pick and bind.
const PORT_TAKEN: &str = "Address already in use";

impl ProcessMesh {
    /// Mints certificates, writes configs and starts all six nodes; retries with new ports
    /// when one was taken in the meantime. Returns once every node serves reads of `orders`.
    pub async fn start() -> ProcessMesh {
        for _attempt in 0..3 {
            let mut mesh = ProcessMesh::prepare();
            for id in 1..=6 {
                mesh.spawn(id);
            }
            match mesh.ready().await {
                Ok(()) => return mesh,
                Err(stderr) if stderr.contains(PORT_TAKEN) => continue,
                Err(stderr) => panic!("the mesh did not start:\n{stderr}"),
            }
        }
        panic!("ports kept being taken; gave up after 3 attempts");
    }

    fn prepare() -> ProcessMesh {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = dir.path().join("tls");
        let ca = MeshCa::generate("process test CA").expect("CA");
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
        let mesh = ProcessMesh {
            dir,
            specs,
            bin: binary(),
            running: BTreeMap::new(),
            starts: 0,
        };
        for id in 1..=6 {
            std::fs::write(mesh.config_path(id), mesh.config_text(id)).expect("write config");
        }
        mesh
    }

    fn spec(&self, id: u64) -> &Spec {
        self.specs.iter().find(|s| s.id == id).expect("node")
    }

    /// Node `id`'s config file.
    pub fn config_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}.toml"))
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("data-n{id}"))
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
            r#"[node]
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

{mesh}"#,
            cluster = n.cluster,
            grpc = n.grpc,
            http = n.http,
            voters = voters.join(", "),
        )
    }

    /// Starts (or restarts) node `id`'s process; its stderr goes to a new file.
    pub fn spawn(&mut self, id: u64) {
        self.starts += 1;
        let stderr = self
            .dir
            .path()
            .join(format!("n{id}-start{}.stderr", self.starts));
        let file = File::create(&stderr).expect("stderr file");
        let child = Command::new(&self.bin)
            .arg("node")
            .arg("--config")
            .arg(self.config_path(id))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn omnirelay node");
        self.running.insert(id, NodeProcess { child, stderr });
    }

    /// `kill -9` node `id` and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut node) = self.running.remove(&id) {
            node.child.kill().expect("SIGKILL");
            let _ = node.child.wait();
        }
    }

    /// What node `id`'s current process has written to stderr.
    pub fn stderr(&self, id: u64) -> String {
        self.running
            .get(&id)
            .and_then(|n| std::fs::read_to_string(&n.stderr).ok())
            .unwrap_or_default()
    }

    /// Every node's stderr, for a failure message.
    pub fn all_stderr(&self) -> String {
        self.running
            .keys()
            .map(|id| format!("--- n{id} ---\n{}", self.stderr(*id)))
            .collect()
    }

    /// Fails with the stderr of any node that exited.
    fn check_alive(&mut self) -> Result<(), String> {
        for (id, node) in &mut self.running {
            if let Ok(Some(status)) = node.child.try_wait() {
                let stderr = std::fs::read_to_string(&node.stderr).unwrap_or_default();
                return Err(format!("n{id} exited with {status}:\n{stderr}"));
            }
        }
        Ok(())
    }

    async fn ready(&mut self) -> Result<(), String> {
        let client = self.http();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for id in 1..=6 {
            loop {
                self.check_alive()?;
                let url = self.events_url(id, "orders");
                if let Ok(reply) = client.call(Method::GET, &url, &[], None).await
                    && reply.status == StatusCode::OK
                {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("n{id} never served reads\n{}", self.all_stderr()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// `https://127.0.0.1:<http>` of node `id`.
    pub fn endpoint(&self, id: u64) -> String {
        format!("https://127.0.0.1:{}", self.spec(id).http)
    }

    /// The events URL of `namespace` on node `id`.
    pub fn events_url(&self, id: u64, namespace: &str) -> String {
        format!("{}/v1/namespaces/{namespace}/events", self.endpoint(id))
    }

    /// TLS material `stem` (`app`, `n1`, ...) of the mesh CA.
    pub fn material(&self, stem: &str) -> TlsMaterial {
        let tls = self.dir.path().join("tls");
        TlsMaterial::load(
            &tls.join("ca.pem"),
            &tls.join(format!("{stem}.pem")),
            &tls.join(format!("{stem}.key")),
        )
        .expect("load material")
    }

    /// An application's HTTP client (certificate `app`).
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

    /// Appends `bytes` to the last segment of node `id`'s cluster log (a torn write).
    pub fn tear_last_segment(&self, id: u64, bytes: &[u8]) -> PathBuf {
        use std::io::Write;
        let dir = self.data_dir(id).join("cluster");
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("cluster log dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("wal-") && n.ends_with(".log"))
            })
            .collect();
        segments.sort();
        let last = segments.pop().expect("a segment");
        OpenOptions::new()
            .append(true)
            .open(&last)
            .and_then(|mut f| f.write_all(bytes))
            .expect("append garbage");
        last
    }
}

/// Polls `check` every 25 ms until it returns `Some`, or panics naming `what` after
/// `timeout` (a liveness bound, not a speed assertion).
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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
