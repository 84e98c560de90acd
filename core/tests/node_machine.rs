//! The composite node (ARCHITECTURE.md, `core::node`): bootstrap, client writes and their
//! refusals, replication between clusters, operator forwarding, and the cluster log's
//! fencing and quarantine rules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::Machine;
use omnirelay_core::node::{
    ClientWrite, ClusterCommand, ClusterData, ClusterSpec, Node, NodeConfig, NodeError, NodeEvent,
    NodeMessage, OperatorReply, OperatorRequest, Restored, Topology, TopologyError, WriteCommand,
    WriteOutcome, WriteRefusal, decode, encode,
};
use omnirelay_core::registry::{ChangeMetadata, NamespacePlacement, PlacementState};
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion, Lag, Placement};
use omnirelay_core::{ClusterId, Instant, NamespaceId, NodeId};

fn cid(s: &str) -> ClusterId {
    ClusterId::new(s).unwrap()
}

fn ns(s: &str) -> NamespaceId {
    NamespaceId::new(s).unwrap()
}

/// Two clusters of three (1-3 `east`, 4-6 `west`) and witness 7; `orders` lives on east.
fn topology() -> Arc<Topology> {
    Arc::new(Topology {
        clusters: vec![
            ClusterSpec {
                id: cid("east"),
                region: "east-1".into(),
                priority: 2,
                nodes: vec![NodeId(1), NodeId(2), NodeId(3)],
                initial_failover_version: 1,
                endpoints: vec!["east:8080".into()],
            },
            ClusterSpec {
                id: cid("west"),
                region: "west-1".into(),
                priority: 1,
                nodes: vec![NodeId(4), NodeId(5), NodeId(6)],
                initial_failover_version: 2,
                endpoints: vec!["west:8080".into()],
            },
        ],
        witnesses: vec![NodeId(7)],
        control_voters: vec![NodeId(1), NodeId(4), NodeId(7)],
        namespaces: vec![(ns("orders"), cid("east"))],
        failover_version_increment: 10,
    })
}

/// A small deterministic driver: 5 ms between any two nodes, fsync completes at once.
struct Mesh {
    now: Instant,
    nodes: BTreeMap<NodeId, Node>,
    queue: BTreeMap<(Instant, u64), (NodeId, NodeId, NodeMessage)>,
    seq: u64,
    events: Vec<(NodeId, NodeEvent)>,
}

impl Mesh {
    fn new() -> Self {
        let topology = topology();
        let nodes = topology
            .all_nodes()
            .map(|id| {
                let config = NodeConfig::new(id, topology.clone());
                (
                    id,
                    Node::new(config, Restored::default(), id.0 * 7919, Instant::ZERO).unwrap(),
                )
            })
            .collect();
        Mesh {
            now: Instant::ZERO,
            nodes,
            queue: BTreeMap::new(),
            seq: 0,
            events: Vec::new(),
        }
    }

    fn drain(&mut self, id: NodeId) {
        loop {
            let node = self.nodes.get_mut(&id).unwrap();
            let mut persisted = Vec::new();
            while let Some(e) = node.poll_event() {
                match e {
                    NodeEvent::Persist { group, request } => persisted.push((group, request.id)),
                    other => self.events.push((id, other)),
                }
            }
            while let Some(t) = node.poll_transmit() {
                self.seq += 1;
                let at = self.now + Duration::from_millis(5);
                self.queue.insert((at, self.seq), (id, t.to, t.msg));
            }
            if persisted.is_empty() {
                break;
            }
            for (group, pid) in persisted {
                node.handle_persisted(self.now, group, pid);
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let next_msg = self.queue.keys().next().map(|(at, _)| *at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|(id, n)| n.poll_timeout().map(|t| (t, *id)))
                .min();
            let msg_first = match (next_msg, next_timer) {
                (Some(m), Some((t, _))) => m <= t,
                (Some(_), None) => true,
                _ => false,
            };
            if msg_first {
                let Some(((at, seq), _)) = self.queue.first_key_value() else {
                    break;
                };
                if *at > until {
                    break;
                }
                let (at, seq) = (*at, *seq);
                let Some((from, to, msg)) = self.queue.remove(&(at, seq)) else {
                    break;
                };
                self.now = at;
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.handle_message(at, from, msg);
                    self.drain(to);
                }
            } else if let Some((t, id)) = next_timer {
                if t > until {
                    break;
                }
                self.now = self.now.max(t);
                let now = self.now;
                self.nodes.get_mut(&id).unwrap().handle_timeout(now);
                self.drain(id);
            } else {
                break;
            }
        }
        self.now = until;
    }

