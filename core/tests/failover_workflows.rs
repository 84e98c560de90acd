//! Failover workflows (ARCHITECTURE.md, "Planned failover", "Emergency failover",
//! "Automatic failover"): every preflight refusal, approval, cancellation, rollback, and the
//! loss report of an emergency promotion.

use std::time::Duration;

use omnirelay_core::failover::{
    AutoDecision, AutoFailoverPolicy, AutoFailoverState, ClusterHealth, ControllerOutput,
    FailoverController, FailoverError, FailoverId, FailoverKind, FailoverPolicy, FailoverRequest,
    FailoverStep, MigrationState, Observation, PreflightRefusal,
};
use omnirelay_core::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, Expect, FailoverVersionScheme, PlacementState,
    Registry, RegistryCommand,
};
use omnirelay_core::replication::{ClusterVersionVector, FailoverVersion, Lag};
use omnirelay_core::{ClusterId, Instant, NamespaceId};

fn cid(s: &str) -> ClusterId {
    ClusterId::new(s).unwrap()
}

fn orders() -> NamespaceId {
    NamespaceId::new("orders").unwrap()
}

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// A registry with clusters a (priority 10), b (20), c (20), `orders` active on a, and a
/// controller that sees everyone healthy and caught up.
struct World {
    registry: Registry,
    controller: FailoverController,
    observation: Observation,
    audits: Vec<(FailoverStep, String)>,
    drains: Vec<FailoverId>,
    freezes: Vec<FailoverId>,
    published: Vec<FailoverId>,
    losses: Vec<omnirelay_core::failover::LossReport>,
}

impl World {
    fn new(policy: FailoverPolicy) -> World {
        let mut registry = Registry::new(FailoverVersionScheme::new(10).unwrap());
        for (id, initial, priority) in [("a", 1, 10), ("b", 2, 20), ("c", 3, 20)] {
            registry
                .apply(RegistryCommand::PutCluster {
                    descriptor: ClusterDescriptor {
                        id: cid(id),
                        region: id.into(),
                        priority,
                        state: ClusterState::Online,
                        endpoints: vec![],
                        replication_endpoints: vec![],
                        owners: vec![],
                        initial_failover_version: initial,
                        change: ChangeMetadata::default(),
                    },
                    expect: Expect::Absent,
                })
                .unwrap();
        }
        registry
            .apply(RegistryCommand::CreateNamespace {
                namespace: orders(),
                active_cluster: cid("a"),
                change: ChangeMetadata::default(),
            })
            .unwrap();
        let mut observation = Observation::new();
        for c in ["a", "b", "c"] {
            observation.set_health(cid(c), ClusterHealth::Healthy);
            for t in ["a", "b", "c"] {
                observation.set_lag(cid(c), cid(t), Lag::default());
            }
        }
        let mut world = World {
            registry,
            controller: FailoverController::new(policy),
            observation,
            audits: vec![],
            drains: vec![],
            freezes: vec![],
            published: vec![],
            losses: vec![],
        };
        world.observe(at(0));
        world
    }

    fn observe(&mut self, now: Instant) {
        self.controller
            .handle_observation(now, self.observation.clone(), &self.registry);
        self.pump(now);
    }

    /// Carries out every controller output: proposals are applied to the registry at once.
    fn pump(&mut self, now: Instant) {
        while let Some(out) = self.controller.poll_output() {
            match out {
                ControllerOutput::Propose { failover, command } => {
                    let outcome = self.registry.apply(command);
                    self.controller
                        .handle_applied(now, failover, outcome, &self.registry);
                }
                ControllerOutput::AwaitDrain { failover, .. } => self.drains.push(failover),
                ControllerOutput::FreezeTarget { failover, .. } => self.freezes.push(failover),
                ControllerOutput::Publish { failover, .. } => self.published.push(failover),
                ControllerOutput::LossReported { report, .. } => self.losses.push(report),
                ControllerOutput::Audit(record) => self.audits.push((record.to, record.reason)),
            }
        }
    }

