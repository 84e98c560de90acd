//! The model simulator: drives core machines directly over a modelled network, with a
//! virtual clock, so that any run replays byte for byte from its seed.
//!
//! One `Simulation` holds a queue of work ordered by (time, insertion number) and one
//! `ChaCha8Rng` seeded from the run's seed; nothing else decides order. Machines get their
//! own seeds from the caller (typically drawn from `Simulation::rng`). Every delivered
//! message, emitted event, local input, crash and restart is folded into the trace hash.
//! Invariant checkers are plain functions called from an [`Observer`].

mod network;
mod simulation;
mod trace;

pub use network::{Fate, Latency, LinkModel, NetworkModel};
pub use simulation::{NodeTraffic, Observer, RunStats, SimMachine, Simulation};
pub use trace::TraceHasher;
