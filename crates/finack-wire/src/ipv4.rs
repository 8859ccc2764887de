//! IPv4 headers (RFC 791): a zero-copy view and a parsed representation.
//!
//! Only what a TCP endpoint needs is interpreted: options are skipped
//! (RFC 9293 MUST-50), fragments are rejected rather than reassembled.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::{get_u16, get_u8, put, put_u8, Error, Result};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet in a byte buffer.
///
/// Create it with [`Ipv4Packet::new_checked`] to get the length guarantees the
/// accessors rely on. With [`Ipv4Packet::new_unchecked`] on a short buffer the
/// accessors still never panic: fields that lie outside the buffer read as 0
/// and writes to them are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap a buffer without checking anything.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Ipv4Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Validate the lengths and version of the header:
    ///
    /// * buffer shorter than 20 bytes → `Truncated`;
    /// * version not 4 → `BadVersion`;
    /// * IHL below 5 → `BadHeaderLength`;
    /// * IHL × 4 beyond the buffer → `Truncated`;
    /// * total length below IHL × 4 or beyond the buffer → `BadTotalLength`.
    ///
    /// Bytes after the total length (e.g. Ethernet padding) are allowed and
    /// ignored by [`payload`](Self::payload).
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if hl > buf.len() {
            return Err(Error::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < hl || total > buf.len() {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The IP version nibble (4 for a valid packet).
    pub fn version(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(get_u8(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP in the upper six bits, ECN in the lower
    /// two, RFC 2474 / RFC 3168).
    pub fn tos(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TOS)
    }

    /// The total length field: header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The "don't fragment" flag.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The "more fragments" flag.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// The fragment offset in **bytes** (the 13-bit field times 8).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TTL)
    }

    /// The protocol number of the payload (6 for TCP).
    pub fn protocol(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(crate::get_u32(self.buffer.as_ref(), field::SRC))
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(crate::get_u32(self.buffer.as_ref(), field::DST))
    }

    /// The options area (bytes 20..IHL×4), clamped to the buffer.
    pub fn options(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.header_len().min(buf.len());
        buf.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The payload: from the end of the header up to the total length, both
    /// clamped to the buffer. Trailing bytes beyond the total length are not
    /// included.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.buffer.as_ref())
    }

    /// Whether the header checksum verifies (the sum over the header, its
    /// checksum field included, is 0). A header that does not fit in the
    /// buffer never verifies.
    pub fn verify_checksum(&self) -> bool {
        match self.buffer.as_ref().get(..self.header_len()) {
            Some(header) if header.len() >= HEADER_LEN => checksum::checksum(header) == 0,
            _ => false,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// Like [`payload`](Self::payload) but borrowing from the underlying buffer
    /// for its whole lifetime rather than from the view.
    pub fn into_payload(self) -> &'a [u8] {
        payload_of(self.buffer.as_ref())
    }
}

/// Payload bounds of an IPv4 packet in `buf`, clamped so it never panics.
fn payload_of(buf: &[u8]) -> &[u8] {
    let view = Ipv4Packet::new_unchecked(buf);
    let end = usize::from(view.total_len()).min(buf.len());
    buf.get(view.header_len()..end).unwrap_or(&[])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Set the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = get_u8(self.buffer.as_ref(), field::VER_IHL);
        put_u8(
            self.buffer.as_mut(),
            field::VER_IHL,
            (b & 0x0f) | (version << 4),
        );
    }

    /// Set the header length in bytes; it is stored divided by 4 (IHL), so it
    /// should be a multiple of 4 between 20 and 60.
    pub fn set_header_len(&mut self, len: usize) {
        let ihl = ((len / 4) & 0x0f) as u8;
        let b = get_u8(self.buffer.as_ref(), field::VER_IHL);
        put_u8(self.buffer.as_mut(), field::VER_IHL, (b & 0xf0) | ihl);
    }

    /// Set the type-of-service byte.
    pub fn set_tos(&mut self, tos: u8) {
        put_u8(self.buffer.as_mut(), field::TOS, tos);
    }

    /// Set the total length field.
    pub fn set_total_len(&mut self, len: u16) {
        put(self.buffer.as_mut(), field::TOTAL_LEN, &len.to_be_bytes());
    }

    /// Set the identification field.
    pub fn set_ident(&mut self, ident: u16) {
        put(self.buffer.as_mut(), field::IDENT, &ident.to_be_bytes());
    }

    fn set_frag_bits(&mut self, mask: u16, value: u16) {
        let old = get_u16(self.buffer.as_ref(), field::FLAGS_FRAG);
        let new = (old & !mask) | (value & mask);
        put(self.buffer.as_mut(), field::FLAGS_FRAG, &new.to_be_bytes());
    }

    /// Set or clear the "don't fragment" flag.
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_frag_bits(FLAG_DF, if value { FLAG_DF } else { 0 });
    }

    /// Set or clear the "more fragments" flag.
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_frag_bits(FLAG_MF, if value { FLAG_MF } else { 0 });
    }

    /// Set the fragment offset, given in bytes (stored divided by 8).
    pub fn set_frag_offset(&mut self, offset: u16) {
        self.set_frag_bits(FRAG_OFFSET_MASK, offset >> 3);
    }

    /// Set the time to live.
    pub fn set_ttl(&mut self, ttl: u8) {
        put_u8(self.buffer.as_mut(), field::TTL, ttl);
    }

    /// Set the protocol number.
    pub fn set_protocol(&mut self, protocol: u8) {
        put_u8(self.buffer.as_mut(), field::PROTOCOL, protocol);
    }

    /// Set the header checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        put(self.buffer.as_mut(), field::CHECKSUM, &value.to_be_bytes());
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        put(self.buffer.as_mut(), field::SRC, &addr.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        put(self.buffer.as_mut(), field::DST, &addr.octets());
    }

    /// The options area, writable (empty if it does not fit in the buffer).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let buf = self.buffer.as_mut();
        let end = hl.min(buf.len());
        buf.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }

    /// The payload, writable; bounded like [`payload`](Self::payload).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        let buf = self.buffer.as_mut();
        let end = total.min(buf.len());
        buf.get_mut(hl..end).unwrap_or(&mut [])
    }

    /// Compute and store the header checksum over IHL × 4 bytes. Does nothing
    /// if the header does not fit in the buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let sum = match self.buffer.as_ref().get(..hl) {
            Some(header) if header.len() >= HEADER_LEN => checksum::checksum(header),
            _ => return,
        };
        self.set_checksum(sum);
    }
}

