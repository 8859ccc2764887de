//! The attackers: a swarm of real (misbehaving) TCP clients on the
//! attacker's addresses, and forgers of packets it never sends through a
//! TCP stack (spoofed SYNs, blind in-window guesses).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{self, SeqNumber, TcpFlags, TcpOptions};
use finack_core::{ConnId, Error, Event, Instant};

use super::world::{attacker_ip, server_addr, Part, World};
use crate::rng::Rng;

/// How the swarm's connections misbehave.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Misdeed {
    /// Connect, then neither send nor close; a lost connection is replaced.
    Idle,
    /// Connect and send one byte of a request line that never ends every
    /// `every`; a lost connection is replaced.
    Slow { every: Duration },
    /// Connect and vanish (no ACK, no RST ever again): every other one
    /// first asks for a 64 KiB response.
    Vanish,
    /// Connect, ask, read the response, close after the server did: the
    /// server's TIME-WAITs pile up.
    ShortLived,
}

/// Real TCP connections from the attacker's addresses.
pub(super) struct Swarm {
    misdeed: Misdeed,
    /// Most connections held at once.
    target: usize,
    /// Most connections opened in all (`ShortLived`, `Vanish`).
    total: u64,
    opened: u64,
    /// New connections per second, and when the next may open.
    interval: Duration,
    next_open: Instant,
    /// No new connection after this.
    until: Instant,
    addrs: usize,
    open: HashMap<ConnId, ()>,
    /// Slow attackers' next byte.
    bytes: BinaryHeap<Reverse<(Instant, ConnId)>>,
    /// Connections that vanished so far.
    vanishing: u64,
    buf: Vec<u8>,
}

impl Swarm {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        misdeed: Misdeed,
        target: usize,
        total: u64,
        per_second: u32,
        from: Instant,
        until: Instant,
        addrs: usize,
    ) -> Swarm {
        Swarm {
            misdeed,
            target,
            total,
            opened: 0,
            interval: Duration::from_secs(1) / per_second.max(1),
            next_open: from,
            until,
            addrs,
            open: HashMap::new(),
            bytes: BinaryHeap::new(),
            vanishing: 0,
            buf: vec![0u8; 16_384],
        }
    }

    fn release(&mut self, w: &mut World, c: ConnId) {
        if self.open.remove(&c).is_some() {
            let _ = w.attacker.close(w.now, c);
        }
    }

    fn vanish(&mut self, w: &mut World, c: ConnId) {
        if let Some(tuple) = w.attacker.addrs(c) {
            w.vanish_after_flush.push(tuple);
        }
        // Its own end stays (a crashed host does not say goodbye); it no
        // longer counts towards the target.
        self.open.remove(&c);
    }
}

impl Part for Swarm {
    fn step(&mut self, w: &mut World) {
        while self.next_open <= w.now
            && w.now < self.until
            && self.open.len() < self.target
            && self.opened < self.total
        {
            let local = SocketAddr::new(attacker_ip(self.opened as usize % self.addrs), 0);
            self.opened += 1;
            self.next_open += self.interval;
            if let Ok(c) = w.attacker.connect(w.now, local, server_addr()) {
                self.open.insert(c, ());
            }
        }
        if self.next_open < w.now {
            // Never catch up on openings missed while at the target.
            self.next_open = w.now;
        }
        while let Some(ev) = w.attacker.poll_event() {
            match ev {
                Event::Connected(c) => match self.misdeed {
                    Misdeed::Idle => {}
                    Misdeed::Slow { .. } => self.bytes.push(Reverse((w.now, c))),
                    Misdeed::Vanish => {
                        self.vanishing += 1;
                        if self.vanishing % 2 == 0 {
                            let _ = w.attacker.send(w.now, c, b"GET /big\n");
                        }
                        self.vanish(w, c);
                    }
                    Misdeed::ShortLived => {
                        let _ = w.attacker.send(w.now, c, b"GET /\n");
                    }
                },
                Event::Readable(c) | Event::PeerClosed(c) => loop {
                    match w.attacker.recv(w.now, c, &mut self.buf) {
                        Ok(0) => {
                            self.release(w, c);
                            break;
                        }
                        Ok(_) => {}
                        Err(Error::WouldBlock) => break,
                        Err(_) => {
                            self.release(w, c);
                            break;
                        }
                    }
                },
                Event::Closed { conn, .. } => self.release(w, conn),
                _ => {}
            }
        }
        if let Misdeed::Slow { every } = self.misdeed {
            while let Some(&Reverse((at, c))) = self.bytes.peek() {
                if at > w.now {
                    break;
                }
                self.bytes.pop();
                if self.open.contains_key(&c) && w.attacker.send(w.now, c, b"G").is_ok() {
                    self.bytes.push(Reverse((at + every, c)));
                }
            }
        }
    }

    fn wake(&self) -> Option<Instant> {
        let open = (self.next_open < self.until
            && self.open.len() < self.target
            && self.opened < self.total)
            .then_some(self.next_open);
        let byte = self.bytes.peek().map(|r| r.0 .0);
        [open, byte].into_iter().flatten().min()
    }
}

/// A forged TCP segment to the server.
fn forge(
    src: SocketAddr,
    seq: SeqNumber,
    ack: SeqNumber,
    flags: TcpFlags,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let ip = wire::IpRepr {
        src: src.ip(),
        dst: server_addr().ip(),
        ttl: 64,
        tos: 0,
    };
    let tcp = wire::TcpRepr {
        src_port: src.port(),
        dst_port: server_addr().port(),
        seq,
        ack,
        flags,
        window: 502,
        urgent: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
    let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).expect("a forged segment fits");
    buf.truncate(n);
    buf
}

