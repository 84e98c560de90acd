//! The failover controller: runs every failover workflow of the mesh.

use std::collections::{BTreeMap, VecDeque};

use crate::registry::{
    ChangeMetadata, ClusterState, NamespacePlacement, PlacementState, Registry, RegistryChange,
    RegistryCommand, RegistryError,
};
use crate::replication::{FailoverVersion, Lag};
use crate::{ClusterId, Instant, NamespaceId};

use super::observation::{ClusterHealth, Observation};
use super::workflow::{
    AuditRecord, Failover, FailoverId, FailoverKind, FailoverPolicy, FailoverRequest, FailoverStep,
    LossReport, PreflightRefusal,
};

/// What the shell must do for the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ControllerOutput {
    /// Propose this command on the control group's log, then report the outcome with
    /// [`FailoverController::handle_applied`].
    Propose {
        /// The failover it serves.
        failover: FailoverId,
        /// The command.
        command: RegistryCommand,
    },
    /// Ask the source cluster's leader to confirm it stopped taking the namespace's writes,
    /// and report its last `origin_seq` with [`FailoverController::handle_source_drained`].
    AwaitDrain {
        /// The failover.
        failover: FailoverId,
        /// The namespace.
        namespace: NamespaceId,
        /// The draining cluster.
        source: ClusterId,
    },
    /// Emergency: the target must stop applying `old_active`'s events (hold them, see
    /// `Applier::hold_origin`) and report exactly how far it applied them with
    /// [`FailoverController::handle_target_frozen`]. That number becomes the promotion's
    /// cutoff, so it must not move afterwards: the target releases the stream only once it
    /// has applied the new placement.
    FreezeTarget {
        /// The failover.
        failover: FailoverId,
        /// The namespace.
        namespace: NamespaceId,
        /// The cluster being promoted.
        target: ClusterId,
        /// The superseded active cluster whose stream is frozen.
        old_active: ClusterId,
    },
    /// Tell routing watchers and gossip the new placement, then call
    /// [`FailoverController::handle_published`].
    Publish {
        /// The failover.
        failover: FailoverId,
        /// The new placement.
        placement: NamespacePlacement,
    },
    /// An emergency promotion was proposed: these writes may be lost. Sent again, closed,
    /// when the old active reports where its writes ended (the newer report replaces the
    /// older one).
    LossReported {
        /// The failover.
        failover: FailoverId,
        /// The range at risk.
        report: LossReport,
    },
    /// Append to the audit log.
    Audit(AuditRecord),
}

/// Why an operator call on an existing failover was refused. Nothing changed.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum FailoverError {
    /// No failover has that id.
    #[error("unknown failover {0}")]
    Unknown(FailoverId),
    /// The failover is not waiting for an approval.
    #[error("{id} is at {step}, not awaiting approval")]
    NotAwaitingApproval {
        /// The failover.
        id: FailoverId,
        /// Its step.
        step: FailoverStep,
    },
    /// The requester cannot approve their own failover.
    #[error("{approver} requested {id} and cannot also approve it")]
    SelfApproval {
        /// The failover.
        id: FailoverId,
        /// The refused approver.
        approver: String,
    },
    /// The failover promoted already (or ended): cancelling is no longer possible.
    #[error("{id} is at {step}: too late to cancel")]
    TooLateToCancel {
        /// The failover.
        id: FailoverId,
        /// Its step.
        step: FailoverStep,
    },
}

/// The registry command a failover is waiting to see applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Awaiting {
    Drain,
    Freeze,
    Promote,
    Rollback,
}

/// Terminal failovers kept for `GET /control/failovers/{id}`; older ones are forgotten.
const MAX_FINISHED_KEPT: usize = 1024;

/// Runs planned, emergency, failback and migration workflows, one at a time per namespace.
///
/// Calling order for a driver (the leader of the mesh control group):
///
/// 1. keep the [`Observation`] fresh with [`handle_observation`](Self::handle_observation);
/// 2. feed operator calls: [`handle_request`](Self::handle_request),
///    [`handle_approval`](Self::handle_approval), [`handle_cancel`](Self::handle_cancel);
/// 3. drain [`poll_output`](Self::poll_output) and carry each out; report results with
///    [`handle_applied`](Self::handle_applied) (always passing the registry *after* the
///    command was applied), [`handle_source_drained`](Self::handle_source_drained) and
///    [`handle_published`](Self::handle_published);
/// 4. call [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct FailoverController {
    policy: FailoverPolicy,
    next_id: u64,
    failovers: BTreeMap<FailoverId, Failover>,
    awaiting: BTreeMap<FailoverId, Awaiting>,
    in_flight: BTreeMap<NamespaceId, FailoverId>,
    last_moved: BTreeMap<NamespaceId, Instant>,
    observation: Observation,
    out: VecDeque<ControllerOutput>,
}

