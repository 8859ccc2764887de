//! Public handle, state, event and error types.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use finack_wire::TcpFlags;

use crate::time::Instant;

/// Handle of a connection. Stays valid until the connection is both CLOSED and
/// released by the application (`close`/`abort`); after that every query answers
/// as for a closed connection.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) gen: u32,
}

impl ConnId {
    /// A small number identifying the connection slot (for display).
    pub fn index(self) -> u32 {
        self.index
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.gen)
    }
}

/// Handle of a listening socket (a passive OPEN).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    pub(crate) index: u32,
    /// Never zero, so that `Option<ListenerId>` takes no more room than
    /// the handle (a connection's control block keeps one).
    pub(crate) gen: core::num::NonZeroU32,
}

impl fmt::Debug for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listener#{}.{}", self.index, self.gen)
    }
}

/// The subject of a state transition.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Socket {
    /// A connection.
    Conn(ConnId),
    /// A listener (its CLOSED <-> LISTEN transitions).
    Listener(ListenerId),
}

/// The eleven connection states of RFC 9293 §3.3.2.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a connection request.
    Listen,
    /// SYN sent, waiting for a matching SYN.
    SynSent,
    /// SYN received and sent, waiting for the ACK of our SYN.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; waiting for the local application to close.
    CloseWait,
    /// Both sides sent FIN; waiting for the ACK of ours.
    Closing,
    /// The peer closed first, we sent our FIN; waiting for its ACK.
    LastAck,
    /// Both FINs are acknowledged; waiting 2MSL for stray segments to die.
    TimeWait,
}

impl State {
    /// All eleven states in RFC order.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// The RFC's name, e.g. `FIN-WAIT-1`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// Synchronized states of RFC 9293 §3.5.2 (after the handshake).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// User calls of RFC 9293 §3.10.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserCall {
    /// Active OPEN (`connect`).
    Connect,
    /// Passive OPEN (`listen`).
    Listen,
    /// SEND on a listening socket with a remote address (RFC 9293 §3.10.2).
    SendFromListen,
    /// CLOSE (`close()`), which also releases the handle.
    Close,
    /// `shutdown()`: CLOSE of the sending direction for `Write` and `Both`
    /// (RFC 9293 §3.10.4 half-close).
    Shutdown(Shutdown),
    /// ABORT (`abort()`, or `close()` with unread data).
    Abort,
}

impl fmt::Display for UserCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserCall::Connect => "connect()",
            UserCall::Listen => "listen()",
            UserCall::SendFromListen => "send() on a listener",
            UserCall::Close => "close()",
            UserCall::Shutdown(Shutdown::Read) => "shutdown(SHUT_RD)",
            UserCall::Shutdown(Shutdown::Write) => "shutdown(SHUT_WR)",
            UserCall::Shutdown(Shutdown::Both) => "shutdown(SHUT_RDWR)",
            UserCall::Abort => "abort()",
        })
    }
}

/// Timers of RFC 9293 §3.10.8 and their Linux companions: every timer a
/// connection has, by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Retransmission timeout (RFC 6298), including the SYN and SYN,ACK
    /// retries of the handshake and retry-limit exhaustion.
    Retransmit,
    /// The 2MSL TIME-WAIT timeout.
    TimeWait,
    /// FIN-WAIT-2 timeout of an orphaned connection.
    FinWait2,
    /// USER TIMEOUT (TCP_USER_TIMEOUT).
    User,
    /// Keep-alive probes went unanswered.
    Keepalive,
    /// The persist timer: a zero-window probe is due (MUST-35, MUST-36).
    Persist,
    /// A delayed acknowledgment is due (MUST-40).
    DelayedAck,
    /// The tail loss probe timeout (RFC 8985 §7).
    LossProbe,
    /// Send or receive rings that stayed empty for
    /// `Config::buffer_release_delay` are released.
    BufferRelease,
    /// Nothing arrived from the peer for the connection's idle timeout
    /// ([`ListenerLimits::idle_timeout`]). It shares its deadline with the
    /// keep-alive timer, which also measures time since the peer was last
    /// heard from.
    Idle,
}

