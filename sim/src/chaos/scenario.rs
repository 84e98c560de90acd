//! Chaos scenarios as data: `scenarios/*.toml`, typed and validated.
//!
//! A scenario names its topology, its client workload, a fault schedule, the invariants
//! to check and the SLOs to assert. Loading refuses unknown keys and values that name
//! nothing in the topology, and every error names the file and the key
//! (`scenarios/x.toml: faults[2].node: ...`), so a typo fails CI instead of silently
//! running a weaker scenario.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Value;

/// A scenario file that could not be used. Loading has no side effects: on any error
/// nothing was run or changed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{file}:{line}:{column}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown, missing, of the wrong type, or its value is out of range or names
    /// nothing in the topology.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key, as a path (`faults[2].node`, `topology.clusters[0].nodes`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One chaos scenario.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, as reports print it (usually the file's stem).
    pub name: String,
    /// What it shows, in one or two sentences.
    #[serde(default)]
    pub description: String,
    /// Simulated seconds the scenario runs for.
    pub duration_s: f64,
    /// The mesh it runs on.
    pub topology: Topology,
    /// The client load during the run.
    pub workload: Workload,
    /// Faults and commands, in the order of their `at_s`.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Names of the invariants checked on every seed ([`INVARIANTS`]).
    #[serde(default)]
    pub invariants: Vec<String>,
    /// Service levels asserted over the seeds.
    #[serde(default)]
    pub slos: Vec<Slo>,
}

/// Clusters, witnesses and link latencies.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// One entry per cluster (one cluster per region).
    pub clusters: Vec<ClusterSpec>,
    /// Witness nodes (vote in the registry, hold no data), named `witness-1`, ….
    #[serde(default)]
    pub witnesses: u32,
    /// Round-trip time between two nodes of the same cluster, in milliseconds (each
    /// direction takes half).
    pub rtt_inside_ms: f64,
    /// Round-trip time between nodes of different clusters (and to witnesses), in ms.
    pub rtt_between_ms: f64,
    /// Overrides of `rtt_between_ms` for particular pairs of clusters.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

/// One cluster.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Cluster id; also the region name.
    pub id: String,
    /// Voters in the cluster (3 or 5); named `<id>-1`, `<id>-2`, ….
    pub nodes: u32,
    /// Failover priority (higher is preferred by automatic failover).
    #[serde(default)]
    pub priority: u32,
}

/// A latency override between two clusters.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One cluster.
    pub a: String,
    /// The other.
    pub b: String,
    /// Round-trip time, in milliseconds.
    pub rtt_ms: f64,
}

/// The client load.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Writes per second, spread evenly over the namespaces.
    pub writes_per_s: f64,
    /// Namespaces written; the first cluster starts active for all of them unless
    /// `active` says otherwise.
    pub namespaces: Vec<String>,
    /// Payload size of each write, in bytes.
    pub payload_bytes: u32,
    /// The cluster initially active for every namespace (default: the first cluster).
    #[serde(default)]
    pub active: Option<String>,
}

/// Whether a failover waits for the target to catch up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    /// Drain, catch up, promote: no acknowledged write is lost.
    Planned,
    /// Promote without the active's cooperation, reporting what may be lost.
    Emergency,
}

/// What a disk fault does to the node's WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskFaultKind {
    /// The node crashes and loses writes that were not yet fsynced.
    LostUnsyncedWrites,
    /// A sector of the last segment reads back corrupted after the next restart.
    CorruptSector,
    /// fsync starts failing (the node must stop acknowledging).
    FsyncError,
    /// The disk is full: appends fail.
    Full,
}

