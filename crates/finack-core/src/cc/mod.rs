//! Congestion control behind one trait: NewReno (RFC 5681 / RFC 6582, or
//! Linux's Reno) and CUBIC (RFC 9438 as Linux's tcp_cubic.c computes it,
//! [`cubic`]). Slow start, fast recovery's window inflation, PRR and the
//! RTO collapse are common and live in [`Congestion`]; an algorithm decides
//! how the window grows and how far it shrinks after a loss.

mod cubic;

use core::fmt::Debug;
use core::time::Duration;

use finack_wire::SeqNumber;

pub use cubic::{CubicParams, HYSTART_ACK_TRAIN, HYSTART_DELAY};

use crate::time::Instant;

/// Which algorithm a connection uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CongestionAlgorithm {
    /// RFC 5681 congestion avoidance with RFC 6582 recovery.
    NewReno,
    /// RFC 9438 (Linux's default).
    Cubic,
}

/// Linux TCP_INFINITE_SSTHRESH, in segments.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// The window and threshold in whole segments, as Linux keeps them
/// (tp->snd_cwnd, tp->snd_ssthresh).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segs {
    /// Congestion window, segments.
    pub(crate) cwnd: u32,
    /// Slow-start threshold, segments ([`INFINITE_SSTHRESH`] before any).
    pub(crate) ssthresh: u32,
}

/// What an acceptable ACK tells congestion control besides the count of
/// segments (Linux `struct ack_sample` plus the socket fields CUBIC reads).
#[derive(Copy, Clone, Debug)]
pub(crate) struct AckSample {
    /// The time of the ACK.
    pub(crate) now: Instant,
    /// RTT of the most recently sent segment it acknowledged, never
    /// retransmitted (Linux ca_rtt_us), µs.
    pub(crate) rtt_us: Option<u32>,
    /// SND.UNA after the ACK and SND.NXT.
    pub(crate) una: SeqNumber,
    pub(crate) nxt: SeqNumber,
    /// The pacing rate Linux would compute (sk_pacing_rate), bytes/s.
    pub(crate) pacing_rate: Option<u64>,
}

/// Linux tcp_cong.c: tcp_slow_start(): grow by the ACKed segments up to
/// ssthresh; returns the ACKed segments left over for congestion
/// avoidance.
pub(crate) fn slow_start(w: &mut Segs, acked: u32) -> u32 {
    let cwnd = w.cwnd.saturating_add(acked).min(w.ssthresh);
    let left = acked - (cwnd - w.cwnd).min(acked);
    w.cwnd = cwnd;
    left
}

/// Linux tcp_cong.c: tcp_cong_avoid_ai(): one segment more for every `per`
/// segments ACKed, counted in `cnt` (tp->snd_cwnd_cnt); credit earned at a
/// larger `per` is spent first.
pub(crate) fn cong_avoid_ai(w: &mut Segs, cnt: &mut u32, per: u32, acked: u32) {
    let per = per.max(1);
    if *cnt >= per {
        *cnt = 0;
        w.cwnd = w.cwnd.saturating_add(1);
    }
    *cnt = cnt.saturating_add(acked);
    if *cnt >= per {
        let delta = *cnt / per;
        *cnt -= delta * per;
        w.cwnd = w.cwnd.saturating_add(delta);
    }
}

/// A congestion-control algorithm: how the window grows once the sender
/// uses it and how far it shrinks after a loss. An algorithm counts either
/// in octets (RFC 5681's NewReno: `on_ack`, `on_loss`) or, as Linux does,
/// in whole segments (`in_segments`: `cong_avoid`, `ssthresh`). Slow
/// start, fast recovery's window inflation, PRR and the RTO collapse are
/// common and live in [`Congestion`]; a new algorithm is one
/// implementation of this trait in one file, overriding what it changes.
pub(crate) trait CongestionOps: Debug + Send {
    /// Counts in segments as Linux does (the `Segs` hooks apply).
    fn in_segments(&self) -> bool {
        false
    }

    /// Linux tp->snd_cwnd_cnt: segments ACKed toward the next increase.
    fn cwnd_cnt(&mut self) -> &mut u32;

