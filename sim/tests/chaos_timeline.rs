//! The timeline picture of a recorded run (issue #8, `replay --timeline t.svg`): a
//! well-formed SVG with one lane per cluster, one shaded rect per fault window, leader
//! ticks, and the lag and write-success curves.

use std::path::Path;

use omnirelay_sim::chaos::scenario::Scenario;
use omnirelay_sim::chaos::timeline::{
    FaultWindow, LeaderChange, NamespaceState, Sample, StateChange, Timeline, fault_windows,
    render_svg,
};

fn state(at_s: f64, cluster: &str, namespace: &str, state: NamespaceState) -> StateChange {
    StateChange {
        at_s,
        cluster: cluster.into(),
        namespace: namespace.into(),
        state,
    }
}

/// A region kill at 20 s healed at 60 s, with a planned move of `payments` at 70 s.
fn recorded_run() -> Timeline {
    use NamespaceState::*;
    let mut states = Vec::new();
    for namespace in ["orders", "payments"] {
        states.push(state(0.0, "us-east", namespace, Active));
        states.push(state(0.0, "eu-west", namespace, Passive));
        states.push(state(0.0, "ap-south", namespace, Passive));
        states.push(state(22.0, "eu-west", namespace, Active));
        states.push(state(61.0, "us-east", namespace, Fenced));
        states.push(state(65.0, "us-east", namespace, Passive));
    }
    states.push(state(70.0, "eu-west", "payments", Draining));
    states.push(state(71.0, "eu-west", "payments", Passive));
    states.push(state(71.0, "ap-south", "payments", Active));
    Timeline {
        title: "region-kill seed 7 trace 0123456789abcdef".into(),
        duration_s: 90.0,
        clusters: vec!["us-east".into(), "eu-west".into(), "ap-south".into()],
        namespaces: vec!["orders".into(), "payments".into()],
        states,
        leader_changes: vec![
            LeaderChange {
                at_s: 0.5,
                cluster: "us-east".into(),
                leader: "us-east-1".into(),
            },
            LeaderChange {
                at_s: 61.2,
                cluster: "us-east".into(),
                leader: "us-east-3".into(),
            },
        ],
        faults: vec![
            FaultWindow {
                from_s: 20.0,
                to_s: 60.0,
                label: "region kill us-east".into(),
            },
            FaultWindow {
                from_s: 40.0,
                to_s: 48.0,
                label: "hold link eu-west | ap-south".into(),
            },
            FaultWindow {
                from_s: 70.0,
                to_s: 70.0,
                label: "Planned failover payments -> ap-south".into(),
            },
        ],
        samples: (0..=90)
            .map(|t| Sample {
                at_s: f64::from(t),
                lag_s: if (20..60).contains(&t) { 0.0 } else { 0.05 },
                write_success: if (20..22).contains(&t) { 0.0 } else { 1.0 },
            })
            .collect(),
    }
}

fn with_class<'a>(
    doc: &'a roxmltree::Document<'a>,
    tag: &str,
    class: &str,
) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(tag) && n.attribute("class") == Some(class))
        .collect()
}

#[test]
fn timeline_is_well_formed_svg_with_a_lane_per_cluster_and_a_rect_per_fault() {
    let timeline = recorded_run();
    let svg = render_svg(&timeline);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));

    let lanes: Vec<&str> = with_class(&doc, "g", "lane")
        .iter()
        .filter_map(|g| g.attribute("data-cluster"))
        .collect();
    assert_eq!(
        lanes,
        ["us-east", "eu-west", "ap-south"],
        "one lane per cluster, in order"
    );

    let faults = with_class(&doc, "rect", "fault");
    assert_eq!(
        faults.len(),
        timeline.faults.len(),
        "one shaded rect per fault window"
    );
    // The region kill's window is 40/90 of the plot and lies after the 20 s mark.
    let width = |n: &roxmltree::Node<'_, '_>| n.attribute("width").unwrap().parse::<f64>().unwrap();
    let x = |n: &roxmltree::Node<'_, '_>| n.attribute("x").unwrap().parse::<f64>().unwrap();
    assert!(
        width(&faults[0]) > 4.0 * width(&faults[1]),
        "40 s is wider than 8 s"
    );
    assert!(x(&faults[1]) > x(&faults[0]));
    assert!(width(&faults[2]) > 0.0, "an instant still shows");

    let ticks = with_class(&doc, "line", "leader-change");
    assert_eq!(ticks.len(), 2, "one tick per leader change");
    assert!(
        ticks
            .iter()
            .all(|t| t.parent().and_then(|p| p.attribute("data-cluster")) == Some("us-east")),
        "ticks sit in their cluster's lane"
    );

    for class in ["lag", "write-success"] {
        let curve = with_class(&doc, "polyline", class);
        assert_eq!(curve.len(), 1, "one {class} curve");
        let points = curve[0]
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .count();
        assert_eq!(
            points,
            timeline.samples.len(),
            "a point per sample on {class}"
        );
    }
}

#[test]
fn lanes_are_coloured_by_namespace_state_over_time() {
    let svg = render_svg(&recorded_run());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let lane = with_class(&doc, "g", "lane")
        .into_iter()
        .find(|g| g.attribute("data-cluster") == Some("eu-west"))
        .unwrap();
    let states: Vec<&str> = lane
        .descendants()
        .filter(|n| n.attribute("class") == Some("state"))
        .filter_map(|n| n.attribute("data-state"))
        .collect();
    // orders: passive, active; payments: passive, active, draining, passive.
    assert_eq!(
        states,
        [
            "passive", "active", "passive", "active", "draining", "passive"
        ]
    );
}

#[test]
fn hostile_labels_are_escaped_and_the_svg_stays_well_formed() {
    let mut timeline = recorded_run();
    timeline.title = "<script>alert('x')</script> & \"quotes\" \u{1}".into();
    timeline.faults[0].label = "a < b & c > d".into();
    timeline.samples.push(Sample {
        at_s: f64::NAN,
        lag_s: f64::INFINITY,
        write_success: f64::NAN,
    });
    let svg = render_svg(&timeline);
    let doc = roxmltree::Document::parse(&svg).expect("still well-formed");
    assert!(doc.descendants().all(|n| !n.has_tag_name("script")));
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("text"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(title.starts_with("<script>alert('x')</script> & \"quotes\""));
}

#[test]
fn a_scenario_schedule_draws_one_window_per_fault() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/partition-heal.toml");
    let scenario = Scenario::load(&path).unwrap();
    let windows = fault_windows(&scenario);
    // Two partitions at 15 s, both lifted by the heal at 35 s.
    assert_eq!(windows.len(), 2);
    assert!(windows.iter().all(|w| (w.from_s, w.to_s) == (15.0, 35.0)));
    let timeline = Timeline {
        title: scenario.name.clone(),
        duration_s: scenario.duration_s,
        clusters: scenario
            .topology
            .clusters
            .iter()
            .map(|c| c.id.clone())
            .collect(),
        namespaces: scenario.workload.namespaces.clone(),
        faults: windows,
        ..Timeline::default()
    };
    let svg = render_svg(&timeline);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(with_class(&doc, "g", "lane").len(), 3);
    assert_eq!(with_class(&doc, "rect", "fault").len(), 2);
}

#[test]
fn the_same_run_draws_the_same_bytes() {
    assert_eq!(render_svg(&recorded_run()), render_svg(&recorded_run()));
}
