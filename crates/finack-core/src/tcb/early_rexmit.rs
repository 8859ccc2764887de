//! RFC 5827 early retransmit as Linux 3.5 to 4.10 did it
//! ([`Config::early_retransmit`]): with fewer than four segments
//! outstanding, nothing new to send and all but one of them SACKed, the
//! duplicate-ACK threshold can never be reached, so fast retransmit starts
//! without it, at once or after a quarter of the smoothed RTT.

use core::time::Duration;

use super::{Ctx, Tcb};
use crate::config::EarlyRetransmit;
use crate::types::TimerKind;

/// Linux tcp_pause_early_retransmit(): the least wait before a delayed
/// early retransmit (`msecs_to_jiffies(2)`).
const ER_MIN_DELAY: Duration = Duration::from_millis(2);

impl Tcb {
    /// After an acceptable ACK. Linux tcp_input.c: tcp_ack() re-arms the
    /// retransmission timer in place of a pending early retransmit (any
    /// ACK cancels it), then tcp_fastretrans_alert() -> tcp_time_to_recover()
    /// "Trick#6": in the open state, with RACK off, no retransmission in
    /// flight, some but not all of fewer than four segments SACKed and
    /// nothing that may be sent now (tcp_may_send_now()), recovery starts
    /// now or once the pause has passed (tcp_pause_early_retransmit()).
    /// `ece`: the ACK carried ECN-Echo, which Linux does not make wait.
    pub(super) fn early_retransmit_on_ack(&mut self, ctx: &mut Ctx<'_>, ece: bool) {
        if self.rec.er_armed {
            self.rec.get_mut().er_armed = false;
            self.timers.set(TimerKind::LossProbe, None);
        }
        let mode = ctx.cfg.early_retransmit;
        if mode == EarlyRetransmit::Off
            || self.rack_on(ctx.cfg)
            || !self.sack_ok
            // Linux tcp_enable_early_retrans(): only with the default
            // duplicate-ACK threshold.
            || ctx.cfg.dupthresh != 3
            || self.rec.recover.is_some()
            || self.after_rto()
            || self.rec.tlp_high.is_some_and(|(_, rexmit)| rexmit)
        {
            return;
        }
        let sacked = self.snd.sacked_segments(&self.rec.sacked);
        let packets = self.snd.packets_out();
        if sacked == 0 || packets < sacked + 1 || packets >= 4 || self.may_send_now() {
            return;
        }
        if mode == EarlyRetransmit::Delayed && !ece {
            if let Some(srtt) = self.snd.rtt.srtt() {
                let at = ctx.now + (srtt / 4).max(ER_MIN_DELAY);
                // Pause only if the retransmission timer would not expire
                // first.
                if self
                    .timers
                    .get(TimerKind::Retransmit)
                    .is_some_and(|rto| rto > at)
                {
                    self.rec.get_mut().er_armed = true;
                    self.timers.set(TimerKind::LossProbe, Some(at));
                    return;
                }
            }
        }
        self.enter_recovery(ctx);
    }

    /// Linux tcp_input.c: tcp_resume_early_retransmit(): the pause passed
    /// with no ACK: enter recovery and resend the first segment
    /// (tcp_enter_recovery(), tcp_update_scoreboard(), tcp_xmit_retransmit_queue()).
    pub(super) fn on_early_retransmit_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.rec.get_mut().er_armed = false;
        if self.rec.recover.is_none() && self.snd.una != self.snd.max {
            self.enter_recovery(ctx);
        }
    }

    /// Linux tcp_output.c: tcp_may_send_now(): unsent data whose first
    /// segment the congestion and peer windows let out now.
    fn may_send_now(&self) -> bool {
        let notsent = self.snd.notsent();
        if notsent == 0 {
            return false;
        }
        let mss = u32::from(self.snd.mss.max(1));
        let cwnd_segs = self.cc.cwnd().max(mss) / mss;
        let in_flight = self.snd.in_flight().div_ceil(mss);
        let seg = (notsent as u32).min(mss);
        let wnd_end = self.snd.una + self.snd.wnd;
        in_flight < cwnd_segs && (self.snd.nxt + seg).le(wnd_end)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, EarlyRetransmit};

    #[test]
    fn only_the_3_11_profile_retransmits_early() {
        assert_eq!(Config::linux().early_retransmit, EarlyRetransmit::Off);
        assert_eq!(Config::rfc9293().early_retransmit, EarlyRetransmit::Off);
        let old = Config::linux_3_11();
        assert_eq!(old.early_retransmit, EarlyRetransmit::Delayed);
        assert!(!old.rack && old.tail_loss_probe && !old.gso_psh);
        assert_eq!(old.window_scale, 6);
    }
}
