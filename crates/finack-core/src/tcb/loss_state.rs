//! Linux's loss state after a retransmission timeout (TCP_CA_Loss), where
//! RACK's segment log decides what goes out again: the timeout marks the
//! flight lost but keeps what the peer SACKed (tcp_enter_loss(),
//! tcp_timeout_mark_lost()), lost records are resent as the window opens
//! (tcp_xmit_retransmit_queue()), F-RTO (RFC 5682) tells a spurious
//! timeout from a real one, and undo gives back the window a needless
//! timeout took (tcp_process_loss(), tcp_try_undo_loss()).
//!
//! Without RACK the connection goes back to SND.UNA and sends everything
//! again (go-back-N, RFC 5681 §3.1 with RFC 2018 §8's forgotten SACKs).

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};
use crate::types::Stats;

/// Linux's loss-state fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loss {
    /// This loss state is Linux's: the log holds the marks (set by the
    /// timeout, while SND.UNA is below `rto_recover`).
    pub(crate) active: bool,
    /// Linux `tp->frto`: F-RTO may still judge this timeout.
    pub(crate) frto: bool,
    /// F-RTO step 2.b: this ACK lets new data out instead of
    /// retransmissions (Linux REXMIT_NEW).
    pub(crate) frto_new: bool,
    /// Linux `prior_ssthresh`: the threshold before the reduction (0: no
    /// undo restores it).
    pub(crate) prior_ssthresh: u32,
    /// Without SACK, once F-RTO sent new data past the recovery point:
    /// `(next, high)`, the octets still marked lost and not yet resent
    /// (`reno_loss`). SND.NXT then points at new data.
    pub(crate) reno_lost: Option<(SeqNumber, SeqNumber)>,
    /// Without SACK, SND.UNA reached the recovery point exactly: the loss
    /// state is held until an ACK goes beyond it
    /// (`Config::reno_recovery_hold`, Linux
    /// tcp_is_non_sack_preventing_reopen()).
    pub(crate) reno_held: bool,
}

impl Loss {
    pub(crate) const NONE: Loss = Loss {
        active: false,
        frto: false,
        frto_new: false,
        prior_ssthresh: 0,
        reno_lost: None,
        reno_held: false,
    };
}

/// What an ACK told, for tcp_process_loss() (Linux's ACK flags).
pub(super) struct LossAck {
    /// FLAG_SND_UNA_ADVANCED.
    pub(super) una_advanced: bool,
    /// FLAG_ORIG_SACK_ACKED: data never retransmitted, sent before the
    /// recovery point, was acknowledged or SACKed.
    pub(super) orig: bool,
    /// FLAG_DATA_SACKED: new SACK information.
    pub(super) sacked: bool,
    /// A duplicate ACK (Linux `num_dupack`: no progress, no data, no window
    /// update, not a D-SACK).
    pub(super) dupack: bool,
}

impl Tcb {
    /// In Linux's loss state (after an RTO, with the log deciding).
    pub(crate) fn in_loss_state(&self) -> bool {
        self.rec.loss.active && self.after_rto()
    }

    /// Linux tcp_input.c: tcp_enter_loss() with tcp_timeout_mark_lost(),
    /// for a connection whose sends the log records; `keep_ssthresh`: the
    /// reduction was already made for this window; `prior`: the window and
    /// threshold before the timeout. Returns false (and changes nothing)
    /// where go-back-N applies instead.
    pub(super) fn enter_loss_state(
        &mut self,
        ctx: &mut Ctx<'_>,
        keep_ssthresh: bool,
        prior: (u32, u32),
    ) -> bool {
        let logged = self
            .snd
            .buf
            .sent()
            .is_some_and(|l| l.pipe() > 0 || l.lost() > 0);
        if !self.rack_on(ctx.cfg) || !self.state.is_synchronized() || !logged {
            return false;
        }
        let frto = self.frto_allowed(ctx);
        let mss = u32::from(self.snd.mss.max(1));
        if !keep_ssthresh {
            self.init_loss_undo(prior);
        }
        let Some(log) = self.snd.buf.sent_mut() else {
            return false;
        };
        let reneged = log.on_rto_mark_lost(ctx.now);
        let pipe = log.pipe();
        // The window: what is still in flight, plus one segment.
        self.cc.set_cwnd(pipe.div_ceil(mss) * mss + mss);
        let rec = self.rec.get_mut();
        if reneged {
            rec.sacked.clear();
        }
        rec.loss.active = true;
        rec.loss.frto = frto;
        rec.loss.frto_new = false;
        // Linux keeps SND.NXT; what is lost goes out from the log.
        self.snd.nxt = self.snd.max;
        true
    }

