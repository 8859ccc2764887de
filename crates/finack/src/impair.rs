//! A seeded impairment stage for packet paths: loss, delay with jitter,
//! reordering and duplication (the kernel here has no netem).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// What to do to packets passing through: each packet is dropped with
/// probability `loss`; a kept one is delayed by `delay` plus up to `jitter`, held
/// back a further `reorder_delay` with probability `reorder` (so later packets
/// overtake it), and delivered twice with probability `duplicate`. All choices
/// come from a PRNG seeded with `seed`, so a run's decisions are reproducible
/// (their timing still depends on the scheduler).
#[derive(Clone, Debug, PartialEq)]
pub struct Impairment {
    /// Probability of dropping a packet, 0.0..=1.0.
    pub loss: f64,
    /// Probability of delivering a packet twice.
    pub duplicate: f64,
    /// Probability of holding a packet back by `reorder_delay`.
    pub reorder: f64,
    /// Extra hold time of a reordered packet.
    pub reorder_delay: Duration,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniformly random extra delay in `0..jitter`.
    pub jitter: Duration,
    /// PRNG seed.
    pub seed: u64,
}

impl Impairment {
    /// No impairment at all (add some with the builder methods).
    pub fn new(seed: u64) -> Impairment {
        Impairment {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed,
        }
    }

    /// Set the loss probability.
    pub fn loss(mut self, p: f64) -> Impairment {
        self.loss = p;
        self
    }

    /// Set the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Impairment {
        self.duplicate = p;
        self
    }

    /// Set the reordering probability and how long a reordered packet is held.
    pub fn reorder(mut self, p: f64, hold: Duration) -> Impairment {
        self.reorder = p;
        self.reorder_delay = hold;
        self
    }

    /// Set the fixed delay and the jitter.
    pub fn delay(mut self, delay: Duration, jitter: Duration) -> Impairment {
        self.delay = delay;
        self.jitter = jitter;
        self
    }

    /// Run the stage as a task: packets from `input` go to `output`, impaired.
    /// The task ends when `input` is closed and drained, or `output` is closed.
    /// Must be called inside a tokio runtime.
    pub fn spawn(
        self,
        input: mpsc::UnboundedReceiver<Vec<u8>>,
        output: mpsc::UnboundedSender<Vec<u8>>,
    ) {
        tokio::spawn(self.run(input, output));
    }

    async fn run(
        self,
        mut input: mpsc::UnboundedReceiver<Vec<u8>>,
        output: mpsc::UnboundedSender<Vec<u8>>,
    ) {
        let mut rng = SplitMix64(self.seed);
        // (release time, arrival order) -> packet; the order keeps equal release
        // times first-in first-out.
        let mut held: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
        let mut order = 0u64;
        let mut open = true;
        loop {
            let now = Instant::now();
            while let Some(Reverse((t, _, _))) = held.peek() {
                if *t > now {
                    break;
                }
                let Some(Reverse((_, _, pkt))) = held.pop() else {
                    break;
                };
                if output.send(pkt).is_err() {
                    return;
                }
            }
            if !open && held.is_empty() {
                return;
            }
            let next = held.peek().map(|Reverse((t, _, _))| *t);
            tokio::select! {
                p = input.recv(), if open => {
                    let Some(pkt) = p else {
                        open = false;
                        continue;
                    };
                    if rng.chance(self.loss) {
                        continue;
                    }
                    let mut at = Instant::now() + self.delay;
                    if !self.jitter.is_zero() {
                        at += self.jitter.mul_f64(rng.unit());
                    }
                    if rng.chance(self.reorder) {
                        at += self.reorder_delay;
                    }
                    if rng.chance(self.duplicate) {
                        order += 1;
                        held.push(Reverse((at, order, pkt.clone())));
                    }
                    order += 1;
                    held.push(Reverse((at, order, pkt)));
                }
                _ = sleep_until_opt(next) => {}
            }
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, good enough for test
/// decisions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn loss_and_duplicates_are_seeded() {
        async fn run(imp: Impairment) -> Vec<u8> {
            let (in_tx, in_rx) = mpsc::unbounded_channel();
            let (out_tx, mut out_rx) = mpsc::unbounded_channel();
            imp.spawn(in_rx, out_tx);
            for i in 0..200u8 {
                in_tx.send(vec![i]).unwrap();
            }
            drop(in_tx);
            let mut got = Vec::new();
            while let Some(p) = out_rx.recv().await {
                got.push(p[0]);
            }
            got
        }
        let imp = Impairment::new(7).loss(0.1).duplicate(0.1);
        let a = run(imp.clone()).await;
        let b = run(imp).await;
        assert_eq!(a, b, "same seed, same decisions");
        assert!(a.len() > 150 && a.len() < 250, "{}", a.len());
        let clean = run(Impairment::new(1)).await;
        assert_eq!(clean, (0..200u8).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reordering_lets_later_packets_overtake() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        Impairment::new(3)
            .reorder(0.3, Duration::from_millis(20))
            .spawn(in_rx, out_tx);
        for i in 0..100u8 {
            in_tx.send(vec![i]).unwrap();
        }
        drop(in_tx);
        let mut got = Vec::new();
        while let Some(p) = out_rx.recv().await {
            got.push(p[0]);
        }
        assert_eq!(got.len(), 100);
        assert!(got.windows(2).any(|w| w[0] > w[1]), "some reordering");
        got.sort();
        assert_eq!(got, (0..100u8).collect::<Vec<_>>());
    }
}
