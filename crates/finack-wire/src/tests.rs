//! Whole-packet tests of `parse_tcp_packet` / `emit_tcp_packet`.

use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use std::string::ToString;
use std::vec;
use std::vec::Vec;

fn ip4() -> IpRepr {
    IpRepr {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        dst: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
        ttl: 64,
        tos: 0,
    }
}

fn ip6() -> IpRepr {
    IpRepr {
        src: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10)),
        dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x20)),
        ttl: 255,
        tos: 0x02,
    }
}

fn segment(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 51000,
        dst_port: 443,
        seq: SeqNumber(1000),
        ack: SeqNumber(2000),
        flags: TcpFlags::ACK,
        window: 1024,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
    }
}

fn build(ip: &IpRepr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; tcp_packet_len(ip, tcp)];
    assert_eq!(emit_tcp_packet(ip, tcp, &mut buf), Ok(buf.len()));
    buf
}

/// Recompute the IPv4 header checksum after a test edits the header.
fn refill_v4(buf: &mut [u8]) {
    Ipv4Packet::new_unchecked(buf).fill_checksum();
}

#[test]
fn round_trip_ipv4_and_ipv6() {
    for ip in [ip4(), ip6()] {
        let tcp = segment(b"GET / HTTP/1.1\r\n\r\n");
        let buf = build(&ip, &tcp);
        assert_eq!(parse_tcp_packet(&buf), Ok((ip, tcp)));
    }
}

#[test]
fn ipv4_header_fields_as_documented() {
    let buf = build(&ip4(), &segment(&[]));
    let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
    assert!(p.dont_frag());
    assert_eq!(p.ident(), 0);
    assert_eq!(p.header_len(), 20);
    assert_eq!(p.protocol(), 6);
    assert!(p.verify_checksum());
    let buf = build(&ip6(), &segment(&[]));
    let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(p.next_header(), 6);
    assert_eq!(p.flow_label(), 0);
    assert_eq!(p.payload_len(), 20);
}

#[test]
fn empty_buffer_is_truncated() {
    assert_eq!(parse_tcp_packet(&[]), Err(Error::Truncated));
}

#[test]
fn version_5_is_bad_version() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[0] = 0x55;
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadVersion));
    buf[0] = 0x05;
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadVersion));
}

#[test]
fn truncated_ipv4_packet() {
    let buf = build(&ip4(), &segment(&[]));
    assert_eq!(parse_tcp_packet(&buf[..19]), Err(Error::Truncated));
    assert_eq!(parse_tcp_packet(&buf[..1]), Err(Error::Truncated));
}

#[test]
fn truncated_ipv6_packet() {
    let buf = build(&ip6(), &segment(&[]));
    assert_eq!(parse_tcp_packet(&buf[..39]), Err(Error::Truncated));
}

#[test]
fn truncated_tcp_header_inside_ip() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf.truncate(30);
    buf[2..4].copy_from_slice(&30u16.to_be_bytes());
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::Truncated));

    let mut buf = build(&ip6(), &segment(&[]));
    buf.truncate(50);
    buf[4..6].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(parse_tcp_packet(&buf), Err(Error::Truncated));
}

#[test]
fn rfc791_bad_ihl_is_bad_header_length() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[0] = 0x44;
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadHeaderLength));
}

#[test]
fn rfc9293_bad_data_offset_is_bad_header_length() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[20 + 12] = 0x40; // data offset 4
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadHeaderLength));
    buf[20 + 12] = 0x60; // 24-byte header in a 20-byte segment
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadHeaderLength));
}

#[test]
fn bad_total_length_ipv4_and_ipv6() {
    let mut buf = build(&ip4(), &segment(b"abcd"));
    let len = buf.len() as u16;
    buf[2..4].copy_from_slice(&(len + 1).to_be_bytes());
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadTotalLength));
    buf[2..4].copy_from_slice(&16u16.to_be_bytes());
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadTotalLength));

    let mut buf = build(&ip6(), &segment(b"abcd"));
    buf[4..6].copy_from_slice(&25u16.to_be_bytes());
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadTotalLength));
}

#[test]
fn rfc9293_must_7_bad_option_length_in_packet() {
    let mut tcp = segment(&[]);
    tcp.options.mss = Some(1460);
    let mut buf = build(&ip6(), &tcp);
    buf[40 + 21] = 1; // MSS length 1
    let (src, dst) = (ip6().src, ip6().dst);
    TcpPacket::new_unchecked(&mut buf[40..]).fill_checksum(src, dst);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadOptionLength));
    buf[40 + 21] = 9; // runs past the 4-byte area
    TcpPacket::new_unchecked(&mut buf[40..]).fill_checksum(src, dst);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadOptionLength));
}

