//! Properties of the file-backed write-ahead log (`io/src/storage`), on real temp
//! directories: durability across reopen, torn-tail recovery, refusal on mid-log damage,
//! truncation, compaction, segment rolling and the atomic state files.

use std::fs;
use std::path::{Path, PathBuf};

use omnirelay_core::NodeId;
use omnirelay_io::storage::{
    CorruptionReason, FileWal, HardState, LogEntry, LogStorage, RecoveryReport, Snapshot,
    StorageError, Wal, WalConfig,
};

fn payload(index: u64, term: u64) -> Vec<u8> {
    format!("entry {index} of term {term}").into_bytes()
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<LogEntry> {
    range
        .map(|i| LogEntry::new(i, term, payload(i, term)))
        .collect()
}

fn small_segments() -> WalConfig {
    // ~40-byte records: a handful per segment.
    WalConfig { segment_bytes: 200 }
}

fn open(dir: &Path, config: WalConfig) -> (FileWal, RecoveryReport) {
    Wal::open_dir(dir, config).expect("log opens")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn assert_holds(wal: &mut FileWal, expected: &[LogEntry]) {
    let (Some(first), Some(last)) = (expected.first(), expected.last()) else {
        assert_eq!(
            wal.first_index(),
            wal.last_index() + 1,
            "log should be empty"
        );
        return;
    };
    assert_eq!(wal.first_index(), first.index);
    assert_eq!(wal.last_index(), last.index);
    let read = wal.entries(first.index, last.index + 1).expect("read back");
    assert_eq!(read, expected);
}

#[test]
fn every_synced_record_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = entries(1..=50, 3);
    {
        let (mut wal, report) = open(dir.path(), small_segments());
        assert_eq!((report.first_index, report.last_index), (1, 0));
        for batch in written.chunks(7) {
            assert_eq!(
                wal.append(batch).expect("append"),
                batch[batch.len() - 1].index
            );
        }
        assert_eq!(wal.durable_index(), 0, "nothing is durable before sync");
        assert_eq!(wal.sync().expect("sync"), 50);
        assert_eq!(wal.durable_index(), 50);
    }
    let (mut wal, report) = open(dir.path(), small_segments());
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.last_index, 50);
    assert_holds(&mut wal, &written);
    // Reads spanning segment boundaries return exactly the asked range.
    assert_eq!(wal.entries(9, 23).expect("range"), written[8..22].to_vec());
    assert!(wal.entries(10, 10).expect("empty range").is_empty());
}

#[test]
fn segments_roll_at_the_configured_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = WalConfig {
        segment_bytes: 1000,
    };
    let (mut wal, _) = open(dir.path(), config);
    // 100-byte payloads make 124-byte records: 8 fit in 1000 bytes, the 9th rolls.
    let batch: Vec<LogEntry> = (1..=40)
        .map(|i| LogEntry::new(i, 1, vec![7u8; 100]))
        .collect();
    wal.append(&batch).expect("append");
    wal.sync().expect("sync");
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 5, "40 records at 8 per segment: {files:?}");
    for file in &files {
        let len = fs::metadata(file).expect("metadata").len();
        assert!(len <= 1000, "{} is {len} bytes", file.display());
        assert_eq!(len % 124, 0);
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], "wal-00000000000000000001.log");
    assert_eq!(names[1], "wal-00000000000000000009.log");

    // A record larger than the limit gets a segment of its own rather than an error.
    wal.append(&[LogEntry::new(41, 1, vec![1u8; 5000])])
        .expect("big");
    wal.append(&[LogEntry::new(42, 1, vec![2u8; 10])])
        .expect("after big");
    wal.sync().expect("sync");
    assert_eq!(segment_files(dir.path()).len(), 7);
    drop(wal);
    let (mut wal, _) = open(dir.path(), config);
    assert_eq!(wal.entries(41, 43).expect("read")[0].payload.len(), 5000);
}

