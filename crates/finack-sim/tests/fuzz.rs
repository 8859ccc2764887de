//! The randomized fault suite: many seeds, every invariant (see `finack_sim::fuzz`).

use finack_sim::fuzz;

fn seeds() -> u64 {
    std::env::var("FINACK_FUZZ_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn randomized_faults_lose_nothing_and_close_cleanly() {
    let n = seeds();
    let mut failures = Vec::new();
    for seed in 0..n {
        let out = fuzz::run(seed);
        if let Some(why) = &out.failure {
            failures.push(format!(
                "seed {seed}: {why}\n  {:?}\n  reproduce: cargo run -p finack-cli -- sim fuzz --seed {seed}",
                out.case
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
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
