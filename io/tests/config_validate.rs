//! The node configuration file: the example validates and shows the true defaults, and
//! every kind of problem is reported naming its key, all of them in one pass.

mod config_fixture;

use std::time::Duration;

use config_fixture::{Fixture, assert_problem, example_with, loaded};
use omnirelay_core::NodeId;
use omnirelay_core::failover::{AutoFailoverPolicy, FailoverPolicy};
use omnirelay_core::gossip::GossipConfig;
use omnirelay_core::replication::ApplierConfig;
use omnirelay_io::config::{ConfigError, EXAMPLE, GossipProfile};
use omnirelay_io::storage::WalConfig;
use omnirelay_io::tls::{Identity, MeshCa, Role};

/// The smallest file a voter needs: only the keys without defaults.
const MINIMAL: &str = r#"
[node]
id = "n1"
cluster = "us-east"
region = "us-east-1"

[tls]
ca = "tls/ca.pem"
cert = "tls/n1.pem"
key = "tls/n1.key"

[gossip]
seeds = ["10.0.0.2:7001", "10.0.0.3:7001"]

[consensus]
voters = [
    { id = "n1", grpc = "10.0.0.1:7001" },
    { id = "n2", grpc = "10.0.0.2:7001" },
    { id = "n3", grpc = "10.0.0.3:7001" },
]
"#;

#[test]
fn the_example_config_validates_and_converts_to_the_core_defaults() {
    let fx = Fixture::new();
    let loaded = loaded(fx.load(EXAMPLE, &[]));
    let c = &loaded.config;
    assert_eq!(c.node.id, NodeId(1));
    assert_eq!(c.node.cluster.as_str(), "us-east");
    assert_eq!(c.node.role, Role::Voter);
    assert_eq!(c.listen.advertise_grpc.to_string(), "10.0.0.1:7001");
    assert_eq!(c.tls.cert, fx.dir.path().join("tls/n1.pem"));
    assert_eq!(c.gossip.profile, GossipProfile::Lan);
    assert_eq!(c.gossip.timing, GossipConfig::lan());
    assert_eq!(c.failover, FailoverPolicy::default());
    assert_eq!(c.auto_failover, AutoFailoverPolicy::default());
    assert!(
        !c.auto_failover.enabled,
        "automatic failover is off by default"
    );
    assert_eq!(c.storage, WalConfig::default());
    assert_eq!(
        c.replication.applier,
        ApplierConfig::new(c.node.cluster.clone())
    );
    assert_eq!(c.consensus.voters.len(), 3);
    assert!(matches!(
        loaded.tls.identity(),
        Ok(Identity::Node {
            node: NodeId(1),
            ..
        })
    ));
}

#[test]
fn the_example_shows_exactly_the_defaults_a_minimal_file_gets() {
    let fx = Fixture::new();
    let example = loaded(fx.load(EXAMPLE, &[])).config;
    let minimal = loaded(fx.load(MINIMAL, &[])).config;
    assert_eq!(example, minimal);
}

#[test]
fn unknown_keys_are_all_refused_with_their_full_path() {
    let fx = Fixture::new();
    let text = example_with("[node]\n", "[node]\nflavour = \"x\"\n").replacen(
        "{ id = \"n2\", grpc = \"10.0.0.2:7001\" }",
        "{ id = \"n2\", grpc = \"10.0.0.2:7001\", port = 1 }",
        1,
    ) + "\n[metrics]\nenabled = true\n";
    let result = fx.load(&text, &[]);
    assert_problem(&result, "node.flavour", "unknown key");
    assert_problem(&result, "consensus.voters[1].port", "unknown key");
    assert_problem(&result, "metrics", "unknown key");
}

#[test]
fn a_value_of_the_wrong_type_names_its_full_key_path() {
    let fx = Fixture::new();
    let text = example_with(
        "election_timeout_min_ms = 150",
        "election_timeout_min_ms = \"x\"",
    );
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.election_timeout_min_ms",
        "invalid type: string \"x\", expected u64",
    );
    let text = example_with("grpc = \"10.0.0.3:7001\"", "grpc = 7001");
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.voters[2].grpc",
        "invalid type: integer",
    );
    let text = example_with("priority = 1", "priority = 300");
    assert_problem(&fx.load(&text, &[]), "consensus.priority", "300");
}

