//! The runner's socket options and readiness: TCP_MAXSEG (as each kernel
//! era reports it), TCP_NOTSENT_LOWAT (set, read back, and poll's POLLOUT
//! from the engine's answer), a blocked write woken as Linux wakes it, and
//! the tcp_info fields the engine answers.

fn run(text: &str) -> finack_packetdrill::run::Report {
    let s = finack_packetdrill::parse("own.pkt", text).unwrap_or_else(|e| panic!("{e}"));
    finack_packetdrill::run::run(&s)
}

/// A listener with TCP_MAXSEG 1100; `init` is the script's first line,
/// `before` what getsockopt reports on the listener and `wscale` the
/// window scale the SYN,ACK offers.
fn maxseg_server(init: &str, before: u32, wscale: u8) -> String {
    format!(
        "{init}
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0
+0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [{before}], [4]) = 0
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [87], 4) = -1 EINVAL (Invalid argument)
+.1 < S 0:0(0) win 32792 <mss 1300,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1100,nop,wscale {wscale}>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 getsockopt(4, SOL_TCP, TCP_MAXSEG, [1100], [4]) = 0
+0 %{{ assert tcpi_advmss == 1100; assert tcpi_snd_mss == 1100 }}%
+0 write(4, ..., 3300) = 3300
+0 > P. 1:3301(3300) ack 1
+0 %{{ assert tcpi_unacked == 3 }}%
"
    )
}