/// One step of the fault schedule: a fault injected, or a command issued, at `at_s`.
///
/// Groups (`a`, `b`, `from`, `to` of the network faults) name a cluster (all its nodes) or
/// one node (`us-east-2`, `witness-1`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Every node of `cluster` crashes at once.
    RegionKill {
        /// Seconds into the run.
        at_s: f64,
        /// The cluster.
        cluster: String,
    },
    /// Every node of `cluster` restarts from its disk.
    RegionRestart {
        /// Seconds into the run.
        at_s: f64,
        /// The cluster.
        cluster: String,
    },
    /// `a` and `b` cannot reach each other, both ways.
    Partition {
        /// Seconds into the run.
        at_s: f64,
        /// One group.
        a: String,
        /// The other.
        b: String,
    },
    /// Every partition, held link and loss rate is lifted.
    Heal {
        /// Seconds into the run.
        at_s: f64,
    },
    /// `from` cannot reach `to`; `to` still reaches `from`.
    OneWayPartition {
        /// Seconds into the run.
        at_s: f64,
        /// Whose messages are dropped.
        from: String,
        /// Who does not hear them.
        to: String,
    },
    /// Messages between `a` and `b` are held for `for_s`, then delivered in one burst (a
    /// lag spike).
    HoldLink {
        /// Seconds into the run.
        at_s: f64,
        /// One group.
        a: String,
        /// The other.
        b: String,
        /// How long the link is held.
        for_s: f64,
    },
    /// Each message between clusters is lost with probability `rate` until a `heal` or a
    /// `packet_loss` with rate 0.
    PacketLoss {
        /// Seconds into the run.
        at_s: f64,
        /// Probability in [0, 1].
        rate: f64,
    },
    /// One node's process crashes.
    Crash {
        /// Seconds into the run.
        at_s: f64,
        /// The node.
        node: String,
    },
    /// One node's process restarts from its disk.
    Restart {
        /// Seconds into the run.
        at_s: f64,
        /// The node.
        node: String,
    },
    /// One node's disk misbehaves.
    DiskFault {
        /// Seconds into the run.
        at_s: f64,
        /// The node.
        node: String,
        /// How (`kind` names the schedule step, so the disk's fault is `fault`).
        fault: DiskFaultKind,
    },
    /// One node's fsyncs take `ms` longer from now on (0 restores it).
    SlowDisk {
        /// Seconds into the run.
        at_s: f64,
        /// The node.
        node: String,
        /// Added fsync latency, in milliseconds.
        ms: f64,
    },
    /// An operator asks for `namespace` to move to cluster `to`.
    Failover {
        /// Seconds into the run.
        at_s: f64,
        /// The namespace.
        namespace: String,
        /// The target cluster.
        to: String,
        /// Planned or emergency (`kind` names the schedule step, so this is `mode`).
        mode: FailoverMode,
    },
}

impl Fault {
    /// Seconds into the run at which it happens.
    pub fn at_s(&self) -> f64 {
        match self {
            Fault::RegionKill { at_s, .. }
            | Fault::RegionRestart { at_s, .. }
            | Fault::Partition { at_s, .. }
            | Fault::Heal { at_s }
            | Fault::OneWayPartition { at_s, .. }
            | Fault::HoldLink { at_s, .. }
            | Fault::PacketLoss { at_s, .. }
            | Fault::Crash { at_s, .. }
            | Fault::Restart { at_s, .. }
            | Fault::DiskFault { at_s, .. }
            | Fault::SlowDisk { at_s, .. }
            | Fault::Failover { at_s, .. } => *at_s,
        }
    }

    /// The schedule kind, as written in the file (`region_kill`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::RegionKill { .. } => "region_kill",
            Fault::RegionRestart { .. } => "region_restart",
            Fault::Partition { .. } => "partition",
            Fault::Heal { .. } => "heal",
            Fault::OneWayPartition { .. } => "one_way_partition",
            Fault::HoldLink { .. } => "hold_link",
            Fault::PacketLoss { .. } => "packet_loss",
            Fault::Crash { .. } => "crash",
            Fault::Restart { .. } => "restart",
            Fault::DiskFault { .. } => "disk_fault",
            Fault::SlowDisk { .. } => "slow_disk",
            Fault::Failover { .. } => "failover",
        }
    }
}

