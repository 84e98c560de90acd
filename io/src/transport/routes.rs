//! Several gRPC services on one listener, dispatched by service name.
//!
//! tonic's own router needs its `router` feature, which pulls in axum; dispatching on the
//! first path segment (`/omnirelay.v1.Gossip/Exchange`) is all gRPC needs.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tower::Service;
use tower::util::BoxCloneSyncService;

type BoxedService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// The gRPC services a mesh listener serves, keyed by their full name.
#[derive(Clone, Default)]
pub struct MeshRoutes {
    services: BTreeMap<&'static str, BoxedService>,
}

impl std::fmt::Debug for MeshRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.services.keys()).finish()
    }
}

impl MeshRoutes {
    /// No services: every call is answered `UNIMPLEMENTED`.
    pub fn new() -> Self {
        MeshRoutes::default()
    }

    /// Adds a generated server (e.g. `GossipServer::new(handler)`); a second service of
    /// the same name replaces the first.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.services
            .insert(S::NAME, BoxCloneSyncService::new(service));
        self
    }
}

impl Service<http::Request<Body>> for MeshRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = <BoxedService as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Generated servers are always ready; readiness is checked per call below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let name = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        match self.services.get(name) {
            // A clone, because the map's copy was not polled ready (tower's contract).
            Some(service) => {
                let mut service = service.clone();
                Box::pin(async move {
                    let ready = std::future::poll_fn(|cx| service.poll_ready(cx)).await;
                    match ready {
                        Ok(()) => service.call(request).await,
                        Err(never) => match never {},
                    }
                })
            }
            None => {
                let status = Status::unimplemented(format!("no service {name:?} here"));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
