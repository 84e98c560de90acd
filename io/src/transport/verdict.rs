//! Learning at connect time whether the server accepted our certificate.
//!
//! Under TLS 1.3 the client's handshake is complete once it has sent its certificate; the
//! server checks it afterwards and answers with either an alert or application data. An
//! HTTP/2 server always speaks first after the handshake (its SETTINGS frame, RFC 9113
//! §3.4), so waiting for the first bytes gives the verdict: bytes mean accepted, an alert
//! or a hang-up means refused. The bytes read are replayed to hyper by [`Confirmed`].
//! The cost is the half round trip the client would otherwise have saved by sending its
//! first request before hearing from the server.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::error::DialError;

/// Large enough for a server's SETTINGS frame and more; what is read is replayed.
const FIRST_READ: usize = 4096;

/// A client stream whose server has shown it accepted us, replaying the bytes that showed it.
#[derive(Debug)]
pub struct Confirmed<S> {
    inner: S,
    replay: Vec<u8>,
    replayed: usize,
}

/// Waits for the server's first bytes on a freshly handshaken TLS stream.
pub(super) async fn await_first_bytes<S>(
    mut tls: S,
    server: &str,
) -> Result<Confirmed<S>, DialError>
where
    S: AsyncRead + Unpin,
{
    let mut first = vec![0; FIRST_READ];
    match tls.read(&mut first).await {
        Ok(0) => Err(DialError::CertificateRefused {
            server: server.to_owned(),
            reason: "the server closed the connection right after the TLS handshake \
                     without an alert (its log says why)"
                .into(),
        }),
        Ok(n) => {
            first.truncate(n);
            Ok(Confirmed {
                inner: tls,
                replay: first,
                replayed: 0,
            })
        }
        Err(error) => Err(
            classify(&error, server).unwrap_or_else(|| DialError::Broken {
                server: server.to_owned(),
                reason: error.to_string(),
            }),
        ),
    }
}

/// A TLS alert from the server that can only be about our certificate, as a refusal.
pub(super) fn classify(error: &io::Error, server: &str) -> Option<DialError> {
    let rustls::Error::AlertReceived(alert) = error.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    let about_our_certificate = matches!(
        alert,
        AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
    );
    about_our_certificate.then(|| DialError::CertificateRefused {
        server: server.to_owned(),
        reason: format!("TLS alert {alert:?}"),
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for Confirmed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(pending) = this.replay.get(this.replayed..)
            && !pending.is_empty()
        {
            let n = pending.len().min(buf.remaining());
            buf.put_slice(&pending[..n]);
            this.replayed += n;
            if this.replayed == this.replay.len() {
                // Free the buffer: a connection can live for days.
                this.replay = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Confirmed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
