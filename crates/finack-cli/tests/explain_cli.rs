//! `finack explain`: a simulator capture explained from the command line;
//! bad inputs give exit code 2 and a message naming the file.

use std::process::{Command, Output};

fn finack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finack"))
        .args(args)
        .output()
        .expect("run finack")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn explain_a_simulated_capture() {
    let dir = std::env::temp_dir().join(format!("finack-explain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("lost-last-ack.pcap");
    let svg = dir.join("d.svg");
    let pcap_s = pcap.to_str().unwrap();
    assert!(finack(&["sim", "run", "lost-last-ack", "--pcap", pcap_s])
        .status
        .success());
    let o = finack(&["explain", pcap_s, "--svg", svg.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("last ACK lost"), "{out}");
    assert!(out.contains("LAST-ACK"), "{out}");
    assert!(
        out.contains("✗ lost: lost after the capture point"),
        "{out}"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let j = finack(&["explain", pcap_s, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&j.stdout).expect("JSON");
    assert_eq!(doc["connections"][0]["closed_by"], "client");
    assert_eq!(doc["connections"][0]["sides"][1]["final_state"], "CLOSED");
    let bad = finack(&["explain", pcap_s, "--conn", "2"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_rejects_what_is_not_a_capture() {
    let o = finack(&["explain", "Cargo.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Cargo.toml: not a pcap or pcapng capture"),
        "{err}"
    );
    let o = finack(&["explain", "/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(3));
}
