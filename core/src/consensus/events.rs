//! What a replica tells its shell.

use std::sync::Arc;
use std::time::Duration;

use super::config::VoterSet;
use super::log::{Entry, Term};
use super::storage::PersistRequest;
use crate::NodeId;

/// A leader became known at this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeadershipChange {
    /// The fencing token: everything the leader does is stamped with it.
    pub term: Term,
    /// The leader (this node itself when it won).
    pub leader: NodeId,
    /// From the moment this node lost its previous leader (or started) until now.
    pub election_duration: Duration,
}

/// Why a leader gave up leadership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepDownReason {
    /// It saw a higher term.
    HigherTerm,
    /// Check-quorum: no contact with a majority within the maximum election timeout.
    LostQuorum,
    /// A committed voter change removed it.
    Removed,
}

/// Outputs for the shell, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// Make this durable, then call `handle_persisted(now, request.id)`.
    Persist(PersistRequest),
    /// Apply this committed entry to the state machine (in index order, no gaps after the
    /// last snapshot).
    Committed(Entry),
    /// A leader for `term` is known here.
    LeaderChanged(LeadershipChange),
    /// This node was leader of `term` and is not any more.
    SteppedDown {
        /// The term it led.
        term: Term,
        /// Why.
        reason: StepDownReason,
    },
    /// Two different nodes claimed leadership of the same term. Must never happen.
    SplitBrain {
        /// The term claimed twice.
        term: Term,
        /// The leader known first.
        first: NodeId,
        /// The other claimant.
        second: NodeId,
    },
    /// Replace the state machine with this snapshot (received from the leader).
    SnapshotInstalled {
        /// Last index it covers.
        last_index: u64,
        /// Term of that entry.
        last_term: Term,
        /// The shell's state-machine bytes.
        data: Arc<[u8]>,
    },
    /// The voter set in effect changed (a configuration entry was appended or truncated).
    VoterSetChanged {
        /// Index of the configuration entry now in effect (0: bootstrap set).
        index: u64,
        /// The voters.
        voters: VoterSet,
    },
    /// A leadership transfer to `target` did not finish within an election timeout.
    TransferAborted {
        /// The chosen successor.
        target: NodeId,
        /// The leader's term.
        term: Term,
    },
}
