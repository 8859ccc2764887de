//! Robustness of the engine against hostile and unlucky input:
//!
//! 1. malformed packets get a typed error, change nothing and are counted;
//! 2. fuzzing: random bytes, and mutations of real captured packets (with and
//!    without a valid checksum) never panic;
//! 3. a "segment soup": a link that drops, duplicates and reorders, and still both
//!    byte streams arrive intact and both connections close (also with small
//!    buffers and slow readers, and without timestamps);
//! 4. blind injection of valid-checksum segments into an ESTABLISHED connection
//!    (and into the closing states): only an exact-match RST does harm.
//!
//! The property tests run a fixed number of cases; set `PROPTEST_CASES` to search
//! longer.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use finack_core::wire::{
    self, Ipv4Packet, Ipv4Repr, Ipv6Repr, SackBlocks, SeqNumber, TcpFlags, TcpOptions, TcpPacket,
    Timestamps,
};
use finack_core::{
    CloseReason, Config, ConnId, Endpoint, Error, Event, Instant, ListenerId, PacketError,
    Shutdown, State, Transition,
};
use finack_fault::Rng;
use proptest::prelude::*;
use proptest::sample::Index;

// ---- Packet surgery ----------------------------------------------------------

fn malformed(e: wire::Error) -> Error {
    Error::Packet(PacketError::Malformed(e))
}

/// Source and destination of an IPv4 or IPv6 packet (at least a full header).
fn ip_addrs(pkt: &[u8]) -> (IpAddr, IpAddr) {
    if pkt[0] >> 4 == 4 {
        let s: [u8; 4] = pkt[12..16].try_into().unwrap();
        let d: [u8; 4] = pkt[16..20].try_into().unwrap();
        (IpAddr::from(s), IpAddr::from(d))
    } else {
        let s: [u8; 16] = pkt[8..24].try_into().unwrap();
        let d: [u8; 16] = pkt[24..40].try_into().unwrap();
        (IpAddr::from(s), IpAddr::from(d))
    }
}

/// Recompute the IPv4 header checksum and the TCP checksum of a packet (IPv4 with
/// any IHL, or IPv6 without extension headers), whatever else is wrong with it.
fn fix_checksums(pkt: &mut [u8]) {
    let min = if pkt.first().is_some_and(|b| b >> 4 == 4) {
        20
    } else {
        40
    };
    if pkt.len() < min {
        return;
    }
    let (src, dst) = ip_addrs(pkt);
    let (start, end) = if min == 20 {
        Ipv4Packet::new_unchecked(&mut *pkt).fill_checksum();
        let hl = usize::from(pkt[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        (hl, total.min(pkt.len()))
    } else {
        let len = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
        (40, (40 + len).min(pkt.len()))
    };
    if start < end {
        TcpPacket::new_unchecked(&mut pkt[start..end]).fill_checksum(src, dst);
    }
}

/// An IP packet (valid header, no options) carrying `payload` as `protocol`.
fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut buf = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut buf = vec![0u8; 20 + payload.len()];
            Ipv4Repr {
                src,
                dst,
                protocol,
                ttl: 64,
                tos: 0,
                payload_len: payload.len(),
            }
            .emit(&mut buf)
            .unwrap();
            buf
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut buf = vec![0u8; 40 + payload.len()];
            Ipv6Repr {
                src,
                dst,
                next_header: protocol,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
                payload_len: payload.len(),
            }
            .emit(&mut buf)
            .unwrap();
            buf
        }
        _ => unreachable!("mixed families"),
    };
    let hl = buf.len() - payload.len();
    buf[hl..].copy_from_slice(payload);
    buf
}

fn ip_header_len(pkt: &[u8]) -> usize {
    if pkt[0] >> 4 == 4 {
        usize::from(pkt[0] & 0x0f) * 4
    } else {
        40
    }
}

fn flags_of(pkt: &[u8]) -> TcpFlags {
    wire::parse_tcp_packet(pkt).unwrap().1.flags
}

// ---- 1. Malformed packets --------------------------------------------------------

/// Which counter a rejected packet bumps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Counter {
    Malformed,
    BadChecksum,
    NotLocal,
    /// Broadcast/multicast/unspecified addresses and port 0.
    BadAddress,
}

struct Case {
    name: String,
    packet: Vec<u8>,
    error: Error,
    counter: Counter,
}

