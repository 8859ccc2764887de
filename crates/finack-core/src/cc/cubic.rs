//! CUBIC (RFC 9438) with HyStart, in the integer arithmetic of Linux's
//! net/ipv4/tcp_cubic.c: the window in segments, time in jiffies (HZ =
//! 1000, so milliseconds) for the cubic curve and in microseconds for
//! HyStart, K and the curve in units of 2^-10 s, the cube root from a
//! table refined by one Newton step. Every step below names the kernel
//! function it follows.

use finack_wire::SeqNumber;

use super::{AckSample, CongestionOps, Segs};
use crate::time::Instant;

/// Linux BICTCP_BETA_SCALE: β is in units of 1/1024.
const BETA_SCALE: u32 = 1024;
/// Linux BICTCP_HZ: the curve's time unit is 2^-10 s.
const CURVE_HZ_SHIFT: u32 = 10;
/// Jiffies per second (Linux HZ; the kernels packetdrill runs on use 1000).
const HZ: u32 = 1000;
/// Linux bic_scale (read-only module parameter): C = 41/1024 ≈ 0.4.
const BIC_SCALE: u32 = 41;
/// β the module loads with: the Reno-friendly scale below is computed once
/// from it at module load (cubictcp_register()), whatever `beta` becomes.
const BETA_AT_LOAD: u32 = 717;
/// Linux HYSTART_MIN_SAMPLES: RTT samples per round before the delay test.
const HYSTART_MIN_SAMPLES: u8 = 8;
/// Linux HYSTART_DELAY_MIN / HYSTART_DELAY_MAX, microseconds.
const HYSTART_DELAY_MIN: u32 = 4000;
const HYSTART_DELAY_MAX: u32 = 16000;
/// Linux sk_gso_max_size of the device (GSO_LEGACY_MAX_SIZE).
const GSO_MAX_SIZE: u64 = 65_536;

/// HyStart detection methods (Linux HYSTART_ACK_TRAIN, HYSTART_DELAY).
pub const HYSTART_ACK_TRAIN: u8 = 1;
/// See [`HYSTART_ACK_TRAIN`].
pub const HYSTART_DELAY: u8 = 2;

/// CUBIC's tunables: Linux's writable module parameters
/// (/sys/module/tcp_cubic/parameters/...), with their defaults.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CubicParams {
    /// `fast_convergence`: lower W_max further when losses come before
    /// the window regains it (RFC 9438 §4.7).
    pub fast_convergence: bool,
    /// `beta`: the multiplicative decrease, in 1/1024 (717 ≈ 0.7).
    pub beta: u32,
    /// `tcp_friendliness`: the Reno-friendly region (RFC 9438 §4.3).
    pub tcp_friendliness: bool,
    /// `hystart`: hybrid slow start on.
    pub hystart: bool,
    /// `hystart_detect`: bit 1 the ACK-train test, bit 2 the delay test.
    pub hystart_detect: u8,
    /// `hystart_low_window`: HyStart only from this window (segments) up.
    pub hystart_low_window: u32,
    /// `hystart_ack_delta_us`: ACKs this close (µs) form a train.
    pub hystart_ack_delta_us: u32,
}

impl Default for CubicParams {
    fn default() -> Self {
        CubicParams {
            fast_convergence: true,
            beta: BETA_AT_LOAD,
            tcp_friendliness: true,
            hystart: true,
            hystart_detect: HYSTART_ACK_TRAIN | HYSTART_DELAY,
            hystart_low_window: 16,
            hystart_ack_delta_us: 2000,
        }
    }
}

