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
        "EFAULT" => (14, "Bad address"),
        "EEXIST" => (17, "File exists"),
        "ENOENT" => (2, "No such file or directory"),
        "EALREADY" => (114, "Operation already in progress"),
        "EOPNOTSUPP" => (95, "Operation not supported"),
        "ENOMSG" => (42, "No message of desired type"),
        "ENOTSOCK" => (88, "Socket operation on non-socket"),
        _ => (0, "Unknown error"),
    }
}

/// The static name of an errno the runner knows.
pub(super) fn errno_static(name: &str) -> Option<&'static str> {
    ERRNO_NAMES.iter().copied().find(|n| *n == name)
}

const ERRNO_NAMES: &[&str] = &[
    "EPIPE",
    "EAGAIN",
    "EINVAL",
    "EBADF",
    "ENOTCONN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ECONNABORTED",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EINPROGRESS",
    "EPROTONOSUPPORT",
    "ENOPROTOOPT",
    "EISCONN",
    "EFAULT",
    "EEXIST",
    "ENOENT",
    "EALREADY",
    "EOPNOTSUPP",
    "ENOMSG",
    "ENOTSOCK",
];

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

    /// A read from a socket that is listening or was never connected fails
    /// with ENOTCONN (Linux tcp.c: tcp_recvmsg_locked()); None for any
    /// other descriptor.
    pub(super) fn read_not_connected(&self, call: &Syscall) -> Option<CallResult> {
        let fd = call.args.first().and_then(Expr::as_int)?;
        match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Listener(_) | Sock::Fresh(_)) => {
                Some(CallResult::Done(-1, Some("ENOTCONN")))
            }
            _ => None,
        }
    }

    /// A call whose effect is not modelled (the caller has reported it as
    /// unchecked): it returns what the script expects, so the script can go on.
    pub(super) fn scripted(call: &Syscall) -> CallResult {
        let want = call.result.as_int().unwrap_or(0);
        let errno = call
            .errno
            .as_deref()
            .map(|e| errno_static(e).unwrap_or("EINVAL"));
        CallResult::Done(want, errno)
    }

    /// A read's or write's result where the socket's pending error is
    /// reported once (Linux sock_error() clears sk_err): after that a
    /// write fails with EPIPE (the socket is shut down for sending,
    /// sk_stream_error()) and a read returns 0 (RCV_SHUTDOWN).
    pub(super) fn done_once(
        &mut self,
        fd: i64,
        r: Result<usize, Error>,
        write: bool,
    ) -> CallResult {
        let pending = matches!(
            r,
            Err(Error::ConnectionReset | Error::TimedOut | Error::ConnectionRefused)
        );
        if !pending {
            return Self::done(r);
        }
        if self.error_read.contains(&fd) {
            return match write {
                true => CallResult::Done(-1, Some("EPIPE")),
                false => CallResult::Done(0, None),
            };
        }
        self.error_read.push(fd);
        Self::done(r)
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
        if matches!(call.name.as_str(), "writev" | "readv") {
            // writev(fd, iov, iovcnt) and readv(fd, iov, iovcnt): a write or
            // read of the iovecs' summed length (a stream socket sees one
            // buffer; Linux's iov_iter gathers them).
            let Some(Expr::List(items)) = call.args.get(1) else {
                return fail(line, format!("{}: expected an iovec array", call.name));
            };
            let Some(len) = list_total(items) else {
                return fail(
                    line,
                    format!("{}: cannot read the iovec lengths", call.name),
                );
            };
            let mut plain = call.clone();
            plain.name = if call.name == "writev" {
                "write"
            } else {
                "read"
            }
            .into();
            plain.args = vec![
                call.args.first().cloned().unwrap_or(Expr::Ellipsis),
                Expr::Ellipsis,
                Expr::Int(len as i64),
            ];
            return self.exec(line, &plain, retry);
        }
        let name = call.name.as_str();
        let arg = |i: usize| call.args.get(i);
        let r = match name {
            "socket" => {
                let proto = arg(2).and_then(Expr::as_word);
                if proto.is_some_and(|p| p != "IPPROTO_TCP") {
                    return Ok(CallResult::Done(-1, Some("EPROTONOSUPPORT")));
                }
                // The type may carry SOCK_NONBLOCK and SOCK_CLOEXEC
                // (net/socket.c: __sys_socket()).
                let ty = match arg(1) {
                    None | Some(Expr::Ellipsis) => Some(SOCK_STREAM),
                    Some(e) => flag_value(e, SOCK_TYPES),
                };
                let Some(ty) = ty else {
                    return fail(
                        line,
                        format!("socket type {} is not supported", call.args[1]),
                    );
                };
                if ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != SOCK_STREAM {
                    return Ok(CallResult::Done(-1, Some("EPROTONOSUPPORT")));
                }
                let fd = self.new_fd(call);
                let mut f = Fd::new(Sock::Fresh(Unbound::default()), SockOpts::default());
                f.nonblocking = ty & SOCK_NONBLOCK != 0;
                self.fds.insert(fd, f);
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
                // A negative backlog is read as unsigned: somaxconn
                // (__sys_listen()).
                let backlog = arg(1)
                    .and_then(Expr::as_int)
                    .map_or(1, |b| usize::try_from(b).unwrap_or(usize::MAX));
                let Some(f) = self.fds.get(&fd).cloned() else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                let Sock::Fresh(u) = f.sock else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                let port = u.bound.unwrap_or(SERVER_PORT);
                match self.ep.listen(self.local_addr(port), backlog) {
                    Ok(l) => {
                        if let Some(mss) = f.opts.user_mss {
                            let _ = self.ep.set_listener_user_mss(l, mss);
                        }
                        self.listener_opts(l, &f.opts);
                        self.local_port = Some(port);
                        self.listening_under_test = true;
                        self.fds.get_mut(&fd).expect("fd").sock = Sock::Listener(l);
                        CallResult::Done(0, None)
                    }
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                }
            }
            "accept" | "accept4" => {
                let fd = self.fd_arg(line, call)?;
                // accept4()'s flags: SOCK_NONBLOCK, SOCK_CLOEXEC; the new
                // socket does not inherit the listener's O_NONBLOCK.
                let flags = match (name, arg(3)) {
                    ("accept4", Some(e)) => match flag_value(e, SOCK_TYPES) {
                        Some(v) if v & !(SOCK_NONBLOCK | SOCK_CLOEXEC) == 0 => v,
                        _ => return Ok(CallResult::Done(-1, Some("EINVAL"))),
                    },
                    _ => 0,
                };
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
                        let mut nf = Fd::new(Sock::Conn(c), opts.clone());
                        nf.nonblocking = flags & SOCK_NONBLOCK != 0;
                        self.fds.insert(nfd, nf);
                        // The engine gave the connection its listener's
                        // window clamp before the SYN,ACK.
                        let inherited = SockOpts {
                            window_clamp: None,
                            ..opts
                        };
                        self.apply_opts(c, &inherited);
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
                                self.listening_under_test = false;
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
                        State::Closed => match self.ep.close_error(c) {
                            Some(e) => CallResult::Done(-1, Some(errno_of(e))),
                            None => CallResult::Done(-1, Some("ECONNABORTED")),
                        },
                        _ if retry => CallResult::Done(0, None),
                        _ => CallResult::Done(-1, Some("EISCONN")),
                    },
                    _ => CallResult::Done(-1, Some("EINVAL")),
                }
            }
            // write(fd, buf, len), send(fd, buf, len, flags) and
            // sendto(fd, buf, len, flags, addr, addrlen): packetdrill sends
            // `len` zero bytes; a NULL buffer faults (Linux copies from user
            // memory first: EFAULT).
            "write" | "send" | "sendto" => {
                let Some(len) = arg(2).and_then(Expr::as_int) else {
                    return fail(line, format!("{name}: length must be an integer"));
                };
                if is_null(arg(1)) && len > 0 {
                    return Ok(CallResult::Done(-1, Some("EFAULT")));
                }
                let fd = self.fd_arg(line, call)?;
                let flags = if name != "write" {
                    let names = arg(3).map(flag_names).unwrap_or_default();
                    self.send_flags(line, fd, len.max(0) as usize, &names)?
                } else {
                    SendFlags::default()
                };
                self.write_bytes(line, call, fd, len.max(0) as usize, flags, retry)?
            }
            "sendmsg" => self.sendmsg(line, call, retry)?,
            "read" | "recv" | "recvfrom" => {
                if let Some(r) = self.read_not_connected(call) {
                    return Ok(r);
                }
                let c = self.conn_of(line, call)?;
                let Some(len) = arg(2).and_then(Expr::as_int) else {
                    return fail(line, format!("{name}: length must be an integer"));
                };
                // recv()'s flags: MSG_PEEK leaves the data in place,
                // MSG_DONTWAIT does not wait, MSG_WAITALL waits for all of
                // `len` (Linux sock_rcvlowat() makes it the target),
                // MSG_TRUNC takes the bytes without copying them (so a NULL
                // buffer does not fault), MSG_OOB reads urgent data's byte.
                let flags = if name == "read" {
                    Vec::new()
                } else {
                    arg(3).map(flag_names).unwrap_or_default()
                };
                let has = |f: &str| flags.iter().any(|x| x == f);
                if let Some(other) = flags.iter().find(|f| {
                    !matches!(
                        f.as_str(),
                        "MSG_PEEK" | "MSG_DONTWAIT" | "MSG_WAITALL" | "MSG_OOB" | "MSG_TRUNC"
                    )
                }) {
                    return fail(line, format!("{name}: unsupported flag {other}"));
                }
                let readable = self.ep.info(c).is_some_and(|i| i.readable > 0);
                if is_null(arg(1)) && len > 0 && readable && !has("MSG_TRUNC") {
                    return Ok(CallResult::Done(-1, Some("EFAULT")));
                }
                let mut data = vec![0u8; len.max(0) as usize];
                let fd = self.fd_arg(line, call)?;
                if has("MSG_OOB") {
                    // Linux tcp_recv_urg(): the out-of-band byte, never
                    // blocking; 1 byte (0 for a zero-length buffer).
                    let r = match self.ep.recv_oob(c, has("MSG_PEEK")) {
                        Ok(Some(_)) => CallResult::Done(i64::from(len > 0), None),
                        Ok(None) => CallResult::Done(0, None),
                        Err(Error::WouldBlock) => CallResult::Done(-1, Some("EAGAIN")),
                        Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                    };
                    self.drain();
                    return Ok(r);
                }
                let blocking =
                    self.fds.get(&fd).is_some_and(|f| !f.nonblocking) && !has("MSG_DONTWAIT");
                if has("MSG_PEEK") {
                    let r = match self.ep.peek(c, &mut data) {
                        Err(Error::WouldBlock) if !blocking => CallResult::Done(-1, Some("EAGAIN")),
                        got => self.done_once(fd, got, false),
                    };
                    return Ok(r);
                }
                if blocking {
                    let waitall = has("MSG_WAITALL");
                    if let Some(r) = self.read_to_lowat(c, fd, &mut data, retry, waitall) {
                        self.drain();
                        return Ok(r);
                    }
                }
                let got = self.ep.recv(self.now, c, &mut data);
                let r = match self.done_once(fd, got, false) {
                    // O_NONBLOCK: nothing to read now is EAGAIN.
                    CallResult::Blocked if !blocking => CallResult::Done(-1, Some("EAGAIN")),
                    r => r,
                };
                self.drain();
                r
            }
            "shutdown" => {
                let how = match arg(1).and_then(Expr::as_word) {
                    Some("SHUT_RD") => Shutdown::Read,
                    Some("SHUT_WR") => Shutdown::Write,
                    Some("SHUT_RDWR") => Shutdown::Both,
                    _ => return fail(line, "shutdown: expected SHUT_RD, SHUT_WR or SHUT_RDWR"),
                };
                let fd = self.fd_arg(line, call)?;
                match self.fds.get(&fd).map(|f| f.sock.clone()) {
                    Some(Sock::Conn(_)) => {}
                    // Linux inet_shutdown(): on a listener SHUT_WR does
                    // nothing and a shutdown that stops reading stops
                    // listening (tcp_disconnect() → inet_csk_listen_stop():
                    // connections not yet accepted are reset); the socket
                    // stays bound and may listen again.
                    Some(Sock::Listener(l)) => {
                        if how != Shutdown::Write {
                            let r = self.ep.close_listener(self.now, l);
                            self.drain();
                            if let Err(e) = r {
                                return Ok(CallResult::Done(-1, Some(errno_of(e))));
                            }
                            let port = self.local_port;
                            self.fds.get_mut(&fd).expect("fd").sock =
                                Sock::Fresh(Unbound { bound: port });
                        }
                        return Ok(CallResult::Done(0, None));
                    }
                    // An unconnected socket: ENOTCONN (TCP_CLOSE).
                    Some(Sock::Fresh(_)) => return Ok(CallResult::Done(-1, Some("ENOTCONN"))),
                    Some(_) => return Ok(CallResult::Done(-1, Some("ENOTSOCK"))),
                    None => return Ok(CallResult::Done(-1, Some("EBADF"))),
                }
                let c = self.conn_of(line, call)?;
                let r = match self.ep.shutdown(self.now, c, how) {
                    Ok(()) => CallResult::Done(0, None),
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                };
                self.drain();
                r
            }
            "close" => {
                if retry {
                    if let Some((c, until)) = self.lingering {
                        if self.now < until && lingers(self.ep.state(c)) {
                            return Ok(CallResult::Blocked);
                        }
                        self.lingering = None;
                        return Ok(CallResult::Done(0, None));
                    }
                }
                let fd = self.fd_arg(line, call)?;
                let Some(f) = self.fds.remove(&fd) else {
                    return Ok(CallResult::Done(-1, Some("EBADF")));
                };
                let r = match f.sock {
                    Sock::Fresh(_) | Sock::File { .. } | Sock::Pipe { .. } => Ok(()),
                    Sock::Epoll(_) => Ok(()),
                    Sock::Listener(l) => self.ep.close_listener(self.now, l),
                    Sock::Conn(c) if f.linger == Some(0) => self.ep.abort(self.now, c),
                    Sock::Conn(c) => self.ep.close(self.now, c),
                };
                self.drain();
                // Linux tcp_close() → sk_stream_wait_close(): with a linger
                // time, close() waits (O_NONBLOCK or not) until the FIN is
                // acknowledged or the time runs out; the connection goes on
                // closing either way.
                if let (Ok(()), Sock::Conn(c), Some(secs)) = (&r, &f.sock, f.linger) {
                    if secs > 0 && lingers(self.ep.state(*c)) {
                        let until = self.now + core::time::Duration::from_secs(u64::from(secs));
                        self.lingering = Some((*c, until));
                        return Ok(CallResult::Blocked);
                    }
                }
                match r {
                    Ok(()) => CallResult::Done(0, None),
                    Err(e) => CallResult::Done(-1, Some(errno_of(e))),
                }
            }
            "setsockopt" => self.setsockopt(line, call)?,
            "fcntl" => self.fcntl(line, call)?,
            "getsockopt" => self.getsockopt(line, call)?,
            "poll" => self.poll(line, call, retry)?,
            "ioctl" => self.ioctl(line, call)?,
            "epoll_create" | "epoll_create1" => self.epoll_create(call),
            "epoll_ctl" => self.epoll_ctl(line, call)?,
            "epoll_wait" => self.epoll_wait(line, call, retry)?,
            "open" => self.open(line, call)?,
            "sendfile" => self.sendfile(line, call, retry)?,
            "pipe" => self.pipe(line, call)?,
            "splice" => self.splice(line, call, retry)?,
            "recvmsg" => self.recvmsg(line, call)?,
            _ => return fail(line, format!("unsupported system call {name}")),
        };
        Ok(r)
    }

    /// Queues `len` bytes on the connection of `fd` as write() does: a
    /// blocking write returns only when all of it is queued (or an error
    /// ends it), a non-blocking one returns what fit. A write that runs out
    /// of send space marks the connection (Linux SOCK_NOSPACE) so that it
    /// wakes its waiters when space comes back.
    pub(super) fn write_bytes(
        &mut self,
        line: u32,
        call: &Syscall,
        fd: i64,
        len: usize,
        flags: SendFlags,
        retry: bool,
    ) -> Res<CallResult> {
        let c = match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Conn(c)) => *c,
            None => return Ok(CallResult::Done(-1, Some("EBADF"))),
            _ => {
                return fail(
                    line,
                    format!("{}: fd {fd} is not a connected socket", call.name),
                )
            }
        };
        let nonblocking = self.fds.get(&fd).is_some_and(|f| f.nonblocking);
        // Linux stream.c: sk_stream_wait_memory(): a blocked writer sleeps
        // until sk_stream_write_space() wakes it, which it does only once
        // the socket is writable (the engine's answer); errors end the wait.
        let open = matches!(self.ep.state(c), State::Established | State::CloseWait);
        if retry && open && !self.ep.writable(c) {
            return Ok(CallResult::Blocked);
        }
        let before = if retry { self.write_done } else { 0 };
        let data = vec![0u8; len - before.min(len)];
        let r = match self.ep.send_with(self.now, c, &data, flags) {
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
            // A non-blocking write that finds no room fails at once.
            Err(Error::WouldBlock) => CallResult::Done(-1, Some("EAGAIN")),
            Err(e) => self.done_once(fd, Err(e), true),
        };
        let short = match r {
            CallResult::Blocked => true,
            CallResult::Done(n, _) => n >= 0 && (n as usize) < len,
        } || matches!(r, CallResult::Done(-1, Some("EAGAIN")));
        if short && !self.nospace.contains(&c) {
            self.nospace.push(c);
        }
        if matches!(r, CallResult::Done(..)) {
            self.write_done = 0;
        }
        self.drain();
        Ok(r)
    }

    /// fcntl(fd, F_GETFL) and fcntl(fd, F_SETFL, flags): sockets are opened
    /// O_RDWR, and F_SETFL changes only O_NONBLOCK here (packetdrill
    /// run_system_call.c: syscall_fcntl() passes the call through; Linux
    /// fs/fcntl.c setfl() takes O_APPEND, O_NONBLOCK, O_NDELAY, O_DIRECT and
    /// O_NOATIME and ignores the access mode).
    fn fcntl(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let cmd = call.args.get(1).and_then(Expr::as_word);
        let flags = call.args.get(2);
        let Some(f) = self.fds.get_mut(&fd) else {
            return Ok(CallResult::Done(-1, Some("EBADF")));
        };
        let r = match cmd {
            Some("F_GETFL") => {
                let mode = match f.sock {
                    Sock::File { .. } => 0,
                    Sock::Pipe { write_end, .. } => i64::from(write_end),
                    _ => O_RDWR,
                };
                CallResult::Done(mode | if f.nonblocking { O_NONBLOCK } else { 0 }, None)
            }
            Some("F_SETFL") => {
                let Some(v) = flags.and_then(|e| flag_value(e, OPEN_FLAGS)) else {
                    return fail(line, "fcntl F_SETFL: cannot read the flags");
                };
                f.nonblocking = v & O_NONBLOCK != 0;
                CallResult::Done(0, None)
            }
            other => return fail(line, format!("fcntl: unsupported command {other:?}")),
        };
        Ok(r)
    }

    /// ioctl SIOCINQ (FIONREAD): bytes ready to read; SIOCOUTQ (TIOCOUTQ):
    /// bytes not yet acknowledged, sent or not; SIOCOUTQNSD: bytes not yet
    /// sent (Linux tcp_ioctl(): rcv_nxt - copied_seq, write_seq - snd_una,
    /// write_seq - snd_nxt). On a listener they fail with EINVAL.
    fn ioctl(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let req = call.args.get(1).and_then(Expr::as_word);
        let c = match self.fds.get(&fd).map(|f| &f.sock) {
            Some(Sock::Conn(c)) => *c,
            Some(Sock::Listener(_)) => return Ok(CallResult::Done(-1, Some("EINVAL"))),
            None => return Ok(CallResult::Done(-1, Some("EBADF"))),
            _ => return fail(line, format!("ioctl: fd {fd} is not a socket")),
        };
        let info = self.ep.info(c);
        let have = match req {
            Some("SIOCINQ") | Some("FIONREAD") => info.map_or(0, |i| i64::from(i.readable)),
            Some("SIOCOUTQ") | Some("TIOCOUTQ") => {
                info.map_or(0, |i| i64::from(i.unacked) + i64::from(i.unsent))
            }
            Some("SIOCOUTQNSD") => info.map_or(0, |i| i64::from(i.unsent)),
            // Linux tcp_ioctl() SIOCATMARK: urgent data pending and the
            // read position at its byte.
            Some("SIOCATMARK") => i64::from(self.ep.at_urgent_mark(c)),
            other => return fail(line, format!("ioctl: unsupported request {other:?}")),
        };
        let want = call
            .args
            .get(2)
            .and_then(Expr::single)
            .and_then(Expr::as_int);
        if let Some(w) = want.filter(|w| *w != have) {
            return fail(
                line,
                format!("ioctl {}: expected {w} but got {have}", req.unwrap_or("")),
            );
        }
        Ok(CallResult::Done(0, None))
    }

    /// sendmsg(fd, {msg_iov(N)=[{..., len}, ...], ...}, flags): a write of
    /// the iovecs' summed length (zero-length ones are skipped, as Linux's
    /// iov_iter does).
    fn sendmsg(&mut self, line: u32, call: &Syscall, retry: bool) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let Some(msg) = call.args.get(1) else {
            return fail(line, "sendmsg: missing msghdr");
        };
        let Some(len) = iov_total(msg) else {
            return fail(line, "sendmsg: cannot read msg_iov lengths");
        };
        let names = call.args.get(2).map(flag_names).unwrap_or_default();
        let flags = self.send_flags(line, fd, len, &names)?;
        self.write_bytes(line, call, fd, len, flags, retry)
    }

    /// send(2)'s flags: 0, MSG_NOSIGNAL and MSG_DONTWAIT write as write()
    /// does; MSG_MORE (do not push yet: no PSH, a partial segment waits) and
    /// MSG_EOR (later data never joins this record) go to the engine
    /// (`Endpoint::send_with`). MSG_ZEROCOPY sends as a copy does (the same
    /// segments); on a SO_ZEROCOPY socket with data to send, Linux would
    /// also queue a completion on the error queue, which is remembered so a
    /// later poll that could see it is reported unchecked. Other flags fail
    /// the call.
    fn send_flags(&mut self, line: u32, fd: i64, len: usize, flags: &[String]) -> Res<SendFlags> {
        let mut out = SendFlags::default();
        for f in flags {
            match f.as_str() {
                "0" | "MSG_NOSIGNAL" | "MSG_DONTWAIT" => {}
                // Linux tcp.c: tcp_sendmsg_locked() takes the zerocopy path
                // only for a non-empty send on a socket with SOCK_ZEROCOPY;
                // otherwise the flag changes nothing.
                "MSG_ZEROCOPY" => {
                    if let Some(fd) = self.fds.get_mut(&fd).filter(|f| f.opts.zerocopy) {
                        fd.opts.zerocopy_sent |= len > 0;
                    }
                }
                "MSG_MORE" => out.more = true,
                "MSG_EOR" => out.eor = true,
                "MSG_OOB" => out.oob = true,
                other => return fail(line, format!("send flag {other} is not supported")),
            }
        }
        Ok(out)
    }
}

