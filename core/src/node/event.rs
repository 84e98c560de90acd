//! What a node tells its shell.

use crate::NodeId;
use crate::consensus::{LeadershipChange, PersistRequest, StepDownReason, Term};
use crate::failover::{AuditRecord, FailoverId, LossReport};
use crate::gossip::MembershipEvent;

use super::message::{OperatorReply, WriteReply};

/// The node's two consensus groups, each with its own durable log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// The node's cluster: its event log.
    Cluster,
    /// The mesh-wide control group: the registry's log.
    Control,
}

/// Outputs for the shell, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeEvent {
    /// Make `request` durable in `group`'s log (in order per group), then call
    /// `Node::handle_persisted(now, group, request.id)`.
    Persist {
        /// Which log.
        group: Group,
        /// What to write.
        request: PersistRequest,
    },
    /// The answer to a write made through `Node::handle_client_write`.
    WriteReply(WriteReply),
    /// The answer to `Node::handle_operator`.
    OperatorReply {
        /// The handle given with the request.
        op: u64,
        /// The answer.
        reply: OperatorReply,
    },
    /// A leader became known in `group`.
    Leadership {
        /// Which group.
        group: Group,
        /// Who, in which term.
        change: LeadershipChange,
    },
    /// This node stopped leading `group`.
    SteppedDown {
        /// Which group.
        group: Group,
        /// The term it led.
        term: Term,
        /// Why.
        reason: StepDownReason,
    },
    /// Two leaders claimed one term of `group`. Must never happen.
    SplitBrain {
        /// Which group.
        group: Group,
        /// The term.
        term: Term,
        /// The first claimant.
        first: NodeId,
        /// The second.
        second: NodeId,
    },
    /// Gossip changed its view of a member.
    Membership(MembershipEvent),
    /// A failover step, for the audit log (control leader only).
    Audit(AuditRecord),
    /// An emergency promotion reported the writes it may lose (control leader only).
    LossReported {
        /// The failover.
        failover: FailoverId,
        /// The range at risk.
        report: LossReport,
    },
}

/// Inputs a node dropped, counted by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeDrop {
    /// A message for a role this node does not have.
    NotForThisNode,
    /// A `handle_persisted` that matched no request.
    UnknownPersist,
    /// A log entry that did not decode.
    UndecodableEntry,
    /// A snapshot arrived, though no log is ever compacted.
    UnexpectedSnapshot,
    /// A proposed write whose leader stepped down before it committed: its caller was told
    /// the outcome is unknown (it may still commit).
    UnansweredWrite,
    /// Control traffic only the control leader serves reached another node.
    NotControlLeader,
    /// An event the applier released out of `origin_seq` order, which the cluster's store
    /// refused to keep (it holds each origin contiguously). Must stay 0: the applier
    /// releases in order; the chaos checker fails `exactly_once_in_order` on any.
    NonContiguousEvent,
}
