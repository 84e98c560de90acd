//! Consensus on the model simulator: the replica adapter (simulated disk, state machine),
//! the invariant checker, the chaos run and the Figure 16 election experiment.

mod chaos;
mod checker;
pub mod cli;
mod cluster;
mod election;
mod node;

pub use chaos::{ChaosLength, ChaosReport, chaos_link, run_chaos, run_chaos_cluster};
pub use checker::{ConsensusChecker, Violation, ViolationKind};
pub use cluster::{Cluster, ClusterSpec};
pub use election::{ElectionExperiment, ElectionReport, run_election_experiment};
pub use node::{AppliedState, NodeEvent, ReplicaInput, SimReplica, command, command_seq};
