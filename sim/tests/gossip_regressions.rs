//! Seeds on which the simulator once found a gossip bug, replayed on every test run
//! (STYLE: "A bug found by the simulator becomes a scenario or a seed in a regression list").

use std::time::Duration;

use omnirelay_sim::gossip::experiment::{GossipExperiment, run};

/// (profile, nodes, loss, seed, what went wrong)
const FALSE_POSITIVE_SEEDS: &[(&str, u64, f64, u64, &str)] = &[(
    "lan",
    200,
    0.05,
    3,
    "one member missed a refutation and declared a live member dead after 55 s",
)];

/// Lifeguard §V (accuracy): on each listed seed, no healthy member is ever declared dead
/// during 10 simulated minutes.
#[test]
fn regression_seeds_declare_no_healthy_member_dead() {
    for &(profile, nodes, loss, seed, what) in FALSE_POSITIVE_SEEDS {
        let report = run(&GossipExperiment {
            nodes,
            seed,
            profile: profile.into(),
            loss,
            duration: Duration::from_secs(600),
            crashes: 10,
            aligned: false,
        })
        .unwrap();
        assert_eq!(report.false_positives, 0, "seed {seed} ({profile}): {what}");
        assert_eq!(
            report.detect.undetected, 0,
            "seed {seed}: every crash detected"
        );
    }
}
