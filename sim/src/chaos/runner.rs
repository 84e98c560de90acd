//! One seed of a scenario with the real node: every node of the topology is a turmoil
//! host running the shipped [`NodeRuntime`] and client API over [`TurmoilNetwork`] and
//! [`SimDisk`]s; a `client` host runs the workload through the gRPC client API, issues
//! the scenario's failover commands and reads every cluster's state at the end; the
//! driver injects the fault schedule between steps. Invariants and SLOs are then checked
//! on what the client saw and what the clusters hold ([`super::checker`]).
//!
//! Driver contract, per step: inject the faults due ([`FaultSchedule::inject_due`]),
//! apply their disk side (crash the disks of killed nodes, arm disk faults), restart
//! nodes whose log writer hit a fatal error (a supervisor's job), then `sim.step()`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use omnirelay_core::node::Group;
use omnirelay_io::node::NodeHandle;
use omnirelay_io::storage::{CrashMode, DiskOp, SimDisk};
use omnirelay_io::transport::{ClientSettings, Dialer};

use super::checker::{LeaderRecord, WriteRecord};
use super::deployment::{CLIENT_HOST, Deployment};
use super::faults::FaultSchedule;
use super::harness::{SimSettings, TraceRecorder};
use super::net::TurmoilNetwork;
use super::observer::{self, FinalState};
use super::outcome::{ChaosError, SeedOutcome};
use super::scenario::{DiskFaultKind, Fault, Scenario};
use super::timeline::{LeaderChange, StateChange};
use super::workload::{self, Breaker, WriterPlan};
use super::{node_host, verdict};

/// Simulated time after the writes stop for every cluster to converge.
pub const SETTLE: Duration = Duration::from_secs(30);
/// How long a supervisor waits before restarting a node whose disk failed.
const SUPERVISOR_RESTART: Duration = Duration::from_secs(2);

/// How a run is stepped. [`RunOptions::default`] is what `run_seed` uses.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// turmoil's tick.
    pub tick: Duration,
    /// Multiplies the scenario's `duration_s` and fault times (tests shorten runs with it;
    /// 1.0 runs the scenario as written).
    pub time_scale: f64,
    /// Multiplies the workload's rate.
    pub rate_scale: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tick: Duration::from_millis(1),
            time_scale: 1.0,
            rate_scale: 1.0,
        }
    }
}

/// Everything the hosts and the driver of one run share.
#[derive(Debug, Default)]
pub struct RunState {
    /// The run's trace.
    pub trace: TraceRecorder,
    pub(crate) handles: Mutex<BTreeMap<String, NodeHandle>>,
    pub(crate) leaders: Mutex<Vec<LeaderRecord>>,
    pub(crate) split_brains: Mutex<Vec<String>>,
    pub(crate) writes: Arc<Mutex<Vec<WriteRecord>>>,
    pub(crate) fatal: Mutex<Vec<String>>,
    pub(crate) boots: Mutex<BTreeMap<String, u64>>,
    pub(crate) disks: Mutex<BTreeMap<(String, Group), SimDisk>>,
    pub(crate) states: Mutex<Vec<StateChange>>,
    pub(crate) leader_changes: Mutex<Vec<LeaderChange>>,
    pub(crate) final_state: Mutex<Option<FinalState>>,
    pub(crate) lags: Mutex<Vec<(Duration, Duration)>>,
    /// Per host, the latency its disk adds to each fsync (`slow_disk`).
    pub(crate) slow_disks: Mutex<BTreeMap<String, Duration>>,
    /// From the scenario's last heal until every cluster had the backlog it built up.
    pub(crate) caught_up_after_heal: Mutex<Option<Duration>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A host that panicked mid-update leaves plain data behind.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RunState {
    /// Every node's latest handle, by host (a crashed node's answers `NodeStopped`).
    pub fn handles(&self) -> Vec<(String, NodeHandle)> {
        lock(&self.handles)
            .iter()
            .map(|(h, n)| (h.clone(), n.clone()))
            .collect()
    }

    /// Records the worst replication lag seen at `at`.
    pub fn record_lag(&self, at: Duration, lag: Duration) {
        lock(&self.lags).push((at, lag));
    }

    /// The timeline's namespace state changes.
    pub fn state_changes(&self) -> MutexGuard<'_, Vec<StateChange>> {
        lock(&self.states)
    }
}

/// Runs `scenario` once with `seed`, as written.
pub fn run_seed(scenario: &Scenario, seed: u64) -> Result<SeedOutcome, ChaosError> {
    run_seed_with(scenario, seed, RunOptions::default())
}

