//! Runs one scenario for one seed and checks the invariants.

use std::collections::BTreeMap;
use std::time::Duration;

use omnirelay_core::consensus::PersistedState;
use omnirelay_core::failover::{AutoFailoverPolicy, FailoverId, FailoverPolicy, LossReport};
use omnirelay_core::node::{Group, NodeConfig, NodeEvent, NodeMessage, OperatorReply};
use omnirelay_core::{ClusterId, Instant, NodeId};
use rand::Rng;
use serde::Serialize;

use super::checker::{self, Violation};
use super::client::{Ack, ClientEvent, ModelClient};
use super::participant::{MeshEvent, MeshInput, Participant, SimNode};
use super::scenario::{Action, CLIENT, Layout, MOVED, Scenario, WITNESS};
use crate::model::{LinkModel, NetworkModel, Observer, Simulation};

/// Client writes per second.
pub const WRITE_RATE: u32 = 1000;
/// Simulated fsync time.
pub const FSYNC: Duration = Duration::from_millis(2);

/// What one seed of one scenario showed.
#[derive(Clone, Debug, Serialize)]
pub struct SeedReport {
    /// The scenario.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The trace hash (same seed, same hash).
    pub trace_hash: String,
    /// Writes acknowledged.
    pub acked: usize,
    /// Writes issued.
    pub sent: u64,
    /// Longest gap between two acknowledged writes of `ns-0` after `measure_from`, seconds.
    pub unavailability_s: f64,
    /// Region kill to the first write acknowledged by another cluster, seconds.
    pub kill_to_write_s: Option<f64>,
    /// Acknowledged writes missing at the end but inside a reported loss range.
    pub reported_lost: usize,
    /// Writes the emergency promotions reported at risk (known upper bound).
    pub at_risk_reported: u64,
    /// Failovers the control leaders reported finished, by final step.
    pub failovers: BTreeMap<String, u64>,
    /// The operator requests' answers, in request order.
    pub operator_replies: Vec<String>,
    /// Invariant violations (empty: the seed passed).
    pub violations: Vec<Violation>,
    /// Simulated steps.
    pub steps: u64,
}

impl SeedReport {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release --bin omnirelay-sim -- mesh --scenario {} --seeds {}..{} --json",
            self.scenario,
            self.seed,
            self.seed + 1
        )
    }
}

/// Everything the run observed.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Acknowledged writes.
    pub acks: Vec<Ack>,
    /// Refusals.
    pub refusals: u64,
    /// Leaders per (group, cluster or "control", term).
    pub leaders: BTreeMap<(Group, String, u64), NodeId>,
    /// Leadership claimed twice for one term (invariant 1).
    pub split_brains: Vec<String>,
    /// Loss reports, the latest per failover (a range is sent again once it closes).
    pub losses: BTreeMap<FailoverId, LossReport>,
    /// Operator answers by handle.
    pub replies: BTreeMap<u64, OperatorReply>,
    /// Audit records' final steps.
    pub finished: BTreeMap<String, u64>,
    cluster_of: BTreeMap<NodeId, String>,
}

impl Observer<Participant> for Recorder {
    fn on_event(&mut self, _sim: &mut Simulation<Participant>, node: NodeId, event: &MeshEvent) {
        match event {
            MeshEvent::Client(ClientEvent::Acked(ack)) => self.acks.push(ack.clone()),
            MeshEvent::Client(ClientEvent::Refused { .. }) => self.refusals += 1,
            MeshEvent::Node(NodeEvent::Leadership { group, change }) => {
                let scope = match group {
                    Group::Cluster => self.cluster_of.get(&node).cloned().unwrap_or_default(),
                    Group::Control => "control".into(),
                };
                let key = (*group, scope.clone(), change.term.0);
                match self.leaders.get(&key) {
                    Some(first) if *first != change.leader => self.split_brains.push(format!(
                        "{scope} term {}: {first} and {}",
                        change.term.0, change.leader
                    )),
                    Some(_) => {}
                    None => {
                        self.leaders.insert(key, change.leader);
                    }
                }
            }
            MeshEvent::Node(NodeEvent::SplitBrain {
                term,
                first,
                second,
                ..
            }) => {
                self.split_brains
                    .push(format!("term {}: {first} and {second}", term.0));
            }
            MeshEvent::Node(NodeEvent::LossReported { failover, report }) => {
                self.losses.insert(*failover, report.clone());
            }
            MeshEvent::Node(NodeEvent::OperatorReply { op, reply }) => {
                self.replies.insert(*op, reply.clone());
            }
            MeshEvent::Node(NodeEvent::Audit(record)) if record.to.is_terminal() => {
                *self.finished.entry(record.to.to_string()).or_default() += 1;
            }
            MeshEvent::Node(_) => {}
        }
    }
}