/// Every way a packet to `server` from `client` can be malformed or misaddressed.
/// `seq`/`ack` make the underlying segment valid for the live connection.
fn malformed_cases(
    f: Family,
    client: SocketAddr,
    server: SocketAddr,
    seq: SeqNumber,
    ack: SeqNumber,
) -> Vec<Case> {
    use wire::Error as W;
    let seg = |src: SocketAddr, dst: SocketAddr| {
        craft(
            src,
            dst,
            seq,
            ack,
            TcpFlags::ACK | TcpFlags::PSH,
            1024,
            TcpOptions::default(),
            b"hello, world",
        )
    };
    let good = seg(client, server);
    let hl = ip_header_len(&good);
    let tcp = good[hl..].to_vec();
    let (cip, sip) = (client.ip(), server.ip());
    let mut cases = Vec::new();
    let mut add = |name: &str, packet: Vec<u8>, error: Error, counter: Counter| {
        cases.push(Case {
            name: name.to_string(),
            packet,
            error,
            counter,
        })
    };
    let m = Counter::Malformed;

    add("empty", vec![], malformed(W::Truncated), m);
    add("one byte", good[..1].to_vec(), malformed(W::Truncated), m);
    add(
        "IP header cut short",
        good[..hl - 1].to_vec(),
        malformed(W::Truncated),
        m,
    );
    add(
        "IP length beyond the buffer",
        good[..good.len() - 5].to_vec(),
        malformed(W::BadTotalLength),
        m,
    );
    for v in [0u8, 5, 7, 15] {
        let mut p = good.clone();
        p[0] = (v << 4) | (p[0] & 0x0f);
        add(&format!("IP version {v}"), p, malformed(W::BadVersion), m);
    }
    add(
        "no TCP header",
        ip_packet(cip, sip, 6, &[]),
        malformed(W::Truncated),
        m,
    );
    add(
        "TCP header cut at 10 bytes",
        ip_packet(cip, sip, 6, &tcp[..10]),
        malformed(W::Truncated),
        m,
    );
    add(
        "TCP header cut at 19 bytes",
        ip_packet(cip, sip, 6, &tcp[..19]),
        malformed(W::Truncated),
        m,
    );
    let mut t = tcp.clone();
    t[12] = 4 << 4;
    add(
        "TCP data offset 4",
        ip_packet(cip, sip, 6, &t),
        malformed(W::BadHeaderLength),
        m,
    );
    let mut t = tcp.clone();
    t[12] = 15 << 4;
    add(
        "TCP data offset past the segment",
        ip_packet(cip, sip, 6, &t),
        malformed(W::BadHeaderLength),
        m,
    );
    let mut p = good.clone();
    let last = p.len() - 1;
    p[last] ^= 0x01;
    add(
        "payload byte flipped",
        p,
        malformed(W::BadChecksum),
        Counter::BadChecksum,
    );
    let mut p = good.clone();
    p[hl + 4] ^= 0x80;
    add(
        "sequence number flipped",
        p,
        malformed(W::BadChecksum),
        Counter::BadChecksum,
    );
    let with_mss = craft(
        client,
        server,
        seq,
        ack,
        TcpFlags::ACK,
        1024,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        b"",
    );
    for (what, len) in [("0", 0u8), ("1", 1), ("past the header", 40)] {
        let mut p = with_mss.clone();
        p[hl + 21] = len;
        fix_checksums(&mut p);
        add(
            &format!("TCP option length {what}"),
            p,
            malformed(W::BadOptionLength),
            m,
        );
    }
    add(
        "UDP",
        ip_packet(cip, sip, 17, &[0x9c, 0x40, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4]),
        malformed(W::WrongProtocol(17)),
        m,
    );
    let icmp = if f == Family::V4 { 1 } else { 58 };
    add(
        "ICMP",
        ip_packet(cip, sip, icmp, &[8, 0, 0, 0, 0, 1, 0, 1]),
        malformed(W::WrongProtocol(icmp)),
        m,
    );
    match f {
        Family::V4 => {
            let mut p = good.clone();
            p[0] = 0x44;
            add("IHL 4", p, malformed(W::BadHeaderLength), m);
            let mut p = ip_packet(cip, sip, 6, &tcp[..20]);
            p[0] = 0x4f;
            add("IHL 15 past the buffer", p, malformed(W::Truncated), m);
            let mut p = good.clone();
            p[2..4].copy_from_slice(&10u16.to_be_bytes());
            fix_checksums(&mut p);
            add(
                "total length below the header",
                p,
                malformed(W::BadTotalLength),
                m,
            );
            let mut p = good.clone();
            p[8] -= 1;
            add(
                "IPv4 header checksum wrong",
                p,
                malformed(W::BadChecksum),
                Counter::BadChecksum,
            );
            let mut p = good.clone();
            p[6] = 0x20; // MF
            fix_checksums(&mut p);
            add("first fragment (MF)", p, malformed(W::Fragmented), m);
            let mut p = good.clone();
            p[6..8].copy_from_slice(&185u16.to_be_bytes());
            fix_checksums(&mut p);
            add("last fragment (offset)", p, malformed(W::Fragmented), m);
        }
        Family::V6 => {
            let mut frag = vec![6u8, 0, 0, 0, 0, 0, 0, 1];
            frag.extend_from_slice(&tcp);
            add(
                "fragment header",
                ip_packet(cip, sip, 44, &frag),
                malformed(W::Fragmented),
                m,
            );
            let mut hbh = vec![44u8, 0, 1, 4, 0, 0, 0, 0];
            hbh.extend_from_slice(&frag);
            add(
                "hop-by-hop then fragment header",
                ip_packet(cip, sip, 0, &hbh),
                malformed(W::Fragmented),
                m,
            );
            add(
                "extension header past the payload",
                ip_packet(cip, sip, 0, &[6, 5, 1, 4, 0, 0, 0, 0]),
                malformed(W::Truncated),
                m,
            );
            let mut dst_opts = vec![17u8, 0, 1, 4, 0, 0, 0, 0];
            dst_opts.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
            add(
                "destination options then UDP",
                ip_packet(cip, sip, 60, &dst_opts),
                malformed(W::WrongProtocol(17)),
                m,
            );
            add(
                "no next header",
                ip_packet(cip, sip, 59, &[]),
                malformed(W::WrongProtocol(59)),
                m,
            );
        }
    }

    // Addresses and ports.
    let (other, mcast, mcast2, unspec): (IpAddr, IpAddr, IpAddr, IpAddr) = match f {
        Family::V4 => (
            Ipv4Addr::new(192, 0, 2, 99).into(),
            Ipv4Addr::new(224, 0, 0, 1).into(),
            Ipv4Addr::new(239, 1, 2, 3).into(),
            Ipv4Addr::UNSPECIFIED.into(),
        ),
        Family::V6 => (
            "2001:db8::99".parse().unwrap(),
            "ff02::1".parse().unwrap(),
            "ff0e::fb".parse().unwrap(),
            Ipv6Addr::UNSPECIFIED.into(),
        ),
    };
    let not_local = Error::Packet(PacketError::NotLocal);
    let bad_addr = Error::Packet(PacketError::BadAddress);
    let at = |ip: IpAddr, port: u16| SocketAddr::new(ip, port);
    add(
        "to another host",
        seg(client, at(other, 80)),
        not_local,
        Counter::NotLocal,
    );
    add(
        "to the sender's own address",
        seg(client, at(cip, 80)),
        not_local,
        Counter::NotLocal,
    );
    add(
        "to multicast",
        seg(client, at(mcast, 80)),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "to another multicast group",
        seg(client, at(mcast2, 80)),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "from multicast",
        seg(at(mcast, client.port()), server),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "from the unspecified address",
        seg(at(unspec, client.port()), server),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "to the unspecified address",
        seg(client, at(unspec, 80)),
        bad_addr,
        Counter::BadAddress,
    );
    if f == Family::V4 {
        let bcast: IpAddr = Ipv4Addr::BROADCAST.into();
        add(
            "to broadcast",
            seg(client, at(bcast, 80)),
            bad_addr,
            Counter::BadAddress,
        );
        add(
            "from broadcast",
            seg(at(bcast, client.port()), server),
            bad_addr,
            Counter::BadAddress,
        );
    }
    add(
        "from port 0",
        seg(at(cip, 0), server),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "to port 0",
        seg(client, at(sip, 0)),
        bad_addr,
        Counter::BadAddress,
    );
    // A SYN (which would otherwise open a connection) from broadcast / to port 0.
    let syn = |src, dst| {
        craft(
            src,
            dst,
            SeqNumber(7),
            SeqNumber(0),
            TcpFlags::SYN,
            1024,
            TcpOptions::default(),
            b"",
        )
    };
    add(
        "SYN from multicast",
        syn(at(mcast, 5000), server),
        bad_addr,
        Counter::BadAddress,
    );
    add(
        "SYN to port 0",
        syn(at(cip, 5000), at(sip, 0)),
        bad_addr,
        Counter::BadAddress,
    );
    cases
}

