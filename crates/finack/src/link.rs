//! Packet paths: a pair of channels carrying whole IP packets.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use finack_core::RxOffload;
use tokio::sync::mpsc;

use crate::impair::Impairment;

/// One side of a packet path: `tx` carries the stack's outbound IP packets away,
/// `rx` brings inbound IP packets to it. Each message is one whole IPv4 or IPv6
/// packet.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use finack::{Config, PacketLink, Stack};
///
/// // A stack on a link whose other end is the test's: what the stack sends
/// // comes out of `wire.rx`, what the test puts into `wire.tx` reaches it.
/// let (ours, mut wire) = PacketLink::pair();
/// let stack = Stack::new(Config::linux(), &["192.0.2.2".parse().unwrap()], ours);
/// let _c = stack.with_endpoint(|ep, now| {
///     ep.connect(now, "0.0.0.0:0".parse().unwrap(), "192.0.2.1:80".parse().unwrap())
/// });
/// let syn = wire.rx.recv().await.unwrap(); // the SYN, a whole IPv4 packet
/// assert_eq!(syn[0] >> 4, 4);
/// assert_eq!(stack.link_stats().packets_out, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct PacketLink {
    /// Outbound packets (from the stack).
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Inbound packets (to the stack).
    pub rx: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl PacketLink {
    /// Two links wired back to back, like the two ends of a cable: what one sends
    /// the other receives.
    pub fn pair() -> (PacketLink, PacketLink) {
        let (a_tx, b_rx) = mpsc::unbounded_channel();
        let (b_tx, a_rx) = mpsc::unbounded_channel();
        (
            PacketLink { tx: a_tx, rx: a_rx },
            PacketLink { tx: b_tx, rx: b_rx },
        )
    }

    /// Put `imp` on the inbound path. Must be called inside a tokio runtime (it
    /// spawns the task that holds and releases packets).
    pub fn impair_inbound(self, imp: Impairment) -> PacketLink {
        let (tx, rx) = mpsc::unbounded_channel();
        imp.spawn(self.rx, tx);
        PacketLink { tx: self.tx, rx }
    }

    /// Put `imp` on the outbound path. Must be called inside a tokio runtime.
    pub fn impair_outbound(self, imp: Impairment) -> PacketLink {
        let (tx, rx) = mpsc::unbounded_channel();
        imp.spawn(rx, self.tx);
        PacketLink { tx, rx: self.rx }
    }
}

/// Counters of the packets a stack's link delivered and of those it skipped
/// before they reached the engine ([`Stack::link_stats`](crate::Stack::link_stats);
/// see the example on [`PacketLink`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets received from the link.
    pub packets_in: u64,
    /// Packets sent to the link (TCP segments as the engine wrote them).
    pub packets_out: u64,
    /// Writes to the link: with send-side offload on a TUN device one write
    /// may be a super-segment the kernel cuts into several of
    /// `packets_out` (otherwise the two are equal).
    pub writes_out: u64,
    /// Segments of `packets_out` that left in packets of several the engine
    /// formed itself (TCP segmentation offload on a TUN device with
    /// offload, `Endpoint::poll_transmit_segs`), rather than one by one.
    pub tso_segments_out: u64,
    /// Inbound packets that were not IPv4 or IPv6 (skipped).
    pub skipped_not_ip: u64,
    /// Inbound IP packets that were neither TCP nor an ICMP error about a
    /// TCP segment: UDP, ICMP echo, ICMPv6 router solicitations, ...
    /// (skipped).
    pub skipped_not_tcp: u64,
    /// Inbound ICMP and ICMPv6 errors about TCP segments (destination
    /// unreachable, packet too big, time exceeded, ...), handed to the engine
    /// (RFC 9293 §3.9.2.2; path MTU discovery, RFC 1191 / RFC 8201).
    pub icmp_errors: u64,
    /// Inbound TCP packets the engine rejected: malformed, bad checksum, not for
    /// one of our addresses (see [`finack_core::Stats`] for the breakdown).
    pub rejected: u64,
    /// Inbound TCP segments read one by one from a TUN device without
    /// offload and joined to the one before by receive coalescing (each is
    /// counted in `packets_in` too).
    pub coalesced_in: u64,
    /// Inbound packets that arrived at one worker (a TUN queue read by it)
    /// and belong to a connection of another, so were handed over to that
    /// worker (always 0 with one worker; see [`StackBuilder`](crate::StackBuilder)).
    pub handed_over: u64,
}

