//! The segmented write-ahead log over any [`Disk`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::LogStorage;
use super::disk::{Disk, FsDisk};
use super::error::{CorruptionReason, DiskError, DiskOp, StorageError};
use super::record::{LogEntry, MAX_PAYLOAD, decode, encode};
use super::recovery::{RecoveryReport, recover};
use super::segment::{DEFAULT_SEGMENT_BYTES, MAX_INDEX, Segment};
use super::state_file::{self, HardState, Snapshot};

/// Tuning of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalConfig {
    /// A segment that would grow past this many bytes is closed and a new one started
    /// (a single record larger than this gets a segment of its own).
    pub segment_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// The write-ahead log: segment files `wal-<first index>.log` of CRC32C-framed records,
/// group commit, torn-tail recovery, plus the hard-state and snapshot files, in one
/// directory of a [`Disk`].
///
/// Driving order: [`Wal::open`] (print its [`RecoveryReport`]), then any number of
/// [`append`](LogStorage::append)s, then one [`sync`](LogStorage::sync) whose returned
/// index is the durability boundary: acknowledge (vote, reply to the leader, count toward
/// commit) only entries at or below it. Truncation, compaction and the state files are
/// durable when their call returns. After any disk error on a write path the log refuses
/// further writes with [`StorageError::Failed`]: what reached the disk is unknown. A failed
/// *sync* must end the process (the node exits and restarts): on Linux a failed fsync can
/// mark unwritten pages clean, so a log reopened by the same process, or recovered while
/// those pages are still cached, could read back and re-acknowledge bytes that never
/// reached the disk (PostgreSQL's "fsyncgate"). Only the next boot's recovery is trusted.
#[derive(Debug)]
pub struct Wal<D: Disk> {
    disk: D,
    config: WalConfig,
    /// In index order; never empty (an empty log is one empty segment naming its next index).
    segments: Vec<Segment>,
    /// First indexes of segments holding writes not yet synced.
    unsynced: BTreeSet<u64>,
    durable: u64,
    failed: bool,
    frame_buf: Vec<u8>,
}

/// A write-ahead log in a real directory.
pub type FileWal = Wal<FsDisk>;

impl Wal<FsDisk> {
    /// Opens (creating if needed) the log in directory `dir`.
    pub fn open_dir(
        dir: impl Into<PathBuf>,
        config: WalConfig,
    ) -> Result<(Self, RecoveryReport), StorageError> {
        let dir = dir.into();
        let disk = FsDisk::new(&dir).map_err(|e| StorageError::disk(DiskOp::Write, dir, e))?;
        Wal::open(disk, config)
    }
}

impl<D: Disk> Wal<D> {
    /// Opens the log on `disk`, recovering from whatever a crash left (see
    /// [`RecoveryReport`]). Fails without changing anything if a record other than the
    /// torn tail is damaged or segments do not join up.
    pub fn open(mut disk: D, config: WalConfig) -> Result<(Self, RecoveryReport), StorageError> {
        let (segments, report) = recover(&mut disk)?;
        let wal = Wal {
            disk,
            config,
            durable: report.last_index,
            segments,
            unsynced: BTreeSet::new(),
            failed: false,
            frame_buf: Vec::new(),
        };
        Ok((wal, report))
    }

