//! Golden encoded messages: bytes committed under `tests/fixtures/` when a message was
//! first published must still decode, with today's generated code, to the value built
//! here, and re-encode to the very same bytes. Every field is set to a non-default value,
//! because proto3 omits defaults and an omitted field could not catch a renumbering.
//!
//! Fixtures are written once: `OMNIRELAY_WRITE_FIXTURES=1` writes the missing ones; an
//! existing fixture is never rewritten, and a missing one fails the test otherwise.

use std::fmt::Debug;
use std::path::PathBuf;

use omnirelay_proto::v1::{
    self, Ack, AppendEntriesRequest, AppendEntriesResponse, ChangeMetadata, ClusterDescriptor,
    ClusterState, ClusterVersionVector, ConfigChange, ConfigChangeKind, Endpoint, EndpointKind,
    Event, EventBatch, FailoverKind, FailoverProgress, FailoverRequest, FailoverStatus,
    FailoverStep, GossipEnvelope, GossipScope, GossipUpdates, InstallSnapshotRequest, LeaderNoop,
    LeadershipEvent, LogEntry, LossRange, MemberMeta, MemberStatus, MemberUpdate, Nack,
    NamespacePlacement, NamespaceState, NodeRole, Ping, PingReq, PushPull, ReplicationAck,
    ReplicationBatch, ReplicationFrame, ReplicationHello, ResendRequest, TimeoutNowRequest,
    VersionVectorEntry, VoteKind, VoteRequest, VoteResponse,
};
use prost::Message;

const WRITE_ENV: &str = "OMNIRELAY_WRITE_FIXTURES";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Decodes the committed fixture, compares it with `expected`, and checks that encoding
/// `expected` today yields the committed bytes.
fn assert_golden<M: Message + Default + PartialEq + Debug>(name: &str, expected: &M) {
    let path = fixture_path(name);
    if !path.exists() {
        assert!(
            std::env::var(WRITE_ENV).is_ok_and(|v| v == "1"),
            "missing fixture {}: golden bytes are written once, with {WRITE_ENV}=1, \
             and then committed",
            path.display()
        );
        std::fs::write(&path, expected.encode_to_vec())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    let committed =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let decoded =
        M::decode(committed.as_slice()).unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
    assert_eq!(&decoded, expected, "{name} decodes to a different value");
    assert_eq!(
        expected.encode_to_vec(),
        committed,
        "{name}: today's encoding differs from the committed bytes"
    );
}

fn event(origin_seq: u64, key: &str) -> Event {
    Event {
        namespace: "payments".to_owned(),
        origin_cluster: "eu-west".to_owned(),
        origin_seq,
        failover_version: 7,
        key: key.as_bytes().to_vec(),
        payload: vec![0x00, 0xff, 0x10, 0x80],
        written_at_unix_nanos: 1_795_000_000_123_456_789,
    }
}

fn version_vector() -> ClusterVersionVector {
    ClusterVersionVector {
        entries: vec![
            VersionVectorEntry {
                origin_cluster: "eu-west".to_owned(),
                applied_origin_seq: 41,
            },
            VersionVectorEntry {
                origin_cluster: "us-east".to_owned(),
                applied_origin_seq: 1_000_000_007,
            },
        ],
    }
}

fn member(node_id: u64, status: MemberStatus) -> MemberUpdate {
    MemberUpdate {
        member: Some(MemberMeta {
            node_id,
            role: NodeRole::Voter.into(),
            cluster_id: "eu-west".to_owned(),
            region: "eu-west-1".to_owned(),
            mesh_version: "0.3.1".to_owned(),
            endpoints: vec![
                Endpoint {
                    kind: EndpointKind::Gossip.into(),
                    address: "10.0.0.1:7946".to_owned(),
                },
                Endpoint {
                    kind: EndpointKind::Consensus.into(),
                    address: "[fd00::1]:7947".to_owned(),
                },
            ],
            protocol_versions: vec![1, 2],
        }),
        incarnation: 3,
        status: status.into(),
        reported_by: 9,
    }
}

fn change() -> ChangeMetadata {
    ChangeMetadata {
        version: 12,
        changed_by: "alice@ops".to_owned(),
        changed_at_unix_nanos: 1_795_000_100_000_000_000,
        reason: "CHG-2211".to_owned(),
        // Added after the first fixtures: they were written without it.
        ticket: String::new(),
    }
}

/// The change metadata of records written after `ticket` was added.
fn ticketed_change() -> ChangeMetadata {
    ChangeMetadata {
        reason: "rebalance after region drill".to_owned(),
        ticket: "CHG-2211".to_owned(),
        ..change()
    }
}

fn failover_request() -> FailoverRequest {
    FailoverRequest {
        kind: FailoverKind::Emergency.into(),
        scope: Some(v1::failover_request::Scope::Namespace(
            "payments".to_owned(),
        )),
        target_cluster: "us-east".to_owned(),
        dry_run: true,
        ticket: "INC-4711".to_owned(),
        approver: "bob@ops".to_owned(),
        force: true,
        requested_by: "alice@ops".to_owned(),
        expected_failover_version: 7,
    }
}

#[test]
fn event_batch_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "event_batch.bin",
        &EventBatch {
            events: vec![event(41, "acct/1"), event(42, "acct/2")],
            source_last_origin_seq: 99,
        },
    );
}