    /// Octet counting, congestion avoidance: `acked` new bytes were
    /// acknowledged with the window at `cwnd` (at or above ssthresh).
    /// Returns the new window. Default: RFC 5681 eq. (3), cwnd +=
    /// SMSS*SMSS/cwnd per ACK.
    fn on_ack(&mut self, cwnd: u32, _acked: u32, mss: u32) -> u32 {
        cwnd.saturating_add((mss * mss / cwnd.max(1)).max(1))
    }

    /// Octet counting: ssthresh after a loss with `flight` bytes
    /// outstanding. Default: RFC 5681 eq. (4), max(FlightSize / 2, 2*SMSS).
    fn on_loss(&mut self, _cwnd: u32, flight: u32, mss: u32) -> u32 {
        (flight / 2).max(2 * mss)
    }

    /// Segment counting: the connection is established (Linux
    /// tcp_init_congestion_control(), ca_ops->init).
    fn init(&mut self, _now: Instant, _nxt: SeqNumber) {}

    /// Segment counting: `acked` segments were delivered while the window
    /// limited the sender (Linux ca_ops->cong_avoid). Default: Linux
    /// tcp_cong.c: tcp_reno_cong_avoid(), slow start then one segment
    /// per window of ACKed segments.
    fn cong_avoid(&mut self, w: &mut Segs, mut acked: u32, _now: Instant) {
        if w.cwnd < w.ssthresh {
            acked = slow_start(w, acked);
            if acked == 0 {
                return;
            }
        }
        let per = w.cwnd;
        cong_avoid_ai(w, self.cwnd_cnt(), per, acked);
    }

    /// Segment counting: ssthresh for a loss or congestion signal (Linux
    /// ca_ops->ssthresh). Default: Linux tcp_cong.c: tcp_reno_ssthresh(),
    /// half the window, at least two segments.
    fn ssthresh(&mut self, w: &Segs, _flight: u32) -> u32 {
        (w.cwnd >> 1).max(2)
    }

    /// Linux ca_ops->set_state(TCP_CA_Loss): a retransmission timeout.
    fn on_loss_state(&mut self, _now: Instant, _nxt: SeqNumber) {}

    /// Linux ca_ops->cwnd_event(CA_EVENT_TX_START): data leaves with
    /// nothing in flight; the last data left at `last_send`.
    fn on_tx_start(&mut self, _now: Instant, _last_send: Instant) {}

