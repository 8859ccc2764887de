//! How long an ACK may wait (`Config::delayed_ack_max`): Linux adapts the
//! delayed-ACK time to how data arrives (`icsk_ack.ato`): it starts at the
//! minimum when the first data comes, shrinks while segments come closer
//! together than it, doubles each time the timer had to send an ACK alone,
//! and is bounded by the RTT when the timer is set. A small segment
//! ("pushed") that the application reads whole is acknowledged by the read.
//! Without the option the delay is `Config::delayed_ack`, always.

use core::time::Duration;

use super::Tcb;
use crate::config::Config;
use crate::time::Instant;
use crate::types::{State, TimerKind};

/// Linux HZ / 2: the longest delay while the exchange is neither
/// interactive nor pushed (tcp_send_delayed_ack()).
const MAX_ATO_BULK: Duration = Duration::from_millis(500);
/// Linux TCP_DELACK_MAX: the longest delay while it is.
const MAX_ATO_PUSHED: Duration = Duration::from_millis(200);

/// `icsk_ack.pending` bits kept here.
pub(super) const PUSHED: u8 = 1;
pub(super) const PUSHED2: u8 = 2;

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Tcb {
    /// The delayed-ACK time now (`icsk_ack.ato`, milliseconds): 0 until
    /// data has arrived.
    fn ato_ms(&self) -> u32 {
        self.rcv.est.as_ref().map_or(0, |e| e.ato_ms)
    }

    /// Linux tcp_input.c: tcp_event_data_recv(), for in-order data arriving
    /// at `now` (before the arrival time is stamped): the first data starts
    /// the delayed-ACK time at its minimum with quick ACKs for as many
    /// segments as half the window holds (tcp_incr_quickack()); later data
    /// arriving within half the minimum pulls it toward the minimum, within
    /// the time itself pulls it toward the gap (at most the RTO), and after
    /// more than an RTO of silence quick ACKs start again.
    pub(super) fn ato_data_arrives(&mut self, now: Instant, cfg: &Config) {
        let (Some(min), Some(_)) = (cfg.delayed_ack, cfg.delayed_ack_max) else {
            return;
        };
        let min = ms(min);
        let gap = self.rcv.buf.ms_since_data(now.as_millis());
        let rto = ms(self.snd.rtt.backed_off(self.snd.backoff, cfg));
        let e = self.est();
        if e.ato_ms == 0 {
            e.ato_ms = min;
            if cfg.rcv_memory {
                self.rcv.quickacks = self.quickacks_for_window(cfg);
            }
        } else if gap <= min / 2 {
            e.ato_ms = e.ato_ms / 2 + min / 2;
        } else if gap < e.ato_ms {
            e.ato_ms = (e.ato_ms / 2 + gap).min(rto);
        } else if gap > rto {
            // "Too long gap. Apparently sender failed to restart window."
            self.rcv.quickacks = self.rcv.quickacks.max(self.quickacks_for_window(cfg));
        }
    }

    /// Linux tcp_incr_quickack(): quick ACKs for half the window offered
    /// in segments of the peer's size (2 if less), at most
    /// `Config::quickacks`. Without the memory model the window's growth
    /// that grants them one by one (tcp_grow_window()) is not modelled: the
    /// full `Config::quickacks`.
    fn quickacks_for_window(&self, cfg: &Config) -> u32 {
        self.window_quickacks(cfg).min(cfg.quickacks)
    }

    /// tcp_incr_quickack() before its bound: half the window offered in
    /// segments of the peer's size, at least 2 (unbounded without the
    /// memory model).
    fn window_quickacks(&self, cfg: &Config) -> u32 {
        if !cfg.rcv_memory {
            return u32::MAX;
        }
        let mss = u32::from(self.rcv_mss(cfg)).max(1);
        match self.rcv_wnd_advertised() / (2 * mss) {
            0 => 2,
            n => n,
        }
    }

    /// Linux tcp_input.c: tcp_enter_quickack_mode(): quick ACKs for up to
    /// `max` more segments (tcp_incr_quickack(): half the window in
    /// segments), out of interactive mode, the delayed-ACK time back at
    /// its minimum.
    pub(super) fn enter_quickack_mode(&mut self, cfg: &Config, max: u32) {
        let Some(min) = cfg.delayed_ack else {
            return;
        };
        let n = self.window_quickacks(cfg).min(max);
        self.rcv.quickacks = self.rcv.quickacks.max(n);
        self.exit_pingpong();
        if cfg.delayed_ack_max.is_some() {
            if let Some(e) = self.rcv.est.as_mut().filter(|e| e.ato_ms != 0) {
                e.ato_ms = ms(min);
            }
        }
    }

    /// A quick ACK went out (Linux tcp_dec_quickack_mode()): leaving
    /// quick-ACK mode brings the delayed-ACK time back to its minimum.
    pub(super) fn ato_quickack_sent(&mut self, cfg: &Config) {
        self.rcv.quickacks = self.rcv.quickacks.saturating_sub(1);
        if self.rcv.quickacks == 0 && cfg.delayed_ack_max.is_some() {
            if let (Some(min), Some(e)) = (cfg.delayed_ack, self.rcv.est.as_mut()) {
                if e.ato_ms != 0 {
                    e.ato_ms = ms(min);
                }
            }
        }
    }

    /// The delayed-ACK timer sent an ACK alone (Linux
    /// tcp_delack_timer_handler()): an interactive exchange is not one
    /// after all and the time goes back to its minimum; otherwise the time
    /// doubles, up to the RTO.
    pub(super) fn ato_timer_fired(&mut self, cfg: &Config) {
        let interactive = self.pingpong(cfg);
        self.exit_pingpong();
        let (Some(min), Some(_)) = (cfg.delayed_ack, cfg.delayed_ack_max) else {
            return;
        };
        let rto = ms(self.snd.rtt.backed_off(self.snd.backoff, cfg));
        let e = self.est();
        e.ato_ms = if interactive {
            ms(min)
        } else {
            e.ato_ms.saturating_mul(2).min(rto)
        };
    }

    /// Linux tcp_output.c: tcp_send_delayed_ack(): arm the delayed-ACK
    /// timer, or send the ACK now when the timer already set is about to
    /// fire (within a quarter of the delay). Above the minimum the delay is
    /// bounded by the smoothed RTT (at least the minimum) and by 200 ms
    /// (interactive or pushed) or 500 ms, and always by
    /// `Config::delayed_ack_max`; a timer already set for earlier stays.
    pub(super) fn schedule_delayed_ack(&mut self, now: Instant, cfg: &Config) {
        let Some(min) = cfg.delayed_ack else {
            self.rcv.ack_now = true;
            return;
        };
        let delay = match cfg.delayed_ack_max {
            None => min,
            Some(cap) => {
                let mut ato = Duration::from_millis(u64::from(self.ato_ms()));
                if ato > min {
                    let pushed = self
                        .rcv
                        .est
                        .as_ref()
                        .is_some_and(|e| e.pushed & PUSHED != 0);
                    let mut max = if self.pingpong(cfg) || pushed {
                        MAX_ATO_PUSHED
                    } else {
                        MAX_ATO_BULK
                    };
                    if let Some(srtt) = self.snd.rtt.srtt() {
                        // usecs_to_jiffies() rounds up.
                        let srtt = Duration::from_millis(srtt.as_micros().div_ceil(1000) as u64);
                        max = max.min(srtt.max(min));
                    }
                    ato = ato.min(max);
                }
                ato.min(cap)
            }
        };
        let mut at = now + delay;
        if let Some(set) = self.timers.get(TimerKind::DelayedAck) {
            if cfg.delayed_ack_max.is_some() && set <= now + delay / 4 {
                self.rcv.ack_now = true;
                return;
            }
            at = at.min(set);
        }
        self.timers.set(TimerKind::DelayedAck, Some(at));
    }

    /// A segment smaller than the peer's usual size arrived (Linux
    /// tcp_measure_rcv_mss(): ICSK_ACK_PUSHED, and PUSHED2 for a second).
    pub(super) fn note_pushed(&mut self) {
        let e = self.est();
        if e.pushed & PUSHED != 0 {
            e.pushed |= PUSHED2;
        }
        e.pushed |= PUSHED;
    }

    /// An ACK went out: nothing is pending any more.
    pub(super) fn clear_pushed(&mut self) {
        if let Some(e) = self.rcv.est.as_mut() {
            e.pushed = 0;
        }
    }

    /// Linux tcp.c: __tcp_cleanup_rbuf(): a read that took data and left
    /// no receive memory in use acknowledges at once, if an ACK is owed
    /// and a pushed segment was among what it read (two of them, or one
    /// outside an interactive exchange).
    pub(super) fn read_emptied_pushed(&self, cfg: &Config, copied: usize, empty: bool) -> bool {
        if copied == 0 || !empty || self.timers.get(TimerKind::DelayedAck).is_none() {
            return false;
        }
        let pushed = self.rcv.est.as_ref().map_or(0, |e| e.pushed);
        pushed & PUSHED2 != 0 || (pushed & PUSHED != 0 && !self.pingpong(cfg))
    }
}

