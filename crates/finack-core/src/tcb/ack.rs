//! SEGMENT ARRIVES, fifth step: the ACK field (RFC 9293 §3.10.7.4 fifth),
//! with what an acceptable ACK drives: RTT samples and the retransmission
//! timer (RFC 6298), duplicate ACKs (their rules are in `loss`), partial
//! and full ACKs of a fast recovery (RFC 6582, RFC 6675) and the tail loss
//! probe's end (RFC 8985).

use finack_wire::{SeqNumber, TcpRepr};

use super::input::{Step, Trimmed};
use super::{Ctx, Tcb};
use crate::config::Config;
use crate::types::{CloseReason, Event, State, TimerKind};

/// What an ACK that advanced SND.UNA delivered, for the steps after its
/// loss detection.
#[derive(Default)]
pub(super) struct Advanced {
    /// With Linux's growth (`Config::slow_start_abc` `None`): the octets
    /// for the window's growth (`cong_control`).
    growth: Option<u32>,
    /// Without SACK: segments delivered that no duplicate ACK had counted
    /// (Linux tcp_remove_reno_sacks()).
    reno_delivered: u32,
    /// Without SACK, in a fast recovery under PRR: a partial ACK marked the
    /// segment at SND.UNA lost (Linux rate sample `losses`).
    reno_newly_lost: bool,
}