    /// An emergency failover of orders to b, b frozen having applied a through
    /// `applied_through`: promoted and its loss reported.
    fn emergency_to_b_frozen_at(&mut self, now: Instant, applied_through: u64) -> FailoverId {
        let request = FailoverRequest {
            kind: FailoverKind::Emergency { force: false },
            ..planned("b")
        };
        let id = self.request(now, request).unwrap();
        self.controller
            .handle_target_frozen(now, id, applied_through, &self.registry);
        self.pump(now);
        id
    }

    fn request(
        &mut self,
        now: Instant,
        request: FailoverRequest,
    ) -> Result<FailoverId, PreflightRefusal> {
        let result = self
            .controller
            .handle_request(now, request, &self.registry, true);
        self.pump(now);
        result
    }

    fn step(&self, id: FailoverId) -> FailoverStep {
        self.controller.failover(id).unwrap().step
    }

    fn placement(&self) -> (ClusterId, FailoverVersion, PlacementState) {
        let p = &self.registry.placement(&orders()).unwrap().value;
        (p.active_cluster.clone(), p.failover_version, p.state)
    }

    fn b_applies_a_through(&mut self, seq: u64) {
        let mut vv = ClusterVersionVector::new();
        vv.set(&cid("a"), seq);
        self.observation.set_applied(cid("b"), &vv);
    }
}

fn planned(to: &str) -> FailoverRequest {
    FailoverRequest {
        namespace: orders(),
        target: Some(cid(to)),
        kind: FailoverKind::Planned,
        requested_by: "alice".into(),
        ticket: Some("CHG-1".into()),
        approver: None,
    }
}

#[test]
fn planned_failover_drains_catches_up_promotes_and_publishes() {
    let mut w = World::new(FailoverPolicy::default());
    let id = w.request(at(1), planned("b")).unwrap();
    assert_eq!(w.step(id), FailoverStep::Drain);
    assert_eq!(w.placement().2, PlacementState::Draining);
    assert_eq!(w.drains, vec![id]);

    w.controller
        .handle_source_drained(at(1), id, 40, &w.registry);
    w.pump(at(1));
    assert_eq!(w.step(id), FailoverStep::CatchUp);

    // Not caught up yet: stays in catch-up, the source still owns the namespace.
    w.b_applies_a_through(39);
    w.observe(at(2));
    assert_eq!(w.step(id), FailoverStep::CatchUp);
    assert_eq!(w.placement().0, cid("a"));

    w.b_applies_a_through(40);
    w.observe(at(2));
    assert_eq!(w.step(id), FailoverStep::Publish);
    assert_eq!(
        w.placement(),
        (cid("b"), FailoverVersion(2), PlacementState::Active)
    );
    // A planned promotion records no cutoff: nothing of the old active is quarantined.
    assert_eq!(w.registry.history(&orders())[1].superseded_cutoff, None);

    w.controller.handle_published(at(3), id);
    w.pump(at(3));
    assert_eq!(w.step(id), FailoverStep::Done);
    let steps: Vec<FailoverStep> = w.audits.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        vec![
            FailoverStep::Preflight,
            FailoverStep::Drain,
            FailoverStep::CatchUp,
            FailoverStep::Promote,
            FailoverStep::Publish,
            FailoverStep::Done,
        ]
    );
    assert!(w.controller.in_flight(&orders()).is_none());
}

#[test]
fn catch_up_timeout_rolls_back_to_the_source_and_loses_nothing() {
    let mut w = World::new(FailoverPolicy::default());
    let before = w.placement();
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 40, &w.registry);
    w.pump(at(1));
    let deadline = w.controller.poll_timeout().unwrap();
    assert_eq!(deadline, at(1) + FailoverPolicy::default().catch_up_timeout);
    w.controller.handle_timeout(deadline, &w.registry);
    w.pump(deadline);
    assert_eq!(w.step(id), FailoverStep::RolledBack);
    assert_eq!(
        w.placement(),
        before,
        "source active again under the same version"
    );
    assert_eq!(
        w.controller.failover(id).unwrap().migration_state(),
        MigrationState::Failed
    );
}

