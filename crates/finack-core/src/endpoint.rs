//! The endpoint: connection table, listeners, demultiplexing, timers and the
//! sans-IO surface (`handle_packet`, `poll_transmit`, `poll_timeout`,
//! `handle_timeout`, `poll_event`) plus the user calls.

use alloc::boxed::Box;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use finack_wire::{SeqNumber, TcpRepr};

use crate::buffer::RecvBuf;
use crate::config::Config;
use crate::isn::Secret;
use crate::listener::{self, ListenAction, Listeners};
use crate::tcb::{emit_ctl, CtlSegment, Ctx, Outcome, Tcb};
use crate::time::Instant;
use crate::timewait::{TimeWait, TwAction};
use crate::types::{
    Cause, CloseReason, ConnId, ConnInfo, Error, Event, EventQueue, ListenerId, MemoryUsage,
    PacketError, Shutdown, Socket, State, Stats, TimerKind, Transition, UserCall,
};

use crate::demux::{ConnTable, SipBuild, Tuple};

/// Most transition records kept between two [`Endpoint::take_transitions`]
/// calls; older ones are dropped first.
pub const MAX_TRANSITIONS: usize = 16_384;

/// Received bytes kept for the application after its connection left the full
/// TCB (TIME-WAIT or CLOSED) while it still held the handle.
struct Leftover {
    rx: RecvBuf,
}

enum SlotKind {
    Free,
    Active(Box<Tcb>),
    TimeWait {
        tw: TimeWait,
        leftover: Option<Box<Leftover>>,
        held: bool,
    },
    Closed {
        reason: CloseReason,
        leftover: Option<Box<Leftover>>,
    },
}

struct Slot {
    gen: u32,
    sched: Option<Instant>,
    queued: bool,
    /// A passive connection the application has not accepted yet.
    unaccepted: bool,
    kind: SlotKind,
}

/// A TCP endpoint: one host's connections and listeners. See the crate docs.
pub struct Endpoint {
    cfg: Config,
    secret: Secret,
    addrs: Vec<IpAddr>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    tuples: ConnTable,
    listeners: Listeners,
    timers: BTreeSet<(Instant, u32)>,
    tx_queue: VecDeque<u32>,
    ctl: VecDeque<CtlSegment>,
    events: EventQueue,
    transitions: VecDeque<Transition>,
    stats: Stats,
    last_now: Instant,
    port_counter: u32,
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}

