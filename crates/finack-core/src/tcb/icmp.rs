//! ICMP errors about a connection's segments (RFC 9293 §3.9.2.2, RFC 5927,
//! RFC 1191 / RFC 8201 path MTU discovery).

use super::{default_mss, headers_len, Ctx, Tcb};
use crate::types::{CloseReason, State};

impl Tcb {
    /// An ICMP error about one of our segments (RFC 9293 §3.9.2.2, RFC 5927).
    /// Returns the path MTU a "packet too big" taken in says, for the
    /// endpoint to remember.
    pub(crate) fn on_icmp(
        &mut self,
        ctx: &mut Ctx<'_>,
        e: &finack_wire::icmp::IcmpError,
    ) -> Option<u16> {
        use finack_wire::icmp::IcmpKind;
        // RFC 5927 §4.1: only an error quoting a sequence number we have sent and
        // not yet seen acknowledged can be genuine.
        if !(e.seq.ge(self.snd.una) && e.seq.lt(self.snd.max)) {
            ctx.stats.icmp_ignored += 1;
            return None;
        }
        let mut learned = None;
        match e.kind {
            // MUST-55: source quench is silently discarded.
            IcmpKind::SourceQuench => {}
            IcmpKind::PacketTooBig { mtu } => {
                // RFC 1191 / RFC 8201 path MTU discovery: shrink the segments and
                // resend what was dropped (RFC 5927 §7 bounds the reduction).
                let options = if self.ts_ok { 12 } else { 0 };
                // Never below the minimum MTU of the family (576 / 1280 bytes).
                let floor = default_mss(&self.remote) - options;
                let overhead = headers_len(&self.remote) + options;
                let mss = mtu.saturating_sub(overhead).max(floor);
                let path = mss + overhead;
                // Linux tcp_ipv4.c: tcp_v4_mtu_reduced(): with IP_PMTUDISC_DONT
                // the route learns the MTU and the connection keeps its MSS
                // (its packets, without DF, are fragmented on the way).
                if !(self.pmtu_off && self.remote.is_ipv4()) {
                    if mss < self.snd.path_mss {
                        let (old, new) = self.set_path_mss(mss);
                        self.cc.rescale_mss(u32::from(old), u32::from(new));
                        self.snd.nxt = self.snd.una;
                        self.snd.rtt_probe.set(None);
                    }
                    self.path_mtu_reduced(path);
                }
                // The path's MTU, for later connections to the peer (Linux
                // inet_csk_update_pmtu(): a route exception).
                learned = (path < ctx.cfg.mtu).then_some(path);
            }
            IcmpKind::Refused
                if matches!(self.state, State::SynSent | State::SynReceived)
                    && self.listener.is_none() =>
            {
                // A hard error while opening: the connection is refused (SHLD-26;
                // Linux aborts only during the handshake).
                self.enter_closed(ctx, CloseReason::Refused);
            }
            // MUST-56: soft errors never abort; SHLD-25: the application can
            // learn of them.
            kind => self.errs.set_soft_error(kind),
        }
        learned
    }

    /// IP_PMTUDISC_DONT (`pmtu_off`): clear DF in the IPv4 header just
    /// written at the start of `pkt`, give the datagram an identification
    /// (it may now be fragmented on the way: RFC 6864 §4.1; Linux
    /// ip_select_ident(), here the segment's sequence number folded) and
    /// fix the header checksum.
    pub(super) fn clear_df(&self, pkt: &mut [u8], seq: finack_wire::SeqNumber) {
        if !self.pmtu_off || !self.remote.is_ipv4() || pkt.len() < 20 {
            return;
        }
        let mut ip = finack_wire::Ipv4Packet::new_unchecked(pkt);
        ip.set_dont_frag(false);
        ip.set_ident((seq.0 ^ (seq.0 >> 16)) as u16);
        ip.fill_checksum();
    }
}
