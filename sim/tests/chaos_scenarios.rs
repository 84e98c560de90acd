//! `scenarios/*.toml` load, and a bad file is refused naming the file and the key (issue
//! #8: "Scenarios are data").

use std::path::{Path, PathBuf};

use omnirelay_sim::chaos::scenario::{FailoverMode, Fault, Scenario, ScenarioError};
use omnirelay_sim::chaos::timeline::fault_windows;

const SHIPPED: [&str; 8] = [
    "region-kill",
    "planned-failover-under-load",
    "partition-heal",
    "lag-spike",
    "crash-restart-loop",
    "disk-fault",
    "flapping-link",
    "old-active-returns",
];

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn shipped(name: &str) -> (PathBuf, String) {
    let path = scenarios_dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn every_shipped_scenario_loads_with_the_standard_topology() {
    let mut found: Vec<String> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        // The regression list lives beside the scenarios; it is not one.
        .filter(|path| path.file_stem().is_some_and(|s| s != "regressions"))
        .map(|path| {
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert_eq!(scenario.name, stem, "a scenario is named after its file");
            stem
        })
        .collect();
    found.sort();
    let mut expected: Vec<String> = SHIPPED.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected);

    for name in SHIPPED {
        let (path, _) = shipped(name);
        let scenario = Scenario::load(&path).unwrap();
        let topology = &scenario.topology;
        // 3 clusters x 3 nodes + a witness, 50 ms between regions, 1 ms inside.
        assert_eq!(topology.clusters.len(), 3, "{name}");
        assert!(topology.clusters.iter().all(|c| c.nodes == 3), "{name}");
        assert_eq!(topology.witnesses, 1, "{name}");
        assert_eq!(scenario.node_names().len(), 10, "{name}");
        assert_eq!(topology.rtt_between_ms, 50.0, "{name}");
        assert_eq!(topology.rtt_inside_ms, 1.0, "{name}");
        assert_eq!(scenario.workload.writes_per_s, 1000.0, "{name}");
        assert!(!scenario.faults.is_empty(), "{name} injects something");
        assert!(!scenario.invariants.is_empty(), "{name} checks something");
        assert!(!scenario.slos.is_empty(), "{name} asserts an SLO");
    }
}

#[test]
fn shipped_scenarios_inject_what_their_names_say() {
    let kinds = |name: &str| -> Vec<&'static str> {
        let (path, _) = shipped(name);
        Scenario::load(&path)
            .unwrap()
            .faults
            .iter()
            .map(Fault::kind)
            .collect()
    };
    assert!(kinds("region-kill").contains(&"region_kill"));
    assert!(kinds("partition-heal").contains(&"partition"));
    assert!(kinds("partition-heal").contains(&"heal"));
    assert!(kinds("lag-spike").contains(&"hold_link"));
    assert!(kinds("crash-restart-loop").contains(&"restart"));
    assert!(kinds("disk-fault").contains(&"disk_fault"));
    assert!(kinds("disk-fault").contains(&"slow_disk"));
    assert!(kinds("flapping-link").contains(&"one_way_partition"));
    assert!(kinds("flapping-link").contains(&"packet_loss"));
    let (path, _) = shipped("planned-failover-under-load");
    let planned = Scenario::load(&path).unwrap();
    assert!(planned.faults.iter().all(|f| matches!(
        f,
        Fault::Failover {
            mode: FailoverMode::Planned,
            ..
        }
    )));
    let (path, _) = shipped("old-active-returns");
    let returns = Scenario::load(&path).unwrap();
    assert!(returns.faults.iter().any(|f| matches!(
        f,
        Fault::Failover {
            mode: FailoverMode::Emergency,
            ..
        }
    )));
    // The region kill is one window, from the kill to the restart.
    let (path, _) = shipped("region-kill");
    let windows = fault_windows(&Scenario::load(&path).unwrap());
    assert_eq!(windows.len(), 1);
    assert_eq!((windows[0].from_s, windows[0].to_s), (20.0, 60.0));
}

/// Parses `text` as if it were `scenarios/bad.toml`; returns the (key, message) it is
/// refused with, and checks the error names the file.
fn refusal(text: &str) -> (String, String) {
    let file = Path::new("scenarios/bad.toml");
    let error = Scenario::parse(text, file).expect_err("the file is refused");
    let shown = error.to_string();
    assert!(
        shown.starts_with("scenarios/bad.toml"),
        "names the file: {shown}"
    );
    match error {
        ScenarioError::Invalid { key, message, .. } => (key, message),
        other => panic!("expected an invalid key, got {other}"),
    }
}

fn region_kill_with(from: &str, to: &str) -> String {
    let (_, text) = shipped("region-kill");
    assert!(text.contains(from), "the edit applies");
    text.replacen(from, to, 1)
}

