//! Pacing under the `fq` queueing discipline ([`Pacing::Fq`]): every data
//! packet gets a departure time, and the connection hands none to the host
//! before it.
//!
//! Linux stamps each packet with `tcp_wstamp_ns` (tcp_output.c:
//! __tcp_transmit_skb(), the earliest departure time model) and then moves
//! that stamp on by the packet's length at the pacing rate
//! (tcp_update_skb_after_send()); sch_fq holds the packet until its stamp.
//! Here the engine holds the packet itself: the next one is formed only once
//! its departure time has come, and the connection's deadline wakes it then
//! (as tcp_pacing_check() arms the pacing hrtimer for internal pacing).
//! What TCP Small Queues would let sit in the qdisc ahead of its departure
//! (a packet or two at these rates) is not modelled.

use alloc::boxed::Box;

use super::Tcb;
use crate::config::{Config, Pacing};
use crate::time::Instant;

/// Linux tcp_update_skb_after_send(): like the original sch_fq, the first
/// ten data segments of a connection go unpaced.
const UNPACED_SEGMENTS: u32 = 10;

/// Linux's `tcp_pacing_ss_ratio` and `tcp_pacing_ca_ratio` defaults, in
/// percent of the window per SRTT.
const SS_RATIO: u64 = 200;
const CA_RATIO: u64 = 120;

/// The departure clock of a paced connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PacingState {
    /// Linux `tcp_wstamp_ns`: the earliest departure of the next packet,
    /// in nanoseconds of the engine's clock.
    next_ns: u64,
    /// Linux `tp->data_segs_out`: data segments sent so far.
    data_segs: u32,
    /// A packet was held for `next_ns`: the connection wants waking then.
    waiting: bool,
}

/// [`PacingState`], allocated when a paced connection first sends (the
/// control block keeps only a pointer; an unpaced one never allocates).
#[derive(Debug, Default)]
pub(crate) struct LazyPacing(Option<Box<PacingState>>);

impl LazyPacing {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |_| core::mem::size_of::<PacingState>())
    }
}

fn nanos(t: Instant) -> u64 {
    t.as_micros().saturating_mul(1000)
}

impl Tcb {
    /// Linux tcp_input.c: tcp_update_pacing_rate(), in bytes per second:
    /// the MSS times the larger of cwnd and the segments out, per SRTT (kept
    /// in eighths of a microsecond), scaled by 200% while cwnd is below half
    /// of ssthresh and by 120% after. `None` before an RTT sample (Linux's
    /// unlimited initial rate).
    pub(super) fn fq_pacing_rate(&self) -> Option<u64> {
        let srtt = self.snd.rtt.srtt()?;
        let srtt_8ths = ((srtt.as_nanos() / 125) as u64).max(1);
        let mss = u64::from(self.snd.mss.max(1));
        let ratio = if self.cc.cwnd() < self.cc.ssthresh() / 2 {
            SS_RATIO
        } else {
            CA_RATIO
        };
        let cwnd = u64::from(self.cc.cwnd()) / mss;
        let out = ((self.snd.nxt - self.snd.una).max(0) as u64).div_ceil(mss);
        let rate = mss
            .saturating_mul(80_000)
            .saturating_mul(ratio)
            .saturating_mul(cwnd.max(out));
        Some(rate / srtt_8ths)
    }

    /// Must the next data packet wait for its departure time? Linux
    /// tcp_output.c: tcp_pacing_check() (and sch_fq holding a stamped
    /// packet). A packet of several segments (a GSO packet) leaves whole:
    /// only its first segment is checked.
    pub(super) fn pacing_hold(&mut self, now: Instant, cfg: &Config) -> bool {
        if cfg.pacing == Pacing::Off || self.snd.piece_left > 0 {
            return false;
        }
        let Some(p) = self.snd.pacing.0.as_deref_mut() else {
            return false;
        };
        p.waiting = p.next_ns > nanos(now);
        p.waiting
    }

    /// When a held packet may leave: part of the connection's deadline.
    pub(super) fn pacing_deadline(&self) -> Option<Instant> {
        let p = self.snd.pacing.0.as_deref()?;
        p.waiting
            .then(|| Instant::from_micros(p.next_ns.div_ceil(1000)))
    }

    /// The connection woke at `now`: a held packet whose departure time
    /// came no longer asks for waking (output decides again).
    pub(super) fn pacing_wake(&mut self, now: Instant) {
        if self.pacing_deadline().is_some_and(|t| t <= now) {
            if let Some(p) = self.snd.pacing.0.as_deref_mut() {
                p.waiting = false;
            }
        }
    }

    /// A packet leaves now carrying `bytes` of data in `segs` segments (0
    /// for a bare FIN). Linux tcp_output.c: __tcp_transmit_skb() stamps it
    /// no earlier than now, then tcp_update_skb_after_send() moves the
    /// departure clock on by `bytes` at the pacing rate, less what the
    /// packet left late (at most half of its interval, "OS jitter"); the
    /// first ten data segments are not paced.
    pub(super) fn pacing_on_send(&mut self, now: Instant, cfg: &Config, bytes: usize, segs: u32) {
        if cfg.pacing == Pacing::Off {
            return;
        }
        let rate = self.fq_pacing_rate();
        let p = self
            .snd
            .pacing
            .0
            .get_or_insert_with(|| Box::new(PacingState::default()));
        p.waiting = false;
        let prior = p.next_ns;
        p.next_ns = p.next_ns.max(nanos(now));
        p.data_segs = p.data_segs.saturating_add(segs);
        if let Some(rate) = rate.filter(|&r| r > 0) {
            if p.data_segs >= UNPACED_SEGMENTS {
                let len_ns = (bytes as u64).saturating_mul(1_000_000_000) / rate;
                let late = p.next_ns - prior;
                p.next_ns += len_ns - (len_ns / 2).min(late);
            }
        }
    }

    /// A segment without data leaves now (an ACK, a window probe): Linux
    /// __tcp_transmit_skb() stamps it too, so the departure clock is no
    /// longer behind now, and a data packet after it earns no lateness
    /// credit for the time before.
    pub(super) fn pacing_on_control(&mut self, now: Instant, cfg: &Config) {
        if cfg.pacing == Pacing::Off {
            return;
        }
        if let Some(p) = self.snd.pacing.0.as_deref_mut() {
            p.next_ns = p.next_ns.max(nanos(now));
        }
    }
}
