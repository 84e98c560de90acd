//! The whole mesh in the model simulator (issue #5): 3 clusters x 3 nodes plus a witness
//! (and a 2-cluster layout), every node the core's composite [`Node`](omnirelay_core::node::Node)
//! over simulated disks, a model client at 1,000 writes/s following redirects, and the
//! named scenarios of [`scenario`] checked against ARCHITECTURE.md's invariants.

pub mod checker;
pub mod cli;
pub mod client;
pub mod participant;
pub mod run;
pub mod scenario;
