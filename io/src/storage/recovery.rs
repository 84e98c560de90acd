//! Opening the log: scan every segment in index order, repair what a crash can leave
//! behind, refuse what only damage can explain.
//!
//! A crash can leave (a) a partial or CRC-failing record at the very end of the last
//! segment, because the log only writes there and syncs older segments before it starts a
//! new one; (b) a stray `.tmp` state file; (c) an empty newest segment after a gap, when a
//! compaction past the end of the log created the log's new start but did not finish
//! removing the old segments. (a) is cut off, (b) removed, (c) finished; each is reported.
//! Anything else (a bad record followed by a valid later one, any bad record in an older
//! segment, a gap or an overlap between segments) is damage to data that may have been
//! acknowledged: open fails naming the file and byte offset.

use std::path::PathBuf;

use super::disk::Disk;
use super::error::{CorruptionReason, DiskError, DiskOp, StorageError};
use super::record::{HEADER_LEN, decode, peek_index};
use super::segment::{MAX_INDEX, Segment, parse_segment_name};
use super::state_file::TEMP_SUFFIX;

/// A torn record cut off the end of the last segment when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where the torn record began; the file now ends here.
    pub offset: u64,
    /// Bytes removed.
    pub dropped_bytes: u64,
    /// What was wrong with the record.
    pub reason: CorruptionReason,
}

/// What opening the log found and repaired, for the node to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Segment files in use after recovery.
    pub segments: usize,
    /// First index held (equals `last_index + 1` when the log is empty).
    pub first_index: u64,
    /// Last index held.
    pub last_index: u64,
    /// A torn record at the end of the log that was cut away, if any.
    pub torn_tail: Option<TornTail>,
    /// Temporary files of interrupted state-file writes, removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Segments left over by an interrupted compaction, removed.
    pub removed_compacted_segments: Vec<PathBuf>,
}

fn disk_err<D: Disk>(disk: &D, op: DiskOp, name: &str) -> impl FnOnce(DiskError) -> StorageError {
    let path = disk.path(name);
    move |e| StorageError::disk(op, path, e)
}

/// Scans and repairs the directory; returns its segments (at least one) and the report.
pub(crate) fn recover<D: Disk>(
    disk: &mut D,
) -> Result<(Vec<Segment>, RecoveryReport), StorageError> {
    let mut report = RecoveryReport::default();
    let names = disk.list().map_err(disk_err(disk, DiskOp::List, ""))?;
    let mut firsts = Vec::new();
    for name in &names {
        if name.ends_with(TEMP_SUFFIX) {
            disk.remove(name)
                .map_err(disk_err(disk, DiskOp::Write, name))?;
            report.removed_temp_files.push(disk.path(name));
        } else if let Some(first) = parse_segment_name(name) {
            firsts.push((first, name.clone()));
        }
    }
    firsts.sort();

    let mut segments: Vec<Segment> = Vec::with_capacity(firsts.len());
    let count = firsts.len();
    for (position, (first, name)) in firsts.into_iter().enumerate() {
        let is_last = position + 1 == count;
        if first == 0 {
            return Err(StorageError::Corruption {
                path: disk.path(&name),
                offset: 0,
                reason: CorruptionReason::SegmentGap {
                    expected: 1,
                    found: 0,
                },
            });
        }
        if first > MAX_INDEX {
            return Err(StorageError::Corruption {
                path: disk.path(&name),
                offset: 0,
                reason: CorruptionReason::IndexTooLarge { found: first },
            });
        }
        if let Some(previous) = segments.last() {
            let expected = previous.next_index();
            if first != expected {
                let len = disk
                    .len(&name)
                    .map_err(disk_err(disk, DiskOp::Read, &name))?;
                // An interrupted compaction past the end leaves old segments, a gap, then
                // the new empty start; the snapshot it was made for covers the gap. Without
                // that snapshot the gap is lost or damaged data, never something to tidy.
                if is_last && len == 0 && first > expected && snapshot_covers(disk, first)? {
                    abandon_compacted(disk, &mut segments, &mut report)?;
                } else {
                    return Err(StorageError::Corruption {
                        path: disk.path(&name),
                        offset: 0,
                        reason: CorruptionReason::SegmentGap {
                            expected,
                            found: first,
                        },
                    });
                }
            }
        }
        let segment = scan(disk, first, name, is_last, &mut report)?;
        segments.push(segment);
    }

    if segments.is_empty() {
        let segment = Segment::empty(1);
        disk.create(&segment.name)
            .map_err(disk_err(disk, DiskOp::Write, &segment.name))?;
        segments.push(segment);
    }
    if let Some(last) = segments.last() {
        // What a killed process wrote may still sit in the page cache only; make it
        // durable before anyone is told it is.
        disk.sync(&last.name)
            .map_err(disk_err(disk, DiskOp::Sync, &last.name))?;
        report.last_index = last.next_index() - 1;
    }
    disk.sync_dir().map_err(disk_err(disk, DiskOp::Sync, ""))?;
    report.segments = segments.len();
    report.first_index = segments.first().map_or(1, |s| s.first);
    Ok((segments, report))
}

