//! Inbound ICMP lines (`< icmp unreachable frag_needed mtu 1234`): an ICMPv4
//! message from the script's side that quotes an IP header and the first 8
//! bytes of a TCP segment finack sent, as packetdrill builds them: the quoted
//! sequence number is the script's (relative to our ISN; 0 when not given),
//! so a message without one quotes our SYN's sequence number, which is below
//! SND.UNA and gets the message ignored (RFC 5927 §4.1).
//!
//! In IPv6 mode the message is ICMPv6 (RFC 4443) quoting an IPv6 header, and
//! the type and code names are ICMPv6's, as packetdrill icmp_packet.c picks
//! its table by the script's address family.

use std::net::IpAddr;

use finack_core::wire::checksum::{checksum, fold, ones_complement_sum, pseudo_header_sum};

use super::{fail, Res, Runner};
use crate::ast::{Icmp, IcmpEchoed};

/// ICMPv4 message types by packetdrill's names (RFC 792 and successors).
const TYPES: &[(&str, u8)] = &[
    ("echo_reply", 0),
    ("unreachable", 3),
    ("source_quench", 4),
    ("redirect", 5),
    ("echo_request", 8),
    ("time_exceeded", 11),
    ("parameter_problem", 12),
    ("timestamp_request", 13),
    ("timestamp_reply", 14),
    ("information_request", 15),
    ("information_reply", 16),
    ("address_mask_request", 17),
    ("address_mask_reply", 18),
];

/// Codes of Destination Unreachable (RFC 792, RFC 1122 §3.2.2.1, RFC 1812
/// §5.2.7.1).
const UNREACHABLE_CODES: &[(&str, u8)] = &[
    ("net_unreachable", 0),
    ("host_unreachable", 1),
    ("protocol_unreachable", 2),
    ("port_unreachable", 3),
    ("frag_needed", 4),
    ("source_route_failed", 5),
    ("net_unknown", 6),
    ("host_unknown", 7),
    ("source_host_isolated", 8),
    ("net_prohibited", 9),
    ("host_prohibited", 10),
    ("net_unreachable_for_tos", 11),
    ("host_unreachable_for_tos", 12),
    ("packet_filtered", 13),
    ("precedence_violation", 14),
    ("precedence_cutoff", 15),
];

/// ICMPv6 message types by packetdrill's names (RFC 4443).
const TYPES_V6: &[(&str, u8)] = &[
    ("unreachable", 1),
    ("packet_too_big", 2),
    ("time_exceeded", 3),
    ("parameter_problem", 4),
    ("echo_request", 128),
    ("echo_reply", 129),
];

/// Codes of ICMPv6 Destination Unreachable (RFC 4443 §3.1).
const UNREACHABLE_CODES_V6: &[(&str, u8)] = &[
    ("no_route", 0),
    ("admin_prohibited", 1),
    ("not_neighbour", 2),
    ("address_unreachable", 3),
    ("port_unreachable", 4),
];

/// Codes of ICMPv6 Time Exceeded (RFC 4443 §3.3).
const TIME_EXCEEDED_CODES_V6: &[(&str, u8)] =
    &[("exceeded_hop_limit", 0), ("exceeded_frag_time", 1)];

/// Codes of ICMPv6 Parameter Problem (RFC 4443 §3.4).
const PARAMETER_PROBLEM_CODES_V6: &[(&str, u8)] = &[
    ("header_field", 0),
    ("unknown_next_header", 1),
    ("unknown_option", 2),
];