/// A SYN with IP options (IPv4) or extension headers (IPv6) that must be skipped
/// (RFC 9293 MUST-50), from `src` to `dst`.
fn syn_with_ip_options(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let plain = craft(
        src,
        dst,
        SeqNumber(1000),
        SeqNumber(0),
        TcpFlags::SYN,
        1024,
        TcpOptions::default(),
        b"",
    );
    let hl = ip_header_len(&plain);
    let tcp = &plain[hl..];
    if src.is_ipv4() {
        // IHL 6: NOP, NOP, NOP, EOL.
        let mut p = plain[..20].to_vec();
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(tcp);
        p[0] = 0x46;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        fix_checksums(&mut p);
        p
    } else {
        // Hop-by-hop options, then destination options, then TCP.
        let mut ext = vec![60u8, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(tcp);
        ip_packet(src.ip(), dst.ip(), 0, &ext)
    }
}

fn malformed_packets_change_nothing(f: Family) {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    let (client, server) = net.client.addrs(c).unwrap();
    let last = (*net.sent_by(Side::Client).last().unwrap()).clone();
    let listener = net.sapp.listener.unwrap();
    let before = net.server.stats().clone();
    let cases = malformed_cases(f, client, server, last.seq, last.ack);
    let mut expect = before.clone();
    let mut buf = [0u8; 2048];
    for case in &cases {
        let now = net.now;
        let r = net.server.handle_packet(now, &case.packet);
        assert_eq!(r, Err(case.error), "{}", case.name);
        expect.packets_in += 1;
        match case.counter {
            Counter::Malformed => expect.malformed += 1,
            Counter::BadChecksum => {
                expect.malformed += 1;
                expect.bad_checksum += 1;
            }
            Counter::NotLocal => expect.not_local += 1,
            Counter::BadAddress => expect.bad_address += 1,
        }
        assert_eq!(net.server.stats(), expect, "counters after {}", case.name);
        // Nothing happened: no reply (in particular no RST), no event, no state change.
        assert_eq!(
            net.server.poll_transmit(now, &mut buf),
            None,
            "{}",
            case.name
        );
        assert_eq!(net.server.poll_event(), None, "{}", case.name);
        assert_eq!(net.server.state(s), State::Established, "{}", case.name);
        assert_eq!(net.server.connection_count(), 1, "{}", case.name);
        assert_eq!(net.server.accept_queue_len(listener), 0, "{}", case.name);
        assert!(net.server.take_transitions().is_empty(), "{}", case.name);
        // Unparsable or misaddressed packets are rejected the same way anywhere.
        if case.counter != Counter::NotLocal {
            let r = net.client.handle_packet(now, &case.packet);
            assert_eq!(r, Err(case.error), "{} (client)", case.name);
            assert_eq!(
                net.client.poll_transmit(now, &mut buf),
                None,
                "{}",
                case.name
            );
        }
    }
    let after = net.server.stats();
    assert!(after.malformed > before.malformed && after.bad_checksum > before.bad_checksum);
    assert!(after.not_local > before.not_local);

    // IP options and IPv6 extension headers are skipped, not rejected (MUST-50).
    let stranger = SocketAddr::new(client.ip(), 40_000);
    let now = net.now;
    let syn = syn_with_ip_options(stranger, server);
    assert_eq!(net.server.handle_packet(now, &syn), Ok(()));
    let n = net
        .server
        .poll_transmit(now, &mut buf)
        .expect("SYN,ACK for a SYN with IP options");
    assert_eq!(flags_of(&buf[..n]), TcpFlags::SYN | TcpFlags::ACK);

    // The live connection still carries data both ways...
    net.capp.to_send.extend(pattern(30_000, 1));
    net.sapp.to_send.extend(pattern(20_000, 2));
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.sapp.received.len() == 30_000
            && n.capp.received.len() == 20_000)
    );
    assert_eq!(net.sapp.received, pattern(30_000, 1));
    assert_eq!(net.capp.received, pattern(20_000, 2));
    // ...and a new handshake completes.
    let now = net.now;
    let c2 = net.client.connect(now, f.client(0), f.server(80)).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n
        .server
        .accept_queue_len(listener)
        > 0));
    let s2 = net.server.accept(listener).unwrap();
    assert_eq!(net.client.state(c2), State::Established);
    assert_eq!(net.server.state(s2), State::Established);
}

dual!(malformed_packets_get_typed_errors_and_change_nothing, |f| {
    malformed_packets_change_nothing(f);
});

// ---- A small simulator with an impaired link ---------------------------------

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// True with probability `per_mille` / 1000 (one draw of the shared generator;
/// the fixed cases of `segment_soup_regressions` replay these exact draws).
fn per_mille(rng: &mut Rng, per_mille: u32) -> bool {
    rng.below(1000) < u64::from(per_mille)
}

/// What the link does to each packet.
#[derive(Copy, Clone, Debug, Default)]
struct Impair {
    loss_pm: u32,
    dup_pm: u32,
    jitter: Duration,
}

/// One side's application: sends `data`, reads everything, half-closes when all
/// is queued, releases the handle once the stream ended both ways (or the
/// connection failed).
#[derive(Default)]
struct App {
    listener: Option<ListenerId>,
    conn: Option<ConnId>,
    data: Vec<u8>,
    queued: usize,
    received: Vec<u8>,
    eof: bool,
    shut: bool,
    released: bool,
    closed: Option<CloseReason>,
    /// Neither shut down nor close for now.
    hold: bool,
    /// Read at most this many bytes per second (a slow application).
    read_rate: Option<u64>,
}

struct Flight {
    at: Instant,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

/// A packet an endpoint emitted.
#[derive(Clone)]
struct Pkt {
    at: Instant,
    from: usize,
    bytes: Vec<u8>,
    /// Link order of its (first) copy; `None` if lost.
    order: Option<u64>,
}

struct Sim {
    family: Family,
    now: Instant,
    ep: [Endpoint; 2],
    app: [App; 2],
    flight: Vec<Flight>,
    order: u64,
    latency: Duration,
    impair: Impair,
    rng: Rng,
    log: Vec<Pkt>,
    transitions: Vec<(usize, Transition)>,
}

impl Sim {
    fn new(family: Family, seed: u64) -> Sim {
        Sim::with_config(family, seed, Config::linux())
    }

    fn with_config(family: Family, seed: u64, cfg: Config) -> Sim {
        let mut client = Endpoint::new(cfg.clone(), [1; 16]);
        let mut server = Endpoint::new(cfg, [2; 16]);
        client.add_address(family.client_ip());
        server.add_address(family.server_ip());
        Sim {
            family,
            now: Instant::from_secs(1),
            ep: [client, server],
            app: [App::default(), App::default()],
            flight: Vec::new(),
            order: 0,
            latency: Duration::from_millis(10),
            impair: Impair::default(),
            rng: Rng::from_state(seed),
            log: Vec::new(),
            transitions: Vec::new(),
        }
    }

    /// Listen on the server and connect the client; each side sends its data as
    /// soon as the connection allows.
    fn open(&mut self, client_data: Vec<u8>, server_data: Vec<u8>) {
        let l = self.ep[SERVER]
            .listen(self.family.server(80), 16)
            .expect("listen");
        self.app[SERVER].listener = Some(l);
        let now = self.now;
        let c = self.ep[CLIENT]
            .connect(now, self.family.client(0), self.family.server(80))
            .expect("connect");
        self.app[CLIENT].conn = Some(c);
        self.app[CLIENT].data = client_data;
        self.app[SERVER].data = server_data;
    }

    fn state(&self, side: usize) -> State {
        match self.app[side].conn {
            Some(c) if !self.app[side].released => self.ep[side].state(c),
            _ => State::Closed,
        }
    }

    fn run_app(&mut self, side: usize) {
        let ep = &mut self.ep[side];
        let app = &mut self.app[side];
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::Incoming(l) if app.conn.is_none() => {
                    if let Ok(c) = ep.accept(l) {
                        app.conn = Some(c);
                    }
                }
                Event::Closed { conn, reason } if Some(conn) == app.conn => {
                    app.closed = Some(reason);
                }
                _ => {}
            }
        }
        let Some(c) = app.conn else { return };
        if app.released {
            return;
        }
        if !app.eof {
            let mut buf = [0u8; 16384];
            loop {
                let room = match app.read_rate {
                    // Bytes the application may have read by now (from t = 1 s).
                    Some(rate) => {
                        let us = (self.now - Instant::from_secs(1)).as_micros() as u64;
                        let allowed = (us.saturating_mul(rate) / 1_000_000) as usize + 1;
                        allowed.saturating_sub(app.received.len()).min(buf.len())
                    }
                    None => buf.len(),
                };
                if room == 0 {
                    break;
                }
                match ep.recv(self.now, c, &mut buf[..room]) {
                    Ok(0) => {
                        app.eof = true;
                        break;
                    }
                    Ok(n) => app.received.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        while app.queued < app.data.len() {
            match ep.send(self.now, c, &app.data[app.queued..]) {
                Ok(n) if n > 0 => app.queued += n,
                _ => break,
            }
        }
        let st = ep.state(c);
        if app.hold {
            return;
        }
        if !app.shut
            && app.queued == app.data.len()
            && matches!(st, State::Established | State::CloseWait)
        {
            app.shut = true;
            ep.shutdown(self.now, c, Shutdown::Write)
                .expect("shutdown(Write)");
        }
        let done = app.eof && app.shut && matches!(st, State::TimeWait | State::Closed);
        let failed =
            st == State::Closed && ep.close_reason(c).is_some_and(|r| r != CloseReason::Normal);
        if done || failed {
            app.released = true;
            ep.close(self.now, c).expect("close");
        }
    }

    /// Put a packet on the link (or lose it, or duplicate it). Packets for an
    /// address the other side does not own (replies to forged sources) vanish.
    fn transmit(&mut self, from: usize, bytes: Vec<u8>) {
        let (ip, _) = wire::parse_tcp_packet(&bytes).expect("the engine emitted a bad packet");
        let to = 1 - from;
        let mut order = None;
        if self.ep[to].addresses().contains(&ip.dst)
            && !per_mille(&mut self.rng, self.impair.loss_pm)
        {
            let copies = if per_mille(&mut self.rng, self.impair.dup_pm) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let jitter = self.rng.below(self.impair.jitter.as_micros() as u64 + 1);
                self.order += 1;
                order.get_or_insert(self.order);
                self.flight.push(Flight {
                    at: self.now + self.latency + Duration::from_micros(jitter),
                    order: self.order,
                    to,
                    bytes: bytes.clone(),
                });
            }
        }
        self.log.push(Pkt {
            at: self.now,
            from,
            bytes,
            order,
        });
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; 2048];
        for side in [CLIENT, SERVER] {
            self.run_app(side);
            loop {
                let now = self.now;
                let Some(n) = self.ep[side].poll_transmit(now, &mut buf) else {
                    break;
                };
                self.transmit(side, buf[..n].to_vec());
            }
            for t in self.ep[side].take_transitions() {
                self.transitions.push((side, t));
            }
        }
    }

