//! IPv6 headers (RFC 8200): a zero-copy view, an extension-header walker and a
//! parsed representation.
//!
//! Hop-by-hop options, routing and destination-options headers are skipped
//! (RFC 9293 MUST-50); a fragment header makes the packet `Fragmented`.
//! Jumbograms (payload length 0 with a jumbo option, RFC 2675) are not
//! supported: a zero payload length means an empty payload.

use core::net::Ipv6Addr;

use crate::{get_u16, get_u32, get_u8, put, put_u8, Error, Result};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// Next-header number of the hop-by-hop options header.
pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
/// Next-header number of the routing header.
pub const NEXT_HEADER_ROUTING: u8 = 43;
/// Next-header number of the fragment header.
pub const NEXT_HEADER_FRAGMENT: u8 = 44;
/// Next-header number of the destination options header.
pub const NEXT_HEADER_DEST_OPTS: u8 = 60;
/// Next-header number meaning "no next header".
pub const NEXT_HEADER_NONE: u8 = 59;

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A zero-copy view of an IPv6 packet in a byte buffer.
///
/// As with the IPv4 view, [`Ipv6Packet::new_checked`] gives the length
/// guarantees; on an unchecked short buffer, accessors read 0 for fields
/// outside the buffer and writes there are ignored, never panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn read_addr(buf: &[u8], at: usize) -> Ipv6Addr {
    match buf.get(at..at + 16) {
        Some(bytes) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            Ipv6Addr::from(octets)
        }
        None => Ipv6Addr::UNSPECIFIED,
    }
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap a buffer without checking anything.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Ipv6Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Validate the fixed header:
    ///
    /// * buffer shorter than 40 bytes → `Truncated`;
    /// * version not 6 → `BadVersion`;
    /// * payload length beyond the rest of the buffer → `BadTotalLength`.
    ///
    /// Bytes after the payload length are allowed and ignored.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::BadVersion);
        }
        if usize::from(self.payload_len()) > buf.len() - HEADER_LEN {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The IP version nibble (6 for a valid packet).
    pub fn version(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4
    }

    /// The traffic class (DSCP and ECN bits).
    pub fn traffic_class(&self) -> u8 {
        ((get_u16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) & 0xff) as u8
    }

    /// The 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// The payload length field: everything after the fixed header, extension
    /// headers included.
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// The next-header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::NEXT_HEADER)
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        read_addr(self.buffer.as_ref(), field::SRC)
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        read_addr(self.buffer.as_ref(), field::DST)
    }

    /// The payload after the fixed header (extension headers included), bounded
    /// by the payload length and clamped to the buffer.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.buffer.as_ref())
    }

    /// Walk the extension headers (see [`skip_extension_headers`]) and return
    /// the upper-layer protocol number and the upper-layer payload.
    pub fn upper_layer(&self) -> Result<(u8, &[u8])> {
        upper_layer_of(self.buffer.as_ref())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// Like [`upper_layer`](Self::upper_layer) but borrowing from the
    /// underlying buffer for its whole lifetime rather than from the view.
    pub fn into_upper_layer(self) -> Result<(u8, &'a [u8])> {
        upper_layer_of(self.buffer.as_ref())
    }
}

fn payload_of(buf: &[u8]) -> &[u8] {
    let len = usize::from(get_u16(buf, field::PAYLOAD_LEN));
    let end = HEADER_LEN.saturating_add(len).min(buf.len());
    buf.get(HEADER_LEN..end).unwrap_or(&[])
}

fn upper_layer_of(buf: &[u8]) -> Result<(u8, &[u8])> {
    let payload = payload_of(buf);
    let (protocol, offset) = skip_extension_headers(get_u8(buf, field::NEXT_HEADER), payload)?;
    Ok((protocol, payload.get(offset..).unwrap_or(&[])))
}

