//! finack's side: two sans-IO endpoints handing packets to each other.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant as WallClock};

use finack_core::{Config, ConnId, Endpoint, Event, Instant, ListenerId, State};

const A: &str = "192.0.2.1:0";
const B: &str = "192.0.2.2:80";

fn config() -> Config {
    Config {
        send_buffer: crate::SEND_BUFFER,
        recv_buffer: crate::RECV_BUFFER,
        mtu: crate::MTU as u16,
        // The transition log is a debugging aid smoltcp has no counterpart
        // of; left on it would be counted in the table bytes.
        record_transitions: false,
        ..Config::linux()
    }
}

/// Two endpoints and the packets between them.
struct Pair {
    ep: [Endpoint; 2],
    wire: [VecDeque<Vec<u8>>; 2],
    now: Instant,
    buf: Vec<u8>,
    listener: ListenerId,
}

impl Pair {
    fn new() -> Pair {
        let mut a = Endpoint::new(config(), [7; 16]);
        let mut b = Endpoint::new(config(), [9; 16]);
        let (pa, pb): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
        a.add_address(pa.ip());
        b.add_address(pb.ip());
        let listener = b.listen(pb, 128).expect("listen");
        Pair {
            ep: [a, b],
            wire: [VecDeque::new(), VecDeque::new()],
            now: Instant::ZERO,
            buf: vec![0; 65_536],
            listener,
        }
    }

    /// Move every pending packet; true if anything moved.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        for side in 0..2 {
            while let Some(n) = self.ep[side].poll_transmit(self.now, &mut self.buf) {
                self.wire[1 - side].push_back(self.buf[..n].to_vec());
                moved = true;
            }
        }
        for side in 0..2 {
            while let Some(p) = self.wire[side].pop_front() {
                let _ = self.ep[side].handle_packet(self.now, &p);
                moved = true;
            }
        }
        moved
    }

    /// Nothing moves: jump to the next timer. False if there is none.
    fn wait(&mut self) -> bool {
        let next = [self.ep[0].poll_timeout(), self.ep[1].poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { return false };
        self.now = self.now.max(t);
        for ep in &mut self.ep {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        true
    }

    /// Accepted connections on the server side, events dropped.
    fn events(&mut self) -> Option<ConnId> {
        while self.ep[0].poll_event().is_some() {}
        let mut accepted = None;
        while let Some(ev) = self.ep[1].poll_event() {
            if matches!(ev, Event::Incoming(_)) {
                if let Ok(c) = self.ep[1].accept(self.listener) {
                    accepted = Some(c);
                }
            }
        }
        accepted
    }

    fn connect(&mut self) -> Result<(ConnId, ConnId), String> {
        let c = self.ep[0]
            .connect(self.now, A.parse().unwrap(), B.parse().unwrap())
            .map_err(|e| format!("finack connect: {e}"))?;
        for _ in 0..1000 {
            if let Some(s) = self.events() {
                return Ok((c, s));
            }
            if !self.pump() && !self.wait() {
                break;
            }
        }
        Err("finack: the handshake did not complete".into())
    }
}

/// Move `bytes` from one endpoint to the other; the wall-clock time it took.
pub fn bulk(bytes: usize) -> Result<Duration, String> {
    let mut p = Pair::new();
    let (c, s) = p.connect()?;
    let chunk = vec![0x5au8; 65_536];
    let mut out = vec![0u8; 65_536];
    let (mut sent, mut got) = (0usize, 0usize);
    let started = WallClock::now();
    while got < bytes {
        if sent < bytes {
            let n = (bytes - sent).min(chunk.len());
            sent += p.ep[0].send(p.now, c, &chunk[..n]).unwrap_or(0);
        }
        let moved = p.pump();
        p.events();
        while let Ok(n) = p.ep[1].recv(p.now, s, &mut out) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if !moved && got < bytes && !p.wait() {
            return Err(format!("finack bulk stalled at {got} of {bytes} bytes"));
        }
    }
    Ok(started.elapsed())
}

/// What the churn test measured.
pub struct Churn {
    /// Wall-clock time for all connections.
    pub elapsed: Duration,
    /// The client's table bytes per TIME-WAIT entry left behind.
    pub time_wait_entry_bytes: f64,
}

/// `n` connections one after another: connect, 100 bytes each way, the client
/// closes, then the server.
pub fn churn(n: usize) -> Result<Churn, String> {
    let mut p = Pair::new();
    let before = p.ep[0].memory_usage();
    let msg = [0x42u8; 100];
    let mut buf = [0u8; 512];
    let started = WallClock::now();
    for i in 0..n {
        let (c, s) = p.connect()?;
        p.ep[0].send(p.now, c, &msg).map_err(|e| e.to_string())?;
        let mut phase = 0;
        for _ in 0..10_000 {
            let moved = p.pump();
            p.events();
            match phase {
                0 if p.ep[1].recv(p.now, s, &mut buf).unwrap_or(0) == 100 => {
                    p.ep[1].send(p.now, s, &msg).map_err(|e| e.to_string())?;
                    phase = 1;
                }
                1 if p.ep[0].recv(p.now, c, &mut buf).unwrap_or(0) == 100 => {
                    p.ep[0].close(p.now, c).map_err(|e| e.to_string())?;
                    phase = 2;
                }
                2 if p.ep[1].recv(p.now, s, &mut buf) == Ok(0) => {
                    p.ep[1].close(p.now, s).map_err(|e| e.to_string())?;
                    phase = 3;
                }
                3 if p.ep[1].state(s) == State::Closed && p.ep[0].state(c) == State::TimeWait => {
                    phase = 4;
                    break;
                }
                _ => {}
            }
            if !moved && !p.wait() {
                break;
            }
        }
        if phase != 4 {
            return Err(format!(
                "finack churn: connection {i} stuck in phase {phase}"
            ));
        }
    }
    let elapsed = started.elapsed();
    let after = p.ep[0].memory_usage();
    let tw = p.ep[0]
        .count_by_state()
        .iter()
        .find(|(st, _)| *st == State::TimeWait)
        .map_or(0, |x| x.1);
    let bytes = (after.connection_bytes + after.table_bytes)
        .saturating_sub(before.connection_bytes + before.table_bytes);
    Ok(Churn {
        elapsed,
        time_wait_entry_bytes: bytes as f64 / tw.max(1) as f64,
    })
}

/// Bytes the client's connection holds after 100 bytes each way, idle.
pub fn idle_connection_bytes() -> Result<usize, String> {
    let mut p = Pair::new();
    let (c, s) = p.connect()?;
    let msg = [1u8; 100];
    let mut buf = [0u8; 512];
    p.ep[0].send(p.now, c, &msg).map_err(|e| e.to_string())?;
    p.ep[1].send(p.now, s, &msg).map_err(|e| e.to_string())?;
    for _ in 0..100 {
        p.pump();
        p.events();
        let _ = p.ep[0].recv(p.now, c, &mut buf);
        let _ = p.ep[1].recv(p.now, s, &mut buf);
    }
    // Let the delayed ACKs go, and the emptied rings stay empty long enough
    // to be released (`Config::buffer_release_delay`).
    let until = p.now + Duration::from_millis(500) + Config::linux().buffer_release_delay;
    while p.now < until && p.wait() {
        p.pump();
    }
    Ok(p.ep[0].memory_usage().max_connection_bytes)
}