impl FailoverController {
    /// A controller with no failover in flight.
    pub fn new(policy: FailoverPolicy) -> Self {
        FailoverController {
            policy,
            next_id: 1,
            failovers: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            last_moved: BTreeMap::new(),
            observation: Observation::new(),
            out: VecDeque::new(),
        }
    }

    /// A controller whose failover ids start at `first_id`: a new control leader starts
    /// above every id an earlier leader could have handed out (ids name audit records).
    pub fn with_first_id(policy: FailoverPolicy, first_id: u64) -> Self {
        FailoverController {
            next_id: first_id.max(1),
            ..Self::new(policy)
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &FailoverPolicy {
        &self.policy
    }

    /// A failover by id.
    pub fn failover(&self, id: FailoverId) -> Option<&Failover> {
        self.failovers.get(&id)
    }

    /// Every failover, oldest first.
    pub fn failovers(&self) -> impl Iterator<Item = &Failover> {
        self.failovers.values()
    }

    /// The failover in flight for a namespace.
    pub fn in_flight(&self, namespace: &NamespaceId) -> Option<&Failover> {
        self.in_flight
            .get(namespace)
            .and_then(|id| self.failovers.get(id))
    }

    /// The latest observation.
    pub fn observation(&self) -> &Observation {
        &self.observation
    }

    /// Runs preflight without starting anything: the dry run of a request. Returns the
    /// resolved `(source, target)` on success.
    pub fn dry_run(
        &self,
        now: Instant,
        request: &FailoverRequest,
        registry: &Registry,
        control_quorum: bool,
    ) -> Result<(ClusterId, ClusterId), PreflightRefusal> {
        self.preflight(now, request, registry, control_quorum)
    }

    /// A new failover request. Preflight runs at once: a refusal changes nothing; on success
    /// the failover starts (or waits for approval) and its id is returned.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: FailoverRequest,
        registry: &Registry,
        control_quorum: bool,
    ) -> Result<FailoverId, PreflightRefusal> {
        let (source, target) = self.preflight(now, &request, registry, control_quorum)?;
        let superseded = match request.kind {
            FailoverKind::Emergency { .. } => self.in_flight.get(&request.namespace).copied(),
            _ => None,
        };
        let id = FailoverId(self.next_id);
        self.next_id += 1;
        let actor = request.requested_by.clone();
        let failover = Failover {
            id,
            source,
            target,
            step: FailoverStep::Preflight,
            started_at: now,
            finished_at: None,
            approved_by: None,
            drained_at_seq: None,
            drained_version: None,
            drain_deadline: None,
            catch_up_deadline: None,
            loss: None,
            promoted_to: None,
            cancelled: false,
            request,
        };
        if let Some(old) = superseded {
            let reason = format!("superseded by emergency {id}");
            self.finish(now, old, &actor, FailoverStep::Aborted, &reason);
        }
        self.in_flight
            .insert(failover.request.namespace.clone(), id);
        self.failovers.insert(id, failover);
        self.audit(
            now,
            id,
            &actor,
            None,
            FailoverStep::Preflight,
            "requested; preflight passed",
        );
        let Some(f) = self.failovers.get(&id) else {
            return Ok(id);
        };
        // The requester cannot approve their own failover, not even through the request.
        let approver = f
            .request
            .approver
            .clone()
            .filter(|a| !a.trim().is_empty() && *a != f.request.requested_by);
        match f.request.kind {
            FailoverKind::Emergency { .. } => self.freeze_target(now, id),
            _ if self.policy.require_approval && approver.is_none() => {
                self.transition(
                    now,
                    id,
                    "controller",
                    FailoverStep::AwaitingApproval,
                    "policy requires an approver",
                );
            }
            _ => {
                if let Some(approver) = approver {
                    self.approve(id, approver);
                }
                self.propose_drain(now, id, registry);
            }
        }
        Ok(id)
    }

    /// An approver approves a failover that awaits approval.
    pub fn handle_approval(
        &mut self,
        now: Instant,
        id: FailoverId,
        approver: &str,
        registry: &Registry,
    ) -> Result<(), FailoverError> {
        let f = self.failovers.get(&id).ok_or(FailoverError::Unknown(id))?;
        if f.step != FailoverStep::AwaitingApproval {
            return Err(FailoverError::NotAwaitingApproval { id, step: f.step });
        }
        if f.request.requested_by == approver {
            return Err(FailoverError::SelfApproval {
                id,
                approver: approver.to_owned(),
            });
        }
        self.approve(id, approver.to_owned());
        self.audit(
            now,
            id,
            approver,
            Some(FailoverStep::AwaitingApproval),
            FailoverStep::AwaitingApproval,
            "approved",
        );
        self.propose_drain(now, id, registry);
        Ok(())
    }

    /// An operator cancels a failover. Before the drain it simply stops; after the drain the
    /// source is re-activated (nothing was lost); after the promotion it is too late.
    pub fn handle_cancel(
        &mut self,
        now: Instant,
        id: FailoverId,
        by: &str,
        registry: &Registry,
    ) -> Result<(), FailoverError> {
        let f = self.failovers.get(&id).ok_or(FailoverError::Unknown(id))?;
        let step = f.step;
        match step {
            FailoverStep::Preflight | FailoverStep::AwaitingApproval => {
                self.mark_cancelled(id);
                self.finish(
                    now,
                    id,
                    by,
                    FailoverStep::Aborted,
                    "cancelled before any change",
                );
                Ok(())
            }
            FailoverStep::Drain | FailoverStep::CatchUp => {
                self.mark_cancelled(id);
                if self.awaiting.get(&id) == Some(&Awaiting::Drain) {
                    // The drain is on its way through the log; roll back once it lands.
                    self.audit(
                        now,
                        id,
                        by,
                        Some(step),
                        step,
                        "cancel requested; rolling back once the drain is applied",
                    );
                } else if self.awaiting.get(&id) != Some(&Awaiting::Rollback) {
                    self.propose_rollback(now, id, registry, by, "cancelled by operator");
                }
                Ok(())
            }
            _ => Err(FailoverError::TooLateToCancel { id, step }),
        }
    }

    /// Fresh knowledge of the mesh; failovers in catch-up check whether the target caught up.
    pub fn handle_observation(
        &mut self,
        now: Instant,
        observation: Observation,
        registry: &Registry,
    ) {
        self.observation = observation;
        let catching_up: Vec<FailoverId> = self
            .failovers
            .values()
            .filter(|f| f.step == FailoverStep::CatchUp && !self.awaiting.contains_key(&f.id))
            .map(|f| f.id)
            .collect();
        for id in catching_up {
            self.check_caught_up(now, id, registry);
        }
    }

    /// The source cluster confirmed it stopped taking the namespace's writes; `last_seq` is
    /// its last committed `origin_seq` at that moment.
    pub fn handle_source_drained(
        &mut self,
        now: Instant,
        id: FailoverId,
        last_seq: u64,
        registry: &Registry,
    ) {
        let Some(f) = self.failovers.get_mut(&id) else {
            return;
        };
        if f.step != FailoverStep::Drain || self.awaiting.contains_key(&id) {
            return;
        }
        f.drained_at_seq = Some(last_seq);
        f.drain_deadline = None;
        f.catch_up_deadline = Some(now + self.policy.catch_up_timeout);
        self.transition(
            now,
            id,
            "controller",
            FailoverStep::CatchUp,
            &format!("source drained at seq {last_seq}"),
        );
        self.check_caught_up(now, id, registry);
    }

    /// Emergency: the target froze the old active's stream having applied it through
    /// `applied_through`. That exact figure is the promotion's cutoff and the loss report's
    /// lower bound.
    pub fn handle_target_frozen(
        &mut self,
        now: Instant,
        id: FailoverId,
        applied_through: u64,
        registry: &Registry,
    ) {
        if self.awaiting.get(&id) != Some(&Awaiting::Freeze) {
            return;
        }
        self.awaiting.remove(&id);
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let Some(placement) = registry.placement(&f.request.namespace) else {
            self.abort_vanished(now, id);
            return;
        };
        let report = LossReport {
            old_active: f.source.clone(),
            old_failover_version: placement.value.failover_version,
            first_seq: applied_through.saturating_add(1),
            last_seq: self
                .observation
                .last_seq(&f.source)
                .filter(|last| *last > applied_through),
            open_ended: true,
        };
        let reason = format!(
            "emergency: {} froze {} at seq {applied_through}",
            f.target, f.source
        );
        if let Some(f) = self.failovers.get_mut(&id) {
            f.loss = Some(report.clone());
        }
        self.out.push_back(ControllerOutput::LossReported {
            failover: id,
            report,
        });
        self.propose_promote(now, id, registry, Some(applied_through), &reason);
    }

    /// `old_active` applied an emergency promotion that took `namespace` from it while it
    /// was active at `failover_version`; `last_seq` was its last own origin_seq then. No
    /// write at that version is acknowledged after, so this closes the failover's loss
    /// range: from now on the report is exact. Reports for other versions, or for a range
    /// already closed, change nothing.
    pub fn handle_superseded_report(
        &mut self,
        now: Instant,
        old_active: &ClusterId,
        namespace: &NamespaceId,
        failover_version: FailoverVersion,
        last_seq: u64,
    ) {
        let closing = self.failovers.values_mut().find(|f| {
            f.request.namespace == *namespace
                && f.loss.as_ref().is_some_and(|l| {
                    l.open_ended
                        && l.old_active == *old_active
                        && l.old_failover_version == failover_version
                })
        });
        let Some(f) = closing else {
            return;
        };
        let Some(loss) = f.loss.as_mut() else {
            return;
        };
        loss.open_ended = false;
        loss.last_seq = (last_seq >= loss.first_seq).then_some(last_seq);
        let report = loss.clone();
        let (id, step) = (f.id, f.step);
        let reason = match report.last_seq {
            Some(last) => format!(
                "loss range closed by {old_active}: origin_seq {}..={last} ({} writes) may be lost",
                report.first_seq,
                report.known_at_risk()
            ),
            None => format!("loss range closed by {old_active}: nothing past the cutoff"),
        };
        self.out.push_back(ControllerOutput::LossReported {
            failover: id,
            report,
        });
        self.audit(now, id, "controller", Some(step), step, &reason);
    }

    /// The command proposed for `id` was applied (or refused) on the control group's log.
    /// `registry` is the state after applying it.
    pub fn handle_applied(
        &mut self,
        now: Instant,
        id: FailoverId,
        outcome: Result<RegistryChange, RegistryError>,
        registry: &Registry,
    ) {
        let Some(awaiting) = self.awaiting.remove(&id) else {
            return;
        };
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let (source, namespace, cancelled) =
            (f.source.clone(), f.request.namespace.clone(), f.cancelled);
        match (awaiting, outcome) {
            (Awaiting::Drain, Ok(_)) if cancelled => {
                self.propose_rollback(now, id, registry, "controller", "cancelled during drain");
            }
            (Awaiting::Drain, Ok(_)) => {
                let drained_version = registry.placement(&namespace).map(|p| p.version);
                if let Some(f) = self.failovers.get_mut(&id) {
                    f.drained_version = drained_version;
                    f.drain_deadline = Some(now + self.policy.catch_up_timeout);
                }
                self.out.push_back(ControllerOutput::AwaitDrain {
                    failover: id,
                    namespace,
                    source,
                });
            }
            (Awaiting::Drain, Err(e)) => {
                self.finish(
                    now,
                    id,
                    "controller",
                    FailoverStep::Aborted,
                    &format!("drain refused: {e}"),
                );
            }
            (Awaiting::Promote, Ok(RegistryChange::PlacementChanged { placement, .. })) => {
                if let Some(f) = self.failovers.get_mut(&id) {
                    f.promoted_to = Some(placement.failover_version);
                }
                let reason = format!(
                    "{} active under {}",
                    placement.active_cluster, placement.failover_version
                );
                self.transition(now, id, "controller", FailoverStep::Publish, &reason);
                self.out.push_back(ControllerOutput::Publish {
                    failover: id,
                    placement,
                });
            }
            (Awaiting::Promote, outcome) => {
                let why = match outcome {
                    Err(e) => format!("promotion refused: {e}"),
                    Ok(other) => format!("promotion applied as {other:?}"),
                };
                if self
                    .failovers
                    .get(&id)
                    .is_some_and(|f| f.request.kind.is_planned())
                {
                    self.propose_rollback(now, id, registry, "controller", &why);
                } else {
                    self.finish(now, id, "controller", FailoverStep::Aborted, &why);
                }
            }
            (Awaiting::Rollback, Ok(_)) => {
                self.finish(
                    now,
                    id,
                    "controller",
                    FailoverStep::RolledBack,
                    "source active again; nothing lost",
                );
            }
            (Awaiting::Rollback, Err(_)) => {
                // Someone else changed the placement: retry against what is there now (a
                // rollback proposes nothing when it is no longer ours to undo).
                self.propose_rollback(now, id, registry, "controller", "rollback retried");
            }
            (Awaiting::Freeze, _) => {}
        }
    }

    /// Routing and gossip learned the new placement: the failover is done.
    pub fn handle_published(&mut self, now: Instant, id: FailoverId) {
        if self
            .failovers
            .get(&id)
            .is_some_and(|f| f.step == FailoverStep::Publish)
        {
            let namespace = self.failovers.get(&id).map(|f| f.request.namespace.clone());
            if let Some(namespace) = namespace {
                self.last_moved.insert(namespace, now);
            }
            self.finish(now, id, "controller", FailoverStep::Done, "published");
        }
    }

    /// Deadlines: a source that never confirms its drain, or a target that does not catch
    /// up in time, rolls the failover back.
    pub fn handle_timeout(&mut self, now: Instant, registry: &Registry) {
        let expired: Vec<(FailoverId, &'static str)> = self
            .failovers
            .values()
            .filter(|f| !self.awaiting.contains_key(&f.id))
            .filter_map(|f| match f.step {
                FailoverStep::Drain if f.drain_deadline.is_some_and(|d| now >= d) => {
                    Some((f.id, "the source never confirmed its drain"))
                }
                FailoverStep::CatchUp if f.catch_up_deadline.is_some_and(|d| now >= d) => {
                    Some((f.id, "catch-up timed out"))
                }
                _ => None,
            })
            .collect();
        for (id, why) in expired {
            self.propose_rollback(now, id, registry, "controller", why);
        }
    }

    /// The next output for the shell.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ControllerOutput> {
        self.out.pop_front()
    }

    /// The next drain or catch-up deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.failovers
            .values()
            .filter(|f| !self.awaiting.contains_key(&f.id))
            .filter_map(|f| match f.step {
                FailoverStep::Drain => f.drain_deadline,
                FailoverStep::CatchUp => f.catch_up_deadline,
                _ => None,
            })
            .min()
    }