/// A service level: a duration measured on every seed (for example from a region kill to
/// the first successful write on the new active), asserted over all seeds.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// What is measured ([`SLO_NAMES`]).
    pub name: String,
    /// The 99th percentile over the seeds must not exceed this, in seconds.
    pub p99_s: f64,
    /// No single seed may exceed this, in seconds.
    pub max_s: f64,
}

/// The invariants a scenario may ask for: ARCHITECTURE.md, "Invariants the simulators
/// check on every seed", in that order.
pub const INVARIANTS: [&str; 8] = [
    "one_leader_per_term",
    "committed_entries_survive",
    "one_writer_per_failover_version",
    "exactly_once_in_order",
    "planned_failover_loses_nothing",
    "emergency_loss_within_reported_range",
    "convergence_after_heal",
    "gossip_membership_converges",
];

/// The SLOs a scenario may assert (the targets).
pub const SLO_NAMES: [&str; 4] = [
    // From a region kill (or an emergency failover command) to the first successful
    // client write on the new active cluster.
    "failover_to_first_write",
    // Longest stretch without a successful client write around a planned failover.
    "write_unavailability",
    // Cross-region replication lag, seconds, at its worst during the run.
    "replication_lag",
    // From the last heal to identical VVs and digests everywhere.
    "convergence_after_heal",
];

/// What a group in a network fault names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Every node of a cluster.
    Cluster(String),
    /// One node or witness.
    Node(String),
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Cluster(id) | Group::Node(id) => f.write_str(id),
        }
    }
}