impl Tcb {
    /// Fifth: check the ACK field.
    pub(super) fn step_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        cur: Trimmed<'_>,
    ) -> Step {
        if !seg.flags.ack() {
            // "if the ACK bit is off, drop the segment and return".
            return Step::Done;
        }
        let ack = seg.ack;
        if self.state == State::SynReceived {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and
            // continue processing"; otherwise <SEQ=SEG.ACK><CTL=RST>.
            if !(ack.gt(self.snd.una) && ack.le(self.snd.max)) {
                self.queue_rst(ctx, ack, None);
                return Step::Done;
            }
            if self.listener.is_some()
                && u32::from(ctx.defer_accept) > self.snd.backoff
                && seg.payload.is_empty()
                && !seg.flags.fin()
            {
                // Linux tcp_check_req(): while TCP_DEFER_ACCEPT lasts (fewer
                // SYN,ACK timeouts than it counts), the handshake's bare ACK
                // is set aside: the first data makes the connection
                // (TCPDeferAcceptDrop).
                self.defer_acked = true;
                ctx.stats.defer_accept_drop += 1;
                return Step::Done;
            }
            if self.listener.is_some() && ctx.accept_queue_full {
                ctx.stats.accept_queue_overflow += 1;
                if ctx.cfg.abort_on_overflow {
                    // Linux tcp_check_req() with tcp_abort_on_overflow = 1
                    // (embryonic_reset): the handshake's ACK is answered
                    // with a reset and the request is dropped.
                    self.reply_rst(ctx, seg);
                    ctx.out.back_to_listen = true;
                    self.enter_closed(ctx, CloseReason::Aborted);
                    return Step::Done;
                }
                // Linux (tcp_abort_on_overflow = 0): drop the handshake's ACK and stay
                // in SYN-RECEIVED; the retransmitted SYN,ACK gives the peer another
                // try once the application accepts.
                return Step::Done;
            }
            let first = self.state_since;
            // Linux tcp_rcv_state_process() SYN-RECEIVED: the SYN,ACK's
            // delivery, which tcp_ack() does not see.
            self.count_delivered(1, false, None);
            self.goto(ctx.now, State::Established);
            self.handshake_done(ctx.cfg, seg, first);
            // Linux tcp_input.c: tcp_init_transfer() → tcp_mtup_init(),
            // tcp_init_buffer_space().
            self.mtu_probing_init(ctx.cfg, ctx.now);
            self.rmem_init_buffer_space(ctx.cfg);
            // Variables: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
            self.snd.wnd = u32::from(seg.window) << self.snd.wscale;
            self.note_peer_window();
            self.snd.wl1 = cur.seq;
            self.snd.wl2 = ack;
            // Linux tcp_rcv_state_process() SYN-RECEIVED: tcp_fast_path_on().
            self.hp_on(ctx.cfg);
            if self.listener.is_none() {
                ctx.events.push(Event::Connected(self.id));
            }
        }
        // ESTABLISHED processing (shared by FIN-WAIT-1/2, CLOSE-WAIT, CLOSING,
        // LAST-ACK).
        if ack.gt(self.snd.max) {
            // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send
            // an ACK, drop the segment, and return." RFC 5961 §5.2 makes it a
            // challenge ACK (rate-limited), as Linux 7.x tcp_ack() sends;
            // older kernels only dropped it (`Config::ack_unsent_data_reply`).
            if ctx.cfg.ack_unsent_data_reply {
                self.challenge_ack(ctx);
            }
            return Step::Done;
        }
        // RFC 5961 §5.2: SEG.ACK must also be >= SND.UNA - MAX.SND.WND.
        // (RFC 793 took any older ACK as a duplicate and kept the text.)
        // Linux tcp_ack(): no further back than ISS+1, what was never sent
        // (`Config::old_ack_floor_iss`).
        let floor = if ctx.cfg.old_ack_floor_iss {
            // Linux tp->bytes_acked counts sequence space from ISS+1, a FIN
            // acknowledged included: SND.UNA - (ISS+1), while that cannot
            // have wrapped (the data acknowledged, counted in 64 bits, is
            // below MAX.SND.WND, at most 2^30); past it the bound is
            // MAX.SND.WND.
            if self.snd.bytes_acked() >= u64::from(self.snd.max_wnd) {
                self.snd.max_wnd
            } else {
                let acked = (self.snd.una - (self.snd.iss + 1)).max(0) as u32;
                self.snd.max_wnd.min(acked)
            }
        } else {
            self.snd.max_wnd.max(1)
        };
        if ctx.cfg.rfc5961 && ack.lt(self.snd.una - floor) {
            self.challenge_ack(ctx);
            return Step::Done;
        }
        // Only now is the segment known to be acceptable: an ACK outside
        // SND.UNA-MAX.SND.WND .. SND.NXT is discarded (RFC 5961 §5.2), so its
        // TSval must not become TS.Recent (RFC 7323 §4.3 takes TS.Recent from
        // acceptable segments; Linux updates it in tcp_ack after the same
        // checks). Otherwise one forged segment could make PAWS reject the
        // peer's genuine ones.
        self.update_ts_recent(ctx, seg);
        // The peer answered: zero-window probing may go on (MUST-37).
        self.snd.probes_unanswered = 0;
        self.note_ack_arrival(ctx.now, seg);
        if let Some(rec) = self.rec.allocated() {
            rec.rexmit_hold = None;
        }
        let sacked_before = self.rec.sacked_bytes();
        let una_before = self.snd.una;
        let in_loss = self.in_loss_state();
        let (in_reno_loss, nxt_before) = (self.in_reno_loss(), self.snd.nxt);
        let ecn = self.ecn_ack_begin(seg);
        // RACK (RFC 8985): what this ACK delivers is measured against the
        // state before it (Linux tcp_ack(): prior_fack, prior_delivered).
        let mut rack = self.rack_begin(ctx.cfg, ctx.now);
        let prior_delivered = self.snd.bytes_acked() + u64::from(sacked_before);
        // Linux tcp_sacktag_write_queue(): a D-SACK is looked at first.
        let dsack = if self.sack_ok {
            self.dsack_check(ctx, seg, ack)
        } else {
            None
        };
        let new_sack = self.sack_ok
            && !seg.options.sack_blocks.is_empty()
            && self
                .rec
                .get_mut()
                .update_scoreboard(&self.snd, &seg.options.sack_blocks);
        let sacked_now = self.rec.sacked_bytes();
        if let (true, Some(d)) = (new_sack, rack.as_mut()) {
            self.rack_on_sack(d);
        }
        // RFC 5681 §2: a duplicate ACK acknowledges nothing new, carries no data,
        // SYN or FIN, leaves the window as it was, while data is outstanding.
        // RFC 6675 §2 drops the window condition for an ACK that brings new
        // SACK information (so the ACK that first scales the peer's window
        // counts too).
        let duplicate = ack == self.snd.una
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && (new_sack || u32::from(seg.window) << self.snd.wscale == self.snd.wnd)
            && self.snd.una != self.snd.max
            // Answers to zero-window probes are not signs of loss.
            && self.snd.wnd > 0
            // A D-SACK with nothing newly SACKed reports a copy, not a
            // loss (RFC 6675 §2; Linux tcp_ack(): FLAG_DSACKING_ACK).
            && (dsack.is_none() || new_sack);
        let mut reno_dup = 0;
        if duplicate {
            reno_dup = self.on_duplicate_ack(ctx);
        }
        // Linux tcp_sacktag_write_queue(): sack_rtt_us, from the first
        // never-retransmitted segment this ACK SACKs.
        let sack_rtt = rack
            .as_ref()
            .and_then(|d| d.first_sacked_at)
            .map(|at| ctx.now.saturating_duration_since(at));
        let mut advanced = Advanced::default();
        if ack.gt(self.snd.una) {
            advanced = self.ack_advance(ctx, ack, seg, sack_rtt);
        } else if let Some(r) = sack_rtt {
            // tcp_ack_update_rtt() without a cumulative sample: the SACK's.
            self.rtt_sample(ctx.cfg, r);
        }
        // Linux tcp_ack(): tcp_process_tlp_ack() once the queue is cleaned,
        // while a loss-probe episode is open.
        if self.rec.tlp_high.is_some() {
            let tlp_ack = super::tail_probe::TlpAck {
                una_advanced: self.snd.una != una_before,
                not_dup: !seg.payload.is_empty() || self.window_update_flag(seg, cur.seq),
                sacked: new_sack,
                dsack_tlp: dsack.is_some_and(|d| d.tlp),
            };
            self.tlp_ack(ack, tlp_ack, ctx.stats);
        }
        if let Some(d) = &dsack {
            self.dsack_undo(ctx.cfg, ctx.stats, d);
        }
        let (mut rack_delivered, mut rack_lost) = (None, 0);
        if let Some(mut d) = rack {
            if self.snd.una != una_before {
                self.rack_on_ack(&mut d, seg);
            }
            if dsack.is_some_and(|d| !d.tlp) && self.rec.reord_seen > 0 {
                // Linux tcp_dsack_seen(): rack.dsack_seen, once reordering
                // was seen and unless the D-SACK answers a loss probe.
                self.rec.get_mut().dsack_seen = true;
            }
            let delivered = self.snd.bytes_acked() + u64::from(self.rec.sacked_bytes());
            self.rack_update_reo_wnd(prior_delivered, delivered);
            if in_loss {
                // Linux tcp_fastretrans_alert(): the loss state's step comes
                // before RACK looks for losses (tcp_identify_packet_loss()).
                let a = super::loss_state::LossAck {
                    una_advanced: self.snd.una != una_before,
                    orig: d.orig,
                    sacked: new_sack,
                    dupack: duplicate && dsack.is_none(),
                };
                self.process_loss(seg, a, ctx.stats);
            }
            let scan = self.rec.rexmit_hold != Some(ctx.now);
            rack_lost = self.rack_after_ack(ctx, &d, scan);
            rack_delivered = Some(d.count);
        }
        if in_reno_loss {
            // The same step without SACK (Linux tcp_is_reno()).
            let a = super::reno_loss::RenoAck {
                una_advanced: self.snd.una != una_before,
                orig: self.reno_orig_acked(una_before, nxt_before),
                dupack: duplicate,
            };
            reno_dup += self.process_reno_loss(ctx, seg, a);
        }
        if self.rec.retrans_stamp.is_some()
            && self.rec.recover.is_none()
            && !self.in_loss_state()
            && !self.snd.buf.sent().is_some_and(|l| l.any_retrans_done())
        {
            // Linux tcp_fastretrans_alert() in the Open state,
            // tcp_try_to_open(), tcp_retrans_stamp_cleanup(): recovery over
            // and nothing resent outstanding, the episode's start is
            // forgotten; the next timeout starts a new one (and its budget).
            self.rec.get_mut().retrans_stamp = None;
        }
        // RFC 6937: what this ACK delivered: octets newly SACKed, and octets
        // cumulatively acknowledged that were not SACKed before.
        let acked = (self.snd.una - una_before).max(0) as u32;
        let was_sacked_below = sacked_now.saturating_sub(self.rec.sacked_bytes());
        let mss = u32::from(self.snd.mss);
        // Linux tcp_dsack_seen(): the segments a genuine D-SACK reports.
        let dsack_segs = match dsack {
            Some(d) if ctx.cfg.dsack_delivered => d.segs,
            _ => 0,
        };
        let newly = sacked_now.saturating_sub(sacked_before)
            + acked.saturating_sub(was_sacked_below)
            + dsack_segs * mss;
        let una_advanced = self.snd.una != una_before;
        if ctx.cfg.prr && self.rec.recover.is_some() {
            let pipe = self.recovery_pipe(ctx.cfg);
            // Without SACK, what duplicate ACKs and the cumulative ACK
            // counted (Linux tp->delivered, tcp_add_reno_sack(),
            // tcp_remove_reno_sacks()); PRR-SSRB's extra segment only if
            // the ACK marked nothing lost (tcp_cwnd_reduction()).
            let (newly, bonus) = if self.sack_ok {
                (newly, una_advanced && rack_lost == 0)
            } else {
                let segs = reno_dup + advanced.reno_delivered;
                (segs * mss, una_advanced && !advanced.reno_newly_lost)
            };
            self.prr_step(pipe, newly, bonus || ctx.cfg.prr_ssrb_always);
        }
        self.ecn_ack_end(ecn, newly, una_advanced || ctx.cfg.prr_ssrb_always);
        // Linux tp->delivered: with SACK what RACK's record counted (a
        // genuine D-SACK's segments too), without it the emulated SACKs.
        let delivered_segs = match (self.sack_ok, rack_delivered) {
            (true, Some(segs)) => segs + dsack_segs,
            (true, None) => newly.div_ceil(mss.max(1)),
            (false, _) => reno_dup + advanced.reno_delivered,
        };
        // The SYN,ACK acknowledged here was counted on its own above.
        let syn_acked = una_before == self.snd.iss && una_advanced;
        // Linux FLAG_ECE (tcp_ecn_rcv_ecn_echo()): any ACK with ECE once
        // ECN is in use.
        let ece = seg.flags.ece() && !seg.flags.syn() && self.ecn & super::ecn::ECN_OK != 0;
        self.count_delivered(
            delivered_segs.saturating_sub(u32::from(syn_acked)),
            ece,
            Some(ctx.stats),
        );
        if ctx.cfg.slow_start_abc.is_none() {
            // Linux counts the segments delivered (tcp_newly_delivered()):
            // those SACKed whole or cumulatively acknowledged, as the
            // per-segment log tells; without it, the octets newly SACKed or
            // acknowledged; without SACK, the cumulative ACK's count after
            // tcp_remove_reno_sacks().
            let delivered = match (self.sack_ok, rack_delivered) {
                (true, Some(_)) => delivered_segs.saturating_mul(mss),
                (true, None) => newly,
                (false, _) => advanced.growth.unwrap_or(0),
            };
            self.cong_control(ctx, delivered, una_advanced, new_sack);
        }
        // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated. If
        // (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set
        // SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
        if ack.ge(self.snd.una)
            && (self.snd.wl1.lt(cur.seq) || (self.snd.wl1 == cur.seq && self.snd.wl2.le(ack)))
        {
            let was_closed = self.snd.wnd == 0;
            let was = self.snd.wnd;
            self.snd.wnd = u32::from(seg.window) << self.snd.wscale;
            if self.snd.wnd != was {
                // Linux tcp_ack_update_window(): a new window is predicted
                // afresh (tcp_fast_path_check()).
                self.hp_off();
                self.hp_check(ctx.cfg);
            }
            if self.snd.wnd != was && self.snd.notsent() > 0 && self.snd.una == self.snd.max {
                // Linux tcp_input.c: tcp_ack_update_window(): a window that
                // changes while data waits to be sent checks for idleness
                // too (zero-window probes carry no data and do not count as
                // sending).
                self.slow_start_after_idle_check(ctx.now, ctx.cfg);
            }
            self.note_peer_window();
            self.snd.wl1 = cur.seq;
            self.snd.wl2 = ack;
            if self.snd.wnd > 0 {
                // The window is open: a pending persist deadline carries on as
                // an ordinary retransmission deadline while a probe octet is
                // out. With nothing out it ends (Linux tcp_input.c:
                // tcp_ack_probe(): the window takes data again, the probe
                // timer is cleared and its backoff ends; the data then sent
                // arms the retransmission timer afresh, tcp_rearm_rto()).
                if let Some(t) = self.timers.take(TimerKind::Persist) {
                    if self.snd.una == self.snd.max {
                        self.snd.backoff = 0;
                    } else {
                        self.timers.set(TimerKind::Retransmit, Some(t));
                    }
                }
                if was_closed && self.snd.una != self.snd.max {
                    // The window reopened while a probe octet was outstanding, not
                    // accepted: resend from SND.UNA now, with a fresh timer. The
                    // timer runs from here whether or not output can send at
                    // once (RFC 6298 §5.1: data outstanding keeps it running;
                    // Linux tcp_ack() re-arms it while packets are out), so a
                    // connection whose congestion state holds the resend back
                    // cannot wait forever.
                    self.snd.nxt = self.snd.una;
                    self.snd.backoff = 0;
                    self.timers
                        .set(TimerKind::Retransmit, Some(ctx.now + self.snd.rtt.rto()));
                }
            }
        }
        self.probe_timer_on_ack(ctx, una_before);
        self.early_retransmit_on_ack(ctx, seg.flags.ece());
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                if self.orphan && self.linger2 == crate::types::Linger2::Abort {
                    // Linux tcp_rcv_state_process() FIN-WAIT-1: an orphan
                    // with a negative TCP_LINGER2 does not wait for the
                    // peer's FIN: tcp_done(), and the caller answers the
                    // segment with a reset (TCPAbortOnData).
                    ctx.stats.abort_on_data += 1;
                    self.reply_rst(ctx, seg);
                    self.enter_closed(ctx, CloseReason::Aborted);
                    return Step::Done;
                }
                // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2 and
                // continue processing in that state."
                self.goto(ctx.now, State::FinWait2);
                self.arm_fin_wait2(ctx);
            }
            State::Closing => {
                // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state;
                // otherwise, ignore the segment."
                if self.fin_acked() {
                    self.goto(ctx.now, State::TimeWait);
                } else {
                    return Step::Done;
                }
            }
            State::LastAck => {
                // "The only thing that can arrive in this state is an acknowledgment
                // of our FIN. If our FIN is now acknowledged, delete the TCB, enter
                // the CLOSED state, and return."
                if self.fin_acked() {
                    self.enter_closed(ctx, CloseReason::Normal);
                }
                return Step::Done;
            }
            _ => {}
        }
        Step::Continue
    }

    /// Linux tcp_input.c: tcp_cong_control() after the ACK's loss
    /// detection: outside a reduction (fast recovery, CWR: PRR's part), the
    /// window grows by the `delivered` octets (counted in segments) when
    /// tcp_may_raise_cwnd() allows, that is when SND.UNA advanced, or, once
    /// reordering beyond `dupthresh` was seen, when anything was newly
    /// delivered (`sacked`: new SACK information), and the sender is
    /// window-limited.
    fn cong_control(&mut self, ctx: &mut Ctx<'_>, delivered: u32, una: bool, sacked: bool) {
        if self.rec.recover.is_some() || self.in_cwr() || delivered == 0 {
            return;
        }
        let may_raise = if self.reordering(ctx.cfg) > ctx.cfg.dupthresh {
            una || sacked
        } else {
            una
        };
        if may_raise && (!ctx.cfg.cwnd_limited_growth || self.cwnd_limited()) {
            let mss = u32::from(self.snd.mss);
            self.cc
                .on_new_ack(delivered, mss, ctx.cfg.slow_start_abc, ctx.now);
        }
    }

    /// SND.UNA advances to `ack`: drop acknowledged data, take an RTT sample
    /// (Karn, MUST-18), manage the retransmission timer and the congestion
    /// window. With Linux's growth (`Config::slow_start_abc` `None`) the
    /// window moves after the ACK's loss detection (`cong_control`): the
    /// octets this ACK delivered are returned for it.
    pub(super) fn ack_advance(
        &mut self,
        ctx: &mut Ctx<'_>,
        ack: SeqNumber,
        seg: &TcpRepr<'_>,
        sack_rtt: Option<core::time::Duration>,
    ) -> Advanced {
        let acked = (ack - self.snd.una) as u32;
        // Without SACK, the segments this ACK covers, counted as Linux
        // counts packets (pkts_acked, for tcp_remove_reno_sacks()).
        let packets_acked = (!self.sack_ok).then(|| self.snd.packets_acked(ack));
        let sends = self.snd.buf.sent().map(|log| log.cum_acked_sends(ack));
        // Data bytes covered: between tx_seq and ack, bounded by what is queued.
        let data_acked = (ack - self.snd.buf_seq).clamp(0, self.snd.buf.len() as i32) as usize;
        self.snd.buf.ack(data_acked);
        self.snd.buf_seq += data_acked as u32;
        if data_acked > 0 {
            self.snd.history_mut().bytes_acked += data_acked as u64;
        }
        let prior = self.snd.una;
        self.snd.una = ack;
        // Linux tcp_ack(): SND.UNA advanced, no timeouts in a row.
        if let Some(rec) = self.rec.allocated() {
            rec.rto_retransmits = 0;
        }
        if self.errs.tracking() {
            // SO_TIMESTAMPING: ACK for tagged bytes now covered.
            let room = self.errqueue_room();
            self.errs.on_ack(ctx.now, prior, ack, room);
        }
        if self.snd.nxt.lt(self.snd.una) {
            self.snd.nxt = self.snd.una;
        }
        if let Some(rec) = self.rec.allocated() {
            rec.prune_scoreboard(&self.snd);
        }
        self.mtu_probe_acked();
        // RTT: timestamps echo (RFC 7323 §4) or the timed segment (Karn: the probe is
        // cleared whenever anything is retransmitted).
        let linux = ctx.cfg.rtt_every_ack && self.rack_on(ctx.cfg);
        let ts_sample = match (self.ts_ok, seg.options.timestamps) {
            // Karn's rule carried over to timestamps: an echo older than our last
            // retransmission timeout belongs to an original transmission whose ACK
            // was delayed or lost; it would inflate the estimate (RFC 7323 §4.2 lets
            // the receiver echo such old values for duplicates). Linux
            // (tcp_rtt_tsopt_us()) takes it all the same.
            (true, Some(ts))
                if ts.tsecr != 0
                    && (linux
                        || self
                            .snd
                            .ts_rto_mark
                            .is_none_or(|m| (ts.tsecr.wrapping_sub(m) as i32) >= 0)) =>
            {
                let now_ts = self.ts_now(ctx.now);
                let ms = now_ts.wrapping_sub(ts.tsecr);
                (ms < 1 << 30).then(|| core::time::Duration::from_millis(u64::from(ms)))
            }
            _ => None,
        };
        let probe = match self.snd.rtt_probe.get() {
            Some((seq, at)) if ack.gt(seq) => Some(ctx.now - at),
            _ => None,
        };
        let sample = if linux {
            // Linux tcp_ack_update_rtt(): every ACK of new data is timed from
            // the send time of the oldest segment it covers (seq_rtt_us, none
            // if one was ever resent), else from the oldest original this
            // ACK SACKs (sack_rtt_us), else from the timestamp echo; the
            // SYN, which the record does not hold, by the timed segment.
            let sent = data_acked > 0;
            let timed = self
                .snd
                .buf
                .sent()
                .filter(|_| sent)
                .and_then(|log| log.first_acked_sent_at(ack))
                .map(|at| ctx.now - at);
            timed.or(sack_rtt).or(ts_sample).or(probe)
        } else {
            ts_sample.or(probe)
        };
        if let Some(r) = sample {
            self.rtt_sample(ctx.cfg, r);
        }
        // Linux tcp_clean_rtx_queue(): congestion control's RTT sample
        // (ca_rtt_us) is from the last segment this ACK covers whole, unless
        // it covers a retransmission; then from the timestamp echo.
        let ca_rtt = match sends {
            Some((false, Some(at))) => Some(ctx.now.saturating_duration_since(at)),
            Some(_) => sample.filter(|_| self.ts_ok),
            None => sample,
        };
        let cc_sample = crate::cc::AckSample {
            now: ctx.now,
            rtt_us: ca_rtt.map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
            una: self.snd.una,
            nxt: self.snd.max,
            pacing_rate: self.pacing_rate(),
        };
        self.cc.on_rtt_sample(&cc_sample, u32::from(self.snd.mss));
        if self.snd.rtt_probe.get().is_some_and(|(seq, _)| ack.gt(seq)) {
            self.snd.rtt_probe.set(None);
        }
        // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart.
        if self.snd.una == self.snd.max {
            self.timers.set(TimerKind::Retransmit, None);
            self.timers.set(TimerKind::User, None);
        } else {
            // Linux tcp_rearm_rto(): icsk_rto, with the doublings an ACK
            // without an RTT sample leaves.
            let rto = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg);
            self.timers.set(TimerKind::Retransmit, Some(ctx.now + rto));
            self.timers.set(
                TimerKind::User,
                self.snd.user_timeout().map(|d| ctx.now + d),
            );
        }
        let mss = u32::from(self.snd.mss);
        // Linux tcp_input.c: tcp_remove_reno_sacks(): without SACK each
        // duplicate ACK already counted one segment as delivered, so the
        // ACK that fills the hole delivers what is left, at least one
        // segment; slow start grows by deliveries (tcp_cong_control()),
        // and so does PRR (`reno_delivered`, in segments).
        let linux_growth = ctx.cfg.slow_start_abc.is_none();
        // Linux counts delivered segments: the SYN and FIN are not data.
        let mut delivered = if linux_growth {
            data_acked as u32
        } else {
            acked
        };
        let mut reno_delivered = 0;
        if let Some(segs) = packets_acked {
            reno_delivered = self.remove_reno_sacks(ctx, segs);
            if linux_growth {
                delivered = delivered.min(reno_delivered.saturating_mul(mss));
            }
        }
        if let Some(rec) = self.rec.allocated() {
            rec.dupacks = 0;
            rec.lt_allow = 0;
        }
        let mut reno_newly_lost = false;
        let partial = self.rec.recover.is_some_and(|r| ack.lt(r));
        if !partial && !self.sack_ok && self.rec.reno_sacked > 0 {
            // Linux tcp_fastretrans_alert(): SND.UNA advanced outside a fast
            // recovery, or to its end: tcp_reset_reno_sack().
            self.rec.get_mut().reno_sacked = 0;
        }
        if let Some(recover) = self.rec.recover {
            let flight = self.snd.in_flight();
            if ack == recover && !self.sack_ok && ctx.cfg.reno_recovery_hold {
                // Linux tcp_try_undo_recovery(): the undo is tried, then
                // tcp_is_non_sack_preventing_reopen() holds the recovery
                // until something above its point is acknowledged.
                if ctx.cfg.undo_recovery {
                    self.try_undo_recovery(ctx.stats, seg);
                }
            } else if ack.ge(recover) {
                // RFC 6582 §3.2 step 3 (full acknowledgment): deflate the window
                // and leave fast recovery; after PRR, continue from ssthresh
                // (Linux tcp_end_cwnd_reduction()). Linux first tries
                // tcp_try_undo_recovery(): no retransmission was needed
                // (D-SACKs for all, or an echo older than the first one):
                // the window and threshold from before come back instead.
                if ctx.cfg.undo_recovery && self.try_undo_recovery(ctx.stats, seg) {
                    // The window and ssthresh from before are back.
                } else if ctx.cfg.prr {
                    // Linux tcp_end_cwnd_reduction(), with or without SACK.
                    self.cc.end_reduction();
                } else {
                    self.cc.on_full_ack(flight, mss);
                }
                let rec = self.rec.get_mut();
                rec.recover = None;
                // Linux tcp_input.c: tcp_try_undo_recovery(): a recovery
                // ends; a widened RACK reordering window lasts 16 of them.
                rec.reo_wnd_persist = rec.reo_wnd_persist.saturating_sub(1);
            } else if ctx.cfg.undo_recovery && self.try_undo_partial(ctx.cfg, ctx.stats, seg, prior)
            {
                // Undone, or retransmissions still out: no partial-ACK rule.
                // Still out, Linux clocks out new data but marks nothing
                // more lost and resends nothing on this ACK
                // (tcp_fastretrans_alert() returns before
                // tcp_identify_packet_loss(), REXMIT_NONE).
                if self.rec.recover.is_some() {
                    self.rec.get_mut().rexmit_hold = Some(ctx.now);
                }
            } else if self.sack_ok {
                // RFC 6675 §5 (B): a partial ACK during SACK-based recovery;
                // output sends what cwnd - pipe allows. If the peer reports
                // nothing above SND.UNA, the segment there is presumed lost as
                // in NewReno (RFC 6582 §3.2 step 4). With RACK, time alone
                // decides; without it Linux marks losses by SACKed segments
                // only (tcp_update_scoreboard(): sacked_out - reordering),
                // so nothing SACKed means nothing lost (Linux has no
                // partial-ACK rule for SACK).
                if self.rec.sacked.is_empty()
                    && !self.rack_on(ctx.cfg)
                    && !ctx.cfg.sack_dupacks_by_segments
                {
                    self.rec.get_mut().fast_rexmit = true;
                    self.snd.rtx_next = self.snd.una;
                }
            } else if ctx.cfg.prr {
                // Linux tcp_newreno_mark_lost(): a partial ACK without SACK
                // marks the segment now at SND.UNA lost; PRR's window
                // decides when it is resent (tcp_xmit_retransmit_queue()).
                self.snd.rtx_next = self.snd.una;
                reno_newly_lost = true;
            } else {
                // RFC 6582 §3.2 step 4 (partial acknowledgment): retransmit the
                // next unacknowledged segment at once, deflate by what was
                // acknowledged and add back one segment. Without SACK the next
                // hole is presumed to start at SND.UNA.
                self.rec.get_mut().fast_rexmit = true;
                if self.rec.sacked.is_empty() {
                    self.snd.rtx_next = self.snd.una;
                }
                self.cc.on_partial_ack(acked, mss);
            }
        } else if !linux_growth
            && !self.in_cwr()
            && (!ctx.cfg.cwnd_limited_growth || self.cwnd_limited())
        {
            // RFC 5681 §3.1: slow start below ssthresh, congestion avoidance above.
            self.cc
                .on_new_ack(delivered, mss, ctx.cfg.slow_start_abc, ctx.now);
        }
        // Linux tcp_input.c: tcp_check_space() -> tcp_new_space(): for a
        // writer that found the buffer full, the freed room may first grow
        // the buffer.
        if self.snd.blocked && data_acked > 0 {
            self.sndbuf_expand(ctx.cfg);
        }
        // Linux tcp_input.c: tcp_check_space() -> sk_stream_write_space():
        // a writer waiting for room is told once the socket is writable
        // (Linux's rule with `Config::linux_write_space`, else one free
        // byte), and SOCK_NOSPACE is cleared.
        let room = if ctx.cfg.linux_write_space {
            self.snd.writable(ctx.cfg)
        } else {
            self.snd.buf.free() > 0
        };
        let woken = self.snd.blocked && room && data_acked > 0;
        if woken {
            self.snd.blocked = false;
            ctx.events.push(Event::Writable(self.id));
        }
        if data_acked > 0 {
            self.chrono_on_ack(ctx.now, woken);
        }
        // RFC 8985 §7.2: an ACK that advances SND.UNA re-arms the PTO (or the
        // RTO alone when probing is not allowed now). That replaces a pending
        // reordering timer, as Linux's tcp_set_xmit_timer() does; RACK arms
        // it again after this ACK if it still waits.
        if let Some(log) = self.snd.buf.sent_mut() {
            log.reo_armed = false;
        }
        if self.snd.una == self.snd.max {
            self.timers.set(TimerKind::LossProbe, None);
        } else {
            self.schedule_tlp(ctx.now, ctx.cfg);
        }
        Advanced {
            growth: linux_growth.then_some(delivered),
            reno_delivered,
            reno_newly_lost,
        }
    }

    /// Linux tcp_may_update_window() for an ACK that did not move SND.UNA:
    /// a newer segment, or the same one offering more window or none
    /// (FLAG_WIN_UPDATE, so not a duplicate ACK).
    fn window_update_flag(&self, seg: &TcpRepr<'_>, seq: SeqNumber) -> bool {
        let nwin = u32::from(seg.window) << self.snd.wscale;
        self.snd.wl1.lt(seq) || (self.snd.wl1 == seq && (nwin > self.snd.wnd || nwin == 0))
    }

    /// Linux tcp_output.c: tcp_slow_start_after_idle_check(): with nothing
    /// in flight, restart the window (tcp_cwnd_restart(), or as
    /// `Config::idle_restart` says) if no data was sent for longer than the
    /// RTO.
    pub(super) fn slow_start_after_idle_check(&mut self, now: crate::time::Instant, cfg: &Config) {
        let iw = self.initial_cwnd(cfg);
        let idle_for = now.saturating_duration_since(self.snd.last_data_sent);
        let rto = self.snd.rtt.rto();
        let mss = u32::from(self.snd.mss);
        self.cc
            .restart_after_idle(cfg.idle_restart, idle_for, rto, iw, mss);
    }

    /// Linux tcp.h: tcp_is_cwnd_limited(): the window was used up, or, in
    /// slow start, is less than twice the most segments outstanding at once
    /// (so an application-limited sender's window stops growing).
    pub(super) fn cwnd_limited(&self) -> bool {
        let usage = self.snd.buf.cwnd_usage();
        if usage.limited {
            return true;
        }
        let mss = u32::from(self.snd.mss.max(1));
        let cwnd = self.cc.cwnd();
        cwnd < self.cc.ssthresh() && cwnd / mss < 2 * usage.max_out
    }
}

impl Tcb {
    /// Linux tcp_input.c: tcp_ack() → tcp_ack_probe(): an ACK that finds
    /// nothing in flight and the next segment (or the FIN) still not
    /// fitting the peer's window sets the probe timer again from now, with
    /// its backoff; an orphan already backing off keeps the timer it has,
    /// so that it can run out (upstream after 6.18: "fix permanent FIN-WAIT-1 state
    /// with continuous zero window packets").
    fn probe_timer_on_ack(&mut self, ctx: &Ctx<'_>, una_before: SeqNumber) {
        if !ctx.cfg.linux_push
            || una_before != self.snd.max
            || self.timers.get(TimerKind::Persist).is_none()
        {
            return;
        }
        let next = match self.snd.notsent() {
            0 if self.fin_unsent() => 1,
            0 => return,
            n => n.min(usize::from(self.snd.mss)) as u32,
        };
        let fits = (self.snd.nxt + next).le(self.snd.una + self.snd.wnd);
        if fits || (self.orphan && self.snd.backoff != 0) {
            return;
        }
        let when = ctx.now + self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg);
        self.timers.set(TimerKind::Persist, Some(when));
    }
}
