//! The application's calls (RFC 9293 §3.10.1 – §3.10.6): opening, listening,
//! sending, receiving, closing, and what the application can ask about its
//! connections.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use finack_wire::SeqNumber;

use super::slots::{tuple_of, SlotKind};
use super::{is_unicast, Endpoint};
use crate::demux::Tuple;
use crate::tcb::Tcb;
use crate::time::Instant;
use crate::types::{
    Cause, CloseReason, ConnId, Error, ListenerId, ListenerLimits, SendFlags, Shutdown, Socket,
    State, UserCall,
};

/// The error a closed connection reports (to a write, SO_ERROR): its
/// reason's, except that a reset after the peer's FIN (in CLOSE-WAIT) is a
/// broken pipe (Linux tcp_reset(): EPIPE there, ECONNRESET elsewhere).
pub(super) fn closed_error(reason: CloseReason, eof: bool) -> Option<Error> {
    match reason {
        CloseReason::Reset if eof => Some(Error::BrokenPipe),
        r => r.error(),
    }
}

impl Endpoint {
    /// Passive OPEN (RFC 9293 §3.10.1): listen on `local` (its IP may be
    /// unspecified for all local addresses) with room for `backlog` connections in
    /// each of the SYN and accept queues.
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, Error> {
        if local.port() == 0 {
            return Err(Error::InvalidAddress);
        }
        if !local.ip().is_unspecified() && !self.addrs.contains(&local.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        self.listen_on(local, backlog)
    }

    /// A transparent passive OPEN, as a transparent proxy needs (Linux's
    /// IP_TRANSPARENT with TPROXY): the listener takes a SYN to any IPv4 or
    /// IPv6 address and port that no other listener or connection holds,
    /// and each connection it opens keeps that original destination as its
    /// local address (`Endpoint::addrs`). While it exists the endpoint
    /// answers for every address: segments to addresses it does not have
    /// are no longer refused as not local. One per endpoint (`AddrInUse`).
    pub fn listen_any(&mut self, backlog: usize) -> Result<ListenerId, Error> {
        self.listen_on(crate::listener::TRANSPARENT, backlog)
    }

    fn listen_on(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, Error> {
        if self.listeners.bound(&local) {
            return Err(Error::AddrInUse);
        }
        // Linux __sys_listen(): at most somaxconn; full past it, or at it
        // (Config::linux_backlog).
        let backlog = backlog.min(self.cfg.max_backlog);
        let capacity = if self.cfg.linux_backlog {
            backlog.saturating_add(1)
        } else {
            backlog.max(1)
        };
        let id = self
            .listeners
            .add(local, backlog, capacity, self.cfg.listener_limits);
        let unspecified = unspecified_like(&local);
        self.record(
            Socket::Listener(id),
            (local, unspecified),
            State::Closed,
            State::Listen,
            Cause::User(UserCall::Listen),
        );
        Ok(id)
    }

    /// Set a listener's defences (per-source limits, idle timeout) for the
    /// connections it opens from now on, in place of
    /// [`crate::Config::listener_limits`].
    pub fn set_listener_limits(
        &mut self,
        l: ListenerId,
        limits: ListenerLimits,
    ) -> Result<(), Error> {
        let listener = self.listeners.get_mut(l).ok_or(Error::InvalidHandle)?;
        listener.limits = limits;
        Ok(())
    }

    /// Half-open and established connections (in that order) that `peer`
    /// holds at a listener, as its per-source limits count them.
    pub fn listener_source_counts(&self, l: ListenerId, peer: IpAddr) -> (u32, u32) {
        self.listeners
            .get(l)
            .map_or((0, 0), |l| l.source_counts(peer))
    }

    /// Take an established connection from a listener's accept queue.
    pub fn accept(&mut self, l: ListenerId) -> Result<ConnId, Error> {
        let listener = self.listeners.get_mut(l).ok_or(Error::InvalidHandle)?;
        let c = listener.accept_queue.pop_front().ok_or(Error::WouldBlock)?;
        if let Some(idx) = self.slot_of(c) {
            self.slots[idx as usize].unaccepted = false;
        }
        Ok(c)
    }

    /// Connections waiting in a listener's accept queue.
    pub fn accept_queue_len(&self, l: ListenerId) -> usize {
        self.listeners.get(l).map_or(0, |l| l.accept_queue.len())
    }

    /// CLOSE of a listener (RFC 9293 §3.10.4 LISTEN: "any outstanding RECEIVEs are
    /// returned with 'error: closing' responses. Delete TCB, enter CLOSED"). Like
    /// Linux, connections not yet accepted are reset.
    pub fn close_listener(&mut self, now: Instant, l: ListenerId) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let listener = self.listeners.remove(l).ok_or(Error::InvalidHandle)?;
        // Connections that ended in its accept queue go with it.
        for c in &listener.accept_queue {
            if let Some(idx) = self.slot_of(*c) {
                if matches!(self.slots[idx as usize].kind, SlotKind::Closed { .. }) {
                    self.free_slot(idx);
                }
            }
        }
        let unspecified = unspecified_like(&listener.local);
        self.record(
            Socket::Listener(l),
            (listener.local, unspecified),
            State::Listen,
            State::Closed,
            Cause::User(UserCall::Close),
        );
        let children: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| {
                let s = &self.slots[i as usize];
                s.unaccepted && matches!(&s.kind, SlotKind::Active(t) if t.listener == Some(l))
            })
            .collect();
        for idx in children {
            // Like Linux, closing a listener resets what waits in its queues.
            self.run(idx, now, Cause::User(UserCall::Close), |tcb, ctx| {
                tcb.abort(ctx)
            });
        }
        Ok(())
    }

