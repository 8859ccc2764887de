//! setsockopt and getsockopt.

use core::time::Duration;

use super::syscalls::{errno_info, errno_of, CallResult};
use super::*;
use finack_core::Linger2;

/// The option a setsockopt/getsockopt names: its symbol, or a number at
/// its level (scripts write `IPPROTO_TCP, 10` for TCP_WINDOW_CLAMP when
/// their headers lack the name; Linux's include/uapi values).
fn option_name(call: &Syscall) -> &str {
    let arg = call.args.get(2);
    if let Some(w) = arg.and_then(Expr::as_word) {
        return w;
    }
    let level = call.args.get(1).and_then(Expr::as_word).unwrap_or("");
    let tcp = matches!(level, "IPPROTO_TCP" | "SOL_TCP");
    match (tcp, arg.and_then(Expr::as_int)) {
        (true, Some(1)) => "TCP_NODELAY",
        (true, Some(2)) => "TCP_MAXSEG",
        (true, Some(3)) => "TCP_CORK",
        (true, Some(4)) => "TCP_KEEPIDLE",
        (true, Some(5)) => "TCP_KEEPINTVL",
        (true, Some(6)) => "TCP_KEEPCNT",
        (true, Some(7)) => "TCP_SYNCNT",
        (true, Some(8)) => "TCP_LINGER2",
        (true, Some(9)) => "TCP_DEFER_ACCEPT",
        (true, Some(10)) => "TCP_WINDOW_CLAMP",
        (true, Some(12)) => "TCP_QUICKACK",
        (true, Some(16)) => "TCP_THIN_LINEAR_TIMEOUTS",
        (true, Some(18)) => "TCP_USER_TIMEOUT",
        (true, Some(25)) => "TCP_NOTSENT_LOWAT",
        (true, Some(36)) => "TCP_INQ",
        (false, Some(9)) => "SO_KEEPALIVE",
        (false, Some(10)) => "SO_OOBINLINE",
        (false, Some(18)) => "SO_RCVLOWAT",
        _ => "",
    }
}

impl Runner {
    /// Applies options set on a socket before its connection existed.
    pub(super) fn apply_opts(&mut self, c: ConnId, o: &SockOpts) {
        if let Some(on) = o.nodelay {
            let _ = self.ep.set_nodelay(c, on);
        }
        if let Some(b) = o.sndbuf {
            // Linux's sk_sndbuf, the doubled value (see setsockopt).
            let _ = self.ep.set_send_buffer(c, b);
        }
        if let Some(b) = o.rcvbuf {
            let _ = self.ep.set_recv_buffer(c, b / 2);
        }
        if let Some(s) = o.keepidle {
            let _ = self
                .ep
                .set_keepalive_idle(c, Duration::from_secs(u64::from(s)));
        }
        if let Some(s) = o.keepintvl {
            let _ = self
                .ep
                .set_keepalive_interval(c, Duration::from_secs(u64::from(s)));
        }
        if let Some(n) = o.keepcnt {
            let _ = self.ep.set_keepalive_count(c, n);
        }
        if let Some(on) = o.keepalive {
            let _ = self.ep.set_keepalive(c, on);
        }
        if let Some(v) = o.window_clamp {
            let _ = self.ep.set_window_clamp(c, v);
        }
        if let Some(v) = o.rcvlowat {
            let _ = self.ep.set_recv_lowat(c, v);
        }
        if o.user_timeout.is_some() {
            let _ = self.ep.set_user_timeout(c, o.user_timeout);
        }
        if let Some(on) = o.cork {
            let _ = self.ep.set_cork(c, on);
        }
        if let Some(on) = o.thin_lto {
            let _ = self.ep.set_thin_linear_timeouts(c, on);
        }
        if let Some(mss) = o.user_mss {
            let _ = self.ep.set_user_mss(c, mss);
        }
        if let Some(lowat) = o.notsent_lowat {
            let _ = self.ep.set_notsent_lowat(c, lowat);
        }
        if let Some(flags) = o.timestamping.and_then(|f| u32::try_from(f).ok()) {
            let _ = self.ep.set_timestamping(c, flags);
        }
        if let Some(tos) = o.tos {
            let _ = self.ep.set_tos(c, tos);
        }
        if let Some(n) = o.syncnt {
            let _ = self.ep.set_syn_retries(c, n);
        }
        if let Some(on) = o.oob_inline {
            let _ = self.ep.set_oob_inline(c, on);
        }
        if let Some(on) = o.quickack {
            let _ = self.ep.set_quickack(self.now, c, on);
        }
        if let Some(secs) = o.defer_accept {
            let _ = self.ep.set_defer_accept(c, secs);
        }
        if let Some(l) = o.linger2 {
            let _ = self.ep.set_linger2(c, l);
        }
        if let Some(on) = o.pmtu_discovery {
            let _ = self.ep.set_path_mtu_discovery(c, on);
        }
    }

