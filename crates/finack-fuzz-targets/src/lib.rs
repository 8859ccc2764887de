//! finack-fuzz-targets: what each cargo-fuzz target in `fuzz/` does with its
//! input, as plain functions.
//!
//! The targets in `fuzz/fuzz_targets/` (built with `cargo +nightly fuzz`) are
//! one call each into this crate, so a stable `cargo test` runs exactly the
//! same logic: `tests/regressions.rs` replays every file of
//! `fuzz/regressions/<target>/`, the inputs that once made a target fail.
//! [`seeds`] builds the seed corpora (`fuzz-seeds` writes them to disk).
//!
//! Every function panics when its invariant breaks, as a fuzz target must.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod pair;
pub mod seeds;

pub use pair::{endpoint_pair, PairOutcome};

/// The names of the cargo-fuzz targets, as in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 5] = [
    "wire_parse",
    "endpoint_pair",
    "packetdrill_parse",
    "explain_capture",
    "scenario_file",
];

/// Runs target `name` on `data`; `None` for an unknown name.
pub fn run_target(name: &str, data: &[u8]) -> Option<()> {
    match name {
        "wire_parse" => wire_parse(data),
        "endpoint_pair" => {
            endpoint_pair(data);
        }
        "packetdrill_parse" => packetdrill_parse(data),
        "explain_capture" => explain_capture(data),
        "scenario_file" => scenario_file(data),
        _ => return None,
    }
    Some(())
}

/// `wire_parse`: arbitrary bytes into the packet parsers. Never a panic, and
/// whatever parses re-emits to a packet that parses to the same
/// representation.
pub fn wire_parse(data: &[u8]) {
    if let Ok((ip, tcp)) = finack_wire::parse_tcp_packet(data) {
        let mut buf = vec![0u8; finack_wire::tcp_packet_len(&ip, &tcp)];
        let n = finack_wire::emit_tcp_packet(&ip, &tcp, &mut buf).expect("re-emit what parsed");
        let (ip2, tcp2) =
            finack_wire::parse_tcp_packet(&buf[..n]).expect("re-parse what we emitted");
        assert_eq!(ip, ip2);
        assert_eq!(tcp, tcp2);
    }
    let _ = finack_wire::icmp::parse_icmp_error(data);
}

/// `explain_capture`: arbitrary bytes as a capture file into
/// `finack-explain`. Never a panic: the bytes are either not a capture (an
/// error with a message) or explained, and the table, the JSON and the
/// diagrams all render.
pub fn explain_capture(data: &[u8]) {
    match finack_explain::explain(data, &finack_explain::Options::default()) {
        Ok(ex) => {
            let _ = ex.summary();
            let _ = ex.to_json();
            for t in ex.traces(None) {
                let _ = finack_sim::render::diagram_text(&t);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an empty capture error"),
    }
}

/// `scenario_file`: arbitrary bytes, as text, into the reader of
/// `finack sim run FILE.toml`. Never a panic: the text is either a scenario
/// or an error that names its line and field. A scenario small enough to
/// run quickly (at most 2 minutes of virtual time, 32 actions, 1 MiB per
/// send) runs, and its diagram renders.
pub fn scenario_file(data: &[u8]) {
    use finack_sim::whatif::user::{Call, UserScenario};
    let text = String::from_utf8_lossy(data);
    match UserScenario::parse(&text, "fuzz") {
        Ok(s) => {
            let small = s.duration <= std::time::Duration::from_secs(120)
                && s.actions.len() <= 32
                && s.actions
                    .iter()
                    .all(|a| !matches!(a.call, Call::Send(n) if n > 1 << 20));
            if small {
                if let Ok(run) = s.run(1, &finack_sim::RunOptions::default()) {
                    let _ = finack_sim::render::diagram_text(&run.result.trace);
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an empty scenario-file error"),
    }
}

/// `packetdrill_parse`: arbitrary bytes, as text (invalid UTF-8 replaced by
/// U+FFFD), into the packetdrill script parser. Never a panic: a script
/// either parses or gives an error with a position and a message; the tree,
/// the system calls' expressions and the error all format.
pub fn packetdrill_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match finack_packetdrill::parse("fuzz.pkt", &text) {
        Ok(script) => {
            let _ = format!("{script:?}");
            for e in &script.events {
                if let finack_packetdrill::ast::Action::Syscall(call) = &e.action {
                    for arg in call.args.iter().chain([&call.result]) {
                        let _ = arg.to_string();
                    }
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "an empty parse error");
        }
    }
    let _ = finack_packetdrill::tcpi_names(&text);
}
