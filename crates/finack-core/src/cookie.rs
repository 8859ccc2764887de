//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
//! SYN,ACK's sequence number carries what the connection needs, so no state is
//! kept until the peer's ACK returns it.
//!
//! Layout of the 32-bit ISS (our own choice; only we read it back):
//! bits 31–27, the low five bits of a counter that ticks every 64 seconds;
//! bits 26–24, an index into [`mss_table`] for the peer's MSS; bits 23–0, a
//! keyed hash ([`Secret::cookie_hash`]) of the 4-tuple, the peer's ISN, the
//! full counter, the MSS index and the options below. A cookie is good for
//! the counter period it was made in and the two after (two to three
//! minutes), like Linux's.
//!
//! When the SYN carries timestamps, the other options it asked for and we
//! accept ride in the low six bits of our SYN,ACK's TSval, as Linux keeps
//! them (`net/ipv4/syncookies.c`), and come back in the ACK's TSecr:
//!
//! | bits 31–6 | bit 5 | bit 4 | bits 3–0                             |
//! |-----------|-------|-------|--------------------------------------|
//! | clock     | ECN   | SACK  | peer's window shift, 0xf: no scaling |
//!
//! Timestamps themselves need no bit: an ACK that echoes one had them.
//! Without timestamps the cookie keeps only the MSS.
//!
//! One difference from Linux, which believes the echoed bits as they come
//! (checking only that each option is enabled): the bits are also an input
//! to the cookie's hash, so an ACK whose TSecr carries other bits than our
//! SYN,ACK did (forged, mangled, or echoing something else) does not check
//! out, and cannot turn on an option the SYN did not ask for. Linux would
//! open such a connection with whatever the bits say.

use core::net::SocketAddr;

use finack_wire::SeqNumber;

use crate::isn::Secret;
use crate::time::Instant;

/// The MSS values a cookie can carry to a peer at `remote`: the largest not
/// above the peer's MSS is used (the smallest when none is). Linux's
/// `msstab` of net/ipv4/syncookies.c and net/ipv6/syncookies.c, so that a
/// cookie connection sends the segment size Linux's would (RFC 4987 leaves
/// the values to the implementation).
pub(crate) fn mss_table(remote: &SocketAddr) -> &'static [u16; 4] {
    if remote.is_ipv4() {
        &[536, 1300, 1440, 1460]
    } else {
        // IPv6's minimum MTU, 1480 (tunnels), 1500 and 9000, less 60.
        &[1220, 1420, 1440, 8940]
    }
}

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

/// Width of the option field at the bottom of a cookie SYN,ACK's TSval.
const TS_BITS: u32 = 6;
/// Bits 0–3: the peer's window shift; all ones, no window scaling.
const TS_WSCALE_MASK: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
/// The hash input standing for "no timestamps, so no options" (outside the
/// six bits' range).
const NO_TS: u8 = 0x80;

/// The options (besides MSS and timestamps) a cookie connection keeps, from
/// the SYN that asked for them and we accepted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CookieOpts {
    /// The peer's window shift (0–14); `None`: no window scaling.
    pub(crate) wscale: Option<u8>,
    pub(crate) sack: bool,
    /// ECN agreed (RFC 3168 §6.1.1).
    pub(crate) ecn: bool,
}

impl CookieOpts {
    fn bits(self) -> u32 {
        let mut b = self.wscale.map_or(TS_WSCALE_MASK, |s| u32::from(s.min(14)));
        if self.sack {
            b |= TS_SACK;
        }
        if self.ecn {
            b |= TS_ECN;
        }
        b
    }
}

/// The hash input for a cookie's options: `None` when there were no
/// timestamps to carry them.
fn opts_byte(opts: Option<CookieOpts>) -> u8 {
    opts.map_or(NO_TS, |o| o.bits() as u8)
}