impl Scenario {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: path.to_owned(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Scenario, ScenarioError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start).min(text.len());
            let before = text.get(..offset).unwrap_or("");
            ScenarioError::Syntax {
                file: file.to_owned(),
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                message: e.message().trim().to_owned(),
            }
        })?;
        let scenario: Scenario =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().message().trim().to_owned();
                // serde reports a missing field, and an unknown one inside a tagged enum (a
                // fault), at its parent; name the field itself.
                let field = message
                    .strip_prefix("missing field `")
                    .or_else(|| message.strip_prefix("unknown field `"))
                    .and_then(|m| m.split('`').next());
                let key = match field {
                    Some(field) if path == "." => field.to_owned(),
                    Some(field) if !path.ends_with(&format!(".{field}")) => {
                        format!("{path}.{field}")
                    }
                    _ => path,
                };
                ScenarioError::Invalid {
                    file: file.to_owned(),
                    key,
                    message,
                }
            })?;
        scenario
            .validate()
            .map_err(|(key, message)| ScenarioError::Invalid {
                file: file.to_owned(),
                key,
                message,
            })?;
        Ok(scenario)
    }

    /// When the schedule's last `heal` comes (the `convergence_after_heal` SLO times it).
    pub fn last_heal(&self) -> Option<Duration> {
        self.faults
            .iter()
            .filter(|f| matches!(f, Fault::Heal { .. }))
            .map(|f| Duration::try_from_secs_f64(f.at_s()).unwrap_or_default())
            .next_back()
    }

    /// Every node name, clusters' nodes first (in file order), then the witnesses.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for cluster in &self.topology.clusters {
            for n in 1..=cluster.nodes {
                names.push(format!("{}-{n}", cluster.id));
            }
        }
        for n in 1..=self.topology.witnesses {
            names.push(format!("witness-{n}"));
        }
        names
    }

    /// The nodes `group` names (a cluster's nodes, or the one node); empty if it names
    /// nothing (validation refuses such files).
    pub fn members(&self, group: &str) -> Vec<String> {
        match self.group(group) {
            Some(Group::Cluster(id)) => self
                .topology
                .clusters
                .iter()
                .filter(|c| c.id == id)
                .flat_map(|c| (1..=c.nodes).map(move |n| format!("{}-{n}", c.id)))
                .collect(),
            Some(Group::Node(name)) => vec![name],
            None => Vec::new(),
        }
    }

    /// What `name` refers to in the topology.
    pub fn group(&self, name: &str) -> Option<Group> {
        if self.topology.clusters.iter().any(|c| c.id == name) {
            Some(Group::Cluster(name.to_owned()))
        } else if self.node_names().iter().any(|n| n == name) {
            Some(Group::Node(name.to_owned()))
        } else {
            None
        }
    }

    /// Checks what serde cannot: ranges, references into the topology, schedule order.
    /// Returns the first problem as (key, message).
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: String, message: String| Err((key, message));
        positive("duration_s", self.duration_s)?;

        let topology = &self.topology;
        if topology.clusters.is_empty() {
            return bad("topology.clusters".into(), "at least one cluster".into());
        }
        let mut ids = BTreeSet::new();
        for (i, cluster) in topology.clusters.iter().enumerate() {
            let key = format!("topology.clusters[{i}]");
            if let Err(e) = omnirelay_core::ClusterId::new(&cluster.id) {
                return bad(format!("{key}.id"), e.to_string());
            }
            if cluster.id.starts_with("witness") {
                return bad(format!("{key}.id"), "`witness…` names the witnesses".into());
            }
            if !ids.insert(cluster.id.as_str()) {
                return bad(format!("{key}.id"), format!("{:?} twice", cluster.id));
            }
            if !(1..=9).contains(&cluster.nodes) {
                return bad(format!("{key}.nodes"), "between 1 and 9 nodes".into());
            }
        }
        non_negative("topology.rtt_inside_ms", topology.rtt_inside_ms)?;
        non_negative("topology.rtt_between_ms", topology.rtt_between_ms)?;
        for (i, link) in topology.links.iter().enumerate() {
            let key = format!("topology.links[{i}]");
            for (end, id) in [("a", &link.a), ("b", &link.b)] {
                if !ids.contains(id.as_str()) {
                    return bad(format!("{key}.{end}"), format!("no cluster {id:?}"));
                }
            }
            if link.a == link.b {
                return bad(format!("{key}.b"), "a link joins two clusters".into());
            }
            non_negative(&format!("{key}.rtt_ms"), link.rtt_ms)?;
        }

        let workload = &self.workload;
        non_negative("workload.writes_per_s", workload.writes_per_s)?;
        if workload.namespaces.is_empty() {
            return bad(
                "workload.namespaces".into(),
                "at least one namespace".into(),
            );
        }
        let mut namespaces = BTreeSet::new();
        for (i, namespace) in workload.namespaces.iter().enumerate() {
            let key = format!("workload.namespaces[{i}]");
            if let Err(e) = omnirelay_core::NamespaceId::new(namespace) {
                return bad(key, e.to_string());
            }
            if !namespaces.insert(namespace.as_str()) {
                return bad(key, format!("{namespace:?} twice"));
            }
        }
        if let Some(active) = &workload.active
            && !ids.contains(active.as_str())
        {
            return bad("workload.active".into(), format!("no cluster {active:?}"));
        }

        let mut previous = 0.0;
        for (i, fault) in self.faults.iter().enumerate() {
            let key = format!("faults[{i}]");
            let at = fault.at_s();
            non_negative(&format!("{key}.at_s"), at)?;
            if at > self.duration_s {
                return bad(
                    format!("{key}.at_s"),
                    format!("{at} is after the end of the run ({} s)", self.duration_s),
                );
            }
            if at < previous {
                return bad(
                    format!("{key}.at_s"),
                    format!(
                        "{at} is before the previous step ({previous}): keep the schedule in order"
                    ),
                );
            }
            previous = at;
            self.validate_fault(&key, fault, &ids, &namespaces)?;
        }

        let mut seen = BTreeSet::new();
        for (i, name) in self.invariants.iter().enumerate() {
            let key = format!("invariants[{i}]");
            if !INVARIANTS.contains(&name.as_str()) {
                return bad(
                    key,
                    format!("unknown invariant {name:?}; known: {INVARIANTS:?}"),
                );
            }
            if !seen.insert(name) {
                return bad(key, format!("{name:?} twice"));
            }
        }
        for (i, slo) in self.slos.iter().enumerate() {
            let key = format!("slos[{i}]");
            if !SLO_NAMES.contains(&slo.name.as_str()) {
                return bad(
                    format!("{key}.name"),
                    format!("unknown SLO {:?}; known: {SLO_NAMES:?}", slo.name),
                );
            }
            positive(&format!("{key}.p99_s"), slo.p99_s)?;
            positive(&format!("{key}.max_s"), slo.max_s)?;
            if slo.p99_s > slo.max_s {
                return bad(format!("{key}.p99_s"), "greater than max_s".into());
            }
        }
        Ok(())
    }

    fn validate_fault(
        &self,
        key: &str,
        fault: &Fault,
        clusters: &BTreeSet<&str>,
        namespaces: &BTreeSet<&str>,
    ) -> Result<(), (String, String)> {
        let cluster = |field: &str, id: &str| {
            if clusters.contains(id) {
                Ok(())
            } else {
                Err((format!("{key}.{field}"), format!("no cluster {id:?}")))
            }
        };
        let node = |field: &str, name: &str| match self.group(name) {
            Some(Group::Node(_)) => Ok(()),
            _ => Err((format!("{key}.{field}"), format!("no node {name:?}"))),
        };
        let group = |field: &str, name: &str| match self.group(name) {
            Some(_) => Ok(()),
            None => Err((
                format!("{key}.{field}"),
                format!("{name:?} names no cluster or node"),
            )),
        };
        let apart = |a: &str, b: &str| {
            let (a, b) = (self.members(a), self.members(b));
            if a.iter().any(|n| b.contains(n)) {
                Err((
                    format!("{key}.b"),
                    "the two groups overlap: a node cannot be cut from itself".into(),
                ))
            } else {
                Ok(())
            }
        };
        match fault {
            Fault::RegionKill { cluster: id, .. } | Fault::RegionRestart { cluster: id, .. } => {
                cluster("cluster", id)
            }
            Fault::Partition { a, b, .. } => {
                group("a", a)?;
                group("b", b)?;
                apart(a, b)
            }
            Fault::HoldLink { a, b, for_s, .. } => {
                group("a", a)?;
                group("b", b)?;
                apart(a, b)?;
                positive(&format!("{key}.for_s"), *for_s)
            }
            Fault::OneWayPartition { from, to, .. } => {
                group("from", from)?;
                group("to", to)?;
                apart(from, to)
            }
            Fault::Heal { .. } => Ok(()),
            Fault::PacketLoss { rate, .. } => {
                if (0.0..=1.0).contains(rate) {
                    Ok(())
                } else {
                    Err((format!("{key}.rate"), format!("{rate} is not in [0, 1]")))
                }
            }
            Fault::Crash { node: name, .. }
            | Fault::Restart { node: name, .. }
            | Fault::DiskFault { node: name, .. } => node("node", name),
            Fault::SlowDisk { node: name, ms, .. } => {
                node("node", name)?;
                non_negative(&format!("{key}.ms"), *ms)
            }
            Fault::Failover { namespace, to, .. } => {
                if !namespaces.contains(namespace.as_str()) {
                    return Err((
                        format!("{key}.namespace"),
                        format!("{namespace:?} is not in workload.namespaces"),
                    ));
                }
                cluster("to", to)
            }
        }
    }
}

fn non_negative(key: &str, value: f64) -> Result<(), (String, String)> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!("{value} is not a finite number >= 0"),
        ))
    }
}

fn positive(key: &str, value: f64) -> Result<(), (String, String)> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!("{value} is not a finite number > 0"),
        ))
    }
}
