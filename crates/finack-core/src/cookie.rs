//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
//! SYN,ACK's sequence number carries what the connection needs, so no state is
//! kept until the peer's ACK returns it.
//!
//! Layout of the 32-bit ISS (our own choice; only we read it back):
//! bits 31–27, the low five bits of a counter that ticks every 64 seconds;
//! bits 26–24, an index into [`MSS_TABLE`] for the peer's MSS; bits 23–0, a
//! keyed hash ([`Secret::cookie_hash`]) of the 4-tuple, the peer's ISN, the
//! full counter and the MSS index. A cookie is good for the counter period it
//! was made in and the two after (two to three minutes), like Linux's.

use core::net::SocketAddr;

use finack_wire::SeqNumber;

use crate::isn::Secret;
use crate::time::Instant;

/// The MSS values a cookie can carry: the largest not above the peer's MSS
/// is used (common Ethernet, tunnel and jumbo-frame values).
pub(crate) const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1460, 8960];

/// Length of one counter period, in milliseconds.
const PERIOD_MS: u64 = 64_000;

/// How many periods back a cookie may have been made.
const MAX_AGE: u64 = 2;

/// How long after the last cookie was sent a listener still checks ACKs for
/// one (beyond that a bare ACK gets the plain RST of RFC 9293 §3.10.7.2).
pub(crate) const CHECK_FOR_MS: u64 = (MAX_AGE + 1) * PERIOD_MS;

fn counter(now: Instant) -> u64 {
    now.as_millis() / PERIOD_MS
}

fn hash24(
    secret: &Secret,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    counter: u64,
    index: u8,
) -> u32 {
    secret.cookie_hash(local, remote, peer_isn.0, counter, index) & 0x00ff_ffff
}

/// The cookie ISS for a SYN with sequence number `peer_isn` announcing
/// `peer_mss`, and the MSS it records.
pub(crate) fn encode(
    secret: &Secret,
    now: Instant,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    peer_mss: u16,
) -> (SeqNumber, u16) {
    let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8;
    let c = counter(now);
    let h = hash24(secret, local, remote, peer_isn, c, index);
    let iss = ((c as u32 & 0x1f) << 27) | (u32::from(index) << 24) | h;
    (SeqNumber(iss), MSS_TABLE[usize::from(index)])
}

/// Check the cookie an ACK returns (`cookie` = SEG.ACK - 1, `peer_isn` =
/// SEG.SEQ - 1): the MSS it recorded, or `None` if it is forged, altered,
/// for another 4-tuple or too old.
pub(crate) fn decode(
    secret: &Secret,
    now: Instant,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    cookie: SeqNumber,
) -> Option<u16> {
    let v = cookie.0;
    let low = u64::from(v >> 27);
    let index = ((v >> 24) & 7) as u8;
    let h = v & 0x00ff_ffff;
    let now_c = counter(now);
    (0..=MAX_AGE)
        .filter_map(|age| now_c.checked_sub(age))
        .find(|&c| c & 0x1f == low && hash24(secret, local, remote, peer_isn, c, index) == h)
        .map(|_| MSS_TABLE[usize::from(index)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.2:80".parse().unwrap(),
            "192.0.2.1:40000".parse().unwrap(),
        )
    }

    #[test]
    fn a_cookie_round_trips_within_its_lifetime_only() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t0 = Instant::ZERO + Duration::from_secs(1000);
        let (iss, mss) = encode(&s, t0, &l, &r, SeqNumber(77), 1460);
        assert_eq!(mss, 1460);
        for later in [0, 60, 120, 130] {
            let t = t0 + Duration::from_secs(later);
            assert_eq!(
                decode(&s, t, &l, &r, SeqNumber(77), iss),
                Some(1460),
                "{later}"
            );
        }
        let late = t0 + Duration::from_secs(200);
        assert_eq!(decode(&s, late, &l, &r, SeqNumber(77), iss), None);
    }

    #[test]
    fn a_cookie_is_bound_to_tuple_isn_and_secret() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t = Instant::ZERO + Duration::from_secs(5);
        let (iss, _) = encode(&s, t, &l, &r, SeqNumber(77), 1400);
        let other: SocketAddr = "192.0.2.1:40001".parse().unwrap();
        assert_eq!(decode(&s, t, &l, &other, SeqNumber(77), iss), None);
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(78), iss), None);
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), iss + 1), None);
        assert_eq!(
            decode(&Secret::new([4; 16]), t, &l, &r, SeqNumber(77), iss),
            None
        );
        // Changing the MSS bits breaks the hash too.
        let bumped = SeqNumber(iss.0 ^ (1 << 24));
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), bumped), None);
    }

    #[test]
    fn the_mss_is_rounded_down_to_the_table() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t = Instant::ZERO;
        for (peer, want) in [
            (1460, 1460),
            (1459, 1440),
            (9000, 8960),
            (536, 536),
            (100, 536),
        ] {
            let (iss, mss) = encode(&s, t, &l, &r, SeqNumber(1), peer);
            assert_eq!(mss, want, "{peer}");
            assert_eq!(decode(&s, t, &l, &r, SeqNumber(1), iss), Some(want));
        }
    }
}
