//! `TcpStream` and its owned halves.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use finack_core::{ConnId, ConnInfo, Error, Shutdown, State};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::to_io_error;
use crate::socket::SocketOptions;
use crate::stack::Stack;

/// The application's hold on one engine connection. Dropping the last holder
/// CLOSEs it (RFC 9293 §3.10.4: FIN after queued data; RST instead if received
/// data was left unread, RFC 2525 §2.17, as Linux does).
pub(crate) struct Conn {
    stack: Stack,
    /// The worker whose engine has the connection.
    shard: usize,
    id: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
    write_shut: AtomicBool,
    /// SO_LINGER in milliseconds, `NO_LINGER` when off.
    linger_ms: AtomicU64,
}

/// `Conn::linger_ms` when SO_LINGER is off.
const NO_LINGER: u64 = u64::MAX;

impl Drop for Conn {
    fn drop(&mut self) {
        let id = self.id;
        // SO_LINGER with a zero timeout: close by ABORT (RST), as Linux does.
        let abort = self.linger_ms.load(Ordering::Relaxed) == 0;
        self.stack.shared.op(self.shard, |inner, now| {
            inner.conns.remove(&id);
            let _ = if abort {
                inner.ep.abort(now, id)
            } else {
                inner.ep.close(now, id)
            };
        });
        tracing::debug!(target: "finack", conn = ?id, peer = %self.peer, abort, "socket dropped");
    }
}

impl Conn {
    fn new(stack: Stack, shard: usize, id: ConnId, fallback_peer: SocketAddr) -> Conn {
        let (local, peer) = stack
            .shared
            .op(shard, |inner, _| {
                inner.conns.entry(id).or_default();
                inner.ep.addrs(id)
            })
            .unwrap_or((unspecified_like(&fallback_peer), fallback_peer));
        Conn {
            stack,
            shard,
            id,
            local,
            peer,
            write_shut: AtomicBool::new(false),
            linger_ms: AtomicU64::new(NO_LINGER),
        }
    }

    pub(crate) fn set_linger(&self, linger: Option<Duration>) {
        let ms = linger.map_or(NO_LINGER, |d| {
            u64::try_from(d.as_millis()).unwrap_or(NO_LINGER - 1)
        });
        self.linger_ms.store(ms, Ordering::Relaxed);
    }

    fn linger(&self) -> Option<Duration> {
        match self.linger_ms.load(Ordering::Relaxed) {
            NO_LINGER => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Ready to read: `recv` would not block (data, end of stream or an
    /// error is there).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.stack.shared.op(self.shard, |inner, _| {
            match inner.ep.peek(id, &mut [0u8; 1]) {
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().read = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(Ok(())),
            }
        })
    }

