//! Timeouts (RFC 9293 §3.10.8).

use super::{Ctx, Tcb};
use crate::types::{CloseReason, State, TimerKind};

impl Tcb {
    /// Run every timer due at `ctx.now`; returns the timer that changed the state,
    /// if any (for the transition record).
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) -> Option<TimerKind> {
        let now = ctx.now;
        self.burst_segs = 0;
        if self.t_user.is_some_and(|t| t <= now) {
            // USER TIMEOUT: "flush all queues, signal the user 'error: connection
            // aborted due to user timeout' ..., delete the TCB, enter CLOSED".
            self.enter_closed(ctx, CloseReason::TimedOut);
            return Some(TimerKind::User);
        }
        if self.t_fin_wait2.is_some_and(|t| t <= now) {
            // Linux tcp_fin_timeout: an orphaned connection does not wait forever for
            // the peer's FIN.
            self.t_fin_wait2 = None;
            if self.state == State::FinWait2 {
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::FinWait2);
            }
        }
        if self.t_delack.is_some_and(|t| t <= now) {
            // The delayed ACK is due (MUST-40).
            self.t_delack = None;
            self.ack_now = true;
        }
        if self.t_keepalive.is_some_and(|t| t <= now) {
            self.t_keepalive = None;
            if self.snd_una == self.snd_max {
                if self.probes_out >= ctx.cfg.keepalive_probes {
                    // MUST-29 tolerates lost ACKs: only after all probes went
                    // unanswered is the peer declared dead (Linux then sends RST).
                    let ack = ctx.cfg.active_rst_ack.then_some(self.rcv_nxt);
                    self.queue_rst(ctx, self.snd_max, ack);
                    self.enter_closed(ctx, CloseReason::TimedOut);
                    return Some(TimerKind::Keepalive);
                }
                self.probes_out += 1;
                self.ka_probe = true;
            }
            self.arm_keepalive(ctx.cfg);
        }
        if self.t_tlp.is_some_and(|t| t <= now) {
            // RFC 8985 §7.3: the PTO expired; output sends the probe. At most
            // one probe is outstanding per tail loss episode (Linux
            // tcp_send_loss_probe: otherwise only the RTO is re-armed).
            self.t_tlp = None;
            if self.tlp_high.is_none() && self.tlp_allowed(ctx.cfg) {
                // The probe takes the place of a retransmission timeout due at
                // the same moment (Linux runs both on one timer); the RTO is
                // re-armed from now (RFC 8985 §7.3).
                self.tlp_due = true;
                self.t_rexmit = Some(now + self.rtt.backed_off(self.backoff, ctx.cfg));
                return None;
            }
        }
        if self.t_rexmit.is_some_and(|t| t <= now) {
            self.t_rexmit = None;
            if self.persist {
                // Zero-window probe (MUST-36; SHLD-29 first probe after an RTO,
                // SHLD-30 exponential backoff). The peer keeps answering, so the
                // window may stay closed forever (MUST-37): no retry limit here.
                self.persist = false;
                self.force_probe = true;
                self.backoff = self.backoff.saturating_add(1);
                return None;
            }
            return self.on_retransmit_timeout(ctx);
        }
        None
    }

    /// RETRANSMISSION TIMEOUT: "send the segment at the front of the retransmission
    /// queue again, reinitialize the retransmission timer" with exponential backoff
    /// (RFC 6298 §5.4–5.6), or give up after the retry limit (MUST-20, MUST-22/23).
    fn on_retransmit_timeout(&mut self, ctx: &mut Ctx<'_>) -> Option<TimerKind> {
        if self.snd_una == self.snd_max {
            return None;
        }
        let limit = match self.state {
            State::SynSent => ctx.cfg.syn_retries,
            State::SynReceived if self.listener.is_some() => ctx.cfg.synack_retries,
            _ if self.orphan => ctx.cfg.orphan_retries,
            _ => ctx.cfg.retries2,
        };
        if self.snd_wnd == 0 && self.state.is_synchronized() {
            // The outstanding data is a probe into a zero window (MUST-36): probe
            // again with backoff (SHLD-30). Give up only when probes go unanswered;
            // a peer that keeps answering may hold its window shut forever (MUST-37).
            if self.probes_unanswered >= ctx.cfg.retries2 {
                self.enter_closed(ctx, CloseReason::TimedOut);
                return Some(TimerKind::Retransmit);
            }
            self.probes_unanswered += 1;
            self.backoff = self.backoff.saturating_add(1);
            self.snd_nxt = self.snd_una;
            self.force_probe = true;
            return None;
        }
        if self.backoff >= limit {
            if self.state == State::SynReceived && self.listener.is_some() {
                // A half-open passive connection whose SYN,ACK went unanswered goes
                // away quietly (back to LISTEN, as Linux drops its request socket).
                self.back_to_listen = true;
            }
            self.enter_closed(ctx, CloseReason::TimedOut);
            return Some(TimerKind::Retransmit);
        }
        self.backoff += 1;
        // Go back to the oldest unacknowledged octet; output resends from there.
        self.snd_nxt = self.snd_una;
        // Karn (MUST-18): no RTT sample from a retransmitted segment.
        self.rtt_probe = None;
        self.ts_rto_mark = Some(self.ts_now(ctx.now));
        // RFC 5681 §3.1 and RFC 9293 MUST-19: after a timeout ssthresh drops (as
        // the algorithm says) and the window restarts from one segment.
        let mss = u32::from(self.snd_mss);
        let flight = (self.snd_max - self.snd_una).max(0) as u32;
        self.ssthresh = self.cc.on_loss(self.cwnd, flight, mss, ctx.now);
        self.cwnd = mss;
        self.recover = None;
        self.dupacks = 0;
        self.lt_allow = 0;
        self.fast_rexmit = false;
        // RFC 8985 §7: the RTO takes over; a new episode may probe again later.
        self.t_tlp = None;
        self.tlp_due = false;
        self.tlp_high = None;
        // RFC 6675 §5.1 lets the scoreboard survive an RTO; go-back-N resends
        // everything anyway, so start afresh.
        self.sacked.clear();
        self.rto_recover = Some(self.snd_max);
        None
    }
}

