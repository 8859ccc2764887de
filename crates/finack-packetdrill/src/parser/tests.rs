use super::*;

fn one(src: &str) -> Event {
    let s = parse("t.pkt", src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.events.len(), 1, "{src}");
    s.events.into_iter().next().unwrap()
}

fn tcp(src: &str) -> (Direction, TcpSegment) {
    match one(src).action {
        Action::Packet(Packet {
            direction,
            body: PacketBody::Tcp(t),
            ..
        }) => (direction, t),
        other => panic!("not a TCP packet: {other:?}"),
    }
}

fn syscall(src: &str) -> Syscall {
    match one(src).action {
        Action::Syscall(s) => s,
        other => panic!("not a syscall: {other:?}"),
    }
}

fn err(src: &str) -> ParseError {
    match parse("bad.pkt", src) {
        Ok(s) => panic!("parsed: {src:?} -> {s:?}"),
        Err(e) => e,
    }
}

fn w(s: &str) -> Expr {
    Expr::Word(s.into())
}

#[test]
fn options_and_commands() {
    let s = parse(
        "t",
        "--tolerance_usecs=10000\n--ip_version=ipv4\n--flag\n`../common/defaults.sh\n x`\n0 close(3) = 0\n`/tmp/restore.sh`\n",
    )
    .unwrap();
    assert_eq!(s.options.len(), 3);
    assert_eq!(s.options[0].name, "tolerance_usecs");
    assert_eq!(s.options[0].value.as_deref(), Some("10000"));
    assert_eq!(s.options[1].value.as_deref(), Some("ipv4"));
    assert_eq!(s.options[2].value, None);
    let init = s.init_command.unwrap();
    assert_eq!(
        init.lines().collect::<Vec<_>>(),
        ["../common/defaults.sh", "x"]
    );
    assert_eq!(s.cleanup_command.unwrap().text, "/tmp/restore.sh");
    assert_eq!(s.events.len(), 1);
}

#[test]
fn option_values_with_addresses_and_defines() {
    let s = parse(
        "t",
        "--local_ip=192.168.0.1\n--define=PROTO=IPPROTO_TCP\n--x=\"a b\"\n0 close(3) = 0\n",
    )
    .unwrap();
    assert_eq!(s.options[0].value.as_deref(), Some("192.168.0.1"));
    assert_eq!(s.options[1].value.as_deref(), Some("PROTO=IPPROTO_TCP"));
    assert_eq!(s.options[2].value.as_deref(), Some("a b"));
}

#[test]
fn times() {
    assert_eq!(one("0 close(3) = 0").time, EventTime::Absolute(0));
    assert_eq!(one("0.011 close(3) = 0").time, EventTime::Absolute(11_000));
    assert_eq!(one("1.5 close(3) = 0").time, EventTime::Absolute(1_500_000));
    assert_eq!(one("+.1 close(3) = 0").time, EventTime::Relative(100_000));
    assert_eq!(one("+2 close(3) = 0").time, EventTime::Relative(2_000_000));
    assert_eq!(
        one("+.1~+.105 > P. 1:2(1) ack 1").time,
        EventTime::RelativeRange(100_000, 105_000)
    );
    assert_eq!(
        one("0.1~0.2 > P. 1:2(1) ack 1").time,
        EventTime::AbsoluteRange(100_000, 200_000)
    );
    assert_eq!(one("* > F. 1:1(0) ack 12").time, EventTime::Any);
}

#[test]
fn blocking_syscalls() {
    let e = one("+.01...0.011 connect(3, ..., ...) = 0");
    assert_eq!(e.time, EventTime::Relative(10_000));
    let Action::Syscall(s) = e.action else {
        panic!()
    };
    assert_eq!(s.end, Some(11_000));
    assert_eq!(s.name, "connect");
    assert_eq!(s.args, vec![Expr::Int(3), Expr::Ellipsis, Expr::Ellipsis]);
    let s = syscall("0.100...0.200 connect(3, ..., ...) = 0");
    assert_eq!(s.end, Some(200_000));
    let s = syscall("+0...30 connect(3, ..., ...) = -1 ETIMEDOUT (Connection Timed Out)");
    assert_eq!(s.end, Some(30_000_000));
    assert_eq!(s.result, Expr::Int(-1));
    assert_eq!(s.errno.as_deref(), Some("ETIMEDOUT"));
    assert_eq!(s.note.as_deref(), Some("Connection Timed Out"));
}

