//! The file's shape, as serde reads it before any meaning is checked. Every knob's default
//! lives here, in one place; keys without a sane default are `Option`s that validation
//! reports as missing, so that all of them are reported at once.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::storage::DEFAULT_SEGMENT_BYTES;

const MIB: u64 = 1024 * 1024;

/// A node id as written: `"n7"`, `"7"` or `7`. Parsed into a `NodeId` by validation, so a
/// bad id is reported next to every other problem instead of stopping the parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawNodeId(pub String);

impl Serialize for RawNodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RawNodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = RawNodeId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node id such as \"n7\" or 7")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNodeId, E> {
                Ok(RawNodeId(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNodeId, E> {
                Ok(RawNodeId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNodeId, E> {
                // Kept as text so validation refuses it with the node-id message.
                Ok(RawNodeId(v.to_string()))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// `[node]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawNode {
    pub id: Option<RawNodeId>,
    pub cluster: Option<String>,
    pub region: Option<String>,
    pub role: String,
    pub data_dir: PathBuf,
}

impl Default for RawNode {
    fn default() -> Self {
        RawNode {
            id: None,
            cluster: None,
            region: None,
            role: "voter".into(),
            data_dir: PathBuf::from("/var/lib/omnirelay"),
        }
    }
}

/// `[listen]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawListen {
    pub grpc: String,
    pub http: String,
    pub control: String,
    pub advertise_grpc: Option<String>,
}

impl Default for RawListen {
    fn default() -> Self {
        RawListen {
            grpc: "0.0.0.0:7001".into(),
            http: "0.0.0.0:8080".into(),
            // The control API moves tenants between regions: loopback unless opened up.
            control: "127.0.0.1:9090".into(),
            advertise_grpc: None,
        }
    }
}

/// `[tls]`: no defaults, mutual TLS is not optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// `[gossip]`: a profile, seeds, and optional overrides of the profile's values.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawGossip {
    pub profile: String,
    pub seeds: Vec<String>,
    pub probe_interval_ms: Option<u64>,
    pub probe_timeout_ms: Option<u64>,
    pub indirect_checks: Option<u64>,
    pub gossip_interval_ms: Option<u64>,
    pub gossip_nodes: Option<u64>,
    pub gossip_to_the_dead_s: Option<u64>,
    pub suspicion_mult: Option<u64>,
    pub suspicion_max_timeout_mult: Option<u64>,
    pub retransmit_mult: Option<u64>,
    pub push_pull_interval_s: Option<u64>,
    pub awareness_max_multiplier: Option<u64>,
    pub max_packet_bytes: Option<u64>,
    pub max_push_pull_bytes: Option<u64>,
    pub tombstone_ttl_s: Option<u64>,
}

impl Default for RawGossip {
    fn default() -> Self {
        RawGossip {
            profile: "lan".into(),
            seeds: Vec::new(),
            probe_interval_ms: None,
            probe_timeout_ms: None,
            indirect_checks: None,
            gossip_interval_ms: None,
            gossip_nodes: None,
            gossip_to_the_dead_s: None,
            suspicion_mult: None,
            suspicion_max_timeout_mult: None,
            retransmit_mult: None,
            push_pull_interval_s: None,
            awareness_max_multiplier: None,
            max_packet_bytes: None,
            max_push_pull_bytes: None,
            tombstone_ttl_s: None,
        }
    }
}

/// One entry of `consensus.voters`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVoter {
    pub id: RawNodeId,
    pub grpc: String,
}

/// `[consensus]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawConsensus {
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_ms: u64,
    pub priority: u8,
    pub voters: Vec<RawVoter>,
}

impl Default for RawConsensus {
    fn default() -> Self {
        RawConsensus {
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_ms: 50,
            priority: 1,
            voters: Vec::new(),
        }
    }
}

/// `[replication]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawReplication {
    pub batch_max_events: u64,
    pub batch_max_bytes: u64,
    pub max_in_flight_batches: u64,
    pub resend_retry_ms: u64,
    pub reorder_window_events: u64,
    pub reorder_window_events_per_origin: u64,
    pub quarantine_capacity: u64,
}

