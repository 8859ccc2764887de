//! The path MTUs learned from ICMP "packet too big" messages, per peer
//! address, for the connections opened later (Linux keeps them as route
//! exceptions: net/ipv4/route.c `__ip_rt_update_pmtu()` stores the next
//! hop's MTU for `ip_rt_mtu_expires`, 10 minutes; IPv6 `rt6_do_update_pmtu()`
//! the same). A new connection to that peer sends segments that fit the
//! learned MTU (tcp_sync_mss() of the route's MTU), while the MSS it
//! announces still comes from the interface's MTU.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::time::Instant;

/// How long a learned path MTU holds (Linux `ip_rt_mtu_expires`).
const EXPIRES: Duration = Duration::from_secs(600);
/// Most peers remembered: a bound against ICMP floods; a full table takes
/// no new entry until one expires.
const CAPACITY: usize = 64;

/// Learned path MTUs.
#[derive(Debug, Default)]
pub(super) struct PathMtus {
    entries: Vec<(IpAddr, u16, Instant)>,
}

impl PathMtus {
    /// Remember `mtu` for `peer` from `now` on (a lower value replaces a
    /// higher one; the entry's life starts again).
    pub(super) fn learn(&mut self, now: Instant, peer: IpAddr, mtu: u16) {
        self.entries.retain(|e| e.2 > now);
        let until = now + EXPIRES;
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == peer) {
            e.1 = e.1.min(mtu);
            e.2 = until;
        } else if self.entries.len() < CAPACITY {
            self.entries.push((peer, mtu, until));
        }
    }

    /// The path MTU learned for `peer` and still valid at `now`.
    pub(super) fn get(&self, now: Instant, peer: IpAddr) -> Option<u16> {
        self.entries
            .iter()
            .find(|e| e.0 == peer && e.2 > now)
            .map(|e| e.1)
    }

    /// Bytes the table holds.
    pub(super) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<(IpAddr, u16, Instant)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_lowered_and_expired() {
        let mut p = PathMtus::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::from_secs(1);
        assert_eq!(p.get(t, a), None);
        p.learn(t, a, 1200);
        p.learn(t, a, 1300);
        assert_eq!(p.get(t, a), Some(1200));
        p.learn(t, a, 1000);
        assert_eq!(p.get(t + Duration::from_secs(599), a), Some(1000));
        assert_eq!(p.get(t + Duration::from_secs(600), a), None);
        for i in 0..100u8 {
            p.learn(t, IpAddr::from([10, 0, 0, i]), 1400);
        }
        assert!(p.entries.len() <= CAPACITY);
    }
}
