//! Congestion control behind one trait: NewReno (RFC 5681 / RFC 6582) and CUBIC
//! (RFC 9438). Slow start, fast recovery's window inflation and the RTO
//! collapse are common to both and live in the TCB; an algorithm decides how the
//! window grows in congestion avoidance and how far it shrinks after a loss.

use core::fmt::Debug;
use core::time::Duration;

use crate::time::Instant;

/// Which algorithm a connection uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CongestionAlgorithm {
    /// RFC 5681 congestion avoidance with RFC 6582 recovery.
    NewReno,
    /// RFC 9438 (Linux's default).
    Cubic,
}

/// A congestion-control algorithm. Windows are in bytes. `on_ack` and
/// `on_loss` are what algorithms differ in; the other hooks have the RFC 5681 /
/// RFC 6582 / RFC 6675 behaviour as their default, so a new algorithm is one
/// implementation of this trait in one file, overriding what it changes.
pub(crate) trait CongestionOps: Debug + Send {
    /// Congestion avoidance: `acked` new bytes were acknowledged with the window
    /// at `cwnd` (at or above ssthresh). Returns the new window.
    fn on_ack(
        &mut self,
        cwnd: u32,
        acked: u32,
        mss: u32,
        now: Instant,
        srtt: Option<Duration>,
    ) -> u32;
    /// A loss was detected with the window at `cwnd` and `flight` bytes
    /// outstanding. Returns the new ssthresh.
    fn on_loss(&mut self, cwnd: u32, flight: u32, mss: u32, now: Instant) -> u32;

    /// New data acknowledged outside loss recovery: slow start below ssthresh
    /// (RFC 5681 §3.1, growing by at most `abc` segments per ACK, RFC 3465;
    /// `None`: by all that was acknowledged, up to ssthresh, as Linux's
    /// tcp_cong.c: tcp_slow_start() does), `on_ack` above it.
    fn on_new_ack(
        &mut self,
        w: &mut Window,
        acked: u32,
        mss: u32,
        abc: Option<u32>,
        now: Instant,
        srtt: Option<Duration>,
    ) {
        if w.cwnd < w.ssthresh {
            w.cwnd = match abc {
                Some(l) => w.cwnd.saturating_add(acked.min(l.saturating_mul(mss))),
                None => w.cwnd.saturating_add(acked).min(w.ssthresh),
            };
        } else {
            w.cwnd = self.on_ack(w.cwnd, acked, mss, now, srtt);
        }
    }

    /// Fast retransmit starts recovery (RFC 5681 §3.2 step 2): ssthresh from
    /// `on_loss`; cwnd = ssthresh with SACK (RFC 6675 §5 (4.2)), plus the
    /// DupThresh segments that left the network for NewReno (RFC 6582 §3.2).
    fn on_enter_recovery(
        &mut self,
        w: &mut Window,
        flight: u32,
        mss: u32,
        now: Instant,
        sack: bool,
        dupthresh: u32,
    ) {
        w.ssthresh = self.on_loss(w.cwnd, flight, mss, now);
        w.cwnd = if sack {
            w.ssthresh
        } else {
            w.ssthresh + dupthresh * mss
        };
    }

    /// A further duplicate ACK in NewReno recovery: a segment left the
    /// network, inflate by one (RFC 5681 §3.2 step 4).
    fn on_recovery_dupack(&mut self, w: &mut Window, mss: u32) {
        w.cwnd = w.cwnd.saturating_add(mss);
    }

    /// A partial ACK in NewReno recovery (RFC 6582 §3.2 step 4): deflate by
    /// what was acknowledged, add back one segment if it was at least one.
    fn on_partial_ack(&mut self, w: &mut Window, acked: u32, mss: u32) {
        w.cwnd = w.cwnd.saturating_sub(acked);
        if acked >= mss {
            w.cwnd += mss;
        }
        w.cwnd = w.cwnd.max(mss);
    }

