//! Who a member is (its metadata) and what this member believes about it (its status).

use std::sync::Arc;

use crate::{ClusterId, NodeId};

use super::wire;

/// What a node does in its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Holds data and votes in its cluster's consensus group.
    Voter,
    /// Holds data, does not vote (catching up, or a read replica).
    Learner,
    /// Votes in the mesh-wide registry group, holds no data.
    Witness,
}

/// The mesh software version a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeshVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Compatible additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

/// One address a node serves on, named by what it serves (`gossip`, `grpc`, `control`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// What is served there.
    pub name: Arc<str>,
    /// `host:port`.
    pub address: Arc<str>,
}

/// The protocol versions a node can speak, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolRange {
    /// Oldest supported.
    pub min: u32,
    /// Newest supported.
    pub max: u32,
}

/// What a member announces about itself. Changing it (`Membership::set_metadata`) bumps
/// the member's incarnation so the new value overrides the old everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberMeta {
    /// What the node does.
    pub role: Role,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Its region, as operators name it.
    pub region: Arc<str>,
    /// The software it runs.
    pub mesh_version: MeshVersion,
    /// Where it serves.
    pub endpoints: Vec<Endpoint>,
    /// Which protocol versions it speaks.
    pub protocols: ProtocolRange,
}

impl MemberMeta {
    /// Bytes of its protobuf encoding.
    pub fn wire_size(&self) -> usize {
        let endpoints: usize = self
            .endpoints
            .iter()
            .map(|e| wire::embedded(wire::bytes(e.name.len()) + wire::bytes(e.address.len())))
            .sum();
        let version = wire::embedded(
            wire::uint(u64::from(self.mesh_version.major))
                + wire::uint(u64::from(self.mesh_version.minor))
                + wire::uint(u64::from(self.mesh_version.patch)),
        );
        let protocols = wire::embedded(
            wire::uint(u64::from(self.protocols.min)) + wire::uint(u64::from(self.protocols.max)),
        );
        wire::uint(self.role as u64 + 1)
            + wire::bytes(self.cluster.as_str().len())
            + wire::bytes(self.region.len())
            + version
            + endpoints
            + protocols
    }
}

/// What this member believes about another, in SWIM's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Answering probes, as far as we know.
    Alive,
    /// Missed a probe; declared dead unless it refutes before its suspicion times out.
    Suspect,
    /// Declared failed. Kept as a tombstone for a while, then forgotten.
    Dead,
    /// Left on purpose. Kept as a tombstone for a while, then forgotten.
    Left,
}

impl Status {
    /// Alive or suspect: still probed and gossiped to.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }
}

/// A read-only view of one member as this member knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// The member.
    pub id: NodeId,
    /// Its status here.
    pub status: Status,
    /// The incarnation that status is about.
    pub incarnation: u64,
    /// Its metadata.
    pub meta: Arc<MemberMeta>,
}
