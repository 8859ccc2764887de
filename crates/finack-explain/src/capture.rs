//! Reading a capture: pcap or pcapng (with the `pcap-file` crate), the link
//! layer peeled off (Ethernet with or without 802.1Q/802.1ad tags, raw IP,
//! Linux cooked SLL and SLL2, BSD loopback/null), and every IPv4 or IPv6
//! packet carrying TCP parsed with `finack-wire`.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use finack_wire::ipv6::skip_extension_headers;
use finack_wire::{Error as WireError, Ipv4Packet, Ipv6Packet, TcpFlags, TcpPacket};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};

/// One TCP segment read from the capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Capture time in microseconds since the first packet of the capture.
    pub time_us: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Payload length.
    pub len: u32,
    /// Window field (unscaled).
    pub window: u16,
    /// Whether the IP and TCP checksums verified. Captures taken on the
    /// sending host often hold packets whose checksum the NIC fills in later
    /// (checksum offload); such packets are kept, with this set to false.
    pub checksum_ok: bool,
    /// The IP packet (checksums repaired when they were not), for pcap and
    /// JSON output.
    pub bytes: Vec<u8>,
}

/// What was skipped while reading, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Frames that are not IPv4 or IPv6 (ARP, LLDP, ...).
    pub not_ip: usize,
    /// IP packets that do not carry TCP (UDP, ICMP, ...).
    pub not_tcp: usize,
    /// IP fragments (not reassembled).
    pub fragments: usize,
    /// Packets cut short by the capture's snapshot length, or frames too
    /// short for their headers.
    pub truncated: usize,
    /// Packets whose headers do not parse.
    pub malformed: usize,
    /// Frames on an interface whose link type is not supported.
    pub unsupported_link: usize,
    /// The capture file ends in the middle of a record (or a corrupt record
    /// stopped the reading); the bytes after it were ignored.
    pub trailing_bytes: usize,
}

impl Skipped {
    /// Frames skipped in all (trailing bytes not counted).
    pub fn total(&self) -> usize {
        self.not_ip
            + self.not_tcp
            + self.fragments
            + self.truncated
            + self.malformed
            + self.unsupported_link
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.not_ip, "not IP"),
            (self.not_tcp, "not TCP"),
            (self.fragments, "IP fragments"),
            (self.truncated, "truncated"),
            (self.malformed, "malformed"),
            (self.unsupported_link, "unsupported link type"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            f.write_str("none")?;
        } else {
            f.write_str(&parts.join(", "))?;
        }
        if self.trailing_bytes > 0 {
            write!(
                f,
                "; the file ends in a truncated or corrupt record ({} bytes ignored)",
                self.trailing_bytes
            )?;
        }
        Ok(())
    }
}