/// A packet on its way into an engine: a plain one (from an in-memory
/// link) or one read from a TUN device, with what offload did to it.
pub(crate) trait Inbound: Send + 'static {
    /// Read from a TUN device: segments that came one by one are joined
    /// before the engine takes them ([`crate::offload::RxMerger`]).
    const FROM_DEVICE: bool;
    /// The IP packet.
    fn packet(&self) -> &[u8];
    /// What receive offload did to it.
    fn offload(&self) -> RxOffload;
    /// A copy of a packet read from a TUN queue, for the worker that owns
    /// it.
    fn copied(pkt: &[u8], rx: RxOffload) -> Self;
}

impl Inbound for Vec<u8> {
    /// An in-memory link or an impaired TUN path: each packet as it is.
    const FROM_DEVICE: bool = false;
    fn packet(&self) -> &[u8] {
        self
    }
    fn offload(&self) -> RxOffload {
        RxOffload::default()
    }
    /// Only for stacks whose packets carry no offload (an in-memory link,
    /// a TUN path with impairments, whose reader cuts super-segments).
    fn copied(pkt: &[u8], rx: RxOffload) -> Self {
        debug_assert_eq!(rx, RxOffload::default());
        pkt.to_vec()
    }
}

/// A packet read from a TUN device with virtio-net headers.
pub(crate) struct TunPacket {
    pub pkt: Vec<u8>,
    pub rx: RxOffload,
}

impl Inbound for TunPacket {
    const FROM_DEVICE: bool = true;
    fn packet(&self) -> &[u8] {
        &self.pkt
    }
    fn offload(&self) -> RxOffload {
        self.rx
    }
    fn copied(pkt: &[u8], rx: RxOffload) -> Self {
        TunPacket {
            pkt: pkt.to_vec(),
            rx,
        }
    }
}

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub writes_out: AtomicU64,
    pub tso_segments_out: AtomicU64,
    pub skipped_not_ip: AtomicU64,
    pub skipped_not_tcp: AtomicU64,
    pub icmp_errors: AtomicU64,
    pub rejected: AtomicU64,
    pub coalesced_in: AtomicU64,
    pub handed_over: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> LinkStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStats {
            packets_in: get(&self.packets_in),
            packets_out: get(&self.packets_out),
            writes_out: get(&self.writes_out),
            tso_segments_out: get(&self.tso_segments_out),
            skipped_not_ip: get(&self.skipped_not_ip),
            skipped_not_tcp: get(&self.skipped_not_tcp),
            icmp_errors: get(&self.icmp_errors),
            rejected: get(&self.rejected),
            coalesced_in: get(&self.coalesced_in),
            handed_over: get(&self.handed_over),
        }
    }
}

/// What an inbound packet is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tcp,
    /// An ICMP or ICMPv6 error quoting a TCP segment.
    IcmpError,
    NotIp,
    NotTcp,
}

/// Classify a packet: IPv4 (RFC 791: version 4, protocol field at byte 9) or
/// IPv6 (RFC 8200: version 6, next header at byte 6) carrying TCP (protocol
/// 6), or an ICMP / ICMPv6 error about a TCP segment, as finack-wire's ICMP
/// parser reads it (informational messages and errors about other protocols
/// are not the engine's). IPv6 extension headers are not walked: such packets
/// count as not TCP, which is what the engine would make of them too.
pub(crate) fn classify(p: &[u8]) -> Kind {
    let protocol = match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => p[9],
        Some(6) if p.len() >= 40 => p[6],
        _ => return Kind::NotIp,
    };
    match protocol {
        6 => Kind::Tcp,
        finack_core::wire::icmp::IP_PROTOCOL_ICMP | finack_core::wire::icmp::IP_PROTOCOL_ICMPV6 => {
            match finack_core::wire::icmp::parse_icmp_error(p) {
                Ok(_) => Kind::IcmpError,
                Err(_) => Kind::NotTcp,
            }
        }
        _ => Kind::NotTcp,
    }
}

