//! The mesh layouts and the named scenarios of the model simulator (issue #5).

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::failover::{FailoverKind, FailoverRequest};
use omnirelay_core::node::{ClusterSpec, OperatorRequest, Topology};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};

/// Which mesh to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Three clusters of three nodes plus one witness.
    ThreeClusters,
    /// Two clusters of three nodes plus one witness.
    TwoClusters,
}

/// The cluster names, in order.
pub const CLUSTERS: [&str; 3] = ["us-east", "eu-west", "ap-south"];
/// The witness node.
pub const WITNESS: NodeId = NodeId(10);
/// The model client.
pub const CLIENT: NodeId = NodeId(100);
/// The namespace every scenario moves.
pub const MOVED: &str = "ns-0";

fn cluster_id(i: usize) -> ClusterId {
    ClusterId::new(CLUSTERS[i]).unwrap_or_else(|_| unreachable!("constant names are valid"))
}

fn namespace(name: &str) -> NamespaceId {
    NamespaceId::new(name).unwrap_or_else(|_| unreachable!("constant names are valid"))
}

impl Layout {
    /// The topology: clusters of nodes 1-3, 4-6 (and 7-9), witness 10; the control group is
    /// the first node of each cluster plus the witness; `ns-0`, `ns-1` start on us-east,
    /// `ns-2` on eu-west, `ns-3` on the last cluster.
    pub fn topology(self) -> Arc<Topology> {
        let count = match self {
            Layout::ThreeClusters => 3,
            Layout::TwoClusters => 2,
        };
        let clusters: Vec<ClusterSpec> = (0..count)
            .map(|i| {
                let base = i as u64 * 3 + 1;
                ClusterSpec {
                    id: cluster_id(i),
                    region: format!("{}-1", CLUSTERS[i]),
                    priority: 10 - i as u32,
                    nodes: (base..base + 3).map(NodeId).collect(),
                    initial_failover_version: i as u64 + 1,
                    endpoints: vec![format!("{}.mesh.test:8080", CLUSTERS[i])],
                }
            })
            .collect();
        let mut control_voters: Vec<NodeId> = clusters.iter().map(|c| c.nodes[0]).collect();
        control_voters.push(WITNESS);
        let last = count - 1;
        Arc::new(Topology {
            clusters,
            witnesses: vec![WITNESS],
            control_voters,
            namespaces: vec![
                (namespace("ns-0"), cluster_id(0)),
                (namespace("ns-1"), cluster_id(0)),
                (namespace("ns-2"), cluster_id(1)),
                (namespace("ns-3"), cluster_id(last)),
            ],
            failover_version_increment: 10,
        })
    }

    /// Nodes of cluster `i`.
    pub fn nodes_of(self, i: usize) -> Vec<NodeId> {
        let base = i as u64 * 3 + 1;
        (base..base + 3).map(NodeId).collect()
    }
}

/// Something the scenario does at a moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Ask `via` (any node) for this operator request.
    Operator {
        /// The node that receives the request.
        via: NodeId,
        /// The request.
        request: OperatorRequest,
    },
    /// Crash these nodes (they keep their disks).
    Crash(Vec<NodeId>),
    /// Restart these nodes from their disks.
    Restart(Vec<NodeId>),
    /// Cut the network into these groups (nodes in no group keep their links).
    Partition(Vec<Vec<NodeId>>),
    /// Cut these one-way links.
    BlockOneWay(Vec<(NodeId, NodeId)>),
    /// Restore every link.
    Heal,
    /// Cancel the failover the last operator request started.
    CancelStarted {
        /// The node that receives the request.
        via: NodeId,
    },
}

/// A scenario: a layout, policies, a schedule, and what to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name.
    pub name: &'static str,
    /// The mesh.
    pub layout: Layout,
    /// Automatic failover on.
    pub auto_failover: bool,
    /// Planned failovers need an approver.
    pub require_approval: bool,
    /// The schedule, in time order.
    pub actions: Vec<(Duration, Action)>,
    /// When the workload stops (the run then settles until `end`).
    pub workload_until: Duration,
    /// The end of the run.
    pub end: Duration,
    /// The instant from which write unavailability of `ns-0` is measured.
    pub measure_from: Duration,
    /// A region kill at this instant: measure kill -> first write on another cluster.
    pub kill_at: Option<Duration>,
    /// What the scenario expects of the moved namespace at the end.
    pub expect: Expectation,
}

/// What must be true of `ns-0` at the end of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Active on this cluster index.
    ActiveOn(usize),
    /// Active anywhere but this cluster index.
    MovedAwayFrom(usize),
}

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

fn failover(kind: FailoverKind, to: Option<usize>) -> OperatorRequest {
    OperatorRequest::Failover {
        request: FailoverRequest {
            namespace: namespace(MOVED),
            target: to.map(cluster_id),
            kind,
            requested_by: "sre-on-call".into(),
            ticket: Some("CHG-1".into()),
            approver: None,
        },
        dry_run: false,
    }
}

