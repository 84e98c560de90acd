//! A scenario's fault schedule, injected into a turmoil simulation as it runs.
//!
//! Network and host faults are turmoil operations on the hosts a scenario names (its nodes
//! and witnesses, registered under their scenario names). Disk faults, slow disks and
//! failover commands need the node, so they are handed back to the caller, which owns the
//! node driver and its simulated disk.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::harness::TraceRecorder;
use super::scenario::{Fault, Scenario};

/// A scenario's fault schedule, driven alongside the simulation.
///
/// Driver contract, once per step: `handle_due(sim, sim.elapsed(), trace)`, act on the
/// returned node-level steps, then `sim.step()`. [`FaultSchedule::poll_timeout`] says when
/// the next step is due, for drivers that skip ahead.
#[derive(Debug)]
pub struct FaultSchedule {
    pending: VecDeque<Fault>,
    /// Nodes by cluster, in scenario order.
    clusters: BTreeMap<String, Vec<String>>,
    nodes: Vec<String>,
    groups: BTreeMap<String, Vec<String>>,
    held: Vec<HeldLink>,
    /// Hosts outside the topology (the workload's client) cut off from crashed nodes too.
    others: Vec<String>,
    /// Directed links the schedule's partitions cut and no heal has mended yet: a node
    /// restarted meanwhile gets its other links back, not these.
    cut: BTreeSet<(String, String)>,
}

/// A held link and when it is released.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HeldLink {
    release_at: Duration,
    a: String,
    b: String,
}

impl FaultSchedule {
    /// The schedule of `scenario`, nothing injected yet.
    pub fn new(scenario: &Scenario) -> Self {
        let nodes = scenario.node_names();
        let clusters = scenario
            .topology
            .clusters
            .iter()
            .map(|c| (c.id.clone(), scenario.members(&c.id)))
            .collect();
        let groups = nodes
            .iter()
            .cloned()
            .chain(scenario.topology.clusters.iter().map(|c| c.id.clone()))
            .map(|name| {
                let members = scenario.members(&name);
                (name, members)
            })
            .collect();
        FaultSchedule {
            pending: scenario.faults.iter().cloned().collect(),
            clusters,
            nodes,
            groups,
            held: Vec::new(),
            others: Vec::new(),
            cut: BTreeSet::new(),
        }
    }

    /// Sets every link's latency to half the topology's round-trip time: inside a
    /// cluster, between clusters (and to witnesses), and the per-pair overrides. Call once,
    /// after every node's host is registered.
    pub fn set_link_latencies(&self, sim: &turmoil::Sim<'_>, scenario: &Scenario) {
        let half = |rtt_ms: f64| Duration::from_secs_f64(rtt_ms.max(0.0) / 2000.0);
        let cluster_of = |node: &str| {
            self.clusters
                .iter()
                .find(|(_, members)| members.iter().any(|m| m == node))
                .map(|(id, _)| id.as_str())
        };
        for (i, a) in self.nodes.iter().enumerate() {
            for b in self.nodes.iter().skip(i + 1) {
                let rtt = match (cluster_of(a), cluster_of(b)) {
                    (Some(x), Some(y)) if x == y => scenario.topology.rtt_inside_ms,
                    (Some(x), Some(y)) => scenario
                        .topology
                        .links
                        .iter()
                        .find(|l| (l.a == x && l.b == y) || (l.a == y && l.b == x))
                        .map_or(scenario.topology.rtt_between_ms, |l| l.rtt_ms),
                    _ => scenario.topology.rtt_between_ms,
                };
                sim.set_link_latency(a.as_str(), b.as_str(), half(rtt));
            }
        }
    }

    /// Counts `host` (a host that is not a node, such as the workload's client) among the
    /// hosts a crashed node is cut off from.
    pub fn add_other_host(&mut self, host: &str) {
        self.others.push(host.to_owned());
    }

    /// Crashes `node` as a machine that loses power does: it sends nothing more. turmoil
    /// would otherwise close its sockets in the order its runtime drops tasks, an order that
    /// depends on process-wide task ids (so a second run in one process would differ), and
    /// peers would see resets a dead machine never sends. Its links stay cut until
    /// [`FaultSchedule::restart`].
    pub fn crash(&self, sim: &mut turmoil::Sim<'_>, node: &str) {
        for other in self.nodes.iter().chain(&self.others) {
            if other != node {
                sim.partition(node, other.as_str());
            }
        }
        sim.crash(node);
    }

    /// Restarts `node` (crashed or not) and restores its links, except those a partition
    /// still cuts.
    pub fn restart(&self, sim: &mut turmoil::Sim<'_>, node: &str) {
        for other in self.nodes.iter().chain(&self.others) {
            if other != node {
                sim.repair(node, other.as_str());
            }
        }
        for (from, to) in &self.cut {
            if from == node || to == node {
                sim.partition_oneway(from.as_str(), to.as_str());
            }
        }
        sim.bounce(node);
    }

    /// Cuts every directed link from `from`'s nodes to `to`'s (and back when `both`).
    fn cut_links(&mut self, sim: &mut turmoil::Sim<'_>, from: &str, to: &str, both: bool) {
        let mut pairs = Vec::new();
        self.for_pairs(from, to, |x, y| {
            pairs.push((x.to_owned(), y.to_owned()));
            if both {
                pairs.push((y.to_owned(), x.to_owned()));
            }
        });
        for (x, y) in pairs {
            sim.partition_oneway(x.as_str(), y.as_str());
            self.cut.insert((x, y));
        }
    }

