//! The transmission control block: one connection from SYN-SENT or
//! SYN-RECEIVED until CLOSED or TIME-WAIT, and the RFC 9293 §3.10 event
//! processing of those states. LISTEN lives in `crate::listener`, TIME-WAIT in
//! `crate::timewait` (a 48-byte entry, no TCB).
//!
//! Each part of the connection's data lives with its owner:
//! - `send`: the send sequence space, send ring, RTT/RTO (`SendSide`);
//! - `recv`: the receive sequence space, receive ring, ACK scheduling (`RecvSide`);
//! - `recovery`: duplicate ACKs, recovery point, SACK scoreboard, TLP (`Recovery`);
//! - `crate::cc`: congestion control, owner of cwnd and ssthresh (`Congestion`);
//! - `timer`: one deadline per `TimerKind` (`Timers`), keep-alive, timeouts (§3.10.8);
//! - `input` and `ack`: SEGMENT ARRIVES (§3.10.7.3 SYN-SENT, §3.10.7.4 other states);
//! - `output`: deciding and forming the next segment to send;
//! - `close`: CLOSE, `shutdown`, ABORT (§3.10.4–§3.10.5) and the resets owed;
//! - this file: creation, the other user calls (§3.10.1–§3.10.3) and the `Outcome` an
//!   event hands to `Endpoint::apply`.

mod ack;
mod chrono;
mod close;
mod counts;
mod delack;
mod early_rexmit;
mod ecn;
pub(crate) mod errqueue;
mod icmp;
#[cfg(test)]
mod idle_memory;
mod info;
mod input;
mod loss;
mod loss_state;
mod memory;
mod mtu;
mod output;
mod pacing;
mod rack;
mod rcv_est;
mod recovery;
mod recv;
mod reno;
mod reno_loss;
mod rexmit_out;
mod rmem;
mod sack_compress;
mod send;
mod sndbuf;
mod syn_out;
mod syn_sent;
mod tail_probe;
mod timer;
mod tso_defer;
mod tso_out;
mod undo;
mod urgent_rx;
mod user_io;
mod xmit_fail;

pub(crate) use rack::SentLog;
pub(crate) use recovery::LazyRecovery;
pub(crate) use recv::RecvSide;
pub(crate) use rmem::{syn_ack_space, MIN_WINDOW_CLAMP};
pub(crate) use send::SendSide;
pub(crate) use timer::{Keepalive, Timers};

pub(crate) use close::reset_for;
pub(crate) use ecn::accepts_ecn_syn;
pub(crate) use output::emit_ctl;
pub(crate) use syn_out::{syn_window, SynOpts};
pub(crate) use xmit_fail::Xmit;

use core::net::SocketAddr;

use finack_wire::{SeqNumber, Timestamps};

use crate::cc::Congestion;
use crate::config::{Config, InitialWindow};
use crate::time::Instant;
use crate::types::{
    CloseReason, ConnId, ConnInfo, Error, ListenerId, SendFlags, State, Stats, TimerKind,
};

/// A segment the endpoint sends on a connection's behalf without a TCB (RST,
/// TIME-WAIT ACKs, replies to segments for no connection).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct CtlSegment {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) seq: SeqNumber,
    /// `Some` sets the ACK flag.
    pub(crate) ack: Option<SeqNumber>,
    pub(crate) rst: bool,
    pub(crate) window: u16,
    pub(crate) timestamps: Option<Timestamps>,
    /// `Some`: a stateless SYN,ACK with these options (a SYN cookie,
    /// RFC 4987 §3.6).
    pub(crate) syn: Option<SynOpts>,
}

/// What event processing needs from the endpoint, and the outcome it hands
/// back.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a Config,
    pub(crate) events: &'a mut crate::types::EventQueue,
    pub(crate) stats: &'a mut Stats,
    /// For a passive connection in SYN-RECEIVED: its listener's accept queue is full.
    pub(crate) accept_queue_full: bool,
    /// A passive connection the application has not accepted yet (Linux:
    /// no `sk_socket`).
    pub(crate) unaccepted: bool,
    /// TCP_DEFER_ACCEPT in SYN,ACK timeouts (0: off): the listener's for a
    /// passive connection in SYN-RECEIVED, the connection's own in
    /// SYN-SENT (Linux `icsk_accept_queue.rskq_defer_accept`).
    pub(crate) defer_accept: u8,
    /// The endpoint's buffer memory and orphans when the event began.
    pub(crate) mem: crate::memory::MemState,
    /// The ECN field of the IP packet that brought the segment being
    /// processed (`NotEct` for other events).
    pub(crate) ecn: finack_wire::Ecn,
    /// The segment size of a packet receive offload built from several
    /// (Linux `gso_size`), 0 for a plain packet and other events.
    pub(crate) gso_size: u16,
    /// The MTU of the path to the peer as far as the endpoint knows (the
    /// interface's, or one learned from ICMP; looked up for a connection
    /// still opening, `Config::mtu` otherwise).
    pub(crate) path_mtu: u16,
    /// What the event did, for `Endpoint::apply`.
    pub(crate) out: Outcome,
}

