//! Wire formats for the finack TCP stack: zero-copy views and parsed
//! representations of IPv4, IPv6 and TCP, plus the checksum and pcap helpers
//! they need.
//!
//! Design rules:
//!
//! * `no_std`, no allocation, no `unsafe`.
//! * Nothing in this crate panics on any input. Every malformed packet is
//!   reported as an [`Error`]; view accessors on buffers that are too short read
//!   zeros instead of indexing out of bounds.
//! * Each layer has a *view* (`Ipv4Packet`, `Ipv6Packet`, `TcpPacket`) that
//!   reads and writes header fields in place, and a *repr* (`Ipv4Repr`,
//!   `Ipv6Repr`, `TcpRepr`) holding the parsed, validated meaning with `parse`
//!   and `emit`.
//! * The top-level [`parse_tcp_packet`] and [`emit_tcp_packet`] handle a whole
//!   IP packet carrying TCP, which is what the rest of the stack needs.
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use finack_wire::{emit_tcp_packet, parse_tcp_packet, tcp_packet_len};
//! use finack_wire::{IpRepr, SeqNumber, TcpFlags, TcpOptions, TcpRepr};
//!
//! let ip = IpRepr {
//!     src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
//!     dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
//!     ttl: 64,
//!     tos: 0,
//! };
//! let syn = TcpRepr {
//!     src_port: 40000,
//!     dst_port: 80,
//!     seq: SeqNumber(1),
//!     ack: SeqNumber(0),
//!     flags: TcpFlags::SYN,
//!     window: 64240,
//!     urgent: 0,
//!     options: TcpOptions { mss: Some(1460), ..Default::default() },
//!     payload: &[],
//! };
//! let mut buf = [0u8; 64];
//! let len = emit_tcp_packet(&ip, &syn, &mut buf)?;
//! assert_eq!(len, tcp_packet_len(&ip, &syn));
//! assert_eq!(parse_tcp_packet(&buf[..len])?, (ip, syn));
//! # Ok::<(), finack_wire::Error>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod pcap;
pub mod seq;
pub mod tcp;

pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use seq::SeqNumber;
pub use tcp::{SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps, TxChecksum};

use core::fmt;
use core::net::IpAddr;

/// IP protocol number of TCP (IANA "Assigned Internet Protocol Numbers").
pub const IP_PROTOCOL_TCP: u8 = 6;

/// Everything that can go wrong while parsing or emitting a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than a fixed header, or than a length field says.
    Truncated,
    /// The IP version nibble is neither 4 nor 6, or is wrong for the view used.
    BadVersion,
    /// IPv4 IHL below 5, TCP data offset below 5, or a TCP header longer than
    /// the segment carrying it.
    BadHeaderLength,
    /// IPv4 total length below the header length or beyond the buffer, or an
    /// IPv6 payload length beyond the buffer.
    BadTotalLength,
    /// A TCP option whose length is below 2 or runs past the options area.
    BadOptionLength,
    /// The IPv4 header checksum or the TCP checksum does not verify.
    BadChecksum,
    /// The packet is an IP fragment (IPv4 MF flag or non-zero fragment offset,
    /// or an IPv6 fragment header); fragments are not reassembled.
    Fragmented,
    /// The IP payload is not TCP; carries the protocol / next-header number.
    WrongProtocol(u8),
    /// Emit: the output buffer is too small.
    BufferTooSmall,
    /// Source and destination addresses belong to different IP families.
    AddressMismatch,
    /// Emit: the packet would be longer than the IP length field can describe
    /// (65535 bytes for IPv4 total length, 65535 for IPv6 payload length).
    TooLarge,
}

/// Result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;

impl core::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("packet truncated"),
            Error::BadVersion => f.write_str("bad ip version"),
            Error::BadHeaderLength => f.write_str("bad header length"),
            Error::BadTotalLength => f.write_str("bad ip total/payload length"),
            Error::BadOptionLength => f.write_str("bad tcp option length"),
            Error::BadChecksum => f.write_str("bad checksum"),
            Error::Fragmented => f.write_str("ip fragment not supported"),
            Error::WrongProtocol(p) => write!(f, "ip payload is protocol {p}, not tcp"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::AddressMismatch => f.write_str("source and destination ip families differ"),
            Error::TooLarge => f.write_str("packet too large for the ip length field"),
        }
    }
}

