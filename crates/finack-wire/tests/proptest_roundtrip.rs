//! Property tests: emit → parse round trips, and parsing never panics on
//! arbitrary or mutated input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use finack_wire::tcp::MAX_WINDOW_SCALE;
use finack_wire::{
    emit_tcp_packet, ipv6, parse_tcp_packet, tcp_packet_len, Error, IpRepr, Ipv4Packet, Ipv4Repr,
    Ipv6Packet, Ipv6Repr, SackBlocks, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
    Timestamps,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// A `TcpRepr` without its payload (which needs a borrow) plus the payload.
#[derive(Debug, Clone)]
struct Segment {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

impl Segment {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: SeqNumber(self.seq),
            ack: SeqNumber(self.ack),
            flags: TcpFlags(self.flags),
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        }
    }
}

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=SackBlocks::CAPACITY),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, blocks, md5)| {
            let mut sack_blocks = SackBlocks::new();
            for (l, r) in blocks {
                assert!(sack_blocks.push(SeqNumber(l), SeqNumber(r)));
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                sack_blocks,
                md5,
            }
        })
}

fn segment() -> impl Strategy<Value = Segment> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (any::<u8>(), any::<u16>(), any::<u16>()),
        options(),
        proptest::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_map(
            |((src_port, dst_port, seq, ack), (flags, window, urgent), options, payload)| Segment {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
                payload,
            },
        )
}

fn ip_repr() -> impl Strategy<Value = IpRepr> {
    let v4 = (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u8>(), any::<u8>()).prop_map(
        |(s, d, ttl, tos)| IpRepr {
            src: IpAddr::V4(Ipv4Addr::from(s)),
            dst: IpAddr::V4(Ipv4Addr::from(d)),
            ttl,
            tos,
        },
    );
    let v6 = (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(s, d, ttl, tos)| IpRepr {
            src: IpAddr::V6(Ipv6Addr::from(s)),
            dst: IpAddr::V6(Ipv6Addr::from(d)),
            ttl,
            tos,
        });
    prop_oneof![v4, v6]
}

/// What parsing the emitted options must give back: the window scale clamped
/// (RFC 7323 §2.3) and only the SACK blocks that fit in 40 bytes.
fn expected_options(sent: &TcpOptions) -> TcpOptions {
    let mut want = *sent;
    want.window_scale = sent.window_scale.map(|s| s.min(MAX_WINDOW_SCALE));
    want.sack_blocks.truncate(sent.sack_blocks_emitted());
    want
}

fn emit(ip: &IpRepr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; tcp_packet_len(ip, tcp)];
    let n = emit_tcp_packet(ip, tcp, &mut buf).expect("emit");
    assert_eq!(n, buf.len());
    buf
}

