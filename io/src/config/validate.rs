//! From the file's shape to a [`NodeConfig`]: every value checked, every problem kept, so
//! an operator fixes a file in one round instead of one error per restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::failover::{AutoFailoverPolicy, FailoverPolicy};
use omnirelay_core::replication::ApplierConfig;
use omnirelay_core::{ClusterId, NodeId};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

use super::address::HostPort;
use super::error::ConfigError;
use super::node::{
    ApiLimits, ConsensusSettings, ControlAccess, GossipProfile, GossipSettings, ListenSettings,
    NodeConfig, NodeSettings, ReplicationSettings, TlsFiles,
};
use super::raw::{RawConfig, RawGossip, RawNodeId};
use crate::control::ControlRole;
use crate::storage::WalConfig;
use crate::tls::{Identity, Role, TlsError, TlsMaterial, provider};

/// Below this a segment holds a handful of records and the log spends its time rolling.
const MIN_SEGMENT_BYTES: u64 = 64 * 1024;

/// Problems found so far.
#[derive(Debug, Default)]
struct Checker {
    problems: Vec<ConfigError>,
}

impl Checker {
    fn invalid(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(ConfigError::invalid(key, reason));
    }

    fn required<'a, T>(&mut self, key: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.problems.push(ConfigError::Missing { key: key.into() });
        }
        value.as_ref()
    }

    fn node_id(&mut self, key: &str, raw: &RawNodeId) -> Option<NodeId> {
        raw.0
            .parse()
            .map_err(|e| self.invalid(key, format!("{e}")))
            .ok()
    }

    fn positive(&mut self, key: &str, value: u64) -> u64 {
        if value == 0 {
            self.invalid(key, "must be greater than 0");
        }
        value
    }

    /// A count or size that must fit in memory indexing (`usize`) and be positive.
    fn size(&mut self, key: &str, value: u64) -> usize {
        self.positive(key, value);
        usize::try_from(value).unwrap_or_else(|_| {
            self.invalid(key, format!("{value} is too large for this platform"));
            0
        })
    }

    fn listen(&mut self, key: &str, text: &str) -> Option<SocketAddr> {
        text.parse()
            .map_err(|_| {
                self.invalid(
                    key,
                    format!("{text:?} is not an IP:port socket address (e.g. 0.0.0.0:7001)"),
                )
            })
            .ok()
    }

    fn peer(&mut self, key: &str, text: &str) -> Option<HostPort> {
        text.parse().map_err(|e| self.invalid(key, e)).ok()
    }
}

/// Validates `raw`; relative paths are taken relative to `base_dir` (the config file's
/// directory). Loads the TLS files to check them; the material is returned so the node
/// does not read them twice.
pub(crate) fn validate(
    raw: &RawConfig,
    base_dir: &Path,
) -> Result<(NodeConfig, TlsMaterial), Vec<ConfigError>> {
    let mut c = Checker::default();
    let node = node(&mut c, raw, base_dir);
    let tls_files = tls_files(&mut c, raw, base_dir);
    let consensus = consensus(&mut c, raw);
    let listen = listen(&mut c, raw, node.as_ref(), consensus.as_ref());
    let gossip = gossip(&mut c, &raw.gossip);
    let replication = replication(&mut c, raw, node.as_ref().map(|n| n.cluster.clone()));
    let failover = failover(&mut c, raw);
    let auto_failover = auto_failover(&mut c, raw);
    let storage = storage(&mut c, raw);
    let api = api(&mut c, raw);
    let control = control(&mut c, raw);
    let mesh = super::mesh::validate(raw, &mut c.problems);
    let material = tls_files
        .as_ref()
        .and_then(|files| tls(&mut c, node.as_ref(), files));
    match (
        node,
        listen,
        tls_files,
        gossip,
        consensus,
        replication,
        material,
    ) {
        (
            Some(node),
            Some(listen),
            Some(tls),
            Some(gossip),
            Some(consensus),
            Some(replication),
            Some(material),
        ) if c.problems.is_empty() => {
            let config = NodeConfig {
                node,
                listen,
                tls,
                gossip,
                consensus,
                replication,
                failover,
                auto_failover,
                storage,
                api,
                control,
                mesh,
            };
            // The same mapping the node runs at start, so validate refuses what it would.
            if config.mesh.is_some()
                && let Err(problem) = config.core_config()
            {
                return Err(vec![problem]);
            }
            Ok((config, material))
        }
        _ => Err(c.problems),
    }
}