/// The parsed meaning of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type-of-service byte.
    pub tos: u8,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Length of the header [`emit`](Self::emit) writes.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Parse and validate a header.
    ///
    /// Re-runs [`Ipv4Packet::check_len`] (so an unchecked view is fine), then
    /// checks the header checksum (`BadChecksum`) and rejects fragments — MF set
    /// or a non-zero offset — with `Fragmented`. Options are skipped without
    /// interpretation (RFC 9293 MUST-50: ignore IP options not understood).
    /// The protocol is not checked here.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Fragmented);
        }
        let payload_len = usize::from(packet.total_len()).saturating_sub(packet.header_len());
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            payload_len,
        })
    }

    /// Total length of the packet this header describes.
    pub fn total_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Write a 20-byte header (no options, DF set, identification 0, header
    /// checksum filled in) at the start of `buf`. The payload is not written.
    /// Returns 20.
    ///
    /// Errors: `TooLarge` if 20 + `payload_len` exceeds 65535, `BufferTooSmall`
    /// if `buf` is shorter than 20 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let total = u16::try_from(self.total_len()).map_err(|_| Error::TooLarge)?;
        let header = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
        let mut packet = Ipv4Packet::new_unchecked(header);
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(total);
        packet.set_ident(0);
        packet.set_frag_bits(0xffff, FLAG_DF);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 24] {
        let mut buf = [0u8; 24];
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: 6,
            ttl: 64,
            tos: 0x10,
            payload_len: 4,
        };
        assert_eq!(repr.emit(&mut buf), Ok(20));
        buf[20..].copy_from_slice(&[1, 2, 3, 4]);
        buf
    }

    #[test]
    fn rfc791_emit_layout() {
        let buf = sample();
        assert_eq!(
            &buf[..12],
            &[0x45, 0x10, 0, 24, 0, 0, 0x40, 0, 64, 6, buf[10], buf[11]]
        );
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        let repr = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.tos, 0x10);
        assert_eq!(repr.src, Ipv4Addr::new(192, 0, 2, 1));
    }

    #[test]
    fn rfc791_header_checksum_known_value() {
        // Classic example header; its checksum field holds b861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let mut copy = h;
        let mut p = Ipv4Packet::new_unchecked(&mut copy[..]);
        p.fill_checksum();
        assert_eq!(p.checksum(), 0xb861);
        assert!(Ipv4Packet::new_unchecked(&h[..]).verify_checksum());
    }

    #[test]
    fn truncated_ipv4_shorter_than_20_bytes() {
        let buf = sample();
        for len in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&buf[..len]).err(),
                Some(Error::Truncated)
            );
        }
    }

    #[test]
    fn truncated_ipv4_options_cut_off() {
        let mut buf = sample();
        buf[0] = 0x46; // IHL 6 = 24 bytes, buffer is 22
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..22]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn bad_version_in_ipv4_view() {
        let mut buf = sample();
        buf[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).err(),
            Some(Error::BadVersion)
        );
    }

    #[test]
    fn rfc791_ihl_below_5_is_bad_header_length() {
        let mut buf = sample();
        for ihl in 0..5u8 {
            buf[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&buf[..]).err(),
                Some(Error::BadHeaderLength)
            );
        }
    }

    #[test]
    fn rfc791_total_length_out_of_range() {
        let mut buf = sample();
        buf[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).err(),
            Some(Error::BadTotalLength)
        );
        buf[2..4].copy_from_slice(&25u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).err(),
            Some(Error::BadTotalLength)
        );
    }

    #[test]
    fn rfc791_trailing_bytes_after_total_length_ignored() {
        let mut buf = [0u8; 30];
        buf[..24].copy_from_slice(&sample());
        buf[24..].fill(0xee);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(Ipv4Repr::parse(&p).unwrap().payload_len, 4);
    }

    #[test]
    fn rfc791_bad_header_checksum() {
        let mut buf = sample();
        buf[10] ^= 0x01;
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::BadChecksum));
    }

    #[test]
    fn rfc791_fragments_rejected() {
        let mut buf = sample();
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_more_frags(true);
        p.fill_checksum();
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::Fragmented));
        p.set_more_frags(false);
        p.set_frag_offset(1480);
        p.fill_checksum();
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.dont_frag());
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::Fragmented));
    }

    #[test]
    fn rfc9293_must_50_ipv4_options_skipped() {
        // Header with 4 bytes of options (NOP NOP NOP EOL), protocol 6.
        let mut buf = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(28);
        p.set_ttl(1);
        p.set_protocol(6);
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        p.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        assert_eq!(Ipv4Repr::parse(&p).unwrap().payload_len, 4);
    }

    #[test]
    fn emit_errors() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: 6,
            ttl: 1,
            tos: 0,
            payload_len: 65516,
        };
        assert_eq!(repr.emit(&mut [0u8; 20]), Err(Error::TooLarge));
        let small = Ipv4Repr {
            payload_len: 0,
            ..repr
        };
        assert_eq!(small.emit(&mut [0u8; 19]), Err(Error::BufferTooSmall));
        assert_eq!(small.emit(&mut [0u8; 20]), Ok(20));
    }

    #[test]
    fn unchecked_view_on_short_buffer_never_panics() {
        let mut buf = [0x4fu8; 3];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.dst_addr(), Ipv4Addr::UNSPECIFIED);
        assert!(p.options().is_empty() && p.payload().is_empty());
        assert!(!p.verify_checksum());
        p.set_dst_addr(Ipv4Addr::BROADCAST);
        p.fill_checksum();
        assert!(p.payload_mut().is_empty() && p.options_mut().is_empty());
        assert!(Ipv4Repr::parse(&p).is_err());
    }
}
