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
