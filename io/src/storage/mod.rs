//! Durable storage of a node: the write-ahead log that holds its cluster's Raft log, the
//! Raft hard state and the latest snapshot.
//!
//! [`LogStorage`] is what the node's driver calls (from a blocking task). [`Wal`] implements
//! it over a [`Disk`]: [`FsDisk`] for a real directory, [`SimDisk`] for the simulators,
//! which can crash, lose unsynced writes, tear the last write and fail reads or writes on
//! demand, so the same log and recovery code is what the chaos simulation exercises.
//!
//! On disk: segment files `wal-<first index, 20 digits>.log`, each a run of records framed
//! `[len u32][crc32c u32][index u64][term u64][payload]` (little endian, CRC over the other
//! header fields and the payload), plus `hardstate` and `snapshot`, each replaced
//! atomically through a `.tmp` file.

mod disk;
mod error;
mod record;
mod recovery;
mod segment;
mod sim;
mod state_file;
mod wal;

pub use disk::{Disk, FsDisk};
pub use error::{CorruptionReason, DiskError, DiskOp, StorageError};
pub use record::{HEADER_LEN, LogEntry, MAX_PAYLOAD};
pub use recovery::{RecoveryReport, TornTail};
pub use segment::{DEFAULT_SEGMENT_BYTES, MAX_INDEX};
pub use sim::{CrashMode, SimDisk};
pub use state_file::{HardState, Snapshot};
pub use wal::{FileWal, Wal, WalConfig};

/// The node's durable log: contiguous entries from `first_index` to `last_index`, of which
/// those up to `durable_index` survive any crash.
///
/// Durability boundary: [`append`](Self::append) only writes; nothing it wrote is durable
/// until a later [`sync`](Self::sync) returns, and one `sync` covers every append before it
/// (group commit). Everything else that changes state is durable when it returns.
/// An empty log has `first_index == last_index + 1`; a fresh one starts at index 1.
pub trait LogStorage {
    /// Appends entries whose indexes continue the log (`last_index + 1`, then +1 each).
    /// Returns the last index written, which is not yet durable.
    fn append(&mut self, entries: &[LogEntry]) -> Result<u64, StorageError>;

    /// Makes every append so far durable (one fsync per touched segment, usually one) and
    /// returns the last durable index.
    fn sync(&mut self) -> Result<u64, StorageError>;

    /// Entries with indexes in `[lo, hi)`, all of which must be held.
    fn entries(&mut self, lo: u64, hi: u64) -> Result<Vec<LogEntry>, StorageError>;

    /// First index held (`last_index + 1` when empty).
    fn first_index(&self) -> u64;

    /// Last index held (what `append` wrote, durable or not).
    fn last_index(&self) -> u64;

    /// Last index that survives a crash, as returned by the latest `sync`, lowered by
    /// truncation.
    fn durable_index(&self) -> u64;

    /// Drops entries `>= from` (a Raft log conflict); durable when it returns. `from`
    /// beyond the end is a no-op; below `first_index` is an error.
    fn truncate_suffix(&mut self, from: u64) -> Result<(), StorageError>;

    /// After a snapshot at `upto`: deletes the segment files whose entries are all `<= upto`,
    /// so `first_index` may stay below `upto + 1`. If `upto >= last_index` the log restarts
    /// empty at `upto + 1`. Durable when it returns.
    fn compact_prefix(&mut self, upto: u64) -> Result<(), StorageError>;

    /// Replaces the hard state; durable when it returns.
    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError>;

    /// The last saved hard state, if any.
    fn load_hard_state(&mut self) -> Result<Option<HardState>, StorageError>;

    /// Replaces the snapshot (blob plus index and term) atomically; durable when it returns.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;

    /// The last saved snapshot, if any.
    fn load_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError>;
}
