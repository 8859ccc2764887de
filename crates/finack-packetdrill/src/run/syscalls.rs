//! The socket emulation: system calls on an fd table over the engine.

use super::*;

/// Linux errno numbers and texts, for the messages packetdrill prints.
pub(super) fn errno_info(name: &str) -> (i32, &'static str) {
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

pub(super) fn errno_of(e: Error) -> &'static str {
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
pub(super) enum CallResult {
    /// Returned this value (errno name when negative).
    Done(i64, Option<&'static str>),
    /// Would block; try again later.
    Blocked,
}

impl Runner {
    pub(super) fn check_result(
        &self,
        line: u32,
        call: &Syscall,
        got: i64,
        errno: Option<&str>,
    ) -> Res<()> {
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

    pub(super) fn fd_arg(&self, line: u32, call: &Syscall) -> Res<i64> {
        match call.args.first().and_then(Expr::as_int) {
            Some(fd) => Ok(fd),
            None => fail(
                line,
                format!("{}: first argument must be a file descriptor", call.name),
            ),
        }
    }

    pub(super) fn local_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.local_ip, port)
    }

    pub(super) fn conn_of(&self, line: u32, call: &Syscall) -> Res<ConnId> {
        let fd = self.fd_arg(line, call)?;
        match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Conn(c)) => Ok(*c),
            _ => fail(
                line,
                format!("{}: fd {fd} is not a connected socket", call.name),
            ),
        }
    }

    pub(super) fn done(r: Result<usize, Error>) -> CallResult {
        match r {
            Ok(n) => CallResult::Done(n as i64, None),
            Err(Error::WouldBlock) => CallResult::Blocked,
            Err(e) => CallResult::Done(-1, Some(errno_of(e))),
        }
    }

    /// Executes (or retries, when `retry`) a system call.
    pub(super) fn exec(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
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
                    Fd::new(Sock::Fresh(Unbound::default()), SockOpts::default()),
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
                    opts,
                    ..
                }) = self.fds.get(&fd).cloned()
                else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                match self.ep.accept(l) {
                    Ok(c) => {
                        let nfd = self.new_fd(call);
                        self.fds.insert(nfd, Fd::new(Sock::Conn(c), opts.clone()));
                        self.apply_opts(c, &opts);
                        self.last_conn = Some(c);
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
                        let remote = SocketAddr::new(self.remote_ip, SERVER_PORT);
                        match self.ep.connect(self.now, local, remote) {
                            Ok(c) => {
                                self.fds.get_mut(&fd).expect("fd").sock = Sock::Conn(c);
                                self.apply_opts(c, &f.opts);
                                self.last_conn = Some(c);
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
                let len = len.max(0) as usize;
                let fd = self.fd_arg(line, call)?;
                let nonblocking = self.fds.get(&fd).is_some_and(|f| f.nonblocking);
                // A blocking write returns only when all of it is queued (or an
                // error ends it); a non-blocking one returns what fit.
                let before = if retry { self.write_done } else { 0 };
                let data = vec![0u8; len - before.min(len)];
                let r = match self.ep.send(self.now, c, &data) {
                    Ok(n) if before + n < len && !nonblocking => {
                        self.write_done = before + n;
                        CallResult::Blocked
                    }
                    Ok(n) => CallResult::Done((before + n) as i64, None),
                    Err(Error::WouldBlock) if !nonblocking => {
                        self.write_done = before;
                        CallResult::Blocked
                    }
                    Err(_) if before > 0 => CallResult::Done(before as i64, None),
                    Err(e) => Self::done(Err(e)),
                };
                if matches!(r, CallResult::Done(..)) {
                    self.write_done = 0;
                }
                self.drain();
                r
            }
            "read" | "recv" => {
                let c = self.conn_of(line, call)?;
                let Some(len) = arg(2).and_then(Expr::as_int) else {
                    return fail(line, format!("{name}: length must be an integer"));
                };
                let mut data = vec![0u8; len.max(0) as usize];
                let r = Self::done(self.ep.recv(self.now, c, &mut data));
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
                let r = match self.ep.shutdown(self.now, c, how) {
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
                    Sock::Listener(l) => self.ep.close_listener(self.now, l),
                    Sock::Conn(c) if f.linger_zero => self.ep.abort(self.now, c),
                    Sock::Conn(c) => self.ep.close(self.now, c),
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
            "getsockopt" => self.getsockopt(line, call)?,
            "poll" => self.poll(line, call, retry)?,
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

    /// Applies options set on a socket before its connection existed.
    pub(super) fn apply_opts(&mut self, c: ConnId, o: &SockOpts) {
        if let Some(on) = o.nodelay {
            let _ = self.ep.set_nodelay(c, on);
        }
        if let Some(b) = o.sndbuf {
            let _ = self.ep.set_send_buffer(c, b / 2);
        }
        if let Some(b) = o.rcvbuf {
            let _ = self.ep.set_recv_buffer(c, b / 2);
        }
        if let Some(on) = o.keepalive {
            let _ = self.ep.set_keepalive(c, on);
        }
        if o.user_timeout.is_some() {
            let _ = self.ep.set_user_timeout(c, o.user_timeout);
        }
    }

    pub(super) fn setsockopt(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let opt = call.args.get(2).and_then(Expr::as_word).unwrap_or("");
        let value = call.args.get(3);
        let int = value.and_then(Expr::single).and_then(Expr::as_int);
        let Some(f) = self.fds.get(&fd).cloned() else {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        };
        let conn = match f.sock {
            Sock::Conn(c) => Some(c),
            _ => None,
        };
        let mut opts = f.opts.clone();
        match opt {
            // finack's listeners and connects never refuse a local address
            // for being in TIME-WAIT, so SO_REUSEADDR changes nothing here.
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
                return Ok(CallResult::Done(0, None));
            }
            "TCP_NODELAY" => opts.nodelay = Some(int.unwrap_or(0) != 0),
            "SO_KEEPALIVE" => opts.keepalive = Some(int.unwrap_or(0) != 0),
            // Linux doubles the value (man 7 socket: room for bookkeeping) and
            // reports the doubled value; finack's buffers count payload bytes
            // only, so the value asked for becomes the payload limit.
            "SO_SNDBUF" | "SO_RCVBUF" => {
                let Some(v) = int.filter(|v| *v >= 0) else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                // Linux's floors: SOCK_MIN_SNDBUF 4608, SOCK_MIN_RCVBUF 2304.
                let floor = if opt == "SO_SNDBUF" { 4608 } else { 2304 };
                let doubled = (v as usize * 2).max(floor);
                if opt == "SO_SNDBUF" {
                    opts.sndbuf = Some(doubled);
                } else {
                    opts.rcvbuf = Some(doubled);
                }
            }
            "TCP_USER_TIMEOUT" => {
                opts.user_timeout = int
                    .filter(|v| *v > 0)
                    .map(|ms| core::time::Duration::from_millis(ms as u64))
            }
            other => return fail(line, format!("setsockopt: unsupported option {other}")),
        }
        if let Some(c) = conn {
            let mut only = SockOpts::default();
            match opt {
                "TCP_NODELAY" => only.nodelay = opts.nodelay,
                "SO_KEEPALIVE" => only.keepalive = opts.keepalive,
                "SO_SNDBUF" => only.sndbuf = opts.sndbuf,
                "SO_RCVBUF" => only.rcvbuf = opts.rcvbuf,
                _ => only.user_timeout = opts.user_timeout,
            }
            if opt == "TCP_USER_TIMEOUT" {
                let _ = self.ep.set_user_timeout(c, opts.user_timeout);
            } else {
                self.apply_opts(c, &only);
            }
        }
        self.fds.get_mut(&fd).expect("fd").opts = opts;
        Ok(CallResult::Done(0, None))
    }

    /// getsockopt: the value the stack reports, compared with the script's.
    pub(super) fn getsockopt(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let opt = call.args.get(2).and_then(Expr::as_word).unwrap_or("");
        let Some(f) = self.fds.get(&fd).cloned() else {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        };
        let conn = match f.sock {
            Sock::Conn(c) => Some(c),
            _ => None,
        };
        let info = conn.and_then(|c| self.ep.info(c));
        let cfg = self.ep.config().clone();
        let value: i64 = match opt {
            "TCP_MAXSEG" => match &info {
                Some(i) => i64::from(i.snd_mss),
                // Before a connection Linux reports the default MSS (536).
                None => 536,
            },
            "SO_SNDBUF" => f.opts.sndbuf.unwrap_or(cfg.send_buffer) as i64,
            "SO_RCVBUF" => f.opts.rcvbuf.unwrap_or(cfg.recv_buffer) as i64,
            "TCP_NODELAY" => i64::from(f.opts.nodelay.unwrap_or(!cfg.nagle)),
            "SO_KEEPALIVE" => i64::from(f.opts.keepalive.unwrap_or(false)),
            "SO_ERROR" => {
                // The pending error, cleared by reading it (as in Linux).
                let err = conn.and_then(|c| {
                    (self.ep.state(c) == State::Closed)
                        .then(|| self.ep.close_reason(c).and_then(|r| r.error()))
                        .flatten()
                });
                match err {
                    Some(e) if !self.error_read.contains(&fd) => {
                        self.error_read.push(fd);
                        i64::from(errno_info(errno_of(e)).0)
                    }
                    _ => 0,
                }
            }
            other => return fail(line, format!("getsockopt: unsupported option {other}")),
        };
        let want = call
            .args
            .get(3)
            .and_then(Expr::single)
            .and_then(Expr::as_int);
        if want.is_some_and(|w| w != value) {
            return fail(
                line,
                format!(
                    "getsockopt {opt}: expected {} but got {value}",
                    want.unwrap_or(0)
                ),
            );
        }
        Ok(CallResult::Done(0, None))
    }

    /// poll: each `{fd=..., events=..., revents=...}` entry gets the events
    /// that hold now (Linux's tcp_poll, in outline); blocks until one does or
    /// the timeout (milliseconds, -1 for none) passes.
    pub(super) fn poll(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let Some(Expr::List(entries)) = call.args.first() else {
            return fail(
                line,
                "poll: first argument must be [{fd=..., events=...}, ...]",
            );
        };
        let timeout = call.args.get(2).and_then(Expr::as_int).unwrap_or(-1);
        let mut ready = 0i64;
        let mut mismatch = None;
        for e in entries {
            let Some(fd) = e.field("fd").and_then(Expr::as_int) else {
                return fail(line, "poll: an entry without fd=");
            };
            let asked = e
                .field("events")
                .map(poll_bits)
                .transpose()
                .map_err(|w| Failure {
                    line,
                    message: format!("poll: unknown event {w}"),
                })?;
            let asked = asked.unwrap_or(0);
            // POLLERR, POLLHUP and POLLNVAL are reported whether asked or not.
            let got = self.poll_events(fd) & (asked | POLLERR | POLLHUP | POLLNVAL);
            if got != 0 {
                ready += 1;
            }
            if let Some(want) = e.field("revents") {
                let want = poll_bits(want).map_err(|w| Failure {
                    line,
                    message: format!("poll: unknown event {w}"),
                })?;
                if want != got && mismatch.is_none() {
                    mismatch = Some((fd, want, got));
                }
            }
        }
        if ready == 0 && timeout != 0 {
            let now = self.now;
            let deadline = match (retry, self.poll_deadline) {
                (true, Some(d)) => d,
                _ => {
                    let d = (timeout > 0)
                        .then(|| now + core::time::Duration::from_millis(timeout as u64));
                    self.poll_deadline = d;
                    match d {
                        Some(d) => d,
                        None => return Ok(CallResult::Blocked),
                    }
                }
            };
            if now < deadline {
                return Ok(CallResult::Blocked);
            }
        }
        self.poll_deadline = None;
        if let Some((fd, want, got)) = mismatch {
            return fail(
                line,
                format!(
                    "poll: fd {fd}: expected revents {} but got {}",
                    poll_names(want),
                    poll_names(got)
                ),
            );
        }
        Ok(CallResult::Done(ready, None))
    }

    fn poll_events(&self, fd: i64) -> u32 {
        let Some(f) = self.fds.get(&fd) else {
            return POLLNVAL;
        };
        match &f.sock {
            Sock::Fresh(_) => POLLOUT | POLLHUP,
            Sock::Listener(l) => {
                if self.ep.accept_queue_len(*l) > 0 {
                    POLLIN | POLLRDNORM
                } else {
                    0
                }
            }
            Sock::Conn(c) => {
                let state = self.ep.state(*c);
                let info = self.ep.info(*c);
                let mut ev = 0;
                let reset = state == State::Closed
                    && self.ep.close_reason(*c).and_then(|r| r.error()).is_some();
                if reset {
                    ev |= POLLERR;
                }
                let peer_fin = matches!(
                    state,
                    State::CloseWait | State::LastAck | State::Closing | State::TimeWait
                ) || state == State::Closed;
                if info.as_ref().is_some_and(|i| i.readable > 0) || peer_fin {
                    ev |= POLLIN | POLLRDNORM;
                }
                if peer_fin {
                    ev |= POLLRDHUP;
                }
                if state == State::Closed || (peer_fin && !can_send(state)) {
                    ev |= POLLHUP;
                }
                if can_send(state) {
                    // Linux sk_stream_is_writeable: free space at least half
                    // of what is queued.
                    let queued = info.as_ref().map_or(0, |i| (i.unacked + i.unsent) as usize);
                    let cap = f
                        .opts
                        .sndbuf
                        .map_or(self.ep.config().send_buffer, |b| b / 2);
                    if cap.saturating_sub(queued) >= queued / 2 && cap > queued {
                        ev |= POLLOUT | POLLWRNORM;
                    }
                }
                ev
            }
        }
    }
}

const POLLIN: u32 = 0x001;
const POLLPRI: u32 = 0x002;
const POLLOUT: u32 = 0x004;
const POLLERR: u32 = 0x008;
const POLLHUP: u32 = 0x010;
const POLLNVAL: u32 = 0x020;
const POLLRDNORM: u32 = 0x040;
const POLLWRNORM: u32 = 0x100;
const POLLRDHUP: u32 = 0x2000;

const POLL_NAMES: &[(&str, u32)] = &[
    ("POLLIN", POLLIN),
    ("POLLPRI", POLLPRI),
    ("POLLOUT", POLLOUT),
    ("POLLERR", POLLERR),
    ("POLLHUP", POLLHUP),
    ("POLLNVAL", POLLNVAL),
    ("POLLRDNORM", POLLRDNORM),
    ("POLLWRNORM", POLLWRNORM),
    ("POLLRDHUP", POLLRDHUP),
];

/// The bits of `POLLIN|POLLOUT`-style expressions (or a number); `Err` names
/// an unknown word.
fn poll_bits(e: &Expr) -> Result<u32, String> {
    match e {
        Expr::Int(v) => Ok(*v as u32),
        Expr::Word(w) => POLL_NAMES
            .iter()
            .find(|(n, _)| n == w)
            .map(|(_, b)| *b)
            .ok_or_else(|| w.clone()),
        Expr::Or(a, b) => Ok(poll_bits(a)? | poll_bits(b)?),
        other => Err(other.to_string()),
    }
}

fn poll_names(bits: u32) -> String {
    let names: Vec<&str> = POLL_NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// States in which the application may still send.
fn can_send(s: State) -> bool {
    matches!(s, State::Established | State::CloseWait)
}