impl Endpoint {
    /// A new endpoint. `secret` keys ISNs and the hash tables; use 16 random bytes.
    pub fn new(config: Config, secret: [u8; 16]) -> Endpoint {
        let s = Secret::new(secret);
        let hasher = || SipBuild {
            k0: s.hash_tuple(
                2,
                &SocketAddr::from(([0, 0, 0, 0], 0)),
                &SocketAddr::from(([0, 0, 0, 0], 0)),
            ),
            k1: s.hash_tuple(
                3,
                &SocketAddr::from(([0, 0, 0, 0], 0)),
                &SocketAddr::from(([0, 0, 0, 0], 0)),
            ),
        };
        let (tuples, listeners) = (ConnTable::new(hasher()), Listeners::new(hasher()));
        Endpoint {
            tuples,
            listeners,
            cfg: config,
            secret: s,
            addrs: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: BTreeSet::new(),
            tx_queue: VecDeque::new(),
            ctl: VecDeque::new(),
            events: EventQueue::default(),
            transitions: VecDeque::new(),
            stats: Stats::default(),
            last_now: Instant::ZERO,
            port_counter: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> Stats {
        Stats {
            events_dropped: self.events.dropped,
            ..self.stats.clone()
        }
    }

    /// Add a local address: packets to it are ours, connections may use it.
    pub fn add_address(&mut self, addr: IpAddr) {
        if !self.addrs.contains(&addr) {
            self.addrs.push(addr);
        }
    }

    /// The local addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    // ---- Slots ---------------------------------------------------------------

    fn alloc_slot(&mut self) -> (u32, ConnId) {
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            (
                idx,
                ConnId {
                    index: idx,
                    gen: slot.gen,
                },
            )
        } else {
            let idx = self.slots.len() as u32;
            self.slots.push(Slot {
                gen: 0,
                sched: None,
                queued: false,
                unaccepted: false,
                kind: SlotKind::Free,
            });
            (idx, ConnId { index: idx, gen: 0 })
        }
    }

    fn free_slot(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        slot.kind = SlotKind::Free;
        slot.gen = slot.gen.wrapping_add(1);
        slot.unaccepted = false;
        if let Some(t) = slot.sched.take() {
            self.timers.remove(&(t, idx));
        }
        self.free.push(idx);
    }

    fn slot_of(&self, c: ConnId) -> Option<u32> {
        let slot = self.slots.get(c.index as usize)?;
        (slot.gen == c.gen && !matches!(slot.kind, SlotKind::Free)).then_some(c.index)
    }

    fn conn_id(&self, idx: u32) -> ConnId {
        ConnId {
            index: idx,
            gen: self.slots[idx as usize].gen,
        }
    }

    fn record(&mut self, socket: Socket, tuple: Tuple, from: State, to: State, cause: Cause) {
        if self.cfg.record_transitions && from != to {
            // A bounded log: an application that never reads it loses the
            // oldest records, not memory.
            if self.transitions.len() >= MAX_TRANSITIONS {
                self.transitions.pop_front();
            }
            self.transitions.push_back(Transition {
                time: self.last_now,
                socket,
                local: tuple.0,
                remote: tuple.1,
                from,
                to,
                cause,
            });
        }
    }

    fn mark_tx(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        if !slot.queued && matches!(slot.kind, SlotKind::Active(_)) {
            slot.queued = true;
            self.tx_queue.push_back(idx);
        }
    }

    fn reschedule(&mut self, idx: u32) {
        let slot = &mut self.slots[idx as usize];
        let want = match &slot.kind {
            SlotKind::Active(tcb) => tcb.next_deadline(),
            SlotKind::TimeWait { tw, .. } => Some(tw.deadline),
            _ => None,
        };
        if slot.sched != want {
            if let Some(t) = slot.sched.take() {
                self.timers.remove(&(t, idx));
            }
            if let Some(t) = want {
                self.timers.insert((t, idx));
            }
            slot.sched = want;
        }
    }

    /// Run one event `f` on the TCB in slot `idx` and apply its outcome
    /// (`apply`). `cause` names the event for the transition record (a timer
    /// that changed the state names itself in the outcome). `None` if the slot
    /// holds no TCB.
    fn run<R>(
        &mut self,
        idx: u32,
        now: Instant,
        cause: Cause,
        f: impl FnOnce(&mut Tcb, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let accept_full = self.accept_queue_full(idx);
        let Endpoint {
            cfg,
            slots,
            events,
            stats,
            ..
        } = self;
        let SlotKind::Active(tcb) = &mut slots[idx as usize].kind else {
            return None;
        };
        let before = tcb.state;
        let mut ctx = Ctx {
            now,
            cfg,
            events,
            stats,
            accept_queue_full: accept_full,
            out: Outcome::default(),
        };
        let r = f(tcb, &mut ctx);
        let out = ctx.out;
        self.apply(idx, before, out, cause);
        Some(r)
    }

    /// For a passive connection in SYN-RECEIVED: is its listener's accept
    /// queue full (the handshake's ACK must wait)?
    fn accept_queue_full(&self, idx: u32) -> bool {
        let SlotKind::Active(tcb) = &self.slots[idx as usize].kind else {
            return false;
        };
        match tcb.listener {
            Some(l) if tcb.state == State::SynReceived => {
                self.listeners.get(l).is_some_and(|l| l.accept_queue_full())
            }
            _ => false,
        }
    }

    /// The one place an event's outcome takes effect: record the transition
    /// with its cause, send the RST owed, move a passive connection to its
    /// accept queue, compact TIME-WAIT, release CLOSED, re-arm the timers.
    fn apply(&mut self, idx: u32, before: State, out: Outcome, cause: Cause) {
        let now = self.last_now;
        let id = self.conn_id(idx);
        let cause = out.timer.map_or(cause, Cause::Timer);
        let slot = &mut self.slots[idx as usize];
        let unaccepted = slot.unaccepted;
        let SlotKind::Active(tcb) = &mut slot.kind else {
            return;
        };
        let after = tcb.state;
        let back_to_listen = out.back_to_listen;
        let listener = tcb.listener;
        let held = !tcb.orphan && !unaccepted;
        let tuple = (tcb.local, tcb.remote);
        if let Some((seq, ack)) = out.rst {
            self.queue_rst(tuple, seq, ack);
        }
        match out.closed {
            Some(CloseReason::TimedOut) => self.stats.timeouts += 1,
            Some(CloseReason::Reset) => self.stats.resets_received += 1,
            _ => {}
        }
        if back_to_listen {
            self.record(Socket::Conn(id), tuple, before, State::Listen, cause);
        } else {
            self.record(Socket::Conn(id), tuple, before, after, cause);
        }
        // A passive connection finished its handshake: hand it to the accept queue.
        if unaccepted && before == State::SynReceived && after != State::SynReceived {
            if let Some(l) = listener {
                if self.listeners.handshake_done(l, id, after != State::Closed) {
                    self.events.push(Event::Incoming(l));
                }
            }
        }
        match after {
            State::Closed => {
                self.tuples.remove(&tuple, idx);
                let reason = out.closed.unwrap_or(CloseReason::Normal);
                if unaccepted && before != State::SynReceived {
                    // Died in the accept queue.
                    if let Some(l) = listener {
                        self.listeners.forget(l, id);
                    }
                }
                if !back_to_listen && !unaccepted {
                    self.events.push(Event::Closed { conn: id, reason });
                }
                if held {
                    let slot = &mut self.slots[idx as usize];
                    let SlotKind::Active(tcb) = core::mem::replace(&mut slot.kind, SlotKind::Free)
                    else {
                        return;
                    };
                    let leftover = leftover_of(*tcb);
                    slot.kind = SlotKind::Closed { reason, leftover };
                    if let Some(t) = slot.sched.take() {
                        self.timers.remove(&(t, idx));
                    }
                } else {
                    self.free_slot(idx);
                }
                return;
            }
            State::TimeWait => {
                self.stats.time_wait_entered += 1;
                let cfg = &self.cfg;
                let slot = &mut self.slots[idx as usize];
                let SlotKind::Active(tcb) = core::mem::replace(&mut slot.kind, SlotKind::Free)
                else {
                    return;
                };
                let tw = TimeWait::from_tcb(&tcb, now, cfg);
                // Entered through the peer's FIN: the compact entry sends its ACK.
                if tcb.rcv.ack_now {
                    self.ctl.push_back(tw.ack(now));
                }
                let leftover = if held { leftover_of(*tcb) } else { None };
                slot.kind = SlotKind::TimeWait { tw, leftover, held };
            }
            _ => {
                let cfg = &self.cfg;
                if let SlotKind::Active(tcb) = &mut self.slots[idx as usize].kind {
                    if tcb.ka.on && !tcb.ka.probe_due {
                        tcb.arm_keepalive(cfg);
                    }
                }
            }
        }
        self.mark_tx(idx);
        self.reschedule(idx);
    }

    // ---- Packets in ----------------------------------------------------------

    /// Feed one inbound IPv4 or IPv6 packet. Malformed packets (bad checksum,
    /// truncated, fragments, not TCP, ...) and packets for other hosts are rejected
    /// with an error and change nothing.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.stats.packets_in += 1;
        let (ip, seg) = match finack_wire::parse_tcp_packet(packet) {
            Ok(p) => p,
            Err(finack_wire::Error::WrongProtocol(
                finack_wire::icmp::IP_PROTOCOL_ICMP | finack_wire::icmp::IP_PROTOCOL_ICMPV6,
            )) => return self.icmp_arrives(now, packet),
            Err(e) => {
                self.stats.malformed += 1;
                if e == finack_wire::Error::BadChecksum {
                    self.stats.bad_checksum += 1;
                }
                return Err(e.into());
            }
        };
        // MUST-57 / MUST-63: nothing to or from broadcast/multicast addresses.
        if !is_unicast(ip.dst) || !is_unicast(ip.src) || seg.src_port == 0 || seg.dst_port == 0 {
            self.stats.bad_address += 1;
            return Err(Error::Packet(PacketError::BadAddress));
        }
        if !self.addrs.contains(&ip.dst) {
            self.stats.not_local += 1;
            return Err(Error::Packet(PacketError::NotLocal));
        }
        let local = SocketAddr::new(ip.dst, seg.dst_port);
        let remote = SocketAddr::new(ip.src, seg.src_port);
        self.segment_arrives(now, local, remote, &seg);
        Ok(())
    }

    /// RFC 9293 §3.9.2.2 (MUST-54): ICMP errors about our segments.
    fn icmp_arrives(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let e = match finack_wire::icmp::parse_icmp_error(packet) {
            Ok(e) => e,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        self.stats.icmp_in += 1;
        if !self.addrs.contains(&e.src) {
            self.stats.not_local += 1;
            return Err(Error::Packet(PacketError::NotLocal));
        }
        let local = SocketAddr::new(e.src, e.src_port);
        let remote = SocketAddr::new(e.dst, e.dst_port);
        let Some(idx) = self
            .tuples
            .get(&(local, remote), |i| tuple_of(&self.slots, i))
        else {
            self.stats.icmp_ignored += 1;
            return Ok(());
        };
        if self
            .run(idx, now, Cause::Icmp, |tcb, ctx| tcb.on_icmp(ctx, &e))
            .is_none()
        {
            self.stats.icmp_ignored += 1;
        }
        Ok(())
    }

    fn segment_arrives(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        let cause = Cause::Segment(seg.flags);
        let mut iss_override = None;
        if let Some(idx) = self
            .tuples
            .get(&(local, remote), |i| tuple_of(&self.slots, i))
        {
            match &mut self.slots[idx as usize].kind {
                SlotKind::Active(_) => {
                    self.run(idx, now, cause, |tcb, ctx| tcb.on_segment(ctx, seg));
                    return;
                }
                SlotKind::TimeWait { tw, .. } => match tw.on_segment(now, &self.cfg, seg) {
                    TwAction::Drop => return,
                    TwAction::Ack(ack) => {
                        self.ctl.push_back(ack);
                        self.reschedule(idx);
                        return;
                    }
                    TwAction::Kill => {
                        self.end_time_wait(idx, cause);
                        return;
                    }
                    TwAction::Reopen(iss) => {
                        self.stats.time_wait_reused += 1;
                        self.end_time_wait(idx, cause);
                        iss_override = Some(iss);
                    }
                },
                _ => {}
            }
        }
        if let Some(l) = self.listeners.find(&local) {
            let action = self.listeners.on_segment(
                now,
                &self.cfg,
                &self.secret,
                &mut self.stats,
                l,
                local,
                remote,
                seg,
            );
            self.listen_action(now, action, local, remote, seg, iss_override);
            return;
        }
        self.reply_closed(local, remote, seg);
    }

    /// TIME-WAIT is over (2MSL passed, RST accepted or a new SYN took the tuple).
    fn end_time_wait(&mut self, idx: u32, cause: Cause) {
        let id = self.conn_id(idx);
        let slot = &mut self.slots[idx as usize];
        let SlotKind::TimeWait { tw, leftover, held } =
            core::mem::replace(&mut slot.kind, SlotKind::Free)
        else {
            return;
        };
        self.tuples.remove(&tw.tuple(), idx);
        self.record(
            Socket::Conn(id),
            tw.tuple(),
            State::TimeWait,
            State::Closed,
            cause,
        );
        self.events.push(Event::Closed {
            conn: id,
            reason: CloseReason::Normal,
        });
        if held {
            let slot = &mut self.slots[idx as usize];
            slot.kind = SlotKind::Closed {
                reason: CloseReason::Normal,
                leftover,
            };
            if let Some(t) = slot.sched.take() {
                self.timers.remove(&(t, idx));
            }
        } else {
            self.free_slot(idx);
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (never in reply to
    /// a RST): `<SEQ=SEG.ACK><CTL=RST>` if it carries an ACK, otherwise
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    fn reply_closed(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
        if seg.flags.rst() {
            return;
        }
        let (seq, ack) = if seg.flags.ack() {
            (seg.ack, None)
        } else {
            (SeqNumber(0), Some(seg.seq + seg.segment_len()))
        };
        self.queue_rst((local, remote), seq, ack);
    }

    /// Queue `<SEQ=seq><CTL=RST>` (with `<ACK=ack>` and the ACK flag when
    /// `ack` is set) on a 4-tuple: every RST the endpoint sends is built here.
    fn queue_rst(&mut self, (local, remote): Tuple, seq: SeqNumber, ack: Option<SeqNumber>) {
        self.stats.rst_sent += 1;
        self.ctl.push_back(CtlSegment {
            local,
            remote,
            seq,
            ack,
            rst: true,
            window: 0,
            timestamps: None,
            syn_mss: None,
        });
    }

    /// Carry out what a listener decided about a segment (RFC 9293 §3.10.7.2).
    fn listen_action(
        &mut self,
        now: Instant,
        action: ListenAction,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        iss_override: Option<SeqNumber>,
    ) {
        let from_cookie = matches!(action, ListenAction::OpenFromCookie(..));
        let (lid, syn, iss) = match action {
            ListenAction::Drop => return,
            ListenAction::Reset => return self.reply_closed(local, remote, seg),
            ListenAction::Send(ctl) => return self.ctl.push_back(ctl),
            ListenAction::Open(lid) => {
                let iss = iss_override.unwrap_or_else(|| self.secret.isn(now, &local, &remote));
                (lid, *seg, iss)
            }
            ListenAction::OpenFromCookie(lid, mss) => (
                lid,
                listener::syn_from_cookie(seg, mss),
                listener::cookie_iss(seg),
            ),
        };
        let ts_offset = self.secret.ts_offset(&local, &remote);
        let (idx, id) = self.alloc_slot();
        let mut tcb = Tcb::accept_syn(id, &self.cfg, now, lid, local, remote, iss, ts_offset, &syn);
        if from_cookie {
            // Our SYN,ACK went out already (statelessly).
            tcb.snd.nxt = iss + 1;
            tcb.snd.max = iss + 1;
        }
        let slot = &mut self.slots[idx as usize];
        slot.kind = SlotKind::Active(Box::new(tcb));
        slot.unaccepted = true;
        let slots = &self.slots;
        self.tuples
            .insert(&(local, remote), idx, |i| tuple_of(slots, i));
        self.record(
            Socket::Conn(id),
            (local, remote),
            State::Listen,
            State::SynReceived,
            Cause::Segment(seg.flags),
        );
        if from_cookie {
            // The ACK that returned the cookie completes the handshake.
            self.run(idx, now, Cause::Segment(seg.flags), |tcb, ctx| {
                tcb.on_segment(ctx, seg)
            });
        }
        self.mark_tx(idx);
        self.reschedule(idx);
    }

    // ---- Packets out and time ------------------------------------------------

    /// Write the next outbound packet into `buf` (at least 100 bytes; MTU-sized to
    /// send full segments) and return its length, or `None` when nothing is due.
    /// Call until `None` after every other call.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        if let Some(ctl) = self.ctl.front() {
            // Taken off the queue only once it is written: a buffer too small
            // for it leaves it queued for the next call.
            let n = emit_ctl(ctl, &self.cfg, buf)?;
            self.ctl.pop_front();
            self.stats.packets_out += 1;
            return Some(n);
        }
        while let Some(&idx) = self.tx_queue.front() {
            let Endpoint {
                cfg, slots, stats, ..
            } = self;
            let slot = &mut slots[idx as usize];
            if let SlotKind::Active(tcb) = &mut slot.kind {
                if let Some(n) = tcb.poll_output(now, cfg, stats, buf) {
                    stats.packets_out += 1;
                    self.reschedule(idx);
                    return Some(n);
                }
            }
            slot.queued = false;
            self.tx_queue.pop_front();
            self.reschedule(idx);
        }
        None
    }

    /// The earliest instant at which `handle_timeout` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            self.slots[idx as usize].sched = None;
            match &self.slots[idx as usize].kind {
                SlotKind::Active(_) => {
                    // The outcome names the timer that changed the state; a
                    // timer that only made the connection send changes none.
                    let cause = Cause::Timer(TimerKind::Retransmit);
                    self.run(idx, now, cause, |tcb, ctx| tcb.on_timeout(ctx));
                }
                SlotKind::TimeWait { tw, .. } => {
                    if tw.deadline <= now {
                        // "If the time-wait timeout expires on a connection, delete the
                        // TCB, enter the CLOSED state, and return."
                        self.end_time_wait(idx, Cause::Timer(TimerKind::TimeWait));
                    } else {
                        self.reschedule(idx);
                    }
                }
                _ => {}
            }
        }
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// All state transitions recorded since the last call (when
    /// `Config::record_transitions` is on): at most [`MAX_TRANSITIONS`], the
    /// newest.
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        core::mem::take(&mut self.transitions).into()
    }

    // ---- User calls ----------------------------------------------------------

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
        if self.listeners.bound(&local) {
            return Err(Error::AddrInUse);
        }
        let backlog = backlog.clamp(1, self.cfg.max_backlog);
        let id = self.listeners.add(local, backlog);
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
        let ts_offset = self.secret.ts_offset(&local, &remote);
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
            match self.tuple_available(now, &(l, remote)) {
                Some(reuse) => (local.port(), reuse),
                None => return Err(Error::AddrInUse),
            }
        };
        let local = SocketAddr::new(ip, port);
        if let Some(idx) = self
            .tuples
            .get(&(local, remote), |i| tuple_of(&self.slots, i))
        {
            // A TIME-WAIT entry we may reuse (tcp_tw_reuse).
            self.end_time_wait(idx, Cause::User(UserCall::Connect));
        }
        let c = self.open(now, local, remote, iss);
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
    fn tuple_available(&self, now: Instant, tuple: &Tuple) -> Option<Option<SeqNumber>> {
        match self.tuples.get(tuple, |i| tuple_of(&self.slots, i)) {
            None => Some(None),
            Some(idx) => match &self.slots[idx as usize].kind {
                // Linux tcp_twsk_unique with tcp_tw_reuse: safe when timestamps (PAWS)
                // protect the new incarnation and the entry is at least 1 s old.
                SlotKind::TimeWait { tw, .. }
                    if self.cfg.tw_reuse
                        && tw.ts.is_some()
                        && now - tw.entered >= core::time::Duration::from_secs(1) =>
                {
                    Some(Some(tw.snd_nxt + 65535 + 2))
                }
                _ => None,
            },
        }
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
            if let Some(iss) = self.tuple_available(now, &(local, remote)) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok((port, iss));
            }
        }
        Err(Error::AddrNotAvailable)
    }

    /// Queue bytes for sending (RFC 9293 §3.10.2). Returns how many were taken;
    /// `WouldBlock` if the send buffer is full (an `Event::Writable` follows).
    pub fn send(&mut self, now: Instant, c: ConnId, data: &[u8]) -> Result<usize, Error> {
        self.last_now = self.last_now.max(now);
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                let r = tcb.send(data);
                self.mark_tx(idx);
                r
            }
            SlotKind::TimeWait { .. } => Err(Error::BrokenPipe),
            SlotKind::Closed { reason, .. } => Err(reason.error().unwrap_or(Error::BrokenPipe)),
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
                let (n, update) = tcb.recv(out)?;
                if update {
                    self.mark_tx(idx);
                }
                Ok(n)
            }
            SlotKind::TimeWait { leftover, .. } => {
                Ok(leftover.as_mut().map_or(0, |l| l.rx.read(out)))
            }
            SlotKind::Closed { reason, leftover } => {
                let n = leftover.as_mut().map_or(0, |l| l.rx.read(out));
                if n > 0 {
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
            SlotKind::TimeWait { .. } => Ok(()),
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
                self.run(idx, now, Cause::User(call), |tcb, ctx| {
                    if abort {
                        tcb.abort(ctx);
                    } else {
                        tcb.close(ctx);
                    }
                });
            }
            SlotKind::TimeWait { leftover, held, .. } => {
                *held = false;
                *leftover = None;
            }
            SlotKind::Closed { .. } => self.free_slot(idx),
            SlotKind::Free => return Err(Error::InvalidHandle),
        }
        Ok(())
    }

    /// Turn Nagle's algorithm off (`true`, TCP_NODELAY, MUST-17) or on.
    pub fn set_nodelay(&mut self, c: ConnId, nodelay: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.snd.nodelay = nodelay)
    }

    /// Limit this connection's send buffer to `bytes` of queued data
    /// (SO_SNDBUF). Data already queued stays.
    pub fn set_send_buffer(&mut self, c: ConnId, bytes: usize) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.snd.buf.set_cap(bytes))
    }

    /// Size this connection's receive buffer, and so its receive window, to
    /// `bytes` (SO_RCVBUF). Only while no data is buffered: `Error::WouldBlock`
    /// otherwise. The window already advertised is never withdrawn (RFC 9293
    /// SHLD-14).
    pub fn set_recv_buffer(&mut self, c: ConnId, bytes: usize) -> Result<(), Error> {
        let mut ok = true;
        self.with_active(c, |tcb| ok = tcb.rcv.buf.set_cap(bytes))?;
        if ok {
            Ok(())
        } else {
            Err(Error::WouldBlock)
        }
    }

    /// Set this connection's user timeout (TCP_USER_TIMEOUT; RFC 9293 MUST-21 lets
    /// the application set R2).
    pub fn set_user_timeout(
        &mut self,
        c: ConnId,
        timeout: Option<core::time::Duration>,
    ) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.snd.user_timeout = timeout)
    }

    /// Set the Diffserv field (IPv4 TOS / IPv6 Traffic Class) of this
    /// connection's packets (RFC 9293 MUST-48, SHLD-21: also mid-connection).
    pub fn set_tos(&mut self, c: ConnId, tos: u8) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.tos = tos)
    }

    /// Turn keep-alive on or off for a connection (SO_KEEPALIVE; RFC 9293 MUST-24:
    /// the application asks for it; MUST-25: off by default).
    pub fn set_keepalive(&mut self, c: ConnId, on: bool) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        self.with_active(c, |tcb| {
            tcb.ka.on = on;
            tcb.arm_keepalive(&cfg);
        })
    }

    fn with_active(&mut self, c: ConnId, f: impl FnOnce(&mut Tcb)) -> Result<(), Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => {
                f(tcb);
                self.mark_tx(idx);
                self.reschedule(idx);
                Ok(())
            }
            _ => Err(Error::NotConnected),
        }
    }

    /// Urgent bytes signalled and not yet read past (RFC 9293 MUST-33).
    pub fn urgent_pending(&self, c: ConnId) -> usize {
        let Some(idx) = self.slot_of(c) else { return 0 };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.urgent_pending(),
            _ => 0,
        }
    }

    /// The connection's state; CLOSED for released or unknown handles.
    pub fn state(&self, c: ConnId) -> State {
        let Some(idx) = self.slot_of(c) else {
            return State::Closed;
        };
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.state,
            SlotKind::TimeWait { .. } => State::TimeWait,
            _ => State::Closed,
        }
    }

    /// How a closed connection ended, while the handle is held.
    pub fn close_reason(&self, c: ConnId) -> Option<CloseReason> {
        let idx = self.slot_of(c)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Closed { reason, .. } => Some(*reason),
            SlotKind::Active(_) => None,
            _ => None,
        }
    }

    /// A snapshot of the connection (like `tcp_info`); `None` once CLOSED.
    pub fn info(&self, c: ConnId) -> Option<ConnInfo> {
        let idx = self.slot_of(c)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => Some(tcb.info(self.last_now, &self.cfg)),
            SlotKind::TimeWait { tw, .. } => Some(tw.info(self.last_now)),
            _ => None,
        }
    }

    /// The local and remote addresses of a connection.
    pub fn addrs(&self, c: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        let idx = self.slot_of(c)?;
        match &self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => Some((tcb.local, tcb.remote)),
            SlotKind::TimeWait { tw, .. } => Some(tw.tuple()),
            _ => None,
        }
    }

    /// Number of connections per state (TIME-WAIT included), like `ss -s`.
    pub fn count_by_state(&self) -> [(State, usize); 11] {
        let mut out = State::ALL.map(|s| (s, 0usize));
        for slot in &self.slots {
            let st = match &slot.kind {
                SlotKind::Active(tcb) => tcb.state,
                SlotKind::TimeWait { .. } => State::TimeWait,
                _ => continue,
            };
            if let Some(e) = out.iter_mut().find(|(s, _)| *s == st) {
                e.1 += 1;
            }
        }
        out
    }

    /// Every connection still in the tables (live and TIME-WAIT), with its state
    /// and addresses.
    pub fn connections(
        &self,
    ) -> impl Iterator<Item = (ConnId, State, SocketAddr, SocketAddr)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let id = ConnId {
                index: i as u32,
                gen: slot.gen,
            };
            match &slot.kind {
                SlotKind::Active(tcb) => Some((id, tcb.state, tcb.local, tcb.remote)),
                SlotKind::TimeWait { tw, .. } => {
                    Some((id, State::TimeWait, tw.local(), tw.remote()))
                }
                _ => None,
            }
        })
    }

    /// Connections in the demultiplexing table (live and TIME-WAIT).
    pub fn connection_count(&self) -> usize {
        self.tuples.len()
    }

    /// The memory this endpoint holds, per connection and for its tables. Each
    /// connection stays within [`Config::connection_memory_limit`] whatever
    /// the peer sends (the randomized fault suite checks it).
    pub fn memory_usage(&self) -> MemoryUsage {
        use core::mem::size_of;
        let leftover = |l: &Option<Box<Leftover>>| {
            l.as_ref()
                .map_or(0, |l| size_of::<Leftover>() + l.rx.heap_bytes())
        };
        let mut m = MemoryUsage::default();
        for slot in &self.slots {
            let bytes = match &slot.kind {
                SlotKind::Free => continue,
                SlotKind::Active(tcb) => tcb.heap_bytes(),
                SlotKind::TimeWait { leftover: l, .. } => leftover(l),
                SlotKind::Closed { leftover: l, .. } => leftover(l),
            };
            m.connections += 1;
            m.connection_bytes += bytes;
            m.max_connection_bytes = m.max_connection_bytes.max(bytes);
        }
        // The TIME-WAIT entries live inside the slots, counted below.
        m.table_bytes = self.slots.capacity() * size_of::<Slot>()
            + self.free.capacity() * size_of::<u32>()
            + self.tuples.heap_bytes()
            + self.listeners.heap_bytes()
            + self.timers.len() * size_of::<(Instant, u32)>()
            + self.tx_queue.capacity() * size_of::<u32>()
            + self.ctl.capacity() * size_of::<CtlSegment>()
            + self.events.heap_bytes()
            + self.transitions.capacity() * size_of::<Transition>();
        m
    }
}

