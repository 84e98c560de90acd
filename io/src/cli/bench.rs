//! `omnirelay bench replication`: end-to-end cross-cluster replication throughput and lag,
//! next to the raw ceilings of the same machine measured in the same run.
//!
//! Two single-node clusters (`a`, active for the namespace, and `b`) run in this process
//! through [`NodeRuntime`] on loopback, with a freshly minted mesh CA, mutual TLS and
//! durable logs in a temporary directory; both nodes are the control group's voters. The
//! bench writes the events to `a` with many [`NodeHandle::write_many`] calls in flight and
//! waits until `b` has applied every one. Then, with the nodes stopped, it measures what
//! the machine allows at all: a plain TCP stream of the same bytes over loopback, and
//! fsync'd appends of the same bytes to the write-ahead log with the batch size the run's
//! source log saw per fsync.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use omnirelay_core::consensus::RoleKind;
use omnirelay_core::node::{ClientWrite, Group, WriteOutcome};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config;
use crate::node::{NodeHandle, NodeRuntime, RuntimeOptions};
use crate::storage::{LogEntry, LogStorage, Wal, WalConfig};
use crate::tls::{Identity, MeshCa, Role};
use crate::transport::TokioNetwork;

/// The events/s ARCHITECTURE.md sets as the target for this benchmark.
pub const TARGET_EVENTS_PER_SEC: f64 = 200_000.0;

/// The core's most client writes per log entry (`NodeLimits::max_batch_writes` default):
/// the fsync ceiling appends entries of at most this many events, as the run did.
const EVENTS_PER_ENTRY: u64 = 1024;

/// `omnirelay bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Replication between two single-node clusters on loopback (mTLS, durable logs).
    Replication(ReplicationArgs),
}

/// `omnirelay bench replication`.
#[derive(Debug, Clone, Args)]
pub struct ReplicationArgs {
    /// Events to write to the active cluster.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Payload bytes of each event.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Events per `write_many` call.
    #[arg(long, default_value_t = 1024)]
    pub batch: u64,
    /// `write_many` calls in flight at once.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Offered load in events/s (default: as fast as the source accepts). Below
    /// saturation the lag figures show replication's own delay rather than a queue.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Events streamed ahead of the target's acknowledgement (default: the core's 8,192).
    /// The core refills a stream once per 50 ms tick, so this / 50 ms caps the rate.
    #[arg(long)]
    pub stream_window: Option<u64>,
    /// Directory under which the temporary data directory is made (default: the system's
    /// temporary directory). Put it on the disk to measure.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured. Rates are per second of wall-clock time.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicationReport {
    /// Events written (and required at the target).
    pub events: u64,
    /// Payload bytes per event.
    pub size_bytes: usize,
    /// Events per `write_many` call.
    pub batch: u64,
    /// Calls in flight.
    pub in_flight: usize,
    /// Offered load, events/s (`null`: as fast as the source accepts).
    pub rate: Option<f64>,
    /// Events streamed ahead of the target's acknowledgement (`null`: the core's default).
    pub stream_window: Option<u64>,
    /// Events the target cluster applied from the source during the run.
    pub applied_events: u64,
    /// Whether the target applied every event written.
    pub all_applied: bool,
    /// From the first write to the target applying the last, seconds.
    pub seconds: f64,
    /// End to end: events / `seconds`.
    pub events_per_sec: f64,
    /// End to end, payload megabytes (10^6) per second.
    pub payload_mb_per_sec: f64,
    /// Stage: events / seconds until the source had acknowledged every write.
    pub source_accept_events_per_sec: f64,
    /// Stage: the target's apply rate after the source had acknowledged everything (the
    /// replication pipeline alone, without client load); `null` when nothing was left.
    pub catch_up_events_per_sec: Option<f64>,
    /// Writes answered other than `Accepted` (then retried).
    pub retried_writes: u64,
    /// Replication lag samples (one per acknowledged `write_many` call).
    pub lag_samples: usize,
    /// Lag, acknowledged at the source → applied at the target, median, milliseconds.
    pub lag_p50_ms: f64,
    /// Lag, 99th percentile, milliseconds.
    pub lag_p99_ms: f64,
    /// Lag, largest sample, milliseconds.
    pub lag_max_ms: f64,
    /// CPU seconds (user + system, all threads) the process used from the first write to
    /// the last event applied (`null` where `/proc/self/stat` does not exist).
    pub cpu_seconds: Option<f64>,
    /// Events per CPU second of the whole process (both nodes and the writers): what the
    /// code costs, whatever else the machine was running.
    pub events_per_cpu_sec: Option<f64>,
    /// CPU cores available to the process.
    pub cores: usize,
    /// 1-minute load average when the run started (`null` where unknown): a busy machine
    /// gives this process only part of its cores.
    pub load_average: Option<f64>,
    /// Fsyncs of the source's cluster log during the run.
    pub source_fsyncs: u64,
    /// Fsyncs of the target's cluster log during the run.
    pub target_fsyncs: u64,
    /// Events per fsync of the source's cluster log (the batch the fsync ceiling uses).
    pub events_per_source_fsync: f64,
    /// Ceiling: the same bytes over one plain loopback TCP connection, events/s.
    pub tcp_events_per_sec: f64,
    /// Ceiling: loopback TCP, megabytes per second.
    pub tcp_mb_per_sec: f64,
    /// Ceiling: the same bytes appended to a write-ahead log with one fsync per
    /// `events_per_source_fsync` events, events/s.
    pub fsync_events_per_sec: f64,
    /// Ceiling: fsync'd appends, megabytes per second.
    pub fsync_mb_per_sec: f64,
    /// `events_per_sec / tcp_events_per_sec`.
    pub ratio_to_tcp: f64,
    /// `events_per_sec / fsync_events_per_sec`.
    pub ratio_to_fsync: f64,
    /// The target, events/s.
    pub target_events_per_sec: f64,
    /// Whether `events_per_sec` reached it.
    pub target_met: bool,
}

