//! The loss state of a connection without SACK (Linux "Reno" loss
//! recovery after a retransmission timeout), as go-back-N expresses it:
//! SND.NXT runs back over the flight, and what lies between it and the
//! recovery point counts as lost, not in flight.
//!
//! F-RTO (RFC 5682 §2, the basic algorithm; Linux uses the same steps in
//! tcp_process_loss() whether or not SACK is on) watches the first ACKs
//! after the timeout: the first that advances SND.UNA sends new data
//! instead of resending; if the next acknowledges data that was never
//! resent, the timeout was spurious and is undone; a duplicate ACK says
//! the loss was real, and the lost data goes out again. Once F-RTO sent
//! new data, `Loss::reno_lost` keeps the lost octets apart from it.

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};

/// What an ACK told the loss state without SACK (Linux's ACK flags).
pub(super) struct RenoAck {
    /// FLAG_SND_UNA_ADVANCED.
    pub(super) una_advanced: bool,
    /// FLAG_ORIG_SACK_ACKED: the ACK covers data sent before the recovery
    /// point and never resent since the timeout.
    pub(super) orig: bool,
    /// A duplicate ACK (Linux `num_dupack`).
    pub(super) dupack: bool,
}

impl Tcb {
    /// The loss state of a connection without SACK: after a timeout, with
    /// SND.UNA below the recovery point.
    pub(super) fn in_reno_loss(&self) -> bool {
        !self.sack_ok && self.after_rto()
    }

    /// In that state, F-RTO sent new data: the lost octets are resent from
    /// `Loss::reno_lost` while SND.NXT stays with new data.
    pub(crate) fn reno_split(&self) -> bool {
        self.rec.loss.reno_lost.is_some() && self.in_reno_loss()
    }

    /// Linux tcp_input.c: tcp_enter_loss() for a connection without SACK:
    /// everything outstanding counts as lost (tcp_timeout_mark_lost(), with
    /// tcp_reset_reno_sack()), go-back-N resends it from SND.UNA, and
    /// F-RTO may judge the timeout; the undo state is kept for it. Called
    /// before the timeout changes anything else; `keep_ssthresh`: the
    /// reduction was already made for this window.
    pub(super) fn enter_reno_loss(
        &mut self,
        ctx: &Ctx<'_>,
        keep_ssthresh: bool,
        prior: (u32, u32),
    ) {
        let frto = !self.sack_ok && self.state.is_synchronized() && self.frto_allowed(ctx);
        if frto && !keep_ssthresh {
            self.init_loss_undo(prior);
        } else if !frto {
            // No undo across a timeout that F-RTO does not judge.
            self.rec.get_mut().undo_marker = None;
        }
        let rec = self.rec.get_mut();
        rec.reno_sacked = 0;
        rec.loss = super::loss_state::Loss {
            frto,
            prior_ssthresh: rec.loss.prior_ssthresh,
            ..super::loss_state::Loss::NONE
        };
    }

    /// Whether the octets an ACK covers, from `una_before` to SND.UNA,
    /// were sent before the recovery point and none of them resent since
    /// the timeout (go-back-N resent everything below `nxt_before`, SND.NXT
    /// as the ACK found it). Linux tcp_clean_rtx_queue() for a Reno
    /// connection: an ACK that covers any resent data is no proof
    /// (FLAG_RETRANS_DATA_ACKED clears FLAG_ORIG_SACK_ACKED).
    pub(super) fn reno_orig_acked(&self, una_before: SeqNumber, nxt_before: SeqNumber) -> bool {
        let Some(high) = self.rec.rto_recover else {
            return false;
        };
        let resent_end = match self.rec.loss.reno_lost {
            Some((next, _)) => next,
            None => nxt_before,
        };
        una_before.lt(high) && !una_before.lt(resent_end) && self.snd.una.gt(una_before)
    }

