//! The client API (ARCHITECTURE.md, io "api"; issue #6 "Client API"): writes and reads of
//! namespaces' events over HTTP/JSON and gRPC, on `listen.http` with mutual TLS.
//!
//! - `POST /v1/namespaces/{ns}/events` / `ClientApi.Append`: a batch, answered once every
//!   event is committed by a majority of the active cluster (the core answers `Accepted`
//!   only after that). A cluster that is not active answers HTTP 307 with `Location` at one
//!   of the active cluster's endpoints (same path), gRPC `FAILED_PRECONDITION` with
//!   `x-omnirelay-active-endpoint`; draining or fenced: 503 + `Retry-After` /
//!   `UNAVAILABLE` + `retry-after-ms`. A node of the active cluster that does not lead it
//!   forwards the batch to its leader (gRPC, with its own certificate), so a client may
//!   write to any node of the active cluster: a misrouted write needs one redirect.
//! - `GET /v1/namespaces/{ns}/events?after=a:3,b:1|after_seq=N[&origin=C]&limit=` /
//!   `ClientApi.Read`: served by any cluster, with its version vector in
//!   `x-omnirelay-version-vector`. A request carrying that header is served only by a
//!   cluster that has applied it (else 307 to the active cluster, `route_read` decides);
//!   `x-omnirelay-preferred-cluster` sends the client to that cluster (307).
//! - `ClientApi.WatchRouting`: the placements, then each change.
//!
//! Bad input (malformed JSON, unknown namespace, empty key, payload or body over the
//! limit, stale fencing token) is a 4xx JSON error naming the problem (gRPC
//! `INVALID_ARGUMENT`, `NOT_FOUND`, `RESOURCE_EXHAUSTED`, `FAILED_PRECONDITION`), and the
//! whole batch is checked before any event is written.
//!
//! Files: `client` (an HTTP/JSON client for tests and tools), `append` and `read` (the paths both protocols share), `http`, `grpc`, `serve`
//! (TLS, one port for both), `error`, `directory` (endpoints), `version_header`.

mod append;
pub mod client;
mod directory;
mod error;
mod grpc;
mod http;
mod read;
mod serve;
mod version_header;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::Router;
use omnirelay_proto::v1::client_api_client::ClientApiClient;
use omnirelay_proto::v1::client_api_server::ClientApiServer;
use tokio::net::TcpListener;

pub use append::{AppendBatch, Appended, FORWARDED_HEADER};
pub use directory::{EndpointDirectory, https};
pub use error::{
    ACTIVE_ENDPOINT_HEADER, ApiError, ErrorBody, ErrorDetail, FENCED_HEADER, RETRY_AFTER_MS_HEADER,
};
pub use grpc::GrpcClientApi;
pub use http::{AppendBody, AppendReply, EVENTS_PATH, EventBody, EventView, ReadParams, ReadReply};
pub use read::{DEFAULT_READ_LIMIT, MAX_READ_LIMIT, ReadAnswer, ReadQuery};
pub use serve::{ALPN_HTTP1, serve, serve_on, server_config};
pub use version_header::{PREFERRED_CLUSTER_HEADER, VERSION_VECTOR_HEADER};

use crate::config::{ApiLimits, ConfigError, NodeConfig};
use crate::node::NodeHandle;
use crate::tls::TlsMaterial;
use crate::transport::{
    ClientSettings, Dialer, MeshChannel, Network, TokioNetwork, TransportError,
};

