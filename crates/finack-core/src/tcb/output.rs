//! Deciding what to send next and forming the segment (RFC 9293 §3.10.2 SEND
//! processing, §3.7.4 Nagle, §3.8.6 window management), in the manner of BSD's
//! `tcp_output`: the segment is derived from the connection's variables, so a
//! retransmission is simply output from a pulled-back SND.NXT.

use core::net::SocketAddr;

use finack_wire::{IpRepr, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use super::syn_out::syn_window;
use super::xmit_fail::{Refused, Xmit};
use super::{CtlSegment, Tcb};
use crate::config::Config;
use crate::time::Instant;
use crate::types::{State, Stats, TimerKind};

/// Smallest `poll_transmit` buffer that always fits a segment's headers.
pub(crate) const MIN_BUFFER: usize = 40 + 20 + 40;

impl Tcb {
    /// Our timestamp clock: milliseconds plus the per-connection offset (RFC 7323 §5.4).
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// The window field for a segment, and remember the advertised right edge.
    /// `syn`: the window of our SYN (`active`) or SYN,ACK.
    pub(super) fn window_field(&mut self, cfg: &Config, syn: Option<bool>) -> u16 {
        if let Some(active) = syn {
            // RFC 7323 §2.2: the window in a SYN segment is never scaled.
            // Linux sizes a SYN,ACK's by the MSS less the timestamps it
            // agrees to (tcp_openreq_init_rwin()), a SYN's by the full MSS
            // (tcp_connect_init(): no timestamp seen yet).
            // The offer is quantized before the field's 16-bit limit
            // applies: tcp_full_space(), not the window it allows.
            let ts = if !active && self.ts_ok { 12 } else { 0 };
            let mss = u32::from(self.our_mss(cfg)).saturating_sub(ts);
            if cfg.rcv_memory {
                // Linux tcp_select_initial_window(): the connection starts
                // with all of this window (`rcv_wnd`, `rcv_mwnd_seq`), the
                // field shows what fits in it.
                let locked = self.rcvbuf_locked();
                let wnd = self.rmem_initial_window(locked, mss);
                self.rcv.adv = self.rcv.nxt + wnd;
                return wnd.min(65535) as u16;
            }
            let wnd = self.effective_rcv_wnd(cfg);
            let space = (self.rcv.buf.free() as u32).max(wnd);
            let field = syn_window(cfg, space, mss);
            self.rcv.adv = self.rcv.nxt + u32::from(field);
            return field;
        }
        if cfg.rcv_memory {
            // Linux tcp_select_window().
            let wnd = self.rmem_window_for_segment(cfg);
            let wnd = wnd.min(65535 << self.rcv.wscale);
            let right = self.rcv.nxt + wnd;
            self.rcv.adv = self.rcv.adv.max(right);
            return (wnd >> self.rcv.wscale) as u16;
        }
        let wnd = self.effective_rcv_wnd(cfg);
        let mut field = (wnd >> self.rcv.wscale).min(65535);
        let right = self.rcv.nxt + (field << self.rcv.wscale);
        // RFC 9293 §3.8.6.2.2 (MUST-39, receiver SWS avoidance): move the right
        // edge only by at least min(RCV.BUFF/2, Eff.snd.MSS) at a time.
        let step = (self.rcv.buf.cap() as u32 / 2)
            .min(u32::from(self.snd.mss))
            .max(1);
        let grow = (right - self.rcv.adv).max(0) as u32;
        if grow > 0 && grow < step && self.rcv.adv.ge(self.rcv.nxt) {
            let room = (self.rcv.adv - self.rcv.nxt).max(0) as u32;
            field = (room >> self.rcv.wscale).min(65535);
        }
        let right = self.rcv.nxt + (field << self.rcv.wscale);
        // SHLD-14: never move the right edge left.
        self.rcv.adv = self.rcv.adv.max(right);
        field as u16
    }

    pub(super) fn timestamps(&self, now: Instant) -> Option<Timestamps> {
        self.ts_ok.then(|| Timestamps {
            tsval: self.ts_now(now),
            tsecr: self.rcv.ts_recent,
        })
    }

    /// Form the next segment into `buf`; `None` when nothing is due.
    /// `xmit.refuse`: the host's device drops every packet
    /// (`Endpoint::set_local_drop`); what Linux treats as a failed
    /// transmission is then not formed (see `xmit_fail`). With
    /// `xmit.max_segs` above 1 new data may leave as a packet of several
    /// segments (`tso_out`), which `xmit.segs` counts.
    pub(crate) fn poll_output(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        xmit: &mut Xmit,
    ) -> Option<usize> {
        if buf.len() < MIN_BUFFER {
            return None;
        }
        match self.state {
            State::Closed | State::Listen | State::TimeWait => return None,
            _ => {}
        }
        if self.snd.nxt == self.snd.iss {
            return Some(self.output_syn(now, cfg, stats, buf));
        }
        if self.state == State::SynSent {
            // Nothing but the SYN can be sent before we know RCV.NXT.
            return None;
        }
        if self.comp_sack_forced() {
            // The held ACK sent at once while a segment was taken in goes
            // before anything that segment let out (Linux sends it from
            // tcp_data_queue(), before tcp_data_snd_check()).
            let seq = self.snd.max;
            return Some(self.emit(now, cfg, buf, seq, TcpFlags::ACK, 0, 0, false));
        }
        if matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            if let Some(n) = self.output_data(now, cfg, stats, buf, xmit) {
                return Some(n);
            }
            self.xmit_end();
            if xmit.failed {
                // Linux tcp_write_xmit() stops at the refused segment.
                return None;
            }
        }
        if self.ka.probe_due() {
            // RFC 9293 §3.8.4: a keep-alive is a segment with SEG.SEQ = SND.NXT-1 and
            // no data (SHLD-12), which the peer must answer with an ACK.
            self.ka.set_probe_due(false);
            let seq = self.snd.una - 1;
            return Some(self.emit(now, cfg, buf, seq, TcpFlags::ACK, 0, 0, false));
        }
        if self.rcv.ack_now {
            let seq = self.snd.max;
            return Some(self.emit(now, cfg, buf, seq, TcpFlags::ACK, 0, 0, false));
        }
        None
    }

    /// Data and/or FIN from SND.NXT, within the usable window.
    fn output_data(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        xmit: &mut Xmit,
    ) -> Option<usize> {
        // Linux tcp_output.c: tcp_write_xmit() starts from tcp_current_mss().
        self.xmit_begin();
        if self.pacing_hold(now, cfg) {
            // Under fq the next packet waits for its departure time.
            return None;
        }
        if self.rec.fast_rexmit {
            self.rec.get_mut().fast_rexmit = false;
            if let Some(n) = self.output_head_retransmission(now, cfg, stats, buf, xmit) {
                return Some(n);
            }
            if xmit.failed {
                return None;
            }
        }
        if self.rec.tlp_due {
            self.rec.get_mut().tlp_due = false;
            if let Some(n) = self.output_loss_probe(now, cfg, stats, buf, xmit) {
                return Some(n);
            }
            if xmit.failed {
                return None;
            }
        }
        // RFC 6675 §5 (C): in SACK-based recovery, send only while
        // cwnd - pipe >= 1 SMSS, choosing by NextSeg: a lost hole first (rule
        // 1), then new data (rule 2), then any hole not yet resent (rule 3).
        let mut recovery_room = None;
        if self.sack_recovery() || self.in_loss_state() || self.reno_split() || self.reno_prr(cfg) {
            let pipe = self.recovery_pipe(cfg);
            if self.cc.cwnd() < pipe.saturating_add(u32::from(self.snd.mss)) {
                return None;
            }
            // F-RTO may hold the lost data back for new data.
            let lost = if self.frto_holds_retransmissions() || self.rec.rexmit_hold == Some(now) {
                None
            } else {
                self.next_retransmission(cfg, false)
            };
            if let Some((seq, hole)) = lost {
                if let Some(n) = self.output_rexmit_at(now, cfg, stats, buf, seq, hole, xmit) {
                    return Some(n);
                }
                if xmit.failed {
                    return None;
                }
            }
            recovery_room = Some((self.cc.cwnd() - pipe) as usize);
        }
        let off = (self.snd.nxt - self.snd.buf_seq).max(0) as usize;
        let queued = self.snd.buf.len();
        let avail = queued.saturating_sub(off);
        if recovery_room.is_none() && self.snd.nxt == self.snd.max && avail > 0 && !xmit.refuse {
            // RFC 4821 (Linux tcp_write_xmit() → tcp_mtu_probe()).
            if let Some(sent) = self.output_mtu_probe(now, cfg, buf, avail) {
                return sent;
            }
        }
        // RFC 3042 §2: limited transmit lets up to two segments beyond cwnd go
        // out on the first two duplicate ACKs (never beyond the peer's window);
        // Linux leaves out of the flight whatever is SACKed (or counted by
        // duplicate ACKs without SACK).
        let extra = if recovery_room.is_none() {
            self.open_pipe_allowance(cfg)
        } else {
            0
        };
        let cwnd = self.cc.cwnd().max(u32::from(self.snd.mss)) + extra;
        let wnd = self.snd.wnd.min(cwnd);
        let mut room = (self.snd.una + wnd - self.snd.nxt).max(0) as usize;
        if let Some(r) = recovery_room {
            // New data in recovery: what the peer's window and cwnd - pipe allow.
            room = (self.snd.una + self.snd.wnd - self.snd.nxt)
                .max(0)
                .min(r as i32) as usize;
        }
        let fits = buf.len() - MIN_BUFFER;
        let mss = usize::from(self.snd.mss);
        let mut len = avail.min(room).min(mss).min(fits);
        // A segment never runs past the end of a unit of queued data (an
        // skb: Linux builds each packet from one skb, and MSG_EOR keeps
        // records apart).
        let unit = self.snd.buf.next_mark_after(off);
        if let Some(u) = unit {
            len = len.min(u.end - off);
        }
        let retransmitting = self.snd.nxt.lt(self.snd.max);
        // The persist timer fired: send what the window allows even if it is a
        // small segment (RFC 9293 §3.8.6.2.1's override timeout), or one octet
        // into a zero window (§3.8.6.1, MUST-36).
        // A FIN held for want of window is probed for as data is
        // (tcp_write_wakeup() sees it at the head of the queue).
        let fin_waits = self.fin_unsent();
        let probe = self.snd.force_probe && (avail > 0 || fin_waits);
        if probe && len == 0 {
            if !cfg.zero_window_probe_data {
                // Linux tcp_output.c: tcp_write_wakeup() -> tcp_xmit_probe_skb():
                // into a closed window Linux probes with a bare ACK carrying
                // SND.UNA - 1, which the peer must answer, and re-arms the
                // probe timer with backoff (tcp_probe_timer()).
                self.snd.force_probe = false;
                if xmit.refuse {
                    self.xmit_refused(now, cfg, stats, xmit, Refused::Probe);
                    return None;
                }
                self.timers.set(
                    TimerKind::Persist,
                    Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
                );
                let seq = self.snd.una - 1;
                return Some(self.emit(now, cfg, buf, seq, TcpFlags::ACK, 0, 0, false));
            }
            len = 1;
        }
        self.snd.force_probe = false;
        // A packet starts (a new piece of a unit): Linux decides per skb
        // at the head of the queue whether it waits.
        let piece_start = self.snd.piece_left == 0;
        if len > 0 && piece_start && !probe && !retransmitting && recovery_room.is_none() {
            let unit_left = unit.map_or(avail, |u| u.end - off);
            let tail = unit.is_none_or(|u| u.end >= queued);
            if self.tso_should_defer(now, cfg, unit_left, tail, cwnd) {
                len = 0;
            }
        }
        let push_once = core::mem::take(&mut self.snd.push_once);
        if len > 0 && len < mss && !probe && !retransmitting {
            // What the unit has for this segment, the windows aside.
            let natural = avail.min(mss).min(unit.map_or(usize::MAX, |u| u.end - off));
            let hold = if cfg.linux_push && len < natural.min(fits) {
                // Linux counts cwnd in whole segments and sends only when
                // the first segment fits the peer's window
                // (tcp_output.c: tcp_cwnd_test(), tcp_snd_wnd_test()): no
                // segment is cut short by either; the persist timer probes.
                true
            } else if cfg.linux_push {
                // Linux tcp_output.c: tcp_nagle_test(): a unit in the middle
                // of the queue goes at once; the last one, if short, waits
                // while corked (TCP_CORK, or the push of a MSG_MORE write)
                // or, Nagle on, while a short segment already sent is
                // unacknowledged (tcp_nagle_check() with Minshall's
                // tcp_minshall_check()). TCP_NAGLE_PUSH overrides both.
                let mid_queue = unit.is_some_and(|u| off + len == u.end && u.end < queued);
                let short_out = self.snd.buf.short_sent_end().is_some_and(|e| e <= off);
                // In urgent mode nothing waits, nor does the segment with
                // the FIN (tcp_nagle_test(): tcp_urg_mode(), TCPHDR_FIN).
                let carries_fin = self.snd.fin_queued && off + len == queued;
                !mid_queue
                    && !push_once
                    && !carries_fin
                    && self.snd.urgent_up().is_none()
                    && (self.snd.cork || self.snd.more || (!self.snd.nodelay && short_out))
            } else {
                // Nagle (§3.7.4, SHLD-7) and sender SWS avoidance
                // (§3.8.6.2.1, MUST-38): send a short segment only if it
                // empties the queue and either nothing is outstanding or
                // Nagle is off, or it fills half the largest window.
                let empties = off + len == queued;
                let idle = self.snd.nxt == self.snd.una;
                let half_window = len as u32 >= self.snd.max_wnd / 2 && self.snd.max_wnd > 0;
                !((empties && (idle || self.snd.nodelay)) || half_window)
            };
            if hold {
                len = 0;
            }
        }
        let mut fin = self.snd.fin_queued
            && off + len == queued
            && self.snd.nxt + len as u32 == self.fin_seq();
        if fin && cfg.linux_push && !retransmitting {
            // Linux tcp_output.c: tcp_snd_wnd_test() counts the FIN of a
            // packet of at most one segment against the peer's window: if
            // it does not fit, the packet (data and FIN) waits; the persist
            // timer's probe sends the data alone (tcp_write_wakeup()
            // fragments it), or probes with SND.UNA - 1 when only the FIN
            // is left.
            let wnd_end = self.snd.una + self.snd.wnd;
            if (self.snd.nxt + len as u32 + 1).gt(wnd_end) {
                fin = false;
                if piece_start && !probe {
                    len = 0;
                }
            }
        }
        if len == 0 && !fin && recovery_room.is_some() && !self.rack_on(cfg) && !self.reno_split() {
            // NextSeg rule (3): no new data can go; resend a hole not yet
            // judged lost (Linux, with RACK, resends only lost segments).
            if let Some((seq, hole)) =
                self.rec
                    .next_seg_rexmit(&self.snd, super::recovery::LossRule::of(cfg), false)
            {
                return self.output_rexmit_at(now, cfg, stats, buf, seq, hole, xmit);
            }
        }
        if len == 0 && !fin {
            // Linux tcp_write_xmit(): the peer's window holds back the next
            // segment that the congestion window lets out (tcp_cwnd_test()
            // comes first, then tcp_snd_wnd_test()).
            let peer_room = (self.snd.una + self.snd.wnd - self.snd.nxt).max(0) as usize;
            let cwnd_room = cwnd.saturating_sub(self.snd.in_flight()) as usize;
            let rwnd_held = avail > 0 && cwnd_room >= mss && peer_room < mss.min(avail);
            self.chrono_on_output_stop(now, rwnd_held);
            // Without SACK, after a timeout, go-back-N's resends wait as
            // Linux tcp_xmit_retransmit_queue() stops, which leaves the
            // record of the window's use alone.
            let resend_held = self.in_reno_loss() && self.snd.nxt.lt(self.snd.max);
            if avail > 0 && room < mss.min(avail) && !resend_held {
                // Held back by the windows: note whether cwnd was what held it.
                self.record_cwnd_usage(cfg, cwnd);
            }
            if (avail > 0 || fin_waits)
                && self.snd.una == self.snd.max
                && self.timers.get(TimerKind::Retransmit).is_none()
                && self.timers.get(TimerKind::Persist).is_none()
            {
                // Data waits for the window (zero, or too small to be worth a
                // segment) and nothing is in flight to bring an ACK: arm the
                // persist timer (MUST-35; §3.8.6.2.1 override timeout).
                self.timers.set(
                    TimerKind::Persist,
                    Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
                );
            }
            return None;
        }
        if xmit.refuse {
            let kind = if probe {
                Refused::Probe
            } else if retransmitting {
                // The retransmission timeout's own resend: the timer it
                // cleared is not yet armed again.
                let rto_head = self.snd.nxt == self.snd.una
                    && self.timers.get(TimerKind::Retransmit).is_none();
                Refused::Retransmission { rto_head }
            } else {
                Refused::NewData
            };
            self.xmit_refused(now, cfg, stats, xmit, kind);
            return None;
        }
        if xmit.max_segs > 1 && len == mss && !retransmitting && !probe && !fin && cfg.linux_push {
            let at = super::tso_out::Start {
                off,
                unit,
                avail,
                room,
                cwnd,
                recovery: recovery_room.is_some(),
            };
            if let Some(n) = self.output_super_segment(now, cfg, stats, buf, xmit, at) {
                return Some(n);
            }
        }
        let seq = self.snd.nxt;
        let mut flags = TcpFlags::ACK;
        let ends_unit = unit.is_some_and(|u| off + len == u.end);
        // What the packet this segment starts carries, for pacing: itself,
        // unless it starts a GSO packet of several (below).
        let mut packet = piece_start.then_some((len, u32::from(len > 0)));
        if !cfg.linux_push {
            // MUST-61: PSH on the segment that empties the send queue.
            if len > 0 && off + len == queued {
                flags |= TcpFlags::PSH;
            }
        } else if len > 0 && !retransmitting && !probe {
            if let Some(p) = self.piece_step(cfg, off, len, unit, avail, room, cwnd) {
                packet = Some(p);
            }
            if self.piece_psh(cfg, unit, off + len) {
                flags |= TcpFlags::PSH;
            }
        } else if len > 0 && (probe || unit.is_some_and(|u| u.psh && ends_unit)) {
            // Linux tcp_output.c: tcp_write_wakeup() sets PSH on what the
            // persist timer sends; a retransmission keeps its unit's PSH.
            flags |= TcpFlags::PSH;
        }
        if len > 0 && len < mss && !retransmitting {
            self.snd.buf.set_short_sent_end(off + len);
        }
        if fin {
            flags |= TcpFlags::FIN;
            if !retransmitting {
                self.snd.fin_alone = len == 0;
            }
        }
        if retransmitting {
            self.mtu_probe_on_retransmit(seq, false);
        }
        self.after_send(now, cfg, stats, seq, len, fin, retransmitting, cwnd, packet);
        Some(self.emit(now, cfg, buf, seq, flags, off, len, !retransmitting))
    }

    /// The connection's state after a segment of `len` bytes (and `fin`)
    /// from `seq` is formed, before its header is: SND.NXT and SND.MAX,
    /// the congestion window's use, the retransmission, user and loss
    /// probe timers, pacing for a `packet` that starts here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn after_send(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        seq: SeqNumber,
        len: usize,
        fin: bool,
        retransmitting: bool,
        cwnd: u32,
        packet: Option<(usize, u32)>,
    ) {
        if len > 0 && self.snd.in_flight() == 0 {
            // Linux tcp_output.c: __tcp_transmit_skb(): sending with nothing
            // in flight is CA_EVENT_TX_START (before lsndtime moves).
            self.cc.on_tx_start(now, self.snd.last_data_sent);
        }
        self.snd.nxt = self.snd.nxt + len as u32 + u32::from(fin);
        if retransmitting {
            self.snd.total_retrans += 1;
            stats.retransmits += 1;
            self.stamp_first_retransmit(now);
        } else if self.snd.rtt_probe.get().is_none() && !self.ts_ok {
            self.snd.rtt_probe.set(Some((seq, now)));
        }
        self.snd.max = self.snd.max.max(self.snd.nxt);
        if len > 0 {
            // Linux tcp_output.c: tcp_event_data_sent() stamps lsndtime.
            self.snd.last_data_sent = now;
        }
        if !retransmitting && len > 0 {
            self.record_cwnd_usage(cfg, cwnd);
            self.chrono_on_send(now);
        }
        // Linux tcp_output.c: tcp_xmit_retransmit_queue(): resending the
        // head of the queue restarts the retransmission timer (one left by a
        // refused retransmission, say).
        let head_resent = retransmitting && seq == self.snd.una;
        // Data leaving ends the probe timer (Linux keeps both in one slot:
        // tcp_rearm_rto() replaces ICSK_TIME_PROBE0).
        let probing = self.timers.take(TimerKind::Persist).is_some();
        if self.timers.get(TimerKind::Retransmit).is_none() || probing || head_resent {
            self.timers.set(
                TimerKind::Retransmit,
                Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
            );
        }
        if self.timers.get(TimerKind::User).is_none() {
            self.timers
                .set(TimerKind::User, self.snd.user_timeout().map(|d| now + d));
        }
        if !retransmitting {
            // RFC 8985 §7.2: (re)schedule the probe after sending new data.
            self.schedule_tlp(now, cfg);
        }
        if let Some((bytes, segs)) = packet {
            self.pacing_on_send(now, cfg, bytes, segs);
        }
    }

    /// Linux tcp_output.c: tcp_cwnd_validate() after a transmission: the
    /// window counts as used up when the segments in flight fill it.
    fn record_cwnd_usage(&mut self, cfg: &Config, cwnd: u32) {
        let mss = u32::from(self.snd.mss.max(1));
        let out = self.snd.in_flight().div_ceil(mss);
        // Linux compares tcp_packets_in_flight(): without SACK, the
        // segments duplicate ACKs counted and the lost ones not yet resent
        // are not in it.
        let pipe = if self.reno_split() || self.reno_prr(cfg) {
            self.recovery_pipe(cfg).div_ceil(mss)
        } else {
            out
        };
        let limited = pipe >= cwnd / mss;
        let sent_end = (self.snd.max - self.snd.buf_seq).max(0) as usize;
        self.snd.buf.record_cwnd_usage(out, sent_end, limited);
    }

    /// RFC 2018 §4: report the out-of-order blocks, the one holding the most
    /// recently received segment first, then the others that most recently
    /// took data (Linux keeps `selective_acks` in that order); as many as fit
    /// beside the timestamp option (three). An owed D-SACK block goes first
    /// (RFC 2883 §4), once: Linux tcp_options_write() clears `rx_opt.dsack`
    /// as it writes it.
    pub(super) fn fill_sack(&mut self, options: &mut TcpOptions) {
        let mut room = if options.timestamps.is_some() { 3 } else { 4 };
        if let (start, len @ 1..) = self.rcv.dsack {
            options.sack_blocks.push(start, start + len);
            self.rcv.dsack.1 = 0;
            room -= 1;
        }
        // Linux: a queued segment's end_seq counts its FIN, so the block
        // that ends with the stream covers the FIN too; a FIN apart from
        // the data held is a block of its own, in its place by recency.
        let (nxt, fin) = (self.rcv.nxt, self.rcv.ooo_fin);
        let alone = fin.filter(|f| !self.rcv.buf.ooo_blocks().any(|(_, e)| nxt + e as u32 == *f));
        // The FIN's own block and its place among the others.
        let mut fin_block = alone.map(|f| (f, self.rcv.buf.ooo_fin_rank()));
        let mut blocks = self.rcv.buf.ooo_recent(room).peekable();
        for i in 0..room {
            if let Some((f, _)) = fin_block.filter(|&(_, at)| at == i || blocks.peek().is_none()) {
                options.sack_blocks.push(f, f + 1);
                fin_block = None;
                continue;
            }
            let Some((s, e)) = blocks.next() else {
                break;
            };
            let (start, mut end) = (nxt + s as u32, nxt + e as u32);
            if fin == Some(end) {
                end += 1;
            }
            options.sack_blocks.push(start, end);
        }
    }

    /// The urgent pointer of a segment starting at `seq`, with URG set in
    /// `flags` when it has one (RFC 9293 §3.8.5: the pointer is SND.UP as
    /// an offset from the segment's sequence number, naming the byte after
    /// the urgent data). Linux tcp_output.c: __tcp_transmit_skb(): every
    /// segment starting below SND.UP carries it, retransmissions included,
    /// each with its own offset; one too far for the 16-bit field says
    /// 0xFFFF while that does not reach past SND.NXT.
    fn urgent_field(&self, seq: SeqNumber, flags: &mut TcpFlags) -> u16 {
        let Some(up) = self.snd.urgent_up().filter(|up| seq.lt(*up)) else {
            return 0;
        };
        let ahead = (up - seq) as u32;
        let urgent = if ahead < 0x1_0000 {
            ahead as u16
        } else if (seq + 0xFFFF).gt(self.snd.nxt) {
            0xFFFF
        } else {
            return 0;
        };
        *flags = flags.union(TcpFlags::URG);
        urgent
    }

    /// Emit a non-SYN segment carrying `len` bytes of the send buffer from
    /// `off`; `new_data`: the bytes were never sent before.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        now: Instant,
        cfg: &Config,
        buf: &mut [u8],
        seq: SeqNumber,
        flags: TcpFlags,
        off: usize,
        len: usize,
        new_data: bool,
    ) -> usize {
        self.emit_accounting(now, cfg, seq, flags, len, new_data);
        self.emit_header(now, cfg, buf, seq, flags, off, len, new_data)
    }

    /// What each segment formed counts, before its header is written: PRR's
    /// segments out, RACK's send record, SO_TIMESTAMPING, pacing of a
    /// control segment.
    pub(super) fn emit_accounting(
        &mut self,
        now: Instant,
        cfg: &Config,
        seq: SeqNumber,
        flags: TcpFlags,
        len: usize,
        new_data: bool,
    ) {
        self.count_segment_out(now, flags, len, new_data);
        if len > 0 && ((cfg.prr && self.rec.recover.is_some()) || self.rec.cwr.is_some()) {
            // RFC 6937: prr_out counts the data segments sent during a
            // reduction (Linux tcp_write_xmit(), tcp_retransmit_skb()).
            let rec = self.rec.get_mut();
            rec.prr.out = rec.prr.out.saturating_add(1);
        }
        if len > 0 || flags.fin() {
            // RACK: when each segment left (RFC 8985 §6.1).
            let end = seq + len as u32 + u32::from(flags.fin());
            self.rack_on_send(cfg, seq, end, now);
        }
        if len > 0 && self.errs.tracking() {
            // SO_TIMESTAMPING: SCHED and SND for a tagged byte leaving now.
            let room = self.errqueue_room();
            self.errs.on_transmit(now, seq, len, new_data, room);
        }
        if len == 0 && !flags.fin() {
            self.pacing_on_control(now, cfg);
        }
    }

    /// Write the packet of a segment (or, from `tso_out`, of several that
    /// share one header) carrying `len` bytes of the send buffer from `off`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_header(
        &mut self,
        now: Instant,
        cfg: &Config,
        buf: &mut [u8],
        seq: SeqNumber,
        mut flags: TcpFlags,
        off: usize,
        len: usize,
        new_data: bool,
    ) -> usize {
        let tos = self.ecn_mark(&mut flags, len, new_data);
        if len > 0 {
            // Once per packet, as Linux's tcp_event_data_sent() per skb.
            self.note_data_sent(now, cfg);
        }
        self.route_revalidate();
        // An ACK formed earlier in the event (`comp_sack_force`) keeps the
        // window and SACK blocks it had then.
        let forced = self.comp_sack_take_forced();
        let window = match forced {
            Some(f) => f.window,
            None => self.window_field(cfg, None),
        };
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.rcv.ack_now = false;
        self.timers.set(TimerKind::DelayedAck, None);
        self.comp_sack_sent();
        self.clear_pushed();
        self.rcv.unacked = 0;
        let mut options = TcpOptions {
            timestamps: self.timestamps(now),
            ..TcpOptions::default()
        };
        if let Some(f) = forced {
            options.sack_blocks = f.sack;
        } else if self.sack_ok
            && (self.rcv.dsack.1 > 0 || self.rcv.buf.has_ooo() || self.rcv.ooo_fin.is_some())
        {
            self.fill_sack(&mut options);
        }
        let urgent = self.urgent_field(seq, &mut flags);
        let (local, remote, ack) = (self.local, self.remote, self.rcv.nxt);
        let tcp = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
            payload: self.snd.buf.slice(off, len),
        };
        let n = emit_packet(&local, &remote, cfg, tos, &tcp, buf);
        self.clear_df(&mut buf[..n], seq);
        n
    }
}