fn absolute(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base_dir.join(path)
    }
}

fn node(c: &mut Checker, raw: &RawConfig, base_dir: &Path) -> Option<NodeSettings> {
    let n = &raw.node;
    let id = c
        .required("node.id", &n.id)
        .and_then(|id| c.node_id("node.id", id));
    let cluster = c.required("node.cluster", &n.cluster).and_then(|text| {
        ClusterId::new(text)
            .map_err(|e| c.invalid("node.cluster", e.to_string()))
            .ok()
    });
    // A region follows the cluster naming rules: it appears in the same labels and URIs.
    let region = c.required("node.region", &n.region).and_then(|text| {
        ClusterId::new(text)
            .map(|_| text.clone())
            .map_err(|_| {
                c.invalid(
                    "node.region",
                    format!(
                        "{text:?} must be 1-63 characters of lowercase letters, digits, '-', '_' or '.'"
                    ),
                )
            })
            .ok()
    });
    let role = match n.role.parse::<Role>() {
        Ok(Role::Operator) | Err(_) => {
            c.invalid(
                "node.role",
                format!("{:?} is not voter, learner or witness", n.role),
            );
            None
        }
        Ok(role) => Some(role),
    };
    if n.data_dir.as_os_str().is_empty() {
        c.invalid("node.data_dir", "must not be empty");
    }
    Some(NodeSettings {
        id: id?,
        cluster: cluster?,
        region: region?,
        role: role?,
        data_dir: absolute(base_dir, &n.data_dir),
    })
}

fn tls_files(c: &mut Checker, raw: &RawConfig, base_dir: &Path) -> Option<TlsFiles> {
    let mut file = |key: &str, path: &Option<PathBuf>| {
        let path = absolute(base_dir, c.required(key, path)?);
        if !path.is_file() {
            c.invalid(key, format!("{}: no such file", path.display()));
            return None;
        }
        Some(path)
    };
    let ca = file("tls.ca", &raw.tls.ca);
    let cert = file("tls.cert", &raw.tls.cert);
    let key = file("tls.key", &raw.tls.key);
    Some(TlsFiles {
        ca: ca?,
        cert: cert?,
        key: key?,
    })
}

/// Loads the files, checks the certificate chains to the CA and, when `[node]` is valid,
/// that the certificate says it is this node.
fn tls(c: &mut Checker, node: Option<&NodeSettings>, files: &TlsFiles) -> Option<TlsMaterial> {
    let material = match TlsMaterial::load(&files.ca, &files.cert, &files.key) {
        Ok(material) => material,
        Err(source) => {
            let key = match &source {
                TlsError::Io { path, .. } | TlsError::Pem { path, .. } if *path == files.ca => {
                    "tls.ca"
                }
                TlsError::Io { path, .. } | TlsError::Pem { path, .. } if *path == files.key => {
                    "tls.key"
                }
                _ => "tls.cert",
            };
            c.problems.push(ConfigError::Tls {
                key: key.into(),
                source,
            });
            return None;
        }
    };
    if let Err(reason) = signed_by_ca(files) {
        c.invalid("tls.cert", reason);
    }
    // Build both configurations now: a key that does not match the certificate would
    // otherwise only fail when the node binds its listener.
    if let Err(e) = material
        .server_config()
        .and_then(|_| material.client_config())
    {
        c.invalid("tls.key", format!("does not work with tls.cert: {e}"));
    }
    let Some(node) = node else {
        return Some(material);
    };
    match material.identity() {
        Ok(Identity::Node {
            node: id,
            cluster,
            role,
        }) => {
            let mut mismatch = |field, certificate: String, configured: String| {
                if certificate != configured {
                    c.problems.push(ConfigError::IdentityMismatch {
                        field,
                        certificate,
                        configured,
                    });
                }
            };
            mismatch("node.id", id.to_string(), node.id.to_string());
            mismatch(
                "node.cluster",
                cluster.to_string(),
                node.cluster.to_string(),
            );
            mismatch("node.role", role.to_string(), node.role.to_string());
        }
        Ok(Identity::Operator { name }) => c.invalid(
            "tls.cert",
            format!("is an operator certificate ({name}), not a node certificate"),
        ),
        Err(e) => c.invalid("tls.cert", e.to_string()),
    }
    Some(material)
}