impl TimerKind {
    /// How many deadlines a connection keeps: one per kind, except that
    /// [`TimerKind::Idle`] shares keep-alive's.
    pub const COUNT: usize = 9;
}

/// What caused a state transition.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// An arriving segment with these flags.
    Segment(TcpFlags),
    /// A call from the application.
    User(UserCall),
    /// A timer.
    Timer(TimerKind),
    /// An ICMP error (RFC 9293 §3.9.2.2).
    Icmp,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Segment(flags) => write!(f, "rcv {flags}"),
            Cause::User(call) => write!(f, "user {call}"),
            Cause::Timer(t) => write!(f, "timeout {t:?}"),
            Cause::Icmp => f.write_str("ICMP error"),
        }
    }
}

/// One recorded state change: `(socket, from, to, cause)` at a time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When it happened.
    pub time: Instant,
    /// Which connection or listener.
    pub socket: Socket,
    /// Its local address.
    pub local: SocketAddr,
    /// Its remote address (unspecified for a listener).
    pub remote: SocketAddr,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why.
    pub cause: Cause,
}

/// Why a connection reached CLOSED (RFC 9293 MUST-12, MUST-47: the application
/// learns how a connection ended, and refused / reset / timed out are distinct).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Orderly close: both FINs exchanged and acknowledged.
    Normal,
    /// A RST answered our SYN ("connection refused").
    Refused,
    /// The peer reset an established connection ("connection reset"), or
    /// the application shut down a connection still in SYN-SENT (Linux
    /// reports that as ECONNRESET too).
    Reset,
    /// Retransmissions or the user timeout ran out ("connection timed out").
    TimedOut,
    /// The local application aborted the connection (RST sent).
    Aborted,
}

/// Events for the application, from [`crate::Endpoint::poll_event`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A listener has a connection ready for `accept`.
    Incoming(ListenerId),
    /// An active open completed (ESTABLISHED).
    Connected(ConnId),
    /// Data (or end of stream) can be read.
    Readable(ConnId),
    /// Send buffer space became available after a `send` was cut short.
    Writable(ConnId),
    /// The peer sent FIN: no more data will arrive after what is buffered.
    PeerClosed(ConnId),
    /// Urgent data was signalled (RFC 9293 MUST-32); [`crate::Endpoint::urgent_pending`]
    /// tells how much (MUST-33).
    Urgent(ConnId),
    /// The connection reached CLOSED.
    Closed {
        /// Which connection.
        conn: ConnId,
        /// How it ended.
        reason: CloseReason,
    },
}

/// Direction(s) for [`crate::Endpoint::shutdown`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shutdown {
    /// Stop reading: `recv` reports end of stream once the buffer is drained; data
    /// that still arrives is acknowledged and queued (as Linux does).
    Read,
    /// Stop writing: send FIN after the queued data (half-close).
    Write,
    /// Both.
    Both,
}

/// How long a connection the application has closed waits in FIN-WAIT-2
/// for the peer's FIN (Linux TCP_LINGER2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Linger2 {
    /// [`Config::fin_wait2_timeout`](crate::Config::fin_wait2_timeout).
    #[default]
    Default,
    /// Do not wait: `close` in FIN-WAIT-2 resets the connection, and an
    /// orphan whose FIN is acknowledged answers that ACK with a reset and
    /// is gone (Linux tcp_close(), tcp_rcv_state_process() FIN-WAIT-1 with
    /// a negative linger2).
    Abort,
    /// Wait this many seconds (1 to 120, Linux's TCP_FIN_TIMEOUT_MAX).
    Seconds(u8),
}

