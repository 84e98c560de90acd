//! What a chaos run saw, and the invariants (ARCHITECTURE.md, "Invariants the simulators
//! check on every seed") checked on it. Pure functions of a [`History`], so each check is
//! unit-tested on fabricated histories that break it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How one client write ended, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed: the cluster that accepted it, its `origin_seq` there, and the failover
    /// version it carries.
    Acknowledged {
        /// The accepting cluster.
        cluster: String,
        /// Its origin_seq.
        seq: u64,
        /// The fencing token it was written under.
        failover_version: u64,
    },
    /// Refused before anything was written (wrong cluster, draining, no leader, bad input).
    Refused,
    /// The client cannot know (timeout, connection lost, leader lost mid-commit).
    Unknown,
}

/// One client write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    /// Its namespace.
    pub namespace: String,
    /// Its unique key.
    pub key: String,
    /// When the client created it (simulated time).
    pub sent_at: Duration,
    /// When the answer came.
    pub answered_at: Duration,
    /// The answer.
    pub outcome: WriteOutcome,
}

/// One event as a cluster holds it at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldEvent {
    /// Origin cluster.
    pub origin: String,
    /// Its origin_seq.
    pub seq: u64,
    /// Its key.
    pub key: String,
}

/// An emergency promotion's report of what may be lost: `origin`'s writes at
/// `failover_version` from `first_seq` on, through `last_seq` once the range is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedLoss {
    /// The namespace.
    pub namespace: String,
    /// The superseded active cluster.
    pub origin: String,
    /// The version the superseded writes carry.
    pub failover_version: u64,
    /// First origin_seq at risk.
    pub first_seq: u64,
    /// Last one known.
    pub last_seq: Option<u64>,
    /// The origin may have acknowledged past `last_seq` (it never reported where its
    /// writes ended).
    pub open_ended: bool,
}

impl ReportedLoss {
    fn covers(&self, namespace: &str, origin: &str, failover_version: u64, seq: u64) -> bool {
        self.namespace == namespace
            && self.origin == origin
            && self.failover_version == failover_version
            && seq >= self.first_seq
            && (self.open_ended || self.last_seq.is_some_and(|last| seq <= last))
    }
}

/// A leader as one node learned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRecord {
    /// When.
    pub at: Duration,
    /// The cluster (or `control` for the registry's group).
    pub group: String,
    /// The term.
    pub term: u64,
    /// The leader's host.
    pub leader: String,
}

/// Everything a run saw.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Every client write.
    pub writes: Vec<WriteRecord>,
    /// Per cluster, per namespace, the events it holds in apply order (read at the end).
    /// A cluster missing here could not be read.
    pub held: BTreeMap<String, BTreeMap<String, Vec<HeldEvent>>>,
    /// Per cluster, its version vector at the end.
    pub version_vectors: BTreeMap<String, BTreeMap<String, u64>>,
    /// Emergency promotions' loss reports.
    pub losses: Vec<ReportedLoss>,
    /// Namespaces moved by a planned failover.
    pub planned: BTreeSet<String>,
    /// Leaders learned, by any node.
    pub leaders: Vec<LeaderRecord>,
    /// Split-brain notices (must stay empty).
    pub split_brains: Vec<String>,
    /// Per node running at the end (by host), the nodes its gossip holds alive.
    pub alive_views: BTreeMap<String, BTreeSet<String>>,
    /// Per node running at the end (by host), events its store refused for arriving out
    /// of `origin_seq` order (they never show in `held`).
    pub non_contiguous: BTreeMap<String, u64>,
}

/// Acknowledged writes missing from a cluster at the end. A write inside a reported
/// emergency loss range may be missing (counted, not a violation); outside one, the
/// violation names the invariant its namespace is under: `planned_failover_loses_nothing`
/// after a planned move, `emergency_loss_within_reported_range` after an emergency one,
/// `committed_entries_survive` otherwise. Returns (violations, writes lost within ranges).
pub fn acknowledged_writes_survive(history: &History) -> (Vec<String>, u64) {
    let mut violations = Vec::new();
    let mut lost_in_range = 0;
    let held: BTreeMap<&str, BTreeSet<(&str, u64, &str)>> = history
        .held
        .iter()
        .map(|(cluster, namespaces)| {
            let set = namespaces
                .values()
                .flatten()
                .map(|e| (e.origin.as_str(), e.seq, e.key.as_str()))
                .collect();
            (cluster.as_str(), set)
        })
        .collect();
    for w in &history.writes {
        let WriteOutcome::Acknowledged {
            cluster,
            seq,
            failover_version,
        } = &w.outcome
        else {
            continue;
        };
        let missing: Vec<&str> = held
            .iter()
            .filter(|(_, set)| !set.contains(&(cluster.as_str(), *seq, w.key.as_str())))
            .map(|(c, _)| *c)
            .collect();
        if missing.is_empty() {
            continue;
        }
        if history
            .losses
            .iter()
            .any(|l| l.covers(&w.namespace, cluster, *failover_version, *seq))
        {
            lost_in_range += 1;
            continue;
        }
        let invariant = if history.losses.iter().any(|l| l.namespace == w.namespace) {
            "emergency_loss_within_reported_range"
        } else if history.planned.contains(&w.namespace) {
            "planned_failover_loses_nothing"
        } else {
            "committed_entries_survive"
        };
        violations.push(format!(
            "{invariant}: acknowledged write {} ({cluster}:{seq}, sent at {:.3}s) missing on {}",
            w.key,
            w.sent_at.as_secs_f64(),
            missing.join(", ")
        ));
    }
    (violations, lost_in_range)
}

