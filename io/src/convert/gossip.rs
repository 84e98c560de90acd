//! Gossip: core's SWIM messages in `GossipEnvelope`s (`gossip.proto`, `endpoint.proto`).
//!
//! Where core and the contract differ, and what this file does about it:
//!
//! - The envelope's sender and pool are not part of core's [`GossipMessage`] (the machine
//!   gets the sender as `from`, and one machine serves one pool): [`GossipEnvelope`] pairs
//!   them.
//! - Core's pure-gossip message travels in the `gossip` arm (`GossipUpdates`). Peers from
//!   before that arm sent it as an `Ack` with `probe_id` 0; that now reads as an ack of
//!   probe 0, which core answers by applying the updates and counting an unmatched ack, so
//!   nothing is lost and no special case is needed.
//! - A push-pull answer is marked with `PushPull.reply`, so it is read as an answer
//!   wherever it arrives and can never be answered again. Peers from before the flag
//!   marked answers only by sending them inside `GossipReplies`: readers still pass
//!   [`Arrival`], and a push-pull that arrived there is an answer too.
//! - Core's `Ack` and `Nack` do not say which node was probed: `target` is sent as 0
//!   ("unknown") and ignored when read. Core's `PingReq` carries no updates and core relays
//!   indirect probes itself, so a `PingReq` with updates or a `Ping` with `on_behalf_of` is
//!   refused as unsupported rather than silently half-read.
//! - Suspect and dead updates carry only the member's id in `MemberUpdate.member`; their
//!   `reported_by` is required (Lifeguard counts distinct suspecters, so an unknown one
//!   cannot count). Alive and left updates are reported by the member itself.
//! - Endpoints: core names them, the wire has a kind. The names `gossip`, `consensus`,
//!   `replication`, `grpc` (client gRPC), `http` and `control` map one to one; any other
//!   name is sent as `ENDPOINT_KIND_UNSPECIFIED`, which readers skip as the contract says.
//! - `mesh_version` is `major.minor.patch` text; the protocol range `min..=max` is the list
//!   of every version in it, and a list with holes is refused (core holds a range).
//! - A witness outside any cluster (empty `cluster_id`) has no core form: refused.

use std::sync::Arc;

use omnirelay_core::gossip::{
    Endpoint, GossipMessage, MemberMeta, MemberRecord, MeshVersion, ProtocolRange, Role, Status,
    Update,
};
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_proto::v1;

use super::error::{ConvertError, FieldDefect};
use super::fields::{self, nth};
use super::{FromWire, ToWire};

/// Endpoint names core uses, and the wire kind each one is.
const ENDPOINT_KINDS: [(&str, v1::EndpointKind); 6] = [
    ("gossip", v1::EndpointKind::Gossip),
    ("consensus", v1::EndpointKind::Consensus),
    ("replication", v1::EndpointKind::Replication),
    ("grpc", v1::EndpointKind::ClientGrpc),
    ("http", v1::EndpointKind::Http),
    ("control", v1::EndpointKind::Control),
];

fn role_to_wire(role: Role) -> v1::NodeRole {
    match role {
        Role::Voter => v1::NodeRole::Voter,
        Role::Learner => v1::NodeRole::Learner,
        Role::Witness => v1::NodeRole::Witness,
    }
}

fn role_from_wire(value: i32) -> Result<Role, ConvertError> {
    Ok(
        match fields::required_enum::<v1::NodeRole>("MemberMeta.role", value)? {
            v1::NodeRole::Voter => Role::Voter,
            v1::NodeRole::Learner => Role::Learner,
            v1::NodeRole::Witness => Role::Witness,
            v1::NodeRole::Unspecified => {
                return Err(ConvertError::new(
                    "MemberMeta.role",
                    FieldDefect::Unspecified,
                ));
            }
        },
    )
}

fn status_to_wire(status: Status) -> v1::MemberStatus {
    match status {
        Status::Alive => v1::MemberStatus::Alive,
        Status::Suspect => v1::MemberStatus::Suspect,
        Status::Dead => v1::MemberStatus::Dead,
        Status::Left => v1::MemberStatus::Left,
    }
}