    /// Hand a packet to a side as if from the wire, then let everyone react.
    fn deliver(&mut self, to: usize, bytes: &[u8]) -> Result<(), Error> {
        let now = self.now;
        let r = self.ep[to].handle_packet(now, bytes);
        self.flush();
        r
    }

    /// Advance to the next delivery or timer. False when nothing is scheduled up
    /// to `limit`.
    fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let next_pkt = self.flight.iter().map(|f| f.at).min();
        // A slow application looks at its connection every 10 ms.
        let app_tick = self
            .app
            .iter()
            .any(|a| a.read_rate.is_some() && a.conn.is_some() && !a.eof && !a.released)
            .then(|| self.now + Duration::from_millis(10));
        let next_timer = self
            .ep
            .iter()
            .filter_map(|e| e.poll_timeout())
            .chain(app_tick)
            .min();
        let next = match (next_pkt, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.flight.len() {
            if self.flight[i].at <= now {
                due.push(self.flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| (f.at, f.order));
        for f in due {
            let r = self.deliver(f.to, &f.bytes);
            assert_eq!(r, Ok(()), "a packet the engine emitted was rejected");
        }
        for side in [CLIENT, SERVER] {
            if self.ep[side].poll_timeout().is_some_and(|t| t <= now) {
                self.ep[side].handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Run until `cond` or for `max` of virtual time. Returns `cond`.
    fn run_until(&mut self, max: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let limit = self.now + max;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(limit) {
                return cond(self);
            }
        }
    }

    /// Both applications released their connections and both demultiplexing
    /// tables are empty.
    fn finished(&self) -> bool {
        self.app.iter().all(|a| a.released)
            && self.ep.iter().all(|e| e.connection_count() == 0)
            && self.flight.is_empty()
    }

    fn summary(&self) -> String {
        let mut s = format!("t={:?}", self.now);
        for side in [CLIENT, SERVER] {
            let a = &self.app[side];
            s.push_str(&format!(
                "\n {}: state={} queued={}/{} received={} eof={} shut={} released={} \
                 closed={:?} conns={}",
                if side == CLIENT { "client" } else { "server" },
                self.state(side),
                a.queued,
                a.data.len(),
                a.received.len(),
                a.eof,
                a.shut,
                a.released,
                a.closed,
                self.ep[side].connection_count(),
            ));
            // What the connection waits for: its next timer, and tcp_info.
            if let Some(c) = self.app[side].conn {
                s.push_str(&format!(
                    "\n   timer={:?} poll_timeout={:?} info={:?}",
                    self.ep[side].timer_of(c),
                    self.ep[side].poll_timeout(),
                    self.ep[side].info(c)
                ));
            }
        }
        s.push_str("\n transitions:");
        for (side, t) in &self.transitions {
            s.push_str(&format!(
                "\n  {side} {:?} {:?} {} -> {} ({})",
                t.time, t.socket, t.from, t.to, t.cause
            ));
        }
        s.push_str("\n last packets:\n");
        s.push_str(&self.tail(30));
        s
    }

    /// The last `n` packets of the log, one line each.
    fn tail(&self, n: usize) -> String {
        let mut s = String::new();
        for p in self.log.iter().rev().take(n).rev() {
            let (_, t) = wire::parse_tcp_packet(&p.bytes).unwrap();
            s.push_str(&format!(
                "  {:?} {} {} seq={} ack={} len={} win={}{}\n",
                p.at,
                if p.from == CLIENT { "C>S" } else { "S>C" },
                t.flags,
                t.seq,
                t.ack,
                t.payload.len(),
                t.window,
                if p.order.is_none() { " LOST" } else { "" }
            ));
        }
        s
    }
}

/// `cases` cases (or `PROPTEST_CASES` when set, to search longer); no regression
/// files (a failure prints its minimal input).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn family(v6: bool) -> Family {
    if v6 {
        Family::V6
    } else {
        Family::V4
    }
}

// ---- 2. Fuzzing ------------------------------------------------------------------

/// A connection with data flowing both ways (and the server's listener open).
fn busy_sim(f: Family) -> Sim {
    let mut sim = Sim::new(f, 0);
    sim.open(pattern(40_000, 1), pattern(30_000, 2));
    sim.app[CLIENT].hold = true;
    sim.app[SERVER].hold = true;
    assert!(sim.run_until(Duration::from_secs(5), |s| s
        .app
        .iter()
        .all(|a| a.received.len() > 5000)));
    assert_eq!(sim.state(CLIENT), State::Established);
    assert_eq!(sim.state(SERVER), State::Established, "{}", sim.summary());
    sim
}

/// Feed `packet` to `side`; whatever it is, the answer is `Ok` or a packet error.
/// True if it was rejected.
fn feed(sim: &mut Sim, side: usize, packet: &[u8]) -> bool {
    let r = sim.deliver(side, packet);
    assert!(
        matches!(r, Ok(()) | Err(Error::Packet(_))),
        "handle_packet answered {r:?}"
    );
    r.is_err()
}

/// The run ended as if nothing had happened: both streams intact, both ends
/// closed normally, nothing left in the tables.
fn assert_clean_finish(sim: &Sim) -> Result<(), TestCaseError> {
    prop_assert!(sim.finished(), "not finished: {}", sim.summary());
    prop_assert!(
        sim.app[SERVER].received == sim.app[CLIENT].data
            && sim.app[CLIENT].received == sim.app[SERVER].data,
        "a stream was damaged: {}",
        sim.summary()
    );
    for side in [CLIENT, SERVER] {
        prop_assert_eq!(
            sim.app[side].closed,
            Some(CloseReason::Normal),
            "side {}: {}",
            side,
            sim.summary()
        );
    }
    Ok(())
}

/// After garbage, the engine keeps running: timers, output and events for ten
/// virtual minutes (or until everything is closed).
fn run_on(sim: &mut Sim) {
    sim.app[CLIENT].hold = false;
    sim.app[SERVER].hold = false;
    sim.run_until(Duration::from_secs(600), |s| s.finished());
}

/// Random bytes, framed four ways: raw; raw with a plausible version nibble; as
/// the payload of a valid IP header; as a TCP segment on the live connection (or
/// to the listener) with a correct checksum.
fn garbage(sim: &Sim, side: usize, mode: u8, to_listener: bool, mut bytes: Vec<u8>) -> Vec<u8> {
    let peer = 1 - side;
    let src = sim.family_ip(peer);
    let dst = sim.family_ip(side);
    match mode % 4 {
        0 => bytes,
        1 => {
            if let Some(b) = bytes.first_mut() {
                *b = if sim.family == Family::V4 { 0x45 } else { 0x60 };
            }
            bytes
        }
        2 => ip_packet(src, dst, 6, &bytes),
        _ => {
            if bytes.len() < 20 {
                bytes.resize(20, 0);
            }
            let (sport, dport) = match (side, to_listener) {
                (SERVER, true) => (bytes[0] as u16 | 1024, 80),
                _ => {
                    let c = sim.app[CLIENT].conn.unwrap();
                    let (cl, _) = sim.ep[CLIENT].addrs(c).unwrap();
                    if side == SERVER {
                        (cl.port(), 80)
                    } else {
                        (80, cl.port())
                    }
                }
            };
            bytes[0..2].copy_from_slice(&sport.to_be_bytes());
            bytes[2..4].copy_from_slice(&dport.to_be_bytes());
            // A data offset that fits, most of the time.
            let max_off = (bytes.len() / 4).min(15) as u8;
            if bytes[12] >> 4 > max_off && bytes[12] & 1 == 0 {
                bytes[12] = (bytes[12] & 0x0f) | (max_off << 4);
            }
            let mut p = ip_packet(src, dst, 6, &bytes);
            fix_checksums(&mut p);
            p
        }
    }
}

impl Sim {
    fn family_ip(&self, side: usize) -> IpAddr {
        if side == CLIENT {
            self.family.client_ip()
        } else {
            self.family.server_ip()
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Random bytes (0..1600) into an endpoint with a listener and a busy
    /// connection: a typed answer, never a panic, and the engine keeps working
    /// (poll_transmit / handle_timeout / poll_event) afterwards.
    #[test]
    fn random_bytes_never_panic(
        v6 in any::<bool>(),
        packets in prop::collection::vec(
            (any::<bool>(), any::<u8>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..1600)),
            1..6,
        ),
    ) {
        let mut sim = busy_sim(family(v6));
        let mut all_rejected = true;
        for (to_server, mode, to_listener, bytes) in packets {
            let side = if to_server { SERVER } else { CLIENT };
            let p = garbage(&sim, side, mode, to_listener, bytes);
            all_rejected &= feed(&mut sim, side, &p);
        }
        run_on(&mut sim);
        if all_rejected {
            assert_clean_finish(&sim)?;
        }
    }
}

/// How to damage a captured packet.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR bytes; the checksum is left broken.
    Flip(Vec<(Index, u8)>),
    /// XOR bytes, then recompute the IP and TCP checksums.
    FlipFixed(Vec<(Index, u8)>),
    /// Cut the packet short.
    Truncate(Index),
    /// Parse, change fields, re-emit with a valid checksum.
    Fields(Box<Fields>),
}

/// Field changes. Each `(mode, value)` pair: mode picks keep / nudge / replace.
#[derive(Clone, Debug)]
struct Fields {
    seq: (u8, u32),
    ack: (u8, u32),
    flags: Option<u8>,
    window: Option<u16>,
    urgent: Option<u16>,
    options: (u8, OptionValues),
    payload: (u8, Vec<u8>, Index),
}

#[derive(Clone, Debug)]
struct OptionValues {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
    sack: Vec<(u32, u32)>,
}

fn nudge(x: SeqNumber, (mode, v): (u8, u32)) -> SeqNumber {
    match mode % 6 {
        0 => x,
        1 => SeqNumber(x.0.wrapping_add(v as i16 as i32 as u32)),
        2 => SeqNumber(v),
        3 => x + (1 << 31) + (v % 1000),
        4 => x + (v % 65536),
        _ => x - (v % 65536),
    }
}

fn mutate_fields(bytes: &[u8], m: &Fields) -> Option<Vec<u8>> {
    let (ip, mut t) = wire::parse_tcp_packet(bytes).ok()?;
    t.seq = nudge(t.seq, m.seq);
    t.ack = nudge(t.ack, m.ack);
    if let Some(f) = m.flags {
        t.flags = TcpFlags(f);
    }
    if let Some(w) = m.window {
        t.window = w;
    }
    if let Some(u) = m.urgent {
        t.urgent = u;
    }
    let (mode, v) = &m.options;
    match mode % 4 {
        0 => {}
        1 => t.options = TcpOptions::default(),
        2 => {
            let mut sack = SackBlocks::new();
            for &(l, r) in &v.sack {
                sack.push(t.ack + l % 100_000, t.ack + r % 100_000);
            }
            t.options = TcpOptions {
                mss: v.mss,
                window_scale: v.window_scale,
                sack_permitted: v.sack_permitted,
                timestamps: v
                    .timestamps
                    .map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                sack_blocks: sack,
                md5: None,
            };
        }
        _ => {
            // Shift the timestamps a little (older ones trip PAWS).
            if let (Some(ts), Some((a, b))) = (t.options.timestamps.as_mut(), v.timestamps) {
                ts.tsval = ts.tsval.wrapping_add(a as i16 as i32 as u32);
                ts.tsecr = ts.tsecr.wrapping_add(b as i16 as i32 as u32);
            }
        }
    }
    let (mode, data, cut) = &m.payload;
    let owned: Vec<u8>;
    match mode % 4 {
        0 => {}
        1 => t.payload = &[],
        2 => t.payload = &t.payload[..cut.index(t.payload.len() + 1)],
        _ => {
            owned = data.clone();
            t.payload = &owned;
        }
    }
    let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &t)];
    let n = wire::emit_tcp_packet(&ip, &t, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn apply(bytes: &[u8], m: &Mutation) -> Option<Vec<u8>> {
    let flip = |flips: &[(Index, u8)]| {
        let mut p = bytes.to_vec();
        for (i, x) in flips {
            let at = i.index(p.len());
            p[at] ^= x | 1;
        }
        p
    };
    match m {
        Mutation::Flip(f) => Some(flip(f)),
        Mutation::FlipFixed(f) => {
            let mut p = flip(f);
            fix_checksums(&mut p);
            Some(p)
        }
        Mutation::Truncate(i) => Some(bytes[..i.index(bytes.len())].to_vec()),
        Mutation::Fields(f) => mutate_fields(bytes, f),
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let flips = prop::collection::vec((any::<Index>(), any::<u8>()), 1..5);
    let options = (
        any::<u8>(),
        (
            any::<Option<u16>>(),
            any::<Option<u8>>(),
            any::<bool>(),
            any::<Option<(u32, u32)>>(),
            prop::collection::vec(any::<(u32, u32)>(), 0..5),
        )
            .prop_map(|(mss, window_scale, sack_permitted, timestamps, sack)| {
                OptionValues {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps,
                    sack,
                }
            }),
    );
    let fields = (
        any::<(u8, u32)>(),
        any::<(u8, u32)>(),
        any::<Option<u8>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        options,
        (
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..1600),
            any::<Index>(),
        ),
    )
        .prop_map(|(seq, ack, flags, window, urgent, options, payload)| {
            Mutation::Fields(Box::new(Fields {
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
                payload,
            }))
        });
    prop_oneof![
        1 => flips.clone().prop_map(Mutation::Flip),
        2 => flips.prop_map(Mutation::FlipFixed),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        6 => fields,
    ]
}

/// The reference run whose packets are mutated: handshake, data both ways, close.
fn reference_sim(f: Family) -> Sim {
    let mut sim = Sim::new(f, 0);
    sim.open(pattern(20_000, 3), pattern(12_000, 4));
    sim
}

/// Every packet of the reference run, captured once per family.
fn corpus(f: Family) -> &'static [Pkt] {
    static V4: OnceLock<Vec<Pkt>> = OnceLock::new();
    static V6: OnceLock<Vec<Pkt>> = OnceLock::new();
    let cell = if f == Family::V4 { &V4 } else { &V6 };
    cell.get_or_init(|| {
        let mut sim = reference_sim(f);
        assert!(sim.run_until(Duration::from_secs(120), |s| s.finished()));
        assert_eq!(sim.app[SERVER].received, sim.app[CLIENT].data);
        sim.log
    })
}

proptest! {
    #![proptest_config(config(1024))]

    /// Replay the reference run up to one of its packets, then deliver a damaged
    /// copy of it (instead of, or besides, the original) and carry on: no panic,
    /// and the engine's own packets stay well-formed.
    #[test]
    fn mutated_captured_packets_never_panic(
        v6 in any::<bool>(),
        which in any::<Index>(),
        replace in any::<bool>(),
        m in mutation(),
    ) {
        let f = family(v6);
        let corpus = corpus(f);
        let k = which.index(corpus.len());
        let Some(bad) = apply(&corpus[k].bytes, &m) else {
            return Ok(());
        };
        let mut sim = reference_sim(f);
        sim.run_until(Duration::from_secs(120), |s| s.log.len() > k);
        prop_assert!(sim.log[k].bytes == corpus[k].bytes, "the reference run is not deterministic");
        if replace {
            let order = sim.log[k].order;
            sim.flight.retain(|fl| Some(fl.order) != order);
        }
        let rejected = feed(&mut sim, 1 - corpus[k].from, &bad);
        run_on(&mut sim);
        if rejected {
            // A rejected packet changes nothing; one that replaced the original
            // is just a lost packet, which TCP recovers from.
            assert_clean_finish(&sim)?;
        }
    }
}

// ---- 3. Segment soup -------------------------------------------------------------

/// May `side`'s RST-caused close be the TIME-WAIT race? A side still in CLOSING
/// or LAST-ACK retransmits its FIN with an RTO backed off beyond 2MSL; the peer
/// already left TIME-WAIT and answers with RST (RFC 9293 §3.10.7.1), which
/// closes it (§3.10.7.4). That is TCP working as specified, not a lost stream;
/// it takes about nine failed round trips in a row, so it is only tolerated
/// above 10 % loss (about once in 10^4 runs at 20 %).
fn reset_after_peer_time_wait(sim: &Sim, side: usize) -> bool {
    let reset_at = sim.transitions.iter().find(|(s, t)| {
        *s == side
            && t.to == State::Closed
            && matches!(t.from, State::Closing | State::LastAck)
            && matches!(t.cause, finack_core::Cause::Segment(fl) if fl.rst())
    });
    let Some((_, reset)) = reset_at else {
        return false;
    };
    sim.transitions.iter().any(|(s, t)| {
        *s == 1 - side && t.from == State::TimeWait && t.to == State::Closed && t.time <= reset.time
    })
}

/// Two endpoints with data flowing over a link that drops, duplicates and
/// reorders packets; both send, half-close, read to the end and close.
fn segment_soup(
    f: Family,
    seed: u64,
    sizes: (usize, usize),
    impair: Impair,
    cfg: Config,
    read_rates: (Option<u64>, Option<u64>),
) -> Result<(), TestCaseError> {
    let mut sim = Sim::with_config(f, seed, cfg);
    sim.open(pattern(sizes.0, 0x11), pattern(sizes.1, 0x22));
    sim.app[CLIENT].read_rate = read_rates.0;
    sim.app[SERVER].read_rate = read_rates.1;
    // The handshake runs on a clean link; the soup starts once data can flow.
    prop_assert!(
        sim.run_until(Duration::from_secs(5), |s| s.app[SERVER].conn.is_some()),
        "no handshake: {}",
        sim.summary()
    );
    sim.impair = impair;
    let done = sim.run_until(Duration::from_secs(30 * 60), |s| s.finished());
    prop_assert!(
        done,
        "not finished after 30 virtual minutes: {}",
        sim.summary()
    );
    prop_assert!(
        sim.app[SERVER].received == sim.app[CLIENT].data,
        "client->server stream differs ({} of {} bytes): {}",
        sim.app[SERVER].received.len(),
        sim.app[CLIENT].data.len(),
        sim.summary()
    );
    prop_assert!(
        sim.app[CLIENT].received == sim.app[SERVER].data,
        "server->client stream differs ({} of {} bytes): {}",
        sim.app[CLIENT].received.len(),
        sim.app[SERVER].data.len(),
        sim.summary()
    );
    for side in [CLIENT, SERVER] {
        let c = sim.app[side].conn.unwrap();
        prop_assert_eq!(sim.ep[side].state(c), State::Closed);
        let reason = sim.app[side].closed;
        let race = impair.loss_pm > 100
            && reason == Some(CloseReason::Reset)
            && reset_after_peer_time_wait(&sim, side);
        prop_assert!(
            reason == Some(CloseReason::Normal) || race,
            "side {} closed with {:?}: {}",
            side,
            reason,
            sim.summary()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// Loss up to 20 %, duplication up to 10 %, reordering by up to 50 ms of
    /// jitter, 0..200 KB each way, default (Linux) configuration: both streams
    /// arrive exactly, both ends reach CLOSED normally (the active closer through
    /// TIME-WAIT; above 10 % loss the TIME-WAIT race of `reset_after_peer_time_wait`
    /// is tolerated) within 30 virtual minutes, and the demultiplexing tables end
    /// empty.
    #[test]
    fn segment_soup_delivers_both_streams_and_closes(
        v6 in any::<bool>(),
        seed in any::<u64>(),
        c_len in 0usize..200_000,
        s_len in 0usize..200_000,
        loss_pm in 0u32..=200,
        dup_pm in 0u32..=100,
        jitter_ms in 0u64..=50,
    ) {
        let impair = Impair { loss_pm, dup_pm, jitter: Duration::from_millis(jitter_ms) };
        segment_soup(family(v6), seed, (c_len, s_len), impair, Config::linux(), (None, None))?;
    }

    /// The same without RFC 7323 timestamps (RTT from timed segments, Karn's
    /// rule; no PAWS).
    #[test]
    fn segment_soup_without_timestamps(
        v6 in any::<bool>(),
        seed in any::<u64>(),
        c_len in 0usize..200_000,
        s_len in 0usize..200_000,
        loss_pm in 0u32..=200,
        dup_pm in 0u32..=100,
        jitter_ms in 0u64..=50,
    ) {
        let impair = Impair { loss_pm, dup_pm, jitter: Duration::from_millis(jitter_ms) };
        let mut cfg = Config::linux();
        cfg.timestamps = false;
        segment_soup(family(v6), seed, (c_len, s_len), impair, cfg, (None, None))?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The soup with small buffers and applications that read slowly: zero
    /// windows, window probes and window updates under loss, duplication and
    /// reordering.
    #[test]
    fn segment_soup_slow_readers_small_buffers(
        v6 in any::<bool>(),
        seed in any::<u64>(),
        c_len in 0usize..100_000,
        s_len in 0usize..100_000,
        loss_pm in 0u32..=200,
        dup_pm in 0u32..=100,
        jitter_ms in 0u64..=50,
        recv_buffer in 1024usize..32_768,
        send_buffer in 1024usize..65_536,
        rates in (10_000u64..500_000, 10_000u64..500_000),
        timestamps in any::<bool>(),
    ) {
        let impair = Impair { loss_pm, dup_pm, jitter: Duration::from_millis(jitter_ms) };
        let mut cfg = Config::linux();
        cfg.recv_buffer = recv_buffer;
        cfg.send_buffer = send_buffer;
        cfg.timestamps = timestamps;
        segment_soup(family(v6), seed, (c_len, s_len), impair, cfg, (Some(rates.0), Some(rates.1)))?;
    }
}

/// Soups that failed on earlier revisions of the engine (found by the tests
/// above), kept as fixed cases.
#[test]
fn segment_soup_regressions() {
    let small = |recv_buffer, send_buffer, timestamps| {
        let mut cfg = Config::linux();
        cfg.recv_buffer = recv_buffer;
        cfg.send_buffer = send_buffer;
        cfg.timestamps = timestamps;
        cfg
    };
    let impair = |loss_pm, dup_pm, jitter_ms| Impair {
        loss_pm,
        dup_pm,
        jitter: Duration::from_millis(jitter_ms),
    };
    #[allow(clippy::type_complexity)]
    let cases: [(
        &str,
        u64,
        (usize, usize),
        Impair,
        Config,
        (Option<u64>, Option<u64>),
    ); 4] = [
        // TS.Recent was never updated after the handshake: RTT samples measured
        // the connection's age, the RTO grew to minutes, and a FIN retransmission
        // arrived after the peer's TIME-WAIT was over (RST instead of a close).
        (
            "TS.Recent, moderate loss",
            3_839_816_433_818_600_273,
            (182_449, 62_265),
            impair(63, 21, 36),
            Config::linux(),
            (None, None),
        ),
        (
            "TS.Recent, heavy loss",
            3_043_993_483_920_477_876,
            (127_425, 49_233),
            impair(159, 41, 6),
            Config::linux(),
            (None, None),
        ),
        // A passive open advertised 64 KB whatever its receive buffer (RCV.ADV
        // started at 0, so with an IRS >= 2^31 the "never shrink" rule kept a huge
        // right edge); then the sender stalled for good with less than an MSS of
        // usable window (no SWS override timeout).
        (
            "passive RCV.ADV, SWS stall",
            0,
            (65_521, 0),
            Impair::default(),
            small(1024, 1423, false),
            (Some(10_000), Some(10_000)),
        ),
        (
            "small buffers, slow readers, heavy loss",
            5_602_198_791_889_403_973,
            (88_329, 43_441),
            impair(188, 1, 25),
            small(17_155, 11_584, true),
            (Some(116_700), Some(10_000)),
        ),
    ];
    for (name, seed, sizes, imp, cfg, rates) in cases {
        if let Err(e) = segment_soup(Family::V4, seed, sizes, imp, cfg, rates) {
            panic!("{name}: {e}");
        }
    }
}

/// Found by CI's run of `segment_soup_slow_readers_small_buffers`: both sides
/// half-closed, the client's window shut and reopened, and the server (in
/// CLOSING, with data still unacknowledged) then sent nothing for 30 minutes.
#[test]
fn segment_soup_regression_closing_after_zero_window() {
    let mut cfg = Config::linux();
    cfg.recv_buffer = 24_704;
    cfg.send_buffer = 11_521;
    cfg.timestamps = false;
    let imp = Impair {
        loss_pm: 6,
        dup_pm: 35,
        jitter: Duration::from_millis(16),
    };
    if let Err(e) = segment_soup(
        Family::V6,
        13_381_565_818_251_405_344,
        (24_481, 35_105),
        imp,
        cfg,
        (Some(10_018), Some(10_000)),
    ) {
        panic!("{e}");
    }
}

// ---- 4. Blind injection ----------------------------------------------------------

/// One forged segment, sent to `victim` as if from its peer.
#[derive(Clone, Debug)]
struct Forged {
    /// Inject once this many packets have been sent.
    after: usize,
    to_server: bool,
    seq: (u8, u32),
    ack: (u8, u32),
    flags: u8,
    urgent: u16,
    /// 0: no payload; 1: old data (entirely before RCV.NXT); 2: far beyond the
    /// window.
    payload: (u8, Vec<u8>),
}

/// The victim's sequence space right now: RCV.NXT exactly (the peer's ISN, the
/// bytes received in order and the FIN; ACKs may be delayed, so the victim's
/// last ACK is not enough), the rest from the packets on the wire.
struct Live {
    local: SocketAddr,
    remote: SocketAddr,
    rcv_nxt: SeqNumber,
    snd_una: SeqNumber,
    snd_max: SeqNumber,
    peer_window: u16,
}

fn live(sim: &Sim, victim: usize) -> Option<Live> {
    let c = sim.app[victim].conn?;
    let (local, remote) = sim.ep[victim].addrs(c)?;
    let info = sim.ep[victim].info(c)?;
    let fin_received = matches!(
        info.state,
        State::CloseWait | State::Closing | State::LastAck
    );
    let mut irs = None;
    let mut snd_una = None;
    let mut snd_max: Option<SeqNumber> = None;
    for p in &sim.log {
        let (_, t) = wire::parse_tcp_packet(&p.bytes).unwrap();
        if t.flags.rst() {
            continue;
        }
        if p.from == victim {
            let end = t.seq + t.segment_len();
            snd_max = Some(snd_max.map_or(end, |m| m.max(end)));
        } else {
            if t.flags.syn() {
                irs = Some(t.seq);
            }
            if t.flags.ack() {
                snd_una = Some((t.ack, t.window));
            }
        }
    }
    let rcv_nxt = irs? + 1 + info.bytes_received as u32 + u32::from(fin_received);
    let (snd_una, peer_window) = snd_una?;
    Some(Live {
        local,
        remote,
        rcv_nxt,
        snd_una,
        snd_max: snd_max?,
        peer_window,
    })
}

/// What a forged segment may legitimately do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Effect {
    /// A RST exactly at RCV.NXT: RFC 5961 §3.2 accepts it, the connection resets.
    Reset,
    /// A FIN in the receive window may end the stream (at once or when the data
    /// before it arrives), as any in-window FIN does.
    MayEndStream,
    /// An urgent pointer in an acceptable segment: with Linux's out-of-band
    /// byte (`Config::urgent_oob`) the byte before it leaves the stream, as
    /// it does in Linux for a forged pointer too (tcp_check_urg()).
    MayTakeUrgentByte,
    /// Anything else: dropped, answered with a (challenge) ACK, or at most an
    /// early acknowledgment of data already in flight.
    Harmless,
}

/// Build the forged segment and say what it may do.
fn forge(sim: &Sim, victim: usize, f: &Forged) -> Option<(Vec<u8>, Effect)> {
    let l = live(sim, victim)?;
    let mut flags = TcpFlags::empty();
    for (bit, flag) in [
        (0x01, TcpFlags::SYN),
        (0x02, TcpFlags::ACK),
        (0x04, TcpFlags::RST),
        (0x08, TcpFlags::FIN),
        (0x10, TcpFlags::PSH),
        (0x20, TcpFlags::URG),
    ] {
        if f.flags & bit != 0 {
            flags |= flag;
        }
    }
    let (smode, sv) = f.seq;
    let mut seq = match smode % 6 {
        0 => l.rcv_nxt,
        1 => SeqNumber(l.rcv_nxt.0.wrapping_add(sv as i16 as i32 as u32)),
        2 => l.rcv_nxt + 1 + sv % 65_535,
        3 => l.rcv_nxt - 1 - sv % 100_000,
        4 => l.rcv_nxt + (1 << 31) + sv % 1000,
        _ => SeqNumber(sv),
    };
    let (amode, av) = f.ack;
    let ack = match amode % 5 {
        0 => l.snd_max,
        1 => SeqNumber(l.snd_una.0.wrapping_add(av as i16 as i32 as u32)),
        2 => l.snd_max + 1 + av % 100_000,
        3 => l.snd_una - 1 - av % (1 << 20),
        _ => SeqNumber(av),
    };
    let payload: &[u8] = match f.payload.0 % 3 {
        0 => &[],
        n => {
            let data = &f.payload.1;
            // Old: ends (FIN included) at least 2 before RCV.NXT. Far: 2^31 away.
            seq = if n == 1 {
                l.rcv_nxt - (data.len() as u32 + 2 + sv % 1000)
            } else {
                l.rcv_nxt + (1 << 31) + sv % 1000
            };
            data
        }
    };
    let packet = {
        let ip = wire::IpRepr {
            src: l.remote.ip(),
            dst: l.local.ip(),
            ttl: 64,
            tos: 0,
        };
        let tcp = wire::TcpRepr {
            src_port: l.remote.port(),
            dst_port: l.local.port(),
            seq,
            ack,
            flags,
            window: l.peer_window,
            urgent: f.urgent,
            options: TcpOptions::default(),
            payload,
        };
        let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
        let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
        buf.truncate(n);
        buf
    };
    let in_window = (seq - l.rcv_nxt) >= 0 && (seq - l.rcv_nxt) < (1 << 20);
    let effect = if flags.rst() && seq == l.rcv_nxt {
        Effect::Reset
    } else if flags.fin() && flags.ack() && !flags.rst() && !flags.syn() && in_window {
        Effect::MayEndStream
    } else if flags.urg() && flags.ack() && !flags.rst() && !flags.syn() && in_window {
        Effect::MayTakeUrgentByte
    } else {
        Effect::Harmless
    };
    Some((packet, effect))
}

fn forged() -> impl Strategy<Value = Forged> {
    (
        3usize..120,
        any::<bool>(),
        any::<(u8, u32)>(),
        any::<(u8, u32)>(),
        0u8..64,
        any::<u16>(),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..200)),
    )
        .prop_map(
            |(after, to_server, seq, ack, flags, urgent, payload)| Forged {
                after,
                to_server,
                seq,
                ack,
                flags,
                urgent,
                payload,
            },
        )
}

/// Run a connection (`c_len` / `s_len` bytes each way) and deliver the forgeries
/// on the way. `hold`: which applications keep their sending side open until the
/// last forgery is in. `established_only`: forge only against an ESTABLISHED
/// victim; otherwise against any synchronized state.
fn forged_run(
    v6: bool,
    (c_len, s_len): (usize, usize),
    mut forgeries: Vec<Forged>,
    hold: (bool, bool),
    established_only: bool,
) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(family(v6), 0);
    sim.open(pattern(c_len, 5), pattern(s_len, 6));
    sim.app[CLIENT].hold = hold.0;
    sim.app[SERVER].hold = hold.1;
    forgeries.sort_by_key(|f| f.after);
    let mut pending = forgeries.into_iter().peekable();
    let mut tainted = false;
    let mut injected = Vec::new();
    let limit = sim.now + Duration::from_secs(30 * 60);
    loop {
        while let Some(f) = pending.next_if(|f| sim.log.len() >= f.after) {
            let victim = if f.to_server { SERVER } else { CLIENT };
            let before = sim.state(victim);
            let wanted = if established_only {
                before == State::Established
            } else {
                // (TIME-WAIT keeps no counters to derive RCV.NXT from.)
                before.is_synchronized() && before != State::TimeWait
            };
            if !wanted {
                continue;
            }
            let Some((packet, effect)) = forge(&sim, victim, &f) else {
                continue;
            };
            // Once an earlier forgery may have ended one side, the other may
            // be reset by it in turn (its data meets a closed port).
            let tainted_before = tainted;
            tainted |= effect != Effect::Harmless;
            let r = sim.deliver(victim, &packet);
            prop_assert_eq!(r, Ok(()));
            injected.push((victim, before, flags_of(&packet), effect));
            match effect {
                Effect::Reset => prop_assert_eq!(
                    sim.app[victim].closed,
                    Some(CloseReason::Reset),
                    "an exact RST did not reset: {:?}\n{}",
                    injected,
                    sim.summary()
                ),
                // (In FIN-WAIT-1, CLOSING and LAST-ACK a forged but acceptable ACK
                // of our FIN moves the state on, as a real one would.)
                Effect::Harmless if before == State::Established && !tainted_before => {
                    prop_assert_eq!(
                        sim.state(victim),
                        State::Established,
                        "{:?}\n{}",
                        injected,
                        sim.summary()
                    )
                }
                _ => {}
            }
        }
        if pending.peek().is_none() {
            sim.app[CLIENT].hold = false;
            sim.app[SERVER].hold = false;
        }
        if sim.finished() {
            break;
        }
        if !sim.step(limit) {
            // Idle (everything delivered): the next forgery comes now.
            match pending.peek_mut() {
                Some(f) => f.after = 0,
                None => break,
            }
        }
    }
    if tainted && !sim.finished() {
        // The peer of a reset side may wait forever (FIN-WAIT-2 of a connection
        // the application still holds, say): the applications give up and close,
        // and then everything must drain.
        for side in [CLIENT, SERVER] {
            let app = &mut sim.app[side];
            if let (Some(c), false) = (app.conn, app.released) {
                app.released = true;
                sim.ep[side].close(sim.now, c).expect("close");
            }
        }
        sim.run_until(Duration::from_secs(30 * 60), |s| s.finished());
    }
    prop_assert!(
        sim.finished(),
        "not finished: injected {:?}\n{}",
        injected,
        sim.summary()
    );
    if !tainted {
        assert_clean_finish(&sim)
            .map_err(|e| TestCaseError::fail(format!("injected {injected:?}: {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Forged segments (valid checksums, any mix of SYN/ACK/RST/FIN/PSH/URG,
    /// sequence and acknowledgment numbers near and far from the live ones) hit an
    /// ESTABLISHED connection while the real peer keeps going. A RST exactly at
    /// RCV.NXT resets it at once; anything else leaves it ESTABLISHED. Unless one
    /// of them was such a RST or an in-window FIN, both streams arrive intact and
    /// both ends close normally within 30 virtual minutes; either way nothing
    /// panics and all is closed once the applications close.
    #[test]
    fn forged_segments_break_nothing_but_exact_rst(
        v6 in any::<bool>(),
        c_len in 0usize..60_000,
        s_len in 0usize..60_000,
        forgeries in prop::collection::vec(forged(), 1..8),
    ) {
        forged_run(v6, (c_len, s_len), forgeries, (true, true), true)?;
    }

    /// The same while the connection closes (one side, or both, half-close
    /// early): forgeries also reach FIN-WAIT-1/2, CLOSE-WAIT, CLOSING and
    /// LAST-ACK.
    #[test]
    fn forged_segments_during_close(
        v6 in any::<bool>(),
        c_len in 0usize..60_000,
        s_len in 0usize..60_000,
        forgeries in prop::collection::vec(forged(), 1..8),
        hold in prop_oneof![Just((false, false)), Just((true, false)), Just((false, true))],
    ) {
        forged_run(v6, (c_len, s_len), forgeries, hold, false)?;
    }
}
