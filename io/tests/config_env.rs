//! `OMNIRELAY_<SECTION>_<KEY>` overrides: applied on top of the file before validation,
//! checked like written values, and refused by name when they name no key. The
//! environment is passed in, so these tests never touch the process's own.

mod config_fixture;

use std::time::Duration;

use config_fixture::{Fixture, assert_problem, example_with, loaded};
use omnirelay_core::NodeId;
use omnirelay_core::gossip::GossipConfig;
use omnirelay_io::config::{ConfigError, EXAMPLE, GossipProfile};
use omnirelay_io::tls::Role;

#[test]
fn environment_overrides_replace_file_values_before_validation() {
    let fx = Fixture::new();
    fx.issue("n3", "us-east", Role::Voter, "n3");
    let c = loaded(fx.load(
        EXAMPLE,
        &[
            ("OMNIRELAY_NODE_ID", "n3"),
            ("OMNIRELAY_TLS_CERT", "tls/n3.pem"),
            ("OMNIRELAY_TLS_KEY", "tls/n3.key"),
            ("OMNIRELAY_LISTEN_GRPC", "127.0.0.1:7101"),
            ("OMNIRELAY_GOSSIP_PROFILE", "mesh"),
            ("OMNIRELAY_CONSENSUS_HEARTBEAT_MS", "40"),
            ("OMNIRELAY_AUTO_FAILOVER_ENABLED", "true"),
            ("OMNIRELAY_FAILOVER_REQUIRE_APPROVAL", "true"),
        ],
    ))
    .config;
    assert_eq!(c.node.id, NodeId(3));
    assert_eq!(c.listen.grpc.to_string(), "127.0.0.1:7101");
    // n3's address comes from its voter entry, not from the loopback listener.
    assert_eq!(c.listen.advertise_grpc.to_string(), "10.0.0.3:7001");
    assert_eq!(c.gossip.profile, GossipProfile::Mesh);
    assert_eq!(c.gossip.timing, GossipConfig::mesh());
    assert_eq!(c.consensus.heartbeat, Duration::from_millis(40));
    assert!(c.auto_failover.enabled);
    assert!(c.failover.require_approval);
}

#[test]
fn lists_are_overridden_from_comma_separated_values() {
    let fx = Fixture::new();
    let c = loaded(fx.load(
        EXAMPLE,
        &[
            (
                "OMNIRELAY_GOSSIP_SEEDS",
                "seed-a.internal:7001, 10.1.0.9:7001",
            ),
            (
                "OMNIRELAY_CONSENSUS_VOTERS",
                "n1=10.1.0.1:7001,n5=10.1.0.5:7001,n9=10.1.0.9:7001",
            ),
        ],
    ))
    .config;
    let seeds: Vec<String> = c.gossip.seeds.iter().map(|s| s.to_string()).collect();
    assert_eq!(seeds, ["seed-a.internal:7001", "10.1.0.9:7001"]);
    let voters: Vec<NodeId> = c.consensus.voters.keys().copied().collect();
    assert_eq!(voters, [NodeId(1), NodeId(5), NodeId(9)]);
    assert_eq!(c.listen.advertise_grpc.to_string(), "10.1.0.1:7001");
}

#[test]
fn an_override_can_supply_a_key_the_file_lacks() {
    let fx = Fixture::new();
    let text = example_with("region = \"us-east-1\"\n", "");
    let c = loaded(fx.load(&text, &[("OMNIRELAY_NODE_REGION", "us-east-2")])).config;
    assert_eq!(c.node.region, "us-east-2");
}

#[test]
fn an_unknown_omnirelay_variable_is_refused_by_name() {
    let fx = Fixture::new();
    let result = fx.load(
        EXAMPLE,
        &[
            ("OMNIRELAY_NODE_COLOUR", "blue"),
            ("OMNIRELAY_METRICS_PORT", "9100"),
            ("OMNIRELAY_NODE", "n1"),
        ],
    );
    let Err(errors) = result else {
        panic!("unknown overrides accepted")
    };
    for variable in [
        "OMNIRELAY_NODE_COLOUR",
        "OMNIRELAY_METRICS_PORT",
        "OMNIRELAY_NODE",
    ] {
        assert!(
            errors.problems.iter().any(|p| matches!(
                p, ConfigError::UnknownVariable { variable: v } if v == variable
            ) && p.to_string().starts_with(variable)),
            "{variable} not refused:\n{errors}"
        );
    }
}

#[test]
fn a_badly_typed_override_names_the_variable_and_its_key() {
    let fx = Fixture::new();
    let result = fx.load(
        EXAMPLE,
        &[
            ("OMNIRELAY_CONSENSUS_HEARTBEAT_MS", "fast"),
            ("OMNIRELAY_FAILOVER_REQUIRE_TICKET", "yes"),
            ("OMNIRELAY_CONSENSUS_VOTERS", "n1@10.0.0.1:7001"),
        ],
    );
    assert_problem(
        &result,
        "OMNIRELAY_CONSENSUS_HEARTBEAT_MS",
        "expected an integer, got \"fast\" (overrides consensus.heartbeat_ms)",
    );
    assert_problem(
        &result,
        "OMNIRELAY_FAILOVER_REQUIRE_TICKET",
        "expected true or false",
    );
    assert_problem(
        &result,
        "OMNIRELAY_CONSENSUS_VOTERS",
        "expected id=host:port",
    );
}

#[test]
fn an_override_is_validated_like_a_written_value() {
    let fx = Fixture::new();
    let result = fx.load(
        EXAMPLE,
        &[
            ("OMNIRELAY_CONSENSUS_HEARTBEAT_MS", "500"),
            ("OMNIRELAY_LISTEN_HTTP", "0.0.0.0:7001"),
            ("OMNIRELAY_NODE_ID", "n2"),
        ],
    );
    assert_problem(&result, "consensus.heartbeat_ms", "must be less than");
    assert_problem(
        &result,
        "listen.http",
        "port 7001 is also used by listen.grpc",
    );
    // The certificate still says n1: overriding the id alone is caught.
    assert_problem(
        &result,
        "tls.cert",
        "certificate is for node.id n1, but node.id is n2",
    );
}

#[test]
fn variables_without_the_prefix_are_ignored() {
    let fx = Fixture::new();
    loaded(fx.load(
        EXAMPLE,
        &[
            ("PATH", "/usr/bin"),
            ("OMNIRELAYNODE_ID", "n9"),
            ("omnirelay_node_id", "n9"),
        ],
    ));
}