/// [`run_seed`] with the tick, a time scale and a rate scale (tests use short runs).
pub fn run_seed_with(
    scenario: &Scenario,
    seed: u64,
    options: RunOptions,
) -> Result<SeedOutcome, ChaosError> {
    let scenario = scaled(scenario, options);
    let setup = |reason: String| ChaosError::Setup {
        scenario: scenario.name.clone(),
        reason,
    };
    let deployment = Deployment::of(&scenario).map_err(|e| setup(e.to_string()))?;
    let run = Arc::new(RunState::default());
    let duration = seconds(scenario.duration_s);

    let mut settings = SimSettings::new(seed);
    settings.tick = options.tick;
    settings.duration = duration + SETTLE + Duration::from_secs(60);
    let half_inside = Duration::from_secs_f64(scenario.topology.rtt_inside_ms.max(0.0) / 2000.0);
    settings.min_latency = half_inside.max(Duration::from_micros(100));
    settings.max_latency = settings.min_latency;
    let mut builder = settings.builder();
    builder.tcp_capacity(1 << 16);
    let mut sim = builder.build();

    for node in &deployment.nodes {
        let host = node.host.clone();
        let run = Arc::clone(&run);
        let deployment = Arc::clone(&deployment);
        sim.host(host.clone(), move || {
            node_host::boot(
                Arc::clone(&run),
                Arc::clone(&deployment),
                host.clone(),
                seed,
            )
        });
    }

    let (commands_tx, commands_rx) = tokio::sync::mpsc::unbounded_channel::<Fault>();
    sim.client(
        CLIENT_HOST,
        client(
            Arc::clone(&run),
            Arc::clone(&deployment),
            scenario.clone(),
            commands_rx,
        ),
    );

    let mut schedule = FaultSchedule::new(&scenario);
    schedule.add_other_host(CLIENT_HOST);
    schedule.set_link_latencies(&sim, &scenario);
    let mut restarts: Vec<(Duration, String)> = Vec::new();
    loop {
        let now = sim.elapsed();
        for fault in schedule.inject_due(&mut sim, now, &run.trace) {
            match &fault {
                // A machine the schedule takes down stays down until the schedule brings it
                // back: a supervisor restart still pending for it is void.
                Fault::RegionKill { cluster, .. } => {
                    let hosts = deployment.hosts_of(cluster);
                    for host in &hosts {
                        crash_disks(&run, host, CrashMode::LoseUnsynced);
                    }
                    restarts.retain(|(_, host)| !hosts.contains(host));
                }
                Fault::Crash { node, .. } => {
                    crash_disks(&run, node, CrashMode::LoseUnsynced);
                    restarts.retain(|(_, host)| host != node);
                }
                Fault::DiskFault { node, fault, .. } => {
                    if *fault == DiskFaultKind::LostUnsyncedWrites {
                        // The machine loses power: the process dies with what was not fsynced.
                        schedule.crash(&mut sim, node);
                    }
                    disk_fault(&run, node, *fault, now);
                }
                Fault::SlowDisk { node, ms, .. } => {
                    lock(&run.slow_disks).insert(node.clone(), seconds(ms / 1000.0));
                }
                Fault::Failover { .. } => {
                    let _ = commands_tx.send(fault.clone());
                }
                _ => {}
            }
        }
        // A node whose disk failed fatally exits; its supervisor restarts it.
        for host in std::mem::take(&mut *lock(&run.fatal)) {
            if sim.is_host_running(host.as_str()) {
                schedule.crash(&mut sim, &host);
                crash_disks(&run, &host, CrashMode::LoseUnsynced);
                run.trace
                    .record_at(now, "sim", format!("{host} exited on a fatal disk error"));
                restarts.push((now + SUPERVISOR_RESTART, host));
            }
        }
        restarts.retain(|(at, host)| {
            if *at <= now {
                schedule.restart(&mut sim, host);
                run.trace
                    .record_at(now, "sim", format!("supervisor restarts {host}"));
                false
            } else {
                true
            }
        });
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                return Err(ChaosError::Simulation {
                    scenario: scenario.name.clone(),
                    seed,
                    reason: e.to_string(),
                });
            }
        }
    }
    let simulated = sim.elapsed();
    drop(sim);
    Ok(verdict::outcome(&scenario, seed, &run, simulated))
}

