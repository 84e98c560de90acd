//! Write-ahead log throughput: 256-byte records appended in batches of 1, 64 and 1024 per
//! `sync` (one fsync each), printing records/s and MB/s. Not a test: numbers depend on the
//! disk. The log lives in a temporary directory under the first argument (default: the
//! current directory, so it measures a real disk rather than a tmpfs /tmp).
//!
//! `cargo run --release -p omnirelay-io --example wal_bench [dir]`

use std::time::{Duration, Instant};

use omnirelay_io::storage::{LogEntry, LogStorage, Wal, WalConfig};

const RECORD_PAYLOAD: usize = 256;
const RUN_FOR: Duration = Duration::from_secs(2);

fn main() {
    let parent = std::env::args().nth(1).unwrap_or_else(|| ".".to_owned());
    println!("wal_bench: {RECORD_PAYLOAD} B payloads, default 64 MiB segments, log under {parent}");
    println!(
        "{:>10} {:>12} {:>12} {:>10} {:>10}",
        "batch", "records", "records/s", "MB/s", "fsyncs/s"
    );
    for batch_len in [1u64, 64, 1024] {
        let dir = tempfile::tempdir_in(&parent).expect("temp dir");
        let (mut wal, _) = Wal::open_dir(dir.path(), WalConfig::default()).expect("open");
        let payload = vec![0x5au8; RECORD_PAYLOAD];
        let mut batch: Vec<LogEntry> = Vec::with_capacity(batch_len as usize);
        let start = Instant::now();
        let mut syncs = 0u64;
        while start.elapsed() < RUN_FOR {
            let lo = wal.last_index() + 1;
            batch.clear();
            batch.extend((lo..lo + batch_len).map(|i| LogEntry::new(i, 1, payload.clone())));
            wal.append(&batch).expect("append");
            wal.sync().expect("sync");
            syncs += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let records = wal.last_index();
        let bytes = records as f64 * RECORD_PAYLOAD as f64;
        println!(
            "{batch_len:>10} {records:>12} {:>12.0} {:>10.1} {:>10.0}",
            records as f64 / secs,
            bytes / secs / 1e6,
            syncs as f64 / secs
        );
    }
}
