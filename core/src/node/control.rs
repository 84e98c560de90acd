//! The control group's side of a node: the registry replica on every control voter, and
//! the failover controller with the automatic policy on its leader.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::consensus::{self, Entry, EntryPayload, Replica};
use crate::failover::{
    AutoDecision, AutoFailoverState, ClusterHealth, ControllerOutput, FailoverController,
    FailoverId, FailoverKind, FailoverRequest, Observation,
};
use crate::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, Expect, PlacementState, Registry,
    RegistryCommand,
};
use crate::{ClusterId, Instant, NamespaceId, NodeId};

use super::command::{self, ControlCommand};
use super::event::{Group, NodeDrop, NodeEvent};
use super::message::{ClusterStatus, MeshMessage, NodeMessage, OperatorReply, OperatorRequest};
use super::node::Node;

/// Who the automatic policy acts as, in audit records.
pub const AUTO_POLICY_ACTOR: &str = "auto-policy";

/// What every control voter keeps.
#[derive(Debug)]
pub(crate) struct ControlRole {
    pub(crate) replica: Replica,
    pub(crate) registry: Registry,
    /// The latest status of each cluster's leader, with when it arrived.
    pub(crate) statuses: BTreeMap<ClusterId, (Instant, ClusterStatus)>,
    pub(crate) leader: Option<ControlLeader>,
}

/// What the control group's leader keeps on top.
#[derive(Debug)]
pub(crate) struct ControlLeader {
    pub(crate) controller: FailoverController,
    auto: AutoFailoverState,
    since: Instant,
    recovered: bool,
    bootstrap_proposed: bool,
    /// Each voter's latest reachability view: when, its cluster, what it cannot reach.
    pub(crate) reports: BTreeMap<NodeId, (Instant, ClusterId, Vec<ClusterId>)>,
    drains: BTreeMap<FailoverId, (ClusterId, MeshMessage)>,
    freezes: BTreeMap<FailoverId, (ClusterId, MeshMessage)>,
    next_broadcast: Instant,
}

impl ControlRole {
    pub(crate) fn new(replica: Replica, registry: Registry) -> Self {
        ControlRole {
            replica,
            registry,
            statuses: BTreeMap::new(),
            leader: None,
        }
    }
}

impl Node {
    pub(crate) fn pending_ops_remove(&mut self, op: u64) -> bool {
        self.pending_ops.remove(&op).is_some()
    }

    pub(crate) fn on_control_event(&mut self, now: Instant, event: consensus::Event) {
        match event {
            consensus::Event::Persist(request) => self.events.push_back(NodeEvent::Persist {
                group: Group::Control,
                request,
            }),
            consensus::Event::Committed(entry) => self.apply_control_entry(now, entry),
            consensus::Event::LeaderChanged(change) => {
                let me = self.id();
                let policy = self.config.failover.clone();
                if let Some(c) = self.control.as_mut() {
                    c.leader = (change.leader == me).then(|| ControlLeader {
                        // Ids above any an earlier leader of a lower term could hand out.
                        controller: FailoverController::with_first_id(
                            policy,
                            change.term.0.saturating_mul(1 << 32).saturating_add(1),
                        ),
                        auto: AutoFailoverState::new(),
                        since: now,
                        recovered: false,
                        bootstrap_proposed: false,
                        reports: BTreeMap::new(),
                        drains: BTreeMap::new(),
                        freezes: BTreeMap::new(),
                        next_broadcast: now,
                    });
                }
                self.control_leader_hint = Some(change.leader);
                self.events.push_back(NodeEvent::Leadership {
                    group: Group::Control,
                    change,
                });
            }
            consensus::Event::SteppedDown { term, reason } => {
                if let Some(c) = self.control.as_mut() {
                    c.leader = None;
                }
                self.events.push_back(NodeEvent::SteppedDown {
                    group: Group::Control,
                    term,
                    reason,
                });
            }
            consensus::Event::SplitBrain {
                term,
                first,
                second,
            } => self.events.push_back(NodeEvent::SplitBrain {
                group: Group::Control,
                term,
                first,
                second,
            }),
            consensus::Event::SnapshotInstalled { .. } => {
                self.count_drop(NodeDrop::UnexpectedSnapshot);
            }
            consensus::Event::VoterSetChanged { .. } | consensus::Event::TransferAborted { .. } => {
            }
        }
    }

