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
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use omnirelay_core::node::Group;
use omnirelay_io::api::ClientApi;
use omnirelay_io::node::{
    LeadershipChangeKind, NodeHandle, NodeRuntime, RuntimeOptions, WriterMode,
};
use omnirelay_io::storage::{CrashMode, DiskOp, SimDisk};
use omnirelay_io::transport::{ClientSettings, Dialer, Network};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checker::{self, History, LeaderRecord, WriteOutcome, WriteRecord};
use super::deployment::{CLIENT_HOST, Deployment, HTTP_PORT};
use super::faults::FaultSchedule;
use super::harness::{EPOCH_UNIX_SECONDS, SimSettings, TraceRecorder, sim_now};
use super::net::TurmoilNetwork;
use super::observer::{self, FinalState};
use super::outcome::{ChaosError, SeedOutcome};
use super::scenario::{DiskFaultKind, FailoverMode, Fault, Scenario};
use super::timeline::{self, LeaderChange, Sample, StateChange, Timeline};
use super::workload::{self, Breaker, WriterPlan};

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
    handles: Mutex<BTreeMap<String, NodeHandle>>,
    leaders: Mutex<Vec<LeaderRecord>>,
    split_brains: Mutex<Vec<String>>,
    writes: Arc<Mutex<Vec<WriteRecord>>>,
    fatal: Mutex<Vec<String>>,
    boots: Mutex<BTreeMap<String, u64>>,
    disks: Mutex<BTreeMap<(String, Group), SimDisk>>,
    states: Mutex<Vec<StateChange>>,
    leader_changes: Mutex<Vec<LeaderChange>>,
    final_state: Mutex<Option<FinalState>>,
    lags: Mutex<Vec<(Duration, Duration)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
            boot(
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
                Fault::RegionKill { cluster, .. } => {
                    for host in deployment.hosts_of(cluster) {
                        crash_disks(&run, &host, CrashMode::LoseUnsynced);
                    }
                }
                Fault::Crash { node, .. } => crash_disks(&run, node, CrashMode::LoseUnsynced),
                Fault::DiskFault { node, fault, .. } => {
                    if *fault == DiskFaultKind::LostUnsyncedWrites {
                        // The machine loses power: the process dies with what was not fsynced.
                        schedule.crash(&mut sim, node);
                    }
                    disk_fault(&run, node, *fault, now);
                }
                Fault::SlowDisk { node, ms, .. } => run.trace.record_at(
                    now,
                    "sim",
                    format!("slow disk on {node} (+{ms} ms) is not modelled by SimDisk: ignored"),
                ),
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
    Ok(outcome(&scenario, seed, &run, simulated))
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

/// One boot of a node's host: its disks as the last crash left them, the node runtime,
/// its client API, and a listener for its leadership notices.
async fn boot(
    run: Arc<RunState>,
    deployment: Arc<Deployment>,
    host: String,
    seed: u64,
) -> turmoil::Result {
    let node = deployment
        .node(&host)
        .ok_or_else(|| format!("no node {host} in the deployment"))?;
    let boot = {
        let mut boots = lock(&run.boots);
        let n = boots.entry(host.clone()).or_default();
        *n += 1;
        *n
    };
    let elapsed = sim_now().unwrap_or_default();
    let anchor = EPOCH_UNIX_SECONDS
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    let fatal_run = Arc::clone(&run);
    let fatal_host = host.clone();
    let options = RuntimeOptions {
        seed: Some(seed ^ node.id.0.rotate_left(17) ^ boot.rotate_left(40)),
        writer: WriterMode::Task,
        clock_anchor_unix_nanos: Some(anchor),
        on_fatal: Arc::new(move |group, error| {
            fatal_run.trace.record(
                &fatal_host,
                format!("fatal storage error in {group:?} log: {error}"),
            );
            lock(&fatal_run.fatal).push(fatal_host.clone());
        }),
        ..RuntimeOptions::default()
    };
    let disk_run = Arc::clone(&run);
    let disk_host = host.clone();
    let disk_seed = seed ^ node.id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let open_disk = move |group: Group, dir: &std::path::Path| {
        let mut disks = lock(&disk_run.disks);
        let disk = disks.entry((disk_host.clone(), group)).or_insert_with(|| {
            let salt = match group {
                Group::Cluster => 1,
                Group::Control => 2,
            };
            SimDisk::new(dir, ChaCha8Rng::seed_from_u64(disk_seed ^ salt))
        });
        Ok::<_, omnirelay_io::storage::DiskError>(disk.clone())
    };
    let runtime = match NodeRuntime::start_with_disks(
        TurmoilNetwork,
        node.loaded.clone(),
        options,
        open_disk,
    )
    .await
    {
        Ok(runtime) => runtime,
        Err(e) => {
            // A node that cannot recover stays down, as a real one would, and says why.
            run.trace.record(&host, format!("did not start: {e}"));
            std::future::pending::<()>().await;
            return Ok(());
        }
    };
    run.trace.record(&host, format!("started (boot {boot})"));
    let handle = runtime.handle();
    lock(&run.handles).insert(host.clone(), handle.clone());

    let mut notices = handle.leadership_events();
    let watch_run = Arc::clone(&run);
    let cluster = node.cluster.clone();
    let names: BTreeMap<u64, String> = deployment
        .nodes
        .iter()
        .map(|n| (n.id.0, n.host.clone()))
        .collect();
    let me = host.clone();
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            let at = sim_now().unwrap_or_default();
            let group = match notice.group {
                Group::Cluster => cluster.clone().unwrap_or_else(|| "witness".into()),
                Group::Control => "control".into(),
            };
            match notice.change {
                LeadershipChangeKind::Elected { leader, term, .. } => {
                    let leader = names
                        .get(&leader.0)
                        .cloned()
                        .unwrap_or_else(|| leader.to_string());
                    lock(&watch_run.leaders).push(LeaderRecord {
                        at,
                        group: group.clone(),
                        term: term.0,
                        leader: leader.clone(),
                    });
                    if leader == me {
                        watch_run
                            .trace
                            .record(&me, format!("leads {group} in term {}", term.0));
                        if notice.group == Group::Cluster {
                            lock(&watch_run.leader_changes).push(LeaderChange {
                                at_s: at.as_secs_f64(),
                                cluster: group,
                                leader,
                            });
                        }
                    }
                }
                LeadershipChangeKind::SteppedDown { term, reason } => {
                    watch_run.trace.record(
                        &me,
                        format!("stepped down from {group} term {}: {reason:?}", term.0),
                    );
                }
                LeadershipChangeKind::SplitBrain {
                    term,
                    first,
                    second,
                } => {
                    let what = format!("{group} term {}: {first} and {second}", term.0);
                    watch_run.trace.record(&me, format!("split brain {what}"));
                    lock(&watch_run.split_brains).push(what);
                }
            }
        }
    });

    if node.cluster.is_some() {
        let api = ClientApi::new_on(
            TurmoilNetwork,
            handle,
            &node.loaded.config,
            &node.loaded.tls,
        )?;
        let listener = TurmoilNetwork
            .bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, HTTP_PORT)))
            .await?;
        tokio::spawn(api.serve_on(TurmoilNetwork, listener, std::future::pending()));
    }
    // The host runs until turmoil crashes it; the runtime lives as long as the host.
    std::future::pending::<()>().await;
    drop(runtime);
    Ok(())
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
    for w in writers {
        let _ = w.await;
    }
    let state = observer::collect_final_state(&run, &clusters, &namespaces, SETTLE).await;
    *lock(&run.final_state) = Some(state);
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

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// Checks the invariants the scenario names and measures its SLO samples.
fn outcome(scenario: &Scenario, seed: u64, run: &RunState, simulated: Duration) -> SeedOutcome {
    let final_state = lock(&run.final_state).take().unwrap_or_default();
    let writes = lock(&run.writes).clone();
    let planned = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::Failover {
                namespace,
                mode: FailoverMode::Planned,
                ..
            } => Some(namespace.clone()),
            _ => None,
        })
        .collect();
    let history = History {
        writes,
        held: final_state.held.clone(),
        version_vectors: final_state.version_vectors.clone(),
        losses: final_state.losses.clone(),
        planned,
        leaders: lock(&run.leaders).clone(),
        split_brains: lock(&run.split_brains).clone(),
    };
    let clusters: Vec<String> = scenario
        .topology
        .clusters
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let wants = |name: &str| scenario.invariants.iter().any(|i| i == name);
    let mut violations = Vec::new();
    let mut counters = BTreeMap::new();
    if wants("committed_entries_survive")
        || wants("planned_failover_loses_nothing")
        || wants("emergency_loss_within_reported_range")
    {
        let (lost, in_range) = checker::acknowledged_writes_survive(&history);
        violations.extend(lost);
        counters.insert("lost_within_reported_range".to_owned(), in_range);
    }
    if wants("exactly_once_in_order") {
        violations.extend(checker::exactly_once_in_order(&history));
    }
    if wants("one_writer_per_failover_version") {
        violations.extend(checker::one_writer_per_failover_version(&history));
    }
    if wants("one_leader_per_term") {
        violations.extend(checker::one_leader_per_term(&history));
    }
    if wants("convergence_after_heal") {
        violations.extend(checker::convergence_after_heal(&history, &clusters));
    }

    let mut slo_samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, sample) in slo_samples_of(scenario, &history) {
        slo_samples.entry(name).or_default().push(sample);
    }
    let lags = lock(&run.lags).clone();
    if let Some(worst) = lags.iter().map(|(_, lag)| *lag).max() {
        slo_samples
            .entry("replication_lag".into())
            .or_default()
            .push(worst.as_secs_f64());
    }
    if let Some(after) = final_state.converged_after {
        slo_samples
            .entry("convergence_after_heal".into())
            .or_default()
            .push(after.as_secs_f64());
    }
    for slo in &scenario.slos {
        for sample in slo_samples.get(&slo.name).into_iter().flatten() {
            if *sample > slo.max_s {
                violations.push(format!(
                    "slo {}: {sample:.3}s over the per-seed bound {}s",
                    slo.name, slo.max_s
                ));
            }
        }
        if slo.name == "failover_to_first_write" && !slo_samples.contains_key(&slo.name) {
            violations.push(
                "slo failover_to_first_write: no write acknowledged by a new active after the kill"
                    .into(),
            );
        }
    }

    let count = |f: &dyn Fn(&WriteOutcome) -> bool| {
        history.writes.iter().filter(|w| f(&w.outcome)).count() as u64
    };
    counters.insert("writes".into(), history.writes.len() as u64);
    counters.insert(
        "acknowledged".into(),
        count(&|o| matches!(o, WriteOutcome::Acknowledged { .. })),
    );
    counters.insert(
        "refused".into(),
        count(&|o| matches!(o, WriteOutcome::Refused)),
    );
    counters.insert(
        "unknown".into(),
        count(&|o| matches!(o, WriteOutcome::Unknown)),
    );
    counters.insert("loss_reports".into(), history.losses.len() as u64);
    counters.insert(
        "leader_elections".into(),
        lock(&run.leader_changes).len() as u64,
    );

    // Per-second write summaries, then the verdict, close the trace.
    let samples = write_samples(&history.writes, &lags, scenario.duration_s);
    for s in &samples {
        run.trace.record_at(
            seconds(s.at_s),
            "client",
            format!(
                "second ending {:.0}: success {:.3}",
                s.at_s, s.write_success
            ),
        );
    }
    for v in &violations {
        run.trace
            .record_at(simulated, "sim", format!("violation: {v}"));
    }
    let trace_hash = run.trace.hash_hex();
    let timeline = Timeline {
        title: format!("{} seed {seed} trace {trace_hash}", scenario.name),
        duration_s: simulated.as_secs_f64(),
        clusters,
        namespaces: scenario.workload.namespaces.clone(),
        states: run.state_changes().clone(),
        leader_changes: lock(&run.leader_changes).clone(),
        faults: timeline::fault_windows(scenario),
        samples,
    };
    SeedOutcome {
        scenario: scenario.name.clone(),
        seed,
        violations,
        slo_samples,
        counters,
        simulated_s: simulated.as_secs_f64(),
        trace_hash,
        trace: run.trace.records(),
        timeline,
    }
}