    /// The disk underneath, e.g. to crash a simulated one.
    #[must_use]
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Segment files in use.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Paths of the segment files in use, in index order.
    #[must_use]
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments
            .iter()
            .map(|s| self.disk.path(&s.name))
            .collect()
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty; the fallback only keeps this panic-free.
        self.segments.last().unwrap_or(&EMPTY_SEGMENT)
    }

    fn next_index(&self) -> u64 {
        self.active().next_index()
    }

    fn fail(&self, op: DiskOp, name: &str) -> impl FnOnce(DiskError) -> StorageError + use<D> {
        let path = self.disk.path(name);
        move |e| StorageError::disk(op, path, e)
    }

    /// Runs a write path; a disk error poisons the log (see the type's docs).
    fn write_path<T>(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.failed {
            return Err(StorageError::Failed);
        }
        let result = body(self);
        if matches!(result, Err(StorageError::Disk { .. })) {
            self.failed = true;
        }
        result
    }

    fn check_batch(&self, entries: &[LogEntry]) -> Result<(), StorageError> {
        for (expected, entry) in (self.next_index()..).zip(entries) {
            if entry.index > MAX_INDEX {
                return Err(StorageError::IndexTooLarge { index: entry.index });
            }
            if entry.index != expected {
                return Err(StorageError::NotContiguous {
                    expected,
                    found: entry.index,
                });
            }
            if entry.payload.len() > MAX_PAYLOAD {
                return Err(StorageError::RecordTooLarge {
                    len: entry.payload.len(),
                    max: MAX_PAYLOAD,
                });
            }
        }
        Ok(())
    }

    /// Writes the encoded frames in `frame_buf` to the active segment.
    fn flush(&mut self, offsets: &mut Vec<u64>) -> Result<(), StorageError> {
        if self.frame_buf.is_empty() {
            return Ok(());
        }
        let name = self.active().name.clone();
        self.disk
            .append(&name, &self.frame_buf)
            .map_err(self.fail(DiskOp::Write, &name))?;
        let written = self.frame_buf.len() as u64;
        self.frame_buf.clear();
        if let Some(active) = self.segments.last_mut() {
            active.offsets.append(offsets);
            active.len += written;
            self.unsynced.insert(active.first);
        }
        Ok(())
    }

    /// Closes the active segment and starts the next. The closed one is synced first, so
    /// that only the newest segment can ever end in a torn record.
    fn roll(&mut self) -> Result<(), StorageError> {
        let closed = self.active().clone();
        if self.unsynced.remove(&closed.first) {
            self.disk
                .sync(&closed.name)
                .map_err(self.fail(DiskOp::Sync, &closed.name))?;
        }
        let next = Segment::empty(closed.next_index());
        self.disk
            .create(&next.name)
            .map_err(self.fail(DiskOp::Write, &next.name))?;
        self.disk
            .sync_dir()
            .map_err(self.fail(DiskOp::Sync, &next.name))?;
        self.segments.push(next);
        Ok(())
    }

    fn append_checked(&mut self, entries: &[LogEntry]) -> Result<u64, StorageError> {
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            let used = self.active().len + self.frame_buf.len() as u64;
            if used > 0 && used + entry.framed_len() > self.config.segment_bytes {
                self.flush(&mut offsets)?;
                self.roll()?;
            }
            offsets.push(self.active().len + self.frame_buf.len() as u64);
            encode(entry, &mut self.frame_buf);
        }
        self.flush(&mut offsets)?;
        Ok(self.next_index() - 1)
    }

    fn segment_position(&self, index: u64) -> usize {
        self.segments
            .partition_point(|s| s.first <= index)
            .saturating_sub(1)
    }

    fn read_segment(
        &mut self,
        position: usize,
        lo: u64,
        hi: u64,
        out: &mut Vec<LogEntry>,
    ) -> Result<(), StorageError> {
        let Some(segment) = self.segments.get(position) else {
            return Ok(());
        };
        let name = segment.name.clone();
        let Some((start, end)) = segment.byte_range(lo, hi) else {
            return Ok(());
        };
        let len = usize::try_from(end - start).map_err(|_| StorageError::RecordTooLarge {
            len: usize::MAX,
            max: MAX_PAYLOAD,
        })?;
        let mut bytes = vec![0u8; len];
        self.disk
            .read_at(&name, start, &mut bytes)
            .map_err(self.fail(DiskOp::Read, &name))?;
        let mut at = 0usize;
        for expected in lo..hi {
            let corrupt = |reason| StorageError::Corruption {
                path: self.disk.path(&name),
                offset: start + at as u64,
                reason,
            };
            let frame = decode(bytes.get(at..).unwrap_or_default()).map_err(corrupt)?;
            if frame.index != expected {
                return Err(corrupt(CorruptionReason::UnexpectedIndex {
                    expected,
                    found: frame.index,
                }));
            }
            out.push(frame.to_entry());
            at += frame.framed_len;
        }
        Ok(())
    }

    fn truncate_checked(&mut self, from: u64) -> Result<(), StorageError> {
        let keep = self.segment_position(from);
        // Newest first, each removal durable before the next: a crash leaves a prefix.
        while self.segments.len() > keep + 1 {
            let Some(gone) = self.segments.pop() else {
                break;
            };
            self.unsynced.remove(&gone.first);
            self.disk
                .remove(&gone.name)
                .map_err(self.fail(DiskOp::Write, &gone.name))?;
            self.disk
                .sync_dir()
                .map_err(self.fail(DiskOp::Sync, &gone.name))?;
        }
        let Some(segment) = self.segments.last_mut() else {
            return Ok(());
        };
        let keep_records = usize::try_from(from - segment.first).unwrap_or(usize::MAX);
        let cut = segment
            .offsets
            .get(keep_records)
            .copied()
            .unwrap_or(segment.len);
        segment.offsets.truncate(keep_records);
        segment.len = cut;
        let (first, name) = (segment.first, segment.name.clone());
        self.disk
            .truncate(&name, cut)
            .map_err(self.fail(DiskOp::Write, &name))?;
        // Synced now rather than at the next `sync`, so that no later append can reach the
        // disk ahead of the cut and revive old entries after the new ones.
        self.disk
            .sync(&name)
            .map_err(self.fail(DiskOp::Sync, &name))?;
        self.unsynced.remove(&first);
        self.durable = self.durable.min(from - 1);
        Ok(())
    }

    fn compact_checked(&mut self, upto: u64) -> Result<(), StorageError> {
        let last = self.next_index() - 1;
        if upto >= last {
            return self.restart_after(upto);
        }
        // Oldest first, each durable before the next: a crash leaves a suffix.
        while self.segments.len() > 1
            && self
                .segments
                .first()
                .is_some_and(|s| s.next_index() <= upto + 1)
        {
            let gone = self.segments.remove(0);
            self.unsynced.remove(&gone.first);
            self.remove_segment(&gone)?;
        }
        Ok(())
    }

    /// Every entry is covered by a snapshot at `upto`: the log restarts empty at `upto + 1`.
    /// The new empty segment is made durable before the old ones go, and recovery finishes
    /// the removals if a crash interrupts them.
    fn restart_after(&mut self, upto: u64) -> Result<(), StorageError> {
        let start = Segment::empty(upto + 1);
        let reuse = self
            .segments
            .last()
            .is_some_and(|s| s.first == start.first && s.offsets.is_empty());
        if !reuse {
            self.disk
                .create(&start.name)
                .map_err(self.fail(DiskOp::Write, &start.name))?;
            self.disk
                .sync_dir()
                .map_err(self.fail(DiskOp::Sync, &start.name))?;
        }
        let old: Vec<Segment> = self
            .segments
            .drain(..)
            .filter(|s| s.name != start.name)
            .collect();
        self.segments.push(start);
        self.unsynced.clear();
        self.durable = upto;
        for gone in old {
            self.remove_segment(&gone)?;
        }
        Ok(())
    }

    /// Deletes one segment file, durably: the directory is synced before the next goes, so
    /// a crash leaves a suffix of the log, never a hole.
    fn remove_segment(&mut self, gone: &Segment) -> Result<(), StorageError> {
        self.disk
            .remove(&gone.name)
            .map_err(self.fail(DiskOp::Write, &gone.name))?;
        self.disk
            .sync_dir()
            .map_err(self.fail(DiskOp::Sync, &gone.name))
    }
}

