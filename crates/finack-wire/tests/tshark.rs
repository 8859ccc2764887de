//! Cross-check of the emitter against Wireshark's dissector.
//!
//! Crafted IPv4 and IPv6 segments are written to a pcap file (LINKTYPE_RAW)
//! with the crate's own pcap helpers, then `tshark` decodes them. Every field
//! tshark reports is compared with the `TcpRepr` that produced it, the TCP
//! checksum must be "Good" on each packet (RFC 9293 MUST-2; status value 1 in
//! Wireshark's enum, where 0 is Bad and 2 Unverified), as must the IPv4
//! header checksum, and tshark must
//! find no malformed packet. When tshark is not installed the test says so
//! loudly on stderr and passes.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use finack_wire::pcap;
use finack_wire::{
    emit_tcp_packet, parse_tcp_packet, tcp_packet_len, IpRepr, SackBlocks, SeqNumber, TcpFlags,
    TcpOptions, TcpRepr, Timestamps,
};

/// One crafted packet: addressing plus an owned TCP segment.
struct Crafted {
    name: &'static str,
    ip: IpRepr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

impl Crafted {
    fn tcp(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: SeqNumber(self.seq),
            ack: SeqNumber(self.ack),
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        }
    }

    fn emit(&self) -> Vec<u8> {
        let tcp = self.tcp();
        let mut buf = vec![0u8; tcp_packet_len(&self.ip, &tcp)];
        let n = emit_tcp_packet(&self.ip, &tcp, &mut buf).expect("emit");
        assert_eq!(n, buf.len());
        buf
    }
}

fn v4(src: [u8; 4], dst: [u8; 4]) -> IpRepr {
    IpRepr {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        ttl: 64,
        tos: 0,
    }
}

fn v6(src: &str, dst: &str) -> IpRepr {
    IpRepr {
        src: IpAddr::V6(src.parse::<Ipv6Addr>().unwrap()),
        dst: IpAddr::V6(dst.parse::<Ipv6Addr>().unwrap()),
        ttl: 64,
        tos: 0,
    }
}

fn ts(tsval: u32, tsecr: u32) -> Option<Timestamps> {
    Some(Timestamps { tsval, tsecr })
}

fn sack(blocks: &[(u32, u32)]) -> SackBlocks {
    let mut s = SackBlocks::new();
    for &(l, r) in blocks {
        assert!(s.push(SeqNumber(l), SeqNumber(r)));
    }
    s
}

/// Ports without a registered Wireshark dissector, so payloads stay "data".
const CLIENT: u16 = 47_123;
const SERVER: u16 = 38_211;

