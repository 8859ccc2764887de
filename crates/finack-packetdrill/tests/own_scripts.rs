//! finack's own packetdrill scripts (crates/finack-packetdrill/scripts) for the
//! teardown and protection paths the upstream suite does not cover. Each must
//! pass with nothing left unchecked.

use std::path::PathBuf;

fn scripts_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts"))
}

fn run_text(name: &str, text: &str) -> finack_packetdrill::run::Report {
    let script = finack_packetdrill::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
    finack_packetdrill::run::run(&script)
}

#[test]
fn every_own_script_passes() {
    let mut names = Vec::new();
    for e in std::fs::read_dir(scripts_dir()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "pkt") {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let r = run_text(&name, &text);
            assert!(r.passed(), "{name}: {:?} {:?}", r.outcome, r.unsupported);
            names.push(name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "accept-after-reset.pkt",
            "active-reset-timestamps.pkt",
            "backlog-overflow.pkt",
            "challenge-ack.pkt",
            "client-lifecycle.pkt",
            "client-receive-window.pkt",
            "close-linger-zero.pkt",
            "close-wait-last-ack.pkt",
            "connect-port-range-exhausted.pkt",
            "data-after-close-reset.pkt",
            "defer-accept-data.pkt",
            "defer-accept-expires.pkt",
            "defer-accept-timeout.pkt",
            "delayed-ack-adaptive.pkt",
            "delayed-ack-interactive.pkt",
            "delayed-ack-pushed-read.pkt",
            "delayed-ack-quickacks-window.pkt",
            "dsack-counted.pkt",
            "dsack-undo-during-recovery.pkt",
            "dsack-undo-restores-ssthresh.pkt",
            "duplicate-echoes-first-timestamp.pkt",
            "duplicate-restarts-quickack.pkt",
            "ecn-negotiation.pkt",
            "ecn-receiver.pkt",
            "ecn-sender.pkt",
            "ecn-syn-fallback.pkt",
            "fin-corked-write.pkt",
            "fin-nagle.pkt",
            "fin-wait-1-fin-ack-merged.pkt",
            "fin-wait-2-timeout.pkt",
            "fin-window-full.pkt",
            "fin-zero-window.pkt",
            "half-open-peer-restarted.pkt",
            "half-open-reset-on-data.pkt",
            "handshake-ack-delayed.pkt",
            "handshake-ack-on-data.pkt",
            "handshake-ack-with-data-and-fin.pkt",
            "handshake-lost-syn-rto-fallback.pkt",
            "handshake-lost-syn-window.pkt",
            "handshake-lost-synack-window.pkt",
            "handshake-spurious-syn-timeouts.pkt",
            "icmp-frag-needed.pkt",
            "inq-control-message.pkt",
            "keepalive-close-wait.pkt",
            "keepalive-fin-wait-2.pkt",
            "keepalive-listener-inherits.pkt",
            "keepalive-socket-options.pkt",
            "keepalive-user-timeout.pkt",
            "linger2-negative-orphan.pkt",
            "linger2-negative.pkt",
            "linger2-option.pkt",
            "linger2-over-60s.pkt",
            "linger2-rto-floor.pkt",
            "listener-shutdown.pkt",
            "mss-half-window.pkt",
            "new-connection-new-port.pkt",
            "nstat-ack-and-close-counters.pkt",
            "nstat-timeout-counters.pkt",
            "orphan-retries.pkt",
            "orphan-zero-window-gives-up.pkt",
            "out-of-order-no-quickack.pkt",
            "prr-no-ssrb-on-new-loss.pkt",
            "quickack-option.pkt",
            "rcv-window-no-scaling.pkt",
            "rcvbuf-lowered-fast-path-ts.pkt",
            "rcvbuf-lowered-fast-path.pkt",
            "rcvlowat-window-clamp.pkt",
            "recovery-undo-partial-hold.pkt",
            "recovery-undo-partial.pkt",
            "recovery-undo-timestamp.pkt",
            "recv-peek-waitall.pkt",
            "recv-trunc.pkt",
            "reno-disorder-new-data.pkt",
            "reno-recovery-held-at-recovery-point.pkt",
            "reno-recovery-prr-proportional.pkt",
            "reno-recovery-prr.pkt",
            "reno-reordering-raised.pkt",
            "reno-rto-timestamp-undo.pkt",
            "reset-in-close-wait.pkt",
            "reset-in-established.pkt",
            "retries-time-budget.pkt",
            "rst-in-time-wait-rfc1337.pkt",
            "rst-in-time-wait.pkt",
            "rto-backoff-kept.pkt",
            "rto-fin-sacked.pkt",
            "rto-frto-nosack-real-loss.pkt",
            "rto-frto-nosack-spurious.pkt",
            "rto-frto-real-loss.pkt",
            "rto-frto-spurious.pkt",
            "rto-repeated-frto.pkt",
            "rto-resend-gso-psh.pkt",
            "rto-sack-kept.pkt",
            "rto-sack-reneging.pkt",
            "rto-spurious-sack.pkt",
            "rto-timestamp-undo.pkt",
            "rtt-sample-from-old-echo.pkt",
            "rtt-sample-from-sack.pkt",
            "sack-compression-forced.pkt",
            "sack-compression-limit.pkt",
            "sack-compression.pkt",
            "sack-disorder-new-data.pkt",
            "sack-fin-with-data.pkt",
            "sack-out-of-order-fin.pkt",
            "sack-reorder-counted.pkt",
            "shutdown-syn-sent.pkt",
            "simultaneous-close.pkt",
            "simultaneous-open.pkt",
            "so-linger-close-waits.pkt",
            "so-linger-times-out.pkt",
            "socket-buffer-limits.pkt",
            "syn-cookies-always.pkt",
            "syn-cookies-timestamps.pkt",
            "syn-cookies.pkt",
            "syn-linear-timeouts.pkt",
            "syn-reuses-time-wait.pkt",
            "syn-sent-bad-ack-resends-syn.pkt",
            "syn-sent-paws.pkt",
            "syn-time-budget.pkt",
            "syn-without-options.pkt",
            "syn-wscale-rcvbuf.pkt",
            "synack-duplicate-syn.pkt",
            "synack-with-data.pkt",
            "syncnt-connect.pkt",
            "syncnt-listener.pkt",
            "tcp-info-ato-rcv-wnd.pkt",
            "tcp-info-delivered-ce.pkt",
            "tcp-info-delivered-nosack.pkt",
            "tcp-info-delivered.pkt",
            "tcp-info-rto-counts.pkt",
            "tcp-info-segment-counts.pkt",
            "thin-linear-timeouts.pkt",
            "time-wait-blocks-connect-without-timestamps.pkt",
            "time-wait-buckets-orphan-fin-wait-2.pkt",
            "time-wait-none-fin-meets-reset.pkt",
            "time-wait-port-exhaustion.pkt",
            "time-wait-restart.pkt",
            "time-wait-taken-over-by-bound-connect.pkt",
            "tlp-dsack-no-loss.pkt",
            "tlp-dupack-no-loss.pkt",
            "tlp-episode-ends-in-recovery.pkt",
            "tlp-repaired-loss.pkt",
            "tx-timestamps-retransmit.pkt",
            "urgent-oob-byte.pkt",
            "urgent-oob-inline.pkt",
            "urgent-oob-not-yet.pkt",
            "urgent-oob-stdurg.pkt",
            "urgent-pointer-zero.pkt",
            "window-below-one-segment.pkt",
            "window-clamp-bounded.pkt",
            "window-opens-before-probe.pkt",
            "writev-readv.pkt",
            "zero-window-probe-rearm.pkt",
            "zero-window-user-timeout.pkt",
        ]
    );
}