#[test]
fn preflight_refuses_an_unhealthy_target() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_health(cid("b"), ClusterHealth::Degraded);
    w.observe(at(0));
    assert!(matches!(
        w.request(at(1), planned("b")),
        Err(PreflightRefusal::TargetUnhealthy { .. })
    ));
    assert_eq!(
        w.placement().2,
        PlacementState::Active,
        "a refusal changes nothing"
    );
}

#[test]
fn preflight_refuses_lag_over_the_entry_or_time_threshold_and_unknown_lag() {
    let policy = FailoverPolicy::default();
    let mut w = World::new(policy.clone());
    w.observation.set_lag(
        cid("a"),
        cid("b"),
        Lag {
            entries: policy.max_lag_entries + 1,
            seconds: Duration::ZERO,
        },
    );
    w.observe(at(0));
    assert!(matches!(
        w.request(at(1), planned("b")),
        Err(PreflightRefusal::LagOverThreshold { .. })
    ));
    w.observation.set_lag(
        cid("a"),
        cid("b"),
        Lag {
            entries: 1,
            seconds: policy.max_lag + Duration::from_millis(1),
        },
    );
    w.observe(at(0));
    assert!(matches!(
        w.request(at(1), planned("b")),
        Err(PreflightRefusal::LagOverThreshold { .. })
    ));

    let mut fresh = World::new(policy);
    fresh.observation = Observation::new();
    fresh
        .observation
        .set_health(cid("b"), ClusterHealth::Healthy);
    fresh.observe(at(0));
    assert!(matches!(
        fresh.request(at(1), planned("b")),
        Err(PreflightRefusal::LagUnknown { .. })
    ));
}

#[test]
fn preflight_refuses_a_second_failover_of_a_moving_namespace() {
    let mut w = World::new(FailoverPolicy::default());
    let first = w.request(at(1), planned("b")).unwrap();
    assert_eq!(
        w.request(at(1), planned("c")),
        Err(PreflightRefusal::FailoverInFlight {
            namespace: orders(),
            id: first
        })
    );
}

#[test]
fn preflight_refuses_until_the_cooldown_has_elapsed() {
    let policy = FailoverPolicy {
        cooldown: Duration::from_secs(60),
        ..FailoverPolicy::default()
    };
    let mut w = World::new(policy);
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 0, &w.registry);
    w.pump(at(1));
    w.controller.handle_published(at(2), id);
    w.pump(at(2));
    assert_eq!(w.step(id), FailoverStep::Done);
    assert!(matches!(
        w.request(at(30), planned("a")),
        Err(PreflightRefusal::CooldownNotElapsed { remaining, .. }) if remaining == Duration::from_secs(32)
    ));
    assert!(w.request(at(62), planned("a")).is_ok());
}

#[test]
fn preflight_refuses_a_missing_ticket_when_policy_requires_one() {
    let mut w = World::new(FailoverPolicy {
        require_ticket: true,
        ..FailoverPolicy::default()
    });
    let mut request = planned("b");
    request.ticket = None;
    assert_eq!(
        w.request(at(1), request),
        Err(PreflightRefusal::TicketMissing)
    );
    assert!(w.request(at(1), planned("b")).is_ok());
}

#[test]
fn preflight_refuses_unknown_names_and_the_current_active() {
    let mut w = World::new(FailoverPolicy::default());
    assert!(matches!(
        w.request(at(1), planned("z")),
        Err(PreflightRefusal::UnknownTarget(_))
    ));
    assert!(matches!(
        w.request(at(1), planned("a")),
        Err(PreflightRefusal::AlreadyActive { .. })
    ));
    let mut request = planned("b");
    request.namespace = NamespaceId::new("nope").unwrap();
    assert!(matches!(
        w.request(at(1), request),
        Err(PreflightRefusal::UnknownNamespace(_))
    ));
    let mut request = planned("b");
    request.target = None;
    assert_eq!(w.request(at(1), request), Err(PreflightRefusal::NoTarget));
}