    fn preflight(
        &self,
        now: Instant,
        request: &FailoverRequest,
        registry: &Registry,
        control_quorum: bool,
    ) -> Result<(ClusterId, ClusterId), PreflightRefusal> {
        let namespace = &request.namespace;
        let placement = &registry
            .placement(namespace)
            .ok_or_else(|| PreflightRefusal::UnknownNamespace(namespace.clone()))?
            .value;
        if let Some(id) = self.in_flight.get(namespace) {
            // An emergency may take over a planned failover that has not promoted yet
            // (its source may be the region that just died); nothing else may.
            let supersedable = matches!(request.kind, FailoverKind::Emergency { .. })
                && self
                    .failovers
                    .get(id)
                    .is_some_and(|f| f.request.kind.is_planned() && f.step < FailoverStep::Promote);
            if !supersedable {
                return Err(PreflightRefusal::FailoverInFlight {
                    namespace: namespace.clone(),
                    id: *id,
                });
            }
        }
        let source = placement.active_cluster.clone();
        let target = match (&request.target, request.kind) {
            (Some(target), _) => target.clone(),
            (None, FailoverKind::Failback) => {
                // The cluster active before the latest promotion.
                let history = registry.history(namespace);
                history
                    .len()
                    .checked_sub(2)
                    .and_then(|i| history.get(i))
                    .map(|p| p.active_cluster.clone())
                    .ok_or(PreflightRefusal::NoTarget)?
            }
            (None, _) => return Err(PreflightRefusal::NoTarget),
        };
        let descriptor = &registry
            .cluster(&target)
            .ok_or_else(|| PreflightRefusal::UnknownTarget(target.clone()))?
            .value;
        if target == source {
            return Err(PreflightRefusal::AlreadyActive {
                namespace: namespace.clone(),
                cluster: target,
            });
        }
        let health = self.observation.health(&target);
        if descriptor.state != ClusterState::Online || health != ClusterHealth::Healthy {
            return Err(PreflightRefusal::TargetUnhealthy {
                why: format!(
                    "registry says {:?}, observed {:?}",
                    descriptor.state, health
                ),
                cluster: target,
            });
        }
        if let FailoverKind::Emergency { force } = request.kind {
            if !control_quorum && !force {
                return Err(PreflightRefusal::NoQuorum);
            }
            return Ok((source, target));
        }
        if self.policy.require_ticket && request.ticket.as_deref().is_none_or(str::is_empty) {
            return Err(PreflightRefusal::TicketMissing);
        }
        if let Some(last) = self.last_moved.get(namespace) {
            let ready_at = *last + self.policy.cooldown;
            if now < ready_at {
                return Err(PreflightRefusal::CooldownNotElapsed {
                    namespace: namespace.clone(),
                    remaining: ready_at - now,
                });
            }
        }
        let Lag { entries, seconds } =
            self.observation
                .lag(&source, &target)
                .ok_or_else(|| PreflightRefusal::LagUnknown {
                    source_cluster: source.clone(),
                    target: target.clone(),
                })?;
        if entries > self.policy.max_lag_entries || seconds > self.policy.max_lag {
            return Err(PreflightRefusal::LagOverThreshold {
                source_cluster: source,
                entries,
                seconds,
                max_entries: self.policy.max_lag_entries,
                max: self.policy.max_lag,
            });
        }
        Ok((source, target))
    }