fn listen(
    c: &mut Checker,
    raw: &RawConfig,
    node: Option<&NodeSettings>,
    consensus: Option<&ConsensusSettings>,
) -> Option<ListenSettings> {
    let l = &raw.listen;
    let grpc = c.listen("listen.grpc", &l.grpc);
    let http = c.listen("listen.http", &l.http);
    let control = c.listen("listen.control", &l.control);
    // Port 0 asks the OS for a free port, so two of them never collide.
    let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
    for (key, addr) in [
        ("listen.grpc", grpc),
        ("listen.http", http),
        ("listen.control", control),
    ] {
        let Some(addr) = addr.filter(|a| a.port() != 0) else {
            continue;
        };
        match seen.get(&addr.port()) {
            Some(other) => c.problems.push(ConfigError::DuplicatePort {
                key: key.into(),
                port: addr.port(),
                other: (*other).into(),
            }),
            None => {
                seen.insert(addr.port(), key);
            }
        }
    }
    let advertised = l
        .advertise_grpc
        .as_ref()
        .and_then(|text| c.peer("listen.advertise_grpc", text));
    let voter_entry = match (node, consensus) {
        (Some(n), Some(cons)) => cons.voters.get(&n.id).cloned(),
        _ => None,
    };
    let advertise_grpc = match (advertised, voter_entry, grpc) {
        (Some(advertised), Some(entry), _) if advertised != entry => {
            c.invalid(
                "listen.advertise_grpc",
                format!(
                    "{advertised} differs from this node's address in consensus.voters ({entry})"
                ),
            );
            None
        }
        (Some(advertised), _, _) => Some(advertised),
        (None, Some(entry), _) => Some(entry),
        (None, None, Some(grpc)) if !grpc.ip().is_unspecified() && grpc.port() != 0 => {
            Some(HostPort::from(grpc))
        }
        // Without a valid node id or voter list the lookup above proves nothing.
        (None, None, Some(_))
            if l.advertise_grpc.is_none() && node.is_some() && consensus.is_some() =>
        {
            c.invalid(
                "listen.advertise_grpc",
                "missing: listen.grpc does not name an address peers can dial and this node is not in consensus.voters",
            );
            None
        }
        _ => None,
    };
    Some(ListenSettings {
        grpc: grpc?,
        http: http?,
        control: control?,
        advertise_grpc: advertise_grpc?,
    })
}

