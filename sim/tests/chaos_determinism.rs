//! Determinism hygiene of the chaos layer (ARCHITECTURE.md, "sim: two layers": "the same
//! seed gives the same trace, byte for byte"; FINDINGS.md, "Determinism traps under
//! turmoil"). A run is `chaos_support::run`: the real mesh transport under load and a
//! partition.

mod chaos_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos_support::run;
use omnirelay_sim::chaos::harness::{EPOCH_UNIX_SECONDS, SimSettings};

#[test]
fn same_seed_gives_the_same_trace_hash() {
    for seed in [1, 2, 3] {
        let first = run(seed);
        let second = run(seed);
        println!(
            "seed {seed}: {} records, hash {} / {}",
            first.len(),
            first.hash_hex(),
            second.hash_hex()
        );
        assert!(first.len() > 80, "the run did something to compare");
        assert_eq!(
            first.records(),
            second.records(),
            "seed {seed} replays record for record"
        );
        assert_eq!(first.hash_hex(), second.hash_hex());
    }
}

#[test]
fn different_seeds_give_different_traces() {
    // The workload's pauses come from the seed, so two seeds must not collide.
    assert_ne!(run(1).hash_hex(), run(2).hash_hex());
}

#[test]
fn the_trace_sees_the_partition() {
    // Guards the determinism test against a run too quiet to tell anything apart.
    let records = run(7).records();
    let failed = records
        .iter()
        .filter(|r| r.source == "client-1" && !r.what.ends_with(" ok"))
        .count();
    let served = records.iter().filter(|r| r.source == "server").count();
    assert!(failed > 0, "client-1's calls fail while it is cut off");
    assert!(served > 40, "most calls are served");
}

#[test]
fn the_simulated_clock_starts_at_the_pinned_epoch() {
    let seen: Arc<Mutex<Option<Duration>>> = Arc::default();
    let out = seen.clone();
    let mut sim = SimSettings::new(1).build();
    sim.client("client", async move {
        // since_epoch − sim_elapsed is where the clock started.
        let since_epoch = turmoil::since_epoch().unwrap();
        let elapsed = turmoil::sim_elapsed().unwrap();
        *out.lock().unwrap() = Some(since_epoch - elapsed);
        Ok(())
    });
    sim.run().unwrap();
    let start = seen.lock().unwrap().unwrap();
    assert_eq!(start.as_secs(), EPOCH_UNIX_SECONDS, "not the wall clock");
}

/// Which branch each of 64 unbiased `select!`s over two ready futures took, on one host.
/// When several branches are ready tokio picks one with its runtime RNG, as it does inside
/// tonic, hyper and h2.
fn unbiased_select_picks(seed: u64) -> Vec<u8> {
    let picks: Arc<Mutex<Vec<u8>>> = Arc::default();
    let out = picks.clone();
    let mut sim = SimSettings::new(seed).build();
    sim.client("client", async move {
        for _ in 0..64 {
            let pick = tokio::select! {
                () = std::future::ready(()) => 0,
                () = std::future::ready(()) => 1,
            };
            out.lock().unwrap().push(pick);
        }
        Ok(())
    });
    sim.run().unwrap();
    picks.lock().unwrap().clone()
}

#[test]
fn unbiased_select_order_replays_from_the_seed() {
    // Holds only under `--cfg tokio_unstable` (.cargo/config.toml): then turmoil seeds each
    // host's tokio RNG from the simulation seed; otherwise tokio seeds it from the OS.
    for seed in [1, 2, 3] {
        assert_eq!(
            unbiased_select_picks(seed),
            unbiased_select_picks(seed),
            "seed {seed} picked differently on replay: built without --cfg tokio_unstable?"
        );
    }
    let picks = unbiased_select_picks(1);
    assert!(
        picks.contains(&0) && picks.contains(&1),
        "the RNG decides, not a fixed order"
    );
    assert_ne!(
        unbiased_select_picks(1),
        unbiased_select_picks(2),
        "the order comes from the seed"
    );
}