fn crafted() -> Vec<Crafted> {
    let a4 = v4([192, 0, 2, 1], [198, 51, 100, 2]);
    let b4 = v4([198, 51, 100, 2], [192, 0, 2, 1]);
    let a6 = v6("2001:db8::1", "2001:db8:0:1::2");
    let b6 = v6("2001:db8:0:1::2", "2001:db8::1");
    let text: Vec<u8> = b"finack says hello over tcp. "
        .iter()
        .copied()
        .cycle()
        .take(1000)
        .collect();
    let base = |name, ip, src_port, dst_port, seq, ack, flags| Crafted {
        name,
        ip,
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window: 64240,
        urgent: 0,
        options: TcpOptions::default(),
        payload: Vec::new(),
    };
    vec![
        Crafted {
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: ts(0x1234_5678, 0),
                sack_blocks: SackBlocks::new(),
                md5: None,
            },
            ..base(
                "v4 SYN, full Linux options",
                a4,
                CLIENT,
                SERVER,
                0x0a0b_0c0d,
                0,
                TcpFlags::SYN,
            )
        },
        Crafted {
            window: 65160,
            options: TcpOptions {
                mss: Some(1400),
                window_scale: Some(9),
                sack_permitted: true,
                timestamps: ts(0x7fff_0001, 0x1234_5678),
                sack_blocks: SackBlocks::new(),
                md5: None,
            },
            ..base(
                "v4 SYN-ACK",
                b4,
                SERVER,
                CLIENT,
                0xffff_ff00,
                0x0a0b_0c0e,
                TcpFlags::SYN | TcpFlags::ACK,
            )
        },
        Crafted {
            window: 502,
            options: TcpOptions {
                timestamps: ts(0x1234_5680, 0x7fff_0001),
                ..Default::default()
            },
            payload: text[..100].to_vec(),
            ..base(
                "v4 data with timestamps",
                a4,
                CLIENT,
                SERVER,
                0x0a0b_0c0e,
                0xffff_ff01,
                TcpFlags::PSH | TcpFlags::ACK,
            )
        },
        Crafted {
            window: 509,
            options: TcpOptions {
                timestamps: ts(0x7fff_0010, 0x1234_5680),
                sack_blocks: sack(&[(0x0a0b_1000, 0x0a0b_2000), (0x0a0b_3000, 0x0a0b_3100)]),
                ..Default::default()
            },
            ..base(
                "v4 ACK with timestamps and 2 SACK blocks",
                b4,
                SERVER,
                CLIENT,
                0xffff_ff01,
                0x0a0b_0c72,
                TcpFlags::ACK,
            )
        },
        Crafted {
            urgent: 4,
            payload: b"URGENT!!xy".to_vec(),
            ..base(
                "v4 URG with urgent pointer",
                a4,
                CLIENT,
                SERVER,
                0x0a0b_0c72,
                0xffff_ff01,
                TcpFlags::URG | TcpFlags::ACK | TcpFlags::PSH,
            )
        },
        base(
            "v4 FIN|ACK",
            a4,
            CLIENT,
            SERVER,
            0x0a0b_0c7c,
            0xffff_ff01,
            TcpFlags::FIN | TcpFlags::ACK,
        ),
        Crafted {
            window: 0,
            ..base("v4 RST", b4, SERVER, CLIENT, 0xffff_ff01, 0, TcpFlags::RST)
        },
        Crafted {
            options: TcpOptions {
                mss: Some(1440),
                window_scale: Some(14),
                sack_permitted: true,
                ..Default::default()
            },
            ..base(
                "v6 SYN without timestamps, ECN setup",
                a6,
                CLIENT,
                SERVER,
                1,
                0,
                TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
            )
        },
        Crafted {
            options: TcpOptions {
                mss: Some(1440),
                window_scale: Some(0),
                sack_permitted: true,
                timestamps: ts(99, 0),
                sack_blocks: SackBlocks::new(),
                md5: None,
            },
            ..base(
                "v6 SYN-ACK",
                b6,
                SERVER,
                CLIENT,
                0x8000_0000,
                2,
                TcpFlags::SYN | TcpFlags::ACK,
            )
        },
        Crafted {
            options: TcpOptions {
                timestamps: ts(100, 99),
                ..Default::default()
            },
            payload: text.clone(),
            ..base(
                "v6 data with timestamps",
                a6,
                CLIENT,
                SERVER,
                2,
                0x8000_0001,
                TcpFlags::PSH | TcpFlags::ACK,
            )
        },
        Crafted {
            options: TcpOptions {
                sack_blocks: sack(&[(5000, 6000), (7000, 8000), (9000, 9500), (12000, 13000)]),
                ..Default::default()
            },
            ..base(
                "v6 ACK with 4 SACK blocks",
                b6,
                SERVER,
                CLIENT,
                0x8000_0001,
                1002,
                TcpFlags::ACK,
            )
        },
        Crafted {
            payload: vec![0x42],
            ..base(
                "v6 FIN|PSH|ACK with one odd byte",
                a6,
                CLIENT,
                SERVER,
                1002,
                0x8000_0001,
                TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK,
            )
        },
        base(
            "v6 RST|ACK",
            b6,
            SERVER,
            CLIENT,
            0x8000_0001,
            1004,
            TcpFlags::RST | TcpFlags::ACK,
        ),
    ]
}

