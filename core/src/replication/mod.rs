//! Replication ordering between clusters: version vectors, the applier, conflicts, lag.
//!
//! The leader of each cluster streams its committed events to every other cluster; the
//! receiving side runs an [`Applier`] that applies each origin's events exactly once, in
//! `origin_seq` order, asks for resends on gaps and quarantines the writes the namespace
//! failover history forbids. The sending side runs a [`LagTracker`] per stream. See
//! ARCHITECTURE.md, "Replication between clusters" and "Emergency failover".

mod applier;
mod conflict;
mod event;
mod lag;
mod quarantine;
mod version_vector;

pub use applier::{
    AppliedEvent, Applier, ApplierConfig, ApplierCounters, ApplyError, BatchReport, Delivery,
    ResendRequest,
};
pub use conflict::{FailoverHistory, Placement, PlacementError};
pub use event::{Event, FailoverVersion};
pub use lag::{Lag, LagError, LagTracker};
pub use quarantine::{Quarantine, QuarantineReason, QuarantinedEvent};
pub use version_vector::{ClusterVersionVector, VersionOrdering, VersionVectorParseError};
