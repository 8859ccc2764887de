//! The endpoint: demultiplexing and the sans-IO surface (packets, time,
//! events), and the one place where an event's outcome takes effect
//! (`Endpoint::apply`). Listeners live in `crate::listener`, the slots and
//! their scheduling in `slots`, the application's calls in `calls`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use finack_wire::{SeqNumber, TcpRepr, Timestamps};

use crate::config::Config;
use crate::isn::Secret;
use crate::listener::{self, ListenAction, ListenerOpts, Listeners};
use crate::tcb::{reset_for, CtlSegment, Ctx, Outcome, Tcb};
use crate::time::Instant;
use crate::timewait::{TimeWaitTable, TwAction};
use crate::types::{
    Cause, CloseReason, Error, Event, EventQueue, PacketError, RxOffload, Socket, State, Stats,
    TimerKind, Transition,
};

use crate::demux::{ConnTable, SipBuild, Tuple};

mod calls;
mod device;
mod icmp;
mod keepalive;
mod lifetimes;
mod memory;
mod outcome;
mod pmtu;
mod query;
mod rcvopts;
mod slots;
mod sockopts;
mod transmit;
mod urgent;
mod wheel;

use wheel::TimerWheel;

use slots::{tuple_of, Slot, SlotKind};

/// Most transition records kept between two [`Endpoint::take_transitions`]
/// calls; older ones are dropped first.
pub const MAX_TRANSITIONS: usize = 16_384;

/// A TCP endpoint: one host's connections and listeners. See the crate docs.
pub struct Endpoint {
    cfg: Config,
    secret: Secret,
    addrs: Vec<IpAddr>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    tuples: ConnTable,
    /// Connections in TIME-WAIT, apart from the slots.
    tw: TimeWaitTable,
    listeners: Listeners,
    /// The connections' timers (one entry per slot: its earliest deadline).
    timers: TimerWheel,
    tx_queue: VecDeque<u32>,
    ctl: VecDeque<CtlSegment>,
    events: EventQueue,
    transitions: VecDeque<Transition>,
    stats: Stats,
    last_now: Instant,
    port_counter: u32,
    /// The ECN field of the packet being handled (`NotEct` between packets).
    rx_ecn: finack_wire::Ecn,
    /// The GSO segment size of the packet being handled (0: a plain packet).
    rx_gso: u16,
    /// Path MTUs learned from ICMP, for connections opened later.
    path_mtus: pmtu::PathMtus,
    /// Ring memory and orphans, counted as events end (`Config::tcp_mem`,
    /// `Config::max_orphans`).
    mem: memory::MemAccount,
    /// The host's device drops every packet (`set_local_drop`).
    local_drop: bool,
    /// Orphans waiting in FIN-WAIT-2 that hold a TIME-WAIT bucket
    /// (`Slot::tw_bucket`), counted with the TIME-WAIT table against
    /// `Config::max_time_wait`.
    fw2_buckets: usize,
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
        let tw = TimeWaitTable::new(hasher());
        Endpoint {
            tuples,
            tw,
            listeners,
            cfg: config,
            secret: s,
            addrs: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: TimerWheel::default(),
            tx_queue: VecDeque::new(),
            ctl: VecDeque::new(),
            events: EventQueue::default(),
            transitions: VecDeque::new(),
            stats: Stats::default(),
            last_now: Instant::ZERO,
            rx_ecn: finack_wire::Ecn::NotEct,
            rx_gso: 0,
            path_mtus: pmtu::PathMtus::default(),
            port_counter: 0,
            mem: memory::MemAccount::default(),
            local_drop: false,
            fw2_buckets: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Replace the configuration while connections exist, as writing a
    /// sysctl does on Linux: every later decision reads the new values
    /// (retry limits, timeouts, table limits, port range, what a new
    /// connection starts with), while what a connection fixed when it
    /// opened stays (its buffers, window scale, negotiated options) and
    /// running timers and TIME-WAIT entries keep their deadlines.
    pub fn set_config(&mut self, config: Config) {
        self.cfg = config;
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
        let (accept_full, defer_accept) = self.handshake_view(idx);
        let unaccepted = self.slots[idx as usize].unaccepted;
        let mem = self.mem_state(idx);
        let Endpoint {
            cfg,
            slots,
            events,
            stats,
            path_mtus,
            ..
        } = self;
        let SlotKind::Active(tcb) = &mut slots[idx as usize].kind else {
            return None;
        };
        let before = tcb.state;
        // Only an active open still to learn its MSS looks the path up.
        let path_mtu = match before {
            State::SynSent => path_mtus.get(now, tcb.remote.ip()).unwrap_or(cfg.mtu),
            _ => cfg.mtu,
        };
        tcb.rcv.mem_pressure = mem.pressure;
        let mut ctx = Ctx {
            now,
            cfg,
            events,
            stats,
            accept_queue_full: accept_full,
            unaccepted,
            defer_accept,
            mem,
            ecn: self.rx_ecn,
            gso_size: self.rx_gso,
            path_mtu,
            out: Outcome::default(),
        };
        let r = f(tcb, &mut ctx);
        let out = ctx.out;
        self.apply(idx, before, out, cause);
        Some(r)
    }

    /// What a connection still in its handshake needs from outside its
    /// control block: for a passive one in SYN-RECEIVED, whether its
    /// listener's accept queue is full (the handshake's ACK must wait) and
    /// the listener's TCP_DEFER_ACCEPT; for an active one in SYN-SENT, its
    /// own TCP_DEFER_ACCEPT (kept by its slot).
    fn handshake_view(&self, idx: u32) -> (bool, u8) {
        let slot = &self.slots[idx as usize];
        let SlotKind::Active(tcb) = &slot.kind else {
            return (false, 0);
        };
        match (tcb.state, tcb.listener) {
            (State::SynReceived, Some(l)) => self
                .listeners
                .get(l)
                .map_or((false, 0), |l| (l.accept_queue_full(), l.opts.defer_accept)),
            (State::SynSent, _) => (false, slot.defer_accept),
            _ => (false, 0),
        }
    }

    // ---- Packets in ----------------------------------------------------------

    /// Feed one inbound IPv4 or IPv6 packet. Malformed packets (bad checksum,
    /// truncated, fragments, not TCP, ...) and packets for other hosts are rejected
    /// with an error and change nothing.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.handle_offloaded_packet(now, packet, RxOffload::default())
    }

