//! Classic libpcap file format helpers (no allocation): the 24-byte global
//! header and the 16-byte per-record header, for captures of raw IP packets.
//!
//! A capture file is `global_header(snaplen)` followed, for every packet, by
//! `record_header(...)` and the packet bytes. All fields are written
//! little-endian with the microsecond-resolution magic number `0xa1b2c3d4`,
//! so readers recognise the byte order from the magic.

/// Link type for raw IPv4/IPv6 packets with no link-layer header
/// (`LINKTYPE_RAW`); the version nibble tells the family.
pub const LINKTYPE_RAW: u32 = 101;

/// Magic number of a microsecond-resolution classic pcap file.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Length of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;

/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The file's global header: magic, version 2.4, time zone 0, sigfigs 0,
/// `snaplen` (the largest captured length of any record) and
/// [`LINKTYPE_RAW`].
pub fn global_header(snaplen: u32) -> [u8; GLOBAL_HEADER_LEN] {
    let mut h = [0u8; GLOBAL_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone (8..12) and sigfigs (12..16) stay zero.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// A record header: timestamp (seconds and microseconds since the Unix epoch,
/// from `timestamp_micros`; seconds wrap modulo 2^32 as the format's 32-bit
/// field requires), the number of bytes stored in the file (`captured_len`)
/// and the packet's length on the wire (`original_len`).
pub fn record_header(
    timestamp_micros: u64,
    captured_len: u32,
    original_len: u32,
) -> [u8; RECORD_HEADER_LEN] {
    let secs = (timestamp_micros / 1_000_000) as u32;
    let micros = (timestamp_micros % 1_000_000) as u32;
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&micros.to_le_bytes());
    h[8..12].copy_from_slice(&captured_len.to_le_bytes());
    h[12..16].copy_from_slice(&original_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_global_header_layout() {
        assert_eq!(
            global_header(65535),
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101,
                0, 0, 0
            ]
        );
    }

    #[test]
    fn pcap_record_header_layout() {
        let h = record_header(1_700_000_000_123_456, 60, 1500);
        assert_eq!(&h[0..4], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&h[4..8], &123_456u32.to_le_bytes());
        assert_eq!(&h[8..12], &60u32.to_le_bytes());
        assert_eq!(&h[12..16], &1500u32.to_le_bytes());
        // Huge timestamps wrap instead of panicking.
        let _ = record_header(u64::MAX, 0, 0);
    }
}
