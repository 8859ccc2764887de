//! `finack packetdrill`: the pass/fail table, the first mismatch of a failure
//! and the exit codes.

use std::path::PathBuf;
use std::process::Command;

const GOOD: &str = "// A passive open, one write, a close.
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.05 < . 1:1(0) ack 1 win 500
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 300) = 300
+0 > P. 1:301(300) ack 1
";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("finack-pd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn finack(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_finack"))
        .arg("packetdrill")
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn table_shows_pass_and_first_mismatch_with_script_line() {
    let d = dir("table");
    std::fs::write(d.join("a-good.pkt"), GOOD).unwrap();
    let bad = GOOD.replace("> P. 1:301(300)", "> P. 1:401(400)");
    std::fs::write(d.join("b-bad.pkt"), bad).unwrap();
    std::fs::write(d.join("c-broken.pkt"), "0 socket(..., SOCK_STREAM\n").unwrap();
    std::fs::write(d.join("notes.txt"), "not a script").unwrap();

    let (code, out) = finack(&[d.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let row = |name: &str| {
        lines
            .iter()
            .position(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
    };
    assert!(lines[row("a-good.pkt")].starts_with("PASS"));
    let b = row("b-bad.pkt");
    assert!(lines[b].starts_with("FAIL"), "{out}");
    // The first mismatch: which line, what was expected, what was sent, and
    // the script's text.
    assert!(lines[b + 1].contains("line 11:"), "{out}");
    assert!(
        lines[b + 1].contains("payload length: expected 400 got 300"),
        "{out}"
    );
    assert!(out.contains("expected: P. 1:401(400) ack 1"), "{out}");
    assert!(out.contains("actual:   P. 1:301(300) ack 1"), "{out}");
    assert!(out.contains("script:   +0 > P. 1:401(400) ack 1"), "{out}");
    assert!(
        lines[row("c-broken.pkt")].starts_with("PARSE ERROR"),
        "{out}"
    );
    assert!(
        out.contains("c-broken.pkt:2:1: expected"),
        "file:line:column: {out}"
    );
    assert!(out.contains("3 scripts: 1 passed, 0 incomplete, 1 failed, 1 did not parse"));
    assert!(!out.contains("notes.txt"));
}

#[test]
fn all_passing_exits_zero_and_verbose_counts_events() {
    let d = dir("good");
    let f = d.join("good.pkt");
    std::fs::write(&f, GOOD).unwrap();
    let (code, out) = finack(&["--verbose", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("events run: 9"), "{out}");
    assert!(out.contains("1 scripts: 1 passed"), "{out}");
}

#[test]
fn unchecked_items_make_a_script_incomplete_not_passed() {
    let d = dir("incomplete");
    let f = d.join("cmd.pkt");
    std::fs::write(&f, format!("{GOOD}+0 `echo hello`\n")).unwrap();
    let (code, out) = finack(&[f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("INCOMPLETE"), "{out}");
    assert!(
        out.contains("unchecked: line 12: command not run: echo hello"),
        "{out}"
    );
}

#[test]
fn missing_path_is_a_usage_error() {
    let (code, out) = finack(&["/nonexistent/finack/scripts"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no such file or directory"), "{out}");
}

/// A selftest folder (it holds ksft_runner.sh) runs each script in IPv4 and
/// IPv6; here the IPv6 flags lack --mtu=1520, so the SYN,ACK announces
/// 1500 - 60 = 1440 and only the IPv4 run passes.
#[test]
fn selftests_run_in_both_modes_and_show_both_results_when_they_differ() {
    let d = dir("ksft");
    std::fs::write(
        d.join("ksft_runner.sh"),
        "readonly ipv4_args=('--ip_version=ipv4 ')\nreadonly ipv6_args=('--ip_version=ipv6 ')\n",
    )
    .unwrap();
    std::fs::write(d.join("t.pkt"), GOOD).unwrap();
    let (code, out) = finack(&[d.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAIL"), "{out}");
    assert!(out.contains("    ipv4: PASS"), "{out}");
    assert!(out.contains("    ipv6: FAIL"), "{out}");
    assert!(
        out.contains("TCP options: expected <mss 1460,nop,wscale 8> got <mss 1440,nop,wscale 8>"),
        "{out}"
    );

    // Options on the command line apply to every script, in one run.
    let (code, out) = finack(&["--ip-version", "ipv6", "--mtu", "1520", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = finack(&["--ip-version", "ipv5", d.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("option --ip_version=ipv5: expected ipv4, ipv6 or ipv4-mapped-ipv6"),
        "{out}"
    );
    let (code, out) = finack(&["-D", "nonsense", d.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bad definition"), "{out}");
}

/// --summary: pass/total per top-level folder over the scripts in scope,
/// the out-of-scope ones counted apart, the others grouped by cause.
#[test]
fn summary_counts_per_folder_and_groups_causes() {
    let d = dir("summary");
    for sub in ["master/tcp", "master/tcp/fastopen", "other"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("master/tcp/good.pkt"), GOOD).unwrap();
    let bad = GOOD.replace("> P. 1:301(300)", "> . 1:301(300)");
    std::fs::write(d.join("master/tcp/bad.pkt"), bad).unwrap();
    std::fs::write(d.join("master/tcp/fastopen/fo.pkt"), GOOD).unwrap();
    std::fs::write(
        d.join("other/call.pkt"),
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 frobnicate(3) = 0\n",
    )
    .unwrap();
    std::fs::write(
        d.join("other/selftest.pkt"),
        "// Failure: runtime error in socket call: Expected non-negative result but got -1 with errno 93 \\(Protocol not supported\\)\n0 socket(..., SOCK_STREAM, IPPROTO_UDP) = 3\n",
    )
    .unwrap();
    let (code, out) = finack(&["--summary", d.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{out}"))
            .split_whitespace()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("master"), vec!["2", "1"], "{out}");
    assert_eq!(row("other"), vec!["2", "1"], "{out}");
    assert!(
        out.contains("not counted: Fast Open / zerocopy / AccECN: 1 scripts"),
        "{out}"
    );
    assert!(out.contains("   1  flags: expected . got P."), "{out}");
    assert!(
        out.contains("   1  unsupported syscall frobnicate"),
        "{out}"
    );
    assert!(out.contains("master/tcp/bad.pkt (FAIL)"), "{out}");
    assert!(
        !out.contains("selftest.pkt"),
        "a self-test failing as it should passes:\n{out}"
    );
}
