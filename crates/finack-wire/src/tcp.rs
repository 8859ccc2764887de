//! TCP headers (RFC 9293 §3.1): flags, a zero-copy view, options and a parsed
//! representation with parse and emit.

use core::fmt;
use core::net::IpAddr;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign};

use crate::checksum;
use crate::seq::SeqNumber;
use crate::{get_u16, get_u32, get_u8, put, put_u8, same_family, Error, Result};

mod options;

pub use options::{
    SackBlocks, TcpOptions, Timestamps, KIND_EOL, KIND_MD5SIG, KIND_MSS, KIND_NOP, KIND_SACK,
    KIND_SACK_PERMITTED, KIND_TIMESTAMPS, KIND_WINDOW_SCALE, MAX_OPTIONS_LEN, MAX_WINDOW_SCALE,
    MD5_DIGEST_LEN,
};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The eight control bits of the TCP header (byte 13: CWR ECE URG ACK PSH RST
/// SYN FIN, RFC 9293 §3.1 and RFC 3168 §23.2).
#[derive(Copy, Clone, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: no more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG: the urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE: ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Display order and names of the flags.
    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    /// No flag set.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// The flags set in either.
    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    /// The flags of `self` that are not in `other`.
    pub const fn difference(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 & !other.0)
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// FIN set.
    pub fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }

    /// SYN set.
    pub fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }

    /// RST set.
    pub fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }

    /// PSH set.
    pub fn psh(self) -> bool {
        self.contains(TcpFlags::PSH)
    }

    /// ACK set.
    pub fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }

    /// URG set.
    pub fn urg(self) -> bool {
        self.contains(TcpFlags::URG)
    }

    /// ECE set.
    pub fn ece(self) -> bool {
        self.contains(TcpFlags::ECE)
    }

    /// CWR set.
    pub fn cwr(self) -> bool {
        self.contains(TcpFlags::CWR)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        *self = self.union(rhs);
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl BitAndAssign for TcpFlags {
    fn bitand_assign(&mut self, rhs: TcpFlags) {
        self.0 &= rhs.0;
    }
}

/// Prints the set flags joined by `|` in the order SYN, FIN, RST, PSH, ACK,
/// URG, ECE, CWR (e.g. `SYN|ACK`), or `none`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in TcpFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Same as `Display`.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A zero-copy view of a TCP segment (header, options and payload).
///
/// The buffer must be exactly the segment — the IP payload — since the
/// checksum covers all of it. [`TcpPacket::new_checked`] guarantees the header
/// fits; on an unchecked short buffer accessors read 0 for fields outside it
/// and writes there are ignored, never panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap a buffer without checking anything.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = TcpPacket { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Validate the header length:
    ///
    /// * buffer shorter than 20 bytes → `Truncated`;
    /// * data offset below 5, or header (data offset × 4) longer than the
    ///   segment → `BadHeaderLength`.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN || hl > len {
            return Err(Error::BadHeaderLength);
        }
        Ok(())
    }

    /// Give back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::SEQ))
    }

    /// Acknowledgment number (the raw field, whether or not ACK is set).
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(get_u32(self.buffer.as_ref(), field::ACK))
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(get_u8(self.buffer.as_ref(), field::DATA_OFFSET) >> 4) * 4
    }

    /// The control flags.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(get_u8(self.buffer.as_ref(), field::FLAGS))
    }

    /// The window field, unscaled (RFC 9293 MUST-1: an unsigned number).
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer field.
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options area (bytes 20..data offset × 4), clamped to the buffer.
    pub fn options(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.header_len().min(buf.len());
        buf.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The payload: everything after the header (empty if the header does not
    /// fit in the buffer).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    /// Whether the checksum over the pseudo-header of `src`/`dst` and the whole
    /// buffer verifies (RFC 9293 MUST-3). `false` if the address families
    /// differ.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        same_family(src, dst).is_ok() && checksum::tcp_checksum(src, dst, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Set the source port.
    pub fn set_src_port(&mut self, port: u16) {
        put(self.buffer.as_mut(), field::SRC_PORT, &port.to_be_bytes());
    }

    /// Set the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        put(self.buffer.as_mut(), field::DST_PORT, &port.to_be_bytes());
    }

    /// Set the sequence number.
    pub fn set_seq_number(&mut self, seq: SeqNumber) {
        put(self.buffer.as_mut(), field::SEQ, &seq.0.to_be_bytes());
    }

    /// Set the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: SeqNumber) {
        put(self.buffer.as_mut(), field::ACK, &ack.0.to_be_bytes());
    }

    /// Set the header length in bytes; stored divided by 4 (data offset), so it
    /// should be a multiple of 4 between 20 and 60. The four reserved bits
    /// beside the data offset are left as they are.
    pub fn set_header_len(&mut self, len: usize) {
        let offset = ((len / 4) & 0x0f) as u8;
        let b = get_u8(self.buffer.as_ref(), field::DATA_OFFSET);
        put_u8(
            self.buffer.as_mut(),
            field::DATA_OFFSET,
            (b & 0x0f) | (offset << 4),
        );
    }

    /// Set the control flags.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        put_u8(self.buffer.as_mut(), field::FLAGS, flags.0);
    }

    /// Set the window field.
    pub fn set_window_len(&mut self, window: u16) {
        put(self.buffer.as_mut(), field::WINDOW, &window.to_be_bytes());
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        put(self.buffer.as_mut(), field::CHECKSUM, &value.to_be_bytes());
    }

    /// Set the urgent pointer field.
    pub fn set_urgent_at(&mut self, value: u16) {
        put(self.buffer.as_mut(), field::URGENT, &value.to_be_bytes());
    }

    /// The options area, writable (clamped to the buffer).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let buf = self.buffer.as_mut();
        let end = hl.min(buf.len());
        buf.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }

    /// The payload, writable (empty if the header does not fit).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(hl..).unwrap_or(&mut [])
    }

    /// Compute the checksum over the pseudo-header and the whole buffer and
    /// store it (RFC 9293 MUST-2). With addresses of different families the
    /// stored value is meaningless.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let sum = checksum::tcp_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

