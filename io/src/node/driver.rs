//! The driver task: the one owner of the node's core machine. It turns peer messages, API
//! commands, fsync completions and timers into `handle_*` calls and the machine's outputs
//! into log writes, sends and API answers, in the order `core::node::Node` documents.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use omnirelay_core::consensus::{PersistId, PersistRequest};
use omnirelay_core::failover::AuditRecord;
use omnirelay_core::machine::Machine;
use omnirelay_core::node::{Group, Node, NodeEvent, NodeMessage, OperatorReply, WriteOutcome};
use omnirelay_core::registry::Registry;
use omnirelay_core::replication::ClusterVersionVector;
use omnirelay_core::{Instant, NodeId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::clock::NodeClock;
use super::handle::{
    Command, LeadershipChangeKind, LeadershipNotice, MemberStatus, NodeStatus, ReadResult,
    WalPosition,
};
use super::outbox::Outbox;

/// Most inputs of one source handled per wake-up before the others get their turn.
const ROUND: usize = 256;

/// A message from a peer, already authenticated and decoded.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub from: NodeId,
    pub message: NodeMessage,
}

/// One group's writer, as the driver sees it.
#[derive(Debug)]
pub(crate) struct GroupWriter {
    pub requests: mpsc::UnboundedSender<PersistRequest>,
    pub position: Arc<Mutex<WalPosition>>,
}

/// Who waits for one client write's outcome.
#[derive(Debug)]
enum WriteWaiter {
    /// A [`NodeHandle::write`](super::NodeHandle::write) caller.
    One(oneshot::Sender<WriteOutcome>),
    /// Slot `slot` of the `write_many` call `batch`.
    InBatch { batch: u64, slot: usize },
}

/// A `write_many` call waiting for the last of its outcomes.
#[derive(Debug)]
struct PendingBatch {
    outcomes: Vec<Option<WriteOutcome>>,
    missing: usize,
    reply: oneshot::Sender<Vec<WriteOutcome>>,
}

/// Everything the driver task owns.
pub(crate) struct Driver {
    pub node: Node,
    pub clock: NodeClock,
    pub commands: mpsc::Receiver<Command>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub persisted: mpsc::UnboundedReceiver<(Group, PersistId)>,
    pub writers: BTreeMap<Group, GroupWriter>,
    pub outbox: Arc<dyn Outbox>,
    pub registry: watch::Sender<Arc<Registry>>,
    pub applied: watch::Sender<ClusterVersionVector>,
    pub leadership: broadcast::Sender<LeadershipNotice>,
    pub audit: broadcast::Sender<AuditRecord>,
    pub shutdown: watch::Receiver<bool>,
    next_request: u64,
    loopback: VecDeque<NodeMessage>,
    writes: BTreeMap<u64, WriteWaiter>,
    batches: BTreeMap<u64, PendingBatch>,
    ops: BTreeMap<u64, oneshot::Sender<OperatorReply>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("node", &self.node.id())
            .field("pending_writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        node: Node,
        clock: NodeClock,
        commands: mpsc::Receiver<Command>,
        inbound: mpsc::Receiver<Inbound>,
        persisted: mpsc::UnboundedReceiver<(Group, PersistId)>,
        writers: BTreeMap<Group, GroupWriter>,
        outbox: Arc<dyn Outbox>,
        registry: watch::Sender<Arc<Registry>>,
        applied: watch::Sender<ClusterVersionVector>,
        leadership: broadcast::Sender<LeadershipNotice>,
        audit: broadcast::Sender<AuditRecord>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Driver {
            node,
            clock,
            commands,
            inbound,
            persisted,
            writers,
            outbox,
            registry,
            applied,
            leadership,
            audit,
            shutdown,
            next_request: 1,
            loopback: VecDeque::new(),
            writes: BTreeMap::new(),
            batches: BTreeMap::new(),
            ops: BTreeMap::new(),
        }
    }

    /// Runs until shutdown (or until every handle and the transport are gone). Returns the
    /// machine, so a caller can inspect it; the writers flush when it is dropped.
    pub(crate) async fn run(mut self) -> Node {
        // Whatever `Node::new` queued (e.g. nothing yet) goes out before the first input.
        self.drain();
        loop {
            let deadline = self.node.poll_timeout().map(|t| self.clock.deadline(t));
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // Biased: shutdown first, then fsync completions so acknowledgements are never
            // starved. Whatever woke the task, every source is then drained a bounded amount
            // (below), so a busy peer cannot starve the API or the timer.
            tokio::select! {
                biased;
                changed = self.shutdown.changed() => {
                    if changed.is_err() || *self.shutdown.borrow() {
                        break;
                    }
                }
                Some((group, id)) = self.persisted.recv() => {
                    let now = self.clock.now();
                    self.node.handle_persisted(now, group, id);
                }
                Some(inbound) = self.inbound.recv() => {
                    let now = self.clock.now();
                    self.node.handle_message(now, inbound.from, inbound.message);
                }
                Some(command) = self.commands.recv() => self.on_command(command),
                () = timer => {}
                else => break,
            }
            self.drain();
            self.drain_ready();
            let now = self.clock.now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            self.drain();
            self.publish_applied();
        }
        tracing::info!(node = %self.node.id(), "driver stopped");
        self.node
    }