/// Why a capture could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureError {
    /// Neither the pcap nor the pcapng magic number.
    NotACapture,
    /// The file header is cut short or invalid.
    BadHeader(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotACapture => {
                f.write_str("not a pcap or pcapng capture (unknown magic number)")
            }
            CaptureError::BadHeader(e) => write!(f, "the capture's file header is invalid: {e}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Link types understood (tcpdump.org LINKTYPE_ values).
mod link {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Read every TCP segment of a pcap or pcapng capture.
pub fn read_capture(data: &[u8]) -> Result<(Vec<Packet>, Skipped), CaptureError> {
    let magic = data.get(..4).ok_or(CaptureError::NotACapture)?;
    let mut frames: Vec<(u64, u32, bool, Cow<'_, [u8]>)> = Vec::new();
    let mut skipped = Skipped::default();
    match magic {
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x4d, 0x3c, 0xb2, 0xa1] => {
            let (mut rest, parser) =
                PcapParser::new(data).map_err(|e| CaptureError::BadHeader(e.to_string()))?;
            let linktype = u32::from(parser.header().datalink);
            while !rest.is_empty() {
                match parser.next_packet(rest) {
                    Ok((r, p)) => {
                        let cut = p.len() < p.orig_len();
                        let t = u64::try_from(p.timestamp().as_micros()).unwrap_or(u64::MAX);
                        frames.push((t, linktype, cut, p.into_data()));
                        rest = r;
                    }
                    Err(_) => {
                        skipped.trailing_bytes = rest.len();
                        break;
                    }
                }
            }
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let (mut rest, mut parser) =
                PcapNgParser::new(data).map_err(|e| CaptureError::BadHeader(e.to_string()))?;
            while !rest.is_empty() {
                match parser.next_block(rest) {
                    Ok((r, block)) => {
                        rest = r;
                        let (iface, ts, orig, body) = match block {
                            Block::EnhancedPacket(b) => {
                                (b.interface_id, b.timestamp, b.original_len, b.data)
                            }
                            Block::SimplePacket(b) => {
                                (0, Default::default(), b.original_len, b.data)
                            }
                            Block::Packet(b) => (
                                u32::from(b.interface_id),
                                b.timestamp,
                                b.original_len,
                                b.data,
                            ),
                            _ => continue,
                        };
                        let Some(desc) = usize::try_from(iface)
                            .ok()
                            .and_then(|i| parser.state().interfaces().get(i))
                        else {
                            skipped.malformed += 1;
                            continue;
                        };
                        let linktype = u32::from(desc.linktype);
                        let cut = (body.len() as u64) < u64::from(orig);
                        let t = u64::try_from(ts.as_micros()).unwrap_or(u64::MAX);
                        frames.push((t, linktype, cut, body));
                    }
                    Err(_) => {
                        skipped.trailing_bytes = rest.len();
                        break;
                    }
                }
            }
        }
        _ => return Err(CaptureError::NotACapture),
    }
    let t0 = frames.iter().map(|f| f.0).min().unwrap_or(0);
    let mut packets = Vec::new();
    for (t, linktype, cut, frame) in &frames {
        match decode(*linktype, frame) {
            Ok(p) => packets.push(Packet {
                time_us: t - t0,
                ..p
            }),
            Err(Skip::NotIp) => skipped.not_ip += 1,
            Err(Skip::Link) => skipped.unsupported_link += 1,
            Err(Skip::Wire(WireError::WrongProtocol(_))) => skipped.not_tcp += 1,
            Err(Skip::Wire(WireError::Fragmented)) => skipped.fragments += 1,
            Err(Skip::Wire(WireError::Truncated | WireError::BadTotalLength)) if *cut => {
                skipped.truncated += 1
            }
            Err(Skip::Wire(WireError::Truncated)) => skipped.truncated += 1,
            Err(Skip::Wire(_)) => skipped.malformed += 1,
        }
    }
    // A pcapng file may interleave interfaces; keep capture order by time.
    packets.sort_by_key(|p| p.time_us);
    Ok((packets, skipped))
}

fn by_ethertype(et: u16, rest: &[u8]) -> Result<&[u8], Skip> {
    match et {
        0x0800 | 0x86dd => Ok(rest),
        _ => Err(Skip::NotIp),
    }
}

enum Skip {
    NotIp,
    Link,
    Wire(WireError),
}

/// The IP packet inside a frame of link type `linktype`.
fn ip_payload(linktype: u32, frame: &[u8]) -> Result<&[u8], Skip> {
    let ethertype = |f: &[u8], at: usize| -> Result<u16, Skip> {
        f.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(Skip::Wire(WireError::Truncated))
    };
    match linktype {
        link::RAW | link::IPV4 | link::IPV6 => Ok(frame),
        link::NULL | link::LOOP => {
            // A 4-byte address family in host (NULL) or network (LOOP) order;
            // the IP version nibble says the rest.
            let rest = frame.get(4..).ok_or(Skip::Wire(WireError::Truncated))?;
            match rest.first().map(|b| b >> 4) {
                Some(4 | 6) => Ok(rest),
                _ => Err(Skip::NotIp),
            }
        }
        link::ETHERNET => {
            let mut at = 12;
            let mut et = ethertype(frame, at)?;
            // 802.1Q, 802.1ad and the old QinQ tag: 4 bytes each.
            while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
                at += 4;
                et = ethertype(frame, at)?;
            }
            by_ethertype(et, frame.get(at + 2..).unwrap_or(&[]))
        }
        link::LINUX_SLL => by_ethertype(ethertype(frame, 14)?, frame.get(16..).unwrap_or(&[])),
        link::LINUX_SLL2 => by_ethertype(ethertype(frame, 0)?, frame.get(20..).unwrap_or(&[])),
        _ => Err(Skip::Link),
    }
}

fn decode(linktype: u32, frame: &[u8]) -> Result<Packet, Skip> {
    let ip = ip_payload(linktype, frame)?;
    // Link-layer padding after the IP packet is cut by the parser.
    match finack_wire::parse_tcp_packet(ip) {
        Ok((ipr, tcp)) => Ok(packet(ipr.src, ipr.dst, ipr.ttl, &tcp, true, ip)),
        Err(WireError::BadChecksum) => {
            // Checksum offload (or real corruption): repair and note it.
            let fixed = repair_checksums(ip).ok_or(Skip::Wire(WireError::BadChecksum))?;
            let (ipr, tcp) = finack_wire::parse_tcp_packet(&fixed).map_err(Skip::Wire)?;
            Ok(packet(ipr.src, ipr.dst, ipr.ttl, &tcp, false, &fixed))
        }
        Err(e) => Err(Skip::Wire(e)),
    }
}

fn packet(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    tcp: &finack_wire::TcpRepr<'_>,
    checksum_ok: bool,
    ip: &[u8],
) -> Packet {
    Packet {
        time_us: 0,
        src: SocketAddr::new(src, tcp.src_port),
        dst: SocketAddr::new(dst, tcp.dst_port),
        ttl,
        flags: tcp.flags,
        seq: tcp.seq.0,
        ack: tcp.ack.0,
        len: u32::try_from(tcp.payload.len()).unwrap_or(u32::MAX),
        window: tcp.window,
        checksum_ok,
        bytes: ip.to_vec(),
    }
}

/// A copy of the IP packet `ip` (cut to its IP length) with its IPv4 header
/// checksum and TCP checksum recomputed; `None` when its headers do not hold.
fn repair_checksums(ip: &[u8]) -> Option<Vec<u8>> {
    match ip.first()? >> 4 {
        4 => {
            let view = Ipv4Packet::new_checked(ip).ok()?;
            let total = usize::from(view.total_len());
            let hl = view.header_len();
            let (src, dst) = (view.src_addr(), view.dst_addr());
            let mut buf = ip.get(..total)?.to_vec();
            Ipv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
            let seg = buf.get_mut(hl..)?;
            TcpPacket::new_checked(&mut *seg)
                .ok()?
                .fill_checksum(IpAddr::V4(src), IpAddr::V4(dst));
            Some(buf)
        }
        6 => {
            let view = Ipv6Packet::new_checked(ip).ok()?;
            let total = 40 + usize::from(view.payload_len());
            let (src, dst) = (view.src_addr(), view.dst_addr());
            let (_, off) = skip_extension_headers(view.next_header(), view.payload()).ok()?;
            let mut buf = ip.get(..total)?.to_vec();
            let seg = buf.get_mut(40 + off..)?;
            TcpPacket::new_checked(&mut *seg)
                .ok()?
                .fill_checksum(IpAddr::V6(src), IpAddr::V6(dst));
            Some(buf)
        }
        _ => None,
    }
}