/// Addressing of one IP packet carrying TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRepr {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 time to live, or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 type-of-service byte, or IPv6 traffic class (DSCP and ECN bits).
    pub tos: u8,
}

impl IpRepr {
    /// The ECN codepoint of the packet (RFC 3168 §5: the low two bits of the
    /// TOS byte or Traffic Class).
    pub fn ecn(&self) -> Ecn {
        Ecn::of_tos(self.tos)
    }
}

/// The ECN field of the IP header (RFC 3168 §5), the two low-order bits of
/// the IPv4 TOS byte and of the IPv6 Traffic Class; the six bits above are
/// the Diffserv codepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecn {
    /// `00`: the sender does not use ECN.
    NotEct = 0,
    /// `01`: ECN-capable transport, ECT(1).
    Ect1 = 1,
    /// `10`: ECN-capable transport, ECT(0), what classic ECN senders use.
    Ect0 = 2,
    /// `11`: a router marked the packet: congestion experienced.
    Ce = 3,
}

impl Ecn {
    /// The bits of the TOS byte / Traffic Class that hold the ECN field.
    pub const MASK: u8 = 0b11;

    /// The ECN codepoint of a TOS byte or Traffic Class.
    pub const fn of_tos(tos: u8) -> Ecn {
        match tos & Ecn::MASK {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// `tos` with its ECN field replaced by this codepoint (the Diffserv
    /// bits kept).
    pub const fn in_tos(self, tos: u8) -> u8 {
        (tos & !Ecn::MASK) | self as u8
    }
}

/// `Err(AddressMismatch)` unless both addresses are of the same family.
pub(crate) fn same_family(src: IpAddr, dst: IpAddr) -> Result<()> {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Ok(()),
        _ => Err(Error::AddressMismatch),
    }
}

/// Parse one IPv4 or IPv6 packet (dispatching on the version nibble) that
/// carries TCP.
///
/// Validates the IP header (the IPv4 header checksum included), skips IPv4
/// options and the IPv6 hop-by-hop, routing and destination-options extension
/// headers (RFC 9293 MUST-50), rejects fragments and non-TCP payloads, verifies
/// the TCP checksum over the pseudo-header (RFC 9293 MUST-3) and parses the TCP
/// header and options. Bytes after the IP length (link-layer padding) are
/// ignored. The returned payload borrows from `packet`.
pub fn parse_tcp_packet(packet: &[u8]) -> Result<(IpRepr, TcpRepr<'_>)> {
    parse_tcp_packet_with(packet, true)
}

/// [`parse_tcp_packet`], verifying the TCP checksum only if `verify_checksum`.
/// Not verifying is for a packet whose checksum the receiving device already
/// checked, or that the host's own stack wrote leaving the checksum to the
/// device (Linux `CHECKSUM_UNNECESSARY` / `CHECKSUM_PARTIAL`, a virtio-net
/// header with `VIRTIO_NET_HDR_F_NEEDS_CSUM` on a TUN device): its checksum
/// field holds only the pseudo-header sum and would fail verification.
pub fn parse_tcp_packet_with(
    packet: &[u8],
    verify_checksum: bool,
) -> Result<(IpRepr, TcpRepr<'_>)> {
    let first = *packet.first().ok_or(Error::Truncated)?;
    let (ip, segment) = match first >> 4 {
        4 => {
            let view = Ipv4Packet::new_checked(packet)?;
            let repr = Ipv4Repr::parse(&view)?;
            if repr.protocol != IP_PROTOCOL_TCP {
                return Err(Error::WrongProtocol(repr.protocol));
            }
            let ip = IpRepr {
                src: IpAddr::V4(repr.src),
                dst: IpAddr::V4(repr.dst),
                ttl: repr.ttl,
                tos: repr.tos,
            };
            (ip, view.into_payload())
        }
        6 => {
            let view = Ipv6Packet::new_checked(packet)?;
            let repr = Ipv6Repr::parse(&view)?;
            if repr.next_header != IP_PROTOCOL_TCP {
                return Err(Error::WrongProtocol(repr.next_header));
            }
            let ip = IpRepr {
                src: IpAddr::V6(repr.src),
                dst: IpAddr::V6(repr.dst),
                ttl: repr.hop_limit,
                tos: repr.traffic_class,
            };
            let (_, upper) = view.into_upper_layer()?;
            (ip, upper)
        }
        _ => return Err(Error::BadVersion),
    };
    let tcp = TcpPacket::new_checked(segment)?;
    let repr = TcpRepr::parse_with(&tcp, ip.src, ip.dst, verify_checksum)?;
    Ok((ip, repr))
}

/// Length of the IP header [`emit_tcp_packet`] writes for `ip` (chosen by the
/// family of `ip.src`).
fn ip_header_len(ip: &IpRepr) -> usize {
    match ip.src {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    }
}

/// Number of bytes [`emit_tcp_packet`] writes: IP header (20 or 40 bytes, by
/// the family of `ip.src`) + TCP header with options + payload.
pub fn tcp_packet_len(ip: &IpRepr, tcp: &TcpRepr<'_>) -> usize {
    ip_header_len(ip)
        .saturating_add(tcp.header_len())
        .saturating_add(tcp.payload.len())
}

/// Emit a whole IP packet carrying `tcp` into `buf`.
///
/// IPv4: a 20-byte header with DF set, identification 0 and the header
/// checksum filled in. IPv6: a 40-byte header with next header 6 and flow label
/// 0. Then the TCP header, options, payload and the TCP checksum over the
/// pseudo-header (RFC 9293 MUST-2). Returns the packet length.
///
/// Errors: `AddressMismatch` if `ip.src` and `ip.dst` differ in family,
/// `TooLarge` if the packet exceeds what the IP length field can hold,
/// `BufferTooSmall` if `buf` is shorter than [`tcp_packet_len`].
pub fn emit_tcp_packet(ip: &IpRepr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> Result<usize> {
    emit_tcp_packet_with(ip, tcp, buf, TxChecksum::Full)
}

/// [`emit_tcp_packet`] with the TCP checksum field filled as `checksum` says
/// (the IPv4 header checksum is always computed).
pub fn emit_tcp_packet_with(
    ip: &IpRepr,
    tcp: &TcpRepr<'_>,
    buf: &mut [u8],
    checksum: TxChecksum,
) -> Result<usize> {
    same_family(ip.src, ip.dst)?;
    let hl = ip_header_len(ip);
    let tcp_len = tcp.header_len().saturating_add(tcp.payload.len());
    let total = hl.saturating_add(tcp_len);
    match (ip.src, ip.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            if total > usize::from(u16::MAX) {
                return Err(Error::TooLarge);
            }
            if buf.len() < total {
                return Err(Error::BufferTooSmall);
            }
            let repr = Ipv4Repr {
                src,
                dst,
                protocol: IP_PROTOCOL_TCP,
                ttl: ip.ttl,
                tos: ip.tos,
                payload_len: tcp_len,
            };
            repr.emit(buf)?;
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            if tcp_len > usize::from(u16::MAX) {
                return Err(Error::TooLarge);
            }
            if buf.len() < total {
                return Err(Error::BufferTooSmall);
            }
            let repr = Ipv6Repr {
                src,
                dst,
                next_header: IP_PROTOCOL_TCP,
                hop_limit: ip.ttl,
                traffic_class: ip.tos,
                flow_label: 0,
                payload_len: tcp_len,
            };
            repr.emit(buf)?;
        }
        _ => return Err(Error::AddressMismatch),
    }
    let out = buf.get_mut(hl..total).ok_or(Error::BufferTooSmall)?;
    tcp.emit_with(out, ip.src, ip.dst, checksum)?;
    Ok(total)
}

/// Read a big-endian `u16` at `at`, or 0 if the buffer is too short.
#[inline]
pub(crate) fn get_u16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at.wrapping_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Read a big-endian `u32` at `at`, or 0 if the buffer is too short.
#[inline]
pub(crate) fn get_u32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at.wrapping_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Read the byte at `at`, or 0 if the buffer is too short.
#[inline]
pub(crate) fn get_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Write `bytes` at `at` if they fit; otherwise leave the buffer unchanged.
#[inline]
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at.wrapping_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// Write one byte at `at` if it fits.
#[inline]
pub(crate) fn put_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

#[cfg(test)]
mod tests;