#[test]
fn version_vector_fixture_decodes_and_reencodes_unchanged() {
    assert_golden("version_vector.bin", &version_vector());
}

#[test]
fn replication_hello_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "replication_hello.bin",
        &ReplicationFrame {
            body: Some(v1::replication_frame::Body::Hello(ReplicationHello {
                source_cluster: "eu-west".to_owned(),
                source_leader: 2,
                term: 17,
                protocol_version: 1,
                target_cluster: "us-east".to_owned(),
            })),
        },
    );
}

#[test]
fn replication_batch_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "replication_batch.bin",
        &ReplicationFrame {
            body: Some(v1::replication_frame::Body::Batch(ReplicationBatch {
                batch_seq: 5,
                events: Some(EventBatch {
                    events: vec![event(43, "acct/3")],
                    source_last_origin_seq: 43,
                }),
            })),
        },
    );
}

#[test]
fn replication_ack_with_resend_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "replication_ack.bin",
        &ReplicationAck {
            receiver_cluster: "us-east".to_owned(),
            acked_batch_seq: 4,
            version_vector: Some(version_vector()),
            resend: Some(ResendRequest {
                origin_cluster: "eu-west".to_owned(),
                from_origin_seq: 42,
            }),
            receiver_term: 3,
        },
    );
}

#[test]
fn gossip_ping_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_ping.bin",
        &GossipEnvelope {
            sender: 1,
            scope: GossipScope::Cluster.into(),
            cluster_id: "eu-west".to_owned(),
            body: Some(v1::gossip_envelope::Body::Ping(Ping {
                probe_id: 1001,
                target: 2,
                on_behalf_of: 3,
                updates: vec![
                    member(4, MemberStatus::Suspect),
                    member(5, MemberStatus::Left),
                ],
            })),
        },
    );
}

#[test]
fn gossip_ping_req_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_ping_req.bin",
        &GossipEnvelope {
            sender: 1,
            scope: GossipScope::Mesh.into(),
            cluster_id: String::new(),
            body: Some(v1::gossip_envelope::Body::PingReq(PingReq {
                probe_id: 1002,
                target: 6,
                updates: vec![member(6, MemberStatus::Dead)],
            })),
        },
    );
}

#[test]
fn gossip_ack_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_ack.bin",
        &GossipEnvelope {
            sender: 2,
            scope: GossipScope::Cluster.into(),
            cluster_id: "eu-west".to_owned(),
            body: Some(v1::gossip_envelope::Body::Ack(Ack {
                probe_id: 1001,
                target: 2,
                updates: vec![member(2, MemberStatus::Alive)],
            })),
        },
    );
}

#[test]
fn gossip_nack_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_nack.bin",
        &GossipEnvelope {
            sender: 3,
            scope: GossipScope::Cluster.into(),
            cluster_id: "eu-west".to_owned(),
            body: Some(v1::gossip_envelope::Body::Nack(Nack {
                probe_id: 1002,
                target: 6,
            })),
        },
    );
}