#[test]
fn rfc791_bad_ipv4_header_checksum() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[8] = 1; // TTL changed, checksum stale
    assert_eq!(parse_tcp_packet(&buf), Err(Error::BadChecksum));
}

#[test]
fn rfc9293_must_3_bad_tcp_checksum() {
    for ip in [ip4(), ip6()] {
        let mut buf = build(&ip, &segment(b"data"));
        let last = buf.len() - 1;
        buf[last] ^= 1;
        assert_eq!(parse_tcp_packet(&buf), Err(Error::BadChecksum));
    }
}

#[test]
fn ipv4_fragments_rejected_mf_and_offset() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[6] |= 0x20; // MF
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::Fragmented));
    let mut buf = build(&ip4(), &segment(&[]));
    buf[7] = 0x01; // offset 8 bytes
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::Fragmented));
}

/// Insert `ext` (already-chained extension headers) between the IPv6 header
/// and the TCP segment, the first having type `first`.
fn with_ipv6_ext(buf: &[u8], first: u8, ext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&buf[..40]);
    out.extend_from_slice(ext);
    out.extend_from_slice(&buf[40..]);
    let payload_len = (out.len() - 40) as u16;
    let mut p = Ipv6Packet::new_unchecked(&mut out[..]);
    p.set_payload_len(payload_len);
    p.set_next_header(first);
    out
}

#[test]
fn ipv6_fragment_header_is_fragmented() {
    let buf = build(&ip6(), &segment(&[]));
    let frag = [6u8, 0, 0, 0, 0, 0, 0, 1];
    let pkt = with_ipv6_ext(&buf, ipv6::NEXT_HEADER_FRAGMENT, &frag);
    assert_eq!(parse_tcp_packet(&pkt), Err(Error::Fragmented));
}

#[test]
fn rfc9293_must_50_ipv6_extension_headers_skipped() {
    let tcp = segment(b"payload");
    let buf = build(&ip6(), &tcp);
    // Hop-by-hop (8 bytes: PadN) -> routing (type 0 seg-left 0, 8 bytes)
    // -> destination options (16 bytes) -> TCP.
    let mut ext = Vec::new();
    ext.extend_from_slice(&[ipv6::NEXT_HEADER_ROUTING, 0, 1, 4, 0, 0, 0, 0]);
    ext.extend_from_slice(&[ipv6::NEXT_HEADER_DEST_OPTS, 0, 0, 0, 0, 0, 0, 0]);
    ext.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let pkt = with_ipv6_ext(&buf, ipv6::NEXT_HEADER_HOP_BY_HOP, &ext);
    assert_eq!(parse_tcp_packet(&pkt), Ok((ip6(), tcp)));
}

#[test]
fn rfc9293_must_50_ipv4_options_skipped() {
    let tcp = segment(b"hi");
    let buf = build(&ip4(), &tcp);
    // Router alert (RFC 2113) then NOP, NOP, EOL: 8 bytes of options.
    let opts = [0x94, 4, 0, 0, 1, 1, 0, 0];
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&buf[..20]);
    pkt.extend_from_slice(&opts);
    pkt.extend_from_slice(&buf[20..]);
    let total = pkt.len() as u16;
    let mut p = Ipv4Packet::new_unchecked(&mut pkt[..]);
    p.set_header_len(28);
    p.set_total_len(total);
    p.fill_checksum();
    assert_eq!(p.options(), &opts);
    assert_eq!(parse_tcp_packet(&pkt), Ok((ip4(), tcp)));
}

#[test]
fn udp_is_wrong_protocol_17() {
    let mut buf = build(&ip4(), &segment(&[]));
    buf[9] = 17;
    refill_v4(&mut buf);
    assert_eq!(parse_tcp_packet(&buf), Err(Error::WrongProtocol(17)));
    let mut buf = build(&ip6(), &segment(&[]));
    buf[6] = 17;
    assert_eq!(parse_tcp_packet(&buf), Err(Error::WrongProtocol(17)));
}

#[test]
fn trailing_link_padding_ignored() {
    for ip in [ip4(), ip6()] {
        let tcp = segment(b"x");
        let mut buf = build(&ip, &tcp);
        buf.extend_from_slice(&[0u8; 5]);
        assert_eq!(parse_tcp_packet(&buf), Ok((ip, tcp)));
    }
}

#[test]
fn unknown_tcp_options_skipped_in_packet() {
    let tcp = segment(&[]);
    let ip = ip4();
    let mut buf = vec![0u8; 20 + 20 + 8];
    // Emit the plain segment, then grow its header with an unknown option.
    let plain = build(&ip, &tcp);
    buf[..40].copy_from_slice(&plain);
    buf[40..48].copy_from_slice(&[0xfd, 6, 0xaa, 0xbb, 0xcc, 0xdd, 1, 0]);
    let mut v4 = Ipv4Packet::new_unchecked(&mut buf[..]);
    v4.set_total_len(48);
    v4.fill_checksum();
    let mut t = TcpPacket::new_unchecked(&mut buf[20..]);
    t.set_header_len(28);
    t.fill_checksum(ip.src, ip.dst);
    assert_eq!(parse_tcp_packet(&buf), Ok((ip, tcp)));
}