    /// When the next step (a scheduled fault or the release of a held link) is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let next_fault = self.pending.front().map(|f| seconds(f.at_s()));
        let next_release = self.held.iter().map(|h| h.release_at).min();
        match (next_fault, next_release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether every step was injected and every held link released.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.held.is_empty()
    }

    /// Injects every step due at `now` (releases first, then faults in schedule order),
    /// records each in `trace`, and returns the due steps that need the node (disk faults,
    /// slow disks, failover commands), in order.
    pub fn handle_due(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        trace: &TraceRecorder,
    ) -> Vec<Fault> {
        self.inject_due(sim, now, trace)
            .into_iter()
            .filter(|f| {
                matches!(
                    f,
                    Fault::DiskFault { .. } | Fault::SlowDisk { .. } | Fault::Failover { .. }
                )
            })
            .collect()
    }

    /// [`FaultSchedule::handle_due`], returning every step it injected (in order), not only
    /// those that need the node: a runner that keeps disks outside the hosts must crash a
    /// killed node's disk too.
    pub fn inject_due(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: Duration,
        trace: &TraceRecorder,
    ) -> Vec<Fault> {
        let mut releases: Vec<HeldLink> = Vec::new();
        self.held.retain(|h| {
            let due = h.release_at <= now;
            if due {
                releases.push(h.clone());
            }
            !due
        });
        for link in releases {
            self.for_pairs(&link.a, &link.b, |a, b| sim.release(a, b));
            trace.record_at(now, "sim", format!("release {} | {}", link.a, link.b));
        }

        let mut injected = Vec::new();
        while let Some(fault) = self.pending.front() {
            if seconds(fault.at_s()) > now {
                break;
            }
            let Some(fault) = self.pending.pop_front() else {
                break;
            };
            trace.record_at(now, "sim", format!("{fault:?}"));
            match &fault {
                Fault::RegionKill { cluster, .. } => {
                    for node in self.clusters.get(cluster).into_iter().flatten() {
                        self.crash(sim, node);
                    }
                }
                Fault::RegionRestart { cluster, .. } => {
                    for node in self.clusters.get(cluster).into_iter().flatten() {
                        self.restart(sim, node);
                    }
                }
                Fault::Crash { node, .. } => self.crash(sim, node),
                Fault::Restart { node, .. } => self.restart(sim, node),
                Fault::Partition { a, b, .. } => {
                    let (a, b) = (a.clone(), b.clone());
                    self.cut_links(sim, &a, &b, true);
                }
                Fault::OneWayPartition { from, to, .. } => {
                    let (from, to) = (from.clone(), to.clone());
                    self.cut_links(sim, &from, &to, false);
                }
                Fault::HoldLink { a, b, for_s, .. } => {
                    self.for_pairs(a, b, |x, y| sim.hold(x, y));
                    self.held.push(HeldLink {
                        release_at: now + seconds(*for_s),
                        a: a.clone(),
                        b: b.clone(),
                    });
                }
                Fault::PacketLoss { rate, .. } => self.set_loss_between_clusters(sim, *rate),
                Fault::Heal { .. } => self.heal(sim),
                Fault::DiskFault { .. } | Fault::SlowDisk { .. } | Fault::Failover { .. } => {}
            }
            injected.push(fault);
        }
        injected
    }

    /// Lifts every partition (both kinds), held link and loss rate. Crashed hosts stay
    /// down: a heal is about the network.
    fn heal(&mut self, sim: &mut turmoil::Sim<'_>) {
        for (i, a) in self.nodes.iter().enumerate() {
            for b in self.nodes.iter().skip(i + 1) {
                // Release before repair: a held link's backlog is delivered, not dropped.
                sim.release(a.as_str(), b.as_str());
                sim.repair(a.as_str(), b.as_str());
                sim.set_link_fail_rate(a.as_str(), b.as_str(), 0.0);
            }
        }
        self.held.clear();
        self.cut.clear();
    }

    /// turmoil's TCP has no retransmission: a lost message breaks its link until the
    /// repair rate mends it, so on TCP this is flapping connections, not silent loss.
    fn set_loss_between_clusters(&self, sim: &mut turmoil::Sim<'_>, rate: f64) {
        let cluster_of = |node: &str| {
            self.clusters
                .iter()
                .find(|(_, members)| members.iter().any(|m| m == node))
                .map(|(id, _)| id.clone())
        };
        for (i, a) in self.nodes.iter().enumerate() {
            for b in self.nodes.iter().skip(i + 1) {
                let between = match (cluster_of(a), cluster_of(b)) {
                    (Some(x), Some(y)) => x != y,
                    _ => true,
                };
                if between {
                    sim.set_link_fail_rate(a.as_str(), b.as_str(), rate);
                }
            }
        }
    }

    /// Calls `f` for every (node of `a`, node of `b`) pair.
    fn for_pairs(&self, a: &str, b: &str, mut f: impl FnMut(&str, &str)) {
        let empty = Vec::new();
        let (a, b) = (
            self.groups.get(a).unwrap_or(&empty),
            self.groups.get(b).unwrap_or(&empty),
        );
        for x in a {
            for y in b {
                f(x, y);
            }
        }
    }
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