#[test]
fn torn_tail_at_every_byte_offset_of_the_last_record_is_cut_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = entries(1..=12, 2);
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        wal.append(&written).expect("append");
        wal.sync().expect("sync");
    }
    let files = segment_files(dir.path());
    let last_file = files.last().expect("a segment").clone();
    let pristine = fs::read(&last_file).expect("read");
    let last_record_len = written.last().expect("entry").framed_len() as usize;
    let record_start = pristine.len() - last_record_len;
    let backup = tempfile::tempdir().expect("tempdir");
    for cut in record_start..pristine.len() {
        // Fresh copy of the directory for each cut point.
        for file in &files {
            fs::copy(file, backup.path().join(file.file_name().expect("name"))).expect("copy");
        }
        let case = backup.path();
        let torn_path = case.join(last_file.file_name().expect("name"));
        fs::write(&torn_path, &pristine[..cut]).expect("tear");

        let (mut wal, report) = open(case, small_segments());
        let torn = report.torn_tail.clone();
        if cut == record_start {
            // Cut exactly at a record boundary: nothing torn, just one record fewer.
            assert_eq!(torn, None);
        } else {
            let torn = torn.unwrap_or_else(|| panic!("cut at {cut} not reported"));
            assert_eq!(torn.path, torn_path);
            assert_eq!(torn.offset as usize, record_start);
            assert_eq!(torn.dropped_bytes as usize, cut - record_start);
        }
        assert_eq!(
            fs::metadata(&torn_path).expect("meta").len() as usize,
            record_start
        );
        assert_holds(&mut wal, &written[..written.len() - 1]);
        // The log goes on from the cut.
        wal.append(&entries(12..=12, 5))
            .expect("append after repair");
        wal.sync().expect("sync");
        drop(wal);
        let (mut wal, report) = open(case, small_segments());
        assert_eq!(report.torn_tail, None);
        let mut expected = written[..written.len() - 1].to_vec();
        expected.extend(entries(12..=12, 5));
        assert_holds(&mut wal, &expected);
        for file in segment_files(case) {
            fs::remove_file(file).expect("clean");
        }
    }
}

#[test]
fn a_flipped_byte_in_a_non_last_segment_refuses_to_open_naming_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        wal.append(&entries(1..=30, 1)).expect("append");
        wal.sync().expect("sync");
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    let victim = &files[1];
    let mut bytes = fs::read(victim).expect("read");
    let record_len = entries(1..=1, 1)[0].framed_len() as usize;
    // A payload byte of the second record of the segment.
    let at = record_len + 30;
    bytes[at] ^= 0x01;
    fs::write(victim, &bytes).expect("damage");
    match Wal::open_dir(dir.path(), small_segments()) {
        Err(StorageError::Corruption {
            path,
            offset,
            reason,
        }) => {
            assert_eq!(&path, victim);
            assert_eq!(offset as usize, record_len);
            assert!(matches!(reason, CorruptionReason::ChecksumMismatch { .. }));
            let message = StorageError::Corruption {
                path: path.clone(),
                offset,
                reason,
            }
            .to_string();
            assert!(message.contains(&victim.display().to_string()) && message.contains("offset"));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Refusing changed nothing on disk.
    assert_eq!(fs::read(victim).expect("read"), bytes);
}

#[test]
fn damage_in_the_middle_of_the_last_segment_is_refused_not_cut_as_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = open(dir.path(), WalConfig::default());
        wal.append(&entries(1..=10, 1)).expect("append");
        wal.sync().expect("sync");
    }
    let file = segment_files(dir.path()).remove(0);
    let pristine = fs::read(&file).expect("read");
    let record_len = entries(1..=1, 1)[0].framed_len() as usize;
    // Damage the length field, the CRC and the payload of record 4 in turn: each time valid
    // records follow, so acknowledged data would be lost by cutting there.
    for at in [3 * record_len, 3 * record_len + 5, 3 * record_len + 30] {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x10;
        fs::write(&file, &bytes).expect("damage");
        match Wal::open_dir(dir.path(), WalConfig::default()) {
            Err(StorageError::Corruption { path, offset, .. }) => {
                assert_eq!(path, file);
                assert_eq!(offset as usize, 3 * record_len, "byte {at}");
            }
            other => panic!("byte {at}: expected corruption, got {other:?}"),
        }
    }
}