fn gossip(c: &mut Checker, g: &RawGossip) -> Option<GossipSettings> {
    let profile = GossipProfile::from_name(&g.profile);
    if profile.is_none() {
        c.invalid(
            "gossip.profile",
            format!("{:?} is not lan, wan or mesh", g.profile),
        );
    }
    let seeds: Vec<Option<HostPort>> = g
        .seeds
        .iter()
        .enumerate()
        .map(|(i, s)| c.peer(&format!("gossip.seeds[{i}]"), s))
        .collect();
    let profile = profile?;
    let mut t = profile.defaults();
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    macro_rules! set {
        ($key:literal, $field:ident, $value:expr, $convert:expr) => {
            if let Some(v) = $value {
                let v = c.positive(concat!("gossip.", $key), v);
                t.$field = $convert(v);
            }
        };
    }
    let count = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let mult = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    set!("probe_interval_ms", probe_interval, g.probe_interval_ms, ms);
    set!("probe_timeout_ms", probe_timeout, g.probe_timeout_ms, ms);
    set!("indirect_checks", indirect_checks, g.indirect_checks, count);
    set!(
        "gossip_interval_ms",
        gossip_interval,
        g.gossip_interval_ms,
        ms
    );
    set!("gossip_nodes", gossip_nodes, g.gossip_nodes, count);
    set!(
        "gossip_to_the_dead_s",
        gossip_to_the_dead,
        g.gossip_to_the_dead_s,
        s
    );
    set!("suspicion_mult", suspicion_mult, g.suspicion_mult, mult);
    set!(
        "suspicion_max_timeout_mult",
        suspicion_max_timeout_mult,
        g.suspicion_max_timeout_mult,
        mult
    );
    set!("retransmit_mult", retransmit_mult, g.retransmit_mult, mult);
    set!(
        "push_pull_interval_s",
        push_pull_interval,
        g.push_pull_interval_s,
        s
    );
    set!(
        "awareness_max_multiplier",
        awareness_max_multiplier,
        g.awareness_max_multiplier,
        mult
    );
    set!(
        "max_packet_bytes",
        max_packet_bytes,
        g.max_packet_bytes,
        count
    );
    set!(
        "max_push_pull_bytes",
        max_push_pull_bytes,
        g.max_push_pull_bytes,
        count
    );
    set!("tombstone_ttl_s", tombstone_ttl, g.tombstone_ttl_s, s);
    // A probe that may outlast its period would overlap the next one.
    if t.probe_timeout >= t.probe_interval {
        let key = if g.probe_timeout_ms.is_some() {
            "gossip.probe_timeout_ms"
        } else {
            "gossip.probe_interval_ms"
        };
        c.invalid(
            key,
            format!(
                "probe timeout {:?} must be shorter than the probe interval {:?}",
                t.probe_timeout, t.probe_interval
            ),
        );
    }
    Some(GossipSettings {
        profile,
        seeds: seeds.into_iter().collect::<Option<Vec<_>>>()?,
        timing: t,
    })
}

fn consensus(c: &mut Checker, raw: &RawConfig) -> Option<ConsensusSettings> {
    let k = &raw.consensus;
    let min = c.positive(
        "consensus.election_timeout_min_ms",
        k.election_timeout_min_ms,
    );
    let max = k.election_timeout_max_ms;
    // Raft needs a spread to break split votes; equal bounds make every timeout identical.
    if min >= max {
        c.invalid(
            "consensus.election_timeout_min_ms",
            format!("{min} must be less than consensus.election_timeout_max_ms ({max})"),
        );
    }
    let heartbeat = c.positive("consensus.heartbeat_ms", k.heartbeat_ms);
    if heartbeat >= min {
        c.invalid(
            "consensus.heartbeat_ms",
            format!("{heartbeat} must be less than consensus.election_timeout_min_ms ({min})"),
        );
    }
    let mut voters = BTreeMap::new();
    let mut complete = true;
    for (i, voter) in k.voters.iter().enumerate() {
        let id = c.node_id(&format!("consensus.voters[{i}].id"), &voter.id);
        let grpc = c.peer(&format!("consensus.voters[{i}].grpc"), &voter.grpc);
        let (Some(id), Some(grpc)) = (id, grpc) else {
            complete = false;
            continue;
        };
        if voters.values().any(|a| *a == grpc) {
            c.invalid(
                format!("consensus.voters[{i}].grpc"),
                format!("{grpc} is already the address of another voter"),
            );
        }
        if voters.insert(id, grpc).is_some() {
            c.invalid(
                format!("consensus.voters[{i}].id"),
                format!("{id} is listed twice"),
            );
        }
    }
    if k.voters.is_empty() {
        complete = false;
        c.invalid(
            "consensus.voters",
            "missing: list the cluster's voters as { id, grpc } entries",
        );
    }
    // Which node is this? `node.id` may itself be invalid; then it is reported there.
    let this = raw
        .node
        .id
        .as_ref()
        .and_then(|id| id.0.parse::<NodeId>().ok());
    if let Some(this) = this
        && complete
    {
        let listed = voters.contains_key(&this);
        match raw.node.role.as_str() {
            "voter" if !listed => c.invalid(
                "consensus.voters",
                format!("does not include this node ({this}), whose node.role is voter"),
            ),
            "learner" | "witness" if listed => c.invalid(
                "consensus.voters",
                format!(
                    "includes this node ({this}), whose node.role ({}) does not vote in its cluster",
                    raw.node.role
                ),
            ),
            _ => {}
        }
    }
    if !complete {
        return None;
    }
    Some(ConsensusSettings {
        election_timeout_min: Duration::from_millis(min),
        election_timeout_max: Duration::from_millis(max),
        heartbeat: Duration::from_millis(heartbeat),
        priority: k.priority,
        voters,
    })
}

