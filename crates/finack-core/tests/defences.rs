//! A server's defences beyond its backlog (issue 15): per-source limits on
//! half-open and established connections, the idle timeout, the TIME-WAIT
//! cap (`tcp_max_tw_buckets`), and the counters under Linux's names.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use finack_core::wire::{self, SeqNumber, TcpFlags, TcpOptions};
use finack_core::{
    Cause, CloseReason, Config, ConnId, Endpoint, Event, Instant, ListenerId, ListenerLimits,
    State, TimerKind,
};

const SERVER: &str = "192.0.2.1";
const CLIENT: &str = "198.51.100.7";
const OTHER: &str = "198.51.100.8";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A client and a server endpoint joined by a wire without delay.
struct Pair {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    listener: ListenerId,
    /// Connections the server application accepted.
    accepted: Vec<ConnId>,
    /// The last packet the server sent.
    last_from_server: Vec<u8>,
}

impl Pair {
    fn new(ccfg: Config, scfg: Config, limits: Option<ListenerLimits>) -> Pair {
        let mut client = Endpoint::new(ccfg, [1; 16]);
        client.add_address(ip(CLIENT));
        client.add_address(ip(OTHER));
        let mut server = Endpoint::new(scfg, [2; 16]);
        server.add_address(ip(SERVER));
        let listener = server.listen(SocketAddr::new(ip(SERVER), 80), 64).unwrap();
        if let Some(limits) = limits {
            server.set_listener_limits(listener, limits).unwrap();
        }
        Pair {
            client,
            server,
            now: Instant::from_secs(1),
            listener,
            accepted: Vec::new(),
            last_from_server: Vec::new(),
        }
    }

    /// Deliver packets both ways until neither side has more to send; the
    /// server application accepts what is ready.
    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            let mut moved = false;
            while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
                let _ = self.server.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = self.server.poll_transmit(self.now, &mut buf) {
                self.last_from_server = buf[..n].to_vec();
                let _ = self.client.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            while let Ok(c) = self.server.accept(self.listener) {
                self.accepted.push(c);
            }
            if !moved {
                break;
            }
        }
    }

    /// Let `d` of virtual time pass, running every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.pump();
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    fn connect_from(&mut self, addr: &str) -> ConnId {
        let c = self
            .client
            .connect(
                self.now,
                SocketAddr::new(ip(addr), 0),
                SocketAddr::new(ip(SERVER), 80),
            )
            .unwrap();
        self.pump();
        c
    }
}

/// A SYN from `src` (no reply will ever come from there).
fn syn(src: SocketAddr, isn: u32) -> Vec<u8> {
    segment(src, SeqNumber(isn), SeqNumber(0), TcpFlags::SYN, &[])
}

