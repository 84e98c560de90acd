//! Failover requests, steps, loss reports and status (`failover.proto`).
//!
//! Gaps between core and the contract, and how they are bridged:
//!
//! - Every core step has its own wire value (`AwaitingApproval` is
//!   `FAILOVER_STEP_AWAITING_APPROVAL`, numbered after the terminal steps because it was
//!   added later).
//! - `force` is a request field on the wire but part of core's `Emergency` kind: a forced
//!   request of any other kind is refused.
//! - Requests core cannot run yet are refused, never half-read: a whole-cluster scope, a
//!   `dry_run`, an `expected_failover_version` guard. Ignoring the last two would turn a
//!   rehearsal or a guarded change into a real, unguarded one.
//! - `LossRange.old_failover_version` carries the superseded version core's [`LossReport`]
//!   holds. Core never mints version 0 (a placement starts at its cluster's initial
//!   version, at least 1), so 0, which ranges from writers before the field carry, is
//!   refused as missing: quarantining by a guessed version could apply lost writes over
//!   newer ones. A closed range is `last_seq: Some(..)`; an open-ended one is `None`, sent
//!   with `last_origin_seq = first - 1` (nothing known beyond the cutoff), and any wire
//!   range marked open-ended reads as `None`, the conservative reading.
//! - `FailoverStatus` is a report: it is built from core's [`Failover`] plus the facts the
//!   controller does not keep ([`StatusFacts`]); there is no way back.

use omnirelay_core::Instant;
use omnirelay_core::failover::{Failover, FailoverKind, FailoverRequest, FailoverStep, LossReport};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_proto::v1;

use super::error::{ConvertError, FieldDefect};
use super::fields;
use super::{FromWire, ToWire};

impl ToWire for FailoverStep {
    type Wire = v1::FailoverStep;

    fn to_wire(&self) -> v1::FailoverStep {
        match self {
            FailoverStep::Preflight => v1::FailoverStep::Preflight,
            FailoverStep::AwaitingApproval => v1::FailoverStep::AwaitingApproval,
            FailoverStep::Drain => v1::FailoverStep::Drain,
            FailoverStep::CatchUp => v1::FailoverStep::CatchUp,
            FailoverStep::Promote => v1::FailoverStep::Promote,
            FailoverStep::Publish => v1::FailoverStep::Publish,
            FailoverStep::Done => v1::FailoverStep::Done,
            FailoverStep::Aborted => v1::FailoverStep::Aborted,
            FailoverStep::RolledBack => v1::FailoverStep::RolledBack,
        }
    }
}

impl FromWire for FailoverStep {
    /// The enum's number, as generated message fields hold it.
    type Wire = i32;

    fn from_wire(value: i32) -> Result<FailoverStep, ConvertError> {
        const FIELD: &str = "FailoverStatus.step";
        Ok(
            match fields::required_enum::<v1::FailoverStep>(FIELD, value)? {
                v1::FailoverStep::Preflight => FailoverStep::Preflight,
                v1::FailoverStep::AwaitingApproval => FailoverStep::AwaitingApproval,
                v1::FailoverStep::Drain => FailoverStep::Drain,
                v1::FailoverStep::CatchUp => FailoverStep::CatchUp,
                v1::FailoverStep::Promote => FailoverStep::Promote,
                v1::FailoverStep::Publish => FailoverStep::Publish,
                v1::FailoverStep::Done => FailoverStep::Done,
                v1::FailoverStep::Aborted => FailoverStep::Aborted,
                v1::FailoverStep::RolledBack => FailoverStep::RolledBack,
                v1::FailoverStep::Unspecified => {
                    return Err(ConvertError::new(FIELD, FieldDefect::Unspecified));
                }
            },
        )
    }
}

impl ToWire for FailoverRequest {
    type Wire = v1::FailoverRequest;

    fn to_wire(&self) -> v1::FailoverRequest {
        let (kind, force) = match self.kind {
            FailoverKind::Planned => (v1::FailoverKind::Planned, false),
            FailoverKind::Emergency { force } => (v1::FailoverKind::Emergency, force),
            FailoverKind::Failback => (v1::FailoverKind::Failback, false),
            FailoverKind::Migration => (v1::FailoverKind::Migration, false),
        };
        v1::FailoverRequest {
            kind: kind as i32,
            scope: Some(v1::failover_request::Scope::Namespace(
                self.namespace.as_str().to_owned(),
            )),
            target_cluster: self
                .target
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            dry_run: false,
            ticket: fields::text_or_empty(self.ticket.as_ref()),
            approver: fields::text_or_empty(self.approver.as_ref()),
            force,
            requested_by: self.requested_by.clone(),
            expected_failover_version: 0,
        }
    }
}

impl FromWire for FailoverRequest {
    type Wire = v1::FailoverRequest;

