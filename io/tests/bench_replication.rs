//! `omnirelay bench replication --json` (issue 6, "Benchmark"): a small run prints one JSON
//! object with every figure the issue asks for, and the target cluster applied every event
//! the source acknowledged. The figures themselves depend on the machine and are not checked.

use std::process::Command;

/// Every key of the report; numbers unless listed in `NULLABLE`.
const FIELDS: &[&str] = &[
    "events",
    "size_bytes",
    "batch",
    "in_flight",
    "rate",
    "stream_window",
    "applied_events",
    "all_applied",
    "seconds",
    "events_per_sec",
    "payload_mb_per_sec",
    "source_accept_events_per_sec",
    "catch_up_events_per_sec",
    "retried_writes",
    "cpu_seconds",
    "events_per_cpu_sec",
    "cores",
    "load_average",
    "lag_samples",
    "lag_p50_ms",
    "lag_p99_ms",
    "lag_max_ms",
    "source_fsyncs",
    "target_fsyncs",
    "events_per_source_fsync",
    "tcp_events_per_sec",
    "tcp_mb_per_sec",
    "fsync_events_per_sec",
    "fsync_mb_per_sec",
    "ratio_to_tcp",
    "ratio_to_fsync",
    "target_events_per_sec",
    "target_met",
];

/// Fields that are `null` when they do not apply (no `/proc`, no backlog, default window,
/// unpaced load).
const NULLABLE: &[&str] = &[
    "rate",
    "stream_window",
    "catch_up_events_per_sec",
    "cpu_seconds",
    "events_per_cpu_sec",
    "load_average",
];

#[test]
fn bench_replication_json_reports_every_figure_and_every_event_arrives() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_omnirelay"))
        .args(["bench", "replication", "--events", "2000", "--size", "256"])
        .args(["--batch", "100", "--in-flight", "4", "--rate", "100000"])
        .args(["--json", "--dir"])
        .arg(scratch.path())
        .output()
        .expect("run omnirelay");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let object = report.as_object().expect("a JSON object");

    for field in FIELDS {
        let value = object
            .get(*field)
            .unwrap_or_else(|| panic!("`{field}` missing from {stdout}"));
        let ok = match value {
            serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
            serde_json::Value::Bool(_) => matches!(*field, "all_applied" | "target_met"),
            serde_json::Value::Null => NULLABLE.contains(field),
            _ => false,
        };
        assert!(ok, "`{field}` is {value}");
    }
    assert_eq!(object.len(), FIELDS.len(), "unexpected fields in {stdout}");

    assert_eq!(report["events"], 2000);
    assert_eq!(
        report["applied_events"], 2000,
        "every event reaches the target"
    );
    assert_eq!(report["all_applied"], true);
    assert!(
        report["lag_samples"].as_u64().is_some_and(|n| n > 0),
        "lag sampled: {stdout}"
    );
    // The scratch directory (logs, certificates, the fsync ceiling's log) is removed.
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("read dir").count(),
        0,
        "bench left files behind"
    );
}