/// Linux `struct bictcp`: the state of the curve and of HyStart.
#[derive(Debug, Default)]
pub(crate) struct Cubic {
    p: CubicParams,
    /// Linux tp->snd_cwnd_cnt: segments acknowledged toward the next
    /// increase.
    cwnd_cnt: u32,
    /// ACKed segments per one-segment increase.
    cnt: u32,
    /// W_max, segments.
    last_max_cwnd: u32,
    /// The window and the jiffy when `cnt` was last computed.
    last_cwnd: u32,
    last_time: u32,
    /// The curve's plateau (segments) and the time to reach it (2^-10 s).
    origin_point: u32,
    k: u32,
    /// Least RTT seen, µs (0: none yet).
    delay_min: u32,
    /// Jiffy the congestion-avoidance epoch began (Linux uses 0 for none).
    epoch_start: Option<u32>,
    /// Segments acknowledged in this epoch, for the Reno estimate.
    ack_cnt: u32,
    /// The Reno-friendly window estimate, segments.
    tcp_cwnd: u32,
    /// HyStart: samples in this round, exit found, the round's start
    /// (µs), its last sequence, the last ACK of a train (µs) and the
    /// round's least RTT (µs).
    sample_cnt: u8,
    found: bool,
    round_start: u32,
    end_seq: Option<SeqNumber>,
    last_ack: u32,
    curr_rtt: u32,
}

/// Linux tcp_jiffies32 for our clock (HZ = 1000).
fn jiffies(now: Instant) -> u32 {
    now.as_millis() as u32
}

/// Linux tcp_mstamp in microseconds, truncated to 32 bits as bictcp_clock_us().
fn clock_us(now: Instant) -> u32 {
    now.as_micros() as u32
}

/// Linux usecs_to_jiffies(): rounded up.
fn usecs_to_jiffies(us: u32) -> u64 {
    let per = u64::from(1_000_000 / HZ);
    u64::from(us).div_ceil(per)
}

/// Linux tcp_cubic.c: cube_factor, 2^40 / (bic_scale * 10): turns a
/// window gap (segments) into K³ = gap / C in units of 2^-30 s³.
const CUBE_FACTOR: u64 = (1u64 << (10 + 3 * CURVE_HZ_SHIFT)) / (BIC_SCALE as u64 * 10);
/// Linux cube_rtt_scale: bic_scale * 10.
const CUBE_RTT_SCALE: u64 = BIC_SCALE as u64 * 10;
/// Linux beta_scale: 8 (1024 + β) / 3 / (1024 - β), for the Reno estimate.
const BETA_SCALE_RENO: u32 = 8 * (BETA_SCALE + BETA_AT_LOAD) / 3 / (BETA_SCALE - BETA_AT_LOAD);

/// Linux fls64(): the position of the highest set bit, 1-based; 0 for 0.
fn fls64(a: u64) -> u32 {
    64 - a.leading_zeros()
}

/// Linux tcp_cubic.c: cubic_root(): an estimate of cbrt(a) from a table of
/// the cube roots of the top bits, then one Newton-Raphson step (average
/// error about 0.2 %).
pub(crate) fn cubic_root(a: u64) -> u32 {
    // For x in 0..64: cbrt(x << 18) - 1, adjusted (Willy Tarreau's table).
    const V: [u8; 64] = [
        0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156, 157, 161, 164,
        168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199, 200, 202, 204, 206, 209,
        211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229, 231, 232, 234, 236, 237, 239, 240,
        242, 244, 245, 246, 248, 250, 251, 252, 254,
    ];
    let b = fls64(a);
    if b < 7 {
        return (u32::from(V[a as usize]) + 35) >> 6;
    }
    let b = ((b * 84) >> 8) - 1;
    let top = (a >> (b * 3)) as usize & 63;
    let x = ((u32::from(V[top]) + 10) << b) >> 6;
    // x' = (2x + a / x²) / 3, with x(x - 1) for x² and * 341 >> 10 for / 3.
    let sq = u64::from(x) * u64::from(x.wrapping_sub(1));
    let q = a.checked_div(sq).unwrap_or(0) as u32;
    let x = x.wrapping_mul(2).wrapping_add(q);
    ((u64::from(x) * 341) >> 10) as u32
}

impl Cubic {
    pub(crate) fn new(p: CubicParams) -> Cubic {
        Cubic {
            p,
            ..Cubic::default()
        }
    }