/// Exercise every accessor of every view; none may panic.
fn poke_views(bytes: &[u8]) {
    let v4 = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        v4.version(),
        v4.header_len(),
        v4.tos(),
        v4.total_len(),
        v4.ident(),
        v4.dont_frag(),
        v4.more_frags(),
        v4.frag_offset(),
        v4.ttl(),
        v4.protocol(),
        v4.checksum(),
        v4.src_addr(),
        v4.dst_addr(),
        v4.options().len(),
        v4.payload().len(),
        v4.verify_checksum(),
        Ipv4Repr::parse(&v4),
    );
    let v6 = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        v6.version(),
        v6.traffic_class(),
        v6.flow_label(),
        v6.payload_len(),
        v6.next_header(),
        v6.hop_limit(),
        v6.src_addr(),
        v6.dst_addr(),
        v6.payload().len(),
        v6.upper_layer(),
        Ipv6Repr::parse(&v6),
    );
    let t = TcpPacket::new_unchecked(bytes);
    let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let _ = (
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.header_len(),
        t.flags(),
        t.window_len(),
        t.checksum(),
        t.urgent_at(),
        t.options().len(),
        t.payload().len(),
        t.verify_checksum(a, a),
        TcpRepr::parse(&t, a, a),
    );
    let _ = TcpOptions::parse(bytes);
    let _ = ipv6::skip_extension_headers(bytes.first().copied().unwrap_or(0), bytes);
    let mut owned = bytes.to_vec();
    let mut v4 = Ipv4Packet::new_unchecked(&mut owned[..]);
    v4.fill_checksum();
    v4.set_frag_offset(0xffff);
    let _ = v4.payload_mut().len() + v4.options_mut().len();
    let mut t = TcpPacket::new_unchecked(&mut owned[..]);
    t.fill_checksum(a, a);
    t.set_header_len(usize::MAX);
    let _ = t.payload_mut().len() + t.options_mut().len();
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Keep failing cases next to this file (tests/proptest_roundtrip.regressions).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn rfc9293_must_2_must_3_emit_parse_round_trip(ip in ip_repr(), seg in segment()) {
        let tcp = seg.repr();
        let buf = emit(&ip, &tcp);
        prop_assert_eq!(buf.len(), tcp_packet_len(&ip, &tcp));
        let (ip2, tcp2) = parse_tcp_packet(&buf).expect("parse");
        prop_assert_eq!(ip2, ip);
        let mut want = tcp;
        want.options = expected_options(&tcp.options);
        prop_assert_eq!(tcp2, want);
        prop_assert_eq!(tcp2.segment_len() as usize,
            seg.payload.len() + usize::from(tcp.flags.syn()) + usize::from(tcp.flags.fin()));
    }

    #[test]
    fn tcp_repr_round_trip_without_ip(ip in ip_repr(), seg in segment()) {
        let tcp = seg.repr();
        let mut buf = vec![0u8; tcp.buffer_len()];
        prop_assert_eq!(tcp.emit(&mut buf, ip.src, ip.dst), Ok(buf.len()));
        prop_assert_eq!(buf.len(), tcp.header_len() + seg.payload.len());
        prop_assert!(tcp.header_len() <= 60 && tcp.header_len() % 4 == 0);
        let view = TcpPacket::new_checked(&buf[..]).expect("view");
        prop_assert!(view.verify_checksum(ip.src, ip.dst));
        let parsed = TcpRepr::parse(&view, ip.src, ip.dst).expect("parse");
        let mut want = tcp;
        want.options = expected_options(&tcp.options);
        prop_assert_eq!(parsed, want);
    }

    #[test]
    fn options_emit_parse_round_trip(opts in options()) {
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf).expect("emit");
        prop_assert_eq!(n, opts.emitted_len());
        prop_assert!(n <= 40 && n % 4 == 0);
        prop_assert_eq!(TcpOptions::parse(&buf[..n]), Ok(expected_options(&opts)));
        if n > 0 {
            prop_assert_eq!(opts.emit(&mut buf[..n - 1]), Err(Error::BufferTooSmall));
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_tcp_packet(&bytes);
        poke_views(&bytes);
    }

    #[test]
    fn parse_never_panics_on_ip_looking_bytes(
        first in prop_oneof![Just(0x45u8), 0x40u8..0x50, Just(0x60u8)],
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = bytes;
        bytes.insert(0, first);
        let _ = parse_tcp_packet(&bytes);
        poke_views(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_packets(
        ip in ip_repr(),
        seg in segment(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        do_cut in any::<bool>(),
    ) {
        let mut buf = emit(&ip, &seg.repr());
        for (at, x) in flips {
            let i = at % buf.len();
            buf[i] ^= x;
        }
        if do_cut {
            buf.truncate(cut % (buf.len() + 1));
        }
        let _ = parse_tcp_packet(&buf);
        poke_views(&buf);
        if buf.len() > 40 {
            poke_views(&buf[20..]);
            poke_views(&buf[40..]);
        }
    }

    #[test]
    fn rfc9293_must_3_single_bit_flip_in_ipv4_packet_is_rejected(
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        seg in segment(),
        bit in any::<usize>(),
    ) {
        let ip = IpRepr {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            ttl: 64,
            tos: 0,
        };
        let mut buf = emit(&ip, &seg.repr());
        let bit = bit % (buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(parse_tcp_packet(&buf).is_err(), "bit {} flipped unnoticed", bit);
    }
}