impl Tcb {
    /// TCP_QUICKACK (Linux tcp.c: __tcp_sock_set_quickack()). Off enters
    /// interactive mode, where ACKs wait for the delayed-ACK timer; on leaves
    /// it and, in ESTABLISHED or CLOSE-WAIT with an ACK owed, counts the owed
    /// ACK as pushed and sends it now if a read of one byte would
    /// (__tcp_cleanup_rbuf(): all received data read, or more than a segment
    /// unacknowledged). True when an ACK is to go now.
    pub(crate) fn set_quickack(&mut self, cfg: &Config, on: bool) -> bool {
        if !on {
            self.enter_pingpong(cfg);
            return false;
        }
        self.exit_pingpong();
        let owed = self.timers.get(TimerKind::DelayedAck).is_some();
        if !(owed && matches!(self.state, State::Established | State::CloseWait)) {
            return false;
        }
        self.est().pushed |= PUSHED;
        let now = self.cleanup_rbuf(cfg, 1);
        if now {
            self.rcv.ack_now = true;
        }
        now
    }

    /// What getsockopt(TCP_QUICKACK) reports: not in interactive mode.
    pub(crate) fn quickack(&self, cfg: &Config) -> bool {
        !self.pingpong(cfg)
    }
}

impl Tcb {
    /// Linux tcp_rcv_synsent_state_process(), "Save one ACK": a client in
    /// interactive mode or with TCP_DEFER_ACCEPT holds the handshake's ACK
    /// back for up to TCP_DELACK_MAX so that its first data can carry it,
    /// and enters quick-ACK mode (tcp_enter_quickack_mode(): quick ACKs,
    /// out of interactive mode, the minimum delayed-ACK time). True when
    /// the ACK is held.
    pub(super) fn save_handshake_ack(&mut self, ctx: &mut super::Ctx<'_>) -> bool {
        let cfg = ctx.cfg;
        let (Some(min), Some(_)) = (cfg.delayed_ack, cfg.delayed_ack_max) else {
            return false;
        };
        if !(self.pingpong(cfg) || ctx.defer_accept > 0) {
            return false;
        }
        self.rcv.quickacks = self.rcv.quickacks.max(self.quickacks_for_window(cfg));
        self.exit_pingpong();
        self.est().ato_ms = ms(min);
        self.timers
            .set(TimerKind::DelayedAck, Some(ctx.now + MAX_ATO_PUSHED));
        true
    }
}
