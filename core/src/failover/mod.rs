//! Failover workflows (ARCHITECTURE.md, "Planned failover", "Emergency failover",
//! "Automatic failover"): explicit state machines with typed steps, run by the leader of the
//! mesh control group.
//!
//! The [`FailoverController`] never changes the registry itself: it proposes
//! [`RegistryCommand`](crate::registry::RegistryCommand)s, and moves on only when the shell
//! reports them committed and applied. What it knows of the mesh (health, lag, applied
//! version vectors) arrives as an [`Observation`].

mod auto;
mod controller;
mod observation;
mod workflow;

pub use auto::{AutoDecision, AutoFailoverPolicy, AutoFailoverState};
pub use controller::{ControllerOutput, FailoverController, FailoverError};
pub use observation::{ClusterHealth, Observation};
pub use workflow::{
    AuditRecord, Failover, FailoverId, FailoverKind, FailoverPolicy, FailoverRequest, FailoverStep,
    LossReport, MigrationState, PreflightRefusal,
};