    /// A listener's local address and backlog (what `ss -tln` shows as
    /// Local and Send-Q); `None` once it is closed.
    pub fn listener_addr(&self, l: ListenerId) -> Option<(SocketAddr, usize)> {
        self.listeners.get(l).map(|l| (l.local, l.backlog))
    }

    /// State of a listener: LISTEN while open, CLOSED after.
    pub fn listener_state(&self, l: ListenerId) -> State {
        if self.listeners.get(l).is_some() {
            State::Listen
        } else {
            State::Closed
        }
    }

    /// SEND on a listening socket with a remote address (RFC 9293 §3.10.2, LISTEN
    /// state): "change the connection from passive to active, select an ISS. Send a
    /// SYN segment, set SND.UNA to ISS, SND.NXT to ISS+1. Enter SYN-SENT state."
    /// The listener is consumed; its local address becomes the connection's.
    pub fn connect_from_listener(
        &mut self,
        now: Instant,
        l: ListenerId,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        let local = self.listeners.get(l).ok_or(Error::InvalidHandle)?.local;
        if local.ip().is_unspecified() {
            // The passive OPEN did not name a local address; pick one (MUST-44).
            self.pick_local_ip(remote)?;
        }
        self.check_remote(&local, &remote)?;
        self.listeners.remove(l);
        let local_ip = if local.ip().is_unspecified() {
            self.pick_local_ip(remote)?
        } else {
            local.ip()
        };
        let local = SocketAddr::new(local_ip, local.port());
        let c = self.open(now, local, remote, None);
        self.record(
            Socket::Conn(c),
            (local, remote),
            State::Listen,
            State::SynSent,
            Cause::User(UserCall::SendFromListen),
        );
        Ok(c)
    }