    fn leader_of(&self, cluster: &str) -> NodeId {
        *self
            .nodes
            .iter()
            .find(|(_, n)| n.cluster() == Some(&cid(cluster)) && n.is_cluster_leader())
            .map(|(id, _)| id)
            .expect("a cluster leader")
    }

    fn write(&mut self, at: NodeId, request: u64, key: &[u8], payload: usize) -> WriteOutcome {
        let write = ClientWrite {
            request,
            namespace: ns("orders"),
            key: key.to_vec(),
            payload: vec![7; payload],
            token: None,
        };
        let now = self.now;
        self.nodes
            .get_mut(&at)
            .unwrap()
            .handle_client_write(now, write);
        self.drain(at);
        for _ in 0..200 {
            if let Some(outcome) = self.reply(at, request) {
                return outcome;
            }
            self.run_for(Duration::from_millis(5));
        }
        panic!("no answer to write {request}");
    }

    fn reply(&self, at: NodeId, request: u64) -> Option<WriteOutcome> {
        self.events.iter().find_map(|(id, e)| match e {
            NodeEvent::WriteReply(r) if *id == at && r.request == request => {
                Some(r.outcome.clone())
            }
            _ => None,
        })
    }
}

fn started_mesh() -> Mesh {
    let mut mesh = Mesh::new();
    mesh.run_for(Duration::from_secs(4));
    mesh
}

#[test]
fn a_configured_mesh_elects_one_leader_per_group_and_bootstraps_its_registry() {
    let mesh = started_mesh();
    for cluster in ["east", "west"] {
        let leaders = mesh
            .nodes
            .values()
            .filter(|n| n.cluster() == Some(&cid(cluster)) && n.is_cluster_leader())
            .count();
        assert_eq!(leaders, 1, "{cluster}");
    }
    assert_eq!(
        mesh.nodes
            .values()
            .filter(|n| n.is_control_leader())
            .count(),
        1
    );
    for node in mesh.nodes.values() {
        let placement = node
            .registry()
            .placement(&ns("orders"))
            .expect("bootstrapped");
        assert_eq!(placement.value.active_cluster, cid("east"));
    }
}

#[test]
fn writes_to_the_active_leader_get_consecutive_origin_seqs_and_reach_the_other_cluster() {
    let mut mesh = started_mesh();
    let leader = mesh.leader_of("east");
    for i in 1..=5u64 {
        match mesh.write(leader, i, format!("k{i}").as_bytes(), 16) {
            WriteOutcome::Accepted {
                origin_cluster,
                origin_seq,
                ..
            } => {
                assert_eq!(origin_cluster, cid("east"));
                assert_eq!(origin_seq, i);
            }
            other => panic!("write {i}: {other:?}"),
        }
    }
    mesh.run_for(Duration::from_secs(1));
    for id in [4, 5, 6] {
        let data = mesh.nodes[&NodeId(id)].data().unwrap();
        assert_eq!(data.vv().get(&cid("east")), 5, "n{id}");
        let events = data.read(&ns("orders"), &ClusterVersionVector::new(), 100);
        let keys: Vec<&[u8]> = events.iter().map(|e| e.key.as_slice()).collect();
        assert_eq!(keys, vec![&b"k1"[..], b"k2", b"k3", b"k4", b"k5"]);
    }
}

