//! SEGMENT ARRIVES (RFC 9293 §3.10.7.3 and §3.10.7.4), one function per step
//! (the fifth, the ACK field, is in `ack`).

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};
use crate::config::Config;
use crate::types::{CloseReason, Event, State, TimerKind};

/// The part of an arriving segment that survives trimming to the window.
#[derive(Clone, Copy, Debug)]
pub(super) struct Trimmed<'a> {
    pub(super) seq: SeqNumber,
    pub(super) syn: bool,
    pub(super) fin: bool,
    pub(super) payload: &'a [u8],
}

/// Did step processing finish with the segment (drop / consumed)?
pub(super) enum Step {
    Continue,
    Done,
}

impl Tcb {
    /// Process one segment addressed to this connection.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        // Anything from the peer shows it is alive (keep-alive, RFC 9293 §3.8.4).
        self.ka.last_rx = ctx.now;
        self.ka.probes_out = 0;
        self.snd.piece_left = 0;
        // MSG_MORE held its write back for the push of that call only.
        self.snd.more = false;
        // Linux counts a segment for the socket it reaches; a passive
        // connection's request socket counts none, so only the one that
        // completes the handshake counts (tcp_child_process()).
        let opened_at = self.opening_passively().then_some(self.state_since);
        if opened_at.is_none() {
            self.count_segment_in(seg);
        }
        match self.state {
            State::SynSent => self.on_segment_syn_sent(ctx, seg),
            State::Closed | State::Listen | State::TimeWait => {}
            _ => self.on_segment_synchronized(ctx, seg),
        }
        let made = opened_at.filter(|_| self.state.is_synchronized());
        if made.is_some() {
            self.count_segment_in(seg);
        }
        if opened_at.is_none() || made.is_some() {
            self.rto_clock_after_segment(ctx.now, made);
        }
    }

    // ---- §3.10.7.3 SYN-SENT --------------------------------------------------

    fn on_segment_synchronized(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let flags = seg.flags;
        let mut cur = Trimmed {
            seq: seg.seq,
            syn: flags.syn(),
            fin: flags.fin(),
            payload: seg.payload,
        };
        if self.state == State::SynReceived && cur.syn && !flags.rst() && cur.seq == self.rcv.irs {
            if !flags.ack() {
                // A retransmitted SYN: our SYN,ACK was lost. Send it again (Linux
                // tcp_check_req) rather than treating the copy as a new request.
                // For a listener's connection Linux rate-limits these resends
                // (tcp_oow_rate_limited(): one per tcp_invalid_ratelimit) and
                // starts the SYN,ACK timer again from the resend, with the
                // backoff its own timeouts built (reqsk_timeout()).
                if self.listener.is_some() {
                    if !self.oow_reply_allowed(ctx) {
                        return;
                    }
                    let rto = self.snd.rtt.backed_off(self.snd.backoff, ctx.cfg);
                    self.timers.set(TimerKind::Retransmit, Some(ctx.now + rto));
                }
                if self.snd.max.gt(self.snd.iss) {
                    self.snd.nxt = self.snd.iss;
                }
                return;
            }
            if seg.ack == self.snd.max {
                // Simultaneous open: the peer's SYN,ACK repeats the SYN we already
                // took in; its ACK is what completes our handshake (RFC 9293 Figure
                // 8, line 6). Process it without the SYN; the repeat is
                // answered at once with a D-SACK for it (Linux
                // tcp_validate_incoming() lets it pass, then tcp_data_queue()
                // takes the old SYN for a retransmission: tcp_dsack_set(),
                // quick ACK).
                self.dsack_set(ctx, cur.seq, cur.seq + 1);
                self.rcv.ack_now = true;
                cur.syn = false;
                cur.seq += 1;
            }
        }
        if let Step::Done = self.step_paws(ctx, seg) {
            return;
        }
        let Some(cur) = self.step_sequence(ctx, seg, cur) else {
            return;
        };
        if let Step::Done = self.step_rst(ctx, seg, cur) {
            return;
        }
        // Third: security — no compartments are supported (N/A, see conformance).
        if let Step::Done = self.step_syn(ctx, cur) {
            return;
        }
        let was_established = self.state == State::Established;
        if let Step::Done = self.step_ack(ctx, seg, cur) {
            return;
        }
        // Linux tcp_rcv_established() (not the handshake's last ACK, which
        // tcp_rcv_state_process() takes).
        if was_established {
            self.rcv_rtt_measure_ts(ctx, seg);
        }
        self.step_urg(ctx, seg);
        self.step_text_and_fin(ctx, seg, cur);
    }

    /// RFC 7323 §5.3 PAWS, done before the sequence check: a segment whose TSval is
    /// older than TS.Recent is an old duplicate. Acknowledge and drop it.
    fn step_paws(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) -> Step {
        if !self.ts_ok || seg.flags.rst() {
            return Step::Continue;
        }
        let Some(ts) = seg.options.timestamps else {
            return Step::Continue;
        };
        // RFC 7323 §5.5: TS.Recent older than 24 days is invalid.
        let stale = ctx.now - self.rcv.ts_recent_age > core::time::Duration::from_secs(24 * 86400);
        let age = self.rcv.ts_recent.wrapping_sub(ts.tsval) as i32;
        // Linux tcp_paws_check(): TCP_PAWS_WINDOW, one tick of reordering.
        let window = i32::from(ctx.cfg.paws_linux);
        if age > window && !stale && !(ctx.cfg.paws_linux && self.disordered_ack(ctx, seg, age)) {
            ctx.stats.paws_rejected += 1;
            if !self.rate_limited_ack(ctx) {
                // Linux TCPACKSkippedPAWS.
                ctx.stats.ack_skipped_paws += 1;
            }
            return Step::Done;
        }
        Step::Continue
    }

    /// Linux tcp_input.c: tcp_disordered_ack(): a pure ACK at RCV.NXT that
    /// acknowledges nothing new (SND.UNA), would not update the send window
    /// (tcp_may_update_window()) and is at most an RTO's worth of timestamp
    /// ticks (milliseconds) older than TS.Recent is let through PAWS.
    fn disordered_ack(&self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>, age: i32) -> bool {
        let wnd = u32::from(seg.window) << self.snd.wscale;
        let may_update_window = seg.ack.gt(self.snd.una)
            || seg.seq.gt(self.snd.wl1)
            || (seg.seq == self.snd.wl1 && (wnd > self.snd.wnd || wnd == 0));
        let rto_ms = self
            .snd
            .rtt
            .backed_off(self.snd.backoff, ctx.cfg)
            .as_millis();
        seg.flags.ack()
            && seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && seg.seq == self.rcv.nxt
            && seg.ack == self.snd.una
            && !may_update_window
            && i64::from(age) <= rto_ms as i64
    }

    /// RFC 7323 §4.3: remember the peer's latest TSval for echoing and PAWS when
    /// the segment is acceptable, not older than TS.Recent, and starts at or before
    /// the last acknowledgment we sent (SEG.SEQ =< Last.ACK.sent).
    pub(super) fn update_ts_recent(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        if !self.ts_ok {
            return;
        }
        if let Some(ts) = seg.options.timestamps {
            if (ts.tsval.wrapping_sub(self.rcv.ts_recent) as i32) >= 0
                && seg.seq.le(self.rcv.last_ack_sent)
            {
                self.rcv.ts_recent = ts.tsval;
                self.rcv.ts_recent_age = ctx.now;
            }
        }
    }

    /// First: check the sequence number (§3.10.7.4 first, the four-case
    /// acceptability table), then trim the segment to the window.
    fn step_sequence<'a>(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        cur: Trimmed<'a>,
    ) -> Option<Trimmed<'a>> {
        let len = cur.payload.len() as u32 + u32::from(cur.syn) + u32::from(cur.fin);
        let wnd = self.effective_rcv_wnd(ctx.cfg);
        let lo = self.rcv.nxt;
        let hi = self.rcv.nxt + wnd;
        let linux_mem = ctx.cfg.rcv_memory && len > 0 && !cur.syn;
        let acceptable = match (len, wnd) {
            // Linux tcp_input.c: tcp_sequence() (7.x): up to the largest
            // right edge offered; a segment running past it is taken only
            // while nothing waits to be read, and a FIN alone may pass it.
            _ if linux_mem => {
                // Wholly below RCV.NXT (so below rcv_wup too) is old.
                let end = cur.seq + len;
                (!(end - u32::from(cur.fin)).gt(hi) || (!cur.seq.gt(hi) && self.rcv.buf.len() == 0))
                    && end.gt(lo)
            }
            (0, 0) => cur.seq == lo,
            // Linux tcp_sequence(): the right edge itself is in.
            (0, _) if ctx.cfg.linux_sequence_check => cur.seq.in_range(lo, hi + 1),
            (0, _) => cur.seq.in_range(lo, hi),
            // MUST-66: with a zero window, still process ACK, URG and RST of a
            // segment at RCV.NXT (its text is trimmed away below).
            (_, 0) => cur.seq == lo,
            (_, _) => cur.seq.in_range(lo, hi) || (cur.seq + (len - 1)).in_range(lo, hi),
        };
        if len > 0 && !cur.syn && !seg.flags.rst() && cur.seq.lt(lo) {
            // Data (or a FIN) below RCV.NXT came again: a D-SACK for that
            // part, whether the segment is all old (Linux tcp_send_dupack())
            // or runs on past RCV.NXT (tcp_data_queue()).
            self.dsack_set(ctx, cur.seq, (cur.seq + len).min(lo));
            if !(cur.seq + len).gt(lo) {
                // All of it old: the peer seems not to have heard our ACKs
                // (DelayedACKLost): quick ACKs again
                // (tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)).
                ctx.stats.delayed_ack_lost += 1;
                self.enter_quickack_mode(ctx.cfg, ctx.cfg.quickacks);
            }
        }
        if !acceptable {
            ctx.stats.out_of_window += 1;
            if linux_mem && (cur.seq + len).gt(lo) {
                // Linux tcp_validate_incoming(): INVALID_SEQUENCE or
                // INVALID_END_SEQUENCE.
                ctx.stats.beyond_window += 1;
            }
            // "If an incoming segment is not acceptable, an acknowledgment should be
            // sent in reply (unless the RST bit is set)". Like Linux, replies to bare
            // ACKs are rate-limited (they could be one end of an ACK loop); a
            // segment carrying data or FIN, such as a retransmitted FIN whose ACK
            // was lost, is always answered.
            if !seg.flags.rst() {
                if len > 0 && !cur.syn {
                    self.rcv.ack_now = true;
                } else if !self.rate_limited_ack(ctx) {
                    // Linux TCPACKSkippedSeq.
                    ctx.stats.ack_skipped_seq += 1;
                }
            }
            return None;
        }
        let trimmed = self.trim_to_window(ctx.cfg, cur);
        if trimmed.payload.len() < cur.payload.len() && trimmed.seq.ge(self.rcv.nxt) {
            // Text beyond the window (a zero-window probe, or a sender ignoring
            // the window) is not acceptable: acknowledge to restate the window.
            self.rcv.ack_now = true;
            if trimmed.payload.is_empty() {
                // Linux tcp_data_queue() out_of_window: quick ACKs again.
                self.enter_quickack_mode(ctx.cfg, ctx.cfg.quickacks);
            }
        }
        Some(trimmed)
    }

    /// Keep only the part of a segment inside RCV.NXT .. RCV.NXT+RCV.WND ("only the
    /// new parts are processed"; "segments with higher beginning sequence numbers
    /// may be held for later processing").
    pub(super) fn trim_to_window<'a>(&self, cfg: &Config, mut cur: Trimmed<'a>) -> Trimmed<'a> {
        let before = self.rcv.nxt - cur.seq;
        if before > 0 {
            let mut cut = before as u32;
            if cur.syn {
                cur.syn = false;
                cut -= 1;
                cur.seq += 1;
            }
            let data_cut = (cut as usize).min(cur.payload.len());
            cur.payload = &cur.payload[data_cut..];
            cur.seq += data_cut as u32;
            if (cut as usize) > data_cut {
                // The FIN itself lies before RCV.NXT: a duplicate.
                cur.fin = false;
            }
        }
        if cfg.rcv_memory {
            // Linux keeps a segment it accepts whole: what lies past the
            // window is judged in step_sequence() and deliver().
            return cur;
        }
        let wnd = self.effective_rcv_wnd(cfg);
        let offset = (cur.seq - self.rcv.nxt).max(0) as u32;
        let room = wnd.saturating_sub(offset) as usize;
        if cur.payload.len() > room {
            cur.payload = &cur.payload[..room];
            cur.fin = false;
        }
        cur
    }

    /// Second: check the RST bit, with RFC 5961 §3.2: only a RST exactly at RCV.NXT
    /// resets; one elsewhere in the window gets a challenge ACK.
    fn step_rst(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>, cur: Trimmed<'_>) -> Step {
        if !seg.flags.rst() {
            return Step::Continue;
        }
        if cur.seq != self.rcv.nxt && ctx.cfg.rfc5961 {
            self.challenge_ack(ctx);
            return Step::Done;
        }
        // Without RFC 5961 (RFC 793 §3.9): any RST in the window resets.
        match self.state {
            State::SynReceived => {
                if self.listener.is_some() {
                    // "If this connection was initiated with a passive OPEN, then
                    // return this connection to the LISTEN state" (MUST-11).
                    ctx.out.back_to_listen = true;
                    self.enter_closed(ctx, CloseReason::Reset);
                } else {
                    // Active OPEN: "the connection was refused".
                    self.enter_closed(ctx, CloseReason::Refused);
                }
            }
            // ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: "any outstanding RECEIVEs and
            // SEND should receive 'reset' responses ... All segment queues
            // should be flushed ... enter CLOSED" (the receive queue only
            // with `Config::purge_on_reset`: Linux keeps unread data
            // readable unless sysctl tcp_purge_receive_queue is set).
            // CLOSING, LAST-ACK: "enter the CLOSED state, delete the TCB".
            _ => {
                if ctx.cfg.purge_on_reset && self.rcv.buf.discard() > 0 {
                    self.rmem_uncharge_read(ctx.cfg);
                }
                self.enter_closed(ctx, CloseReason::Reset)
            }
        }
        Step::Done
    }

    /// Fourth: check the SYN bit. RFC 5961 §4 (RFC 9293 §3.10.7.4 fourth): a SYN in
    /// a synchronized state gets a challenge ACK, whatever its sequence number.
    fn step_syn(&mut self, ctx: &mut Ctx<'_>, cur: Trimmed<'_>) -> Step {
        if !cur.syn {
            return Step::Continue;
        }
        if self.state == State::SynReceived && self.listener.is_some() {
            // "If the connection was initiated with a passive OPEN, then return this
            // connection to the LISTEN state and return."
            ctx.out.back_to_listen = true;
            self.enter_closed(ctx, CloseReason::Reset);
            return Step::Done;
        }
        if !ctx.cfg.rfc5961 {
            // RFC 793 §3.9 (before RFC 5961): "If the SYN is in the window it
            // is an error, send a reset ... enter the CLOSED state". The
            // trimmed segment reached here, so it is in the window.
            self.active_rst(ctx);
            self.enter_closed(ctx, CloseReason::Reset);
            return Step::Done;
        }
        self.challenge_ack(ctx);
        Step::Done
    }

    /// Sixth: check the URG bit (MUST-30, MUST-62: the pointer names the first
    /// non-urgent octet; MUST-32: tell the application).
    pub(super) fn step_urg(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let open = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        // Only a pointer, or a byte still awaited, has work here (most
        // segments have neither).
        if ctx.cfg.urgent_oob && open && (seg.flags.urg() || self.urgent_active()) {
            self.urg_rx_segment(seg, ctx.cfg.stdurg);
        }
        if !seg.flags.urg() {
            return;
        }
        if open {
            // The pointer is an offset from the segment's own sequence
            // number (its SYN included), not from where trimming left it.
            let up = seg.seq + u32::from(seg.urgent);
            let newer = self.rcv.up.is_none_or(|old| up.gt(old));
            if newer {
                self.rcv.up = Some(up);
                ctx.events.push(Event::Urgent(self.id));
            }
        }
    }

    /// Seventh (segment text) and eighth (FIN).
    pub(super) fn step_text_and_fin(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        cur: Trimmed<'_>,
    ) {
        // A FIN comes with its segment's text: when the text is refused, so
        // is the FIN (Linux drops the whole skb); the peer sends both again.
        let mut taken = true;
        if !cur.payload.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.rcv.read_shutdown
                        && self.orphan
                        && matches!(self.state, State::FinWait1 | State::FinWait2)
                    {
                        // RFC 9293 SHLD-3 / RFC 1122 §4.2.2.13: data arriving after
                        // CLOSE is lost; say so with a RST (Linux TCPAbortOnData).
                        // Linux tcp_rcv_state_process() returns 1 for it and
                        // tcp_v4_do_rcv() answers the segment as a closed port
                        // would (tcp_v4_send_reset()); RFC 9293 names no form,
                        // so the RFC profile resets from SND.NXT.
                        if ctx.cfg.linux_resets {
                            self.reply_rst(ctx, seg);
                        } else {
                            self.queue_rst(ctx, self.snd.max, None);
                        }
                        self.enter_closed(ctx, CloseReason::Aborted);
                        return;
                    }
                    taken = self.deliver(ctx, seg, cur.seq, cur.payload);
                }
                // "This should not occur since a FIN has been received from the
                // remote side. Ignore the segment text."
                _ => {}
            }
        }
        // Eighth: check the FIN bit.
        if cur.fin {
            let fin_seq = cur.seq + cur.payload.len() as u32;
            if fin_seq == self.rcv.nxt {
                if cur.payload.is_empty() && ctx.cfg.rcv_memory {
                    self.rmem_admit_fin(ctx);
                }
                self.on_fin(ctx, seg);
            } else if taken && fin_seq.gt(self.rcv.nxt) && !self.rcv.fin_received {
                // Out of order: remember where the stream ends. With data
                // the ACK was decided with it (`deliver`); a FIN alone is
                // queued by Linux as an empty segment, ACKed the same way.
                self.rcv.ooo_fin = Some(fin_seq);
                if cur.payload.is_empty() {
                    self.rcv.buf.note_ooo_fin();
                    self.ack_out_of_order(ctx);
                }
            }
        }
    }

    /// Owe the peer a D-SACK for `[start, end)` (RFC 2883; Linux
    /// tcp_dsack_set(), only with SACK agreed and `Config::dsack`).
    fn dsack_set(&mut self, ctx: &mut Ctx<'_>, start: SeqNumber, end: SeqNumber) {
        if !(self.sack_ok && ctx.cfg.dsack && end.gt(start)) {
            return;
        }
        if start.lt(self.rcv.nxt) {
            ctx.stats.dsack_old_sent += 1;
        } else {
            ctx.stats.dsack_ofo_sent += 1;
        }
        self.rcv.dsack = (start, (end - start) as u32);
    }

    /// Widen the owed D-SACK by `[start, end)` when the two meet, or owe
    /// this one if none is (Linux tcp_dsack_extend(), tcp_sack_extend()).
    fn dsack_extend(&mut self, ctx: &mut Ctx<'_>, start: SeqNumber, end: SeqNumber) {
        let (s, len) = self.rcv.dsack;
        if len == 0 {
            return self.dsack_set(ctx, start, end);
        }
        if dsack_meets(self.rcv.dsack, start, end) {
            let (s, e) = (s.min(start), (s + len).max(end));
            self.rcv.dsack = (s, (e - s) as u32);
        }
    }

    /// Accept in-window text: in order into the receive buffer, otherwise into the
    /// out-of-order queue. Either way an ACK is due (MUST-58: output aggregates it
    /// with any data; MAY-13: ACK out-of-order segments at once). False:
    /// refused for want of window or memory.
    fn deliver(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        seq: SeqNumber,
        payload: &[u8],
    ) -> bool {
        self.ecn_check_ce(ctx);
        if ctx.cfg.rcv_memory && !self.rmem_admit(ctx, seg, seq, payload.len()) {
            return false;
        }
        if seq != self.rcv.nxt {
            // MAY-13: out-of-order data is acknowledged at once (a duplicate ACK
            // that drives the peer's fast retransmit), and like Linux we go back to
            // quick ACKs until the hole is filled.
            let ahead = (seq - self.rcv.nxt).max(0) as usize;
            if !self.rmem_schedule(ctx, ahead, payload.len()) {
                // Linux tcp_input.c: tcp_data_queue_ofo(): no memory for it
                // (TCPOFODrop); the duplicate ACK restates what we hold.
                ctx.stats.ofo_drop += 1;
                self.rcv.ack_now = true;
                return false;
            }
            self.count_ooo_in();
            // Linux tcp_data_queue_ofo(): what it repeats of data held.
            // Only the first overlap counts: the held ranges are apart, so
            // a later one never meets it (tcp_dsack_extend() would not join).
            let repeated = self.rcv.buf.ooo_overlaps(ahead, payload.len()).next();
            if let Some((s, e)) = repeated {
                let nxt = self.rcv.nxt;
                self.dsack_set(ctx, nxt + s as u32, nxt + e as u32);
            }
            let forced = self.comp_sack_force(ctx, ahead, payload.len());
            self.measure_rcv_mss(ctx, seg);
            self.rcv.buf.insert_ooo(ahead, payload);
            let accepted = !ctx.unaccepted;
            self.rmem_charge_ooo(ctx.cfg, seg, seq, payload.len() as u32, accepted);
            if ctx.cfg.ooo_quickack {
                // Linux before 4.19 (tcp_data_queue()): quick ACKs again.
                self.enter_quickack_mode(ctx.cfg, ctx.cfg.quickacks);
            }
            if !forced {
                self.ack_out_of_order(ctx);
            }
            return true;
        }
        if !self.rmem_schedule(ctx, 0, payload.len()) {
            // Linux tcp_input.c: tcp_data_queue(): no memory while data is
            // queued (TCPRcvQDrop): drop it unacknowledged and ACK at once;
            // the peer sends it again.
            ctx.stats.rcvq_drop += 1;
            self.rcv.ack_now = true;
            return false;
        }
        let filled_hole = self.rcv.buf.has_ooo();
        if filled_hole {
            // Linux tcp_ofo_queue(): out-of-order data this repeats widens
            // the owed D-SACK where they meet, or is the D-SACK when none is
            // owed; the held ranges are apart, so at most one can meet it.
            let (nxt, owed) = (self.rcv.nxt, self.rcv.dsack);
            let meets = |(s, e): (usize, usize)| {
                let (s, e) = (nxt + s as u32, nxt + e as u32);
                (owed.1 == 0 || dsack_meets(owed, s, e)).then_some((s, e))
            };
            let repeated = self.rcv.buf.ooo_overlaps(0, payload.len()).find_map(meets);
            if let Some((s, e)) = repeated {
                self.dsack_extend(ctx, s, e);
            }
        }
        // MUST-59: out-of-order bytes this reaches join the stream at once.
        let advanced = self.rcv.buf.push(payload);
        self.rcv.bytes_received += advanced as u64;
        self.rcv.nxt += advanced as u32;
        self.rcv_data_event(ctx, seg);
        // Linux tcp_input.c: tcp_event_data_recv(), after measuring the
        // segment: the delayed-ACK time follows the gap since the last
        // data, then lrcvtime is stamped.
        self.ato_data_arrives(ctx.now, ctx.cfg);
        self.rcv.buf.note_data(ctx.now.as_millis());
        self.rmem_charge_in_order(ctx.cfg, seg, seq, payload.len() as u32);
        if ctx.cfg.rcv_memory
            && seg.flags.fin()
            && seg.seq + seg.payload.len() as u32 == self.rcv.nxt
            && matches!(self.state, State::Established | State::SynReceived)
        {
            // Linux tcp_fin(): the FIN after this data moves us to
            // CLOSE-WAIT and makes the exchange interactive
            // (inet_csk_enter_pingpong_mode()) before the ACK is decided,
            // so only __tcp_ack_snd_check()'s window test can send it at
            // once; that test is modelled with the memory model only
            // (`Config::rcv_memory`), so the older profiles keep their rule.
            self.enter_pingpong(ctx.cfg);
        }
        // Linux decides on the ACK once the data is queued and charged
        // (tcp_ack_snd_check() after tcp_data_queue()).
        self.schedule_ack(ctx, payload.len() as u32, filled_hole);
        ctx.events.push(Event::Readable(self.id));
        if let Some(fin) = self.rcv.ooo_fin {
            if fin == self.rcv.nxt {
                self.rcv.ooo_fin = None;
                self.process_fin(ctx);
            }
        }
        true
    }

    /// Acknowledge `len` in-order bytes now or a little later (RFC 9293 §3.8.6.3,
    /// SHLD-18/19, MUST-40, MUST-58: one ACK for several segments).
    /// A super-segment merged by receive offload counts as the segments it
    /// was made of: the full size is its GSO segment size (Linux measures
    /// `rcv_mss` from `gso_size`, tcp_measure_rcv_mss(), and a GRO packet of
    /// many segments is more than one full frame, __tcp_ack_snd_check()).
    fn schedule_ack(&mut self, ctx: &mut Ctx<'_>, len: u32, urgent: bool) {
        let seg = match ctx.gso_size {
            0 => len,
            g => u32::from(g).min(len),
        };
        self.rcv.seg_max = self.rcv.seg_max.max(seg).min(65535);
        self.rcv.unacked = self.rcv.unacked.saturating_add(len);
        if ctx.cfg.delayed_ack.is_none() {
            self.rcv.ack_now = true;
            return;
        }
        let frames = if ctx.cfg.rcv_memory {
            self.rmem_frames_to_ack(ctx.cfg)
        } else {
            self.rcv.unacked >= 2 * self.rcv.seg_max
        };
        // Linux tcp_in_quickack_mode(): no quick ACKs while interactive.
        let quick = self.rcv.quickacks > 0 && !self.pingpong(ctx.cfg);
        if urgent || frames || quick {
            // SHLD-19: at least every second full-sized segment.
            self.ato_quickack_sent(ctx.cfg);
            self.rcv.ack_now = true;
        } else {
            self.schedule_delayed_ack(ctx.now, ctx.cfg);
        }
    }

    fn on_fin(&mut self, ctx: &mut Ctx<'_>, _seg: &TcpRepr<'_>) {
        if self.rcv.fin_received {
            return;
        }
        self.process_fin(ctx);
    }

    /// Eighth: "signal the user 'connection closing' ..., advance RCV.NXT over the
    /// FIN, and send an acknowledgment for the FIN", then change state.
    fn process_fin(&mut self, ctx: &mut Ctx<'_>) {
        self.rcv.fin_received = true;
        self.rcv.nxt += 1;
        // Linux tcp_input.c: tcp_fin() resets the SACK state
        // (tcp_sack_reset()): a D-SACK owed for the segment that brought the
        // FIN is not sent.
        self.rcv.dsack.1 = 0;
        // The FIN's ACK: at once, except when it only moves us to CLOSE-WAIT on
        // a connection that has carried data; then, like Linux (whose delayed-ACK
        // timeout starts at zero until data arrives), it waits the delayed-ACK
        // time, which lets an application that closes right away send FIN and
        // ACK in one segment.
        // (`schedule_delayed_ack` acknowledges at once without delayed ACKs.)
        if self.rcv.bytes_received > 0
            && matches!(self.state, State::Established | State::SynReceived)
        {
            self.schedule_delayed_ack(ctx.now, ctx.cfg);
        } else {
            self.rcv.ack_now = true;
        }
        ctx.events.push(Event::PeerClosed(self.id));
        ctx.events.push(Event::Readable(self.id));
        match self.state {
            State::SynReceived | State::Established => {
                self.goto(ctx.now, State::CloseWait);
            }
            State::FinWait1 => {
                // "If our FIN has been ACKed (perhaps in this segment), then enter
                // TIME-WAIT, start the time-wait timer, turn off the other timers;
                // otherwise, enter the CLOSING state." (The ACK step already moved
                // us to FIN-WAIT-2 when this segment acknowledged our FIN.)
                if self.fin_acked() {
                    self.goto(ctx.now, State::TimeWait);
                } else {
                    self.goto(ctx.now, State::Closing);
                }
            }
            State::FinWait2 => {
                // "Enter the TIME-WAIT state. Start the time-wait timer, turn off the
                // other timers."
                self.goto(ctx.now, State::TimeWait);
            }
            // CLOSE-WAIT, CLOSING, LAST-ACK: remain.
            _ => {}
        }
        if self.state == State::TimeWait {
            self.timers.set(TimerKind::Retransmit, None);
            self.timers.set(TimerKind::FinWait2, None);
            self.timers.set(TimerKind::User, None);
        }
    }

    /// RFC 5961 §7: challenge ACKs are rate-limited per connection.
    pub(crate) fn challenge_ack(&mut self, ctx: &mut Ctx<'_>) {
        if self.rate_limited_ack(ctx) {
            ctx.stats.challenge_acks += 1;
        } else {
            ctx.stats.challenge_acks_suppressed += 1;
        }
    }

    /// Request an ACK unless one was sent for an invalid segment within
    /// `challenge_ack_interval` (Linux `tcp_oow_rate_limited`). True if sent.
    fn rate_limited_ack(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let allowed = self.oow_reply_allowed(ctx);
        if allowed {
            self.rcv.ack_now = true;
        }
        allowed
    }

    /// Linux tcp_input.c: tcp_oow_rate_limited(): may a reply to an
    /// out-of-window segment go now (none within `challenge_ack_interval`)?
    /// If so, the time is noted. A stamp from the future (after wrapping)
    /// does not hold a reply back.
    fn oow_reply_allowed(&mut self, ctx: &Ctx<'_>) -> bool {
        let now_ms = ctx.now.as_millis() as u32;
        let interval = ctx.cfg.challenge_ack_interval.as_millis();
        let allowed = self.rcv.last_challenge.is_none_or(|t| {
            let elapsed = now_ms.wrapping_sub(t) as i32;
            elapsed < 0 || elapsed as u128 >= interval
        });
        if allowed {
            self.rcv.last_challenge = Some(now_ms);
        }
        allowed
    }
}

/// Does `[start, end)` overlap or touch the D-SACK block `(s, len)`
/// (Linux tcp_sack_extend(): `!after(seq, end) && !after(sp->start_seq,
/// end_seq)`)?
fn dsack_meets((s, len): (SeqNumber, u32), start: SeqNumber, end: SeqNumber) -> bool {
    start.le(s + len) && s.le(end)
}
