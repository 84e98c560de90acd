//! gRPC between nodes: tonic over HTTP/2 over rustls mutual TLS, set up by hand so that
//! every connection disables Nagle, is authenticated both ways against the mesh CA, and
//! carries the peer's verified [`Identity`](crate::tls::Identity) into the handlers.
//!
//! - Server: [`MeshListener::bind`], then [`MeshListener::serve`] with a [`MeshRoutes`] (or
//!   [`ServerSettings::server_builder`] + [`MeshListener::incoming`] for custom layers).
//!   Handlers call [`peer_identity`] to learn who is calling.
//! - Client: [`Dialer::connect`] gives a [`MeshChannel`] that any generated client takes.
//! - Both are generic over [`Network`]: [`TokioNetwork`] for real sockets; the chaos
//!   simulator supplies turmoil's.

mod channel;
mod dialer;
mod error;
mod network;
mod peer;
mod routes;
mod server;
mod verdict;

pub use channel::{BoxError, MeshChannel};
pub use dialer::{ClientSettings, Dialer};
pub use error::{DialError, TransportError};
pub use network::{Network, TokioNetwork};
pub use peer::{MeshPeer, ServerConnection, peer_identity};
pub use routes::MeshRoutes;
pub use server::{Incoming, MeshListener, Refusal, RefusalReason, ServerSettings};
pub use verdict::Confirmed;

/// HTTP/2 flow-control window each side of a mesh connection grants per stream. h2's
/// default (64 KiB) allows one window per round trip: at 50 ms between regions that capped
/// a replication stream at ~1.3 MB/s (~4,000 events/s of 300 bytes), and a region took
/// 9 s to catch up on a 20 s partition (chaos `partition-heal`). 8 MiB covers a full
/// replication window (8,192 events) at the largest round trips a mesh spans.
pub const HTTP2_STREAM_WINDOW_BYTES: u32 = 8 << 20;
/// The connection-wide window: room for two full streams.
pub const HTTP2_CONNECTION_WINDOW_BYTES: u32 = 16 << 20;
