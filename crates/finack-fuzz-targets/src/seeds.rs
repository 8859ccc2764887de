//! Seed corpora for the fuzz targets, built at CI time rather than committed:
//!
//! - `wire_parse`: the distinct packets of every catalog scenario, IPv4 and
//!   IPv6, and of a few seeds of the randomized fault suite: the bytes
//!   `finack sim run NAME --pcap FILE` writes as the capture's records.
//! - `endpoint_pair`: its input is a script of operations on two endpoints
//!   with fixed addresses and keyed initial sequence numbers, so captured
//!   packets would not belong to its connection (an injected one is at most
//!   255 bytes and goes to the side its length's parity picks); the seeds are
//!   operation scripts instead: a handshake, transfers both ways, loss with
//!   a retransmission, reordering and duplication, closes and an abort.
//! - `explain_capture`: every catalog scenario's pcap (seed 1, IPv4 and
//!   IPv6), as `finack sim run NAME --pcap FILE` writes it.
//! - `packetdrill_parse`: the packetdrill scripts of a directory (GPL-2.0
//!   test data in `../shared/packetdrill`, hence copied, not committed).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use finack_sim::{catalog, Family, TraceEvent};

/// One seed: a file name (unique within its target) and the bytes.
pub type Seed = (String, Vec<u8>);

/// At most this many packets from one trace, spread over the whole run.
const PACKETS_PER_TRACE: usize = 48;

/// Seeds of the randomized fault suite whose traces add to the packet seeds
/// (faulted runs: retransmissions, SACK blocks, window probes).
const FUZZ_SUITE_SEEDS: [u64; 4] = [0, 3, 7, 12];

/// 64-bit FNV-1a, for content-derived file names.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn take_spread(trace: &finack_sim::Trace, seen: &mut HashSet<Vec<u8>>) -> Vec<Vec<u8>> {
    let fresh: Vec<&Vec<u8>> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Packet { bytes, .. } => Some(bytes),
            _ => None,
        })
        .filter(|b| !seen.contains(*b))
        .collect();
    let step = fresh.len().div_ceil(PACKETS_PER_TRACE).max(1);
    let mut out = Vec::new();
    for b in fresh.into_iter().step_by(step) {
        if seen.insert(b.clone()) {
            out.push(b.clone());
        }
    }
    out
}

/// `scenario_file` seeds: the example files and every catalog scenario
/// that can be written as a file (`finack sim show`).
pub fn scenario_file() -> Vec<Seed> {
    let mut out: Vec<Seed> = finack_sim::whatif::show::expressible()
        .filter_map(|name| match finack_sim::whatif::show::as_file(name) {
            Some(Ok(text)) => Some((format!("{name}.toml"), text.as_bytes().to_vec())),
            _ => None,
        })
        .collect();
    for (name, text) in [
        (
            "close-wait-leak.toml",
            include_str!("../../../examples/scenarios/close-wait-leak.toml"),
        ),
        (
            "short-time-wait.toml",
            include_str!("../../../examples/scenarios/short-time-wait.toml"),
        ),
    ] {
        out.push((name.to_string(), text.as_bytes().to_vec()));
    }
    out
}

/// `explain_capture` seeds: the pcap of every catalog scenario, both
/// families.
pub fn explain_capture() -> Vec<Seed> {
    let mut out = Vec::new();
    for def in catalog() {
        for (family, tag) in [(Family::V4, "v4"), (Family::V6, "v6")] {
            let pcap = finack_sim::render::to_pcap(&(def.run)(1, family).trace);
            out.push((format!("{}-{tag}.pcap", def.name), pcap));
        }
    }
    out
}

/// `wire_parse` seeds: packets of the catalog scenarios (seed 1, both
/// families) and of a few fault-suite runs, each distinct packet once.
pub fn wire_parse() -> Vec<Seed> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for def in catalog() {
        for (family, tag) in [(Family::V4, "v4"), (Family::V6, "v6")] {
            let trace = (def.run)(1, family).trace;
            for p in take_spread(&trace, &mut seen) {
                out.push((format!("{}-{tag}-{:016x}", def.name, fnv1a(&p)), p));
            }
        }
    }
    for seed in FUZZ_SUITE_SEEDS {
        let (_, trace) = finack_sim::fuzz::run_traced(seed);
        for p in take_spread(&trace, &mut seen) {
            out.push((format!("fuzz-seed{seed}-{:016x}", fnv1a(&p)), p));
        }
    }
    out
}

