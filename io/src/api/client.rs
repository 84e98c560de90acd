//! A small HTTP/JSON client of the client API over mutual TLS, following redirects: what
//! the tests and tools use to talk to `listen.http` as an application would.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::tls::{TlsError, TlsMaterial};

/// How long to wait for TCP, TLS and the whole answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `https://host:port/path`.
    #[error("bad URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// TCP, TLS or HTTP failed (a refused certificate shows here under TLS 1.3).
    #[error("{url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// More redirects than allowed.
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects {
        /// The last URL.
        url: String,
        /// The limit.
        max: usize,
    },
}

/// A reply read in full.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The URL that answered (after redirects).
    pub url: String,
    /// How many redirects were followed.
    pub redirects: usize,
}

impl HttpReply {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 client presenting one certificate; one connection per call.
#[derive(Clone)]
pub struct HttpApiClient {
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for HttpApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApiClient").finish_non_exhaustive()
    }
}

impl HttpApiClient {
    /// A client presenting `material`'s certificate and trusting its CA.
    pub fn new(material: &TlsMaterial) -> Result<HttpApiClient, TlsError> {
        let mut config = (*material.client_config()?).clone();
        config.alpn_protocols = vec![super::ALPN_HTTP1.to_vec()];
        Ok(HttpApiClient::with_config(Arc::new(config)))
    }

    /// A client with a hand-made configuration (no certificate, another CA, ...).
    pub fn with_config(config: Arc<ClientConfig>) -> HttpApiClient {
        HttpApiClient {
            connector: tokio_rustls::TlsConnector::from(config),
        }
    }

    /// One call, no redirect followed.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpReply, ClientError> {
        let transport = |reason: String| ClientError::Transport {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| ClientError::Url {
            url: url.to_owned(),
            reason: format!("{e}"),
        })?;
        let (Some("https"), Some(authority)) = (uri.scheme_str(), uri.authority().cloned()) else {
            return Err(ClientError::Url {
                url: url.to_owned(),
                reason: "expected https://host:port/...".into(),
            });
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned()).map_err(|e| ClientError::Url {
            url: url.to_owned(),
            reason: format!("{e}"),
        })?;
        let port = authority.port_u16().unwrap_or(443);
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect((host, port))
                .await
                .map_err(|e| transport(format!("connect: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .connector
                .connect(server_name, tcp)
                .await
                .map_err(|e| transport(format!("TLS: {e}")))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| transport(format!("HTTP: {e}")))?;
            tokio::spawn(connection);
            let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, authority.as_str());
            if body.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request
                .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
                .map_err(|e| transport(format!("request: {e}")))?;
            let response = sender.send_request(request).await.map_err(|e| {
                // Under TLS 1.3 a refused client certificate only shows on the first request.
                transport(format!("{e} (certificate refused by server?)"))
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok(HttpReply {
                status,
                headers,
                body,
                url: url.to_owned(),
                redirects: 0,
            })
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {CALL_TIMEOUT:?}")))?
    }

    /// One call, following up to `max_redirects` 307s to their `Location` (same method,
    /// headers and body).
    pub async fn call_following(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        max_redirects: usize,
    ) -> Result<HttpReply, ClientError> {
        let mut url = url.to_owned();
        for redirects in 0..=max_redirects {
            let mut reply = self.call(method.clone(), &url, headers, body).await?;
            reply.redirects = redirects;
            let location = reply.header(header::LOCATION.as_str()).map(str::to_owned);
            match location {
                Some(next) if reply.status == StatusCode::TEMPORARY_REDIRECT => url = next,
                _ => return Ok(reply),
            }
        }
        Err(ClientError::TooManyRedirects {
            url,
            max: max_redirects,
        })
    }
}
