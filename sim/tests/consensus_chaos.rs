//! Seed sweeps of 3- and 5-voter clusters under crashes (unsynced writes lost), restarts,
//! partitions, one-way cuts, stalled disks, loss, duplication, reordering, compactions and
//! leadership transfers, with a client workload (`omnirelay_sim::consensus::run_chaos`).
//! Each sweep runs once per binary; every test below checks one property over all of it.
//!
//! `OMNIRELAY_SEEDS=5000` widens the sweeps (nightly); a failing seed prints the command
//! that replays it.

use std::sync::OnceLock;
use std::time::Duration;

use omnirelay_sim::consensus::{ChaosLength, ChaosReport, ViolationKind, run_chaos};

const DEFAULT_SEEDS: u64 = 500;

fn seeds() -> u64 {
    std::env::var("OMNIRELAY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS)
}

fn sweep(voters: usize) -> &'static [ChaosReport] {
    static THREE: OnceLock<Vec<ChaosReport>> = OnceLock::new();
    static FIVE: OnceLock<Vec<ChaosReport>> = OnceLock::new();
    let (cell, first) = match voters {
        3 => (&THREE, 0),
        _ => (&FIVE, 1_000_000),
    };
    cell.get_or_init(|| {
        (first..first + seeds())
            .map(|seed| run_chaos(seed, voters, ChaosLength::default()))
            .collect()
    })
}

/// Fails with the replay command of the first seed that broke one of `kinds`.
fn assert_no(kinds: &[ViolationKind]) {
    for voters in [3, 5] {
        for report in sweep(voters) {
            let broken: Vec<_> = report
                .violations
                .iter()
                .filter(|v| kinds.contains(&v.kind))
                .collect();
            assert!(
                broken.is_empty(),
                "seed {} ({voters} voters): {broken:#?}\nreplay: {}",
                report.seed,
                report.replay_command()
            );
        }
    }
}

#[test]
fn election_safety_at_most_one_leader_per_term() {
    // Raft §5.2, ARCHITECTURE invariant 1.
    assert_no(&[ViolationKind::TwoLeaders, ViolationKind::SplitBrain]);
}

#[test]
fn log_matching_two_logs_agreeing_on_an_entry_agree_on_all_before_it() {
    // Raft §5.3.
    assert_no(&[ViolationKind::LogMatching]);
}

#[test]
fn leader_completeness_every_new_leader_holds_every_committed_entry() {
    // Raft §5.4.
    assert_no(&[ViolationKind::LeaderIncomplete]);
}

#[test]
fn committed_entries_are_never_lost_or_changed_across_crashes() {
    // Raft §5.4.3 (state machine safety), ARCHITECTURE invariant 2.
    assert_no(&[
        ViolationKind::CommittedChanged,
        ViolationKind::StateDiverged,
        ViolationKind::CommitLost,
        ViolationKind::RestoreFailed,
    ]);
}

#[test]
fn entries_commit_only_once_a_majority_holds_them_durably() {
    assert_no(&[ViolationKind::CommittedUnderReplicated]);
}

#[test]
fn every_acknowledged_proposal_appears_exactly_once_at_its_index() {
    assert_no(&[
        ViolationKind::AcknowledgedMisplaced,
        ViolationKind::DuplicateCommand,
    ]);
}

#[test]
fn a_leader_is_elected_and_every_voter_catches_up_once_faults_heal() {
    assert_no(&[
        ViolationKind::NoLeaderAfterHealing,
        ViolationKind::NotConverged,
    ]);
}

#[test]
fn the_sweeps_exercise_elections_commits_and_snapshot_installs() {
    // A sweep that never elects, commits or installs a snapshot proves nothing.
    for voters in [3, 5] {
        let reports = sweep(voters);
        let terms: usize = reports.iter().map(|r| r.terms_led).sum();
        let acknowledged: usize = reports.iter().map(|r| r.acknowledged).sum();
        let snapshots: usize = reports.iter().map(|r| r.snapshots_installed).sum();
        println!(
            "{voters} voters, {} seeds: {terms} terms led, {acknowledged} proposals acknowledged, {snapshots} snapshots installed",
            reports.len()
        );
        assert!(terms > 2 * reports.len(), "too few leader changes");
        assert!(acknowledged > 0, "nothing was acknowledged");
        assert!(snapshots > 0, "no follower ever installed a snapshot");
    }
}

/// One- and two-voter clusters hit the corner cases of self-votes and self-removal
/// (a single voter winning on an unsynced vote; a removed leader needed to commit its own
/// removal), both of which once broke here.
#[test]
fn one_and_two_voter_clusters_keep_every_invariant() {
    for voters in [1, 2] {
        for seed in 2_000_000..2_000_000 + seeds() / 5 {
            let report = run_chaos(seed, voters, ChaosLength::default());
            assert!(
                report.violations.is_empty(),
                "seed {seed} ({voters} voters): {:#?}\nreplay: {}",
                report.violations,
                report.replay_command()
            );
        }
    }
}

#[test]
fn replaying_a_seed_gives_the_same_trace_hash() {
    let length = ChaosLength {
        faulty: Duration::from_secs(4),
        calm: Duration::from_secs(2),
    };
    let a = run_chaos(42, 5, length);
    let b = run_chaos(42, 5, length);
    let c = run_chaos(43, 5, length);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_ne!(a.trace_hash, c.trace_hash, "different seeds should differ");
}

/// Replays `OMNIRELAY_REPLAY_SEED` (with `OMNIRELAY_REPLAY_VOTERS`, default 3) when set;
/// otherwise the regression seeds below (seeds that once found a bug).
#[test]
fn replays_a_chosen_seed() {
    let voters = std::env::var("OMNIRELAY_REPLAY_VOTERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seeds: Vec<u64> = match std::env::var("OMNIRELAY_REPLAY_SEED") {
        Ok(s) => s.parse().into_iter().collect(),
        Err(_) => REGRESSION_SEEDS.to_vec(),
    };
    for seed in seeds {
        let report = run_chaos(seed, voters, ChaosLength::default());
        println!(
            "seed {seed}: trace_hash {:016x}, {} terms led, {} committed",
            report.trace_hash, report.terms_led, report.committed
        );
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:#?}\nreplay: {}",
            report.violations,
            report.replay_command()
        );
    }
}

const REGRESSION_SEEDS: &[u64] = &[0];