#[test]
fn a_new_cluster_leader_reports_no_lag_it_has_not_measured() {
    let mut mesh = started_mesh();
    let old = mesh.leader_of("east");
    for i in 1..=5u64 {
        let outcome = mesh.write(old, i, format!("k{i}").as_bytes(), 16);
        assert!(
            matches!(outcome, WriteOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    mesh.run_for(Duration::from_secs(1));
    for id in [4, 5, 6] {
        let vv = mesh.nodes[&NodeId(id)].data().unwrap().vv().clone();
        assert_eq!(vv.get(&cid("east")), 5, "n{id} applied every write");
    }
    // The leader crashes: messages to it are dropped from now on.
    mesh.nodes.remove(&old);
    let mut measured = 0;
    for _ in 0..4000 {
        mesh.run_for(Duration::from_millis(1));
        let now = mesh.now;
        let leaders = mesh
            .nodes
            .values()
            .filter(|n| n.cluster() == Some(&cid("east")) && n.is_cluster_leader());
        for leader in leaders {
            for (target, lag) in leader.stream_lags(now) {
                // west holds all five writes: any other figure is a false alarm.
                assert_eq!(lag, Lag::default(), "lag to {target} at {now:?}");
                measured += 1;
            }
        }
    }
    assert!(measured > 0, "the new leader never measured west's lag");
}

#[test]
fn a_write_to_the_passive_cluster_is_redirected_to_the_active_one() {
    let mut mesh = started_mesh();
    let west = mesh.leader_of("west");
    match mesh.write(west, 1, b"k", 8) {
        WriteOutcome::Redirect {
            active_cluster,
            endpoints,
            nodes,
        } => {
            assert_eq!(active_cluster, cid("east"));
            assert_eq!(endpoints, vec!["east:8080".to_string()]);
            assert_eq!(nodes, vec![NodeId(1), NodeId(2), NodeId(3)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        mesh.nodes[&west]
            .data()
            .unwrap()
            .namespace_len(&ns("orders")),
        0
    );
}

#[test]
fn a_write_to_a_follower_names_the_leader_and_writes_nothing() {
    let mut mesh = started_mesh();
    let leader = mesh.leader_of("east");
    let follower = [NodeId(1), NodeId(2), NodeId(3)]
        .into_iter()
        .find(|n| *n != leader)
        .unwrap();
    assert_eq!(
        mesh.write(follower, 1, b"k", 8),
        WriteOutcome::NotLeader {
            leader: Some(leader)
        }
    );
    mesh.run_for(Duration::from_millis(200));
    assert_eq!(mesh.nodes[&leader].data().unwrap().last_local_seq(), 0);
}

#[test]
fn bad_writes_are_refused_with_a_reason_and_change_nothing() {
    let mut mesh = started_mesh();
    let leader = mesh.leader_of("east");
    let limit = mesh.nodes[&leader].config().limits.max_payload_bytes;
    assert!(matches!(
        mesh.write(leader, 1, b"k", limit + 1),
        WriteOutcome::Refused(WriteRefusal::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        mesh.write(leader, 2, b"", 1),
        WriteOutcome::Refused(WriteRefusal::BadKey { size: 0, .. })
    ));
    let unknown = ClientWrite {
        request: 3,
        namespace: ns("nobody"),
        key: b"k".to_vec(),
        payload: vec![],
        token: None,
    };
    let now = mesh.now;
    mesh.nodes
        .get_mut(&leader)
        .unwrap()
        .handle_client_write(now, unknown);
    mesh.drain(leader);
    assert_eq!(
        mesh.reply(leader, 3),
        Some(WriteOutcome::Refused(WriteRefusal::UnknownNamespace(ns(
            "nobody"
        ))))
    );
    let stale = ClientWrite {
        request: 4,
        namespace: ns("orders"),
        key: b"k".to_vec(),
        payload: vec![],
        token: Some(FailoverVersion(0)),
    };
    mesh.nodes
        .get_mut(&leader)
        .unwrap()
        .handle_client_write(now, stale);
    mesh.drain(leader);
    assert!(matches!(
        mesh.reply(leader, 4),
        Some(WriteOutcome::Refused(
            WriteRefusal::StaleFencingToken { .. }
        ))
    ));
    let witness = ClientWrite {
        request: 5,
        namespace: ns("orders"),
        key: b"k".to_vec(),
        payload: vec![],
        token: None,
    };
    mesh.nodes
        .get_mut(&NodeId(7))
        .unwrap()
        .handle_client_write(now, witness);
    mesh.drain(NodeId(7));
    assert_eq!(
        mesh.reply(NodeId(7), 5),
        Some(WriteOutcome::Refused(WriteRefusal::Witness))
    );
    mesh.run_for(Duration::from_millis(200));
    assert_eq!(mesh.nodes[&leader].data().unwrap().last_local_seq(), 0);
}

#[test]
fn an_operator_request_at_any_node_is_answered_by_the_control_leader() {
    let mut mesh = started_mesh();
    let asker = mesh
        .nodes
        .iter()
        .find(|(_, n)| !n.is_control_leader() && n.cluster().is_some())
        .map(|(id, _)| *id)
        .unwrap();
    let now = mesh.now;
    mesh.nodes
        .get_mut(&asker)
        .unwrap()
        .handle_operator(now, 42, OperatorRequest::List);
    mesh.drain(asker);
    mesh.run_for(Duration::from_millis(100));
    let reply = mesh.events.iter().find_map(|(id, e)| match e {
        NodeEvent::OperatorReply { op: 42, reply } if *id == asker => Some(reply.clone()),
        _ => None,
    });
    assert_eq!(reply, Some(OperatorReply::Failovers(Vec::new())));
}

#[test]
fn a_node_outside_the_topology_is_refused_at_build() {
    let config = NodeConfig::new(NodeId(99), topology());
    assert!(matches!(
        Node::new(config, Restored::default(), 1, Instant::ZERO),
        Err(NodeError::Topology(TopologyError::NotInTopology(NodeId(
            99
        ))))
    ));
    let mut bad = (*topology()).clone();
    bad.control_voters.push(NodeId(50));
    assert_eq!(
        bad.validate(),
        Err(TopologyError::UnknownControlVoter(NodeId(50)))
    );
}

#[test]
fn an_undecodable_log_command_is_an_error_not_a_panic() {
    assert!(decode::<ClusterCommand>(&[0xff, 0xff, 0xff]).is_err());
    let cmd = ClusterCommand::Hold {
        origin: cid("west"),
    };
    assert_eq!(decode::<ClusterCommand>(&encode(&cmd)).unwrap(), cmd);
}

fn placement(active: &str, version: u64, state: PlacementState) -> NamespacePlacement {
    NamespacePlacement {
        namespace: ns("orders"),
        active_cluster: cid(active),
        failover_version: FailoverVersion(version),
        state,
        change: ChangeMetadata::default(),
    }
}

fn write(key: &str, token: u64) -> WriteCommand {
    WriteCommand {
        namespace: ns("orders"),
        key: key.as_bytes().to_vec(),
        payload: vec![],
        token: FailoverVersion(token),
        written_at: Instant::ZERO,
    }
}

fn history(steps: &[(&str, u64, Option<u64>)]) -> Vec<Placement> {
    steps
        .iter()
        .map(|(c, v, cutoff)| Placement {
            namespace: ns("orders"),
            failover_version: FailoverVersion(*v),
            active_cluster: cid(c),
            superseded_cutoff: *cutoff,
        })
        .collect()
}

#[test]
fn a_write_committed_after_its_token_was_superseded_is_refused_at_apply() {
    let mut data = ClusterData::new(cid("east"));
    let now = Instant::ZERO;
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("east", 1, PlacementState::Active),
            revision: 1,
            history: history(&[("east", 1, None)]),
        },
    );
    assert!(matches!(
        data.apply(now, ClusterCommand::Writes(vec![write("a", 1)]))[0],
        WriteOutcome::Accepted { origin_seq: 1, .. }
    ));
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("east", 1, PlacementState::Draining),
            revision: 2,
            history: history(&[("east", 1, None)]),
        },
    );
    assert!(matches!(
        data.apply(now, ClusterCommand::Writes(vec![write("b", 1)]))[0],
        WriteOutcome::RetryLater { .. }
    ));
    assert_eq!(data.last_local_seq(), 1);
}

#[test]
fn a_placement_older_than_the_one_applied_is_ignored() {
    let mut data = ClusterData::new(cid("east"));
    let now = Instant::ZERO;
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("west", 12, PlacementState::Active),
            revision: 5,
            history: history(&[("east", 1, None), ("west", 12, None)]),
        },
    );
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("east", 1, PlacementState::Active),
            revision: 3,
            history: history(&[("east", 1, None)]),
        },
    );
    let (p, revision) = data.placement(&ns("orders")).unwrap();
    assert_eq!((p.active_cluster.clone(), revision), (cid("west"), 5));
}