/// Whether the durable snapshot reaches at least `first - 1`.
fn snapshot_covers<D: Disk>(disk: &mut D, first: u64) -> Result<bool, StorageError> {
    Ok(super::state_file::load_snapshot(disk)?.is_some_and(|s| s.index.saturating_add(1) >= first))
}

fn abandon_compacted<D: Disk>(
    disk: &mut D,
    segments: &mut Vec<Segment>,
    report: &mut RecoveryReport,
) -> Result<(), StorageError> {
    for old in segments.drain(..) {
        tracing::warn!(
            path = %disk.path(&old.name).display(),
            "removing segment left over by an interrupted compaction"
        );
        disk.remove(&old.name)
            .map_err(disk_err(disk, DiskOp::Write, &old.name))?;
        disk.sync_dir()
            .map_err(disk_err(disk, DiskOp::Sync, &old.name))?;
        report.removed_compacted_segments.push(disk.path(&old.name));
    }
    Ok(())
}

fn scan<D: Disk>(
    disk: &mut D,
    first: u64,
    name: String,
    is_last: bool,
    report: &mut RecoveryReport,
) -> Result<Segment, StorageError> {
    let bytes = disk
        .read_all(&name)
        .map_err(disk_err(disk, DiskOp::Read, &name))?;
    let mut segment = Segment::empty(first);
    segment.name = name;
    let mut offset = 0usize;
    let mut end = bytes.len();
    while let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) {
        let expected = segment.next_index();
        match decode(rest) {
            Ok(frame) if frame.index == expected => {
                segment.offsets.push(offset as u64);
                offset += frame.framed_len;
            }
            Ok(frame) => {
                return Err(StorageError::Corruption {
                    path: disk.path(&segment.name),
                    offset: offset as u64,
                    reason: CorruptionReason::UnexpectedIndex {
                        expected,
                        found: frame.index,
                    },
                });
            }
            Err(reason) if is_last && !later_record_follows(rest, expected) => {
                let path = disk.path(&segment.name);
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    %reason,
                    "cutting a torn record off the end of the log"
                );
                disk.truncate(&segment.name, offset as u64)
                    .map_err(disk_err(disk, DiskOp::Write, &segment.name))?;
                end = offset;
                report.torn_tail = Some(TornTail {
                    path,
                    offset: offset as u64,
                    dropped_bytes: rest.len() as u64,
                    reason,
                });
                break;
            }
            Err(reason) => {
                return Err(StorageError::Corruption {
                    path: disk.path(&segment.name),
                    offset: offset as u64,
                    reason,
                });
            }
        }
    }
    segment.len = end as u64;
    Ok(segment)
}

/// Whether a valid record of a later index starts anywhere after the bad record at the
/// start of `rest`. A torn write only damages the end of the log, so such a record proves
/// the bad one is damage in the middle. Candidates are filtered on the index field before
/// the CRC is computed, so this stays linear.
fn later_record_follows(rest: &[u8], bad_index: u64) -> bool {
    let max_later = bad_index.saturating_add((rest.len() / HEADER_LEN) as u64);
    (1..rest.len()).any(|at| {
        let Some(candidate) = rest.get(at..) else {
            return false;
        };
        match peek_index(candidate) {
            Some(index) if index > bad_index && index <= max_later => {
                decode(candidate).is_ok_and(|frame| frame.index == index)
            }
            _ => false,
        }
    })
}