impl Tcb {
    /// RFC 8985 §7.2: a probe may be scheduled when TLP is enabled, SACK is in
    /// use, the connection is not in loss recovery (fast recovery or after an
    /// RTO) and data or a FIN is outstanding into an open window.
    pub(crate) fn tlp_allowed(&self, cfg: &crate::config::Config) -> bool {
        let after_rto = self.rto_recover.is_some_and(|r| self.snd_una.lt(r));
        cfg.tail_loss_probe
            && self.sack_ok
            && matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
            && self.recover.is_none()
            && !after_rto
            && !self.persist
            && self.snd_wnd > 0
            && self.snd_una.lt(self.snd_max)
    }

    /// RFC 8985 §7.2 "Scheduling a loss probe", with Linux's timing
    /// (`tcp_schedule_loss_probe`): PTO = 2*SRTT, plus the worst-case delayed
    /// ACK time (Linux: the minimum RTO, 200 ms) when a single segment is in
    /// flight, else plus 2 ms; 1 s before any RTT sample (RFC 8985 §7.2). The
    /// probe never fires after the RTO would.
    pub(crate) fn schedule_tlp(&mut self, now: crate::time::Instant, cfg: &crate::config::Config) {
        if !self.tlp_allowed(cfg) {
            self.t_tlp = None;
            return;
        }
        let flight = (self.snd_max - self.snd_una).max(0) as u32;
        let pto = match self.rtt.srtt {
            Some(srtt) => {
                let extra = if flight <= u32::from(self.snd_mss) + 1 {
                    cfg.rto_min
                } else {
                    core::time::Duration::from_millis(2)
                };
                srtt * 2 + extra
            }
            None => core::time::Duration::from_secs(1),
        };
        let at = now + pto;
        self.t_tlp = Some(match self.t_rexmit {
            Some(rto) => at.min(rto),
            None => at,
        });
    }
}