    /// Ready to write: `send` would take bytes (or fail at once).
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.stack.shared.op(self.shard, |inner, _| {
            let state = inner.ep.state(id);
            let can_send = matches!(state, State::Established | State::CloseWait);
            if inner.ep.writable(id) || !can_send {
                Poll::Ready(Ok(()))
            } else {
                inner.conns.entry(id).or_default().write = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let id = self.id;
        self.stack
            .shared
            .op(self.shard, |inner, now| inner.ep.recv(now, id, buf))
            .map_err(to_io_error)
    }

    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        if self.write_shut.load(Ordering::Relaxed) {
            return Err(to_io_error(Error::BrokenPipe));
        }
        let id = self.id;
        self.stack
            .shared
            .op(self.shard, |inner, now| inner.ep.send(now, id, data))
            .map_err(to_io_error)
    }

    fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.stack
            .shared
            .op(self.shard, |inner, _| match inner.ep.peek(id, buf) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().read = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(to_io_error(e))),
            })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let id = self.id;
        self.stack.shared.op(self.shard, |inner, now| {
            match inner.ep.recv(now, id, buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().read = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(to_io_error(e))),
            }
        })
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
        self.stack.shared.op(self.shard, |inner, now| {
            match inner.ep.send(now, id, data) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(Error::WouldBlock) => {
                    inner.conns.entry(id).or_default().write = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(to_io_error(e))),
            }
        })
    }

    /// Half-close: queue a FIN behind the data already written (RFC 9293 §3.10.4,
    /// shutdown(2) SHUT_WR). Only the first call acts.
    fn poll_shutdown(&self) -> Poll<io::Result<()>> {
        if self.write_shut.swap(true, Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        let id = self.id;
        let r = self.stack.shared.op(self.shard, |inner, now| {
            inner.ep.shutdown(now, id, Shutdown::Write)
        });
        Poll::Ready(r.map_err(to_io_error))
    }

    fn abort(&self) {
        let id = self.id;
        self.stack.shared.op(self.shard, |inner, now| {
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
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, TcpListener, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (a, b) = Stack::pair();
/// let listener = TcpListener::bind(&b, "192.0.2.2:7".parse().unwrap())?;
/// let mut client = TcpStream::connect(&a, "192.0.2.2:7".parse().unwrap()).await?;
/// let (server, _) = listener.accept().await?;
/// // Echo on the server with its owned halves, in a task of its own.
/// tokio::spawn(async move {
///     let (mut r, mut w) = server.into_split();
///     tokio::io::copy(&mut r, &mut w).await
/// });
/// client.write_all(b"hello").await?;
/// client.shutdown().await?; // FIN: a half-close, reading goes on
/// let mut back = Vec::new();
/// client.read_to_end(&mut back).await?;
/// assert_eq!(back, b"hello");
/// # Ok(())
/// # }
/// ```
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
    shard: usize,
    id: Option<ConnId>,
}

impl Drop for ConnectGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.stack.shared.op(self.shard, |inner, now| {
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
        TcpStream::connect_with(stack, None, addr, SocketOptions::default()).await
    }

    /// Active OPEN from `local` (or an ephemeral port), with `opts` set
    /// before the SYN goes out.
    pub(crate) async fn connect_with(
        stack: &Stack,
        local: Option<SocketAddr>,
        addr: SocketAddr,
        opts: SocketOptions,
    ) -> io::Result<TcpStream> {
        let from = local.unwrap_or_else(|| unspecified_like(&addr));
        let (shard, id) = stack
            .shared
            .connect(from, addr, |inner, _, id| opts.apply(&mut inner.ep, id))
            .map_err(to_io_error)?;
        let mut guard = ConnectGuard {
            stack,
            shard,
            id: Some(id),
        };
        poll_fn(|cx| {
            stack.shared.op(shard, |inner, _| {
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
        let conn = Conn::new(stack.clone(), shard, id, addr);
        conn.set_linger(opts.linger);
        tracing::debug!(target: "finack", conn = ?id, local = %conn.local, peer = %addr, "connected");
        Ok(TcpStream {
            conn: Arc::new(conn),
        })
    }

    pub(crate) fn accepted(
        stack: Stack,
        shard: usize,
        id: ConnId,
        listen_addr: SocketAddr,
        linger: Option<Duration>,
    ) -> TcpStream {
        let conn = Conn::new(stack, shard, id, listen_addr);
        conn.set_linger(linger);
        tracing::debug!(target: "finack", conn = ?id, local = %conn.local, peer = %conn.peer, "accepted");
        TcpStream {
            conn: Arc::new(conn),
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
        self.conn
            .stack
            .shared
            .op(self.conn.shard, |inner, _| inner.ep.state(id))
    }

    /// A snapshot like Linux's `tcp_info` (`None` once CLOSED).
    pub fn info(&self) -> Option<ConnInfo> {
        let id = self.conn.id;
        self.conn
            .stack
            .shared
            .op(self.conn.shard, |inner, _| inner.ep.info(id))
    }

    /// Turn Nagle's algorithm off (`true`, TCP_NODELAY) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let id = self.conn.id;
        self.conn
            .stack
            .shared
            .op(self.conn.shard, |inner, _| {
                inner.ep.set_nodelay(id, nodelay)
            })
            .map_err(to_io_error)
    }

    /// ABORT (RFC 9293 §3.10.5; like closing with `SO_LINGER` 0): send RST and
    /// drop everything queued. The peer's next call fails with `ConnectionReset`.
    pub fn abort(self) {
        self.conn.abort();
    }

    /// SO_LINGER. `Some(Duration::ZERO)`: dropping the stream aborts the
    /// connection with RST instead of closing it (RFC 9293 §3.10.5), as
    /// Linux does. Any other value is kept and reported by
    /// [`TcpStream::linger`], but a drop cannot wait the way a blocking
    /// `close(2)` would: the stack always finishes the close in the
    /// background (await `shutdown` and read to the end to wait for it).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.conn.set_linger(linger);
        Ok(())
    }

    /// The SO_LINGER value set by [`TcpStream::set_linger`].
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.conn.linger())
    }

    /// Turn keep-alive probes on or off (SO_KEEPALIVE; `Config::keepalive_*`
    /// set their timing).
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        let id = self.conn.id;
        self.conn
            .stack
            .shared
            .op(self.conn.shard, |inner, _| inner.ep.set_keepalive(id, on))
            .map_err(to_io_error)
    }

    /// Keep-alive timing for this connection alone (TCP_KEEPIDLE,
    /// TCP_KEEPINTVL, TCP_KEEPCNT, as socket2's `TcpKeepalive` sets them):
    /// the first probe after `idle` of silence, then one every `interval`
    /// while unanswered, the connection reset after `retries` unanswered.
    /// Times are whole seconds (rounded up), 1 s to 32767 s; `retries` 1 to
    /// 127 (`InvalidInput` otherwise). Probes go only with
    /// [`TcpStream::set_keepalive`] on.
    pub fn set_keepalive_times(
        &self,
        idle: Duration,
        interval: Duration,
        retries: u32,
    ) -> io::Result<()> {
        let id = self.conn.id;
        self.conn
            .stack
            .shared
            .op(self.conn.shard, |inner, _| {
                inner.ep.set_keepalive_idle(id, idle)?;
                inner.ep.set_keepalive_interval(id, interval)?;
                inner.ep.set_keepalive_count(id, retries)
            })
            .map_err(to_io_error)
    }

    /// Wait until the stream is readable: data, the end of the stream or an
    /// error is there, so [`TcpStream::try_read`] will not return
    /// `WouldBlock` (unless another task reads first).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.conn.poll_read_ready(cx)).await
    }

    /// Wait until the stream is writable: [`TcpStream::try_write`] will take
    /// bytes or fail at once.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.conn.poll_write_ready(cx)).await
    }

    /// Read what is there without waiting: `Ok(0)` at the end of the stream,
    /// `ErrorKind::WouldBlock` when nothing has arrived.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn.try_read(buf)
    }

    /// Write what fits without waiting; `ErrorKind::WouldBlock` when the send
    /// buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.conn.try_write(buf)
    }

    /// Wait for data and copy it into `buf` without consuming it (MSG_PEEK):
    /// the next read returns the same bytes. `Ok(0)` at the end of the stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.conn.poll_peek(cx, buf)).await
    }

    /// Split into a read half and a write half borrowed from the stream, for
    /// use in one task (`tokio::join!`, `select!`). Shutting the write half
    /// down half-closes; dropping it does not.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (
            ReadHalf { conn: &self.conn },
            WriteHalf { conn: &self.conn },
        )
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

