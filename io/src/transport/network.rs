//! The sockets under the transport, behind a trait: tokio's today, turmoil's simulated
//! ones in the chaos sim. Nothing else in the transport names a socket type.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A stream network: binds listeners, accepts and dials byte streams.
///
/// Implementations hand out streams with Nagle's algorithm disabled (where the network
/// has one): gRPC writes small frames and waits for answers, so Nagle turns each unary
/// call into a 40 ms delayed-ACK wait (FINDINGS.md, ~23 calls/s).
pub trait Network: Clone + Send + Sync + 'static {
    /// A connected byte stream.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// A bound listener.
    type Listener: Send + Sync + 'static;

    /// Binds a listener on `addr` (port 0 picks a free port).
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address a listener is bound to.
    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Waits for the next connection; returns it with the peer's address.
    fn accept<'a>(
        &'a self,
        listener: &'a Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send + 'a;

    /// Dials `host:port`; `host` is a name the network resolves or an IP literal.
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'a;
}

/// The operating system's TCP, through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNetwork;

impl Network for TokioNetwork {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept<'a>(
        &'a self,
        listener: &'a Self::Listener,
    ) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, remote) = listener.accept().await?;
        // tonic's `Server::tcp_nodelay` only applies to listeners tonic binds itself, not
        // to `serve_with_incoming` (FINDINGS.md), so it is set here on every socket.
        stream.set_nodelay(true)?;
        Ok((stream, remote))
    }

    async fn connect<'a>(&'a self, host: &'a str, port: u16) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