    /// The ACK that ends recovery (RFC 6582 §3.2 step 3): deflate to
    /// min(ssthresh, max(FlightSize, SMSS) + SMSS).
    fn on_full_ack(&mut self, w: &mut Window, flight: u32, mss: u32) {
        w.cwnd = w.ssthresh.min(flight.max(mss) + mss);
    }

    /// A retransmission timeout (RFC 5681 §3.1, RFC 9293 MUST-19): ssthresh
    /// from `on_loss`, the window back to one segment.
    fn on_rto(&mut self, w: &mut Window, flight: u32, mss: u32, now: Instant) {
        w.ssthresh = self.on_loss(w.cwnd, flight, mss, now);
        w.cwnd = mss;
    }

    /// A tail loss probe repaired a loss (RFC 8985 §7.4): "invoke congestion
    /// control" as for a loss, without going below one segment.
    fn on_probe_repaired_loss(&mut self, w: &mut Window, flight: u32, mss: u32, now: Instant) {
        w.ssthresh = self.on_loss(w.cwnd, flight, mss, now);
        w.cwnd = w.ssthresh.max(mss);
    }
}

/// The two numbers congestion control owns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Congestion window, bytes.
    pub(crate) cwnd: u32,
    /// Slow-start threshold, bytes.
    pub(crate) ssthresh: u32,
}

/// A connection's congestion control: the window and threshold it owns, and
/// the algorithm that moves them.
/// The rest of the engine reads the window here and changes it only through
/// these hooks.
#[derive(Debug)]
pub(crate) struct Congestion {
    w: Window,
    ops: alloc::boxed::Box<dyn CongestionOps>,
}

impl Congestion {
    pub(crate) fn new(algo: CongestionAlgorithm) -> Congestion {
        Congestion {
            w: Window {
                cwnd: 0,
                ssthresh: u32::MAX,
            },
            ops: new(algo),
        }
    }

    pub(crate) fn cwnd(&self) -> u32 {
        self.w.cwnd
    }

    pub(crate) fn ssthresh(&self) -> u32 {
        self.w.ssthresh
    }

    /// Set the window (path MTU probing rescales it: tcb/mtu.rs).
    pub(crate) fn set_cwnd(&mut self, cwnd: u32) {
        self.w.cwnd = cwnd;
    }

    /// Linux tcp_current_ssthresh() applied: the threshold is at least
    /// `floor` unless it is still infinite.
    pub(crate) fn raise_ssthresh(&mut self, floor: u32) {
        if self.w.ssthresh != u32::MAX {
            self.w.ssthresh = self.w.ssthresh.max(floor);
        }
    }

    /// The segment size fell from `old` to `new` bytes (path MTU discovery).
    /// Linux counts the window in segments and leaves that count alone, so
    /// the window in bytes shrinks with the segments (Linux tcp_output.c:
    /// tcp_simple_retransmit(), which does not touch snd_cwnd because "the
    /// units changed"); the threshold likewise unless it is still infinite.
    pub(crate) fn rescale_mss(&mut self, old: u32, new: u32) {
        if old == 0 || new >= old {
            return;
        }
        let scale = |bytes: u32| (bytes / old).max(1).saturating_mul(new);
        self.w.cwnd = scale(self.w.cwnd);
        if self.w.ssthresh != u32::MAX {
            self.w.ssthresh = scale(self.w.ssthresh);
        }
    }

    /// Sending again after `idle` without data in flight (RFC 5681 §4.1;
    /// Linux tcp_output.c: tcp_cwnd_restart()).
    pub(crate) fn restart_after_idle(
        &mut self,
        how: crate::config::IdleRestart,
        idle: Duration,
        rto: Duration,
        iw: u32,
    ) {
        use crate::config::IdleRestart;
        if idle <= rto || how == IdleRestart::Keep {
            return;
        }
        let restart = iw.min(self.w.cwnd);
        if how == IdleRestart::Rfc5681 {
            self.w.cwnd = restart;
            return;
        }
        // tcp_current_ssthresh(): at least three quarters of the window.
        let cwnd = self.w.cwnd;
        self.w.ssthresh = self.w.ssthresh.max((cwnd >> 1) + (cwnd >> 2));
        let mut left = idle.saturating_sub(rto);
        let mut w = cwnd;
        while !left.is_zero() && w > restart && !rto.is_zero() {
            w >>= 1;
            left = left.saturating_sub(rto);
        }
        self.w.cwnd = w.max(restart);
    }

