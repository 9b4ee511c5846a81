//! Listeners and streams for both worlds behind one type each.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which network a component talks over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// tokio's TCP: real sockets, real time.
    Real,
    /// turmoil's TCP: simulated hosts, virtual time. Only inside a turmoil host or client.
    Simulated,
}

impl Network {
    /// Opens a TCP connection to `host:port`.
    pub async fn connect(self, host: &str, port: u16) -> io::Result<NetStream> {
        match self {
            Network::Real => {
                let stream = tokio::net::TcpStream::connect((host, port)).await?;
                stream.set_nodelay(true)?;
                Ok(NetStream::Real(stream))
            }
            Network::Simulated => {
                // A SYN dropped by the server's full accept queue is sent again as a kernel
                // does: 1 s after the first, then 2 s, 4 s, ... later (the initial
                // retransmission timeout, doubled each time), until the caller's connect
                // timeout ends the tries.
                let mut rto = SYN_RTO;
                let mut again = tokio::time::Instant::now() + rto;
                loop {
                    match turmoil::net::TcpStream::connect((host, port)).await {
                        Ok(stream) => return Ok(NetStream::Simulated(stream)),
                        Err(err) if syn_dropped(&err) => {
                            crate::time::sleep_until(again).await;
                            rto *= 2;
                            again += rto;
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
        }
    }
}

/// The kernel's initial SYN retransmission timeout (Linux: `TCP_TIMEOUT_INIT`).
const SYN_RTO: std::time::Duration = std::time::Duration::from_secs(1);

fn syn_dropped(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<turmoil::net::SynDropped>())
}

/// A TCP listener of either world.
pub enum Listener {
    Real(tokio::net::TcpListener),
    Simulated(turmoil::net::TcpListener),
}

impl Listener {
    /// Binds `addr` (e.g. `127.0.0.1:8787`, or `0.0.0.0:443` inside a turmoil host).
    pub async fn bind(network: Network, addr: SocketAddr) -> io::Result<Self> {
        Ok(match network {
            Network::Real => {
                // tokio's (mio's) `TcpListener::bind` asks the kernel for a backlog of 128,
                // as std does: a saturated server then held 128 waiting connections where
                // the simulated one holds `LISTEN_BACKLOG` (issue #25's sim-vs-live gap).
                let socket = match addr {
                    SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
                };
                #[cfg(not(windows))]
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                let backlog = u32::try_from(super::server::LISTEN_BACKLOG).unwrap_or(u32::MAX);
                Listener::Real(socket.listen(backlog)?)
            }
            Network::Simulated => Listener::Simulated(turmoil::net::TcpListener::bind(addr).await?),
        })
    }

    pub async fn accept(&self) -> io::Result<(NetStream, SocketAddr)> {
        match self {
            Listener::Real(l) => {
                let (stream, peer) = l.accept().await?;
                stream.set_nodelay(true)?;
                Ok((NetStream::Real(stream), peer))
            }
            Listener::Simulated(l) => {
                let (stream, peer) = l.accept().await?;
                Ok((NetStream::Simulated(stream), peer))
            }
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Real(l) => l.local_addr(),
            Listener::Simulated(l) => l.local_addr(),
        }
    }

    /// Says whether the server's accept queue is full: a simulated listener then drops the
    /// SYNs that arrive, as the kernel does with a real one (which needs no telling).
    pub fn set_backlog_full(&self, full: bool) {
        if let Listener::Simulated(l) = self {
            l.set_backlog_full(full);
        }
    }
}

/// A TCP stream of either world.
pub enum NetStream {
    Real(tokio::net::TcpStream),
    Simulated(turmoil::net::TcpStream),
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Real(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Simulated(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Real(s) => Pin::new(s).poll_write(cx, buf),
            NetStream::Simulated(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Real(s) => Pin::new(s).poll_flush(cx),
            NetStream::Simulated(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Real(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Simulated(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Connection for NetStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