/// tonic's default limit on a decoded message (4 MiB); replication batches must fit in one.
const MAX_GRPC_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// `cluster` is `None` when `node.cluster` is invalid: the values are still checked.
fn replication(
    c: &mut Checker,
    raw: &RawConfig,
    cluster: Option<ClusterId>,
) -> Option<ReplicationSettings> {
    let r = &raw.replication;
    let batch_max_events = c.size("replication.batch_max_events", r.batch_max_events);
    let batch_max_bytes = c.size("replication.batch_max_bytes", r.batch_max_bytes);
    if batch_max_bytes > MAX_GRPC_MESSAGE_BYTES {
        // A larger batch would be refused by the receiver's gRPC decoder, stalling the stream.
        c.invalid(
            "replication.batch_max_bytes",
            format!(
                "{batch_max_bytes} exceeds the gRPC message limit of {MAX_GRPC_MESSAGE_BYTES} bytes"
            ),
        );
    }
    let max_in_flight_batches =
        c.size("replication.max_in_flight_batches", r.max_in_flight_batches);
    let resend = c.positive("replication.resend_retry_ms", r.resend_retry_ms);
    let total = c.size("replication.reorder_window_events", r.reorder_window_events);
    let per_origin = c.size(
        "replication.reorder_window_events_per_origin",
        r.reorder_window_events_per_origin,
    );
    if per_origin > total {
        c.invalid(
            "replication.reorder_window_events_per_origin",
            format!("{per_origin} exceeds replication.reorder_window_events ({total})"),
        );
    }
    let quarantine = c.size("replication.quarantine_capacity", r.quarantine_capacity);
    Some(ReplicationSettings {
        batch_max_events,
        batch_max_bytes,
        max_in_flight_batches,
        applier: ApplierConfig {
            local_cluster: cluster?,
            max_buffered_total: total,
            max_buffered_per_origin: per_origin,
            resend_retry: Duration::from_millis(resend),
            quarantine_capacity: quarantine,
        },
    })
}

fn failover(c: &mut Checker, raw: &RawConfig) -> FailoverPolicy {
    let f = &raw.failover;
    FailoverPolicy {
        max_lag_entries: c.positive("failover.max_lag_entries", f.max_lag_entries),
        max_lag: Duration::from_secs(c.positive("failover.max_lag_s", f.max_lag_s)),
        // 0 is meaningful: no cooldown between failovers of a namespace.
        cooldown: Duration::from_secs(f.cooldown_s),
        catch_up_timeout: Duration::from_secs(
            c.positive("failover.catch_up_timeout_s", f.catch_up_timeout_s),
        ),
        require_ticket: f.require_ticket,
        require_approval: f.require_approval,
    }
}

fn auto_failover(c: &mut Checker, raw: &RawConfig) -> AutoFailoverPolicy {
    let a = &raw.auto_failover;
    let window = c.positive("auto_failover.detection_window_ms", a.detection_window_ms);
    // A leader election inside the active cluster must not look like a lost region.
    let election_max = raw.consensus.election_timeout_max_ms;
    if a.enabled && window > 0 && window <= election_max {
        c.invalid(
            "auto_failover.detection_window_ms",
            format!(
                "{window} must exceed consensus.election_timeout_max_ms ({election_max}), or a leader election would look like a region failure"
            ),
        );
    }
    AutoFailoverPolicy {
        enabled: a.enabled,
        detection_window: Duration::from_millis(window),
        inhibit_window: Duration::from_secs(a.inhibit_window_s),
        lag_ceiling_entries: c.positive("auto_failover.lag_ceiling_entries", a.lag_ceiling_entries),
    }
}

