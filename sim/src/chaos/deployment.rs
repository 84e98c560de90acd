//! A scenario's mesh laid out on turmoil hosts: one host per node (`<cluster>-<n>`,
//! `witness-<n>`), its node id, its configuration and its certificate.
//!
//! Minting certificates draws keys from the OS, outside turmoil's control, and costs
//! milliseconds per host: a deployment is built once per process and topology and reused
//! by every seed. Certificate bytes never reach a trace, so reuse cannot change a hash.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::config::{self, LoadedConfig};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};

use super::scenario::Scenario;

/// Port of every node's peer transport.
pub const GRPC_PORT: u16 = 7000;
/// Port of every node's client API.
pub const HTTP_PORT: u16 = 8000;
/// The workload's host name (its certificate names it).
pub const CLIENT_HOST: &str = "client";

/// One node of the deployment.
#[derive(Clone, Debug)]
pub struct DeployedNode {
    /// Its turmoil host name, also the DNS name in its certificate.
    pub host: String,
    /// Its node id (`n<id>` in configs), numbered in scenario order from 1.
    pub id: NodeId,
    /// Its cluster (`None` for a witness).
    pub cluster: Option<String>,
    /// Whether it votes in the registry's control group.
    pub control_voter: bool,
    /// Its validated configuration and TLS material.
    pub loaded: LoadedConfig,
}

/// A scenario's mesh: every node's configuration and the client's certificate.
#[derive(Debug)]
pub struct Deployment {
    /// Clusters' nodes in scenario order, then the witnesses.
    pub nodes: Vec<DeployedNode>,
    /// The workload's material (an operator identity of the mesh CA).
    pub client: TlsMaterial,
}

/// Why a deployment could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeploymentError(String);

impl Deployment {
    /// The deployment of `scenario`'s topology, built on first use in this process and
    /// shared afterwards (by topology and workload placement, which is all it depends on).
    pub fn of(scenario: &Scenario) -> Result<Arc<Deployment>, DeploymentError> {
        static CACHE: OnceLock<Mutex<BTreeMap<String, Arc<Deployment>>>> = OnceLock::new();
        let key = cache_key(scenario);
        let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = cache.get(&key) {
            return Ok(Arc::clone(found));
        }
        let built = Arc::new(Deployment::build(scenario)?);
        cache.insert(key, Arc::clone(&built));
        Ok(built)
    }

    /// The node on `host`.
    pub fn node(&self, host: &str) -> Option<&DeployedNode> {
        self.nodes.iter().find(|n| n.host == host)
    }

    /// The host names of `cluster`'s nodes.
    pub fn hosts_of(&self, cluster: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.cluster.as_deref() == Some(cluster))
            .map(|n| n.host.clone())
            .collect()
    }

    fn build(scenario: &Scenario) -> Result<Deployment, DeploymentError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| DeploymentError(format!("{what}: {e}"));
        let layout = layout(scenario);
        // The config loader reads PEM files: write them to a scratch directory, load every
        // node's configuration, and remove it (the loaded material is in memory).
        let dir = scratch_dir();
        let tls_dir = dir.join("tls");
        let ca = MeshCa::generate("omnirelay chaos CA").map_err(|e| fail("minting the CA", &e))?;
        ca.write(&tls_dir).map_err(|e| fail("writing the CA", &e))?;
        for slot in &layout {
            let identity = match &slot.cluster {
                Some(cluster) => Identity::Node {
                    node: slot.id,
                    cluster: ClusterId::new(cluster).map_err(|e| fail("cluster id", &e))?,
                    role: Role::Voter,
                },
                None => Identity::Node {
                    node: slot.id,
                    cluster: ClusterId::new(WITNESS_CLUSTER).map_err(|e| fail("cluster id", &e))?,
                    role: Role::Witness,
                },
            };
            ca.issue(&identity, std::slice::from_ref(&slot.host), &[])
                .and_then(|issued| issued.write(&tls_dir, &format!("n{}", slot.id.0)))
                .map_err(|e| fail(&format!("certificate of {}", slot.host), &e))?;
        }
        let client_name = ClusterId::new("chaos-client").map_err(|e| fail("client name", &e))?;
        let issued = ca
            .issue(
                &Identity::Operator { name: client_name },
                &[CLIENT_HOST.to_owned()],
                &[],
            )
            .map_err(|e| fail("client certificate", &e))?;
        let client = TlsMaterial::from_pem(
            ca.cert_pem().as_bytes(),
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        )
        .map_err(|e| fail("client material", &e))?;

        let mesh = mesh_section(scenario, &layout);
        let mut nodes = Vec::new();
        for slot in &layout {
            let text = node_config(scenario, &layout, slot, &mesh);
            let loaded = config::parse(
                &text,
                &format!("{}.toml", slot.host),
                &dir,
                &BTreeMap::new(),
            )
            .map_err(|e| fail(&format!("configuration of {}", slot.host), &e));
            let loaded = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            nodes.push(DeployedNode {
                host: slot.host.clone(),
                id: slot.id,
                cluster: slot.cluster.clone(),
                control_voter: slot.control_voter,
                loaded,
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Deployment { nodes, client })
    }
}

/// The cluster name a witness's certificate carries (it belongs to no data cluster).
const WITNESS_CLUSTER: &str = "witness";

