//! A real crash: a child process appends and syncs in a loop, printing each index after
//! `sync` returns it as durable; the parent `kill -9`s it mid-write, reopens the log and
//! checks that every index the child called durable is there with the right payload.
//! Repeated on the same directory, so each round also recovers from the previous kill.
//! It proves crash consistency under a *process* kill: recovery keeps every announced index
//! and truncates only a torn tail. It cannot prove the fsyncs themselves (a killed process
//! leaves the page cache intact, so this passes even with `sync_data` removed); power-loss
//! durability rests on `FsDisk::sync`/`sync_dir` and on the simulated disk's tests, which
//! drop everything unsynced on a crash.
//!
//! This file owns `main` (harness = false) because the child is this same binary,
//! re-executed with `OMNIRELAY_WAL_CRASH_WRITER` set to the log directory.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use omnirelay_io::storage::{FileWal, LogEntry, LogStorage, Wal, WalConfig};

const WRITER_ENV: &str = "OMNIRELAY_WAL_CRASH_WRITER";
/// Small segments so kills also land around segment rolls.
const CONFIG: WalConfig = WalConfig {
    segment_bytes: 64 * 1024,
};

fn expected_entry(index: u64) -> LogEntry {
    let len = (index * 131 % 1500) as usize;
    LogEntry::new(index, 1 + index / 1000, vec![(index % 251) as u8; len])
}

/// The child: append batches of 1..32 entries and sync, forever, announcing each durable
/// index on stdout only after `sync` returned it.
fn writer(dir: &Path) -> ! {
    let (mut wal, _) = Wal::open_dir(dir, CONFIG).expect("writer opens the log");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut batch_len = 1u64;
    loop {
        let lo = wal.last_index() + 1;
        let batch: Vec<LogEntry> = (lo..lo + batch_len).map(expected_entry).collect();
        wal.append(&batch).expect("append");
        let durable = wal.sync().expect("sync");
        writeln!(out, "{durable}").expect("stdout");
        out.flush().expect("stdout");
        batch_len = batch_len % 32 + 1;
    }
}

fn reopen_and_check(dir: &Path, announced: u64) -> FileWal {
    let (mut wal, report) = Wal::open_dir(dir, CONFIG).expect("log reopens after kill -9");
    if let Some(torn) = &report.torn_tail {
        println!(
            "  recovered: torn record cut at {}:{} ({} bytes)",
            torn.path.display(),
            torn.offset,
            torn.dropped_bytes
        );
    }
    assert!(
        wal.last_index() >= announced,
        "index {announced} was announced durable but the log ends at {}",
        wal.last_index()
    );
    let all = wal
        .entries(wal.first_index(), wal.last_index() + 1)
        .expect("the whole log reads back");
    for entry in &all {
        assert_eq!(entry, &expected_entry(entry.index), "entry {}", entry.index);
    }
    assert_eq!(all.len() as u64, wal.last_index());
    wal
}

fn every_index_announced_durable_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("own executable");
    let mut announced = 0u64;
    for round in 0..5u64 {
        let mut child = Command::new(&exe)
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let wanted = 40 + round * 23;
        for _ in 0..wanted {
            let line = lines
                .next()
                .expect("writer still running")
                .expect("utf-8 line");
            announced = line.trim().parse().expect("an index");
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Lines already in the pipe were printed after their sync returned: they count.
        for line in lines.map_while(Result::ok) {
            if let Ok(index) = line.trim().parse() {
                announced = index;
            }
        }
        let wal = reopen_and_check(dir.path(), announced);
        println!(
            "  round {round}: killed after index {announced}; log holds 1..={} in {} segments",
            wal.last_index(),
            wal.segment_count()
        );
    }
}

fn main() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        writer(Path::new(&dir));
    }
    println!("test every_index_announced_durable_survives_kill_9 ...");
    every_index_announced_durable_survives_kill_9();
    println!("test every_index_announced_durable_survives_kill_9 ... ok");
    println!("1 passed, 0 failed");
}