    /// SO_SNDBUF, SO_RCVBUF, TCP_WINDOW_CLAMP, TCP_SYNCNT and TCP_LINGER2
    /// on a listener: its connections start with them (Linux
    /// sk_clone_lock()), the receive buffer in the engine's units as in
    /// `apply_opts`.
    pub(super) fn listener_opts(&mut self, l: ListenerId, o: &SockOpts) {
        if let Some(n) = o.syncnt {
            let _ = self.ep.set_listener_syn_retries(l, n);
        }
        if let Some(how) = o.linger2 {
            let _ = self.ep.set_listener_linger2(l, how);
        }
        if let Some(secs) = o.defer_accept {
            let _ = self.ep.set_listener_defer_accept(l, secs);
        }
        if let Some(b) = o.sndbuf {
            let _ = self.ep.set_listener_send_buffer(l, b);
        }
        if let Some(b) = o.rcvbuf {
            let _ = self.ep.set_listener_recv_buffer(l, b / 2);
        }
        if let Some(v) = o.window_clamp {
            let _ = self.ep.set_listener_window_clamp(l, v);
        }
    }

    pub(super) fn setsockopt(&mut self, line: u32, call: &Syscall) -> Res<CallResult> {
        let fd = self.fd_arg(line, call)?;
        let opt = option_name(call);
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
            // IP_FREEBIND lets a socket bind an address the host does not (yet)
            // have; the runner's bind always takes the local address the
            // endpoint owns, so it changes nothing for TCP here.
            "IP_FREEBIND" | "IPV6_FREEBIND" => {}
            // SO_TIMESTAMPING asks for transmit/receive timestamps, reported
            // through the error queue and control messages; setting it changes
            // nothing on the wire. recvmsg reports reading them as unchecked.
            // SO_TIMESTAMPING: the engine keeps the flags of a connection
            // and its transmit timestamps (recvmsg(MSG_ERRQUEUE) reads them);
            // a socket without one keeps the flags for the connection it
            // makes or accepts (Linux children copy sk_tsflags). Turning
            // OPT_ID on needs a connection (sock.c: sock_set_timestamping()
            // refuses it in CLOSE and LISTEN).
            "SO_TIMESTAMPING" => {
                let v = value
                    .and_then(|v| v.single().or(v.field("flags")))
                    .and_then(|e| syscalls::flag_value(e, SOF_FLAGS));
                let Some(flags) = v.and_then(|v| u32::try_from(v).ok()) else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                let r = match conn {
                    Some(c) => self.ep.set_timestamping(c, flags),
                    None if flags & finack_core::sof::OPT_ID != 0 => Err(Error::InvalidArgument),
                    None => Endpoint::check_timestamping(flags),
                };
                if let Err(e) = r {
                    return Ok(CallResult::Done(-1, Some(errno_of(e))));
                }
                opts.timestamping = Some(i64::from(flags));
                self.fds.get_mut(&fd).expect("fd").opts = opts;
                return Ok(CallResult::Done(0, None));
            }
            // TCP_INQ (Linux 4.18): recvmsg then carries a TCP_CM_INQ control
            // message; the option itself is a flag getsockopt reads back.
            "TCP_INQ" => opts.inq = int.unwrap_or(0) != 0,
            "TCP_CORK" => opts.cork = Some(int.unwrap_or(0) != 0),
            // Linux tcp.c: do_tcp_setsockopt() TCP_THIN_LINEAR_TIMEOUTS:
            // 0 or 1, anything else EINVAL.
            "TCP_THIN_LINEAR_TIMEOUTS" => match int {
                Some(v @ (0 | 1)) => opts.thin_lto = Some(v == 1),
                _ => return Ok(CallResult::Done(-1, Some("EINVAL"))),
            },
            // Linux tcp.c: do_tcp_setsockopt() TCP_MAXSEG: 0 or 88..=32767
            // (the engine checks the range, EINVAL outside it).
            "TCP_MAXSEG" => {
                let Some(mss) = int
                    .and_then(|v| u16::try_from(v).ok())
                    .filter(|m| Endpoint::check_user_mss(*m).is_ok())
                else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                opts.user_mss = Some(mss);
                if let Sock::Listener(l) = f.sock {
                    if let Err(e) = self.ep.set_listener_user_mss(l, mss) {
                        return Ok(CallResult::Done(-1, Some(errno_of(e))));
                    }
                }
            }
            // Linux tcp.c: do_tcp_setsockopt() TCP_NOTSENT_LOWAT takes any
            // 32-bit value (0xffffffff is none, 0 the sysctl's default).
            "TCP_NOTSENT_LOWAT" => {
                let Some(v) = int.and_then(|v| u32::try_from(v).ok()) else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                opts.notsent_lowat = Some(v);
            }
            // Linux sock.c: sk_setsockopt() SO_LINGER: {onoff, linger}; a
            // non-zero linger makes close() wait that long for what it
            // sends to be acknowledged (tcp_close() → sk_stream_wait_close());
            // zero makes it reset the connection.
            "SO_LINGER" => {
                let v = value.ok_or_else(|| Failure {
                    line,
                    message: "SO_LINGER needs {onoff=..., linger=...}".into(),
                })?;
                let on = v.field("onoff").and_then(Expr::as_int).unwrap_or(0);
                let secs = v.field("linger").and_then(Expr::as_int).unwrap_or(0);
                self.fds.get_mut(&fd).expect("fd").linger =
                    (on != 0).then(|| secs.clamp(0, i64::from(u32::MAX)) as u32);
                return Ok(CallResult::Done(0, None));
            }
            "TCP_NODELAY" => opts.nodelay = Some(int.unwrap_or(0) != 0),
            // Linux sock.c: sk_setsockopt() SO_ZEROCOPY: a TCP socket takes 0
            // or 1 (EINVAL otherwise) and sets the SOCK_ZEROCOPY flag, which
            // only MSG_ZEROCOPY sends look at (an accepted socket inherits it
            // from its listener, as sk_clone_lock() copies the flags).
            "SO_ZEROCOPY" => match int {
                Some(v @ (0 | 1)) => opts.zerocopy = v == 1,
                _ => return Ok(CallResult::Done(-1, Some("EINVAL"))),
            },
            "SO_KEEPALIVE" => opts.keepalive = Some(int.unwrap_or(0) != 0),
            // Linux sock.c: SO_OOBINLINE keeps urgent data's out-of-band
            // byte in the stream (SOCK_URGINLINE).
            "SO_OOBINLINE" => opts.oob_inline = Some(int.unwrap_or(0) != 0),
            // Linux sock.c: sk_setsockopt() SO_RCVLOWAT: a negative value is
            // INT_MAX; TCP keeps at most half the buffer (tcp_set_rcvlowat()).
            "SO_RCVLOWAT" => {
                let v = int.unwrap_or(1);
                let v = if v < 0 { i64::from(i32::MAX) } else { v };
                opts.rcvlowat = Some(v.min(i64::from(u32::MAX)) as u32);
                if let Sock::Conn(c) = f.sock {
                    if let Ok(kept) = self.ep.set_recv_lowat(c, opts.rcvlowat.unwrap_or(1)) {
                        opts.rcvlowat = Some(kept);
                    }
                    self.fds.get_mut(&fd).expect("fd").opts = opts;
                    return Ok(CallResult::Done(0, None));
                }
            }
            // Linux tcp.c: do_tcp_setsockopt() TCP_WINDOW_CLAMP
            // (tcp_set_window_clamp()): 0 only before a connection; a
            // listener keeps the value for the connections it makes.
            "TCP_WINDOW_CLAMP" => {
                let Some(v) = int
                    .filter(|v| *v >= 0)
                    .map(|v| v.min(i64::from(u32::MAX)) as u32)
                else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                let r = match f.sock {
                    Sock::Listener(l) => self.ep.set_listener_window_clamp(l, v),
                    Sock::Conn(c) => self.ep.set_window_clamp(c, v),
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    return Ok(CallResult::Done(-1, Some(errno_of(e))));
                }
                if !matches!(f.sock, Sock::Conn(_)) {
                    opts.window_clamp = Some(v);
                }
                self.fds.get_mut(&fd).expect("fd").opts = opts;
                return Ok(CallResult::Done(0, None));
            }
            // Linux tcp.c: do_tcp_setsockopt(): TCP_KEEPIDLE and
            // TCP_KEEPINTVL take 1 to 32767 seconds, TCP_KEEPCNT 1 to 127;
            // EINVAL otherwise.
            "TCP_KEEPIDLE" | "TCP_KEEPINTVL" | "TCP_KEEPCNT" => {
                let max = if opt == "TCP_KEEPCNT" { 127 } else { 32767 };
                let Some(v) = int.filter(|v| (1..=max).contains(v)) else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                let v = Some(v as u32);
                match opt {
                    "TCP_KEEPIDLE" => opts.keepidle = v,
                    "TCP_KEEPINTVL" => opts.keepintvl = v,
                    _ => opts.keepcnt = v,
                }
            }
            // Linux doubles the value (man 7 socket: room for bookkeeping) and
            // reports the doubled value. The receive buffer keeps the value
            // asked for as its payload size (finack's window is the free
            // payload room). The send buffer takes the doubled value, Linux's
            // sk_sndbuf, as tcp_wmem's is taken: Linux fills a unit it
            // started past the limit and wakes a writer by the share of the
            // limit that is free (sk_stream_write_space), and the scripts'
            // timing follows that limit (blocking-write.pkt).
            "SO_SNDBUF" | "SO_RCVBUF" => {
                let Some(v) = int else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                // Linux sk_setsockopt(): the value read as unsigned (so a
                // negative one is huge), then Config::so_sndbuf/so_rcvbuf.
                let (cfg, asked) = (self.ep.config(), v as u32 as usize);
                let doubled = if opt == "SO_SNDBUF" {
                    cfg.so_sndbuf(asked)
                } else {
                    cfg.so_rcvbuf(asked)
                };
                if opt == "SO_SNDBUF" {
                    opts.sndbuf = Some(doubled);
                } else {
                    opts.rcvbuf = Some(doubled);
                }
                if let Sock::Listener(l) = f.sock {
                    self.listener_opts(l, &opts);
                }
            }
            // Linux tcp.c: __tcp_sock_set_quickack(): 0 enters interactive
            // mode, anything else leaves it (and may send an owed ACK).
            "TCP_QUICKACK" => {
                let on = int.unwrap_or(0) != 0;
                if let Some(c) = conn {
                    let _ = self.ep.set_quickack(self.now, c, on);
                    self.drain();
                    return Ok(CallResult::Done(0, None));
                }
                opts.quickack = Some(on);
            }
            // Linux tcp.c: do_tcp_setsockopt() TCP_DEFER_ACCEPT: seconds,
            // kept as SYN,ACK timeouts (a negative value is 0, off).
            "TCP_DEFER_ACCEPT" => {
                let secs = int.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32;
                opts.defer_accept = Some(secs);
                match f.sock {
                    Sock::Listener(l) => self.listener_opts(l, &opts),
                    Sock::Conn(c) => {
                        let _ = self.ep.set_defer_accept(c, secs);
                    }
                    _ => {}
                }
                self.fds.get_mut(&fd).expect("fd").opts = opts;
                return Ok(CallResult::Done(0, None));
            }
            // Linux tcp.c: tcp_sock_set_syncnt(): 1 to MAX_TCP_SYNCNT (127).
            "TCP_SYNCNT" => {
                let Some(n) = int.filter(|v| (1..=127).contains(v)) else {
                    return Ok(CallResult::Done(-1, Some("EINVAL")));
                };
                opts.syncnt = Some(n as u32);
                if let Sock::Listener(l) = f.sock {
                    self.listener_opts(l, &opts);
                }
            }
            // Linux tcp.c: do_tcp_setsockopt() TCP_LINGER2 takes any value:
            // negative is "no wait", 0 the sysctl's, at most 120 s.
            "TCP_LINGER2" => {
                opts.linger2 = Some(Linger2::from_linux(int.unwrap_or(0)));
                if let Sock::Listener(l) = f.sock {
                    self.listener_opts(l, &opts);
                }
            }
            "TCP_USER_TIMEOUT" => {
                opts.user_timeout = int
                    .filter(|v| *v > 0)
                    .map(|ms| core::time::Duration::from_millis(ms as u64))
            }
            // Linux ip_sockglue.c (IP_TOS) and ipv6_sockglue.c (IPV6_TCLASS):
            // 0..=255 (-1: the default, 0, for IPV6_TCLASS); on a stream
            // socket the ECN bits stay the stack's.
            "IP_TOS" | "IPV6_TCLASS" => match int {
                Some(v @ 0..=255) => opts.tos = Some(v as u8 & !3),
                Some(-1) if opt == "IPV6_TCLASS" => opts.tos = Some(0),
                _ => return Ok(CallResult::Done(-1, Some("EINVAL"))),
            },
            // IP_PMTUDISC_WANT and _DO are what finack does for TCP: DF set,
            // "fragmentation needed" lowering the path MTU; IPv4's DONT
            // clears DF and ignores those messages
            // (Endpoint::set_path_mtu_discovery). IPv6's DONT (the host
            // fragments), PROBE, INTERFACE and OMIT are not modelled.
            "IP_MTU_DISCOVER" | "IPV6_MTU_DISCOVER" => {
                let mode = value.and_then(Expr::single);
                let word = mode.and_then(Expr::as_word);
                let num = mode.and_then(Expr::as_int);
                let on = matches!(word, Some("IP_PMTUDISC_WANT" | "IP_PMTUDISC_DO"))
                    || matches!(num, Some(1 | 2));
                let dont = opt == "IP_MTU_DISCOVER"
                    && (word == Some("IP_PMTUDISC_DONT") || num == Some(0));
                if !(on || dont) {
                    self.unsupported.push(format!(
                        "line {line}: {opt} {}: only path MTU discovery with DF set, or IPv4's IP_PMTUDISC_DONT, is modelled",
                        mode.map_or(String::new(), ToString::to_string)
                    ));
                    return Ok(CallResult::Done(0, None));
                }
                opts.pmtu_discovery = Some(on);
            }
            other => return fail(line, format!("setsockopt: unsupported option {other}")),
        }
        if let Some(c) = conn {
            let mut only = SockOpts::default();
            match opt {
                "TCP_NODELAY" => only.nodelay = opts.nodelay,
                "TCP_CORK" => only.cork = opts.cork,
                "TCP_THIN_LINEAR_TIMEOUTS" => only.thin_lto = opts.thin_lto,
                "SO_KEEPALIVE" => only.keepalive = opts.keepalive,
                "TCP_KEEPIDLE" => only.keepidle = opts.keepidle,
                "TCP_KEEPINTVL" => only.keepintvl = opts.keepintvl,
                "TCP_KEEPCNT" => only.keepcnt = opts.keepcnt,
                "TCP_SYNCNT" => only.syncnt = opts.syncnt,
                "SO_OOBINLINE" => only.oob_inline = opts.oob_inline,
                "TCP_LINGER2" => only.linger2 = opts.linger2,
                "SO_SNDBUF" => only.sndbuf = opts.sndbuf,
                "SO_RCVBUF" => only.rcvbuf = opts.rcvbuf,
                "TCP_MAXSEG" => only.user_mss = opts.user_mss,
                "TCP_NOTSENT_LOWAT" => only.notsent_lowat = opts.notsent_lowat,
                "IP_TOS" | "IPV6_TCLASS" => only.tos = opts.tos,
                "IP_MTU_DISCOVER" | "IPV6_MTU_DISCOVER" => {
                    only.pmtu_discovery = opts.pmtu_discovery
                }
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
        let opt = option_name(call);
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
            // Linux tcp.c: do_tcp_getsockopt() TCP_MAXSEG: the current MSS
            // (mss_cache, 536 before a connection); in CLOSE and LISTEN the
            // TCP_MAXSEG set, if any, since "tcp: Return user_mss for
            // TCP_MAXSEG in CLOSE/LISTEN state if user_mss set" (2020).
            // Linux 3.11 reported the user's value only while mss_cache was
            // 0, which it never is there: 536.
            "TCP_MAXSEG" => match (&info, f.opts.user_mss.filter(|m| *m != 0)) {
                (Some(i), _) => i64::from(i.snd_mss),
                (None, Some(mss)) if !self.linux_3_11 => i64::from(mss),
                (None, _) => 536,
            },
            "SO_SNDBUF" => f.opts.sndbuf.unwrap_or(cfg.send_buffer) as i64,
            "SO_RCVBUF" => f.opts.rcvbuf.unwrap_or(cfg.recv_buffer) as i64,
            "TCP_NODELAY" => i64::from(f.opts.nodelay.unwrap_or(!cfg.nagle)),
            "IP_TOS" | "IPV6_TCLASS" => i64::from(f.opts.tos.unwrap_or(0)),
            "SO_KEEPALIVE" => i64::from(f.opts.keepalive.unwrap_or(false)),
            "SO_OOBINLINE" => i64::from(f.opts.oob_inline.unwrap_or(false)),
            "SO_RCVLOWAT" => match conn {
                Some(c) => i64::from(self.ep.recv_lowat(c).unwrap_or(1)),
                None => i64::from(f.opts.rcvlowat.unwrap_or(1).max(1)),
            },
            "TCP_WINDOW_CLAMP" => match (conn, f.sock) {
                (Some(c), _) => i64::from(self.ep.window_clamp(c).unwrap_or(0)),
                (None, Sock::Listener(l)) => {
                    i64::from(self.ep.listener_window_clamp(l).unwrap_or(0))
                }
                _ => i64::from(f.opts.window_clamp.unwrap_or(0)),
            },
            // The socket's own value, else the sysctl's (Linux
            // keepalive_time_when() and friends).
            "TCP_KEEPIDLE" => i64::from(
                f.opts
                    .keepidle
                    .unwrap_or(cfg.keepalive_time.as_secs() as u32),
            ),
            "TCP_KEEPINTVL" => i64::from(
                f.opts
                    .keepintvl
                    .unwrap_or(cfg.keepalive_interval.as_secs() as u32),
            ),
            "TCP_KEEPCNT" => i64::from(f.opts.keepcnt.unwrap_or(cfg.keepalive_probes)),
            // Linux tcp.c: do_tcp_getsockopt() TCP_DEFER_ACCEPT: the
            // seconds its SYN,ACK timeouts add up to.
            "TCP_DEFER_ACCEPT" => i64::from(match (conn, f.sock) {
                (Some(c), _) => self.ep.defer_accept(c).unwrap_or(0),
                (None, Sock::Listener(l)) => self.ep.listener_defer_accept(l).unwrap_or(0),
                _ => self
                    .ep
                    .defer_accept_rounded(f.opts.defer_accept.unwrap_or(0)),
            }),
            // Linux tcp.c: do_tcp_getsockopt(): not in interactive mode.
            "TCP_QUICKACK" => match conn {
                Some(c) => i64::from(self.ep.quickack(c).unwrap_or(true)),
                None => i64::from(f.opts.quickack.unwrap_or(true)),
            },
            // Linux tcp.c: do_tcp_getsockopt(): the socket's own count, else
            // tcp_syn_retries.
            "TCP_SYNCNT" => i64::from(f.opts.syncnt.unwrap_or(cfg.syn_retries)),
            // -1 for "no wait", else the seconds, tcp_fin_timeout's when unset.
            "TCP_LINGER2" => match f.opts.linger2.unwrap_or_default() {
                Linger2::Abort => -1,
                Linger2::Seconds(s) => i64::from(s),
                _ => cfg.fin_wait2_timeout.map_or(0, |d| d.as_secs() as i64),
            },
            "SO_ERROR" => {
                // The pending error, cleared by reading it (as in Linux).
                let err = conn.and_then(|c| {
                    (self.ep.state(c) == State::Closed)
                        .then(|| self.ep.close_error(c))
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
            "TCP_INQ" => i64::from(f.opts.inq),
            "SO_ZEROCOPY" => i64::from(f.opts.zerocopy),
            "SO_TIMESTAMPING" => match conn {
                Some(c) => i64::from(self.ep.timestamping(c)),
                None => f.opts.timestamping.unwrap_or(0),
            },
            "TCP_CORK" => i64::from(f.opts.cork.unwrap_or(false)),
            "TCP_THIN_LINEAR_TIMEOUTS" => i64::from(f.opts.thin_lto.unwrap_or(false)),
            // Linux tcp.c: do_tcp_getsockopt() TCP_NOTSENT_LOWAT returns
            // the socket's own value, 0 when unset (the sysctl is not
            // reported).
            "TCP_NOTSENT_LOWAT" => i64::from(f.opts.notsent_lowat.unwrap_or(0)),
            other => return fail(line, format!("getsockopt: unsupported option {other}")),
        };
        // The value the script expects: a number, or an errno's name as
        // SO_ERROR's are written (`[ETIMEDOUT]`).
        let expected = call.args.get(3).and_then(Expr::single);
        let want = match expected.and_then(Expr::as_word) {
            Some(w) => match syscalls::errno_static(w) {
                Some(e) => Some(i64::from(errno_info(e).0)),
                None => return fail(line, format!("getsockopt {opt}: unknown value {w}")),
            },
            None => expected.and_then(Expr::as_int),
        };
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
}

/// SO_TIMESTAMPING flags (include/uapi/linux/net_tstamp.h).
const SOF_FLAGS: &[(&str, i64)] = &[
    ("SOF_TIMESTAMPING_TX_HARDWARE", 1 << 0),
    ("SOF_TIMESTAMPING_TX_SOFTWARE", 1 << 1),
    ("SOF_TIMESTAMPING_RX_HARDWARE", 1 << 2),
    ("SOF_TIMESTAMPING_RX_SOFTWARE", 1 << 3),
    ("SOF_TIMESTAMPING_SOFTWARE", 1 << 4),
    ("SOF_TIMESTAMPING_SYS_HARDWARE", 1 << 5),
    ("SOF_TIMESTAMPING_RAW_HARDWARE", 1 << 6),
    ("SOF_TIMESTAMPING_OPT_ID", 1 << 7),
    ("SOF_TIMESTAMPING_TX_SCHED", 1 << 8),
    ("SOF_TIMESTAMPING_TX_ACK", 1 << 9),
    ("SOF_TIMESTAMPING_OPT_CMSG", 1 << 10),
    ("SOF_TIMESTAMPING_OPT_TSONLY", 1 << 11),
    ("SOF_TIMESTAMPING_OPT_STATS", 1 << 12),
    ("SOF_TIMESTAMPING_OPT_PKTINFO", 1 << 13),
    ("SOF_TIMESTAMPING_OPT_TX_SWHW", 1 << 14),
    ("SOF_TIMESTAMPING_BIND_PHC", 1 << 15),
    ("SOF_TIMESTAMPING_OPT_ID_TCP", 1 << 16),
    ("SOF_TIMESTAMPING_OPT_RX_FILTER", 1 << 17),
];
