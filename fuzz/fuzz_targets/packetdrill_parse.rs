//! Arbitrary bytes, as text, into the packetdrill script parser: never a
//! panic (`finack_fuzz_targets::packetdrill_parse`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| finack_fuzz_targets::packetdrill_parse(data));
