//! Issue 11: an idle connection after an exchange holds at most 1 KiB once its
//! rings have stayed empty for `Config::buffer_release_delay`, and releasing
//! them does not change the window it advertises.

extern crate std;

use alloc::vec::Vec;

use crate::time::Instant;
use crate::{Config, ConnId, Endpoint};

/// Two endpoints joined by a lossless, instant network; every segment each
/// side sends is kept with its window field.
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    /// `(from_server, window, payload length)` of every segment, in order.
    sent: Vec<(bool, u16, usize)>,
}

impl Pair {
    fn new() -> Pair {
        let mut server = Endpoint::new(Config::linux(), [1; 16]);
        let mut client = Endpoint::new(Config::linux(), [2; 16]);
        server.add_address("192.0.2.2".parse().unwrap());
        client.add_address("192.0.2.1".parse().unwrap());
        Pair {
            now: Instant::ZERO,
            client,
            server,
            sent: Vec::new(),
        }
    }

    /// Shuttle packets both ways until both sides are quiet.
    fn pump(&mut self) {
        let now = self.now;
        let mut buf = [0u8; 1600];
        loop {
            let mut moved = false;
            while let Some(n) = self.client.poll_transmit(now, &mut buf) {
                self.record(false, &buf[..n]);
                self.server.handle_packet(now, &buf[..n]).unwrap();
                moved = true;
            }
            while let Some(n) = self.server.poll_transmit(now, &mut buf) {
                self.record(true, &buf[..n]);
                self.client.handle_packet(now, &buf[..n]).unwrap();
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Let `d` pass, running both sides' timers.
    fn idle(&mut self, d: core::time::Duration) {
        self.now += d;
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        self.pump();
    }

    fn record(&mut self, from_server: bool, packet: &[u8]) {
        let (_, tcp) = finack_wire::parse_tcp_packet(packet).unwrap();
        self.sent.push((from_server, tcp.window, tcp.payload.len()));
    }

    /// The window field of the last segment `from_server` sent with data.
    fn last_data_window(&self, from_server: bool) -> u16 {
        self.sent
            .iter()
            .rev()
            .find(|&&(s, _, len)| s == from_server && len > 0)
            .map(|&(_, w, _)| w)
            .unwrap()
    }

    /// The window field of the last segment `from_server` sent.
    fn last_window(&self, from_server: bool) -> u16 {
        self.sent
            .iter()
            .rev()
            .find(|&&(s, _, _)| s == from_server)
            .map(|&(_, w, _)| w)
            .unwrap()
    }
}

fn read_all(ep: &mut Endpoint, now: Instant, c: ConnId) -> usize {
    let mut buf = [0u8; 512];
    let mut got = 0;
    while let Ok(n) = ep.recv(now, c, &mut buf) {
        if n == 0 {
            break;
        }
        got += n;
    }
    got
}

#[test]
fn idle_connection_after_an_exchange_holds_at_most_1_kib() {
    let now = Instant::ZERO;
    let mut p = Pair::new();
    let l = p
        .server
        .listen("192.0.2.2:80".parse().unwrap(), 16)
        .unwrap();
    let c = p
        .client
        .connect(
            now,
            "0.0.0.0:0".parse().unwrap(),
            "192.0.2.2:80".parse().unwrap(),
        )
        .unwrap();
    p.pump();
    let s = p.server.accept(l).unwrap();
    while p.server.poll_event().is_some() {}

    let delay = Config::linux().buffer_release_delay;
    // Server to client: the client takes a receive ring for the 100 bytes and,
    // once it has read them and the ring has stayed empty, releases it. The
    // window in the segment it sends next is the one it advertised before.
    assert_eq!(p.server.send(now, s, &[7u8; 100]).unwrap(), 100);
    p.pump();
    let client_before = p.last_window(false);
    assert_eq!(read_all(&mut p.client, p.now, c), 100);
    assert!(
        p.client.memory_usage().max_connection_bytes > 1024,
        "kept a while"
    );
    p.idle(delay);
    assert!(
        p.client.memory_usage().max_connection_bytes <= 1024,
        "released"
    );
    assert_eq!(p.client.send(p.now, c, &[8u8; 100]).unwrap(), 100);
    p.pump();
    assert_eq!(p.last_data_window(false), client_before);

    // Client to server, the same.
    let server_before = p.last_window(true);
    assert_eq!(read_all(&mut p.server, p.now, s), 100);
    while p.client.poll_event().is_some() {}
    while p.server.poll_event().is_some() {}

    // Idle: everything read and acknowledged on both sides, and the rings
    // have stayed empty long enough.
    p.idle(delay);
    p.idle(delay);
    for ep in [&p.client, &p.server] {
        let m = ep.memory_usage();
        std::println!("idle connection: {} bytes", m.max_connection_bytes);
        assert!(m.max_connection_bytes <= 1024, "{m:?}");
    }

    // The server's next segment advertises what it did before its release.
    assert_eq!(p.server.send(p.now, s, &[9u8; 100]).unwrap(), 100);
    p.pump();
    assert_eq!(p.last_data_window(true), server_before);
    assert_eq!(read_all(&mut p.client, p.now, c), 100);
}
