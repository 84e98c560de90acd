//! The node's peer transport: core's `NodeMessage` in a `NodeEnvelope` (`node.proto`).
//!
//! Gossip travels as the existing `GossipEnvelope` (mesh pool: core runs one mesh-wide
//! membership), consensus as `ConsensusFrame` (both groups, told apart by `group`),
//! replication as `NodeEventBatch`/`NodeReplicationAck`/`NodeNotLeader` built from the
//! existing `Event` and `ClusterVersionVector` messages. Control traffic (cluster status,
//! reachability, the registry broadcast, drains, freezes, forwarded operator requests) is
//! low volume and travels as a versioned postcard body in `MeshFrame` ([`MeshWire`]) until
//! each message has a schema of its own; that is the one gap of this contract.
//!
//! Model clients' `ClientMessage`s never cross a real network (the io shell calls the API
//! instead): [`envelope_to_wire`] returns `None` for them.

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::consensus::{
    self, AppendEntries, AppendOutcome, AppendResponse, Entry, EntryPayload, Priority, Snapshot,
    Term, VoteRequest, VoteResponse, VoterSet,
};
use omnirelay_core::failover::FailoverId;
use omnirelay_core::node::{
    ClusterStatus, MeshMessage, NodeMessage, OperatorReply, OperatorRequest, ReplicationMessage,
};
use omnirelay_core::registry::{NamespacePlacement, Registry};
use omnirelay_core::replication::{ClusterVersionVector, Event, FailoverVersion, Lag};
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use omnirelay_proto::v1;
use serde::{Deserialize, Serialize};

use super::error::{ConvertError, FieldDefect};
use super::fields::{self, nth};
use super::gossip::{Arrival, GossipEnvelope, GossipScope};
use super::{FromWire, ToWire};

/// The encoding version of `MeshFrame.body` this build writes and reads.
pub const MESH_ENCODING: u32 = 1;

/// Which consensus group a `NodeMessage` of consensus belongs to.
fn group_of(message: &NodeMessage) -> v1::ConsensusGroup {
    match message {
        NodeMessage::Control(_) => v1::ConsensusGroup::Control,
        _ => v1::ConsensusGroup::Cluster,
    }
}

/// The envelope for `message` from `from` to `to`; `None` for model-client traffic, which
/// has no wire form.
pub fn envelope_to_wire(
    from: NodeId,
    to: NodeId,
    message: &NodeMessage,
) -> Option<v1::NodeEnvelope> {
    use v1::node_envelope::Body;
    let body = match message {
        NodeMessage::Gossip(m) => Body::Gossip(
            GossipEnvelope {
                sender: from,
                scope: GossipScope::Mesh,
                message: m.clone(),
            }
            .to_wire(),
        ),
        NodeMessage::Cluster(m) | NodeMessage::Control(m) => {
            Body::Consensus(consensus_to_wire(group_of(message), m))
        }
        NodeMessage::Replication(ReplicationMessage::Batch { source, events }) => {
            Body::ReplicationBatch(v1::NodeEventBatch {
                source: source.to_string(),
                events: events.iter().map(Event::to_wire).collect(),
            })
        }
        NodeMessage::Replication(ReplicationMessage::Ack { cluster, vv }) => {
            Body::ReplicationAck(v1::NodeReplicationAck {
                cluster: cluster.to_string(),
                vv: Some(vv.to_wire()),
            })
        }
        NodeMessage::Replication(ReplicationMessage::NotLeader { cluster, leader }) => {
            Body::ReplicationNotLeader(v1::NodeNotLeader {
                cluster: cluster.to_string(),
                leader: leader.map_or(0, |l| l.0),
            })
        }
        NodeMessage::Mesh(m) => Body::Mesh(v1::MeshFrame {
            encoding: MESH_ENCODING,
            body: omnirelay_core::node::encode(&MeshWire::from_core(m)),
        }),
        NodeMessage::Client(_) => return None,
    };
    Some(v1::NodeEnvelope {
        from: from.0,
        to: to.0,
        body: Some(body),
    })
}

/// [`envelope_to_wire`] for a message the caller no longer needs: a replication batch's
/// keys and payloads move into the envelope instead of being copied (the outbox's hot path;
/// every other message is converted as by reference).
pub fn envelope_into_wire(
    from: NodeId,
    to: NodeId,
    message: NodeMessage,
) -> Option<v1::NodeEnvelope> {
    match message {
        NodeMessage::Replication(ReplicationMessage::Batch { source, events }) => {
            Some(v1::NodeEnvelope {
                from: from.0,
                to: to.0,
                body: Some(v1::node_envelope::Body::ReplicationBatch(
                    v1::NodeEventBatch {
                        source: source.to_string(),
                        events: events
                            .into_iter()
                            .map(super::replication::event_into_wire)
                            .collect(),
                    },
                )),
            })
        }
        other => envelope_to_wire(from, to, &other),
    }
}