impl Linger2 {
    /// The value a Linux TCP_LINGER2 setsockopt sets: negative is
    /// [`Linger2::Abort`], 0 [`Linger2::Default`], a time is capped at 120 s
    /// (Linux tcp.c: do_tcp_setsockopt()).
    pub fn from_linux(secs: i64) -> Linger2 {
        match secs {
            s if s < 0 => Linger2::Abort,
            0 => Linger2::Default,
            s => Linger2::Seconds(s.min(i64::from(MAX_LINGER2_SECS)) as u8),
        }
    }
}

/// Linux TCP_FIN_TIMEOUT_MAX, in seconds.
pub(crate) const MAX_LINGER2_SECS: u8 = 120;

/// Errors of the engine's calls.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The handle does not name a live connection or listener.
    InvalidHandle,
    /// Nothing to read / no buffer space / nothing to accept right now.
    WouldBlock,
    /// The connection is not (yet) in a state that allows the call.
    NotConnected,
    /// The sending side was shut down or closed (EPIPE).
    BrokenPipe,
    /// The peer refused the connection (ECONNREFUSED).
    ConnectionRefused,
    /// The peer reset the connection (ECONNRESET).
    ConnectionReset,
    /// The connection timed out (ETIMEDOUT).
    TimedOut,
    /// The connection was aborted locally (ECONNABORTED).
    ConnectionAborted,
    /// The local address/port is taken (EADDRINUSE).
    AddrInUse,
    /// No free local port / no local address of this family (EADDRNOTAVAIL).
    AddrNotAvailable,
    /// An address is unusable: broadcast, multicast, unspecified remote, port 0 or
    /// mixed IP families (RFC 9293 MUST-46).
    InvalidAddress,
    /// An option value out of its range (EINVAL), e.g. a TCP_MAXSEG below
    /// 88 or above 32767.
    InvalidArgument,
    /// A malformed or unusable inbound packet.
    Packet(PacketError),
}

/// Why an inbound packet was not processed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// It failed to parse (see [`finack_wire::Error`]).
    Malformed(finack_wire::Error),
    /// Its destination is not one of this endpoint's addresses.
    NotLocal,
    /// Source or destination is broadcast/multicast/unspecified (MUST-57, MUST-63).
    BadAddress,
}