/// The scripts check what they claim: moved timings make them fail.
#[test]
fn own_scripts_fail_when_their_timing_claims_are_wrong() {
    let read = |n: &str| std::fs::read_to_string(scripts_dir().join(n)).unwrap();
    // TIME-WAIT ending before 60 s after its last restart.
    let tw = read("time-wait-restart.pkt").replace("+60.1 < F", "+59.5 < F");
    let f = run_text("tw", &tw).outcome.unwrap_err();
    assert!(f.message.contains("flags: expected R got ."), "{f}");
    // FIN-WAIT-2 ending before tcp_fin_timeout.
    let fw = read("fin-wait-2-timeout.pkt").replace("\n+.3 < F", "\n+.1 < F");
    let f = run_text("fw", &fw).outcome.unwrap_err();
    assert!(f.message.contains("flags: expected R got ."), "{f}");
    // Without the restart, TIME-WAIT would be over 89.9 s after it began.
    let no_restart = read("time-wait-restart.pkt")
        .replace("+30 < F. 1:1(0) ack 2 win 65535\n+0 > . 2:2(0) ack 2\n", "");
    let f = run_text("nr", &no_restart.replace("+59.9 < F", "+89.9 < F"))
        .outcome
        .unwrap_err();
    assert!(f.message.contains("expected . got R"), "{f}");
}

/// The RTO script checks what it claims: a resent GSO packet of two
/// segments without PSH, or a one-segment resend with it, fails.
#[test]
fn rto_resend_script_fails_when_its_flags_are_wrong() {
    let text = std::fs::read_to_string(scripts_dir().join("rto-resend-gso-psh.pkt")).unwrap();
    for (from, to) in [
        ("> P. 4001:6001(2000)", "> . 4001:6001(2000)"),
        ("> . 3001:4001(1000)", "> P. 3001:4001(1000)"),
    ] {
        let wrong = text.replacen(from, to, 1);
        assert_ne!(wrong, text, "{from}");
        let f = run_text("rto", &wrong).outcome.unwrap_err();
        assert!(f.message.contains("flags: expected"), "{from}: {f}");
    }
}