/// Emit a control segment (RST, bare ACK or cookie SYN,ACK) without a TCB.
pub(crate) fn emit_ctl(ctl: &CtlSegment, cfg: &Config, buf: &mut [u8]) -> Option<usize> {
    if buf.len() < MIN_BUFFER {
        return None;
    }
    let mut flags = TcpFlags::empty();
    if ctl.rst {
        flags |= TcpFlags::RST;
    }
    if ctl.ack.is_some() {
        flags |= TcpFlags::ACK;
    }
    if let Some(syn) = &ctl.syn {
        flags |= TcpFlags::SYN;
        if syn.ece {
            flags |= TcpFlags::ECE;
        }
    }
    let tcp = TcpRepr {
        src_port: ctl.local.port(),
        dst_port: ctl.remote.port(),
        seq: ctl.seq,
        ack: ctl.ack.unwrap_or(SeqNumber(0)),
        flags,
        window: ctl.window,
        urgent: 0,
        options: TcpOptions {
            timestamps: ctl.timestamps,
            mss: ctl.syn.map(|s| s.mss),
            window_scale: ctl.syn.and_then(|s| s.window_scale),
            sack_permitted: ctl.syn.is_some_and(|s| s.sack_permitted),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    Some(emit_packet(
        &ctl.local,
        &ctl.remote,
        cfg,
        cfg.tos,
        &tcp,
        buf,
    ))
}

pub(super) fn emit_packet(
    local: &SocketAddr,
    remote: &SocketAddr,
    cfg: &Config,
    tos: u8,
    tcp: &TcpRepr<'_>,
    buf: &mut [u8],
) -> usize {
    let ip = IpRepr {
        src: local.ip(),
        dst: remote.ip(),
        ttl: cfg.ttl,
        // MUST-48 / SHLD-22: the application's Diffserv field, passed unchanged.
        tos,
    };
    // The buffer was checked against MIN_BUFFER and payloads are cut to fit, and
    // addresses of a connection share a family, so emission cannot fail.
    let checksum = if cfg.tx_checksum_offload {
        finack_wire::TxChecksum::Partial
    } else {
        finack_wire::TxChecksum::Full
    };
    finack_wire::emit_tcp_packet_with(&ip, tcp, buf, checksum).unwrap_or(0)
}
