//! Coordination between cluster leaders and the control group: status reports,
//! reachability, registry distribution, drains and freezes.

use std::sync::Arc;

use crate::registry::Registry;
use crate::{ClusterId, Instant, NodeId};

use super::command::{self, ClusterCommand};
use super::event::{NodeDrop, NodeEvent};
use super::message::{ClusterStatus, MeshMessage, NodeMessage, OperatorReply};
use super::node::Node;

impl Node {
    pub(crate) fn on_mesh(&mut self, now: Instant, from: NodeId, msg: MeshMessage) {
        match msg {
            MeshMessage::Status(status) => {
                if self.control.is_some() {
                    self.take_status(now, status);
                } else {
                    self.count_drop(NodeDrop::NotForThisNode);
                }
            }
            MeshMessage::Reachability {
                voter_cluster,
                unreachable,
            } => match self.control.as_mut().and_then(|c| c.leader.as_mut()) {
                Some(l) => {
                    l.reports.insert(from, (now, voter_cluster, unreachable));
                }
                None => self.count_drop(NodeDrop::NotControlLeader),
            },
            MeshMessage::Registry {
                registry,
                control_leader,
            } => {
                self.control_leader_hint = Some(control_leader);
                self.control_contact = now;
                self.learn_registry(now, registry);
            }
            MeshMessage::Drain {
                failover,
                placement,
                revision,
            } => {
                let leader = self.is_cluster_leader();
                if let Some(d) = self.data.as_mut().filter(|_| leader) {
                    d.drain_waiters
                        .insert(failover, (placement.namespace.clone(), revision, from));
                }
                self.propose_placement(now, placement, revision);
                self.answer_waiters();
            }
            MeshMessage::Freeze { failover, origin } => {
                let leader = self.is_cluster_leader();
                let retry = self.config.timings.stream_retry;
                let Some(d) = self.data.as_mut().filter(|_| leader) else {
                    return;
                };
                d.freeze_waiters.insert(failover, (origin.clone(), from));
                let recently = d
                    .proposed_holds
                    .get(&origin)
                    .is_some_and(|at| now.saturating_duration_since(*at) < retry);
                if !d.data.is_held(&origin) && !recently {
                    let bytes = command::encode(&ClusterCommand::Hold {
                        origin: origin.clone(),
                    });
                    if d.replica.propose(now, bytes).is_ok() {
                        d.proposed_holds.insert(origin, now);
                    }
                }
                self.answer_waiters();
            }
            MeshMessage::Drained { failover, last_seq } => {
                self.on_drained(now, failover, last_seq);
            }
            MeshMessage::Frozen {
                failover,
                applied_through,
            } => self.on_frozen(now, failover, applied_through),
            MeshMessage::Operator { op, request } => {
                let reply = if self.is_control_leader() {
                    self.serve_operator(now, request)
                } else {
                    OperatorReply::Unavailable(format!(
                        "{} does not lead the control group",
                        self.id()
                    ))
                };
                self.send(
                    from,
                    NodeMessage::Mesh(MeshMessage::OperatorReply { op, reply }),
                );
            }
            MeshMessage::OperatorReply { op, reply } => {
                if self.pending_ops_remove(op) {
                    self.events
                        .push_back(NodeEvent::OperatorReply { op, reply });
                } else {
                    self.count_drop(NodeDrop::NotForThisNode);
                }
            }
        }
    }

    /// A registry newer than ours: keep it and make our cluster's log follow it.
    pub(crate) fn learn_registry(&mut self, now: Instant, registry: Arc<Registry>) {
        if registry.revision() <= self.registry_view.revision() {
            return;
        }
        self.registry_view = registry;
        self.sync_placements(now);
    }

    /// Cluster leader: proposes every placement the registry has and our log lacks.
    pub(crate) fn sync_placements(&mut self, now: Instant) {
        if !self.is_cluster_leader() {
            return;
        }
        let registry = Arc::clone(&self.registry_view);
        for placement in registry.placements() {
            self.propose_placement(now, placement.value.clone(), placement.version);
        }
    }

    fn propose_placement(
        &mut self,
        now: Instant,
        placement: crate::registry::NamespacePlacement,
        revision: u64,
    ) {
        let leader = self.is_cluster_leader();
        let retry = self.config.timings.stream_retry;
        let history = self.registry_view.history(&placement.namespace).to_vec();
        let Some(d) = self.data.as_mut().filter(|_| leader) else {
            return;
        };
        let ns = placement.namespace.clone();
        let known = d.data.placement(&ns).map_or(0, |(_, r)| r);
        let in_flight = d
            .proposed_placements
            .get(&ns)
            .is_some_and(|(r, at)| *r >= revision && now.saturating_duration_since(*at) < retry);
        if known >= revision || in_flight {
            return;
        }
        let bytes = command::encode(&ClusterCommand::Placement {
            placement,
            revision,
            history,
        });
        if d.replica.propose(now, bytes).is_ok() {
            d.proposed_placements.insert(ns, (revision, now));
        }
    }