/// The loss-state scripts check what they claim: F-RTO's new data instead
/// of a retransmission, the window an undo gives back, and the SACKed data
/// a timeout leaves alone.
#[test]
fn loss_state_scripts_fail_when_their_claims_are_wrong() {
    let read = |n: &str| std::fs::read_to_string(scripts_dir().join(n)).unwrap();
    let fails = |name: &str, from: &str, to: &str, says: &str| {
        let text = read(name);
        let wrong = text.replacen(from, to, 1);
        assert_ne!(wrong, text, "{name}: {from}");
        let f = run_text(name, &wrong)
            .outcome
            .err()
            .unwrap_or_else(|| panic!("{name} passes with {to:?}"));
        assert!(f.message.contains(says), "{name}: {f}");
    };
    // Without SACK: the duplicate ACK ends F-RTO, the lost data goes out,
    // not more new data.
    fails(
        "rto-frto-nosack-real-loss.pkt",
        "+0 > . 1001:3001(2000)",
        "+0 > . 5001:7001(2000)",
        "sequence number",
    );
    // Without SACK: the undo brings back the window from before the timeout.
    fails(
        "rto-frto-nosack-spurious.pkt",
        "assert tcpi_snd_cwnd == 10",
        "assert tcpi_snd_cwnd == 2",
        "assertion failed",
    );
    // Step 2.b: a retransmission where F-RTO sends new data.
    fails(
        "rto-frto-real-loss.pkt",
        "+0 > . 11001:13001(2000)",
        "+0 > . 1001:3001(2000)",
        "sequence number",
    );
    // Without the undo the window would stay at its post-timeout size.
    fails(
        "rto-frto-spurious.pkt",
        "assert tcpi_snd_cwnd == 15",
        "assert tcpi_snd_cwnd == 3",
        "assertion failed",
    );
    fails(
        "rto-spurious-sack.pkt",
        "assert tcpi_ca_state == 1",
        "assert tcpi_ca_state == 4",
        "assertion failed",
    );
    // The echo of the original's timestamp undoes the timeout.
    fails(
        "rto-timestamp-undo.pkt",
        "assert tcpi_snd_cwnd == 10",
        "assert tcpi_snd_cwnd == 5",
        "assertion failed",
    );
    // The loss probe resends the short tail alone.
    fails(
        "rto-timestamp-undo.pkt",
        "> P. 3953:4001(48)",
        "> P. 3013:4001(988)",
        "sequence number",
    );
    // A probe armed before the SACK still goes; the SACKed FIN is not resent.
    fails(
        "rto-sack-reneging.pkt",
        "+.1~+.12 > P. 5001:6001(1000)",
        "+.2~+.22 > P. 5001:6001(1000)",
        "timing",
    );
    fails(
        "rto-fin-sacked.pkt",
        "+0 > P. 1001:3001(2000)",
        "+0 > FP. 1001:3001(2000)",
        "flags",
    );
    // In interactive mode the request's ACK waits; quick ACKs would send it
    // at once.
    fails(
        "delayed-ack-interactive.pkt",
        "+.04~+.05 > . 101:101(0) ack 201",
        "+0 > . 101:101(0) ack 201",
        "Timed out waiting",
    );
    // The SYN,ACK that completes a simultaneous open is answered at once.
    fails(
        "simultaneous-open.pkt",
        "ecr 800,nop,nop,sack 0:1>",
        "ecr 800>",
        "",
    );
    // The reset's error is reported once, then writes fail with EPIPE.
    fails(
        "half-open-reset-on-data.pkt",
        "= -1 EPIPE (Broken pipe)",
        "= -1 ECONNRESET (Connection reset by peer)",
        "errno",
    );
    // Data with a FIN: the FIN makes the exchange interactive, the ACK waits.
    fails(
        "handshake-ack-with-data-and-fin.pkt",
        "+.04~+.045 > . 1:1(0) ack 102",
        "+0 > . 1:1(0) ack 102",
        "Timed out waiting",
    );
    // The client's window is what its memory allows, to the scale unit.
    fails(
        "client-receive-window.pkt",
        "ack 3953 win 1038",
        "ack 3953 win 1039",
        "window",
    );
    // The time budget ends the connection before a third timeout.
    fails(
        "retries-time-budget.pkt",
        "tcp_retries2=2`",
        "tcp_retries2=15`",
        "write",
    );
    // The SACKed segments are not sent again.
    fails(
        "rto-sack-kept.pkt",
        "+0 > P. 3001:6001(3000)",
        "+0 > P. 3001:8001(5000)",
        "",
    );
    // The delayed-ACK time doubles after the timer sent an ACK alone (a
    // fixed 40 ms sends it early).
    fails(
        "delayed-ack-adaptive.pkt",
        "+0.08~+0.092 > . 1:1(0) ack 18001",
        "+0.04~+0.052 > . 1:1(0) ack 18001",
        "Timed out",
    );
    // The read that empties the buffer acknowledges the pushed segment.
    fails(
        "delayed-ack-pushed-read.pkt",
        "+.01 read(4, ..., 100000) = 17100\n   +0 > .",
        "+.01 read(4, ..., 100000) = 17100\n+.04 > .",
        "",
    );
    // Three quick ACKs for a 7300-byte window, not sixteen.
    fails(
        "delayed-ack-quickacks-window.pkt",
        "+.04~+.05 > . 1:1(0) ack 4001",
        "   +0 > . 1:1(0) ack 4001",
        "",
    );
    // The FIN waits for the window: sent with the data it would be early.
    fails(
        "fin-window-full.pkt",
        "  +.1 < . 1:1(0) ack 1001 win 1000\n   +0 > F.",
        "  +.1 < . 1:1(0) ack 1001 win 1000\n  +.1 > F.",
        "",
    );
    fails(
        "fin-zero-window.pkt",
        "+.3~+.32 > . 100:100(0) ack 1",
        "+0 > F. 101:101(0) ack 1",
        "",
    );
    // Cork and Nagle do not hold the FIN's segment.
    fails(
        "fin-corked-write.pkt",
        "   +0 > FP. 1:301(300) ack 1",
        "  +.2 > FP. 1:301(300) ack 1",
        "",
    );
    fails(
        "fin-nagle.pkt",
        "   +0 > FP. 301:601(300) ack 1",
        "  +.1 > FP. 301:601(300) ack 1",
        "",
    );
    // Half the peer's largest window bounds the segment.
    // (A window of 1300 bounds segments to 650: the 600 bytes go at once,
    // as one pushed segment.)
    let text = read("mss-half-window.pkt");
    let wider = text.replace("win 1000", "win 1300");
    assert_ne!(wider, text);
    let f = run_text("mss-half-window.pkt", &wider).outcome.unwrap_err();
    assert!(f.message.contains("flags"), "{f}");
    // The socket's own idle time, not the sysctl's two hours.
    fails(
        "keepalive-socket-options.pkt",
        "   +2 > . 0:0(0) ack 1",
        "   +3 > . 0:0(0) ack 1",
        "",
    );
    fails(
        "keepalive-listener-inherits.pkt",
        "   +2 > R. 1:1(0) ack 11",
        "   +4 > R. 1:1(0) ack 11",
        "",
    );
    // The read wakes for 2500 new bytes, not when its own total reaches
    // the mark.
    fails(
        "rcvlowat-window-clamp.pkt",
        "+0...0.15 read(4, ..., 5000) = 3500",
        "+0...0.10 read(4, ..., 5000) = 3000",
        "",
    );
    fails(
        "window-clamp-bounded.pkt",
        "   +0 setsockopt(4, IPPROTO_TCP, 10, [300000], 4) = 0\n   +0 getsockopt(4, IPPROTO_TCP, 10, [65535], [4]) = 0",
        "   +0 setsockopt(4, IPPROTO_TCP, 10, [300000], 4) = 0\n   +0 getsockopt(4, IPPROTO_TCP, 10, [300000], [4]) = 0",
        "",
    );
    // After the peer's FIN a reset ends the stream and is a broken pipe.
    fails(
        "reset-in-close-wait.pkt",
        "   +0 read(4, ..., 1000) = 0",
        "   +0 read(4, ..., 1000) = -1 ECONNRESET (Connection reset by peer)",
        "",
    );
    // The ACK sets the probe timer again: counted from the first probe the
    // second would come 100 ms early.
    fails(
        "zero-window-probe-rearm.pkt",
        " +.6~+.62 > . 2000:2000(0) ack 1",
        " +.5~+.52 > . 2000:2000(0) ack 1",
        "",
    );
    // The rate limit: the second copy is not answered.
    fails(
        "synack-duplicate-syn.pkt",
        "  +.2 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n  +.8 > S.",
        "  +.2 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n   +0 > S.",
        "",
    );
    // The SYN,ACK's data is not taken.
    fails(
        "synack-with-data.pkt",
        "  +.1 < S. 0:10(10) ack 1 win 5840 <mss 1460,nop,wscale 7>\n   +0 > . 1:1(0) ack 1\n",
        "  +.1 < S. 0:10(10) ack 1 win 5840 <mss 1460,nop,wscale 7>\n   +0 > . 1:1(0) ack 11\n",
        "",
    );
    // close() waits for the FIN's acknowledgement, and no longer.
    fails(
        "so-linger-close-waits.pkt",
        "   +0...0.2 close(4) = 0",
        "   +0 close(4) = 0",
        "",
    );
    fails(
        "so-linger-times-out.pkt",
        "   +0...1 close(4) = 0",
        "   +0...2 close(4) = 0",
        "",
    );
    // The orphan gives up after eight unanswered probes: a ninth is wrong.
    fails(
        "orphan-zero-window-gives-up.pkt",
        "+78 < . 1:1(0) ack 101 win 0\n   +0 > R 101:101(0)",
        "+76.8~+78 > . 100:100(0) ack 1",
        "",
    );
    // TCP_LINGER2: the set time, not tcp_fin_timeout, ends FIN-WAIT-2.
    fails(
        "linger2-option.pkt",
        "  +.3 < F. 1:1(0) ack 2 win 257\n   +0 > R 2:2(0)",
        "  +.3 < F. 1:1(0) ack 2 win 257\n   +0 > . 2:2(0) ack 2",
        "",
    );
    // Never under 3.5 RTOs: 8 s in, the orphan still answers.
    fails(
        "linger2-rto-floor.pkt",
        "+8 < . 1000000000:1000000000(0) ack 2 win 257\n   +0 > . 2:2(0) ack 1",
        "+8 < . 1000000000:1000000000(0) ack 2 win 257\n   +0 > R 2:2(0)",
        "",
    );
    // Over 60 s: two stages of 1 s, not 61 s.
    fails(
        "linger2-over-60s.pkt",
        "  +.4 < F. 1:1(0) ack 2 win 257\n   +0 > R 2:2(0)",
        "  +.4 < F. 1:1(0) ack 2 win 257\n   +0 > . 2:2(0) ack 2",
        "",
    );
    // Negative: close() in FIN-WAIT-2 resets; an orphan's acknowledged FIN
    // is answered with a reset.
    fails(
        "linger2-negative.pkt",
        "   +0 > R. 2:2(0) ack 1",
        "   +0 > . 2:2(0) ack 1",
        "",
    );
    fails(
        "linger2-negative-orphan.pkt",
        "  +.1 < . 1:1(0) ack 2 win 257\n   +0 > R 2:2(0)\n",
        "  +.1 < . 1:1(0) ack 2 win 257\n",
        "",
    );
    // TCP_DEFER_ACCEPT: the bare ACK makes no connection; 5 s reads back
    // as 7; the SYN,ACK is not resent at the first timeout; the request
    // goes once retries and period have run out.
    fails(
        "defer-accept-data.pkt",
        "   +0 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)",
        "   +0 accept(3, ..., ...) = 4",
        "",
    );
    fails(
        "defer-accept-data.pkt",
        "TCP_DEFER_ACCEPT, [7], [4])",
        "TCP_DEFER_ACCEPT, [5], [4])",
        "",
    );
    fails(
        "defer-accept-timeout.pkt",
        "   +2 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n  +.9 > S.",
        "  +.9 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n   +2 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n   +0 > S.",
        "",
    );
    fails(
        "defer-accept-expires.pkt",
        "   +0 > R 1:1(0)",
        "   +0 > . 1:1(0) ack 1",
        "",
    );
    // TCP_QUICKACK: interactive mode delays the first data's ACK; leaving
    // it sends the owed ACK only once the data was read.
    fails(
        "quickack-option.pkt",
        "  +.1 < P. 1:101(100) ack 1 win 257\n +.04 > . 1:1(0) ack 101",
        "  +.1 < P. 1:101(100) ack 1 win 257\n   +0 > . 1:1(0) ack 101",
        "",
    );
    fails(
        "quickack-option.pkt",
        " +.01 setsockopt(4, SOL_TCP, TCP_QUICKACK, [1], 4) = 0\n +.03 > . 1:1(0) ack 301",
        " +.01 setsockopt(4, SOL_TCP, TCP_QUICKACK, [1], 4) = 0\n   +0 > . 1:1(0) ack 301",
        "",
    );
    // The handshake's ACK waits 200 ms, or rides on the first data.
    fails(
        "handshake-ack-delayed.pkt",
        "  +.2 > . 1:1(0) ack 1 <nop,nop,TS val 300 ecr 700>",
        "   +0 > . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 700>",
        "",
    );
    fails(
        "handshake-ack-on-data.pkt",
        " +.05 write(3, ..., 10) = 10",
        "   +0 > . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 700>\n +.05 write(3, ..., 10) = 10",
        "",
    );
    // shutdown() on a listener stops it (and only a reading one); in
    // SYN-SENT it abandons the attempt with ECONNRESET.
    fails(
        "listener-shutdown.pkt",
        "   +0 accept(3, ..., ...) = -1 EINVAL (Invalid argument)",
        "   +0 accept(3, ..., ...) = 4",
        "",
    );
    fails(
        "listener-shutdown.pkt",
        "   +0 shutdown(3, SHUT_WR) = 0\n",
        "   +0 shutdown(3, SHUT_WR) = 0\n   +0 > R. 1:1(0) ack 1\n",
        "",
    );
    fails("shutdown-syn-sent.pkt", "[ECONNRESET]", "[0]", "");
    // Urgent data's out-of-band byte leaves the stream (or stays, inline),
    // reads stop in front of it, and it is readable once.
    fails(
        "urgent-oob-byte.pkt",
        "   +0 read(4, ..., 100) = 5\n",
        "   +0 read(4, ..., 100) = 6\n",
        "",
    );
    fails(
        "urgent-oob-byte.pkt",
        "   +0 recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)",
        "   +0 recv(4, ..., 1, MSG_OOB) = 1",
        "",
    );
    fails(
        "urgent-oob-inline.pkt",
        "   +0 read(4, ..., 100) = 5\n   +0 recv",
        "   +0 read(4, ..., 100) = 10\n   +0 recv",
        "",
    );
    fails(
        "urgent-oob-not-yet.pkt",
        "   +0 read(4, ..., 100) = 9",
        "   +0 read(4, ..., 100) = 10",
        "",
    );
    // With TCP_USER_TIMEOUT, keep-alive gives up by time, not by count.
    fails(
        "keepalive-user-timeout.pkt",
        "   +1 > R. 1:1(0) ack 1",
        "   +1 > . 0:0(0) ack 1",
        "",
    );
    // MSG_TRUNC consumes what it counts; with MSG_PEEK it does not.
    fails(
        "recv-trunc.pkt",
        "   +0 read(4, ..., 1000) = 400",
        "   +0 read(4, ..., 1000) = 500",
        "",
    );
    // The fast path takes the fifth segment over the buffer's limit; the
    // memory each segment costs is Linux's.
    fails(
        "rcvbuf-lowered-fast-path.pkt",
        "SK_MEMINFO_RMEM_ALLOC == 11520",
        "SK_MEMINFO_RMEM_ALLOC == 9216",
        "",
    );
    fails(
        "rcvbuf-lowered-fast-path.pkt",
        "+.10~+.12 > . 1:1(0) ack 5001 win 1034",
        "+0 > . 1:1(0) ack 4001 win 0",
        "",
    );
    fails(
        "rcvbuf-lowered-fast-path-ts.pkt",
        "+.10~+.12 > . 1:1(0) ack 5001 <nop,nop,TS val 700 ecr 700>",
        "+0 > . 1:1(0) ack 4001 win 0 <nop,nop,TS val 600 ecr 700>",
        "",
    );
    // Answered zero-window probes end under TCP_USER_TIMEOUT, not before.
    fails(
        "zero-window-user-timeout.pkt",
        "[ETIMEDOUT], [4]) = 0",
        "[0], [4]) = 0",
        "",
    );
    fails(
        "zero-window-user-timeout.pkt",
        "+.5 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n+.5 getsockopt(4, SOL_SOCKET, SO_ERROR, [ETIMEDOUT]",
        "+.5 getsockopt(4, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0\n+.5 getsockopt(4, SOL_SOCKET, SO_ERROR, [ETIMEDOUT]",
        "",
    );
    // A bound port takes a TIME-WAIT over with timestamps; without them the
    // 4-tuple stays taken.
    fails(
        "time-wait-taken-over-by-bound-connect.pkt",
        "   +0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)",
        "   +0 connect(4, ..., ...) = -1 EADDRNOTAVAIL (Cannot assign requested address)",
        "",
    );
    fails(
        "time-wait-blocks-connect-without-timestamps.pkt",
        "= -1 EADDRNOTAVAIL (Cannot assign requested address)",
        "= -1 EADDRINUSE (Address already in use)",
        "",
    );
    // tcp_max_tw_buckets 0: the orphan is gone once its FIN is acked.
    fails(
        "time-wait-buckets-orphan-fin-wait-2.pkt",
        "   +0 > R 2:2(0)",
        "   +0 > . 2:2(0) ack 2",
        "flags",
    );
    // With a TIME-WAIT bucket the resent FIN is acknowledged again.
    fails(
        "time-wait-none-fin-meets-reset.pkt",
        "   +0 `sysctl -q net.ipv4.tcp_max_tw_buckets=0`\n",
        "",
        "flags: expected R got .",
    );
    // One orphan retry: the budget (0.6 s) is over before the 1.6 s resend.
    fails(
        "orphan-retries.pkt",
        "tcp_orphan_retries=2",
        "tcp_orphan_retries=1",
        "",
    );
    // A third port in the range: the third connect() goes through.
    fails(
        "connect-port-range-exhausted.pkt",
        "40000 40001",
        "40000 40002",
        "",
    );
    // Before tcp_tw_reuse_delay the TIME-WAIT 4-tuple is not taken over.
    fails(
        "time-wait-port-exhaustion.pkt",
        "  +.6 connect(4",
        "  +.2 connect(4",
        "",
    );
    // SACK compression: the burst's last three segments share one ACK.
    fails(
        "sack-compression.pkt",
        "   +0 > . 1:1(0) ack 1 <nop,nop,sack 1001:7001>",
        "   +0 > . 1:1(0) ack 1 <nop,nop,sack 1001:5001>",
        "",
    );
    fails(
        "sack-compression.pkt",
        "TcpExtTCPAckCompressed *3 ",
        "TcpExtTCPAckCompressed *4 ",
        "",
    );
    // Without TCP_THIN_LINEAR_TIMEOUTS the third timeout is already
    // doubled; past six linear ones, doubling comes back.
    fails(
        "thin-linear-timeouts.pkt",
        "   +0 setsockopt(4, SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, [1], 4) = 0\n",
        "",
        "",
    );
    fails(
        "thin-linear-timeouts.pkt",
        "// Then the usual doubling.\n +.6~+.66",
        "// Then the usual doubling.\n +.3~+.33",
        "",
    );
    // A D-SACK's undo brings ssthresh back too.
    fails(
        "dsack-undo-restores-ssthresh.pkt",
        "tcpi_snd_ssthresh == 2147483647",
        "tcpi_snd_ssthresh == 7",
        "",
    );
    // The D-SACK counts as one segment delivered (10 + 8, not 10 + 7), and
    // a second one for the same segment is dubious.
    fails(
        "dsack-counted.pkt",
        "assert tcpi_snd_cwnd == 18",
        "assert tcpi_snd_cwnd == 17",
        "tcpi_snd_cwnd = 18",
    );
    fails(
        "dsack-counted.pkt",
        "tcpi_dsack_dups == 2",
        "tcpi_dsack_dups == 1",
        "tcpi_dsack_dups = 2",
    );
    fails(
        "dsack-counted.pkt",
        "TCPDSACKIgnoredDubious  *1 ",
        "TCPDSACKIgnoredDubious  *0 ",
        "",
    );
    // Without the D-SACK the recovery goes on.
    fails(
        "dsack-undo-during-recovery.pkt",
        "ack 4001 win 514 <sack 1:1001,nop,nop>",
        "ack 4001 win 514",
        "assertion failed",
    );
    // The ACK past a resent loss probe reduces the window, unless a D-SACK
    // or a duplicate ACK showed the original arrived.
    fails(
        "tlp-repaired-loss.pkt",
        "tcpi_snd_cwnd == 7 and",
        "tcpi_snd_cwnd == 10 and",
        "assertion failed",
    );
    fails(
        "tlp-dsack-no-loss.pkt",
        "ack 3001 win 514 <sack 1001:2001,nop,nop>",
        "ack 3001 win 514",
        "assertion failed",
    );
    fails(
        "tlp-episode-ends-in-recovery.pkt",
        "tcpi_snd_cwnd == 7 and tcpi_snd_ssthresh == 7",
        "tcpi_snd_cwnd == 4 and tcpi_snd_ssthresh == 7",
        "assertion failed",
    );
    fails(
        "tlp-dupack-no-loss.pkt",
        "  +.1 < . 1:1(0) ack 2001 win 514\n   +0 < . 1:1(0) ack 2001 win 514\n",
        "  +.1 < . 1:1(0) ack 2001 win 514\n",
        "assertion failed",
    );
    // Without SACK the recovery point acknowledged exactly holds the
    // recovery; the ACK beyond it sets the window to ssthresh.
    fails(
        "reno-recovery-held-at-recovery-point.pkt",
        "// The recovery point, acknowledged exactly: the recovery is held.\n   +0 %{ assert tcpi_ca_state == 3",
        "// The recovery point, acknowledged exactly: the recovery is held.\n   +0 %{ assert tcpi_ca_state == 0",
        "assertion failed",
    );
    fails(
        "reno-recovery-held-at-recovery-point.pkt",
        "assert tcpi_snd_cwnd == 7,",
        "assert tcpi_snd_cwnd == 5,",
        "assertion failed",
    );
    // Without SACK, PRR: duplicate ACKs in recovery do not inflate the
    // window, and new data goes out as they arrive.
    fails(
        "reno-recovery-prr.pkt",
        "assert tcpi_snd_cwnd == 7 and tcpi_sacked == 5,",
        "assert tcpi_snd_cwnd == 9 and tcpi_sacked == 5,",
        "assertion failed",
    );
    fails(
        "reno-recovery-prr.pkt",
        "   +0 > . 12001:13001(1000) ack 1\n",
        "",
        "",
    );
    // Without SACK, too many duplicate ACKs raise the reordering degree,
    // and the next fast retransmit waits for it.
    fails(
        "reno-reordering-raised.pkt",
        "assert tcpi_sacked == 5 and tcpi_reordering == 6, tcpi_reordering }%\n   +0 < .",
        "assert tcpi_sacked == 6 and tcpi_reordering == 6, tcpi_reordering }%\n   +0 < .",
        "assertion failed",
    );
    fails(
        "reno-reordering-raised.pkt",
        "assert tcpi_ca_state == 1 and tcpi_sacked == 5",
        "assert tcpi_ca_state == 3 and tcpi_sacked == 5",
        "assertion failed",
    );
    // With SACK, every SACKed segment lets a new one out before recovery,
    // and the reordering degree counts up to SND.UNA.
    fails(
        "sack-disorder-new-data.pkt",
        "   +0 > P. 33001:35001(2000) ack 1\n",
        "   +0 > P. 33001:34001(1000) ack 1\n",
        "",
    );
    fails(
        "sack-disorder-new-data.pkt",
        "assert tcpi_reordering == 10 and",
        "assert tcpi_reordering == 3 and",
        "assertion failed",
    );
    // Without SACK, a timestamp undo after a timeout keeps the loss state
    // (until beyond the recovery point, held there).
    fails(
        "reno-rto-timestamp-undo.pkt",
        "   +0 %{ assert tcpi_ca_state == 4, tcpi_ca_state }%",
        "   +0 %{ assert tcpi_ca_state == 0, tcpi_ca_state }%",
        "assertion failed",
    );
    fails(
        "reno-rto-timestamp-undo.pkt",
        "   +0 %{ assert tcpi_ca_state == 4 and tcpi_snd_cwnd == 10, tcpi_ca_state }%",
        "   +0 %{ assert tcpi_ca_state == 0 and tcpi_snd_cwnd == 10, tcpi_ca_state }%",
        "assertion failed",
    );
    // A partial ACK that cannot undo with resends out lets new data out,
    // no resend.
    fails(
        "recovery-undo-partial-hold.pkt",
        "   +0 > P. 9881:11857(1976) ack 1 <...>\n",
        "   +0 > . 2965:3953(988) ack 1 <...>\n",
        "",
    );
    // tcpi_delivered: the SYN,ACK once, SACKed segments once.
    fails(
        "tcp-info-delivered.pkt",
        "assert tcpi_delivered == 1,",
        "assert tcpi_delivered == 2,",
        "assertion failed",
    );
    fails(
        "tcp-info-delivered.pkt",
        "assert tcpi_delivered == 11,",
        "assert tcpi_delivered == 14,",
        "assertion failed",
    );
    fails(
        "tcp-info-delivered-ce.pkt",
        "assert tcpi_delivered == 4 and tcpi_delivered_ce == 3,",
        "assert tcpi_delivered == 4 and tcpi_delivered_ce == 2,",
        "assertion failed",
    );
    fails(
        "tcp-info-delivered-nosack.pkt",
        "assert tcpi_delivered == 5,",
        "assert tcpi_delivered == 7,",
        "assertion failed",
    );
    // Without SACK, PRR's proportional part, nothing counted while held,
    // and every segment delivered counted.
    fails(
        "reno-recovery-prr-proportional.pkt",
        "assert tcpi_snd_cwnd == 17,",
        "assert tcpi_snd_cwnd == 18,",
        "assertion failed",
    );
    fails(
        "reno-recovery-prr-proportional.pkt",
        "assert tcpi_ca_state == 3 and tcpi_sacked == 0, tcpi_sacked }%",
        "assert tcpi_ca_state == 3 and tcpi_sacked == 2, tcpi_sacked }%",
        "assertion failed",
    );
    fails(
        "reno-recovery-prr-proportional.pkt",
        "assert tcpi_delivered == 11 and",
        "assert tcpi_delivered == 1 and",
        "assertion failed",
    );
    // PRR-SSRB's extra segment is not given when the ACK marked a loss.
    fails(
        "prr-no-ssrb-on-new-loss.pkt",
        "assert tcpi_snd_cwnd == 4,",
        "assert tcpi_snd_cwnd == 5,",
        "assertion failed",
    );
    // Without SACK, before the fast retransmit each duplicate ACK lets a
    // new segment out once reordering raised the threshold.
    fails(
        "reno-disorder-new-data.pkt",
        "   +0 > . 19001:20001(1000) ack 1\n",
        "",
        "",
    );
    // In order, nothing is counted as reordering.
    fails(
        "sack-reorder-counted.pkt",
        "ack 1001 win 514 <sack 2001:3001,nop,nop>",
        "ack 1001 win 514",
        "assertion failed",
    );
    fails(
        "recovery-undo-partial.pkt",
        "TCPTSReorder  *1 ",
        "TCPTSReorder  *0 ",
        "",
    );
    // With the retransmission's echo the partial ACK undoes nothing.
    fails(
        "recovery-undo-partial.pkt",
        "ack 3953 win 514 <nop,nop,TS val 400 ecr 200>",
        "ack 3953 win 514 <nop,nop,TS val 400 ecr 300>",
        "assertion failed",
    );
    // A recovery undone by an old echo; with the retransmission's echo it
    // stands (cwnd 8, ssthresh 7).
    fails(
        "recovery-undo-timestamp.pkt",
        "ack 9881 win 514 <nop,nop,TS val 400 ecr 200>",
        "ack 9881 win 514 <nop,nop,TS val 400 ecr 300>",
        "",
    );
    // Lost SYNs or SYN,ACKs leave one segment of window; needless ones
    // (the echo names the first SYN) leave ten.
    fails(
        "handshake-lost-syn-window.pkt",
        "   +0 %{ assert tcpi_snd_cwnd == 1, tcpi_snd_cwnd }%",
        "   +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%",
        "",
    );
    fails(
        "handshake-lost-syn-rto-fallback.pkt",
        "+3~+3.1 > . 1:1001(1000) ack 1",
        "+1~+1.1 > . 1:1001(1000) ack 1",
        "",
    );
    fails(
        "handshake-lost-synack-window.pkt",
        "   +0 > . 1:1001(1000) ack 1\n",
        "   +0 > . 1:5001(5000) ack 1\n",
        "",
    );
    fails(
        "handshake-spurious-syn-timeouts.pkt",
        "TS val 500 ecr 100,",
        "TS val 500 ecr 1100,",
        "",
    );
    // SYN-SENT: the SYN goes again at once after a bad ACK; a SYN,ACK
    // with a timestamp echo from the future is reset and ignored.
    fails(
        "syn-sent-bad-ack-resends-syn.pkt",
        "+.002~+.012 > S 0:0(0)",
        "+.9~+1.1 > S 0:0(0)",
        "",
    );
    fails(
        "syn-sent-paws.pkt",
        "TcpExtPAWSActive *1 ",
        "TcpExtPAWSActive *0 ",
        "",
    );
    // The duplicate's ACK echoes the first copy's timestamp.
    fails(
        "duplicate-echoes-first-timestamp.pkt",
        "<nop,nop,TS val 700 ecr 300,nop,nop,sack 1:989>",
        "<nop,nop,TS val 700 ecr 800,nop,nop,sack 1:989>",
        "",
    );
    // A SACK's or an old echo's RTT sample ends them.
    fails(
        "rtt-sample-from-sack.pkt",
        "   +0 %{ assert tcpi_backoff == 0, tcpi_backoff }%",
        "   +0 %{ assert tcpi_backoff == 1, tcpi_backoff }%",
        "",
    );
    fails(
        "rtt-sample-from-old-echo.pkt",
        "   +0 %{ assert tcpi_backoff == 0, tcpi_backoff }%",
        "   +0 %{ assert tcpi_backoff == 1, tcpi_backoff }%",
        "",
    );
    // An ACK without an RTT sample leaves the doublings.
    fails(
        "rto-backoff-kept.pkt",
        "+1.2~+1.26 > P. 1001:2001(1000) ack 1",
        " +.3~+.33 > P. 1001:2001(1000) ack 1",
        "",
    );
    // The forced ACK leaves out the new block, and widens an extended one.
    fails(
        "sack-compression-forced.pkt",
        "   +0 > . 1:1(0) ack 1 <nop,nop,sack 5001:6001 1001:4001>",
        "   +0 > . 1:1(0) ack 1 <nop,nop,sack 7001:8001 5001:6001 1001:4001>",
        "",
    );
    fails(
        "sack-compression-forced.pkt",
        "7001:8001 4001:6001 1001:4001>",
        "7001:8001 5001:6001 1001:4001>",
        "",
    );
    // At tcp_comp_sack_nr 1 the fifth segment's ACK goes at once.
    fails(
        "sack-compression-limit.pkt",
        "   +0 > . 1:1(0) ack 1 <nop,nop,sack 1001:6001>\n",
        "",
        "",
    );
    // No quick ACK after the hole: the ACK waits for the delayed-ACK timer.
    fails(
        "out-of-order-no-quickack.pkt",
        "  +.04 > . 1:1(0) ack 19001",
        "   +0 > . 1:1(0) ack 19001",
        "",
    );
    // tcp_stdurg moves the out-of-band byte one on.
    fails("urgent-oob-stdurg.pkt", "tcp_stdurg=1", "tcp_stdurg=0", "");
    // A pointer of 0 takes the first byte out of the stream.
    fails(
        "urgent-pointer-zero.pkt",
        "read(4, ..., 100) = 9",
        "read(4, ..., 100) = 10",
        "",
    );
    // SO_RCVBUF is capped at twice rmem_max.
    fails(
        "socket-buffer-limits.pkt",
        "SO_RCVBUF, [8388608], [4]",
        "SO_RCVBUF, [20000000], [4]",
        "",
    );
    // Without the quick ACKs the duplicate restarts, the ACK is delayed.
    fails(
        "duplicate-restarts-quickack.pkt",
        "  +.01 < . 17001:18001(1000) ack 1 win 514\n   +0 > . 1:1(0) ack 18001",
        "  +.01 < . 17001:18001(1000) ack 1 win 514\n  +.04 > . 1:1(0) ack 18001",
        "",
    );
    // The FIN's own SACK block comes first (it is the latest arrival).
    fails(
        "sack-out-of-order-fin.pkt",
        "<nop,nop,sack 3001:3002 1001:2001>",
        "<nop,nop,sack 1001:2001 3001:3002>",
        "",
    );
    fails(
        "sack-fin-with-data.pkt",
        "<nop,nop,sack 1001:3002>",
        "<nop,nop,sack 1001:3001>",
        "",
    );
    // Each counter is compared.
    for (from, to) in [
        ("TcpExtDelayedACKs *1 ", "TcpExtDelayedACKs *2 "),
        ("TcpExtDelayedACKLost *1 ", "TcpExtDelayedACKLost *0 "),
        ("TcpExtTCPAbortOnClose *1 ", "TcpExtTCPAbortOnData *1 "),
    ] {
        fails("nstat-ack-and-close-counters.pkt", from, to, "");
    }
    for (from, to) in [
        ("TcpExtTCPSynRetrans *1 ", "TcpExtTCPSynRetrans *2 "),
        ("TcpExtTCPTimeouts *1 ", "TcpExtTCPTimeouts *2 "),
        ("TcpExtTCPKeepAlive *1 ", "TcpExtTCPKeepAlive *2 "),
    ] {
        fails("nstat-timeout-counters.pkt", from, to, "");
    }
    // The probes go on after a half-close and end in a reset.
    fails(
        "keepalive-fin-wait-2.pkt",
        "  +1 > R. 2:2(0) ack 1",
        "  +1 > . 1:1(0) ack 1",
        "",
    );
    fails(
        "keepalive-close-wait.pkt",
        "  +1 > R. 1:1(0) ack 2",
        "  +1 > . 0:0(0) ack 2",
        "",
    );
    // readv() reads what all its iovecs hold, no more.
    fails(
        "writev-readv.pkt",
        "   +0 readv(4, [{..., 100}, {..., 250}], 2) = 350",
        "   +0 readv(4, [{..., 100}, {..., 250}], 2) = 500",
        "",
    );
    // TCP_SYNCNT bounds the SYN and SYN,ACK retries.
    fails(
        "syncnt-connect.pkt",
        "+1.9 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0",
        "+1.9 getsockopt(3, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0",
        "",
    );
    fails(
        "syncnt-listener.pkt",
        "   +2 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n",
        "   +2 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n   +4 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n",
        "",
    );
    // SO_RCVBUF before connect() lowers the shift the SYN offers.
    fails(
        "syn-wscale-rcvbuf.pkt",
        "nop,wscale 3>",
        "nop,wscale 8>",
        "TCP options",
    );
    // Without scaling the window ends at 65535: a segment starting there
    // is not queued (6.x queued and SACKed it).
    fails(
        "rcv-window-no-scaling.pkt",
        "+0 > . 1:1(0) ack 1 win 65535\n",
        "+0 > . 1:1(0) ack 1 win 65535 <nop,nop,sack 65536:66536>\n",
        "",
    );
    // tcp_info's counts: the second timeout is in the first one's run,
    // and the SYN,ACK is not the passive connection's segment.
    fails(
        "tcp-info-rto-counts.pkt",
        "assert tcpi_total_rto_recoveries == 1, tcpi_total_rto_recoveries\nassert 580",
        "assert tcpi_total_rto_recoveries == 2, tcpi_total_rto_recoveries\nassert 580",
        "assertion failed",
    );
    fails(
        "tcp-info-segment-counts.pkt",
        "assert tcpi_segs_in == 2 and tcpi_segs_out == 0",
        "assert tcpi_segs_in == 2 and tcpi_segs_out == 1",
        "assertion failed",
    );
}

