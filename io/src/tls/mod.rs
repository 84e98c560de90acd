//! Mutual TLS for every connection of the mesh: TLS 1.3 only, the ring provider pinned
//! explicitly, client certificates required and verified against the mesh CA, and the
//! peer's identity read from its certificate.
//!
//! Pinning the provider (rather than relying on the process default) matters: if ring and
//! aws-lc-rs both end up enabled somewhere in the tree, rustls cannot pick a default and
//! `ServerConfig::builder()` panics (FINDINGS.md).

mod identity;
mod issue;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};

pub use identity::{Identity, IdentityError, Role, TRUST_DOMAIN};
pub use issue::{CA_CERT_FILE, CA_KEY_FILE, IssuedPem, MeshCa};

/// ALPN for gRPC over HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// Everything that can go wrong setting up or using TLS, with the file or peer involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was missing or malformed.
        what: String,
    },
    /// A file that must not be replaced exists.
    #[error("{0} already exists; refusing to overwrite it")]
    WouldOverwrite(PathBuf),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The handshake failed; `reason` is what rustls or the peer said.
    #[error("TLS handshake with {peer} failed: {reason}")]
    Handshake {
        /// The remote address or name.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The peer's certificate verified, but carries no usable identity.
    #[error("peer {peer} presented a certificate without a usable identity: {source}")]
    Identity {
        /// The remote address.
        peer: String,
        /// What was wrong with it.
        source: IdentityError,
    },
}

impl TlsError {
    fn io(path: &Path, source: io::Error) -> TlsError {
        TlsError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The one crypto provider of the process.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A node's TLS material: the mesh CA to trust, and its own certificate and key.
#[derive(Clone)]
pub struct TlsMaterial {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("roots", &self.roots.len())
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Loads PEM files: the CA bundle, the certificate chain and the private key.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| TlsError::io(p, e));
        TlsMaterial::from_pem(&read(ca)?, &read(cert)?, &read(key)?).map_err(|e| match e {
            // Name the file that was wrong, not just the kind of content.
            TlsError::Pem { path, what } => {
                let file = match path.to_str() {
                    Some("ca") => ca,
                    Some("cert") => cert,
                    _ => key,
                };
                TlsError::Pem {
                    path: file.to_owned(),
                    what,
                }
            }
            other => other,
        })
    }

    /// Builds material from PEM text (as [`TlsMaterial::load`] does from files).
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<TlsMaterial, TlsError> {
        let pem_err = |which: &str, what: String| TlsError::Pem {
            path: PathBuf::from(which),
            what,
        };
        let mut roots = RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(ca) {
            let der = der.map_err(|e| pem_err("ca", format!("malformed PEM: {e}")))?;
            roots
                .add(der)
                .map_err(|e| pem_err("ca", format!("not a usable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(pem_err("ca", "no CERTIFICATE block found".into()));
        }
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err("cert", format!("malformed PEM: {e}")))?;
        if chain.is_empty() {
            return Err(pem_err("cert", "no CERTIFICATE block found".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| pem_err("key", format!("no usable private key: {e}")))?;
        Ok(TlsMaterial {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key),
        })
    }

    /// This node's own identity, read from its certificate.
    pub fn identity(&self) -> Result<Identity, IdentityError> {
        let leaf = self.chain.first().ok_or(IdentityError::Missing)?;
        Identity::from_certificate(leaf)
    }

    /// A server configuration: TLS 1.3 only, client certificates required and verified
    /// against the mesh CA, ALPN h2.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// A client configuration: TLS 1.3 only, the server verified against the mesh CA, and
    /// this node's certificate presented, ALPN h2.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// Completes a server-side handshake and reads the client's identity. A refused client is
/// logged here with the reason, because under TLS 1.3 the client itself only sees a vague
/// transport error on its first request (FINDINGS.md).
pub async fn accept<S>(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: S,
    peer: &str,
) -> Result<(tokio_rustls::server::TlsStream<S>, Identity), TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = acceptor.accept(stream).await.map_err(|e| {
        let reason = e.to_string();
        tracing::warn!(%peer, %reason, "refused TLS client");
        TlsError::Handshake {
            peer: peer.to_owned(),
            reason,
        }
    })?;
    let identity = {
        let (_, conn) = tls.get_ref();
        let leaf = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or(IdentityError::Missing);
        leaf.and_then(|der| Identity::from_certificate(der))
    }
    .map_err(|source| {
        tracing::warn!(%peer, reason = %source, "refused TLS client");
        TlsError::Identity {
            peer: peer.to_owned(),
            source,
        }
    })?;
    Ok((tls, identity))
}