/// A segment from `src` to the server's port 80.
fn segment(
    src: SocketAddr,
    seq: SeqNumber,
    ack: SeqNumber,
    flags: TcpFlags,
    data: &[u8],
) -> Vec<u8> {
    let ip = wire::IpRepr {
        src: src.ip(),
        dst: ip(SERVER),
        ttl: 64,
        tos: 0,
    };
    let tcp = wire::TcpRepr {
        src_port: src.port(),
        dst_port: 80,
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: flags.syn().then_some(1460),
            ..TcpOptions::default()
        },
        payload: data,
    };
    let mut buf = vec![0u8; wire::tcp_packet_len(&ip, &tcp)];
    let n = wire::emit_tcp_packet(&ip, &tcp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn counter(ep: &Endpoint, name: &str) -> u64 {
    ep.stats()
        .linux_counters()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

#[test]
fn half_open_connections_per_source_are_limited() {
    let limits = ListenerLimits {
        syn_received_per_source: Some(3),
        ..ListenerLimits::default()
    };
    let mut p = Pair::new(Config::linux(), Config::linux(), Some(limits));
    for port in 1000..1010u16 {
        let pkt = syn(SocketAddr::new(ip(CLIENT), port), 7 * u32::from(port));
        p.server.handle_packet(p.now, &pkt).unwrap();
    }
    let half_open = |ep: &Endpoint| {
        ep.count_by_state()
            .iter()
            .find(|(s, _)| *s == State::SynReceived)
            .unwrap()
            .1
    };
    assert_eq!(half_open(&p.server), 3);
    assert_eq!(p.server.stats().per_source_drops, 7);
    assert_eq!(counter(&p.server, "ListenDrops"), 7);
    assert_eq!(
        p.server.listener_source_counts(p.listener, ip(CLIENT)),
        (3, 0)
    );
    // Another address is not held back by the first one's half-open connections.
    let pkt = syn(SocketAddr::new(ip(OTHER), 2000), 99);
    p.server.handle_packet(p.now, &pkt).unwrap();
    assert_eq!(half_open(&p.server), 4);
    // Once the unanswered SYN,ACKs give up (tcp_synack_retries), the count
    // is back to zero and the address may open again.
    p.advance(Duration::from_secs(200));
    assert_eq!(half_open(&p.server), 0);
    assert_eq!(
        p.server.listener_source_counts(p.listener, ip(CLIENT)),
        (0, 0)
    );
    let pkt = syn(SocketAddr::new(ip(CLIENT), 3000), 5);
    p.server.handle_packet(p.now, &pkt).unwrap();
    assert_eq!(half_open(&p.server), 1);
    assert_eq!(p.server.stats().per_source_drops, 7);
}

#[test]
fn connections_per_source_are_limited_until_they_end() {
    let limits = ListenerLimits {
        established_per_source: Some(3),
        ..ListenerLimits::default()
    };
    let mut p = Pair::new(Config::linux(), Config::linux(), Some(limits));
    let conns: Vec<ConnId> = (0..5).map(|_| p.connect_from(CLIENT)).collect();
    let states: Vec<State> = conns.iter().map(|&c| p.client.state(c)).collect();
    assert_eq!(
        states,
        [
            State::Established,
            State::Established,
            State::Established,
            State::SynSent,
            State::SynSent
        ]
    );
    assert_eq!(p.server.stats().per_source_drops, 2);
    assert_eq!(
        p.server.listener_source_counts(p.listener, ip(CLIENT)),
        (0, 3)
    );
    // The limit is per address: a second address connects at once.
    let other = p.connect_from(OTHER);
    assert_eq!(p.client.state(other), State::Established);
    // The first connection ends (the client closes, the server answers with
    // its own close): a slot is free, and the next SYN retransmission of a
    // waiting connection gets in.
    let now = p.now;
    p.client.close(now, conns[0]).unwrap();
    p.pump();
    let s0 = p.accepted[0];
    p.server.close(now, s0).unwrap();
    p.pump();
    assert_eq!(p.server.state(s0), State::Closed);
    assert_eq!(
        p.server.listener_source_counts(p.listener, ip(CLIENT)),
        (0, 2)
    );
    p.advance(Duration::from_secs(4));
    let established = conns[3..]
        .iter()
        .filter(|&&c| p.client.state(c) == State::Established)
        .count();
    assert_eq!(established, 1);
    assert_eq!(
        p.server.listener_source_counts(p.listener, ip(CLIENT)),
        (0, 3)
    );
}

#[test]
fn idle_timeout_resets_a_peer_that_never_sends_but_spares_one_that_does() {
    let limits = ListenerLimits {
        idle_timeout: Some(Duration::from_secs(5)),
        ..ListenerLimits::default()
    };
    let mut p = Pair::new(Config::linux(), Config::linux(), Some(limits));
    let idle = p.connect_from(CLIENT);
    let chatty = p.connect_from(OTHER);
    let (s_idle, s_chatty) = (p.accepted[0], p.accepted[1]);
    for _ in 0..8 {
        let now = p.now;
        p.client.send(now, chatty, b"x").unwrap();
        p.advance(Duration::from_secs(3));
    }
    // 24 s passed: the silent one was reset after 5, the other lives on.
    assert_eq!(p.client.state(idle), State::Closed);
    assert_eq!(p.client.close_reason(idle), Some(CloseReason::Reset));
    assert_eq!(p.server.close_reason(s_idle), Some(CloseReason::TimedOut));
    assert_eq!(p.client.state(chatty), State::Established);
    assert_eq!(p.server.state(s_chatty), State::Established);
    assert_eq!(p.server.stats().idle_timeouts, 1);
    assert_eq!(counter(&p.server, "finackIdleTimeouts"), 1);
    let t = p
        .server
        .take_transitions()
        .into_iter()
        .find(|t| t.to == State::Closed && t.from == State::Established)
        .expect("the idle connection's transition");
    assert_eq!(t.cause, Cause::Timer(TimerKind::Idle));
    // It went when 5 s had passed since the handshake's last segment.
    assert!(t.time >= Instant::from_secs(6) && t.time < Instant::from_secs(7));
    // Once the chatty client stops, its connection goes too.
    p.advance(Duration::from_secs(10));
    assert_eq!(p.server.state(s_chatty), State::Closed);
    assert_eq!(p.server.stats().idle_timeouts, 2);
}

#[test]
fn idle_timeout_is_off_by_default_and_settable_per_connection() {
    let mut p = Pair::new(Config::linux(), Config::linux(), None);
    let c = p.connect_from(CLIENT);
    p.advance(Duration::from_secs(600));
    assert_eq!(p.client.state(c), State::Established);
    // The client side asks for its own idle timeout: it resets the server.
    p.client
        .set_idle_timeout(c, Some(Duration::from_millis(1500)))
        .unwrap();
    p.advance(Duration::from_secs(3));
    assert_eq!(p.client.state(c), State::Closed);
    assert_eq!(p.server.state(p.accepted[0]), State::Closed);
    assert_eq!(
        p.server.close_reason(p.accepted[0]),
        Some(CloseReason::Reset)
    );
}

#[test]
fn time_wait_cap_closes_the_overflow_at_once_and_still_acks_the_fin() {
    // Linux tcp_time_wait(): TIME-WAIT and an orphan's FIN-WAIT-2 each take
    // one of tcp_max_tw_buckets; without one the connection is closed at
    // once (TCPTimeWaitOverflow).
    let mut ccfg = Config::linux();
    ccfg.max_time_wait = 2;
    let mut p = Pair::new(ccfg, Config::linux(), None);
    let mut closed_events = 0;
    for i in 0..4 {
        let c = p.connect_from(CLIENT);
        let s = p.accepted[i];
        let now = p.now;
        // The client closes first and so ends in TIME-WAIT; the third only
        // shuts its sending side, so it waits in FIN-WAIT-2 without a bucket.
        if i == 2 {
            p.client
                .shutdown(now, c, finack_core::Shutdown::Write)
                .unwrap();
        } else {
            p.client.close(now, c).unwrap();
        }
        p.pump();
        p.server.close(now, s).unwrap();
        p.pump();
        // The server's side ends either way: with the final ACK (the third
        // overflows TIME-WAIT but still acknowledges the FIN), or with the
        // reset its FIN met once the fourth client's orphan found no bucket
        // for its FIN-WAIT-2 and was gone.
        assert_eq!(p.server.state(s), State::Closed, "connection {i}");
        while let Some(e) = p.client.poll_event() {
            if matches!(e, Event::Closed { conn, reason: CloseReason::Normal } if conn == c) {
                closed_events += 1;
            }
        }
    }
    assert_eq!(p.server.stats().resets_received, 1);
    let tw = p
        .client
        .count_by_state()
        .iter()
        .find(|(s, _)| *s == State::TimeWait)
        .unwrap()
        .1;
    assert_eq!(tw, 2);
    assert_eq!(p.client.stats().time_wait_overflow, 2);
    assert_eq!(counter(&p.client, "TCPTimeWaitOverflow"), 2);
    assert_eq!(p.client.stats().time_wait_entered, 2);
    // The two that overflowed reported their close at once.
    assert_eq!(closed_events, 2);
    // The transition record goes from FIN-WAIT-2 straight to CLOSED: for
    // the orphan, right after it entered FIN-WAIT-2 from FIN-WAIT-1.
    let transitions = p.client.take_transitions();
    let overflowed = transitions
        .iter()
        .filter(|t| t.from == State::FinWait2 && t.to == State::Closed)
        .count();
    assert_eq!(overflowed, 2);
    let into_fw2 = transitions
        .iter()
        .filter(|t| t.from == State::FinWait1 && t.to == State::FinWait2)
        .count();
    assert_eq!(into_fw2, 4);
}

#[test]
fn open_counters_and_abort_on_close_use_linux_names() {
    let mut p = Pair::new(Config::linux(), Config::linux(), None);
    let c = p.connect_from(CLIENT);
    let now = p.now;
    p.client.send(now, c, b"unread").unwrap();
    p.pump();
    let s = p.accepted[0];
    // Closing with the client's bytes unread resets (RFC 2525 §2.17).
    p.server.close(now, s).unwrap();
    p.pump();
    assert_eq!(p.client.state(c), State::Closed);
    assert_eq!(counter(&p.client, "ActiveOpens"), 1);
    assert_eq!(counter(&p.server, "PassiveOpens"), 1);
    // Linux __tcp_close(): TCPAbortOnClose (TCPAbortOnData is SO_LINGER 0).
    assert_eq!(counter(&p.server, "TCPAbortOnClose"), 1);
    assert_eq!(counter(&p.server, "TCPAbortOnData"), 0);
    assert_eq!(counter(&p.server, "OutRsts"), 1);
    assert_eq!(counter(&p.client, "EstabResets"), 1);
}

/// RFC 5961 on (both profiles) against off (RFC 793): a blind RST, SYN or
/// data segment that lands inside the window but not exactly at RCV.NXT (or
/// with an ACK far below SND.UNA) is answered with a challenge ACK instead
/// of taken.
#[test]
fn rfc5961_turns_in_window_guesses_into_challenge_acks() {
    for rfc5961 in [true, false] {
        let mut scfg = Config::linux();
        scfg.rfc5961 = rfc5961;
        scfg.timestamps = false;
        let mut ccfg = Config::linux();
        ccfg.timestamps = false;
        let mut results = Vec::new();
        for kind in ["rst", "syn", "data"] {
            let mut p = Pair::new(ccfg.clone(), scfg.clone(), None);
            let c = p.connect_from(CLIENT);
            let s = p.accepted[0];
            // What an attacker who sees the server's segments knows: its
            // RCV.NXT (the ACK field) and SND.NXT.
            let (_, seen) = wire::parse_tcp_packet(&p.last_from_server).unwrap();
            let (rcv_nxt, snd_nxt) = (seen.ack, seen.seq);
            let (client_addr, _) = p.client.addrs(c).unwrap();
            let pkt = match kind {
                "rst" => segment(
                    client_addr,
                    rcv_nxt + 1000,
                    SeqNumber(0),
                    TcpFlags::RST,
                    &[],
                ),
                "syn" => segment(
                    client_addr,
                    rcv_nxt + 1000,
                    SeqNumber(0),
                    TcpFlags::SYN,
                    &[],
                ),
                // An ACK half the sequence space away from SND.UNA.
                _ => segment(
                    client_addr,
                    rcv_nxt,
                    snd_nxt - 0x4000_0000,
                    TcpFlags::ACK | TcpFlags::PSH,
                    b"evil",
                ),
            };
            let before = p.server.stats().challenge_acks;
            p.server.handle_packet(p.now, &pkt).unwrap();
            let mut buf = [0u8; 16];
            let took = match kind {
                "data" => p.server.recv(p.now, s, &mut buf).is_ok_and(|n| n == 4),
                _ => p.server.state(s) == State::Closed,
            };
            let challenged = p.server.stats().challenge_acks > before;
            results.push((kind, took, challenged));
        }
        let expect: Vec<_> = ["rst", "syn", "data"]
            .into_iter()
            .map(|k| (k, !rfc5961, rfc5961))
            .collect();
        assert_eq!(results, expect, "rfc5961 = {rfc5961}");
    }
}