    /// Linux bictcp_reset(): the curve and HyStart's verdict forgotten.
    fn reset(&mut self) {
        *self = Cubic {
            p: self.p,
            cwnd_cnt: self.cwnd_cnt,
            ..Cubic::default()
        };
    }

    /// Linux bictcp_hystart_reset(): a new round starts now and ends when
    /// what was sent by now (`nxt`) is acknowledged.
    fn hystart_reset(&mut self, now: Instant, nxt: SeqNumber) {
        self.round_start = clock_us(now);
        self.last_ack = self.round_start;
        self.end_seq = Some(nxt);
        self.curr_rtt = u32::MAX;
        self.sample_cnt = 0;
    }

    /// Linux tcp_cubic.c: bictcp_update(): how many ACKed segments make one
    /// segment of growth (`cnt`), from the cubic curve and the Reno
    /// estimate.
    fn update(&mut self, cwnd: u32, acked: u32, now: Instant) {
        let now_j = jiffies(now);
        self.ack_cnt = self.ack_cnt.wrapping_add(acked);
        if self.last_cwnd == cwnd && (now_j.wrapping_sub(self.last_time) as i32) <= (HZ / 32) as i32
        {
            return;
        }
        // At most once per jiffy, except right after a reduction.
        if self.epoch_start.is_none() || now_j != self.last_time {
            self.last_cwnd = cwnd;
            self.last_time = now_j;
            let epoch = match self.epoch_start {
                Some(e) => e,
                None => {
                    self.epoch_start = Some(now_j);
                    self.ack_cnt = acked;
                    self.tcp_cwnd = cwnd;
                    if self.last_max_cwnd <= cwnd {
                        self.k = 0;
                        self.origin_point = cwnd;
                    } else {
                        let gap = u64::from(self.last_max_cwnd - cwnd);
                        self.k = cubic_root(CUBE_FACTOR.wrapping_mul(gap));
                        self.origin_point = self.last_max_cwnd;
                    }
                    now_j
                }
            };
            // Time into the epoch, one minimum RTT ahead, in 2^-10 s.
            let mut t = i64::from(now_j.wrapping_sub(epoch) as i32) as u64;
            t = t.wrapping_add(usecs_to_jiffies(self.delay_min));
            t = (t << CURVE_HZ_SHIFT) / u64::from(HZ);
            let k = u64::from(self.k);
            let offs = t.abs_diff(k);
            // C (t - K)³, scaled back to segments.
            let delta = (CUBE_RTT_SCALE
                .wrapping_mul(offs)
                .wrapping_mul(offs)
                .wrapping_mul(offs)
                >> (10 + 3 * CURVE_HZ_SHIFT)) as u32;
            let target = if t < k {
                self.origin_point.wrapping_sub(delta)
            } else {
                self.origin_point.wrapping_add(delta)
            };
            self.cnt = if target > cwnd {
                cwnd / (target - cwnd)
            } else {
                // Very slow growth at the plateau.
                cwnd.wrapping_mul(100)
            };
            // Without a loss yet, grow at least 5 % per RTT.
            if self.last_max_cwnd == 0 && self.cnt > 20 {
                self.cnt = 20;
            }
        }
        // Reno-friendly region: estimate Reno's window from the ACKs of
        // this epoch and grow at least as fast.
        if self.p.tcp_friendliness {
            let per = ((cwnd.wrapping_mul(BETA_SCALE_RENO)) >> 3).max(1);
            while self.ack_cnt > per {
                self.ack_cnt -= per;
                self.tcp_cwnd += 1;
            }
            if self.tcp_cwnd > cwnd {
                let max_cnt = cwnd / (self.tcp_cwnd - cwnd);
                self.cnt = self.cnt.min(max_cnt);
            }
        }
        // At most one segment per two ACKed: 1.5x per RTT.
        self.cnt = self.cnt.max(2);
    }