#[test]
fn every_badly_typed_value_is_reported_in_the_same_pass() {
    let fx = Fixture::new();
    let text = example_with("heartbeat_ms = 50", "heartbeat_ms = true")
        .replacen("priority = 1", "priority = 300", 1)
        .replacen(
            "{ id = \"n3\", grpc = \"10.0.0.3:7001\" }",
            "{ id = \"n3\" }",
            1,
        )
        .replacen("segment_bytes = 67108864", "segment_bytes = -1", 1);
    let result = fx.load(&text, &[]);
    assert_problem(&result, "consensus.heartbeat_ms", "invalid type: boolean");
    assert_problem(&result, "consensus.priority", "integer `300`, expected u8");
    assert_problem(&result, "consensus.voters[2].grpc", "missing");
    assert_problem(
        &result,
        "storage.segment_bytes",
        "integer `-1`, expected u64",
    );
    let Err(errors) = result else { unreachable!() };
    assert_eq!(errors.problems.len(), 4, "{errors}");
}

#[test]
fn missing_required_keys_are_all_reported() {
    let fx = Fixture::new();
    let text = example_with("cluster = \"us-east\"\n", "")
        .replacen("key = \"tls/n1.key\"\n", "", 1)
        .replacen(
            "{ id = \"n3\", grpc = \"10.0.0.3:7001\" }",
            "{ id = \"n3\" }",
            1,
        );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "consensus.voters[2].grpc", "missing");
    // Typing failed, so meaning is not checked yet; fix the voter and look again.
    let text = text.replacen(
        "{ id = \"n3\" }",
        "{ id = \"n3\", grpc = \"10.0.0.3:7001\" }",
        1,
    );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "node.cluster", "missing");
    assert_problem(&result, "tls.key", "missing");
    let text = MINIMAL.replacen("region = \"us-east-1\"\n", "", 1);
    assert_problem(&fx.load(&text, &[]), "node.region", "missing");
}

#[test]
fn malformed_ids_and_names_are_refused_naming_their_key() {
    let fx = Fixture::new();
    let text = example_with("id = \"n1\"", "id = \"node-1\"")
        .replacen("cluster = \"us-east\"", "cluster = \"US East\"", 1)
        .replacen("region = \"us-east-1\"", "region = \"\"", 1)
        .replacen("role = \"voter\"", "role = \"operator\"", 1)
        .replacen("{ id = \"n2\"", "{ id = \"two\"", 1);
    let result = fx.load(&text, &[]);
    assert_problem(&result, "node.id", "node-1");
    assert_problem(&result, "node.cluster", "US East");
    assert_problem(&result, "node.region", "1-63 characters");
    assert_problem(&result, "node.role", "not voter, learner or witness");
    assert_problem(&result, "consensus.voters[1].id", "two");
}

#[test]
fn node_ids_are_accepted_as_n7_or_7() {
    let fx = Fixture::new();
    let text = example_with("id = \"n1\"", "id = 1").replacen("{ id = \"n2\"", "{ id = 2", 1);
    let c = loaded(fx.load(&text, &[])).config;
    assert_eq!(c.node.id, NodeId(1));
    assert!(c.consensus.voters.contains_key(&NodeId(2)));
}

/// Raft §5.2 / §9.3: randomized timeouts need a spread, and heartbeats must arrive well
/// within the shortest election timeout or followers campaign against a live leader.
#[test]
fn election_timeout_min_must_be_below_max_and_heartbeat_below_min() {
    let fx = Fixture::new();
    let text = example_with(
        "election_timeout_min_ms = 150",
        "election_timeout_min_ms = 300",
    );
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.election_timeout_min_ms",
        "must be less than consensus.election_timeout_max_ms (300)",
    );
    let text = example_with("heartbeat_ms = 50", "heartbeat_ms = 150");
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.heartbeat_ms",
        "must be less than consensus.election_timeout_min_ms (150)",
    );
}

#[test]
fn listeners_must_not_share_a_port() {
    let fx = Fixture::new();
    let text = example_with(
        "control = \"127.0.0.1:9090\"",
        "control = \"127.0.0.1:8080\"",
    );
    assert_problem(
        &fx.load(&text, &[]),
        "listen.control",
        "port 8080 is also used by listen.http",
    );
    let text = example_with("http = \"0.0.0.0:8080\"", "http = \"localhost:8080\"");
    assert_problem(&fx.load(&text, &[]), "listen.http", "not an IP:port");
}

