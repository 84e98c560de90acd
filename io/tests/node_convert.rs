//! `NodeEnvelope` conversions (io/src/convert/node.rs): every kind of node message survives
//! domain -> wire -> prost bytes -> wire -> domain unchanged, and malformed envelopes are
//! refused naming the field, never panicking.

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::consensus::{
    AppendEntries, AppendOutcome, AppendResponse, Entry, EntryPayload, Message, Priority, Snapshot,
    Term, VoteRequest, VoteResponse, VoterSet,
};
use omnirelay_core::failover::{FailoverId, FailoverKind, FailoverRequest};
use omnirelay_core::node::{
    ClientMessage, ClientWrite, ClusterStatus, MeshMessage, NodeMessage, OperatorReply,
    OperatorRequest, ReplicationMessage,
};
use omnirelay_core::registry::{FailoverVersionScheme, Registry};
use omnirelay_core::replication::{ClusterVersionVector, Event, Lag};
use omnirelay_core::{ClusterId, Instant, NamespaceId, NodeId};
use omnirelay_io::convert::node::{envelope_from_wire, envelope_to_wire};
use omnirelay_proto::v1;
use prost::Message as _;

fn cluster(name: &str) -> ClusterId {
    ClusterId::new(name).unwrap()
}

fn round_trip(message: NodeMessage) -> NodeMessage {
    let wire = envelope_to_wire(NodeId(1), NodeId(2), &message).expect("has a wire form");
    let bytes = wire.encode_to_vec();
    let decoded = v1::NodeEnvelope::decode(bytes.as_slice()).expect("prost decodes");
    let (from, to, back) = envelope_from_wire(decoded).expect("converts back");
    assert_eq!((from, to), (NodeId(1), NodeId(2)));
    back
}

fn event(seq: u64) -> Event {
    Event {
        namespace: NamespaceId::new("orders").unwrap(),
        origin_cluster: cluster("a"),
        origin_seq: seq,
        failover_version: omnirelay_core::replication::FailoverVersion(1),
        key: b"k".to_vec(),
        payload: vec![7; 32],
        written_at: Instant::from_nanos(1_700_000_000_000_000_000 + seq),
    }
}

fn messages() -> Vec<NodeMessage> {
    let voters = VoterSet::new([(NodeId(1), Priority(2)), (NodeId(2), Priority(0))]);
    let request = VoteRequest {
        term: Term(4),
        last_log_index: 9,
        last_log_term: Term(3),
        transfer: true,
    };
    let mut vv = ClusterVersionVector::new();
    vv.set(&cluster("a"), 5);
    let registry = Registry::new(FailoverVersionScheme::new(10).unwrap());
    vec![
        NodeMessage::Cluster(Message::PreVote(request.clone())),
        NodeMessage::Control(Message::Vote(request)),
        NodeMessage::Cluster(Message::VoteResponse(VoteResponse {
            term: Term(4),
            granted: true,
        })),
        NodeMessage::Control(Message::PreVoteResponse(VoteResponse {
            term: Term(4),
            granted: false,
        })),
        NodeMessage::Cluster(Message::Append(AppendEntries {
            term: Term(5),
            prev_log_index: 2,
            prev_log_term: Term(4),
            entries: vec![
                Entry {
                    term: Term(5),
                    index: 3,
                    payload: EntryPayload::Noop,
                },
                Entry {
                    term: Term(5),
                    index: 4,
                    payload: EntryPayload::Command(vec![1, 2, 3]),
                },
                Entry {
                    term: Term(5),
                    index: 5,
                    payload: EntryPayload::VoterChange(voters.clone()),
                },
            ],
            leader_commit: 2,
        })),
        NodeMessage::Cluster(Message::AppendResponse(AppendResponse {
            term: Term(5),
            outcome: AppendOutcome::Accepted { match_index: 5 },
        })),
        NodeMessage::Cluster(Message::AppendResponse(AppendResponse {
            term: Term(5),
            outcome: AppendOutcome::Rejected {
                rejected_prev_index: 7,
                hint_index: 3,
                hint_term: Term(2),
            },
        })),
        NodeMessage::Control(Message::InstallSnapshot {
            term: Term(6),
            snapshot: Snapshot {
                last_index: 10,
                last_term: Term(5),
                voters,
                data: Arc::from(vec![9u8; 5]),
            },
        }),
        NodeMessage::Cluster(Message::TimeoutNow { term: Term(6) }),
        NodeMessage::Replication(ReplicationMessage::Batch {
            source: cluster("a"),
            events: vec![event(1), event(2)],
        }),
        NodeMessage::Replication(ReplicationMessage::Ack {
            cluster: cluster("b"),
            vv: vv.clone(),
        }),
        NodeMessage::Replication(ReplicationMessage::NotLeader {
            cluster: cluster("b"),
            leader: Some(NodeId(5)),
        }),
        NodeMessage::Replication(ReplicationMessage::NotLeader {
            cluster: cluster("b"),
            leader: None,
        }),
        NodeMessage::Mesh(MeshMessage::Status(ClusterStatus {
            cluster: cluster("a"),
            leader: NodeId(1),
            term: Term(3),
            vv,
            last_seq: 5,
            lags: vec![(
                cluster("b"),
                Lag {
                    entries: 2,
                    seconds: Duration::from_millis(1500),
                },
            )],
            digests: vec![(
                omnirelay_core::NamespaceId::new("orders").expect("namespace"),
                omnirelay_core::replication::FailoverVersion(2),
                0xdead_beef_0123_4567,
            )],
            superseded: vec![(
                omnirelay_core::NamespaceId::new("orders").expect("namespace"),
                omnirelay_core::replication::FailoverVersion(1),
                4,
            )],
        })),
        NodeMessage::Mesh(MeshMessage::Reachability {
            voter_cluster: cluster("b"),
            unreachable: vec![cluster("a")],
        }),
        NodeMessage::Mesh(MeshMessage::Registry {
            registry: Arc::new(registry),
            control_leader: NodeId(4),
        }),
        NodeMessage::Mesh(MeshMessage::Drained {
            failover: FailoverId(3),
            last_seq: 9,
        }),
        NodeMessage::Mesh(MeshMessage::Operator {
            op: 12,
            request: OperatorRequest::Failover {
                request: FailoverRequest {
                    namespace: NamespaceId::new("orders").unwrap(),
                    target: Some(cluster("b")),
                    kind: FailoverKind::Emergency { force: true },
                    requested_by: "alice".into(),
                    ticket: Some("CHG-1".into()),
                    approver: None,
                },
                dry_run: true,
            },
        }),
        NodeMessage::Mesh(MeshMessage::OperatorReply {
            op: 12,
            reply: OperatorReply::Unavailable("no quorum".into()),
        }),
    ]
}

