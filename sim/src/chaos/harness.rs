//! A turmoil simulation that replays from its seed, and the trace that proves it does.
//!
//! FINDINGS.md lists what changed trace hashes in prototypes; this module removes the
//! causes it can reach: the seed *and* the epoch are pinned (turmoil's default epoch is the
//! wall clock), the trace records only simulated times and values the run decides, and
//! log timestamps come from simulated time. tokio's own RNG (the branch order of unbiased
//! `select!`) turmoil seeds only when built with `--cfg tokio_unstable`, which
//! `.cargo/config.toml` sets for every build (see sim/README.md, "Chaos layer").

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::model::TraceHasher;

/// Where every chaos run's clock starts: 2026-01-01T00:00:00Z, in seconds since the Unix
/// epoch. Fixed so that anything reading `SystemTime` through turmoil (certificate
/// validity, `written_at` stamps) sees the same instant on every replay.
pub const EPOCH_UNIX_SECONDS: u64 = 1_767_225_600;

/// Whether this build lets turmoil seed each host's tokio RNG from the simulation seed
/// (`--cfg tokio_unstable`, set by `.cargo/config.toml`; a `RUSTFLAGS` variable without it
/// drops it). Without it, which branch an unbiased `select!` takes when several are ready
/// comes from the OS, and a replay may diverge from its run.
pub const TOKIO_RNG_SEEDED: bool = cfg!(tokio_unstable);

/// [`EPOCH_UNIX_SECONDS`] as a `SystemTime`.
pub fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS)
}

/// How a chaos simulation is built. Everything that decides behaviour is here, so a run is
/// named by these values alone.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSettings {
    /// Seeds turmoil's RNG: message latencies, losses, and (under `tokio_unstable`) each
    /// host's tokio RNG.
    pub seed: u64,
    /// Simulated time after which `Sim::run`/`step` fails with a timeout.
    pub duration: Duration,
    /// Simulated time each `step` advances.
    pub tick: Duration,
    /// Latency of every message unless a link overrides it: turmoil draws each message's
    /// latency between these two.
    pub min_latency: Duration,
    /// See [`SimSettings::min_latency`].
    pub max_latency: Duration,
}

impl SimSettings {
    /// One simulated minute with 1 ms ticks and 1–2 ms links, seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SimSettings {
            seed,
            duration: Duration::from_secs(60),
            tick: Duration::from_millis(1),
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(2),
        }
    }

    /// A turmoil builder with the seed and the epoch pinned; callers may set more on it.
    pub fn builder(&self) -> turmoil::Builder {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(self.seed)
            .epoch(epoch())
            .simulation_duration(self.duration)
            .tick_duration(self.tick)
            .min_message_latency(self.min_latency)
            .max_message_latency(self.max_latency.max(self.min_latency));
        builder
    }

    /// The simulation.
    pub fn build<'a>(&self) -> turmoil::Sim<'a> {
        self.builder().build()
    }
}

/// One thing that happened in a run, as the trace keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    /// Simulated time since the start of the run, in nanoseconds.
    pub at_ns: u64,
    /// Who saw it: a host name, or `"sim"` for the driver (faults, checks).
    pub source: String,
    /// What happened, in words the run decided (never a wall-clock time, a random nonce,
    /// or a header such as hyper's `date`).
    pub what: String,
}

#[derive(Debug)]
struct TraceLog {
    hasher: TraceHasher,
    records: Vec<TraceRecord>,
}

/// Collects a run's [`TraceRecord`]s and folds them into a stable hash.
///
/// Cheap to clone; clones share one log, so the hosts and the driver of one run all
/// record into it. Hosts run one at a time on the driver's thread, so the order of
/// records is the simulation's order.
#[derive(Clone, Debug)]
pub struct TraceRecorder {
    log: Arc<Mutex<TraceLog>>,
}

impl Default for TraceRecorder {
    fn default() -> Self {
        TraceRecorder {
            log: Arc::new(Mutex::new(TraceLog {
                hasher: TraceHasher::default(),
                records: Vec::new(),
            })),
        }
    }
}

impl TraceRecorder {
    /// An empty trace.
    pub fn new() -> Self {
        TraceRecorder::default()
    }

    /// Records `what` seen by `source` at simulated time `at` (the driver passes
    /// `sim.elapsed()`).
    pub fn record_at(&self, at: Duration, source: &str, what: impl Into<String>) {
        let record = TraceRecord {
            at_ns: u64::try_from(at.as_nanos()).unwrap_or(u64::MAX),
            source: source.to_owned(),
            what: what.into(),
        };
        let mut log = self.lock();
        log.hasher
            .record(&(record.at_ns, record.source.as_str(), record.what.as_str()));
        log.records.push(record);
    }

    /// Records `what` seen by `source` now, from inside a host. Outside one (no simulated
    /// clock to read) the record is stamped at zero; the driver should use
    /// [`TraceRecorder::record_at`].
    pub fn record(&self, source: &str, what: impl Into<String>) {
        self.record_at(sim_now().unwrap_or_default(), source, what);
    }

    /// The trace's fingerprint so far: 16 hex digits, as reports print it.
    pub fn hash_hex(&self) -> String {
        self.lock().hasher.hex()
    }

    /// How many records were folded in.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the records, in order.
    pub fn records(&self) -> Vec<TraceRecord> {
        self.lock().records.clone()
    }

    /// The records as JSON lines (one object per record), the `--trace t.jsonl` format.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for record in &self.lock().records {
            // Serializing plain strings and integers cannot fail.
            if let Ok(line) = serde_json::to_string(record) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TraceLog> {
        // A host that panicked mid-record leaves a log that is still a valid prefix.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The simulated time since the start of the run, when called from inside a host.
pub fn sim_now() -> Option<Duration> {
    turmoil::sim_elapsed()
}

/// A `tracing` timestamp from simulated time (`12.345678s`), so that logs of two replays of
/// one seed are identical and line up with the trace; `-` outside a host.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimulatedTime;

impl FormatTime for SimulatedTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match sim_now() {
            Some(at) => write!(w, "{}.{:06}s", at.as_secs(), at.subsec_micros()),
            None => write!(w, "-"),
        }
    }
}

/// A `tracing` subscriber for chaos runs: simulated timestamps, no ANSI colours, writing
/// through the test harness's capture (so passing tests stay quiet). Install it with
/// `tracing::subscriber::set_default` for the span of one run.
pub fn log_subscriber(max_level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
    log_subscriber_to(max_level, tracing_subscriber::fmt::TestWriter::new())
}

/// [`log_subscriber`] writing to `writer` (a file, or a buffer to compare two replays).
pub fn log_subscriber_to<W>(
    max_level: tracing::Level,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_timer(SimulatedTime)
        .with_ansi(false)
        .with_max_level(max_level)
        .with_writer(writer)
        .finish()
}