fn storage(c: &mut Checker, raw: &RawConfig) -> WalConfig {
    let bytes = raw.storage.segment_bytes;
    if bytes < MIN_SEGMENT_BYTES {
        c.invalid(
            "storage.segment_bytes",
            format!("{bytes} must be at least {MIN_SEGMENT_BYTES}"),
        );
    }
    WalConfig {
        segment_bytes: bytes,
    }
}

fn api(c: &mut Checker, raw: &RawConfig) -> ApiLimits {
    let a = &raw.api;
    let body = c.size("api.max_body_bytes", a.max_body_bytes);
    let payload = c.size("api.max_payload_bytes", a.max_payload_bytes);
    if payload > body {
        c.invalid(
            "api.max_payload_bytes",
            format!(
                "{payload} exceeds api.max_body_bytes ({body}): such a payload could never arrive"
            ),
        );
    }
    ApiLimits {
        max_body_bytes: body,
        max_payload_bytes: payload,
    }
}

/// Whether the certificate chains to the configured CA and is valid now: a node with a
/// certificate from another CA (or an expired one) would start and then be refused by
/// every peer, with the reason only in their logs.
fn signed_by_ca(files: &TlsFiles) -> Result<(), String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&read(&files.ca)?).flatten() {
        roots
            .add(der)
            .map_err(|e| format!("CA certificate unusable: {e}"))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&files.cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("malformed PEM: {e}"))?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| "no CERTIFICATE block found".to_owned())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("cannot build a verifier from tls.ca: {e}"))?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map(|_| ())
        .map_err(|e| format!("certificate does not verify against tls.ca: {e}"))
}

/// `[control]`: `tokens` as `name=role=token`, `operators` as `name=role`, `node_role` a
/// role or `none`. Every entry is checked; a token shorter than 16 characters is refused
/// (it would be guessable), as is a name given twice.
fn control(c: &mut Checker, raw: &RawConfig) -> ControlAccess {
    let r = &raw.control;
    let mut access = ControlAccess::default();
    let role = |c: &mut Checker, key: &str, text: &str| match text.parse::<ControlRole>() {
        Ok(role) => Some(role),
        Err(e) => {
            c.invalid(key, e.to_string());
            None
        }
    };
    for (i, entry) in r.tokens.iter().enumerate() {
        let key = format!("control.tokens[{i}]");
        let mut parts = entry.splitn(3, '=');
        let (Some(name), Some(role_text), Some(token)) = (parts.next(), parts.next(), parts.next())
        else {
            c.invalid(
                key,
                "expected name=role=token (e.g. ops=mesh.admin=<32 hex>)",
            );
            continue;
        };
        if name.is_empty() {
            c.invalid(&key, "the token's name is empty");
        } else if token.len() < 16 {
            c.invalid(
                &key,
                format!(
                    "the token of {name:?} has {} characters; at least 16",
                    token.len()
                ),
            );
        } else if access.tokens.iter().any(|(n, _, _)| n == name) {
            c.invalid(&key, format!("token name {name:?} is given twice"));
        } else if let Some(role) = role(c, &key, role_text) {
            access
                .tokens
                .push((name.to_owned(), role, token.to_owned()));
        }
    }
    for (i, entry) in r.operators.iter().enumerate() {
        let key = format!("control.operators[{i}]");
        let Some((name, role_text)) = entry.split_once('=') else {
            c.invalid(key, "expected name=role (e.g. alice=mesh.operate)");
            continue;
        };
        if name.is_empty() {
            c.invalid(&key, "the operator's name is empty");
        } else if access.operators.contains_key(name) {
            c.invalid(&key, format!("operator {name:?} is given twice"));
        } else if let Some(role) = role(c, &key, role_text) {
            access.operators.insert(name.to_owned(), role);
        }
    }
    access.node_role = match r.node_role.as_str() {
        "none" => None,
        text => role(c, "control.node_role", text),
    };
    access
}