#[test]
fn tcp_maxseg_clamps_the_syn_ack_and_reads_back_per_kernel_era() {
    // Kernels since 2020 report the TCP_MAXSEG set on a listener...
    let r = run(&maxseg_server("`../common/defaults.sh`", 1100, 8));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    let r = run(&maxseg_server("`../common/defaults.sh`", 536, 8));
    let f = r.outcome.unwrap_err();
    assert!(f.message.contains("expected 536 but got 1100"), "{f}");
    // ...Linux 3.11 (scripts without defaults.sh) the default 536.
    let r = run(&maxseg_server("// linux 3.11", 536, 6));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

#[test]
fn tcp_maxseg_before_connect_clamps_the_syn() {
    let r = run("`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1000], 4) = 0
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.01 < S. 0:0(0) ack 1 win 10000 <mss 1460,nop,wscale 8>
+0 > . 1:1(0) ack 1
+0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [1000], [4]) = 0
");
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

const ACCEPTED: &str = "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.01 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
";

#[test]
fn notsent_lowat_reads_back_and_holds_pollout() {
    let r = run(&format!(
        "{ACCEPTED}+0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0], [4]) = 0
+0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [4000], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [4000], [4]) = 0
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 poll([{{fd=4, events=POLLOUT, revents=POLLOUT}}], 1, 0) = 1
+0 write(4, ..., 59000) = 26000
+0 > P. 1:10001(10000) ack 1
+0 poll([{{fd=4, events=POLLOUT, revents=0}}], 1, 0) = 0
+0 write(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)
"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

#[test]
fn the_notsent_lowat_sysctl_is_the_default() {
    let text = ACCEPTED.replace(
        "`../common/defaults.sh`",
        "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_notsent_lowat=4000`",
    );
    let r = run(&format!(
        "{text}+0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0], [4]) = 0
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 write(4, ..., 59000) = 26000
"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

/// A blocked write resumes when a third of sk_sndbuf (twice SO_SNDBUF) is
/// free, not at the first free byte (master/tcp/blocking/blocking-write.pkt).
#[test]
fn a_blocked_write_wakes_when_a_third_of_the_buffer_is_free() {
    let script = "--tolerance_usecs=10000
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 50000 <mss 1000,nop,wscale 0>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 50000
+0 accept(3, ..., ...) = 4
+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [21000], 4) = 0
+0 getsockopt(4, SOL_SOCKET, SO_SNDBUF, [42000], [4]) = 0
+0...0.300 write(4, ..., 61000) = 61000
+.1 < . 1:1(0) ack 10001 win 50000
+.1 < . 1:1(0) ack 30001 win 50000
+.1 < . 1:1(0) ack 36001 win 50000
";
    let r = run(script);
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    // Woken at the ACK of 30001, the write would return 100 ms early.
    let early = script.replace("+0...0.300 write", "+0...0.200 write");
    let f = run(&early).outcome.unwrap_err();
    assert!(f.message.contains("blocking"), "{f}");
}

#[test]
fn tcpi_last_data_recv_counts_from_the_handshake_then_the_data() {
    let r = run(&format!(
        "{ACCEPTED}+1 %{{ assert 990 <= tcpi_last_data_recv <= 1010 }}%
+0 < P. 1:101(100) ack 1 win 257
+.2 %{{ assert 195 <= tcpi_last_data_recv <= 205 }}%
"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
}

/// SO_ZEROCOPY is a flag that reads back; MSG_ZEROCOPY sends the same
/// segments a copy would; once a socket made such a send, a poll on it is
/// unchecked (the completions on the error queue are not modelled).
fn zerocopy_script(poll: &str) -> String {
    format!(
        "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [2], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0
+0 getsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], [4]) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.01 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 getsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [1], [4]) = 0
+0 send(4, ..., 0, MSG_ZEROCOPY) = 0
+0 send(4, ..., 100, MSG_ZEROCOPY) = 100
+0 > P. 1:101(100) ack 1
+.01 < . 1:1(0) ack 101 win 257
{poll}"
    )
}

#[test]
fn so_zerocopy_flag_and_msg_zerocopy_send() {
    let r = run(&zerocopy_script(""));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    let r = run(&zerocopy_script(
        "+0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n",
    ));
    assert!(r.outcome.is_ok(), "{:?}", r.outcome);
    assert!(
        r.unsupported.iter().any(|u| u.contains("MSG_ZEROCOPY")),
        "{:?}",
        r.unsupported
    );
}

/// `grep ... /proc/net/tcp /proc/net/tcp6` is answered from the run's
/// sockets in Linux's layout: a listener on 8080 shows as state 0A, port
/// 1F90; the command fails when no line matches.
#[test]
fn proc_net_tcp_lists_the_listener() {
    let script = |pattern: &str| {
        format!(
            "`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 `grep \"{pattern}\" /proc/net/tcp /proc/net/tcp6 | grep \":1F90\"`
"
        )
    };
    let r = run(&script(" 0A "));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    let r = run(&script(" 01 "));
    let f = r.outcome.unwrap_err();
    assert!(f.message.contains("no line matched"), "{f}");
}

#[test]
fn ip_tos_marks_the_connections_packets_and_reads_back() {
    // Linux ip_sockglue.c: on a stream socket the ECN bits stay the
    // stack's, so 0x13 reads back as 0x10; 256 is refused.
    let r = run(&format!(
        "{ACCEPTED}+0 setsockopt(4, SOL_IP, IP_TOS, [0x13], 4) = 0
+0 getsockopt(4, SOL_IP, IP_TOS, [0x10], [4]) = 0
+0 setsockopt(4, SOL_IP, IP_TOS, [256], 4) = -1 EINVAL (Invalid argument)
+0 write(4, ..., 100) = 100
+0 > (tos 0x10) P. 1:101(100) ack 1
+.01 < . 1:1(0) ack 101 win 257
+0 setsockopt(4, SOL_IP, IP_TOS, [0], 4) = 0
+0 write(4, ..., 100) = 100
+0 > (tos 0x0) P. 101:201(100) ack 1
"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    // The runner checks the field: a wrong one fails.
    let r = run(&format!(
        "{ACCEPTED}+0 setsockopt(4, SOL_IP, IP_TOS, [0x10], 4) = 0
+0 write(4, ..., 100) = 100
+0 > (tos 0x0) P. 1:101(100) ack 1
"
    ));
    assert!(r.outcome.is_err(), "{:?}", r.outcome);
}

#[test]
fn ip_mtu_discover_is_checked_only_where_finack_behaves_so() {
    let r = run(&format!(
        "{ACCEPTED}+0 setsockopt(4, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DO], 4) = 0\n"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    // IPv4's DONT is modelled (DF clear, "fragmentation needed" ignored).
    let r = run(&format!(
        "{ACCEPTED}+0 setsockopt(4, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DONT], 4) = 0\n"
    ));
    assert!(r.passed(), "{:?} {:?}", r.outcome, r.unsupported);
    // PROBE is not: the script runs and says so.
    let r = run(&format!(
        "{ACCEPTED}+0 setsockopt(4, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_PROBE], 4) = 0\n"
    ));
    assert!(
        r.outcome.is_ok() && !r.unsupported.is_empty(),
        "{:?}",
        r.unsupported
    );
}