#[test]
fn an_approval_is_required_before_drain_and_the_requester_cannot_give_it() {
    let mut w = World::new(FailoverPolicy {
        require_approval: true,
        ..FailoverPolicy::default()
    });
    let id = w.request(at(1), planned("b")).unwrap();
    assert_eq!(w.step(id), FailoverStep::AwaitingApproval);
    assert_eq!(
        w.placement().2,
        PlacementState::Active,
        "nothing drains before approval"
    );
    assert_eq!(
        w.controller
            .handle_approval(at(2), id, "alice", &w.registry),
        Err(FailoverError::SelfApproval {
            id,
            approver: "alice".into()
        })
    );
    w.controller
        .handle_approval(at(2), id, "bob", &w.registry)
        .unwrap();
    w.pump(at(2));
    assert_eq!(w.step(id), FailoverStep::Drain);
    assert_eq!(
        w.controller.failover(id).unwrap().approved_by.as_deref(),
        Some("bob")
    );
    assert!(matches!(
        w.controller
            .handle_approval(at(2), id, "carol", &w.registry),
        Err(FailoverError::NotAwaitingApproval { .. })
    ));
}

#[test]
fn cancelling_before_drain_aborts_and_during_catch_up_rolls_back() {
    let mut w = World::new(FailoverPolicy {
        require_approval: true,
        ..FailoverPolicy::default()
    });
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_cancel(at(2), id, "alice", &w.registry)
        .unwrap();
    w.pump(at(2));
    assert_eq!(w.step(id), FailoverStep::Aborted);
    assert_eq!(
        w.controller.failover(id).unwrap().migration_state(),
        MigrationState::Cancelled
    );

    let mut w = World::new(FailoverPolicy::default());
    let mut request = planned("b");
    request.kind = FailoverKind::Migration;
    let id = w.request(at(1), request).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 10, &w.registry);
    w.pump(at(1));
    assert_eq!(
        w.controller.failover(id).unwrap().migration_state(),
        MigrationState::InProgress
    );
    w.controller
        .handle_cancel(at(2), id, "alice", &w.registry)
        .unwrap();
    w.pump(at(2));
    assert_eq!(w.step(id), FailoverStep::RolledBack);
    assert_eq!(
        w.placement(),
        (cid("a"), FailoverVersion(1), PlacementState::Active)
    );
    assert_eq!(
        w.controller.failover(id).unwrap().migration_state(),
        MigrationState::Cancelled
    );
}

#[test]
fn cancelling_after_the_promotion_is_refused() {
    let mut w = World::new(FailoverPolicy::default());
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 0, &w.registry);
    w.pump(at(1));
    assert_eq!(w.step(id), FailoverStep::Publish);
    assert_eq!(
        w.controller.handle_cancel(at(2), id, "alice", &w.registry),
        Err(FailoverError::TooLateToCancel {
            id,
            step: FailoverStep::Publish
        })
    );
}

#[test]
fn an_emergency_promotion_reports_exactly_the_range_the_frozen_target_had_not_applied() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_last_seq(cid("a"), 120);
    // The last report says 100, but b really applied through 110 before it froze a's
    // stream: the cutoff must be what b holds, not what it last reported.
    w.b_applies_a_through(100);
    w.observation
        .set_health(cid("a"), ClusterHealth::Unreachable);
    w.observe(at(0));
    let request = FailoverRequest {
        kind: FailoverKind::Emergency { force: false },
        ..planned("b")
    };
    let id = w.request(at(1), request).unwrap();
    assert_eq!(w.freezes, vec![id]);
    assert_eq!(
        w.placement().0,
        cid("a"),
        "nothing is promoted before the target froze"
    );
    w.controller
        .handle_target_frozen(at(1), id, 110, &w.registry);
    w.pump(at(1));
    assert_eq!(w.step(id), FailoverStep::Publish);
    let loss = &w.losses[0];
    assert_eq!(
        (loss.first_seq, loss.last_seq, loss.known_at_risk()),
        (111, Some(120), 10)
    );
    assert_eq!(loss.old_failover_version, FailoverVersion(1));
    assert_eq!(
        w.registry.history(&orders())[1].superseded_cutoff,
        Some(110)
    );
    assert!(
        w.drains.is_empty(),
        "an emergency does not wait for the dead source"
    );
}