    /// Linux tcp_cubic.c: hystart_update(): leave slow start (ssthresh =
    /// cwnd) when a round's ACKs spread over more than half the minimum
    /// RTT (ACK train) or its least RTT grew by an eighth (4 to 16 ms).
    fn hystart_update(&mut self, w: &mut Segs, s: &AckSample, delay: u32) {
        if self.end_seq.is_none_or(|e| s.una.gt(e)) {
            self.hystart_reset(s.now, s.nxt);
        }
        if self.p.hystart_detect & HYSTART_ACK_TRAIN != 0 {
            let now = clock_us(s.now);
            if (now.wrapping_sub(self.last_ack) as i32) <= self.p.hystart_ack_delta_us as i32 {
                self.last_ack = now;
                // hystart_ack_delay(): TSO/GRO cushion from the pacing
                // rate, at most 1 ms; halved without pacing.
                let cushion = match s.pacing_rate {
                    Some(rate) if rate > 0 => (GSO_MAX_SIZE * 4 * 1_000_000 / rate).min(1000),
                    _ => 0,
                };
                let threshold = (self.delay_min.wrapping_add(cushion as u32)) >> 1;
                if (now.wrapping_sub(self.round_start) as i32) > threshold as i32 {
                    self.found = true;
                    w.ssthresh = w.cwnd;
                }
            }
        }
        if self.p.hystart_detect & HYSTART_DELAY != 0 {
            self.curr_rtt = self.curr_rtt.min(delay);
            if self.sample_cnt < HYSTART_MIN_SAMPLES {
                self.sample_cnt += 1;
            } else {
                let thresh = (self.delay_min >> 3).clamp(HYSTART_DELAY_MIN, HYSTART_DELAY_MAX);
                if self.curr_rtt > self.delay_min.wrapping_add(thresh) {
                    self.found = true;
                    w.ssthresh = w.cwnd;
                }
            }
        }
    }
}

impl CongestionOps for Cubic {
    fn in_segments(&self) -> bool {
        true
    }

    fn cwnd_cnt(&mut self) -> &mut u32 {
        &mut self.cwnd_cnt
    }

    /// Linux tcp_cubic.c: cubictcp_init(): HyStart's first round.
    fn init(&mut self, now: Instant, nxt: SeqNumber) {
        self.reset();
        if self.p.hystart {
            self.hystart_reset(now, nxt);
        }
    }

    /// Linux tcp_cubic.c: cubictcp_cong_avoid(): slow start, then the
    /// rest of the ACKed segments along the curve (tcp_cong_avoid_ai()).
    fn cong_avoid(&mut self, w: &mut Segs, mut acked: u32, now: Instant) {
        if w.cwnd < w.ssthresh {
            acked = super::slow_start(w, acked);
            if acked == 0 {
                return;
            }
        }
        self.update(w.cwnd, acked, now);
        let cnt = self.cnt;
        super::cong_avoid_ai(w, &mut self.cwnd_cnt, cnt, acked);
    }

    /// Linux tcp_cubic.c: cubictcp_recalc_ssthresh(): the epoch ends;
    /// W_max is the window now (less with fast convergence); ssthresh is
    /// β times the window, at least two segments.
    fn ssthresh(&mut self, w: &Segs, _flight: u32) -> u32 {
        self.epoch_start = None;
        self.last_max_cwnd = if w.cwnd < self.last_max_cwnd && self.p.fast_convergence {
            ((u64::from(w.cwnd) * u64::from(BETA_SCALE + self.p.beta)) / u64::from(2 * BETA_SCALE))
                as u32
        } else {
            w.cwnd
        };
        ((u64::from(w.cwnd) * u64::from(self.p.beta) / u64::from(BETA_SCALE)) as u32).max(2)
    }

    /// Linux tcp_cubic.c: cubictcp_state() on TCP_CA_Loss: everything
    /// forgotten, a new HyStart round.
    fn on_loss_state(&mut self, now: Instant, nxt: SeqNumber) {
        self.reset();
        self.hystart_reset(now, nxt);
    }

