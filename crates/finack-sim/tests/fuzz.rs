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
