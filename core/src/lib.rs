//! The pure core of OmniRelay Mesh.
//!
//! Every protocol here is a plain state machine driven in the quinn-proto manner: inputs
//! arrive through `handle_*` calls with the time passed in, outputs leave through `poll_*`
//! calls. Nothing in this crate reads a clock, touches a socket or a file, or draws
//! ambient randomness; iteration order is always deterministic (`BTreeMap`, ordered
//! `Vec`s). The model simulator and the io shell drive the same machines.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod consensus;
pub mod failover;
pub mod gossip;
pub mod ids;
pub mod machine;
pub mod math;
pub mod node;
pub mod registry;
pub mod replication;
pub mod routing;
pub mod time;

pub use ids::{ClusterId, IdError, NamespaceId, NodeId};
pub use machine::{Machine, Transmit};
pub use time::Instant;
