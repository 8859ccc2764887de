//! A peer the test plays by hand against one endpoint, packet by packet,
//! with the IP ECN field and SACK blocks under its control.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use finack_core::wire::{self, Ecn, IpRepr, SackBlocks, SeqNumber, TcpFlags, TcpOptions, TcpRepr};
use finack_core::{Config, ConnId, Endpoint, Event, Instant, State};

pub const PEER_ISN: u32 = 5000;
pub const MSS: u16 = 1000;

/// One segment the engine sent.
#[derive(Clone, Debug)]
pub struct Out {
    pub ecn: Ecn,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: usize,
    pub window: u16,
    /// SACK blocks, relative to the peer's ISN.
    pub sack: Vec<(u32, u32)>,
}

/// The engine under test and the peer the test plays.
pub struct Rig {
    pub ep: Endpoint,
    pub now: Instant,
    pub us: SocketAddr,
    pub peer: SocketAddr,
    /// Everything the engine sent, in order.
    pub out: Vec<Out>,
    pub conn: Option<ConnId>,
    /// Our ISS, learned from our SYN or SYN,ACK.
    pub iss: u32,
    /// The peer's SYN offers SACK.
    pub sack_ok: bool,
}

impl Rig {
    pub fn new(cfg: Config) -> Rig {
        let mut ep = Endpoint::new(cfg, [7; 16]);
        let us: SocketAddr = "192.0.2.2:80".parse().unwrap();
        ep.add_address(us.ip());
        Rig {
            ep,
            now: Instant::from_secs(1),
            us,
            peer: "192.0.2.1:40000".parse().unwrap(),
            out: Vec::new(),
            conn: None,
            iss: 0,
            sack_ok: false,
        }
    }

    pub fn drain(&mut self) {
        let mut buf = [0u8; 2000];
        while let Some(n) = self.ep.poll_transmit(self.now, &mut buf) {
            let (ip, tcp) = wire::parse_tcp_packet(&buf[..n]).unwrap();
            if tcp.flags.syn() {
                self.iss = tcp.seq.0;
            }
            self.out.push(Out {
                ecn: ip.ecn(),
                flags: tcp.flags,
                seq: tcp.seq.0,
                ack: tcp.ack.0,
                len: tcp.payload.len(),
                window: tcp.window,
                sack: (tcp.options.sack_blocks.iter())
                    .map(|(l, r)| (l.0.wrapping_sub(PEER_ISN), r.0.wrapping_sub(PEER_ISN)))
                    .collect(),
            });
        }
        while let Some(ev) = self.ep.poll_event() {
            if let Event::Incoming(l) = ev {
                self.conn = self.ep.accept(l).ok();
            }
        }
    }

    /// What the engine sent since `from`.
    pub fn since(&self, from: usize) -> Vec<Out> {
        self.out[from..].to_vec()
    }

    /// The peer sends a segment with `ecn` in its IP header; `seq` and `ack`
    /// are relative to the peer's ISN and ours.
    pub fn send(
        &mut self,
        ecn: Ecn,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        payload: &[u8],
    ) -> Vec<Out> {
        self.send_sack(ecn, flags, seq, ack, payload, &[])
    }

    /// As `send`, with SACK blocks (relative to our ISS).
    pub fn send_sack(
        &mut self,
        ecn: Ecn,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        payload: &[u8],
        sack: &[(u32, u32)],
    ) -> Vec<Out> {
        let mut blocks = SackBlocks::default();
        for &(l, r) in sack {
            blocks.push(
                SeqNumber(self.iss.wrapping_add(l)),
                SeqNumber(self.iss.wrapping_add(r)),
            );
        }
        let ip = IpRepr {
            src: self.peer.ip(),
            dst: self.us.ip(),
            ttl: 64,
            tos: ecn.in_tos(0),
        };
        let tcp = TcpRepr {
            src_port: self.peer.port(),
            dst_port: self.us.port(),
            seq: SeqNumber(PEER_ISN.wrapping_add(seq)),
            ack: SeqNumber(self.iss.wrapping_add(ack)),
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: flags.syn().then_some(MSS),
                sack_permitted: flags.syn() && self.sack_ok,
                sack_blocks: blocks,
                ..TcpOptions::default()
            },
            payload,
        };
        let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
        let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
        let from = self.out.len();
        self.ep.handle_packet(self.now, &buf[..n]).unwrap();
        self.drain();
        self.since(from)
    }

    /// Let `d` pass, firing timers.
    pub fn wait(&mut self, d: Duration) -> Vec<Out> {
        let from = self.out.len();
        let end = self.now + d;
        while let Some(t) = self.ep.poll_timeout().filter(|&t| t <= end) {
            self.now = t.max(self.now);
            self.ep.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.since(from)
    }

    /// A passive open: the peer's SYN with `syn_flags` and `syn_ecn`, our
    /// SYN,ACK, the peer's ACK. Returns our SYN,ACK.
    pub fn accept(&mut self, syn_flags: TcpFlags, syn_ecn: Ecn) -> Out {
        self.ep.listen(self.us, 8).unwrap();
        let synack = self.send(syn_ecn, TcpFlags::SYN | syn_flags, 0, 0, &[]);
        assert_eq!(synack.len(), 1, "{synack:?}");
        self.now += Duration::from_millis(100);
        self.send(Ecn::NotEct, TcpFlags::ACK, 1, 1, &[]);
        assert!(self.conn.is_some(), "accepted");
        synack[0].clone()
    }

    /// An active open with our SYN answered by a SYN,ACK with `synack_flags`.
    /// Returns our SYN.
    pub fn connect(&mut self, synack_flags: TcpFlags) -> Out {
        let c = self.ep.connect(self.now, self.us, self.peer).unwrap();
        self.conn = Some(c);
        self.drain();
        let syn = self.out.last().unwrap().clone();
        self.now += Duration::from_millis(100);
        self.send(
            Ecn::NotEct,
            TcpFlags::SYN | TcpFlags::ACK | synack_flags,
            0,
            1,
            &[],
        );
        assert_eq!(self.ep.state(c), State::Established);
        syn
    }

    pub fn c(&self) -> ConnId {
        self.conn.unwrap()
    }

    pub fn write(&mut self, n: usize) -> Vec<Out> {
        let from = self.out.len();
        let c = self.c();
        assert_eq!(self.ep.send(self.now, c, &vec![1u8; n]).unwrap(), n);
        self.drain();
        self.since(from)
    }

    pub fn cwnd_ssthresh_state(&self) -> (u32, u32, u8) {
        let i = self.ep.info(self.c()).unwrap();
        (
            i.cwnd / u32::from(MSS),
            i.ssthresh / u32::from(MSS),
            i.ca_state,
        )
    }
}
