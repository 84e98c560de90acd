//! The io transport over turmoil's simulated TCP: [`MeshListener`] and [`Dialer`] run
//! between turmoil hosts unchanged, so the chaos sim exercises the shipped tonic, hyper and
//! rustls code over partitions, held links and crashes.
//!
//! [`MeshListener`]: omnirelay_io::transport::MeshListener
//! [`Dialer`]: omnirelay_io::transport::Dialer

use std::io;
use std::net::SocketAddr;

use omnirelay_io::transport::Network;

/// turmoil's network, seen from the host whose task calls it.
///
/// Every call must run inside a turmoil host (turmoil panics otherwise). Names are turmoil
/// host names (`"us-east-1"`), resolved by turmoil's DNS; certificates must carry them as
/// DNS names, because the dialer verifies the server against the name it dialed.
///
/// turmoil listeners accept only an unspecified or loopback address (`0.0.0.0:port`): a host
/// has exactly one address, so that binds it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNetwork;

impl Network for TurmoilNetwork {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept<'a>(
        &'a self,
        listener: &'a Self::Listener,
    ) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, remote) = listener.accept().await?;
        // A no-op in turmoil (it has no Nagle), kept so the contract reads the same as
        // the tokio network's.
        stream.set_nodelay(true)?;
        Ok((stream, remote))
    }

    async fn connect<'a>(&'a self, host: &'a str, port: u16) -> io::Result<Self::Stream> {
        let stream = turmoil::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
