//! The client side: dialing a mesh server and getting a [`MeshChannel`] to it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tonic::codegen::http::Uri;
use tonic::transport::Endpoint;

use super::channel::MeshChannel;
use super::error::{DialError, TransportError};
use super::network::Network;
use super::verdict::{self, Confirmed};
use crate::tls::{Identity, IdentityError, TlsMaterial};

/// How a node dials other nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Budget for TCP connect, TLS handshake and the server's first bytes together.
    pub connect_timeout: Duration,
    /// HTTP/2 PING interval, also while no call is open: it is what notices a connection
    /// silently cut by a partition, so the next call reconnects (FINDINGS.md).
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection is dropped.
    pub keepalive_timeout: Duration,
    /// HTTP/2 window granted per stream (see [`super::HTTP2_STREAM_WINDOW_BYTES`]).
    pub stream_window_bytes: u32,
    /// HTTP/2 window granted per connection.
    pub connection_window_bytes: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            stream_window_bytes: super::HTTP2_STREAM_WINDOW_BYTES,
            connection_window_bytes: super::HTTP2_CONNECTION_WINDOW_BYTES,
        }
    }
}

/// Dials mesh servers over a [`Network`]: TCP without Nagle, TLS 1.3 presenting the
/// node's certificate and checking the server's against the mesh CA, then HTTP/2.
pub struct Dialer<N: Network> {
    connector: MeshConnector<N>,
    settings: ClientSettings,
}

impl<N: Network> Clone for Dialer<N> {
    fn clone(&self) -> Self {
        Dialer {
            connector: self.connector.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<N: Network> std::fmt::Debug for Dialer<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<N: Network> Dialer<N> {
    /// A dialer presenting the node's certificate from `material`.
    pub fn new(
        network: N,
        material: &TlsMaterial,
        settings: ClientSettings,
    ) -> Result<Self, TransportError> {
        Ok(Dialer::with_client_config(
            network,
            material.client_config()?,
            settings,
        ))
    }

    /// A dialer with a hand-made rustls configuration (tests, tools). Its ALPN should
    /// offer `h2`.
    pub fn with_client_config(
        network: N,
        config: Arc<rustls::ClientConfig>,
        settings: ClientSettings,
    ) -> Self {
        Dialer {
            connector: MeshConnector {
                network,
                tls: TlsConnector::from(config),
                connect_timeout: settings.connect_timeout,
            },
            settings,
        }
    }

    /// Connects to `endpoint` (`host:port`) now. A certificate the server refuses is
    /// reported here as [`DialError::CertificateRefused`].
    pub async fn connect(&self, endpoint: &str) -> Result<MeshChannel, TransportError> {
        let (tonic_endpoint, server) = self.endpoint(endpoint)?;
        match tonic_endpoint
            .connect_with_connector(self.connector.clone())
            .await
        {
            Ok(channel) => Ok(MeshChannel::http2(channel, server)),
            Err(error) => Err(match DialError::find_in(&error) {
                Some(dial) => TransportError::Dial(dial.clone()),
                None => TransportError::Grpc(error),
            }),
        }
    }

    /// A channel to `endpoint` that connects on its first call (and reconnects on a later
    /// call after the connection broke).
    pub fn connect_lazy(&self, endpoint: &str) -> Result<MeshChannel, TransportError> {
        let (tonic_endpoint, server) = self.endpoint(endpoint)?;
        let channel = tonic_endpoint.connect_with_connector_lazy(self.connector.clone());
        Ok(MeshChannel::http2(channel, server))
    }

    fn endpoint(&self, endpoint: &str) -> Result<(Endpoint, String), TransportError> {
        let invalid = |reason: String| TransportError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let uri: Uri = format!("https://{endpoint}")
            .parse()
            .map_err(|e| invalid(format!("{e}")))?;
        let authority = uri
            .authority()
            .filter(|a| a.as_str() == endpoint)
            .ok_or_else(|| invalid("expected host:port and nothing else".into()))?;
        if authority.port_u16().is_none() {
            return Err(invalid("no port".into()));
        }
        let tonic_endpoint = Endpoint::from(uri)
            .http2_keep_alive_interval(self.settings.keepalive_interval)
            .keep_alive_timeout(self.settings.keepalive_timeout)
            .keep_alive_while_idle(true)
            .initial_stream_window_size(self.settings.stream_window_bytes)
            .initial_connection_window_size(self.settings.connection_window_bytes);
        Ok((tonic_endpoint, endpoint.to_owned()))
    }
}

/// tonic's connector: one dial per (re)connection of a channel.
struct MeshConnector<N> {
    network: N,
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl<N: Clone> Clone for MeshConnector<N> {
    fn clone(&self) -> Self {
        MeshConnector {
            network: self.network.clone(),
            tls: self.tls.clone(),
            connect_timeout: self.connect_timeout,
        }
    }
}

type DialFuture<S> = Pin<Box<dyn Future<Output = Result<S, DialError>> + Send>>;

impl<N: Network> tower::Service<Uri> for MeshConnector<N> {
    type Response = TokioIo<Confirmed<tokio_rustls::client::TlsStream<N::Stream>>>;
    type Error = DialError;
    type Future = DialFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), DialError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.dial(uri).await.map(TokioIo::new) })
    }
}

impl<N: Network> MeshConnector<N> {
    async fn dial(
        self,
        uri: Uri,
    ) -> Result<Confirmed<tokio_rustls::client::TlsStream<N::Stream>>, DialError> {
        let server = uri
            .authority()
            .map_or_else(|| uri.to_string(), |a| a.to_string());
        // `Uri::host` keeps an IPv6 literal's brackets; sockets and TLS want it bare.
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let attempt = async {
            let tcp =
                self.network
                    .connect(&host, port)
                    .await
                    .map_err(|e| DialError::Unreachable {
                        server: server.clone(),
                        reason: e.to_string(),
                    })?;
            let name = ServerName::try_from(host.clone()).map_err(|e| DialError::Handshake {
                server: server.clone(),
                reason: format!("{host:?} is not a valid server name: {e}"),
            })?;
            let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                verdict::classify(&e, &server).unwrap_or_else(|| DialError::Handshake {
                    server: server.clone(),
                    reason: e.to_string(),
                })
            })?;
            // The CA vouches for the name; the identity says what the peer is. Only a node
            // may serve the mesh (an operator's certificate can be valid for the same host).
            let identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .ok_or(IdentityError::Missing)
                .and_then(|leaf| Identity::from_certificate(leaf));
            match identity {
                Ok(Identity::Node { .. }) => {}
                Ok(other) => {
                    return Err(DialError::NotANode {
                        server: server.clone(),
                        reason: format!("its certificate names {other}"),
                    });
                }
                Err(e) => {
                    return Err(DialError::NotANode {
                        server: server.clone(),
                        reason: e.to_string(),
                    });
                }
            }
            verdict::await_first_bytes(tls, &server).await
        };
        let confirmed = tokio::time::timeout(self.connect_timeout, attempt)
            .await
            .map_err(|_| DialError::TimedOut {
                server: server.clone(),
                after: self.connect_timeout,
            })??;
        Ok(confirmed)
    }
}