    /// F-RTO (RFC 5682 §3.1 step 1, Linux tcp_enter_loss()): a first
    /// timeout, or one more on the same SND.UNA; not while a path MTU
    /// probe is out. Asked before the timeout changes the state.
    pub(super) fn frto_allowed(&self, ctx: &Ctx<'_>) -> bool {
        // Linux: below TCP_CA_Recovery (the loss state is the log's with
        // RACK, the timeout's recovery point without SACK).
        let in_loss = if self.rack_on(ctx.cfg) {
            self.in_loss_state()
        } else {
            self.after_rto()
        };
        let new_recovery = self.rec.recover.is_none() && !in_loss;
        ctx.cfg.frto && (new_recovery || self.rec.rto_retransmits > 0) && !self.mtu_probe_out()
    }

    /// Linux tcp_input.c: tcp_init_undo() as tcp_enter_loss() calls it,
    /// with prior_ssthresh = tcp_current_ssthresh(); `prior`: the window
    /// and threshold before the timeout.
    pub(super) fn init_loss_undo(&mut self, prior: (u32, u32)) {
        let mss = u32::from(self.snd.mss.max(1));
        let (cwnd, ssthresh) = prior;
        let current = if self.rec.recover.is_some() || self.in_cwr() {
            ssthresh
        } else {
            let segs = cwnd / mss;
            ssthresh.max(((segs >> 1) + (segs >> 2)) * mss)
        };
        // A loss probe's resend counts too (Linux tlp_retrans).
        let probe = u32::from(self.rec.tlp_high.is_some_and(|(_, resent)| resent));
        let retrans = self.snd.buf.sent().map_or(0, |l| l.retrans_out()) + probe;
        let rec = self.rec.get_mut();
        rec.loss.prior_ssthresh = current;
        rec.undo_ssthresh = current;
        rec.undo_marker = Some(self.snd.una);
        rec.undo_retrans = if retrans > 0 { retrans as i32 } else { -1 };
        rec.undo_cwnd = cwnd;
    }

    /// A path MTU probe is in flight (Linux `icsk_mtup.probe_size`).
    fn mtu_probe_out(&self) -> bool {
        self.rec
            .path_mtu
            .as_ref()
            .is_some_and(|p| p.probe_size != 0)
    }

    /// Linux tcp_input.c: tcp_process_loss(), for an ACK that arrived in
    /// the loss state.
    pub(super) fn process_loss(&mut self, seg: &TcpRepr<'_>, a: LossAck, stats: &mut Stats) {
        let Some(high) = self.rec.rto_recover else {
            return;
        };
        self.rec.get_mut().loss.frto_new = false;
        let recovered = self.snd.una.ge(high);
        if a.una_advanced && self.try_undo_loss(seg, false, stats) {
            return;
        }
        if self.rec.loss.frto {
            // RFC 5682 §3.1 step 3.b: data never retransmitted arrived,
            // so not all was lost: the timeout was spurious.
            if a.orig && self.try_undo_loss(seg, true, stats) {
                return;
            }
            if self.snd.max.gt(high) {
                // Step 3.a: the new data drew SACKs or duplicate ACKs:
                // the loss was real.
                if a.sacked || a.dupack {
                    self.rec.get_mut().loss.frto = false;
                }
            } else if a.una_advanced && !recovered {
                // Step 2.b: send new data if there is any the peer's
                // window (as this ACK gives it) takes; else fall back to
                // conventional recovery.
                if self.frto_new_data_fits(seg) {
                    self.rec.get_mut().loss.frto_new = true;
                    // Linux __tcp_push_pending_frames(TCP_NAGLE_OFF).
                    self.snd.push_once = true;
                    return;
                }
                self.rec.get_mut().loss.frto = false;
            }
        }
        if recovered {
            // Step 2.a and the first part of 3.a: the recovery point was
            // reached (tcp_try_undo_recovery()).
            if self.may_undo(seg) {
                self.undo_cwnd_reduction(false);
                stats.loss_undo += 1;
            }
            self.leave_loss_state();
        }
    }

