//! The node runtime: the shell that runs one `core::node::Node` on real sockets, disks and
//! timers (ARCHITECTURE.md, "io: shells").
//!
//! - [`NodeRuntime::start`] opens each group's log (`data_dir/cluster`,
//!   `data_dir/control`), rebuilds the machine from them, binds the peer transport on
//!   `listen.grpc`, and spawns the driver.
//! - [`NodeHandle`] is the API the client and control layers call.
//! - The driver (`driver.rs`) is the only owner of the machine; log writers
//!   (`group_log.rs`) fsync in batches and report durability back to it; the peer
//!   transport (`peer.rs`) carries `NodeEnvelope`s over mutual TLS.
//!
//! Files: `runtime` (start, shutdown), `handle` (the API and its types), `driver`,
//! `group_log` (restore, writer thread, entry encoding), `peer` (outbound queues and the
//! inbound service), `outbox` (the driver's send interface), `clock` (core instants).

mod clock;
mod driver;
mod group_log;
mod handle;
mod outbox;
mod peer;
mod runtime;
mod stderr_log;

pub use clock::NodeClock;
pub use group_log::{FsyncDelay, OnFatal, RestoreError, WriterMode, exit_on_fatal};
pub use handle::{
    ClusterRole, LeadershipChangeKind, LeadershipNotice, MemberStatus, NodeHandle, NodeStatus,
    NodeStopped, ReadResult, WalPosition,
};
pub use outbox::Outbox;
pub use peer::{DEFAULT_PEER_QUEUE, PeerOutbox, TransportService};
pub use runtime::{NodeRuntime, RuntimeOptions, StartError};
pub use stderr_log::StderrLog;