/// Why the client API could not start. Nothing is served.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    /// The configuration lacks what the API needs (names the key).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The TLS material is unusable.
    #[error("client API TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The forwarding dialer could not be built.
    #[error("client API: {0}")]
    Transport(#[from] TransportError),
    /// `listen.http` could not be bound.
    #[error("client API: cannot bind listen.http {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What both protocols' handlers share: the node, its limits, the mesh's endpoints and
/// the channels to forward writes to the cluster leader on.
#[derive(Debug)]
pub struct ApiContext {
    handle: NodeHandle,
    limits: ApiLimits,
    max_key_bytes: usize,
    directory: EndpointDirectory,
    forwarder: Forwarder,
}

/// Dials one endpoint lazily on whatever network the API was built for (tokio's sockets
/// in the product, turmoil's in the chaos sim), so the API itself is not generic.
type ConnectLazy = Box<dyn Fn(&str) -> Result<MeshChannel, TransportError> + Send + Sync>;

/// gRPC channels to other nodes' client APIs, one per endpoint, made on first use.
struct Forwarder {
    connect: ConnectLazy,
    channels: Mutex<BTreeMap<String, MeshChannel>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl Forwarder {
    fn client(&self, endpoint: &str) -> Result<ClientApiClient<MeshChannel>, TransportError> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let channel = match channels.get(endpoint) {
            Some(channel) => channel.clone(),
            None => {
                let channel = (self.connect)(endpoint)?;
                channels.insert(endpoint.to_owned(), channel.clone());
                channel
            }
        };
        Ok(ClientApiClient::new(channel))
    }
}

/// The client API of one node. Build it with [`ClientApi::new`], then either
/// [`ClientApi::bind`] + [`ClientApi::serve`] it on `listen.http`, or mount
/// [`ClientApi::router`] yourself.
#[derive(Clone, Debug)]
pub struct ClientApi {
    ctx: Arc<ApiContext>,
    tls: Arc<rustls::ServerConfig>,
}

impl ClientApi {
    /// The API of the node behind `handle`, configured by `config` (limits, `[mesh]`
    /// endpoints) and serving with `tls` (the node's own certificate).
    pub fn new(
        handle: NodeHandle,
        config: &NodeConfig,
        tls: &TlsMaterial,
    ) -> Result<ClientApi, ApiStartError> {
        ClientApi::new_on(TokioNetwork, handle, config, tls)
    }

    /// [`ClientApi::new`] forwarding writes to the leader over `network` (the chaos sim
    /// passes turmoil's).
    pub fn new_on<N: Network>(
        network: N,
        handle: NodeHandle,
        config: &NodeConfig,
        tls: &TlsMaterial,
    ) -> Result<ClientApi, ApiStartError> {
        let core = config.core_config()?;
        let mesh = config
            .mesh
            .as_ref()
            .ok_or_else(|| ConfigError::Missing { key: "mesh".into() })?;
        let dialer = Dialer::new(network, tls, ClientSettings::default())?;
        Ok(ClientApi {
            ctx: Arc::new(ApiContext {
                handle,
                limits: config.api,
                max_key_bytes: core.limits.max_key_bytes,
                directory: EndpointDirectory::new(mesh),
                forwarder: Forwarder {
                    connect: Box::new(move |endpoint| dialer.connect_lazy(endpoint)),
                    channels: Mutex::new(BTreeMap::new()),
                },
            }),
            tls: server_config(tls)?,
        })
    }

    /// The HTTP routes and the gRPC service as one router.
    pub fn router(&self) -> Router {
        let grpc = ClientApiServer::new(GrpcClientApi::new(Arc::clone(&self.ctx)))
            .max_decoding_message_size(self.ctx.limits.max_body_bytes);
        http::router(Arc::clone(&self.ctx), self.ctx.limits.max_body_bytes)
            .route_service("/omnirelay.v1.ClientApi/{*method}", grpc)
    }

    /// Binds `addr` (port 0 picks one; read it with `local_addr`).
    pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ApiStartError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ApiStartError::Bind { addr, source })
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        self.serve_on(TokioNetwork, listener, shutdown).await
    }

    /// Serves on `listener` of `network` (bound with [`Network::bind`]) until `shutdown`
    /// completes.
    pub async fn serve_on<N: Network>(
        self,
        network: N,
        listener: N::Listener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let router = self.router();
        serve::serve_on(network, listener, self.tls, router, shutdown).await
    }
}
