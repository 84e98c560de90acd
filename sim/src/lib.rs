//! Deterministic simulation of OmniRelay Mesh.
//!
//! [`model`] is the fast discrete-event simulator that drives the pure core machines
//! directly; protocol experiments and seed sweeps are built on it. [`chaos`] runs the real
//! io shells (tonic, rustls, the transport) between turmoil hosts, replayable from a seed.
#![forbid(unsafe_code)]

pub mod chaos;
pub mod consensus;
pub mod gossip;
pub mod mesh;
pub mod model;
pub mod stats;
