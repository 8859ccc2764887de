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
    /// unlimited initial rate). Computed when a packet leaves from the state
    /// then; Linux computes it on each ACK, and between ACKs only the count
    /// of segments out (which matters only above cwnd) can differ. The one
    /// rate behind fq's departure times, the GSO packet size
    /// (`gso_group`, tcp_tso_autosize()) and HyStart's ACK-train test.
    pub(super) fn pacing_rate(&self) -> Option<u64> {
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
        let rate = self.pacing_rate();
        // A clock starts at the first data packet (the handshake, which
        // stamps Linux's, is not counted as late).
        let p = self.snd.pacing.0.get_or_insert_with(|| {
            Box::new(PacingState {
                next_ns: nanos(now),
                ..PacingState::default()
            })
        });
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

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::types::ConnId;
    use finack_wire::SeqNumber;

    /// A connection with MSS 1000, SRTT 100 ms and a window of 10 segments.
    fn tcb(cfg: &Config) -> Tcb {
        let mut t = Tcb::connect(
            ConnId { index: 0, gen: 0 },
            cfg,
            Instant::ZERO,
            "192.0.2.2:80".parse().unwrap(),
            "192.0.2.1:4000".parse().unwrap(),
            SeqNumber(0),
            0,
        );
        t.snd.mss = 1000;
        t.snd.rtt.sample(Duration::from_millis(100), cfg);
        t.cc.set_cwnd(10_000);
        t
    }

    fn fq() -> Config {
        Config {
            pacing: Pacing::Fq,
            ..Config::linux()
        }
    }

    /// Linux tcp_update_pacing_rate(): 200% of cwnd per SRTT in slow start
    /// (cwnd below half of ssthresh), 120% after; the segments out count
    /// when there are more of them than cwnd.
    #[test]
    fn rate_is_twice_the_window_in_slow_start_and_1_2_times_after() {
        let cfg = fq();
        let mut t = tcb(&cfg);
        assert_eq!(t.pacing_rate(), Some(200_000));
        // A finite ssthresh that cwnd is not below half of.
        t.cc.begin_reduction(30_000, 1000);
        assert!(t.cc.ssthresh() <= 20_000);
        assert_eq!(t.pacing_rate(), Some(120_000));
        // 20 segments out, more than cwnd: they set the rate.
        t.snd.nxt = t.snd.una + 20_000;
        assert_eq!(t.pacing_rate(), Some(240_000));
    }

    /// No RTT sample yet: no rate, nothing paced (Linux's initial
    /// sk_pacing_rate is unlimited).
    #[test]
    fn no_rate_before_an_rtt_sample() {
        let cfg = fq();
        let mut t = tcb(&cfg);
        t.snd.rtt = crate::rtt::RttEstimator::new(&cfg);
        assert_eq!(t.pacing_rate(), None);
        for _ in 0..20 {
            t.pacing_on_send(Instant::ZERO, &cfg, 1000, 1);
            assert!(!t.pacing_hold(Instant::ZERO, &cfg));
        }
    }

    /// Linux tcp_update_skb_after_send(): the first ten segments leave
    /// unpaced; the packet that brings the count to ten moves the clock by
    /// its length at the rate, and the next packet waits for it.
    #[test]
    fn the_first_ten_segments_are_not_paced() {
        let cfg = fq();
        let mut t = tcb(&cfg);
        let now = Instant::from_secs(1);
        for _ in 0..4 {
            t.pacing_on_send(now, &cfg, 2000, 2);
            assert!(!t.pacing_hold(now, &cfg));
        }
        // Segments 9 and 10: 2000 bytes at 200 000 bytes/s, 10 ms.
        t.pacing_on_send(now, &cfg, 2000, 2);
        assert!(t.pacing_hold(now, &cfg));
        assert_eq!(t.pacing_deadline(), Some(now + Duration::from_millis(10)));
        let soon = now + Duration::from_micros(9_999);
        assert!(t.pacing_hold(soon, &cfg));
        assert!(!t.pacing_hold(now + Duration::from_millis(10), &cfg));
        assert_eq!(t.pacing_deadline(), None);
    }

    /// A packet that leaves late (after its departure time) gets back up to
    /// half of its own interval; one on time gets nothing back.
    #[test]
    fn lateness_earns_at_most_half_an_interval() {
        let cfg = fq();
        let mut t = tcb(&cfg);
        let start = Instant::from_secs(1);
        t.pacing_on_send(start, &cfg, 10_000, 10);
        // Next departure: start + 50 ms (10 000 bytes at 200 000 bytes/s).
        let due = start + Duration::from_millis(50);
        assert_eq!(t.pacing_deadline(), None);
        assert!(t.pacing_hold(start, &cfg));
        assert_eq!(t.pacing_deadline(), Some(due));
        // Sent 2 ms late: 10 ms interval less 2 ms.
        let late = due + Duration::from_millis(2);
        t.pacing_on_send(late, &cfg, 2000, 2);
        assert!(t.pacing_hold(late, &cfg));
        assert_eq!(t.pacing_deadline(), Some(late + Duration::from_millis(8)));
        // Sent very late: only half of the interval comes back.
        let very_late = late + Duration::from_secs(1);
        t.pacing_on_send(very_late, &cfg, 2000, 2);
        assert!(t.pacing_hold(very_late, &cfg));
        assert_eq!(
            t.pacing_deadline(),
            Some(very_late + Duration::from_millis(5))
        );
        // On time: the whole interval.
        let on_time = very_late + Duration::from_millis(5);
        assert!(!t.pacing_hold(on_time, &cfg));
        t.pacing_on_send(on_time, &cfg, 2000, 2);
        assert!(t.pacing_hold(on_time, &cfg));
        assert_eq!(
            t.pacing_deadline(),
            Some(on_time + Duration::from_millis(10))
        );
    }

    /// An ACK sent while the clock is behind brings it up to now: a data
    /// packet after it earns no credit for the time before.
    #[test]
    fn a_control_segment_catches_the_clock_up() {
        let cfg = fq();
        let mut t = tcb(&cfg);
        let start = Instant::from_secs(1);
        t.pacing_on_send(start, &cfg, 10_000, 10);
        let later = start + Duration::from_secs(1);
        t.pacing_on_control(later, &cfg);
        t.pacing_on_send(later, &cfg, 2000, 2);
        assert!(t.pacing_hold(later, &cfg));
        assert_eq!(t.pacing_deadline(), Some(later + Duration::from_millis(10)));
    }

    /// Pacing off: no state is allocated, nothing is held.
    #[test]
    fn off_holds_nothing_and_allocates_nothing() {
        let cfg = Config::linux();
        let mut t = tcb(&cfg);
        for _ in 0..20 {
            t.pacing_on_send(Instant::ZERO, &cfg, 2000, 2);
            t.pacing_on_control(Instant::ZERO, &cfg);
            assert!(!t.pacing_hold(Instant::ZERO, &cfg));
        }
        assert_eq!(t.snd.pacing.heap_bytes(), 0);
        assert_eq!(t.pacing_deadline(), None);
    }
}
