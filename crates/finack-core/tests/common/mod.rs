//! A small deterministic two-host network for the engine's tests: virtual time, a
//! link with fixed latency, scripted drops, and a tiny application per side.

#![allow(dead_code)]

pub mod peer;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{self, SeqNumber, TcpFlags, TcpOptions};
use finack_core::{
    Config, ConnId, Endpoint, Event, Instant, ListenerId, Shutdown, Socket, State, Transition,
};

/// Address family of a test run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn client_ip(self) -> IpAddr {
        match self {
            Family::V4 => "192.0.2.1".parse().unwrap(),
            Family::V6 => "2001:db8::1".parse().unwrap(),
        }
    }
    pub fn server_ip(self) -> IpAddr {
        match self {
            Family::V4 => "192.0.2.2".parse().unwrap(),
            Family::V6 => "2001:db8::2".parse().unwrap(),
        }
    }
    pub fn server(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.server_ip(), port)
    }
    pub fn client(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.client_ip(), port)
    }
}

/// Which host.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One segment seen on the wire.
#[derive(Clone, Debug)]
pub struct Seg {
    pub time: Instant,
    pub from: Side,
    pub flags: TcpFlags,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub len: usize,
    pub window: u16,
    /// The urgent pointer field.
    pub urgent: u16,
    pub options: TcpOptions,
    pub raw_options: Vec<u8>,
    pub payload: Vec<u8>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Dropped by the network instead of delivered.
    pub dropped: bool,
    /// IPv4 TOS / IPv6 Traffic Class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
}

impl Seg {
    fn parse(time: Instant, from: Side, bytes: &[u8]) -> Seg {
        let (ip, tcp) = wire::parse_tcp_packet(bytes).expect("engine emitted a valid packet");
        let ip_hdr = match ip.src {
            IpAddr::V4(_) => (bytes[0] & 0x0f) as usize * 4,
            IpAddr::V6(_) => 40,
        };
        let tcp_hdr = ((bytes[ip_hdr + 12] >> 4) as usize) * 4;
        Seg {
            time,
            from,
            flags: tcp.flags,
            seq: tcp.seq,
            ack: tcp.ack,
            len: tcp.payload.len(),
            window: tcp.window,
            urgent: tcp.urgent,
            options: tcp.options,
            raw_options: bytes[ip_hdr + 20..ip_hdr + tcp_hdr].to_vec(),
            payload: tcp.payload.to_vec(),
            src: SocketAddr::new(ip.src, tcp.src_port),
            dst: SocketAddr::new(ip.dst, tcp.dst_port),
            dropped: false,
            tos: ip.tos,
            ttl: ip.ttl,
        }
    }

    pub fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

/// What a side's application does, evaluated after every event.
#[derive(Default)]
pub struct App {
    pub listener: Option<ListenerId>,
    pub conn: Option<ConnId>,
    /// Bytes still to write.
    pub to_send: VecDeque<u8>,
    pub received: Vec<u8>,
    /// Read incoming data as it arrives.
    pub read: bool,
    /// When all of `to_send` is queued: shut down writing (`Some(false)`) or close
    /// (`Some(true)`).
    pub close_when_sent: Option<bool>,
    /// Close as soon as the peer's FIN is seen (answers FIN with FIN+ACK).
    pub close_on_peer_fin: bool,
    pub eof: bool,
    pub events: Vec<Event>,
    done_closing: bool,
}

/// Predicate deciding whether the network drops a segment.
pub type DropFn = Box<dyn FnMut(&Seg) -> bool>;

/// Two endpoints joined by a link.
pub struct Net {
    pub family: Family,
    pub client: Endpoint,
    pub server: Endpoint,
    pub capp: App,
    pub sapp: App,
    pub now: Instant,
    pub latency: Duration,
    in_flight: Vec<(Instant, u64, Side, Vec<u8>)>,
    seq_no: u64,
    pub log: Vec<Seg>,
    pub drop: Option<DropFn>,
    /// Predicate deciding whether the network marks a segment it carries
    /// Congestion Experienced (RFC 3168: only an ECT packet is marked).
    pub mark_ce: Option<DropFn>,
    pub transitions: Vec<Transition>,
    /// Per-side record of (socket, state) after each transition.
    pub client_states: Vec<State>,
    pub server_states: Vec<State>,
    /// Above 1: the link segments packets itself (TSO), each side asks
    /// for packets of up to this many segments
    /// (`Endpoint::poll_transmit_segs`), which the link cuts as Linux's
    /// tcp_gso_segment() does before anything else sees them.
    pub tso: u16,
    /// Packets of several segments the endpoints formed (with `tso`), and
    /// the segments they held.
    pub super_segments: usize,
    pub super_segment_segs: usize,
}

impl Net {
    pub fn new(family: Family) -> Net {
        Net::with_configs(family, Config::linux(), Config::linux())
    }

