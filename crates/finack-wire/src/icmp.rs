//! ICMP and ICMPv6 error messages about TCP segments (RFC 792, RFC 4443,
//! RFC 1191, RFC 8201): what went wrong, and the 4-tuple and sequence number of
//! the segment that caused it, taken from the quoted headers.

use core::net::IpAddr;

use crate::checksum::{fold, ones_complement_sum, pseudo_header_sum};
use crate::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::{Error, Result, SeqNumber, IP_PROTOCOL_TCP};

/// IP protocol number of ICMP.
pub const IP_PROTOCOL_ICMP: u8 = 1;
/// IPv6 next-header number of ICMPv6.
pub const IP_PROTOCOL_ICMPV6: u8 = 58;

/// What an ICMP error reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// Destination unreachable: network, host, or source route (IPv4 codes 0,
    /// 1, 5; IPv6 codes 0, 2, 3) — soft errors for TCP (RFC 9293 MUST-56).
    Unreachable,
    /// Protocol or port unreachable, or administratively prohibited (IPv4 codes
    /// 2, 3, 9, 10, 13; IPv6 codes 1, 4) — hard errors (RFC 9293 SHLD-26).
    Refused,
    /// IPv4 "fragmentation needed and DF set" or IPv6 "packet too big", with the
    /// next-hop MTU (RFC 1191, RFC 8201).
    PacketTooBig {
        /// The MTU the router can forward (0 if it did not say).
        mtu: u16,
    },
    /// Time exceeded (a soft error).
    TimeExceeded,
    /// Parameter problem (a soft error).
    ParameterProblem,
    /// Source quench (IPv4, deprecated; RFC 9293 MUST-55: silently discard).
    SourceQuench,
}

/// A parsed ICMP error about a TCP segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// The error.
    pub kind: IcmpKind,
    /// Who sent the ICMP message (a router or the destination host).
    pub reporter: IpAddr,
    /// Source address of the quoted segment (our address).
    pub src: IpAddr,
    /// Destination address of the quoted segment (the peer).
    pub dst: IpAddr,
    /// Source port of the quoted segment.
    pub src_port: u16,
    /// Destination port of the quoted segment.
    pub dst_port: u16,
    /// Sequence number of the quoted segment.
    pub seq: SeqNumber,
}

fn be16(b: &[u8], at: usize) -> Result<u16> {
    let s = b.get(at..at + 2).ok_or(Error::Truncated)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

/// The first 8 bytes of the quoted TCP header: ports and sequence number.
fn quoted_tcp(tcp: &[u8]) -> Result<(u16, u16, SeqNumber)> {
    let s = tcp.get(..8).ok_or(Error::Truncated)?;
    Ok((
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        SeqNumber(u32::from_be_bytes([s[4], s[5], s[6], s[7]])),
    ))
}

/// Parse an IPv4 ICMP or IPv6 ICMPv6 packet carrying an error about a TCP
/// segment. Informational messages (echo, ...) and errors about other protocols
/// give `Err(WrongProtocol)`; a bad ICMP checksum gives `Err(BadChecksum)`.
pub fn parse_icmp_error(packet: &[u8]) -> Result<IcmpError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => parse_v4(packet),
        Some(6) => parse_v6(packet),
        Some(_) => Err(Error::BadVersion),
        None => Err(Error::Truncated),
    }
}

