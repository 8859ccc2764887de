//! Simulated goodput under loss and delay, next to what the window allows.
//!
//! Each cell moves 2 MiB one way over a 1 Gbit/s link with the given round-trip
//! time and random loss (both directions), with the Linux profile (CUBIC, SACK
//! generation, NewReno-style recovery, 128 KiB receive buffer). The ceiling is
//! min(link rate, receive window / RTT).

use std::fmt::Write as _;
use std::time::Duration;

use finack_core::Config;

use crate::sim::{CloseMode, Sim};

/// Bytes moved per cell.
pub const TRANSFER: usize = 2 << 20;
/// Link rate.
pub const LINK_BPS: u64 = 1_000_000_000;
/// Loss rates of the table.
pub const LOSSES: [f64; 4] = [0.0, 0.01, 0.05, 0.10];
/// Round-trip times of the table.
pub const RTTS: [Duration; 3] = [
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
];

/// One measurement.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Loss probability per packet.
    pub loss: f64,
    /// Round-trip time.
    pub rtt: Duration,
    /// Application bytes per second received.
    pub goodput_bps: f64,
    /// min(link, window / RTT) in bits per second.
    pub ceiling_bps: f64,
    /// Virtual time the transfer took.
    pub elapsed: Duration,
    /// Whether every byte arrived intact.
    pub intact: bool,
}

/// Measure one cell (deterministic for a given seed).
pub fn measure(loss: f64, rtt: Duration, seed: u64) -> Cell {
    measure_with(Config::linux(), loss, rtt, seed)
}

/// [`measure`] with another configuration on both ends.
pub fn measure_with(cfg: Config, loss: f64, rtt: Duration, seed: u64) -> Cell {
    let window = largest_window(&cfg);
    let mut sim = Sim::new("goodput", seed, ["sender", "receiver"], [cfg.clone(), cfg]);
    sim.record_packets = false;
    sim.link.latency = rtt / 2;
    sim.link.bandwidth = Some(LINK_BPS);
    sim.faults.loss = loss;
    sim.listen(1, 80, 8);
    let c = sim.connect(0, 0, 80).expect("connect");
    sim.run_until(Duration::from_secs(60), |s| s.conn(1, 0).is_some());
    let s = sim.conn(1, 0).expect("accepted");
    let data: Vec<u8> = (0..TRANSFER).map(|i| (i % 253) as u8).collect();
    let start = sim.now;
    sim.send(0, c, &data);
    sim.close_when_sent(0, c, CloseMode::Shutdown);
    sim.run_until(Duration::from_secs(3600), |sm| {
        sm.conn_app(1, s)
            .is_some_and(|a| a.received.len() >= TRANSFER)
    });
    let elapsed = sim.now - start;
    let intact = sim.conn_app(1, s).is_some_and(|a| a.received == data);
    let secs = elapsed.as_secs_f64().max(1e-9);
    Cell {
        loss,
        rtt,
        goodput_bps: TRANSFER as f64 * 8.0 / secs,
        ceiling_bps: (window * 8.0 / rtt.as_secs_f64()).min(LINK_BPS as f64),
        elapsed,
        intact,
    }
}

fn mbit(bps: f64) -> String {
    format!("{:.1}", bps / 1e6)
}

/// The whole table as Markdown (deterministic).
pub fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Goodput of a {} MiB transfer over a 1 Gbit/s link, Mbit/s (ceiling = min(link, largest receive window / RTT): the receive buffer starts at 128 KiB and autotuning may grow it to 6 MiB); Linux profile, CUBIC.\n",
        TRANSFER >> 20
    );
    let _ = write!(out, "| loss \\ RTT |");
    for rtt in RTTS {
        let _ = write!(out, " {} ms |", rtt.as_millis());
    }
    let _ = writeln!(out);
    let _ = write!(out, "|---|");
    for _ in RTTS {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    let _ = write!(out, "| ceiling |");
    for rtt in RTTS {
        let c = measure_ceiling(rtt);
        let _ = write!(out, " {} |", mbit(c));
    }
    let _ = writeln!(out);
    for (i, loss) in LOSSES.iter().enumerate() {
        let _ = write!(out, "| {:.0}% |", loss * 100.0);
        for (j, rtt) in RTTS.iter().enumerate() {
            let cell = measure(*loss, *rtt, 1 + (i * 10 + j) as u64);
            let mark = if cell.intact { "" } else { " (DATA CORRUPT)" };
            let _ = write!(out, " {}{mark} |", mbit(cell.goodput_bps));
        }
        let _ = writeln!(out);
    }
    out
}

/// The largest receive window a connection may get: what autotuning may
/// grow the buffer to, else the buffer.
fn largest_window(cfg: &Config) -> f64 {
    if cfg.rcvbuf_autotune {
        cfg.recv_buffer.max(cfg.recv_buffer_max) as f64
    } else {
        cfg.recv_buffer as f64
    }
}

fn measure_ceiling(rtt: Duration) -> f64 {
    let window = largest_window(&Config::linux());
    (window * 8.0 / rtt.as_secs_f64()).min(LINK_BPS as f64)
}