/// Runs a bench subcommand; returns the process's exit code (1 when the run failed or not
/// every event arrived).
pub fn run(command: BenchCommand) -> ExitCode {
    let BenchCommand::Replication(args) = command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omnirelay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = args.json;
    match runtime.block_on(replication(args)) {
        Ok(report) => {
            if json {
                match serde_json::to_string(&report) {
                    Ok(line) => println!("{line}"),
                    Err(e) => {
                        eprintln!("omnirelay: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_text(&report);
            }
            if report.all_applied {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("omnirelay: bench replication: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_text(r: &ReplicationReport) {
    println!(
        "replication: {} events of {} B, write_many of {} x {} in flight, offered {}, stream window {}",
        r.events,
        r.size_bytes,
        r.batch,
        r.in_flight,
        r.rate
            .map_or("as fast as accepted".to_owned(), |x| format!("{x:.0}/s")),
        r.stream_window
            .map_or("default".to_owned(), |w| w.to_string())
    );
    println!(
        "  end to end      {:>12.0} events/s  {:>8.1} MB/s  ({:.2} s, {} applied at the target, {} retried)",
        r.events_per_sec, r.payload_mb_per_sec, r.seconds, r.applied_events, r.retried_writes
    );
    println!(
        "  stages          source accepted {:.0} events/s; target caught up at {} events/s once the source was done",
        r.source_accept_events_per_sec,
        r.catch_up_events_per_sec
            .map_or("-".to_owned(), |c| format!("{c:.0}"))
    );
    println!(
        "  lag             p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} samples, ack at source -> applied at target)",
        r.lag_p50_ms, r.lag_p99_ms, r.lag_max_ms, r.lag_samples
    );
    if let Some(cpu) = r.cpu_seconds {
        println!(
            "  cpu             {:.2} s  ({:.0} events per CPU second; {} cores, load average {} at start)",
            cpu,
            r.events_per_cpu_sec.unwrap_or_default(),
            r.cores,
            r.load_average.map_or("?".to_owned(), |l| format!("{l:.2}"))
        );
    }
    println!(
        "  fsyncs          source {}  target {}  ({:.0} events per source fsync)",
        r.source_fsyncs, r.target_fsyncs, r.events_per_source_fsync
    );
    println!(
        "  ceiling TCP     {:>12.0} events/s  {:>8.1} MB/s  ratio {:.3}",
        r.tcp_events_per_sec, r.tcp_mb_per_sec, r.ratio_to_tcp
    );
    println!(
        "  ceiling fsync   {:>12.0} events/s  {:>8.1} MB/s  ratio {:.3}",
        r.fsync_events_per_sec, r.fsync_mb_per_sec, r.ratio_to_fsync
    );
    println!(
        "  target          {:>12.0} events/s  {}",
        r.target_events_per_sec,
        if r.target_met { "met" } else { "MISSED" }
    );
}

/// Runs the whole benchmark (end to end, then both ceilings) in a temporary directory
/// that is removed afterwards.
pub async fn replication(args: ReplicationArgs) -> anyhow::Result<ReplicationReport> {
    if args.events == 0 || args.size == 0 || args.batch == 0 || args.in_flight == 0 {
        bail!("--events, --size, --batch and --in-flight must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of events per second");
    }
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = ScratchDir::new(&parent)?;
    let load = load_average();
    let e2e = end_to_end(&args, dir.path()).await?;

    let bytes = args.events.saturating_mul(args.size as u64);
    let tcp_secs = tcp_ceiling(bytes).await?;
    let per_fsync = e2e.events_per_source_fsync.round().max(1.0) as u64;
    let fsync_secs = {
        let (events, size, path) = (args.events, args.size, dir.path().join("ceiling-wal"));
        tokio::task::spawn_blocking(move || fsync_ceiling(&path, events, size, per_fsync))
            .await
            .context("fsync ceiling")??
    };

    let events = args.events as f64;
    let mb = bytes as f64 / 1e6;
    let events_per_sec = events / e2e.seconds;
    let tcp_events_per_sec = events / tcp_secs;
    let fsync_events_per_sec = events / fsync_secs;
    Ok(ReplicationReport {
        events: args.events,
        size_bytes: args.size,
        batch: args.batch,
        in_flight: args.in_flight,
        rate: args.rate,
        stream_window: args.stream_window,
        applied_events: e2e.applied,
        all_applied: e2e.applied >= args.events,
        seconds: e2e.seconds,
        events_per_sec,
        payload_mb_per_sec: mb / e2e.seconds,
        retried_writes: e2e.retried,
        source_accept_events_per_sec: events / e2e.accept_seconds,
        catch_up_events_per_sec: e2e.catch_up_events_per_sec,
        cpu_seconds: e2e.cpu_seconds,
        events_per_cpu_sec: e2e.cpu_seconds.filter(|c| *c > 0.0).map(|c| events / c),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average: load,
        lag_samples: e2e.lags.len(),
        lag_p50_ms: percentile_ms(&e2e.lags, 0.50),
        lag_p99_ms: percentile_ms(&e2e.lags, 0.99),
        lag_max_ms: percentile_ms(&e2e.lags, 1.0),
        source_fsyncs: e2e.source_fsyncs,
        target_fsyncs: e2e.target_fsyncs,
        events_per_source_fsync: e2e.events_per_source_fsync,
        tcp_events_per_sec,
        tcp_mb_per_sec: mb / tcp_secs,
        fsync_events_per_sec,
        fsync_mb_per_sec: mb / fsync_secs,
        ratio_to_tcp: events_per_sec / tcp_events_per_sec,
        ratio_to_fsync: events_per_sec / fsync_events_per_sec,
        target_events_per_sec: TARGET_EVENTS_PER_SEC,
        target_met: events_per_sec >= TARGET_EVENTS_PER_SEC,
    })
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(parent: &Path) -> anyhow::Result<ScratchDir> {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = parent.join(format!("omnirelay-bench-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the end-to-end part measured.
struct EndToEnd {
    seconds: f64,
    accept_seconds: f64,
    catch_up_events_per_sec: Option<f64>,
    applied: u64,
    retried: u64,
    lags: Vec<Duration>,
    source_fsyncs: u64,
    target_fsyncs: u64,
    events_per_source_fsync: f64,
    cpu_seconds: Option<f64>,
}

/// The two nodes: n1 alone in cluster `a` (active for `bench`), n2 alone in `b`.
struct Nodes {
    a: NodeRuntime,
    b: NodeRuntime,
}

const NAMESPACE: &str = "bench";

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn config_text(id: u64, cluster: &str, ports: &BTreeMap<u64, u16>) -> String {
    let port = |n: u64| ports.get(&n).copied().unwrap_or_default();
    format!(
        r#"
[node]
id = "n{id}"
cluster = "{cluster}"
region = "region-{cluster}"
role = "voter"
data_dir = "data-n{id}"

[listen]
grpc = "127.0.0.1:{grpc}"
http = "127.0.0.1:0"
control = "127.0.0.1:0"

[tls]
ca = "tls/ca.pem"
cert = "tls/n{id}.pem"
key = "tls/n{id}.key"

[gossip]
profile = "lan"

[consensus]
voters = [{{ id = "n{id}", grpc = "127.0.0.1:{grpc}" }}]

[mesh]
failover_version_increment = 10
control_voters = ["n1", "n2"]
namespaces = [{{ name = "{NAMESPACE}", active = "a" }}]

[[mesh.clusters]]
id = "a"
region = "region-a"
priority = 2
initial_failover_version = 1
nodes = [{{ id = "n1", grpc = "127.0.0.1:{p1}", http = "127.0.0.1:1" }}]

[[mesh.clusters]]
id = "b"
region = "region-b"
priority = 1
initial_failover_version = 2
nodes = [{{ id = "n2", grpc = "127.0.0.1:{p2}", http = "127.0.0.1:2" }}]
"#,
        grpc = port(id),
        p1 = port(1),
        p2 = port(2),
    )
}

async fn start_nodes(dir: &Path, stream_window: Option<u64>) -> anyhow::Result<Nodes> {
    let tls = dir.join("tls");
    let ca = MeshCa::generate("omnirelay bench CA")?;
    ca.write(&tls)?;
    let mut ports = BTreeMap::new();
    for (id, cluster) in [(1u64, "a"), (2, "b")] {
        let identity = Identity::Node {
            node: NodeId(id),
            cluster: ClusterId::new(cluster)?,
            role: Role::Voter,
        };
        ca.issue(
            &identity,
            &["localhost".to_owned()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )?
        .write(&tls, &format!("n{id}"))?;
        ports.insert(id, free_port()?);
    }
    let start = |id: u64, cluster: &'static str| {
        let text = config_text(id, cluster, &ports);
        async move {
            let loaded = config::parse(&text, &format!("n{id}.toml"), dir, &BTreeMap::new())
                .map_err(|e| anyhow!("config of n{id}: {e}"))?;
            let options = RuntimeOptions {
                seed: Some(id),
                stream_window,
                ..RuntimeOptions::default()
            };
            NodeRuntime::start_on(TokioNetwork, loaded, options)
                .await
                .with_context(|| format!("start n{id}"))
        }
    };
    let a = start(1, "a").await?;
    let b = start(2, "b").await?;
    Ok(Nodes { a, b })
}

fn bench_write(namespace: &NamespaceId, key: u64, payload: &[u8]) -> ClientWrite {
    ClientWrite {
        request: 0,
        namespace: namespace.clone(),
        key: format!("k{key}").into_bytes(),
        payload: payload.to_vec(),
        token: None,
    }
}

/// Waits until `a` leads its cluster and accepts a write (registry distributed, control
/// leader known); returns that write's `origin_seq`.
async fn warm_up(a: &NodeHandle, payload: &[u8]) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = a.status().await?;
        if status.role == Some(RoleKind::Leader)
            && let WriteOutcome::Accepted { origin_seq, .. } = a
                .write(bench_write(&NamespaceId::new(NAMESPACE)?, 0, payload))
                .await?
        {
            return Ok(origin_seq);
        }
        if Instant::now() > deadline {
            bail!("cluster a did not accept a write within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cluster_syncs(status: &crate::node::NodeStatus) -> u64 {
    status
        .wal
        .iter()
        .find(|(g, _)| *g == Group::Cluster)
        .map_or(0, |(_, p)| p.syncs)
}

async fn end_to_end(args: &ReplicationArgs, dir: &Path) -> anyhow::Result<EndToEnd> {
    let nodes = start_nodes(dir, args.stream_window).await?;
    let result = drive(args, &nodes).await;
    nodes.a.shutdown().await;
    nodes.b.shutdown().await;
    result
}

/// Writes every event to `a` and waits for `b` to apply them all.
async fn drive(args: &ReplicationArgs, nodes: &Nodes) -> anyhow::Result<EndToEnd> {
    let a = nodes.a.handle();
    let b = nodes.b.handle();
    let origin = ClusterId::new("a")?;
    let payload: Arc<[u8]> = vec![0x5a; args.size].into();
    let warm_seq = warm_up(&a, &payload).await?;
    let goal = warm_seq + args.events;
    let syncs_before = (
        cluster_syncs(&a.status().await?),
        cluster_syncs(&b.status().await?),
    );

    // Every move of b's applied VV[a], with when it was seen: lags are computed from it.
    let mut applied_rx = b.applied_watch();
    let watched = origin.clone();
    let watcher = tokio::spawn(async move {
        let mut moves: Vec<(Instant, u64)> = Vec::new();
        loop {
            let seq = applied_rx.borrow_and_update().get(&watched);
            if moves.last().is_none_or(|(_, s)| *s != seq) {
                moves.push((Instant::now(), seq));
            }
            if seq >= goal || applied_rx.changed().await.is_err() {
                return moves;
            }
        }
    });

    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..args.in_flight {
        let (a, next, payload) = (a.clone(), Arc::clone(&next), Arc::clone(&payload));
        let share = Share {
            events: args.events,
            batch: args.batch,
            pace: args.rate.map(|rate| (started, rate)),
        };
        writers.push(tokio::spawn(async move {
            write_share(&a, &next, share, &payload).await
        }));
    }
    let mut acks = Vec::new();
    let mut retried = 0;
    for w in writers {
        let (samples, retries) = w.await.context("writer task")??;
        acks.extend(samples);
        retried += retries;
    }
    let accepted_at = Instant::now();
    let moves = tokio::time::timeout(Duration::from_secs(600), watcher)
        .await
        .context("the target did not apply every event within 600 s")?
        .context("watcher task")?;
    let cpu = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let (done_at, last_seq) = moves.last().copied().unwrap_or((started, 0));
    let syncs_after = (
        cluster_syncs(&a.status().await?),
        cluster_syncs(&b.status().await?),
    );
    let source_fsyncs = syncs_after.0.saturating_sub(syncs_before.0);

    acks.sort_unstable_by_key(|(seq, _)| *seq);
    let lags = acks
        .iter()
        .filter_map(|(seq, acked)| {
            let i = moves.partition_point(|(_, s)| s < seq);
            moves
                .get(i)
                .map(|(at, _)| at.saturating_duration_since(*acked))
        })
        .collect();
    // What the target still had to apply once the source had acknowledged everything.
    let applied_then = moves
        .iter()
        .take_while(|(at, _)| *at <= accepted_at)
        .last()
        .map_or(warm_seq, |(_, seq)| *seq);
    let backlog = last_seq.saturating_sub(applied_then);
    let catch_up = done_at.saturating_duration_since(accepted_at).as_secs_f64();
    Ok(EndToEnd {
        accept_seconds: accepted_at.duration_since(started).as_secs_f64(),
        catch_up_events_per_sec: (backlog > 0 && catch_up > 0.0).then(|| backlog as f64 / catch_up),
        seconds: done_at.duration_since(started).as_secs_f64(),
        applied: last_seq.saturating_sub(warm_seq),
        retried,
        lags,
        source_fsyncs,
        target_fsyncs: syncs_after.1.saturating_sub(syncs_before.1),
        events_per_source_fsync: args.events as f64 / source_fsyncs.max(1) as f64,
        cpu_seconds: cpu,
    })
}

/// What one writer writes: its share of `events` in calls of `batch`, paced from
/// `(start, events/s)` when given.
#[derive(Clone, Copy, Debug)]
struct Share {
    events: u64,
    batch: u64,
    pace: Option<(Instant, f64)>,
}

/// One writer: takes `batch` events at a time from the shared counter until `events` are
/// claimed, and writes them until each is accepted. Returns `(highest origin_seq of the
/// call, when it was acknowledged)` per call, and how many writes had to be retried.
async fn write_share(
    a: &NodeHandle,
    next: &AtomicU64,
    share: Share,
    payload: &[u8],
) -> anyhow::Result<(Vec<(u64, Instant)>, u64)> {
    let Share {
        events,
        batch,
        pace,
    } = share;
    let namespace = NamespaceId::new(NAMESPACE)?;
    let mut samples = Vec::new();
    let mut retried = 0;
    loop {
        let first = next.fetch_add(batch, Ordering::Relaxed);
        if first >= events {
            return Ok((samples, retried));
        }
        if let Some((started, rate)) = pace {
            // Event `first` is due at `first / rate` seconds into the run.
            let due = started + Duration::from_secs_f64(first as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        // Keys, not writes, are kept for a retry: the writes themselves move to the node.
        let mut pending: Vec<u64> = (first + 1..=(first + batch).min(events)).collect();
        let mut attempts = 0;
        while !pending.is_empty() {
            let writes = pending
                .iter()
                .map(|k| bench_write(&namespace, *k, payload))
                .collect();
            let outcomes = a.write_many(writes).await?;
            let acked = Instant::now();
            let mut again = Vec::new();
            let mut highest = None;
            for (key, outcome) in pending.into_iter().zip(outcomes) {
                match outcome {
                    WriteOutcome::Accepted { origin_seq, .. } => {
                        highest = highest.max(Some(origin_seq));
                    }
                    WriteOutcome::Refused(r) => bail!("write refused: {r}"),
                    _ => again.push(key),
                }
            }
            if let Some(seq) = highest {
                samples.push((seq, acked));
            }
            if !again.is_empty() {
                attempts += 1;
                if attempts > 100 {
                    bail!("writes still not accepted after 100 attempts");
                }
                retried += again.len() as u64;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            pending = again;
        }
    }
}

/// CPU time (user + system, every thread) this process has used, from `/proc/self/stat`
/// (`None` where that does not exist). Fields 14 and 15 count USER_HZ ticks, 100 per
/// second on Linux whatever the kernel's own HZ.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// The 1-minute load average (`/proc/loadavg`), to tell a busy machine's figures apart.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn percentile_ms(sorted_or_not: &[Duration], q: f64) -> f64 {
    if sorted_or_not.is_empty() {
        return 0.0;
    }
    let mut v = sorted_or_not.to_vec();
    v.sort_unstable();
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v.get(rank).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Seconds to push `bytes` through one plain loopback TCP connection (TCP_NODELAY, 64 KiB
/// writes) into a reader that discards them.
async fn tcp_ceiling(bytes: u64) -> anyhow::Result<f64> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    let sink = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                return Ok::<u64, std::io::Error>(total);
            }
            total += n as u64;
        }
    });
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(chunk.get(..n).unwrap_or(&chunk)).await?;
        left -= n as u64;
    }
    stream.shutdown().await?;
    drop(stream);
    let received = sink.await.context("tcp sink")??;
    let secs = started.elapsed().as_secs_f64();
    if received != bytes {
        bail!("tcp sink received {received} of {bytes} bytes");
    }
    Ok(secs)
}

/// Seconds to append `events` payloads of `size` bytes to a fresh write-ahead log in
/// `dir`, in entries of at most [`EVENTS_PER_ENTRY`] events, one fsync per `per_fsync`
/// events (what the run's source log did).
fn fsync_ceiling(dir: &Path, events: u64, size: usize, per_fsync: u64) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let (mut wal, _) = Wal::open_dir(dir, WalConfig::default())?;
    let started = Instant::now();
    let mut written = 0u64;
    let mut entries = Vec::new();
    while written < events {
        let in_sync = per_fsync.min(events - written);
        let mut left = in_sync;
        entries.clear();
        let mut index = wal.last_index();
        while left > 0 {
            let n = left.min(EVENTS_PER_ENTRY);
            index += 1;
            entries.push(LogEntry::new(index, 1, vec![0x5a; n as usize * size]));
            left -= n;
        }
        wal.append(&entries)?;
        wal.sync()?;
        written += in_sync;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(wal);
    let _ = std::fs::remove_dir_all(dir);
    Ok(secs)
}