    /// Linux ca_ops->pkts_acked(): an ACK with its RTT sample, before the
    /// window moves for it.
    fn on_rtt_sample(&mut self, _w: &mut Segs, _s: &AckSample) {}
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
    pub(crate) fn new(cfg: &crate::config::Config) -> Congestion {
        Congestion {
            w: Window {
                cwnd: 0,
                ssthresh: u32::MAX,
            },
            ops: new(cfg),
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

    /// The segment size changed from `old` to `new` bytes (path MTU
    /// discovery, or the bound to half the peer's window). Linux counts the
    /// window in segments and leaves that count alone, so the window in
    /// bytes follows the segments (Linux tcp_output.c:
    /// tcp_simple_retransmit(), which does not touch snd_cwnd because "the
    /// units changed"); the threshold likewise unless it is still infinite.
    pub(crate) fn rescale_mss(&mut self, old: u32, new: u32) {
        if old == 0 || new == old {
            return;
        }
        let scale = |bytes: u32| (bytes / old).max(1).saturating_mul(new);
        self.w.cwnd = scale(self.w.cwnd);
        if self.w.ssthresh != u32::MAX {
            self.w.ssthresh = scale(self.w.ssthresh);
        }
    }

    /// The window in segments (Linux's units).
    fn segs(&self, mss: u32) -> Segs {
        let mss = mss.max(1);
        Segs {
            cwnd: self.w.cwnd / mss,
            ssthresh: if self.w.ssthresh == u32::MAX {
                INFINITE_SSTHRESH
            } else {
                self.w.ssthresh / mss
            },
        }
    }

    fn set_segs(&mut self, s: Segs, mss: u32) {
        self.w.cwnd = s.cwnd.saturating_mul(mss.max(1));
        self.w.ssthresh = if s.ssthresh >= INFINITE_SSTHRESH {
            u32::MAX
        } else {
            s.ssthresh.saturating_mul(mss.max(1))
        };
    }

    /// ssthresh for a loss or congestion signal, in octets, from the
    /// algorithm in its own units.
    fn loss_ssthresh(&mut self, flight: u32, mss: u32) -> u32 {
        if self.ops.in_segments() {
            let s = self.segs(mss);
            let th = self.ops.ssthresh(&s, flight / mss.max(1));
            th.saturating_mul(mss.max(1))
        } else {
            self.ops.on_loss(self.w.cwnd, flight, mss)
        }
    }

    /// Sending again after `idle` without data in flight (RFC 5681 §4.1;
    /// Linux tcp_output.c: tcp_cwnd_restart(), in segments when the
    /// algorithm counts them).
    pub(crate) fn restart_after_idle(
        &mut self,
        how: crate::config::IdleRestart,
        idle: Duration,
        rto: Duration,
        iw: u32,
        mss: u32,
    ) {
        use crate::config::IdleRestart;
        if idle <= rto || how == IdleRestart::Keep {
            return;
        }
        let unit = if self.ops.in_segments() {
            mss.max(1)
        } else {
            1
        };
        let cwnd = self.w.cwnd / unit;
        let restart = (iw / unit).min(cwnd);
        if how == IdleRestart::Rfc5681 {
            self.w.cwnd = restart * unit;
            return;
        }
        // tcp_current_ssthresh(): at least three quarters of the window.
        let current = ((cwnd >> 1) + (cwnd >> 2)).saturating_mul(unit);
        self.w.ssthresh = self.w.ssthresh.max(current);
        let mut left = idle.saturating_sub(rto);
        let mut w = cwnd;
        while !left.is_zero() && w > restart && !rto.is_zero() {
            w >>= 1;
            left = left.saturating_sub(rto);
        }
        self.w.cwnd = w.max(restart) * unit;
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
    /// window is left to PRR (RFC 6937 §3 "on entering recovery"; Linux
    /// tcp_init_cwnd_reduction() also clears snd_cwnd_cnt).
    pub(crate) fn begin_reduction(&mut self, flight: u32, mss: u32) {
        self.w.ssthresh = self.loss_ssthresh(flight, mss);
        *self.ops.cwnd_cnt() = 0;
    }

    /// The initial window, once the MSS is known (RFC 5681 §3.1, RFC 6928).
    pub(crate) fn set_initial(&mut self, cwnd: u32) {
        self.w.cwnd = cwnd;
    }

    /// ssthresh back to its initial, unbounded value (Linux
    /// tcp_init_metrics(): the handshake's timeouts may have lowered it).
    pub(crate) fn reset_ssthresh(&mut self) {
        self.w.ssthresh = u32::MAX;
    }

    /// The connection is established: the algorithm starts (Linux
    /// tcp_init_transfer() → tcp_init_congestion_control()).
    pub(crate) fn init(&mut self, now: Instant, nxt: SeqNumber) {
        self.ops.init(now, nxt);
    }

    /// New data acknowledged outside loss recovery while the window
    /// limits the sender. In segments (Linux tcp_cong_control() →
    /// ca_ops->cong_avoid) for an algorithm that counts them; otherwise
    /// slow start below ssthresh (RFC 5681 §3.1, growing by at most `abc`
    /// segments per ACK, RFC 3465; `None`: by all that was acknowledged,
    /// up to ssthresh), `on_ack` above it.
    pub(crate) fn on_new_ack(&mut self, acked: u32, mss: u32, abc: Option<u32>, now: Instant) {
        let mss = mss.max(1);
        if self.ops.in_segments() {
            let segs = acked.div_ceil(mss);
            if segs == 0 {
                return;
            }
            let mut s = self.segs(mss);
            self.ops.cong_avoid(&mut s, segs, now);
            self.set_segs(s, mss);
            return;
        }
        let w = &mut self.w;
        if w.cwnd < w.ssthresh {
            w.cwnd = match abc {
                Some(l) => w.cwnd.saturating_add(acked.min(l.saturating_mul(mss))),
                None => w.cwnd.saturating_add(acked).min(w.ssthresh),
            };
        } else {
            w.cwnd = self.ops.on_ack(w.cwnd, acked, mss);
        }
    }

    /// An ACK's RTT sample, before the window moves for it (Linux
    /// tcp_clean_rtx_queue() → ca_ops->pkts_acked()): CUBIC's HyStart may
    /// end slow start here.
    pub(crate) fn on_rtt_sample(&mut self, s: &AckSample, mss: u32) {
        if !self.ops.in_segments() {
            return;
        }
        let mut w = self.segs(mss);
        let before = w;
        self.ops.on_rtt_sample(&mut w, s);
        if w != before {
            self.set_segs(w, mss);
        }
    }

    /// Data leaves with nothing in flight (Linux CA_EVENT_TX_START).
    pub(crate) fn on_tx_start(&mut self, now: Instant, last_send: Instant) {
        self.ops.on_tx_start(now, last_send);
    }

    /// Fast retransmit starts recovery without PRR (RFC 5681 §3.2 step 2):
    /// ssthresh from the algorithm; cwnd = ssthresh with SACK (RFC 6675 §5
    /// (4.2)), plus the DupThresh segments that left the network for
    /// NewReno (RFC 6582 §3.2).
    pub(crate) fn on_enter_recovery(&mut self, flight: u32, mss: u32, sack: bool, dupthresh: u32) {
        self.w.ssthresh = self.loss_ssthresh(flight, mss);
        *self.ops.cwnd_cnt() = 0;
        self.w.cwnd = if sack {
            self.w.ssthresh
        } else {
            self.w.ssthresh + dupthresh * mss
        };
    }

    /// A further duplicate ACK in NewReno recovery: a segment left the
    /// network, inflate by one (RFC 5681 §3.2 step 4).
    pub(crate) fn on_recovery_dupack(&mut self, mss: u32) {
        self.w.cwnd = self.w.cwnd.saturating_add(mss);
    }

    /// A partial ACK in NewReno recovery (RFC 6582 §3.2 step 4): deflate by
    /// what was acknowledged, add back one segment if it was at least one.
    pub(crate) fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        let w = &mut self.w;
        w.cwnd = w.cwnd.saturating_sub(acked);
        if acked >= mss {
            w.cwnd += mss;
        }
        w.cwnd = w.cwnd.max(mss);
    }

    /// The ACK that ends recovery (RFC 6582 §3.2 step 3): deflate to
    /// min(ssthresh, max(FlightSize, SMSS) + SMSS).
    pub(crate) fn on_full_ack(&mut self, flight: u32, mss: u32) {
        self.w.cwnd = self.w.ssthresh.min(flight.max(mss) + mss);
    }

    /// A retransmission timeout (RFC 5681 §3.1, RFC 9293 MUST-19; Linux
    /// tcp_enter_loss()): ssthresh from the algorithm unless `keep_ssthresh`
    /// (a reduction already made for this window), the window back to one
    /// segment, the algorithm told of the loss state; `nxt` is SND.NXT.
    pub(crate) fn on_rto(
        &mut self,
        flight: u32,
        mss: u32,
        now: Instant,
        nxt: SeqNumber,
        keep_ssthresh: bool,
    ) {
        if !keep_ssthresh {
            self.w.ssthresh = self.loss_ssthresh(flight, mss);
        }
        self.w.cwnd = mss;
        *self.ops.cwnd_cnt() = 0;
        self.ops.on_loss_state(now, nxt);
    }

    /// A tail loss probe repaired a loss (RFC 8985 §7.4): "invoke congestion
    /// control" as for a loss, without going below one segment.
    pub(crate) fn on_probe_repaired_loss(&mut self, flight: u32, mss: u32) {
        self.w.ssthresh = self.loss_ssthresh(flight, mss);
        *self.ops.cwnd_cnt() = 0;
        self.w.cwnd = self.w.ssthresh.max(mss);
    }

    /// Heap bytes the algorithm's state holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.ops)
    }
}

/// NewReno: RFC 5681 §3.1 in octets, or Linux's tcp_cong.c Reno in
/// segments (`Config::cong_in_segments`).
#[derive(Debug, Default)]
pub(crate) struct NewReno {
    segments: bool,
    cwnd_cnt: u32,
}

impl CongestionOps for NewReno {
    fn in_segments(&self) -> bool {
        self.segments
    }

