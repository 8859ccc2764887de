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
        SocketAddr::new(IpAddr::V4(LOCAL_IP), port)
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

    pub(super) fn setsockopt(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
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
}
