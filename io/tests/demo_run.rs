//! `omnirelay demo` end to end: real node processes, the client workload, the planned
//! failover, the region kill and the failback (issue #7, "Demo"). The story's own
//! checks decide its exit code: 0 only when the planned failover and the failback lost
//! no acknowledged write (ARCHITECTURE.md, invariant 5).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One demo at a time: two would race for the free ports they pick.
static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Node processes whose command line names a config under `dir`.
fn nodes_running_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (text.contains(" node ") && text.contains(&needle)).then_some(text)
        })
        .collect()
}

#[test]
fn the_demo_runs_to_its_summary_with_zero_loss_on_the_planned_failover() {
    let _serial = ONE_DEMO_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("mesh");
    let out = Command::new(env!("CARGO_BIN_EXE_omnirelay"))
        .args(["demo", "--quick", "--dir"])
        .arg(&run_dir)
        .output()
        .expect("run omnirelay demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("== Summary"), "stdout:\n{stdout}");
    assert!(
        stdout.contains(omnirelay_io::cli::demo::PLANNED_ZERO_LOSS),
        "stdout:\n{stdout}"
    );
    // Every step of the story reached the table.
    for step in [
        "planned us-east -> eu-west",
        "region eu-west killed",
        "failback",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    assert!(
        nodes_running_under(&run_dir).is_empty(),
        "node processes left behind"
    );
    assert!(
        !run_dir.exists(),
        "the demo removes its directory without --keep"
    );
}

#[test]
fn ctrl_c_during_the_demo_kills_every_node_process() {
    let _serial = ONE_DEMO_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("mesh");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnirelay"))
        .args(["demo", "--quick", "--dir"])
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start omnirelay demo");
    let stdout = child.stdout.take().expect("stdout");
    // Interrupt once the workload runs: every node is up by then.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.contains("1. A client writes") {
            break;
        }
    }
    // Keep reading: a closed pipe would make the demo's next print fail, not the ctrl-c.
    let drain = std::thread::spawn(move || lines.count());
    assert!(
        !nodes_running_under(&run_dir).is_empty(),
        "the nodes run while the demo does"
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let status = child.wait().expect("demo exit");
    let _ = drain.join();
    assert_eq!(status.code(), Some(130), "ctrl-c exits 130");
    // The guard killed and reaped each child before the demo exited.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !nodes_running_under(&run_dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(nodes_running_under(&run_dir), Vec::<String>::new());
}