#[test]
fn peer_addresses_must_be_host_and_port() {
    let fx = Fixture::new();
    let text = example_with("\"10.0.0.3:7001\"]", "\"10.0.0.3\"]").replacen(
        "grpc = \"10.0.0.2:7001\"",
        "grpc = \"10.0.0.2:0\"",
        1,
    );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "gossip.seeds[1]", "not host:port");
    assert_problem(&result, "consensus.voters[1].grpc", "port 0");
}

#[test]
fn a_missing_tls_file_names_its_key() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.tls_dir().join("n1.key")).unwrap();
    let result = fx.load(EXAMPLE, &[]);
    assert_problem(&result, "tls.key", "no such file");
    let text = example_with("ca = \"tls/ca.pem\"", "ca = \"tls/nowhere.pem\"");
    assert_problem(&fx.load(&text, &[]), "tls.ca", "nowhere.pem");
}

#[test]
fn a_file_that_is_not_pem_names_its_key() {
    let fx = Fixture::new();
    std::fs::write(fx.tls_dir().join("n1.pem"), "not a certificate").unwrap();
    assert_problem(&fx.load(EXAMPLE, &[]), "tls.cert", "CERTIFICATE");
}

#[test]
fn a_certificate_for_another_node_cluster_or_role_is_refused() {
    let fx = Fixture::new();
    fx.issue("n2", "us-west", Role::Learner, "n1");
    let result = fx.load(EXAMPLE, &[]);
    assert_problem(
        &result,
        "tls.cert",
        "certificate is for node.id n2, but node.id is n1",
    );
    assert_problem(
        &result,
        "tls.cert",
        "certificate is for node.cluster us-west, but node.cluster is us-east",
    );
    assert_problem(
        &result,
        "tls.cert",
        "certificate is for node.role learner, but node.role is voter",
    );
    let Err(errors) = result else { unreachable!() };
    let mismatches = errors
        .problems
        .iter()
        .filter(|p| matches!(p, ConfigError::IdentityMismatch { .. }))
        .count();
    assert_eq!(mismatches, 3);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let fx = Fixture::new();
    let other = MeshCa::generate("someone else's CA").unwrap();
    Fixture::issue_with(&other, &fx.tls_dir(), "n1", "us-east", Role::Voter, "n1");
    assert_problem(
        &fx.load(EXAMPLE, &[]),
        "tls.cert",
        "does not verify against tls.ca",
    );
}

#[test]
fn a_voter_must_list_itself_and_a_learner_must_not() {
    let fx = Fixture::new();
    fx.issue("n4", "us-east", Role::Voter, "n4");
    let text = example_with("id = \"n1\"", "id = \"n4\"")
        .replacen("tls/n1.pem", "tls/n4.pem", 1)
        .replacen("tls/n1.key", "tls/n4.key", 1)
        .replacen("# advertise_grpc", "advertise_grpc", 1);
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.voters",
        "does not include this node (n4)",
    );
    fx.issue("n1", "us-east", Role::Learner, "n1");
    let text = example_with("role = \"voter\"", "role = \"learner\"");
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.voters",
        "includes this node (n1)",
    );
}

#[test]
fn a_repeated_voter_id_or_address_is_refused() {
    let fx = Fixture::new();
    let text = example_with("{ id = \"n3\"", "{ id = \"n2\"");
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.voters[2].id",
        "listed twice",
    );
    let text = example_with("grpc = \"10.0.0.3:7001\"", "grpc = \"10.0.0.2:7001\"");
    assert_problem(
        &fx.load(&text, &[]),
        "consensus.voters[2].grpc",
        "already the address of another voter",
    );
}

