//! The one channel type every generated client is built on.

use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use super::error::DialError;

/// Errors a channel hands to the generated clients, which turn them into a `Status`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxedChannel = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, BoxError>;

/// A gRPC channel to one mesh server, for any generated client
/// (`GossipClient::new(channel.clone())`). Cheap to clone; clones share one connection.
///
/// Boxed so that an HTTP/3 channel (quinn) can later stand behind the same type as today's
/// HTTP/2 one, and callers never name the protocol.
#[derive(Clone)]
pub struct MeshChannel {
    inner: BoxedChannel,
    server: String,
}

impl std::fmt::Debug for MeshChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshChannel")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl MeshChannel {
    /// An HTTP/2 channel built by the dialer.
    pub(super) fn http2(channel: tonic::transport::Channel, server: String) -> Self {
        MeshChannel {
            inner: BoxCloneSyncService::new(channel.map_err(name_refusal)),
            server,
        }
    }

    /// The `host:port` this channel talks to.
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// A refused certificate (ours by the server, or the server's for naming no node)
/// discovered on a reconnect reaches the caller as `UNAUTHENTICATED` saying so, not as a
/// generic `UNAVAILABLE` transport error.
fn name_refusal(error: tonic::transport::Error) -> BoxError {
    match DialError::find_in(&error) {
        Some(refused @ (DialError::CertificateRefused { .. } | DialError::NotANode { .. })) => {
            Box::new(Status::unauthenticated(refused.to_string()))
        }
        _ => Box::new(error),
    }
}

impl Service<http::Request<Body>> for MeshChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = <BoxedChannel as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.inner.call(request)
    }
}
