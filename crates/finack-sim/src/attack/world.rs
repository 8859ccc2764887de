//! The attack runs' network: a server, the legitimate clients and the
//! attacker, each a finack endpoint, joined by links of fixed latency;
//! packets addressed to nobody vanish, as on the Internet.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{self, SeqNumber};
use finack_core::{Config, Endpoint, Instant};

/// The server under attack.
pub(super) const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The port it serves.
pub(super) const PORT: u16 = 80;
/// How many addresses the legitimate clients come from.
pub(super) const LEGIT_ADDRS: usize = 200;

/// The address of legitimate client `i` (198.51.100.0/24).
pub(super) fn legit_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + (i % LEGIT_ADDRS) as u8))
}

/// Attacker address `i` (203.0.113.0/24, 1 to 254).
pub(super) fn attacker_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1 + (i % 254) as u8))
}

/// The server's listening address.
pub(super) fn server_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SERVER_IP), PORT)
}

/// Which endpoint a packet goes to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Host {
    Server,
    Legit,
    Attacker,
}

struct Packet {
    at: Instant,
    order: u64,
    to: Host,
    bytes: Vec<u8>,
}

impl PartialEq for Packet {
    fn eq(&self, o: &Packet) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Packet {}
impl PartialOrd for Packet {
    fn partial_cmp(&self, o: &Packet) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Packet {
    // The earliest first (BinaryHeap is a max-heap).
    fn cmp(&self, o: &Packet) -> Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

/// What the server last said on a connection with a legitimate client:
/// what an attacker who can see the traffic (but not inject on-path) knows.
#[derive(Copy, Clone, Debug)]
pub(super) struct Sniffed {
    /// The server's RCV.NXT (the ACK field of its last segment).
    pub rcv_nxt: SeqNumber,
    /// The server's receive window in bytes (scale assumed 7, as Linux
    /// announces for its default buffers).
    pub window: u32,
    /// The server's SND.NXT (the end of its last segment).
    pub snd_nxt: SeqNumber,
}

/// One part of a run that acts on the world: the server's application, the
/// legitimate clients, the attacker.
pub(super) trait Part {
    /// Handle events and do what is due at `w.now`.
    fn step(&mut self, w: &mut World);
    /// The next time this part wants to act without being woken by a packet
    /// or a timer.
    fn wake(&self) -> Option<Instant>;
}

/// The network and its three endpoints.
pub(super) struct World {
    pub now: Instant,
    pub server: Endpoint,
    pub legit: Endpoint,
    pub attacker: Endpoint,
    queue: BinaryHeap<Packet>,
    order: u64,
    latency: Duration,
    /// Packets the attacker sent (its endpoint's and the forged ones).
    pub attacker_segments: u64,
    /// Attacker 4-tuples (attacker, server) whose attacker end vanished:
    /// everything to or from them is lost.
    pub vanished: HashSet<(SocketAddr, SocketAddr)>,
    /// Tuples to add to `vanished` once this step's packets are out.
    pub vanish_after_flush: Vec<(SocketAddr, SocketAddr)>,
    /// Per (legitimate client, server) tuple, what the server last sent;
    /// kept only when the attack needs it.
    pub sniff: Option<HashMap<(SocketAddr, SocketAddr), Sniffed>>,
    /// The most the server held: memory in bytes, and connections
    /// (TIME-WAIT included).
    pub peak_memory: usize,
    pub peak_held: usize,
    next_sample: Instant,
    buf: Vec<u8>,
}

impl World {
    pub fn new(server: Config, seed: u64, attacker_addrs: usize) -> World {
        let key = |k: u64| {
            let mut r = crate::rng::Rng::new(seed ^ k);
            let mut s = [0u8; 16];
            s[..8].copy_from_slice(&r.next_u64().to_le_bytes());
            s[8..].copy_from_slice(&r.next_u64().to_le_bytes());
            s
        };
        let mut srv = Endpoint::new(server, key(1));
        srv.add_address(IpAddr::V4(SERVER_IP));
        let mut client_cfg = Config::linux();
        client_cfg.record_transitions = false;
        let mut legit = Endpoint::new(client_cfg.clone(), key(2));
        for i in 0..LEGIT_ADDRS {
            legit.add_address(legit_ip(i));
        }
        let mut attacker = Endpoint::new(client_cfg, key(3));
        for i in 0..attacker_addrs {
            attacker.add_address(attacker_ip(i));
        }
        World {
            now: Instant::ZERO,
            server: srv,
            legit,
            attacker,
            queue: BinaryHeap::new(),
            order: 0,
            latency: Duration::from_millis(5),
            attacker_segments: 0,
            vanished: HashSet::new(),
            vanish_after_flush: Vec::new(),
            sniff: None,
            peak_memory: 0,
            peak_held: 0,
            next_sample: Instant::ZERO,
            buf: vec![0u8; 2048],
        }
    }

    /// A packet forged by the attacker (it never passes its endpoint).
    pub fn inject(&mut self, bytes: Vec<u8>) {
        self.route(Host::Attacker, bytes);
    }

    fn route(&mut self, from: Host, bytes: Vec<u8>) {
        if from == Host::Attacker {
            self.attacker_segments += 1;
        }
        if bytes.len() < 20 || bytes[0] >> 4 != 4 {
            return;
        }
        let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
        let to = match dst.octets() {
            _ if dst == SERVER_IP => Host::Server,
            [198, 51, 100, _] => Host::Legit,
            [203, 0, 113, _] => Host::Attacker,
            _ => return,
        };
        let watch_attacker = !self.vanished.is_empty() && from != to;
        let watch_legit = self.sniff.is_some() && from == Host::Server && to == Host::Legit;
        if watch_attacker || watch_legit {
            if let Ok((ip, seg)) = wire::parse_tcp_packet(&bytes) {
                let src = SocketAddr::new(ip.src, seg.src_port);
                let dst = SocketAddr::new(ip.dst, seg.dst_port);
                let tuple = if from == Host::Attacker {
                    (src, dst)
                } else {
                    (dst, src)
                };
                if watch_attacker
                    && (from == Host::Attacker || to == Host::Attacker)
                    && self.vanished.contains(&tuple)
                {
                    return;
                }
                if watch_legit {
                    if let Some(map) = self.sniff.as_mut() {
                        map.insert(
                            (dst, src),
                            Sniffed {
                                rcv_nxt: seg.ack,
                                window: u32::from(seg.window) << 7,
                                snd_nxt: seg.seq + seg.payload.len() as u32,
                            },
                        );
                    }
                }
            }
        }
        self.order += 1;
        self.queue.push(Packet {
            at: self.now + self.latency,
            order: self.order,
            to,
            bytes,
        });
    }

    fn flush(&mut self) {
        for from in [Host::Server, Host::Legit, Host::Attacker] {
            loop {
                let now = self.now;
                let mut buf = std::mem::take(&mut self.buf);
                let ep = match from {
                    Host::Server => &mut self.server,
                    Host::Legit => &mut self.legit,
                    Host::Attacker => &mut self.attacker,
                };
                let n = ep.poll_transmit(now, &mut buf);
                let packet = n.map(|n| buf[..n].to_vec());
                self.buf = buf;
                match packet {
                    Some(p) => self.route(from, p),
                    None => break,
                }
            }
        }
        let gone = std::mem::take(&mut self.vanish_after_flush);
        self.vanished.extend(gone);
    }

    fn sample(&mut self) {
        let m = self.server.memory_usage();
        self.peak_memory = self.peak_memory.max(m.connection_bytes + m.table_bytes);
        self.peak_held = self.peak_held.max(self.server.connection_count());
    }

    /// Run every part until `end`, sampling the server every 100 ms.
    pub fn run(&mut self, end: Instant, parts: &mut [&mut dyn Part]) {
        loop {
            let mut next = self.next_sample;
            let mut consider = |t: Option<Instant>| {
                if let Some(t) = t {
                    next = next.min(t);
                }
            };
            consider(self.queue.peek().map(|p| p.at));
            consider(self.server.poll_timeout());
            consider(self.legit.poll_timeout());
            consider(self.attacker.poll_timeout());
            for p in parts.iter() {
                consider(p.wake());
            }
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            while self.queue.peek().is_some_and(|p| p.at <= now) {
                let Some(p) = self.queue.pop() else { break };
                let ep = match p.to {
                    Host::Server => &mut self.server,
                    Host::Legit => &mut self.legit,
                    Host::Attacker => &mut self.attacker,
                };
                // Packets for addresses nobody holds are refused: lost.
                let _ = ep.handle_packet(now, &p.bytes);
            }
            for ep in [&mut self.server, &mut self.legit, &mut self.attacker] {
                if ep.poll_timeout().is_some_and(|t| t <= now) {
                    ep.handle_timeout(now);
                }
            }
            for p in parts.iter_mut() {
                p.step(self);
            }
            self.flush();
            if now >= self.next_sample {
                self.sample();
                self.next_sample = now + Duration::from_millis(100);
            }
        }
        self.now = self.now.max(end);
    }
}