    /// Cluster leader: answers drains and freezes whose condition now holds.
    pub(crate) fn answer_waiters(&mut self) {
        if !self.is_cluster_leader() {
            return;
        }
        let Some(d) = self.data.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        d.drain_waiters.retain(|failover, (ns, revision, to)| {
            let applied = d.data.placement(ns).is_some_and(|(_, r)| r >= *revision);
            if applied {
                out.push((
                    *to,
                    MeshMessage::Drained {
                        failover: *failover,
                        last_seq: d.data.last_local_seq(),
                    },
                ));
            }
            !applied
        });
        d.freeze_waiters.retain(|failover, (origin, to)| {
            let held = d.data.is_held(origin);
            if held {
                out.push((
                    *to,
                    MeshMessage::Frozen {
                        failover: *failover,
                        applied_through: d.data.vv().get(origin),
                    },
                ));
            }
            !held
        });
        for (to, msg) in out {
            self.send(to, NodeMessage::Mesh(msg));
        }
    }

    /// Periodic duties of every role.
    pub(crate) fn on_tick(&mut self, now: Instant, status_due: bool) {
        if self.is_control_leader() {
            self.control_contact = now;
        }
        if self.is_cluster_leader() {
            self.release_stale_holds(now);
            self.sync_placements(now);
            self.pump_streams(now);
            if status_due {
                self.report_status(now);
            }
        }
        if status_due && self.control.is_some() {
            self.report_reachability(now);
        }
        self.control_tick(now);
    }

    /// Cluster leader: releases holds older than `freeze_timeout` (see its docs).
    fn release_stale_holds(&mut self, now: Instant) {
        let timeout = self.config.timings.freeze_timeout;
        let retry = self.config.timings.stream_retry;
        let clusters: Vec<ClusterId> = self
            .config
            .topology
            .clusters
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let Some(d) = self.data.as_mut() else {
            return;
        };
        for origin in clusters {
            if !d.data.is_held(&origin) {
                d.held_since.remove(&origin);
                continue;
            }
            let (since, last_release) = *d.held_since.entry(origin.clone()).or_insert((now, None));
            let due = now.saturating_duration_since(since) >= timeout
                && last_release.is_none_or(|at| now.saturating_duration_since(at) >= retry);
            if due {
                let bytes = command::encode(&ClusterCommand::Release {
                    origin: origin.clone(),
                });
                if d.replica.propose(now, bytes).is_ok() {
                    d.held_since.insert(origin, (since, Some(now)));
                }
            }
        }
    }

    fn report_status(&mut self, now: Instant) {
        let lags = self.stream_lags(now);
        let Some(d) = self.data.as_ref() else {
            return;
        };
        let status = ClusterStatus {
            cluster: d.data.cluster().clone(),
            leader: self.id(),
            term: d.replica.term(),
            vv: d.data.vv().clone(),
            last_seq: d.data.last_local_seq(),
            lags,
            digests: d.data.namespace_digests(),
            superseded: d.data.superseded(),
        };
        let acks: Vec<(NodeId, NodeMessage)> = d
            .senders
            .values()
            .map(|to| (*to, super::stream::ack_message(&d.data)))
            .collect();
        for (to, ack) in acks {
            self.send(to, ack);
        }
        let voters = self.config.topology.control_voters.clone();
        for voter in voters {
            if voter == self.id() {
                self.take_status(now, status.clone());
            } else {
                self.send(
                    voter,
                    NodeMessage::Mesh(MeshMessage::Status(status.clone())),
                );
            }
        }
    }

    /// Control voter: keeps a cluster leader's status; the control leader also closes the
    /// loss ranges of emergency failovers away from that cluster once it reports where its
    /// writes ended.
    fn take_status(&mut self, now: Instant, status: ClusterStatus) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        if let Some(l) = c.leader.as_mut() {
            for (namespace, version, last_seq) in &status.superseded {
                l.controller.handle_superseded_report(
                    now,
                    &status.cluster,
                    namespace,
                    *version,
                    *last_seq,
                );
            }
        }
        c.statuses.insert(status.cluster.clone(), (now, status));
    }

    /// The clusters this node heard nothing from within `unreachable_after`.
    pub fn unreachable_clusters(&self, now: Instant) -> Vec<ClusterId> {
        let window = self.config.timings.unreachable_after;
        self.last_heard
            .iter()
            .filter(|(cluster, at)| {
                Some(*cluster) != self.cluster.as_ref()
                    && now.saturating_duration_since(**at) >= window
            })
            .map(|(cluster, _)| cluster.clone())
            .collect()
    }

    fn report_reachability(&mut self, now: Instant) {
        let unreachable = self.unreachable_clusters(now);
        let voter_cluster = self.reporter.clone();
        if self.is_control_leader() {
            let id = self.id();
            if let Some(l) = self.control.as_mut().and_then(|c| c.leader.as_mut()) {
                l.reports.insert(id, (now, voter_cluster, unreachable));
            }
        } else if let Some(leader) = self.control_leader() {
            self.send(
                leader,
                NodeMessage::Mesh(MeshMessage::Reachability {
                    voter_cluster,
                    unreachable,
                }),
            );
        }
    }
}
