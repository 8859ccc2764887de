//! `TcpListener`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use finack_core::{Error, ListenerId};

use crate::error::to_io_error;
use crate::socket::SocketOptions;
use crate::stack::Stack;
use crate::stream::TcpStream;

/// Backlog of [`TcpListener::bind`] (each of the SYN and accept queues).
pub const DEFAULT_BACKLOG: usize = 1024;

/// A listening socket on a [`Stack`] (a passive OPEN, RFC 9293 §3.10.1), with the
/// interface of tokio's `TcpListener`. Dropping it closes the listener; like
/// Linux, connections still waiting in its accept queue are reset. On a
/// stack of several workers the listener is open in every worker's engine,
/// and accepts the connections of all.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, TcpListener, TcpStream};
///
/// let (a, b) = Stack::pair();
/// let listener = TcpListener::bind(&b, "0.0.0.0:80".parse().unwrap())?;
/// let _client = TcpStream::connect(&a, "192.0.2.2:80".parse().unwrap()).await?;
/// let (stream, peer) = listener.accept().await?;
/// assert_eq!(peer.ip(), Stack::PAIR_A);
/// assert_eq!(stream.local_addr()?, "192.0.2.2:80".parse().unwrap());
/// # Ok(())
/// # }
/// ```
pub struct TcpListener {
    stack: Stack,
    /// The listener in each worker's engine, in worker order.
    ids: Vec<ListenerId>,
    /// The worker whose accept queue is tried first next time (turn by turn,
    /// so that no worker's connections wait behind another's).
    next: AtomicUsize,
    local: SocketAddr,
    /// Options every accepted connection gets (from a `TcpSocket`).
    child: SocketOptions,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TcpListener {
    /// Listen on `addr` (its IP may be unspecified for all of the stack's
    /// addresses) with a backlog of 1024. Errors: `AddrInUse`,
    /// `AddrNotAvailable` (not one of the stack's addresses), `InvalidInput`
    /// (port 0).
    pub fn bind(stack: &Stack, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(stack, addr, DEFAULT_BACKLOG)
    }

    /// Like [`TcpListener::bind`] with a backlog: the size of each of the SYN
    /// and accept queues; SYNs beyond it are dropped (the client retries), as in
    /// Linux.
    pub fn bind_with_backlog(
        stack: &Stack,
        addr: SocketAddr,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        TcpListener::open(stack, addr, |ep| ep.listen(addr, backlog))
    }

    /// A listener each engine opens with `listen`, known by `local`.
    fn open(
        stack: &Stack,
        local: SocketAddr,
        listen: impl Fn(&mut finack_core::Endpoint) -> Result<ListenerId, Error>,
    ) -> io::Result<TcpListener> {
        let mut ids = Vec::with_capacity(stack.workers());
        for w in 0..stack.workers() {
            let r = stack.shared.op(w, |inner, _| {
                let id = listen(&mut inner.ep)?;
                inner.listeners.insert(id, None);
                Ok(id)
            });
            match r {
                Ok(id) => ids.push(id),
                Err(e) => {
                    // Undo the workers where it opened.
                    for (w, id) in ids.into_iter().enumerate() {
                        stack.shared.op(w, |inner, now| {
                            inner.listeners.remove(&id);
                            let _ = inner.ep.close_listener(now, id);
                        });
                    }
                    return Err(to_io_error(e));
                }
            }
        }
        if local.port() != 0 {
            stack.shared.add_listening(local);
        }
        Ok(TcpListener {
            stack: stack.clone(),
            ids,
            next: AtomicUsize::new(0),
            local,
            child: SocketOptions::default(),
        })
    }

    /// Options for every connection this listener accepts. The buffer
    /// sizes go to the engines' listeners too, so that a connection has
    /// them from its SYN on (its window shift, data that comes before it is
    /// accepted), as a Linux socket inherits them from its listener.
    pub(crate) fn set_child_options(&mut self, opts: SocketOptions) {
        for (w, &id) in self.ids.iter().enumerate() {
            self.stack.shared.op(w, |inner, _| {
                if let Some(b) = opts.send_buffer {
                    let _ = inner.ep.set_listener_send_buffer(id, b);
                }
                if let Some(b) = opts.recv_buffer {
                    let _ = inner.ep.set_listener_recv_buffer(id, b);
                }
            });
        }
        self.child = opts;
    }

    /// A transparent listener, as VPN and tunnel apps need (tun2socks-style):
    /// it accepts a connection to any address and port routed into the
    /// stack's device that no other listener holds, and the accepted
    /// stream's [`TcpStream::local_addr`] is the destination the client
    /// asked for (the engine's `Endpoint::listen_any`). One per stack (with
    /// several workers, one in each engine).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use finack::{Config, PacketLink, Stack, TcpListener, TcpStream};
    ///
    /// // The client's stack sends everything to the proxy's, whatever the
    /// // destination, as a route into a TUN device would.
    /// let (a, b) = PacketLink::pair();
    /// let client = Stack::new(Config::linux(), &["192.0.2.2".parse().unwrap()], a);
    /// let proxy = Stack::new(Config::linux(), &["192.0.2.130".parse().unwrap()], b);
    /// let listener = TcpListener::bind_any(&proxy)?;
    /// let _c = TcpStream::connect(&client, "203.0.113.5:443".parse().unwrap()).await?;
    /// let (stream, peer) = listener.accept().await?;
    /// assert_eq!(stream.local_addr()?, "203.0.113.5:443".parse().unwrap());
    /// assert_eq!(peer.ip(), "192.0.2.2".parse::<std::net::IpAddr>().unwrap());
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind_any(stack: &Stack) -> io::Result<TcpListener> {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        TcpListener::open(stack, any, |ep| ep.listen_any(DEFAULT_BACKLOG))
    }

    /// Wait for the next established connection and return it with the peer's
    /// address. One task at a time should wait on a listener.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll for the next established connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let child = &self.child;
        let n = self.ids.len();
        let first = self.next.load(Ordering::Relaxed);
        for k in 0..n {
            let w = (first + k) % n;
            let id = self.ids[w];
            let r = self
                .stack
                .shared
                .op(w, |inner, _| match inner.ep.accept(id) {
                    Ok(c) => {
                        // The connection is established: options that shape the
                        // handshake (buffer sizes) apply from now on.
                        let _ = child.apply(&mut inner.ep, c);
                        Poll::Ready(Ok(c))
                    }
                    Err(Error::WouldBlock) => {
                        inner.listeners.insert(id, Some(cx.waker().clone()));
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(e)),
                });
            match r {
                Poll::Ready(Ok(c)) => {
                    self.next.store((w + 1) % n, Ordering::Relaxed);
                    let s = TcpStream::accepted(
                        self.stack.clone(),
                        w,
                        c,
                        self.local,
                        self.child.linger,
                    );
                    let peer = s.peer_addr()?;
                    return Poll::Ready(Ok((s, peer)));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(to_io_error(e))),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The stack it listens on.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        for (w, &id) in self.ids.iter().enumerate() {
            self.stack.shared.op(w, |inner, now| {
                inner.listeners.remove(&id);
                let _ = inner.ep.close_listener(now, id);
            });
        }
        if self.local.port() != 0 {
            self.stack.shared.remove_listening(self.local);
        }
    }
}