#[test]
fn a_returning_old_active_quarantines_exactly_its_writes_after_the_cutoff() {
    let mut data = ClusterData::new(cid("east"));
    let now = Instant::ZERO;
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("east", 1, PlacementState::Active),
            revision: 1,
            history: history(&[("east", 1, None)]),
        },
    );
    let writes = (1..=5).map(|i| write(&format!("k{i}"), 1)).collect();
    data.apply(now, ClusterCommand::Writes(writes));
    // West was promoted having applied east's writes up to seq 3.
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("west", 12, PlacementState::Active),
            revision: 9,
            history: history(&[("east", 1, None), ("west", 12, Some(3))]),
        },
    );
    let diff: Vec<u64> = data
        .state_diff()
        .iter()
        .map(|q| q.event.origin_seq)
        .collect();
    assert_eq!(diff, vec![4, 5]);
    assert!(data.is_quarantined(&cid("east"), 4) && !data.is_quarantined(&cid("east"), 3));
    assert_eq!(data.namespace_len(&ns("orders")), 3);
    // The store stays contiguous so streams can still relay seqs 4 and 5.
    assert_eq!(data.events_from(&cid("east"), 1, 10).len(), 5);
}

#[test]
fn a_superseded_active_records_where_its_writes_ended_once_and_for_the_first_promotion() {
    let mut data = ClusterData::new(cid("east"));
    let now = Instant::ZERO;
    let active = |data: &mut ClusterData, version, revision, steps: &[(&str, u64, Option<u64>)]| {
        data.apply(
            now,
            ClusterCommand::Placement {
                placement: placement(steps.last().unwrap().0, version, PlacementState::Active),
                revision,
                history: history(steps),
            },
        );
    };
    active(&mut data, 1, 1, &[("east", 1, None)]);
    let writes = (1..=5).map(|i| write(&format!("k{i}"), 1)).collect();
    data.apply(now, ClusterCommand::Writes(writes));
    assert!(data.superseded().is_empty(), "nothing taken yet");
    // West promoted (emergency, cutoff 3): east's writes at version 1 ended at 5.
    active(
        &mut data,
        12,
        2,
        &[("east", 1, None), ("west", 12, Some(3))],
    );
    assert_eq!(
        data.superseded(),
        vec![(ns("orders"), FailoverVersion(1), 5)]
    );
    // Writes at the old token are refused from here on, so the figure is exact.
    assert!(matches!(
        data.apply(now, ClusterCommand::Writes(vec![write("late", 1)]))[0],
        WriteOutcome::RetryLater { .. }
    ));
    // Failed back to east (version 13): east writes 6-7. A later placement repeats the
    // whole history; the version 1 supersession keeps its figure.
    active(
        &mut data,
        13,
        3,
        &[("east", 1, None), ("west", 12, Some(3)), ("east", 13, None)],
    );
    data.apply(
        now,
        ClusterCommand::Writes(vec![write("k6", 13), write("k7", 13)]),
    );
    active(
        &mut data,
        13,
        4,
        &[("east", 1, None), ("west", 12, Some(3)), ("east", 13, None)],
    );
    assert_eq!(
        data.superseded(),
        vec![(ns("orders"), FailoverVersion(1), 5)]
    );
    // A second emergency away from east (cutoff 6) ends its version 13 writes at 7.
    active(
        &mut data,
        14,
        5,
        &[
            ("east", 1, None),
            ("west", 12, Some(3)),
            ("east", 13, None),
            ("west", 14, Some(6)),
        ],
    );
    assert_eq!(
        data.superseded(),
        vec![(ns("orders"), FailoverVersion(13), 7)]
    );
}