    /// Handles what else is already queued, at most a round's worth of each source, so one
    /// wake-up serves everyone; outputs are drained after each input, as `Node` documents.
    fn drain_ready(&mut self) {
        self.deliver_loopback();
        while let Ok((group, id)) = self.persisted.try_recv() {
            let now = self.clock.now();
            self.node.handle_persisted(now, group, id);
            self.drain();
        }
        for _ in 0..ROUND {
            let Ok(inbound) = self.inbound.try_recv() else {
                break;
            };
            let now = self.clock.now();
            self.node.handle_message(now, inbound.from, inbound.message);
            self.drain();
        }
        for _ in 0..ROUND {
            let Ok(command) = self.commands.try_recv() else {
                break;
            };
            self.on_command(command);
            self.drain();
        }
        self.deliver_loopback();
    }

    /// Hands the node the messages it addressed to itself, in order (each may send more).
    fn deliver_loopback(&mut self) {
        let me = self.node.id();
        while let Some(message) = self.loopback.pop_front() {
            let now = self.clock.now();
            self.node.handle_message(now, me, message);
            self.drain();
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Write(mut write, reply) => {
                let handle = self.next_request;
                self.next_request += 1;
                write.request = handle;
                self.writes.insert(handle, WriteWaiter::One(reply));
                self.node.handle_client_write(now, write);
            }
            Command::WriteMany(writes, reply) => {
                let batch = self.next_request;
                self.next_request += 1;
                self.batches.insert(
                    batch,
                    PendingBatch {
                        outcomes: writes.iter().map(|_| None).collect(),
                        missing: writes.len(),
                        reply,
                    },
                );
                for (slot, mut write) in writes.into_iter().enumerate() {
                    let handle = self.next_request;
                    self.next_request += 1;
                    write.request = handle;
                    self.writes
                        .insert(handle, WriteWaiter::InBatch { batch, slot });
                    self.node.handle_client_write(now, write);
                    // Outputs after each input, as `Node` documents (a full batch of the
                    // core's becomes a persist request here).
                    self.drain();
                }
            }
            Command::Operator(request, reply) => {
                let handle = self.next_request;
                self.next_request += 1;
                self.ops.insert(handle, reply);
                self.node.handle_operator(now, handle, request);
            }
            Command::Read {
                namespace,
                after,
                limit,
                reply,
            } => {
                let (events, version_vector) = match self.node.data() {
                    Some(d) => (d.read(&namespace, &after, limit), d.vv().clone()),
                    None => (Vec::new(), ClusterVersionVector::new()),
                };
                let placement = self.node.registry().placement(&namespace).cloned();
                let _ = reply.send(ReadResult {
                    events,
                    version_vector,
                    placement,
                });
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status(now));
            }
        }
    }

    fn status(&self, now: Instant) -> NodeStatus {
        let node = &self.node;
        let replica = node.cluster_replica();
        NodeStatus {
            id: node.id(),
            cluster: node.cluster().cloned(),
            role: replica.map(|r| r.role()),
            cluster_leader: replica.and_then(|r| r.leader().map(|l| (l, r.term()))),
            control_leader: node.control_leader(),
            is_control_leader: node.is_control_leader(),
            registry: Arc::clone(node.registry()),
            members: node
                .membership()
                .members()
                .map(|m| MemberStatus {
                    id: m.id,
                    status: m.status,
                    incarnation: m.incarnation,
                    meta: m.meta,
                })
                .collect(),
            stream_lags: node.stream_lags(now),
            reported_lags: node.reported_lags(),
            divergent: node.divergent_namespaces(),
            applied: node.data().map(|d| d.vv().clone()).unwrap_or_default(),
            quarantined: node
                .data()
                .map(|d| d.state_diff().to_vec())
                .unwrap_or_default(),
            wal: self
                .writers
                .iter()
                .map(|(g, w)| (*g, w.position.lock().map(|p| *p).unwrap_or_default()))
                .collect(),
            drops: node.drops().iter().map(|(r, n)| (*r, *n)).collect(),
            send_drops: self.outbox.drops(),
        }
    }

    /// Drains the machine's outputs: events first (persist requests reach their writer
    /// before anything is sent), then transmits, as `Node` documents.
    fn drain(&mut self) {
        while let Some(event) = self.node.poll_event() {
            self.on_event(event);
        }
        let me = self.node.id();
        while let Some(t) = self.node.poll_transmit() {
            if t.to == me {
                // Core addresses its own node like any other (e.g. a drain of the control
                // leader's own cluster): delivered as an input, never through a socket.
                self.loopback.push_back(t.msg);
            } else {
                self.outbox.send(t.to, t.msg);
            }
        }
        if !Arc::ptr_eq(&self.registry.borrow(), self.node.registry()) {
            self.registry.send_replace(Arc::clone(self.node.registry()));
        }
    }

    fn on_event(&mut self, event: NodeEvent) {
        let me = self.node.id();
        match event {
            NodeEvent::Persist { group, request } => match self.writers.get(&group) {
                Some(w) => {
                    if w.requests.send(request).is_err() {
                        tracing::error!(?group, "log writer is gone; the node cannot persist");
                    }
                }
                None => tracing::error!(?group, "persist request for a group without a log"),
            },
            NodeEvent::WriteReply(reply) => {
                if let Some(waiter) = self.writes.remove(&reply.request) {
                    self.answer(waiter, reply.outcome);
                }
            }
            NodeEvent::OperatorReply { op, reply } => {
                if let Some(tx) = self.ops.remove(&op) {
                    let _ = tx.send(reply);
                }
            }
            NodeEvent::Leadership { group, change } => {
                tracing::info!(?group, leader = %change.leader, term = %change.term, "leader elected");
                if group == Group::Cluster && change.leader != me {
                    self.abandon_writes(Some(change.leader));
                }
                self.notify(
                    group,
                    LeadershipChangeKind::Elected {
                        leader: change.leader,
                        term: change.term,
                        election: change.election_duration,
                    },
                );
            }
            NodeEvent::SteppedDown {
                group,
                term,
                reason,
            } => {
                tracing::info!(?group, %term, ?reason, "stepped down");
                if group == Group::Cluster {
                    self.abandon_writes(None);
                }
                self.notify(group, LeadershipChangeKind::SteppedDown { term, reason });
            }
            NodeEvent::SplitBrain {
                group,
                term,
                first,
                second,
            } => {
                tracing::error!(?group, %term, %first, %second, "two leaders in one term");
                self.notify(
                    group,
                    LeadershipChangeKind::SplitBrain {
                        term,
                        first,
                        second,
                    },
                );
            }
            NodeEvent::Membership(change) => tracing::debug!(?change, "membership"),
            NodeEvent::Audit(record) => {
                tracing::info!(failover = ?record.failover, namespace = %record.namespace, to = ?record.to, reason = %record.reason, "failover step");
                let _ = self.audit.send(record);
            }
            NodeEvent::LossReported { failover, report } if report.open_ended => {
                tracing::warn!(?failover, ?report, "emergency failover may lose writes");
            }
            NodeEvent::LossReported { failover, report } => {
                tracing::warn!(?failover, ?report, "emergency failover's loss range closed");
            }
        }
    }

    /// This node stopped leading its cluster. Core answers every write it held (`NotLeader`
    /// if never proposed, `Unknown` if proposed) before it reports the change, so this only
    /// catches a caller core never heard of; "unknown" is the honest answer for it.
    fn abandon_writes(&mut self, leader: Option<omnirelay_core::NodeId>) {
        for (_, waiter) in std::mem::take(&mut self.writes) {
            self.answer(waiter, WriteOutcome::Unknown { leader });
        }
    }

    /// Gives one write's outcome to whoever waits for it; a `write_many` caller is answered
    /// once its last write has an outcome.
    fn answer(&mut self, waiter: WriteWaiter, outcome: WriteOutcome) {
        match waiter {
            WriteWaiter::One(tx) => {
                let _ = tx.send(outcome);
            }
            WriteWaiter::InBatch { batch, slot } => {
                let Some(pending) = self.batches.get_mut(&batch) else {
                    return;
                };
                if let Some(cell) = pending.outcomes.get_mut(slot)
                    && cell.replace(outcome).is_none()
                {
                    pending.missing -= 1;
                }
                if pending.missing == 0
                    && let Some(done) = self.batches.remove(&batch)
                {
                    let _ = done
                        .reply
                        .send(done.outcomes.into_iter().flatten().collect());
                }
            }
        }
    }

    /// Publishes the cluster's applied version vector when it moved.
    fn publish_applied(&self) {
        if let Some(data) = self.node.data()
            && *self.applied.borrow() != *data.vv()
        {
            self.applied.send_replace(data.vv().clone());
        }
    }

    fn notify(&self, group: Group, change: LeadershipChangeKind) {
        let _ = self.leadership.send(LeadershipNotice {
            group,
            change,
            at_unix_nanos: self.clock.unix_nanos(),
        });
    }
}