#[test]
fn an_emergency_loss_range_stays_open_until_the_old_active_reports_where_its_writes_ended() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_last_seq(cid("a"), 120);
    w.b_applies_a_through(100);
    w.observation
        .set_health(cid("a"), ClusterHealth::Unreachable);
    w.observe(at(0));
    let id = w.emergency_to_b_frozen_at(at(1), 110);
    // a's last status (120) can be older than its last acknowledged write.
    assert!(w.losses[0].open_ended);
    assert!(w.losses[0].covers(FailoverVersion(1), 500));

    // A report for another version of a's placement is not this failover's.
    w.controller
        .handle_superseded_report(at(2), &cid("a"), &orders(), FailoverVersion(9), 130);
    w.pump(at(2));
    assert_eq!(w.losses.len(), 1);

    // a applied the promotion having written through 130: the range closes there.
    w.controller
        .handle_superseded_report(at(3), &cid("a"), &orders(), FailoverVersion(1), 130);
    w.pump(at(3));
    let closed = w.losses.last().unwrap();
    assert_eq!(
        (closed.first_seq, closed.last_seq, closed.open_ended),
        (111, Some(130), false)
    );
    assert_eq!(closed.known_at_risk(), 20);
    assert!(closed.covers(FailoverVersion(1), 130) && !closed.covers(FailoverVersion(1), 131));
    let kept = w.controller.failover(id).unwrap().loss.clone().unwrap();
    assert_eq!(&kept, closed);

    // Once closed, a later report (status is sent every tick) changes nothing.
    w.controller
        .handle_superseded_report(at(4), &cid("a"), &orders(), FailoverVersion(1), 130);
    w.pump(at(4));
    assert_eq!(w.losses.len(), 2);
}

#[test]
fn a_loss_range_closed_at_the_cutoff_holds_nothing() {
    let mut w = World::new(FailoverPolicy::default());
    w.b_applies_a_through(100);
    w.observe(at(0));
    w.emergency_to_b_frozen_at(at(1), 100);
    w.controller
        .handle_superseded_report(at(2), &cid("a"), &orders(), FailoverVersion(1), 100);
    w.pump(at(2));
    let closed = w.losses.last().unwrap();
    assert_eq!((closed.last_seq, closed.open_ended), (None, false));
    assert!(!closed.covers(FailoverVersion(1), 101));
}

#[test]
fn a_loss_report_at_the_end_of_the_sequence_space_does_not_overflow() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_last_seq(cid("a"), u64::MAX);
    w.observe(at(0));
    let request = FailoverRequest {
        kind: FailoverKind::Emergency { force: false },
        ..planned("b")
    };
    let id = w.request(at(1), request).unwrap();
    w.controller
        .handle_target_frozen(at(1), id, u64::MAX, &w.registry);
    w.pump(at(1));
    let loss = &w.losses[0];
    assert_eq!(
        (loss.first_seq, loss.last_seq, loss.known_at_risk()),
        (u64::MAX, None, 0)
    );
}

