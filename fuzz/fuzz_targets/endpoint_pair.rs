//! Two endpoints back to back, with the fuzzer as the network and the
//! applications: it drops, duplicates, corrupts and reorders packets, injects
//! packets of its own, moves the clock and makes user calls. Invariants: no
//! panic; every packet an endpoint emits parses with valid checksums; each side
//! receives a prefix of what the other sent, in order; memory per connection
//! stays within `Config::connection_memory_limit`.

#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use finack_core::{Config, ConnId, Endpoint, Event, Instant, Shutdown};
use libfuzzer_sys::fuzz_target;

struct Side {
    ep: Endpoint,
    conn: Option<ConnId>,
    sent: Vec<u8>,
    got: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let cfg = Config::linux();
    let limit = cfg.connection_memory_limit();
    let a: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:80".parse().unwrap();
    let mut sides = [
        Side { ep: Endpoint::new(cfg.clone(), [1; 16]), conn: None, sent: Vec::new(), got: Vec::new() },
        Side { ep: Endpoint::new(cfg, [2; 16]), conn: None, sent: Vec::new(), got: Vec::new() },
    ];
    sides[0].ep.add_address(a.ip());
    sides[1].ep.add_address(b.ip());
    let listener = sides[1].ep.listen(b, 4).unwrap();
    let mut now = Instant::ZERO;
    sides[0].conn = sides[0].ep.connect(now, a, b).ok();
    // Packets on the wire: (to, bytes, corrupted already).
    let mut wire: Vec<(usize, Vec<u8>, bool)> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut counter = 0u32;
    let mut input = data.iter().copied();
    for _ in 0..2000 {
        // Collect what both sides send; check each packet parses.
        for (i, s) in sides.iter_mut().enumerate() {
            while let Some(n) = s.ep.poll_transmit(now, &mut buf) {
                finack_wire::parse_tcp_packet(&buf[..n]).expect("our packets parse");
                wire.push((1 - i, buf[..n].to_vec(), false));
            }
            while let Some(ev) = s.ep.poll_event() {
                if let Event::Incoming(l) = ev {
                    if let Ok(c) = s.ep.accept(l) {
                        s.conn = Some(c);
                    }
                }
            }
            let _ = listener;
            if let Some(c) = s.conn {
                let mut out = [0u8; 4096];
                while let Ok(n) = s.ep.recv(now, c, &mut out) {
                    if n == 0 {
                        break;
                    }
                    s.got.extend_from_slice(&out[..n]);
                }
            }
            let m = s.ep.memory_usage();
            assert!(m.max_connection_bytes <= limit, "{m:?} > {limit}");
        }
        let Some(op) = input.next() else { break };
        let arg = input.next().unwrap_or(0);
        match op % 10 {
            // Deliver packet `arg` (in any order).
            0..=3 if !wire.is_empty() => {
                let (to, p, _) = wire.remove(usize::from(arg) % wire.len());
                let _ = sides[to].ep.handle_packet(now, &p);
            }
            // Drop one.
            4 if !wire.is_empty() => {
                wire.remove(usize::from(arg) % wire.len());
            }
            // Duplicate one.
            5 if !wire.is_empty() => {
                let p = wire[usize::from(arg) % wire.len()].clone();
                wire.push(p);
            }
            // Corrupt a byte of one, at most once per packet: one changed
            // byte always changes the Internet checksum, so it must be
            // caught; two changes can cancel out in it (RFC 1071), and TCP
            // then rightly takes the segment, which this harness cannot tell
            // from a bug.
            6 if !wire.is_empty() => {
                let i = usize::from(arg) % wire.len();
                let at = usize::from(input.next().unwrap_or(0)) % wire[i].1.len();
                let flip = input.next().unwrap_or(1) | 1;
                if !wire[i].2 {
                    wire[i].1[at] ^= flip;
                    wire[i].2 = true;
                }
            }
            // Inject raw bytes of the fuzzer's own.
            7 => {
                let len = usize::from(arg);
                let p: Vec<u8> = input.by_ref().take(len).collect();
                let _ = sides[usize::from(arg & 1)].ep.handle_packet(now, &p);
            }
            // Move the clock and run due timers.
            8 => {
                now = now + Duration::from_millis(u64::from(arg) * 37);
                for s in &mut sides {
                    if s.ep.poll_timeout().is_some_and(|t| t <= now) {
                        s.ep.handle_timeout(now);
                    }
                }
            }
            // A user call on one side.
            _ => {
                let s = &mut sides[usize::from(arg & 1)];
                let Some(c) = s.conn else { continue };
                match (arg >> 1) % 6 {
                    0..=2 => {
                        let chunk: Vec<u8> = (0..usize::from(arg) * 40)
                            .map(|_| {
                                counter = counter.wrapping_add(1);
                                (counter.wrapping_mul(2_654_435_761) >> 13) as u8
                            })
                            .collect();
                        if let Ok(n) = s.ep.send(now, c, &chunk) {
                            s.sent.extend_from_slice(&chunk[..n]);
                        }
                    }
                    3 => {
                        let _ = s.ep.shutdown(now, c, Shutdown::Write);
                    }
                    4 => {
                        let _ = s.ep.close(now, c);
                    }
                    _ => {
                        let _ = s.ep.abort(now, c);
                    }
                }
            }
        }
    }
    // Whatever arrived is what was sent, in order, never more.
    for i in 0..2 {
        let (got, sent) = (&sides[i].got, &sides[1 - i].sent);
        assert!(sent.starts_with(got), "side {i} received bytes that were not sent in that order");
    }
});
