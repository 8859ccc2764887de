//! `TcpSocket`: a socket configured before it connects or listens, like
//! tokio's.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use finack_core::{ConnId, Endpoint, Error};

use crate::error::to_io_error;
use crate::listener::TcpListener;
use crate::stack::Stack;
use crate::stream::TcpStream;

/// The options a [`TcpSocket`] carries into its connection, or into every
/// connection its listener accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SocketOptions {
    pub nodelay: bool,
    pub keepalive: bool,
    pub linger: Option<Duration>,
    pub send_buffer: Option<usize>,
    pub recv_buffer: Option<usize>,
}

impl SocketOptions {
    /// Apply the engine's part to connection `c` (before its SYN or SYN,ACK
    /// goes out when called in the same stack operation that opened it).
    pub(crate) fn apply(&self, ep: &mut Endpoint, c: ConnId) -> Result<(), Error> {
        if self.nodelay {
            ep.set_nodelay(c, true)?;
        }
        if self.keepalive {
            ep.set_keepalive(c, true)?;
        }
        if let Some(b) = self.send_buffer {
            ep.set_send_buffer(c, b)?;
        }
        if let Some(b) = self.recv_buffer {
            ep.set_recv_buffer(c, b)?;
        }
        Ok(())
    }
}

/// A TCP socket before it connects or listens, to set its local address and
/// options first, as with tokio's `TcpSocket`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, TcpSocket};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (a, b) = Stack::pair();
/// let mut server = TcpSocket::new(&b);
/// server.set_nodelay(true);
/// server.bind("192.0.2.2:8080".parse().unwrap())?;
/// let listener = server.listen(128)?;
///
/// let mut client = TcpSocket::new(&a);
/// client.bind("192.0.2.1:40000".parse().unwrap())?;
/// client.set_recv_buffer_size(64 * 1024);
/// let mut c = client.connect("192.0.2.2:8080".parse().unwrap()).await?;
/// let (mut s, peer) = listener.accept().await?;
/// assert_eq!(peer, "192.0.2.1:40000".parse().unwrap());
/// c.write_all(b"hi").await?;
/// let mut buf = [0u8; 2];
/// s.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    stack: Stack,
    local: Option<SocketAddr>,
    opts: SocketOptions,
}

impl TcpSocket {
    /// A socket on `stack`, unbound, with the defaults of the stack's
    /// configuration.
    pub fn new(stack: &Stack) -> TcpSocket {
        TcpSocket {
            stack: stack.clone(),
            local: None,
            opts: SocketOptions::default(),
        }
    }

    /// Bind to a local address: one of the stack's, or unspecified; port 0
    /// picks an ephemeral port when connecting (listening needs a port).
    pub fn bind(&mut self, addr: SocketAddr) -> io::Result<()> {
        let known = addr.ip().is_unspecified() || self.stack.addresses().contains(&addr.ip());
        if !known {
            return Err(to_io_error(Error::AddrNotAvailable));
        }
        self.local = Some(addr);
        Ok(())
    }

    /// The address given to [`TcpSocket::bind`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket is not bound"))
    }

    /// TCP_NODELAY: turn Nagle's algorithm off.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.opts.nodelay = nodelay;
    }

    /// The TCP_NODELAY setting.
    pub fn nodelay(&self) -> bool {
        self.opts.nodelay
    }

    /// SO_KEEPALIVE: probe an idle peer (`Config::keepalive_*` set the timing).
    pub fn set_keepalive(&mut self, on: bool) {
        self.opts.keepalive = on;
    }

    /// The SO_KEEPALIVE setting.
    pub fn keepalive(&self) -> bool {
        self.opts.keepalive
    }

    /// SO_LINGER for the connection (see [`TcpStream::set_linger`]).
    pub fn set_linger(&mut self, linger: Option<Duration>) {
        self.opts.linger = linger;
    }

    /// The SO_LINGER setting.
    pub fn linger(&self) -> Option<Duration> {
        self.opts.linger
    }

    /// SO_SNDBUF: the send buffer in bytes.
    pub fn set_send_buffer_size(&mut self, bytes: usize) {
        self.opts.send_buffer = Some(bytes);
    }

    /// SO_RCVBUF: the receive buffer in bytes; set before connecting, it
    /// shapes the window the SYN announces.
    pub fn set_recv_buffer_size(&mut self, bytes: usize) {
        self.opts.recv_buffer = Some(bytes);
    }

    /// Active OPEN from the bound address (or an ephemeral port of one of
    /// the stack's addresses) with the options set; resolves once the
    /// handshake completes. Errors as [`TcpStream::connect`].
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_with(&self.stack, self.local, addr, self.opts).await
    }

    /// Passive OPEN on the bound address with this backlog; every accepted
    /// connection gets the socket's options.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let local = self.local_addr()?;
        let mut l = TcpListener::bind_with_backlog(&self.stack, local, backlog as usize)?;
        l.set_child_options(self.opts);
        Ok(l)
    }
}
