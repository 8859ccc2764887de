//! Runs the packetdrill scripts through the interpreter and prints a table.

use std::path::PathBuf;

fn script_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FINACK_PACKETDRILL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/packetdrill"
            ))
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: ../shared/packetdrill not found (looked in {})",
            dir.display()
        );
        None
    }
}

fn run(rel: &str) -> finack_packetdrill::run::Report {
    let dir = script_dir().expect("checked by the caller");
    let script = finack_packetdrill::parse_file(&dir.join(rel)).unwrap_or_else(|e| panic!("{e}"));
    let report = finack_packetdrill::run::run(&script);
    eprintln!(
        "{rel}: {:?}",
        report.outcome.as_ref().map_err(ToString::to_string)
    );
    for u in &report.unsupported {
        eprintln!("    unsupported: {u}");
    }
    report
}

#[test]
fn all_scripts_table() {
    let Some(dir) = script_dir() else {
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                files.push(p.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    for f in files {
        // Scripts the parser cannot read yet are listed (see parse_scripts.rs),
        // not run.
        match finack_packetdrill::parse_file(&dir.join(&f)) {
            Ok(_) => {
                let _ = run(&f);
            }
            Err(e) => eprintln!("{f}: does not parse: {e}"),
        }
    }
}

/// Scripts the interpreter runs to the end with nothing left unchecked.
const PASSING: &[&str] = &[
    "linux-3.11/linux/close/close-read-data-fin.pkt",
    "linux-3.11/linux/close/close-so-linger-onoff-1-linger-0-rst.pkt",
    "linux-3.11/linux/icmp/icmp-all-types.pkt",
    "linux-3.11/linux/initial_window/iw10-base-case.pkt",
    "linux-3.11/linux/listen/listen-incoming-ack.pkt",
    "linux-3.11/linux/listen/listen-incoming-no-tcp-flags.pkt",
    "linux-3.11/linux/listen/listen-incoming-rst.pkt",
    "linux-3.11/linux/mss/mss-getsockopt-tcp_maxseg-client.pkt",
    "master/tcp/blocking/blocking-accept.pkt",
    "master/tcp/close/close-local-close-then-remote-fin.pkt",
    "master/tcp/close/close-remote-fin-then-close.pkt",
    "master/tcp/fast_retransmit/fr-4pkt-fack-last-byte.pkt",
    "master/tcp/fast_retransmit/fr-4pkt.pkt",
    "master/tcp/ioctl/ioctl-siocinq-fin.pkt",
    "master/tcp/limited_transmit/limited-transmit-no-sack.pkt",
    "master/tcp/nagle/https_client.pkt",
    "master/tcp/shutdown/shutdown-rd-close.pkt",
    "master/tcp/shutdown/shutdown-rdwr-close.pkt",
    "master/tcp/shutdown/shutdown-rdwr-write-queue-close.pkt",
    "master/tcp/ts_recent/fin_tsval.pkt",
    "master/tcp/ts_recent/invalid_ack.pkt",
];

#[test]
fn known_passing_scripts_pass() {
    if script_dir().is_none() {
        return;
    }
    for rel in PASSING {
        let r = run(rel);
        assert!(r.passed(), "{rel}: {:?} {:?}", r.outcome, r.unsupported);
    }
}

/// The self-test scripts must fail with the message of their `// Failure:` comment.
#[test]
fn self_tests_fail_as_their_comments_say() {
    let Some(dir) = script_dir() else {
        return;
    };
    for rel in [
        "master/packet-timeout.pkt",
        "master/linux/packetdrill/socket_err.pkt",
        "master/linux/packetdrill/socket_wrong_err.pkt",
    ] {
        let script = finack_packetdrill::parse_file(&dir.join(rel)).unwrap();
        let want = script
            .comments
            .iter()
            .find_map(|c| c.text.strip_prefix("Failure: "))
            .expect("a Failure comment")
            .replace("\\(", "(")
            .replace("\\)", ")");
        let r = finack_packetdrill::run::run(&script);
        let f = r.outcome.expect_err(rel);
        assert!(f.message.ends_with(&want), "{rel}: got {f}, want ...{want}");
    }
}

const OWN_SCRIPT: &str = "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 5) = 0
+0 < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.05 < . 1:1(0) ack 1 win 500
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 500) = 500
+0 > P. 1:501(500) ack 1
+.05 < . 1:1(0) ack 501 win 500
+0 shutdown(4, SHUT_WR) = 0
+0 > F. 501:501(0) ack 1
";

#[test]
fn own_script_passes_and_a_wrong_expectation_is_reported() {
    let s = finack_packetdrill::parse("own.pkt", OWN_SCRIPT).unwrap();
    let r = finack_packetdrill::run::run(&s);
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    assert_eq!(r.events_run, 12);

    let bad = OWN_SCRIPT.replace("> F. 501:501(0)", "> F. 502:502(0)");
    let s = finack_packetdrill::parse("own.pkt", &bad).unwrap();
    let f = finack_packetdrill::run::run(&s).outcome.unwrap_err();
    assert_eq!(f.line, 13);
    assert!(
        f.message.contains("sequence number: expected 502 got 501"),
        "{f}"
    );

    let late = OWN_SCRIPT.replace("+0 > F. 501", "+.1 > F. 501");
    let s = finack_packetdrill::parse("own.pkt", &late).unwrap();
    let f = finack_packetdrill::run::run(&s).outcome.unwrap_err();
    assert_eq!(f.line, 13);
    assert!(f.message.contains("timing error"), "{f}");
}