#[test]
fn a_third_cluster_takes_back_superseded_writes_it_applied_before_the_new_active_did() {
    // South applied east's writes 1-5; west was promoted having applied only up to 3.
    let mut data = ClusterData::new(cid("south"));
    let now = Instant::ZERO;
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("east", 1, PlacementState::Active),
            revision: 1,
            history: history(&[("east", 1, None)]),
        },
    );
    let events = (1..=5)
        .map(|seq| omnirelay_core::replication::Event {
            namespace: ns("orders"),
            origin_cluster: cid("east"),
            origin_seq: seq,
            failover_version: FailoverVersion(1),
            key: format!("k{seq}").into_bytes(),
            payload: vec![],
            written_at: Instant::ZERO,
        })
        .collect();
    data.apply(
        now,
        ClusterCommand::Remote {
            source: cid("east"),
            events,
        },
    );
    assert_eq!(data.namespace_len(&ns("orders")), 5);
    data.apply(
        now,
        ClusterCommand::Placement {
            placement: placement("west", 12, PlacementState::Active),
            revision: 9,
            history: history(&[("east", 1, None), ("west", 12, Some(3))]),
        },
    );
    let diff: Vec<u64> = data
        .state_diff()
        .iter()
        .map(|q| q.event.origin_seq)
        .collect();
    assert_eq!(diff, vec![4, 5]);
    assert_eq!(data.namespace_len(&ns("orders")), 3);
    assert_eq!(
        data.vv().get(&cid("east")),
        5,
        "the VV still counts them: streams stay contiguous"
    );
}