/// `type_N` / `code_N` or a name from `table`.
fn number(name: &str, prefix: &str, table: &[(&str, u8)]) -> Option<u8> {
    if let Some(n) = name.strip_prefix(prefix) {
        return n.parse().ok();
    }
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

impl Runner {
    pub(super) fn inject_icmp(&mut self, line: u32, icmp: &Icmp) -> Res<()> {
        let v6 = self.mode.wire_v6();
        let types = if v6 { TYPES_V6 } else { TYPES };
        let Some(ty) = number(&icmp.kind, "type_", types) else {
            let family = if v6 { "ICMPv6" } else { "ICMPv4" };
            return fail(line, format!("unknown {family} type '{}'", icmp.kind));
        };
        let codes: &[(&str, u8)] = match (v6, ty) {
            (false, 3) => UNREACHABLE_CODES,
            (true, 1) => UNREACHABLE_CODES_V6,
            (true, 3) => TIME_EXCEEDED_CODES_V6,
            (true, 4) => PARAMETER_PROBLEM_CODES_V6,
            _ => &[],
        };
        let code = match &icmp.code {
            None => 0,
            Some(c) => match number(c, "code_", codes) {
                Some(v) => v,
                None => {
                    return fail(
                        line,
                        format!("unknown ICMP code '{c}' for type '{}'", icmp.kind),
                    )
                }
            },
        };
        let (seq, payload) = match icmp.echoed {
            IcmpEchoed::Default => (0, 0),
            IcmpEchoed::Tcp { seq, len } => (seq, len),
            IcmpEchoed::Udp(_) | IcmpEchoed::Raw(_) => {
                return fail(line, "ICMP quoting UDP or raw data is not supported")
            }
        };
        let Some(local_port) = self.local_port else {
            return fail(line, "inbound ICMP before any socket is bound or connected");
        };
        let live_seq = seq.wrapping_add(self.local_isn.unwrap_or(0));

        let pkt = match (self.local_ip, self.remote_ip) {
            (IpAddr::V4(local), IpAddr::V4(remote)) => {
                // The quoted packet: our IPv4 header (no options, checksum left
                // 0 as packetdrill leaves it) and the first 8 bytes of our TCP
                // header.
                let mut quoted = [0u8; 28];
                let quoted_len = 20 + 20 + payload;
                quoted[0] = 0x45;
                quoted[2..4].copy_from_slice(&quoted_len.to_be_bytes());
                quoted[8] = 64;
                quoted[9] = 6;
                quoted[12..16].copy_from_slice(&local.octets());
                quoted[16..20].copy_from_slice(&remote.octets());
                quoted[20..22].copy_from_slice(&local_port.to_be_bytes());
                quoted[22..24].copy_from_slice(&self.remote_port.to_be_bytes());
                quoted[24..28].copy_from_slice(&live_seq.to_be_bytes());

                // ICMP header: type, code, checksum, then the "rest of header"
                // (the next-hop MTU of a fragmentation-needed message, RFC 1191
                // §4; the identifier of an echo).
                let mut msg = vec![0u8; 8 + quoted.len()];
                msg[0] = ty;
                msg[1] = code;
                if let Some(mtu) = icmp.mtu {
                    msg[6..8].copy_from_slice(&(mtu as u16).to_be_bytes());
                }
                if let Some(id) = icmp.id {
                    msg[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                }
                msg[8..].copy_from_slice(&quoted);
                let sum = checksum(&msg);
                msg[2..4].copy_from_slice(&sum.to_be_bytes());

                // The outer IPv4 header, from the script's side to us.
                let total = (20 + msg.len()) as u16;
                let mut pkt = vec![0u8; 20];
                pkt[0] = 0x45;
                pkt[2..4].copy_from_slice(&total.to_be_bytes());
                pkt[8] = 64;
                pkt[9] = 1;
                pkt[12..16].copy_from_slice(&remote.octets());
                pkt[16..20].copy_from_slice(&local.octets());
                let hsum = checksum(&pkt);
                pkt[10..12].copy_from_slice(&hsum.to_be_bytes());
                pkt.extend_from_slice(&msg);
                pkt
            }
            (IpAddr::V6(local), IpAddr::V6(remote)) => {
                // The quoted packet: our IPv6 header and the first 8 bytes of
                // our TCP header.
                let mut quoted = [0u8; 48];
                quoted[0] = 0x60;
                quoted[4..6].copy_from_slice(&(20 + payload).to_be_bytes());
                quoted[6] = 6;
                quoted[7] = 64;
                quoted[8..24].copy_from_slice(&local.octets());
                quoted[24..40].copy_from_slice(&remote.octets());
                quoted[40..42].copy_from_slice(&local_port.to_be_bytes());
                quoted[42..44].copy_from_slice(&self.remote_port.to_be_bytes());
                quoted[44..48].copy_from_slice(&live_seq.to_be_bytes());

                // ICMPv6 header: the MTU of a Packet Too Big is 32 bits (RFC
                // 4443 §3.2); the checksum covers a pseudo-header (§2.3).
                let mut msg = vec![0u8; 8 + quoted.len()];
                msg[0] = ty;
                msg[1] = code;
                if let Some(mtu) = icmp.mtu {
                    msg[4..8].copy_from_slice(&mtu.to_be_bytes());
                }
                if let Some(id) = icmp.id {
                    msg[4..6].copy_from_slice(&(id as u16).to_be_bytes());
                }
                msg[8..].copy_from_slice(&quoted);
                let pseudo =
                    pseudo_header_sum(IpAddr::V6(remote), IpAddr::V6(local), 58, msg.len() as u32);
                let sum = !fold(ones_complement_sum(&msg, pseudo));
                msg[2..4].copy_from_slice(&sum.to_be_bytes());

                let mut pkt = vec![0u8; 40];
                pkt[0] = 0x60;
                pkt[4..6].copy_from_slice(&(msg.len() as u16).to_be_bytes());
                pkt[6] = 58;
                pkt[7] = 64;
                pkt[8..24].copy_from_slice(&remote.octets());
                pkt[24..40].copy_from_slice(&local.octets());
                pkt.extend_from_slice(&msg);
                pkt
            }
            _ => return fail(line, "the local and remote addresses differ in family"),
        };

        // Messages the engine does not act on (echo, unknown types) come back
        // as errors and are counted; that is the point of such lines.
        let _ = self.ep.handle_packet(self.now, &pkt);
        self.drain();
        self.try_pending()
    }
}