fn status_from_wire(value: i32) -> Result<Status, ConvertError> {
    Ok(
        match fields::required_enum::<v1::MemberStatus>("MemberUpdate.status", value)? {
            v1::MemberStatus::Alive => Status::Alive,
            v1::MemberStatus::Suspect => Status::Suspect,
            v1::MemberStatus::Dead => Status::Dead,
            v1::MemberStatus::Left => Status::Left,
            v1::MemberStatus::Unspecified => {
                return Err(ConvertError::new(
                    "MemberUpdate.status",
                    FieldDefect::Unspecified,
                ));
            }
        },
    )
}

fn endpoint_to_wire(endpoint: &Endpoint) -> v1::Endpoint {
    let kind = ENDPOINT_KINDS
        .iter()
        .find(|(name, _)| **name == *endpoint.name)
        .map_or(v1::EndpointKind::Unspecified, |(_, kind)| *kind);
    v1::Endpoint {
        kind: kind as i32,
        address: endpoint.address.to_string(),
    }
}

/// `None` for an unspecified kind, which the contract tells readers to skip.
fn endpoint_from_wire(wire: v1::Endpoint) -> Result<Option<Endpoint>, ConvertError> {
    if wire.kind == v1::EndpointKind::Unspecified as i32 {
        return Ok(None);
    }
    let kind = fields::required_enum::<v1::EndpointKind>("Endpoint.kind", wire.kind)?;
    let name = ENDPOINT_KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(name, _)| *name)
        .ok_or_else(|| ConvertError::new("Endpoint.kind", FieldDefect::Unspecified))?;
    Ok(Some(Endpoint {
        name: Arc::from(name),
        address: Arc::from(wire.address),
    }))
}

fn mesh_version_from_wire(text: &str) -> Result<MeshVersion, ConvertError> {
    let malformed = || {
        ConvertError::new(
            "MemberMeta.mesh_version",
            FieldDefect::Malformed(format!("{text:?} is not major.minor.patch")),
        )
    };
    let mut parts = text.split('.').map(|part| {
        // `u32::from_str` accepts a leading `+`, which no writer emits.
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<u32>().ok()
        } else {
            None
        }
    });
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) => Ok(MeshVersion {
            major,
            minor,
            patch,
        }),
        _ => Err(malformed()),
    }
}

fn protocols_from_wire(versions: &[u32]) -> Result<ProtocolRange, ConvertError> {
    const FIELD: &str = "MemberMeta.protocol_versions";
    let (Some(&min), Some(&max)) = (versions.first(), versions.last()) else {
        return Err(ConvertError::new(FIELD, FieldDefect::Missing));
    };
    let contiguous = versions
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if a.checked_add(1) == Some(*b)));
    if !contiguous {
        return Err(ConvertError::new(
            FIELD,
            FieldDefect::Malformed(format!(
                "{versions:?} is not an ascending run without holes"
            )),
        ));
    }
    Ok(ProtocolRange { min, max })
}

/// The wire form of `id`'s metadata (the wire keeps the id inside it).
pub fn member_meta_to_wire(id: NodeId, meta: &MemberMeta) -> v1::MemberMeta {
    v1::MemberMeta {
        node_id: id.0,
        role: role_to_wire(meta.role) as i32,
        cluster_id: meta.cluster.as_str().to_owned(),
        region: meta.region.to_string(),
        mesh_version: format!(
            "{}.{}.{}",
            meta.mesh_version.major, meta.mesh_version.minor, meta.mesh_version.patch
        ),
        endpoints: meta.endpoints.iter().map(endpoint_to_wire).collect(),
        // An empty range (min > max) sends an empty list, which readers refuse.
        protocol_versions: (meta.protocols.min..=meta.protocols.max).collect(),
    }
}

