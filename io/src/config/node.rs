//! The validated configuration of a node: typed, checked, ready for the driver.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use omnirelay_core::failover::{AutoFailoverPolicy, FailoverPolicy};
use omnirelay_core::gossip::{self, GossipConfig};
use omnirelay_core::replication::ApplierConfig;
use omnirelay_core::{ClusterId, NodeId};

use super::address::HostPort;
use crate::control::{BearerTokens, CertificateRoles, ControlRole};
use crate::storage::WalConfig;
use crate::tls::Role;

/// A node's whole configuration, every value checked (see [`crate::config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// `[node]`: who this node is.
    pub node: NodeSettings,
    /// `[listen]`: where it serves.
    pub listen: ListenSettings,
    /// `[tls]`: its certificate files (already loaded once and checked by validation).
    pub tls: TlsFiles,
    /// `[gossip]`: membership.
    pub gossip: GossipSettings,
    /// `[consensus]`: Raft inside the cluster.
    pub consensus: ConsensusSettings,
    /// `[replication]`: streams between clusters.
    pub replication: ReplicationSettings,
    /// `[failover]`: what planned failovers obey.
    pub failover: FailoverPolicy,
    /// `[auto_failover]`: when failover happens without an operator.
    pub auto_failover: AutoFailoverPolicy,
    /// `[storage]`: the write-ahead log.
    pub storage: WalConfig,
    /// `[api]`: client API limits.
    pub api: ApiLimits,
    /// `[control]`: who may call the control API.
    pub control: ControlAccess,
    /// `[mesh]`: the whole topology (absent in files that only configure the parts; a
    /// running node requires it, see [`NodeConfig::core_config`]).
    pub mesh: Option<super::mesh::MeshSettings>,
}

/// `[node]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSettings {
    /// This node's id.
    pub id: NodeId,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Its region (same naming rules as a cluster id).
    pub region: String,
    /// Voter, learner or witness (never operator).
    pub role: Role,
    /// Where the log, hard state and snapshots live (absolute).
    pub data_dir: PathBuf,
}

impl NodeSettings {
    /// The role as gossip metadata carries it.
    pub fn gossip_role(&self) -> gossip::Role {
        match self.role {
            Role::Learner => gossip::Role::Learner,
            Role::Witness => gossip::Role::Witness,
            // Validation refuses `operator`; a voter is the only other node role.
            Role::Voter | Role::Operator => gossip::Role::Voter,
        }
    }
}

/// `[listen]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSettings {
    /// Peer transport: gossip, consensus and replication (gRPC, mutual TLS).
    pub grpc: SocketAddr,
    /// Client API (gRPC and HTTP/JSON writes and reads).
    pub http: SocketAddr,
    /// Control API and `/metrics`.
    pub control: SocketAddr,
    /// The address peers dial to reach `grpc`: `listen.advertise_grpc`, else this node's
    /// entry in `consensus.voters`, else `listen.grpc` when it names a specific IP.
    pub advertise_grpc: HostPort,
}

/// `[tls]`: absolute paths of PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The mesh CA bundle.
    pub ca: PathBuf,
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A named gossip profile (`omnirelay_core::gossip::GossipConfig`'s constructors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipProfile {
    /// memberlist's LAN defaults.
    Lan,
    /// memberlist's WAN defaults.
    Wan,
    /// This mesh's fast profile for one cluster's members.
    Mesh,
}

impl GossipProfile {
    /// The profile called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "lan" => Some(GossipProfile::Lan),
            "wan" => Some(GossipProfile::Wan),
            "mesh" => Some(GossipProfile::Mesh),
            _ => None,
        }
    }

    /// Its name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            GossipProfile::Lan => "lan",
            GossipProfile::Wan => "wan",
            GossipProfile::Mesh => "mesh",
        }
    }

    /// The core's values for it, before overrides.
    pub fn defaults(self) -> GossipConfig {
        match self {
            GossipProfile::Lan => GossipConfig::lan(),
            GossipProfile::Wan => GossipConfig::wan(),
            GossipProfile::Mesh => GossipConfig::mesh(),
        }
    }
}