#[test]
fn syscall_argument_forms() {
    let s = syscall("+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0");
    assert_eq!(
        s.args,
        vec![
            Expr::Int(3),
            w("SOL_SOCKET"),
            w("SO_REUSEADDR"),
            Expr::List(vec![Expr::Int(1)]),
            Expr::Int(4)
        ]
    );
    assert_eq!(s.args[3].single(), Some(&Expr::Int(1)));
    let s = syscall("+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0");
    assert_eq!(s.args[3].field("onoff"), Some(&Expr::Int(1)));
    assert_eq!(s.args[3].field("linger"), Some(&Expr::Int(0)));
    let s = syscall("+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0");
    assert_eq!(
        s.args[2],
        Expr::Or(Box::new(w("O_RDWR")), Box::new(w("O_NONBLOCK")))
    );
    let s = syscall("+0 getsockopt(4, SOL_SOCKET, SO_SNDBUF,  [42000], [4]) = 0");
    assert_eq!(s.args[3].single(), Some(&Expr::Int(42000)));
    let s = syscall(
        "+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0",
    );
    let addr = &s.args[1];
    assert_eq!(addr.field("sa_family"), Some(&w("AF_INET")));
    assert_eq!(
        addr.field("sin_port"),
        Some(&Expr::Call("htons".into(), vec![Expr::Int(8080)]))
    );
    assert_eq!(
        addr.field("sin_addr"),
        Some(&Expr::Call(
            "inet_addr".into(),
            vec![Expr::Str("192.0.2.1".into())]
        ))
    );
    let s = syscall("+0 write(4, \"abc\" \"def\", 6) = 6");
    assert_eq!(s.args[1], Expr::Str("abcdef".into()));
    let s = syscall("+0 send(4, \"ab\"..., 0x10, 0) = 16");
    assert_eq!(s.args[1], Expr::StrPrefix("ab".into()));
    assert_eq!(s.args[2], Expr::Int(16));
    let s = syscall("+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1");
    let Expr::List(fds) = &s.args[0] else {
        panic!()
    };
    assert_eq!(
        fds[0].field("events"),
        Some(&Expr::Or(Box::new(w("POLLIN")), Box::new(w("POLLOUT"))))
    );
    let s = syscall(
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, 0) = 1000",
    );
    assert!(matches!(&s.args[1], Expr::Struct(v) if v.len() == 3));
    let s = syscall("+0 ioctl(4, SIOCINQ, [1000]) = 0");
    assert_eq!(s.args[2].single(), Some(&Expr::Int(1000)));
    let s = syscall("+0 getpid() = 7");
    assert!(s.args.is_empty());
    // Unknown calls parse generically.
    let s = syscall("+0 frobnicate(4, FOO_BAR, [1, 2, 3], {a, b}) = -1 ENOSYS (Not implemented)");
    assert_eq!(s.name, "frobnicate");
    assert_eq!(s.args.len(), 4);
    assert_eq!(s.errno.as_deref(), Some("ENOSYS"));
    // A result with a note and no errno.
    let s = syscall("+0 read(4, ..., 10) = 0 (eof)");
    assert_eq!(s.errno, None);
    assert_eq!(s.note.as_deref(), Some("eof"));
}

