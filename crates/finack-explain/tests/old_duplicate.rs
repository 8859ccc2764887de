//! An old duplicate in a capture: after a connection closed and a new one
//! opened on the same 4-tuple (TIME-WAIT skipped), a data segment of the
//! old incarnation arrives again. The explanation names it.

use std::net::SocketAddr;

use finack_wire::{
    emit_tcp_packet, tcp_packet_len, IpRepr, SeqNumber, TcpFlags, TcpOptions, TcpRepr,
};

const C: &str = "192.0.2.1:40000";
const S: &str = "192.0.2.2:80";

fn seg(src: &str, dst: &str, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    let ip = IpRepr {
        src: src.ip(),
        dst: dst.ip(),
        ttl: 64,
        tos: 0,
    };
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
    };
    let mut buf = vec![0u8; tcp_packet_len(&ip, &tcp)];
    let n = emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A pcap (link type RAW) of these packets, 10 ms apart.
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let us = 10_000 * i as u32;
        out.extend_from_slice(&(us / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(us % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn a_segment_of_the_previous_incarnation_is_named_an_old_duplicate() {
    let (a, sa, pa, f, ack) = (
        TcpFlags::ACK,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::PSH,
        TcpFlags::FIN | TcpFlags::ACK,
        TcpFlags::ACK,
    );
    let old = seg(S, C, 5001, 1001, pa, b"old data");
    let packets = vec![
        // The first incarnation: handshake, 8 bytes from the server, a
        // four-way close the client starts.
        seg(C, S, 1000, 0, TcpFlags::SYN, b""),
        seg(S, C, 5000, 1001, sa, b""),
        seg(C, S, 1001, 5001, a, b""),
        old.clone(),
        seg(C, S, 1001, 5009, ack, b""),
        seg(C, S, 1001, 5009, f, b""),
        seg(S, C, 5009, 1002, f, b""),
        seg(C, S, 1002, 5010, ack, b""),
        // At once a new incarnation (no TIME-WAIT wait), new ISNs.
        seg(C, S, 90_000, 0, TcpFlags::SYN, b""),
        seg(S, C, 5_000_000, 90_001, sa, b""),
        seg(C, S, 90_001, 5_000_001, a, b""),
        // The old segment, delayed in the network, arrives now.
        old,
    ];
    let ex = finack_explain::explain(&pcap(&packets), &finack_explain::Options::default())
        .expect("a capture");
    assert_eq!(ex.connections.len(), 2, "{}", ex.summary());
    assert!(
        ex.connections[0]
            .lifecycle
            .anomalies
            .iter()
            .all(|a| !a.starts_with("old duplicate")),
        "{:?}",
        ex.connections[0].lifecycle.anomalies
    );
    let second = &ex.connections[1];
    assert_eq!(second.conn.incarnation, 2);
    assert_eq!(second.conn.old_duplicates, [3]);
    assert!(
        second
            .lifecycle
            .anomalies
            .iter()
            .any(|a| a.starts_with("old duplicate: packet #4 repeats a data segment")),
        "{:?}",
        second.lifecycle.anomalies
    );
    assert!(ex.summary().contains("old duplicate"), "{}", ex.summary());
}