/// Every scenario, by name.
pub fn all() -> Vec<Scenario> {
    let three = Layout::ThreeClusters;
    let a = three.nodes_of(0);
    let b = three.nodes_of(1);
    let c = three.nodes_of(2);
    let rest: Vec<NodeId> = b.iter().chain(&c).copied().chain([WITNESS]).collect();
    let via = b[0];
    let base = Scenario {
        name: "",
        layout: three,
        auto_failover: false,
        require_approval: false,
        actions: Vec::new(),
        workload_until: s(14.0),
        end: s(20.0),
        measure_from: s(5.0),
        kill_at: None,
        expect: Expectation::ActiveOn(1),
    };
    let hold_into_b: Vec<(NodeId, NodeId)> = a
        .iter()
        .chain(&c)
        .chain([&WITNESS])
        .flat_map(|x| b.iter().map(move |y| (*x, *y)))
        .filter(|(x, _)| *x != WITNESS)
        .collect();
    vec![
        Scenario {
            name: "planned-failover",
            actions: vec![(
                s(5.0),
                Action::Operator {
                    via,
                    request: failover(FailoverKind::Planned, Some(1)),
                },
            )],
            ..base.clone()
        },
        Scenario {
            name: "region-kill",
            auto_failover: true,
            actions: vec![(s(5.0), Action::Crash(a.clone()))],
            kill_at: Some(s(5.0)),
            expect: Expectation::MovedAwayFrom(0),
            ..base.clone()
        },
        Scenario {
            name: "region-kill-manual",
            actions: vec![
                (s(5.0), Action::Crash(a.clone())),
                (
                    s(7.0),
                    Action::Operator {
                        via,
                        request: failover(FailoverKind::Emergency { force: true }, Some(1)),
                    },
                ),
            ],
            kill_at: Some(s(5.0)),
            ..base.clone()
        },
        Scenario {
            name: "partition",
            auto_failover: true,
            actions: vec![
                (s(5.0), Action::Partition(vec![a.clone(), rest.clone()])),
                (s(10.0), Action::Heal),
            ],
            expect: Expectation::MovedAwayFrom(0),
            ..base.clone()
        },
        Scenario {
            name: "lag-spike",
            actions: vec![
                (s(4.0), Action::BlockOneWay(hold_into_b.clone())),
                (
                    s(6.0),
                    Action::Operator {
                        via,
                        request: failover(FailoverKind::Planned, Some(1)),
                    },
                ),
                (s(7.0), Action::Heal),
                (
                    s(10.0),
                    Action::Operator {
                        via,
                        request: failover(FailoverKind::Planned, Some(1)),
                    },
                ),
            ],
            measure_from: s(10.0),
            ..base.clone()
        },
        Scenario {
            name: "old-active-returns",
            auto_failover: true,
            actions: vec![
                (
                    s(5.0),
                    Action::Partition(vec![
                        a.iter().copied().chain([CLIENT]).collect(),
                        rest.clone(),
                    ]),
                ),
                (s(7.5), Action::Partition(vec![a.clone(), rest.clone()])),
                (s(11.0), Action::Heal),
            ],
            expect: Expectation::MovedAwayFrom(0),
            ..base.clone()
        },
        Scenario {
            name: "failback",
            actions: vec![
                (
                    s(4.0),
                    Action::Operator {
                        via,
                        request: failover(FailoverKind::Planned, Some(1)),
                    },
                ),
                (
                    s(9.0),
                    Action::Operator {
                        via,
                        request: failover(FailoverKind::Failback, None),
                    },
                ),
            ],
            measure_from: s(4.0),
            expect: Expectation::ActiveOn(0),
            ..base.clone()
        },
        Scenario {
            name: "migration-cancel",
            actions: vec![
                (s(4.0), Action::BlockOneWay(hold_into_b)),
                (
                    s(4.0),
                    Action::Operator {
                        via: c[0],
                        request: failover(FailoverKind::Migration, Some(1)),
                    },
                ),
                (s(5.0), Action::CancelStarted { via: c[0] }),
                (s(7.0), Action::Heal),
            ],
            expect: Expectation::ActiveOn(0),
            ..base.clone()
        },
        Scenario {
            name: "flapping-link",
            auto_failover: true,
            actions: (0..5)
                .flat_map(|i| {
                    let t = 5.0 + f64::from(i) * 1.2;
                    [
                        (s(t), Action::Partition(vec![a.clone(), rest.clone()])),
                        (s(t + 0.6), Action::Heal),
                    ]
                })
                .collect(),
            expect: Expectation::ActiveOn(0),
            ..base.clone()
        },
        Scenario {
            name: "planned-failover-2c",
            layout: Layout::TwoClusters,
            actions: vec![(
                s(5.0),
                Action::Operator {
                    via: Layout::TwoClusters.nodes_of(1)[0],
                    request: failover(FailoverKind::Planned, Some(1)),
                },
            )],
            ..base.clone()
        },
        Scenario {
            name: "region-kill-2c",
            layout: Layout::TwoClusters,
            auto_failover: true,
            actions: vec![(s(5.0), Action::Crash(a.clone()))],
            kill_at: Some(s(5.0)),
            expect: Expectation::MovedAwayFrom(0),
            ..base
        },
    ]
}

/// The scenario called `name`.
pub fn named(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}
