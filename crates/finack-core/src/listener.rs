//! Listeners: the LISTEN state (RFC 9293 §3.10.7.2) with a real backlog, a
//! SYN queue and an accept queue like Linux's, and SYN cookies (RFC 4987 §3.6)
//! when the SYN queue is full.
//!
//! A listener decides what a segment addressed to it means and returns a
//! [`ListenAction`]; the endpoint carries it out (creating the connection,
//! sending the reply), the way TIME-WAIT returns a `TwAction`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::num::NonZeroU32;
use core::time::Duration;

use finack_wire::{Ecn, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};
use hashbrown::HashMap;

use crate::config::Config;
use crate::cookie::{self, CookieOpts};
use crate::demux::SipBuild;
use crate::isn::Secret;
use crate::tcb::{accepts_ecn_syn, advertised_mss, default_mss, syn_window, CtlSegment, SynOpts};
use crate::time::Instant;
use crate::types::{ConnId, ListenerId, ListenerLimits, Stats};

/// One listening socket.
pub(crate) struct Listener {
    pub(crate) local: SocketAddr,
    /// The backlog listen() was given, after `Config::max_backlog`.
    pub(crate) backlog: usize,
    /// Most connections in each of the SYN queue and the accept queue
    /// (`Config::linux_backlog`).
    capacity: usize,
    /// Connections in SYN-RECEIVED that came from this listener (the SYN queue).
    pub(crate) syn_received: usize,
    /// Established connections the application has not accepted yet.
    pub(crate) accept_queue: VecDeque<ConnId>,
    /// When this listener last answered a SYN with a cookie.
    last_cookie: Option<Instant>,
    /// Socket options set on the listener that its connections inherit.
    pub(crate) opts: ListenerOpts,
    /// The defences this listener applies (from [`Config::listener_limits`]
    /// unless the application set its own).
    pub(crate) limits: ListenerLimits,
    /// Connections per peer address: half-open ones and those past the
    /// handshake that have not ended yet. An address leaves the map when
    /// both counts are zero, so the map holds at most one entry per live
    /// connection.
    sources: HashMap<IpAddr, SourceCount, SipBuild>,
}

/// Socket options set on a listener: the connections it makes start with
/// them (Linux sk_clone_lock() copies the listener's socket).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListenerOpts {
    /// TCP_MAXSEG (0: unset; Linux tcp_conn_request() copies `rx_opt.user_mss`).
    pub(crate) user_mss: u16,
    /// SO_RCVBUF and SO_SNDBUF (0: unset), in the units of
    /// `Endpoint::set_recv_buffer` and `set_send_buffer`: its connections
    /// start with them, locked (sk_rcvbuf, sk_sndbuf and sk_userlocks).
    pub(crate) rcvbuf: usize,
    pub(crate) sndbuf: usize,
    /// TCP_WINDOW_CLAMP (0: unset): its connections' first window and shift
    /// stay within it (tcp_openreq_init_rwin() starts from the listener's
    /// window_clamp).
    pub(crate) window_clamp: u32,
    /// TCP_SYNCNT (0: unset): the SYN,ACK retries of its connections
    /// (reqsk_timer_handler() reads the listener's icsk_syn_retries).
    pub(crate) syn_retries: u8,
    /// TCP_LINGER2.
    pub(crate) linger2: crate::types::Linger2,
    /// TCP_DEFER_ACCEPT in SYN,ACK timeouts (0: off): the handshake's bare
    /// ACK does not make a connection until data comes or that many
    /// SYN,ACK timeouts have passed (tcp_check_req(), syn_ack_recalc()).
    pub(crate) defer_accept: u8,
}

/// What one peer address holds at a listener.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct SourceCount {
    syn_received: u32,
    established: u32,
}

impl Listener {
    /// The receive buffer its connections start with.
    pub(crate) fn recv_buffer(&self, cfg: &Config) -> usize {
        if self.opts.rcvbuf > 0 {
            self.opts.rcvbuf
        } else {
            cfg.recv_buffer
        }
    }

