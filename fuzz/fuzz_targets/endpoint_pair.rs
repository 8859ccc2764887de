//! Two endpoints back to back, with the fuzzer as the network and the
//! applications (`finack_fuzz_targets::endpoint_pair`, whose documentation
//! gives the input format): no panic, every emitted packet parses, each side
//! receives a prefix of what the other sent, in order, and memory per
//! connection stays within `Config::connection_memory_limit`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    finack_fuzz_targets::endpoint_pair(data);
});
