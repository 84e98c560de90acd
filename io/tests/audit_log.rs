//! The audit log is append-only, durable across reopen, and survives a torn last line.

use std::io::Write;

use omnirelay_io::audit::{AuditLog, AuditOutcome, AuditRecord};

fn record(at: u64, what: &str, outcome: AuditOutcome) -> AuditRecord {
    AuditRecord {
        at_unix_ms: at,
        who: "alice".into(),
        what: what.into(),
        target: "namespace/orders".into(),
        outcome,
        reason: None,
    }
}

#[test]
fn records_survive_reopen_and_new_ones_are_appended_after_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    {
        let log = AuditLog::open(&path).expect("open");
        log.append(&record(1, "failover.create", AuditOutcome::Accepted))
            .expect("append");
        log.append(&record(2, "failover.approve", AuditOutcome::Accepted))
            .expect("append");
    }
    let log = AuditLog::open(&path).expect("reopen");
    log.append(&record(3, "failover.cancel", AuditOutcome::Accepted))
        .expect("append after reopen");
    let page = log.read(0, 100).expect("read");
    let at: Vec<u64> = page.records.iter().map(|r| r.at_unix_ms).collect();
    assert_eq!(at, vec![1, 2, 3]);
    assert_eq!(page.next, 3);
    assert_eq!(page.skipped_lines, 0);
}

#[test]
fn a_torn_last_line_is_skipped_and_counted_and_the_next_record_is_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    {
        let log = AuditLog::open(&path).expect("open");
        log.append(&record(1, "failover.create", AuditOutcome::Accepted))
            .expect("append");
    }
    // A crash in the middle of the second append: half a JSON object, no newline.
    let full = serde_json::to_string(&record(2, "failover.cancel", AuditOutcome::Accepted))
        .expect("encode");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open raw");
    file.write_all(&full.as_bytes()[..full.len() / 2])
        .expect("torn write");
    drop(file);

    let log = AuditLog::open(&path).expect("reopen after crash");
    let page = log.read(0, 100).expect("read torn log");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.skipped_lines, 1);

    log.append(&record(3, "failover.approve", AuditOutcome::Accepted))
        .expect("append after crash");
    let page = log.read(0, 100).expect("read");
    let at: Vec<u64> = page.records.iter().map(|r| r.at_unix_ms).collect();
    assert_eq!(
        at,
        vec![1, 3],
        "the record after the crash is not glued to the torn one"
    );
    assert_eq!(page.skipped_lines, 1);
}

#[test]
fn a_refused_call_record_round_trips_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(&dir.path().join("audit.jsonl")).expect("open");
    let refused = AuditRecord {
        at_unix_ms: 1_700_000_000_123,
        who: "token:ci-bot".into(),
        what: "POST /control/failovers/fo-1/approve".into(),
        target: "failover/fo-1".into(),
        outcome: AuditOutcome::Refused,
        reason: Some("role mesh.operate is below the required mesh.admin".into()),
    };
    log.append(&refused).expect("append");
    let page = log.read(0, 10).expect("read");
    assert_eq!(page.records, vec![refused]);
}

#[test]
fn read_pages_through_the_log_in_append_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(&dir.path().join("audit.jsonl")).expect("open");
    for at in 0..7 {
        log.append(&record(at, "failover.create", AuditOutcome::Accepted))
            .expect("append");
    }
    let mut from = 0;
    let mut seen = Vec::new();
    loop {
        let page = log.read(from, 3).expect("read");
        if page.records.is_empty() {
            break;
        }
        seen.extend(page.records.iter().map(|r| r.at_unix_ms));
        from = page.next;
    }
    assert_eq!(seen, (0..7).collect::<Vec<_>>());
    assert_eq!(log.read(100, 3).expect("read past end").next, 7);
}

#[test]
fn a_file_that_is_not_json_at_all_reads_as_skipped_lines_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, b"\x00\xff garbage\n{\"at_unix_ms\":\n").expect("write garbage");
    let log = AuditLog::open(&path).expect("open");
    let page = log.read(0, 10).expect("read");
    assert!(page.records.is_empty());
    assert_eq!(page.skipped_lines, 2);
}