#[test]
fn a_missing_segment_is_a_gap_that_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        wal.append(&entries(1..=30, 1)).expect("append");
        wal.sync().expect("sync");
    }
    let files = segment_files(dir.path());
    fs::remove_file(&files[1]).expect("remove");
    match Wal::open_dir(dir.path(), small_segments()) {
        Err(StorageError::Corruption {
            path,
            reason: CorruptionReason::SegmentGap { .. },
            ..
        }) => assert_eq!(path, files[2]),
        other => panic!("expected a gap, got {other:?}"),
    }
}

/// A lost segment just before an empty newest one (normal right after a roll) looks like an
/// interrupted compaction; without a snapshot covering the gap it is lost data, and opening
/// must refuse rather than delete every synced segment before it (found by review).
#[test]
fn a_gap_before_an_empty_last_segment_without_a_covering_snapshot_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        wal.append(&entries(1..=30, 1)).expect("append");
        wal.sync().expect("sync");
    }
    let files = segment_files(dir.path());
    let (last, before_last) = (
        files[files.len() - 1].clone(),
        files[files.len() - 2].clone(),
    );
    fs::remove_file(&before_last).expect("remove");
    fs::write(&last, b"").expect("empty the newest segment");
    let before = segment_files(dir.path());
    match Wal::open_dir(dir.path(), small_segments()) {
        Err(StorageError::Corruption {
            reason: CorruptionReason::SegmentGap { .. },
            ..
        }) => {}
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(
        segment_files(dir.path()),
        before,
        "refusing to open deleted nothing"
    );
}

#[test]
fn append_rejects_non_contiguous_or_overflowing_indexes_without_writing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), small_segments());
    wal.append(&entries(1..=3, 1)).expect("append");
    let mut batch = entries(4..=6, 1);
    batch[2].index = 7;
    assert!(matches!(
        wal.append(&batch),
        Err(StorageError::NotContiguous {
            expected: 6,
            found: 7
        })
    ));
    assert!(matches!(
        wal.append(&entries(3..=3, 1)),
        Err(StorageError::NotContiguous {
            expected: 4,
            found: 3
        })
    ));
    // Indexes near the top of u64 are refused before any arithmetic can overflow.
    assert!(matches!(
        wal.compact_prefix(u64::MAX),
        Err(StorageError::IndexTooLarge { .. })
    ));
    assert!(matches!(
        wal.append(&[LogEntry::new(u64::MAX, 1, Vec::new())]),
        Err(StorageError::IndexTooLarge { .. })
    ));
    assert_eq!(wal.last_index(), 3);
    wal.append(&entries(4..=4, 1))
        .expect("the right index still works");
    assert!(matches!(
        wal.entries(2, 9),
        Err(StorageError::OutOfRange { .. })
    ));
}

