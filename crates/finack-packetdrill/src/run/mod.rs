//! The interpreter: runs a parsed script in virtual time against one
//! [`finack_core::Endpoint`].
//!
//! Addressing follows packetdrill's conventions, inside the runner only: the
//! stack under test is 192.168.0.1, the script side 192.0.2.1, the server port
//! 8080. Inbound sequence numbers are offset by a fixed remote ISN; outbound ones
//! are made relative to the stack's ISN, learned from its first SYN.
//!
//! This is the first part of the interpreter: the socket calls of the teardown
//! scripts, packet injection, outbound matching (flags, relative seq/ack, length
//! with aggregation, window, options) and timing tolerance. Anything it does not
//! know is reported as unsupported, never silently passed.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use finack_core::wire::{emit_tcp_packet, parse_tcp_packet, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use finack_core::wire::{SackBlocks, Timestamps};
use finack_core::{
    Config, CongestionAlgorithm, ConnId, EarlyRetransmit, EcnMode, Endpoint, Error, IdleRestart,
    InitialWindow, Instant, ListenerId, MtuProbing, SendFlags, SeqNumber, Shutdown, State,
};

use crate::ast::*;

mod code;
mod config;
mod epoll;
mod errqueue;
mod files;
mod icmp;
mod nstat;
mod options;
mod packets;
mod procnet;
mod readiness;
mod shell;
mod sockopt;
mod ss;
mod syscalls;

pub use config::config_for;
use options::Settings;
pub use options::{ksft_modes, IpMode, RunOptions};
use packets::{decode_options, raw_options, Seen};
use syscalls::CallResult;

/// The stack under test's address in the runner (IPv4; see [`RunOptions`]
/// for the others).
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// The script side's address in the runner.
pub const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server port scripts use.
pub const SERVER_PORT: u16 = 8080;
/// The script side's port when the stack is the server.
const REMOTE_EPHEMERAL_PORT: u16 = 47_000;
/// The script side's ISN: inbound sequence number 0 maps to this.
const REMOTE_ISN: u32 = 1_000_000;
/// packetdrill's default timing tolerance.
const DEFAULT_TOLERANCE_US: i64 = 4_000;

/// Why a script failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The script line of the failing event (0 for the whole script).
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The result of running a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `Ok` if every event matched.
    pub outcome: Result<(), Failure>,
    /// Things the runner could not check (sysctls it cannot map, code blocks, ...).
    pub unsupported: Vec<String>,
    /// Events executed before the outcome was decided.
    pub events_run: usize,
}

impl Report {
    /// True when the script passed and nothing was left unchecked.
    pub fn passed(&self) -> bool {
        self.outcome.is_ok() && self.unsupported.is_empty()
    }
}

#[derive(Clone, Debug, Default)]
struct Unbound {
    bound: Option<u16>,
}

#[derive(Clone, Debug)]
enum Sock {
    Fresh(Unbound),
    Listener(ListenerId),
    Conn(ConnId),
    /// An epoll instance and its items.
    Epoll(Vec<epoll::EpollItem>),
    /// A file opened from the runner's files (see `Runner::files`), with its
    /// size and the descriptor's offset.
    File {
        size: usize,
        offset: usize,
    },
    /// One end of a pipe: the index into `Runner::pipes`.
    Pipe {
        pipe: usize,
        write_end: bool,
    },
}

#[derive(Clone, Debug)]
struct Fd {
    sock: Sock,
    nonblocking: bool,
    /// SO_LINGER: `Some(seconds)` when on (0: close() resets).
    linger: Option<u32>,
    opts: SockOpts,
}