/// What one event (a segment, a timeout, a user call, an ICMP error) did to a
/// connection: a value the endpoint applies in one place
/// (`Endpoint::apply`), which records the transition with its cause, sends
/// what is owed, hands the connection to its listener's accept queue, moves
/// it to TIME-WAIT's compact table or releases it in CLOSED, and re-arms its
/// timers.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The connection reached CLOSED, for this reason (MUST-12).
    pub(crate) closed: Option<CloseReason>,
    /// A passive connection in SYN-RECEIVED went back to LISTEN (RFC 9293
    /// §3.10.7.4, MUST-11): it vanishes without telling the application.
    pub(crate) back_to_listen: bool,
    /// A RST owed to the peer: `<SEQ=seq><CTL=RST>`, with `<ACK=ack>` and the
    /// ACK flag when `ack` is set, and the timestamps option when given.
    pub(crate) rst: Option<(SeqNumber, Option<SeqNumber>, Option<Timestamps>)>,
    /// The timer whose expiry changed the state (the transition's cause).
    pub(crate) timer: Option<TimerKind>,
}

/// The RTO after a handshake that gave no RTT sample (RFC 6298 §5.7,
/// Linux TCP_TIMEOUT_FALLBACK).
const RTO_FALLBACK: core::time::Duration = core::time::Duration::from_secs(3);

/// Default send MSS when the peer sends no MSS option (RFC 9293 MUST-15).
pub(crate) fn default_mss(remote: &SocketAddr) -> u16 {
    if remote.is_ipv4() {
        536
    } else {
        1220
    }
}

/// Linux tcp_output.c: tcp_mss_clamp(): TCP_MAXSEG (`user_mss`, 0 when
/// unset) lowers an MSS, never raises it.
pub(crate) fn clamp_user_mss(user_mss: u16, mss: u16) -> u16 {
    if user_mss != 0 && user_mss < mss {
        user_mss
    } else {
        mss
    }
}

/// The MSS option of our SYN or SYN,ACK towards `remote`: the MTU less the
/// IP and TCP headers (RFC 9293 MUST-67), clamped by TCP_MAXSEG.
pub(crate) fn advertised_mss(cfg: &Config, remote: &SocketAddr, user_mss: u16) -> u16 {
    clamp_user_mss(user_mss, cfg.mtu.saturating_sub(headers_len(remote)))
}

/// IP + TCP fixed header bytes for this address family.
pub(crate) fn headers_len(remote: &SocketAddr) -> u16 {
    if remote.is_ipv4() {
        40
    } else {
        60
    }
}

/// One connection: identity and state, with each part of its data in the part
/// that owns it. A TCB exists from SYN-SENT / SYN-RECEIVED until CLOSED or
/// TIME-WAIT (which moves to the compact entry of `timewait`); LISTEN lives in
/// `listener`.
pub(crate) struct Tcb {
    pub(crate) id: ConnId,
    pub(crate) state: State,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// Set for connections created by a passive OPEN (RFC 9293 MUST-11: SYN-RECEIVED
    /// remembers whether it came from LISTEN).
    pub(crate) listener: Option<ListenerId>,
    /// The application has released the handle (close or abort).
    pub(crate) orphan: bool,
    /// TCP_SYNCNT: SYN (or, from a listener, SYN,ACK) retries in place of
    /// the configuration's (1 to 127; 0: the configuration's).
    pub(crate) syn_retries: u8,
    /// TCP_LINGER2: how long an orphan waits in FIN-WAIT-2.
    pub(crate) linger2: crate::types::Linger2,
    /// SYN-RECEIVED under TCP_DEFER_ACCEPT: the peer's bare ACK came and was
    /// set aside to wait for data (Linux `inet_rsk(req)->acked`).
    pub(crate) defer_acked: bool,
    pub(crate) state_since: Instant,