    /// RFC 5682 §2.1 step 2.b (Linux tcp_process_loss()): the first ACK
    /// advancing SND.UNA after the timeout moves the recovery point to
    /// SND.MAX, and new data is sent if there is some the peer's window, as
    /// this ACK gives it, takes.
    pub(super) fn frto_new_data_fits(&mut self, seg: &TcpRepr<'_>) -> bool {
        let max = self.snd.max;
        self.rec.get_mut().rto_recover = Some(max);
        let wnd = u32::from(seg.window) << self.snd.wscale;
        self.snd.notsent() > 0 && (seg.ack + wnd).gt(max)
    }

    /// Linux tcp_input.c: tcp_try_undo_loss(): undo when F-RTO proved the
    /// timeout spurious (`frto_undo`) or tcp_may_undo() allows it.
    pub(super) fn try_undo_loss(
        &mut self,
        seg: &TcpRepr<'_>,
        frto_undo: bool,
        stats: &mut Stats,
    ) -> bool {
        if !frto_undo && !self.may_undo(seg) {
            return false;
        }
        self.undo_cwnd_reduction(true);
        stats.loss_undo += 1;
        stats.spurious_rtos += u64::from(frto_undo);
        if frto_undo || self.sack_ok {
            self.leave_loss_state();
        } else {
            // Without SACK Linux stays in the loss state until the recovery
            // point is passed; nothing counts as lost any more, so
            // go-back-N resends nothing more.
            if self.snd.nxt.lt(self.snd.max) {
                self.snd.nxt = self.snd.max;
            }
            self.rec.get_mut().loss.reno_lost = None;
        }
        true
    }

    /// Linux tcp_input.c: tcp_may_undo(): an undo is possible, and either
    /// D-SACKs showed every retransmission needless or the ACK echoes a
    /// timestamp from before the first retransmission
    /// (tcp_packet_delayed(): the original arrived).
    pub(super) fn may_undo(&self, seg: &TcpRepr<'_>) -> bool {
        if self.rec.undo_marker.is_none() {
            return false;
        }
        self.rec.undo_retrans == 0 || self.packet_delayed(seg)
    }

    /// Linux tcp_input.c: tcp_undo_cwnd_reduction(): the window from before
    /// the reduction (tcp_reno_undo_cwnd(): the larger), the threshold too
    /// if it was higher; `unmark_loss`: nothing counts as lost any more.
    fn undo_cwnd_reduction(&mut self, unmark_loss: bool) {
        if unmark_loss {
            if let Some(log) = self.snd.buf.sent_mut() {
                log.unmark_lost();
            }
        }
        let rec = self.rec.get_mut();
        let (prior_cwnd, prior_ssthresh) = (rec.undo_cwnd, rec.loss.prior_ssthresh);
        rec.undo_marker = None;
        if prior_ssthresh != 0 {
            self.cc.undo(prior_cwnd);
            self.cc.raise_ssthresh(prior_ssthresh);
        }
    }

    /// Back to the open state (Linux tcp_set_ca_state(TCP_CA_Open)).
    pub(super) fn leave_loss_state(&mut self) {
        let rec = self.rec.get_mut();
        rec.rto_recover = None;
        rec.loss = Loss::NONE;
    }

    /// Linux tcp_input.c: tcp_xmit_recovery() with REXMIT_NEW (F-RTO step
    /// 2.b): while this ACK sends new data, nothing is resent. When none
    /// can go, F-RTO ends and the lost data goes out. Returns whether
    /// retransmissions wait. Output asks once the congestion window has
    /// room for a segment.
    pub(super) fn frto_holds_retransmissions(&mut self) -> bool {
        if !self.rec.loss.frto_new {
            return false;
        }
        let high = self.rec.rto_recover.unwrap_or(self.snd.max);
        if self.snd.nxt.gt(high) {
            return true;
        }
        let window = (self.snd.una + self.snd.wnd).gt(self.snd.nxt);
        if self.snd.notsent() > 0 && window {
            return true;
        }
        let rec = self.rec.get_mut();
        rec.loss.frto = false;
        rec.loss.frto_new = false;
        false
    }
}

/// The recovery point of the loss state, for the deliveries of an ACK
/// (FLAG_ORIG_SACK_ACKED counts data sent up to it).
pub(super) fn orig_bound(tcb: &Tcb) -> Option<SeqNumber> {
    tcb.in_loss_state().then_some(tcb.rec.rto_recover).flatten()
}
