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
    Config, ConnId, Endpoint, Error, Instant, ListenerId, SeqNumber, Shutdown, State,
};

use crate::ast::*;

/// The stack under test's address in the runner.
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

/// Builds the engine configuration a script asks for: `Config::linux()` plus the
/// sysctls of packetdrill's `defaults.sh` and any `set_sysctls.py` lines in the
/// init command. Lines it cannot map are returned.
pub fn config_for(script: &Script) -> (Config, Vec<String>) {
    let mut cfg = Config::linux();
    let mut unsupported = Vec::new();
    let Some(init) = &script.init_command else {
        return (cfg, unsupported);
    };
    for line in init.lines() {
        if line.ends_with("defaults.sh") {
            // tcp_rmem = "4096 540000 15728640": Linux picks the smallest shift that
            // lets the 15 MiB maximum fit in a 16-bit window: 8.
            cfg.window_scale = 8;
            cfg.timestamps = true;
            cfg.sack = true;
            cfg.syn_retries = 5;
            cfg.synack_retries = 5;
            cfg.dupthresh = 3;
            cfg.send_buffer = 256 * 1024;
            continue;
        }
        if line.contains("set_sysctls.py") {
            for arg in line.split_whitespace().skip(1) {
                let Some((key, value)) = arg.split_once('=') else {
                    unsupported.push(format!("init: cannot read sysctl '{arg}'"));
                    continue;
                };
                let name = key.rsplit('/').next().unwrap_or(key);
                let num: Option<u32> = value.parse().ok();
                match (name, num) {
                    ("tcp_timestamps", Some(v)) => cfg.timestamps = v != 0,
                    ("tcp_sack", Some(v)) => cfg.sack = v != 0,
                    ("tcp_window_scaling", Some(v)) => cfg.window_scaling = v != 0,
                    ("tcp_syn_retries", Some(v)) => cfg.syn_retries = v,
                    ("tcp_synack_retries", Some(v)) => cfg.synack_retries = v,
                    ("tcp_reordering", Some(v)) => cfg.dupthresh = v,
                    _ => {
                        unsupported.push(format!("init: sysctl {name}={value} has no Config field"))
                    }
                }
            }
            continue;
        }
        unsupported.push(format!("init: command not supported: {line}"));
    }
    (cfg, unsupported)
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
}

#[derive(Clone, Debug)]
struct Fd {
    sock: Sock,
    nonblocking: bool,
    linger_zero: bool,
}

/// An outbound packet seen on the wire, already made relative.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    flags: TcpFlags,
    seq: u32,
    len: u32,
    ack: u32,
    win: u16,
    options: Vec<TcpOption>,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}:{}({})",
            flags_text(self.flags),
            self.seq,
            self.seq.wrapping_add(self.len),
            self.len
        )?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.win)?;
        if !self.options.is_empty() {
            write!(f, " <{}>", options_text(&self.options))?;
        }
        write!(f, " at {}", self.at)
    }
}

fn flags_text(f: TcpFlags) -> String {
    Flags {
        fin: f.fin(),
        syn: f.syn(),
        rst: f.rst(),
        psh: f.psh(),
        ack: f.ack(),
        urg: f.urg(),
        ece: f.ece(),
        cwr: f.cwr(),
        ae: false,
    }
    .to_string()
}