/// Linux's O_RDWR and O_NONBLOCK (asm-generic/fcntl.h).
pub(super) const O_RDWR: i64 = 0o2;
pub(super) const O_NONBLOCK: i64 = 0o4000;

/// Linux's SOCK_STREAM, and the flags socket(2) takes with the type
/// (include/linux/net.h: SOCK_NONBLOCK = O_NONBLOCK, SOCK_CLOEXEC = O_CLOEXEC).
const SOCK_STREAM: i64 = 1;
const SOCK_NONBLOCK: i64 = O_NONBLOCK;
const SOCK_CLOEXEC: i64 = 0o2000000;

/// socket(2) type names.
const SOCK_TYPES: &[(&str, i64)] = &[
    ("SOCK_STREAM", SOCK_STREAM),
    ("SOCK_DGRAM", 2),
    ("SOCK_RAW", 3),
    ("SOCK_NONBLOCK", SOCK_NONBLOCK),
    ("SOCK_CLOEXEC", SOCK_CLOEXEC),
];

/// open(2) / fcntl(2) flag names.
pub(super) const OPEN_FLAGS: &[(&str, i64)] = &[
    ("O_RDONLY", 0),
    ("O_WRONLY", 0o1),
    ("O_RDWR", O_RDWR),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", O_NONBLOCK),
    ("O_NDELAY", O_NONBLOCK),
];

