//! Arbitrary bytes as a pcap/pcapng capture into `finack explain`: never a
//! panic, and whatever reads renders as a table, JSON and diagrams
//! (`finack_fuzz_targets::explain_capture`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| finack_fuzz_targets::explain_capture(data));