#[test]
fn gossip_push_pull_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_push_pull.bin",
        &GossipEnvelope {
            sender: 7,
            scope: GossipScope::Cluster.into(),
            cluster_id: "eu-west".to_owned(),
            body: Some(v1::gossip_envelope::Body::PushPull(PushPull {
                members: vec![
                    member(1, MemberStatus::Alive),
                    member(8, MemberStatus::Dead),
                ],
                join: true,
                reply: false,
            })),
        },
    );
}

#[test]
fn gossip_updates_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_updates.bin",
        &GossipEnvelope {
            sender: 4,
            scope: GossipScope::Cluster.into(),
            cluster_id: "eu-west".to_owned(),
            body: Some(v1::gossip_envelope::Body::Gossip(GossipUpdates {
                updates: vec![
                    member(2, MemberStatus::Alive),
                    member(6, MemberStatus::Suspect),
                ],
            })),
        },
    );
}

#[test]
fn gossip_push_pull_reply_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "gossip_push_pull_reply.bin",
        &GossipEnvelope {
            sender: 1,
            scope: GossipScope::Mesh.into(),
            cluster_id: String::new(),
            body: Some(v1::gossip_envelope::Body::PushPull(PushPull {
                members: vec![member(7, MemberStatus::Alive)],
                join: false,
                reply: true,
            })),
        },
    );
}

#[test]
fn pre_vote_request_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "vote_request.bin",
        &VoteRequest {
            kind: VoteKind::PreVote.into(),
            cluster_id: "eu-west".to_owned(),
            term: 18,
            candidate_id: 3,
            last_log_index: 1_204,
            last_log_term: 17,
            priority: 10,
            leadership_transfer: true,
        },
    );
}

#[test]
fn vote_response_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "vote_response.bin",
        &VoteResponse {
            kind: VoteKind::Vote.into(),
            term: 18,
            voter_id: 1,
            granted: true,
        },
    );
}

#[test]
fn append_entries_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "append_entries.bin",
        &AppendEntriesRequest {
            cluster_id: "eu-west".to_owned(),
            term: 17,
            leader_id: 2,
            prev_log_index: 1_200,
            prev_log_term: 16,
            entries: vec![
                LogEntry {
                    index: 1_201,
                    term: 17,
                    payload: Some(v1::log_entry::Payload::Noop(LeaderNoop {})),
                },
                LogEntry {
                    index: 1_202,
                    term: 17,
                    payload: Some(v1::log_entry::Payload::Command(
                        EventBatch {
                            events: vec![event(44, "acct/4")],
                            source_last_origin_seq: 44,
                        }
                        .encode_to_vec(),
                    )),
                },
                LogEntry {
                    index: 1_203,
                    term: 17,
                    payload: Some(v1::log_entry::Payload::ConfigChange(ConfigChange {
                        kind: ConfigChangeKind::AddLearner.into(),
                        node_id: 4,
                    })),
                },
            ],
            leader_commit: 1_199,
        },
    );
}

#[test]
fn append_entries_rejection_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "append_entries_response.bin",
        &AppendEntriesResponse {
            term: 17,
            follower_id: 3,
            success: false,
            match_index: 1_100,
            conflict_term: 15,
            conflict_index: 1_150,
        },
    );
}

#[test]
fn install_snapshot_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "install_snapshot.bin",
        &InstallSnapshotRequest {
            cluster_id: "eu-west".to_owned(),
            term: 17,
            leader_id: 2,
            last_included_index: 1_000,
            last_included_term: 14,
            voters: vec![1, 2, 3],
            learners: vec![4],
            offset: 65_536,
            data: vec![0xde, 0xad, 0xbe, 0xef],
            done: true,
        },
    );
}

#[test]
fn timeout_now_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "timeout_now.bin",
        &TimeoutNowRequest {
            cluster_id: "eu-west".to_owned(),
            term: 17,
            leader_id: 2,
        },
    );
}

