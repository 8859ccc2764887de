//! Many seeds of the randomized fault suite on several threads, merged in seed
//! order: the report, its behaviour digest and the order in which outcomes are
//! handed to the caller are the same whatever the number of threads.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::{case, run, FuzzOutcome, PeakMemory};

/// Seeds a worker takes at a time. Seeds differ a thousandfold in cost (an
/// empty transfer against 4 MiB at 30% loss), so workers take small chunks
/// from a shared counter rather than one fixed share each.
const CHUNK: u64 = 8;

/// FNV-1a offset basis: the digest of no seeds.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What a run of many seeds found, merged in seed order.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteReport {
    /// First seed.
    pub start: u64,
    /// Seeds run (`start..start + seeds`).
    pub seeds: u64,
    /// Packets sent over all seeds.
    pub packets: u64,
    /// FNV-1a over each seed's number, packet count, virtual duration in
    /// microseconds and verdict (0 passed, 1 failed), each as 8 little-endian
    /// bytes, in seed order: two builds that give the same digest behaved the
    /// same on the wire.
    pub digest: u64,
    /// The largest memory high-water marks of any seed.
    pub peak_memory: PeakMemory,
    /// The seeds that failed, in seed order.
    pub failures: Vec<FuzzOutcome>,
}

impl SuiteReport {
    fn new(start: u64) -> SuiteReport {
        SuiteReport {
            start,
            seeds: 0,
            packets: 0,
            digest: FNV_OFFSET,
            peak_memory: PeakMemory::default(),
            failures: Vec::new(),
        }
    }

    /// Folds in the next seed's outcome (the caller keeps seed order).
    fn add(&mut self, out: &FuzzOutcome) {
        let micros = out.elapsed.as_micros() as u64;
        let verdict = u64::from(out.failure.is_some());
        for word in [out.case.seed, out.packets, micros, verdict] {
            for b in word.to_le_bytes() {
                self.digest = (self.digest ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
        self.seeds += 1;
        self.packets += out.packets;
        self.peak_memory.connection = self.peak_memory.connection.max(out.peak_memory.connection);
        self.peak_memory.tables = self.peak_memory.tables.max(out.peak_memory.tables);
        if out.failure.is_some() {
            self.failures.push(out.clone());
        }
    }
}

/// Runs one seed; a panic is that seed's failure rather than the end of the
/// whole run.
fn run_caught(seed: u64) -> FuzzOutcome {
    match panic::catch_unwind(AssertUnwindSafe(|| run(seed))) {
        Ok(out) => out,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            FuzzOutcome {
                case: case(seed),
                failure: Some(format!("panicked: {msg}")),
                elapsed: Default::default(),
                packets: 0,
                peak_memory: PeakMemory::default(),
            }
        }
    }
}

/// Runs seeds `start..start + seeds` on `jobs` threads (at least one) and
/// merges their outcomes in seed order. `each` sees every outcome, in seed
/// order, on the calling thread as soon as all seeds before it are done (for
/// progress and for reporting failures as they come).
pub fn run_seeds(
    start: u64,
    seeds: u64,
    jobs: usize,
    mut each: impl FnMut(&FuzzOutcome),
) -> SuiteReport {
    let end = start.saturating_add(seeds);
    let mut report = SuiteReport::new(start);
    let chunks = (end - start).div_ceil(CHUNK);
    let jobs = jobs.clamp(1, usize::try_from(chunks).unwrap_or(usize::MAX).max(1));
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<(u64, Vec<FuzzOutcome>)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= chunks {
                    break;
                }
                let first = start + k * CHUNK;
                let outs = (first..(first + CHUNK).min(end)).map(run_caught).collect();
                if tx.send((k, outs)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Chunks finish out of order; fold each in once all before it are in.
        let mut pending = BTreeMap::new();
        let mut want = 0u64;
        for (k, outs) in rx {
            pending.insert(k, outs);
            while let Some(outs) = pending.remove(&want) {
                for out in &outs {
                    report.add(out);
                    each(out);
                }
                want += 1;
            }
        }
        assert_eq!(want, chunks, "a fuzz worker thread died");
    });
    report
}
