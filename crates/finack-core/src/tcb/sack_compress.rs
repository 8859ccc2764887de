//! SACK compression (Linux 4.18+, `Config::comp_sack_nr`): while
//! out-of-order data is held, the receiver sends the first three duplicate
//! ACKs for one RCV.NXT at once (enough for the sender's fast retransmit)
//! and lets later ones wait a little, so that one ACK carrying the newest
//! SACK blocks stands for a burst of segments (tcp_input.c:
//! __tcp_ack_snd_check(); tcp_timer.c: tcp_compressed_ack_kick()).

use super::{Ctx, Tcb};
use crate::types::TimerKind;
use finack_wire::SeqNumber;

/// Linux TCP_FASTRETRANS_THRESH: duplicate ACKs always sent at once.
const DUP_ACKS_AT_ONCE: u8 = 3;

/// The compression state (`tp->compressed_ack`, `dup_ack_counter`,
/// `compressed_ack_rcv_nxt`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SackCompress {
    /// Duplicate ACKs held back since the last ACK left; the timer runs
    /// while this is not 0 (it shares the delayed-ACK deadline, which
    /// nothing else sets while out-of-order data waits).
    held: u8,
    /// Duplicate ACKs sent at once for `rcv_nxt`.
    dup_acks: u8,
    /// RCV.NXT when `dup_acks` was counted.
    rcv_nxt: SeqNumber,
    /// Held ACKs another ACK stood for, not yet counted in
    /// `Stats::ack_compressed` (the send path has no counters).
    uncounted: u8,
}

impl Tcb {
    /// An ACK is owed for an out-of-order segment just queued: at once, or
    /// held under SACK compression (Linux __tcp_ack_snd_check() with
    /// `ofo_possible` and data in the out-of-order queue).
    pub(super) fn ack_out_of_order(&mut self, ctx: &mut Ctx<'_>) {
        let cfg = ctx.cfg;
        // "More than one full frame received" or quick-ACK mode go first.
        let frames = cfg.rcv_memory && self.rmem_frames_to_ack(cfg);
        let quick = self.rcv.quickacks > 0 && !self.pingpong(cfg);
        self.comp_sack_flush(ctx.stats);
        let held = self.rcv.est.as_ref().map_or(0, |e| e.comp.held);
        if frames || quick || !self.sack_ok || held >= cfg.comp_sack_nr {
            self.rcv.ack_now = true;
            return;
        }
        let nxt = self.rcv.nxt;
        let c = &mut self.est().comp;
        if c.rcv_nxt != nxt {
            c.rcv_nxt = nxt;
            c.dup_acks = 0;
        }
        if c.dup_acks < DUP_ACKS_AT_ONCE {
            c.dup_acks += 1;
            self.rcv.ack_now = true;
            return;
        }
        c.held += 1;
        if c.held > 1 {
            return;
        }
        // Linux: the smaller of the receiver's RTT estimate and SRTT (the
        // receiver's alone when it has one and SRTT is larger; 0 without
        // one), a twentieth of it, at most tcp_comp_sack_delay_ns, then the
        // timer's slack.
        let rcv_rtt = self.rcv_rtt();
        let rtt = match self.snd.rtt.srtt() {
            Some(s) if !s.is_zero() && s < rcv_rtt => s,
            _ => rcv_rtt,
        };
        let delay = (rtt / 20).min(cfg.comp_sack_delay) + cfg.comp_sack_slack;
        self.timers
            .set(TimerKind::DelayedAck, Some(ctx.now + delay));
    }

    /// An ACK left: nothing is held any more (Linux tcp_event_ack_sent()).
    pub(super) fn comp_sack_sent(&mut self) {
        if let Some(e) = self.rcv.est.as_mut() {
            let c = &mut e.comp;
            c.uncounted = c.uncounted.saturating_add(core::mem::take(&mut c.held));
        }
    }

    /// Count in TCPAckCompressed the held ACKs another ACK stood for
    /// (Linux tcp_event_ack_sent()).
    fn comp_sack_flush(&mut self, stats: &mut crate::Stats) {
        if let Some(e) = self.rcv.est.as_mut() {
            stats.ack_compressed += u64::from(core::mem::take(&mut e.comp.uncounted));
        }
    }

    /// The compression timer fired: its ACK stands for the held ones, and
    /// is counted as one fewer saved (Linux tcp_compressed_ack_kick()).
    pub(super) fn comp_sack_timer(&mut self, stats: &mut crate::Stats) {
        self.comp_sack_flush(stats);
        if let Some(e) = self.rcv.est.as_mut() {
            let held = core::mem::take(&mut e.comp.held);
            stats.ack_compressed += u64::from(held.saturating_sub(1));
        }
        self.rcv.ack_now = true;
    }

    /// Whether duplicate ACKs are held (the delayed-ACK deadline is then
    /// the compression timer's).
    pub(super) fn comp_sack_held(&self) -> bool {
        self.rcv.est.as_ref().is_some_and(|e| e.comp.held > 0)
    }
}
