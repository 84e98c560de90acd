//! One consensus group's durable log: restoring core's `PersistedState` from a [`Wal`] at
//! start, and the writer thread that applies `PersistRequest`s with group commit.
//!
//! Durability boundary: the writer reports a request as persisted only after the `sync`
//! that covers it has returned. A failed write or fsync ends the process (see [`Wal`]'s
//! docs: after a failed fsync only the next boot's recovery is trusted).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use omnirelay_core::NodeId;
use omnirelay_core::consensus::{
    self, Entry, EntryPayload, PersistId, PersistRequest, PersistedState, Priority, Term, VoterSet,
};
use omnirelay_core::node::Group;
use tokio::sync::mpsc;

use super::handle::WalPosition;
use crate::storage::{
    self, Disk, LogEntry, LogStorage, RecoveryReport, StorageError, Wal, WalConfig,
};

/// Why a group's log could not be opened or read back. Nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The log refused to open or read (corruption names file and offset).
    #[error("{group:?} log in {dir}: {source}", dir = dir.display())]
    Storage {
        /// Which group.
        group: Group,
        /// Its directory.
        dir: PathBuf,
        /// Why.
        source: StorageError,
    },
    /// A record's payload is not a log entry this version wrote.
    #[error("{group:?} log in {dir}: entry {index} does not decode: {reason}", dir = dir.display())]
    Undecodable {
        /// Which group.
        group: Group,
        /// Its directory.
        dir: PathBuf,
        /// The entry.
        index: u64,
        /// Why.
        reason: &'static str,
    },
}

const NOOP: u8 = 0;
const COMMAND: u8 = 1;
const VOTERS: u8 = 2;

/// An entry's payload as stored: a tag byte, then the command bytes or `(id u64, priority
/// u8)` per voter.
pub(crate) fn encode_payload(payload: &EntryPayload) -> Vec<u8> {
    match payload {
        EntryPayload::Noop => vec![NOOP],
        EntryPayload::Command(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(COMMAND);
            out.extend_from_slice(bytes);
            out
        }
        EntryPayload::VoterChange(voters) => {
            let mut out = vec![VOTERS];
            for id in voters.ids() {
                out.extend_from_slice(&id.0.to_le_bytes());
                out.push(voters.priority(id).unwrap_or_default().0);
            }
            out
        }
    }
}

pub(crate) fn decode_payload(bytes: &[u8]) -> Result<EntryPayload, &'static str> {
    match bytes.split_first() {
        Some((&NOOP, [])) => Ok(EntryPayload::Noop),
        Some((&COMMAND, rest)) => Ok(EntryPayload::Command(rest.to_vec())),
        Some((&VOTERS, rest)) if rest.len() % 9 == 0 => {
            let voters = rest.chunks_exact(9).map(|c| {
                let (id, priority) = c.split_at(8);
                let mut word = [0u8; 8];
                word.copy_from_slice(id);
                let priority = priority.first().copied().unwrap_or_default();
                (NodeId(u64::from_le_bytes(word)), Priority(priority))
            });
            Ok(EntryPayload::VoterChange(VoterSet::new(voters)))
        }
        Some((&VOTERS, _)) => Err("voter list is not a whole number of (id, priority) pairs"),
        Some(_) => Err("unknown entry tag"),
        None => Err("empty record"),
    }
}

fn to_storage(entry: &Entry) -> LogEntry {
    LogEntry::new(entry.index, entry.term.0, encode_payload(&entry.payload))
}

/// An open group log and what it held at start.
#[derive(Debug)]
pub(crate) struct OpenedLog<D: Disk> {
    pub wal: Wal<D>,
    pub state: PersistedState,
    pub position: WalPosition,
    pub report: RecoveryReport,
}