impl Default for RawReplication {
    fn default() -> Self {
        RawReplication {
            batch_max_events: 1024,
            batch_max_bytes: MIB,
            max_in_flight_batches: 8,
            resend_retry_ms: 1000,
            reorder_window_events: 65_536,
            reorder_window_events_per_origin: 16_384,
            quarantine_capacity: 100_000,
        }
    }
}

/// `[failover]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawFailover {
    pub max_lag_entries: u64,
    pub max_lag_s: u64,
    pub cooldown_s: u64,
    pub catch_up_timeout_s: u64,
    pub require_ticket: bool,
    pub require_approval: bool,
}

impl Default for RawFailover {
    fn default() -> Self {
        RawFailover {
            max_lag_entries: 10_000,
            max_lag_s: 5,
            cooldown_s: 60,
            catch_up_timeout_s: 10,
            require_ticket: false,
            require_approval: false,
        }
    }
}

/// `[auto_failover]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawAutoFailover {
    pub enabled: bool,
    pub detection_window_ms: u64,
    pub inhibit_window_s: u64,
    pub lag_ceiling_entries: u64,
}

impl Default for RawAutoFailover {
    fn default() -> Self {
        RawAutoFailover {
            enabled: false,
            detection_window_ms: 2000,
            inhibit_window_s: 300,
            lag_ceiling_entries: 100_000,
        }
    }
}

/// `[storage]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub segment_bytes: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// `[api]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawApi {
    pub max_body_bytes: u64,
    pub max_payload_bytes: u64,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            max_body_bytes: 4 * MIB,
            max_payload_bytes: MIB,
        }
    }
}

/// `[control]`
#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawControl {
    pub tokens: Vec<String>,
    pub operators: Vec<String>,
    pub node_role: String,
}

impl Default for RawControl {
    fn default() -> Self {
        RawControl {
            tokens: Vec::new(),
            operators: Vec::new(),
            // Other nodes and tools holding a node certificate may look, not act.
            node_role: "mesh.read".into(),
        }
    }
}

/// The whole file. Absent sections take their defaults.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub node: RawNode,
    pub listen: RawListen,
    pub tls: RawTls,
    pub gossip: RawGossip,
    pub consensus: RawConsensus,
    pub replication: RawReplication,
    pub failover: RawFailover,
    pub auto_failover: RawAutoFailover,
    pub storage: RawStorage,
    pub api: RawApi,
    pub control: RawControl,
    /// Absent in files written before the node runtime; `omnirelay node` requires it.
    pub mesh: Option<RawMesh>,
}

/// `[mesh]`: the whole topology, the same on every node. Nested tables do not deny
/// unknown fields: `keys::unknown_keys` reports them all with their full paths first.
#[derive(Debug, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct RawMesh {
    pub failover_version_increment: u64,
    pub clusters: Vec<RawMeshCluster>,
    pub witnesses: Vec<RawMeshWitness>,
    pub control_voters: Vec<RawNodeId>,
    pub namespaces: Vec<RawMeshNamespace>,
}

impl Default for RawMesh {
    fn default() -> Self {
        RawMesh {
            // Temporal's example increment: room for nine clusters' initial versions.
            failover_version_increment: 10,
            clusters: Vec::new(),
            witnesses: Vec::new(),
            control_voters: Vec::new(),
            namespaces: Vec::new(),
        }
    }
}

/// One entry of `mesh.clusters`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct RawMeshCluster {
    pub id: String,
    pub region: String,
    #[serde(default)]
    pub priority: u32,
    pub initial_failover_version: u64,
    pub nodes: Vec<RawMeshNode>,
}

/// One entry of `mesh.clusters[i].nodes`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct RawMeshNode {
    pub id: RawNodeId,
    pub grpc: String,
    pub http: String,
}

/// One entry of `mesh.witnesses`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct RawMeshWitness {
    pub id: RawNodeId,
    pub grpc: String,
}

/// One entry of `mesh.namespaces`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct RawMeshNamespace {
    pub name: String,
    pub active: String,
}
