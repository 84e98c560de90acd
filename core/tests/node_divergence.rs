//! `/control/state-diff`'s divergent namespaces: clusters that applied the same events
//! (equal version vectors) must hold the same contents (ARCHITECTURE.md, invariant 7); the
//! control voters compare the digests the cluster leaders report.

use omnirelay_core::consensus::Term;
use omnirelay_core::node::{ClusterStatus, divergences};
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};

fn cluster(name: &str) -> ClusterId {
    ClusterId::new(name).expect("cluster")
}

fn ns(name: &str) -> NamespaceId {
    NamespaceId::new(name).expect("namespace")
}

fn status(name: &str, vv: &str, digests: &[(&str, u64)]) -> ClusterStatus {
    versioned(
        name,
        vv,
        &digests.iter().map(|(n, d)| (*n, 1, *d)).collect::<Vec<_>>(),
    )
}

fn versioned(name: &str, vv: &str, digests: &[(&str, u64, u64)]) -> ClusterStatus {
    ClusterStatus {
        cluster: cluster(name),
        leader: NodeId(1),
        term: Term(1),
        vv: vv.parse::<ClusterVersionVector>().expect("vv"),
        last_seq: 0,
        lags: Vec::new(),
        digests: digests
            .iter()
            .map(|(n, v, d)| (ns(n), FailoverVersion(*v), *d))
            .collect(),
        superseded: Vec::new(),
    }
}

#[test]
fn equal_version_vectors_with_different_digests_are_a_divergence_naming_every_digest() {
    let a = status("a", "a=5,b=2", &[("orders", 7), ("users", 9)]);
    let b = status("b", "a=5,b=2", &[("orders", 8), ("users", 9)]);
    let found = divergences([&b, &a]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].namespace, ns("orders"));
    assert_eq!(found[0].digests, vec![(cluster("a"), 7), (cluster("b"), 8)]);
    assert_eq!(found[0].applied.to_string(), "a=5,b=2");
}

#[test]
fn clusters_that_applied_different_events_are_not_compared() {
    // b has not applied a's 5th event yet: different digests are expected, not a divergence.
    let a = status("a", "a=5,b=2", &[("orders", 7)]);
    let b = status("b", "a=4,b=2", &[("orders", 8)]);
    assert!(divergences([&a, &b]).is_empty());
}

#[test]
fn a_namespace_one_cluster_never_applied_counts_as_digest_zero() {
    let a = status("a", "a=1", &[("orders", 7)]);
    let b = status("b", "a=1", &[]);
    let found = divergences([&a, &b]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digests, vec![(cluster("a"), 7), (cluster("b"), 0)]);
}

#[test]
fn agreeing_clusters_report_nothing_and_each_group_is_compared_on_its_own() {
    let a = status("a", "a=3", &[("orders", 1)]);
    let b = status("b", "a=3", &[("orders", 1)]);
    let c = status("c", "a=2", &[("orders", 5)]);
    let d = status("d", "a=2", &[("orders", 6)]);
    let found = divergences([&a, &b, &c, &d]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].digests, vec![(cluster("c"), 5), (cluster("d"), 6)]);
}

#[test]
fn clusters_under_different_placement_versions_are_not_compared() {
    // b has applied the emergency placement (version 2) that took back a's writes past the
    // cutoff; a has not applied it yet. Same VV, different digests, not a divergence.
    let a = versioned("a", "a=5", &[("orders", 1, 7)]);
    let b = versioned("b", "a=5", &[("orders", 2, 3)]);
    assert!(divergences([&a, &b]).is_empty());
}