/// Opens `group`'s log on `disk`, logging what recovery repaired, and reads it back as the
/// state its replica restarts from.
pub(crate) fn open<D: Disk>(
    group: Group,
    dir: &Path,
    disk: D,
    config: WalConfig,
) -> Result<OpenedLog<D>, RestoreError> {
    let storage_err = |source| RestoreError::Storage {
        group,
        dir: dir.to_owned(),
        source,
    };
    let (mut wal, report) = Wal::open(disk, config).map_err(storage_err)?;
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(
            ?group,
            file = %torn.path.display(),
            offset = torn.offset,
            dropped_bytes = torn.dropped_bytes,
            reason = %torn.reason,
            "torn tail truncated: the last write before the crash was incomplete"
        );
    }
    for path in report
        .removed_temp_files
        .iter()
        .chain(&report.removed_compacted_segments)
    {
        tracing::info!(?group, file = %path.display(), "recovery removed a leftover file");
    }
    let hard = wal.load_hard_state().map_err(storage_err)?;
    if wal.load_snapshot().map_err(storage_err)?.is_some() {
        // The node never compacts yet, so a snapshot file means another version wrote it.
        tracing::warn!(
            ?group,
            "a snapshot file exists but this version never writes one; ignored"
        );
    }
    let stored = wal
        .entries(wal.first_index(), wal.last_index() + 1)
        .map_err(storage_err)?;
    let mut entries = Vec::with_capacity(stored.len());
    for e in stored {
        let payload = decode_payload(&e.payload).map_err(|reason| RestoreError::Undecodable {
            group,
            dir: dir.to_owned(),
            index: e.index,
            reason,
        })?;
        entries.push(Entry {
            term: Term(e.term),
            index: e.index,
            payload,
        });
    }
    tracing::info!(
        ?group,
        dir = %dir.display(),
        first = wal.first_index(),
        last = wal.last_index(),
        term = hard.map_or(0, |h| h.term),
        "log recovered"
    );
    let state = PersistedState {
        hard_state: consensus::HardState {
            term: Term(hard.map_or(0, |h| h.term)),
            voted_for: hard.and_then(|h| h.vote),
        },
        snapshot: None,
        entries,
    };
    let position = WalPosition {
        first_index: wal.first_index(),
        last_index: wal.last_index(),
        durable_index: wal.durable_index(),
        bytes: segment_bytes(&wal),
        syncs: 0,
    };
    Ok(OpenedLog {
        wal,
        state,
        position,
        report,
    })
}

fn segment_bytes<D: Disk>(wal: &Wal<D>) -> u64 {
    wal.segment_paths()
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// What the writer does when the disk fails: the node must not go on (see module docs).
pub type OnFatal = Arc<dyn Fn(Group, &StorageError) + Send + Sync>;

/// Extra latency a simulated disk adds to each group commit (read before every batch, so
/// a simulator can change it while the node runs). Only task writers honour it.
pub type FsyncDelay = Arc<dyn Fn(Group) -> std::time::Duration + Send + Sync>;

/// The default fatal handler: log why and exit non-zero, so a supervisor restarts the
/// node and the next boot's recovery decides what is durable.
pub fn exit_on_fatal() -> OnFatal {
    Arc::new(|group, error| {
        tracing::error!(?group, %error, "storage failed; exiting so that recovery decides what is durable");
        std::process::exit(70);
    })
}

/// Where a group's writer runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriterMode {
    /// A dedicated OS thread per group: fsyncs never block the async runtime (real disks).
    #[default]
    Thread,
    /// A task on the async runtime, doing its disk calls inline: for in-memory disks under
    /// a simulator, where threads would escape its deterministic scheduling.
    Task,
}