#[test]
fn a_cluster_without_voters_is_refused() {
    let fx = Fixture::new();
    let start = EXAMPLE.find("voters = [").unwrap();
    let end = start + EXAMPLE[start..].find("]\n").unwrap() + 2;
    let text = format!("{}voters = []\n{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    assert_problem(&fx.load(&text, &[]), "consensus.voters", "missing");
}

#[test]
fn an_unroutable_listen_address_needs_an_advertised_one() {
    let fx = Fixture::new();
    fx.issue("n4", "us-east", Role::Learner, "n4");
    let text = example_with("id = \"n1\"", "id = \"n4\"")
        .replacen("role = \"voter\"", "role = \"learner\"", 1)
        .replacen("tls/n1.pem", "tls/n4.pem", 1)
        .replacen("tls/n1.key", "tls/n4.key", 1);
    assert_problem(&fx.load(&text, &[]), "listen.advertise_grpc", "missing");
    let c = loaded(fx.load(
        &text.replacen(
            "# advertise_grpc = \"10.0.0.1:7001\"",
            "advertise_grpc = \"n4.internal:7001\"",
            1,
        ),
        &[],
    ))
    .config;
    assert_eq!(c.listen.advertise_grpc.to_string(), "n4.internal:7001");
}

#[test]
fn thresholds_and_sizes_must_be_positive_and_consistent() {
    let fx = Fixture::new();
    let text = example_with("max_lag_entries = 10000", "max_lag_entries = 0")
        .replacen("catch_up_timeout_s = 10", "catch_up_timeout_s = 0", 1)
        .replacen("batch_max_events = 1024", "batch_max_events = 0", 1)
        .replacen("lag_ceiling_entries = 100000", "lag_ceiling_entries = 0", 1)
        .replacen(
            "max_payload_bytes = 1048576",
            "max_payload_bytes = 8388608",
            1,
        )
        .replacen("segment_bytes = 67108864", "segment_bytes = 100", 1)
        .replacen(
            "reorder_window_events_per_origin = 16384",
            "reorder_window_events_per_origin = 100000",
            1,
        );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "failover.max_lag_entries", "greater than 0");
    assert_problem(&result, "failover.catch_up_timeout_s", "greater than 0");
    assert_problem(&result, "replication.batch_max_events", "greater than 0");
    assert_problem(
        &result,
        "auto_failover.lag_ceiling_entries",
        "greater than 0",
    );
    assert_problem(
        &result,
        "api.max_payload_bytes",
        "exceeds api.max_body_bytes",
    );
    assert_problem(&result, "storage.segment_bytes", "at least");
    assert_problem(
        &result,
        "replication.reorder_window_events_per_origin",
        "exceeds replication.reorder_window_events",
    );
    // Zero cooldown is a choice, not a mistake.
    let text = example_with("cooldown_s = 60", "cooldown_s = 0");
    assert_eq!(
        loaded(fx.load(&text, &[])).config.failover.cooldown,
        Duration::ZERO
    );
}

/// ARCHITECTURE.md, "Automatic failover": the detection window must not fire on what is
/// only a leader election inside the active cluster.
#[test]
fn auto_failover_detection_must_outlast_a_leader_election() {
    let fx = Fixture::new();
    let text = example_with("enabled = false", "enabled = true").replacen(
        "detection_window_ms = 2000",
        "detection_window_ms = 300",
        1,
    );
    assert_problem(
        &fx.load(&text, &[]),
        "auto_failover.detection_window_ms",
        "must exceed consensus.election_timeout_max_ms (300)",
    );
    let text = example_with("enabled = false", "enabled = true");
    let c = loaded(fx.load(&text, &[])).config;
    assert!(c.auto_failover.enabled);
    assert_eq!(c.auto_failover.detection_window, Duration::from_secs(2));
}

#[test]
fn gossip_overrides_apply_on_top_of_the_profile() {
    let fx = Fixture::new();
    let text = example_with("profile = \"lan\"", "profile = \"wan\"")
        .replacen("# gossip_nodes = 3", "gossip_nodes = 6", 1)
        .replacen("# tombstone_ttl_s = 120", "tombstone_ttl_s = 600", 1);
    let timing = loaded(fx.load(&text, &[])).config.gossip.timing;
    assert_eq!(
        timing,
        GossipConfig {
            gossip_nodes: 6,
            tombstone_ttl: Duration::from_secs(600),
            ..GossipConfig::wan()
        }
    );
    let text = example_with("# probe_timeout_ms = 500", "probe_timeout_ms = 1000");
    assert_problem(
        &fx.load(&text, &[]),
        "gossip.probe_timeout_ms",
        "shorter than",
    );
    let text = example_with("profile = \"lan\"", "profile = \"lan-fast\"");
    assert_problem(&fx.load(&text, &[]), "gossip.profile", "lan-fast");
}

#[test]
fn every_meaning_problem_is_reported_in_one_pass() {
    let fx = Fixture::new();
    let text = example_with("heartbeat_ms = 50", "heartbeat_ms = 0")
        .replacen(
            "control = \"127.0.0.1:9090\"",
            "control = \"127.0.0.1:7001\"",
            1,
        )
        .replacen("profile = \"lan\"", "profile = \"x\"", 1)
        .replacen("max_lag_s = 5", "max_lag_s = 0", 1)
        .replacen("max_body_bytes = 4194304", "max_body_bytes = 0", 1);
    let Err(errors) = fx.load(&text, &[]) else {
        panic!("accepted")
    };
    for key in [
        "consensus.heartbeat_ms",
        "listen.control",
        "gossip.profile",
        "failover.max_lag_s",
        "api.max_body_bytes",
    ] {
        assert!(errors.names(key), "{key} not reported in:\n{errors}");
    }
    // One line per problem, each starting with its key.
    let text = errors.to_string();
    assert_eq!(text.lines().count(), errors.problems.len());
    for (line, problem) in text.lines().zip(&errors.problems) {
        assert!(line.starts_with(&problem.key()), "{line}");
    }
}