/// The reading half of a [`TcpStream`] (from [`TcpStream::into_split`]);
/// see the example on [`TcpStream`].
pub struct OwnedReadHalf {
    conn: Arc<Conn>,
}

/// The writing half of a [`TcpStream`] (from [`TcpStream::into_split`]).
/// Dropping it sends FIN; see the example on [`TcpStream`].
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

/// The reading half of a [`TcpStream`] borrowed by [`TcpStream::split`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use finack::{Stack, TcpListener, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (a, b) = Stack::pair();
/// let listener = TcpListener::bind(&b, "192.0.2.2:7".parse().unwrap())?;
/// let mut client = TcpStream::connect(&a, "192.0.2.2:7".parse().unwrap()).await?;
/// let (mut server, _) = listener.accept().await?;
/// client.write_all(b"ping").await?;
/// let (mut r, mut w) = server.split();
/// let mut got = [0u8; 4];
/// r.read_exact(&mut got).await?;
/// w.write_all(&got).await?;
/// client.read_exact(&mut got).await?;
/// assert_eq!(&got, b"ping");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ReadHalf<'a> {
    conn: &'a Conn,
}

/// The writing half of a [`TcpStream`] borrowed by [`TcpStream::split`];
/// see the example on [`ReadHalf`].
#[derive(Debug)]
pub struct WriteHalf<'a> {
    conn: &'a Conn,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

/// `AsyncRead` for a type whose `conn` field reads the connection.
macro_rules! read_through_conn {
    ($($t:ty),*) => {$(
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.conn.poll_read(cx, buf)
            }
        }
    )*};
}

/// `AsyncWrite` for a type whose `conn` field writes the connection:
/// `poll_flush` has nothing to do (the stack sends what it can at once),
/// `poll_shutdown` half-closes (FIN).
macro_rules! write_through_conn {
    ($($t:ty),*) => {$(
        impl AsyncWrite for $t {
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
    )*};
}

read_through_conn!(TcpStream, OwnedReadHalf, ReadHalf<'_>);
write_through_conn!(TcpStream, OwnedWriteHalf, WriteHalf<'_>);