#[test]
fn truncate_suffix_then_append_gives_the_new_entries() {
    // Raft §5.3: a follower deletes a conflicting entry and all that follow it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), small_segments());
    wal.append(&entries(1..=25, 1)).expect("append");
    wal.sync().expect("sync");
    let before = segment_files(dir.path()).len();
    wal.truncate_suffix(8).expect("truncate");
    assert_eq!(wal.last_index(), 7);
    assert_eq!(wal.durable_index(), 7);
    assert!(
        segment_files(dir.path()).len() < before,
        "later segments removed"
    );
    wal.append(&entries(8..=12, 2)).expect("append new term");
    wal.sync().expect("sync");
    let mut expected = entries(1..=7, 1);
    expected.extend(entries(8..=12, 2));
    assert_holds(&mut wal, &expected);
    drop(wal);
    let (mut wal, _) = open(dir.path(), small_segments());
    assert_holds(&mut wal, &expected);

    // Truncating everything leaves an empty log that continues at `from`.
    wal.truncate_suffix(1).expect("truncate all");
    assert_holds(&mut wal, &[]);
    assert_eq!(wal.last_index(), 0);
    wal.append(&entries(1..=2, 3)).expect("append");
    wal.sync().expect("sync");
    assert_holds(&mut wal, &entries(1..=2, 3));
    // Beyond the end is a no-op; index 0 is an error.
    wal.truncate_suffix(9).expect("no-op");
    assert_eq!(wal.last_index(), 2);
    assert!(matches!(
        wal.truncate_suffix(0),
        Err(StorageError::ZeroIndex)
    ));
}

#[test]
fn compact_prefix_deletes_whole_segments_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), small_segments());
    let written = entries(1..=30, 1);
    wal.append(&written).expect("append");
    wal.sync().expect("sync");
    let before = segment_files(dir.path());
    // Segment boundaries: each holds 5 records of 39-40 bytes at 200 bytes.
    assert!(wal.segment_count() > 2);
    let boundaries: Vec<u64> = wal
        .segment_paths()
        .iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            name[4..24].parse().expect("index")
        })
        .collect();
    // Compacting up to one below the end of segment 2 removes only segment 1.
    let upto = boundaries[2] - 2;
    wal.compact_prefix(upto).expect("compact");
    assert_eq!(wal.first_index(), boundaries[1]);
    let after = segment_files(dir.path());
    assert_eq!(after.len(), before.len() - 1);
    assert_eq!(after[..], before[1..]);
    // Everything not deleted is intact, including the entries <= upto still held.
    let first = wal.first_index() as usize;
    assert_holds(&mut wal, &written[first - 1..]);
    drop(wal);
    let (mut wal, report) = open(dir.path(), small_segments());
    assert_eq!(report.first_index, boundaries[1]);
    assert_holds(&mut wal, &written[first - 1..]);
}

#[test]
fn compacting_past_the_end_restarts_the_log_after_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), small_segments());
    wal.append(&entries(1..=12, 1)).expect("append");
    wal.sync().expect("sync");
    wal.compact_prefix(100).expect("compact");
    assert_eq!((wal.first_index(), wal.last_index()), (101, 100));
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert!(matches!(
        wal.append(&entries(13..=13, 1)),
        Err(StorageError::NotContiguous { expected: 101, .. })
    ));
    drop(wal);
    let (mut wal, report) = open(dir.path(), small_segments());
    assert_eq!((report.first_index, report.last_index), (101, 100));
    wal.append(&entries(101..=103, 4)).expect("append");
    wal.sync().expect("sync");
    assert_holds(&mut wal, &entries(101..=103, 4));
}

