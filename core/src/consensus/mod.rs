//! Raft inside a cluster: election, fencing terms, the replicated cluster log.
//!
//! [`Replica`] is the machine (see its docs for the driving order). The durability
//! boundary is explicit: every change to the log or to the term/vote leaves as an
//! [`Event::Persist`] request, and the replica only lets dependent messages out (votes,
//! append acknowledgements) and only counts its own copy toward a commit once the shell
//! reports it with [`Replica::handle_persisted`]. A restart rebuilds a replica from
//! [`PersistedState`] alone.
//!
//! Files: `replica` (the machine, client inputs, timers), `log` (entries, terms),
//! `messages`, `storage` (the durability boundary, shell side) and `durability` (replica
//! side), `snapshot`, `config` (voter set, priorities, timeouts), `election` (pre-vote,
//! votes, lease, check-quorum, priority rule), `replication` (append, commit, snapshot
//! catch-up), `membership` (voter changes), `progress` (leader's view of followers),
//! `timers`, `events`, `errors`.

mod config;
mod durability;
mod election;
mod errors;
mod events;
mod log;
mod membership;
mod messages;
mod progress;
mod replica;
mod replication;
mod snapshot;
mod storage;
mod timers;

pub use config::{ElectionTimeout, Priority, ReplicaConfig, VoterSet};
pub use errors::{
    CompactError, DropReason, PersistError, ProposeError, RestoreError, TransferError,
    VoterChangeError,
};
pub use events::{Event, LeadershipChange, StepDownReason};
pub use log::{Entry, EntryPayload, LogPosition, Term};
pub use messages::{
    AppendEntries, AppendOutcome, AppendResponse, Message, VoteRequest, VoteResponse,
};
pub use replica::{Replica, RoleKind};
pub use snapshot::Snapshot;
pub use storage::{HardState, PersistId, PersistRequest, PersistedState};