/// Reads a member's id and metadata.
pub fn member_meta_from_wire(wire: v1::MemberMeta) -> Result<(NodeId, MemberMeta), ConvertError> {
    let id = fields::node_id("MemberMeta.node_id", wire.node_id)?;
    let mut endpoints = Vec::with_capacity(wire.endpoints.len());
    for (i, endpoint) in wire.endpoints.into_iter().enumerate() {
        if let Some(endpoint) =
            endpoint_from_wire(endpoint).map_err(|e| e.within(nth("MemberMeta.endpoints", i)))?
        {
            endpoints.push(endpoint);
        }
    }
    let meta = MemberMeta {
        role: role_from_wire(wire.role)?,
        cluster: fields::cluster_id("MemberMeta.cluster_id", &wire.cluster_id)?,
        region: Arc::from(wire.region),
        mesh_version: mesh_version_from_wire(&wire.mesh_version)?,
        endpoints,
        protocols: protocols_from_wire(&wire.protocol_versions)?,
    };
    Ok((id, meta))
}

/// Metadata that only names the member: what suspect, dead and left updates carry.
fn bare_meta(id: NodeId) -> v1::MemberMeta {
    v1::MemberMeta {
        node_id: id.0,
        ..v1::MemberMeta::default()
    }
}

impl ToWire for Update {
    type Wire = v1::MemberUpdate;

    fn to_wire(&self) -> v1::MemberUpdate {
        let (member, status, reported_by) = match self {
            Update::Alive { member, meta, .. } => {
                (member_meta_to_wire(*member, meta), Status::Alive, *member)
            }
            Update::Suspect { member, from, .. } => (bare_meta(*member), Status::Suspect, *from),
            Update::Dead { member, from, .. } => (bare_meta(*member), Status::Dead, *from),
            Update::Left { member, .. } => (bare_meta(*member), Status::Left, *member),
        };
        v1::MemberUpdate {
            member: Some(member),
            incarnation: self.incarnation(),
            status: status_to_wire(status) as i32,
            reported_by: reported_by.0,
        }
    }
}

impl FromWire for Update {
    type Wire = v1::MemberUpdate;

    fn from_wire(wire: v1::MemberUpdate) -> Result<Update, ConvertError> {
        let status = status_from_wire(wire.status)?;
        let meta = fields::required("MemberUpdate.member", wire.member)?;
        let incarnation = wire.incarnation;
        let reporter = || fields::node_id("MemberUpdate.reported_by", wire.reported_by);
        Ok(match status {
            Status::Alive => {
                let (member, meta) =
                    member_meta_from_wire(meta).map_err(|e| e.within("MemberUpdate.member"))?;
                Update::Alive {
                    member,
                    incarnation,
                    meta: Arc::new(meta),
                }
            }
            Status::Suspect | Status::Dead | Status::Left => {
                let member = fields::node_id("MemberMeta.node_id", meta.node_id)
                    .map_err(|e| e.within("MemberUpdate.member"))?;
                match status {
                    Status::Suspect => Update::Suspect {
                        member,
                        incarnation,
                        from: reporter()?,
                    },
                    Status::Dead => Update::Dead {
                        member,
                        incarnation,
                        from: reporter()?,
                    },
                    _ => Update::Left {
                        member,
                        incarnation,
                    },
                }
            }
        })
    }
}

impl ToWire for MemberRecord {
    type Wire = v1::MemberUpdate;

    /// A full-state entry: complete metadata whatever the status; reporter unknown (0).
    fn to_wire(&self) -> v1::MemberUpdate {
        v1::MemberUpdate {
            member: Some(member_meta_to_wire(self.member, &self.meta)),
            incarnation: self.incarnation,
            status: status_to_wire(self.status) as i32,
            reported_by: 0,
        }
    }
}

impl FromWire for MemberRecord {
    type Wire = v1::MemberUpdate;

