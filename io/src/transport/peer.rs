//! Who is on the other end of a server connection, as handlers see it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::{Request, Status};

use crate::tls::Identity;

/// The verified peer of a server connection. tonic puts it in every request's extensions
/// (`request.extensions().get::<MeshPeer>()`); [`peer_identity`] reads the identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshPeer {
    /// The identity in the client certificate the TLS handshake verified.
    pub identity: Identity,
    /// The client's address as the network reported it.
    pub remote_addr: SocketAddr,
}

/// The identity of the peer that sent `request`, verified by mutual TLS.
///
/// `UNAUTHENTICATED` when the request did not come through a mesh listener (for example a
/// handler called directly), so a handler can never mistake "unknown" for "anyone".
pub fn peer_identity<T>(request: &Request<T>) -> Result<Identity, Status> {
    request
        .extensions()
        .get::<MeshPeer>()
        .map(|peer| peer.identity.clone())
        .ok_or_else(|| Status::unauthenticated("no verified peer identity on this connection"))
}

/// An accepted, handshaken server connection: the TLS stream and the peer it verified.
#[derive(Debug)]
pub struct ServerConnection<S> {
    tls: tokio_rustls::server::TlsStream<S>,
    peer: MeshPeer,
}

impl<S> ServerConnection<S> {
    pub(super) fn new(tls: tokio_rustls::server::TlsStream<S>, peer: MeshPeer) -> Self {
        ServerConnection { tls, peer }
    }

    /// The verified peer.
    pub fn peer(&self) -> &MeshPeer {
        &self.peer
    }
}

impl<S> Connected for ServerConnection<S> {
    type ConnectInfo = MeshPeer;

    fn connect_info(&self) -> MeshPeer {
        self.peer.clone()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerConnection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerConnection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}