    /// Linux tcp_input.c: tcp_process_loss() for a connection without SACK
    /// (tcp_is_reno()), for an ACK that arrived in the loss state.
    /// Returns the segments a duplicate ACK counted delivered
    /// (tcp_add_reno_sack()).
    pub(super) fn process_reno_loss(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        a: RenoAck,
    ) -> u32 {
        let Some(high) = self.rec.rto_recover else {
            return 0;
        };
        self.rec.get_mut().loss.frto_new = false;
        // Linux tcp_process_loss(): any ACK that advances SND.UNA first
        // tries the undo (tcp_try_undo_loss(): D-SACKs, or an echo from
        // before the resend).
        if a.una_advanced && self.try_undo_loss(seg, false, ctx.stats) {
            return 0;
        }
        if let Some((next, h)) = self.rec.loss.reno_lost {
            // What the ACK covered is no longer lost.
            let next = if next.lt(self.snd.una) {
                self.snd.una
            } else {
                next
            };
            self.rec.get_mut().loss.reno_lost = Some((if next.gt(h) { h } else { next }, h));
        }
        let recovered = self.snd.una.ge(high);
        if self.rec.loss.frto {
            // RFC 5682 step 3.b (tcp_try_undo_loss() with FLAG_ORIG_SACK_ACKED):
            // data never resent was acknowledged, so not all was lost: the
            // timeout was spurious. Nothing counts as lost any more, and
            // sending goes on after the new data.
            if a.orig && self.try_undo_loss(seg, true, ctx.stats) {
                self.snd.nxt = self.snd.max;
                return 0;
            }
            if self.snd.max.gt(high) {
                // Step 3.a: the new data drew a duplicate ACK: the loss
                // was real.
                if a.dupack {
                    self.rec.get_mut().loss.frto = false;
                }
            } else if a.una_advanced && !recovered {
                // Step 2.b: if the peer's window (as this ACK gives it) takes
                // new data, send it instead of resending (Linux REXMIT_NEW:
                // the lost octets wait, SND.NXT moves to new data); else
                // back to conventional recovery.
                if self.frto_new_data_fits(seg) {
                    let (next, max) = (self.snd.nxt, self.snd.max);
                    let rec = self.rec.get_mut();
                    rec.loss.frto_new = true;
                    rec.loss.reno_lost = Some((next, max));
                    self.snd.nxt = max;
                    // Linux __tcp_push_pending_frames(TCP_NAGLE_OFF).
                    self.snd.push_once = true;
                    return 0;
                }
                self.rec.get_mut().loss.frto = false;
            }
        }
        if recovered {
            // Steps 2.a and 3.a: the recovery point was reached. (Linux then
            // tries tcp_try_undo_recovery(); without SACK finack does not
            // undo here.) Reached exactly, Linux holds the state until an
            // ACK goes beyond it (tcp_is_non_sack_preventing_reopen()).
            self.rec.get_mut().undo_marker = None;
            if self.snd.una == high && ctx.cfg.reno_recovery_hold {
                self.rec.get_mut().loss.reno_held = true;
                return 0;
            }
            self.end_reno_loss();
            return 0;
        }
        // Linux tcp_process_loss(), tcp_is_reno(): a duplicate ACK after
        // F-RTO's new data means one of those segments arrived; counting it
        // delivered (tcp_add_reno_sack(), at most all but the lost
        // segments) lets a retransmission out. SND.UNA advancing forgets
        // those counts (tcp_reset_reno_sack()).
        if self.snd.max.gt(high) && a.dupack {
            let mss = u32::from(self.snd.mss.max(1));
            let lost = ((high - self.snd.una).max(0) as u32).div_ceil(mss);
            return self.add_reno_sack(ctx, lost);
        } else if a.una_advanced {
            self.rec.get_mut().reno_sacked = 0;
        }
        0
    }

    /// The loss state ends: SND.NXT carries on after whatever F-RTO sent.
    fn end_reno_loss(&mut self) {
        if self.rec.loss.reno_lost.is_some() && self.snd.nxt.lt(self.snd.max) {
            self.snd.nxt = self.snd.max;
        }
        let rec = self.rec.get_mut();
        rec.loss = super::loss_state::Loss::NONE;
        rec.reno_sacked = 0;
    }

    /// Linux tcp_packets_in_flight() in the loss state without SACK, once
    /// F-RTO sent new data: the flight less the lost octets not yet resent
    /// and the segments duplicate ACKs counted delivered.
    pub(super) fn reno_pipe(&self) -> u32 {
        let Some((next, high)) = self.rec.loss.reno_lost else {
            return self.snd.in_flight();
        };
        let lost = (high - next).max(0) as u32;
        let sacked = self.rec.reno_sacked * u32::from(self.snd.mss);
        self.snd
            .in_flight()
            .saturating_sub(lost)
            .saturating_sub(sacked)
    }

    /// The next lost octets to resend in that state (Linux
    /// tcp_xmit_retransmit_queue() over the marks of the timeout).
    pub(super) fn reno_next_lost(&self) -> Option<(SeqNumber, u32)> {
        let (next, high) = self.rec.loss.reno_lost?;
        next.lt(high).then(|| (next, (high - next) as u32))
    }

    /// A resend of `seq..end` left: the lost octets it covered are no
    /// longer waiting.
    pub(super) fn reno_resent(&mut self, seq: SeqNumber, end: SeqNumber) {
        if let Some((next, high)) = self.rec.loss.reno_lost {
            if seq.le(next) && end.gt(next) {
                let next = if end.gt(high) { high } else { end };
                self.rec.get_mut().loss.reno_lost = Some((next, high));
            }
        }
    }
}
