//! Recoveries shown needless, and the D-SACKs that can show it. D-SACKs
//! received (RFC 2883): which are taken as genuine, and what a genuine one
//! changes: the segments counted delivered, RACK's reordering window, the
//! undo of a recovery whose retransmissions were needless (Linux
//! tcp_input.c: tcp_check_dsack(), tcp_dsack_seen(), tcp_try_undo_dsack());
//! and the undo at a partial ACK that shows the original only late
//! (tcp_try_undo_partial()).

use finack_wire::{SeqNumber, TcpRepr};

use super::rack::REO_WND_PERSIST;
use super::{Ctx, Tcb};
use crate::config::Config;
use crate::types::Stats;

/// A D-SACK taken as genuine.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dsack {
    /// The duplicate range the first block reports.
    pub(super) block: (SeqNumber, SeqNumber),
    /// Segments it reports duplicated (Linux `dup_segs`): at least one,
    /// the range in MSS-sized segments when it spans more than one.
    pub(super) segs: u32,
    /// It reports the loss probe's segment arriving twice (Linux
    /// FLAG_DSACK_TLP): the probe was needless.
    pub(super) tlp: bool,
}

impl Tcb {
    /// Linux tcp_check_dsack() (RFC 2883 §4): the first SACK block reports
    /// a duplicate when it lies below the cumulative ACK, or within the
    /// second block. tcp_dsack_seen(): it is ignored as dubious when it is
    /// empty, wider than the largest window the peer offered, or when the
    /// duplicates reported so far outnumber the segments ever resent (a
    /// duplicate the network made, not a retransmission).
    pub(super) fn dsack_check(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        ack: SeqNumber,
    ) -> Option<Dsack> {
        let mut blocks = seg.options.sack_blocks.iter();
        let (l0, r0) = blocks.next()?;
        if l0.lt(ack) {
            ctx.stats.dsack_recv += 1;
        } else {
            let (l1, r1) = blocks.next()?;
            if r0.gt(r1) || l0.lt(l1) {
                return None;
            }
            ctx.stats.dsack_ofo_recv += 1;
        }
        let len = (r0 - l0).max(0) as u32;
        let mss = u32::from(self.snd.mss.max(1));
        let segs = len.div_ceil(mss).max(1);
        let genuine = len > 0 && len <= self.snd.max_wnd && {
            let rec = self.rec.get_mut();
            rec.dsack_dups = rec.dsack_dups.saturating_add(segs);
            rec.dsack_dups <= self.snd.total_retrans
        };
        if !genuine {
            ctx.stats.dsack_ignored_dubious += 1;
            return None;
        }
        ctx.stats.dsack_recv_segs += u64::from(segs);
        let tlp = len <= mss && self.rec.tlp_high.is_some_and(|(end, _)| end == r0);
        Some(Dsack {
            block: (l0, r0),
            segs,
            tlp,
        })
    }

    /// Linux tcp_check_dsack() and tcp_try_undo_dsack(): a D-SACK for data
    /// past the start of the last recovery shows one of its retransmissions
    /// needless; once none is left, the window goes back to what it was
    /// before, and with `Config::undo_recovery` ssthresh too when the
    /// earlier one was larger (tcp_undo_cwnd_reduction()). A fast recovery
    /// still under way ends there (tcp_fastretrans_alert(): the recovery
    /// state's tcp_try_undo_dsack(), then tcp_try_to_open()); after a
    /// window reduction for ECN (CWR) no undo is tried.
    pub(super) fn dsack_undo(&mut self, cfg: &Config, stats: &mut Stats, d: &Dsack) {
        let Some(marker) = self.rec.undo_marker else {
            return;
        };
        let (_, r) = d.block;
        // Data acknowledged before this ACK ("already forgotten",
        // tcp_check_dsack()) or still queued (tcp_sacktag_one() with a
        // D-SACK), past the start of the recovery.
        if self.rec.undo_retrans <= 0 || r.gt(self.snd.max) || !r.gt(marker) {
            return;
        }
        let in_loss = self.in_loss_state();
        let in_cwr = self.in_cwr();
        let rec = self.rec.get_mut();
        rec.undo_retrans = (rec.undo_retrans - d.segs as i32).max(0);
        // In the loss state the undo waits for the ACK (tcp_process_loss()).
        if rec.undo_retrans == 0 && !in_loss && (rec.recover.is_some() || !in_cwr) {
            stats.dsack_undo += 1;
            rec.recover = None;
            rec.reo_wnd_persist = (rec.reo_wnd_persist + 1).min(REO_WND_PERSIST);
            self.restore_before_recovery(cfg.undo_recovery);
        }
    }

