//! Runs every packetdrill script through the interpreter: prints a table,
//! keeps docs/conformance-linux.md current, and fails when a script that
//! passed (as that file lists) regresses.

use std::path::PathBuf;
use std::sync::OnceLock;

use finack_packetdrill::suite::{self, ScriptResult, Verdict};

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

/// Every script under the script folder, run once per test binary (the
/// kernel selftests in both modes), shared by the tests below.
fn results() -> Option<&'static [ScriptResult]> {
    static RESULTS: OnceLock<Vec<ScriptResult>> = OnceLock::new();
    let dir = script_dir()?;
    Some(RESULTS.get_or_init(|| suite::run_dir(&dir).expect("the script folder can be read")))
}

const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/conformance-linux.md"
);

const REGENERATE: &str = "regenerate it with \
    `FINACK_UPDATE_CONFORMANCE=1 cargo test -p finack-packetdrill --test run_scripts conformance_linux_doc_is_current` \
    (or `cargo run --release -q -p finack-cli -- packetdrill --markdown ../shared/packetdrill > docs/conformance-linux.md`)";

#[test]
fn all_scripts_table() {
    let Some(results) = results() else {
        return;
    };
    for r in results {
        eprintln!("{:<11} {}", r.verdict.label(), r.rel);
        if let Some(c) = r.cause() {
            eprintln!("    {c}");
        }
    }
    eprintln!("\n{}", suite::summary_text(results));
}

/// docs/conformance-linux.md is what the runner makes of the scripts today.
#[test]
fn conformance_linux_doc_is_current() {
    let Some(results) = results() else {
        return;
    };
    let fresh = suite::conformance_markdown(results);
    if std::env::var_os("FINACK_UPDATE_CONFORMANCE").is_some() {
        std::fs::write(CONFORMANCE, &fresh).expect("write docs/conformance-linux.md");
        eprintln!("wrote {CONFORMANCE}");
        return;
    }
    let committed = std::fs::read_to_string(CONFORMANCE).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "docs/conformance-linux.md is stale (first difference at line {}:\n  committed: {:?}\n  now:       {:?});\n{REGENERATE}",
            first + 1,
            committed.lines().nth(first).unwrap_or(""),
            fresh.lines().nth(first).unwrap_or("")
        );
    }
}