#[test]
fn emit_errors() {
    let tcp = segment(b"abc");
    let ip = ip4();
    let mut small = vec![0u8; tcp_packet_len(&ip, &tcp) - 1];
    assert_eq!(
        emit_tcp_packet(&ip, &tcp, &mut small),
        Err(Error::BufferTooSmall)
    );
    let mixed = IpRepr {
        dst: ip6().dst,
        ..ip4()
    };
    let mut buf = [0u8; 128];
    assert_eq!(
        emit_tcp_packet(&mixed, &tcp, &mut buf),
        Err(Error::AddressMismatch)
    );
    let big = vec![0u8; 65535 - 40 + 1];
    let tcp = segment(&big);
    let mut buf = vec![0u8; 70000];
    assert_eq!(
        emit_tcp_packet(&ip4(), &tcp, &mut buf),
        Err(Error::TooLarge)
    );
    // The same payload fits IPv6, whose length field excludes the header.
    assert_eq!(
        emit_tcp_packet(&ip6(), &tcp, &mut buf),
        Ok(40 + 20 + big.len())
    );
}

#[test]
fn tcp_packet_len_counts_headers_options_payload() {
    let mut tcp = segment(b"12345");
    tcp.options.mss = Some(1);
    assert_eq!(tcp_packet_len(&ip4(), &tcp), 20 + 24 + 5);
    assert_eq!(tcp_packet_len(&ip6(), &tcp), 40 + 24 + 5);
}

#[test]
fn error_display_is_lowercase() {
    let all = [
        Error::Truncated,
        Error::BadVersion,
        Error::BadHeaderLength,
        Error::BadTotalLength,
        Error::BadOptionLength,
        Error::BadChecksum,
        Error::Fragmented,
        Error::WrongProtocol(17),
        Error::BufferTooSmall,
        Error::AddressMismatch,
        Error::TooLarge,
    ];
    for e in all {
        let s = e.to_string();
        assert!(!s.is_empty());
        assert_eq!(s, s.to_lowercase(), "{s}");
    }
    assert_eq!(
        Error::WrongProtocol(17).to_string(),
        "ip payload is protocol 17, not tcp"
    );
}

#[test]
fn rfc3168_ecn_field_is_the_low_two_bits_of_tos_and_traffic_class() {
    for ip in [ip4(), ip6()] {
        for ecn in [Ecn::NotEct, Ecn::Ect1, Ecn::Ect0, Ecn::Ce] {
            let ip = IpRepr {
                tos: ecn.in_tos(0xb8),
                ..ip
            };
            let payload = [7u8; 10];
            let seg = segment(&payload);
            let mut buf = [0u8; 128];
            let n = emit_tcp_packet(&ip, &seg, &mut buf).unwrap();
            let (got, _) = parse_tcp_packet(&buf[..n]).unwrap();
            assert_eq!(got.ecn(), ecn);
            assert_eq!(got.tos & !Ecn::MASK, 0xb8, "Diffserv bits kept");
        }
    }
    assert_eq!(Ecn::of_tos(0x02), Ecn::Ect0);
    assert_eq!(Ecn::of_tos(0x03), Ecn::Ce);
    assert_eq!(Ecn::Ect0.in_tos(0x03), 0x02);
}

#[test]
fn a_partial_checksum_is_what_a_device_completes_to_the_full_one() {
    for ip in [ip4(), ip6()] {
        for payload in [&b""[..], b"x", b"an odd-length payload!!", &[0xff; 1448]] {
            let tcp = segment(payload);
            let full = build(&ip, &tcp);
            let mut partial = vec![0u8; full.len()];
            let n = emit_tcp_packet_with(&ip, &tcp, &mut partial, TxChecksum::Partial).unwrap();
            assert_eq!(n, full.len());
            let th = full.len() - tcp.buffer_len();
            assert_eq!(full[..th + 16], partial[..th + 16]);
            assert_eq!(full[th + 18..], partial[th + 18..]);
            assert_ne!(full[th + 16..th + 18], partial[th + 16..th + 18]);
            // The device: sum from the TCP header with the field as
            // written, store the complement.
            let done = !checksum::fold(checksum::ones_complement_sum(&partial[th..], 0));
            partial[th + 16..th + 18].copy_from_slice(&done.to_be_bytes());
            assert_eq!(partial, full);
        }
    }
}