impl From<finack_wire::Error> for Error {
    fn from(e: finack_wire::Error) -> Error {
        Error::Packet(PacketError::Malformed(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidHandle => f.write_str("invalid connection or listener handle"),
            Error::WouldBlock => f.write_str("operation would block"),
            Error::NotConnected => f.write_str("not connected"),
            Error::BrokenPipe => f.write_str("sending side is shut down"),
            Error::ConnectionRefused => f.write_str("connection refused"),
            Error::ConnectionReset => f.write_str("connection reset by peer"),
            Error::TimedOut => f.write_str("connection timed out"),
            Error::ConnectionAborted => f.write_str("connection aborted"),
            Error::AddrInUse => f.write_str("address in use"),
            Error::AddrNotAvailable => f.write_str("address not available"),
            Error::InvalidAddress => f.write_str("invalid address"),
            Error::InvalidArgument => f.write_str("invalid argument"),
            Error::Packet(p) => fmt::Display::fmt(p, f),
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Malformed(e) => write!(f, "malformed packet: {e}"),
            PacketError::NotLocal => f.write_str("packet not addressed to us"),
            PacketError::BadAddress => {
                f.write_str("packet from or to a broadcast/multicast address")
            }
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Packet(p) => Some(p),
            _ => None,
        }
    }
}

impl core::error::Error for PacketError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            PacketError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

impl CloseReason {
    /// The error later calls on a connection that ended this way return, if any.
    pub fn error(self) -> Option<Error> {
        match self {
            CloseReason::Normal => None,
            CloseReason::Refused => Some(Error::ConnectionRefused),
            CloseReason::Reset => Some(Error::ConnectionReset),
            CloseReason::TimedOut => Some(Error::TimedOut),
            CloseReason::Aborted => Some(Error::ConnectionAborted),
        }
    }
}

/// A snapshot of one connection, like Linux's `tcp_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Current state.
    pub state: State,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// How long the connection has been in its current state (e.g. CLOSE-WAIT age).
    pub state_age: Duration,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Slow-start threshold in bytes.
    pub ssthresh: u32,
    /// Effective send MSS (MUST-16).
    pub snd_mss: u16,
    /// MSS the peer announced (or the default 536/1220, MUST-15).
    pub peer_mss: u16,
    /// Window shift we apply to the peer's window (0 when not negotiated).
    pub snd_wscale: u8,
    /// Window shift the peer applies to ours (0 when not negotiated).
    pub rcv_wscale: u8,
    /// Timestamps negotiated.
    pub timestamps: bool,
    /// SACK-permitted negotiated.
    pub sack: bool,
    /// Consecutive retransmissions of the current segment (backoff count).
    pub backoff: u32,
    /// Probes (zero-window or keep-alive) sent since the peer last answered
    /// (Linux `tcpi_probes`, `icsk_probes_out`).
    pub probes: u32,
    /// All retransmitted segments so far.
    pub total_retransmits: u64,
    /// Bytes sent but not acknowledged.
    pub unacked: u32,
    /// Bytes queued and not yet sent.
    pub unsent: u32,
    /// Bytes received and not yet read by the application.
    pub readable: u32,
    /// The peer's window in bytes.
    pub snd_wnd: u32,
    /// Bytes acknowledged by the peer so far.
    pub bytes_acked: u64,
    /// In fast recovery (RFC 6675 with SACK, RFC 6582 without; Linux's
    /// `tcpi_ca_state` TCP_CA_Recovery).
    pub in_recovery: bool,
    /// The reordering the connection allows for, in segments (Linux
    /// `tp->reordering`, `tcpi_reordering`): the duplicate-ACK threshold,
    /// raised when SACKs show deeper reordering (with RACK).
    pub reordering: u32,
    /// Times reordering was detected (Linux `tp->reord_seen`,
    /// `tcpi_reord_seen`).
    pub reord_seen: u32,
    /// The loss-recovery state in Linux's numbering (`tcpi_ca_state`,
    /// include/net/tcp.h tcp_ca_state): 0 Open, 1 Disorder (duplicate ACKs
    /// or SACKed data, not yet recovering), 2 CWR (reducing the window after
    /// an ECN echo), 3 Recovery (fast recovery), 4 Loss (after a
    /// retransmission timeout, until what was outstanding then is
    /// acknowledged).
    pub ca_state: u8,
    /// Bytes received in order so far.
    pub bytes_received: u64,
    /// The last soft ICMP error about this connection (RFC 9293 SHLD-25).
    pub soft_error: Option<finack_wire::icmp::IcmpKind>,
    /// The MSS we announced (Linux `tcpi_advmss`): the MTU less the IP and
    /// TCP headers, lowered to TCP_MAXSEG when that is set.
    pub adv_mss: u16,
    /// Segments sent and not yet acknowledged, as Linux counts them
    /// (`tcpi_unacked`, packets_out): each unit of queued data (skb) in
    /// flight counts one per MSS or part of one; a SYN or a FIN sent alone
    /// counts one.
    pub unacked_segments: u32,
    /// Of those, the segments the peer acknowledged selectively (Linux
    /// `tcpi_sacked`, sacked_out), counted the same way.
    pub sacked_segments: u32,
    /// Segments RACK marked lost (Linux `tcpi_lost`, `lost_out`).
    pub lost_segments: u32,
    /// Segments retransmitted and not yet acknowledged or SACKed, as RACK's
    /// record keeps them (Linux `tcpi_retrans`, `retrans_out`).
    pub retrans_segments: u32,
    /// Time since in-order data last arrived, or since the connection was
    /// established if none has (Linux `tcpi_last_data_recv`, from
    /// `icsk_ack.lrcvtime`), in whole milliseconds; zero in TIME-WAIT,
    /// whose compact entry does not keep it.
    pub last_data_recv: Duration,
    /// The connection's low-water mark of unsent bytes (TCP_NOTSENT_LOWAT;
    /// `u32::MAX` for none).
    pub notsent_lowat: u32,
    /// The round-trip time the receiving side estimates (Linux
    /// `tcpi_rcv_rtt`, `rcv_rtt_est`): from the echoed timestamps of full
    /// segments, or without timestamps from how long a window's worth of
    /// data takes to arrive; zero before any sample.
    pub rcv_rtt: Duration,
    /// The peer's segment size as the receiver estimates it (Linux
    /// `tcpi_rcv_mss`, `icsk_ack.rcv_mss`).
    pub rcv_mss: u16,
    /// The receive buffer's size (Linux `sk_rcvbuf`, `SK_MEMINFO_RCVBUF`):
    /// `Config::recv_buffer`, SO_RCVBUF, or what autotuning grew it to.
    pub rcv_buf: u32,
    /// Memory the received data held takes (Linux `sk_rmem_alloc`,
    /// `SK_MEMINFO_RMEM_ALLOC`) under `Config::rcv_memory`; else 0.
    pub rcv_mem: u32,
    /// The bound the receive window grows under (Linux
    /// `tcpi_rcv_ssthresh`); without `Config::rcv_memory`, the buffer's
    /// free room.
    pub rcv_ssthresh: u32,
    /// The receive window last announced, unscaled (Linux `tcpi_rcv_wnd`,
    /// `rcv_wnd`).
    pub rcv_wnd: u32,
    /// The delayed-ACK time now (Linux `tcpi_ato`, `icsk_ack.ato`; zero
    /// before data arrived or without `Config::delayed_ack_max`).
    pub ato: Duration,
    /// The smallest RTT measured (Linux `tcpi_min_rtt`); `None` before a
    /// sample.
    pub min_rtt: Option<Duration>,
    /// The send buffer's size (Linux `sk_sndbuf`): `Config::send_buffer`,
    /// SO_SNDBUF, or what autotuning grew it to.
    pub snd_buf: u32,
    /// How long sending was busy and what held it back (Linux
    /// `tcpi_busy_time`, `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`).
    pub chrono: SendTimes,
    /// Segments, bytes and timeouts counted over the connection's life,
    /// and the other `tcp_info` figures below.
    pub counts: ConnCounts,
}