    fn approve(&mut self, id: FailoverId, approver: String) {
        if let Some(f) = self.failovers.get_mut(&id) {
            f.approved_by = Some(approver);
        }
    }

    fn mark_cancelled(&mut self, id: FailoverId) {
        if let Some(f) = self.failovers.get_mut(&id) {
            f.cancelled = true;
        }
    }

    fn change_metadata(&self, id: FailoverId, actor: &str, reason: &str) -> ChangeMetadata {
        let ticket = self
            .failovers
            .get(&id)
            .and_then(|f| f.request.ticket.clone());
        ChangeMetadata {
            changed_by: actor.to_owned(),
            ticket,
            reason: format!("{id}: {reason}"),
        }
    }

    fn propose_drain(&mut self, now: Instant, id: FailoverId, registry: &Registry) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let namespace = f.request.namespace.clone();
        let actor = f
            .approved_by
            .clone()
            .unwrap_or_else(|| f.request.requested_by.clone());
        let Some(expect) = registry.placement(&namespace).map(|p| p.version) else {
            self.abort_vanished(now, id);
            return;
        };
        let command = RegistryCommand::SetPlacementState {
            namespace,
            state: PlacementState::Draining,
            expect,
            change: self.change_metadata(id, &actor, "drain"),
        };
        self.awaiting.insert(id, Awaiting::Drain);
        self.out.push_back(ControllerOutput::Propose {
            failover: id,
            command,
        });
        self.transition(
            now,
            id,
            &actor,
            FailoverStep::Drain,
            "stop taking writes at the source",
        );
    }

    fn check_caught_up(&mut self, now: Instant, id: FailoverId, registry: &Registry) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let Some(goal) = f.drained_at_seq else {
            return;
        };
        let applied = self.observation.applied(&f.target).get(&f.source);
        if applied < goal {
            return;
        }
        let reason = format!("{} applied {} through seq {goal}", f.target, f.source);
        self.propose_promote(now, id, registry, None, &reason);
    }

    fn freeze_target(&mut self, now: Instant, id: FailoverId) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let output = ControllerOutput::FreezeTarget {
            failover: id,
            namespace: f.request.namespace.clone(),
            target: f.target.clone(),
            old_active: f.source.clone(),
        };
        let reason = format!("emergency: freezing {}'s stream at {}", f.source, f.target);
        self.awaiting.insert(id, Awaiting::Freeze);
        self.out.push_back(output);
        self.transition(now, id, "controller", FailoverStep::Promote, &reason);
    }

    fn propose_promote(
        &mut self,
        now: Instant,
        id: FailoverId,
        registry: &Registry,
        superseded_cutoff: Option<u64>,
        reason: &str,
    ) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let namespace = f.request.namespace.clone();
        let to = f.target.clone();
        // A planned promotion compares against the placement its own drain produced: if
        // anyone re-activated the source meanwhile, the source may have taken writes the
        // target never saw, and the promotion must fail rather than lose them.
        let expect = if f.request.kind.is_planned() {
            f.drained_version
        } else {
            registry.placement(&namespace).map(|p| p.version)
        };
        let Some(expect) = expect else {
            self.abort_vanished(now, id);
            return;
        };
        let command = RegistryCommand::Promote {
            namespace,
            to,
            expect,
            superseded_cutoff,
            change: self.change_metadata(id, "controller", "promote"),
        };
        self.awaiting.insert(id, Awaiting::Promote);
        self.out.push_back(ControllerOutput::Propose {
            failover: id,
            command,
        });
        self.transition(now, id, "controller", FailoverStep::Promote, reason);
    }

    fn propose_rollback(
        &mut self,
        now: Instant,
        id: FailoverId,
        registry: &Registry,
        actor: &str,
        reason: &str,
    ) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        let namespace = f.request.namespace.clone();
        let ours = registry.placement(&namespace).filter(|p| {
            p.value.state == PlacementState::Draining && p.value.active_cluster == f.source
        });
        let Some(expect) = ours.map(|p| p.version) else {
            // Nothing of ours to undo: the placement is no longer the drained source.
            let why = format!("{reason}; placement no longer draining at the source");
            self.finish(now, id, actor, FailoverStep::RolledBack, &why);
            return;
        };
        let command = RegistryCommand::SetPlacementState {
            namespace,
            state: PlacementState::Active,
            expect,
            change: self.change_metadata(id, actor, reason),
        };
        self.awaiting.insert(id, Awaiting::Rollback);
        self.out.push_back(ControllerOutput::Propose {
            failover: id,
            command,
        });
        let step = self
            .failovers
            .get(&id)
            .map_or(FailoverStep::Drain, |f| f.step);
        self.audit(
            now,
            id,
            actor,
            Some(step),
            step,
            &format!("rolling back: {reason}"),
        );
    }

    fn transition(
        &mut self,
        now: Instant,
        id: FailoverId,
        actor: &str,
        to: FailoverStep,
        reason: &str,
    ) {
        let Some(f) = self.failovers.get_mut(&id) else {
            return;
        };
        let from = f.step;
        f.step = to;
        self.audit(now, id, actor, Some(from), to, reason);
    }

    /// The namespace a failover moves is gone from the registry: nothing left to do.
    fn abort_vanished(&mut self, now: Instant, id: FailoverId) {
        self.finish(
            now,
            id,
            "controller",
            FailoverStep::Aborted,
            "namespace vanished",
        );
    }

    fn finish(
        &mut self,
        now: Instant,
        id: FailoverId,
        actor: &str,
        to: FailoverStep,
        reason: &str,
    ) {
        self.transition(now, id, actor, to, reason);
        self.awaiting.remove(&id);
        if let Some(f) = self.failovers.get_mut(&id) {
            f.finished_at = Some(now);
            if self.in_flight.get(&f.request.namespace) == Some(&id) {
                self.in_flight.remove(&f.request.namespace);
            }
        }
        self.forget_old_finished();
    }

    fn forget_old_finished(&mut self) {
        let finished: Vec<FailoverId> = self
            .failovers
            .values()
            .filter(|f| f.step.is_terminal())
            .map(|f| f.id)
            .collect();
        let excess = finished.len().saturating_sub(MAX_FINISHED_KEPT);
        for id in finished.into_iter().take(excess) {
            self.failovers.remove(&id);
        }
    }

    fn audit(
        &mut self,
        now: Instant,
        id: FailoverId,
        actor: &str,
        from: Option<FailoverStep>,
        to: FailoverStep,
        reason: &str,
    ) {
        let Some(f) = self.failovers.get(&id) else {
            return;
        };
        self.out.push_back(ControllerOutput::Audit(AuditRecord {
            at: now,
            failover: id,
            namespace: f.request.namespace.clone(),
            actor: actor.to_owned(),
            from,
            to,
            reason: reason.to_owned(),
        }));
    }
}