    /// Empty `target_cluster`, `ticket` and `approver` read as `None`.
    fn from_wire(wire: v1::FailoverRequest) -> Result<FailoverRequest, ConvertError> {
        use v1::failover_request::Scope;
        const KIND: &str = "FailoverRequest.kind";
        let kind = match fields::required_enum::<v1::FailoverKind>(KIND, wire.kind)? {
            v1::FailoverKind::Emergency => FailoverKind::Emergency { force: wire.force },
            _ if wire.force => {
                return Err(ConvertError::new(
                    "FailoverRequest.force",
                    FieldDefect::Malformed("only an emergency failover can be forced".to_owned()),
                ));
            }
            v1::FailoverKind::Planned => FailoverKind::Planned,
            v1::FailoverKind::Failback => FailoverKind::Failback,
            v1::FailoverKind::Migration => FailoverKind::Migration,
            v1::FailoverKind::Unspecified => {
                return Err(ConvertError::new(KIND, FieldDefect::Unspecified));
            }
        };
        let namespace = match fields::required("FailoverRequest.scope", wire.scope)? {
            Scope::Namespace(namespace) => {
                fields::namespace_id("FailoverRequest.namespace", &namespace)?
            }
            Scope::WholeCluster(_) => {
                return Err(ConvertError::new(
                    "FailoverRequest.whole_cluster",
                    FieldDefect::Unsupported("core fails over one namespace per request"),
                ));
            }
        };
        if wire.dry_run {
            return Err(ConvertError::new(
                "FailoverRequest.dry_run",
                FieldDefect::Unsupported("core has no preflight-only run yet"),
            ));
        }
        if wire.expected_failover_version != 0 {
            return Err(ConvertError::new(
                "FailoverRequest.expected_failover_version",
                FieldDefect::Unsupported("core requests carry no failover-version guard yet"),
            ));
        }
        Ok(FailoverRequest {
            namespace,
            target: fields::optional_cluster_id(
                "FailoverRequest.target_cluster",
                &wire.target_cluster,
            )?,
            kind,
            requested_by: wire.requested_by,
            ticket: fields::optional_text(wire.ticket),
            approver: fields::optional_text(wire.approver),
        })
    }
}

impl ToWire for LossReport {
    type Wire = v1::LossRange;

    fn to_wire(&self) -> v1::LossRange {
        v1::LossRange {
            origin_cluster: self.old_active.as_str().to_owned(),
            first_origin_seq: self.first_seq,
            last_origin_seq: self
                .last_seq
                .unwrap_or_else(|| self.first_seq.saturating_sub(1)),
            open_ended: self.open_ended,
            old_failover_version: self.old_failover_version.0,
        }
    }
}

impl FromWire for LossReport {
    type Wire = v1::LossRange;

    fn from_wire(wire: v1::LossRange) -> Result<LossReport, ConvertError> {
        let first_seq = fields::origin_seq("LossRange.first_origin_seq", wire.first_origin_seq)?;
        let old_failover_version = match wire.old_failover_version {
            0 => {
                return Err(ConvertError::new(
                    "LossRange.old_failover_version",
                    FieldDefect::Missing,
                ));
            }
            version => FailoverVersion(version),
        };
        let last_seq = if wire.last_origin_seq < first_seq - 1 {
            return Err(ConvertError::new(
                "LossRange.last_origin_seq",
                FieldDefect::OutOfRange {
                    value: wire.last_origin_seq.to_string(),
                    allowed: "at least first_origin_seq - 1 (an empty range)",
                },
            ));
        } else {
            // `first - 1` is the empty range: nothing known past the cutoff.
            (wire.last_origin_seq >= first_seq).then_some(wire.last_origin_seq)
        };
        Ok(LossReport {
            old_active: fields::cluster_id("LossRange.origin_cluster", &wire.origin_cluster)?,
            old_failover_version,
            first_seq,
            last_seq,
            open_ended: wire.open_ended,
        })
    }
}

/// What a status report says that core's [`Failover`] does not keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusFacts {
    /// The target's `VV[source]` as last acknowledged (from the controller's observation).
    pub target_applied_origin_seq: u64,
    /// When the current step was entered (from the audit log), on the Unix-epoch clock.
    pub step_entered_at: Instant,
    /// Why the failover was aborted or rolled back; empty otherwise.
    pub reason: String,
}

/// The status report of `failover`.
///
/// Progress is derived: the catch-up goal is the source's `origin_seq` at drain (0 before
/// it), and one namespace is in scope, done once the step is `Done`. Instants are read as
/// nanoseconds since the Unix epoch, as for events.
pub fn failover_status_to_wire(failover: &Failover, facts: &StatusFacts) -> v1::FailoverStatus {
    let progress = v1::FailoverProgress {
        source_last_origin_seq: failover.drained_at_seq.unwrap_or(0),
        target_applied_origin_seq: facts.target_applied_origin_seq,
        namespaces_done: u32::from(failover.step == FailoverStep::Done),
        namespaces_total: 1,
    };
    v1::FailoverStatus {
        failover_id: failover.id.to_string(),
        request: Some(failover.request.to_wire()),
        step: failover.step.to_wire() as i32,
        progress: Some(progress),
        reported_loss: failover.loss.iter().map(LossReport::to_wire).collect(),
        new_failover_version: failover.promoted_to.map_or(0, |v| v.0),
        reason: facts.reason.clone(),
        started_at_unix_nanos: fields::unix_nanos(failover.started_at),
        step_entered_at_unix_nanos: fields::unix_nanos(facts.step_entered_at),
        source_cluster: failover.source.as_str().to_owned(),
        target_cluster: failover.target.as_str().to_owned(),
    }
}