/// What Linux's `tcp_info` counts of a connection's traffic and timeouts,
/// with a few figures of its path and buffers (all zero in TIME-WAIT,
/// whose compact entry keeps none). The times are in whole milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnCounts {
    /// Retransmission timeouts since SND.UNA last advanced
    /// (`tcpi_retransmits`, `icsk_retransmits`).
    pub retransmits: u32,
    /// Retransmission timeouts over the connection's life, the SYN's and
    /// SYN,ACK's included (`tcpi_total_rto`).
    pub total_rto: u16,
    /// Runs of timeouts, each one starting with a timeout that none came
    /// before since SND.UNA last advanced (`tcpi_total_rto_recoveries`).
    pub total_rto_recoveries: u16,
    /// Time spent in those runs, from the first timeout of each until the
    /// loss state it led to ended, the run under way included
    /// (`tcpi_total_rto_time`).
    pub total_rto_time: Duration,
    /// Times the path's hash was picked anew after a timeout
    /// (`tcpi_rehash`; finack has no PLB, so these are Linux's
    /// `timeout_rehash`).
    pub rehash: u32,
    /// Segments sent, with or without data, retransmissions included
    /// (`tcpi_segs_out`); a passive connection's SYN,ACK is not counted.
    pub segs_out: u32,
    /// Segments received (`tcpi_segs_in`), whatever became of them; a
    /// passive connection counts its SYN and the ACK that completed the
    /// handshake, not what came while it was half open.
    pub segs_in: u32,
    /// Segments sent with data (`tcpi_data_segs_out`).
    pub data_segs_out: u32,
    /// Segments received with data (`tcpi_data_segs_in`).
    pub data_segs_in: u32,
    /// Data bytes sent, retransmissions included (`tcpi_bytes_sent`).
    pub bytes_sent: u64,
    /// Data bytes retransmitted, loss probes included
    /// (`tcpi_bytes_retrans`).
    pub bytes_retrans: u64,
    /// Segments queued out of order (`tcpi_rcv_ooopack`).
    pub rcv_ooopack: u32,
    /// Time since data (new or resent) last left (`tcpi_last_data_sent`,
    /// `lsndtime`), or since the connection was established.
    pub last_data_sent: Duration,
    /// Time since an acceptable acknowledgment last arrived
    /// (`tcpi_last_ack_recv`, `rcv_tstamp`); zero before any.
    pub last_ack_recv: Duration,
    /// The path MTU the send segment size comes from (`tcpi_pmtu`).
    pub pmtu: u32,
    /// Receive-buffer autotuning's measure of what the application reads
    /// per round trip (`tcpi_rcv_space`, `rcvq_space.space`).
    pub rcv_space: u32,
    /// Bytes queued and not yet sent, a queued FIN counting one
    /// (`tcpi_notsent_bytes`: write_seq - snd_nxt).
    pub notsent_bytes: u32,
    /// Segments the peer's D-SACKs reported received twice, dubious ones
    /// that were not too wide included (`tcpi_dsack_dups`).
    pub dsack_dups: u32,
    /// Segments the peer acknowledged or SACKed, the handshake's SYN (or
    /// SYN,ACK) included (`tcpi_delivered`).
    pub delivered: u32,
    /// Of those, the ones acknowledged by ACKs echoing congestion (ECE;
    /// `tcpi_delivered_ce`).
    pub delivered_ce: u32,
}