/// On every cluster, each namespace's events of one origin are applied in strictly
/// increasing origin_seq order, and no key (hence no write) is applied twice. A store
/// keeps each origin contiguous and refuses (and counts) an event out of order, so those
/// counts are violations too.
pub fn exactly_once_in_order(history: &History) -> Vec<String> {
    let mut violations: Vec<String> = history
        .non_contiguous
        .iter()
        .map(|(host, n)| {
            format!("exactly_once_in_order: {host} refused {n} events released out of order")
        })
        .collect();
    for (cluster, namespaces) in &history.held {
        for (namespace, events) in namespaces {
            let mut last: BTreeMap<&str, u64> = BTreeMap::new();
            let mut keys = BTreeSet::new();
            for e in events {
                if let Some(prev) = last.insert(e.origin.as_str(), e.seq)
                    && e.seq <= prev
                {
                    violations.push(format!(
                        "exactly_once_in_order: {namespace} on {cluster} applied {}:{} after {}:{prev}",
                        e.origin, e.seq, e.origin
                    ));
                }
                if !keys.insert(e.key.as_str()) {
                    violations.push(format!(
                        "exactly_once_in_order: key {} applied twice on {cluster}",
                        e.key
                    ));
                }
            }
        }
    }
    violations
}

/// For each namespace and failover version, writes were acknowledged by one cluster only.
pub fn one_writer_per_failover_version(history: &History) -> Vec<String> {
    let mut writers: BTreeMap<(&str, u64), BTreeSet<&str>> = BTreeMap::new();
    for w in &history.writes {
        if let WriteOutcome::Acknowledged {
            cluster,
            failover_version,
            ..
        } = &w.outcome
        {
            writers
                .entry((w.namespace.as_str(), *failover_version))
                .or_default()
                .insert(cluster.as_str());
        }
    }
    writers
        .into_iter()
        .filter(|(_, clusters)| clusters.len() > 1)
        .map(|((ns, fv), clusters)| {
            let names: Vec<&str> = clusters.into_iter().collect();
            format!(
                "one_writer_per_failover_version: {ns} version {fv} written by {}",
                names.join(" and ")
            )
        })
        .collect()
}

/// At most one leader per group and term, as every node learned it.
pub fn one_leader_per_term(history: &History) -> Vec<String> {
    let mut leaders: BTreeMap<(&str, u64), BTreeSet<&str>> = BTreeMap::new();
    for l in &history.leaders {
        leaders
            .entry((l.group.as_str(), l.term))
            .or_default()
            .insert(l.leader.as_str());
    }
    let mut violations: Vec<String> = leaders
        .into_iter()
        .filter(|(_, who)| who.len() > 1)
        .map(|((group, term), who)| {
            let names: Vec<&str> = who.into_iter().collect();
            format!(
                "one_leader_per_term: {group} term {term} led by {}",
                names.join(" and ")
            )
        })
        .collect();
    violations.extend(
        history
            .split_brains
            .iter()
            .map(|s| format!("one_leader_per_term: split brain reported: {s}")),
    );
    violations
}

/// Every cluster was read at the end and holds the same version vector and, per
/// namespace, the same set of events. `expected` names the clusters that must be there.
pub fn convergence_after_heal(history: &History, expected: &[String]) -> Vec<String> {
    let mut violations = Vec::new();
    for cluster in expected {
        if !history.held.contains_key(cluster) {
            violations.push(format!(
                "convergence_after_heal: {cluster} could not be read at the end"
            ));
        }
    }
    let mut vvs = history.version_vectors.iter();
    if let Some((first, vv)) = vvs.next() {
        for (other, theirs) in vvs {
            if theirs != vv {
                violations.push(format!(
                    "convergence_after_heal: version vectors differ: {first} {vv:?}, {other} {theirs:?}"
                ));
            }
        }
    }
    // Per cluster, per namespace, the (origin, seq) pairs it holds.
    type Digest<'a> = BTreeMap<&'a str, BTreeSet<(&'a str, u64)>>;
    let digests: BTreeMap<&str, Digest<'_>> = history
        .held
        .iter()
        .map(|(c, nss)| {
            let per_ns = nss
                .iter()
                .map(|(ns, events)| {
                    (
                        ns.as_str(),
                        events.iter().map(|e| (e.origin.as_str(), e.seq)).collect(),
                    )
                })
                .collect();
            (c.as_str(), per_ns)
        })
        .collect();
    let mut all = digests.iter();
    if let Some((first, theirs)) = all.next() {
        for (other, ours) in all {
            for (ns, events) in theirs {
                if ours.get(ns) != Some(events) {
                    violations.push(format!(
                        "convergence_after_heal: {ns} differs between {first} and {other}"
                    ));
                }
            }
        }
    }
    violations
}

/// ARCHITECTURE.md invariant 8: every node running at the end holds every other running
/// node alive, and no stopped node alive.
pub fn gossip_membership_converges(history: &History) -> Vec<String> {
    let running: BTreeSet<&str> = history.alive_views.keys().map(String::as_str).collect();
    let mut violations = Vec::new();
    for (node, alive) in &history.alive_views {
        let alive: BTreeSet<&str> = alive.iter().map(String::as_str).collect();
        let missing: Vec<&str> = running
            .iter()
            .filter(|other| **other != node.as_str() && !alive.contains(*other))
            .copied()
            .collect();
        if !missing.is_empty() {
            violations.push(format!(
                "gossip_membership_converges: {node} does not hold {} alive",
                missing.join(", ")
            ));
        }
        let ghosts: Vec<&str> = alive
            .iter()
            .filter(|other| !running.contains(*other))
            .copied()
            .collect();
        if !ghosts.is_empty() {
            violations.push(format!(
                "gossip_membership_converges: {node} holds stopped {} alive",
                ghosts.join(", ")
            ));
        }
    }
    violations
}