fn parse_v4(packet: &[u8]) -> Result<IcmpError> {
    let view = Ipv4Packet::new_checked(packet)?;
    let outer = Ipv4Repr::parse(&view)?;
    if outer.protocol != IP_PROTOCOL_ICMP {
        return Err(Error::WrongProtocol(outer.protocol));
    }
    let icmp = view.payload();
    if icmp.len() < 8 {
        return Err(Error::Truncated);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let kind = match (ty, code) {
        (3, 4) => IcmpKind::PacketTooBig {
            mtu: be16(icmp, 6)?,
        },
        (3, 2 | 3 | 9 | 10 | 13) => IcmpKind::Refused,
        (3, _) => IcmpKind::Unreachable,
        (4, _) => IcmpKind::SourceQuench,
        (11, _) => IcmpKind::TimeExceeded,
        (12, _) => IcmpKind::ParameterProblem,
        // Informational messages (echo, ...) are not ours to handle.
        _ => return Err(Error::WrongProtocol(IP_PROTOCOL_ICMP)),
    };
    if !fold(ones_complement_sum(icmp, 0)) != 0 {
        return Err(Error::BadChecksum);
    }
    // The quoted datagram: its IP header (with options) and 8+ bytes of TCP.
    let quoted = &icmp[8..];
    let first = *quoted.first().ok_or(Error::Truncated)?;
    if first >> 4 != 4 {
        return Err(Error::BadVersion);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || quoted.len() < ihl {
        return Err(Error::BadHeaderLength);
    }
    if quoted[9] != IP_PROTOCOL_TCP {
        return Err(Error::WrongProtocol(quoted[9]));
    }
    let addr =
        |at: usize| IpAddr::from([quoted[at], quoted[at + 1], quoted[at + 2], quoted[at + 3]]);
    let (src_port, dst_port, seq) = quoted_tcp(&quoted[ihl..])?;
    Ok(IcmpError {
        kind,
        reporter: IpAddr::V4(outer.src),
        src: addr(12),
        dst: addr(16),
        src_port,
        dst_port,
        seq,
    })
}

fn parse_v6(packet: &[u8]) -> Result<IcmpError> {
    let view = Ipv6Packet::new_checked(packet)?;
    let outer = Ipv6Repr::parse(&view)?;
    if outer.next_header != IP_PROTOCOL_ICMPV6 {
        return Err(Error::WrongProtocol(outer.next_header));
    }
    let (_, icmp) = view.into_upper_layer()?;
    if icmp.len() < 8 {
        return Err(Error::Truncated);
    }
    let (ty, code) = (icmp[0], icmp[1]);
    let kind = match (ty, code) {
        (1, 1 | 4 | 5 | 6) => IcmpKind::Refused,
        (1, _) => IcmpKind::Unreachable,
        (2, _) => {
            let mtu = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
            IcmpKind::PacketTooBig {
                mtu: mtu.min(u32::from(u16::MAX)) as u16,
            }
        }
        (3, _) => IcmpKind::TimeExceeded,
        (4, _) => IcmpKind::ParameterProblem,
        _ => return Err(Error::WrongProtocol(IP_PROTOCOL_ICMPV6)),
    };
    // RFC 4443 §2.3: the checksum covers a pseudo-header.
    let pseudo = pseudo_header_sum(
        IpAddr::V6(outer.src),
        IpAddr::V6(outer.dst),
        IP_PROTOCOL_ICMPV6,
        icmp.len() as u32,
    );
    if !fold(ones_complement_sum(icmp, pseudo)) != 0 {
        return Err(Error::BadChecksum);
    }
    let quoted = &icmp[8..];
    if quoted.len() < 40 {
        return Err(Error::Truncated);
    }
    if quoted[0] >> 4 != 6 {
        return Err(Error::BadVersion);
    }
    let (next, offset) = crate::ipv6::skip_extension_headers(quoted[6], &quoted[40..])?;
    if next != IP_PROTOCOL_TCP {
        return Err(Error::WrongProtocol(next));
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&quoted[at..at + 16]);
        IpAddr::from(a)
    };
    let (src_port, dst_port, seq) = quoted_tcp(&quoted[40 + offset..])?;
    Ok(IcmpError {
        kind,
        reporter: IpAddr::V6(outer.src),
        src: addr(8),
        dst: addr(24),
        src_port,
        dst_port,
        seq,
    })
}

/// Build an ICMP error about `quoted` (an IP packet carrying TCP), sent by
/// `reporter` back to the quoted packet's source: for tests and the simulator.
/// Writes into `buf`, returns the length. `kind` must not be `SourceQuench`
/// for IPv6.
pub fn emit_icmp_error(
    kind: IcmpKind,
    reporter: IpAddr,
    quoted: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    let first = *quoted.first().ok_or(Error::Truncated)?;
    let v6 = first >> 4 == 6;
    let quoted_len = if v6 {
        quoted.len().min(1232)
    } else {
        quoted.len().min(576 - 28)
    };
    let quoted = &quoted[..quoted_len];
    let (ty, code, rest): (u8, u8, [u8; 4]) = match (v6, kind) {
        (false, IcmpKind::Unreachable) => (3, 1, [0; 4]),
        (false, IcmpKind::Refused) => (3, 3, [0; 4]),
        (false, IcmpKind::PacketTooBig { mtu }) => (3, 4, [0, 0, (mtu >> 8) as u8, mtu as u8]),
        (false, IcmpKind::TimeExceeded) => (11, 0, [0; 4]),
        (false, IcmpKind::ParameterProblem) => (12, 0, [0; 4]),
        (false, IcmpKind::SourceQuench) => (4, 0, [0; 4]),
        (true, IcmpKind::Unreachable) => (1, 3, [0; 4]),
        (true, IcmpKind::Refused) => (1, 4, [0; 4]),
        (true, IcmpKind::PacketTooBig { mtu }) => (2, 0, u32::from(mtu).to_be_bytes()),
        (true, IcmpKind::TimeExceeded) => (3, 0, [0; 4]),
        (true, IcmpKind::ParameterProblem) => (4, 0, [0; 4]),
        (true, IcmpKind::SourceQuench) => return Err(Error::WrongProtocol(IP_PROTOCOL_ICMPV6)),
    };
    // The error goes back to the quoted packet's source.
    let (dst, ip_len) = if v6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(quoted.get(8..24).ok_or(Error::Truncated)?);
        (IpAddr::from(a), 40)
    } else {
        let s = quoted.get(12..16).ok_or(Error::Truncated)?;
        (IpAddr::from([s[0], s[1], s[2], s[3]]), 20)
    };
    if reporter.is_ipv6() != v6 {
        return Err(Error::AddressMismatch);
    }
    let icmp_len = 8 + quoted.len();
    let total = ip_len + icmp_len;
    if buf.len() < total {
        return Err(Error::BufferTooSmall);
    }
    let (ip_buf, icmp) = buf[..total].split_at_mut(ip_len);
    icmp[0] = ty;
    icmp[1] = code;
    icmp[2] = 0;
    icmp[3] = 0;
    icmp[4..8].copy_from_slice(&rest);
    icmp[8..].copy_from_slice(quoted);
    let sum = if v6 {
        ones_complement_sum(
            icmp,
            pseudo_header_sum(reporter, dst, IP_PROTOCOL_ICMPV6, icmp_len as u32),
        )
    } else {
        ones_complement_sum(icmp, 0)
    };
    let c = !fold(sum);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    match (reporter, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let repr = Ipv4Repr {
                src: s,
                dst: d,
                protocol: IP_PROTOCOL_ICMP,
                ttl: 64,
                tos: 0,
                payload_len: icmp_len,
            };
            repr.emit(ip_buf)?;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let repr = Ipv6Repr {
                src: s,
                dst: d,
                next_header: IP_PROTOCOL_ICMPV6,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
                payload_len: icmp_len,
            };
            repr.emit(ip_buf)?;
        }
        _ => return Err(Error::AddressMismatch),
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{emit_tcp_packet, IpRepr, TcpFlags, TcpRepr};

    fn tcp_packet(src: &str, dst: &str, buf: &mut [u8]) -> usize {
        let ip = IpRepr {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ttl: 64,
            tos: 0,
        };
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNumber(123_456),
            flags: TcpFlags::ACK,
            payload: &[7; 100],
            ..TcpRepr::default()
        };
        emit_tcp_packet(&ip, &tcp, buf).unwrap()
    }

    #[test]
    fn rfc792_rfc4443_errors_round_trip_with_the_quoted_tuple() {
        for (src, dst, reporter) in [
            ("192.0.2.1", "198.51.100.7", "192.0.2.254"),
            ("2001:db8::1", "2001:db8:1::7", "2001:db8::fe"),
        ] {
            let mut seg = [0u8; 400];
            let n = tcp_packet(src, dst, &mut seg);
            for kind in [
                IcmpKind::Unreachable,
                IcmpKind::Refused,
                IcmpKind::PacketTooBig { mtu: 1280 },
                IcmpKind::TimeExceeded,
                IcmpKind::ParameterProblem,
            ] {
                let mut buf = [0u8; 1500];
                let len =
                    emit_icmp_error(kind, reporter.parse().unwrap(), &seg[..n], &mut buf).unwrap();
                let e = parse_icmp_error(&buf[..len]).unwrap();
                assert_eq!(e.kind, kind);
                assert_eq!(e.src, src.parse::<IpAddr>().unwrap());
                assert_eq!(e.dst, dst.parse::<IpAddr>().unwrap());
                assert_eq!(e.reporter, reporter.parse::<IpAddr>().unwrap());
                assert_eq!(
                    (e.src_port, e.dst_port, e.seq),
                    (40000, 80, SeqNumber(123_456))
                );
                // A flipped bit in the ICMP message fails its checksum.
                let mut bad = buf;
                bad[len - 1] ^= 1;
                assert_eq!(parse_icmp_error(&bad[..len]), Err(Error::BadChecksum));
                // Truncated quotes are typed errors, never panics.
                for cut in 0..len {
                    let _ = parse_icmp_error(&buf[..cut]);
                }
            }
        }
    }

    #[test]
    fn rfc9293_must_55_source_quench_is_recognised() {
        let mut seg = [0u8; 400];
        let n = tcp_packet("192.0.2.1", "198.51.100.7", &mut seg);
        let mut buf = [0u8; 1500];
        let len = emit_icmp_error(
            IcmpKind::SourceQuench,
            "198.51.100.7".parse().unwrap(),
            &seg[..n],
            &mut buf,
        )
        .unwrap();
        assert_eq!(
            parse_icmp_error(&buf[..len]).unwrap().kind,
            IcmpKind::SourceQuench
        );
    }
}