#[test]
fn cluster_descriptor_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "cluster_descriptor.bin",
        &ClusterDescriptor {
            cluster_id: "eu-west".to_owned(),
            region: "eu-west-1".to_owned(),
            priority: 100,
            state: ClusterState::Draining.into(),
            endpoints: vec![Endpoint {
                kind: EndpointKind::ClientGrpc.into(),
                address: "api.eu-west.example:443".to_owned(),
            }],
            replication_endpoints: vec!["repl.eu-west.example:7950".to_owned()],
            owners: vec!["team-storage".to_owned()],
            change: Some(change()),
            initial_failover_version: 0,
        },
    );
}

#[test]
fn cluster_descriptor_with_initial_version_and_ticket_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "cluster_descriptor_initial_version.bin",
        &ClusterDescriptor {
            cluster_id: "us-east".to_owned(),
            region: "us-east-1".to_owned(),
            priority: 90,
            state: ClusterState::Online.into(),
            endpoints: vec![Endpoint {
                kind: EndpointKind::Control.into(),
                address: "control.us-east.example:9443".to_owned(),
            }],
            replication_endpoints: vec!["repl.us-east.example:7950".to_owned()],
            owners: vec!["team-storage".to_owned()],
            change: Some(ticketed_change()),
            initial_failover_version: 2,
        },
    );
}

#[test]
fn namespace_placement_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "namespace_placement.bin",
        &NamespacePlacement {
            namespace: "payments".to_owned(),
            active_cluster: "eu-west".to_owned(),
            failover_version: 7,
            state: NamespaceState::Fenced.into(),
            auto_failover: true,
            change: Some(change()),
        },
    );
}

#[test]
fn failover_request_fixture_decodes_and_reencodes_unchanged() {
    assert_golden("failover_request.bin", &failover_request());
}

#[test]
fn failover_status_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "failover_status.bin",
        &FailoverStatus {
            failover_id: "fo-0001".to_owned(),
            request: Some(failover_request()),
            step: FailoverStep::RolledBack.into(),
            progress: Some(FailoverProgress {
                source_last_origin_seq: 120,
                target_applied_origin_seq: 117,
                namespaces_done: 1,
                namespaces_total: 1,
            }),
            reported_loss: vec![LossRange {
                origin_cluster: "eu-west".to_owned(),
                first_origin_seq: 118,
                last_origin_seq: 120,
                open_ended: true,
                old_failover_version: 0,
            }],
            new_failover_version: 8,
            reason: "catch-up deadline passed".to_owned(),
            started_at_unix_nanos: 1_795_000_200_000_000_000,
            step_entered_at_unix_nanos: 1_795_000_230_000_000_000,
            source_cluster: "eu-west".to_owned(),
            target_cluster: "us-east".to_owned(),
        },
    );
}

#[test]
fn failover_status_awaiting_approval_with_loss_version_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "failover_status_awaiting_approval.bin",
        &FailoverStatus {
            failover_id: "fo-0002".to_owned(),
            request: Some(FailoverRequest {
                dry_run: false,
                expected_failover_version: 0,
                ..failover_request()
            }),
            step: FailoverStep::AwaitingApproval.into(),
            progress: Some(FailoverProgress {
                source_last_origin_seq: 0,
                target_applied_origin_seq: 117,
                namespaces_done: 0,
                namespaces_total: 1,
            }),
            reported_loss: vec![LossRange {
                origin_cluster: "eu-west".to_owned(),
                first_origin_seq: 118,
                last_origin_seq: 120,
                open_ended: false,
                old_failover_version: 7,
            }],
            new_failover_version: 0,
            reason: String::new(),
            started_at_unix_nanos: 1_795_000_400_000_000_000,
            step_entered_at_unix_nanos: 1_795_000_401_000_000_000,
            source_cluster: "eu-west".to_owned(),
            target_cluster: "us-east".to_owned(),
        },
    );
}

#[test]
fn leadership_event_fixture_decodes_and_reencodes_unchanged() {
    assert_golden(
        "leadership_event.bin",
        &LeadershipEvent {
            cluster_id: "us-east".to_owned(),
            leader_id: 5,
            term: 23,
            at_unix_nanos: 1_795_000_300_000_000_000,
        },
    );
}