    /// Proportional Rate Reduction (RFC 6937 §3; Linux tcp_input.c:
    /// tcp_cwnd_reduction()), counted in segments as Linux counts them:
    /// during a reduction the window becomes what is in flight (`pipe`)
    /// plus what may be sent for this ACK. `delivered` is the total
    /// delivered since the reduction began, `out` what was sent since,
    /// `newly` what this ACK delivered, `prior` the window when it began;
    /// with no more in flight than ssthresh it grows back by what was
    /// delivered, one segment more when SND.UNA advanced (PRR-SSRB as
    /// Linux 5.10 and later do it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prr(
        &mut self,
        pipe: u32,
        delivered: u32,
        out: u32,
        newly: u32,
        prior: u32,
        una_advanced: bool,
        mss: u32,
    ) {
        let ssthresh = i64::from(self.w.ssthresh / mss.max(1));
        let (pipe, delivered, out, newly) = (
            i64::from(pipe),
            i64::from(delivered),
            i64::from(out),
            i64::from(newly),
        );
        let delta = ssthresh - pipe;
        let mut sndcnt = if delta < 0 {
            // ceil(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let prior = i64::from(prior.max(1));
            (ssthresh * delivered + prior - 1) / prior - out
        } else {
            let mut n = (delivered - out).max(newly);
            if una_advanced {
                n += 1;
            }
            n.min(delta)
        };
        // Force the fast retransmit upon entering recovery.
        if out == 0 {
            sndcnt = sndcnt.max(1);
        }
        let cwnd = (pipe + sndcnt.max(0)) * i64::from(mss);
        self.w.cwnd = cwnd.clamp(i64::from(mss), i64::from(u32::MAX)) as u32;
    }

    /// The reduction proved needless: back to the window before it, if
    /// larger (Linux tcp_undo_cwnd_reduction() with tcp_reno_undo_cwnd(),
    /// ssthresh kept).
    pub(crate) fn undo(&mut self, prior_cwnd: u32) {
        self.w.cwnd = self.w.cwnd.max(prior_cwnd);
    }

    /// Recovery is over: continue from ssthresh (Linux tcp_end_cwnd_reduction()).
    pub(crate) fn end_reduction(&mut self) {
        self.w.cwnd = self.w.ssthresh;
    }

    /// Start of a reduction under PRR: ssthresh as the algorithm says; the
    /// window is left to PRR (RFC 6937 §3 "on entering recovery").
    pub(crate) fn begin_reduction(&mut self, flight: u32, mss: u32, now: Instant) {
        self.w.ssthresh = self.ops.on_loss(self.w.cwnd, flight, mss, now);
    }

    /// The initial window, once the MSS is known (RFC 5681 §3.1, RFC 6928).
    pub(crate) fn set_initial(&mut self, cwnd: u32) {
        self.w.cwnd = cwnd;
    }

    pub(crate) fn on_new_ack(
        &mut self,
        acked: u32,
        mss: u32,
        abc: Option<u32>,
        now: Instant,
        srtt: Option<Duration>,
    ) {
        self.ops.on_new_ack(&mut self.w, acked, mss, abc, now, srtt);
    }

    pub(crate) fn on_enter_recovery(
        &mut self,
        flight: u32,
        mss: u32,
        now: Instant,
        sack: bool,
        dupthresh: u32,
    ) {
        self.ops
            .on_enter_recovery(&mut self.w, flight, mss, now, sack, dupthresh);
    }

    pub(crate) fn on_recovery_dupack(&mut self, mss: u32) {
        self.ops.on_recovery_dupack(&mut self.w, mss);
    }

    pub(crate) fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        self.ops.on_partial_ack(&mut self.w, acked, mss);
    }

    pub(crate) fn on_full_ack(&mut self, flight: u32, mss: u32) {
        self.ops.on_full_ack(&mut self.w, flight, mss);
    }

    pub(crate) fn on_rto(&mut self, flight: u32, mss: u32, now: Instant) {
        self.ops.on_rto(&mut self.w, flight, mss, now);
    }

    pub(crate) fn on_probe_repaired_loss(&mut self, flight: u32, mss: u32, now: Instant) {
        self.ops
            .on_probe_repaired_loss(&mut self.w, flight, mss, now);
    }

    /// Heap bytes the algorithm's state holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.ops)
    }
}

