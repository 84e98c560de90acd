//! What replicas send each other. Every message carries the sender's term.

use super::log::{Entry, Term};
use super::snapshot::Snapshot;
use crate::machine::WireMessage;

/// A (pre-)vote request (§5.2, thesis §9.6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VoteRequest {
    /// The term the candidate campaigns for (for a pre-vote: the term it would use).
    pub term: Term,
    /// Index of the candidate's last entry.
    pub last_log_index: u64,
    /// Term of the candidate's last entry.
    pub last_log_term: Term,
    /// Sent because the leader handed over (TimeoutNow): voters ignore their leader lease
    /// and priority preference (thesis §3.10, §4.2.3).
    pub transfer: bool,
}

/// A (pre-)vote answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VoteResponse {
    /// The voter's term, or for a granted pre-vote the term asked about.
    pub term: Term,
    /// Whether the vote was granted.
    pub granted: bool,
}

/// Log replication and heartbeat (§5.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppendEntries {
    /// Leader's term.
    pub term: Term,
    /// Index of the entry just before `entries`.
    pub prev_log_index: u64,
    /// Term of that entry.
    pub prev_log_term: Term,
    /// Entries to store (empty for a heartbeat).
    pub entries: Vec<Entry>,
    /// Leader's commit index.
    pub leader_commit: u64,
}

/// How a follower answered AppendEntries or InstallSnapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppendOutcome {
    /// The follower's log matches the leader's through `match_index`, durably.
    Accepted {
        /// Highest index known to match and be persisted.
        match_index: u64,
    },
    /// The entry at `rejected_prev_index` did not match.
    Rejected {
        /// The `prev_log_index` that failed.
        rejected_prev_index: u64,
        /// The leader should retry with `prev_log_index` at most this.
        hint_index: u64,
        /// The follower's term at `hint_index`: the leader skips back over its own
        /// entries of higher terms, which cannot match (one round trip per term, not
        /// per entry).
        hint_term: Term,
    },
}

/// A follower's answer to AppendEntries or InstallSnapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AppendResponse {
    /// Follower's term.
    pub term: Term,
    /// Accepted or rejected.
    pub outcome: AppendOutcome,
}

/// Every consensus message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Would you vote for me in `term`? Changes nobody's term.
    PreVote(VoteRequest),
    /// Answer to `PreVote`.
    PreVoteResponse(VoteResponse),
    /// RequestVote.
    Vote(VoteRequest),
    /// Answer to `Vote`, sent only once the vote is persisted.
    VoteResponse(VoteResponse),
    /// AppendEntries.
    Append(AppendEntries),
    /// Answer to `Append` or `InstallSnapshot`, sent only once the entries are persisted.
    AppendResponse(AppendResponse),
    /// The leader's snapshot, for a follower whose next entry was compacted away.
    InstallSnapshot {
        /// Leader's term.
        term: Term,
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leadership transfer: campaign now, without waiting for a timeout (thesis §3.10).
    TimeoutNow {
        /// Leader's term.
        term: Term,
    },
}

impl Message {
    /// The sender's term.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote(r) | Message::Vote(r) => r.term,
            Message::PreVoteResponse(r) | Message::VoteResponse(r) => r.term,
            Message::Append(a) => a.term,
            Message::AppendResponse(r) => r.term,
            Message::InstallSnapshot { term, .. } | Message::TimeoutNow { term } => *term,
        }
    }
}

// Sizes approximate a protobuf encoding: varints of ~5 bytes, a small per-message header.
const HEADER: usize = 8;
const VARINT: usize = 5;

fn entry_size(e: &Entry) -> usize {
    use super::log::EntryPayload;
    let payload = match &e.payload {
        EntryPayload::Noop => 0,
        EntryPayload::Command(bytes) => bytes.len() + 2,
        EntryPayload::VoterChange(v) => v.len() * 8,
    };
    2 * VARINT + payload + 2
}

impl WireMessage for Message {
    fn wire_size(&self) -> usize {
        HEADER
            + match self {
                Message::PreVote(_) | Message::Vote(_) => 3 * VARINT + 2,
                Message::PreVoteResponse(_) | Message::VoteResponse(_) => VARINT + 2,
                Message::Append(a) => 4 * VARINT + a.entries.iter().map(entry_size).sum::<usize>(),
                Message::AppendResponse(_) => 3 * VARINT + 2,
                Message::InstallSnapshot { snapshot, .. } => {
                    3 * VARINT + snapshot.voters.len() * 8 + snapshot.data.len()
                }
                Message::TimeoutNow { .. } => VARINT,
            }
    }
}