/// `[gossip]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipSettings {
    /// The profile the timing started from.
    pub profile: GossipProfile,
    /// Members to join through at start (may include this node's own address).
    pub seeds: Vec<HostPort>,
    /// The profile with the file's overrides applied: hand it to `gossip::Membership`.
    pub timing: GossipConfig,
}

/// `[consensus]`. Every voter of a cluster should use the same timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusSettings {
    /// Lower bound of the randomized election timeout (also the leader lease).
    pub election_timeout_min: Duration,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max: Duration,
    /// How often an idle leader sends heartbeats; below `election_timeout_min`.
    pub heartbeat: Duration,
    /// This node's leadership priority: higher wins ties, 0 votes but never leads.
    pub priority: u8,
    /// The cluster's initial voters and the gRPC addresses peers dial them at.
    pub voters: BTreeMap<NodeId, HostPort>,
}

/// `[replication]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationSettings {
    /// Most events one batch carries.
    pub batch_max_events: usize,
    /// Most bytes of payload one batch carries.
    pub batch_max_bytes: usize,
    /// Batches sent and not yet acknowledged, per stream (flow control).
    pub max_in_flight_batches: usize,
    /// The receiving side: resend retry, reorder windows, quarantine size.
    pub applier: ApplierConfig,
}

/// `[api]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body accepted (HTTP/JSON or a gRPC message).
    pub max_body_bytes: usize,
    /// Largest event payload accepted; at most `max_body_bytes`.
    pub max_payload_bytes: usize,
}

/// `[control]`: bearer tokens and certificate roles of the control API.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ControlAccess {
    /// `tokens`: (name, role, token), in file order.
    pub tokens: Vec<(String, ControlRole, String)>,
    /// `operators`: the role of each operator certificate, by name.
    pub operators: BTreeMap<String, ControlRole>,
    /// `node_role`: the role of every node certificate of the mesh (`None`: no access).
    pub node_role: Option<ControlRole>,
}

impl fmt::Debug for ControlAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret: names and roles only.
        let tokens: Vec<(&str, ControlRole)> = self
            .tokens
            .iter()
            .map(|(n, r, _)| (n.as_str(), *r))
            .collect();
        f.debug_struct("ControlAccess")
            .field("tokens", &tokens)
            .field("operators", &self.operators)
            .field("node_role", &self.node_role)
            .finish()
    }
}

impl ControlAccess {
    /// The bearer tokens the control router accepts.
    pub fn bearer_tokens(&self) -> BearerTokens {
        self.tokens
            .iter()
            .fold(BearerTokens::new(), |tokens, (name, role, token)| {
                tokens.with(token, name, *role)
            })
    }

    /// The roles client certificates carry on the control listener.
    pub fn certificate_roles(&self) -> CertificateRoles {
        let roles = self
            .operators
            .iter()
            .fold(CertificateRoles::new(), |roles, (name, role)| {
                roles.operator(name, *role)
            });
        match self.node_role {
            Some(role) => roles.nodes(role),
            None => roles,
        }
    }
}

impl NodeConfig {
    /// A one-line description for `omnirelay config validate`.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// One line describing a [`NodeConfig`].
#[derive(Debug)]
pub struct Summary<'a>(&'a NodeConfig);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(
            f,
            "{} ({} of {}, region {}), grpc {} (advertised {}), http {}, control {}, {} voters, gossip {} with {} seeds, auto-failover {}",
            c.node.id,
            c.node.role,
            c.node.cluster,
            c.node.region,
            c.listen.grpc,
            c.listen.advertise_grpc,
            c.listen.http,
            c.listen.control,
            c.consensus.voters.len(),
            c.gossip.profile.as_str(),
            c.gossip.seeds.len(),
            if c.auto_failover.enabled { "on" } else { "off" },
        )
    }
}
