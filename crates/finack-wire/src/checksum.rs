//! The Internet checksum (RFC 1071) and the TCP pseudo-header sums of
//! RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6).
//!
//! The checksum is the 16-bit ones' complement of the ones' complement sum of
//! the data taken as big-endian 16-bit words, an odd final byte being padded
//! with a zero byte. Sums are carried in a `u32` accumulator between calls and
//! folded to 16 bits at the end with [`fold`].

use core::net::IpAddr;

/// Add the big-endian 16-bit words of `data` to `initial` with end-around
/// carry, padding an odd final byte with zero (RFC 1071 §4.1).
///
/// The result is already folded to at most `0xffff`, so it can be fed back in
/// as `initial` any number of times without overflowing. Note that summing two
/// chunks separately is only equivalent to summing their concatenation when
/// the first chunk has an even length.
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u32 {
    // RFC 1071 §2 (B) and (C): the sum may be taken over wider words with the
    // carries deferred (2^16 = 1 modulo 2^16 - 1, so a 32-bit word adds the
    // same as its two 16-bit halves), and in the machine's byte order, the
    // result then swapped into network order. Each 8-byte step adds less
    // than 2^33, so no slice shorter than 16 GiB overflows the accumulator.
    let mut acc = u64::from(u16::from_ne_bytes(fold(initial).to_be_bytes()));
    let mut quads = data.chunks_exact(8);
    for q in &mut quads {
        let x = u64::from_ne_bytes([q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]]);
        acc += (x & 0xffff_ffff) + (x >> 32);
    }
    let mut words = quads.remainder().chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        // Padded with a zero byte after it (network order).
        acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves acc <= 0xffff; back to network order.
    u32::from(u16::from_be_bytes((acc as u16).to_ne_bytes()))
}

/// Fold the carries of a ones' complement accumulator into 16 bits.
///
/// This does *not* complement: the checksum field value is `!fold(sum)`.
pub fn fold(sum: u32) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The Internet checksum of `data` alone: `!fold(ones_complement_sum(data, 0))`.
///
/// Over a header that includes a correct checksum field this is 0, which is
/// how the IPv4 header checksum is verified.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(ones_complement_sum(data, 0))
}

/// The ones' complement sum of the pseudo-header used by TCP (and UDP).
///
/// IPv4 (RFC 9293 §3.1): source, destination, a zero byte, `protocol`, and the
/// 16-bit segment `length`. IPv6 (RFC 8200 §8.1): source, destination, the
/// 32-bit upper-layer `length`, three zero bytes and `protocol` as next header.
///
/// Both addresses should be of the same family; callers in this crate check
/// that first. If they differ the IPv6 layout is used with each address
/// contributing its own bytes — a meaningless but panic-free result.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> u32 {
    let mut sum = add_addr(0, src);
    sum = add_addr(sum, dst);
    let len = length.to_be_bytes();
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            // Zero byte + protocol, then the length. A length above 0xffff
            // cannot be carried by IPv4; its high half is summed too, which
            // keeps the arithmetic total rather than truncating silently.
            sum = ones_complement_sum(&[0, protocol], sum);
            ones_complement_sum(&len, sum)
        }
        _ => {
            sum = ones_complement_sum(&len, sum);
            ones_complement_sum(&[0, 0, 0, protocol], sum)
        }
    }
}

fn add_addr(sum: u32, addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => ones_complement_sum(&a.octets(), sum),
        IpAddr::V6(a) => ones_complement_sum(&a.octets(), sum),
    }
}

/// The TCP checksum of `segment` (header, options and payload) between `src`
/// and `dst` (protocol 6, length `segment.len()`).
///
/// The checksum field inside `segment` is summed like any other data, so:
/// * to *compute* a checksum, zero the field first and store the result;
/// * to *verify*, run this over the received segment: a correct segment gives
///   0 (RFC 9293 MUST-3).
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    let sum = pseudo_header_sum(src, dst, crate::IP_PROTOCOL_TCP, len);
    !fold(ones_complement_sum(segment, sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The plain RFC 1071 loop: one 16-bit word at a time.
    fn reference_sum(data: &[u8], initial: u32) -> u32 {
        let mut acc = u64::from(initial);
        for w in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u32
    }

    proptest::proptest! {
        #[test]
        fn wide_sum_equals_the_word_by_word_sum(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            initial in 0u32..=0xffff,
        ) {
            proptest::prop_assert_eq!(
                ones_complement_sum(&data, initial),
                reference_sum(&data, initial)
            );
        }
    }

    #[test]
    fn wide_sum_of_all_ones_and_all_zeros() {
        for len in 0..40 {
            let ones = [0xffu8; 40];
            let zeros = [0u8; 40];
            assert_eq!(
                ones_complement_sum(&ones[..len], 0),
                reference_sum(&ones[..len], 0)
            );
            assert_eq!(
                ones_complement_sum(&zeros[..len], 7),
                reference_sum(&zeros[..len], 7)
            );
        }
    }

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_complement_sum(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn rfc1071_odd_length_is_zero_padded() {
        assert_eq!(ones_complement_sum(&[0xab], 0), 0xab00);
        assert_eq!(
            ones_complement_sum(&[1, 2, 3], 0),
            ones_complement_sum(&[1, 2, 3, 0], 0)
        );
    }

    #[test]
    fn rfc1071_end_around_carry() {
        assert_eq!(ones_complement_sum(&[0xff, 0xff, 0x00, 0x02], 0), 0x0002);
        assert_eq!(fold(0x0001_fffe), 0xffff);
        assert_eq!(fold(u32::MAX), 0xffff);
        assert!(ones_complement_sum(&[0xff; 64], u32::MAX) <= 0xffff);
    }

    #[test]
    fn rfc9293_3_1_ipv4_pseudo_header() {
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let manual = ones_complement_sum(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20], 0);
        assert_eq!(pseudo_header_sum(src, dst, 6, 20), manual);
    }

    #[test]
    fn rfc8200_8_1_ipv6_pseudo_header() {
        let src = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut bytes = [0u8; 40];
        bytes[..16].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        bytes[16..32].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        bytes[32..36].copy_from_slice(&70000u32.to_be_bytes());
        bytes[39] = 6;
        assert_eq!(
            pseudo_header_sum(src, dst, 6, 70000),
            ones_complement_sum(&bytes, 0)
        );
    }

    #[test]
    fn rfc9293_must_3_correct_segment_verifies_to_zero() {
        let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let mut seg = [0u8; 21];
        seg[0] = 0x12;
        seg[12] = 0x50;
        seg[20] = 0x7f; // odd length
        let c = tcp_checksum(src, dst, &seg);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(tcp_checksum(src, dst, &seg), 0);
    }

    #[test]
    fn mixed_families_do_not_panic() {
        let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let dst = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let _ = tcp_checksum(src, dst, &[1, 2, 3]);
        let _ = pseudo_header_sum(dst, src, 6, u32::MAX);
    }
}