#[test]
fn an_interrupted_compaction_past_the_end_is_finished_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        wal.append(&entries(1..=12, 1)).expect("append");
        wal.sync().expect("sync");
        // A compaction past the end always follows the snapshot it was made for.
        wal.save_snapshot(&Snapshot {
            index: 100,
            term: 1,
            data: b"state at 100".to_vec(),
        })
        .expect("snapshot");
    }
    // What a crash right after creating the new start leaves: old segments, a gap, and the
    // new empty segment.
    fs::write(dir.path().join("wal-00000000000000000101.log"), b"").expect("new start");
    let old = segment_files(dir.path()).len() - 1;
    let (wal, report) = open(dir.path(), small_segments());
    assert_eq!(report.removed_compacted_segments.len(), old);
    assert_eq!((wal.first_index(), wal.last_index()), (101, 100));
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn hard_state_round_trips_and_survives_a_crash_between_temp_write_and_rename() {
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = HardState {
        term: 7,
        vote: Some(NodeId(3)),
        commit: 41,
    };
    {
        let (mut wal, _) = open(dir.path(), small_segments());
        assert_eq!(wal.load_hard_state().expect("load"), None);
        wal.save_hard_state(&saved).expect("save");
        assert_eq!(wal.load_hard_state().expect("load"), Some(saved));
    }
    // A crash after writing the temp file but before the rename: a stray, half-written
    // temp file is all that is left of the newer state.
    let stray = dir.path().join("hardstate.tmp");
    fs::write(&stray, b"ORHS half written").expect("stray");
    let (mut wal, report) = open(dir.path(), small_segments());
    assert_eq!(report.removed_temp_files, vec![stray.clone()]);
    assert!(!stray.exists());
    assert_eq!(wal.load_hard_state().expect("load"), Some(saved));
    let newer = HardState {
        term: 8,
        vote: None,
        commit: 45,
    };
    wal.save_hard_state(&newer).expect("save");
    drop(wal);
    let (mut wal, _) = open(dir.path(), small_segments());
    assert_eq!(wal.load_hard_state().expect("load"), Some(newer));

    // A damaged hard state file is an error naming the file, not a silent default.
    let mut bytes = fs::read(dir.path().join("hardstate")).expect("read");
    bytes[12] ^= 0xff;
    fs::write(dir.path().join("hardstate"), bytes).expect("damage");
    match wal.load_hard_state() {
        Err(StorageError::Corruption { path, .. }) => {
            assert_eq!(path, dir.path().join("hardstate"))
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn snapshot_is_replaced_atomically_and_a_stray_temp_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Snapshot {
        index: 10,
        term: 2,
        data: vec![5u8; 3000],
    };
    let (mut wal, _) = open(dir.path(), small_segments());
    assert_eq!(wal.load_snapshot().expect("load"), None);
    wal.save_snapshot(&first).expect("save");
    fs::write(dir.path().join("snapshot.tmp"), b"partial").expect("stray");
    assert_eq!(wal.load_snapshot().expect("load"), Some(first.clone()));
    drop(wal);
    let (mut wal, report) = open(dir.path(), small_segments());
    assert_eq!(report.removed_temp_files.len(), 1);
    assert_eq!(wal.load_snapshot().expect("load"), Some(first));
    let second = Snapshot {
        index: 20,
        term: 3,
        data: b"smaller".to_vec(),
    };
    wal.save_snapshot(&second).expect("save");
    assert_eq!(wal.load_snapshot().expect("load"), Some(second));
}

#[test]
fn records_out_of_order_refuse_to_open_even_with_valid_checksums() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Equal-length payloads so two records can swap places byte for byte.
    let batch: Vec<LogEntry> = (1..=6)
        .map(|i| LogEntry::new(i, 1, vec![i as u8; 16]))
        .collect();
    {
        let (mut wal, _) = open(dir.path(), WalConfig::default());
        wal.append(&batch).expect("append");
        wal.sync().expect("sync");
    }
    let file = segment_files(dir.path()).remove(0);
    let mut bytes = fs::read(&file).expect("read");
    let len = batch[0].framed_len() as usize;
    let (second, third) = (
        bytes[len..2 * len].to_vec(),
        bytes[2 * len..3 * len].to_vec(),
    );
    bytes[len..2 * len].copy_from_slice(&third);
    bytes[2 * len..3 * len].copy_from_slice(&second);
    fs::write(&file, &bytes).expect("swap");
    match Wal::open_dir(dir.path(), WalConfig::default()) {
        Err(StorageError::Corruption {
            path,
            offset,
            reason:
                CorruptionReason::UnexpectedIndex {
                    expected: 2,
                    found: 3,
                },
        }) => {
            assert_eq!(path, file);
            assert_eq!(offset as usize, len);
        }
        other => panic!("expected an index error, got {other:?}"),
    }
}