/// Skip IPv6 extension headers at the start of `payload`, the first being of
/// type `next_header` (the fixed header's next-header field).
///
/// Hop-by-hop options (0), routing (43) and destination options (60) are
/// skipped by their length (8 + 8 × Hdr Ext Len bytes, RFC 8200 §4.3–4.6),
/// whatever they contain (RFC 9293 MUST-50). A fragment header (44) gives
/// `Err(Fragmented)`. Any other value is the upper-layer protocol: returns it
/// with the offset of the upper-layer data within `payload`. An extension
/// header that runs past `payload` gives `Err(Truncated)`.
pub fn skip_extension_headers(next_header: u8, payload: &[u8]) -> Result<(u8, usize)> {
    let mut nh = next_header;
    let mut offset = 0usize;
    loop {
        match nh {
            NEXT_HEADER_HOP_BY_HOP | NEXT_HEADER_ROUTING | NEXT_HEADER_DEST_OPTS => {
                let rest = payload.get(offset..).ok_or(Error::Truncated)?;
                let (&next, &ext_len) = match rest {
                    [n, l, ..] => (n, l),
                    _ => return Err(Error::Truncated),
                };
                let len = (usize::from(ext_len) + 1) * 8;
                if len > rest.len() {
                    return Err(Error::Truncated);
                }
                // Every header is at least 8 bytes, so the walk terminates.
                offset += len;
                nh = next;
            }
            NEXT_HEADER_FRAGMENT => return Err(Error::Fragmented),
            upper => return Ok((upper, offset)),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Set the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = get_u8(self.buffer.as_ref(), field::VER_TC_FLOW);
        put_u8(
            self.buffer.as_mut(),
            field::VER_TC_FLOW,
            (b & 0x0f) | (version << 4),
        );
    }

    /// Set the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let word = get_u16(self.buffer.as_ref(), field::VER_TC_FLOW);
        let new = (word & 0xf00f) | (u16::from(tc) << 4);
        put(self.buffer.as_mut(), field::VER_TC_FLOW, &new.to_be_bytes());
    }

    /// Set the flow label (only the low 20 bits are used).
    pub fn set_flow_label(&mut self, label: u32) {
        let word = get_u32(self.buffer.as_ref(), field::VER_TC_FLOW);
        let new = (word & 0xfff0_0000) | (label & 0x000f_ffff);
        put(self.buffer.as_mut(), field::VER_TC_FLOW, &new.to_be_bytes());
    }

    /// Set the payload length field.
    pub fn set_payload_len(&mut self, len: u16) {
        put(self.buffer.as_mut(), field::PAYLOAD_LEN, &len.to_be_bytes());
    }

    /// Set the next-header field.
    pub fn set_next_header(&mut self, nh: u8) {
        put_u8(self.buffer.as_mut(), field::NEXT_HEADER, nh);
    }

    /// Set the hop limit.
    pub fn set_hop_limit(&mut self, hl: u8) {
        put_u8(self.buffer.as_mut(), field::HOP_LIMIT, hl);
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        put(self.buffer.as_mut(), field::SRC, &addr.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        put(self.buffer.as_mut(), field::DST, &addr.octets());
    }

    /// The payload, writable; bounded like [`payload`](Self::payload).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.payload_len());
        let buf = self.buffer.as_mut();
        let end = HEADER_LEN.saturating_add(len).min(buf.len());
        buf.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The parsed meaning of an IPv6 header and its extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol, found after skipping extension headers. When
    /// emitting, it is written as the fixed header's next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Length of the upper-layer payload (extension headers excluded).
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// Length of the header [`emit`](Self::emit) writes.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Parse the fixed header and walk the extension headers.
    ///
    /// Re-runs [`Ipv6Packet::check_len`], then [`skip_extension_headers`]
    /// (`Fragmented` for a fragment header, `Truncated` for an extension header
    /// running past the payload). The protocol is not checked here.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        let (next_header, upper) = packet.upper_layer()?;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: upper.len(),
        })
    }

    /// Write the 40-byte fixed header (no extension headers) at the start of
    /// `buf`; the payload is not written. Returns 40.
    ///
    /// Errors: `TooLarge` if `payload_len` exceeds 65535, `BufferTooSmall` if
    /// `buf` is shorter than 40 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = u16::try_from(self.payload_len).map_err(|_| Error::TooLarge)?;
        let header = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
        let mut packet = Ipv6Packet::new_unchecked(header);
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            next_header: 6,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            payload_len: 4,
        }
    }

    #[test]
    fn rfc8200_emit_parse_round_trip() {
        let mut buf = [0u8; 44];
        assert_eq!(repr().emit(&mut buf), Ok(40));
        assert_eq!(&buf[..8], &[0x6b, 0x8a, 0xbc, 0xde, 0, 4, 6, 64]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0xabcde);
        assert_eq!(Ipv6Repr::parse(&p), Ok(repr()));
    }

    #[test]
    fn truncated_ipv6_shorter_than_40_bytes() {
        let mut buf = [0u8; 44];
        repr().emit(&mut buf).unwrap();
        for len in 0..40 {
            assert_eq!(
                Ipv6Packet::new_checked(&buf[..len]).err(),
                Some(Error::Truncated)
            );
        }
    }

    #[test]
    fn bad_version_in_ipv6_view() {
        let mut buf = [0u8; 44];
        repr().emit(&mut buf).unwrap();
        buf[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..]).err(),
            Some(Error::BadVersion)
        );
    }

    #[test]
    fn rfc8200_payload_length_beyond_buffer() {
        let mut buf = [0u8; 44];
        repr().emit(&mut buf).unwrap();
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..43]).err(),
            Some(Error::BadTotalLength)
        );
        // Trailing bytes past the payload length are fine.
        let mut long = [0u8; 50];
        long[..44].copy_from_slice(&buf);
        let p = Ipv6Packet::new_checked(&long[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn rfc9293_must_50_ipv6_extension_headers_skipped() {
        // hop-by-hop (8 bytes) -> routing (16 bytes) -> dest opts (8) -> TCP.
        let mut payload = [0u8; 36];
        payload[0] = NEXT_HEADER_ROUTING;
        payload[1] = 0;
        payload[8] = NEXT_HEADER_DEST_OPTS;
        payload[9] = 1;
        payload[24] = 6;
        payload[25] = 0;
        payload[32..].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_HOP_BY_HOP, &payload),
            Ok((6, 32))
        );
        let mut buf = [0u8; 76];
        let mut r = repr();
        r.next_header = NEXT_HEADER_HOP_BY_HOP;
        r.payload_len = 36;
        r.emit(&mut buf).unwrap();
        buf[40..].copy_from_slice(&payload);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.upper_layer(), Ok((6, &[1u8, 2, 3, 4][..])));
        let parsed = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(parsed.next_header, 6);
        assert_eq!(parsed.payload_len, 4);
    }

    #[test]
    fn rfc8200_fragment_header_is_fragmented() {
        let payload = [6u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_FRAGMENT, &payload),
            Err(Error::Fragmented)
        );
        let dest_then_frag = [NEXT_HEADER_FRAGMENT, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0];
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_DEST_OPTS, &dest_then_frag),
            Err(Error::Fragmented)
        );
    }

    #[test]
    fn rfc8200_extension_header_past_payload_is_truncated() {
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_HOP_BY_HOP, &[]),
            Err(Error::Truncated)
        );
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_HOP_BY_HOP, &[6]),
            Err(Error::Truncated)
        );
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_ROUTING, &[6, 1, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn rfc8200_no_next_header_is_upper_protocol_59() {
        assert_eq!(
            skip_extension_headers(NEXT_HEADER_NONE, &[]),
            Ok((NEXT_HEADER_NONE, 0))
        );
    }

    #[test]
    fn emit_errors() {
        let mut r = repr();
        assert_eq!(r.emit(&mut [0u8; 39]), Err(Error::BufferTooSmall));
        r.payload_len = 65536;
        assert_eq!(r.emit(&mut [0u8; 40]), Err(Error::TooLarge));
    }

    #[test]
    fn unchecked_view_on_short_buffer_never_panics() {
        let mut buf = [0x60u8, 0, 0];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        assert_eq!(p.src_addr(), Ipv6Addr::UNSPECIFIED);
        assert!(p.payload().is_empty());
        p.set_dst_addr(Ipv6Addr::LOCALHOST);
        p.set_flow_label(5);
        assert!(p.payload_mut().is_empty());
        assert!(Ipv6Repr::parse(&p).is_err());
    }
}
