//! Lag per (source, target), as ARCHITECTURE.md defines it (vocabulary: lag): entries =
//! source's last seq − target's acknowledged VV[source]; seconds = now − written_at of the
//! oldest unacknowledged event, 0 when caught up; both on the source's clock.

use std::time::Duration;

use omnirelay_core::replication::{ClusterVersionVector, Lag, LagError, LagTracker};
use omnirelay_core::{ClusterId, Instant};
use proptest::prelude::*;

const TARGETS: [&str; 3] = ["eu-west", "ap-south", "us-west"];

fn cid(name: &str) -> ClusterId {
    ClusterId::new(name).expect("valid test cluster id")
}

fn ack(seq: u64) -> ClusterVersionVector {
    let mut vv = ClusterVersionVector::new();
    vv.set(&cid("us-east"), seq);
    // Entries for other origins must not matter.
    vv.set(&cid("eu-west"), seq.wrapping_mul(7) % 1000);
    vv
}

fn tracker() -> LagTracker {
    LagTracker::new(cid("us-east"), TARGETS.iter().map(|t| cid(t)))
}

#[derive(Clone, Debug)]
struct Run {
    /// Gaps between consecutive local writes, in milliseconds (0 allowed: same instant).
    gaps: Vec<u64>,
    /// `(target index, acknowledged seq as a fraction of the writes)`, in arrival order.
    acks: Vec<(usize, prop::sample::Index)>,
}

fn run() -> impl Strategy<Value = Run> {
    (
        prop::collection::vec(0u64..50, 0..40),
        prop::collection::vec((0..TARGETS.len(), any::<prop::sample::Index>()), 0..30),
    )
        .prop_map(|(gaps, acks)| Run { gaps, acks })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lag_is_zero_exactly_when_caught_up(run in run()) {
        let mut lag = tracker();
        let mut written = vec![Instant::ZERO]; // index 0 unused: seqs start at 1
        let mut t = Instant::from_secs(100);
        for (i, gap) in run.gaps.iter().enumerate() {
            t += Duration::from_millis(*gap);
            lag.record_local(i as u64 + 1, t).expect("contiguous");
            written.push(t);
        }
        let last = run.gaps.len() as u64;
        let mut highest = [0u64; TARGETS.len()];
        for (target, index) in &run.acks {
            // Any seq up to the last, in any order: late acks must not move a target back.
            let seq = if last == 0 { 0 } else { index.index(last as usize + 1) as u64 };
            lag.handle_ack(&cid(TARGETS[*target]), &ack(seq)).expect("not ahead");
            highest[*target] = highest[*target].max(seq);
        }
        // Strictly after every write, so a lagging target has a positive age.
        let now = t + Duration::from_millis(1);
        for (i, name) in TARGETS.iter().enumerate() {
            let got = lag.lag(&cid(name), now);
            let caught_up = highest[i] == last;
            prop_assert_eq!(got.entries, last - highest[i]);
            prop_assert_eq!(got == Lag::default(), caught_up);
            prop_assert_eq!(got.is_caught_up(), caught_up);
            prop_assert_eq!(got.seconds.is_zero(), caught_up);
            if !caught_up {
                let oldest_unacked = written[highest[i] as usize + 1];
                prop_assert_eq!(got.seconds, now - oldest_unacked);
            }
        }
        // Memory: only what the slowest target still needs, plus the last write.
        let slowest = highest.iter().copied().min().unwrap_or(0);
        prop_assert!(lag.retained() as u64 <= (last - slowest).max(1));
    }
}

#[test]
fn a_target_that_never_acknowledged_lags_by_everything() {
    let mut lag = tracker();
    for seq in 1..=5 {
        lag.record_local(seq, Instant::from_secs(seq))
            .expect("contiguous");
    }
    assert_eq!(
        lag.lag(&cid("eu-west"), Instant::from_secs(10)),
        Lag {
            entries: 5,
            seconds: Duration::from_secs(9),
        }
    );
    // The same for a cluster the tracker was never told about.
    assert_eq!(lag.lag(&cid("sa-east"), Instant::from_secs(10)).entries, 5);
}

#[test]
fn a_late_ack_never_moves_a_target_backwards() {
    let mut lag = tracker();
    for seq in 1..=5 {
        lag.record_local(seq, Instant::from_secs(seq))
            .expect("contiguous");
    }
    assert_eq!(lag.handle_ack(&cid("eu-west"), &ack(4)), Ok(true));
    assert_eq!(lag.handle_ack(&cid("eu-west"), &ack(2)), Ok(false));
    assert_eq!(lag.acknowledged(&cid("eu-west")), Some(4));
    assert_eq!(
        lag.lag(&cid("eu-west"), Instant::from_secs(7)),
        Lag {
            entries: 1,
            seconds: Duration::from_secs(2),
        }
    );
}

#[test]
fn an_ack_beyond_the_last_local_seq_is_refused_and_changes_nothing() {
    let mut lag = tracker();
    lag.record_local(1, Instant::from_secs(1))
        .expect("contiguous");
    assert_eq!(
        lag.handle_ack(&cid("eu-west"), &ack(2)),
        Err(LagError::AckAhead {
            target: cid("eu-west"),
            acked: 2,
            last_seq: 1,
        })
    );
    assert_eq!(lag.acknowledged(&cid("eu-west")), Some(0));
    assert_eq!(lag.lag(&cid("eu-west"), Instant::from_secs(3)).entries, 1);
}

#[test]
fn a_non_contiguous_local_seq_is_refused_and_changes_nothing() {
    let mut lag = tracker();
    lag.record_local(1, Instant::from_secs(1))
        .expect("contiguous");
    for bad in [1, 3, 0] {
        assert_eq!(
            lag.record_local(bad, Instant::from_secs(2)),
            Err(LagError::NonContiguous {
                expected: 2,
                got: bad,
            })
        );
    }
    assert_eq!(lag.last_seq(), 1);
    assert_eq!(lag.retained(), 1);
}

#[test]
fn timestamps_every_target_acknowledged_are_forgotten() {
    let mut lag = tracker();
    for seq in 1..=100 {
        lag.record_local(seq, Instant::from_millis(seq))
            .expect("contiguous");
    }
    for t in TARGETS {
        lag.handle_ack(&cid(t), &ack(90)).expect("not ahead");
    }
    assert_eq!(lag.retained(), 10);
    // A departed laggard stops holding memory back.
    let mut lag = tracker();
    for seq in 1..=100 {
        lag.record_local(seq, Instant::from_millis(seq))
            .expect("contiguous");
    }
    lag.handle_ack(&cid("eu-west"), &ack(100))
        .expect("not ahead");
    lag.handle_ack(&cid("ap-south"), &ack(100))
        .expect("not ahead");
    assert_eq!(lag.retained(), 100);
    lag.remove_target(&cid("us-west"));
    assert_eq!(lag.retained(), 1);
    assert!(
        lag.lag(&cid("eu-west"), Instant::from_secs(9))
            .is_caught_up()
    );
}