/// The connection `p` (of kind `k`) belongs to, seen from the stack:
/// (local, remote). For TCP the destination is local; an ICMP error quotes a
/// segment we sent, so its source is. `None` for anything else.
pub(crate) fn flow_of(p: &[u8], k: Kind) -> Option<(SocketAddr, SocketAddr)> {
    match k {
        Kind::Tcp => {
            let (src, dst, l4): (IpAddr, IpAddr, usize) = match p[0] >> 4 {
                4 => {
                    let a = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
                    (a(12).into(), a(16).into(), usize::from(p[0] & 0x0f) * 4)
                }
                _ => {
                    let a = |i: usize| {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(&p[i..i + 16]);
                        Ipv6Addr::from(b)
                    };
                    (a(8).into(), a(24).into(), 40)
                }
            };
            let t = p.get(l4..l4 + 4)?;
            let sport = u16::from_be_bytes([t[0], t[1]]);
            let dport = u16::from_be_bytes([t[2], t[3]]);
            Some((SocketAddr::new(dst, dport), SocketAddr::new(src, sport)))
        }
        Kind::IcmpError => finack_core::wire::icmp::parse_icmp_error(p).ok().map(|e| {
            (
                SocketAddr::new(e.src, e.src_port),
                SocketAddr::new(e.dst, e.dst_port),
            )
        }),
        Kind::NotIp | Kind::NotTcp => None,
    }
}

/// Flow steering: which worker (engine) owns a connection, by a keyed hash
/// of its 4-tuple (local, remote). Every packet of a connection, and every
/// ICMP error about it, goes to the same worker; packets that belong to no
/// connection (not TCP) go to worker 0. The key is random per stack, so a
/// peer cannot aim its connections at one worker.
#[derive(Clone, Debug)]
pub(crate) struct Steer {
    workers: usize,
    keys: RandomState,
}

impl Steer {
    pub fn new(workers: usize) -> Steer {
        Steer {
            workers: workers.max(1),
            keys: RandomState::new(),
        }
    }

    /// The keyed hash of (local, remote).
    pub fn hash(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = self.keys.build_hasher();
        local.hash(&mut h);
        remote.hash(&mut h);
        let x = h.finish();
        (x ^ (x >> 32)) as u32
    }

    /// The worker that owns the connection (local, remote).
    pub fn worker(&self, local: SocketAddr, remote: SocketAddr) -> usize {
        if self.workers == 1 {
            return 0;
        }
        self.hash(local, remote) as usize % self.workers
    }

    /// The worker that owns packet `p` of kind `k`.
    pub fn worker_of(&self, p: &[u8], k: Kind) -> usize {
        if self.workers == 1 {
            return 0;
        }
        flow_of(p, k).map_or(0, |(l, r)| self.worker(l, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_packets() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[9] = 6;
        assert_eq!(classify(&v4), Kind::Tcp);
        v4[9] = 17;
        assert_eq!(classify(&v4), Kind::NotTcp);
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[6] = 58; // ICMPv6 (router solicitation)
        assert_eq!(classify(&v6), Kind::NotTcp);
        v6[6] = 6;
        assert_eq!(classify(&v6), Kind::Tcp);
        assert_eq!(classify(&[]), Kind::NotIp);
        assert_eq!(classify(&[0x45, 0, 0]), Kind::NotIp);
        assert_eq!(classify(&[0x00; 40]), Kind::NotIp);
    }

    #[test]
    fn flows_and_steering() {
        // 192.0.2.1:40000 -> 192.0.2.2:80, a 20-byte IPv4 header and the
        // ports of a TCP header.
        let mut v4 = [0u8; 40];
        v4[0] = 0x45;
        v4[9] = 6;
        v4[12..16].copy_from_slice(&[192, 0, 2, 1]);
        v4[16..20].copy_from_slice(&[192, 0, 2, 2]);
        v4[20..22].copy_from_slice(&40000u16.to_be_bytes());
        v4[22..24].copy_from_slice(&80u16.to_be_bytes());
        let local: SocketAddr = "192.0.2.2:80".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        assert_eq!(flow_of(&v4, Kind::Tcp), Some((local, remote)));
        let mut v6 = [0u8; 60];
        v6[0] = 0x60;
        v6[6] = 6;
        v6[23] = 1; // ::1 -> ::2
        v6[39] = 2;
        v6[40..42].copy_from_slice(&1234u16.to_be_bytes());
        v6[42..44].copy_from_slice(&443u16.to_be_bytes());
        let (l6, r6) = flow_of(&v6, Kind::Tcp).unwrap();
        assert_eq!(l6, "[::2]:443".parse().unwrap());
        assert_eq!(r6, "[::1]:1234".parse().unwrap());
        assert_eq!(flow_of(&v4, Kind::NotTcp), None);
        let steer = Steer::new(4);
        assert_eq!(steer.worker_of(&v4, Kind::Tcp), steer.worker(local, remote));
        assert_eq!(Steer::new(1).worker(local, remote), 0);
        // Many flows spread over all workers.
        let mut seen = [false; 4];
        for port in 40000..40100u16 {
            seen[steer.worker(local, SocketAddr::new(remote.ip(), port))] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
