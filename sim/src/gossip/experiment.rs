//! The `omnirelay-sim gossip` experiment: one seeded run of a cluster measuring join
//! spread, failure detection, false positives and traffic.
//!
//! Timeline of a run (all simulated): `nodes` members start converged (bootstrapped); at
//! 5–6 s a new member joins through a random seed; from 60 s on, `crashes` members crash
//! one every 50 s; the run ends at `duration`. No wall clock is read here: the binary
//! times the call for `wall_seconds`.

use std::collections::BTreeMap;
use std::time::Duration;

use omnirelay_core::gossip::{GossipConfig, Membership, MembershipEvent};
use omnirelay_core::{Instant, NodeId};
use rand::Rng;
use serde::Serialize;

use crate::model::{LinkModel, NetworkModel, Observer, Simulation};
use crate::stats::Summary;

use super::cluster::{bootstrapped, new_member};

/// What to run.
#[derive(Clone, Debug)]
pub struct GossipExperiment {
    /// Members at the start (the joiner comes on top).
    pub nodes: u64,
    /// The run's seed.
    pub seed: u64,
    /// `lan`, `wan` or `mesh`.
    pub profile: String,
    /// Message loss probability on every link.
    pub loss: f64,
    /// Simulated length of the run.
    pub duration: Duration,
    /// Members crashed during the run (one every 50 s from 60 s on, while time remains).
    pub crashes: u32,
    /// Aligned protocol periods and crashes 1 ms before a period starts: the assumptions
    /// of SWIM's e/(e-1) analysis. Off: memberlist's random start offsets, crashes at
    /// random instants.
    pub aligned: bool,
}

/// Seconds until the joiner was known alive by a share of the members (`None`: never).
#[derive(Clone, Debug, Default, Serialize)]
pub struct JoinReport {
    /// By half of them.
    pub p50_s: Option<f64>,
    /// By 95 %.
    pub p95_s: Option<f64>,
    /// By all.
    pub p100_s: Option<f64>,
}

/// Failure detection over the run's crashes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DetectReport {
    /// Crashes injected.
    pub crashes: usize,
    /// Seconds from a crash to the first suspicion of it anywhere.
    pub first_suspicion_s: Summary,
    /// The same in probe periods (SWIM §3.1 predicts e/(e-1) = 1.58 for its model).
    pub first_suspicion_periods: Summary,
    /// Seconds from a crash until every running member declared it dead.
    pub all_dead_s: Summary,
    /// Crashes that some running member had not declared dead by the end of the run.
    pub undetected: usize,
}

/// The result of one run.
#[derive(Clone, Debug, Serialize)]
pub struct GossipReport {
    /// The run's seed.
    pub seed: u64,
    /// The profile.
    pub profile: String,
    /// Members at the start.
    pub nodes: u64,
    /// Link loss probability.
    pub loss: f64,
    /// Whether periods were aligned (see [`GossipExperiment::aligned`]).
    pub aligned: bool,
    /// Join spread.
    pub join: JoinReport,
    /// Failure detection.
    pub detect: DetectReport,
    /// Members never crashed that some member declared dead.
    pub false_positives: usize,
    /// Distinct suspicions (member, incarnation) of members never crashed, all refuted
    /// unless they also count as false positives.
    pub healthy_suspicions: usize,
    /// Messages sent per member per simulated second.
    pub messages_per_node_per_s: f64,
    /// Bytes sent per member per simulated second.
    pub bytes_per_node_per_s: f64,
    /// The run's trace fingerprint.
    pub trace_hash: String,
    /// Simulated seconds.
    pub simulated_seconds: f64,
    /// Simulator steps (queue entries processed).
    pub steps: u64,
}

#[derive(Debug, Default)]
struct Crash {
    at: Instant,
    first_suspect: Option<Instant>,
    dead_by: BTreeMap<NodeId, Instant>,
}

#[derive(Debug, Default)]
struct Watch {
    joiner: Option<NodeId>,
    joined_by: BTreeMap<NodeId, Instant>,
    crashes: BTreeMap<NodeId, Crash>,
    false_positives: BTreeMap<NodeId, Instant>,
    healthy_suspicions: std::collections::BTreeSet<(NodeId, u64)>,
}

impl Observer<Membership> for Watch {
    fn on_event(
        &mut self,
        sim: &mut Simulation<Membership>,
        node: NodeId,
        event: &MembershipEvent,
    ) {
        let now = sim.now();
        match event {
            MembershipEvent::Joined { member, .. } if Some(*member) == self.joiner => {
                self.joined_by.entry(node).or_insert(now);
            }
            MembershipEvent::Suspect {
                member,
                incarnation,
            } => match self.crashes.get_mut(member) {
                Some(c) => {
                    c.first_suspect.get_or_insert(now);
                }
                None => {
                    self.healthy_suspicions.insert((*member, *incarnation));
                }
            },
            MembershipEvent::Dead { member, .. } => match self.crashes.get_mut(member) {
                Some(c) => {
                    c.dead_by.entry(node).or_insert(now);
                }
                None => {
                    self.false_positives.entry(*member).or_insert(now);
                }
            },
            _ => {}
        }
    }
}

