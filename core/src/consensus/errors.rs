//! Refusals and counted drops.

use super::log::Term;
use super::storage::PersistId;
use crate::NodeId;

/// Why a client proposal was refused. No variant changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProposeError {
    /// This node does not lead; nothing changed. Retry at `leader_hint` if known.
    #[error("not the leader (term {term}, leader hint {leader_hint:?})")]
    NotLeader {
        /// The leader of `term`, if this node knows it.
        leader_hint: Option<NodeId>,
        /// This node's current term.
        term: Term,
    },
    /// Leadership is being handed over; nothing changed. Retry shortly at the new leader.
    #[error("leadership transfer in progress")]
    TransferInProgress,
}

/// Why a voter-set change was refused. No variant changes state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum VoterChangeError {
    /// This node does not lead; nothing changed.
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader {
        /// The known leader, if any.
        leader_hint: Option<NodeId>,
    },
    /// Leadership is being handed over; nothing changed.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// A previous change is not committed yet; nothing changed (one at a time, thesis §4.1).
    #[error("voter change at index {pending_index} is not committed yet")]
    ChangePending {
        /// Index of the uncommitted configuration entry.
        pending_index: u64,
    },
    /// The leader has not committed an entry of its own term yet; nothing changed.
    #[error("leader has not committed an entry of its term yet")]
    LeaderNotSettled,
    /// The new set differs from the current one by `changed` servers, not exactly one;
    /// nothing changed.
    #[error("a voter change must change exactly one server, this one changes {changed}")]
    NotSingleServer {
        /// Servers that would change.
        changed: usize,
    },
    /// The new set has no voter able to lead; nothing changed.
    #[error("the new voter set has no voter that may lead")]
    NoEligibleLeader,
}

/// Why a leadership transfer was refused. No variant changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransferError {
    /// This node does not lead; nothing changed.
    #[error("not the leader")]
    NotLeader,
    /// A transfer is already running; nothing changed.
    #[error("a transfer to {0} is already in progress")]
    AlreadyInProgress(NodeId),
    /// The target is this node, not a voter, or has priority 0; nothing changed.
    #[error("{0} cannot receive leadership")]
    IneligibleTarget(NodeId),
}

/// Why a compaction was refused. No variant changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CompactError {
    /// The snapshot would cover entries not yet applied; nothing changed.
    #[error("cannot compact up to {upto}: only {applied} applied")]
    BeyondApplied {
        /// Requested index.
        upto: u64,
        /// Highest applied index.
        applied: u64,
    },
    /// The log is already compacted up to `snapshot_index`; nothing changed.
    #[error("already compacted up to {snapshot_index}")]
    AlreadyCompacted {
        /// Current snapshot index.
        snapshot_index: u64,
    },
}

/// Why a persistence acknowledgement was refused. No variant changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PersistError {
    /// The id was never issued; nothing changed.
    #[error("persist id {acknowledged:?} was never issued (last issued {last_issued:?})")]
    NeverIssued {
        /// What the shell acknowledged.
        acknowledged: PersistId,
        /// The last id the replica issued.
        last_issued: PersistId,
    },
}

/// Why a restart was refused. No variant changes state (no replica is built).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RestoreError {
    /// The persisted entries are not contiguous after the snapshot, or their terms
    /// decrease.
    #[error("persisted log is not contiguous after the snapshot")]
    CorruptLog,
    /// The persisted term is older than an entry in the log.
    #[error("persisted term is older than the log's last term")]
    TermBehindLog,
}

/// A message ignored without changing state (besides this counter), by cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Its term is older than ours.
    StaleTerm,
    /// A response from this node or from a node no configuration this replica has seen
    /// names (requests always pass: thesis §4.1).
    UnknownSender,
    /// It names indexes or terms we cannot hold (not contiguous, beyond the end, entry
    /// terms going backwards, a snapshot term above the sender's term).
    OutOfRangeIndex,
    /// It only makes sense in another role (e.g. a vote response to a follower).
    UnexpectedRole,
    /// It would overwrite a committed entry (only a faulty peer can send it).
    CommittedConflict,
    /// It claims leadership of a term already led by someone else.
    SecondLeader,
}
