//! What can go wrong in the write-ahead log, typed so the node can tell a full disk from
//! a corrupt file and print the path and byte offset of either.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// The disk operation that failed, for error messages and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiskOp {
    /// Listing the log directory.
    List,
    /// Reading a file (or its length).
    Read,
    /// Creating, appending to, truncating, renaming or removing a file.
    Write,
    /// `fsync`/`fdatasync` of a file or of the directory.
    Sync,
}

impl fmt::Display for DiskOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiskOp::List => "list",
            DiskOp::Read => "read",
            DiskOp::Write => "write",
            DiskOp::Sync => "sync",
        })
    }
}

/// A failure reported by a [`Disk`](super::Disk).
#[derive(Debug, Error)]
pub enum DiskError {
    /// The operating system refused the operation.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The simulated disk was told to fail this operation.
    #[error("injected {0} fault")]
    Injected(DiskOp),
    /// The simulated disk crashed after this handle was made; reopen with a fresh handle.
    #[error("the simulated disk crashed; this handle is stale")]
    Crashed,
    /// The file does not exist.
    #[error("no such file")]
    NotFound,
}

/// Why a stored byte range is not a valid record (or a valid state file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorruptionReason {
    /// Fewer bytes remain than a record header needs.
    TruncatedHeader {
        /// Bytes left in the file at this offset.
        available: u64,
    },
    /// The header promises more payload than the file holds.
    TruncatedPayload {
        /// Payload length the header declares.
        declared: u64,
        /// Payload bytes actually present.
        available: u64,
    },
    /// The stored CRC32C does not match the record's bytes.
    ChecksumMismatch {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the bytes read.
        computed: u32,
    },
    /// A record with a valid checksum carries the wrong index.
    UnexpectedIndex {
        /// The index the log's order requires here.
        expected: u64,
        /// The index the record carries.
        found: u64,
    },
    /// A segment does not start where the previous one ended.
    SegmentGap {
        /// First index the segment should have.
        expected: u64,
        /// First index its name says it has.
        found: u64,
    },
    /// A segment name declares a first index beyond [`MAX_INDEX`](super::MAX_INDEX).
    IndexTooLarge {
        /// The index found.
        found: u64,
    },
    /// A state file (hard state, snapshot) has an unknown format tag.
    UnknownFormat {
        /// The tag found.
        found: u32,
    },
}

impl fmt::Display for CorruptionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptionReason::TruncatedHeader { available } => {
                write!(f, "record header cut short ({available} bytes left)")
            }
            CorruptionReason::TruncatedPayload {
                declared,
                available,
            } => write!(
                f,
                "record payload cut short ({declared} bytes declared, {available} present)"
            ),
            CorruptionReason::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            CorruptionReason::UnexpectedIndex { expected, found } => {
                write!(f, "record has index {found}, expected {expected}")
            }
            CorruptionReason::SegmentGap { expected, found } => write!(
                f,
                "segment starts at index {found}, previous segment ends before {expected}"
            ),
            CorruptionReason::IndexTooLarge { found } => {
                write!(f, "index {found} is beyond the largest log index")
            }
            CorruptionReason::UnknownFormat { found } => {
                write!(f, "unknown file format tag {found:#010x}")
            }
        }
    }
}

/// Errors of [`LogStorage`](super::LogStorage) operations. Each variant says whether the
/// log changed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The disk failed. For a read nothing changed. For a write or sync what reached the
    /// disk is unknown, so the log refuses further writes ([`StorageError::Failed`]) until
    /// it is reopened and recovered.
    #[error("{op} failed on {path}: {source}")]
    Disk {
        /// What was being done.
        op: DiskOp,
        /// The file (or directory) involved.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: DiskError,
    },
    /// Stored bytes are not valid. Returned by open (nothing was changed: the log refuses
    /// to open) and by reads (nothing changed).
    #[error("corrupt log file {path} at byte offset {offset}: {reason}")]
    Corruption {
        /// The corrupt file.
        path: PathBuf,
        /// Byte offset of the bad record (or of the segment, for a gap).
        offset: u64,
        /// What is wrong there.
        reason: CorruptionReason,
    },
    /// An append did not continue the log contiguously. Nothing was written.
    #[error("append must continue at index {expected}, got {found}")]
    NotContiguous {
        /// The next index the log accepts.
        expected: u64,
        /// The index offered.
        found: u64,
    },
    /// A read asked for indexes the log does not hold. Nothing changed.
    #[error("entries [{lo}, {hi}) are outside the log [{first}, {last}]")]
    OutOfRange {
        /// Requested start (inclusive).
        lo: u64,
        /// Requested end (exclusive).
        hi: u64,
        /// First index held.
        first: u64,
        /// Last index held.
        last: u64,
    },
    /// `truncate_suffix` below the first index: those entries were compacted. Nothing
    /// changed.
    #[error("cannot truncate from {from}: the log starts at {first}")]
    BelowFirstIndex {
        /// The requested truncation point.
        from: u64,
        /// The log's first index.
        first: u64,
    },
    /// Index 0 is not a log index (the log counts from 1). Nothing changed.
    #[error("index 0 is not a log index")]
    ZeroIndex,
    /// An index beyond [`MAX_INDEX`](super::MAX_INDEX), kept far from overflow. Nothing
    /// changed.
    #[error("index {index} is beyond the largest log index")]
    IndexTooLarge {
        /// The index offered.
        index: u64,
    },
    /// A payload does not fit the record format's u32 length. Nothing was written.
    #[error("payload of {len} bytes exceeds the record limit of {max} bytes")]
    RecordTooLarge {
        /// Payload length offered.
        len: usize,
        /// The largest payload a record holds.
        max: usize,
    },
    /// An earlier write or sync failed, so the log no longer knows what is on disk. Nothing
    /// changed. After a failed sync the process must exit and recover on restart (see
    /// `Wal`); after a failed write, reopening recovers.
    #[error("the log failed earlier: after a failed sync restart the process; otherwise reopen it")]
    Failed,
}

impl StorageError {
    pub(crate) fn disk(op: DiskOp, path: PathBuf, source: DiskError) -> Self {
        StorageError::Disk { op, path, source }
    }
}
