//! The real io node under turmoil (issue #8): every node of a scenario is a turmoil host
//! running the shipped `NodeRuntime` and client API over turmoil's network and `SimDisk`s,
//! the workload writes through the gRPC client API, and the run is checked against
//! ARCHITECTURE.md's invariants. Runs are shortened (`time_scale`, `rate_scale`) so the
//! suite stays fast; the scenarios themselves run as written under `omnirelay-sim run`.

use std::path::Path;
use std::time::Duration;

use omnirelay_sim::chaos::runner::{RunOptions, run_seed_with};
use omnirelay_sim::chaos::scenario::Scenario;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Half the scenario's length, a fifth of its rate.
fn short() -> RunOptions {
    RunOptions {
        tick: Duration::from_millis(1),
        time_scale: 0.5,
        rate_scale: 0.2,
    }
}

/// ARCHITECTURE.md "Emergency failover" and invariant 6: the active region dies whole,
/// automatic failover promotes another, clients write there within the seed bound, and
/// nothing acknowledged is lost outside the reported range.
#[test]
fn region_kill_promotes_a_passive_region_and_writes_resume_there() {
    let outcome = run_seed_with(&scenario("region-kill"), 1, short()).unwrap();
    assert!(outcome.passed(), "violations: {:#?}", outcome.violations);
    let samples = &outcome.slo_samples["failover_to_first_write"];
    assert_eq!(samples.len(), 1, "one kill, one sample");
    assert!(samples[0] > 0.0 && samples[0] < 30.0, "sample {samples:?}");
    assert!(outcome.counters["acknowledged"] > 0);
    assert!(
        outcome.counters["loss_reports"] > 0,
        "an emergency promotion reports its loss range"
    );
}

/// ARCHITECTURE.md invariant 5: three planned moves under load lose no acknowledged
/// write, and each gets a write_unavailability sample.
#[test]
fn planned_failover_under_load_loses_no_acknowledged_write() {
    let outcome = run_seed_with(&scenario("planned-failover-under-load"), 2, short()).unwrap();
    assert!(outcome.passed(), "violations: {:#?}", outcome.violations);
    assert_eq!(outcome.slo_samples["write_unavailability"].len(), 3);
    assert_eq!(outcome.counters["lost_within_reported_range"], 0);
    assert!(outcome.counters["acknowledged"] > 0);
}

/// ARCHITECTURE.md "sim: two layers": the same seed gives the same trace, byte for byte,
/// twice in one process (certificates are reused; their bytes never enter the trace).
#[test]
fn the_same_seed_twice_gives_the_same_trace_hash() {
    let options = RunOptions {
        time_scale: 0.3,
        rate_scale: 0.1,
        ..short()
    };
    let s = scenario("region-kill");
    let a = run_seed_with(&s, 11, options).unwrap();
    let b = run_seed_with(&s, 11, options).unwrap();
    let first_difference = a.trace.iter().zip(&b.trace).find(|(x, y)| x != y);
    assert_eq!(first_difference, None);
    assert_eq!(a.trace.len(), b.trace.len());
    assert_eq!(a.trace_hash, b.trace_hash);
}

/// The same seed gives the same hash in a fresh process: nothing process-wide (task ids,
/// scratch paths, certificates minted on first use) reaches the trace. The test runs
/// itself again as a child process, which prints its hash.
#[test]
fn the_same_seed_gives_the_same_trace_hash_in_another_process() {
    const CHILD: &str = "OMNIRELAY_CHAOS_HASH_CHILD";
    let options = RunOptions {
        time_scale: 0.3,
        rate_scale: 0.05,
        ..short()
    };
    let hash = run_seed_with(&scenario("disk-fault"), 21, options)
        .unwrap()
        .trace_hash;
    if std::env::var_os(CHILD).is_some() {
        println!("child-hash={hash}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_same_seed_gives_the_same_trace_hash_in_another_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let child = stdout
        .lines()
        .find_map(|l| l.strip_prefix("child-hash="))
        .unwrap_or_else(|| panic!("the child printed no hash: {stdout}"));
    assert_eq!(child, hash);
}

/// Every shipped scenario builds its mesh and runs one (short) seed to the end.
#[test]
fn every_shipped_scenario_runs_a_seed_without_a_setup_error() {
    let options = RunOptions {
        time_scale: 0.4,
        rate_scale: 0.05,
        ..short()
    };
    for name in [
        "partition-heal",
        "lag-spike",
        "crash-restart-loop",
        "disk-fault",
        "flapping-link",
        "old-active-returns",
    ] {
        let outcome =
            run_seed_with(&scenario(name), 5, options).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(outcome.counters["writes"] > 0, "{name} wrote nothing");
        eprintln!(
            "{name}: violations {:?} slo {:?} counters {:?}",
            outcome.violations, outcome.slo_samples, outcome.counters
        );
    }
}

/// A node whose disk failed fatally is restarted by its supervisor 2 s later, unless the
/// schedule took its machine down meanwhile: a region killed in between stays dead until
/// its own restart.
#[test]
fn a_region_kill_voids_the_supervisor_restart_of_a_node_whose_disk_failed() {
    let text = r#"
name = "disk-then-kill"
duration_s = 10
invariants = ["one_leader_per_term"]

[topology]
witnesses = 1
rtt_inside_ms = 1
rtt_between_ms = 50

[[topology.clusters]]
id = "us-east"
nodes = 3
priority = 2

[[topology.clusters]]
id = "eu-west"
nodes = 3
priority = 1

[workload]
writes_per_s = 30
namespaces = ["orders"]
payload_bytes = 64
active = "us-east"

[[faults]]
at_s = 4
kind = "disk_fault"
node = "us-east-1"
fault = "fsync_error"

[[faults]]
at_s = 4.5
kind = "region_kill"
cluster = "us-east"
"#;
    let s = Scenario::parse(text, Path::new("disk-then-kill.toml")).unwrap();
    let options = RunOptions {
        time_scale: 1.0,
        rate_scale: 1.0,
        ..short()
    };
    let outcome = run_seed_with(&s, 3, options).unwrap();
    let said = |what: &str| outcome.trace.iter().any(|r| r.what == what);
    assert!(
        said("us-east-1 exited on a fatal disk error"),
        "the fault is fatal before the kill: {:#?}",
        outcome
            .trace
            .iter()
            .filter(|r| r.source == "sim")
            .collect::<Vec<_>>()
    );
    assert!(
        !said("supervisor restarts us-east-1"),
        "a killed region's node is not revived"
    );
}