/// Socket options set before there is a connection to apply them to; a
/// connection made by `connect` or returned by `accept` takes its socket's (an
/// accepted one its listener's, as Linux children inherit them).
#[derive(Clone, Debug, Default)]
struct SockOpts {
    nodelay: Option<bool>,
    /// SO_SNDBUF as reported by getsockopt: twice the value set (Linux doubles
    /// it to leave room for its bookkeeping).
    sndbuf: Option<usize>,
    /// SO_RCVBUF as reported, doubled the same way.
    rcvbuf: Option<usize>,
    keepalive: Option<bool>,
    /// TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT as set.
    keepidle: Option<u32>,
    keepintvl: Option<u32>,
    keepcnt: Option<u32>,
    /// SO_RCVLOWAT as set (the engine's value once connected).
    rcvlowat: Option<u32>,
    /// TCP_SYNCNT as set.
    syncnt: Option<u32>,
    /// TCP_QUICKACK set before a connection existed.
    quickack: Option<bool>,
    /// TCP_DEFER_ACCEPT as set (seconds).
    defer_accept: Option<u32>,
    /// SO_OOBINLINE as set.
    oob_inline: Option<bool>,
    /// TCP_LINGER2 as set.
    linger2: Option<finack_core::Linger2>,
    /// TCP_WINDOW_CLAMP set before a connection existed.
    window_clamp: Option<u32>,
    user_timeout: Option<core::time::Duration>,
    /// TCP_INQ: recvmsg would carry the bytes left to read (TCP_CM_INQ).
    inq: bool,
    /// The SO_TIMESTAMPING flags set.
    timestamping: Option<i64>,
    /// TCP_CORK.
    cork: Option<bool>,
    /// TCP_THIN_LINEAR_TIMEOUTS.
    thin_lto: Option<bool>,
    /// TCP_MAXSEG (0: unset).
    user_mss: Option<u16>,
    /// IP_TOS / IPV6_TCLASS as set, without the ECN bits (the stack's).
    tos: Option<u8>,
    /// IP_MTU_DISCOVER as set: false for IP_PMTUDISC_DONT.
    pmtu_discovery: Option<bool>,
    /// TCP_NOTSENT_LOWAT as set (0: the sysctl's default).
    notsent_lowat: Option<u32>,
    /// SO_ZEROCOPY: MSG_ZEROCOPY sends of data pin user pages and report
    /// their completion on the error queue (Linux SOCK_ZEROCOPY).
    zerocopy: bool,
    /// A MSG_ZEROCOPY send with data was made on this socket: Linux queues a
    /// completion notification on the error queue (which also raises
    /// POLLERR); the runner does not model those notifications.
    zerocopy_sent: bool,
}

impl Fd {
    fn new(sock: Sock, opts: SockOpts) -> Fd {
        Fd {
            sock,
            nonblocking: false,
            linger: None,
            opts,
        }
    }
}

/// A blocking call waiting to complete.
#[derive(Clone, Debug)]
struct Pending {
    line: u32,
    call: Syscall,
    start: Instant,
}

struct Runner {
    ep: Endpoint,
    now: Instant,
    fds: HashMap<i64, Fd>,
    next_fd: i64,
    out: VecDeque<Seen>,
    local_port: Option<u16>,
    remote_port: u16,
    /// A listening socket is packetdrill's socket under test (listen()
    /// made it so; the next SYN to it makes a child).
    listening_under_test: bool,
    /// A child has been made from an inbound SYN before.
    children_made: bool,
    /// Live remote ports of earlier sockets under test: packets to them
    /// are not the script's business any more.
    retired_ports: Vec<u16>,
    local_isn: Option<u32>,
    /// Live TSval minus the script's TSval, learned from the first outbound TS option.
    ts_map: Option<u32>,
    tolerance: i64,
    /// `--tcp_ts_tick_usecs`: outbound TSvals are checked against the script,
    /// in ticks of this many microseconds (packetdrill checks them only then).
    ts_tick: Option<u32>,
    /// `--mss`: the GSO segment size of inbound TCP packets.
    gso_mss: Option<u16>,
    pending: Option<Pending>,
    /// The socket under test for `%{ }%` blocks: the last connection made by
    /// connect or accept (packetdrill's socket_under_test).
    last_conn: Option<ConnId>,
    /// Bytes a blocked write() has queued so far.
    write_done: usize,
    /// When a blocked poll() gives up.
    poll_deadline: Option<Instant>,
    /// Descriptors whose pending SO_ERROR has been read.
    error_read: Vec<i64>,
    /// Bytes a blocking read already took while it waits for more (Linux
    /// tcp_recvmsg_locked() copies what is there, then sleeps), by fd.
    partial_reads: HashMap<i64, usize>,
    /// A close() under SO_LINGER waiting for the FIN to be acknowledged:
    /// its connection and when it gives up.
    lingering: Option<(ConnId, Instant)>,
    deferred: Option<Failure>,
    unsupported: Vec<String>,
    /// The counter values `nstat` last recorded.
    nstat_history: nstat::History,
    /// Variables the script's `%{ }%` blocks assigned.
    code_vars: code::Vars,
    last_time: i64,
    /// The IP flavour, and the two addresses on the wire.
    mode: IpMode,
    local_ip: IpAddr,
    remote_ip: IpAddr,
    /// `--strict_segments`: no aggregation of outbound packets.
    strict_segments: bool,
    /// `-D NAME=value` definitions.
    defines: Vec<(String, String)>,
    /// Wakeups of each connection's and listener's waiters so far (epoll).
    conn_wakes: HashMap<ConnId, u64>,
    listener_wakes: HashMap<ListenerId, u64>,
    /// Connections a write ran out of send space on (Linux SOCK_NOSPACE):
    /// they wake their waiters once when they become writable again.
    nospace: Vec<ConnId>,
    /// The files the script's shell commands made: path and size (their
    /// bytes are zeroes, as packetdrill expects payloads to be).
    files: HashMap<String, usize>,
    /// Bytes held by each pipe.
    pipes: Vec<usize>,
    /// True while a packet, call or check follows the current event.
    later_checks: bool,
    /// The script was written for Linux 3.11 (see
    /// `config::written_for_linux_3_11`), whose getsockopt(TCP_MAXSEG)
    /// differs before a connection.
    linux_3_11: bool,
}