    /// Linux tcp_input.c: tcp_packet_delayed(): the ACK echoes a timestamp
    /// older than the first retransmission, so what it acknowledges was an
    /// original, only late (Eifel detection, RFC 3522).
    pub(super) fn packet_delayed(&self, seg: &TcpRepr<'_>) -> bool {
        match (self.ts_ok, seg.options.timestamps, self.rec.retrans_stamp) {
            (true, Some(ts), Some(at)) if ts.tsecr != 0 => {
                (ts.tsecr.wrapping_sub(self.ts_now(at)) as i32) < 0
            }
            _ => false,
        }
    }

    /// Linux tcp_input.c: tcp_try_undo_partial(), at a partial ACK in fast
    /// recovery (`prior`: SND.UNA before it): when it echoes a timestamp from
    /// before the first retransmission, the hole was filled by the late
    /// original: reordering deeper than thought (tcp_check_sack_reordering()
    /// from `prior`). With no retransmission still out the recovery is
    /// undone and ends (the window and ssthresh from before, nothing counted
    /// lost; TCPPartialUndo). Returns whether the partial ACK's own rules
    /// are skipped: undone, or retransmissions are still out (then nothing
    /// more is marked lost or resent on this ACK: the caller sets
    /// `Recovery::rexmit_hold`).
    pub(super) fn try_undo_partial(
        &mut self,
        cfg: &Config,
        stats: &mut Stats,
        seg: &TcpRepr<'_>,
        prior: SeqNumber,
    ) -> bool {
        if self.rec.undo_marker.is_none() || !self.packet_delayed(seg) {
            return false;
        }
        let fack = self.fack_now();
        if self.note_reordering(cfg, fack, prior) {
            stats.ts_reorder += 1;
        }
        let una = self.snd.una;
        if self
            .snd
            .buf
            .sent()
            .is_some_and(|l| l.retrans_out_above(una) > 0)
        {
            return true;
        }
        if let Some(log) = self.snd.buf.sent_mut() {
            log.unmark_lost();
        }
        self.rec.get_mut().recover = None;
        self.restore_before_recovery(true);
        stats.partial_undo += 1;
        true
    }

    /// Linux tcp_input.c: tcp_try_undo_recovery() at the ACK that ends a
    /// fast recovery: when tcp_may_undo() shows it needless, the window and
    /// ssthresh from before it come back (TCPFullUndo). Returns whether it
    /// was undone.
    pub(super) fn try_undo_recovery(&mut self, stats: &mut Stats, seg: &TcpRepr<'_>) -> bool {
        if !self.may_undo(seg) {
            return false;
        }
        self.restore_before_recovery(true);
        stats.full_undo += 1;
        true
    }

    /// Linux tcp_undo_cwnd_reduction() for a fast recovery: the window from
    /// before it (the larger of the two), and with `ssthresh_too` the
    /// threshold when the earlier one was higher; nothing is left to undo.
    fn restore_before_recovery(&mut self, ssthresh_too: bool) {
        let rec = self.rec.get_mut();
        rec.undo_marker = None;
        let (cwnd, ssthresh) = (rec.undo_cwnd, rec.undo_ssthresh);
        self.cc.undo(cwnd);
        if ssthresh_too {
            self.cc.raise_ssthresh(ssthresh);
        }
    }
}
