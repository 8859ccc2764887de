//! Watch one TCP connection live and die: two finack endpoints back to back, a
//! three-way handshake, a little data, and a four-way close with TIME-WAIT,
//! printed as a sequence diagram with each side's state after every segment.
//!
//! ```text
//! cargo run -p finack-core --example lifecycle [-- --lose-last-ack]
//! ```
//!
//! With `--lose-last-ack` the client's final ACK is lost: watch the server
//! retransmit its FIN and TIME-WAIT answer it and restart its 2MSL timer.

use std::time::Duration;

use finack_core::wire::parse_tcp_packet;
use finack_core::{Config, Endpoint, Event, Instant, State};

struct Host {
    ep: Endpoint,
}

fn main() {
    let lose_last_ack = std::env::args().any(|a| a == "--lose-last-ack");
    let mut client = Host {
        ep: Endpoint::new(Config::linux(), *b"finack-client-01"),
    };
    let mut server = Host {
        ep: Endpoint::new(Config::linux(), *b"finack-server-01"),
    };
    client.ep.add_address("192.0.2.1".parse().unwrap());
    server.ep.add_address("192.0.2.2".parse().unwrap());
    let listener = server
        .ep
        .listen("192.0.2.2:80".parse().unwrap(), 8)
        .unwrap();
    let mut now = Instant::ZERO;
    let latency = Duration::from_millis(5);
    let c = client
        .ep
        .connect(
            now,
            "0.0.0.0:0".parse().unwrap(),
            "192.0.2.2:80".parse().unwrap(),
        )
        .unwrap();
    let mut s = None;
    let mut script = 0;
    let mut dropped_ack = false;
    let mut close_at: Option<Instant> = None;
    let mut shown = (State::Closed, State::Listen);
    let mut buf = [0u8; 1600];

    println!(
        "{:>10}  {:<14} {:^44} {:>14}",
        "time", "client", "", "server"
    );
    println!("{:>10}  {:<14} {:^44} {:>14}", "", "CLOSED", "", "LISTEN");
    // Packets in flight: (arrival time, to_server, bytes).
    let mut wire: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    for _ in 0..10_000 {
        // Applications.
        for (host, is_server) in [(&mut client, false), (&mut server, true)] {
            while let Some(ev) = host.ep.poll_event() {
                if let (Event::Incoming(_), true) = (ev, is_server) {
                    s = host.ep.accept(listener).ok();
                }
                if let (Event::Readable(conn), true) = (ev, is_server) {
                    let mut b = [0u8; 64];
                    while let Ok(n) = host.ep.recv(now, conn, &mut b) {
                        if n == 0 {
                            break;
                        }
                    }
                }
            }
        }
        if script == 0 && client.ep.state(c) == State::Established && s.is_some() {
            client.ep.send(now, c, b"GET / HTTP/1.0\r\n\r\n").unwrap();
            script = 1;
        } else if script == 1
            && client
                .ep
                .info(c)
                .is_some_and(|i| i.unacked == 0 && i.unsent == 0)
        {
            client.ep.close(now, c).unwrap();
            script = 2;
        } else if script == 2 && s.is_some_and(|s| server.ep.state(s) == State::CloseWait) {
            // The server application finishes its work 20 ms later, then closes:
            // its ACK and its FIN travel separately (a four-way close).
            close_at = Some(now + Duration::from_millis(20));
            script = 3;
        } else if script == 3 && close_at.is_some_and(|t| now >= t) {
            server.ep.close(now, s.unwrap()).unwrap();
            close_at = None;
            script = 4;
        }
        // Transmit.
        for (host, to_server) in [(&mut client, true), (&mut server, false)] {
            while let Some(n) = host.ep.poll_transmit(now, &mut buf) {
                let (_, tcp) = parse_tcp_packet(&buf[..n]).unwrap();
                let lost = lose_last_ack
                    && !dropped_ack
                    && to_server
                    && script == 4
                    && tcp.payload.is_empty()
                    && tcp.flags == finack_core::wire::TcpFlags::ACK;
                if lost {
                    dropped_ack = true;
                }
                let label = format!(
                    "{} seq={} ack={} len={}{}",
                    tcp.flags,
                    tcp.seq.0 % 100_000,
                    if tcp.flags.ack() {
                        tcp.ack.0 % 100_000
                    } else {
                        0
                    },
                    tcp.payload.len(),
                    if lost { " LOST" } else { "" }
                );
                let arrow = if to_server {
                    format!("{label:-<42}>")
                } else {
                    format!("<{label:->42}")
                };
                println!(
                    "{:>9.3}s  {:<14} {:^44}",
                    now.as_micros() as f64 / 1e6,
                    "",
                    arrow
                );
                if !lost {
                    wire.push((now + latency, to_server, buf[..n].to_vec()));
                }
            }
        }
        // Next event.
        let next_pkt = wire.iter().map(|w| w.0).min();
        let next_timer = [client.ep.poll_timeout(), server.ep.poll_timeout(), close_at]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = [next_pkt, next_timer].into_iter().flatten().min() else {
            break;
        };
        now = next;
        let due: Vec<_> = wire.iter().filter(|w| w.0 <= now).cloned().collect();
        wire.retain(|w| w.0 > now);
        for (_, to_server, bytes) in due {
            let host = if to_server { &mut server } else { &mut client };
            host.ep.handle_packet(now, &bytes).unwrap();
        }
        client.ep.handle_timeout(now);
        server.ep.handle_timeout(now);
        let cs = client.ep.state(c);
        let ss = s.map_or(State::Listen, |s| server.ep.state(s));
        client.ep.take_transitions();
        server.ep.take_transitions();
        if (cs, ss) != shown {
            shown = (cs, ss);
            println!(
                "{:>9.3}s  {:<14} {:^44} {:>14}",
                now.as_micros() as f64 / 1e6,
                cs.name(),
                "",
                ss.name()
            );
        }
    }
    println!("\nclient final state: {}", client.ep.state(c));
}