type Res<T> = Result<T, Failure>;

fn fail<T>(line: u32, message: impl Into<String>) -> Res<T> {
    Err(Failure {
        line,
        message: message.into(),
    })
}

impl Runner {
    fn new(cfg: Config, s: &Settings) -> Runner {
        let mut ep = Endpoint::new(cfg, [7; 16]);
        ep.add_address(s.local);
        Runner {
            ep,
            now: Instant::ZERO,
            fds: HashMap::new(),
            next_fd: 3,
            out: VecDeque::new(),
            local_port: None,
            remote_port: REMOTE_EPHEMERAL_PORT,
            listening_under_test: false,
            children_made: false,
            retired_ports: Vec::new(),
            local_isn: None,
            ts_map: None,
            tolerance: s.tolerance_us,
            ts_tick: s.ts_tick,
            gso_mss: s.gso_mss,
            pending: None,
            last_conn: None,
            write_done: 0,
            poll_deadline: None,
            error_read: Vec::new(),
            partial_reads: HashMap::new(),
            lingering: None,
            deferred: None,
            unsupported: Vec::new(),
            nstat_history: nstat::History::new(),
            code_vars: code::Vars::new(),
            last_time: 0,
            mode: s.mode,
            local_ip: s.local,
            remote_ip: s.remote,
            strict_segments: s.strict_segments,
            defines: s.defines.clone(),
            conn_wakes: HashMap::new(),
            listener_wakes: HashMap::new(),
            nospace: Vec::new(),
            files: HashMap::new(),
            pipes: Vec::new(),
            later_checks: true,
            linux_3_11: false,
        }
    }

    /// A new descriptor: the number the script expects (packetdrill maps script
    /// descriptors to live ones), else the lowest free one from 3.
    fn new_fd(&mut self, call: &Syscall) -> i64 {
        if let Some(want) = call.result.as_int().filter(|v| *v >= 0) {
            if !self.fds.contains_key(&want) {
                return want;
            }
        }
        while self.fds.contains_key(&self.next_fd) {
            self.next_fd += 1;
        }
        self.next_fd
    }

    /// Collects everything the engine wants to send now.
    fn drain(&mut self) {
        let mut buf = [0u8; 70_000];
        while let Some(n) = self.ep.poll_transmit(self.now, &mut buf) {
            let Ok((ip, tcp)) = parse_tcp_packet(&buf[..n]) else {
                self.unsupported
                    .push("the engine sent a packet the runner cannot parse".into());
                continue;
            };
            if ip.dst != self.remote_ip {
                continue;
            }
            if tcp.flags.syn() && self.local_isn.is_none() {
                self.local_isn = Some(tcp.seq.0);
                self.local_port = Some(tcp.src_port);
                if !tcp.flags.ack() {
                    self.remote_port = tcp.dst_port;
                }
            }
            let isn = self.local_isn.unwrap_or(0);
            let options = decode_options(raw_options(&buf[..n]));
            self.out.push_back(Seen {
                at: self.now,
                flags: tcp.flags,
                seq: tcp.seq.0.wrapping_sub(isn),
                len: tcp.payload.len() as u32,
                ack: tcp.ack.0.wrapping_sub(REMOTE_ISN),
                win: tcp.window,
                options,
                tos: ip.tos,
                dport: tcp.dst_port,
            });
        }
        while let Some(ev) = self.ep.poll_event() {
            self.note_event(ev);
        }
        // Linux sk_stream_write_space: a socket a write ran out of space on
        // wakes its waiters when it is writable again, once.
        let mut i = 0;
        while i < self.nospace.len() {
            let c = self.nospace[i];
            let fd = self
                .fds
                .iter()
                .find(|(_, f)| matches!(f.sock, Sock::Conn(x) if x == c))
                .map(|(fd, _)| *fd);
            if fd.is_none_or(|fd| self.poll_events(fd) & epoll::EPOLLOUT != 0) {
                self.nospace.swap_remove(i);
                *self.conn_wakes.entry(c).or_default() += 1;
            } else {
                i += 1;
            }
        }
    }