fn options_text(opts: &[TcpOption]) -> String {
    opts.iter()
        .map(|o| match o {
            TcpOption::Nop => "nop".to_string(),
            TcpOption::Eol => "eol".to_string(),
            TcpOption::Mss(v) => format!("mss {v}"),
            TcpOption::WindowScale(v) => format!("wscale {v}"),
            TcpOption::SackPermitted => "sackOK".to_string(),
            TcpOption::Sack(b) => format!(
                "sack {}",
                b.iter()
                    .map(|(l, r)| format!("{l}:{r}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            TcpOption::Timestamp { val, ecr } => format!("TS val {val} ecr {ecr}"),
            TcpOption::FastOpen {
                experimental,
                cookie,
            } => {
                format!("{} {cookie}", if *experimental { "FOEXP" } else { "FO" })
            }
            TcpOption::Md5(d) => format!("md5 {d}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn script_flags_to_wire(f: &Flags) -> TcpFlags {
    let mut out = TcpFlags::empty();
    for (on, bit) in [
        (f.fin, TcpFlags::FIN),
        (f.syn, TcpFlags::SYN),
        (f.rst, TcpFlags::RST),
        (f.psh, TcpFlags::PSH),
        (f.ack, TcpFlags::ACK),
        (f.urg, TcpFlags::URG),
        (f.ece, TcpFlags::ECE),
        (f.cwr, TcpFlags::CWR),
    ] {
        if on {
            out = out.union(bit);
        }
    }
    out
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
    local_isn: Option<u32>,
    /// Live TSval minus the script's TSval, learned from the first outbound TS option.
    ts_map: Option<u32>,
    tolerance: i64,
    pending: Option<Pending>,
    deferred: Option<Failure>,
    unsupported: Vec<String>,
    last_time: i64,
}

type Res<T> = Result<T, Failure>;

fn fail<T>(line: u32, message: impl Into<String>) -> Res<T> {
    Err(Failure {
        line,
        message: message.into(),
    })
}

/// Linux errno numbers and texts, for the messages packetdrill prints.
fn errno_info(name: &str) -> (i32, &'static str) {
    match name {
        "EPIPE" => (32, "Broken pipe"),
        "EAGAIN" => (11, "Resource temporarily unavailable"),
        "EINVAL" => (22, "Invalid argument"),
        "EBADF" => (9, "Bad file descriptor"),
        "ENOTCONN" => (107, "Transport endpoint is not connected"),
        "ECONNREFUSED" => (111, "Connection refused"),
        "ECONNRESET" => (104, "Connection reset by peer"),
        "ETIMEDOUT" => (110, "Connection timed out"),
        "ECONNABORTED" => (103, "Software caused connection abort"),
        "EADDRINUSE" => (98, "Address already in use"),
        "EADDRNOTAVAIL" => (99, "Cannot assign requested address"),
        "EINPROGRESS" => (115, "Operation now in progress"),
        "EPROTONOSUPPORT" => (93, "Protocol not supported"),
        "ENOPROTOOPT" => (92, "Protocol not available"),
        "EISCONN" => (106, "Transport endpoint is already connected"),
        _ => (0, "Unknown error"),
    }
}

fn errno_of(e: Error) -> &'static str {
    match e {
        Error::WouldBlock => "EAGAIN",
        Error::NotConnected => "ENOTCONN",
        Error::BrokenPipe => "EPIPE",
        Error::ConnectionRefused => "ECONNREFUSED",
        Error::ConnectionReset => "ECONNRESET",
        Error::TimedOut => "ETIMEDOUT",
        Error::ConnectionAborted => "ECONNABORTED",
        Error::AddrInUse => "EADDRINUSE",
        Error::AddrNotAvailable => "EADDRNOTAVAIL",
        Error::InvalidHandle => "EBADF",
        _ => "EINVAL",
    }
}

/// What a system call did.
enum CallResult {
    /// Returned this value (errno name when negative).
    Done(i64, Option<&'static str>),
    /// Would block; try again later.
    Blocked,
}

impl Runner {
    fn new(cfg: Config, tolerance: i64) -> Runner {
        let mut ep = Endpoint::new(cfg, [7; 16]);
        ep.add_address(IpAddr::V4(LOCAL_IP));
        Runner {
            ep,
            now: Instant::ZERO,
            fds: HashMap::new(),
            next_fd: 3,
            out: VecDeque::new(),
            local_port: None,
            remote_port: REMOTE_EPHEMERAL_PORT,
            local_isn: None,
            ts_map: None,
            tolerance,
            pending: None,
            deferred: None,
            unsupported: Vec::new(),
            last_time: 0,
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
            if ip.dst != IpAddr::V4(REMOTE_IP) {
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
            });
        }
        while self.ep.poll_event().is_some() {}
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

    fn check_result(&self, line: u32, call: &Syscall, got: i64, errno: Option<&str>) -> Res<()> {
        let want = match &call.result {
            Expr::Int(v) => *v,
            Expr::Ellipsis => return Ok(()),
            other => return fail(line, format!("unsupported result expression {other}")),
        };
        let errtext = |e: Option<&str>| {
            let name = e.unwrap_or("EINVAL");
            let (n, text) = errno_info(name);
            format!("with errno {n} ({text})")
        };
        if want >= 0 && got < 0 {
            return fail(
                line,
                format!(
                    "runtime error in {} call: Expected non-negative result but got {got} {}",
                    call.name,
                    errtext(errno)
                ),
            );
        }
        if want != got {
            let tail = if got < 0 {
                format!(" {}", errtext(errno))
            } else {
                String::new()
            };
            return fail(
                line,
                format!(
                    "runtime error in {} call: Expected result {want} but got {got}{tail}",
                    call.name
                ),
            );
        }
        if got < 0 {
            if let Some(want_errno) = &call.errno {
                if Some(want_errno.as_str()) != errno {
                    return fail(
                        line,
                        format!(
                            "runtime error in {} call: Expected errno {want_errno} but got {}",
                            call.name,
                            errno.unwrap_or("none")
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn fd_arg(&self, line: u32, call: &Syscall) -> Res<i64> {
        match call.args.first().and_then(Expr::as_int) {
            Some(fd) => Ok(fd),
            None => fail(
                line,
                format!("{}: first argument must be a file descriptor", call.name),
            ),
        }
    }

    fn local_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(LOCAL_IP), port)
    }

    fn conn_of(&self, line: u32, call: &Syscall) -> Res<ConnId> {
        let fd = self.fd_arg(line, call)?;
        match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Conn(c)) => Ok(*c),
            _ => fail(
                line,
                format!("{}: fd {fd} is not a connected socket", call.name),
            ),
        }
    }

    fn done(r: Result<usize, Error>) -> CallResult {
        match r {
            Ok(n) => CallResult::Done(n as i64, None),
            Err(Error::WouldBlock) => CallResult::Blocked,
            Err(e) => CallResult::Done(-1, Some(errno_of(e))),
        }
    }

    /// Executes (or retries, when `retry`) a system call.
    fn exec(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let name = call.name.as_str();
        let arg = |i: usize| call.args.get(i);
        let r = match name {
            "socket" => {
                let proto = arg(2).and_then(Expr::as_word);
                if proto.is_some_and(|p| p != "IPPROTO_TCP") {
                    return Ok(CallResult::Done(-1, Some("EPROTONOSUPPORT")));
                }
                let fd = self.new_fd(call);
                self.fds.insert(
                    fd,
                    Fd {
                        sock: Sock::Fresh(Unbound::default()),
                        nonblocking: false,
                        linger_zero: false,
                    },
                );
                CallResult::Done(fd, None)
            }
            "bind" => {
                let fd = self.fd_arg(line, call)?;
                match self.fds.get_mut(&fd) {
                    Some(Fd {
                        sock: Sock::Fresh(u),
                        ..
                    }) => {
                        u.bound = Some(SERVER_PORT);
                        CallResult::Done(0, None)
                    }
                    _ => CallResult::Done(-1, Some("EINVAL")),
                }
            }
            "listen" => {
                let fd = self.fd_arg(line, call)?;
                let backlog = arg(1).and_then(Expr::as_int).unwrap_or(1).max(1) as usize;
                let Some(f) = self.fds.get(&fd).cloned() else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                let Sock::Fresh(u) = f.sock else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                let port = u.bound.unwrap_or(SERVER_PORT);
                match self.ep.listen(self.local_addr(port), backlog) {
                    Ok(l) => {
                        self.local_port = Some(port);
                        self.fds.get_mut(&fd).expect("fd").sock = Sock::Listener(l);
                        CallResult::Done(0, None)
                    }
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                }
            }
            "accept" => {
                let fd = self.fd_arg(line, call)?;
                let Some(Fd {
                    sock: Sock::Listener(l),
                    nonblocking,
                    ..
                }) = self.fds.get(&fd).cloned()
                else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                match self.ep.accept(l) {
                    Ok(c) => {
                        let nfd = self.new_fd(call);
                        self.fds.insert(
                            nfd,
                            Fd {
                                sock: Sock::Conn(c),
                                nonblocking: false,
                                linger_zero: false,
                            },
                        );
                        CallResult::Done(nfd, None)
                    }
                    Err(Error::WouldBlock) if !nonblocking => CallResult::Blocked,
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                }
            }
            "connect" => {
                let fd = self.fd_arg(line, call)?;
                let Some(f) = self.fds.get(&fd).cloned() else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                match f.sock {
                    Sock::Fresh(u) if !retry => {
                        let local = self.local_addr(u.bound.unwrap_or(0));
                        let remote = SocketAddr::new(IpAddr::V4(REMOTE_IP), SERVER_PORT);
                        match self.ep.connect(self.now, local, remote) {
                            Ok(c) => {
                                self.fds.get_mut(&fd).expect("fd").sock = Sock::Conn(c);
                                self.drain();
                                if f.nonblocking {
                                    CallResult::Done(-1, Some("EINPROGRESS"))
                                } else {
                                    CallResult::Blocked
                                }
                            }
                            Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                        }
                    }
                    Sock::Conn(c) => match self.ep.state(c) {
                        State::SynSent | State::SynReceived if retry => CallResult::Blocked,
                        State::SynSent | State::SynReceived => {
                            CallResult::Done(-1, Some("EALREADY"))
                        }
                        State::Closed => match self.ep.close_reason(c).and_then(|r| r.error()) {
                            Some(e) => CallResult::Done(-1, Some(errno_of(e))),
                            None => CallResult::Done(-1, Some("ECONNABORTED")),
                        },
                        _ if retry => CallResult::Done(0, None),
                        _ => CallResult::Done(-1, Some("EISCONN")),
                    },
                    _ => CallResult::Done(-1, Some("EINVAL")),
                }
            }
            "write" | "send" => {
                let c = self.conn_of(line, call)?;
                let Some(len) = arg(2).and_then(Expr::as_int) else {
                    return fail(line, format!("{name}: length must be an integer"));
                };
                let data = vec![0u8; len.max(0) as usize];
                let r = Self::done(self.ep.send(c, &data));
                self.drain();
                r
            }
            "read" | "recv" => {
                let c = self.conn_of(line, call)?;
                let Some(len) = arg(2).and_then(Expr::as_int) else {
                    return fail(line, format!("{name}: length must be an integer"));
                };
                let mut data = vec![0u8; len.max(0) as usize];
                let r = Self::done(self.ep.recv(c, &mut data));
                self.drain();
                r
            }
            "shutdown" => {
                let c = self.conn_of(line, call)?;
                let how = match arg(1).and_then(Expr::as_word) {
                    Some("SHUT_RD") => Shutdown::Read,
                    Some("SHUT_WR") => Shutdown::Write,
                    Some("SHUT_RDWR") => Shutdown::Both,
                    _ => return fail(line, "shutdown: expected SHUT_RD, SHUT_WR or SHUT_RDWR"),
                };
                let r = match self.ep.shutdown(c, how) {
                    Ok(()) => CallResult::Done(0, None),
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                };
                self.drain();
                r
            }
            "close" => {
                let fd = self.fd_arg(line, call)?;
                let Some(f) = self.fds.remove(&fd) else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                let r = match f.sock {
                    Sock::Fresh(_) => Ok(()),
                    Sock::Listener(l) => self.ep.close_listener(l),
                    Sock::Conn(c) if f.linger_zero => self.ep.abort(c),
                    Sock::Conn(c) => self.ep.close(c),
                };
                self.drain();
                match r {
                    Ok(()) => CallResult::Done(0, None),
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                }
            }
            "setsockopt" => self.setsockopt(line, call)?,
            "fcntl" => {
                let fd = self.fd_arg(line, call)?;
                let cmd = arg(1).and_then(Expr::as_word);
                let Some(f) = self.fds.get_mut(&fd) else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                match cmd {
                    Some("F_SETFL") => {
                        f.nonblocking =
                            arg(2).is_some_and(|e| e.to_string().contains("O_NONBLOCK"));
                        CallResult::Done(0, None)
                    }
                    _ => return fail(line, format!("fcntl: unsupported command {:?}", cmd)),
                }
            }
            "getsockopt" => {
                let c = self.conn_of(line, call)?;
                let opt = arg(2).and_then(Expr::as_word);
                let info = self.ep.info(c);
                let value = match (opt, info) {
                    (Some("TCP_MAXSEG"), Some(i)) => i64::from(i.snd_mss),
                    _ => return fail(line, format!("getsockopt: unsupported option {:?}", opt)),
                };
                let want = arg(3).and_then(Expr::single).and_then(Expr::as_int);
                if want.is_some_and(|w| w != value) {
                    return fail(
                        line,
                        format!(
                            "getsockopt {}: expected {} but got {value}",
                            opt.unwrap_or("?"),
                            want.unwrap_or(0)
                        ),
                    );
                }
                CallResult::Done(0, None)
            }
            "ioctl" => {
                let c = self.conn_of(line, call)?;
                match arg(1).and_then(Expr::as_word) {
                    Some("SIOCINQ") | Some("FIONREAD") => {
                        let have = self.ep.info(c).map_or(0, |i| i64::from(i.readable));
                        let want = arg(2).and_then(Expr::single).and_then(Expr::as_int);
                        if want.is_some_and(|w| w != have) {
                            return fail(
                                line,
                                format!(
                                    "ioctl SIOCINQ: expected {} but got {have}",
                                    want.unwrap_or(0)
                                ),
                            );
                        }
                        CallResult::Done(0, None)
                    }
                    other => return fail(line, format!("ioctl: unsupported request {other:?}")),
                }
            }
            _ => return fail(line, format!("unsupported system call {name}")),
        };
        Ok(r)
    }

    fn setsockopt(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let opt = call.args.get(2).and_then(Expr::as_word).unwrap_or("");
        let value = call.args.get(3);
        let Some(f) = self.fds.get(&fd).cloned() else {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        };
        match opt {
            "SO_REUSEADDR" => {}
            "SO_LINGER" => {
                let v = value.ok_or_else(|| Failure {
                    line,
                    message: "SO_LINGER needs {onoff=..., linger=...}".into(),
                })?;
                let on = v.field("onoff").and_then(Expr::as_int).unwrap_or(0);
                let secs = v.field("linger").and_then(Expr::as_int).unwrap_or(0);
                if on != 0 && secs != 0 {
                    return fail(
                        line,
                        "SO_LINGER with a non-zero linger time is not supported",
                    );
                }
                self.fds.get_mut(&fd).expect("fd").linger_zero = on != 0;
            }
            "TCP_NODELAY" => {
                let on = value
                    .and_then(Expr::single)
                    .and_then(Expr::as_int)
                    .unwrap_or(0)
                    != 0;
                match f.sock {
                    Sock::Conn(c) => {
                        let _ = self.ep.set_nodelay(c, on);
                    }
                    _ => {
                        if on {
                            self.unsupported.push(format!(
                                "line {line}: TCP_NODELAY before connect is not carried over"
                            ));
                        }
                    }
                }
            }
            other => return fail(line, format!("setsockopt: unsupported option {other}")),
        }
        Ok(CallResult::Done(0, None))
    }

    fn inject(&mut self, line: u32, seg: &TcpSegment, ip: &IpInfo) -> Res<()> {
        let Some(local_port) = self.local_port else {
            return fail(
                line,
                "inbound packet before any socket is bound or connected",
            );
        };
        let (sport, dport) = seg.ports.unwrap_or((self.remote_port, local_port));
        let isn = self.local_isn.unwrap_or(0);
        let mut options = TcpOptions::default();
        for o in seg.options.iter().flatten() {
            match o {
                TcpOption::Nop | TcpOption::Eol => {}
                TcpOption::Mss(v) => options.mss = Some(*v),
                TcpOption::WindowScale(v) => options.window_scale = Some(*v),
                TcpOption::SackPermitted => options.sack_permitted = true,
                TcpOption::Sack(blocks) => {
                    let mut sb = SackBlocks::new();
                    for (l, r) in blocks {
                        sb.push(
                            SeqNumber(l.wrapping_add(isn)),
                            SeqNumber(r.wrapping_add(isn)),
                        );
                    }
                    options.sack_blocks = sb;
                }
                TcpOption::Timestamp { val, ecr } => {
                    // Map the script's idea of our TSval onto the live clock.
                    let tsecr = match self.ts_map {
                        Some(off) if *ecr != 0 => ecr.wrapping_add(off),
                        _ => *ecr,
                    };
                    options.timestamps = Some(Timestamps { tsval: *val, tsecr });
                }
                other => {
                    return fail(
                        line,
                        format!(
                            "inbound TCP option {} is not supported",
                            options_text(std::slice::from_ref(other))
                        ),
                    )
                }
            }
        }
        let payload = vec![0u8; usize::from(seg.len)];
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: SeqNumber(REMOTE_ISN.wrapping_add(seg.seq)),
            ack: SeqNumber(seg.ack.map_or(0, |a| a.wrapping_add(isn))),
            flags: script_flags_to_wire(&seg.flags),
            window: seg.win.unwrap_or(0),
            urgent: seg.urg.unwrap_or(0),
            options,
            payload: &payload,
        };
        let ipr = IpRepr {
            src: IpAddr::V4(REMOTE_IP),
            dst: IpAddr::V4(LOCAL_IP),
            ttl: ip.ttl.unwrap_or(64),
            tos: 0,
        };
        let mut buf = vec![0u8; 128 + payload.len()];
        let n = emit_tcp_packet(&ipr, &tcp, &mut buf).map_err(|e| Failure {
            line,
            message: format!("cannot build the inbound packet: {e:?}"),
        })?;
        let _ = self.ep.handle_packet(self.now, &buf[..n]);
        self.drain();
        self.try_pending()
    }
}

/// The raw TCP options area of an IPv4 packet.
fn raw_options(packet: &[u8]) -> Vec<u8> {
    let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
    let Some(tcp) = packet.get(ihl..) else {
        return Vec::new();
    };
    let doff = usize::from(tcp.get(12).map_or(0, |b| b >> 4)) * 4;
    tcp.get(20..doff).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Decodes an options area in wire order, SACK blocks made relative to the
/// script side's ISN.
fn decode_options(raw: Vec<u8>) -> Vec<TcpOption> {
    let mut out = Vec::new();
    let mut i = 0;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    while i < raw.len() {
        match raw[i] {
            0 => {
                out.push(TcpOption::Eol);
                break;
            }
            1 => {
                out.push(TcpOption::Nop);
                i += 1;
                continue;
            }
            _ => {}
        }
        let kind = raw[i];
        let len = usize::from(raw.get(i + 1).copied().unwrap_or(0));
        if len < 2 || i + len > raw.len() {
            break;
        }
        let body = &raw[i + 2..i + len];
        match (kind, body.len()) {
            (2, 2) => out.push(TcpOption::Mss(u16::from_be_bytes([body[0], body[1]]))),
            (3, 1) => out.push(TcpOption::WindowScale(body[0])),
            (4, 0) => out.push(TcpOption::SackPermitted),
            (5, n) if n % 8 == 0 => out.push(TcpOption::Sack(
                body.chunks(8)
                    .map(|c| {
                        (
                            be32(&c[..4]).wrapping_sub(REMOTE_ISN),
                            be32(&c[4..]).wrapping_sub(REMOTE_ISN),
                        )
                    })
                    .collect(),
            )),
            (8, 8) => out.push(TcpOption::Timestamp {
                val: be32(&body[..4]),
                ecr: be32(&body[4..]),
            }),
            _ => out.push(TcpOption::Md5(format!("kind{kind}"))),
        }
        i += len;
    }
    out
}

impl Runner {
    fn tolerance_for(&self, expected: i64) -> i64 {
        self.tolerance.max((expected - self.last_time) / 8)
    }

    /// Waits for the next outbound packet, up to `deadline`.
    fn next_outbound(&mut self, deadline: Instant) -> Res<Option<Seen>> {
        loop {
            if let Some(p) = self.out.pop_front() {
                return Ok(Some(p));
            }
            match self.ep.poll_timeout() {
                Some(t) if t <= deadline => self.advance(t.max(self.now))?,
                _ => {
                    self.advance(deadline)?;
                    return Ok(self.out.pop_front());
                }
            }
        }
    }

    fn expect_outbound(
        &mut self,
        line: u32,
        seg: &TcpSegment,
        lo: i64,
        hi: Option<i64>,
    ) -> Res<()> {
        let tol = self.tolerance_for(lo);
        let deadline = match hi {
            Some(h) => Instant::from_micros((h + tol).max(0) as u64),
            None => self.now + core::time::Duration::from_secs(600),
        };
        let Some(mut p) = self.next_outbound(deadline)? else {
            // For the report: what, if anything, came within the next second.
            let later = self.next_outbound(deadline + core::time::Duration::from_secs(1))?;
            let hint = later
                .map(|p| format!(" (next outbound packet: {p})"))
                .unwrap_or_default();
            return fail(
                line,
                format!("error handling packet: Timed out waiting for packet{hint}"),
            );
        };
        // Aggregate consecutive segments sent at the same time up to the expected
        // length, as packetdrill sees TSO/GSO super-packets.
        while p.len < u32::from(seg.len) && !p.flags.syn() && !p.flags.rst() && !p.flags.fin() {
            match self.out.front() {
                Some(q) if q.at == p.at && q.seq == p.seq.wrapping_add(p.len) && !q.flags.syn() => {
                    let q = self.out.pop_front().expect("front");
                    p.len += q.len;
                    p.flags = p.flags.difference(TcpFlags::PSH).union(q.flags);
                    p.ack = q.ack;
                    p.win = q.win;
                }
                _ => break,
            }
        }
        if seg.flags.syn && p.flags.syn() {
            // The stack's ISN: make this SYN's sequence number the script's.
            if let Some(isn) = self.local_isn.as_mut() {
                *isn = isn.wrapping_add(p.seq.wrapping_sub(seg.seq));
                p.seq = seg.seq;
            }
        }
        let at = p.at.as_micros() as i64;
        let expected = format!(
            "{} {}:{}({}){}{}{}",
            seg.flags,
            seg.seq,
            seg.seq.wrapping_add(u32::from(seg.len)),
            seg.len,
            seg.ack.map(|a| format!(" ack {a}")).unwrap_or_default(),
            seg.win.map(|w| format!(" win {w}")).unwrap_or_default(),
            match &seg.options {
                None => " <...>".to_string(),
                Some(o) if o.is_empty() => String::new(),
                Some(o) => format!(" <{}>", options_text(o)),
            }
        );
        let mismatch = |what: String| {
            fail(
                line,
                format!("bad outbound packet: {what}\n  expected: {expected}\n  actual:   {p}"),
            )
        };
        if let Some(hi) = hi {
            if at < lo - tol || at > hi + tol {
                return mismatch(format!(
                    "timing error: expected at {:.6} s (tolerance {:.6} s), sent at {:.6} s",
                    lo as f64 / 1e6,
                    tol as f64 / 1e6,
                    at as f64 / 1e6
                ));
            }
        }
        let want_flags = script_flags_to_wire(&seg.flags);
        if p.flags != want_flags {
            return mismatch(format!(
                "flags: expected {} got {}",
                seg.flags,
                flags_text(p.flags)
            ));
        }
        if p.seq != seg.seq {
            return mismatch(format!(
                "sequence number: expected {} got {}",
                seg.seq, p.seq
            ));
        }
        if p.len != u32::from(seg.len) {
            return mismatch(format!(
                "payload length: expected {} got {}",
                seg.len, p.len
            ));
        }
        if let Some(a) = seg.ack {
            if p.ack != a {
                return mismatch(format!("ack: expected {a} got {}", p.ack));
            }
        }
        if let Some(w) = seg.win {
            if p.win != w {
                return mismatch(format!("window: expected {w} got {}", p.win));
            }
        }
        if let Some(want) = &seg.options {
            let same_shape = want.len() == p.options.len()
                && want.iter().zip(&p.options).all(|(w, g)| match (w, g) {
                    (
                        TcpOption::Timestamp { ecr: we, .. },
                        TcpOption::Timestamp { ecr: ge, val },
                    ) => {
                        let _ = val;
                        *we == 0 && *ge == 0
                            || self.ts_map.is_none_or(|m| we.wrapping_add(m) == *ge)
                            || *we == *ge
                    }
                    _ => w == g,
                });
            if !same_shape {
                return mismatch(format!(
                    "TCP options: expected <{}> got <{}>",
                    options_text(want),
                    options_text(&p.options)
                ));
            }
            if self.ts_map.is_none() {
                for (w, g) in want.iter().zip(&p.options) {
                    if let (
                        TcpOption::Timestamp { val: wv, .. },
                        TcpOption::Timestamp { val: gv, .. },
                    ) = (w, g)
                    {
                        self.ts_map = Some(gv.wrapping_sub(*wv));
                    }
                }
            }
        }
        self.last_time = at;
        Ok(())
    }

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
                ..
            }) => return self.expect_outbound(line, seg, lo, hi),
            Action::Packet(Packet {
                direction: Direction::Inbound,
                body: PacketBody::Tcp(seg),
                ip,
            }) => {
                self.advance(at)?;
                self.inject(line, seg, ip)?;
            }
            Action::Packet(_) => return fail(line, "ICMP and UDP packets are not supported yet"),
            Action::Syscall(call) => {
                self.advance(at)?;
                if self.pending.is_some() {
                    return fail(line, "a blocking system call is still in progress");
                }
                let mut call = call.clone();
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
            Action::Command(c) => self
                .unsupported
                .push(format!("line {line}: command not run: {}", c.text.trim())),
            Action::Code(c) => self.unsupported.push(format!(
                "line {line}: %{{}}% block not evaluated (uses {})",
                c.tcpi_names.join(", ")
            )),
        }
        self.last_time = lo;
        Ok(())
    }
}

/// Runs a parsed script against a fresh endpoint configured by [`config_for`].
pub fn run(script: &Script) -> Report {
    let (cfg, mut unsupported) = config_for(script);
    let mut tolerance = DEFAULT_TOLERANCE_US;
    for o in &script.options {
        match (o.name.as_str(), o.value.as_deref()) {
            ("tolerance_usecs", Some(v)) if v.parse::<i64>().is_ok() => {
                tolerance = v.parse().unwrap_or(tolerance)
            }
            ("ip_version", Some("ipv4")) => {}
            ("local_ip", Some("192.168.0.1")) | ("remote_ip", Some("192.0.2.1")) => {}
            (n, v) => unsupported.push(format!(
                "option --{n}{} not supported",
                v.map(|v| format!("={v}")).unwrap_or_default()
            )),
        }
    }
    let mut r = Runner::new(cfg, tolerance);
    let mut events_run = 0;
    let mut outcome = Ok(());
    for ev in &script.events {
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
