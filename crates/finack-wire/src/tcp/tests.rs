use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use std::format;
use std::vec;
use std::vec::Vec;

fn v4() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        IpAddr::V4(Ipv4Addr::new(10, 3, 2, 1)),
    )
}

fn v6() -> (IpAddr, IpAddr) {
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
    )
}

fn sample_repr(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNumber(0xfeed_f00d),
        ack: SeqNumber(12345),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 502,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 77,
                tsecr: 88,
            }),
            ..Default::default()
        },
        payload,
    }
}

fn emit(repr: &TcpRepr<'_>, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf, src, dst), Ok(buf.len()));
    buf
}

#[test]
fn flags_display_order_and_none() {
    assert_eq!(format!("{}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
    assert_eq!(format!("{:?}", TcpFlags::ACK | TcpFlags::SYN), "SYN|ACK");
    assert_eq!(format!("{}", TcpFlags::empty()), "none");
    assert_eq!(
        format!("{}", TcpFlags(0xff)),
        "SYN|FIN|RST|PSH|ACK|URG|ECE|CWR"
    );
    assert_eq!(format!("{}", TcpFlags::FIN | TcpFlags::ACK), "FIN|ACK");
}

#[test]
fn flags_set_operations() {
    let mut f = TcpFlags::SYN;
    f |= TcpFlags::ACK;
    assert!(f.syn() && f.ack() && !f.fin() && !f.rst() && !f.psh() && !f.urg());
    assert!(f.contains(TcpFlags::SYN.union(TcpFlags::ACK)));
    assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
    assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
    assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
    assert_eq!(f.difference(TcpFlags::ACK), TcpFlags::SYN);
    assert!(TcpFlags::default().is_empty());
    assert!(TcpFlags(0xc0).ece() && TcpFlags(0xc0).cwr());
    f &= TcpFlags::FIN;
    assert!(f.is_empty());
}

#[test]
fn rfc9293_3_1_header_layout() {
    let (src, dst) = v4();
    let payload = [0xaa, 0xbb, 0xcc];
    let buf = emit(&sample_repr(&payload), src, dst);
    assert_eq!(buf.len(), 20 + 12 + 3);
    assert_eq!(&buf[0..4], &[0x9c, 0x40, 0x00, 0x50]);
    assert_eq!(&buf[4..8], &[0xfe, 0xed, 0xf0, 0x0d]);
    assert_eq!(&buf[8..12], &12345u32.to_be_bytes());
    assert_eq!(buf[12], 8 << 4, "data offset 8, reserved bits zero");
    assert_eq!(buf[13], 0x18);
    assert_eq!(&buf[14..16], &502u16.to_be_bytes());
    assert_eq!(&buf[18..20], &[0, 0]);
    assert_eq!(&buf[20..24], &[1, 1, 8, 10]);
    assert_eq!(&buf[32..], &payload);
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert!(p.verify_checksum(src, dst));
    assert_eq!(p.payload(), &payload);
    assert_eq!(p.options().len(), 12);
}

#[test]
fn rfc9293_must_2_must_3_checksum_round_trip_v4_and_v6() {
    for (src, dst) in [v4(), v6()] {
        for len in [0usize, 1, 2, 7, 100] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let repr = sample_repr(&payload);
            let buf = emit(&repr, src, dst);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p, src, dst), Ok(repr));
        }
    }
}

#[test]
fn rfc9293_must_3_bad_tcp_checksum() {
    let (src, dst) = v4();
    let mut buf = emit(&sample_repr(b"hello"), src, dst);
    buf[25] ^= 0x40;
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert!(!p.verify_checksum(src, dst));
    assert_eq!(TcpRepr::parse(&p, src, dst), Err(Error::BadChecksum));
    // A checksum made for other addresses does not verify either.
    let (src6, dst6) = v6();
    let buf = emit(&sample_repr(b"hello"), src, dst);
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(TcpRepr::parse(&p, src6, dst6), Err(Error::BadChecksum));
    assert_eq!(
        TcpRepr::parse(&p, dst, src).map(|_| ()),
        Ok(()),
        "sum is symmetric"
    );
}

#[test]
fn truncated_tcp_shorter_than_20_bytes() {
    let (src, dst) = v4();
    let buf = emit(&sample_repr(&[]), src, dst);
    for len in 0..20 {
        let p = TcpPacket::new_unchecked(&buf[..len]);
        assert_eq!(p.check_len(), Err(Error::Truncated));
        assert_eq!(TcpRepr::parse(&p, src, dst), Err(Error::Truncated));
    }
}

#[test]
fn rfc9293_data_offset_below_5_is_bad_header_length() {
    let (src, dst) = v4();
    let mut buf = emit(&sample_repr(&[]), src, dst);
    for offset in 0..5u8 {
        buf[12] = offset << 4;
        assert_eq!(
            TcpPacket::new_checked(&buf[..]).err(),
            Some(Error::BadHeaderLength)
        );
    }
}

#[test]
fn rfc9293_header_longer_than_segment_is_bad_header_length() {
    let (src, dst) = v4();
    let buf = emit(&sample_repr(&[]), src, dst);
    // 32-byte header cut to 28 bytes.
    assert_eq!(
        TcpPacket::new_checked(&buf[..28]).err(),
        Some(Error::BadHeaderLength)
    );
}