static EMPTY_SEGMENT: Segment = Segment {
    first: 1,
    name: String::new(),
    offsets: Vec::new(),
    len: 0,
};

impl<D: Disk> LogStorage for Wal<D> {
    fn append(&mut self, entries: &[LogEntry]) -> Result<u64, StorageError> {
        self.write_path(|wal| {
            wal.check_batch(entries)?;
            wal.append_checked(entries)
        })
    }

    fn sync(&mut self) -> Result<u64, StorageError> {
        self.write_path(|wal| {
            // One fsync per segment with unsynced writes: usually exactly one.
            while let Some(first) = wal.unsynced.first().copied() {
                let name = super::segment::segment_name(first);
                wal.disk
                    .sync(&name)
                    .map_err(wal.fail(DiskOp::Sync, &name))?;
                wal.unsynced.remove(&first);
            }
            wal.durable = wal.next_index() - 1;
            Ok(wal.durable)
        })
    }

    fn entries(&mut self, lo: u64, hi: u64) -> Result<Vec<LogEntry>, StorageError> {
        let first = self.first_index();
        let last = self.last_index();
        if lo > hi || lo < first || hi > last + 1 {
            return Err(StorageError::OutOfRange {
                lo,
                hi,
                first,
                last,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(hi - lo).unwrap_or(0));
        let mut next = lo;
        while next < hi {
            let position = self.segment_position(next);
            let segment_end = self
                .segments
                .get(position)
                .map_or(hi, |s| s.next_index())
                .min(hi);
            if segment_end <= next {
                break;
            }
            self.read_segment(position, next, segment_end, &mut out)?;
            next = segment_end;
        }
        Ok(out)
    }

    fn first_index(&self) -> u64 {
        self.segments.first().map_or(1, |s| s.first)
    }

    fn last_index(&self) -> u64 {
        self.next_index() - 1
    }

    fn durable_index(&self) -> u64 {
        self.durable
    }

    fn truncate_suffix(&mut self, from: u64) -> Result<(), StorageError> {
        self.write_path(|wal| {
            if from == 0 {
                return Err(StorageError::ZeroIndex);
            }
            let first = wal.first_index();
            if from < first {
                return Err(StorageError::BelowFirstIndex { from, first });
            }
            if from > wal.last_index() {
                return Ok(());
            }
            wal.truncate_checked(from)
        })
    }

    fn compact_prefix(&mut self, upto: u64) -> Result<(), StorageError> {
        self.write_path(|wal| {
            if upto >= MAX_INDEX {
                return Err(StorageError::IndexTooLarge { index: upto });
            }
            if upto < wal.first_index() {
                return Ok(());
            }
            wal.compact_checked(upto)
        })
    }

    fn save_hard_state(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.write_path(|wal| state_file::save_hard_state(&mut wal.disk, state))
    }

    fn load_hard_state(&mut self) -> Result<Option<HardState>, StorageError> {
        state_file::load_hard_state(&mut self.disk)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.write_path(|wal| state_file::save_snapshot(&mut wal.disk, snapshot))
    }

    fn load_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        state_file::load_snapshot(&mut self.disk)
    }
}