fn node_config(scenario: &Scenario, id: NodeId) -> NodeConfig {
    let mut config = NodeConfig::new(id, scenario.layout.topology());
    config.auto_failover = AutoFailoverPolicy {
        enabled: scenario.auto_failover,
        detection_window: Duration::from_millis(1000),
        ..AutoFailoverPolicy::default()
    };
    config.failover = FailoverPolicy {
        max_lag_entries: 500,
        max_lag: Duration::from_secs(1),
        cooldown: Duration::from_secs(2),
        catch_up_timeout: Duration::from_secs(3),
        require_ticket: false,
        require_approval: scenario.require_approval,
    };
    config
}

fn network(layout: Layout) -> NetworkModel {
    let clusters = match layout {
        Layout::ThreeClusters => 3,
        Layout::TwoClusters => 2,
    };
    let ms = Duration::from_micros;
    let mut net = NetworkModel::uniform(LinkModel::uniform(ms(24_000), ms(26_000)));
    for i in 0..clusters {
        for n in layout.nodes_of(i) {
            net.set_zone(n, i as u32);
        }
        net.set_zone_link(i as u32, i as u32, LinkModel::uniform(ms(400), ms(600)));
    }
    net.set_zone(WITNESS, 10);
    net.set_zone(CLIENT, 11);
    net
}

/// Runs `scenario` with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> SeedReport {
    run_with_sim(scenario, seed).0
}

/// Runs `scenario` with `seed` and hands back the simulation for inspection.
pub fn run_with_sim(scenario: &Scenario, seed: u64) -> (SeedReport, Simulation<Participant>) {
    run_observed(scenario, seed, &mut ())
}

/// Feeds every callback to the run's recorder and to a caller's observer.
struct Tee<'a> {
    recorder: Recorder,
    extra: &'a mut dyn Observer<Participant>,
}

impl Observer<Participant> for Tee<'_> {
    fn on_event(&mut self, sim: &mut Simulation<Participant>, node: NodeId, event: &MeshEvent) {
        self.recorder.on_event(sim, node, event);
        self.extra.on_event(sim, node, event);
    }

    fn on_deliver(&mut self, now: Instant, from: NodeId, to: NodeId, msg: &NodeMessage) {
        self.extra.on_deliver(now, from, to, msg);
    }

    fn after_step(&mut self, sim: &Simulation<Participant>) {
        self.extra.after_step(sim);
    }
}