    /// Counts the wakeups an engine event stands for: data or a FIN arrived
    /// (Linux sk_data_ready), urgent data, the connection's state changed
    /// (sk_state_change), a connection waits for accept (the listener's
    /// sk_data_ready). Send space is handled through `nospace`.
    fn note_event(&mut self, ev: finack_core::Event) {
        use finack_core::Event as E;
        match ev {
            E::Readable(c) | E::PeerClosed(c) | E::Urgent(c) | E::Connected(c) => {
                *self.conn_wakes.entry(c).or_default() += 1
            }
            E::Closed { conn, .. } => *self.conn_wakes.entry(conn).or_default() += 1,
            E::Incoming(l) => *self.listener_wakes.entry(l).or_default() += 1,
            E::Writable(_) => {}
        }
    }

    /// Runs timers up to `t`, collecting output and completing a blocked call.
    fn advance(&mut self, t: Instant) -> Res<()> {
        loop {
            self.drain();
            self.try_pending()?;
            match self.ep.poll_timeout() {
                Some(due) if due <= t => {
                    self.now = self.now.max(due);
                    self.ep.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        // Tell the engine the time even when no timer is due, so that what
        // it reports (tcp_info's ages) is of now.
        self.ep.handle_timeout(self.now);
        self.drain();
        self.try_pending()
    }

    /// Completes a blocked call if it can. A failure is kept for the end of the
    /// current event, so that a packet the script waits for is reported first (as
    /// packetdrill's main thread does).
    fn try_pending(&mut self) -> Res<()> {
        if self.deferred.is_none() {
            if let Err(f) = self.try_pending_now() {
                self.deferred = Some(f);
            }
        }
        Ok(())
    }

    fn try_pending_now(&mut self) -> Res<()> {
        let Some(p) = self.pending.clone() else {
            return Ok(());
        };
        match self.exec(p.line, &p.call, true)? {
            CallResult::Blocked => Ok(()),
            CallResult::Done(v, errno) => {
                self.pending = None;
                let end = p.call.end.unwrap_or(0);
                let now = self.now.as_micros() as i64;
                if (now - end).abs() > self.tolerance {
                    return fail(
                        p.line,
                        format!(
                            "blocking system call {} returned at {} but was expected to return at {}",
                            p.call.name,
                            self.now,
                            Instant::from_micros(end.max(0) as u64)
                        ),
                    );
                }
                let _ = p.start;
                self.check_result(p.line, &p.call, v, errno)
            }
        }
    }
}

impl Runner {
    fn event(&mut self, ev: &Event) -> Res<()> {
        let line = ev.pos.line;
        let base = self.last_time;
        let (lo, hi) = match ev.time {
            EventTime::Absolute(t) => (t, Some(t)),
            EventTime::Relative(t) => (base + t, Some(base + t)),
            EventTime::Any => (base, None),
            EventTime::AbsoluteRange(a, b) => (a, Some(b)),
            EventTime::RelativeRange(a, b) => (base + a, Some(base + b)),
        };
        let at = Instant::from_micros(lo.max(0) as u64);
        match &ev.action {
            Action::Packet(Packet {
                direction: Direction::Outbound,
                body: PacketBody::Tcp(seg),
                ip,
            }) => return self.expect_outbound(line, seg, ip, lo, hi),
            Action::Packet(Packet {
                direction: Direction::Inbound,
                body: PacketBody::Tcp(seg),
                ip,
            }) => {
                self.advance(at)?;
                self.inject(line, seg, ip)?;
            }
            Action::Packet(Packet {
                direction: Direction::Inbound,
                body: PacketBody::Icmp(icmp),
                ..
            }) => {
                self.advance(at)?;
                self.inject_icmp(line, icmp)?;
            }
            Action::Packet(_) => {
                return fail(line, "outbound ICMP and UDP packets are not supported yet")
            }
            Action::Syscall(call) => {
                self.advance(at)?;
                if self.pending.is_some() {
                    return fail(line, "a blocking system call is still in progress");
                }
                let mut call = call.clone();
                if !self.defines.is_empty() {
                    call.args = call
                        .args
                        .iter()
                        .map(|a| options::substitute(a, &self.defines))
                        .collect();
                }
                if let (EventTime::Relative(_), Some(end)) = (ev.time, call.end) {
                    call.end = Some(base + end);
                }
                match self.exec(line, &call, false)? {
                    CallResult::Blocked if call.end.is_some() => {
                        self.pending = Some(Pending {
                            line,
                            call,
                            start: at,
                        });
                    }
                    CallResult::Blocked => {
                        return fail(
                            line,
                            format!(
                                "{} would block, but the script gives no start...end time",
                                call.name
                            ),
                        )
                    }
                    CallResult::Done(v, errno) => {
                        if let Some(end) = call.end {
                            let tol = self.tolerance;
                            if (lo - end).abs() > tol {
                                return fail(
                                    line,
                                    format!(
                                        "blocking system call {} returned at once, expected to block until {:.6} s",
                                        call.name,
                                        end as f64 / 1e6
                                    ),
                                );
                            }
                        }
                        self.check_result(line, &call, v, errno)?;
                    }
                }
            }
            Action::Command(c) => {
                let later = self.later_checks;
                self.command(line, &c.text, later)?;
            }
            Action::Code(c) => {
                self.advance(at)?;
                let info = self.last_conn.and_then(|c| self.ep.info(c));
                let cfg = self.ep.config();
                let from_cfg = code::FromConfig {
                    reordering: cfg.dupthresh,
                };
                match code::evaluate(&c.text, info.as_ref(), from_cfg, &mut self.code_vars) {
                    code::CodeOutcome::Held => {}
                    code::CodeOutcome::Failed(why) => return fail(line, format!("%{{}}% {why}")),
                    code::CodeOutcome::Unsupported(why) => self
                        .unsupported
                        .push(format!("line {line}: %{{}}% block not evaluated: {why}")),
                }
            }
        }
        self.last_time = lo;
        Ok(())
    }
}

/// Runs a parsed script against a fresh endpoint configured by [`config_for`],
/// with the script's own options only.
pub fn run(script: &Script) -> Report {
    run_with(script, &RunOptions::new())
}

/// Runs a parsed script with the caller's options applied after the
/// script's own (as packetdrill's command line overrides the script).
pub fn run_with(script: &Script, opts: &RunOptions) -> Report {
    let (settings, mut unchecked) = options::settings(script, opts);
    let (cfg, mut unsupported) =
        config::config_for_mode(script, settings.mode, Some(settings.remote), settings.mtu);
    unsupported.append(&mut unchecked);
    let mut r = Runner::new(cfg, &settings);
    r.linux_3_11 = config::written_for_linux_3_11(script);
    if let Some(init) = &script.init_command {
        for cmd in shell::commands(&init.text) {
            if let Some(fc) = files::file_command(&cmd) {
                r.file_command(fc);
            }
        }
    }
    let mut events_run = 0;
    let mut outcome = Ok(());
    for (i, ev) in script.events.iter().enumerate() {
        r.later_checks = script.events[i + 1..]
            .iter()
            .any(|e| !matches!(e.action, Action::Command(_)));
        let res = r.event(ev);
        if let Err(f) = res.and_then(|()| r.deferred.take().map_or(Ok(()), Err)) {
            outcome = Err(f);
            break;
        }
        events_run += 1;
    }
    if outcome.is_ok() {
        if let Some(p) = r.pending.clone() {
            let end = Instant::from_micros(p.call.end.unwrap_or(0).max(0) as u64);
            let until = end + core::time::Duration::from_micros(r.tolerance as u64);
            outcome = r
                .advance(until)
                .and_then(|()| r.deferred.take().map_or(Ok(()), Err));
            if outcome.is_ok() && r.pending.is_some() {
                outcome = fail(p.line, format!("blocking {} never returned", p.call.name));
            }
        }
    }
    unsupported.append(&mut r.unsupported);
    Report {
        outcome,
        unsupported,
        events_run,
    }
}