    /// `reported_by` is not part of a full-state entry and is ignored.
    fn from_wire(wire: v1::MemberUpdate) -> Result<MemberRecord, ConvertError> {
        let status = status_from_wire(wire.status)?;
        let meta = fields::required("MemberUpdate.member", wire.member)?;
        let (member, meta) =
            member_meta_from_wire(meta).map_err(|e| e.within("MemberUpdate.member"))?;
        Ok(MemberRecord {
            member,
            incarnation: wire.incarnation,
            status,
            meta: Arc::new(meta),
        })
    }
}

/// Which gossip pool an envelope belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipScope {
    /// The LAN pool of one cluster.
    Cluster(ClusterId),
    /// The WAN pool of cluster leaders and witnesses.
    Mesh,
}

/// Where an envelope arrived. Today's writers mark a push-pull answer with
/// `PushPull.reply`; peers from before that flag marked it only by sending it inside
/// `GossipReplies`, so a push-pull arriving there is read as an answer either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arrival {
    /// As the argument of an `Exchange` call.
    Request,
    /// Inside the `GossipReplies` an `Exchange` call returned.
    Reply,
}

/// A core gossip message with the sender and pool the wire envelope adds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GossipEnvelope {
    /// Who sent it (the machine's `from`).
    pub sender: NodeId,
    /// The pool it belongs to.
    pub scope: GossipScope,
    /// The message.
    pub message: GossipMessage,
}

impl GossipEnvelope {
    /// Whether the message is the answer to a push-pull, which should travel inside
    /// `GossipReplies`. It is marked on the wire (`PushPull.reply`), so today's readers
    /// never answer it wherever it arrives; peers from before the mark read it right only
    /// there.
    pub fn travels_as_reply(&self) -> bool {
        matches!(self.message, GossipMessage::PushPullReply { .. })
    }

    /// Reads an envelope that arrived as `arrival`.
    pub fn from_wire(
        wire: v1::GossipEnvelope,
        arrival: Arrival,
    ) -> Result<GossipEnvelope, ConvertError> {
        let sender = fields::node_id("GossipEnvelope.sender", wire.sender)?;
        let scope =
            match fields::required_enum::<v1::GossipScope>("GossipEnvelope.scope", wire.scope)? {
                v1::GossipScope::Cluster => GossipScope::Cluster(fields::cluster_id(
                    "GossipEnvelope.cluster_id",
                    &wire.cluster_id,
                )?),
                v1::GossipScope::Mesh if wire.cluster_id.is_empty() => GossipScope::Mesh,
                v1::GossipScope::Mesh => {
                    return Err(ConvertError::new(
                        "GossipEnvelope.cluster_id",
                        FieldDefect::Malformed(format!(
                            "{:?} names a cluster, but the scope is the mesh pool",
                            wire.cluster_id
                        )),
                    ));
                }
                v1::GossipScope::Unspecified => {
                    return Err(ConvertError::new(
                        "GossipEnvelope.scope",
                        FieldDefect::Unspecified,
                    ));
                }
            };
        let body = fields::required("GossipEnvelope.body", wire.body)?;
        let message = message_from_wire(body, arrival)?;
        Ok(GossipEnvelope {
            sender,
            scope,
            message,
        })
    }
}

fn updates_to_wire(updates: &[Update]) -> Vec<v1::MemberUpdate> {
    updates.iter().map(Update::to_wire).collect()
}

fn records_to_wire(members: &[MemberRecord]) -> Vec<v1::MemberUpdate> {
    members.iter().map(MemberRecord::to_wire).collect()
}

fn updates_from_wire(
    field: &'static str,
    updates: Vec<v1::MemberUpdate>,
) -> Result<Vec<Update>, ConvertError> {
    updates
        .into_iter()
        .enumerate()
        .map(|(i, u)| Update::from_wire(u).map_err(|e| e.within(nth(field, i))))
        .collect()
}

fn records_from_wire(members: Vec<v1::MemberUpdate>) -> Result<Vec<MemberRecord>, ConvertError> {
    members
        .into_iter()
        .enumerate()
        .map(|(i, m)| MemberRecord::from_wire(m).map_err(|e| e.within(nth("PushPull.members", i))))
        .collect()
}