#[test]
fn tcp_packets() {
    let (d, t) = tcp("0.100 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,nop,wscale 7>");
    assert_eq!(d, Direction::Inbound);
    assert!(t.flags.syn && !t.flags.ack);
    assert_eq!((t.seq, t.len, t.ack, t.win), (0, 0, None, Some(32792)));
    assert_eq!(
        t.options,
        Some(vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::WindowScale(7)
        ])
    );
    let (d, t) = tcp("+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>");
    assert_eq!(d, Direction::Outbound);
    assert!(t.flags.syn && t.flags.ack);
    assert_eq!(t.ack, Some(1));
    assert_eq!(t.win, None);
    let (_, t) = tcp("+0 > P. 1:1001(1000) ack 1");
    assert!(t.flags.psh && t.flags.ack && !t.flags.fin);
    assert_eq!((t.seq, t.len), (1, 1000));
    assert_eq!(t.options, Some(vec![]));
    let (_, t) = tcp("+.07 < FP. 1001:2001(1000) ack 1 win 257");
    assert!(t.flags.fin && t.flags.psh && t.flags.ack);
    let (_, t) = tcp("0.100 < - 0:0(0) win 32792");
    assert_eq!(t.flags, Flags::default());
    let (_, t) = tcp("+0 > R 2:2(0)");
    assert!(t.flags.rst && !t.flags.ack);
    let (_, t) = tcp("+0 > . 1:1(0) ack 1");
    assert_eq!(t.flags.to_string(), ".");
    let (_, t) = tcp("+0 > SEW 0:0(0) <...>");
    assert!(t.flags.syn && t.flags.ece && t.flags.cwr);
    assert_eq!(t.options, None);
    let (_, t) = tcp("+0 > S 0:0(0) <mss 1460, sackOK, TS val 100 ecr 0, nop,wscale 8>");
    assert_eq!(
        t.options.as_ref().unwrap()[2],
        TcpOption::Timestamp { val: 100, ecr: 0 }
    );
    let (_, t) = tcp("+.1 < . 1:1(0) ack 1 win 320 <sack 4000:4001 5000:6000,nop,nop>");
    assert_eq!(
        t.options.as_ref().unwrap()[0],
        TcpOption::Sack(vec![(4000, 4001), (5000, 6000)])
    );
    let (_, t) =
        tcp("+0 < S 0:10(10) win 32792 <mss 1460,FO 3021b9d889017eeb,nop,FOEXP TFO_COOKIE,FO>");
    let o = t.options.unwrap();
    assert_eq!(
        o[1],
        TcpOption::FastOpen {
            experimental: false,
            cookie: "3021b9d889017eeb".into()
        }
    );
    assert_eq!(
        o[3],
        TcpOption::FastOpen {
            experimental: true,
            cookie: "TFO_COOKIE".into()
        }
    );
    assert_eq!(
        o[4],
        TcpOption::FastOpen {
            experimental: false,
            cookie: String::new()
        }
    );
    let (_, t) = tcp("+0 < 8080>9000 S 0:0(0) win 100 urg 5");
    assert_eq!(t.ports, Some((8080, 9000)));
    assert_eq!(t.urg, Some(5));
}

#[test]
fn ip_info_and_udp() {
    let e = one("+0 > [ect0] S. 0:0(0) ack 1");
    let Action::Packet(p) = e.action else {
        panic!()
    };
    assert_eq!(p.ip.tos, Some(TosSpec::Ect0));
    let e = one("+0 < (tos 0x10, flowlabel 0x1234) . 1:1(0) ack 1 win 10");
    let Action::Packet(p) = e.action else {
        panic!()
    };
    assert_eq!(p.ip.tos, Some(TosSpec::Tos(0x10)));
    assert_eq!(p.ip.flow_label, Some(0x1234));
    let e = one("+0 < udp (100)");
    assert!(matches!(
        e.action,
        Action::Packet(Packet {
            body: PacketBody::Udp { len: 100, .. },
            ..
        })
    ));
}

#[test]
fn icmp_lines() {
    let icmp = |src: &str| match one(src).action {
        Action::Packet(Packet {
            body: PacketBody::Icmp(i),
            ..
        }) => i,
        other => panic!("{other:?}"),
    };
    let i = icmp("0.304 < icmp unreachable frag_needed mtu 1234");
    assert_eq!(i.kind, "unreachable");
    assert_eq!(i.code.as_deref(), Some("frag_needed"));
    assert_eq!(i.mtu, Some(1234));
    let i = icmp("0.400 < icmp echo_reply");
    assert_eq!((i.kind.as_str(), i.code.as_deref()), ("echo_reply", None));
    let i = icmp("0.462 < icmp type_255 code_0");
    assert_eq!(i.code.as_deref(), Some("code_0"));
    let i = icmp("+0 < icmp unreachable port_unreachable [1:1001(1000)]");
    assert_eq!(i.echoed, IcmpEchoed::Tcp { seq: 1, len: 1000 });
    let i = icmp("+0 < icmp unreachable port_unreachable [udp (10)]");
    assert_eq!(i.echoed, IcmpEchoed::Udp(10));
    // The first releases' order: the echoed segment before `icmp`.
    let i = icmp("0.250 < [1:1461(1460)] icmp unreachable frag_needed mtu 1200");
    assert_eq!(i.echoed, IcmpEchoed::Tcp { seq: 1, len: 1460 });
    assert_eq!(i.mtu, Some(1200));
    assert!(err("0 < [1:2(1)] S 0:0(0)")
        .message
        .contains("icmp after an echoed packet"));
}