    /// As [`handle_packet`](Self::handle_packet), for a packet that receive
    /// offload prepared ([`RxOffload`]): merged from segments of `gso_size`
    /// payload bytes (GRO/LRO, a GSO packet on a TUN device), so the
    /// estimate of the peer's segment size takes that size, not the whole
    /// length (Linux `skb_shinfo(skb)->gso_size` in tcp_measure_rcv_mss());
    /// with `checksum_trusted`, its TCP checksum is not verified here.
    pub fn handle_offloaded_packet(
        &mut self,
        now: Instant,
        packet: &[u8],
        rx: RxOffload,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.stats.packets_in += 1;
        let verify = !rx.checksum_trusted;
        let (ip, seg) = match finack_wire::parse_tcp_packet_with(packet, verify) {
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
        let local = SocketAddr::new(ip.dst, seg.dst_port);
        let remote = SocketAddr::new(ip.src, seg.src_port);
        if !self.addrs.contains(&ip.dst) && !self.listeners.transparent() {
            // A connection a transparent listener opened keeps its foreign
            // local address after that listener is gone.
            let tuple = (local, remote);
            let held = self
                .tuples
                .get(&tuple, |i| tuple_of(&self.slots, i))
                .is_some()
                || self.tw.find(&tuple).is_some();
            if !held {
                self.stats.not_local += 1;
                return Err(Error::Packet(PacketError::NotLocal));
            }
        }
        self.rx_ecn = ip.ecn();
        self.rx_gso = rx.gso_size;
        self.segment_arrives(now, local, remote, &seg);
        self.rx_ecn = finack_wire::Ecn::NotEct;
        self.rx_gso = 0;
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
        let tuple = (local, remote);
        // Linux tcp_ipv4.c: tcp_v4_rcv() checks the signature options of a
        // segment for a connection (request socks included) or a listener
        // before anything else looks at it (tcp_inbound_hash()); with no key
        // set, a signed segment is unexpected and dropped unanswered.
        let md5_unexpected = self.cfg.md5_option_checks && seg.options.md5.is_some();
        if let Some(idx) = self.tuples.get(&tuple, |i| tuple_of(&self.slots, i)) {
            if md5_unexpected {
                self.stats.md5_unexpected += 1;
                return;
            }
            self.run(idx, now, cause, |tcb, ctx| tcb.on_segment(ctx, seg));
            return;
        }
        if let Some(pos) = self.tw.find(&tuple) {
            let ts_offset = self.ts_offset(&tuple);
            match self.tw.on_segment(pos, now, &self.cfg, ts_offset, seg) {
                TwAction::Drop => return,
                TwAction::Ack(ack) => {
                    self.ctl.push_back(ack);
                    return;
                }
                TwAction::Kill => {
                    self.end_time_wait(pos, cause);
                    return;
                }
                TwAction::Reopen(iss) => {
                    self.stats.time_wait_reused += 1;
                    self.end_time_wait(pos, cause);
                    iss_override = Some(iss);
                }
            }
        }
        if let Some(l) = self.listeners.find(&local) {
            if md5_unexpected {
                self.stats.md5_unexpected += 1;
                return;
            }
            let (syn, ack, rst) = (seg.flags.syn(), seg.flags.ack(), seg.flags.rst());
            if syn && !ack && !rst && self.over_memory_limit() {
                // Past the hard limit of `Config::tcp_mem` no connection is
                // opened: the SYN is dropped (the peer sends it again).
                self.stats.syn_memory_drop += 1;
                return;
            }
            let action = self.listeners.on_segment(
                now,
                &self.cfg,
                &self.secret,
                &mut self.stats,
                l,
                tuple,
                seg,
                self.rx_ecn,
            );
            self.listen_action(now, action, local, remote, seg, iss_override);
            return;
        }
        self.reply_closed(local, remote, seg);
    }

    /// TIME-WAIT is over (2MSL passed, RST accepted or a new SYN took the
    /// tuple): the entry at `pos` leaves the table; an application that still
    /// holds the handle finds it CLOSED with its unread bytes.
    fn end_time_wait(&mut self, pos: u32, cause: Cause) {
        let Some(entry) = self.tw.remove(pos) else {
            return;
        };
        let id = entry.conn;
        self.record(
            Socket::Conn(id),
            entry.tuple(),
            State::TimeWait,
            State::Closed,
            cause,
        );
        self.events.push(Event::Closed {
            conn: id,
            reason: CloseReason::Normal,
        });
        if !entry.held() {
            return;
        }
        if let Some(idx) = self.slot_of(id) {
            let slot = &mut self.slots[idx as usize];
            if let SlotKind::TimeWait(held) = core::mem::replace(&mut slot.kind, SlotKind::Free) {
                slot.kind = SlotKind::Closed {
                    reason: CloseReason::Normal,
                    leftover: held.leftover,
                    info: None,
                    eof: true,
                };
            }
        }
    }

    /// The timestamp offset of a 4-tuple (RFC 7323 §5.4; 0 unless
    /// `Config::timestamp_offsets`): a keyed hash, so a TIME-WAIT entry need
    /// not store it. Every connection takes its offset from here (and a
    /// listener's cookie SYN,ACK from the same `Secret::conn_ts_offset`).
    pub(super) fn ts_offset(&self, (local, remote): &Tuple) -> u32 {
        self.secret.conn_ts_offset(&self.cfg, local, remote)
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (never in reply to
    /// a RST): `<SEQ=SEG.ACK><CTL=RST>` if it carries an ACK, otherwise
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    ///
    /// Linux tcp_ipv4.c: tcp_v4_send_reset() answers a segment carrying an
    /// MD5 signature only when a listener's key verifies it; finack holds no
    /// keys, so such a segment gets no RST (`Config::md5_option_checks`).
    fn reply_closed(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr<'_>) {
        if seg.flags.rst() {
            return;
        }
        if self.cfg.md5_option_checks && seg.options.md5.is_some() {
            self.stats.md5_unexpected += 1;
            return;
        }
        let (seq, ack) = reset_for(seg);
        self.queue_rst((local, remote), seq, ack, None);
    }

    /// Queue `<SEQ=seq><CTL=RST>` (with `<ACK=ack>` and the ACK flag when
    /// `ack` is set, and the timestamps option when `ts` is) on a 4-tuple:
    /// every RST the endpoint sends is built here.
    fn queue_rst(
        &mut self,
        (local, remote): Tuple,
        seq: SeqNumber,
        ack: Option<SeqNumber>,
        ts: Option<Timestamps>,
    ) {
        self.stats.rst_sent += 1;
        self.ctl.push_back(CtlSegment {
            local,
            remote,
            seq,
            ack,
            rst: true,
            window: 0,
            timestamps: ts,
            syn: None,
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
            ListenAction::OpenFromCookie(lid, mss, opts) => (
                lid,
                listener::syn_from_cookie(seg, mss, opts),
                listener::cookie_iss(seg),
            ),
        };
        let ts_offset = self.ts_offset(&(local, remote));
        let (idx, id) = self.alloc_slot();
        let (opts, limits, wscale) = self.listeners.get(lid).map_or(
            (
                ListenerOpts::default(),
                self.cfg.listener_limits,
                self.cfg.window_scale,
            ),
            |l| (l.opts, l.limits, l.window_scale(&self.cfg)),
        );
        let path_mtu = self.path_mtus.get(now, remote.ip()).unwrap_or(self.cfg.mtu);
        let mut tcb = Tcb::accept_syn(
            id,
            &self.cfg,
            now,
            lid,
            local,
            remote,
            iss,
            ts_offset,
            &syn,
            opts.user_mss,
            path_mtu,
        );
        tcb.inherit_buffers(&self.cfg, opts.rcvbuf, opts.sndbuf, wscale);
        if opts.window_clamp > 0 {
            // The listener's TCP_WINDOW_CLAMP, before the SYN,ACK is formed.
            let _ = tcb.set_window_clamp_opt(&self.cfg, opts.window_clamp);
        }
        tcb.syn_retries = opts.syn_retries;
        tcb.linger2 = opts.linger2;
        tcb.ka.idle_secs = idle_secs(limits.idle_timeout);
        self.stats.passive_opens += 1;
        // A cookie's SYN was checked when it came (its ECN bit is set only
        // if it was acceptable, `Listener::cookie_syn_ack`); the ACK's own
        // ECN field says nothing about it.
        let syn_ecn = if from_cookie {
            finack_wire::Ecn::NotEct
        } else {
            self.rx_ecn
        };
        tcb.ecn_accept_syn(&self.cfg, &syn, syn_ecn);
        if from_cookie {
            // Our SYN,ACK went out already (statelessly).
            tcb.snd.nxt = iss + 1;
            tcb.snd.max = iss + 1;
            tcb.rmem_cookie_window(&self.cfg);
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

    /// The earliest instant at which `handle_timeout` has work (a timer, or
    /// under `Config::pacing` the departure time of a packet held back).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.timers.first().map(|(t, _)| t);
        match (conns, self.tw.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run the timers due at `now`, earliest first (a connection's timers
    /// before a TIME-WAIT expiry due at the same instant).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        loop {
            let conn = self.timers.first().filter(|&(t, _)| t <= now);
            let tw = self.tw.next_deadline().filter(|&t| t <= now);
            match (conn, tw) {
                (Some((t, idx)), tw) if tw.is_none_or(|w| t <= w) => {
                    self.timers.pop_first();
                    self.slots[idx as usize].sched = None;
                    // The outcome names the timer that changed the state; a
                    // timer that only made the connection send changes none.
                    let cause = Cause::Timer(TimerKind::Retransmit);
                    self.run(idx, now, cause, |tcb, ctx| tcb.on_timeout(ctx));
                }
                (_, Some(_)) => {
                    if let Some(pos) = self.tw.due(now) {
                        // "If the time-wait timeout expires on a connection,
                        // delete the TCB, enter the CLOSED state, and return."
                        self.end_time_wait(pos, Cause::Timer(TimerKind::TimeWait));
                    }
                }
                _ => break,
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
}

/// An idle timeout as the whole seconds a connection keeps (0: off):
/// rounded up, at least one second, at most `u16::MAX`.
pub(crate) fn idle_secs(d: Option<core::time::Duration>) -> u16 {
    d.map_or(0, |d| {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.clamp(1, u64::from(u16::MAX)) as u16
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ConnId;
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