/// The ratchet: every in-scope script the committed
/// docs/conformance-linux.md lists as passing still passes. Scripts that
/// pass now and are not listed are printed (the list is then regenerated);
/// they do not fail this test.
#[test]
fn no_passing_script_regresses() {
    let Some(results) = results() else {
        return;
    };
    let committed = std::fs::read_to_string(CONFORMANCE).expect("docs/conformance-linux.md");
    let listed = suite::passing_in_markdown(&committed);
    assert!(
        !listed.is_empty(),
        "docs/conformance-linux.md lists no passing script"
    );
    let mut regressed = Vec::new();
    for rel in &listed {
        match results.iter().find(|r| &r.rel == rel) {
            Some(r) if r.verdict == Verdict::Pass => {}
            Some(r) => regressed.push(format!(
                "{rel}: {} ({})",
                r.verdict.label(),
                r.cause().unwrap_or_default()
            )),
            None => regressed.push(format!("{rel}: no longer found")),
        }
    }
    let newly: Vec<&str> = results
        .iter()
        .filter(|r| r.in_scope && r.verdict == Verdict::Pass && !listed.contains(&r.rel))
        .map(|r| r.rel.as_str())
        .collect();
    if !newly.is_empty() {
        eprintln!(
            "newly passing (not yet in docs/conformance-linux.md; {REGENERATE}):\n  {}",
            newly.join("\n  ")
        );
    }
    assert!(
        regressed.is_empty(),
        "scripts that passed no longer do:\n  {}",
        regressed.join("\n  ")
    );
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
        let mut text = std::fs::read_to_string(dir.join(rel)).unwrap();
        // packet-timeout.pkt counts on SYN timeouts that double from the
        // first; since Linux 6.5 the first four keep 1 s (see
        // `packet_timeout_fails_as_linux_6_18_does`).
        text = text.replace(
            "tcp_syn_retries=1`",
            "tcp_syn_retries=1 /proc/sys/net/ipv4/tcp_syn_linear_timeouts=0`",
        );
        let script = finack_packetdrill::parse(rel, &text).unwrap();
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

/// On Linux 6.18 packetdrill's own self-test packet-timeout.pkt fails
/// otherwise than its comment says: the second resend of the SYN comes
/// after 1 s, not 2 s (tcp_syn_linear_timeouts), a timing error; finack
/// fails it the same way.
#[test]
fn packet_timeout_fails_as_linux_6_18_does() {
    let Some(dir) = script_dir() else {
        return;
    };
    let script = finack_packetdrill::parse_file(&dir.join("master/packet-timeout.pkt")).unwrap();
    let f = finack_packetdrill::run::run(&script).outcome.unwrap_err();
    assert!(
        f.message.contains("timing error") && f.message.contains("sent at 2.000000 s"),
        "{f}"
    );
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

/// An inbound ACK line without `ack N` acknowledges script sequence 0 (our
/// ISN), as packetdrill fills it. On a connection that has sent nothing that
/// ACK lies below ISS+1, so Linux (6.7 and later, tcp_ack(); a 6.18 kernel
/// does this under packetdrill) answers with a challenge ACK and drops the
/// data; an ACK of 1 would have had it taken and acknowledged.
#[test]
fn inbound_ack_without_number_acks_our_isn() {
    let text = "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 320
+0 accept(3, ..., ...) = 4
+0 < . 1:3001(3000) win 320
+0 > . 1:1(0) ack 1
";
    let s = finack_packetdrill::parse("noack.pkt", text).unwrap();
    let r = finack_packetdrill::run::run(&s);
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

const ACCEPTED: &str = "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 320
+0 accept(3, ..., ...) = 4
";

fn run_text(body: &str) -> finack_packetdrill::run::Report {
    let s = finack_packetdrill::parse("own.pkt", &format!("{ACCEPTED}{body}"))
        .unwrap_or_else(|e| panic!("{e}"));
    finack_packetdrill::run::run(&s)
}

/// Level-triggered epoll reports a readable socket at every wait; the
/// fcntl flags read back as Linux's O_RDWR | O_NONBLOCK.
#[test]
fn epoll_level_triggered_and_fcntl_flags() {
    let r = run_text(
        "+0 fcntl(4, F_GETFL) = 0x2
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 fcntl(4, F_GETFL) = 0x802
+0 epoll_create(1) = 5
+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0
+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = -1 EEXIST (File exists)
+0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
+0 < P. 1:101(100) ack 1 win 320
+0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
+0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
+0 read(4, ..., 100) = 100
+0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
+0 epoll_ctl(5, EPOLL_CTL_DEL, 4, {events=0, fd=4}) = 0
+0 epoll_ctl(5, EPOLL_CTL_MOD, 4, {events=EPOLLIN, fd=4}) = -1 ENOENT (No such file or directory)
",
    );
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);

    let r = run_text(
        "+0 epoll_create1(0) = 5
+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0
+0 < P. 1:101(100) ack 1 win 320
+0 epoll_wait(5, {events=EPOLLIN|EPOLLOUT, fd=4}, 1, 0) = 1
",
    );
    let f = r.outcome.unwrap_err();
    assert!(
        f.message
            .contains("epoll_wait: expected events EPOLLIN|EPOLLOUT but got EPOLLIN"),
        "{f}"
    );
}

/// sendmsg writes its iovecs' summed length; MSG_MORE reaches the engine,
/// which holds the write until one without it; sendfile writes the bytes
/// of a file the script's dd made; NULL buffers fault.
#[test]
fn sendmsg_sendfile_and_bad_buffers() {
    let r = run_text(
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(3)=[{..., 10}, {..., 0}, {..., 30}], msg_flags=0}, 0) = 40
+0 > P. 1:41(40) ack 1
+0 write(4, NULL, 10) = -1 EFAULT (Bad address)
",
    );
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);

    // MSG_MORE holds the write (no segment, no push) until one without it.
    let r = run_text(
        "+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 40}], msg_flags=0}, MSG_MORE) = 40
+.01 write(4, ..., 10) = 10
+0 > P. 1:51(50) ack 1
",
    );
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    let r = run_text(
        "+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 40}], msg_flags=0}, MSG_MORE) = 40
+0 > P. 1:41(40) ack 1
",
    );
    let f = r.outcome.unwrap_err();
    assert!(
        f.message.contains("Timed out waiting"),
        "held, not sent: {f}"
    );

    let text = ACCEPTED.replace(
        "`../common/defaults.sh`",
        "`../common/defaults.sh\n/bin/rm -f /tmp/f\n/bin/dd bs=1 count=7 if=/dev/zero of=/tmp/f status=none\n`",
    ) + "+0 open(\"/tmp/f\", O_RDONLY) = 5
+0 sendfile(4, 5, [0], 100) = 7
+0 > P. 1:8(7) ack 1
+0 open(\"/tmp/missing\", O_RDONLY) = -1 ENOENT (No such file or directory)
";
    let s = finack_packetdrill::parse("own.pkt", &text).unwrap();
    let r = finack_packetdrill::run::run(&s);
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

/// ss answers from the engine's connections; a grep that matches nothing
/// fails the script as the shell command would.
#[test]
fn ss_lines_are_answered_from_the_connections() {
    let r = run_text(
        "+0 `ss -4 -n state ESTAB | grep 192.168.0.1:8080 > /dev/null`\n+0 close(4) = 0\n",
    );
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    let r = run_text(
        "+0 `ss -4 -n state SYN-RECV | grep 192.168.0.1:8080 > /dev/null`\n+0 close(4) = 0\n",
    );
    let f = r.outcome.unwrap_err();
    assert!(f.message.contains("command failed"), "{f}");
    let r = run_text("+0 `ss -6 -n | grep :8080`\n+0 close(4) = 0\n");
    assert!(r.outcome.is_err(), "no IPv6 sockets in an IPv4 run");
}

/// The same script in the three IP modes: IPv6 on the wire announces the MSS
/// of the MTU less 60 bytes of headers, so the kernel selftests' --mtu=1520
/// gives Linux's 1460.
#[test]
fn ip_modes() {
    use finack_packetdrill::run::{run_with, RunOptions};
    let s = finack_packetdrill::parse("own.pkt", OWN_SCRIPT).unwrap();
    for opts in [
        RunOptions::new().option("ip_version", "ipv4"),
        RunOptions::new().option("ip_version", "ipv4-mapped-ipv6"),
        RunOptions::new()
            .option("ip_version", "ipv6")
            .option("mtu", "1520"),
    ] {
        let r = run_with(&s, &opts);
        assert!(r.passed(), "{opts:?}: {:?} {:?}", r.outcome, r.unsupported);
    }
    let r = run_with(&s, &RunOptions::new().option("ip_version", "ipv6"));
    let f = r.outcome.unwrap_err();
    assert!(f.message.contains("got <mss 1440,nop,wscale 8>"), "{f}");
}