    fn apply_control_entry(&mut self, now: Instant, entry: Entry) {
        let EntryPayload::Command(bytes) = entry.payload else {
            return;
        };
        let Ok(cmd) = command::decode::<ControlCommand>(&bytes) else {
            return self.count_drop(NodeDrop::UndecodableEntry);
        };
        let Some(c) = self.control.as_mut() else {
            return;
        };
        match cmd {
            ControlCommand::Bootstrap {
                clusters,
                namespaces,
            } => {
                if c.registry.revision() == 0 {
                    for descriptor in clusters {
                        let _ = c.registry.apply(RegistryCommand::PutCluster {
                            descriptor,
                            expect: Expect::Absent,
                        });
                    }
                    for (namespace, active_cluster) in namespaces {
                        let _ = c.registry.apply(RegistryCommand::CreateNamespace {
                            namespace,
                            active_cluster,
                            change: ChangeMetadata {
                                changed_by: "bootstrap".into(),
                                ticket: None,
                                reason: "configured namespace".into(),
                            },
                        });
                    }
                }
            }
            ControlCommand::Registry { failover, command } => {
                let outcome = c.registry.apply(command);
                if let (Some(id), Some(l)) = (failover, c.leader.as_mut()) {
                    l.controller.handle_applied(now, id, outcome, &c.registry);
                }
            }
        }
        let registry = Arc::new(c.registry.clone());
        if let Some(l) = c.leader.as_mut() {
            l.next_broadcast = now;
        }
        self.learn_registry(now, registry);
    }

    fn propose_control(&mut self, now: Instant, command: &ControlCommand) -> bool {
        self.control
            .as_mut()
            .is_some_and(|c| c.replica.propose(now, command::encode(command)).is_ok())
    }

    pub(crate) fn on_controller_output(&mut self, now: Instant, out: ControllerOutput) {
        match out {
            ControllerOutput::Propose { failover, command } => {
                let cmd = ControlCommand::Registry {
                    failover: Some(failover),
                    command,
                };
                if !self.propose_control(now, &cmd) {
                    // Lost the lead: the next leader recovers abandoned drains.
                    self.count_drop(NodeDrop::NotControlLeader);
                }
            }
            ControllerOutput::AwaitDrain {
                failover,
                namespace,
                source,
            } => {
                let Some(c) = self.control.as_mut() else {
                    return;
                };
                let Some(placement) = c.registry.placement(&namespace) else {
                    return;
                };
                let msg = MeshMessage::Drain {
                    failover,
                    placement: placement.value.clone(),
                    revision: placement.version,
                };
                if let Some(l) = c.leader.as_mut() {
                    l.drains.insert(failover, (source.clone(), msg.clone()));
                }
                self.send_to_cluster(&source, msg);
            }
            ControllerOutput::FreezeTarget {
                failover,
                target,
                old_active,
                ..
            } => {
                let msg = MeshMessage::Freeze {
                    failover,
                    origin: old_active,
                };
                if let Some(l) = self.control.as_mut().and_then(|c| c.leader.as_mut()) {
                    l.freezes.insert(failover, (target.clone(), msg.clone()));
                }
                self.send_to_cluster(&target, msg);
            }
            ControllerOutput::Publish { failover, .. } => {
                self.broadcast_registry(now);
                if let Some(l) = self.control.as_mut().and_then(|c| c.leader.as_mut()) {
                    l.controller.handle_published(now, failover);
                }
            }
            ControllerOutput::LossReported { failover, report } => {
                self.events
                    .push_back(NodeEvent::LossReported { failover, report });
            }
            ControllerOutput::Audit(record) => self.events.push_back(NodeEvent::Audit(record)),
        }
    }

    /// Sends to every node of `cluster` (only its leader acts on it; this spares the
    /// control leader from tracking leaders of other clusters).
    fn send_to_cluster(&mut self, cluster: &ClusterId, msg: MeshMessage) {
        let nodes = self
            .config
            .topology
            .cluster(cluster)
            .map(|c| c.nodes.clone())
            .unwrap_or_default();
        for node in nodes {
            if node == self.id() {
                let me = self.id();
                // Our own cluster: handle it as if it arrived.
                self.on_mesh_local(me, msg.clone());
            } else {
                self.send(node, NodeMessage::Mesh(msg.clone()));
            }
        }
    }

    fn on_mesh_local(&mut self, me: NodeId, msg: MeshMessage) {
        // Delivered through the transmit queue to keep one path for every message.
        self.send(me, NodeMessage::Mesh(msg));
    }