#[test]
fn invalid_toml_names_the_line() {
    let fx = Fixture::new();
    let text = example_with("heartbeat_ms = 50", "heartbeat_ms = = 50");
    let Err(errors) = fx.load(&text, &[]) else {
        panic!("accepted")
    };
    let line = EXAMPLE
        .lines()
        .position(|l| l.starts_with("heartbeat_ms"))
        .unwrap()
        + 1;
    assert!(
        matches!(&errors.problems[..], [ConfigError::Syntax { line: l, .. }] if *l == line),
        "{errors:?}"
    );
    assert!(errors.to_string().contains(&format!("node.toml:{line}:")));
}

#[test]
fn an_unreadable_file_is_one_problem_naming_the_path() {
    let fx = Fixture::new();
    let path = fx.dir.path().join("absent.toml");
    let errors = omnirelay_io::config::load(&path, &Default::default()).unwrap_err();
    assert!(errors.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn an_invalid_node_section_does_not_hide_other_problems() {
    let fx = Fixture::new();
    let other = MeshCa::generate("someone else's CA").unwrap();
    Fixture::issue_with(&other, &fx.tls_dir(), "n1", "us-east", Role::Voter, "n1");
    let text = example_with("cluster = \"us-east\"", "cluster = \"US\"").replacen(
        "batch_max_events = 1024",
        "batch_max_events = 0",
        1,
    );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "node.cluster", "US");
    assert_problem(&result, "replication.batch_max_events", "greater than 0");
    assert_problem(&result, "tls.cert", "does not verify against tls.ca");
}

/// A key that does not belong to the certificate fails at bind time; validation must say so
/// first, naming `tls.key` (found by review).
#[test]
fn a_private_key_that_does_not_match_the_certificate_is_refused() {
    let fx = Fixture::new();
    fx.issue("n1", "us-east", Role::Voter, "other");
    std::fs::copy(fx.tls_dir().join("other.key"), fx.tls_dir().join("n1.key")).unwrap();
    let result = fx.load(EXAMPLE, &[]);
    assert_problem(&result, "tls.key", "does not work with tls.cert");
}

/// A batch larger than the receiver's gRPC decode limit would be refused on every send and
/// stall replication (found by review).
#[test]
fn a_replication_batch_must_fit_in_one_grpc_message() {
    let fx = Fixture::new();
    let text = EXAMPLE.replace("batch_max_bytes = 1048576", "batch_max_bytes = 8388608");
    assert_ne!(text, EXAMPLE, "the example sets batch_max_bytes");
    let result = fx.load(&text, &[]);
    assert_problem(
        &result,
        "replication.batch_max_bytes",
        "exceeds the gRPC message limit",
    );
}

/// The example with its commented `[mesh]` section switched on.
fn example_with_mesh() -> String {
    let (head, mesh) = EXAMPLE
        .split_once("# [mesh]")
        .expect("the example documents [mesh]");
    let mesh: String = format!("# [mesh]{mesh}")
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .filter(|l| !l.starts_with('#') && !l.starts_with("Every ") && !l.starts_with("cluster's"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{head}\n{mesh}\n")
}

#[test]
fn the_example_mesh_validates_and_maps_to_the_core_topology() {
    let fx = Fixture::new();
    let config = loaded(fx.load(&example_with_mesh(), &[])).config;
    let mesh = config.mesh.as_ref().expect("[mesh] read");
    assert_eq!(mesh.clusters.len(), 2);
    assert_eq!(mesh.witnesses.len(), 1);
    let core = config.core_config().expect("maps to core");
    assert_eq!(core.id, NodeId(1));
    let topology = &core.topology;
    assert_eq!(topology.failover_version_increment, 10);
    assert_eq!(topology.control_voters, mesh.control_voters);
    assert_eq!(topology.witnesses.len(), 1);
    let east = topology
        .cluster(&omnirelay_core::ClusterId::new("us-east").unwrap())
        .expect("us-east");
    assert_eq!(east.nodes, vec![NodeId(1), NodeId(2), NodeId(3)]);
    assert_eq!(east.endpoints[0], "http://10.0.0.1:8080");
    assert_eq!(east.initial_failover_version, 1);
    assert_eq!(core.cluster_election.min(), Duration::from_millis(150));
}

#[test]
fn a_mesh_without_a_mesh_section_is_refused_by_the_node_naming_the_key() {
    let fx = Fixture::new();
    let config = loaded(fx.load(EXAMPLE, &[])).config;
    let problem = config.core_config().expect_err("a node needs [mesh]");
    assert!(
        problem.to_string().starts_with("mesh: missing"),
        "{problem}"
    );
}

#[test]
fn mesh_problems_are_all_reported_naming_their_keys() {
    let fx = Fixture::new();
    let text = example_with_mesh()
        .replace("active = \"us-east\"", "active = \"mars\"")
        .replace(
            "{ id = \"n5\", grpc = \"10.1.0.2:7001\"",
            "{ id = \"n4\", grpc = \"10.1.0.2:7001\"",
        )
        .replace(
            "initial_failover_version = 2",
            "initial_failover_version = 1",
        )
        .replace(
            "control_voters = [\"n1\", \"n4\", \"n7\"]",
            "control_voters = [\"n1\", \"n9\"]",
        )
        .replace(
            "{ id = \"n3\", grpc = \"10.0.0.3:7001\", http = \"10.0.0.3:8080\" }",
            "{ id = \"n3\", grpc = \"10.0.0.3:7001\", http = \"10.0.0.3:8080\", zone = \"b\" }",
        );
    let result = fx.load(&text, &[]);
    assert_problem(&result, "mesh.clusters[0].nodes[2].zone", "unknown key");
    let result = fx.load(&text.replace(", zone = \"b\"", ""), &[]);
    assert_problem(
        &result,
        "mesh.namespaces[0].active",
        "mars is not a cluster",
    );
    assert_problem(&result, "mesh.clusters[1].nodes[1].id", "n4 appears twice");
    assert_problem(
        &result,
        "mesh.clusters[1].initial_failover_version",
        "also mesh.clusters[0]",
    );
    assert_problem(&result, "mesh.control_voters[1]", "n9 is neither");
}

#[test]
fn this_node_must_be_in_the_mesh_where_its_node_section_says() {
    let fx = Fixture::new();
    let moved = example_with_mesh().replacen(
        "{ id = \"n1\", grpc = \"10.0.0.1:7001\", http = \"10.0.0.1:8080\" },",
        "",
        1,
    );
    let result = fx.load(&moved, &[]);
    assert_problem(&result, "node.id", "n1 is not a node of any cluster");
    let renamed = example_with_mesh()
        .replace("id = \"us-east\"", "id = \"us-east-2\"")
        .replace("active = \"us-east\"", "active = \"us-east-2\"");
    assert_problem(
        &fx.load(&renamed, &[]),
        "node.cluster",
        "in cluster us-east-2",
    );
    let other_voters = example_with_mesh().replace(
        "{ id = \"n3\", grpc = \"10.0.0.3:7001\", http",
        "{ id = \"n8\", grpc = \"10.0.0.3:7001\", http",
    );
    assert_problem(
        &fx.load(&other_voters, &[]),
        "consensus.voters",
        "mesh.clusters gives cluster us-east the nodes n1, n2, n8",
    );
}

#[test]
fn mesh_lists_can_be_overridden_from_the_environment_except_clusters() {
    let fx = Fixture::new();
    let config = loaded(fx.load(
        &example_with_mesh(),
        &[
            (
                "OMNIRELAY_MESH_NAMESPACES",
                "orders=eu-west,billing=us-east",
            ),
            ("OMNIRELAY_MESH_CONTROL_VOTERS", "n1,n2,n4"),
        ],
    ))
    .config;
    let mesh = config.mesh.expect("[mesh]");
    assert_eq!(mesh.namespaces.len(), 2);
    assert_eq!(mesh.namespaces[0].1.as_str(), "eu-west");
    assert_eq!(mesh.control_voters, vec![NodeId(1), NodeId(2), NodeId(4)]);
    let result = fx.load(&example_with_mesh(), &[("OMNIRELAY_MESH_CLUSTERS", "x")]);
    assert_problem(&result, "OMNIRELAY_MESH_CLUSTERS", "set it in the file");
}
