//! The same seed gives the same trace, in one process and across two (ARCHITECTURE
//! "Both layers are deterministic").

use std::process::Command;
use std::time::Duration;

use omnirelay_sim::gossip::experiment::{GossipExperiment, run};

fn experiment(seed: u64) -> GossipExperiment {
    GossipExperiment {
        nodes: 40,
        seed,
        profile: "lan".into(),
        loss: 0.05,
        duration: Duration::from_secs(120),
        crashes: 1,
        aligned: false,
    }
}

#[test]
fn same_seed_gives_the_same_trace_hash_twice_in_one_process() {
    let a = run(&experiment(42)).unwrap();
    let b = run(&experiment(42)).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.steps, b.steps);
    let c = run(&experiment(43)).unwrap();
    assert_ne!(a.trace_hash, c.trace_hash, "the seed matters");
}

fn hash_from_binary(seed: u64) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_omnirelay-sim"))
        .args([
            "gossip",
            "--nodes",
            "40",
            "--profile",
            "lan",
            "--loss",
            "0.05",
        ])
        .args(["--duration-s", "120", "--crashes", "1", "--json"])
        .args(["--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["trace_hash"].as_str().unwrap().to_owned()
}

#[test]
fn same_seed_gives_the_same_trace_hash_in_two_processes() {
    let first = hash_from_binary(42);
    let second = hash_from_binary(42);
    assert_eq!(first, second);
    assert_eq!(
        first,
        run(&experiment(42)).unwrap().trace_hash,
        "binary and library agree"
    );
}