struct Slot {
    host: String,
    id: NodeId,
    cluster: Option<String>,
    control_voter: bool,
}

/// Hosts in scenario order; the control group is the first node of every cluster plus the
/// witnesses, so losing any one region keeps its majority when there are three regions or
/// a witness.
fn layout(scenario: &Scenario) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut next = 1u64;
    for cluster in &scenario.topology.clusters {
        for n in 1..=cluster.nodes {
            slots.push(Slot {
                host: format!("{}-{n}", cluster.id),
                id: NodeId(next),
                cluster: Some(cluster.id.clone()),
                control_voter: n == 1,
            });
            next += 1;
        }
    }
    for n in 1..=scenario.topology.witnesses {
        slots.push(Slot {
            host: format!("witness-{n}"),
            id: NodeId(next),
            cluster: None,
            control_voter: true,
        });
        next += 1;
    }
    slots
}

fn cache_key(scenario: &Scenario) -> String {
    let mut key = String::new();
    for c in &scenario.topology.clusters {
        let _ = write!(key, "{}:{}:{};", c.id, c.nodes, c.priority);
    }
    let _ = write!(
        key,
        "w{};{:?};{:?}",
        scenario.topology.witnesses, scenario.workload.namespaces, scenario.workload.active
    );
    key
}

fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "omnirelay-chaos-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn mesh_section(scenario: &Scenario, layout: &[Slot]) -> String {
    let active = scenario
        .workload
        .active
        .clone()
        .or_else(|| scenario.topology.clusters.first().map(|c| c.id.clone()))
        .unwrap_or_default();
    let voters: Vec<String> = layout
        .iter()
        .filter(|s| s.control_voter)
        .map(|s| format!("\"n{}\"", s.id.0))
        .collect();
    let namespaces: Vec<String> = scenario
        .workload
        .namespaces
        .iter()
        .map(|ns| format!("{{ name = \"{ns}\", active = \"{active}\" }}"))
        .collect();
    let mut text = format!(
        "[mesh]\nfailover_version_increment = 10\ncontrol_voters = [{}]\nnamespaces = [{}]\n",
        voters.join(", "),
        namespaces.join(", ")
    );
    let witnesses: Vec<String> = layout
        .iter()
        .filter(|s| s.cluster.is_none())
        .map(|s| {
            format!(
                "{{ id = \"n{}\", grpc = \"{}:{GRPC_PORT}\" }}",
                s.id.0, s.host
            )
        })
        .collect();
    if !witnesses.is_empty() {
        let _ = writeln!(text, "witnesses = [{}]", witnesses.join(", "));
    }
    for (i, cluster) in scenario.topology.clusters.iter().enumerate() {
        let _ = write!(
            text,
            "\n[[mesh.clusters]]\nid = \"{id}\"\nregion = \"{id}\"\npriority = {priority}\ninitial_failover_version = {initial}\nnodes = [\n",
            id = cluster.id,
            priority = cluster.priority,
            initial = i + 1,
        );
        for s in layout
            .iter()
            .filter(|s| s.cluster.as_deref() == Some(&cluster.id))
        {
            let _ = writeln!(
                text,
                "  {{ id = \"n{}\", grpc = \"{host}:{GRPC_PORT}\", http = \"{host}:{HTTP_PORT}\" }},",
                s.id.0,
                host = s.host
            );
        }
        text.push_str("]\n");
    }
    text
}

fn node_config(scenario: &Scenario, layout: &[Slot], slot: &Slot, mesh: &str) -> String {
    // A witness votes in no cluster; its file still names the first cluster's voters.
    let voter_cluster = slot
        .cluster
        .clone()
        .or_else(|| scenario.topology.clusters.first().map(|c| c.id.clone()))
        .unwrap_or_default();
    let voters: Vec<String> = layout
        .iter()
        .filter(|s| s.cluster.as_deref() == Some(&voter_cluster))
        .map(|s| {
            format!(
                "{{ id = \"n{}\", grpc = \"{}:{GRPC_PORT}\" }}",
                s.id.0, s.host
            )
        })
        .collect();
    let (cluster, role) = match &slot.cluster {
        Some(c) => (c.as_str(), "voter"),
        None => (WITNESS_CLUSTER, "witness"),
    };
    format!(
        r#"[node]
id = "n{id}"
cluster = "{cluster}"
region = "{cluster}"
role = "{role}"
# Absolute and the same in every process: SimDisk only uses it as a label, and it shows
# in errors that reach the trace.
data_dir = "/chaos/{host}"

[listen]
grpc = "0.0.0.0:{GRPC_PORT}"
http = "0.0.0.0:{HTTP_PORT}"
control = "0.0.0.0:9000"
advertise_grpc = "{host}:{GRPC_PORT}"

[tls]
ca = "tls/ca.pem"
cert = "tls/n{id}.pem"
key = "tls/n{id}.key"

[gossip]
profile = "lan"

[consensus]
voters = [{voters}]

[failover]
# Scenarios move namespaces several times a minute.
cooldown_s = 0

# The model simulator's policy (sim/README.md, "Where the region-kill time goes"): a
# 1 s detection window after 0.8 s without a status (the product default is 2 s).
[auto_failover]
enabled = true
detection_window_ms = 1000
inhibit_window_s = 30

{mesh}"#,
        id = slot.id.0,
        host = slot.host,
        voters = voters.join(", "),
    )
}
