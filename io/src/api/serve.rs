//! Serving the client API on `listen.http`: one TLS port, client certificates required
//! and verified against the mesh CA, HTTP/1.1 and HTTP/2 both accepted (ALPN), so the
//! JSON calls and the gRPC service share the port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::tls::{self, ALPN_H2, TlsError, TlsMaterial};
use crate::transport::{Network, TokioNetwork};

/// ALPN of HTTP/1.1, offered after `h2`.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's TLS configuration: the node's certificate, client certificates required
/// (mesh CA), TLS 1.3, ALPN `h2` then `http/1.1`.
pub fn server_config(material: &TlsMaterial) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = (*material.server_config()?).clone();
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` completes. A client without a
/// certificate of the mesh CA is refused at the handshake; the refusal is logged with its
/// reason (the client only sees a vague error, FINDINGS.md).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_on(TokioNetwork, listener, tls, router, shutdown).await
}

/// [`serve`] on any [`Network`]'s listener (turmoil's in the chaos sim). The network sets
/// NODELAY on accepted streams.
pub async fn serve_on<N: Network>(
    network: N,
    listener: N::Listener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            accepted = network.accept(&listener) => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "client API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let peer = peer.to_string();
            let handshake =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, tls::accept(&acceptor, tcp, &peer));
            let Ok(Ok((stream, identity))) = handshake.await else {
                return;
            };
            tracing::debug!(%peer, %identity, "client API connection");
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
            // The protocol ALPN chose is served at once: an HTTP/2 server must speak first
            // (SETTINGS), and the mesh dialer waits for those bytes before its first call.
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(Duration::from_secs(10)))
                .keep_alive_timeout(Duration::from_secs(10));
            let builder = match alpn.as_deref() {
                Some(ALPN_H2) => builder.http2_only(),
                Some(ALPN_HTTP1) => builder.http1_only(),
                _ => builder,
            };
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %error, "client API connection ended with an error");
            }
        });
    }
}