    /// Send sequence space, the send ring, RTT and RTO.
    pub(crate) snd: SendSide,
    /// Receive sequence space, the receive ring, ACK scheduling.
    pub(crate) rcv: RecvSide,
    /// Loss recovery: duplicate ACKs, SACK scoreboard, recovery point, TLP
    /// (allocated on first use).
    pub(crate) rec: LazyRecovery,
    /// Congestion control: owns cwnd and ssthresh.
    pub(crate) cc: Congestion,
    /// Every timer of the connection, keyed by [`TimerKind`].
    pub(crate) timers: Timers,
    /// Keep-alive (RFC 9293 §3.8.4).
    pub(crate) ka: Keepalive,

    // Options agreed in the handshake.
    pub(crate) sack_ok: bool,
    pub(crate) ts_ok: bool,
    pub(crate) ts_offset: u32,
    /// IPv4 TOS / IPv6 Traffic Class of our packets (MUST-48).
    pub(crate) tos: u8,
    /// ECN state bits (`ecn::ECN_*`, Linux `tp->ecn_flags`).
    pub(crate) ecn: u8,
    /// IP_MTU_DISCOVER = IP_PMTUDISC_DONT: IPv4 packets leave without DF
    /// and "fragmentation needed" does not lower the segment size.
    pub(crate) pmtu_off: bool,
    /// The last soft ICMP error and SO_TIMESTAMPING's error queue
    /// (allocated on first use).
    pub(crate) errs: errqueue::ErrReports,
}

impl Tcb {
    /// TCP_SYNCNT when set.
    pub(crate) fn own_syn_retries(&self) -> Option<u32> {
        (self.syn_retries > 0).then_some(u32::from(self.syn_retries))
    }