#[test]
fn every_node_message_survives_the_wire_unchanged() {
    for message in messages() {
        assert_eq!(round_trip(message.clone()), message);
    }
}

#[test]
fn model_client_traffic_has_no_wire_form() {
    let write = NodeMessage::Client(ClientMessage::Write(ClientWrite {
        request: 1,
        namespace: NamespaceId::new("orders").unwrap(),
        key: b"k".to_vec(),
        payload: Vec::new(),
        token: None,
    }));
    assert!(envelope_to_wire(NodeId(1), NodeId(2), &write).is_none());
}

fn wire_of(message: &NodeMessage) -> v1::NodeEnvelope {
    envelope_to_wire(NodeId(1), NodeId(2), message).unwrap()
}

fn refusal(wire: v1::NodeEnvelope) -> String {
    envelope_from_wire(wire).expect_err("refused").to_string()
}

#[test]
fn malformed_envelopes_are_refused_naming_the_field() {
    let heartbeat = NodeMessage::Cluster(Message::TimeoutNow { term: Term(1) });
    let mut w = wire_of(&heartbeat);
    w.from = 0;
    assert!(refusal(w).starts_with("NodeEnvelope.from: missing"));

    let mut w = wire_of(&heartbeat);
    w.body = None;
    assert!(refusal(w).starts_with("NodeEnvelope.body: missing"));

    let mut w = wire_of(&heartbeat);
    if let Some(v1::node_envelope::Body::Consensus(f)) = &mut w.body {
        f.group = 0;
    }
    assert!(refusal(w).starts_with("ConsensusFrame.group"));

    let batch = NodeMessage::Replication(ReplicationMessage::Batch {
        source: cluster("a"),
        events: vec![event(1)],
    });
    let mut w = wire_of(&batch);
    if let Some(v1::node_envelope::Body::ReplicationBatch(b)) = &mut w.body {
        b.events[0].origin_cluster = "NOT A CLUSTER".into();
    }
    let text = refusal(w);
    assert!(text.contains("NodeEventBatch.events[0]"), "{text}");

    let mut w = wire_of(&NodeMessage::Mesh(MeshMessage::Drained {
        failover: FailoverId(1),
        last_seq: 1,
    }));
    if let Some(v1::node_envelope::Body::Mesh(m)) = &mut w.body {
        m.body.truncate(1);
    }
    assert!(refusal(w).starts_with("MeshFrame.body"));

    let mut w = wire_of(&NodeMessage::Mesh(MeshMessage::Drained {
        failover: FailoverId(1),
        last_seq: 1,
    }));
    if let Some(v1::node_envelope::Body::Mesh(m)) = &mut w.body {
        m.encoding = 99;
    }
    assert!(refusal(w).starts_with("MeshFrame.encoding"));
}

#[test]
fn a_gossip_envelope_claiming_another_sender_is_refused() {
    let heartbeat = NodeMessage::Cluster(Message::TimeoutNow { term: Term(1) });
    let gossip_wire = {
        let mut w = wire_of(&heartbeat);
        w.body = None;
        w
    };
    // Build a real gossip message through the conversion, then change its inner sender.
    let gossip = omnirelay_core::gossip::GossipMessage::Gossip {
        updates: Vec::new(),
    };
    let mut w = wire_of(&NodeMessage::Gossip(gossip));
    if let Some(v1::node_envelope::Body::Gossip(g)) = &mut w.body {
        g.sender = 9;
    }
    assert!(refusal(w).starts_with("GossipEnvelope.sender"));
    assert!(refusal(gossip_wire).starts_with("NodeEnvelope.body"));
}