/// The network of an experiment: LAN links (0.5–1.5 ms) losing `loss` of messages.
pub fn network(loss: f64) -> NetworkModel {
    NetworkModel::uniform(LinkModel::default().with_loss(loss))
}

fn secs_between(a: Instant, b: Instant) -> f64 {
    (b - a).as_secs_f64()
}

/// Runs one experiment. Errors only on an unknown profile.
pub fn run(exp: &GossipExperiment) -> Result<GossipReport, String> {
    let mut config = GossipConfig::profile(&exp.profile)
        .ok_or_else(|| format!("unknown profile {:?} (lan, wan, mesh)", exp.profile))?;
    config.stagger_start = !exp.aligned;
    let period = config.probe_interval;
    let mut sim = bootstrapped(exp.seed, exp.nodes, &config, network(exp.loss));
    let mut watch = Watch::default();
    let end = Instant::ZERO + exp.duration;

    // The joiner.
    let joiner = NodeId(exp.nodes + 1);
    let join_at = Instant::ZERO
        + Duration::from_secs(5)
        + Duration::from_millis(sim.rng().random_range(0..1000));
    watch.joiner = Some(joiner);
    sim.run_until(join_at.min(end), &mut watch);
    let join_started = sim.now();
    if join_at <= end && exp.nodes > 0 {
        let seed_member = NodeId(sim.rng().random_range(1..=exp.nodes));
        let mut m = new_member(&mut sim, joiner, &config);
        let _ = m.join(sim.now(), &[seed_member]);
        sim.add_node(joiner, m);
        sim.flush(joiner, &mut watch);
    }

    // The crashes.
    let mut victims: Vec<NodeId> = (1..=exp.nodes).map(NodeId).collect();
    for i in 0..exp.crashes {
        if victims.is_empty() {
            break;
        }
        let slot_start = Duration::from_secs(60 + 50 * u64::from(i));
        let at = if exp.aligned {
            // 1 ms before a period boundary: every member probes right after the crash.
            let p = period.as_nanos().max(1);
            let k = slot_start.as_nanos().div_ceil(p) + 1;
            let boundary = u64::try_from(k * p).unwrap_or(u64::MAX);
            Instant::from_nanos(boundary.saturating_sub(1_000_000))
        } else {
            Instant::ZERO + slot_start + period.mul_f64(sim.rng().random::<f64>())
        };
        if at >= end {
            break;
        }
        sim.run_until(at, &mut watch);
        let victim = victims.swap_remove(sim.rng().random_range(0..victims.len()));
        sim.crash(victim);
        watch.crashes.insert(
            victim,
            Crash {
                at: sim.now(),
                ..Crash::default()
            },
        );
    }
    sim.run_until(end, &mut watch);

    // Join spread among the members present when it joined.
    let mut join_times: Vec<f64> = watch
        .joined_by
        .iter()
        .filter(|(id, _)| id.0 <= exp.nodes)
        .map(|(_, at)| secs_between(join_started, *at))
        .collect();
    join_times.sort_by(f64::total_cmp);
    let share = |p: f64| {
        let need = ((exp.nodes as f64) * p).ceil() as usize;
        join_times.get(need.max(1) - 1).copied()
    };
    let join = JoinReport {
        p50_s: share(0.5),
        p95_s: share(0.95),
        p100_s: share(1.0),
    };

    // Detection, judged against the members still running at the end.
    let running: Vec<NodeId> = sim.machines().map(|(id, _)| id).collect();
    let mut first = Vec::new();
    let mut periods = Vec::new();
    let mut all_dead = Vec::new();
    let mut undetected = 0;
    for c in watch.crashes.values() {
        if let Some(s) = c.first_suspect {
            first.push(secs_between(c.at, s));
            periods.push(secs_between(c.at, s) / period.as_secs_f64());
        }
        let last = running
            .iter()
            .map(|id| c.dead_by.get(id).copied())
            .try_fold(c.at, |acc, t| t.map(|t| acc.max(t)));
        match last {
            Some(t) => all_dead.push(secs_between(c.at, t)),
            None => undetected += 1,
        }
    }

    let simulated = sim.now().as_secs_f64();
    let (mut messages, mut bytes) = (0u64, 0u64);
    for id in sim.node_ids().collect::<Vec<_>>() {
        let t = sim.traffic(id);
        messages += t.messages_sent;
        bytes += t.bytes_sent;
    }
    let per_node_s = (exp.nodes.max(1) as f64) * simulated.max(f64::MIN_POSITIVE);
    Ok(GossipReport {
        seed: exp.seed,
        profile: exp.profile.clone(),
        nodes: exp.nodes,
        loss: exp.loss,
        aligned: exp.aligned,
        join,
        detect: DetectReport {
            crashes: watch.crashes.len(),
            first_suspicion_s: Summary::of(&first),
            first_suspicion_periods: Summary::of(&periods),
            all_dead_s: Summary::of(&all_dead),
            undetected,
        },
        false_positives: watch.false_positives.len(),
        healthy_suspicions: watch.healthy_suspicions.len(),
        messages_per_node_per_s: messages as f64 / per_node_s,
        bytes_per_node_per_s: bytes as f64 / per_node_s,
        trace_hash: sim.trace_hex(),
        simulated_seconds: simulated,
        steps: sim.stats().steps,
    })
}
