//! The seed corpora are what they claim to be: the packets of every catalog
//! scenario, operation scripts that reach connected and closed states, and
//! the packetdrill scripts; and each one runs through its target cleanly.

use std::collections::HashSet;
use std::path::Path;

use finack_fuzz_targets::{endpoint_pair, packetdrill_parse, seeds, wire_parse};
use finack_sim::{Family, TraceEvent};

#[test]
fn wire_seeds_are_the_scenarios_packets_and_pass_the_target() {
    let seeds = seeds::wire_parse();
    let names: HashSet<&str> = seeds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), seeds.len(), "file names are unique");
    let (mut v4, mut v6, mut with_data) = (0, 0, 0);
    for (name, p) in &seeds {
        let (ip, tcp) = finack_wire::parse_tcp_packet(p)
            .unwrap_or_else(|e| panic!("{name}: a simulator packet does not parse: {e:?}"));
        if ip.src.is_ipv4() {
            v4 += 1;
        } else {
            v6 += 1;
        }
        if !tcp.payload.is_empty() {
            with_data += 1;
        }
        wire_parse(p);
    }
    // Every packet of a scenario with a few dozen distinct ones is a seed
    // (named after the first scenario that sent it); a longer one gives some.
    let all: HashSet<&[u8]> = seeds.iter().map(|(_, p)| p.as_slice()).collect();
    for def in finack_sim::catalog() {
        for family in [Family::V4, Family::V6] {
            let trace = (def.run)(1, family).trace;
            let packets: HashSet<&[u8]> = trace
                .events
                .iter()
                .filter_map(|e| match e {
                    TraceEvent::Packet { bytes, .. } => Some(bytes.as_slice()),
                    _ => None,
                })
                .collect();
            assert!(!packets.is_empty(), "{} {family:?}", def.name);
            let kept = packets.iter().filter(|p| all.contains(*p)).count();
            if packets.len() <= 48 {
                assert_eq!(kept, packets.len(), "{} {family:?}", def.name);
            } else {
                assert!(kept >= 24, "{} {family:?}: {kept}", def.name);
            }
        }
    }
    assert!(seeds.iter().any(|(n, _)| n.starts_with("fuzz-seed")));
    eprintln!(
        "{} packets: {v4} IPv4, {v6} IPv6, {with_data} with data",
        seeds.len()
    );
    assert!(
        v4 > 50 && v6 > 50 && with_data > 20,
        "{v4} {v6} {with_data}"
    );
}

#[test]
fn endpoint_pair_seeds_connect_transfer_and_pass_the_target() {
    let seeds = seeds::endpoint_pair();
    let run = |name: &str| {
        let (_, data) = seeds.iter().find(|(n, _)| n == name).expect(name);
        endpoint_pair(data)
    };
    for (name, data) in &seeds {
        let out = endpoint_pair(data);
        assert!(out.delivered >= 3, "{name}: {out:?}");
    }
    // Handshake only: three packets, no data.
    let hs = run("handshake");
    assert_eq!((hs.packets, hs.delivered, hs.received), (3, 3, [0, 0]));
    // 1120 bytes up and 1160 down, all of it delivered.
    let both = run("transfer-both-ways-and-close");
    assert_eq!(both.received, [1160, 1120], "{both:?}");
    // The dropped segments came again after the retransmission timeout.
    let loss = run("loss-then-retransmission");
    assert_eq!(loss.received, [200, 160], "{loss:?}");
    // The client's RST and the server's data cross; nothing is read.
    let ab = run("abort-with-data-in-flight");
    assert_eq!(ab.received, [0, 0], "{ab:?}");
    assert!(ab.packets >= 5 && ab.delivered >= 5, "{ab:?}");
}

#[test]
fn packetdrill_seeds_are_the_scripts_and_pass_the_target() {
    let dir = std::env::var_os("FINACK_PACKETDRILL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/packetdrill")
        });
    if !dir.is_dir() {
        eprintln!("SKIPPED: no packetdrill scripts at {}", dir.display());
        return;
    }
    let seeds = seeds::packetdrill_parse(&dir).expect("read the scripts");
    assert!(seeds.len() > 100, "{} scripts", seeds.len());
    let names: HashSet<&str> = seeds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), seeds.len(), "file names are unique");
    let parsed = seeds
        .iter()
        .filter(|(n, s)| {
            packetdrill_parse(s);
            finack_packetdrill::parse(n, std::str::from_utf8(s).unwrap()).is_ok()
        })
        .count();
    // Mostly valid scripts to start from (AccECN and a few others do not
    // parse: see finack-packetdrill's tests/parse_scripts.rs).
    eprintln!("{parsed} of {} scripts parse", seeds.len());
    assert!(
        parsed * 4 >= seeds.len() * 3,
        "{parsed} of {} parse",
        seeds.len()
    );
    // Each seed is its script, named after its path.
    for (name, text) in &seeds {
        assert_eq!(
            &std::fs::read(dir.join(name.replace("__", "/"))).unwrap(),
            text
        );
    }
}

#[test]
fn explain_seeds_are_the_scenarios_captures_and_pass_the_target() {
    let seeds = seeds::explain_capture();
    assert_eq!(seeds.len(), 2 * finack_sim::catalog().len());
    for (name, pcap) in &seeds {
        let ex = finack_explain::explain(pcap, &finack_explain::Options::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ex.connections.is_empty(), "{name}: no connection");
        finack_fuzz_targets::explain_capture(pcap);
    }
}

/// The scenario-file seeds are the example files and the catalog's file
/// forms; each parses, runs and passes the target; cut short or mangled
/// they give errors, not panics.
#[test]
fn scenario_file_seeds_parse_run_and_survive_mangling() {
    use finack_fuzz_targets::scenario_file;
    let seeds = seeds::scenario_file();
    assert!(seeds.len() >= 3, "{}", seeds.len());
    for (name, text) in &seeds {
        let s =
            finack_sim::whatif::user::UserScenario::parse(std::str::from_utf8(text).unwrap(), name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!s.actions.is_empty(), "{name}");
        scenario_file(text);
        for cut in (0..text.len()).step_by(13) {
            scenario_file(&text[..cut]);
        }
        let mut flipped = text.clone();
        for i in (0..flipped.len()).step_by(17) {
            flipped[i] ^= 0x20;
        }
        scenario_file(&flipped);
    }
}
