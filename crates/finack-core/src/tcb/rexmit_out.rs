//! Resending what was sent: the retransmission of one hole (fast
//! retransmit, RFC 6675 NextSeg, RACK's lost segments). Split from
//! `output`, which forms new data.

use finack_wire::{SeqNumber, TcpFlags};

use super::output::MIN_BUFFER;
use super::xmit_fail::{Refused, Xmit};
use super::Tcb;
use crate::config::Config;
use crate::time::Instant;
use crate::types::{Stats, TimerKind};

impl Tcb {
    /// Fast retransmit (RFC 5681 §3.2 step 2): resend the segment at SND.UNA
    /// without moving SND.NXT.
    pub(super) fn output_head_retransmission(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        xmit: &mut Xmit,
    ) -> Option<usize> {
        let (seq, hole) = self.next_retransmission(cfg, true)?;
        self.output_rexmit_at(now, cfg, stats, buf, seq, hole, xmit)
    }

    /// Resend up to one segment of the `hole` octets from `seq` (already sent,
    /// not acknowledged), without moving SND.NXT; HighRxt (`rtx_next`) moves
    /// past it (RFC 6675 §5 C.2).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn output_rexmit_at(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        seq: SeqNumber,
        hole: u32,
        xmit: &mut Xmit,
    ) -> Option<usize> {
        let fast = self.rec.recover.is_some();
        self.mtu_probe_on_retransmit(seq, fast);
        let off = (seq - self.snd.buf_seq).max(0) as usize;
        let queued = self.snd.buf.len();
        let mss = usize::from(self.snd.mss);
        let sent = ((self.snd.max - self.snd.buf_seq).max(0) as usize).min(queued);
        let mut len = sent
            .saturating_sub(off)
            .min(mss)
            .min(hole as usize)
            .min(buf.len() - MIN_BUFFER);
        // Linux tcp_output.c: tcp_retrans_try_collapse() joins a short
        // retransmission with the skbs after it, never across the end of a
        // MSG_EOR record (tcp_skb_can_collapse()); the segment that ends a
        // pushed unit keeps its PSH.
        let unit = self.snd.buf.next_mark_after(off);
        if let Some(u) = unit.filter(|u| u.eor) {
            len = len.min(u.end - off);
        }
        // The FIN goes along only if it is part of the hole (one the peer
        // SACKed is not sent again).
        let fin = self.snd.fin_queued
            && off + len == queued
            && seq + len as u32 == self.fin_seq()
            && (seq + hole).gt(self.fin_seq())
            && self.snd.max == self.fin_seq() + 1;
        if len == 0 && !fin {
            return None;
        }
        if xmit.refuse {
            // In the loss state, the timeout's own resend of the head: the
            // timer it cleared is not yet armed again.
            let rto_head = self.in_loss_state()
                && seq == self.snd.una
                && self.timers.get(TimerKind::Retransmit).is_none();
            let kind = Refused::Retransmission { rto_head };
            self.xmit_refused(now, cfg, stats, xmit, kind);
            return None;
        }
        // Linux tcp_output.c: __tcp_transmit_skb() sets PSH on a resent
        // skb (or the head of one) that leaves as a GSO packet of several
        // segments, on its last segment once cut up (`rexmit_gso_end`);
        // tcp_fragment() leaves an skb's own PSH on the part after a cut,
        // so a pushed unit's last segment keeps it.
        let gso_end = self.rexmit_gso_end(now, cfg, seq, len);
        let mut flags = TcpFlags::ACK;
        if cfg.linux_push
            && len > 0
            && (gso_end || unit.is_some_and(|u| u.psh && u.end == off + len))
        {
            flags |= TcpFlags::PSH;
        }
        if fin {
            flags |= TcpFlags::FIN;
        }
        self.snd.total_retrans += 1;
        stats.retransmits += 1;
        self.stamp_first_retransmit(now);
        self.count_undo_retrans();
        self.snd.rtx_next = seq + len as u32 + u32::from(fin);
        self.reno_resent(seq, self.snd.rtx_next);
        if seq == self.snd.una {
            // Linux tcp_output.c: tcp_xmit_retransmit_queue(): resending
            // the head of the queue restarts the retransmission timer
            // (after RACK's reordering timeout too: tcp_rearm_rto() from
            // the head's new send time).
            self.timers.set(
                TimerKind::Retransmit,
                Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
            );
        }
        self.pacing_on_send(now, cfg, len, u32::from(len > 0));
        Some(self.emit(now, cfg, buf, seq, flags, off, len, false))
    }
}
