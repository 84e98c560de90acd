//! SWIM membership with the Lifeguard refinements.
//!
//! - SWIM: Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style
//!   Process Group Membership Protocol", DSN 2002.
//! - Lifeguard: Dadgar, Phillips, Currey, "Lifeguard: Local Health Awareness for More
//!   Accurate Failure Detection", 2018.
//! - Defaults and message shapes follow hashicorp/memberlist, which implements both.
//!
//! [`Membership`] is the machine (`membership/`: its state and API, `probing` for the
//! failure detector, `dissemination` for gossip and push-pull, `updates` for precedence and
//! refutation); the other files hold one concept each: the profiles ([`GossipConfig`]),
//! metadata and status ([`member`]), wire messages ([`message`]), the retransmit queue,
//! suspicion timers, local health, the probe schedule and typed timers.
//!
//! Beyond SWIM, Lifeguard and memberlist: a push-pull to a member declared dead now and
//! then (Serf's reconnect) so healed partitions merge, and a stale suspicion is answered
//! with the newer alive so a member that missed a refutation does not declare a live
//! member dead.

mod broadcast;
mod config;
mod drops;
mod event;
mod health;
pub mod member;
mod membership;
pub mod message;
mod probe;
mod suspicion;
mod timer;
mod wire;

pub use config::GossipConfig;
pub use drops::{DropCounts, DropReason};
pub use event::MembershipEvent;
pub use health::LocalHealth;
pub use member::{Endpoint, MemberMeta, MemberView, MeshVersion, ProtocolRange, Role, Status};
pub use membership::{GossipError, Membership};
pub use message::{GossipMessage, MemberRecord, Update};
pub use timer::Timer;