/// The value of a flags expression (`O_RDWR|O_NONBLOCK`, a number).
pub(super) fn flag_value(e: &Expr, names: &[(&str, i64)]) -> Option<i64> {
    match e {
        Expr::Int(v) => Some(*v),
        Expr::Word(w) => names.iter().find(|(n, _)| n == w).map(|(_, v)| *v),
        Expr::Or(a, b) => Some(flag_value(a, names)? | flag_value(b, names)?),
        _ => None,
    }
}

/// The words of a flags expression (`MSG_MORE|MSG_EOR`; `0` for 0).
/// Linux sk_stream_closing(): the states a lingering close() waits in.
fn lingers(state: State) -> bool {
    matches!(state, State::FinWait1 | State::Closing | State::LastAck)
}

fn flag_names(e: &Expr) -> Vec<String> {
    match e {
        Expr::Int(0) => Vec::new(),
        Expr::Or(a, b) => {
            let mut v = flag_names(a);
            v.extend(flag_names(b));
            v
        }
        other => vec![other.to_string()],
    }
}

/// A NULL pointer argument.
pub(super) fn is_null(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Word(w)) if w == "NULL") || matches!(e, Some(Expr::Int(0)))
}

/// The summed iov_len of a msghdr's `msg_iov(N)=[{..., len}, ...]`.
pub(super) fn iov_total(msg: &Expr) -> Option<usize> {
    let Expr::Struct(fields) = msg else {
        return None;
    };
    let iov = fields.iter().find_map(|f| match f {
        Expr::Assign(k, v) if matches!(&**k, Expr::Call(n, _) if n == "msg_iov") => Some(&**v),
        Expr::Assign(k, v) if k.as_word() == Some("msg_iov") => Some(&**v),
        _ => None,
    })?;
    let Expr::List(items) = iov else {
        return None;
    };
    list_total(items)
}