    fn broadcast_registry(&mut self, now: Instant) {
        let me = self.id();
        let Some(c) = self.control.as_mut() else {
            return;
        };
        if let Some(l) = c.leader.as_mut() {
            l.next_broadcast = now + self.config.timings.registry_broadcast;
        }
        let registry = Arc::new(c.registry.clone());
        let nodes: Vec<NodeId> = self.config.topology.all_nodes().collect();
        for node in nodes.into_iter().filter(|n| *n != me) {
            self.send(
                node,
                NodeMessage::Mesh(MeshMessage::Registry {
                    registry: Arc::clone(&registry),
                    control_leader: me,
                }),
            );
        }
    }

    pub(crate) fn on_drained(&mut self, now: Instant, failover: FailoverId, last_seq: u64) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return self.count_drop(NodeDrop::NotControlLeader);
        };
        if l.drains.remove(&failover).is_some() {
            l.controller
                .handle_source_drained(now, failover, last_seq, &c.registry);
        }
    }

    pub(crate) fn on_frozen(&mut self, now: Instant, failover: FailoverId, applied_through: u64) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return self.count_drop(NodeDrop::NotControlLeader);
        };
        if l.freezes.remove(&failover).is_some() {
            l.controller
                .handle_target_frozen(now, failover, applied_through, &c.registry);
        }
    }

    pub(crate) fn serve_operator(
        &mut self,
        now: Instant,
        request: OperatorRequest,
    ) -> OperatorReply {
        let Some(c) = self.control.as_mut() else {
            return OperatorReply::Unavailable("not a control voter".into());
        };
        let Some(l) = c.leader.as_mut() else {
            return OperatorReply::Unavailable("not the control-group leader".into());
        };
        let reply = match request {
            OperatorRequest::Failover { request, dry_run } if dry_run => {
                match l.controller.dry_run(now, &request, &c.registry, true) {
                    Ok((source, target)) => OperatorReply::Plan { source, target },
                    Err(refusal) => OperatorReply::Refused(refusal),
                }
            }
            OperatorRequest::Failover { request, .. } => {
                match l.controller.handle_request(now, request, &c.registry, true) {
                    Ok(id) => OperatorReply::Started(id),
                    Err(refusal) => OperatorReply::Refused(refusal),
                }
            }
            OperatorRequest::Approve { id, approver } => {
                match l
                    .controller
                    .handle_approval(now, id, &approver, &c.registry)
                {
                    Ok(()) => OperatorReply::Done,
                    Err(e) => OperatorReply::Rejected(e),
                }
            }
            OperatorRequest::Cancel { id, by } => {
                match l.controller.handle_cancel(now, id, &by, &c.registry) {
                    Ok(()) => OperatorReply::Done,
                    Err(e) => OperatorReply::Rejected(e),
                }
            }
            OperatorRequest::Show { id } => {
                OperatorReply::Failover(l.controller.failover(id).cloned().map(Box::new))
            }
            OperatorRequest::List => {
                OperatorReply::Failovers(l.controller.failovers().cloned().collect())
            }
        };
        self.pump(now);
        reply
    }

    pub(crate) fn control_timeout(&mut self, now: Instant) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        if let Some(l) = c.leader.as_mut()
            && l.controller.poll_timeout().is_some_and(|t| now >= t)
        {
            l.controller.handle_timeout(now, &c.registry);
        }
    }

    /// The control leader's periodic duties.
    pub(crate) fn control_tick(&mut self, now: Instant) {
        if !self.is_control_leader() {
            return;
        }
        self.bootstrap_registry(now);
        self.recover_abandoned_drains(now);
        self.observe(now);
        self.run_auto_policy(now);
        let Some(l) = self.control.as_mut().and_then(|c| c.leader.as_mut()) else {
            return;
        };
        let retries: Vec<(ClusterId, MeshMessage)> = l
            .drains
            .values()
            .chain(l.freezes.values())
            .cloned()
            .collect();
        let broadcast_due = now >= l.next_broadcast;
        for (cluster, msg) in retries {
            self.send_to_cluster(&cluster, msg);
        }
        if broadcast_due {
            self.broadcast_registry(now);
        }
    }

    fn bootstrap_registry(&mut self, now: Instant) {
        let topology = Arc::clone(&self.config.topology);
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return;
        };
        if c.registry.revision() > 0 || l.bootstrap_proposed {
            return;
        }
        // Wait until our log is applied up to our term's start, or we might re-bootstrap a
        // registry an earlier leader already filled.
        if c.replica.applied_index() < c.replica.commit_index() {
            return;
        }
        l.bootstrap_proposed = true;
        let clusters = topology
            .clusters
            .iter()
            .map(|s| ClusterDescriptor {
                id: s.id.clone(),
                region: s.region.clone(),
                priority: s.priority,
                state: ClusterState::Online,
                endpoints: s.endpoints.clone(),
                replication_endpoints: Vec::new(),
                owners: Vec::new(),
                initial_failover_version: s.initial_failover_version,
                change: ChangeMetadata {
                    changed_by: "bootstrap".into(),
                    ticket: None,
                    reason: "configured cluster".into(),
                },
            })
            .collect();
        let cmd = ControlCommand::Bootstrap {
            clusters,
            namespaces: topology.namespaces.clone(),
        };
        self.propose_control(now, &cmd);
    }

    /// A leader that died mid-drain leaves a namespace draining with nobody to finish or
    /// undo it: the next leader re-activates it (nothing was promoted, nothing is lost).
    fn recover_abandoned_drains(&mut self, now: Instant) {
        let settle = self.config.control_election.max();
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return;
        };
        if l.recovered || now.saturating_duration_since(l.since) < settle {
            return;
        }
        l.recovered = true;
        let abandoned: Vec<(NamespaceId, u64)> = c
            .registry
            .placements()
            .filter(|p| p.value.state == PlacementState::Draining)
            .filter(|p| l.controller.in_flight(&p.value.namespace).is_none())
            .map(|p| (p.value.namespace.clone(), p.version))
            .collect();
        for (namespace, expect) in abandoned {
            let cmd = ControlCommand::Registry {
                failover: None,
                command: RegistryCommand::SetPlacementState {
                    namespace,
                    state: PlacementState::Active,
                    expect,
                    change: ChangeMetadata {
                        changed_by: "controller".into(),
                        ticket: None,
                        reason: "drain abandoned by an earlier control leader; re-activated".into(),
                    },
                },
            };
            self.propose_control(now, &cmd);
        }
    }

    fn observe(&mut self, now: Instant) {
        let window = self.config.timings.unreachable_after;
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return;
        };
        let mut observation = Observation::new();
        for (cluster, (at, status)) in &c.statuses {
            let fresh = now.saturating_duration_since(*at) < window;
            observation.set_health(
                cluster.clone(),
                if fresh {
                    ClusterHealth::Healthy
                } else {
                    ClusterHealth::Unreachable
                },
            );
            observation.set_applied(cluster.clone(), &status.vv);
            observation.set_last_seq(cluster.clone(), status.last_seq);
            for (target, lag) in &status.lags {
                observation.set_lag(cluster.clone(), target.clone(), *lag);
            }
        }
        l.controller
            .handle_observation(now, observation, &c.registry);
    }

    fn run_auto_policy(&mut self, now: Instant) {
        let policy = self.config.auto_failover.clone();
        if !policy.enabled {
            return;
        }
        let stale_after = self.config.timings.unreachable_after * 2;
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let Some(l) = c.leader.as_mut() else {
            return;
        };
        let namespaces: Vec<(NamespaceId, ClusterId)> = c
            .registry
            .placements()
            .map(|p| (p.value.namespace.clone(), p.value.active_cluster.clone()))
            .collect();
        for (namespace, active) in namespaces {
            if l.controller.in_flight(&namespace).is_some() {
                continue;
            }
            let reports: Vec<(ClusterId, bool)> = l
                .reports
                .values()
                .filter(|(at, _, _)| now.saturating_duration_since(*at) < stale_after)
                .map(|(_, cluster, unreachable)| (cluster.clone(), unreachable.contains(&active)))
                .collect();
            let decision = l.auto.evaluate(
                now,
                &policy,
                &namespace,
                &c.registry,
                l.controller.observation(),
                &reports,
            );
            if let AutoDecision::FailOver { target, .. } = decision {
                let request = FailoverRequest {
                    namespace: namespace.clone(),
                    target: Some(target),
                    kind: FailoverKind::Emergency { force: false },
                    requested_by: AUTO_POLICY_ACTOR.into(),
                    ticket: None,
                    approver: None,
                };
                if l.controller
                    .handle_request(now, request, &c.registry, true)
                    .is_ok()
                {
                    l.auto.record_failover(&namespace, now);
                }
            }
        }
    }
}
