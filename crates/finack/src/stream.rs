//! `TcpStream` and its owned halves.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use finack_core::{ConnId, ConnInfo, Error, Shutdown, State};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::to_io_error;
use crate::stack::Stack;

/// The application's hold on one engine connection. Dropping the last holder
/// CLOSEs it (RFC 9293 §3.10.4: FIN after queued data; RST instead if received
/// data was left unread, RFC 2525 §2.17, as Linux does).
struct Conn {
    stack: Stack,
    id: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
    write_shut: AtomicBool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let id = self.id;
        self.stack.shared.op(|inner, now| {
            inner.conns.remove(&id);
            let _ = inner.ep.close(now, id);
        });
    }
}

impl Conn {
    fn new(stack: Stack, id: ConnId, fallback_peer: SocketAddr) -> Conn {
        let (local, peer) = stack
            .shared
            .op(|inner, _| {
                inner.conns.entry(id).or_default();
                inner.ep.addrs(id)
            })
            .unwrap_or((unspecified_like(&fallback_peer), fallback_peer));
        Conn {
            stack,
            id,
            local,
            peer,
            write_shut: AtomicBool::new(false),
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let id = self.id;
        self.stack.shared.op(
            |inner, now| match inner.ep.recv(now, id, buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().read = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(to_io_error(e))),
            },
        )
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.write_shut.load(Ordering::Relaxed) {
            // send(2) after shutdown(SHUT_WR): EPIPE.
            return Poll::Ready(Err(to_io_error(Error::BrokenPipe)));
        }
        let id = self.id;
        self.stack
            .shared
            .op(|inner, now| match inner.ep.send(now, id, data) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().write = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(to_io_error(e))),
            })
    }

    /// Half-close: queue a FIN behind the data already written (RFC 9293 §3.10.4,
    /// shutdown(2) SHUT_WR). Only the first call acts.
    fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        if self.write_shut.swap(true, Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        let id = self.id;
        let r = self
            .stack
            .shared
            .op(|inner, now| inner.ep.shutdown(now, id, Shutdown::Write));
        Poll::Ready(r.map_err(to_io_error))
    }

    fn abort(&self) {
        let id = self.id;
        self.stack.shared.op(|inner, now| {
            let _ = inner.ep.abort(now, id);
            inner.conns.remove(&id);
        });
    }
}

fn unspecified_like(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// A TCP connection on a [`Stack`], with the interface of tokio's `TcpStream`:
/// [`AsyncRead`] (0 bytes at end of stream), [`AsyncWrite`] (`poll_flush` is a
/// no-op, `poll_shutdown` sends FIN: a half-close, reading goes on), and
/// [`TcpStream::into_split`]. Dropping it closes the connection; it finishes
/// closing (FIN exchange, TIME-WAIT) in the stack.
pub struct TcpStream {
    conn: Arc<Conn>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.conn.local)
            .field("peer", &self.conn.peer)
            .finish()
    }
}

/// Aborts a connect that did not finish (its future was dropped or it failed),
/// releasing the engine's handle.
struct ConnectGuard<'a> {
    stack: &'a Stack,
    id: Option<ConnId>,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.stack.shared.op(|inner, now| {
                inner.conns.remove(&id);
                let _ = inner.ep.abort(now, id);
            });
        }
    }
}

impl TcpStream {
    /// Active OPEN to `addr` from an ephemeral port of one of the stack's
    /// addresses (RFC 9293 §3.10.1). Resolves once the handshake completes.
    /// Errors: `ConnectionRefused` when a RST answers the SYN, `TimedOut` when the
    /// SYN retries run out (`Config::syn_retries`: about two minutes with Linux's
    /// defaults; wrap in `tokio::time::timeout` for less), `AddrNotAvailable`,
    /// `InvalidInput` for broadcast/multicast/port 0 (RFC 9293 MUST-46).
    pub async fn connect(stack: &Stack, addr: SocketAddr) -> io::Result<TcpStream> {
        let any = unspecified_like(&addr);
        let id = stack
            .shared
            .op(|inner, now| {
                let id = inner.ep.connect(now, any, addr)?;
                inner.conns.entry(id).or_default();
                Ok(id)
            })
            .map_err(to_io_error)?;
        let mut guard = ConnectGuard {
            stack,
            id: Some(id),
        };
        poll_fn(|cx| {
            stack.shared.op(|inner, _| {
                let state = inner.ep.state(id);
                if state.is_synchronized() {
                    return Poll::Ready(Ok(()));
                }
                if state == State::Closed {
                    let e = inner
                        .ep
                        .close_reason(id)
                        .and_then(|r| r.error())
                        .unwrap_or(Error::NotConnected);
                    return Poll::Ready(Err(to_io_error(e)));
                }
                inner.conns.entry(id).or_default().connect = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await?;
        guard.id = None;
        Ok(TcpStream {
            conn: Arc::new(Conn::new(stack.clone(), id, addr)),
        })
    }

    pub(crate) fn accepted(stack: Stack, id: ConnId, listen_addr: SocketAddr) -> TcpStream {
        TcpStream {
            conn: Arc::new(Conn::new(stack, id, listen_addr)),
        }
    }

    /// The local address and port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.local)
    }

    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.peer)
    }

    /// The connection's RFC 9293 state (CLOSED once it is over).
    pub fn state(&self) -> State {
        let id = self.conn.id;
        self.conn.stack.shared.op(|inner, _| inner.ep.state(id))
    }

    /// A snapshot like Linux's `tcp_info` (`None` once CLOSED).
    pub fn info(&self) -> Option<ConnInfo> {
        let id = self.conn.id;
        self.conn.stack.shared.op(|inner, _| inner.ep.info(id))
    }

    /// Turn Nagle's algorithm off (`true`, TCP_NODELAY) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let id = self.conn.id;
        self.conn
            .stack
            .shared
            .op(|inner, _| inner.ep.set_nodelay(id, nodelay))
            .map_err(to_io_error)
    }

    /// ABORT (RFC 9293 §3.10.5; like closing with `SO_LINGER` 0): send RST and
    /// drop everything queued. The peer's next call fails with `ConnectionReset`.
    pub fn abort(self) {
        self.conn.abort();
    }

    /// Split into a read half and a write half that can move to different tasks.
    /// Dropping the write half half-closes (FIN), as tokio's does; the connection
    /// is closed when both halves are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                conn: self.conn.clone(),
            },
            OwnedWriteHalf { conn: self.conn },
        )
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.conn.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_shutdown()
    }
}

/// The reading half of a [`TcpStream`] (from [`TcpStream::into_split`]).
pub struct OwnedReadHalf {
    conn: Arc<Conn>,
}

/// The writing half of a [`TcpStream`] (from [`TcpStream::into_split`]).
/// Dropping it sends FIN.
pub struct OwnedWriteHalf {
    conn: Arc<Conn>,
}

impl std::fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedReadHalf")
            .field("peer", &self.conn.peer)
            .finish()
    }
}

impl std::fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("peer", &self.conn.peer)
            .finish()
    }
}

impl OwnedReadHalf {
    /// The local address and port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.local)
    }
    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.peer)
    }
}

impl OwnedWriteHalf {
    /// The local address and port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.local)
    }
    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.peer)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        let _ = self.conn.poll_shutdown();
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.conn.poll_read(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_shutdown()
    }
}
