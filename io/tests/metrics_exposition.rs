//! `/metrics` speaks the Prometheus text format with every name of the observability
//! contract (ARCHITECTURE.md, "Observability contract"), checked with a real parser.

use omnirelay_core::{ClusterId, NamespaceId};
use omnirelay_io::metrics::{
    ClusterStateCode, FailoverOutcome, FailoverStateCode, GossipMessageOutcome, GossipStatus,
    METRIC_NAMES, Metrics, ReplicationStatusCode,
};

fn cluster(name: &str) -> ClusterId {
    ClusterId::new(name).expect("valid cluster id")
}

/// A node that has reported once through every setter.
fn reported_metrics() -> Metrics {
    let metrics = Metrics::new(cluster("eu-west")).expect("registry");
    let peer = cluster("us-east");
    let ns = NamespaceId::new("orders").expect("valid namespace");
    metrics.set_replication_lag(&peer, 1.5, 42);
    metrics.set_replication_status(&peer, ReplicationStatusCode::Degraded);
    metrics.set_gossip_members(GossipStatus::Alive, 9);
    metrics.observe_gossip_rtt(&peer, 48.0);
    metrics.add_gossip_messages(GossipMessageOutcome::Sent, 10);
    metrics.record_leadership_transition(180.0);
    metrics.record_split_brain();
    metrics.set_failover_state(&ns, FailoverStateCode::CatchUp);
    metrics.observe_failover_duration(&ns, FailoverOutcome::Succeeded, 0.8);
    metrics.set_cluster_state(&ns, ClusterStateCode::Active);
    metrics.add_replication_events(&peer, 1000, 3);
    metrics
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition parses as Prometheus text")
}

#[test]
fn every_contract_metric_is_exposed_with_its_type_and_help() {
    let text = reported_metrics().render().expect("render");
    let scrape = parse(&text);
    for name in METRIC_NAMES {
        let help = scrape.docs.get(name);
        assert!(
            help.is_some_and(|h| !h.is_empty()),
            "{name} has no HELP line"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "{name} has no TYPE line"
        );
        // Histograms are exposed as name_bucket/_sum/_count samples.
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == name || s.metric.starts_with(&format!("{name}_"))),
            "{name} has no sample"
        );
    }
}

#[test]
fn contract_types_match_what_each_name_promises() {
    let text = reported_metrics().render().expect("render");
    let typed = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# TYPE {name} ")))
            .map(str::to_owned)
    };
    for name in METRIC_NAMES {
        let expected = if name.ends_with("_total") {
            "counter"
        } else if name.ends_with("_ms") || name == "mesh_failover_duration_seconds" {
            "histogram"
        } else {
            "gauge"
        };
        assert_eq!(typed(name).as_deref(), Some(expected), "{name}");
    }
}

#[test]
fn replication_lag_is_labelled_by_cluster_and_peer_cluster_only() {
    let text = reported_metrics().render().expect("render");
    let scrape = parse(&text);
    let lag = scrape
        .samples
        .iter()
        .find(|s| s.metric == "mesh_replication_lag_entries")
        .expect("lag sample");
    assert_eq!(lag.labels.get("cluster"), Some("eu-west"));
    assert_eq!(lag.labels.get("peer_cluster"), Some("us-east"));
    assert_eq!(lag.labels.iter().count(), 2, "no high-cardinality labels");
    match lag.value {
        prometheus_parse::Value::Gauge(v) => assert_eq!(v, 42.0),
        ref other => panic!("lag entries is not a gauge: {other:?}"),
    }
}

#[test]
fn a_fresh_node_already_exposes_its_own_cluster_series_at_zero() {
    let metrics = Metrics::new(cluster("eu-west")).expect("registry");
    let scrape = parse(&metrics.render().expect("render"));
    for name in ["mesh_leadership_split_brain_total", "mesh_gossip_members"] {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{name} missing before any report"));
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected {other:?}"),
        };
        assert_eq!(value, 0.0, "{name}");
    }
}

#[test]
fn two_nodes_in_one_process_keep_separate_registries() {
    let a = Metrics::new(cluster("eu-west")).expect("registry a");
    let b = Metrics::new(cluster("us-east")).expect("registry b");
    a.record_split_brain();
    let text_b = b.render().expect("render");
    assert!(!text_b.contains("eu-west"), "b leaked a's series: {text_b}");
}
