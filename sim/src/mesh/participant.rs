//! The machines of a simulated mesh: nodes with simulated disks, and model clients.

use std::collections::VecDeque;
use std::time::Duration;

use omnirelay_core::consensus::{PersistRequest, PersistedState};
use omnirelay_core::node::{
    Group, Node, NodeConfig, NodeError, NodeEvent, NodeMessage, OperatorRequest, Restored,
};
use omnirelay_core::{Instant, Machine, NodeId, Transmit};

use super::client::{ClientEvent, ModelClient};
use crate::model::SimMachine;

/// A core [`Node`] whose two logs live on simulated disks: a persist request becomes
/// durable `fsync_delay` after it was issued (in order per group) and only then reaches
/// `handle_persisted`. A crash keeps only what was durable.
#[derive(Debug)]
pub struct SimNode {
    node: Node,
    disks: [PersistedState; 2],
    unsynced: VecDeque<(Instant, Group, PersistRequest)>,
    fsync_delay: Duration,
    now: Instant,
}

fn slot(group: Group) -> usize {
    match group {
        Group::Cluster => 0,
        Group::Control => 1,
    }
}

impl SimNode {
    /// Starts (or restarts) a node from what its disks hold.
    pub fn start(
        config: NodeConfig,
        disks: [PersistedState; 2],
        seed: u64,
        fsync_delay: Duration,
        now: Instant,
    ) -> Result<Self, NodeError> {
        let [cluster, control] = disks.clone();
        let node = Node::new(config, Restored { cluster, control }, seed, now)?;
        Ok(SimNode {
            node,
            disks,
            unsynced: VecDeque::new(),
            fsync_delay,
            now,
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// What survives a crash.
    pub fn disks(&self) -> &[PersistedState; 2] {
        &self.disks
    }

    fn last_input(&self) -> Instant {
        self.now
    }

    fn complete_fsyncs(&mut self, now: Instant) {
        self.now = now;
        while self
            .unsynced
            .front()
            .is_some_and(|(done, _, _)| *done <= now)
        {
            if let Some((_, group, request)) = self.unsynced.pop_front() {
                self.disks[slot(group)].apply(&request);
                self.node.handle_persisted(now, group, request.id);
            }
        }
    }
}

/// A participant of the simulated mesh.
#[derive(Debug)]
pub enum Participant {
    /// A mesh node.
    Node(Box<SimNode>),
    /// A model client.
    Client(Box<ModelClient>),
}

/// What participants report.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MeshEvent {
    /// A node's event (persist requests are handled inside [`SimNode`] and not reported).
    Node(NodeEvent),
    /// A client's event.
    Client(ClientEvent),
}

/// Inputs the scenario gives participants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MeshInput {
    /// An operator request to a node, answered by a `NodeEvent::OperatorReply` with `op`.
    Operator {
        /// The handle.
        op: u64,
        /// The request.
        request: OperatorRequest,
    },
    /// Stop or resume a client's workload.
    Workload(bool),
}

impl Participant {
    /// The node, if this is one.
    pub fn as_node(&self) -> Option<&SimNode> {
        match self {
            Participant::Node(n) => Some(n),
            Participant::Client(_) => None,
        }
    }

    /// The client, if this is one.
    pub fn as_client(&self) -> Option<&ModelClient> {
        match self {
            Participant::Client(c) => Some(c),
            Participant::Node(_) => None,
        }
    }
}

impl Machine for Participant {
    type Message = NodeMessage;
    type Event = MeshEvent;

    fn handle_message(&mut self, now: Instant, from: NodeId, msg: NodeMessage) {
        match self {
            Participant::Node(n) => {
                n.complete_fsyncs(now);
                n.node.handle_message(now, from, msg);
            }
            Participant::Client(c) => c.handle_message(now, from, msg),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Participant::Node(n) => {
                n.complete_fsyncs(now);
                if n.node.poll_timeout().is_some_and(|t| t <= now) {
                    n.node.handle_timeout(now);
                }
            }
            Participant::Client(c) => c.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit<NodeMessage>> {
        match self {
            Participant::Node(n) => n.node.poll_transmit(),
            Participant::Client(c) => c.poll_transmit(),
        }
    }

    fn poll_event(&mut self) -> Option<MeshEvent> {
        match self {
            Participant::Node(n) => loop {
                match n.node.poll_event()? {
                    NodeEvent::Persist { group, request } => {
                        let after = n.unsynced.back().map_or(Instant::ZERO, |(d, _, _)| *d);
                        // Group commit: durable one fsync after it was issued (the node's
                        // last input), never before an earlier request, as on one disk.
                        let done = (n.last_input() + n.fsync_delay).max(after);
                        n.unsynced.push_back((done, group, request));
                    }
                    other => return Some(MeshEvent::Node(other)),
                }
            },
            Participant::Client(c) => c.poll_event().map(MeshEvent::Client),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Participant::Node(n) => {
                let fsync = n.unsynced.front().map(|(done, _, _)| *done);
                match (n.node.poll_timeout(), fsync) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Participant::Client(c) => c.poll_timeout(),
        }
    }
}

impl SimMachine for Participant {
    type Local = MeshInput;

    fn handle_local(&mut self, now: Instant, input: MeshInput) {
        match (self, input) {
            (Participant::Node(n), MeshInput::Operator { op, request }) => {
                n.complete_fsyncs(now);
                n.node.handle_operator(now, op, request);
            }
            (Participant::Client(c), MeshInput::Workload(on)) => c.set_running(now, on),
            _ => {}
        }
    }
}
