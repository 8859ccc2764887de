//! SACK compression (Linux 4.18+, `Config::comp_sack_nr`): while
//! out-of-order data is held, the receiver sends the first three duplicate
//! ACKs for one RCV.NXT at once (enough for the sender's fast retransmit)
//! and lets later ones wait a little, so that one ACK carrying the newest
//! SACK blocks stands for a burst of segments (tcp_input.c:
//! __tcp_ack_snd_check(); tcp_timer.c: tcp_compressed_ack_kick()).
//! Data that lands far down the SACK list sends the held ACK at once, as
//! it stands, for fear the peer only reads the first blocks
//! (tcp_sack_new_ofo_skb()).

use super::{Ctx, Tcb};
use crate::types::TimerKind;
use finack_wire::{SackBlocks, SeqNumber, TcpOptions};

/// Linux TCP_FASTRETRANS_THRESH: duplicate ACKs always sent at once.
const DUP_ACKS_AT_ONCE: u8 = 3;

/// Linux TCP_SACK_BLOCKS_EXPECTED: the SACK blocks a sender is trusted to
/// read (of the three or four that fit), since SACKs get lost.
const BLOCKS_EXPECTED: usize = 2;

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
    /// The held ACK sent at once, as it stood before the segment that
    /// forced it out (`comp_sack_force`), until the connection's output
    /// writes it.
    forced: Option<ForcedAck>,
}

/// An ACK formed while a segment was being taken in: its window field and
/// SACK blocks as they were before that segment (the rest of the header
/// does not change with an out-of-order segment).
#[derive(Clone, Copy, Debug)]
pub(super) struct ForcedAck {
    pub(super) window: u16,
    pub(super) sack: SackBlocks,
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

    /// Out-of-order data `[ahead, ahead + len)` (offsets from RCV.NXT) is
    /// about to be queued. Linux tcp_sack_new_ofo_skb(): when ACKs are held
    /// and it extends a block past the first `BLOCKS_EXPECTED` (by recency)
    /// or starts a new one beside as many, the held ACK goes at once
    /// (tcp_sack_compress_send_ack(), which counts the others held as
    /// saved), with the blocks as they are: the extended one widened in its
    /// place, a new one not yet there. Sending it unschedules the ACK the
    /// new data was owed, so none follows for it (tcp_ack_snd_check() finds
    /// none pending): true.
    pub(super) fn comp_sack_force(&mut self, ctx: &mut Ctx<'_>, ahead: usize, len: usize) -> bool {
        if !self.sack_ok || !self.comp_sack_held() {
            return false;
        }
        let end = ahead + len;
        let (mut count, mut meets) = (0, None);
        for (i, (s, e)) in self.rcv.buf.ooo_recent(SackBlocks::CAPACITY).enumerate() {
            count = i + 1;
            // tcp_sack_extend(): the block touches or overlaps the data.
            if meets.is_none() && s <= end && ahead <= e {
                meets = Some((i, s, e));
            }
        }
        if meets.map_or(count, |m| m.0) < BLOCKS_EXPECTED {
            return false;
        }
        self.comp_sack_release(ctx.stats);
        let window = self.window_field(ctx.cfg, None);
        let mut options = TcpOptions {
            timestamps: self.timestamps(ctx.now),
            ..TcpOptions::default()
        };
        self.fill_sack(&mut options);
        let mut sack = options.sack_blocks;
        if let Some((_, s, e)) = meets {
            // tcp_sack_extend() widened the block before the ACK was sent.
            let nxt = self.rcv.nxt;
            let (old, wide) = (
                (nxt + s as u32, nxt + e as u32),
                (nxt + s.min(ahead) as u32, nxt + e.max(end) as u32),
            );
            sack = SackBlocks::new();
            for b in options.sack_blocks.iter() {
                let (l, r) = if b == old { wide } else { b };
                sack.push(l, r);
            }
        }
        self.est().comp.forced = Some(ForcedAck { window, sack });
        true
    }

    /// Whether an ACK formed by `comp_sack_force` waits to be written.
    pub(super) fn comp_sack_forced(&self) -> bool {
        self.rcv
            .est
            .as_ref()
            .is_some_and(|e| e.comp.forced.is_some())
    }

    /// The ACK formed by `comp_sack_force`, taken by the segment written now.
    pub(super) fn comp_sack_take_forced(&mut self) -> Option<ForcedAck> {
        self.rcv.est.as_mut().and_then(|e| e.comp.forced.take())
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
        self.comp_sack_release(stats);
        self.rcv.ack_now = true;
    }

    /// The held ACKs are over: one ACK goes for them all, the others count
    /// as saved (tcp_compressed_ack_kick(), tcp_sack_compress_send_ack():
    /// `compressed_ack - 1`).
    fn comp_sack_release(&mut self, stats: &mut crate::Stats) {
        self.comp_sack_flush(stats);
        if let Some(e) = self.rcv.est.as_mut() {
            let held = core::mem::take(&mut e.comp.held);
            stats.ack_compressed += u64::from(held.saturating_sub(1));
        }
    }

    /// Whether duplicate ACKs are held (the delayed-ACK deadline is then
    /// the compression timer's).
    pub(super) fn comp_sack_held(&self) -> bool {
        self.rcv.est.as_ref().is_some_and(|e| e.comp.held > 0)
    }
}
