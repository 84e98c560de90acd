//! One node of the mesh as a single sans-IO machine (ARCHITECTURE.md, `core::node`).
//!
//! [`Node`] composes the machines a node runs: its gossip member (mesh-wide), its
//! cluster's consensus replica with the cluster's applied state ([`ClusterData`]), the
//! control group's replica with the registry when it is a control voter, and the failover
//! controller with the automatic policy when it leads that group. Cluster leaders stream
//! their events to every other cluster's leader and report their status to the control
//! voters; the control leader distributes the registry and drives failovers through
//! drains and freezes it asks of cluster leaders. The model simulator and the io shell
//! drive this same machine.
//!
//! Files: `node` (the machine, client writes, the durability boundary), `data` (a cluster
//! log's state machine), `stream` (inter-cluster streams), `mesh` (status, reachability,
//! registry distribution, drains, freezes), `control` (registry replica, controller, auto
//! policy, operator requests), `command` (log entries and their encoding), `message`,
//! `event`, `config`.

mod command;
mod config;
mod control;
mod data;
mod event;
mod mesh;
mod message;
#[allow(clippy::module_inception)]
mod node;
mod stream;

pub use command::{ClusterCommand, ControlCommand, DecodeError, WriteCommand, decode, encode};
pub use config::{
    ClusterSpec, NodeConfig, NodeLimits, NodeTimings, Topology, TopologyError, WITNESS_CLUSTER,
};
pub use control::AUTO_POLICY_ACTOR;
pub use data::ClusterData;
pub use event::{Group, NodeDrop, NodeEvent};
pub use message::{
    ClientMessage, ClientWrite, ClusterStatus, Divergence, MeshMessage, NodeMessage, OperatorReply,
    OperatorRequest, ReplicationMessage, WriteOutcome, WriteRefusal, WriteReply, divergences,
};
pub use node::{Node, NodeError, Restored};
