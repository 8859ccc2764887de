//! The randomized fault suite: many seeds, every invariant (see `finack_sim::fuzz`).

use finack_sim::fuzz;

fn seeds() -> u64 {
    std::env::var("FINACK_FUZZ_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn randomized_faults_lose_nothing_and_close_cleanly() {
    let n = seeds();
    let report = fuzz::run_seeds(0, n, cores(), |_| {});
    assert_eq!(report.seeds, n);
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|out| {
            format!(
                "seed {}: {}\n  {:?}\n  reproduce: cargo run -p finack-cli -- sim fuzz --seed {}",
                out.case.seed,
                out.failure.as_deref().unwrap_or(""),
                out.case,
                out.case.seed
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Seeds shared out over threads give the report one thread gives, and its
/// digest is the FNV-1a hash over the seeds' outcomes taken one by one in
/// seed order; the caller sees the outcomes in seed order too.
#[test]
fn threads_do_not_change_the_report_or_its_digest() {
    let (start, n) = (1000, 300);
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    let mut packets = 0;
    let mut outcomes = Vec::new();
    for seed in start..start + n {
        let out = fuzz::run(seed);
        let micros = out.elapsed.as_micros() as u64;
        for word in [seed, out.packets, micros, u64::from(out.failure.is_some())] {
            for b in word.to_le_bytes() {
                digest = (digest ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        packets += out.packets;
        outcomes.push(out);
    }
    for jobs in [1, 2, 3] {
        let mut seen = Vec::new();
        let report = fuzz::run_seeds(start, n, jobs, |out| seen.push(out.clone()));
        assert_eq!(report.digest, digest, "jobs {jobs}");
        assert_eq!(report.packets, packets, "jobs {jobs}");
        assert_eq!((report.start, report.seeds), (start, n), "jobs {jobs}");
        assert_eq!(seen, outcomes, "jobs {jobs}: outcomes out of seed order");
    }
    // No seeds: the FNV offset basis, nothing else.
    let empty = fuzz::run_seeds(7, 0, 2, |_| panic!("no outcome expected"));
    assert_eq!((empty.seeds, empty.packets), (0, 0));
    assert_eq!(empty.digest, 0xcbf2_9ce4_8422_2325);
}

/// The memory invariant measures something real: in runs that move data the
/// peak per connection includes the receive ring and the send buffer, and it
/// stays within `Config::connection_memory_limit`.
#[test]
fn peak_memory_is_measured_and_within_the_limit() {
    let cfg = finack_core::Config::linux();
    let limit = cfg.connection_memory_limit();
    let mut big = 0;
    let mut most = fuzz::PeakMemory::default();
    for seed in 0..60 {
        let out = fuzz::run(seed);
        assert!(out.failure.is_none(), "seed {seed}: {:?}", out.failure);
        let p = out.peak_memory;
        most.connection = most.connection.max(p.connection);
        most.tables = most.tables.max(p.tables);
        assert!(p.connection <= limit, "seed {seed}: {p:?} > {limit}");
        assert!(p.tables > 0 && p.tables <= fuzz::TABLE_BYTES_LIMIT, "{p:?}");
        if out.case.up.max(out.case.down) > 200_000 {
            big += 1;
            // The receiver's ring is allocated in full and the sender queued
            // more than a window's worth.
            assert!(
                p.connection > cfg.recv_buffer + 64 * 1024,
                "seed {seed}: {p:?}"
            );
        }
    }
    eprintln!("peak over 60 seeds: {most:?}; per-connection limit {limit}");
    assert!(big >= 5, "only {big} large runs among 60 seeds");
}