    /// The window shift its SYN,ACKs announce. Linux tcp_minisocks.c:
    /// tcp_openreq_init_rwin() starts from the listener's TCP_WINDOW_CLAMP
    /// and clamps the window of a listener whose SO_RCVBUF is set to the
    /// space that buffer gives (tcp_full_space());
    /// tcp_select_initial_window() then picks the shift for the clamp.
    pub(crate) fn window_scale(&self, cfg: &Config) -> u8 {
        let rcvbuf = u32::try_from(self.opts.rcvbuf).unwrap_or(u32::MAX);
        let clamp = if cfg.rcv_memory {
            self.opts.window_clamp
        } else {
            0
        };
        cfg.window_scale_within(&[rcvbuf, clamp])
    }

    /// Linux `sk_acceptq_is_full`: no room for one more established connection.
    pub(crate) fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.capacity
    }

    /// The per-source limits: may a SYN from `peer` open one more
    /// connection? Counted in `Stats::per_source_drops` when not. Linux has
    /// no such limit in TCP itself (it leaves it to netfilter's `connlimit`,
    /// which counts a source's connections and drops its new SYNs past a
    /// bound); these are off unless the application sets them.
    fn source_admits(&self, peer: IpAddr, stats: &mut Stats) -> bool {
        let held = self.sources.get(&peer).copied().unwrap_or_default();
        let over = |limit: Option<u32>, n: u32| limit.is_some_and(|l| n >= l);
        if over(self.limits.syn_received_per_source, held.syn_received)
            || over(
                self.limits.established_per_source,
                held.established + held.syn_received,
            )
        {
            stats.per_source_drops += 1;
            return false;
        }
        true
    }

    /// A connection from `peer` entered SYN-RECEIVED.
    fn source_opened(&mut self, peer: IpAddr) {
        self.sources.entry(peer).or_default().syn_received += 1;
    }

    /// A count of `peer` went down; the entry goes when nothing is left.
    fn source_update(&mut self, peer: IpAddr, f: impl FnOnce(&mut SourceCount)) {
        if let Some(count) = self.sources.get_mut(&peer) {
            f(count);
            if *count == SourceCount::default() {
                self.sources.remove(&peer);
            }
        }
    }

    /// Half-open and established connections `peer` holds here.
    pub(crate) fn source_counts(&self, peer: IpAddr) -> (u32, u32) {
        let c = self.sources.get(&peer).copied().unwrap_or_default();
        (c.syn_received, c.established)
    }
}

struct ListenerSlot {
    gen: NonZeroU32,
    listener: Option<Listener>,
}

/// What the endpoint does with a segment that reached a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListenAction {
    /// Nothing: the segment is dropped (and counted where Linux counts it).
    Drop,
    /// `<SEQ=SEG.ACK><CTL=RST>`, as for a segment to a closed port
    /// (RFC 9293 §3.10.7.2, second).
    Reset,
    /// Send this stateless SYN,ACK carrying a cookie; keep nothing.
    Send(CtlSegment),
    /// Open a connection in SYN-RECEIVED for this SYN (§3.10.7.2, third).
    Open(ListenerId),
    /// The ACK returns a valid cookie: open the connection as if its SYN had
    /// waited in the SYN queue with this MSS and these options (`None`: no
    /// timestamps, so none), then let the ACK complete the handshake.
    OpenFromCookie(ListenerId, u16, Option<CookieOpts>),
}

/// The key of the transparent listener (`Endpoint::listen_any`): no other
/// listener can have port 0.
pub(crate) const TRANSPARENT: SocketAddr =
    SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), 0);

