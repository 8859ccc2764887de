//! finack-fault: the one seeded generator and the one per-packet fault model of
//! finack.
//!
//! The simulator (`finack-sim`, virtual time) and the runtime's impairment stage
//! (`finack::Impairment`, real packets in tokio time) both decide what happens to
//! a packet here: [`Faults::decide`] draws from a [`Rng`] whether it is lost,
//! how much longer it is held back (reordering, jitter), whether a bit of it is
//! flipped and whether it is delivered twice; [`Partitions`] cut the link for
//! time windows. Each layer only applies the [`Decision`] to its own clock and
//! queue. The crate depends on nothing, so it sits below both layers (and the
//! core's tests use its generator too).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator, good enough
/// for test and fault decisions. The same seed gives the same sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (mixed with a fixed constant, so that
    /// small seeds do not start from small states).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_f1ac_0000_0000)
    }

    /// A generator whose internal state is `state`, unmixed (for callers that
    /// recorded seeds of a plain SplitMix64).
    pub fn from_state(state: u64) -> Rng {
        Rng(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`. Draws nothing when `p` is not positive.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A value in `0..n` (0 when n is 0, without a draw).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Random faults, each a probability per packet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Drop the packet.
    pub loss: f64,
    /// Deliver it twice (the copy right after the original).
    pub duplicate: f64,
    /// Delay it by `reorder_delay` extra, so later packets overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Flip a bit in it (the receiver's checksum must catch that).
    pub corrupt: f64,
    /// Uniform extra delay in `0..jitter` (whole microseconds).
    pub jitter: Duration,
}

/// Why the fault model lost a packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Random loss (`Faults::loss`).
    Random,
    /// The caller's queue was full.
    Queue,
}

/// What the fault model decided for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Lost on the way, and why (`None` also for a packet the caller had
    /// already dropped).
    pub lost: Option<Lost>,
    /// Hold it back this much longer than the link would (reordering and
    /// jitter).
    pub delay: Duration,
    /// Flip this bit of the packet (bit `n % 8` of byte `n / 8`).
    pub corrupt_bit: Option<usize>,
    /// Deliver a second copy right after the first.
    pub duplicate: bool,
}

impl Decision {
    /// Apply the corruption, if any, to the packet's bytes.
    pub fn corrupt(&self, packet: &mut [u8]) {
        if let Some(bit) = self.corrupt_bit {
            if let Some(b) = packet.get_mut(bit / 8) {
                *b ^= 1 << (bit % 8);
            }
        }
    }
}

impl Faults {
    /// Decide the fate of one packet of `len` bytes, drawing from `rng` in this
    /// order (the order is part of the contract: a seed replays a run):
    ///
    /// 1. loss, unless the caller already `dropped` the packet (a scripted rule,
    ///    a partition);
    /// 2. `queue_full()` is asked only for a packet still on its way; true loses
    ///    it as [`Lost::Queue`] (no draw);
    /// 3. reordering, then jitter: for every packet, lost or not;
    /// 4. corruption, then duplication: only for a packet still on its way;
    /// 5. which bit to flip, for a corrupted packet.
    ///
    /// A probability of zero draws nothing, and neither does a zero jitter.
    pub fn decide(
        &self,
        rng: &mut Rng,
        len: usize,
        dropped: bool,
        queue_full: impl FnOnce() -> bool,
    ) -> Decision {
        let mut lost = None;
        if !dropped && rng.chance(self.loss) {
            lost = Some(Lost::Random);
        }
        if !dropped && lost.is_none() && queue_full() {
            lost = Some(Lost::Queue);
        }
        let mut delay = Duration::ZERO;
        if rng.chance(self.reorder) {
            delay += self.reorder_delay;
        }
        if !self.jitter.is_zero() {
            delay += Duration::from_micros(rng.below(self.jitter.as_micros() as u64));
        }
        let on_its_way = !dropped && lost.is_none();
        let corrupt = on_its_way && rng.chance(self.corrupt);
        let duplicate = on_its_way && rng.chance(self.duplicate);
        let corrupt_bit = corrupt.then(|| rng.below(len as u64 * 8) as usize);
        Decision {
            lost,
            delay,
            corrupt_bit,
            duplicate,
        }
    }
}

/// Time windows `[from, to)` during which the link is cut both ways. `T` is the
/// caller's clock: virtual instants in the simulator, time since the stage
/// started in the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partitions<T>(Vec<(T, T)>);

impl<T> Default for Partitions<T> {
    fn default() -> Partitions<T> {
        Partitions(Vec::new())
    }
}

impl<T: PartialOrd> Partitions<T> {
    /// Cut the link from `from` (inclusive) to `to` (exclusive).
    pub fn add(&mut self, from: T, to: T) {
        self.0.push((from, to));
    }

    /// Is the link cut at `t`?
    pub fn cut(&self, t: &T) -> bool {
        self.0.iter().any(|(a, b)| t >= a && t < b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let va: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        assert!((0..1000).all(|_| a.unit() < 1.0));
    }

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs of SplitMix64 from state 0 (the reference
        // implementation's published sequence).
        let mut r = Rng::from_state(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
        // `new` mixes the seed; `from_state` does not.
        assert_eq!(
            Rng::new(7).next_u64(),
            Rng::from_state(7 ^ 0x5eed_f1ac_0000_0000).next_u64()
        );
    }

    #[test]
    fn zero_probabilities_draw_nothing() {
        let mut r = Rng::new(1);
        let d = Faults::default().decide(&mut r, 100, false, || false);
        assert_eq!(
            d,
            Decision {
                lost: None,
                delay: Duration::ZERO,
                corrupt_bit: None,
                duplicate: false
            }
        );
        assert_eq!(r, Rng::new(1), "no draw was made");
    }

    #[test]
    fn certain_faults_happen_and_respect_the_draw_order() {
        let all = Faults {
            loss: 0.0,
            duplicate: 1.0,
            reorder: 1.0,
            reorder_delay: Duration::from_millis(5),
            corrupt: 1.0,
            jitter: Duration::from_micros(10),
        };
        let mut r = Rng::new(9);
        let d = all.decide(&mut r, 40, false, || false);
        assert!(d.lost.is_none() && d.duplicate);
        assert!(d.delay >= Duration::from_millis(5) && d.delay < Duration::from_micros(5010));
        let bit = d.corrupt_bit.expect("corrupted");
        assert!(bit < 320);
        let mut pkt = [0u8; 40];
        d.corrupt(&mut pkt);
        assert_eq!(pkt.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        // Replaying the documented order by hand gives the same decision.
        let mut h = Rng::new(9);
        assert!(h.chance(1.0));
        let jitter = h.below(10);
        assert!(h.chance(1.0) && h.chance(1.0));
        assert_eq!(h.below(320) as usize, bit);
        assert_eq!(
            d.delay,
            Duration::from_millis(5) + Duration::from_micros(jitter)
        );
        assert_eq!(r, h);
    }

    #[test]
    fn dropped_and_lost_packets_skip_the_per_packet_draws() {
        let f = Faults {
            loss: 1.0,
            corrupt: 1.0,
            duplicate: 1.0,
            ..Faults::default()
        };
        let mut r = Rng::new(3);
        let d = f.decide(&mut r, 60, false, || panic!("not asked for a lost packet"));
        assert_eq!(d.lost, Some(Lost::Random));
        assert!(d.corrupt_bit.is_none() && !d.duplicate);
        let mut h = Rng::new(3);
        h.unit();
        assert_eq!(r, h, "only the loss draw");

        let mut r = Rng::new(3);
        let d = f.decide(&mut r, 60, true, || {
            panic!("not asked for a dropped packet")
        });
        assert_eq!(d.lost, None);
        assert!(d.corrupt_bit.is_none() && !d.duplicate);
        assert_eq!(r, Rng::new(3), "no draw at all");

        let queue = Faults {
            duplicate: 1.0,
            ..Faults::default()
        };
        let mut r = Rng::new(3);
        let d = queue.decide(&mut r, 60, false, || true);
        assert_eq!(d.lost, Some(Lost::Queue));
        assert!(!d.duplicate);
    }

    #[test]
    fn loss_rate_is_about_right() {
        let f = Faults {
            loss: 0.1,
            ..Faults::default()
        };
        let mut r = Rng::new(5);
        let lost = (0..10_000)
            .filter(|_| f.decide(&mut r, 60, false, || false).lost.is_some())
            .count();
        assert!((800..1200).contains(&lost), "{lost}");
    }

    #[test]
    fn partitions_cut_half_open_windows() {
        let mut p = Partitions::default();
        assert!(!p.cut(&5));
        p.add(10, 20);
        p.add(30, 31);
        assert!(!p.cut(&9) && p.cut(&10) && p.cut(&19) && !p.cut(&20));
        assert!(p.cut(&30) && !p.cut(&31));
    }
}
