//! `endpoint_pair`: two endpoints back to back, with the fuzzer as the network
//! and the applications. It drops, duplicates, corrupts and reorders packets,
//! injects packets of its own, moves the clock and makes user calls.
//! Invariants: no panic; every packet an endpoint emits parses with valid
//! checksums; each incarnation of a connection receives a prefix of what the
//! other side sent, in order;
//! memory per connection stays within `Config::connection_memory_limit`.
//!
//! The input is a sequence of operations, each an opcode byte and an argument
//! byte (a corruption takes two more, an injection `arg` more):
//!
//! | `op % 10` | with a packet on the wire | otherwise |
//! |---|---|---|
//! | 0–3 | deliver packet `arg % n` (any order) | user call |
//! | 4 | drop packet `arg % n` | user call |
//! | 5 | duplicate packet `arg % n` | user call |
//! | 6 | corrupt packet `arg % n` at byte `next % len` by XOR `next \| 1`, once per packet | user call |
//! | 7 | inject the next `arg` bytes into side `arg & 1` | same |
//! | 8 | move the clock `arg * 37` ms and run due timers | same |
//! | 9 | user call on side `arg & 1`: `(arg >> 1) % 6` is 0–2 send `arg * 40` bytes, 3 shutdown(SHUT_WR), 4 close, 5 abort | same |

use std::net::SocketAddr;
use std::time::Duration;

use finack_core::{Config, ConnId, Endpoint, Event, Instant, Shutdown};

struct Side {
    ep: Endpoint,
    conn: Option<ConnId>,
    sent: Vec<u8>,
    got: Vec<u8>,
    /// What earlier incarnations received.
    done: Vec<Vec<u8>>,
}

/// What one `endpoint_pair` input did (for tests of the seeds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairOutcome {
    /// Bytes side 0 (the client) and side 1 (the server) received.
    pub received: [usize; 2],
    /// Packets the two endpoints emitted.
    pub packets: usize,
    /// Packets delivered to an endpoint (injected ones included).
    pub delivered: usize,
}

/// Runs one `endpoint_pair` input; panics when an invariant breaks.
pub fn endpoint_pair(data: &[u8]) -> PairOutcome {
    run(data, true)
}

/// `corrupt_once` false is the harness before a packet could be corrupted
/// only once: two changed bytes can then cancel out in the Internet
/// checksum (kept to show what the checksum-cancel regression input did).
pub(crate) fn run(data: &[u8], corrupt_once: bool) -> PairOutcome {
    let cfg = Config::linux();
    let limit = cfg.connection_memory_limit();
    let a: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:80".parse().unwrap();
    let side = |ep| Side {
        ep,
        conn: None,
        sent: Vec::new(),
        got: Vec::new(),
        done: Vec::new(),
    };
    let mut sides = [
        side(Endpoint::new(cfg.clone(), [1; 16])),
        side(Endpoint::new(cfg, [2; 16])),
    ];
    sides[0].ep.add_address(a.ip());
    sides[1].ep.add_address(b.ip());
    let _listener = sides[1].ep.listen(b, 4).unwrap();
    let mut now = Instant::ZERO;
    sides[0].conn = sides[0].ep.connect(now, a, b).ok();
    let mut outcome = PairOutcome::default();
    // Packets on the wire: (to, bytes, corrupted already).
    let mut wire: Vec<(usize, Vec<u8>, bool)> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut counter = 0u32;
    let mut input = data.iter().copied();
    for _ in 0..2000 {
        // No two operations happen in the same instant: the clock moves by
        // the 4 µs tick of RFC 9293 §3.4.1's ISN clock, so a new incarnation
        // of the 4-tuple gets new ISNs, as it would on a real host. (With
        // the clock standing still, the fuzzer found incarnations sharing
        // their ISNs, whose old duplicates TCP rightly cannot tell apart.)
        now += Duration::from_micros(4);
        // Collect what both sides send; check each packet parses.
        for (i, s) in sides.iter_mut().enumerate() {
            while let Some(n) = s.ep.poll_transmit(now, &mut buf) {
                finack_wire::parse_tcp_packet(&buf[..n]).expect("our packets parse");
                wire.push((1 - i, buf[..n].to_vec(), false));
                outcome.packets += 1;
            }
            while let Some(ev) = s.ep.poll_event() {
                if let Event::Incoming(l) = ev {
                    if let Ok(c) = s.ep.accept(l) {
                        if s.conn.is_some_and(|old| old != c) {
                            // A new incarnation of the 4-tuple (a duplicated
                            // SYN after the first one ended). With the
                            // clock standing still it has the same ISNs as
                            // the old one (RFC 9293 §3.4.1's clock did not
                            // tick), so the old incarnation's duplicates fit
                            // it exactly and TCP rightly takes them; nothing
                            // but time tells them apart. Each incarnation is
                            // checked on its own.
                            s.done.push(core::mem::take(&mut s.got));
                        }
                        s.conn = Some(c);
                    }
                }
            }
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
                outcome.delivered += 1;
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
                if !(corrupt_once && wire[i].2) {
                    wire[i].1[at] ^= flip;
                    wire[i].2 = true;
                }
            }
            // Inject raw bytes of the fuzzer's own.
            7 => {
                let len = usize::from(arg);
                let p: Vec<u8> = input.by_ref().take(len).collect();
                let _ = sides[usize::from(arg & 1)].ep.handle_packet(now, &p);
                outcome.delivered += 1;
            }
            // Move the clock and run due timers.
            8 => {
                now += Duration::from_millis(u64::from(arg) * 37);
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
        let sent = &sides[1 - i].sent;
        for got in sides[i].done.iter().chain([&sides[i].got]) {
            assert!(
                sent.starts_with(got),
                "side {i} received bytes that were not sent in that order"
            );
            outcome.received[i] += got.len();
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_message(data: &[u8], corrupt_once: bool) -> Option<String> {
        let r = std::panic::catch_unwind(|| run(data, corrupt_once));
        r.err().map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    }

    /// The kept input flips two bytes of one data segment so that they
    /// cancel out in the Internet checksum: the harness that allowed that
    /// failed on it, rightly accepted data and all; the harness now
    /// corrupts a packet once, and the lone flipped byte is caught.
    #[test]
    fn checksum_cancel_input_failed_the_old_harness_and_passes_now() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/regressions/endpoint_pair/checksum-cancel"
        );
        let data = std::fs::read(path).expect("the checksum-cancel input");
        let old = panic_message(&data, false).expect("the old harness failed on it");
        assert!(
            old.contains("side 1 received bytes that were not sent in that order"),
            "{old}"
        );
        let now = run(&data, true);
        // The corrupted segment was dropped; nothing arrived.
        assert_eq!(now.received, [0, 0], "{now:?}");
        assert!(now.delivered >= 4, "{now:?}");
    }
}