#[test]
fn rfc9293_must_7_bad_option_length_in_segment() {
    let (src, dst) = v4();
    let mut buf = emit(&sample_repr(&[]), src, dst);
    buf[22] = 8;
    buf[23] = 0; // TS option with length 0
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.fill_checksum(src, dst);
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(TcpRepr::parse(&p, src, dst), Err(Error::BadOptionLength));
}

#[test]
fn address_families_must_match() {
    let (src4, _) = v4();
    let (_, dst6) = v6();
    let repr = sample_repr(&[]);
    let mut buf = [0u8; 64];
    assert_eq!(repr.emit(&mut buf, src4, dst6), Err(Error::AddressMismatch));
    let (s, d) = v4();
    let n = repr.emit(&mut buf, s, d).unwrap();
    let p = TcpPacket::new_checked(&buf[..n]).unwrap();
    assert_eq!(TcpRepr::parse(&p, src4, dst6), Err(Error::AddressMismatch));
    assert!(!p.verify_checksum(src4, dst6));
}

#[test]
fn emit_into_short_buffer_is_buffer_too_small() {
    let (src, dst) = v6();
    let repr = sample_repr(b"abc");
    let mut buf = [0u8; 34];
    assert_eq!(repr.emit(&mut buf, src, dst), Err(Error::BufferTooSmall));
    let mut buf = [0u8; 36];
    assert_eq!(repr.emit(&mut buf, src, dst), Ok(35));
}

#[test]
fn rfc9293_3_4_segment_len_counts_syn_and_fin() {
    let mut r = sample_repr(b"12345");
    assert_eq!(r.segment_len(), 5);
    r.flags = TcpFlags::SYN;
    assert_eq!(r.segment_len(), 6);
    r.flags = TcpFlags::SYN | TcpFlags::FIN;
    assert_eq!(r.segment_len(), 7);
    r.payload = &[];
    r.flags = TcpFlags::FIN | TcpFlags::ACK;
    assert_eq!(r.segment_len(), 1);
    r.flags = TcpFlags::RST;
    assert_eq!(r.segment_len(), 0);
}

#[test]
fn rfc9293_ack_field_kept_raw_without_ack_flag() {
    let (src, dst) = v4();
    let mut r = sample_repr(&[]);
    r.flags = TcpFlags::SYN;
    r.ack = SeqNumber(0xdead_beef);
    r.urgent = 7;
    let buf = emit(&r, src, dst);
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    let parsed = TcpRepr::parse(&p, src, dst).unwrap();
    assert_eq!(parsed.ack, SeqNumber(0xdead_beef));
    assert_eq!(parsed.urgent, 7);
}

#[test]
fn rfc9293_reserved_bits_ignored_on_receive() {
    let (src, dst) = v4();
    let mut buf = emit(&sample_repr(&[]), src, dst);
    buf[12] |= 0x0f;
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.fill_checksum(src, dst);
    assert_eq!(p.header_len(), 32);
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(TcpRepr::parse(&p, src, dst), Ok(sample_repr(&[])));
}

#[test]
fn setters_and_getters_agree() {
    let mut buf = [0u8; 28];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_seq_number(SeqNumber(3));
    p.set_ack_number(SeqNumber(4));
    p.set_header_len(24);
    p.set_flags(TcpFlags::URG | TcpFlags::ACK);
    p.set_window_len(5);
    p.set_checksum(6);
    p.set_urgent_at(7);
    p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
    p.payload_mut().copy_from_slice(&[9, 9, 9, 9]);
    assert_eq!(p.src_port(), 1);
    assert_eq!(p.dst_port(), 2);
    assert_eq!(p.seq_number(), SeqNumber(3));
    assert_eq!(p.ack_number(), SeqNumber(4));
    assert_eq!(p.header_len(), 24);
    assert_eq!(p.flags(), TcpFlags::URG | TcpFlags::ACK);
    assert_eq!(p.window_len(), 5);
    assert_eq!(p.checksum(), 6);
    assert_eq!(p.urgent_at(), 7);
    assert_eq!(p.options(), &[1, 1, 1, 0]);
    assert_eq!(p.payload(), &[9, 9, 9, 9]);
    let inner = p.into_inner();
    assert_eq!(inner.len(), 28);
}

#[test]
fn unchecked_view_on_short_buffer_never_panics() {
    let (src, dst) = v4();
    let mut buf = [0xffu8; 13];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    assert_eq!(p.header_len(), 60);
    assert_eq!(p.window_len(), 0);
    assert!(p.options().is_empty() && p.payload().is_empty());
    p.set_urgent_at(1);
    p.fill_checksum(src, dst);
    assert!(p.options_mut().is_empty() && p.payload_mut().is_empty());
    let p = TcpPacket::new_unchecked(&buf[..]);
    assert!(TcpRepr::parse(&p, src, dst).is_err());
}

#[test]
fn parse_payload_outlives_the_view() {
    let (src, dst) = v4();
    let buf = emit(&sample_repr(b"xyz"), src, dst);
    let repr = {
        let view = TcpPacket::new_checked(&buf[..]).unwrap();
        TcpRepr::parse(&view, src, dst).unwrap()
    };
    assert_eq!(repr.payload, b"xyz");
}