#[test]
fn an_emergency_takes_over_a_planned_failover_that_has_not_promoted() {
    let mut w = World::new(FailoverPolicy::default());
    let planned_id = w.request(at(1), planned("b")).unwrap();
    assert_eq!(w.step(planned_id), FailoverStep::Drain);
    let request = FailoverRequest {
        kind: FailoverKind::Emergency { force: false },
        ..planned("c")
    };
    let id = w.request(at(2), request).unwrap();
    assert_eq!(w.step(planned_id), FailoverStep::Aborted);
    w.controller.handle_target_frozen(at(2), id, 0, &w.registry);
    w.pump(at(2));
    assert_eq!(w.placement().0, cid("c"));
    // ... but a second emergency does not take over the first.
    let again = FailoverRequest {
        kind: FailoverKind::Emergency { force: false },
        ..planned("b")
    };
    assert!(matches!(
        w.request(at(3), again),
        Err(PreflightRefusal::FailoverInFlight { .. })
    ));
}

#[test]
fn a_source_reactivated_during_catch_up_is_never_promoted_over() {
    let mut w = World::new(FailoverPolicy::default());
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 40, &w.registry);
    w.pump(at(1));
    // Someone (an operator, a former controller) re-activates the source; it takes writes
    // 41..50 that b never sees.
    let expect = w.registry.placement(&orders()).unwrap().version;
    w.registry
        .apply(RegistryCommand::SetPlacementState {
            namespace: orders(),
            state: PlacementState::Active,
            expect,
            change: ChangeMetadata::default(),
        })
        .unwrap();
    w.b_applies_a_through(40);
    w.observe(at(2));
    assert_eq!(
        w.placement(),
        (cid("a"), FailoverVersion(1), PlacementState::Active)
    );
    assert_eq!(w.step(id), FailoverStep::RolledBack);
}

#[test]
fn a_drain_the_source_never_confirms_rolls_back_at_its_deadline() {
    let mut w = World::new(FailoverPolicy::default());
    let id = w.request(at(1), planned("b")).unwrap();
    assert_eq!(w.placement().2, PlacementState::Draining);
    let deadline = w.controller.poll_timeout().expect("a drain deadline");
    w.controller.handle_timeout(deadline, &w.registry);
    w.pump(deadline);
    assert_eq!(w.step(id), FailoverStep::RolledBack);
    assert_eq!(w.placement().2, PlacementState::Active);
}

#[test]
fn a_requester_naming_themselves_as_approver_still_awaits_approval() {
    let mut w = World::new(FailoverPolicy {
        require_approval: true,
        ..FailoverPolicy::default()
    });
    let mut request = planned("b");
    request.approver = Some("alice".into());
    let id = w.request(at(1), request).unwrap();
    assert_eq!(w.step(id), FailoverStep::AwaitingApproval);
    assert_eq!(w.placement().2, PlacementState::Active);
}

#[test]
fn an_emergency_without_quorum_needs_force() {
    let mut w = World::new(FailoverPolicy::default());
    let request = FailoverRequest {
        kind: FailoverKind::Emergency { force: false },
        ..planned("b")
    };
    assert_eq!(
        w.controller
            .handle_request(at(1), request.clone(), &w.registry, false),
        Err(PreflightRefusal::NoQuorum)
    );
    let forced = FailoverRequest {
        kind: FailoverKind::Emergency { force: true },
        ..request
    };
    assert!(
        w.controller
            .handle_request(at(1), forced, &w.registry, false)
            .is_ok()
    );
}

#[test]
fn failback_targets_the_previous_active_cluster() {
    let mut w = World::new(FailoverPolicy {
        cooldown: Duration::ZERO,
        ..FailoverPolicy::default()
    });
    let id = w.request(at(1), planned("b")).unwrap();
    w.controller
        .handle_source_drained(at(1), id, 0, &w.registry);
    w.pump(at(1));
    w.controller.handle_published(at(1), id);
    w.pump(at(1));
    let back = FailoverRequest {
        target: None,
        kind: FailoverKind::Failback,
        ..planned("a")
    };
    let id = w.request(at(2), back).unwrap();
    assert_eq!(w.controller.failover(id).unwrap().target, cid("a"));
}

fn auto_on() -> AutoFailoverPolicy {
    AutoFailoverPolicy {
        enabled: true,
        detection_window: Duration::from_secs(2),
        inhibit_window: Duration::from_secs(60),
        lag_ceiling_entries: 50,
    }
}

