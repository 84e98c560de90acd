//! The chaos layer: the real io shells under turmoil's simulated network and clock.
//!
//! - [`net`]: the io transport's [`Network`](omnirelay_io::transport::Network) over turmoil.
//! - [`harness`]: a turmoil simulation with the seed and epoch pinned, a trace recorder
//!   whose hash replays, and tracing timestamps from simulated time.
//! - [`scenario`]: `scenarios/*.toml` as typed, validated data.
//! - [`faults`]: a scenario's fault schedule injected into a running simulation.
//! - [`timeline`]: an SVG picture of a recorded run.
//! - [`outcome`]: what one seed yields, for the run/replay reports.
//! - [`cli`]: `omnirelay-sim run` and `replay`.
//! - [`report`]: seeds summed up per scenario, as text, JSON and JUnit XML.
//! - [`runner`]: [`run_seed`], one seed of a scenario with real nodes on turmoil hosts;
//!   [`deployment`] (hosts, configs, cached certificates), [`workload`] (the client),
//!   [`observer`] (operator commands, registry, final reads), [`checker`] (invariants),
//!   `node_host` (one boot of a node's host), `verdict` (invariants, SLO samples, timeline).

pub mod checker;
pub mod cli;
pub mod deployment;
pub mod faults;
pub mod harness;
pub mod net;
mod node_host;
pub mod observer;
pub mod outcome;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod timeline;
mod verdict;
pub mod workload;

pub use runner::run_seed;
