//! Socket options of a connection or a listener (TCP_NODELAY, TCP_CORK,
//! SO_SNDBUF, SO_RCVBUF, TCP_MAXSEG, TCP_NOTSENT_LOWAT, TCP_USER_TIMEOUT,
//! IP_TOS, path MTU discovery, SO_TIMESTAMPING) and the error queue.

use super::slots::SlotKind;
use super::Endpoint;

use crate::types::{ConnId, Error, ListenerId, State};

impl Endpoint {
    /// Turn Nagle's algorithm off (`true`, TCP_NODELAY, MUST-17) or on.
    pub fn set_nodelay(&mut self, c: ConnId, nodelay: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| {
            tcb.snd.nodelay = nodelay;
            // Linux tcp.c: __tcp_sock_set_nodelay(): turning Nagle off pushes
            // what is queued at once, a cork notwithstanding.
            tcb.snd.push_once |= nodelay;
        })
    }

    /// Cork the connection (`true`, TCP_CORK): a partial last segment waits
    /// until the cork is removed (or the persist timer sends it); removing it
    /// sends what is queued at once (Linux `__tcp_sock_set_cork`).
    pub fn set_cork(&mut self, c: ConnId, cork: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| {
            if tcb.snd.cork && !cork {
                tcb.snd.push_once = true;
            }
            tcb.snd.cork = cork;
        })
    }

    /// Linear retransmission timeouts while the stream is thin
    /// (TCP_THIN_LINEAR_TIMEOUTS; see `Config::thin_linear_timeouts`, which
    /// turns them on for every connection).
    pub fn set_thin_linear_timeouts(&mut self, c: ConnId, on: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.snd.thin_lto = on)
    }

    /// Limit this connection's send buffer to `bytes` of queued data
    /// (SO_SNDBUF); autotuning then leaves it alone
    /// (`Config::sndbuf_autotune`, Linux SOCK_SNDBUF_LOCK). Data already
    /// queued stays.
    pub fn set_send_buffer(&mut self, c: ConnId, bytes: usize) -> Result<(), Error> {
        self.with_active(c, |tcb| {
            tcb.snd.buf.set_cap(bytes);
            tcb.lock_sndbuf();
        })
    }

    /// Size this connection's receive buffer, and so its receive window, to
    /// `bytes` (SO_RCVBUF); autotuning then leaves it alone
    /// (`Config::rcvbuf_autotune`, Linux `SOCK_RCVBUF_LOCK`). Only while no
    /// data is buffered: `Error::WouldBlock`
    /// otherwise. The window already advertised is never withdrawn (RFC 9293
    /// SHLD-14).
    pub fn set_recv_buffer(&mut self, c: ConnId, bytes: usize) -> Result<(), Error> {
        let mut ok = true;
        let (mem, max) = (self.cfg.rcv_memory, self.cfg.rmem_max);
        self.with_active(c, |tcb| ok = tcb.set_recv_buffer(mem, max, bytes))?;
        if ok {
            Ok(())
        } else {
            Err(Error::WouldBlock)
        }
    }

    /// Set TCP_MAXSEG on a connection (`mss` 0 unsets it). Set before the
    /// handshake, it lowers the MSS announced in our SYN and the MSS we send
    /// with (the peer's MSS is clamped to it); on a connection whose
    /// handshake is done it is recorded and changes nothing, as in Linux.
    /// `InvalidArgument` outside 88..=32767 (Linux tcp.c:
    /// do_tcp_setsockopt() TCP_MAXSEG: TCP_MIN_MSS to MAX_TCP_WINDOW).
    pub fn set_user_mss(&mut self, c: ConnId, mss: u16) -> Result<(), Error> {
        Self::check_user_mss(mss)?;
        self.with_active(c, |tcb| tcb.set_user_mss(mss))
    }

    /// Is `mss` a TCP_MAXSEG value the set calls take? 0 (unset) or a value
    /// from TCP_MIN_MSS (88) to MAX_TCP_WINDOW (32767), `InvalidArgument`
    /// otherwise (Linux tcp.c: do_tcp_setsockopt() TCP_MAXSEG).
    pub fn check_user_mss(mss: u16) -> Result<(), Error> {
        if mss != 0 && !(88..=32_767).contains(&mss) {
            return Err(Error::InvalidArgument);
        }
        Ok(())
    }

    /// Set TCP_MAXSEG on a listener (`mss` 0 unsets it): its SYN,ACKs announce
    /// at most `mss` and the connections it makes inherit it (Linux
    /// tcp_make_synack() and tcp_conn_request()).
    pub fn set_listener_user_mss(&mut self, l: ListenerId, mss: u16) -> Result<(), Error> {
        Self::check_user_mss(mss)?;
        self.listener_opts_mut(l)?.user_mss = mss;
        Ok(())
    }

    /// Set SO_RCVBUF on a listener, in the units of [`Endpoint::set_recv_buffer`]
    /// (0 unsets it): the connections it makes start with this receive
    /// buffer, not autotuned, from the SYN on, and its SYN,ACKs announce the
    /// window shift that buffer needs (Linux tcp_openreq_init_rwin(),
    /// sk_clone_lock()).
    pub fn set_listener_recv_buffer(&mut self, l: ListenerId, bytes: usize) -> Result<(), Error> {
        self.listener_opts_mut(l)?.rcvbuf = bytes;
        Ok(())
    }

    /// Set SO_SNDBUF on a listener (0 unsets it): the connections it makes
    /// start with this send buffer, not autotuned (Linux sk_clone_lock()).
    pub fn set_listener_send_buffer(&mut self, l: ListenerId, bytes: usize) -> Result<(), Error> {
        self.listener_opts_mut(l)?.sndbuf = bytes;
        Ok(())
    }

    /// Set TCP_NOTSENT_LOWAT on a connection: a write takes a new unit of
    /// data, and the connection counts as writable, only while fewer bytes
    /// than this are queued and unsent (Linux tcp.c: do_tcp_setsockopt()
    /// TCP_NOTSENT_LOWAT, tcp_stream_memory_free()). 0 returns to the
    /// endpoint's default, `Config::notsent_lowat`. A connection that
    /// becomes writable by it is announced by `Event::Writable` (Linux
    /// calls sk_write_space() on setting it).
    pub fn set_notsent_lowat(&mut self, c: ConnId, lowat: u32) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        let mut wake = false;
        self.with_active(c, |tcb| {
            tcb.snd.buf.set_notsent_lowat(lowat);
            if tcb.snd.blocked && tcb.snd.writable(&cfg) {
                tcb.snd.blocked = false;
                wake = true;
            }
        })?;
        if wake {
            self.events.push(crate::types::Event::Writable(c));
        }
        Ok(())
    }

    /// Would a write find room now, and does poll() report POLLOUT? Linux
    /// tcp.c: tcp_poll() asks __sk_stream_is_writeable(sk, 1): the queue
    /// below the send buffer, free space at least half of what is queued
    /// (`Config::linux_write_space`) and twice the unsent bytes below the
    /// low-water mark (TCP_NOTSENT_LOWAT). False for a connection that
    /// cannot send (not yet or no longer open for writing) or is unknown.
    pub fn writable(&self, c: ConnId) -> bool {
        let Some(idx) = self.slot_of(c) else {
            return false;
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                matches!(tcb.state, State::Established | State::CloseWait)
                    && !tcb.snd.fin_queued
                    && tcb.snd.writable(&self.cfg)
            }
            _ => false,
        }
    }

    /// Set this connection's user timeout (TCP_USER_TIMEOUT; RFC 9293 MUST-21 lets
    /// the application set R2).
    pub fn set_user_timeout(
        &mut self,
        c: ConnId,
        timeout: Option<core::time::Duration>,
    ) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.snd.set_user_timeout(timeout))
    }

    /// Set the Diffserv field (IPv4 TOS / IPv6 Traffic Class) of this
    /// connection's packets (RFC 9293 MUST-48, SHLD-21: also mid-connection).
    pub fn set_tos(&mut self, c: ConnId, tos: u8) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.tos = tos)
    }

    /// Path MTU discovery for a connection over IPv4 (IP_MTU_DISCOVER:
    /// on is IP_PMTUDISC_WANT / IP_PMTUDISC_DO, the default; off is
    /// IP_PMTUDISC_DONT): off, its packets leave without DF (routers may
    /// fragment them) and ICMP "fragmentation needed" no longer lowers its
    /// segment size (Linux tcp_v4_mtu_reduced()); the endpoint still
    /// remembers the path's MTU for later connections. IPv6 has no DF bit:
    /// there the setting changes nothing.
    pub fn set_path_mtu_discovery(&mut self, c: ConnId, on: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.pmtu_off = !on)
    }

    /// The route towards this connection's peer now has an MTU of `mtu`
    /// bytes (as `ip route change ... mtu M` does to a Linux socket): the
    /// next packet sent sees the new route and segments are sized from it
    /// afterwards (Linux tcp_output.c: tcp_current_mss(), tcp_sync_mss()),
    /// within what RFC 4821 probing has confirmed when
    /// [`Config::mtu_probing`] is on.
    pub fn set_route_mtu(
        &mut self,
        now: crate::time::Instant,
        c: ConnId,
        mtu: u16,
    ) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| tcb.set_route_mtu(&cfg, now, mtu))
    }

    /// Set SO_TIMESTAMPING on a connection ([`sof`](crate::sof) flag bits;
    /// 0 turns it off), as Linux sock.c: sock_set_timestamping() does:
    /// `InvalidArgument` for unknown bits, OPT_ID_TCP without OPT_ID,
    /// OPT_STATS without OPT_TSONLY, BIND_PHC (no device to bind) and for
    /// turning OPT_ID on in CLOSED; turning OPT_ID on counts keys from
    /// SND.UNA (from the write sequence with OPT_ID_TCP).
    ///
    /// With TX_SCHED, TX_SOFTWARE or TX_ACK, each later write asks for
    /// transmit timestamps of its last byte: SCHED and SND each time the
    /// segment holding it is sent, ACK when a cumulative ACK first covers
    /// it; read them with [`recv_errqueue`](Self::recv_errqueue).
    pub fn set_timestamping(&mut self, c: ConnId, flags: u32) -> Result<(), Error> {
        Self::check_timestamping(flags)?;
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                let write_seq = tcb.snd.buf_seq + tcb.snd.buf.len() as u32;
                let (state, una) = (tcb.state, tcb.snd.una);
                tcb.errs.set_timestamping(flags, state, una, write_seq)
            }
            SlotKind::Free => Err(Error::InvalidHandle),
            // Linux: the socket is in TCP_CLOSE once the connection is gone.
            _ if flags & crate::sof::OPT_ID != 0 => Err(Error::InvalidArgument),
            _ => Ok(()),
        }
    }

    /// Are `flags` SO_TIMESTAMPING flags a socket takes, whatever its state?
    /// `InvalidArgument` for the refusals of
    /// [`set_timestamping`](Self::set_timestamping) that do not depend on
    /// the connection (all but OPT_ID in CLOSED or LISTEN).
    pub fn check_timestamping(flags: u32) -> Result<(), Error> {
        crate::tcb::errqueue::check_timestamping(flags)
    }

    /// The SO_TIMESTAMPING flags of a connection (0 when off, or for a
    /// connection that is gone).
    pub fn timestamping(&self, c: ConnId) -> u32 {
        match self.slot_of(c).map(|i| &self.slots[i as usize].kind) {
            Some(SlotKind::Active(tcb)) => tcb.errs.flags(),
            _ => 0,
        }
    }

    /// recvmsg(MSG_ERRQUEUE): the oldest transmit timestamp in the
    /// connection's error queue (Linux ip_recv_error() / ipv6_recv_error());
    /// `WouldBlock` when it is empty (Linux: EAGAIN, never waiting). The
    /// records stay readable in TIME-WAIT and CLOSED while the application
    /// holds the handle, as they stay with a Linux socket until close().
    pub fn recv_errqueue(&mut self, c: ConnId) -> Result<crate::TxTimestamp, Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.errs.pop(),
            SlotKind::TimeWait(held) => held.leftover.as_mut().ok_or(Error::WouldBlock)?.errs.pop(),
            SlotKind::Closed { leftover, .. } => {
                leftover.as_mut().ok_or(Error::WouldBlock)?.errs.pop()
            }
            SlotKind::Free => Err(Error::InvalidHandle),
        }
    }

    /// Records waiting in the connection's error queue (Linux tcp_poll()
    /// reports POLLERR while there are any).
    pub fn errqueue_len(&self, c: ConnId) -> usize {
        match self.slot_of(c).map(|i| &self.slots[i as usize].kind) {
            Some(SlotKind::Active(tcb)) => tcb.errs.queued(),
            Some(SlotKind::TimeWait(held)) => held.leftover.as_ref().map_or(0, |l| l.errs.queued()),
            Some(SlotKind::Closed { leftover, .. }) => {
                leftover.as_ref().map_or(0, |l| l.errs.queued())
            }
            _ => 0,
        }
    }
}
