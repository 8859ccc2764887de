//! Arbitrary bytes into the packet parsers: never a panic, and whatever parses
//! re-emits to a packet that parses to the same representation
//! (`finack_fuzz_targets::wire_parse`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| finack_fuzz_targets::wire_parse(data));
