//! The write-ahead log over the simulated disk (`io/src/storage/sim.rs`): crashes lose
//! exactly unsynced writes, never corrupt the log, and injected faults surface as typed
//! errors. Closes with a model-based proptest over random operation sequences.

use omnirelay_io::storage::{
    CrashMode, DiskError, DiskOp, LogEntry, LogStorage, SimDisk, StorageError, Wal, WalConfig,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const CONFIG: WalConfig = WalConfig { segment_bytes: 256 };

fn disk(seed: u64) -> SimDisk {
    SimDisk::new("/sim/node-1/wal", ChaCha8Rng::seed_from_u64(seed))
}

fn entry(index: u64, term: u64) -> LogEntry {
    // Payload length varies with the index so records straddle segment limits unevenly.
    let len = (index * 7 + term) % 41;
    LogEntry::new(index, term, vec![(index % 251) as u8; len as usize])
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<LogEntry> {
    range.map(|i| entry(i, term)).collect()
}

fn open(disk: &SimDisk) -> Wal<SimDisk> {
    Wal::open(disk.clone(), CONFIG).expect("log opens").0
}

/// One big segment: no roll syncs a segment on the log's own initiative, so the durable
/// boundary is exactly the last `sync`.
fn open_unrolled(disk: &SimDisk) -> Wal<SimDisk> {
    Wal::open(disk.clone(), WalConfig::default())
        .expect("log opens")
        .0
}

fn read_all(wal: &mut Wal<SimDisk>) -> Vec<LogEntry> {
    let (first, last) = (wal.first_index(), wal.last_index());
    wal.entries(first, last + 1).expect("read whole log")
}

#[test]
fn the_node_can_hold_any_log_storage_as_a_sendable_trait_object() {
    // The node's driver owns its storage inside a blocking task, behind the trait.
    fn boxed(storage: impl LogStorage + Send + 'static) -> Box<dyn LogStorage + Send> {
        Box::new(storage)
    }
    let disk = disk(0);
    let mut storage = boxed(open(&disk));
    storage.append(&entries(1..=2, 1)).expect("append");
    assert_eq!(storage.sync().expect("sync"), 2);
}

#[test]
fn after_a_crash_exactly_the_synced_prefix_survives() {
    let mut disk = disk(1);
    let mut wal = open_unrolled(&disk);
    wal.append(&entries(1..=20, 1)).expect("append");
    assert_eq!(wal.sync().expect("sync"), 20);
    wal.append(&entries(21..=40, 1)).expect("append unsynced");
    disk.crash(CrashMode::LoseUnsynced);
    let mut wal = open_unrolled(&disk);
    assert_eq!(read_all(&mut wal), entries(1..=20, 1));
}

#[test]
fn unsynced_records_may_be_lost_but_never_corrupt_the_log() {
    for seed in 0..200 {
        let mut disk = disk(seed);
        let mut wal = open(&disk);
        wal.append(&entries(1..=15, 1)).expect("append");
        wal.sync().expect("sync");
        // Several unsynced batches, some rolling into new segments.
        for batch in 0..4 {
            let lo = 16 + batch * 6;
            wal.append(&entries(lo..=lo + 5, 2)).expect("append");
        }
        disk.crash(CrashMode::KeepRandomPrefix);
        let (mut wal, _report) = Wal::open(disk.clone(), CONFIG)
            .unwrap_or_else(|e| panic!("seed {seed}: crash left an unopenable log: {e}"));
        let survived = read_all(&mut wal);
        let last = wal.last_index();
        assert!((15..=39).contains(&last), "seed {seed}: last {last}");
        let mut written = entries(1..=15, 1);
        written.extend(entries(16..=39, 2));
        assert_eq!(survived[..], written[..survived.len()], "seed {seed}");
    }
}

#[test]
fn a_torn_last_write_is_cut_and_reported_on_reopen() {
    // Some seed must tear a record in half; every seed must open cleanly.
    let mut torn_seen = 0;
    for seed in 0..64 {
        let mut disk = disk(seed);
        let mut wal = open(&disk);
        wal.append(&entries(1..=3, 1)).expect("append");
        wal.sync().expect("sync");
        wal.append(&[LogEntry::new(4, 1, vec![9u8; 100])])
            .expect("append");
        disk.crash(CrashMode::KeepRandomPrefix);
        let (mut wal, report) = Wal::open(disk.clone(), CONFIG).expect("opens");
        if let Some(torn) = report.torn_tail {
            torn_seen += 1;
            assert!(torn.path.starts_with("/sim/node-1/wal"));
            assert_eq!(wal.last_index(), 3, "seed {seed}");
        }
        assert!(wal.last_index() >= 3);
        assert_eq!(read_all(&mut wal)[..3], entries(1..=3, 1)[..]);
    }
    assert!(torn_seen > 0, "no seed tore the last write");
}

#[test]
fn group_commit_issues_one_fsync_per_sync_call() {
    let disk = disk(2);
    let mut wal = Wal::open(disk.clone(), WalConfig::default())
        .expect("opens")
        .0;
    let before = disk.sync_count();
    for i in 1..=100 {
        wal.append(&[entry(i, 1)]).expect("append");
    }
    assert_eq!(disk.sync_count(), before, "appends alone never fsync");
    assert_eq!(wal.sync().expect("sync"), 100);
    assert_eq!(disk.sync_count(), before + 1);
    assert_eq!(wal.sync().expect("sync"), 100);
    assert_eq!(disk.sync_count(), before + 1, "nothing new, no fsync");
}

#[test]
fn an_injected_write_error_is_typed_and_stops_writes_until_reopen() {
    let mut disk = disk(3);
    let mut wal = open(&disk);
    wal.append(&entries(1..=5, 1)).expect("append");
    wal.sync().expect("sync");
    disk.fail_next(DiskOp::Write, 1);
    match wal.append(&entries(6..=6, 1)) {
        Err(StorageError::Disk {
            op: DiskOp::Write,
            path,
            source: DiskError::Injected(DiskOp::Write),
        }) => assert!(path.starts_with("/sim/node-1/wal")),
        other => panic!("expected an injected write error, got {other:?}"),
    }
    assert!(matches!(
        wal.append(&entries(6..=6, 1)),
        Err(StorageError::Failed)
    ));
    assert!(matches!(wal.sync(), Err(StorageError::Failed)));
    disk.crash(CrashMode::KeepRandomPrefix);
    let mut wal = open(&disk);
    assert_eq!(read_all(&mut wal), entries(1..=5, 1));
    wal.append(&entries(6..=6, 1))
        .expect("writes again after reopen");
}

#[test]
fn an_injected_sync_error_acknowledges_nothing_new() {
    let mut disk = disk(4);
    let mut wal = open_unrolled(&disk);
    wal.append(&entries(1..=5, 1)).expect("append");
    wal.sync().expect("sync");
    wal.append(&entries(6..=9, 1)).expect("append");
    disk.fail_next(DiskOp::Sync, 1);
    assert!(matches!(
        wal.sync(),
        Err(StorageError::Disk {
            op: DiskOp::Sync,
            ..
        })
    ));
    assert_eq!(wal.durable_index(), 5);
    disk.crash(CrashMode::LoseUnsynced);
    let mut wal = open_unrolled(&disk);
    assert_eq!(read_all(&mut wal), entries(1..=5, 1));
}

#[test]
fn an_injected_read_error_is_typed_and_changes_nothing() {
    let disk = disk(5);
    let mut wal = open(&disk);
    wal.append(&entries(1..=5, 1)).expect("append");
    disk.fail_next(DiskOp::Read, 1);
    assert!(matches!(
        wal.entries(1, 6),
        Err(StorageError::Disk {
            op: DiskOp::Read,
            source: DiskError::Injected(DiskOp::Read),
            ..
        })
    ));
    assert_eq!(wal.entries(1, 6).expect("read"), entries(1..=5, 1));
    wal.append(&entries(6..=6, 1))
        .expect("a read error does not stop writes");
}

#[test]
fn a_log_that_died_in_a_crash_cannot_write_on() {
    let mut disk = disk(6);
    let mut old = open(&disk);
    old.append(&entries(1..=3, 1)).expect("append");
    disk.crash(CrashMode::LoseUnsynced);
    assert!(matches!(
        old.append(&entries(4..=4, 1)),
        Err(StorageError::Disk {
            source: DiskError::Crashed,
            ..
        })
    ));
    let wal = open(&disk);
    assert_eq!(wal.last_index(), 0);
}

#[test]
fn a_bad_sector_in_synced_data_refuses_to_open() {
    let mut disk = disk(7);
    let mut wal = open(&disk);
    wal.append(&entries(1..=30, 1)).expect("append");
    wal.sync().expect("sync");
    let victim = wal.segment_paths()[0].clone();
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(disk.corrupt(&name, 30, 0x80));
    disk.crash(CrashMode::LoseUnsynced);
    match Wal::open(disk.clone(), CONFIG) {
        Err(StorageError::Corruption { path, offset, .. }) => {
            assert_eq!(path, victim);
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn a_bad_sector_found_by_a_read_is_reported_not_returned() {
    let disk = disk(8);
    let mut wal = open(&disk);
    wal.append(&entries(1..=4, 1)).expect("append");
    wal.sync().expect("sync");
    let name = wal.segment_paths()[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let second = entry(1, 1).framed_len();
    assert!(disk.corrupt(&name, second + 20, 0x04));
    match wal.entries(1, 5) {
        Err(StorageError::Corruption { offset, .. }) => assert_eq!(offset, second),
        other => panic!("expected corruption, got {other:?}"),
    }
    // Entries before the bad one still read.
    assert_eq!(wal.entries(1, 2).expect("read"), entries(1..=1, 1));
}

#[test]
fn the_same_seed_gives_the_same_crash_outcome() {
    let outcome = |seed| {
        let mut disk = disk(seed);
        let mut wal = open(&disk);
        wal.append(&entries(1..=10, 1)).expect("append");
        wal.sync().expect("sync");
        wal.append(&entries(11..=30, 1)).expect("append");
        disk.crash(CrashMode::KeepRandomPrefix);
        let (wal, report) = Wal::open(disk.clone(), CONFIG).expect("opens");
        (wal.last_index(), report.torn_tail.map(|t| t.offset))
    };
    for seed in 0..16 {
        assert_eq!(outcome(seed), outcome(seed));
    }
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    Append {
        count: u64,
        new_term: bool,
    },
    Sync,
    /// Truncate from a point chosen as a fraction of the current log.
    Truncate {
        at: f64,
    },
    /// Compact up to a point chosen as a fraction; above 1.0 goes past the end.
    Compact {
        at: f64,
    },
    Crash {
        keep_prefix: bool,
    },
    Reopen,
    FailingAppend {
        count: u64,
    },
    FailingSync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..8, any::<bool>()).prop_map(|(count, new_term)| Op::Append { count, new_term }),
        3 => Just(Op::Sync),
        1 => (0.0f64..1.0).prop_map(|at| Op::Truncate { at }),
        1 => (0.0f64..1.2).prop_map(|at| Op::Compact { at }),
        2 => any::<bool>().prop_map(|keep_prefix| Op::Crash { keep_prefix }),
        1 => Just(Op::Reopen),
        1 => (1u64..4).prop_map(|count| Op::FailingAppend { count }),
        1 => Just(Op::FailingSync),
    ]
}

/// What the log must hold: entries from `first`, of which those up to `durable` survive a
/// crash and those after may or may not.
#[derive(Debug)]
struct Model {
    first: u64,
    entries: Vec<LogEntry>,
    durable: u64,
    term: u64,
}

impl Model {
    fn last(&self) -> u64 {
        self.first + self.entries.len() as u64 - 1
    }

    fn keep_through(&mut self, last: u64) {
        self.entries
            .truncate(usize::try_from(last + 1 - self.first).unwrap_or(0));
    }
}

fn check_matches(wal: &mut Wal<SimDisk>, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(wal.first_index(), model.first);
    prop_assert_eq!(wal.last_index(), model.last());
    prop_assert_eq!(read_all(wal), model.entries.clone());
    Ok(())
}

/// Crash (or clean restart) and check the survivors: everything durable, then a prefix of
/// the rest, unchanged.
fn restart(
    disk: &mut SimDisk,
    model: &mut Model,
    mode: Option<CrashMode>,
) -> Result<Wal<SimDisk>, TestCaseError> {
    if let Some(mode) = mode {
        disk.crash(mode);
    } else {
        disk.crash(CrashMode::KeepRandomPrefix);
    }
    let opened = Wal::open(disk.clone(), CONFIG);
    let (mut wal, _) = match opened {
        Ok(opened) => opened,
        Err(e) => return Err(TestCaseError::fail(format!("log did not reopen: {e}"))),
    };
    let last = wal.last_index();
    prop_assert!(
        last >= model.durable && last <= model.last(),
        "recovered last {} outside [{}, {}]",
        last,
        model.durable,
        model.last()
    );
    model.keep_through(last);
    model.durable = last;
    check_matches(&mut wal, model)?;
    Ok(wal)
}

fn point(first: u64, last: u64, at: f64) -> u64 {
    first + ((last + 2 - first) as f64 * at) as u64
}

fn run(seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut disk = disk(seed);
    let mut wal = open(&disk);
    let mut model = Model {
        first: 1,
        entries: Vec::new(),
        durable: 0,
        term: 1,
    };
    for op in ops {
        match op {
            Op::Append { count, new_term } => {
                model.term += u64::from(new_term);
                let lo = model.last() + 1;
                let batch = entries(lo..=lo + count - 1, model.term);
                prop_assert_eq!(wal.append(&batch)?, lo + count - 1);
                model.entries.extend(batch);
            }
            Op::Sync => {
                prop_assert_eq!(wal.sync()?, model.last());
                model.durable = model.last();
            }
            Op::Truncate { at } => {
                let from = point(model.first, model.last(), at).max(1);
                wal.truncate_suffix(from)?;
                if from <= model.last() {
                    model.keep_through(from - 1);
                    model.durable = model.durable.min(from - 1);
                }
            }
            Op::Compact { at } => {
                let upto = point(model.first, model.last(), at).saturating_sub(1);
                wal.compact_prefix(upto)?;
                if upto >= model.last() && upto >= model.first {
                    model.first = upto + 1;
                    model.entries.clear();
                    model.durable = upto;
                } else {
                    // Whole segments only: the new start is at or below `upto + 1`.
                    let first = wal.first_index();
                    prop_assert!(first >= model.first && first <= upto.max(model.first - 1) + 1);
                    let dropped = usize::try_from(first - model.first).unwrap_or(0);
                    model.entries.drain(..dropped);
                    model.first = first;
                }
            }
            Op::Crash { keep_prefix } => {
                let mode = if keep_prefix {
                    CrashMode::KeepRandomPrefix
                } else {
                    CrashMode::LoseUnsynced
                };
                wal = restart(&mut disk, &mut model, Some(mode))?;
            }
            Op::Reopen => {
                // A clean process restart keeps the page cache: nothing is lost.
                drop(wal);
                wal = open(&disk);
                model.durable = model.last();
            }
            Op::FailingAppend { count } => {
                disk.fail_next(DiskOp::Write, 1);
                let lo = model.last() + 1;
                let batch = entries(lo..=lo + count - 1, model.term);
                let result = wal.append(&batch);
                disk.clear_faults();
                prop_assert!(
                    matches!(result, Err(StorageError::Disk { .. })),
                    "{:?}",
                    result
                );
                prop_assert!(matches!(wal.sync(), Err(StorageError::Failed)));
                // The failed batch may or may not have reached the disk.
                model.entries.extend(batch);
                wal = restart(&mut disk, &mut model, None)?;
            }
            Op::FailingSync => {
                disk.fail_next(DiskOp::Sync, 1);
                let result = wal.sync();
                disk.clear_faults();
                if result.is_err() {
                    prop_assert!(wal.durable_index() == model.durable);
                    wal = restart(&mut disk, &mut model, None)?;
                } else {
                    // Nothing was unsynced, so no fsync ran to fail.
                    model.durable = model.last();
                }
            }
        }
        check_matches(&mut wal, &model)?;
        prop_assert!(wal.durable_index() >= model.durable.min(wal.last_index()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// ARCHITECTURE.md invariant 2 at the storage layer: nothing acknowledged (synced) is
    /// ever lost or changed, a crash never leaves a log that refuses to open, and the log
    /// always equals a prefix of what the model wrote.
    #[test]
    fn random_operations_with_crashes_match_the_model(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(seed, ops)?;
    }
}