/// `failover_to_first_write` per region kill of an active cluster and per emergency
/// failover command; `write_unavailability` per planned failover.
fn slo_samples_of(scenario: &Scenario, history: &History) -> Vec<(String, f64)> {
    let mut acks: Vec<(Duration, &str, &str)> = history
        .writes
        .iter()
        .filter_map(|w| match &w.outcome {
            WriteOutcome::Acknowledged { cluster, .. } => {
                Some((w.answered_at, w.namespace.as_str(), cluster.as_str()))
            }
            _ => None,
        })
        .collect();
    acks.sort();
    let mut samples = Vec::new();
    for fault in &scenario.faults {
        match fault {
            Fault::RegionKill { at_s, cluster } => {
                let at = seconds(*at_s);
                let first = acks
                    .iter()
                    .find(|(t, _, c)| *t > at && *c != cluster.as_str());
                if let Some((t, _, _)) = first {
                    samples.push((
                        "failover_to_first_write".to_owned(),
                        (*t - at).as_secs_f64(),
                    ));
                }
            }
            Fault::Failover {
                at_s,
                namespace,
                mode: FailoverMode::Emergency,
                to,
            } => {
                let at = seconds(*at_s);
                if let Some((t, _, _)) = acks
                    .iter()
                    .find(|(t, ns, c)| *t > at && *ns == namespace.as_str() && *c == to.as_str())
                {
                    samples.push((
                        "failover_to_first_write".to_owned(),
                        (*t - at).as_secs_f64(),
                    ));
                }
            }
            Fault::Failover {
                at_s,
                namespace,
                mode: FailoverMode::Planned,
                ..
            } => {
                // The longest gap between acknowledgements of the namespace from the
                // command until 20 s after it.
                let at = seconds(*at_s);
                let until = at + Duration::from_secs(20);
                let mut last = at;
                let mut worst = Duration::ZERO;
                for (t, ns, _) in &acks {
                    if *ns != namespace.as_str() || *t <= at {
                        continue;
                    }
                    if *t > until {
                        break;
                    }
                    worst = worst.max(*t - last);
                    last = *t;
                }
                samples.push(("write_unavailability".to_owned(), worst.as_secs_f64()));
            }
            _ => {}
        }
    }
    samples
}

/// Fraction of writes acknowledged per second of the run, with the worst replication lag
/// sampled in that second.
fn write_samples(
    writes: &[WriteRecord],
    lags: &[(Duration, Duration)],
    duration_s: f64,
) -> Vec<Sample> {
    let seconds_n = duration_s.ceil().max(0.0) as usize;
    let mut buckets = vec![(0u64, 0u64); seconds_n];
    for w in writes {
        let i = w.sent_at.as_secs() as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.1 += 1;
            if matches!(w.outcome, WriteOutcome::Acknowledged { .. }) {
                b.0 += 1;
            }
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (ok, all))| Sample {
            at_s: (i + 1) as f64,
            lag_s: lags
                .iter()
                .filter(|(at, _)| at.as_secs() as usize == i)
                .map(|(_, lag)| lag.as_secs_f64())
                .fold(0.0, f64::max),
            write_success: if all == 0 {
                0.0
            } else {
                ok as f64 / all as f64
            },
        })
        .collect()
}
