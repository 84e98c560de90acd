//! Issue #5: every whole-mesh scenario holds ARCHITECTURE.md's invariants over many seeds.
//!
//! `OMNIRELAY_MESH_SEEDS` sets how many seeds each scenario runs (default 100; the nightly
//! script runs 1,000). A failure names the seed and the command that replays it.

use omnirelay_sim::mesh::cli::summarise;
use omnirelay_sim::mesh::scenario::{self, Scenario};

fn seeds() -> u64 {
    std::env::var("OMNIRELAY_MESH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn assert_scenario_holds(name: &str) -> Scenario {
    let scenario = scenario::named(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let (summary, _) = summarise(&scenario, 1..1 + seeds());
    println!(
        "{name}: {}/{} passed, write gap p99 {:.3}s, kill->write {:?}",
        summary.passed, summary.seeds, summary.unavailability_s.p99, summary.kill_to_write_s
    );
    assert!(
        summary.failing.is_empty(),
        "{name}: {} of {} seeds broke an invariant: {:#?}",
        summary.failing.len(),
        summary.seeds,
        summary.failing
    );
    scenario
}

#[test]
fn planned_failover_loses_no_acknowledged_write() {
    assert_scenario_holds("planned-failover");
}

#[test]
fn planned_failover_between_two_clusters_loses_no_acknowledged_write() {
    assert_scenario_holds("planned-failover-2c");
}

#[test]
fn region_kill_with_the_auto_policy_moves_writes_and_reports_every_loss() {
    assert_scenario_holds("region-kill");
}

#[test]
fn region_kill_in_a_two_cluster_mesh_fails_over_with_the_witness() {
    assert_scenario_holds("region-kill-2c");
}

#[test]
fn forced_emergency_after_a_region_kill_reports_every_loss() {
    assert_scenario_holds("region-kill-manual");
}

#[test]
fn a_partitioned_active_never_shares_a_failover_version_and_converges_after_heal() {
    assert_scenario_holds("partition");
}

#[test]
fn a_lagging_target_is_refused_then_accepted_once_caught_up() {
    assert_scenario_holds("lag-spike");
}

#[test]
fn a_returning_old_active_fences_and_quarantines_its_unreplicated_writes() {
    assert_scenario_holds("old-active-returns");
}

#[test]
fn failback_returns_the_namespace_with_no_loss() {
    assert_scenario_holds("failback");
}

#[test]
fn a_cancelled_migration_leaves_the_namespace_active_where_it_was() {
    assert_scenario_holds("migration-cancel");
}

#[test]
fn a_flapping_link_shorter_than_detection_never_moves_the_namespace() {
    assert_scenario_holds("flapping-link");
}

#[test]
fn a_seed_replays_to_the_same_trace_hash_and_another_seed_differs() {
    let scenario = scenario::named("region-kill").expect("scenario");
    let first = omnirelay_sim::mesh::run::run(&scenario, 7);
    let again = omnirelay_sim::mesh::run::run(&scenario, 7);
    let other = omnirelay_sim::mesh::run::run(&scenario, 8);
    assert_eq!(first.trace_hash, again.trace_hash);
    assert_eq!(first.acked, again.acked);
    assert_ne!(first.trace_hash, other.trace_hash);
}

#[test]
fn the_printed_replay_command_reproduces_the_seed_trace_hash() {
    let scenario = scenario::named("planned-failover").expect("scenario");
    let report = omnirelay_sim::mesh::run::run(&scenario, 3);
    let command = report.replay_command();
    let args: Vec<&str> = command
        .split_once(" -- ")
        .expect("a cargo run command with program arguments")
        .1
        .split_whitespace()
        .collect();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_omnirelay-sim"))
        .args(&args)
        .arg("--per-seed")
        .output()
        .expect("run omnirelay-sim");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a per-seed line")).expect("json");
    assert_eq!(first["seed"], 3);
    assert_eq!(first["trace_hash"], report.trace_hash.as_str());
}