/// RFC 5681 §3.1.
#[derive(Debug, Default)]
pub(crate) struct NewReno;

impl CongestionOps for NewReno {
    fn on_ack(&mut self, cwnd: u32, _acked: u32, mss: u32, _: Instant, _: Option<Duration>) -> u32 {
        // Eq. (3): cwnd += SMSS*SMSS/cwnd per ACK.
        cwnd.saturating_add((mss * mss / cwnd.max(1)).max(1))
    }

    fn on_loss(&mut self, _cwnd: u32, flight: u32, mss: u32, _: Instant) -> u32 {
        // Eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS).
        (flight / 2).max(2 * mss)
    }
}

/// RFC 9438 §5.
#[derive(Debug, Default)]
pub(crate) struct Cubic {
    /// W_max in segments: the window just before the last reduction.
    w_max: f64,
    /// K in seconds: when the cubic curve regains W_max.
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch: Option<Instant>,
    /// The Reno-friendly estimate W_est, in segments (§4.3).
    w_est: f64,
}

/// C of RFC 9438 §5.
const C: f64 = 0.4;
/// β_cubic of RFC 9438 §4.6.
const BETA: f64 = 0.7;

/// Cube root by Newton's method (no libm in `no_std`).
fn cbrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = if x > 1.0 { x / 3.0 } else { 1.0 };
    for _ in 0..64 {
        let next = y - (y * y * y - x) / (3.0 * y * y);
        if (next - y).abs() < 1e-12 * y.max(1.0) {
            return next;
        }
        y = next;
    }
    y
}

impl Cubic {
    /// W_cubic(t) of RFC 9438 eq. (1), in segments.
    fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        C * d * d * d + self.w_max
    }
}

impl CongestionOps for Cubic {
    fn on_ack(
        &mut self,
        cwnd: u32,
        acked: u32,
        mss: u32,
        now: Instant,
        srtt: Option<Duration>,
    ) -> u32 {
        let mss_f = f64::from(mss.max(1));
        let cwnd_seg = f64::from(cwnd) / mss_f;
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                // §4.8: a new epoch starts with the first ACK in congestion
                // avoidance; without a previous loss the curve starts here.
                if self.w_max < cwnd_seg {
                    self.w_max = cwnd_seg;
                    self.k = 0.0;
                }
                self.w_est = cwnd_seg;
                self.epoch = Some(now);
                now
            }
        };
        let rtt = srtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = (now - epoch).as_secs_f64();
        // §4.3: the Reno-friendly region, α_cubic = 3(1-β)/(1+β).
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * f64::from(acked) / f64::from(cwnd.max(1));
        // §4.2: aim at W_cubic one RTT ahead, bounded to 1.5x the window.
        let target = self.w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg);
        let next = if self.w_cubic(t) < self.w_est {
            // Reno-friendly: grow like Reno would.
            self.w_est
        } else {
            // §4.4/§4.5: concave or convex region; grow by
            // (target - cwnd)/cwnd segments per acknowledged segment.
            cwnd_seg + (target - cwnd_seg) / cwnd_seg * (f64::from(acked) / mss_f)
        };
        let bytes = (next * mss_f) as u32;
        bytes.max(cwnd)
    }

    fn on_loss(&mut self, cwnd: u32, _flight: u32, mss: u32, _now: Instant) -> u32 {
        let mss_f = f64::from(mss.max(1));
        let cwnd_seg = f64::from(cwnd) / mss_f;
        // §4.7 fast convergence: release bandwidth when W_max keeps shrinking.
        self.w_max = if cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + BETA) / 2.0
        } else {
            cwnd_seg
        };
        // §4.6: multiplicative decrease by β; eq. (2): K = cbrt(W_max (1-β) / C).
        let reduced = cwnd_seg * BETA;
        self.k = cbrt((self.w_max - reduced) / C);
        self.epoch = None;
        ((reduced * mss_f) as u32).max(2 * mss)
    }
}

