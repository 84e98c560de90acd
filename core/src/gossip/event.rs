//! What the membership machine tells its driver.

use std::sync::Arc;

use crate::NodeId;

use super::member::MemberMeta;

/// A change in this member's view of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MembershipEvent {
    /// A member became known alive: new, or back after being dead or left.
    Joined {
        /// Who.
        member: NodeId,
        /// Its incarnation.
        incarnation: u64,
        /// Its metadata.
        meta: Arc<MemberMeta>,
    },
    /// A member is suspected.
    Suspect {
        /// Who.
        member: NodeId,
        /// The incarnation suspected.
        incarnation: u64,
    },
    /// A suspected member refuted the suspicion (or was heard from at a newer incarnation).
    Alive {
        /// Who.
        member: NodeId,
        /// Its new incarnation.
        incarnation: u64,
    },
    /// A member was declared dead.
    Dead {
        /// Who.
        member: NodeId,
        /// The incarnation declared dead.
        incarnation: u64,
    },
    /// A member left on purpose.
    Left {
        /// Who.
        member: NodeId,
        /// The incarnation it left with.
        incarnation: u64,
    },
    /// A live member announced new metadata.
    MetadataChanged {
        /// Who.
        member: NodeId,
        /// The incarnation carrying the new metadata.
        incarnation: u64,
        /// The new metadata.
        meta: Arc<MemberMeta>,
    },
}

impl MembershipEvent {
    /// The member the event is about.
    pub fn member(&self) -> NodeId {
        match self {
            MembershipEvent::Joined { member, .. }
            | MembershipEvent::Suspect { member, .. }
            | MembershipEvent::Alive { member, .. }
            | MembershipEvent::Dead { member, .. }
            | MembershipEvent::Left { member, .. }
            | MembershipEvent::MetadataChanged { member, .. } => *member,
        }
    }
}
