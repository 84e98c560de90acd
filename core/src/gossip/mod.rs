//! SWIM membership with the Lifeguard refinements.
//!
//! - SWIM: Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style
//!   Process Group Membership Protocol", DSN 2002.
//! - Lifeguard: Dadgar, Phillips, Currey, "Lifeguard: Local Health Awareness for More
//!   Accurate Failure Detection", 2018.
//! - Defaults and message shapes follow hashicorp/memberlist, which implements both.
//!
//! [`Membership`] is the machine; the other files hold one concept each: the profiles
//! ([`GossipConfig`]), metadata and status ([`member`]), wire messages ([`message`]), the
//! retransmit queue, suspicion timers, local health, the probe schedule and typed timers.

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
