//! A seeded impairment stage for packet paths: loss, delay with jitter,
//! reordering, duplication, corruption and partitions (the kernel here has no
//! netem). What happens to each packet is decided by `finack-fault`, the same
//! generator and fault model the simulator uses; this stage only applies the
//! decision in tokio time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use finack_fault::{Faults, Partitions, Rng};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What to do to packets passing through: the random `faults` of
/// [`finack_fault::Faults`] (each packet is dropped with probability `loss`; a
/// kept one is held back a further `reorder_delay` with probability `reorder`
/// (so later packets overtake it) and up to `jitter` more, has a bit flipped with
/// probability `corrupt` and is delivered twice with probability `duplicate`),
/// a fixed `delay` on top, and `partitions` during which everything is dropped.
/// All choices come from a PRNG seeded with `seed`, so a run's decisions are
/// reproducible (their timing still depends on the scheduler).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use std::time::Duration;
/// use finack::{Config, Impairment, Stack, TcpListener, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// // 5% loss and 5 ms each way.
/// let lossy = |seed| Impairment::new(seed).loss(0.05).delay(Duration::from_millis(5), Duration::ZERO);
/// let (a, b) = Stack::pair_with(Config::linux(), Some(lossy(1)), Some(lossy(2)));
/// let listener = TcpListener::bind(&b, "192.0.2.2:9".parse().unwrap())?;
/// let mut c = TcpStream::connect(&a, "192.0.2.2:9".parse().unwrap()).await?;
/// let (mut s, _) = listener.accept().await?;
/// c.write_all(&[7u8; 100_000]).await?;
/// c.shutdown().await?;
/// let mut got = Vec::new();
/// s.read_to_end(&mut got).await?;
/// assert_eq!(got.len(), 100_000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Impairment {
    /// The random faults, each a probability per packet.
    pub faults: Faults,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Windows during which every packet is dropped, measured from the moment
    /// the stage starts.
    pub partitions: Partitions<Duration>,
    /// PRNG seed.
    pub seed: u64,
}

impl Impairment {
    /// No impairment at all (add some with the builder methods).
    pub fn new(seed: u64) -> Impairment {
        Impairment {
            faults: Faults {
                reorder_delay: Duration::from_millis(5),
                ..Faults::default()
            },
            delay: Duration::ZERO,
            partitions: Partitions::default(),
            seed,
        }
    }

    /// Set the loss probability.
    pub fn loss(mut self, p: f64) -> Impairment {
        self.faults.loss = p;
        self
    }

    /// Set the duplication probability.
    pub fn duplicate(mut self, p: f64) -> Impairment {
        self.faults.duplicate = p;
        self
    }

    /// Set the reordering probability and how long a reordered packet is held.
    pub fn reorder(mut self, p: f64, hold: Duration) -> Impairment {
        self.faults.reorder = p;
        self.faults.reorder_delay = hold;
        self
    }

    /// Set the corruption probability (one flipped bit per corrupted packet).
    pub fn corrupt(mut self, p: f64) -> Impairment {
        self.faults.corrupt = p;
        self
    }

    /// Set the fixed delay and the jitter.
    pub fn delay(mut self, delay: Duration, jitter: Duration) -> Impairment {
        self.delay = delay;
        self.faults.jitter = jitter;
        self
    }

    /// Drop every packet from `from` to `to` after the stage starts.
    pub fn partition(mut self, from: Duration, to: Duration) -> Impairment {
        self.partitions.add(from, to);
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
        let mut rng = Rng::new(self.seed);
        let started = Instant::now();
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
                    let Some(mut pkt) = p else {
                        open = false;
                        continue;
                    };
                    let now = Instant::now();
                    let cut = self.partitions.cut(&(now - started));
                    let d = self.faults.decide(&mut rng, pkt.len(), cut, || false);
                    if cut || d.lost.is_some() {
                        continue;
                    }
                    d.corrupt(&mut pkt);
                    let at = now + self.delay + d.delay;
                    // A copy, if any, goes right after the original.
                    let copy = d.duplicate.then(|| pkt.clone());
                    for p in std::iter::once(pkt).chain(copy) {
                        order += 1;
                        held.push(Reverse((at, order, p)));
                    }
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

    #[tokio::test(flavor = "current_thread")]
    async fn corruption_flips_one_bit_per_packet() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        Impairment::new(5).corrupt(1.0).spawn(in_rx, out_tx);
        for i in 0..50u8 {
            in_tx.send(vec![i; 8]).unwrap();
        }
        drop(in_tx);
        let mut n = 0u8;
        while let Some(p) = out_rx.recv().await {
            let flipped: u32 = p.iter().map(|b| (b ^ n).count_ones()).sum();
            assert_eq!(flipped, 1, "packet {n}: {p:?}");
            n += 1;
        }
        assert_eq!(n, 50);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn partition_drops_everything_while_it_lasts() {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        Impairment::new(1)
            .partition(Duration::ZERO, Duration::from_millis(200))
            .spawn(in_rx, out_tx);
        for i in 0..10u8 {
            in_tx.send(vec![i]).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 10..20u8 {
            in_tx.send(vec![i]).unwrap();
        }
        drop(in_tx);
        let mut got = Vec::new();
        while let Some(p) = out_rx.recv().await {
            got.push(p[0]);
        }
        assert_eq!(got, (10..20u8).collect::<Vec<_>>());
    }
}
