//! Gossip membership on the model simulator: the adapter that lets the simulator drive
//! `core::gossip::Membership`, cluster builders and invariant checks shared by the tests,
//! and the experiments behind `omnirelay-sim gossip`.

mod adapter;
pub mod cli;
pub mod cluster;
pub mod experiment;

pub use adapter::GossipInput;