/// The scenario with its times and rate scaled.
fn scaled(scenario: &Scenario, options: RunOptions) -> Scenario {
    let mut s = scenario.clone();
    let k = options.time_scale;
    if (k - 1.0).abs() > f64::EPSILON {
        s.duration_s *= k;
        for f in &mut s.faults {
            match f {
                Fault::RegionKill { at_s, .. }
                | Fault::RegionRestart { at_s, .. }
                | Fault::Partition { at_s, .. }
                | Fault::Heal { at_s }
                | Fault::OneWayPartition { at_s, .. }
                | Fault::PacketLoss { at_s, .. }
                | Fault::Crash { at_s, .. }
                | Fault::Restart { at_s, .. }
                | Fault::DiskFault { at_s, .. }
                | Fault::SlowDisk { at_s, .. }
                | Fault::Failover { at_s, .. } => *at_s *= k,
                Fault::HoldLink { at_s, for_s, .. } => {
                    *at_s *= k;
                    *for_s *= k;
                }
            }
        }
    }
    s.workload.writes_per_s *= options.rate_scale;
    s
}

/// The `client` host: writers, the operator, the registry follower, then the final reads.
async fn client(
    run: Arc<RunState>,
    deployment: Arc<Deployment>,
    scenario: Scenario,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Fault>,
) -> turmoil::Result {
    let stop_at = seconds(scenario.duration_s);
    let clusters: Vec<String> = scenario
        .topology
        .clusters
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let active = scenario
        .workload
        .active
        .clone()
        .or_else(|| clusters.first().cloned())
        .unwrap_or_default();
    let hosts: Vec<String> = deployment
        .nodes
        .iter()
        .filter(|n| n.cluster.is_some())
        .map(|n| n.host.clone())
        .collect();
    let first_target = deployment
        .hosts_of(&active)
        .into_iter()
        .next()
        .unwrap_or_default();
    let dialer = Dialer::new(
        TurmoilNetwork,
        &deployment.client,
        ClientSettings::default(),
    )?;
    let breaker = Breaker::default();
    let namespaces = scenario.workload.namespaces.clone();
    let rate = scenario.workload.writes_per_s / namespaces.len().max(1) as f64;
    let mut writers = Vec::new();
    for ns in &namespaces {
        let plan = WriterPlan {
            namespace: ns.clone(),
            rate,
            payload_bytes: scenario.workload.payload_bytes as usize,
            stop_at,
            hosts: hosts.clone(),
            first_target: first_target.clone(),
        };
        writers.push(tokio::spawn(workload::run_writer(
            plan,
            dialer.clone(),
            breaker.clone(),
            Arc::clone(&run.writes),
            run.trace.clone(),
        )));
    }
    let operator_run = Arc::clone(&run);
    let operator = tokio::spawn(async move {
        while let Some(fault) = commands.recv().await {
            observer::issue_failover(&operator_run, fault).await;
        }
    });
    let follower = tokio::spawn(observer::follow_placements(
        Arc::clone(&run),
        clusters.clone(),
        stop_at + SETTLE,
    ));
    let catch_up = scenario.last_heal().map(|heal_at| {
        tokio::spawn(observer::time_catch_up(
            Arc::clone(&run),
            clusters.clone(),
            heal_at,
            stop_at + SETTLE,
        ))
    });
    for w in writers {
        let _ = w.await;
    }
    let state = observer::collect_final_state(&run, &clusters, &namespaces, SETTLE).await;
    *lock(&run.final_state) = Some(state);
    if let Some(mut task) = catch_up {
        // Converged at the end means caught up: let it see so before it is stopped.
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut task).await;
        task.abort();
    }
    operator.abort();
    follower.abort();
    Ok(())
}

fn crash_disks(run: &RunState, host: &str, mode: CrashMode) {
    for ((h, _), disk) in lock(&run.disks).iter_mut() {
        if h == host {
            disk.crash(mode);
        }
    }
}

fn disk_fault(run: &RunState, host: &str, kind: DiskFaultKind, now: Duration) {
    let mut disks = lock(&run.disks);
    let Some(disk) = disks.get_mut(&(host.to_owned(), Group::Cluster)) else {
        return;
    };
    match kind {
        DiskFaultKind::LostUnsyncedWrites => disk.crash(CrashMode::LoseUnsynced),
        DiskFaultKind::CorruptSector => {
            // A bit flips in the middle of the newest segment's durable bytes.
            let mut probe = disk.clone();
            let newest = omnirelay_io::storage::Disk::list(&mut probe)
                .ok()
                .and_then(|names| names.into_iter().max());
            if let Some(name) = newest {
                let len = disk.durable_contents(&name).map_or(0, |c| c.len() as u64);
                let hit = disk.corrupt(&name, len / 2, 0x40);
                run.trace.record_at(
                    now,
                    "sim",
                    format!("corrupted {name} at {} on {host}: {hit}", len / 2),
                );
            }
        }
        DiskFaultKind::FsyncError => disk.fail_next(DiskOp::Sync, 1),
        DiskFaultKind::Full => disk.fail_next(DiskOp::Write, 1),
    }
}

pub(crate) fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
