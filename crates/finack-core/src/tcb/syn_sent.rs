//! SEGMENT ARRIVES in SYN-SENT (RFC 9293 §3.10.7.3): the answer to our SYN.
//! Split from `input`, which goes on with the data it may carry.

use finack_wire::TcpRepr;

use super::input::Trimmed;
use super::{Ctx, Tcb};
use crate::types::{CloseReason, Event, State, TimerKind};

/// Linux TCP_TIMEOUT_MIN: two jiffies (2 ms at HZ=1000, 8 ms at HZ=250).
const LINUX_TCP_TIMEOUT_MIN: core::time::Duration = core::time::Duration::from_millis(2);

impl Tcb {
    /// SYN-SENT: the first check (the ACK bit) through the fifth, then
    /// ESTABLISHED, or SYN-RECEIVED on a simultaneous open.
    pub(super) fn on_segment_syn_sent(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr<'_>) {
        let flags = seg.flags;
        // First: check the ACK bit.
        let mut ack_ok = false;
        if flags.ack() {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST
            // bit is set) <SEQ=SEG.ACK><CTL=RST> and discard the segment."
            if seg.ack.le(self.snd.iss) || seg.ack.gt(self.snd.max) {
                if !flags.rst() {
                    self.queue_rst(ctx, seg.ack, None);
                }
                if ctx.cfg.paws_active && self.rec.rto_retransmits == 0 {
                    // Linux tcp_rcv_synsent_state_process(): "previous
                    // FIN/ACK or RST/ACK might be ignored": the SYN goes
                    // again at once (TCP_TIMEOUT_MIN) unless it was resent
                    // already; the reset lets a peer still holding an older
                    // connection on this 4-tuple drop it.
                    self.timers
                        .set(TimerKind::Retransmit, Some(ctx.now + LINUX_TCP_TIMEOUT_MIN));
                }
                return;
            }
            // "If SND.UNA < SEG.ACK =< SND.NXT, then the ACK is acceptable."
            ack_ok = seg.ack.gt(self.snd.una);
            // Linux: the SYN,ACK's timestamp echo must lie between our first
            // SYN's timestamp and now, else reset and ignore it
            // (PAWSActive); a reset is not answered, nor taken.
            let echo = seg.options.timestamps.map_or(0, |ts| ts.tsecr);
            if ctx.cfg.paws_active && ctx.cfg.timestamps && echo != 0 {
                let first = self.ts_now(self.state_since);
                if echo.wrapping_sub(first) > self.ts_now(ctx.now).wrapping_sub(first) {
                    ctx.stats.paws_active += 1;
                    if !flags.rst() {
                        self.queue_rst(ctx, seg.ack, None);
                    }
                    return;
                }
            }
        }
        // Second: check the RST bit.
        if flags.rst() {
            // RFC 5961 §3.2 / RFC 9293: a RST is valid in SYN-SENT only if its ACK
            // acknowledges our SYN; then "error: connection reset" (refused).
            if ack_ok {
                self.enter_closed(ctx, CloseReason::Refused);
            }
            return;
        }
        // Third: security/compartment — not implemented (RFC 9293 §3.10.7.3 third;
        // no IP security options are supported, see the conformance matrix).

        // Fourth: check the SYN bit.
        if !flags.syn() {
            // Fifth: "If neither of the SYN or RST bits is set, then drop the segment."
            return;
        }
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seg.seq + 1;
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.rcv.adv = self.rcv.nxt;
        self.apply_syn_options(ctx.cfg, seg, ctx.path_mtu);
        self.ecn_rcv_syn(seg, flags.ack());
        if let (true, Some(ts)) = (self.ts_ok, seg.options.timestamps) {
            self.rcv.ts_recent = ts.tsval;
            self.rcv.ts_recent_age = ctx.now;
        }
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.snd.wnd = u32::from(seg.window);
        self.note_peer_window();
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = seg.ack;
        if ack_ok {
            // Linux tcp_rcv_synsent_state_process() → tcp_ack(): rcv_tstamp.
            self.note_ack_arrival(ctx.now, seg);
            // Our SYN acknowledged: nothing for the window to grow by.
            let _ = self.ack_advance(ctx, seg.ack, seg, None);
            if self.snd.una.gt(self.snd.iss) {
                // Linux tcp_clean_rtx_queue(): the SYN's skb delivered.
                self.count_delivered(1, false, Some(ctx.stats));
            }
        }
        if self.snd.una.gt(self.snd.iss) {
            // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state
            // to ESTABLISHED, form an ACK segment and send it."
            let first = self.state_since;
            self.goto(ctx.now, State::Established);
            self.handshake_done(ctx.cfg, seg, first);
            // Linux tcp_input.c: tcp_finish_connect() → tcp_init_transfer()
            // → tcp_mtup_init(), tcp_init_buffer_space().
            self.mtu_probing_init(ctx.cfg, ctx.now);
            self.rmem_init_buffer_space(ctx.cfg);
            // Linux tcp_finish_connect(): header prediction only without
            // window scaling (its window field would need the shift).
            if self.snd.wscale == 0 {
                self.hp_on(ctx.cfg);
            }
            if !self.save_handshake_ack(ctx) {
                self.rcv.ack_now = true;
            }
            ctx.events.push(Event::Connected(self.id));
            if self.snd.buf.free() > 0 {
                ctx.events.push(Event::Writable(self.id));
            }
            // "Data or controls that were queued for transmission may be included"
            // (our output does that); data and FIN in the SYN,ACK continue at the
            // sixth step. Linux, without Fast Open, looks at the urgent
            // pointer only and frees the segment (tcp_rcv_state_process()
            // after tcp_rcv_synsent_state_process() returned -1): its data
            // and FIN are sent again by the peer (`Config::synack_text`).
            let rest = Trimmed {
                seq: seg.seq + 1,
                syn: false,
                fin: flags.fin(),
                payload: seg.payload,
            };
            let rest = self.trim_to_window(ctx.cfg, rest);
            self.step_urg(ctx, seg);
            if ctx.cfg.synack_text {
                self.step_text_and_fin(ctx, seg, rest);
            }
        } else {
            // Simultaneous open (MUST-10): "enter SYN-RECEIVED, form a SYN,ACK
            // segment <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it." Our output
            // resends the SYN, now with ACK, from SND.NXT = ISS.
            self.goto(ctx.now, State::SynReceived);
            self.snd.nxt = self.snd.iss;
            self.timers.set(TimerKind::Retransmit, None);
        }
    }

    // ---- §3.10.7.4 Other states ---------------------------------------------
}
