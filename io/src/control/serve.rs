//! Serving the control API over mutual TLS: the layer that verifies the client's
//! certificate, maps its identity to a control role, and inserts the
//! [`CertificateCaller`] extension the router authorises by.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::auth::{CertificateCaller, ControlRole};
use crate::tls::Identity;

/// ALPN of the control API: HTTP/1.1 (JSON and SSE need nothing more).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Which role a verified client certificate carries. Operators are named one by one; node
/// certificates (other nodes, tools running as a node) get one role for all, or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateRoles {
    operators: BTreeMap<String, ControlRole>,
    nodes: Option<ControlRole>,
}

impl CertificateRoles {
    /// No certificate grants a role: callers need a bearer token.
    pub fn new() -> CertificateRoles {
        CertificateRoles::default()
    }

    /// The operator certificate named `name` carries `role`.
    pub fn operator(mut self, name: &str, role: ControlRole) -> CertificateRoles {
        self.operators.insert(name.to_owned(), role);
        self
    }

    /// Every node certificate of the mesh carries `role`.
    pub fn nodes(mut self, role: ControlRole) -> CertificateRoles {
        self.nodes = Some(role);
        self
    }

    /// The caller a verified identity stands for, if its certificate grants a role.
    pub fn caller(&self, identity: &Identity) -> Option<CertificateCaller> {
        match identity {
            Identity::Operator { name } => {
                self.operators
                    .get(name.as_str())
                    .map(|role| CertificateCaller {
                        name: name.as_str().to_owned(),
                        role: *role,
                    })
            }
            Identity::Node { node, cluster, .. } => self.nodes.map(|role| CertificateCaller {
                name: format!("{cluster}/{node}"),
                role,
            }),
        }
    }
}

/// Serves `router` on `listener` over TLS until `shutdown` resolves. `tls` is a server
/// configuration verifying client certificates against the mesh CA (e.g.
/// `TlsMaterial::server_config`); its ALPN is replaced by `http/1.1`. A client whose
/// certificate maps to no role is still served, and must then present a bearer token.
/// A refused handshake is logged with its reason and closes only that connection.
pub async fn serve_mtls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    roles: CertificateRoles,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut config = (*tls).clone();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let roles = Arc::new(roles);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let roles = roles.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let peer = peer.to_string();
            // `accept` logs a refusal with its reason (FINDINGS.md: the client cannot see it).
            let Ok((stream, identity)) = crate::tls::accept(&acceptor, tcp, &peer).await else {
                return;
            };
            let caller = roles.caller(&identity);
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                if let Some(caller) = &caller {
                    request.extensions_mut().insert(caller.clone());
                }
                router.clone().oneshot(request)
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %err, "control connection ended with an error");
            }
        });
    }
}
