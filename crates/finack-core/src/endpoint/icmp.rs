//! ICMP errors reaching the endpoint: parsed, matched to the connection
//! whose segment they quote and handed to it (RFC 9293 §3.9.2.2, RFC 5927);
//! a path MTU they teach is remembered for later connections (`pmtu`).

use core::net::SocketAddr;

use super::slots::tuple_of;
use super::Endpoint;
use crate::time::Instant;
use crate::types::{Cause, Error, PacketError};

impl Endpoint {
    /// RFC 9293 §3.9.2.2 (MUST-54): ICMP errors about our segments.
    pub(super) fn icmp_arrives(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let e = match finack_wire::icmp::parse_icmp_error(packet) {
            Ok(e) => e,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        self.stats.icmp_in += 1;
        if !self.addrs.contains(&e.src) && !self.listeners.transparent() {
            self.stats.not_local += 1;
            return Err(Error::Packet(PacketError::NotLocal));
        }
        let local = SocketAddr::new(e.src, e.src_port);
        let remote = SocketAddr::new(e.dst, e.dst_port);
        let Some(idx) = self
            .tuples
            .get(&(local, remote), |i| tuple_of(&self.slots, i))
        else {
            self.stats.icmp_ignored += 1;
            return Ok(());
        };
        match self.run(idx, now, Cause::Icmp, |tcb, ctx| tcb.on_icmp(ctx, &e)) {
            None => self.stats.icmp_ignored += 1,
            Some(Some(mtu)) => self.path_mtus.learn(now, e.dst, mtu),
            Some(None) => {}
        }
        Ok(())
    }
}