/// Runs `scenario` with `seed`, showing `extra` everything the run's own recorder sees (a
/// replay's trace writer, a debugging probe).
pub fn run_observed(
    scenario: &Scenario,
    seed: u64,
    extra: &mut dyn Observer<Participant>,
) -> (SeedReport, Simulation<Participant>) {
    let topology = scenario.layout.topology();
    let mut sim: Simulation<Participant> = Simulation::new(seed, network(scenario.layout));
    let mut tee = Tee {
        recorder: Recorder::default(),
        extra,
    };
    let mut seeds = BTreeMap::new();
    for id in topology.all_nodes() {
        let node_seed: u64 = sim.rng().random();
        seeds.insert(id, node_seed);
        if let Some(c) = topology.cluster_of(id) {
            tee.recorder.cluster_of.insert(id, c.id.to_string());
        }
        // The topology is a constant of the scenario: a failure here is a bug in it.
        if let Ok(node) = SimNode::start(
            node_config(scenario, id),
            Default::default(),
            node_seed,
            FSYNC,
            Instant::ZERO,
        ) {
            sim.add_node(id, Participant::Node(Box::new(node)));
        }
    }
    let client = ModelClient::new(CLIENT, topology.clone(), WRITE_RATE, Instant::ZERO);
    sim.add_node(CLIENT, Participant::Client(Box::new(client)));
    let at = |d: Duration| Instant::ZERO + d;
    sim.schedule_local(
        at(scenario.workload_until),
        CLIENT,
        MeshInput::Workload(false),
    );

    let mut disks: BTreeMap<NodeId, [PersistedState; 2]> = BTreeMap::new();
    let mut next_op = 1u64;
    let mut last_started = None;
    for (when, action) in &scenario.actions {
        sim.run_until(at(*when), &mut tee);
        for reply in tee.recorder.replies.values() {
            if let OperatorReply::Started(id) = reply {
                last_started = Some(*id);
            }
        }
        match action {
            Action::Operator { via, request } => {
                sim.schedule_local(
                    at(*when),
                    *via,
                    MeshInput::Operator {
                        op: next_op,
                        request: request.clone(),
                    },
                );
                next_op += 1;
            }
            Action::CancelStarted { via } => {
                if let Some(id) = last_started {
                    sim.schedule_local(
                        at(*when),
                        *via,
                        MeshInput::Operator {
                            op: next_op,
                            request: omnirelay_core::node::OperatorRequest::Cancel {
                                id,
                                by: "sre-on-call".into(),
                            },
                        },
                    );
                    next_op += 1;
                }
            }
            Action::Crash(nodes) => {
                for n in nodes {
                    if let Some(Participant::Node(node)) = sim.crash(*n) {
                        disks.insert(*n, node.disks().clone());
                    }
                }
            }
            Action::Restart(nodes) => {
                for n in nodes {
                    let Some(disk) = disks.remove(n) else {
                        continue;
                    };
                    let seed = seeds.get(n).copied().unwrap_or(seed) ^ sim.now().as_nanos();
                    if let Ok(node) =
                        SimNode::start(node_config(scenario, *n), disk, seed, FSYNC, sim.now())
                    {
                        sim.restart(*n, Participant::Node(Box::new(node)));
                    }
                }
            }
            Action::Partition(groups) => {
                let groups: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
                sim.network_mut().partition(&groups);
            }
            Action::BlockOneWay(links) => {
                for (from, to) in links {
                    sim.network_mut().block_one_way(*from, *to);
                }
            }
            Action::Heal => sim.network_mut().heal(),
        }
    }
    sim.run_until(at(scenario.end), &mut tee);

    let violations = checker::check(scenario, &sim, &tee.recorder);
    let moved = omnirelay_core::NamespaceId::new(MOVED).ok();
    let mut acks_moved: Vec<&Ack> = tee
        .recorder
        .acks
        .iter()
        .filter(|a| Some(&a.namespace) == moved.as_ref())
        .collect();
    acks_moved.sort_by_key(|a| a.acked_at);
    let from = at(scenario.measure_from);
    let until = at(scenario.workload_until);
    let mut previous = from;
    let mut gap = Duration::ZERO;
    for a in acks_moved
        .iter()
        .filter(|a| a.acked_at >= from && a.acked_at <= until)
    {
        gap = gap.max(a.acked_at.saturating_duration_since(previous));
        previous = a.acked_at;
    }
    let kill_to_write_s = scenario.kill_at.map(|k| {
        let killed = scenario.layout.topology().clusters[0].id.clone();
        acks_moved
            .iter()
            .find(|a| a.acked_at >= at(k) && a.origin_cluster != killed)
            .map_or(f64::INFINITY, |a| {
                a.acked_at.saturating_duration_since(at(k)).as_secs_f64()
            })
    });
    let report = SeedReport {
        scenario: scenario.name.to_string(),
        seed,
        trace_hash: sim.trace_hex(),
        acked: tee.recorder.acks.len(),
        sent: sim
            .machine(CLIENT)
            .and_then(Participant::as_client)
            .map_or(0, ModelClient::sent),
        unavailability_s: gap.as_secs_f64(),
        kill_to_write_s,
        reported_lost: checker::reported_lost(&sim, &tee.recorder),
        at_risk_reported: tee
            .recorder
            .losses
            .values()
            .map(LossReport::known_at_risk)
            .sum(),
        failovers: tee.recorder.finished.clone(),
        operator_replies: tee
            .recorder
            .replies
            .values()
            .map(|r| format!("{r:?}"))
            .collect(),
        violations,
        steps: sim.stats().steps,
    };
    (report, sim)
}

/// The cluster id of index `i` in `layout`.
pub fn cluster(layout: Layout, i: usize) -> Option<ClusterId> {
    layout.topology().clusters.get(i).map(|c| c.id.clone())
}
