//! The CLI's HTTP client: one HTTP/1.1 connection per request over plain TCP or TLS 1.3
//! (mesh CA, optional client certificate), straight on hyper 1. The CLI makes a handful
//! of calls, so there is no pool to keep.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use super::Failure;

/// How long to wait for TCP and TLS before calling the endpoint unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the control API.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Client certificate (PEM) for mTLS.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// CA bundle (PEM) that signed the server's certificate.
    pub ca: Option<PathBuf>,
}

/// A reply read in full.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

struct Tls {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

/// A client of one control endpoint.
pub struct ControlClient {
    host: String,
    port: u16,
    authority: String,
    token: Option<String>,
    tls: Option<Tls>,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

fn tls_config(settings: &ConnectionSettings) -> Result<Arc<ClientConfig>, Failure> {
    let ca = settings.ca.as_deref().ok_or_else(|| {
        Failure::Usage("an https endpoint needs --ca (the mesh CA certificate)".into())
    })?;
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&read_file(ca)?) {
        let der = der.map_err(|e| Failure::Usage(format!("{}: {e}", ca.display())))?;
        roots
            .add(der)
            .map_err(|e| Failure::Usage(format!("{}: {e}", ca.display())))?;
    }
    let builder = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Failure::Usage(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read_file(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Failure::Usage(format!("{}: {e}", cert.display())))?;
            let key_der = PrivateKeyDer::from_pem_slice(&read_file(key)?)
                .map_err(|e| Failure::Usage(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| Failure::Usage(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(Failure::Usage("--cert and --key go together".into())),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl ControlClient {
    /// Checks the endpoint and loads TLS material; does not connect yet.
    pub fn new(settings: &ConnectionSettings) -> Result<ControlClient, Failure> {
        let uri: Uri = settings
            .endpoint
            .parse()
            .map_err(|e| Failure::Usage(format!("--endpoint {:?}: {e}", settings.endpoint)))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Failure::Usage(format!(
                    "--endpoint {:?} must start with http:// or https://",
                    settings.endpoint
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| {
                Failure::Usage(format!("--endpoint {:?} has no host", settings.endpoint))
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| host.clone());
        let tls = if https {
            let server_name = ServerName::try_from(host.clone())
                .map_err(|e| Failure::Usage(format!("--endpoint host {host:?}: {e}")))?;
            Some(Tls {
                connector: tokio_rustls::TlsConnector::from(tls_config(settings)?),
                server_name,
            })
        } else {
            None
        };
        Ok(ControlClient {
            host,
            port,
            authority,
            token: settings.token.clone(),
            tls,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let unreachable =
            |what: String| Failure::Unreachable(format!("{}: {what}", self.authority));
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| unreachable("connect timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|e| unreachable(e.to_string()))?;
        match &self.tls {
            None => {
                let (sender, conn) = http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                tokio::spawn(conn);
                Ok(sender)
            }
            Some(tls) => {
                let stream = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tls.connector.connect(tls.server_name.clone(), tcp),
                )
                .await
                .map_err(|_| unreachable("TLS handshake timed out".into()))?
                .map_err(|e| unreachable(format!("TLS handshake failed: {e}")))?;
                let (sender, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                tokio::spawn(conn);
                Ok(sender)
            }
        }
    }

    /// Sends one request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, Failure> {
        let mut sender = self.connect().await?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.authority)
            .header(ACCEPT, "application/json, text/event-stream");
        if let Some(token) = &self.token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Failure::Usage(format!("request {path}: {e}")))?;
        sender.send_request(request).await.map_err(|e| {
            // Under TLS 1.3 a refused client certificate only shows on the first request.
            let hint = if self.tls.is_some() {
                " (certificate refused by server?)"
            } else {
                ""
            };
            Failure::Unreachable(format!("{}: {e}{hint}", self.authority))
        })
    }

    /// Sends one request and reads the whole reply.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, Failure> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Unreachable(format!("{}: reading reply: {e}", self.authority)))?
            .to_bytes();
        Ok(Reply { status, body })
    }
}