    /// Memory this connection holds: the TCB itself, its buffers' allocations,
    /// the SACK scoreboard and the congestion-control state.
    pub(crate) fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Tcb>()
            + self.snd.buf.heap_bytes()
            + self.snd.history.as_ref().map_or(0, |_| chrono::BYTES)
            + self.snd.pacing.heap_bytes()
            + self.rcv.buf.heap_bytes()
            + self.rec.heap_bytes()
            + self.cc.heap_bytes()
            + self.errs.heap_bytes()
            + self.rcv_est_heap_bytes()
    }

    /// Bytes its send and receive rings hold (allocations with their
    /// bookkeeping): what `Config::tcp_mem` limits.
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.snd.buf.heap_bytes() + self.rcv.buf.heap_bytes()
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        id: ConnId,
        cfg: &Config,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNumber,
        ts_offset: u32,
        state: State,
    ) -> Tcb {
        let peer_mss = default_mss(&remote);
        Tcb {
            id,
            state,
            local,
            remote,
            listener: None,
            orphan: false,
            syn_retries: 0,
            linger2: crate::types::Linger2::Default,
            defer_acked: false,
            state_since: now,
            snd: SendSide::new(cfg, iss, peer_mss),
            rcv: RecvSide::new(cfg, now),
            rec: LazyRecovery::default(),
            cc: Congestion::new(cfg),
            timers: Timers::default(),
            ka: Keepalive::new(now),
            sack_ok: false,
            ts_ok: false,
            ts_offset,
            tos: cfg.tos,
            pmtu_off: false,
            ecn: 0,
            errs: errqueue::ErrReports::default(),
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1, CLOSED state): create the TCB, select an ISS
    /// and enter SYN-SENT. The SYN goes out on the next `poll_transmit`.
    pub(crate) fn connect(
        id: ConnId,
        cfg: &Config,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNumber,
        ts_offset: u32,
    ) -> Tcb {
        let mut tcb = Tcb::new(id, cfg, now, local, remote, iss, ts_offset, State::SynSent);
        tcb.ecn_connect(cfg);
        tcb
    }

    /// A SYN reached a listener (RFC 9293 §3.10.7.2, third): the new connection
    /// starts in SYN-RECEIVED with RCV.NXT = SEG.SEQ + 1 and answers with SYN,ACK.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept_syn(
        id: ConnId,
        cfg: &Config,
        now: Instant,
        listener: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNumber,
        ts_offset: u32,
        syn: &finack_wire::TcpRepr<'_>,
        user_mss: u16,
        path_mtu: u16,
    ) -> Tcb {
        let mut tcb = Tcb::new(
            id,
            cfg,
            now,
            local,
            remote,
            iss,
            ts_offset,
            State::SynReceived,
        );
        tcb.listener = Some(listener);
        // Linux tcp_input.c: tcp_conn_request() copies the listener's
        // user_mss before parsing the SYN's options.
        tcb.rcv.user_mss = user_mss;
        tcb.rcv.irs = syn.seq;
        tcb.rcv.nxt = syn.seq + 1;
        tcb.rcv.adv = tcb.rcv.nxt;
        tcb.rcv.last_ack_sent = tcb.rcv.nxt;
        tcb.apply_syn_options(cfg, syn, path_mtu);
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        tcb.snd.wnd = u32::from(syn.window);
        tcb.note_peer_window();
        tcb.snd.wl1 = syn.seq;
        tcb.snd.wl2 = iss;
        if let (true, Some(ts)) = (tcb.ts_ok, syn.options.timestamps) {
            tcb.rcv.ts_recent = ts.tsval;
            tcb.rcv.ts_recent_age = now;
        }
        tcb
    }

    /// A listener's SO_RCVBUF and SO_SNDBUF (0: unset) and window shift,
    /// taken by a connection it makes before anything is sent (Linux
    /// sk_clone_lock() copies the buffers and their locks).
    pub(crate) fn inherit_buffers(
        &mut self,
        cfg: &Config,
        rcvbuf: usize,
        sndbuf: usize,
        wscale: u8,
    ) {
        if rcvbuf > 0 {
            self.set_recv_buffer(cfg.rcv_memory, cfg.rmem_max, rcvbuf);
        }
        if sndbuf > 0 {
            self.snd.buf.set_cap(sndbuf);
            self.lock_sndbuf();
        }
        self.rcv.wscale = self.rcv.wscale.min(wscale);
    }

    /// Take in the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
    pub(crate) fn apply_syn_options(
        &mut self,
        cfg: &Config,
        syn: &finack_wire::TcpRepr<'_>,
        path_mtu: u16,
    ) {
        let opts = &syn.options;
        // MUST-15: without an MSS option assume 536 (IPv4) / 1220 (IPv6).
        self.snd.peer_mss = opts.mss.unwrap_or_else(|| default_mss(&self.remote));
        // RFC 7323 §2.2: scaling is on only when both SYNs carry the option.
        match (cfg.window_scaling, opts.window_scale) {
            (true, Some(shift)) => {
                self.snd.wscale = shift.min(14);
                // An active open keeps the shift its SYN offered.
                if self.state != State::SynSent {
                    self.rcv.wscale = cfg.window_scale.min(14);
                }
            }
            _ => {
                self.snd.wscale = 0;
                self.rcv.wscale = 0;
            }
        }
        self.sack_ok = cfg.sack && opts.sack_permitted;
        self.ts_ok = cfg.timestamps && opts.timestamps.is_some();
        self.update_mss(cfg, path_mtu);
        self.cc.set_initial(self.initial_cwnd(cfg));
    }

    /// RFC 9293 §3.7.1 MUST-16: Eff.snd.MSS = min(SendMSS + 20, MMS_S) minus the TCP
    /// header and IP options; the timestamp option rides on every segment, so it is
    /// counted as part of the TCP header.
    ///
    /// TCP_MAXSEG clamps the peer's MSS first (Linux tcp_input.c:
    /// tcp_parse_options() lowers `mss_clamp` to `user_mss`). MMS_S comes
    /// from the path's MTU: one learned from ICMP by an earlier connection
    /// to the peer counts (Linux tcp_sync_mss() of the route's MTU).
    fn update_mss(&mut self, cfg: &Config, path_mtu: u16) {
        let mms_s = path_mtu
            .min(cfg.mtu)
            .saturating_sub(headers_len(&self.remote));
        let mut mss = clamp_user_mss(self.rcv.user_mss, self.snd.peer_mss).min(mms_s);
        if self.ts_ok {
            mss = mss.saturating_sub(12);
        }
        if self.listener.is_none() && cfg.mtu_probing == crate::config::MtuProbing::Always {
            // Linux tcp_output.c: tcp_connect_init() turns probing on before
            // the SYN, so tcp_sync_mss() keeps an active opener's segments
            // to what `search_low` (tcp_base_mss) allows until a probe
            // succeeds; a passive child turns it on only once established.
            mss = mss.min(cfg.base_mss.max(48));
        }
        self.set_path_mss(mss.max(64));
    }

    fn initial_cwnd(&self, cfg: &Config) -> u32 {
        let mss = u32::from(self.snd.mss);
        match cfg.initial_window {
            InitialWindow::Segments(n) => n.max(1) * mss,
            // RFC 5681 §3.1.
            InitialWindow::Rfc5681 => (4 * mss).min((2 * mss).max(4380)),
        }
    }

    /// The handshake is over (`first`: when our first SYN or SYN,ACK left;
    /// `seg`: the segment that completed it). RFC 5681 §3.1: a lost SYN or
    /// SYN,ACK leaves one segment of window. Linux tcp_init_transfer()
    /// waits for a second resend (the 1 s initial RTO makes one cheap) and
    /// wants a timeout among them (`undo_marker`), and
    /// tcp_try_undo_spurious_syn() keeps the window when the peer echoes
    /// the first one's timestamp (the resends were needless); and ssthresh,
    /// which the handshake's timeouts lowered, goes back to unbounded
    /// (tcp_init_metrics(), with no metrics saved for the peer). Without an
    /// RTT sample from the handshake the RTO starts at 3 s (RFC 6298 §5.7:
    /// after a handshake timeout; Linux: whenever there is none).
    pub(crate) fn handshake_done(
        &mut self,
        cfg: &Config,
        seg: &finack_wire::TcpRepr<'_>,
        first: Instant,
    ) {
        let resent = self.snd.total_retrans;
        let linux = matches!(cfg.initial_window, InitialWindow::Segments(_));
        if linux {
            self.cc.reset_ssthresh();
        }
        if linux || resent > 0 {
            self.snd.rtt.fallback(RTO_FALLBACK);
        }
        let lost = match cfg.initial_window {
            InitialWindow::Rfc5681 => resent >= 1,
            // A timeout among the resends: it started the episode's clock.
            InitialWindow::Segments(_) => resent > 1 && self.rec.retrans_stamp.is_some(),
        };
        let first_ts = self.ts_now(first);
        let spurious = self.ts_ok
            && seg
                .options
                .timestamps
                .is_some_and(|ts| ts.tsecr == first_ts);
        if lost && !spurious {
            self.cc.set_initial(u32::from(self.snd.mss));
        }
    }

    /// The MSS we announce in our SYN: RFC 9293 MUST-67, from the MTU (MMS_R),
    /// lowered to TCP_MAXSEG when that is set (Linux tcp_output.c:
    /// tcp_mss_clamp(), applied to `advmss` in tcp_connect_init() and to
    /// the SYN,ACK's MSS in tcp_make_synack()).
    pub(crate) fn our_mss(&self, cfg: &Config) -> u16 {
        advertised_mss(cfg, &self.remote, self.rcv.user_mss)
    }

    /// Set TCP_MAXSEG (0: unset). Linux lets it shape a connection only
    /// before its handshake: the SYN's MSS and the clamp on the peer's MSS.
    /// Later it is recorded and changes nothing on the wire (the send MSS
    /// stays what the handshake gave, as in Linux, where `mss_clamp` was
    /// set then).
    pub(crate) fn set_user_mss(&mut self, mss: u16) {
        self.rcv.user_mss = mss;
    }

    /// Move to state `to`. Event processing sees the new state at once (later
    /// steps of the same segment depend on it); what else follows from the
    /// change is done by `Endpoint::apply` when the event is over.
    pub(crate) fn goto(&mut self, now: Instant, to: State) {
        if self.state != to {
            if to == State::Established && matches!(self.state, State::SynSent | State::SynReceived)
            {
                // Linux starts icsk_ack.lrcvtime when the connection is
                // made (tcp_finish_connect(), tcp_create_openreq_child()).
                self.rcv.buf.note_data(now.as_millis());
                // Linux tcp_input.c: tcp_rcv_state_process() stamps lsndtime
                // at the handshake so the first write is not "after idle".
                self.snd.last_data_sent = now;
                // Linux tcp_init_transfer(): congestion control starts.
                self.cc.init(now, self.snd.max);
            }
            self.state = to;
            self.state_since = now;
        }
    }

    /// Enter CLOSED: delete the TCB's resources and say why (MUST-12).
    pub(crate) fn enter_closed(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        self.goto(ctx.now, State::Closed);
        ctx.out.closed = Some(reason);
        self.snd.buf.clear();
        self.rcv.buf.clear_ooo();
        self.timers.clear();
        if let Some(rec) = self.rec.allocated() {
            rec.tlp_due = false;
        }
        self.rcv.ack_now = false;
        self.snd.fin_queued = false;
    }

    /// Arm the release of rings that hold nothing, unless it is armed: they
    /// go once they have stayed empty for `Config::buffer_release_delay`.
    pub(crate) fn arm_buffer_release(&mut self, now: Instant, cfg: &Config) {
        let idle = self.snd.buf.holds_empty_ring() || self.rcv.buf.holds_empty_ring();
        if idle && self.rcv.mem_pressure {
            // Linux tcp_timer.c: tcp_delack_timer_handler(): under memory
            // pressure a socket gives back what it does not use at once
            // (sk_mem_reclaim()).
            self.snd.buf.release_if_empty();
            self.rcv.buf.release_if_empty();
            return;
        }
        if idle && self.timers.get(TimerKind::BufferRelease).is_none() {
            self.timers.set(
                TimerKind::BufferRelease,
                Some(now + cfg.buffer_release_delay),
            );
        }
    }

    /// Is our FIN queued and never sent yet?
    pub(super) fn fin_unsent(&self) -> bool {
        self.snd.fin_queued && !self.snd.max.gt(self.fin_seq())
    }

    /// Is our FIN sent and acknowledged?
    pub(crate) fn fin_acked(&self) -> bool {
        self.snd.fin_queued && self.snd.una == self.fin_seq() + 1
    }

    /// Sequence number our FIN occupies (valid once `fin_queued`).
    pub(crate) fn fin_seq(&self) -> SeqNumber {
        self.snd.buf_seq + self.snd.buf.len() as u32
    }

    /// Current deadline of the earliest timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.timers.earliest(), self.pacing_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes we could accept now (the receive window, unscaled).
    pub(crate) fn rcv_window(&self) -> u32 {
        let max = 65535u32 << self.rcv.wscale;
        let wnd = (self.rcv.buf.free() as u32).min(max);
        if self.rcv.mem_pressure {
            // Linux tcp_output.c: __tcp_select_window(): under memory
            // pressure tcp_adjust_rcv_ssthresh() clamps the window to four
            // segments (of the size the peer sends). What was advertised
            // stays open (`effective_rcv_wnd`).
            return wnd.min(4 * self.rcv.seg_max);
        }
        wnd
    }

    /// Room left in the window we already advertised.
    fn adv_room(&self) -> u32 {
        let room = self.rcv.adv - self.rcv.nxt;
        room.max(0) as u32
    }

    /// RCV.WND for the acceptability test: what we advertised, never shrunk.
    /// Under Linux's memory model only what was advertised (7.x
    /// tcp_sequence(): up to the largest right edge offered).
    pub(crate) fn effective_rcv_wnd(&self, cfg: &Config) -> u32 {
        if cfg.rcv_memory {
            return self.adv_room();
        }
        self.rcv_window().max(self.adv_room())
    }

    /// Whether loss recovery follows RFC 6675 (the peer sends SACKs) rather
    /// than RFC 6582 NewReno.
    pub(crate) fn sack_recovery(&self) -> bool {
        self.sack_ok && self.rec.recover.is_some()
    }

    /// Urgent bytes not yet read past (MUST-33).
    pub(crate) fn urgent_pending(&self) -> usize {
        let Some(up) = self.rcv.up else { return 0 };
        // Bytes between the application's read position and the urgent pointer.
        let read_pos = self.rcv.nxt - self.rcv.buf.len() as u32;
        (up - read_pos).max(0) as usize
    }
}

#[cfg(test)]
mod size {
    use core::mem::size_of;

    /// Issue 11: the control block of an established connection, without its
    /// data buffers, fits in 512 bytes. The rings (with their bookkeeping),
    /// loss-recovery state and the congestion-control algorithm's state are
    /// allocated apart, when used.
    #[test]
    #[allow(clippy::assertions_on_constants)]
    fn control_block_is_at_most_512_bytes() {
        extern crate std;
        std::println!(
            "Tcb {} = snd {} + rcv {} + timers {} + cc {} + rec {} + ka {} + addresses {} + the rest",
            crate::CONTROL_BLOCK_BYTES,
            size_of::<super::SendSide>(),
            size_of::<super::RecvSide>(),
            size_of::<super::Timers>(),
            size_of::<crate::cc::Congestion>(),
            size_of::<super::LazyRecovery>(),
            size_of::<super::Keepalive>(),
            2 * size_of::<core::net::SocketAddr>(),
        );
        assert_eq!(crate::CONTROL_BLOCK_BYTES, size_of::<super::Tcb>());
        assert!(crate::CONTROL_BLOCK_BYTES <= 512);
    }
}