    fn cwnd_cnt(&mut self) -> &mut u32 {
        &mut self.cwnd_cnt
    }
}

/// A boxed algorithm for a connection.
pub(crate) fn new(cfg: &crate::config::Config) -> alloc::boxed::Box<dyn CongestionOps> {
    match cfg.congestion {
        CongestionAlgorithm::NewReno => alloc::boxed::Box::new(NewReno {
            segments: cfg.cong_in_segments,
            cwnd_cnt: 0,
        }),
        CongestionAlgorithm::Cubic => alloc::boxed::Box::new(cubic::Cubic::new(cfg.cubic)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    #[test]
    fn rfc5681_newreno_halves_the_flight_and_grows_one_segment_per_rtt() {
        let mut r = NewReno::default();
        assert_eq!(r.on_loss(20 * MSS, 20 * MSS, MSS), 10 * MSS);
        assert_eq!(r.on_loss(3 * MSS, 3 * MSS, MSS), 2 * MSS);
        // One window's worth of ACKs adds about one segment.
        let mut cwnd = 10 * MSS;
        for _ in 0..10 {
            cwnd = r.on_ack(cwnd, MSS, MSS);
        }
        assert!((10 * MSS + 900..=11 * MSS).contains(&cwnd), "{cwnd}");
    }

    #[test]
    fn linux_slow_start_carries_the_rest_into_congestion_avoidance() {
        // tcp_slow_start(): 8 + 5 capped at ssthresh 10, 3 left over.
        let mut w = Segs {
            cwnd: 8,
            ssthresh: 10,
        };
        assert_eq!(slow_start(&mut w, 5), 3);
        assert_eq!(w.cwnd, 10);
    }

    #[test]
    fn linux_cong_avoid_ai_counts_segments() {
        let mut w = Segs {
            cwnd: 10,
            ssthresh: 5,
        };
        let mut cnt = 0;
        // 9 segments: no increase yet; the 10th makes one.
        cong_avoid_ai(&mut w, &mut cnt, 10, 9);
        assert_eq!((w.cwnd, cnt), (10, 9));
        cong_avoid_ai(&mut w, &mut cnt, 10, 1);
        assert_eq!((w.cwnd, cnt), (11, 0));
        // A stretch ACK of 25 at 11 per step: two steps, 3 carried.
        cong_avoid_ai(&mut w, &mut cnt, 11, 25);
        assert_eq!((w.cwnd, cnt), (13, 3));
        // Credit earned at a larger step is spent first.
        cnt = 20;
        cong_avoid_ai(&mut w, &mut cnt, 13, 1);
        assert_eq!((w.cwnd, cnt), (14, 1));
    }

    #[test]
    fn linux_reno_ssthresh_is_half_the_window() {
        let cfg = crate::config::Config {
            congestion: CongestionAlgorithm::NewReno,
            ..crate::config::Config::linux()
        };
        let mut c = Congestion::new(&cfg);
        c.set_initial(21 * MSS);
        // tcp_reno_ssthresh(): 21 >> 1 = 10 segments, whatever is in flight.
        c.begin_reduction(4 * MSS, MSS);
        assert_eq!(c.ssthresh(), 10 * MSS);
        // Congestion avoidance: 10 ACKed segments at cwnd 10 add one.
        c.set_initial(10 * MSS);
        for _ in 0..10 {
            c.on_new_ack(MSS, MSS, None, Instant::ZERO);
        }
        assert_eq!(c.cwnd(), 11 * MSS);
    }
}