impl ToWire for GossipEnvelope {
    type Wire = v1::GossipEnvelope;

    fn to_wire(&self) -> v1::GossipEnvelope {
        use v1::gossip_envelope::Body;
        let body = match &self.message {
            GossipMessage::Ping {
                seq,
                target,
                updates,
            } => Body::Ping(v1::Ping {
                probe_id: *seq,
                target: target.0,
                on_behalf_of: 0,
                updates: updates_to_wire(updates),
            }),
            GossipMessage::Ack { seq, updates } => Body::Ack(v1::Ack {
                probe_id: *seq,
                target: 0,
                updates: updates_to_wire(updates),
            }),
            GossipMessage::Gossip { updates } => Body::Gossip(v1::GossipUpdates {
                updates: updates_to_wire(updates),
            }),
            GossipMessage::PingReq { seq, target } => Body::PingReq(v1::PingReq {
                probe_id: *seq,
                target: target.0,
                updates: Vec::new(),
            }),
            GossipMessage::Nack { seq } => Body::Nack(v1::Nack {
                probe_id: *seq,
                target: 0,
            }),
            GossipMessage::PushPull { join, members } => Body::PushPull(v1::PushPull {
                members: records_to_wire(members),
                join: *join,
                reply: false,
            }),
            GossipMessage::PushPullReply { members } => Body::PushPull(v1::PushPull {
                members: records_to_wire(members),
                join: false,
                reply: true,
            }),
        };
        let (scope, cluster_id) = match &self.scope {
            GossipScope::Cluster(cluster) => {
                (v1::GossipScope::Cluster, cluster.as_str().to_owned())
            }
            GossipScope::Mesh => (v1::GossipScope::Mesh, String::new()),
        };
        v1::GossipEnvelope {
            sender: self.sender.0,
            scope: scope as i32,
            cluster_id,
            body: Some(body),
        }
    }
}

fn message_from_wire(
    body: v1::gossip_envelope::Body,
    arrival: Arrival,
) -> Result<GossipMessage, ConvertError> {
    use v1::gossip_envelope::Body;
    Ok(match body {
        Body::Ping(ping) => {
            if ping.on_behalf_of != 0 {
                return Err(ConvertError::new(
                    "Ping.on_behalf_of",
                    FieldDefect::Unsupported("core relays indirect probes itself"),
                ));
            }
            GossipMessage::Ping {
                seq: ping.probe_id,
                target: fields::node_id("Ping.target", ping.target)?,
                updates: updates_from_wire("Ping.updates", ping.updates)?,
            }
        }
        Body::Gossip(gossip) => GossipMessage::Gossip {
            updates: updates_from_wire("GossipUpdates.updates", gossip.updates)?,
        },
        Body::Ack(ack) => GossipMessage::Ack {
            seq: ack.probe_id,
            updates: updates_from_wire("Ack.updates", ack.updates)?,
        },
        Body::PingReq(req) => {
            if !req.updates.is_empty() {
                return Err(ConvertError::new(
                    "PingReq.updates",
                    FieldDefect::Unsupported("core's ping-req carries no updates"),
                ));
            }
            GossipMessage::PingReq {
                seq: req.probe_id,
                target: fields::node_id("PingReq.target", req.target)?,
            }
        }
        Body::Nack(nack) => GossipMessage::Nack { seq: nack.probe_id },
        Body::PushPull(push_pull) => {
            // Marked, or (from a peer before the mark) returned by an Exchange call.
            let is_answer = push_pull.reply || arrival == Arrival::Reply;
            if is_answer && push_pull.join {
                return Err(ConvertError::new(
                    "PushPull.join",
                    FieldDefect::Malformed("set on the answer to a push-pull".to_owned()),
                ));
            }
            if is_answer {
                GossipMessage::PushPullReply {
                    members: records_from_wire(push_pull.members)?,
                }
            } else {
                GossipMessage::PushPull {
                    join: push_pull.join,
                    members: records_from_wire(push_pull.members)?,
                }
            }
        }
    })
}