    /// Linux tcp_cubic.c: cubictcp_cwnd_event(CA_EVENT_TX_START): after an
    /// application-limited pause the epoch moves by the pause, so the
    /// curve does not count idle time as time spent growing.
    fn on_tx_start(&mut self, now: Instant, last_send: Instant) {
        let now_j = jiffies(now);
        let delta = now_j.wrapping_sub(jiffies(last_send)) as i32;
        if let Some(e) = self.epoch_start {
            if delta > 0 {
                let moved = e.wrapping_add(delta as u32);
                // Never past now.
                self.epoch_start = Some(if (moved.wrapping_sub(now_j) as i32) > 0 {
                    now_j
                } else {
                    moved
                });
            }
        }
    }

    /// Linux tcp_cubic.c: cubictcp_acked(): the least RTT, and HyStart
    /// while in slow start from `hystart_low_window` up.
    fn on_rtt_sample(&mut self, w: &mut Segs, s: &AckSample) {
        let Some(rtt) = s.rtt_us else {
            return;
        };
        // Samples just after a reduction are discarded.
        if let Some(e) = self.epoch_start {
            if (jiffies(s.now).wrapping_sub(e) as i32) < HZ as i32 {
                return;
            }
        }
        let delay = rtt.max(1);
        if self.delay_min == 0 || self.delay_min > delay {
            self.delay_min = delay;
        }
        if !self.found
            && w.cwnd < w.ssthresh
            && self.p.hystart
            && w.cwnd >= self.p.hystart_low_window
        {
            self.hystart_update(w, s, delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn segs(cwnd: u32, ssthresh: u32) -> Segs {
        Segs { cwnd, ssthresh }
    }

    #[test]
    fn kernel_constants() {
        // 2^40 / 410, 8 * 1741 / 3 / 307.
        assert_eq!(CUBE_FACTOR, 2_681_735_677);
        assert_eq!(BETA_SCALE_RENO, 15);
    }

    #[test]
    fn cubic_root_matches_the_kernel_table_and_newton_step() {
        // Small values come from the table alone: (v[a] + 35) >> 6.
        assert_eq!(cubic_root(0), 0);
        assert_eq!(cubic_root(1), 1);
        assert_eq!(cubic_root(8), 2);
        assert_eq!(cubic_root(27), 3);
        // Larger ones within the kernel's ~0.2 % of the true root.
        for a in [1_000u64, 1 << 30, 2_681_735_677 * 30, 1 << 50] {
            let r = f64::from(cubic_root(a));
            let exact = (a as f64).powf(1.0 / 3.0);
            assert!((r - exact).abs() / exact < 0.01, "{a}: {r} vs {exact}");
        }
        // K for a gap of 30 segments: cbrt(30 / 0.4) s = 4.217 s, 4317 in
        // 2^-10 s; the kernel's estimate is one unit short.
        assert_eq!(cubic_root(CUBE_FACTOR * 30), 4316);
    }

    #[test]
    fn rfc9438_4_6_cubic_reduces_by_beta_and_returns_to_w_max_at_k() {
        let mut c = Cubic::new(CubicParams::default());
        // cubictcp_recalc_ssthresh(): 100 * 717 / 1024 = 70.
        assert_eq!(c.ssthresh(&segs(100, u32::MAX), 0), 70);
        let mut w = segs(70, 70);
        let t0 = Instant::ZERO + Duration::from_secs(10);
        c.cong_avoid(&mut w, 1, t0);
        // The epoch starts at the first ACK: K for the 30 segments below
        // W_max = cbrt(30 / 0.4) s, 4316 in 2^-10 s (4.215 s).
        assert_eq!((c.k, c.origin_point), (4316, 100));
        // One window of ACKs per 100 ms RTT, a tenth of it every 10 ms:
        // concave up to W_max around K, convex beyond.
        let mut at_k = 0;
        for step in 1..=800u32 {
            let now = t0 + Duration::from_millis(u64::from(step) * 10);
            let acked = w.cwnd / 10;
            c.cong_avoid(&mut w, acked, now);
            if step == 421 {
                at_k = w.cwnd;
            }
        }
        assert!((97..=101).contains(&at_k), "near W_max at K: {at_k}");
        assert!(w.cwnd > 110, "convex growth beyond W_max: {}", w.cwnd);
    }

    #[test]
    fn rfc9438_4_7_fast_convergence() {
        let mut c = Cubic::new(CubicParams::default());
        // 100 * 717 / 1024 = 70; W_max = 100.
        assert_eq!(c.ssthresh(&segs(100, u32::MAX), 0), 70);
        assert_eq!(c.last_max_cwnd, 100);
        // A loss below W_max: W_max = 80 * 1741 / 2048 = 68.
        assert_eq!(c.ssthresh(&segs(80, 70), 0), 56);
        assert_eq!(c.last_max_cwnd, 68);
        assert_eq!(c.ssthresh(&segs(2, 2), 0), 2);
    }

    #[test]
    fn first_epoch_without_loss_grows_one_segment_per_two_acked() {
        // No loss yet: cnt capped at 20, the Reno estimate soon overtakes,
        // and cnt never below 2: 20 ACKs of 2 segments, at 100 ms each, as
        // in the kernel's cubic-bulk-166k trace after HyStart.
        let mut c = Cubic::new(CubicParams::default());
        let mut w = segs(48, 48);
        let mut now = Instant::ZERO + Duration::from_secs(5);
        for _ in 0..10 {
            now += Duration::from_millis(100);
            c.cong_avoid(&mut w, 2, now);
        }
        // 20 segments at cnt 20 (the Reno estimate needs 48 * 15 / 8 = 90
        // segments for its first step): one increase, 48 -> 49.
        assert_eq!(w.cwnd, 49);
    }

    #[test]
    fn idle_time_moves_the_epoch_and_never_past_now() {
        let mut c = Cubic::new(CubicParams::default());
        let t0 = Instant::ZERO + Duration::from_secs(10);
        let mut w = segs(48, 48);
        c.cong_avoid(&mut w, 2, t0);
        assert_eq!(c.epoch_start, Some(10_000));
        // Data last left at 10.5 s; sending again at 12 s: 1.5 s shift.
        let ms = |m: u64| Instant::ZERO + Duration::from_millis(m);
        c.on_tx_start(ms(12_000), ms(10_500));
        assert_eq!(c.epoch_start, Some(11_500));
        // A shift beyond now stops at now.
        c.on_tx_start(ms(13_000), ms(10_000));
        assert_eq!(c.epoch_start, Some(13_000));
        // No epoch, nothing to move.
        c.ssthresh(&w, 0);
        c.on_tx_start(ms(20_000), ms(14_000));
        assert_eq!(c.epoch_start, None);
    }

    #[test]
    fn hystart_delay_exits_after_eight_samples_of_higher_rtt() {
        let mut c = Cubic::new(CubicParams::default());
        let t0 = Instant::ZERO;
        c.init(t0, SeqNumber(1));
        let mut w = segs(10, u32::MAX);
        // delay_min 200 ms below the low window: no HyStart yet.
        let s = |now, rtt, una: u32, nxt: u32| AckSample {
            now,
            rtt_us: Some(rtt),
            una: SeqNumber(una),
            nxt: SeqNumber(nxt),
            pacing_rate: None,
        };
        c.on_rtt_sample(
            &mut w,
            &s(t0 + Duration::from_millis(400), 200_000, 10001, 30001),
        );
        w.cwnd = 20;
        // Eight samples of 240 ms + i ms in a new round: counted only.
        for i in 0..8u32 {
            let now = t0 + Duration::from_millis(640 + u64::from(i));
            c.on_rtt_sample(&mut w, &s(now, 240_000 + i * 1000, 12001 + 2000 * i, 30001));
            assert_eq!(w.ssthresh, u32::MAX, "sample {i}");
            w.cwnd += 2;
        }
        // The ninth: 240 ms > 200 ms + clamp(25 ms, 4, 16) ms: exit.
        let now = t0 + Duration::from_millis(648);
        c.on_rtt_sample(&mut w, &s(now, 248_000, 28001, 30001));
        assert_eq!(w.ssthresh, 36);
        assert!(c.found);
    }
}