    pub fn with_configs(family: Family, ccfg: Config, scfg: Config) -> Net {
        let mut client = Endpoint::new(ccfg, [1; 16]);
        let mut server = Endpoint::new(scfg, [2; 16]);
        client.add_address(family.client_ip());
        server.add_address(family.server_ip());
        Net {
            family,
            client,
            server,
            capp: App::default(),
            sapp: App::default(),
            now: Instant::from_secs(1),
            latency: Duration::from_millis(10),
            in_flight: Vec::new(),
            seq_no: 0,
            log: Vec::new(),
            drop: None,
            mark_ce: None,
            transitions: Vec::new(),
            client_states: Vec::new(),
            server_states: Vec::new(),
            tso: 0,
            super_segments: 0,
            super_segment_segs: 0,
        }
    }

    pub fn ep(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    pub fn app(&mut self, side: Side) -> &mut App {
        match side {
            Side::Client => &mut self.capp,
            Side::Server => &mut self.sapp,
        }
    }

    /// Server listens on port 80; client connects to it.
    pub fn open(&mut self) -> ConnId {
        let l = self.server.listen(self.family.server(80), 16).unwrap();
        self.sapp.listener = Some(l);
        self.sapp.read = true;
        self.capp.read = true;
        let c = self
            .client
            .connect(self.now, self.family.client(0), self.family.server(80))
            .unwrap();
        self.capp.conn = Some(c);
        c
    }

    /// Open and run until both sides are ESTABLISHED.
    pub fn established(&mut self) -> (ConnId, ConnId) {
        let c = self.open();
        self.run_until(Duration::from_secs(5), |n| n.sapp.conn.is_some());
        let s = self.sapp.conn.unwrap();
        assert_eq!(self.client.state(c), State::Established);
        assert_eq!(self.server.state(s), State::Established);
        (c, s)
    }

    fn collect_transitions(&mut self) {
        for side in [Side::Client, Side::Server] {
            let ts = self.ep(side).take_transitions();
            for t in ts {
                let states = match side {
                    Side::Client => &mut self.client_states,
                    Side::Server => &mut self.server_states,
                };
                if let Socket::Conn(_) = t.socket {
                    if states.last() != Some(&t.from) {
                        states.push(t.from);
                    }
                    states.push(t.to);
                }
                self.transitions.push(t);
            }
        }
    }

    /// Let one side's application react to its events.
    fn run_app(&mut self, side: Side) {
        let now = self.now;
        let (ep, app) = match side {
            Side::Client => (&mut self.client, &mut self.capp),
            Side::Server => (&mut self.server, &mut self.sapp),
        };
        while let Some(ev) = ep.poll_event() {
            app.events.push(ev);
            if let (Event::Incoming(l), None) = (ev, app.conn) {
                if let Ok(c) = ep.accept(l) {
                    app.conn = Some(c);
                }
            }
            if let (Event::PeerClosed(c), true) = (ev, app.close_on_peer_fin) {
                if Some(c) == app.conn && !app.done_closing {
                    app.done_closing = true;
                    let _ = ep.close(now, c);
                }
            }
        }
        let _ = now;
        let Some(c) = app.conn else { return };
        if app.read && !app.eof {
            let mut buf = [0u8; 65536];
            loop {
                match ep.recv(now, c, &mut buf) {
                    Ok(0) => {
                        app.eof = true;
                        break;
                    }
                    Ok(n) => app.received.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        while !app.to_send.is_empty() {
            let (a, _) = app.to_send.as_slices();
            match ep.send(now, c, a) {
                Ok(n) if n > 0 => {
                    app.to_send.drain(..n);
                }
                _ => break,
            }
        }
        if app.to_send.is_empty() && !app.done_closing {
            if let Some(full) = app.close_when_sent {
                app.done_closing = true;
                if full {
                    ep.close(now, c).unwrap();
                } else {
                    ep.shutdown(now, c, Shutdown::Write).unwrap();
                }
            }
        }
    }

    /// Move every packet the endpoints want to send onto the link.
    pub fn flush(&mut self) {
        let mut buf = vec![0u8; 65_536];
        for side in [Side::Client, Side::Server] {
            self.run_app(side);
            loop {
                let now = self.now;
                let tso = self.tso.max(1);
                let Some((n, seg_size)) = self.ep(side).poll_transmit_segs(now, &mut buf, tso)
                else {
                    break;
                };
                let packets = if seg_size == 0 {
                    vec![buf[..n].to_vec()]
                } else {
                    let segs = gso_cut(&buf[..n], usize::from(seg_size));
                    self.super_segments += 1;
                    self.super_segment_segs += segs.len();
                    segs
                };
                for mut pkt in packets {
                    let mut seg = Seg::parse(now, side, &pkt);
                    if let Some(d) = self.drop.as_mut() {
                        seg.dropped = d(&seg);
                    }
                    if seg.tos & 3 != 0 && self.mark_ce.as_mut().is_some_and(|m| m(&seg)) {
                        mark_ce(&mut pkt);
                    }
                    if !seg.dropped {
                        self.seq_no += 1;
                        self.in_flight
                            .push((now + self.latency, self.seq_no, side, pkt));
                    }
                    self.log.push(seg);
                }
            }
        }
        self.collect_transitions();
    }

    /// Advance to the next thing that happens (delivery or timer). False when
    /// nothing is scheduled at or before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let next_pkt = self.in_flight.iter().map(|p| (p.0, p.1)).min();
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let next = match (next_pkt.map(|p| p.0), next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return false,
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        // Deliver due packets in send order.
        let mut due: Vec<_> = Vec::new();
        self.in_flight.retain(|p| {
            if p.0 <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| (p.0, p.1));
        for (_, _, from, bytes) in due {
            let to = from.other();
            self.ep(to)
                .handle_packet(now, &bytes)
                .expect("valid packet");
            self.run_app(to);
            self.flush();
        }
        for side in [Side::Client, Side::Server] {
            if self.ep(side).poll_timeout().is_some_and(|t| t <= now) {
                self.ep(side).handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Run until `cond` holds or `max` of virtual time passes. Returns `cond`'s
    /// final value.
    pub fn run_until(&mut self, max: Duration, mut cond: impl FnMut(&mut Net) -> bool) -> bool {
        let limit = self.now + max;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(limit) {
                self.flush();
                return cond(self);
            }
        }
    }

    /// Run for `d` of virtual time (or until nothing is left to do).
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = self.now.max(limit);
        self.flush();
    }

    /// Run until nothing is scheduled any more (every timer done), bounded.
    pub fn run_to_quiet(&mut self) {
        self.run_for(Duration::from_secs(3600));
    }

    /// Deliver a hand-made segment to `to` as if it came from the other side.
    #[allow(clippy::too_many_arguments)]
    pub fn inject(
        &mut self,
        to: Side,
        src: SocketAddr,
        dst: SocketAddr,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        options: TcpOptions,
        payload: &[u8],
    ) {
        let bytes = craft(src, dst, seq, ack, flags, 65535, options, payload);
        let now = self.now;
        self.ep(to)
            .handle_packet(now, &bytes)
            .expect("valid crafted packet");
        self.run_app(to);
        self.flush();
    }

    /// Segments sent by `side` (delivered or not), in order.
    pub fn sent_by(&self, side: Side) -> Vec<&Seg> {
        self.log.iter().filter(|s| s.from == side).collect()
    }

    /// A compact trace like "C>S SYN seq=.. ack=.." for failure messages.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        for seg in &self.log {
            s.push_str(&format!(
                "{:?} {:?} {} seq={} ack={} len={}{}\n",
                seg.time,
                seg.from,
                seg.flags,
                seg.seq,
                seg.ack,
                seg.len,
                if seg.dropped { " DROPPED" } else { "" }
            ));
        }
        s
    }
}

/// Set an ECT packet's ECN field to CE (3), as a congested router does.
pub fn mark_ce(pkt: &mut [u8]) {
    if pkt[0] >> 4 == 4 {
        pkt[1] |= 3;
        pkt[10..12].fill(0);
        let c = wire::checksum::checksum(&pkt[..usize::from(pkt[0] & 0x0f) * 4]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        // The traffic class straddles bytes 0 and 1; ECN is its low 2 bits.
        pkt[1] |= 0x30;
    }
}

/// Cut a packet of several segments of `size` payload bytes into them, as
/// Linux's tcp_gso_segment() does: each with the sequence number advanced,
/// PSH and FIN only on the last, CWR only on the first, lengths and
/// checksums its own.
pub fn gso_cut(pkt: &[u8], size: usize) -> Vec<Vec<u8>> {
    let (ip, tcp) = wire::parse_tcp_packet(pkt).expect("a valid packet of several segments");
    assert!(tcp.payload.len() > size, "more than one segment");
    let chunks: Vec<&[u8]> = tcp.payload.chunks(size).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut flags = tcp.flags;
            if i != last {
                flags = flags.difference(TcpFlags::PSH | TcpFlags::FIN);
            }
            if i != 0 {
                flags = flags.difference(TcpFlags::CWR);
            }
            let seg = wire::TcpRepr {
                seq: tcp.seq + (i * size) as u32,
                flags,
                payload: chunk,
                ..tcp
            };
            let mut out = vec![0u8; 100 + chunk.len()];
            let n = wire::emit_tcp_packet(&ip, &seg, &mut out).expect("a segment fits");
            out.truncate(n);
            out
        })
        .collect()
}

/// Build an IP packet carrying one TCP segment.
#[allow(clippy::too_many_arguments)]
pub fn craft(
    src: SocketAddr,
    dst: SocketAddr,
    seq: SeqNumber,
    ack: SeqNumber,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let ip = wire::IpRepr {
        src: src.ip(),
        dst: dst.ip(),
        ttl: 64,
        tos: 0,
    };
    let tcp = wire::TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window,
        urgent: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
    let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Deterministic test data.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8 ^ salt)
        .collect()
}

/// Collapse repeated states: the sequence of distinct states a side went through.
pub fn states(seq: &[State]) -> Vec<State> {
    let mut out: Vec<State> = Vec::new();
    for s in seq {
        if out.last() != Some(s) {
            out.push(*s);
        }
    }
    out
}

/// Generate an IPv4 and an IPv6 test from one body.
#[macro_export]
macro_rules! dual {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn ipv4() {
                ($body)(Family::V4);
            }
            #[test]
            fn ipv6() {
                ($body)(Family::V6);
            }
        }
    };
}
