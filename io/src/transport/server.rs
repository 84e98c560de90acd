//! The server side: a listener whose accepted connections are handshaken concurrently and
//! handed to tonic with the peer's verified identity attached.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_rustls::TlsAcceptor;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::Server;

use super::error::TransportError;
use super::network::Network;
use super::peer::{MeshPeer, ServerConnection};
use crate::tls::{self, TlsError, TlsMaterial};

/// How a mesh server treats its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// HTTP/2 PING interval. Without keepalive a connection whose peer vanished behind a
    /// partition stays wedged after the partition heals (FINDINGS.md).
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// How long a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Handshakes in progress at once; further connections wait in the accept queue.
    pub max_pending_handshakes: usize,
    /// HTTP/2 window granted per stream (see [`super::HTTP2_STREAM_WINDOW_BYTES`]).
    pub stream_window_bytes: u32,
    /// HTTP/2 window granted per connection.
    pub connection_window_bytes: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(10),
            max_pending_handshakes: 256,
            stream_window_bytes: super::HTTP2_STREAM_WINDOW_BYTES,
            connection_window_bytes: super::HTTP2_CONNECTION_WINDOW_BYTES,
        }
    }
}

impl ServerSettings {
    /// A tonic server builder with these settings; add services to it and serve it with
    /// [`MeshListener::incoming`].
    pub fn server_builder(&self) -> Server {
        Server::builder()
            .http2_keepalive_interval(Some(self.keepalive_interval))
            .http2_keepalive_timeout(Some(self.keepalive_timeout))
            .initial_stream_window_size(Some(self.stream_window_bytes))
            .initial_connection_window_size(Some(self.connection_window_bytes))
    }
}

/// A connection the server turned away, and why. Also logged at `warn`.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// Who connected.
    pub remote_addr: SocketAddr,
    /// Why it was turned away.
    pub reason: RefusalReason,
}

/// Why a connection was turned away.
#[derive(Clone, Debug)]
pub enum RefusalReason {
    /// The TLS handshake failed or the certificate carries no usable identity.
    Tls(Arc<TlsError>),
    /// The client did not finish the handshake in time.
    HandshakeTimedOut(Duration),
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusalReason::Tls(e) => write!(f, "{e}"),
            RefusalReason::HandshakeTimedOut(after) => {
                write!(f, "TLS handshake not finished within {after:?}")
            }
        }
    }
}

/// A bound mesh listener. Nothing is accepted until [`MeshListener::incoming`] or
/// [`MeshListener::serve`] is called.
pub struct MeshListener<N: Network> {
    network: N,
    listener: N::Listener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    settings: ServerSettings,
    refusals: broadcast::Sender<Refusal>,
}

impl<N: Network> std::fmt::Debug for MeshListener<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshListener")
            .field("local_addr", &self.local_addr)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<N: Network> MeshListener<N> {
    /// Binds `addr` on `network` and prepares the node's TLS server configuration.
    pub async fn bind(
        network: N,
        addr: SocketAddr,
        material: &TlsMaterial,
        settings: ServerSettings,
    ) -> Result<Self, TransportError> {
        let acceptor = TlsAcceptor::from(material.server_config()?);
        let listener = network
            .bind(addr)
            .await
            .map_err(|source| TransportError::Bind { addr, source })?;
        let local_addr = network
            .local_addr(&listener)
            .map_err(|source| TransportError::Bind { addr, source })?;
        let (refusals, _) = broadcast::channel(64);
        Ok(MeshListener {
            network,
            listener,
            local_addr,
            acceptor,
            settings,
            refusals,
        })
    }

    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The settings this listener serves with.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// Every refusal from now on (a lagging receiver loses the oldest); for metrics and
    /// for telling an operator why a node cannot join.
    pub fn refusals(&self) -> broadcast::Receiver<Refusal> {
        self.refusals.subscribe()
    }

    /// Starts accepting: a task accepts sockets and handshakes each in its own task, so
    /// one slow or silent client does not hold up the others. The task stops, closing the
    /// listener, when the returned stream is dropped.
    pub fn incoming(self) -> Incoming<N::Stream> {
        let (tx, rx) = mpsc::channel(self.settings.max_pending_handshakes.max(1));
        tokio::spawn(accept_loop(self, tx));
        Incoming { rx }
    }

    /// Serves `service` (one generated server, or several in
    /// [`MeshRoutes`](super::MeshRoutes)) until `shutdown` completes, then waits for open
    /// connections to finish their calls.
    pub async fn serve<S>(
        self,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), TransportError>
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let server = self.settings.server_builder();
        server
            .serve_with_incoming_shutdown(service, self.incoming(), shutdown)
            .await?;
        Ok(())
    }
}

/// Handshaken connections, in the order their handshakes finished. Never yields an error:
/// refused connections are logged and reported through [`MeshListener::refusals`].
#[derive(Debug)]
pub struct Incoming<S> {
    rx: mpsc::Receiver<ServerConnection<S>>,
}

impl<S> tokio_stream::Stream for Incoming<S> {
    type Item = Result<ServerConnection<S>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|next| next.map(Ok))
    }
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

async fn accept_loop<N: Network>(
    listener: MeshListener<N>,
    accepted: mpsc::Sender<ServerConnection<N::Stream>>,
) {
    let handshakes = Arc::new(Semaphore::new(
        listener.settings.max_pending_handshakes.max(1),
    ));
    loop {
        // `biased` keeps the order of checks fixed, so simulated runs replay exactly.
        let permit = tokio::select! {
            biased;
            () = accepted.closed() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let next = tokio::select! {
            biased;
            () = accepted.closed() => return,
            next = listener.network.accept(&listener.listener) => next,
        };
        let (stream, remote_addr) = match next {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(local = %listener.local_addr, %error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let acceptor = listener.acceptor.clone();
        let timeout = listener.settings.handshake_timeout;
        let refusals = listener.refusals.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let peer = remote_addr.to_string();
            let handshake = tokio::time::timeout(timeout, tls::accept(&acceptor, stream, &peer));
            let reason = match handshake.await {
                Ok(Ok((tls, identity))) => {
                    drop(permit);
                    let peer = MeshPeer {
                        identity,
                        remote_addr,
                    };
                    // A send error means the server stopped; the connection just closes.
                    let _ = accepted.send(ServerConnection::new(tls, peer)).await;
                    return;
                }
                // `tls::accept` has logged it with the reason.
                Ok(Err(error)) => RefusalReason::Tls(Arc::new(error)),
                Err(_) => {
                    tracing::warn!(%peer, ?timeout, "refused TLS client: handshake timed out");
                    RefusalReason::HandshakeTimedOut(timeout)
                }
            };
            // No receiver is fine: nobody is watching refusals.
            let _ = refusals.send(Refusal {
                remote_addr,
                reason,
            });
        });
    }
}