/// A running writer, to wait for at shutdown.
#[derive(Debug)]
pub(crate) enum WriterJoin {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

/// One group's writer state: the log, and what to report.
struct Writer<D: Disk> {
    group: Group,
    wal: Wal<D>,
    position: Arc<Mutex<WalPosition>>,
    persisted: mpsc::UnboundedSender<(Group, PersistId)>,
    on_fatal: OnFatal,
}

impl<D: Disk> Writer<D> {
    /// Applies a batch, fsyncs once, reports the batch's last id. False after a fatal error.
    fn write_batch(&mut self, batch: &mut Vec<PersistRequest>) -> bool {
        let mut last = None;
        for request in batch.drain(..) {
            if let Err(e) = apply(&mut self.wal, &request) {
                (self.on_fatal)(self.group, &e);
                return false;
            }
            last = Some(request.id);
        }
        if let Err(e) = self.wal.sync() {
            (self.on_fatal)(self.group, &e);
            return false;
        }
        if let Ok(mut p) = self.position.lock() {
            p.first_index = self.wal.first_index();
            p.last_index = self.wal.last_index();
            p.durable_index = self.wal.durable_index();
            p.bytes = segment_bytes(&self.wal);
            p.syncs += 1;
        }
        // Only now, after the fsync returned, may the core count these writes. A closed
        // channel means the driver is gone (shutdown): keep flushing what is queued.
        if let Some(id) = last {
            let _ = self.persisted.send((self.group, id));
        }
        true
    }
}

/// Starts the writer of `group`. Requests sent on the returned channel are applied in
/// order; after each batch (everything queued when it woke) one fsync covers all of it and
/// the batch's last id is sent on `persisted`. Dropping the sender flushes what is queued
/// and ends the writer (join it to wait).
pub(crate) fn spawn_writer<D: Disk + Send + 'static>(
    group: Group,
    wal: Wal<D>,
    position: Arc<Mutex<WalPosition>>,
    persisted: mpsc::UnboundedSender<(Group, PersistId)>,
    on_fatal: OnFatal,
    mode: WriterMode,
    fsync_delay: Option<FsyncDelay>,
) -> (mpsc::UnboundedSender<PersistRequest>, WriterJoin) {
    let (tx, mut rx) = mpsc::unbounded_channel::<PersistRequest>();
    let mut writer = Writer {
        group,
        wal,
        position,
        persisted,
        on_fatal,
    };
    let join = match mode {
        WriterMode::Thread => {
            let thread = std::thread::Builder::new()
                .name(format!("wal-{group:?}").to_lowercase())
                .spawn(move || {
                    let mut batch = Vec::new();
                    while let Some(first) = rx.blocking_recv() {
                        batch.push(first);
                        while let Ok(more) = rx.try_recv() {
                            batch.push(more);
                        }
                        if !writer.write_batch(&mut batch) {
                            return;
                        }
                    }
                })
                .unwrap_or_else(|e| {
                    // Without a writer the node cannot persist anything: as a disk failure.
                    tracing::error!(?group, error = %e, "cannot start the log writer thread");
                    std::process::exit(70);
                });
            WriterJoin::Thread(thread)
        }
        WriterMode::Task => WriterJoin::Task(tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                if let Some(delay) = fsync_delay.as_ref().map(|d| d(group))
                    && !delay.is_zero()
                {
                    // A slow disk: the batch's fsync (and its report) completes later;
                    // what arrives meanwhile joins the batch, as in a real group commit.
                    tokio::time::sleep(delay).await;
                }
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                if !writer.write_batch(&mut batch) {
                    return;
                }
            }
        })),
    };
    (tx, join)
}

/// Applies one request in its documented order (snapshot, truncation, entries, hard
/// state); the entries become durable with the batch's sync, which precedes the report.
fn apply<D: Disk>(wal: &mut Wal<D>, request: &PersistRequest) -> Result<(), StorageError> {
    if let Some(snapshot) = &request.snapshot {
        // Never produced while the node does not compact; written so nothing is lost.
        wal.save_snapshot(&storage::Snapshot {
            index: snapshot.last_index,
            term: snapshot.last_term.0,
            data: snapshot.data.to_vec(),
        })?;
        wal.compact_prefix(snapshot.last_index)?;
    }
    if let Some(from) = request.truncate_from {
        wal.truncate_suffix(from)?;
    }
    if !request.entries.is_empty() {
        let entries: Vec<LogEntry> = request.entries.iter().map(to_storage).collect();
        wal.append(&entries)?;
    }
    if let Some(hard) = request.hard_state {
        // The vote must not be durable before the entries it may depend on: sync first.
        wal.sync()?;
        wal.save_hard_state(&storage::HardState {
            term: hard.term.0,
            vote: hard.voted_for,
            commit: 0,
        })?;
    }
    Ok(())
}