/// A parsed TCP segment.
///
/// `ack` holds the raw acknowledgment field even when the ACK flag is clear,
/// and `urgent` the raw urgent pointer even when URG is clear: interpreting
/// them is up to the connection logic.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number.
    pub ack: SeqNumber,
    /// Control flags.
    pub flags: TcpFlags,
    /// Window field, unscaled.
    pub window: u16,
    /// Urgent pointer field.
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Segment data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Header length [`emit`](Self::emit) writes: 20 + the options' emitted
    /// length.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emitted_len()
    }

    /// Total bytes [`emit`](Self::emit) writes: header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len().saturating_add(self.payload.len())
    }

    /// Sequence space the segment occupies: payload length plus one for SYN
    /// and one for FIN (RFC 9293 §3.4, SEG.LEN). Saturates at `u32::MAX`.
    pub fn segment_len(&self) -> u32 {
        let data = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        data.saturating_add(u32::from(self.flags.syn()))
            .saturating_add(u32::from(self.flags.fin()))
    }

    /// Parse a segment from a view, verifying its checksum.
    ///
    /// The view borrows a buffer for `'a` (e.g. `TcpPacket<&'a [u8]>`); the
    /// returned payload borrows that buffer, not the view, so the view may be
    /// a temporary.
    ///
    /// Checks, in order: `AddressMismatch` if `src` and `dst` differ in
    /// family; the view's [`check_len`](TcpPacket::check_len) (`Truncated`,
    /// `BadHeaderLength`); the checksum over the pseudo-header
    /// (`BadChecksum`, RFC 9293 MUST-3); the options
    /// ([`TcpOptions::parse`], `BadOptionLength`).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<TcpRepr<'a>> {
        TcpRepr::parse_with(packet, src, dst, true)
    }

    /// [`TcpRepr::parse`], skipping the checksum unless `verify_checksum`
    /// (for a segment a device has verified already, see
    /// [`crate::parse_tcp_packet_with`]).
    pub fn parse_with<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: IpAddr,
        dst: IpAddr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        same_family(src, dst)?;
        packet.check_len()?;
        // RFC 9293 MUST-3: verify the checksum of every received segment
        // (here or, with receive checksum offload, in the device).
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let options = TcpOptions::parse(packet.options())?;
        let whole: &'a [u8] = packet.buffer.as_ref();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options,
            payload: whole.get(packet.header_len()..).unwrap_or(&[]),
        })
    }

    /// Write header, options and payload at the start of `buf` and fill in
    /// the checksum over the pseudo-header of `src`/`dst` (RFC 9293 MUST-2).
    /// The reserved bits are written as zero. Returns the bytes written
    /// ([`buffer_len`](Self::buffer_len)).
    ///
    /// Errors: `AddressMismatch` if the families differ, `BufferTooSmall` if
    /// `buf` is shorter than needed.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize> {
        self.emit_with(buf, src, dst, TxChecksum::Full)
    }

    /// [`emit`](Self::emit), with the checksum field filled as `checksum`
    /// says.
    pub fn emit_with(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        checksum: TxChecksum,
    ) -> Result<usize> {
        same_family(src, dst)?;
        let hl = self.header_len();
        let total = self.buffer_len();
        let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        // Data offset byte: zero the reserved bits before the offset goes in.
        put_u8(out, field::DATA_OFFSET, 0);
        let mut packet = TcpPacket::new_unchecked(out);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(hl);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_urgent_at(self.urgent);
        self.options.emit(packet.options_mut())?;
        put(packet.payload_mut(), 0, self.payload);
        match checksum {
            TxChecksum::Full => packet.fill_checksum(src, dst),
            TxChecksum::Partial => {
                let len = u32::try_from(total).unwrap_or(u32::MAX);
                let sum = checksum::pseudo_header_sum(src, dst, crate::IP_PROTOCOL_TCP, len);
                packet.set_checksum(checksum::fold(sum));
            }
        }
        Ok(total)
    }
}

/// How an emitted segment's checksum field is filled.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum TxChecksum {
    /// The checksum (RFC 9293 MUST-2).
    #[default]
    Full,
    /// Only the folded pseudo-header sum, for a device that completes the
    /// checksum over the segment (checksum offload; Linux CHECKSUM_PARTIAL
    /// with the checksum starting at the TCP header, field at offset 16):
    /// the device sums the segment with this in the field and stores the
    /// complement.
    Partial,
}

#[cfg(test)]
mod tests;