#[test]
fn code_blocks_and_comments() {
    let s = parse(
        "t",
        "// hello\n+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd\nassert tcpi_rto > 0 }%\n/* c */ +0 close(3) = 0 // tail\n",
    )
    .unwrap();
    assert_eq!(s.events.len(), 2);
    let Action::Code(c) = &s.events[0].action else {
        panic!()
    };
    assert!(c.text.starts_with("assert tcpi_snd_cwnd"));
    assert!(c.text.ends_with("> 0"));
    assert_eq!(c.tcpi_names, ["tcpi_snd_cwnd", "tcpi_rto"]);
    assert_eq!(
        s.comments
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>(),
        ["hello", "c", "tail"]
    );
    assert_eq!(s.events[1].pos, Pos { line: 4, column: 9 });
}

#[test]
fn command_events() {
    let e = one("+0 `echo hi`");
    assert_eq!(
        e.action,
        Action::Command(Command {
            pos: Pos { line: 1, column: 4 },
            text: "echo hi".into()
        })
    );
}

#[test]
fn event_positions_are_the_time_token() {
    let s = parse("t", "\n\n   +0 close(3) = 0\n").unwrap();
    assert_eq!(s.events[0].pos, Pos { line: 3, column: 4 });
}

#[test]
fn errors_are_positioned() {
    let cases: &[(&str, (u32, u32), &str)] = &[
        ("0 close(3) = 0\n+0 > S. 0:0(0", (2, 14), "expected ')'"),
        (
            "0 close(3) =",
            (1, 13),
            "expected an expression, found end of file",
        ),
        ("0 close(3 = 0", (1, 11), "expected ',' or ')'"),
        ("0 > Q. 0:0(0)", (1, 5), "bad TCP flag 'Q'"),
        ("0 > S 0:1(0)", (1, 7), "inconsistent TCP sequence numbers"),
        ("0 > S 0:0(0) <mss>", (1, 18), "expected mss value"),
        ("0 > S 0:0(0) <bogus 1>", (1, 15), "expected a TCP option"),
        ("0 > S 0:0(0) <mss 1460", (1, 23), "expected ',' or '>'"),
        ("0 < S 0:0(0) <...>", (1, 14), "only be used with outbound"),
        ("* < S 0:0(0)", (1, 1), "only be used with outbound"),
        ("0.2~0.1 > S 0:0(0)", (1, 1), "backwards"),
        ("+0.1~+0.2 close(3) = 0", (1, 1), "range can only be used"),
        ("hello world", (1, 1), "expected an event time"),
        ("0 hello world", (1, 3), "expected a packet"),
        (
            "0 close(3) = 0 0 close(4) = 0",
            (1, 16),
            "expected end of line",
        ),
        ("0 close(3) = 0 ERR (unclosed", (1, 20), "unclosed note"),
        (
            "0 > S 0:0(0) <mss 99999>",
            (1, 19),
            "mss value 99999 out of range",
        ),
        (
            "0 `cmd`\n0 close(3) = 0\n`x`\n0 close(3) = 0",
            (4, 1),
            "expected end of file",
        ),
        (
            "0 close(3) = 0\n--opt=1",
            (2, 1),
            "option lines must come before",
        ),
        ("0 < icmp", (1, 9), "expected an ICMP type"),
        ("0 %{ abc", (1, 3), "unclosed %{ code block"),
        ("0 `abc", (1, 3), "unclosed back-quoted command"),
        ("/* abc", (1, 1), "unclosed /* comment"),
        ("0 > [bogus] S 0:0(0)", (1, 6), "expected an IP detail"),
        (
            "0 > ipv4 1.2.3.4 > 5.6.7.8: S 0:0(0)",
            (1, 5),
            "unsupported packet encapsulation",
        ),
        ("+0 > TS 0:0(0)", (1, 6), "bad TCP flag 'T'"),
        ("-1 close(3) = 0", (1, 1), "negative time"),
        ("+-1 close(3) = 0", (1, 2), "negative time"),
    ];
    let mut wrong = Vec::new();
    for (src, (line, column), msg) in cases {
        let e = err(src);
        if (e.line, e.column) != (*line, *column) || !e.message.contains(msg) {
            wrong.push(format!("{src:?}: {e}"));
        }
        assert!(e
            .to_string()
            .starts_with(&format!("bad.pkt:{}:{}: ", e.line, e.column)));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("0 f({}) = 0", "[".repeat(100_000));
    let e = err(&src);
    assert!(e.message.contains("nested too deeply"), "{e}");
}

#[test]
fn tcpi_name_extraction() {
    assert_eq!(
        tcpi_names("assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options"),
        ["tcpi_options"]
    );
    assert_eq!(tcpi_names("x_tcpi_foo + tcpi_bar"), ["tcpi_bar"]);
    assert!(tcpi_names("é tcpi").is_empty());
}