/// The ICMP script's claims hold: the out-of-window message really is ignored
/// (quoting the segment in flight instead makes the resend come early), and
/// without the in-window one nothing is resent.
#[test]
fn icmp_script_fails_when_its_claims_are_wrong() {
    let text = std::fs::read_to_string(scripts_dir().join("icmp-frag-needed.pkt")).unwrap();
    let early = text.replacen(
        "+.01 < icmp unreachable frag_needed mtu 1000\n",
        "+.01 < icmp unreachable frag_needed mtu 1000 [1:1461(1460)]\n",
        1,
    );
    assert_ne!(early, text);
    let f = run_text("early", &early).outcome.unwrap_err();
    assert!(f.message.contains("timing error"), "{f}");
    let none = text.replace(
        "+.01 < icmp unreachable frag_needed mtu 1000 [1:1461(1460)]\n",
        "",
    );
    assert_ne!(none, text);
    let f = run_text("none", &none).outcome.unwrap_err();
    // Only the RTO resends, at full size.
    assert!(
        f.message.contains("next outbound packet: P. 1:1461(1460)"),
        "{f}"
    );
}

/// The cookie script checks what it claims: an ACK one off the cookie opens
/// nothing (the listener answers with a RST and accept() finds no connection).
#[test]
fn syn_cookie_script_fails_with_a_wrong_cookie() {
    let text = std::fs::read_to_string(scripts_dir().join("syn-cookies.pkt")).unwrap();
    let wrong = text.replace(
        "+.01 < 47001>8080 . 1:1(0) ack 1 win 65535",
        "+.01 < 47001>8080 . 1:1(0) ack 2 win 65535",
    );
    assert_ne!(wrong, text);
    let f = run_text("wrong", &wrong).outcome.unwrap_err();
    assert!(f.message.contains("accept would block"), "{f}");
}