    fn pick_local_ip(&self, remote: SocketAddr) -> Result<IpAddr, Error> {
        // MUST-44/45: the source address comes from the local addresses of the
        // remote's family.
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == remote.is_ipv4())
            .ok_or(Error::AddrNotAvailable)
    }

    fn check_remote(&self, local: &SocketAddr, remote: &SocketAddr) -> Result<(), Error> {
        // MUST-46: no OPEN to broadcast/multicast (or unspecified) addresses.
        if !is_unicast(remote.ip()) || remote.port() == 0 || local.is_ipv4() != remote.is_ipv4() {
            return Err(Error::InvalidAddress);
        }
        Ok(())
    }

    fn open(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: Option<SeqNumber>,
    ) -> ConnId {
        let iss = iss.unwrap_or_else(|| self.secret.isn(now, &local, &remote));
        let ts_offset = self.ts_offset(&(local, remote));
        let (idx, id) = self.alloc_slot();
        let tcb = Tcb::connect(id, &self.cfg, now, local, remote, iss, ts_offset);
        self.slots[idx as usize].kind = SlotKind::Active(Box::new(tcb));
        let slots = &self.slots;
        self.tuples
            .insert(&(local, remote), idx, |i| tuple_of(slots, i));
        self.mark_tx(idx);
        self.reschedule(idx);
        id
    }

    /// Active OPEN (RFC 9293 §3.10.1). `local` may leave the IP unspecified (the
    /// first local address of the remote's family is used, MUST-44/45, MUST-43) and
    /// the port 0 (an ephemeral port is chosen). The SYN goes out on the next
    /// `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        self.connect_with(now, local, remote, true)
    }

    /// [`Endpoint::connect`] from a port the caller picked as an ephemeral
    /// one rather than one the application bound: a TIME-WAIT entry holding
    /// the 4-tuple is taken over only under [`Config::tw_reuse`](crate::Config::tw_reuse)
    /// (Linux __inet_hash_connect() passes tcp_twsk_unique() its twp).
    pub fn connect_picked(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, Error> {
        self.connect_with(now, local, remote, false)
    }

    fn connect_with(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bound: bool,
    ) -> Result<ConnId, Error> {
        self.last_now = self.last_now.max(now);
        self.check_remote(&local, &remote)?;
        let ip = if local.ip().is_unspecified() {
            self.pick_local_ip(remote)?
        } else if self.addrs.contains(&local.ip()) {
            local.ip()
        } else {
            return Err(Error::AddrNotAvailable);
        };
        let (port, iss) = if local.port() == 0 {
            self.ephemeral_port(now, ip, remote)?
        } else {
            let l = SocketAddr::new(ip, local.port());
            match self.tuple_available(now, &(l, remote), bound) {
                Some(reuse) => (local.port(), reuse),
                // Linux __inet_check_established(): the 4-tuple is taken
                // (EADDRNOTAVAIL).
                None => return Err(Error::AddrNotAvailable),
            }
        };
        let local = SocketAddr::new(ip, port);
        if let Some(pos) = self.tw.find(&(local, remote)) {
            // A TIME-WAIT entry we may reuse (tcp_tw_reuse).
            self.end_time_wait(pos, Cause::User(UserCall::Connect));
        }
        let c = self.open(now, local, remote, iss);
        self.stats.active_opens += 1;
        self.record(
            Socket::Conn(c),
            (local, remote),
            State::Closed,
            State::SynSent,
            Cause::User(UserCall::Connect),
        );
        Ok(c)
    }

    /// Is the 4-tuple free? `Some(iss)` if so (with the ISS to use when it reuses a
    /// TIME-WAIT entry), `None` if taken.
    /// Is the 4-tuple free for a new connection? `Some(Some(iss))` when
    /// it is held by a TIME-WAIT entry the connection may take over, with
    /// the ISS it must use. `bound`: the application chose the local port
    /// (bind() before connect()).
    fn tuple_available(
        &self,
        now: Instant,
        tuple: &Tuple,
        bound: bool,
    ) -> Option<Option<SeqNumber>> {
        if self
            .tuples
            .get(tuple, |i| tuple_of(&self.slots, i))
            .is_some()
        {
            return None;
        }
        let Some(tw) = self.tw.find(tuple).and_then(|pos| self.tw.get(pos)) else {
            return Some(None);
        };
        // Linux tcp_twsk_unique(): safe when timestamps (PAWS) protect the
        // new incarnation; a port the application bound takes the entry
        // over at once, a port picked for it only with tcp_tw_reuse and an
        // entry older than tcp_tw_reuse_delay (time_after32(): strictly).
        // The ISS starts past the old connection's window (never 0).
        let age = now.saturating_duration_since(tw.entered(&self.cfg));
        let reuse = self.cfg.tw_reuse && age > self.cfg.tw_reuse_delay;
        if tw.ts_recent().is_none() || !(bound || reuse) {
            return None;
        }
        let iss = tw.snd_nxt + 65535 + 2;
        Some(Some(if iss.0 == 0 { SeqNumber(1) } else { iss }))
    }

    /// RFC 6056 §3.3.3 (algorithm 3): start at a keyed hash of the addresses plus a
    /// counter, and walk the range for a free 4-tuple.
    fn ephemeral_port(
        &mut self,
        now: Instant,
        ip: IpAddr,
        remote: SocketAddr,
    ) -> Result<(u16, Option<SeqNumber>), Error> {
        let (lo, hi) = self.cfg.ephemeral_ports;
        let (lo, hi) = (u32::from(lo.min(hi)), u32::from(lo.max(hi)));
        let range = hi - lo + 1;
        let offset = self.secret.hash_tuple(4, &SocketAddr::new(ip, 0), &remote) as u32;
        for i in 0..range {
            let port =
                (lo + (offset.wrapping_add(self.port_counter).wrapping_add(i)) % range) as u16;
            let local = SocketAddr::new(ip, port);
            if self.listeners.find(&local).is_some() {
                continue;
            }
            if let Some(iss) = self.tuple_available(now, &(local, remote), false) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok((port, iss));
            }
        }
        Err(Error::AddrNotAvailable)
    }

    /// Queue bytes for sending (RFC 9293 §3.10.2). Returns how many were taken;
    /// `WouldBlock` if the send buffer is full (an `Event::Writable` follows).
    pub fn send(&mut self, now: Instant, c: ConnId, data: &[u8]) -> Result<usize, Error> {
        self.send_with(now, c, data, SendFlags::default())
    }

    /// [`send`](Self::send) with `send(2)`'s flags: MSG_MORE (`more`: do not
    /// push this write yet) and MSG_EOR (`eor`: later writes never share a
    /// segment with it).
    pub fn send_with(
        &mut self,
        now: Instant,
        c: ConnId,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                let r = tcb.send(now, data, flags, &self.cfg);
                self.mark_tx(idx);
                self.account(idx);
                r
            }
            SlotKind::TimeWait(_) => Err(Error::BrokenPipe),
            SlotKind::Closed { reason, eof, .. } => {
                Err(closed_error(*reason, *eof).unwrap_or(Error::BrokenPipe))
            }
            SlotKind::Free => Err(Error::InvalidHandle),
        }
    }

    /// Read received bytes (RFC 9293 §3.10.3). `Ok(0)` means end of stream (the
    /// peer's FIN, or after `shutdown(Read)`); `WouldBlock` means nothing yet.
    pub fn recv(&mut self, now: Instant, c: ConnId, out: &mut [u8]) -> Result<usize, Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                tcb.rcv.mem_pressure = self.mem.pressure();
                let (n, update) = tcb.recv(now, out, &self.cfg)?;
                tcb.arm_buffer_release(now, &self.cfg);
                if update {
                    self.mark_tx(idx);
                }
                self.reschedule(idx);
                self.account(idx);
                Ok(n)
            }
            SlotKind::TimeWait(held) => Ok(held.leftover.as_mut().map_or(0, |l| l.rx.read(out))),
            SlotKind::Closed {
                reason,
                leftover,
                eof,
                ..
            } => {
                let n = leftover.as_mut().map_or(0, |l| l.rx.read(out));
                if n > 0 || *eof {
                    return Ok(n);
                }
                match reason.error() {
                    Some(e) => Err(e),
                    None => Ok(0),
                }
            }
            SlotKind::Free => Err(Error::InvalidHandle),
        }
    }

    /// Half-close or stop reading (see [`Shutdown`]).
    pub fn shutdown(&mut self, now: Instant, c: ConnId, how: Shutdown) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Active(_) => {
                let cause = Cause::User(UserCall::Shutdown(how));
                self.run(idx, now, cause, |tcb, ctx| tcb.shutdown(ctx, how))
                    .ok_or(Error::InvalidHandle)?
            }
            SlotKind::TimeWait(_) => Ok(()),
            SlotKind::Closed { .. } => Err(Error::NotConnected),
            SlotKind::Free => Err(Error::InvalidHandle),
        }
    }

    /// CLOSE (RFC 9293 §3.10.4) and release the handle: FIN after the queued data,
    /// or RST if received data was left unread (RFC 2525 §2.17). The connection
    /// finishes its close in the background.
    pub fn close(&mut self, now: Instant, c: ConnId) -> Result<(), Error> {
        self.release(now, c, false)
    }

    /// ABORT (RFC 9293 §3.10.5; `SO_LINGER` 0): send RST, drop everything, release
    /// the handle.
    pub fn abort(&mut self, now: Instant, c: ConnId) -> Result<(), Error> {
        self.release(now, c, true)
    }

    fn release(&mut self, now: Instant, c: ConnId, abort: bool) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(_) => {
                // The record names the call the application made: close()
                // with unread data resets the connection, but it is close().
                let call = if abort {
                    UserCall::Abort
                } else {
                    UserCall::Close
                };
                self.count_orphan(idx);
                self.run(idx, now, Cause::User(call), |tcb, ctx| {
                    if abort {
                        tcb.abort_by_user(ctx);
                    } else {
                        tcb.close(ctx);
                    }
                });
                if !abort {
                    self.check_orphan_oom(idx, now);
                }
            }
            SlotKind::TimeWait(held) => {
                // The entry finishes TIME-WAIT on its own; the handle goes.
                if let Some(pos) = self.tw.find(&held.tuple) {
                    if let Some(e) = self.tw.get_mut(pos) {
                        e.release();
                    }
                }
                self.free_slot(idx);
            }
            SlotKind::Closed { .. } => self.free_slot(idx),
            SlotKind::Free => return Err(Error::InvalidHandle),
        }
        Ok(())
    }

    /// The control block of a connection that has one (not in TIME-WAIT,
    /// not closed), for what the application reads of it.
    pub(super) fn active(&self, c: ConnId) -> Result<&Tcb, Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => Ok(tcb),
            _ => Err(Error::NotConnected),
        }
    }

    pub(super) fn with_active(&mut self, c: ConnId, f: impl FnOnce(&mut Tcb)) -> Result<(), Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                f(tcb);
                self.mark_tx(idx);
                self.reschedule(idx);
                self.account(idx);
                Ok(())
            }
            _ => Err(Error::NotConnected),
        }
    }
}

/// The unspecified address of the same family, port 0.
fn unspecified_like(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}
