//! Initial sequence numbers (RFC 9293 §3.4.1, RFC 6528).

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use finack_wire::SeqNumber;
use siphasher::sip::SipHasher24;

use crate::time::Instant;

/// Keyed generator of ISNs and other per-connection secrets.
#[derive(Clone)]
pub(crate) struct Secret {
    k0: u64,
    k1: u64,
}

fn feed_addr(h: &mut SipHasher24, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => h.write(&v4.octets()),
        IpAddr::V6(v6) => h.write(&v6.octets()),
    }
    h.write_u16(a.port());
}

impl Secret {
    pub(crate) fn new(secret: [u8; 16]) -> Secret {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        Secret {
            k0: u64::from_le_bytes(a),
            k1: u64::from_le_bytes(b),
        }
    }

    /// F(localip, localport, remoteip, remoteport, secretkey) of RFC 6528 §3, with a
    /// domain byte so the same key can serve other uses.
    pub(crate) fn hash_tuple(&self, domain: u8, local: &SocketAddr, remote: &SocketAddr) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write_u8(domain);
        feed_addr(&mut h, local);
        feed_addr(&mut h, remote);
        h.finish()
    }

    /// RFC 6528 §3: ISN = M + F(4-tuple, secret), where M is a timer ticking every
    /// 4 microseconds (RFC 9293 MUST-8: clock-driven; SHLD-1: PRF; MUST-9: F cannot
    /// be computed from outside without the secret).
    pub(crate) fn isn(&self, now: Instant, local: &SocketAddr, remote: &SocketAddr) -> SeqNumber {
        let m = (now.as_micros() / 4) as u32;
        let f = self.hash_tuple(0, local, remote) as u32;
        SeqNumber(m.wrapping_add(f))
    }

    /// A per-connection offset for TSval (so timestamps do not reveal uptime).
    pub(crate) fn ts_offset(&self, local: &SocketAddr, remote: &SocketAddr) -> u32 {
        self.hash_tuple(1, local, remote) as u32
    }

    /// The timestamp offset a connection on this 4-tuple uses (RFC 7323
    /// §5.4): [`Secret::ts_offset`], or 0 without `Config::timestamp_offsets`.
    /// A keyed hash, so a TIME-WAIT entry or a SYN cookie need not store it.
    pub(crate) fn conn_ts_offset(
        &self,
        cfg: &crate::config::Config,
        local: &SocketAddr,
        remote: &SocketAddr,
    ) -> u32 {
        if cfg.timestamp_offsets {
            self.ts_offset(local, remote)
        } else {
            0
        }
    }

    /// The keyed hash in a SYN cookie (RFC 4987 §3.6): of the 4-tuple, the
    /// peer's ISN, the cookie's counter, MSS index and the options its
    /// timestamp carries (`opts`, `crate::cookie::NO_TS` without timestamps),
    /// so that none of them can be changed or guessed without the secret.
    pub(crate) fn cookie_hash(
        &self,
        local: &SocketAddr,
        remote: &SocketAddr,
        peer_isn: u32,
        counter: u64,
        mss_index: u8,
        opts: u8,
    ) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write_u8(2);
        feed_addr(&mut h, local);
        feed_addr(&mut h, remote);
        h.write_u32(peer_isn);
        h.write_u64(counter);
        h.write_u8(mss_index);
        h.write_u8(opts);
        h.finish() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.2:80".parse().unwrap(),
        )
    }

    #[test]
    fn rfc6528_isn_advances_with_a_4us_clock() {
        let s = Secret::new([7; 16]);
        let (l, r) = addrs();
        let a = s.isn(Instant::from_micros(1_000), &l, &r);
        let b = s.isn(Instant::from_micros(1_000 + 4 * 250), &l, &r);
        assert_eq!(b - a, 250, "M ticks once per 4 us (RFC 9293 MUST-8)");
    }

    #[test]
    fn rfc6528_isn_depends_on_tuple_and_secret() {
        let (l, r) = addrs();
        let t = Instant::from_secs(3);
        let s1 = Secret::new([1; 16]);
        let s2 = Secret::new([2; 16]);
        let other: SocketAddr = "192.0.2.1:40001".parse().unwrap();
        assert_ne!(
            s1.isn(t, &l, &r),
            s2.isn(t, &l, &r),
            "secret keys F (MUST-9)"
        );
        assert_ne!(s1.isn(t, &l, &r), s1.isn(t, &other, &r), "4-tuple feeds F");
        assert_eq!(s1.isn(t, &l, &r), s1.isn(t, &l, &r), "deterministic");
    }
}