/// The ECN scripts check what they claim: the IP ECN field and the ECE / CWR
/// flags are compared, so a wrong codepoint or a missing flag fails.
#[test]
fn ecn_scripts_fail_when_their_claims_are_wrong() {
    let read = |n: &str| std::fs::read_to_string(scripts_dir().join(n)).unwrap();
    let fails = |name: &str, text: String, from: &str, to: &str, says: &str| {
        let wrong = text.replacen(from, to, 1);
        assert_ne!(wrong, text, "{name}: {from}");
        let f = run_text(name, &wrong).outcome.unwrap_err();
        assert!(f.message.contains(says), "{name}: {f}");
    };
    let rx = read("ecn-receiver.pkt");
    // The ACK of CE-marked data is Not-ECT and carries ECE.
    fails(
        "ce-ack-ect",
        rx.clone(),
        "+0 > [noecn] E. 1:1(0) ack 2001",
        "+0 > [ect0] E. 1:1(0) ack 2001",
        "IP ECN field: expected ect0 got noecn",
    );
    // The echo goes on until CWR.
    fails(
        "echo-stops-early",
        rx.clone(),
        "+0 > [noecn] E. 1:1(0) ack 3001",
        "+0 > [noecn] . 1:1(0) ack 3001",
        "flags: expected . got E.",
    );
    // And stops after it.
    fails(
        "echo-goes-on",
        rx,
        "+0 > [noecn] . 101:101(0) ack 4001",
        "+0 > [noecn] E. 101:101(0) ack 4001",
        "flags: expected E. got .",
    );
    let tx = read("ecn-sender.pkt");
    fails(
        "no-cwr",
        tx.clone(),
        "PW. 4001:5001",
        "P. 4001:5001",
        "flags: expected P. got PW.",
    );
    fails(
        "rexmit-ect",
        tx,
        "* > [noecn]",
        "* > [ect0]",
        "IP ECN field: expected ect0 got noecn",
    );
    fails(
        "ect-syn-accepted",
        read("ecn-negotiation.pkt"),
        "+0 > S. 0:0(0) ack 1 <mss 1460>",
        "+0 > SE. 0:0(0) ack 1 <mss 1460>",
        "flags: expected SE. got S.",
    );
    fails(
        "no-fallback",
        read("ecn-syn-fallback.pkt"),
        "+1 > S 0:0(0)",
        "+1 > SEW 0:0(0)",
        "flags: expected SEW got S",
    );
}