/// Linux syncookies.c: cookie_init_timestamp(): the TSval of a cookie
/// SYN,ACK, from our timestamp clock `clock` (milliseconds, before the
/// connection's offset is added): the clock with its low six bits replaced by
/// the options, moved back one 64 ms step if that put it ahead of the clock.
/// The connection the cookie opens goes on from the clock, so its TSvals
/// never go backwards from this one.
pub(crate) fn init_timestamp(clock: u32, opts: CookieOpts) -> u32 {
    let step = 1u32 << TS_BITS;
    let ts = (clock & !(step - 1)) | opts.bits();
    if opts.bits() > clock & (step - 1) {
        ts.wrapping_sub(step)
    } else {
        ts
    }
}

/// Linux syncookies.c: cookie_timestamp_decode() and cookie_ecn_ok(): the
/// options in the TSecr an ACK echoed (less the connection's TS offset).
pub(crate) fn timestamp_decode(tsecr: u32) -> CookieOpts {
    let w = tsecr & TS_WSCALE_MASK;
    CookieOpts {
        wscale: (w != TS_WSCALE_MASK).then_some(w as u8),
        sack: tsecr & TS_SACK != 0,
        ecn: tsecr & TS_ECN != 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn hash24(
    secret: &Secret,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    counter: u64,
    index: u8,
    opts: u8,
) -> u32 {
    secret.cookie_hash(local, remote, peer_isn.0, counter, index, opts) & 0x00ff_ffff
}

/// The cookie ISS for a SYN with sequence number `peer_isn` announcing
/// `peer_mss`, and the MSS it records. `opts` are the options the SYN,ACK's
/// TSval carries ([`init_timestamp`]); `None` when it has no timestamps.
pub(crate) fn encode(
    secret: &Secret,
    now: Instant,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    peer_mss: u16,
    opts: Option<CookieOpts>,
) -> (SeqNumber, u16) {
    let table = mss_table(remote);
    let index = table.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8;
    let c = counter(now);
    let h = hash24(secret, local, remote, peer_isn, c, index, opts_byte(opts));
    let iss = ((c as u32 & 0x1f) << 27) | (u32::from(index) << 24) | h;
    (SeqNumber(iss), table[usize::from(index)])
}

/// Check the cookie an ACK returns (`cookie` = SEG.ACK - 1, `peer_isn` =
/// SEG.SEQ - 1) with the options its TSecr claims (`None`: no timestamps):
/// the MSS it recorded, or `None` if it is forged, altered (options
/// included), for another 4-tuple or too old.
pub(crate) fn decode(
    secret: &Secret,
    now: Instant,
    local: &SocketAddr,
    remote: &SocketAddr,
    peer_isn: SeqNumber,
    cookie: SeqNumber,
    opts: Option<CookieOpts>,
) -> Option<u16> {
    let o = opts_byte(opts);
    let v = cookie.0;
    let low = u64::from(v >> 27);
    let index = ((v >> 24) & 7) as u8;
    let h = v & 0x00ff_ffff;
    let now_c = counter(now);
    (0..=MAX_AGE)
        .filter_map(|age| now_c.checked_sub(age))
        .find(|&c| c & 0x1f == low && hash24(secret, local, remote, peer_isn, c, index, o) == h)
        .and_then(|_| mss_table(remote).get(usize::from(index)).copied())
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
        let (iss, mss) = encode(&s, t0, &l, &r, SeqNumber(77), 1460, None);
        assert_eq!(mss, 1460);
        for later in [0, 60, 120, 130] {
            let t = t0 + Duration::from_secs(later);
            assert_eq!(
                decode(&s, t, &l, &r, SeqNumber(77), iss, None),
                Some(1460),
                "{later}"
            );
        }
        let late = t0 + Duration::from_secs(200);
        assert_eq!(decode(&s, late, &l, &r, SeqNumber(77), iss, None), None);
    }

    #[test]
    fn a_cookie_is_bound_to_tuple_isn_and_secret() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t = Instant::ZERO + Duration::from_secs(5);
        let (iss, _) = encode(&s, t, &l, &r, SeqNumber(77), 1400, None);
        let other: SocketAddr = "192.0.2.1:40001".parse().unwrap();
        assert_eq!(decode(&s, t, &l, &other, SeqNumber(77), iss, None), None);
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(78), iss, None), None);
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), iss + 1, None), None);
        assert_eq!(
            decode(&Secret::new([4; 16]), t, &l, &r, SeqNumber(77), iss, None),
            None
        );
        // Changing the MSS bits breaks the hash too.
        let bumped = SeqNumber(iss.0 ^ (1 << 24));
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), bumped, None), None);
    }

    #[test]
    fn the_mss_is_rounded_down_to_the_table() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t = Instant::ZERO;
        for (peer, want) in [
            (1460, 1460),
            (1459, 1440),
            (1400, 1300),
            (9000, 1460),
            (536, 536),
            (100, 536),
        ] {
            let (iss, mss) = encode(&s, t, &l, &r, SeqNumber(1), peer, None);
            assert_eq!(mss, want, "{peer}");
            assert_eq!(decode(&s, t, &l, &r, SeqNumber(1), iss, None), Some(want));
        }
        // IPv6 has a table of its own (jumbo frames: 9000 - 60).
        let (l6, r6): (SocketAddr, SocketAddr) = (
            "[2001:db8::1]:80".parse().unwrap(),
            "[2001:db8::2]:4000".parse().unwrap(),
        );
        for (peer, want) in [(8940, 8940), (8939, 1440), (1400, 1220), (1000, 1220)] {
            let (iss, mss) = encode(&s, t, &l6, &r6, SeqNumber(1), peer, None);
            assert_eq!(mss, want, "{peer}");
            assert_eq!(decode(&s, t, &l6, &r6, SeqNumber(1), iss, None), Some(want));
        }
    }

    const ALL: CookieOpts = CookieOpts {
        wscale: Some(7),
        sack: true,
        ecn: true,
    };

    #[test]
    fn the_timestamp_keeps_the_options_and_never_runs_ahead_of_the_clock() {
        let cases = [
            CookieOpts::default(),
            ALL,
            CookieOpts {
                wscale: Some(0),
                ..CookieOpts::default()
            },
            CookieOpts {
                wscale: Some(14),
                sack: true,
                ecn: false,
            },
            CookieOpts {
                wscale: None,
                sack: true,
                ecn: true,
            },
        ];
        for opts in cases {
            for clock in [0u32, 5, 63, 64, 100, 1_000_000, 0xffff_ffc0, u32::MAX] {
                let ts = init_timestamp(clock, opts);
                assert_eq!(timestamp_decode(ts), opts, "{clock} {opts:?}");
                let behind = clock.wrapping_sub(ts);
                assert!(behind < 64, "{clock} {ts} {opts:?}");
            }
        }
        // Bits 0-3 all ones: no window scaling.
        assert_eq!(timestamp_decode(0x0f).wscale, None);
        let all_14 = CookieOpts {
            wscale: Some(14),
            ..ALL
        };
        assert_eq!(timestamp_decode(0x3e), all_14);
    }

    #[test]
    fn the_options_are_bound_to_the_cookie() {
        let s = Secret::new([3; 16]);
        let (l, r) = addrs();
        let t = Instant::ZERO + Duration::from_secs(5);
        let plain = CookieOpts::default();
        let (iss, _) = encode(&s, t, &l, &r, SeqNumber(77), 1460, Some(plain));
        assert_eq!(
            decode(&s, t, &l, &r, SeqNumber(77), iss, Some(plain)),
            Some(1460)
        );
        // Other bits (here, options the SYN did not ask for) or no timestamps
        // at all do not check out.
        for other in [
            Some(ALL),
            Some(CookieOpts {
                sack: true,
                ..plain
            }),
            None,
        ] {
            assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), iss, other), None);
        }
        // A cookie made without timestamps checks only without them.
        let (iss, _) = encode(&s, t, &l, &r, SeqNumber(77), 1460, None);
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), iss, None), Some(1460));
        assert_eq!(decode(&s, t, &l, &r, SeqNumber(77), iss, Some(plain)), None);
    }
}
