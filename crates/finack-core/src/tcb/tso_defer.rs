//! Holding back part of a unit of queued data so that it leaves in one
//! larger packet once an ACK frees more of the congestion window (Linux
//! tcp_output.c: tcp_tso_should_defer()).

use core::time::Duration;

use super::Tcb;
use crate::config::Config;
use crate::time::Instant;

/// Linux `sysctl_tcp_tso_win_divisor`'s default: a third of the window is
/// worth sending at once.
const WIN_DIVISOR: u32 = 3;

impl Tcb {
    /// Should the next packet of new data wait? `unit_left` is what the
    /// unit (skb) still holds from SND.NXT on, `tail` whether it is the last
    /// unit queued, `cwnd` the congestion window in bytes.
    ///
    /// Linux tcp_tso_should_defer(): only a unit of more than one segment,
    /// outside recovery, right after another transmission (within 1 ms),
    /// when the windows let out less than the whole unit, less than a full
    /// GSO packet and less than a third of the window, and the oldest
    /// segment in flight left less than half an SRTT ago does not hold:
    /// then the packet waits for the ACK that will let out more. A unit
    /// ended with MSG_EOR waits only when a window is what limits it.
    pub(super) fn tso_should_defer(
        &self,
        now: Instant,
        cfg: &Config,
        unit_left: usize,
        tail: bool,
        cwnd: u32,
    ) -> bool {
        let mss = u32::from(self.snd.mss.max(1));
        if !cfg.tso_defer || !self.rack_on(cfg) || unit_left as u32 <= mss {
            return false;
        }
        if self.rec.recover.is_some() || self.after_rto() {
            return false;
        }
        if now.saturating_duration_since(self.snd.last_data_sent) > Duration::from_millis(1) {
            return false;
        }
        let Some(head_at) = self.snd.buf.sent().and_then(|l| l.head_sent_at()) else {
            return false;
        };
        let in_flight = self.snd.in_flight().div_ceil(mss);
        let cwnd_segs = cwnd / mss;
        if cwnd_segs <= in_flight {
            return false;
        }
        let send_win = (self.snd.una + self.snd.wnd - self.snd.nxt).max(0) as u32;
        let cong_win = (cwnd_segs - in_flight) * mss;
        let limit = send_win.min(cong_win);
        let unit_left = unit_left as u32;
        // Linux tcp_tso_segs(): with an SRTT under a microsecond the pacing
        // rate, and so the GSO packet, is at its largest.
        let max_segs = match self.snd.rtt.srtt() {
            Some(srtt) if srtt.as_micros() == 0 => 65_536 / mss,
            _ => self.gso_group(cfg.gso_segs_min.unwrap_or(1)),
        };
        if limit >= max_segs * mss {
            return false;
        }
        if !tail && limit >= unit_left {
            return false;
        }
        let chunk = self.snd.wnd.min(cwnd_segs * mss) / WIN_DIVISOR;
        if limit >= chunk {
            return false;
        }
        let half_srtt = self.snd.rtt.srtt().unwrap_or_default() / 2;
        if now.saturating_duration_since(head_at) < half_srtt {
            return false;
        }
        if cong_win < send_win {
            cong_win <= unit_left
        } else {
            send_win <= unit_left
        }
    }
}