#[test]
fn an_unknown_key_is_refused_naming_it() {
    let text = region_kill_with(
        "payload_bytes = 256",
        "payload_bytes = 256\npayload_size = 9",
    );
    let (key, message) = refusal(&text);
    assert_eq!(key, "workload.payload_size");
    assert!(message.contains("unknown field"), "{message}");

    let text = region_kill_with(
        "cluster = \"us-east\"",
        "cluster = \"us-east\"\nnode = \"x\"",
    );
    let (key, message) = refusal(&text);
    assert_eq!(key, "faults[0].node");
    assert!(message.contains("unknown field `node`"), "{message}");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_naming_its_key() {
    let text = region_kill_with("nodes = 3", "nodes = \"three\"");
    let (key, _) = refusal(&text);
    assert_eq!(key, "topology.clusters[0].nodes");
}

#[test]
fn a_missing_key_is_refused_naming_it() {
    let text = region_kill_with("payload_bytes = 256\n", "");
    let (key, _) = refusal(&text);
    assert_eq!(key, "workload.payload_bytes");
}

#[test]
fn an_unknown_fault_kind_is_refused() {
    let text = region_kill_with("kind = \"region_kill\"", "kind = \"meteor\"");
    let (key, message) = refusal(&text);
    assert!(key.starts_with("faults[0]"), "{key}");
    assert!(message.contains("meteor"), "{message}");
}

#[test]
fn values_that_name_nothing_or_are_out_of_range_are_refused_naming_the_key() {
    let cases = [
        (
            "cluster = \"us-east\"",
            "cluster = \"mars\"",
            "faults[0].cluster",
        ),
        ("at_s = 60", "at_s = 10", "faults[1].at_s"),
        ("at_s = 60", "at_s = 600", "faults[1].at_s"),
        ("nodes = 3", "nodes = 0", "topology.clusters[0].nodes"),
        (
            "rtt_between_ms = 50",
            "rtt_between_ms = -1",
            "topology.rtt_between_ms",
        ),
        (
            "active = \"us-east\"",
            "active = \"mars\"",
            "workload.active",
        ),
        ("\"one_leader_per_term\"", "\"one_leader\"", "invariants[0]"),
        (
            "name = \"failover_to_first_write\"",
            "name = \"speed\"",
            "slos[0].name",
        ),
        ("p99_s = 3", "p99_s = 300", "slos[0].p99_s"),
        (
            "namespaces = [\"orders\",",
            "namespaces = [\"Orders!\",",
            "workload.namespaces[0]",
        ),
    ];
    for (from, to, expected) in cases {
        let (key, message) = refusal(&region_kill_with(from, to));
        assert_eq!(key, expected, "{to}: {message}");
    }
}

#[test]
fn fault_arguments_are_checked_against_the_topology() {
    let (_, base) = shipped("region-kill");
    let with_fault = |fault: &str| {
        base.replacen(
            "[[faults]]\nat_s = 20\nkind = \"region_kill\"\ncluster = \"us-east\"",
            fault,
            1,
        )
    };
    let cases = [
        (
            "[[faults]]\nat_s = 1\nkind = \"crash\"\nnode = \"us-east-4\"",
            "faults[0].node",
        ),
        (
            "[[faults]]\nat_s = 1\nkind = \"partition\"\na = \"us-east\"\nb = \"us-east-2\"",
            "faults[0].b",
        ),
        (
            "[[faults]]\nat_s = 1\nkind = \"packet_loss\"\nrate = 1.5",
            "faults[0].rate",
        ),
        (
            "[[faults]]\nat_s = 1\nkind = \"hold_link\"\na = \"us-east\"\nb = \"eu-west\"\nfor_s = 0",
            "faults[0].for_s",
        ),
        (
            "[[faults]]\nat_s = 1\nkind = \"failover\"\nnamespace = \"carts\"\nto = \"eu-west\"\nmode = \"planned\"",
            "faults[0].namespace",
        ),
        (
            "[[faults]]\nat_s = 1\nkind = \"one_way_partition\"\nfrom = \"witness-2\"\nto = \"eu-west\"",
            "faults[0].from",
        ),
    ];
    for (fault, expected) in cases {
        let text = with_fault(fault);
        assert_ne!(text, base, "the edit applies");
        let (key, message) = refusal(&text);
        assert_eq!(key, expected, "{fault}: {message}");
    }
    // And the same shapes, naming real things, load.
    let fine = with_fault(
        "[[faults]]\nat_s = 1\nkind = \"one_way_partition\"\nfrom = \"witness-1\"\nto = \"eu-west-2\"",
    );
    Scenario::parse(&fine, Path::new("fine.toml")).unwrap();
}

#[test]
fn a_file_that_is_not_toml_is_refused_with_its_line() {
    let error = Scenario::parse(
        "name = \"x\"\nduration_s = = 3\n",
        Path::new("scenarios/bad.toml"),
    )
    .expect_err("refused");
    match error {
        ScenarioError::Syntax { line, .. } => assert_eq!(line, 2),
        other => panic!("expected a syntax error, got {other}"),
    }
}
