//! Log timestamps come from simulated time, so the logs of two replays of one seed are
//! identical (FINDINGS.md, "Determinism traps under turmoil": "Tracing timestamps: use a
//! timer based on `turmoil::sim_elapsed()`").
//!
//! Alone in its own test binary on purpose: `tracing` caches per-callsite interest
//! process-wide, and a test thread without a subscriber running at the same time can make
//! a scoped subscriber miss events (seen here as a flaky diff between two replays).

mod chaos_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chaos_support::run;
use omnirelay_sim::chaos::harness::log_subscriber_to;

/// A buffer the log subscriber writes into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_of(seed: u64) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = log_subscriber_to(tracing::Level::INFO, move || writer.clone());
    tracing::subscriber::with_default(subscriber, || run(seed));
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn logs_are_stamped_with_simulated_time_and_replay_identically() {
    let first = logs_of(5);
    let second = logs_of(5);
    let served: Vec<&str> = first.lines().filter(|l| l.contains("served")).collect();
    assert!(!served.is_empty(), "the handler logged: {first}");
    for line in &served {
        // `12.345678s INFO …`: seconds since the start of the run, not a wall-clock date.
        let stamp = line.split_whitespace().next().unwrap_or_default();
        let seconds = stamp.strip_suffix('s').and_then(|s| s.parse::<f64>().ok());
        assert!(
            seconds.is_some_and(|s| s < 40.0),
            "a simulated timestamp: {line}"
        );
    }
    assert_eq!(first, second, "the logs of two replays are identical");
}