/// How long a connection had data to send, and how much of that time the
/// peer's window or the send buffer held it back (Linux's chronographs,
/// tcp_output.c tcp_chrono_start()/tcp_chrono_stop(), counted in whole
/// milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendTimes {
    /// Time with data queued or unacknowledged, the two below included
    /// (`tcpi_busy_time`).
    pub busy: Duration,
    /// Of that, time the peer's window held data back (`tcpi_rwnd_limited`).
    pub rwnd_limited: Duration,
    /// Of that, time the application waited for send-buffer room while
    /// everything it had queued was sent and the congestion window was not
    /// full (`tcpi_sndbuf_limited`).
    pub sndbuf_limited: Duration,
}

/// Memory an [`Endpoint`](crate::Endpoint) holds, from
/// [`Endpoint::memory_usage`](crate::Endpoint::memory_usage): allocations
/// counted by capacity (what is reserved, not only what is used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Connections the endpoint holds: live ones, those in TIME-WAIT, and
    /// closed ones whose handle the application still holds.
    pub connections: usize,
    /// Bytes held by all connections: TCBs, send and receive buffers,
    /// out-of-order lists, SACK scoreboards, unread data of closed
    /// connections (TIME-WAIT entries are in `time_wait_bytes`).
    pub connection_bytes: usize,
    /// The most any one connection holds.
    pub max_connection_bytes: usize,
    /// Of `connection_bytes`, what the connections' send and receive rings
    /// hold (with unread data of closed connections): what
    /// `Config::tcp_mem` limits, counted here by walking the connections;
    /// [`Endpoint::buffer_memory`](crate::Endpoint::buffer_memory) keeps
    /// the same figure as a running total.
    pub buffer_bytes: usize,
    /// Bytes of the endpoint's own tables and queues (slots, 4-tuple hash,
    /// timers, pending events and transition records), the TIME-WAIT table
    /// included.
    pub table_bytes: usize,
    /// Of `table_bytes`, the TIME-WAIT table's: its entries (48 bytes each),
    /// its 4-tuple index and its expiry queue.
    pub time_wait_bytes: usize,
}