fn write_pcap(path: &Path, packets: &[Vec<u8>]) {
    let mut file = Vec::new();
    file.extend_from_slice(&pcap::global_header(65535));
    for (i, p) in packets.iter().enumerate() {
        let len = p.len() as u32;
        file.extend_from_slice(&pcap::record_header(
            1_700_000_000_000_000 + i as u64 * 1000,
            len,
            len,
        ));
        file.extend_from_slice(p);
    }
    fs::write(path, file).expect("write pcap");
}

const FIELDS: [&str; 15] = [
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
    "tcp.len",
    "tcp.checksum.status",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.options.sack_perm",
];

/// Extra fields whose values may repeat; `;` is used to join repeats.
const EXTRA_FIELDS: [&str; 4] = [
    "tcp.urgent_pointer",
    "tcp.options.sack_le",
    "tcp.options.sack_re",
    "ipv6.dst",
];

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout).expect("tshark output is UTF-8")
}

fn tshark_installed() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Remove the capture file even if an assertion fails.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn parse_num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .unwrap_or_else(|e| panic!("not a number: {s:?}: {e}"))
}

fn opt_num(s: &str) -> Option<u64> {
    (!s.is_empty()).then(|| parse_num(s))
}

#[test]
fn tshark_decodes_emitted_packets_identically() {
    if !tshark_installed() {
        eprintln!("SKIPPED: tshark not installed — finack-wire tshark cross-check did not run");
        return;
    }
    let packets = crafted();
    let bytes: Vec<Vec<u8>> = packets.iter().map(Crafted::emit).collect();

    // Our own parser must agree with our emitter first.
    for (c, b) in packets.iter().zip(&bytes) {
        let (ip, tcp) = parse_tcp_packet(b).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(ip, c.ip, "{}", c.name);
        assert_eq!(tcp, c.tcp(), "{}", c.name);
    }

    let path = std::env::temp_dir().join(format!("finack-wire-tshark-{}.pcap", std::process::id()));
    let _guard = TempFile(path.clone());
    write_pcap(&path, &bytes);
    let file = path.to_str().expect("utf-8 temp path");

    let mut args = vec![
        "-n",
        "-r",
        file,
        "-o",
        "tcp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=,",
    ];
    for f in FIELDS {
        args.push("-e");
        args.push(f);
    }
    let out = tshark(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), packets.len(), "tshark output:\n{out}");

    for (c, line) in packets.iter().zip(&lines) {
        let ctx = format!("{} — tshark line {line:?}", c.name);
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), FIELDS.len(), "{ctx}");
        match (c.ip.src, f[0], f[1]) {
            (IpAddr::V4(a), v4s, "") => assert_eq!(v4s.parse::<Ipv4Addr>().ok(), Some(a), "{ctx}"),
            (IpAddr::V6(a), "", v6s) => assert_eq!(v6s.parse::<Ipv6Addr>().ok(), Some(a), "{ctx}"),
            _ => panic!("address family mismatch: {ctx}"),
        }
        assert_eq!(parse_num(f[2]), u64::from(c.src_port), "srcport: {ctx}");
        assert_eq!(parse_num(f[3]), u64::from(c.dst_port), "dstport: {ctx}");
        assert_eq!(parse_num(f[4]), u64::from(c.seq), "seq_raw: {ctx}");
        if c.flags.ack() {
            assert_eq!(parse_num(f[5]), u64::from(c.ack), "ack_raw: {ctx}");
        } else {
            // Without ACK our packets carry 0; tshark may omit the field.
            assert!(f[5].is_empty() || parse_num(f[5]) == 0, "ack_raw: {ctx}");
        }
        assert_eq!(parse_num(f[6]), u64::from(c.flags.0), "flags: {ctx}");
        assert_eq!(parse_num(f[7]), u64::from(c.window), "window: {ctx}");
        assert_eq!(parse_num(f[8]), c.payload.len() as u64, "tcp.len: {ctx}");
        // Wireshark's checksum status enum: 0 Bad, 1 Good, 2 Unverified.
        assert_eq!(f[9], "1", "checksum status must be Good: {ctx}");
        assert_eq!(opt_num(f[10]), c.options.mss.map(u64::from), "mss: {ctx}");
        assert_eq!(
            opt_num(f[11]),
            c.options.window_scale.map(u64::from),
            "wscale: {ctx}"
        );
        let tsval = c.options.timestamps.map(|t| u64::from(t.tsval));
        let tsecr = c.options.timestamps.map(|t| u64::from(t.tsecr));
        assert_eq!(opt_num(f[12]), tsval, "tsval: {ctx}");
        assert_eq!(opt_num(f[13]), tsecr, "tsecr: {ctx}");
        assert_eq!(
            !f[14].is_empty(),
            c.options.sack_permitted,
            "sack_perm: {ctx}"
        );
    }

    // Repeated fields: urgent pointer and raw SACK edges.
    let mut args = vec![
        "-n",
        "-r",
        file,
        "-o",
        "tcp.relative_sequence_numbers:FALSE",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "aggregator=;",
    ];
    for f in EXTRA_FIELDS {
        args.push("-e");
        args.push(f);
    }
    let out = tshark(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), packets.len(), "tshark output:\n{out}");
    for (c, line) in packets.iter().zip(&lines) {
        let ctx = format!("{} — tshark line {line:?}", c.name);
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), EXTRA_FIELDS.len(), "{ctx}");
        if c.flags.urg() {
            assert_eq!(parse_num(f[0]), u64::from(c.urgent), "urgent: {ctx}");
        }
        let list = |s: &str| -> Vec<u64> {
            s.split(';')
                .filter(|x| !x.is_empty())
                .map(parse_num)
                .collect()
        };
        let lefts: Vec<u64> = c
            .options
            .sack_blocks
            .iter()
            .map(|b| u64::from(b.0 .0))
            .collect();
        let rights: Vec<u64> = c
            .options
            .sack_blocks
            .iter()
            .map(|b| u64::from(b.1 .0))
            .collect();
        assert_eq!(list(f[1]), lefts, "sack_le: {ctx}");
        assert_eq!(list(f[2]), rights, "sack_re: {ctx}");
        if let IpAddr::V6(d) = c.ip.dst {
            assert_eq!(f[3].parse::<Ipv6Addr>().ok(), Some(d), "ipv6.dst: {ctx}");
        }
    }

    // No packet may be reported as malformed.
    let malformed = tshark(&[
        "-n",
        "-r",
        file,
        "-o",
        "tcp.check_checksum:TRUE",
        "-Y",
        "_ws.malformed",
    ]);
    assert!(
        malformed.trim().is_empty(),
        "tshark reports malformed packets:\n{malformed}"
    );
    // Wireshark reports some header problems (e.g. an option running past
    // the options area) only as expert info, not as malformed: allow no expert
    // item at warning level or above except the one every RST gets.
    let expert = tshark(&[
        "-n",
        "-r",
        file,
        "-o",
        "tcp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "aggregator=|",
        "-e",
        "_ws.expert.severity",
        "-e",
        "_ws.expert.message",
    ]);
    const WARN: u64 = 0x0060_0000;
    for (c, line) in packets.iter().zip(expert.lines()) {
        let (sev, msg) = line.split_once('\t').unwrap_or((line, ""));
        let sevs = sev.split('|').filter(|s| !s.is_empty());
        for (sev, msg) in sevs.zip(msg.split('|')) {
            if parse_num(sev) >= WARN {
                assert!(
                    c.flags.rst() && msg == "Connection reset (RST)",
                    "{}: tshark expert info {msg:?} (severity {sev})",
                    c.name
                );
            }
        }
    }
    // Nor may any checksum be bad (belt and braces for the status field).
    let bad = tshark(&[
        "-n",
        "-r",
        file,
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        "tcp.checksum.status != 1 || (ip && ip.checksum.status != 1)",
    ]);
    assert!(bad.trim().is_empty(), "bad checksums:\n{bad}");
    eprintln!(
        "tshark cross-check: {} packets decoded identically",
        packets.len()
    );
}
