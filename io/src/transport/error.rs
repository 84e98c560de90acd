//! What can go wrong binding, serving and dialing. None of these change any node state:
//! a failed dial leaves no connection behind, a failed bind no listener.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::tls::TlsError;

/// Why the transport could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The TLS configuration could not be built from the node's material.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An endpoint is not `host:port`.
    #[error("endpoint {endpoint:?} is not host:port: {reason}")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Dialing a server failed; the reason says whether it was reachability, TLS, or our
    /// certificate being refused.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// tonic failed to set up the channel or to serve, for a reason not covered above.
    #[error("gRPC transport: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Why one connection attempt to a server failed. `Clone` so that the typed reason
/// survives tonic's error wrapping and can be handed back to the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The TCP connection could not be made.
    #[error("cannot reach {server}: {reason}")]
    Unreachable {
        /// `host:port` dialed.
        server: String,
        /// The OS error.
        reason: String,
    },
    /// The TLS handshake failed on our side, e.g. the server's certificate is not from the
    /// mesh CA or does not name the host dialed.
    #[error("TLS handshake with {server} failed: {reason}")]
    Handshake {
        /// `host:port` dialed.
        server: String,
        /// What rustls said.
        reason: String,
    },
    /// The server refused our certificate. Under TLS 1.3 our side of the handshake
    /// completes before the server has checked our certificate, so this is detected by
    /// waiting for the server's first bytes (its HTTP/2 SETTINGS) or its alert.
    #[error("certificate refused by server {server}: {reason}")]
    CertificateRefused {
        /// `host:port` dialed.
        server: String,
        /// The server's TLS alert, or that it hung up without one.
        reason: String,
    },
    /// The server's certificate is from the mesh CA but names no mesh node (an operator's
    /// certificate, or none usable): a mesh server must be a node.
    #[error("server {server} is not a mesh node: {reason}")]
    NotANode {
        /// `host:port` dialed.
        server: String,
        /// What its certificate says instead.
        reason: String,
    },
    /// TCP, TLS and the server's first bytes did not all arrive in time.
    #[error("connecting to {server} timed out after {after:?}")]
    TimedOut {
        /// `host:port` dialed.
        server: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The connection broke while waiting for the server's first bytes.
    #[error("connection to {server} failed after the TLS handshake: {reason}")]
    Broken {
        /// `host:port` dialed.
        server: String,
        /// The I/O error.
        reason: String,
    },
}

impl DialError {
    /// Finds a dial error inside an error chain (tonic wraps connector errors twice).
    pub fn find_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e DialError> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(dial) = e.downcast_ref::<DialError>() {
                return Some(dial);
            }
            next = e.source();
        }
        None
    }
}