/// The summed lengths of an iovec array (`[{..., 10}, {iov_base=..., iov_len=20}]`).
fn list_total(items: &[Expr]) -> Option<usize> {
    let mut total = 0usize;
    for it in items {
        let len = it
            .field("iov_len")
            .and_then(Expr::as_int)
            .or_else(|| match it {
                Expr::Struct(v) if v.len() == 2 => v[1].as_int(),
                _ => None,
            })?;
        total += usize::try_from(len).ok()?;
    }
    Some(total)
}

impl Runner {
    /// A blocking read under SO_RCVLOWAT or MSG_WAITALL (Linux
    /// tcp_recvmsg_locked()): it takes what is there and, while it holds
    /// less than its target (the low-water mark, or all it asked for if
    /// that is less; all it asked for with MSG_WAITALL), sleeps;
    /// tcp_data_ready() wakes it only once the low-water mark's worth waits
    /// anew (the bytes it already took do not count), or the stream ends or
    /// fails. `None`: the ordinary read (no mark, no MSG_WAITALL, nothing
    /// taken).
    pub(super) fn read_to_lowat(
        &mut self,
        c: ConnId,
        fd: i64,
        data: &mut [u8],
        retry: bool,
        waitall: bool,
    ) -> Option<CallResult> {
        let lowat = self.ep.recv_lowat(c).unwrap_or(1) as usize;
        let copied = if retry {
            self.partial_reads.get(&fd).copied().unwrap_or(0)
        } else {
            self.partial_reads.remove(&fd);
            0
        };
        if lowat <= 1 && copied == 0 && !waitall {
            return None;
        }
        let state = self.ep.state(c);
        let ended = matches!(
            state,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait | State::Closed
        );
        if ended && copied == 0 {
            self.partial_reads.remove(&fd);
            return None;
        }
        let avail = self.ep.info(c).map_or(0, |i| i.readable as usize);
        if retry && !ended && avail < lowat {
            return Some(CallResult::Blocked);
        }
        let end = data.len().max(copied);
        let n = match avail {
            0 => 0,
            _ => self
                .ep
                .recv(self.now, c, &mut data[copied..end])
                .unwrap_or(0),
        };
        let copied = copied + n;
        let target = if waitall {
            data.len()
        } else {
            lowat.min(data.len())
        }
        .max(1);
        if copied >= target || (ended && copied > 0) {
            self.partial_reads.remove(&fd);
            return Some(CallResult::Done(copied as i64, None));
        }
        self.partial_reads.insert(fd, copied);
        Some(CallResult::Blocked)
    }
}