/// The transmit-timestamp script checks what it claims: the key (ee_data),
/// which moment (ee_info), the software stamp's time, msg_flags and the
/// count of control messages are all compared.
#[test]
fn tx_timestamp_script_fails_when_its_claims_are_wrong() {
    let text = std::fs::read_to_string(scripts_dir().join("tx-timestamps-retransmit.pkt")).unwrap();
    let fails = |name: &str, from: &str, to: &str, says: &str| {
        let wrong = text.replacen(from, to, 1);
        assert_ne!(wrong, text, "{name}: {from}");
        let f = run_text(name, &wrong).outcome.unwrap_err();
        assert!(f.message.contains(says), "{name}: {f}");
    };
    fails("key", "ee_data=499", "ee_data=500", "ee_data: expected 500");
    fails(
        "moment",
        "ee_info=SCM_TSTAMP_SCHED",
        "ee_info=SCM_TSTAMP_SND",
        "ee_info: expected SCM_TSTAMP_SND",
    );
    // The resend's stamp is 300 ms after the first.
    fails(
        "time",
        "scm_nsec=400000000",
        "scm_nsec=100000000",
        "SCM_TIMESTAMPING: expected 100000 us but got 400000 us",
    );
    fails(
        "trunc",
        "msg_flags=MSG_ERRQUEUE|MSG_TRUNC",
        "msg_flags=MSG_ERRQUEUE",
        "expected msg_flags 0x2000 but got 0x2020",
    );
    // Without SOF_TIMESTAMPING_SOFTWARE the time is not reported.
    fails(
        "no-software",
        "SOF_TIMESTAMPING_TX_ACK | SOF_TIMESTAMPING_SOFTWARE |",
        "SOF_TIMESTAMPING_TX_ACK |",
        "expected 2 control messages but got 1",
    );
    // The ACK comes once: a sixth record is not there.
    let extra = text.replacen(
        "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=0,\n              msg_control=[]}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)\n+0 poll([{fd=4, events=POLLIN, revents=0}], 1, 0) = 0\n",
        "",
        2,
    );
    assert_ne!(extra, text);
    let f = run_text("extra", &format!("{extra}+0 recvmsg(4, {{msg_name(...)=..., msg_iov(1)=[{{...,0}}], msg_flags=0, msg_control=[]}}, MSG_ERRQUEUE) = 0\n"))
        .outcome
        .unwrap_err();
    assert!(
        f.message
            .contains("Expected non-negative result but got -1 with errno 11"),
        "{f}"
    );
}