/// The 4-tuple slot `idx` holds, if any (for the connection table).
fn tuple_of(slots: &[Slot], idx: u32) -> Option<Tuple> {
    match &slots.get(idx as usize)?.kind {
        SlotKind::Active(tcb) => Some((tcb.local, tcb.remote)),
        SlotKind::TimeWait { tw, .. } => Some(tw.tuple()),
        SlotKind::Free | SlotKind::Closed { .. } => None,
    }
}

fn leftover_of(tcb: Tcb) -> Option<Box<Leftover>> {
    (tcb.rcv.buf.len() > 0).then(|| Box::new(Leftover { rx: tcb.rcv.buf }))
}

/// The unspecified address of the same family, port 0.
fn unspecified_like(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn the_transition_log_is_bounded_and_keeps_the_newest() {
        let mut ep = Endpoint::new(Config::linux(), [1; 16]);
        let a: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let id = ConnId { index: 0, gen: 0 };
        for i in 0..MAX_TRANSITIONS + 100 {
            ep.last_now = Instant::ZERO + Duration::from_millis(i as u64);
            ep.record(
                Socket::Conn(id),
                (a, a),
                State::Closed,
                State::SynSent,
                Cause::Icmp,
            );
        }
        let log = ep.take_transitions();
        assert_eq!(log.len(), MAX_TRANSITIONS);
        assert_eq!(log[0].time, Instant::ZERO + Duration::from_millis(100));
        assert!(ep.take_transitions().is_empty());
    }
}
