//! Arbitrary bytes as a scenario file (`finack sim run FILE.toml`): never a
//! panic; small scenarios run and draw (`finack_fuzz_targets::scenario_file`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| finack_fuzz_targets::scenario_file(data));