/// Defences a listener applies to the connections it opens, beyond its
/// backlog. All are off by default ([`crate::Config::listener_limits`]), as in
/// Linux, whose TCP has none of them (servers get them from netfilter's
/// `connlimit` and from their own timeouts); a server turns them on for every
/// listener in its `Config` or for one with
/// [`crate::Endpoint::set_listener_limits`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Most half-open (SYN-RECEIVED) connections one peer address may hold
    /// at this listener; its further SYNs are dropped.
    pub syn_received_per_source: Option<u32>,
    /// Most connections (half-open included) one peer address may hold at
    /// this listener until they end (CLOSED or TIME-WAIT); its further SYNs
    /// are dropped.
    pub established_per_source: Option<u32>,
    /// Reset a connection this listener opened once nothing has arrived
    /// from its peer for this long in any state from ESTABLISHED on (not
    /// TIME-WAIT): the peer that connects and then neither sends nor closes,
    /// or that vanished. Whole seconds, at most 65,535 (about 18 hours);
    /// `Endpoint::set_idle_timeout` sets it on any connection.
    pub idle_timeout: Option<core::time::Duration>,
}

pub use crate::stats::Stats;

/// Most events kept for the application between two `poll_event` calls; past
/// that the oldest is dropped (and counted in [`Stats::events_dropped`]), so an
/// application that never polls costs bounded memory.
pub const MAX_EVENTS: usize = 65_536;

/// The endpoint's bounded queue of application events.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    q: alloc::collections::VecDeque<Event>,
    pub(crate) dropped: u64,
}

impl EventQueue {
    /// Queue `e`, dropping the oldest event when [`MAX_EVENTS`] are waiting.
    pub(crate) fn push(&mut self, e: Event) {
        if self.q.len() >= MAX_EVENTS {
            self.q.pop_front();
            self.dropped += 1;
        }
        self.q.push_back(e);
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.q.pop_front()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.q.capacity() * core::mem::size_of::<Event>()
    }
}

#[cfg(test)]
mod event_queue_tests {
    use super::*;

    #[test]
    fn the_event_queue_is_bounded_and_drops_the_oldest() {
        let mut q = EventQueue::default();
        let conn = |i: usize| ConnId {
            index: i as u32,
            gen: 0,
        };
        for i in 0..MAX_EVENTS + 10 {
            q.push(Event::Readable(conn(i)));
        }
        assert_eq!(q.dropped, 10);
        assert_eq!(
            q.pop(),
            Some(Event::Readable(conn(10))),
            "oldest went first"
        );
        let mut n = 1;
        while q.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_EVENTS);
    }
}

/// What receive offload did to an inbound packet before the engine sees it
/// (`Endpoint::handle_offloaded_packet`); the default is "nothing": one
/// segment whose checksum is to be verified.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RxOffload {
    /// The packet was merged from segments of this many payload bytes
    /// (GRO/LRO, or a GSO packet the host's stack wrote to a TUN device with
    /// virtio-net headers); 0: a single segment.
    pub gso_size: u16,
    /// The TCP checksum needs no verifying: a device verified it, or the
    /// host's own stack wrote the packet and left its checksum to the device
    /// (Linux `CHECKSUM_UNNECESSARY` / `CHECKSUM_PARTIAL`).
    pub checksum_trusted: bool,
}

/// Flags of a send call, as `send(2)` takes them (`Endpoint::send_with`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// MSG_MORE: more data follows soon; do not push this write (no PSH, and
    /// a partial last segment waits for the next write or event).
    pub more: bool,
    /// MSG_EOR: this write ends a record; later writes never share a
    /// segment with it.
    pub eor: bool,
    /// MSG_OOB: the write is urgent data (RFC 9293 §3.8.5, MUST-30): the
    /// urgent pointer SND.UP moves to its end, and until the peer
    /// acknowledges that far every segment starting below it carries URG
    /// and the pointer (Linux tcp_mark_urg()).
    pub oob: bool,
}
