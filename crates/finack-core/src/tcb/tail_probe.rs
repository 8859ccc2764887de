//! RFC 8985 §7 tail loss probe: what the probe sends (Linux tcp_output.c:
//! tcp_send_loss_probe()). When it is due is decided in timer.rs
//! (`schedule_tlp`) and rack.rs.

use super::output::MIN_BUFFER;
use super::xmit_fail::{Refused, Xmit};
use super::Tcb;
use crate::config::Config;
use crate::time::Instant;
use crate::types::{Stats, TimerKind};
use finack_wire::{SeqNumber, TcpFlags};

impl Tcb {
    /// RFC 8985 §7.3 "Sending a loss probe": new data if the peer's window
    /// allows it (cwnd does not limit the probe), otherwise the last segment
    /// sent again. Afterwards only the RTO is armed, from now (Linux
    /// `tcp_send_loss_probe`).
    pub(super) fn output_loss_probe(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        xmit: &mut Xmit,
    ) -> Option<usize> {
        let mss = usize::from(self.snd.mss);
        let queued = self.snd.buf.len();
        let sent_data = ((self.snd.max - self.snd.buf_seq).max(0) as usize).min(queued);
        let fin_sent = self.snd.fin_queued && self.snd.max == self.fin_seq() + 1;
        let room = (self.snd.una + self.snd.wnd - self.snd.max).max(0) as usize;
        let fits = buf.len() - MIN_BUFFER;
        let new_data = !fin_sent && queued > sent_data && room > 0 && self.snd.nxt == self.snd.max;
        if xmit.refuse && (new_data || sent_data > 0 || fin_sent) {
            let kind = Refused::LossProbe { resend: !new_data };
            self.xmit_refused(now, cfg, stats, xmit, kind);
            return None;
        }
        let n = if new_data {
            // New data: one segment.
            let len = (queued - sent_data).min(mss).min(room).min(fits);
            let off = sent_data;
            let seq = self.snd.max;
            let fin = self.snd.fin_queued && off + len == queued;
            let mut flags = TcpFlags::ACK;
            if off + len == queued {
                flags |= TcpFlags::PSH;
            }
            if fin {
                flags |= TcpFlags::FIN;
            }
            self.snd.nxt = seq + len as u32 + u32::from(fin);
            self.snd.max = self.snd.nxt;
            self.rec.get_mut().tlp_high = Some((self.snd.max, false));
            self.pacing_on_send(now, cfg, len, u32::from(len > 0));
            self.emit(now, cfg, buf, seq, flags, off, len, true)
        } else {
            // The tail: the FIN alone if it went out alone, else the last
            // segment's worth of data (with the FIN if it rode on it).
            // Linux tcp_send_loss_probe() resends the last segment as it
            // left: the last skb, cut after its first pcount - 1 full
            // segments (tcp_fragment()), so a short tail goes alone.
            let last = self.snd.buf.sent().and_then(|l| l.last_sent());
            let len = if fin_sent && self.snd.fin_alone {
                0
            } else if let Some((start, end)) = last.filter(|_| self.rack_on(cfg)) {
                let data_end = self.snd.buf_seq + sent_data as u32;
                ((end.min(data_end) - start).max(0) as usize)
                    .min(sent_data)
                    .min(fits)
            } else {
                sent_data.min(mss).min(fits)
            };
            let off = sent_data - len;
            let seq = self.snd.buf_seq + off as u32;
            if len == 0 && !fin_sent {
                return None;
            }
            let mut flags = TcpFlags::ACK;
            if len > 0 && off + len == queued {
                flags |= TcpFlags::PSH;
            }
            if fin_sent {
                flags |= TcpFlags::FIN;
            }
            self.snd.total_retrans += 1;
            stats.retransmits += 1;
            stats.loss_probes += 1;
            self.rec.get_mut().tlp_high = Some((self.snd.max, true));
            // Karn (MUST-18): no RTT sample across a retransmission.
            self.snd.rtt_probe.set(None);
            self.pacing_on_send(now, cfg, len, u32::from(len > 0));
            let n = self.emit(now, cfg, buf, seq, flags, off, len, false);
            if self.rack_on(cfg) {
                let end = seq + len as u32 + u32::from(fin_sent);
                if let Some(log) = self.snd.buf.sent_mut() {
                    log.probe_resent(seq, end);
                }
            }
            n
        };
        self.timers.set(TimerKind::LossProbe, None);
        self.timers.set(
            TimerKind::Retransmit,
            Some(now + self.snd.rtt.backed_off(self.snd.backoff, cfg)),
        );
        Some(n)
    }
}

/// What an ACK did, as the end of a loss-probe episode needs to know
/// (Linux tcp_process_tlp_ack()'s `flag`).
#[derive(Clone, Copy, Debug)]
pub(super) struct TlpAck {
    /// SND.UNA moved (FLAG_SND_UNA_ADVANCED).
    pub(super) una_advanced: bool,
    /// It carried data or updated the window (FLAG_NOT_DUP).
    pub(super) not_dup: bool,
    /// It SACKed data not SACKed before (FLAG_DATA_SACKED).
    pub(super) sacked: bool,
    /// Its D-SACK reports the probe's segment (FLAG_DSACK_TLP).
    pub(super) dsack_tlp: bool,
}

impl Tcb {
    /// RFC 8985 §7.4.2, Linux tcp_input.c: tcp_process_tlp_ack(): once
    /// everything up to the probe is acknowledged, the episode ends when
    /// the probe sent new data, or a D-SACK or a duplicate ACK shows both
    /// the original and the probe arrived (nothing was lost); an ACK past
    /// the probe with neither seen means the probe repaired a loss, and
    /// the window is reduced as for one. The ACK that covers the probe
    /// exactly leaves the episode open, waiting for that evidence.
    pub(super) fn tlp_ack(&mut self, ack: SeqNumber, a: TlpAck, stats: &mut Stats) {
        let Some((end, retransmitted)) = self.rec.tlp_high else {
            return;
        };
        if ack.lt(end) {
            return;
        }
        let repaired = retransmitted && !a.dsack_tlp && ack.gt(end);
        let over =
            !retransmitted || a.dsack_tlp || repaired || !(a.una_advanced || a.not_dup || a.sacked);
        if !over {
            return;
        }
        self.rec.get_mut().tlp_high = None;
        if repaired && self.rec.recover.is_none() {
            let mss = u32::from(self.snd.mss);
            let flight = self.snd.in_flight();
            self.cc.on_probe_repaired_loss(flight, mss);
            stats.loss_probe_recovery += 1;
        }
    }
}
