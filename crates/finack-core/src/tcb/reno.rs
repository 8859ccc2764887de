//! A connection without SACK, counted as Linux counts it ("Reno", Linux
//! tcp_is_reno()): each duplicate ACK stands for one segment that reached
//! the peer above a hole, an emulated SACK (`Recovery::reno_sacked`, Linux
//! `sacked_out`). Those counts take segments out of the flight, so that a
//! fast recovery can run Proportional Rate Reduction (RFC 6937, Linux
//! tcp_cwnd_reduction()) as it does with SACK, instead of inflating and
//! deflating the window as RFC 6582 says (the RFC profile keeps that).
//!
//! In that recovery only the segment at SND.UNA is ever marked lost (Linux
//! tcp_newreno_mark_lost(): on entry and at each partial ACK); until it is
//! resent it is not in flight either.

use super::loss::MAX_REORDERING;
use super::{Ctx, Tcb};

impl Tcb {
    /// A fast recovery without SACK that runs PRR (`Config::prr`).
    pub(crate) fn reno_prr(&self, cfg: &crate::config::Config) -> bool {
        cfg.prr && !self.sack_ok && self.rec.recover.is_some()
    }

    /// Linux tcp_add_reno_sack(): a duplicate ACK counts one more segment
    /// delivered, at most all but the `lost` segments (at least one) that
    /// are still outstanding. Returns the segments newly counted.
    pub(super) fn add_reno_sack(&mut self, ctx: &mut Ctx<'_>, lost: u32) -> u32 {
        let before = self.rec.reno_sacked;
        self.rec.get_mut().reno_sacked = before.saturating_add(1);
        self.limit_reno_sacked(ctx, lost, 0);
        self.rec.reno_sacked.saturating_sub(before)
    }

    /// Linux tcp_remove_reno_sacks(), for every cumulative ACK of `acked`
    /// segments: one of them filled the hole, the others were the ones
    /// duplicate ACKs had counted. Returns the segments it delivered that
    /// no duplicate ACK counted (at least one).
    pub(super) fn remove_reno_sacks(&mut self, ctx: &mut Ctx<'_>, acked: u32) -> u32 {
        if acked == 0 {
            return 0;
        }
        let sacked = self.rec.reno_sacked;
        if sacked == 0 {
            // Nothing counted: no record to touch (or to allocate).
            return acked;
        }
        self.rec.get_mut().reno_sacked = sacked.saturating_sub(acked - 1);
        self.limit_reno_sacked(ctx, 1, acked);
        acked.saturating_sub(sacked).max(1)
    }

    /// Linux tcp_limit_reno_sacked() and tcp_check_reno_reordering(): more
    /// duplicate ACKs than segments above the lost ones cannot come from
    /// losses alone; the count is cut back and, under
    /// `Config::reno_sacked_out`, the reordering degree set from the
    /// flight (TCPRenoReorder).
    fn limit_reno_sacked(&mut self, ctx: &mut Ctx<'_>, lost: u32, addend: u32) {
        let packets = self.snd.packets_out();
        let holes = lost.max(1).min(packets);
        if self.rec.reno_sacked + holes <= packets {
            return;
        }
        let rec = self.rec.get_mut();
        rec.reno_sacked = packets - holes;
        if ctx.cfg.reno_sacked_out {
            rec.reordering = (packets + addend).clamp(1, MAX_REORDERING) as u16;
            rec.reord_seen = rec.reord_seen.saturating_add(1);
            ctx.stats.reno_reorder += 1;
        }
    }

    /// Linux tcp_packets_in_flight() in a fast recovery without SACK, in
    /// octets: the flight less the segments duplicate ACKs counted and the
    /// segment at SND.UNA while it is marked lost and not yet resent.
    pub(super) fn reno_recovery_pipe(&self) -> u32 {
        let mss = u32::from(self.snd.mss.max(1));
        let head = self.reno_lost_head().map_or(0, |(_, len)| len.min(mss));
        self.snd
            .in_flight()
            .saturating_sub(self.rec.reno_sacked.saturating_mul(mss))
            .saturating_sub(head)
    }

    /// The segment at SND.UNA while a fast recovery without SACK has it
    /// marked lost and not yet resent (HighRxt, `rtx_next`, not past it):
    /// marked on entry and at each partial ACK, so only below the recovery
    /// point (at the point itself Linux holds the state and marks nothing,
    /// tcp_is_non_sack_preventing_reopen()).
    pub(crate) fn reno_lost_head(&self) -> Option<(finack_wire::SeqNumber, u32)> {
        let below = self.rec.recover.is_some_and(|r| self.snd.una.lt(r));
        if !below {
            return None;
        }
        self.rec.next_hole(&self.snd)
    }

    /// Outside a recovery, what new data may use beyond cwnd - flight:
    /// Linux's tcp_packets_in_flight() leaves out what the peer SACKed
    /// (RACK's record), or without SACK under `Config::reno_sacked_out` the
    /// segments duplicate ACKs counted, so each lets one new segment out;
    /// otherwise RFC 3042's limited transmit (`lt_allow`).
    pub(super) fn open_pipe_allowance(&self, cfg: &crate::config::Config) -> u32 {
        if self.rack_on(cfg) {
            if let Some(log) = self.snd.buf.sent() {
                return self.snd.in_flight().saturating_sub(log.pipe());
            }
        }
        // A recovery that inflates cwnd (RFC 6582, without PRR) has counted
        // the duplicate ACKs already.
        let inflating = self.rec.recover.is_some();
        if !self.sack_ok && cfg.reno_sacked_out && !self.in_reno_loss() && !inflating {
            return self.rec.reno_sacked * u32::from(self.snd.mss);
        }
        self.rec.lt_allow
    }
}
