//! State-machine snapshots: the compacted prefix of the log, as the shell produced it.

use std::sync::Arc;

use super::config::VoterSet;
use super::log::Term;

/// The shell's state machine as of `last_index`, plus what Raft needs to continue the log
/// after it. Sent whole in InstallSnapshot to a follower whose next entry was compacted away.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// Last entry the snapshot covers.
    pub last_index: u64,
    /// Term of that entry (so Log Matching still works at the boundary).
    pub last_term: Term,
    /// The voter set in effect at `last_index`.
    pub voters: VoterSet,
    /// Opaque state-machine bytes supplied by the shell through `Replica::compact`.
    pub data: Arc<[u8]>,
}