/// Spoofed SYNs at a fixed rate from random addresses of 203.0.113.0/24
/// (nobody answers there) and random ports, with the options a Linux SYN
/// carries.
pub(super) struct SynFlood {
    left: u64,
    interval: Duration,
    next: Instant,
    rng: Rng,
}

impl SynFlood {
    pub fn new(count: u64, per_second: u32, from: Instant, seed: u64) -> SynFlood {
        SynFlood {
            left: count,
            interval: Duration::from_secs(1) / per_second.max(1),
            next: from,
            rng: Rng::new(seed ^ 0x5f1d),
        }
    }
}

impl Part for SynFlood {
    fn step(&mut self, w: &mut World) {
        while self.left > 0 && self.next <= w.now {
            self.left -= 1;
            self.next += self.interval;
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(
                203,
                0,
                113,
                1 + self.rng.below(254) as u8,
            ));
            let port = 1024 + self.rng.below(64_512) as u16;
            let options = TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                timestamps: Some(wire::Timestamps {
                    tsval: self.rng.next_u64() as u32,
                    tsecr: 0,
                }),
                window_scale: Some(7),
                ..TcpOptions::default()
            };
            let syn = forge(
                SocketAddr::new(ip, port),
                SeqNumber(self.rng.next_u64() as u32),
                SeqNumber(0),
                TcpFlags::SYN,
                options,
                &[],
            );
            w.inject(syn);
        }
    }

    fn wake(&self) -> Option<Instant> {
        (self.left > 0).then_some(self.next)
    }
}

/// Blind in-window guesses (RFC 5961's threat): for every open connection
/// of a legitimate client, a RST, a SYN and a data segment whose sequence
/// number lies in the server's receive window (the attacker has narrowed it
/// down that far) but is otherwise random, the data segment with a random
/// acknowledgment number; then a storm of out-of-window ACKs meant to make
/// the server answer each one.
pub(super) struct BlindInject {
    /// Guess rounds left, and their spacing.
    rounds: u32,
    every: Duration,
    next: Instant,
    /// Storm segments left and their spacing.
    storm: u64,
    storm_every: Duration,
    storm_next: Instant,
    /// The connections under attack: (client, server) tuples.
    targets: Vec<(SocketAddr, SocketAddr)>,
    storm_pos: usize,
    rng: Rng,
    /// Guesses sent per kind: RST, SYN, data.
    pub guesses: [u64; 3],
}

impl BlindInject {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rounds: u32,
        from: Instant,
        every: Duration,
        storm: u64,
        storm_from: Instant,
        storm_per_second: u32,
        seed: u64,
    ) -> BlindInject {
        BlindInject {
            rounds,
            every,
            next: from,
            storm,
            storm_every: Duration::from_secs(1) / storm_per_second.max(1),
            storm_next: storm_from,
            targets: Vec::new(),
            storm_pos: 0,
            rng: Rng::new(seed ^ 0xb11d),
            guesses: [0; 3],
        }
    }

    fn refresh_targets(&mut self, w: &World) {
        if let Some(map) = &w.sniff {
            self.targets = map.keys().copied().collect();
            self.targets.sort();
        }
    }
}

impl Part for BlindInject {
    fn step(&mut self, w: &mut World) {
        while self.rounds > 0 && self.next <= w.now {
            self.rounds -= 1;
            self.next += self.every;
            self.refresh_targets(w);
            for &(client, _) in &self.targets.clone() {
                let Some(s) = w
                    .sniff
                    .as_ref()
                    .and_then(|m| m.get(&(client, server_addr())))
                else {
                    continue;
                };
                let s = *s;
                let in_window =
                    |rng: &mut Rng| s.rcv_nxt + rng.below(u64::from(s.window.max(1))) as u32;
                let rst = forge(
                    client,
                    in_window(&mut self.rng),
                    SeqNumber(0),
                    TcpFlags::RST,
                    TcpOptions::default(),
                    &[],
                );
                let syn = forge(
                    client,
                    in_window(&mut self.rng),
                    SeqNumber(0),
                    TcpFlags::SYN,
                    TcpOptions {
                        mss: Some(1460),
                        ..TcpOptions::default()
                    },
                    &[],
                );
                let data = forge(
                    client,
                    in_window(&mut self.rng),
                    SeqNumber(self.rng.next_u64() as u32),
                    TcpFlags::ACK | TcpFlags::PSH,
                    TcpOptions::default(),
                    b"FORGED",
                );
                for p in [rst, syn, data] {
                    w.inject(p);
                }
                for g in &mut self.guesses {
                    *g += 1;
                }
            }
        }
        while self.storm > 0 && self.storm_next <= w.now {
            self.storm -= 1;
            self.storm_next += self.storm_every;
            if self.targets.is_empty() {
                self.refresh_targets(w);
            }
            if self.targets.is_empty() {
                continue;
            }
            self.storm_pos = (self.storm_pos + 1) % self.targets.len();
            let client = self.targets[self.storm_pos].0;
            let Some(s) = w
                .sniff
                .as_ref()
                .and_then(|m| m.get(&(client, server_addr())))
            else {
                continue;
            };
            // Half the sequence space away: never in the window.
            let ack = forge(
                client,
                s.rcv_nxt + 0x8000_0000,
                s.snd_nxt,
                TcpFlags::ACK,
                TcpOptions::default(),
                &[],
            );
            w.inject(ack);
        }
    }

    fn wake(&self) -> Option<Instant> {
        let guess = (self.rounds > 0).then_some(self.next);
        let storm = (self.storm > 0).then_some(self.storm_next);
        [guess, storm].into_iter().flatten().min()
    }
}