/// Every listener of an endpoint, by handle and by local address.
pub(crate) struct Listeners {
    slots: Vec<ListenerSlot>,
    by_addr: HashMap<SocketAddr, u32, SipBuild>,
    /// Keys the per-source maps (keyed, so a peer cannot aim its addresses
    /// at one hash bucket).
    hasher: SipBuild,
}

impl Listeners {
    pub(crate) fn new(hasher: SipBuild) -> Listeners {
        Listeners {
            slots: Vec::new(),
            by_addr: HashMap::with_hasher(hasher.clone()),
            hasher,
        }
    }

    /// The listener for a handle, if it is still open.
    pub(crate) fn get(&self, l: ListenerId) -> Option<&Listener> {
        let slot = self.slots.get(l.index as usize)?;
        (slot.gen == l.gen).then_some(())?;
        slot.listener.as_ref()
    }

    pub(crate) fn get_mut(&mut self, l: ListenerId) -> Option<&mut Listener> {
        let slot = self.slots.get_mut(l.index as usize)?;
        (slot.gen == l.gen).then_some(())?;
        slot.listener.as_mut()
    }

    /// The listener a segment to `local` reaches: one bound to that address,
    /// else one bound to the unspecified address of its family and port,
    /// else the transparent one ([`TRANSPARENT`]).
    pub(crate) fn find(&self, local: &SocketAddr) -> Option<ListenerId> {
        let any = match local.ip() {
            IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], local.port())),
            IpAddr::V6(_) => SocketAddr::from(([0u16; 8], local.port())),
        };
        let index = *self
            .by_addr
            .get(local)
            .or_else(|| self.by_addr.get(&any))
            .or_else(|| self.by_addr.get(&TRANSPARENT))?;
        Some(ListenerId {
            index,
            gen: self.slots[index as usize].gen,
        })
    }

    /// Is `local` taken by a listener (exactly that address)?
    pub(crate) fn bound(&self, local: &SocketAddr) -> bool {
        self.by_addr.contains_key(local)
    }

    /// Is there a transparent listener (segments to any address are ours)?
    pub(crate) fn transparent(&self) -> bool {
        self.by_addr.contains_key(&TRANSPARENT)
    }

    /// Passive OPEN: a new listener on `local` with this backlog and these
    /// defences.
    pub(crate) fn add(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        capacity: usize,
        limits: ListenerLimits,
    ) -> ListenerId {
        let listener = Listener {
            local,
            backlog,
            capacity,
            syn_received: 0,
            last_cookie: None,
            opts: ListenerOpts::default(),
            limits,
            sources: HashMap::with_hasher(self.hasher.clone()),
            accept_queue: VecDeque::new(),
        };
        let index = match self.slots.iter().position(|l| l.listener.is_none()) {
            Some(i) => i,
            None => {
                self.slots.push(ListenerSlot {
                    gen: NonZeroU32::MIN,
                    listener: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.listener = Some(listener);
        self.by_addr.insert(local, index as u32);
        ListenerId {
            index: index as u32,
            gen: slot.gen,
        }
    }

    /// Close a listener; its handle goes stale.
    pub(crate) fn remove(&mut self, l: ListenerId) -> Option<Listener> {
        self.get(l)?;
        let slot = &mut self.slots[l.index as usize];
        let listener = slot.listener.take()?;
        slot.gen = NonZeroU32::new(slot.gen.get().wrapping_add(1)).unwrap_or(NonZeroU32::MIN);
        self.by_addr.remove(&listener.local);
        Some(listener)
    }

    /// A connection from `l` and `peer` left SYN-RECEIVED: out of the SYN
    /// queue, and into the accept queue when `established`. True when the
    /// accept queue was empty before (the application is told of the first
    /// one).
    pub(crate) fn handshake_done(
        &mut self,
        l: ListenerId,
        c: ConnId,
        peer: IpAddr,
        established: bool,
    ) -> bool {
        let Some(listener) = self.get_mut(l) else {
            return false;
        };
        listener.syn_received = listener.syn_received.saturating_sub(1);
        listener.source_update(peer, |n| {
            n.syn_received = n.syn_received.saturating_sub(1);
            n.established += u32::from(established);
        });
        if !established {
            return false;
        }
        let first = listener.accept_queue.is_empty();
        listener.accept_queue.push_back(c);
        first
    }

    /// A connection from `l` and `peer` that had finished its handshake
    /// ended (CLOSED or TIME-WAIT): `peer` holds one connection fewer.
    pub(crate) fn connection_ended(&mut self, l: ListenerId, peer: IpAddr) {
        if let Some(listener) = self.get_mut(l) {
            listener.source_update(peer, |n| n.established = n.established.saturating_sub(1));
        }
    }

    /// A connection died while waiting in the accept queue.
    pub(crate) fn forget(&mut self, l: ListenerId, c: ConnId) {
        if let Some(listener) = self.get_mut(l) {
            listener.accept_queue.retain(|x| *x != c);
        }
    }

    /// Heap bytes of the table (slots, index, accept queues).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<ListenerSlot>()
            + self.by_addr.capacity() * core::mem::size_of::<(SocketAddr, u32)>()
            + self
                .slots
                .iter()
                .filter_map(|s| s.listener.as_ref())
                .map(|l| {
                    l.accept_queue.capacity() * core::mem::size_of::<ConnId>()
                        + l.sources.capacity() * core::mem::size_of::<(IpAddr, SourceCount)>()
                })
                .sum::<usize>()
    }

    /// RFC 9293 §3.10.7.2: what a segment that reached listener `l` means;
    /// `ip_ecn` is the ECN field of the packet that brought it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_segment(
        &mut self,
        now: Instant,
        cfg: &Config,
        secret: &Secret,
        stats: &mut Stats,
        l: ListenerId,
        (local, remote): (SocketAddr, SocketAddr),
        seg: &TcpRepr<'_>,
        ip_ecn: Ecn,
    ) -> ListenAction {
        let flags = seg.flags;
        // First: "An incoming RST segment could not be valid ... It should be
        // ignored."
        if flags.rst() {
            return ListenAction::Drop;
        }
        let Some(listener) = self.get_mut(l) else {
            return ListenAction::Reset;
        };
        // Second: "Any acknowledgment is bad if it arrives on a connection still
        // in the LISTEN state. An acceptable reset segment should be formed for
        // any arriving ACK-bearing segment: <SEQ=SEG.ACK><CTL=RST>", unless it
        // returns a SYN cookie (RFC 4987 §3.6).
        if flags.ack() {
            if flags.syn() {
                return ListenAction::Reset;
            }
            return listener.cookie_ack(now, cfg, secret, stats, l, local, remote, seg);
        }
        // Fourth, other text or control: drop. Linux also discards SYN+FIN on a
        // listener (it has no meaning before the connection exists).
        if !flags.syn() || flags.fin() {
            return ListenAction::Drop;
        }
        // Backlog, like Linux: a full SYN queue or a full accept queue drops the
        // SYN (the client retransmits it); with SYN cookies on, a full SYN queue
        // answers with a cookie instead while the accept queue has room, and
        // with tcp_syncookies = 2 every SYN does (tcp_conn_request()).
        let always = cfg.syn_cookies && cfg.syn_cookies_always;
        if listener.syn_received >= listener.capacity || always {
            if cfg.syn_cookies && !listener.accept_queue_full() {
                return ListenAction::Send(listener.cookie_syn_ack(
                    now,
                    cfg,
                    secret,
                    stats,
                    (local, remote),
                    seg,
                    ip_ecn,
                ));
            }
            stats.syn_queue_overflow += 1;
            return ListenAction::Drop;
        }
        if listener.accept_queue_full() {
            stats.accept_queue_overflow += 1;
            return ListenAction::Drop;
        }
        // Linux tcp_conn_request(): without SYN cookies the last quarter of
        // tcp_max_syn_backlog is kept for peers the route's metrics prove
        // alive (tcp_peer_is_proven()); finack keeps no metrics, so no
        // peer is proven.
        let max = cfg.max_syn_backlog;
        if !cfg.syn_cookies && max.saturating_sub(listener.syn_received) < max >> 2 {
            stats.syn_backlog_drop += 1;
            return ListenAction::Drop;
        }
        if !listener.source_admits(remote.ip(), stats) {
            return ListenAction::Drop;
        }
        // Third: "If the SYN bit is set, check the security" (N/A), then create
        // the connection in SYN-RECEIVED; the endpoint chooses the ISS and its
        // output sends <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. Text in the SYN is
        // not kept (no Fast Open): the peer retransmits it once established.
        listener.syn_received += 1;
        listener.source_opened(remote.ip());
        ListenAction::Open(l)
    }
}

impl Listener {
    /// RFC 4987 §3.6: a SYN,ACK whose ISS is a cookie. With timestamps it
    /// answers the SYN as a normal SYN,ACK would (window scaling, SACK,
    /// timestamps, ECN), keeping the options in its TSval (`crate::cookie`);
    /// without, only the MSS survives and it offers nothing else (Linux
    /// tcp_input.c: tcp_conn_request() clears the options and ECN of a
    /// cookie SYN without timestamps).
    #[allow(clippy::too_many_arguments)]
    fn cookie_syn_ack(
        &mut self,
        now: Instant,
        cfg: &Config,
        secret: &Secret,
        stats: &mut Stats,
        (local, remote): (SocketAddr, SocketAddr),
        seg: &TcpRepr<'_>,
        ip_ecn: Ecn,
    ) -> CtlSegment {
        let peer_mss = seg.options.mss.unwrap_or_else(|| default_mss(&remote));
        // What `Tcb::apply_syn_options` and `Tcb::ecn_accept_syn` would agree
        // to for this SYN.
        let peer_ts = seg.options.timestamps.filter(|_| cfg.timestamps);
        let opts = peer_ts.map(|_| CookieOpts {
            wscale: (seg.options.window_scale)
                .filter(|_| cfg.window_scaling)
                .map(|s| s.min(14)),
            sack: cfg.sack && seg.options.sack_permitted,
            ecn: accepts_ecn_syn(cfg, seg, ip_ecn),
        });
        let (iss, _) = cookie::encode(secret, now, &local, &remote, seg.seq, peer_mss, opts);
        stats.syn_cookies_sent += 1;
        self.last_cookie = Some(now);
        let o = opts.unwrap_or_default();
        let our_shift = self.window_scale(cfg);
        let mss = advertised_mss(cfg, &remote, self.opts.user_mss);
        // Sized as a normal SYN,ACK's (Tcb::window_field): whole segments
        // of our MSS, less the timestamps it agrees to.
        let quantum = u32::from(mss) - if opts.is_some() { 12 } else { 0 };
        CtlSegment {
            local,
            remote,
            seq: iss,
            ack: Some(seg.seq + 1),
            rst: false,
            window: syn_window(
                cfg,
                if cfg.rcv_memory {
                    crate::tcb::syn_ack_space(cfg, self.opts.rcvbuf)
                } else {
                    u32::try_from(self.recv_buffer(cfg)).unwrap_or(u32::MAX)
                },
                quantum,
            ),
            // Linux syncookies.c: cookie_init_timestamp(): the options ride in
            // the TSval's low bits, on the clock (before the connection's
            // offset) the connection will go on from.
            timestamps: opts.zip(peer_ts).map(|(o, ts)| Timestamps {
                tsval: cookie::init_timestamp(now.as_millis() as u32, o)
                    .wrapping_add(secret.conn_ts_offset(cfg, &local, &remote)),
                tsecr: ts.tsval,
            }),
            syn: Some(SynOpts {
                // Linux tcp_output.c: tcp_make_synack() clamps by user_mss.
                mss,
                // As `Tcb::output_syn` answers: no option when both shifts are 0.
                window_scale: o
                    .wscale
                    .filter(|&s| s > 0 || our_shift > 0)
                    .map(|_| our_shift),
                sack_permitted: o.sack,
                ece: o.ecn,
            }),
        }
    }

    /// An ACK reached a listener: if the listener sent cookies lately and the
    /// ACK returns a valid one, the connection opens (or, with the accept queue
    /// full, the ACK is dropped); otherwise it gets the RST of §3.10.7.2.
    #[allow(clippy::too_many_arguments)]
    fn cookie_ack(
        &mut self,
        now: Instant,
        cfg: &Config,
        secret: &Secret,
        stats: &mut Stats,
        l: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) -> ListenAction {
        let recent = self.last_cookie.is_some_and(|t| {
            now.saturating_duration_since(t) <= Duration::from_millis(cookie::CHECK_FOR_MS)
        });
        if !cfg.syn_cookies || !recent {
            return ListenAction::Reset;
        }
        // Linux syncookies.c: cookie_timestamp_decode(), cookie_ecn_ok(): the
        // options come back in the TSecr, less the connection's TS offset.
        // The cookie's hash covers them, so they are taken only if they are
        // what our SYN,ACK sent. A timestamp on the ACK of a cookie made
        // without (so never offered) is ignored, as RFC 7323 §3.2 says of a
        // TSopt that was not negotiated.
        let offset = secret.conn_ts_offset(cfg, &local, &remote);
        let claimed = (seg.options.timestamps)
            .map(|ts| cookie::timestamp_decode(ts.tsecr.wrapping_sub(offset)));
        let check = |opts| {
            cookie::decode(secret, now, &local, &remote, seg.seq - 1, seg.ack - 1, opts)
                .map(|mss| (mss, opts))
        };
        let checked = check(claimed).or_else(|| claimed.and_then(|_| check(None)));
        let Some((mss, opts)) = checked else {
            stats.syn_cookies_failed += 1;
            return ListenAction::Reset;
        };
        if self.accept_queue_full() {
            stats.accept_queue_overflow += 1;
            return ListenAction::Drop;
        }
        if !self.source_admits(remote.ip(), stats) {
            return ListenAction::Drop;
        }
        stats.syn_cookies_accepted += 1;
        self.syn_received += 1;
        self.source_opened(remote.ip());
        ListenAction::OpenFromCookie(l, mss, opts)
    }
}

/// The SYN a valid cookie stands for: the peer's ISN (one before the ACK's
/// sequence number), the MSS the cookie recorded and, when it kept options
/// (`opts`), those and the ACK's timestamps (Linux syncookies.c:
/// cookie_v4_check() takes `ts_recent` from the ACK's TSval), and ECE and
/// CWR if ECN was agreed.
pub(crate) fn syn_from_cookie<'a>(
    ack: &TcpRepr<'a>,
    mss: u16,
    opts: Option<CookieOpts>,
) -> TcpRepr<'a> {
    let o = opts.unwrap_or_default();
    let mut flags = TcpFlags::SYN;
    if o.ecn {
        flags |= TcpFlags::ECE | TcpFlags::CWR;
    }
    TcpRepr {
        src_port: ack.src_port,
        dst_port: ack.dst_port,
        seq: ack.seq - 1,
        flags,
        window: ack.window,
        options: TcpOptions {
            mss: Some(mss),
            window_scale: o.wscale,
            sack_permitted: o.sack,
            timestamps: opts.and(ack.options.timestamps),
            ..TcpOptions::default()
        },
        ..TcpRepr::default()
    }
}

/// Our ISS when a cookie opens the connection: the cookie itself.
pub(crate) fn cookie_iss(ack: &TcpRepr<'_>) -> SeqNumber {
    ack.ack - 1
}