#[test]
fn automatic_failover_is_off_by_default() {
    let w = World::new(FailoverPolicy::default());
    let mut state = AutoFailoverState::new();
    let reports = [(cid("b"), true), (cid("c"), true)];
    let decision = state.evaluate(
        at(10),
        &AutoFailoverPolicy::default(),
        &orders(),
        &w.registry,
        &w.observation,
        &reports,
    );
    assert_eq!(decision, AutoDecision::Stay);
}

#[test]
fn automatic_failover_needs_a_majority_outside_the_active_cluster() {
    let w = World::new(FailoverPolicy::default());
    let mut state = AutoFailoverState::new();
    // Voters inside the active cluster do not count; outside, one of two is no majority.
    let split = [(cid("a"), true), (cid("b"), true), (cid("c"), false)];
    assert_eq!(
        state.evaluate(
            at(0),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &split
        ),
        AutoDecision::Stay
    );
    let agreed = [(cid("a"), false), (cid("b"), true), (cid("c"), true)];
    assert_eq!(
        state.evaluate(
            at(0),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &agreed
        ),
        AutoDecision::Suspect { until: at(2) }
    );
}

#[test]
fn automatic_failover_waits_out_the_detection_window_then_picks_priority_then_least_lag() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_last_seq(cid("a"), 100);
    w.b_applies_a_through(90);
    let mut vv = ClusterVersionVector::new();
    vv.set(&cid("a"), 95);
    w.observation.set_applied(cid("c"), &vv);
    let mut state = AutoFailoverState::new();
    let reports = [(cid("b"), true), (cid("c"), true)];
    assert!(matches!(
        state.evaluate(
            at(0),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::Suspect { .. }
    ));
    // b and c share the top priority; c lags less.
    assert_eq!(
        state.evaluate(
            at(2),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::FailOver {
            target: cid("c"),
            lag_entries: 5
        }
    );
    // A report that the active is reachable again resets the window.
    let healed = [(cid("b"), false), (cid("c"), false)];
    assert_eq!(
        state.evaluate(
            at(3),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &healed
        ),
        AutoDecision::Stay
    );
    assert!(matches!(
        state.evaluate(
            at(4),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::Suspect { .. }
    ));
}

#[test]
fn the_inhibit_window_prevents_flapping() {
    let w = World::new(FailoverPolicy::default());
    let mut state = AutoFailoverState::new();
    state.record_failover(&orders(), at(0));
    let reports = [(cid("b"), true), (cid("c"), true)];
    let _ = state.evaluate(
        at(10),
        &auto_on(),
        &orders(),
        &w.registry,
        &w.observation,
        &reports,
    );
    assert_eq!(
        state.evaluate(
            at(12),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::Inhibited { until: at(60) }
    );
}

#[test]
fn without_the_active_clusters_last_seq_only_a_human_may_fail_over() {
    let w = World::new(FailoverPolicy::default());
    let mut state = AutoFailoverState::new();
    let reports = [(cid("b"), true), (cid("c"), true)];
    let _ = state.evaluate(
        at(0),
        &auto_on(),
        &orders(),
        &w.registry,
        &w.observation,
        &reports,
    );
    assert!(matches!(
        state.evaluate(
            at(2),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::NeedsHuman { .. }
    ));
}

#[test]
fn above_the_lag_ceiling_only_a_human_may_fail_over() {
    let mut w = World::new(FailoverPolicy::default());
    w.observation.set_last_seq(cid("a"), 1_000);
    let mut state = AutoFailoverState::new();
    let reports = [(cid("b"), true), (cid("c"), true)];
    let _ = state.evaluate(
        at(0),
        &auto_on(),
        &orders(),
        &w.registry,
        &w.observation,
        &reports,
    );
    assert!(matches!(
        state.evaluate(
            at(2),
            &auto_on(),
            &orders(),
            &w.registry,
            &w.observation,
            &reports
        ),
        AutoDecision::NeedsHuman { .. }
    ));
}
