//! The audit log: one JSON object per line, appended and fsynced before the call that
//! caused it returns, never rewritten. Who did what to which target, when, with which
//! outcome and why. The control API writes a record for every refused call and every
//! mutating call, the node for every failover step; `GET /control/audit` reads it back.

mod log;
mod record;

pub use log::{AuditError, AuditLog, AuditPage};
pub use record::{AuditOutcome, AuditRecord};