/// The sender, addressee and message of an envelope, every field checked.
pub fn envelope_from_wire(
    wire: v1::NodeEnvelope,
) -> Result<(NodeId, NodeId, NodeMessage), ConvertError> {
    use v1::node_envelope::Body;
    let from = fields::node_id("NodeEnvelope.from", wire.from)?;
    let to = fields::node_id("NodeEnvelope.to", wire.to)?;
    let message = match fields::required("NodeEnvelope.body", wire.body)? {
        Body::Gossip(g) => {
            let envelope = GossipEnvelope::from_wire(g, Arrival::Request)
                .map_err(|e| e.within("NodeEnvelope.gossip"))?;
            if envelope.sender != from {
                return Err(ConvertError::new(
                    "GossipEnvelope.sender",
                    FieldDefect::Malformed(format!(
                        "{} is not the envelope's sender {from}",
                        envelope.sender
                    )),
                ));
            }
            NodeMessage::Gossip(envelope.message)
        }
        Body::Consensus(frame) => {
            let group =
                fields::required_enum::<v1::ConsensusGroup>("ConsensusFrame.group", frame.group)?;
            let message = consensus_from_wire(frame)?;
            match group {
                v1::ConsensusGroup::Cluster => NodeMessage::Cluster(message),
                v1::ConsensusGroup::Control => NodeMessage::Control(message),
                v1::ConsensusGroup::Unspecified => {
                    return Err(ConvertError::new(
                        "ConsensusFrame.group",
                        FieldDefect::Unspecified,
                    ));
                }
            }
        }
        Body::ReplicationBatch(b) => {
            let source = fields::cluster_id("NodeEventBatch.source", &b.source)?;
            let events = b
                .events
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    Event::from_wire(e).map_err(|err| err.within(nth("NodeEventBatch.events", i)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            NodeMessage::Replication(ReplicationMessage::Batch { source, events })
        }
        Body::ReplicationAck(a) => {
            let cluster = fields::cluster_id("NodeReplicationAck.cluster", &a.cluster)?;
            let vv =
                ClusterVersionVector::from_wire(fields::required("NodeReplicationAck.vv", a.vv)?)
                    .map_err(|e| e.within("NodeReplicationAck.vv"))?;
            NodeMessage::Replication(ReplicationMessage::Ack { cluster, vv })
        }
        Body::ReplicationNotLeader(n) => {
            let cluster = fields::cluster_id("NodeNotLeader.cluster", &n.cluster)?;
            let leader = (n.leader != 0).then_some(NodeId(n.leader));
            NodeMessage::Replication(ReplicationMessage::NotLeader { cluster, leader })
        }
        Body::Mesh(frame) => {
            if frame.encoding != MESH_ENCODING {
                return Err(ConvertError::new(
                    "MeshFrame.encoding",
                    FieldDefect::UnknownEnumValue(
                        i32::try_from(frame.encoding).unwrap_or(i32::MAX),
                    ),
                ));
            }
            let wire: MeshWire = omnirelay_core::node::decode(&frame.body)
                .map_err(|e| ConvertError::new("MeshFrame.body", FieldDefect::Malformed(e.0)))?;
            NodeMessage::Mesh(wire.into_core())
        }
    };
    Ok((from, to, message))
}

fn voters_to_wire(voters: &VoterSet) -> v1::ConsensusVoters {
    let ids: Vec<NodeId> = voters.ids().collect();
    v1::ConsensusVoters {
        priorities: ids
            .iter()
            .map(|id| u32::from(voters.priority(*id).unwrap_or_default().0))
            .collect(),
        ids: ids.iter().map(|id| id.0).collect(),
    }
}

fn voters_from_wire(wire: v1::ConsensusVoters) -> Result<VoterSet, ConvertError> {
    if wire.ids.len() != wire.priorities.len() {
        return Err(ConvertError::new(
            "ConsensusVoters.priorities",
            FieldDefect::Malformed(format!(
                "{} priorities for {} ids",
                wire.priorities.len(),
                wire.ids.len()
            )),
        ));
    }
    let mut voters = Vec::with_capacity(wire.ids.len());
    for (i, (id, priority)) in wire.ids.into_iter().zip(wire.priorities).enumerate() {
        let id = fields::node_id("ConsensusVoters.ids", id)
            .map_err(|e| e.within(nth("ConsensusVoters.ids", i)))?;
        let priority = u8::try_from(priority).map_err(|_| {
            ConvertError::new(
                "ConsensusVoters.priorities",
                FieldDefect::OutOfRange {
                    value: priority.to_string(),
                    allowed: "0..=255",
                },
            )
        })?;
        if voters.iter().any(|(v, _)| *v == id) {
            return Err(ConvertError::new(
                "ConsensusVoters.ids",
                FieldDefect::Duplicate(id.to_string()),
            ));
        }
        voters.push((id, Priority(priority)));
    }
    Ok(VoterSet::new(voters))
}

fn entry_to_wire(entry: &Entry) -> v1::ConsensusEntry {
    use v1::consensus_entry::Payload;
    v1::ConsensusEntry {
        index: entry.index,
        term: entry.term.0,
        payload: Some(match &entry.payload {
            EntryPayload::Noop => Payload::Noop(v1::LeaderNoop {}),
            EntryPayload::Command(bytes) => Payload::Command(bytes.clone()),
            EntryPayload::VoterChange(voters) => Payload::Voters(voters_to_wire(voters)),
        }),
    }
}

fn entry_from_wire(wire: v1::ConsensusEntry) -> Result<Entry, ConvertError> {
    use v1::consensus_entry::Payload;
    if wire.index == 0 {
        return Err(ConvertError::new(
            "ConsensusEntry.index",
            FieldDefect::Missing,
        ));
    }
    let payload = match fields::required("ConsensusEntry.payload", wire.payload)? {
        Payload::Noop(_) => EntryPayload::Noop,
        Payload::Command(bytes) => EntryPayload::Command(bytes),
        Payload::Voters(v) => EntryPayload::VoterChange(voters_from_wire(v)?),
    };
    Ok(Entry {
        term: Term(wire.term),
        index: wire.index,
        payload,
    })
}

fn vote_request_to_wire(r: &VoteRequest) -> v1::ConsensusVoteRequest {
    v1::ConsensusVoteRequest {
        term: r.term.0,
        last_log_index: r.last_log_index,
        last_log_term: r.last_log_term.0,
        transfer: r.transfer,
    }
}

fn vote_request_from_wire(w: v1::ConsensusVoteRequest) -> VoteRequest {
    VoteRequest {
        term: Term(w.term),
        last_log_index: w.last_log_index,
        last_log_term: Term(w.last_log_term),
        transfer: w.transfer,
    }
}

fn vote_response_to_wire(r: &VoteResponse) -> v1::ConsensusVoteResponse {
    v1::ConsensusVoteResponse {
        term: r.term.0,
        granted: r.granted,
    }
}

fn vote_response_from_wire(w: v1::ConsensusVoteResponse) -> VoteResponse {
    VoteResponse {
        term: Term(w.term),
        granted: w.granted,
    }
}

/// One Raft message of `group` on the wire.
pub fn consensus_to_wire(
    group: v1::ConsensusGroup,
    message: &consensus::Message,
) -> v1::ConsensusFrame {
    use consensus::Message as M;
    use v1::consensus_frame::Message as W;
    let wire = match message {
        M::PreVote(r) => W::PreVote(vote_request_to_wire(r)),
        M::PreVoteResponse(r) => W::PreVoteResponse(vote_response_to_wire(r)),
        M::Vote(r) => W::Vote(vote_request_to_wire(r)),
        M::VoteResponse(r) => W::VoteResponse(vote_response_to_wire(r)),
        M::Append(a) => W::Append(v1::ConsensusAppend {
            term: a.term.0,
            prev_log_index: a.prev_log_index,
            prev_log_term: a.prev_log_term.0,
            entries: a.entries.iter().map(entry_to_wire).collect(),
            leader_commit: a.leader_commit,
        }),
        M::AppendResponse(r) => W::AppendResponse(match r.outcome {
            AppendOutcome::Accepted { match_index } => v1::ConsensusAppendResponse {
                term: r.term.0,
                match_index,
                ..Default::default()
            },
            AppendOutcome::Rejected {
                rejected_prev_index,
                hint_index,
                hint_term,
            } => v1::ConsensusAppendResponse {
                term: r.term.0,
                match_index: 0,
                rejected: true,
                rejected_prev_index,
                hint_index,
                hint_term: hint_term.0,
            },
        }),
        M::InstallSnapshot { term, snapshot } => W::InstallSnapshot(v1::ConsensusSnapshot {
            term: term.0,
            last_index: snapshot.last_index,
            last_term: snapshot.last_term.0,
            voters: Some(voters_to_wire(&snapshot.voters)),
            data: snapshot.data.to_vec(),
        }),
        M::TimeoutNow { term } => W::TimeoutNow(v1::ConsensusTimeoutNow { term: term.0 }),
    };
    v1::ConsensusFrame {
        group: group as i32,
        message: Some(wire),
    }
}

/// The Raft message of a frame (its group is read by the caller).
pub fn consensus_from_wire(frame: v1::ConsensusFrame) -> Result<consensus::Message, ConvertError> {
    use consensus::Message as M;
    use v1::consensus_frame::Message as W;
    Ok(
        match fields::required("ConsensusFrame.message", frame.message)? {
            W::PreVote(r) => M::PreVote(vote_request_from_wire(r)),
            W::PreVoteResponse(r) => M::PreVoteResponse(vote_response_from_wire(r)),
            W::Vote(r) => M::Vote(vote_request_from_wire(r)),
            W::VoteResponse(r) => M::VoteResponse(vote_response_from_wire(r)),
            W::Append(a) => M::Append(AppendEntries {
                term: Term(a.term),
                prev_log_index: a.prev_log_index,
                prev_log_term: Term(a.prev_log_term),
                entries: a
                    .entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| {
                        entry_from_wire(e)
                            .map_err(|err| err.within(nth("ConsensusAppend.entries", i)))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                leader_commit: a.leader_commit,
            }),
            W::AppendResponse(r) => M::AppendResponse(AppendResponse {
                term: Term(r.term),
                outcome: if r.rejected {
                    AppendOutcome::Rejected {
                        rejected_prev_index: r.rejected_prev_index,
                        hint_index: r.hint_index,
                        hint_term: Term(r.hint_term),
                    }
                } else {
                    AppendOutcome::Accepted {
                        match_index: r.match_index,
                    }
                },
            }),
            W::InstallSnapshot(s) => M::InstallSnapshot {
                term: Term(s.term),
                snapshot: Snapshot {
                    last_index: s.last_index,
                    last_term: Term(s.last_term),
                    voters: voters_from_wire(fields::required(
                        "ConsensusSnapshot.voters",
                        s.voters,
                    )?)?,
                    data: Arc::from(s.data),
                },
            },
            W::TimeoutNow(t) => M::TimeoutNow { term: Term(t.term) },
        },
    )
}

/// Core's `MeshMessage` in a serde shape (`MeshFrame.body`, postcard): the same fields,
/// with `Term` as its number, `Lag` as entries and duration, and the registry by value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MeshWire {
    /// `MeshMessage::Status`.
    Status {
        /// The cluster.
        cluster: ClusterId,
        /// Its leader.
        leader: NodeId,
        /// The leader's term.
        term: u64,
        /// What it has applied.
        vv: ClusterVersionVector,
        /// Its last own `origin_seq`.
        last_seq: u64,
        /// Each other cluster's lag: (cluster, entries, seconds).
        lags: Vec<(ClusterId, u64, Duration)>,
        /// Each namespace's placement version and digest.
        digests: Vec<(NamespaceId, u64, u64)>,
        /// Namespaces emergency promotions took from it: (namespace, version, last seq).
        superseded: Vec<(NamespaceId, u64, u64)>,
    },
    /// `MeshMessage::Reachability`.
    Reachability {
        /// The voter's cluster.
        voter_cluster: ClusterId,
        /// Clusters it heard nothing from lately.
        unreachable: Vec<ClusterId>,
    },
    /// `MeshMessage::Registry`.
    Registry {
        /// The registry as committed.
        registry: Registry,
        /// The control group's leader.
        control_leader: NodeId,
    },
    /// `MeshMessage::Drain`.
    Drain {
        /// The failover.
        failover: FailoverId,
        /// The draining placement.
        placement: NamespacePlacement,
        /// Its registry version.
        revision: u64,
    },
    /// `MeshMessage::Drained`.
    Drained {
        /// The failover.
        failover: FailoverId,
        /// The last `origin_seq` committed.
        last_seq: u64,
    },
    /// `MeshMessage::Freeze`.
    Freeze {
        /// The failover.
        failover: FailoverId,
        /// The superseded active.
        origin: ClusterId,
    },
    /// `MeshMessage::Frozen`.
    Frozen {
        /// The failover.
        failover: FailoverId,
        /// How far `origin` was applied.
        applied_through: u64,
    },
    /// `MeshMessage::Operator`.
    Operator {
        /// The asking node's handle.
        op: u64,
        /// The request.
        request: OperatorRequest,
    },
    /// `MeshMessage::OperatorReply`.
    OperatorReply {
        /// The handle.
        op: u64,
        /// The answer.
        reply: OperatorReply,
    },
}

impl MeshWire {
    /// The serde shape of `m`.
    pub fn from_core(m: &MeshMessage) -> MeshWire {
        match m {
            MeshMessage::Status(s) => MeshWire::Status {
                cluster: s.cluster.clone(),
                leader: s.leader,
                term: s.term.0,
                vv: s.vv.clone(),
                last_seq: s.last_seq,
                lags: s
                    .lags
                    .iter()
                    .map(|(c, l)| (c.clone(), l.entries, l.seconds))
                    .collect(),
                digests: s
                    .digests
                    .iter()
                    .map(|(ns, v, d)| (ns.clone(), v.0, *d))
                    .collect(),
                superseded: s
                    .superseded
                    .iter()
                    .map(|(ns, v, last)| (ns.clone(), v.0, *last))
                    .collect(),
            },
            MeshMessage::Reachability {
                voter_cluster,
                unreachable,
            } => MeshWire::Reachability {
                voter_cluster: voter_cluster.clone(),
                unreachable: unreachable.clone(),
            },
            MeshMessage::Registry {
                registry,
                control_leader,
            } => MeshWire::Registry {
                registry: Registry::clone(registry),
                control_leader: *control_leader,
            },
            MeshMessage::Drain {
                failover,
                placement,
                revision,
            } => MeshWire::Drain {
                failover: *failover,
                placement: placement.clone(),
                revision: *revision,
            },
            MeshMessage::Drained { failover, last_seq } => MeshWire::Drained {
                failover: *failover,
                last_seq: *last_seq,
            },
            MeshMessage::Freeze { failover, origin } => MeshWire::Freeze {
                failover: *failover,
                origin: origin.clone(),
            },
            MeshMessage::Frozen {
                failover,
                applied_through,
            } => MeshWire::Frozen {
                failover: *failover,
                applied_through: *applied_through,
            },
            MeshMessage::Operator { op, request } => MeshWire::Operator {
                op: *op,
                request: request.clone(),
            },
            MeshMessage::OperatorReply { op, reply } => MeshWire::OperatorReply {
                op: *op,
                reply: reply.clone(),
            },
        }
    }

    /// Back to core's message.
    pub fn into_core(self) -> MeshMessage {
        match self {
            MeshWire::Status {
                cluster,
                leader,
                term,
                vv,
                last_seq,
                lags,
                digests,
                superseded,
            } => MeshMessage::Status(ClusterStatus {
                cluster,
                leader,
                term: Term(term),
                vv,
                last_seq,
                lags: lags
                    .into_iter()
                    .map(|(c, entries, seconds)| (c, Lag { entries, seconds }))
                    .collect(),
                digests: digests
                    .into_iter()
                    .map(|(ns, v, d)| (ns, FailoverVersion(v), d))
                    .collect(),
                superseded: superseded
                    .into_iter()
                    .map(|(ns, v, last)| (ns, FailoverVersion(v), last))
                    .collect(),
            }),
            MeshWire::Reachability {
                voter_cluster,
                unreachable,
            } => MeshMessage::Reachability {
                voter_cluster,
                unreachable,
            },
            MeshWire::Registry {
                registry,
                control_leader,
            } => MeshMessage::Registry {
                registry: Arc::new(registry),
                control_leader,
            },
            MeshWire::Drain {
                failover,
                placement,
                revision,
            } => MeshMessage::Drain {
                failover,
                placement,
                revision,
            },
            MeshWire::Drained { failover, last_seq } => MeshMessage::Drained { failover, last_seq },
            MeshWire::Freeze { failover, origin } => MeshMessage::Freeze { failover, origin },
            MeshWire::Frozen {
                failover,
                applied_through,
            } => MeshMessage::Frozen {
                failover,
                applied_through,
            },
            MeshWire::Operator { op, request } => MeshMessage::Operator { op, request },
            MeshWire::OperatorReply { op, reply } => MeshMessage::OperatorReply { op, reply },
        }
    }
}