/// A boxed algorithm for a connection.
pub(crate) fn new(alg: CongestionAlgorithm) -> alloc::boxed::Box<dyn CongestionOps> {
    match alg {
        CongestionAlgorithm::NewReno => alloc::boxed::Box::new(NewReno),
        CongestionAlgorithm::Cubic => alloc::boxed::Box::new(Cubic::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    #[test]
    fn cube_root() {
        for x in [0.001, 0.5, 1.0, 8.0, 27.0, 1e6] {
            let r = cbrt(x);
            assert!((r * r * r - x).abs() < 1e-6 * x.max(1.0), "{x}: {r}");
        }
    }

    #[test]
    fn rfc5681_newreno_halves_the_flight_and_grows_one_segment_per_rtt() {
        let mut r = NewReno;
        assert_eq!(r.on_loss(20 * MSS, 20 * MSS, MSS, Instant::ZERO), 10 * MSS);
        assert_eq!(r.on_loss(3 * MSS, 3 * MSS, MSS, Instant::ZERO), 2 * MSS);
        // One window's worth of ACKs adds about one segment.
        let mut cwnd = 10 * MSS;
        for _ in 0..10 {
            cwnd = r.on_ack(cwnd, MSS, MSS, Instant::ZERO, None);
        }
        assert!((10 * MSS + 900..=11 * MSS).contains(&cwnd), "{cwnd}");
    }

    #[test]
    fn rfc9438_4_6_cubic_reduces_by_beta_and_returns_to_w_max_at_k() {
        let mut c = Cubic::default();
        let ssthresh = c.on_loss(100 * MSS, 100 * MSS, MSS, Instant::ZERO);
        assert_eq!(ssthresh, 70 * MSS, "β = 0.7");
        // K = cbrt(100 * 0.3 / 0.4) = cbrt(75) ≈ 4.217 s.
        assert!((c.k - 4.2172).abs() < 1e-3, "{}", c.k);
        assert!((c.w_cubic(c.k) - 100.0).abs() < 1e-9);
        // Growth after the loss: concave up to W_max around K, then convex.
        let rtt = Some(Duration::from_millis(100));
        let mut cwnd = ssthresh;
        let mut now = Instant::ZERO;
        let mut at_k = 0;
        for step in 0..1000 {
            now += Duration::from_millis(10);
            // One window of ACKs per RTT: acked = cwnd / 10 per 10 ms.
            cwnd = c.on_ack(cwnd, cwnd / 10, MSS, now, rtt);
            if step == 420 {
                at_k = cwnd;
            }
        }
        let at_k = f64::from(at_k) / f64::from(MSS);
        assert!((95.0..=106.0).contains(&at_k), "near W_max at K: {at_k}");
        assert!(
            f64::from(cwnd) / f64::from(MSS) > 110.0,
            "convex growth beyond W_max"
        );
    }

    #[test]
    fn rfc9438_4_7_fast_convergence() {
        let mut c = Cubic::default();
        c.on_loss(100 * MSS, 100 * MSS, MSS, Instant::ZERO);
        c.on_loss(80 * MSS, 80 * MSS, MSS, Instant::ZERO);
        assert!(
            (c.w_max - 68.0).abs() < 1e-9,
            "80 * (1 + 0.7) / 2 = 68: {}",
            c.w_max
        );
    }
}