/// Builds an `endpoint_pair` input (see the table in its documentation).
#[derive(Default)]
struct Ops(Vec<u8>);

/// Client and server, as `endpoint_pair` numbers them.
const CLIENT: u8 = 0;
const SERVER: u8 = 1;

impl Ops {
    /// Deliver the oldest packet on the wire, `n` times.
    fn deliver(mut self, n: usize) -> Self {
        for _ in 0..n {
            self.0.extend([0, 0]);
        }
        self
    }
    /// Deliver the newest of `k` packets on the wire (reordering).
    fn deliver_at(mut self, k: u8) -> Self {
        self.0.extend([1, k]);
        self
    }
    fn drop_oldest(mut self) -> Self {
        self.0.extend([4, 0]);
        self
    }
    fn duplicate_oldest(mut self) -> Self {
        self.0.extend([5, 0]);
        self
    }
    fn corrupt_oldest(mut self, at: u8) -> Self {
        self.0.extend([6, 0, at, 1]);
        self
    }
    /// Move the clock `units * 37` ms.
    fn wait(mut self, units: u8) -> Self {
        self.0.extend([8, units]);
        self
    }
    /// Send about `units * 40` bytes from `side`: the argument is `units`
    /// with its lowest bit replaced by the side.
    fn send(mut self, side: u8, units: u8) -> Self {
        let arg = (units & !1) | side;
        assert!((arg >> 1) % 6 <= 2, "{arg} is not a send");
        self.0.extend([9, arg]);
        self
    }
    fn shutdown(mut self, side: u8) -> Self {
        self.0.extend([9, 6 | side]);
        self
    }
    fn close(mut self, side: u8) -> Self {
        self.0.extend([9, 8 | side]);
        self
    }
    fn abort(mut self, side: u8) -> Self {
        self.0.extend([9, 10 | side]);
        self
    }
    fn handshake() -> Self {
        Ops::default().deliver(3)
    }
}

/// `endpoint_pair` seeds: operation scripts that reach the interesting
/// states (see the module documentation for why not captured packets).
pub fn endpoint_pair() -> Vec<Seed> {
    let seeds = [
        ("handshake", Ops::handshake()),
        (
            "transfer-both-ways-and-close",
            Ops::handshake()
                .send(CLIENT, 28)
                .send(SERVER, 29)
                .deliver(8)
                .shutdown(CLIENT)
                .deliver(2)
                .shutdown(SERVER)
                .deliver(2)
                .close(CLIENT)
                .close(SERVER)
                .deliver(4)
                .wait(255)
                .wait(255)
                .wait(255)
                .wait(255),
        ),
        (
            "loss-then-retransmission",
            Ops::handshake()
                .send(CLIENT, 4)
                .drop_oldest()
                .wait(40)
                .deliver(4)
                .send(SERVER, 5)
                .drop_oldest()
                .wait(80)
                .deliver(4),
        ),
        (
            "reorder-duplicate-corrupt",
            Ops::handshake()
                .send(CLIENT, 2)
                .send(CLIENT, 2)
                .send(CLIENT, 2)
                .duplicate_oldest()
                .corrupt_oldest(60)
                .deliver_at(2)
                .deliver_at(1)
                .deliver(6)
                .wait(40)
                .deliver(4),
        ),
        (
            "abort-with-data-in-flight",
            Ops::handshake().send(SERVER, 29).abort(CLIENT).deliver(4),
        ),
        (
            "simultaneous-close",
            Ops::handshake()
                .send(CLIENT, 2)
                .deliver(2)
                .close(CLIENT)
                .close(SERVER)
                .deliver(6)
                .wait(255)
                .wait(255),
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, ops)| (name.to_string(), ops.0))
        .collect()
}

/// `packetdrill_parse` seeds: every `*.pkt` file under `dir`, in path order,
/// named after its path below `dir`.
pub fn packetdrill_parse(dir: &Path) -> io::Result<Vec<Seed>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "pkt") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(&p);
            let name = rel.to_string_lossy().replace(['/', '\\'], "__");
            Ok((name, std::fs::read(&p)?))
        })
        .collect()
}
