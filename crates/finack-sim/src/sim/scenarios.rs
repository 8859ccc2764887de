//! The seed scenarios: each a run of the simulator, the assertions it makes about
//! both sides' states and its outcome, and (through the trace) a diagram.

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{CloseReason, Config, Error, Instant, Shutdown, State};

use super::{CloseMode, Family, Sim, Verdict};
use crate::catalog::{Check, ScenarioDef, ScenarioResult};
use crate::trace::{Fate, Trace, TraceEvent};

use State::*;

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The catalog, in teaching order.
pub(crate) static CATALOG: &[ScenarioDef] = &[
    ScenarioDef { name: "handshake", summary: "three-way handshake: SYN, SYN-ACK, ACK", run: handshake },
    ScenarioDef { name: "client-close", summary: "four-way close started by the client; it waits 2MSL in TIME-WAIT", run: client_close },
    ScenarioDef { name: "server-close", summary: "four-way close started by the server; the server holds TIME-WAIT", run: server_close },
    ScenarioDef { name: "simultaneous-close", summary: "both sides close at once: FIN-WAIT-1 -> CLOSING -> TIME-WAIT on both", run: simultaneous_close },
    ScenarioDef { name: "fin-ack-merged", summary: "the passive side answers FIN with FIN+ACK: a three-way close, FIN-WAIT-1 -> TIME-WAIT", run: fin_ack_merged },
    ScenarioDef { name: "fin-with-data", summary: "the last data rides on the FIN; sequence numbers count the data and the FIN", run: fin_with_data },
    ScenarioDef { name: "half-close", summary: "the client half-closes; the server keeps sending in CLOSE-WAIT, the client keeps receiving in FIN-WAIT-2", run: half_close },
    ScenarioDef { name: "lost-last-ack", summary: "the final ACK is lost; the FIN is retransmitted; TIME-WAIT re-ACKs it and restarts 2MSL", run: lost_last_ack },
    ScenarioDef { name: "no-time-wait", summary: "counterfactual: without TIME-WAIT the retransmitted FIN meets CLOSED and gets a RST", run: no_time_wait },
    ScenarioDef { name: "old-duplicate", summary: "a delayed segment of an old connection corrupts a new one unless TIME-WAIT keeps the 4-tuple out of use", run: old_duplicate },
    ScenarioDef { name: "simultaneous-open", summary: "both sides connect at once: SYN-SENT -> SYN-RECEIVED -> ESTABLISHED", run: simultaneous_open },
    ScenarioDef { name: "half-open", summary: "the server crashes and reboots: the client's next segment meets RST; keep-alive finds a silent dead peer", run: half_open },
    ScenarioDef { name: "idle-attacker", summary: "clients connect and never send or close; idle limits and the FIN-WAIT-2 timeout keep the server serving", run: idle_attacker },
    ScenarioDef { name: "close-wait-leak", summary: "the server never closes after the client's FIN: CLOSE-WAIT forever, and its age is reported", run: close_wait_leak },
    ScenarioDef { name: "time-wait-exhaustion", summary: "short connections exhaust the client's ports through TIME-WAIT; reuse with timestamps lets it go on", run: time_wait_exhaustion },
    ScenarioDef { name: "rst-abort", summary: "close with unread data sends RST: the peer sees a reset, not an end of stream", run: rst_abort },
    ScenarioDef { name: "refused", summary: "a SYN to a closed port gets RST; connect fails as refused", run: refused },
];

fn check(what: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        ok,
        detail: if ok { String::new() } else { detail.into() },
    }
}

fn names(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn states_check(trace: &Trace, host: usize, who: &str, want: &[State]) -> Check {
    let got = trace.states_of(host);
    check(
        format!("{who}: {}", names(want)),
        got == want,
        format!("saw {}", names(&got)),
    )
}

fn no_rst(trace: &Trace) -> Check {
    let rsts = trace
        .events
        .iter()
        .filter(|e| matches!(e, TraceEvent::Packet { seg, .. } if seg.flags.rst()))
        .count();
    check(
        "no RST: an orderly close",
        rsts == 0,
        format!("{rsts} RST segments"),
    )
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ salt)
        .collect()
}

/// A client and a server listening on port 80.
fn pair(name: &str, seed: u64, family: Family, ccfg: Config, scfg: Config) -> Sim {
    let mut sim = Sim::with_family(name, seed, family, ["client", "server"], [ccfg, scfg]);
    sim.listen(SERVER, 80, 128);
    sim
}

/// Open a connection and run the handshake; returns (client conn, server conn).
fn established(sim: &mut Sim) -> (finack_core::ConnId, finack_core::ConnId) {
    let c = sim.connect(CLIENT, 0, 80).expect("connect");
    sim.run_until(Duration::from_secs(5), |s| s.conn(SERVER, 0).is_some());
    let s = sim.conn(SERVER, 0).expect("accepted");
    (c, s)
}

fn result(sim: Sim, checks: Vec<Check>) -> ScenarioResult {
    let (trace, transitions) = sim.finish();
    ScenarioResult {
        trace,
        transitions,
        checks,
    }
}

fn handshake(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("handshake", seed, family, Config::linux(), Config::linux());
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    let flags: Vec<TcpFlags> = sim
        .trace
        .packets_from(CLIENT)
        .chain(sim.trace.packets_from(SERVER))
        .map(|p| p.0.flags)
        .collect();
    let checks = vec![
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established],
        ),
        check(
            "three segments: SYN, SYN+ACK, ACK",
            flags.len() == 3
                && flags.contains(&TcpFlags::SYN)
                && flags.contains(&(TcpFlags::SYN | TcpFlags::ACK))
                && flags.contains(&TcpFlags::ACK),
            format!("{flags:?}"),
        ),
        check(
            "both ESTABLISHED",
            sim.state(CLIENT, c) == Established && sim.state(SERVER, s) == Established,
            "",
        ),
    ];
    result(sim, checks)
}

/// Request, response, then the four-way close started by `closer`.
fn four_way(name: &str, seed: u64, family: Family, closer: usize) -> ScenarioResult {
    let mut sim = pair(name, seed, family, Config::linux(), Config::linux());
    let (c, s) = established(&mut sim);
    let conns = [c, s];
    sim.send(CLIENT, c, b"GET / HTTP/1.0\r\n\r\n");
    sim.run_for(Duration::from_millis(30));
    sim.send(SERVER, s, b"HTTP/1.0 200 OK\r\n\r\nhello");
    sim.run_for(Duration::from_millis(30));
    let other = 1 - closer;
    sim.note(
        Some(closer),
        format!("{} calls close()", sim.hosts[closer].name),
    );
    sim.close(closer, conns[closer]);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(other, conns[other]) == CloseWait
    });
    sim.run_for(Duration::from_millis(50));
    sim.note(
        Some(other),
        format!("{} finishes and calls close()", sim.hosts[other].name),
    );
    sim.close(other, conns[other]);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(closer, conns[closer]) == TimeWait
    });
    let tw_start = sim.now;
    sim.run_until(Duration::from_secs(120), |sm| {
        sm.state(closer, conns[closer]) == Closed
    });
    let tw = sim.now - tw_start;
    let active = [FinWait1, FinWait2, TimeWait, Closed];
    let passive = [CloseWait, LastAck, Closed];
    let (copen, sopen) = (
        [Closed, SynSent, Established],
        [Listen, SynReceived, Established],
    );
    let (cc, sc): (Vec<State>, Vec<State>) = if closer == CLIENT {
        (
            copen.iter().chain(&active).copied().collect(),
            sopen.iter().chain(&passive).copied().collect(),
        )
    } else {
        (
            copen.iter().chain(&passive).copied().collect(),
            sopen.iter().chain(&active).copied().collect(),
        )
    };
    let close_segs = sim
        .trace
        .events
        .iter()
        .filter(|e| matches!(e, TraceEvent::Packet { seg, .. } if seg.flags.fin()))
        .count();
    let checks = vec![
        states_check(&sim.trace, CLIENT, "client", &cc),
        states_check(&sim.trace, SERVER, "server", &sc),
        check(
            "TIME-WAIT lasts 2MSL (60 s, Linux profile)",
            tw >= Duration::from_secs(60) && tw < Duration::from_millis(60_050),
            format!("lasted {tw:?}"),
        ),
        check(
            "one FIN each way",
            close_segs == 2,
            format!("{close_segs} FINs"),
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

fn client_close(seed: u64, family: Family) -> ScenarioResult {
    four_way("client-close", seed, family, CLIENT)
}

fn server_close(seed: u64, family: Family) -> ScenarioResult {
    four_way("server-close", seed, family, SERVER)
}

fn simultaneous_close(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "simultaneous-close",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.note(None, "both applications call close() at the same moment");
    sim.close(CLIENT, c);
    sim.close(SERVER, s);
    sim.run_until(Duration::from_secs(120), |sm| {
        sm.state(CLIENT, c) == Closed && sm.state(SERVER, s) == Closed
    });
    let both = [FinWait1, Closing, TimeWait, Closed];
    let cc: Vec<State> = [Closed, SynSent, Established]
        .iter()
        .chain(&both)
        .copied()
        .collect();
    let sc: Vec<State> = [Listen, SynReceived, Established]
        .iter()
        .chain(&both)
        .copied()
        .collect();
    let checks = vec![
        states_check(&sim.trace, CLIENT, "client", &cc),
        states_check(&sim.trace, SERVER, "server", &sc),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

fn fin_ack_merged(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "fin-ack-merged",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.hosts[SERVER].app.close_on_peer_fin = true;
    sim.note(
        Some(SERVER),
        "the server has nothing more to send: it will close as soon as it sees the FIN",
    );
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(120), |sm| {
        sm.state(CLIENT, c) == Closed && sm.state(SERVER, s) == Closed
    });
    let close: Vec<TcpFlags> = sim
        .trace
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Packet { seg, time, .. } if *time > Instant::from_millis(40) => {
                Some(seg.flags)
            }
            _ => None,
        })
        .collect();
    let checks = vec![
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established, FinWait1, TimeWait, Closed],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        ),
        check(
            "three segments close it: FIN, FIN+ACK, ACK",
            close
                == [
                    TcpFlags::FIN | TcpFlags::ACK,
                    TcpFlags::FIN | TcpFlags::ACK,
                    TcpFlags::ACK,
                ],
            format!("{close:?}"),
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

fn fin_with_data(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "fin-with-data",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    let data = pattern(100, 9);
    sim.note(
        Some(CLIENT),
        "the client writes its last 100 bytes and closes at once",
    );
    let _ = sim.hosts[CLIENT].ep.set_nodelay(c, true);
    let _ = sim.hosts[CLIENT].ep.send(sim.now, c, &data);
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    sim.run_for(Duration::from_millis(50));
    sim.close(SERVER, s);
    sim.run_until(Duration::from_secs(120), |sm| sm.state(CLIENT, c) == Closed);
    let fin = sim
        .trace
        .packets_from(CLIENT)
        .find(|p| p.0.flags.fin())
        .map(|p| *p.0);
    let syn = sim
        .trace
        .packets_from(CLIENT)
        .next()
        .map(|p| p.0.seq)
        .unwrap_or(SeqNumber(0));
    let acked = fin.and_then(|f| {
        sim.trace
            .packets_from(SERVER)
            .find(|p| p.0.ack == f.seq + f.len as u32 + 1)
            .map(|p| p.0.ack)
    });
    let got = sim
        .conn_app(SERVER, s)
        .map(|a| a.received.clone())
        .unwrap_or_default();
    let checks = vec![
        check(
            "the FIN segment carries the 100 data bytes",
            fin.is_some_and(|f| f.len == 100 && f.seq == syn + 1),
            format!("{fin:?}"),
        ),
        check(
            "its ACK covers 100 bytes + 1 for the FIN",
            acked == fin.map(|f| f.seq + 101),
            format!("{acked:?}"),
        ),
        check(
            "server got the data, then end of stream",
            got == data,
            format!("{} bytes", got.len()),
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[
                Closed,
                SynSent,
                Established,
                FinWait1,
                FinWait2,
                TimeWait,
                Closed,
            ],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        ),
    ];
    result(sim, checks)
}

fn half_close(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("half-close", seed, family, Config::linux(), Config::linux());
    let (c, s) = established(&mut sim);
    sim.send(CLIENT, c, b"upload done, send me the result");
    sim.note(
        Some(CLIENT),
        "the client is done sending: shutdown(SHUT_WR)",
    );
    sim.close_when_sent(CLIENT, c, CloseMode::Shutdown);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    let reply = pattern(200_000, 4);
    sim.note(
        Some(SERVER),
        "the server keeps sending 200000 bytes in CLOSE-WAIT, then closes",
    );
    sim.send(SERVER, s, &reply);
    sim.close_when_sent(SERVER, s, CloseMode::Close);
    // Bytes the client had when it entered FIN-WAIT-2; receiving more while
    // still there is the half-close the article describes.
    let mut at_fw2: Option<usize> = None;
    let mut in_fw2 = false;
    sim.run_until(Duration::from_secs(30), |sm| {
        if sm.state(CLIENT, c) == FinWait2 {
            let got = sm.conn_app(CLIENT, c).map_or(0, |a| a.received.len());
            let entry = *at_fw2.get_or_insert(got);
            in_fw2 |= got > entry;
        }
        sm.state(CLIENT, c) == TimeWait
    });
    sim.run_until(Duration::from_secs(120), |sm| sm.state(CLIENT, c) == Closed);
    let got = sim
        .conn_app(CLIENT, c)
        .map(|a| (a.received.clone(), a.eof))
        .unwrap_or_default();
    let checks = vec![
        check(
            "client received all 200000 bytes intact, then EOF",
            got.0 == reply && got.1,
            format!("{} bytes", got.0.len()),
        ),
        check("client was receiving while in FIN-WAIT-2", in_fw2, ""),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[
                Closed,
                SynSent,
                Established,
                FinWait1,
                FinWait2,
                TimeWait,
                Closed,
            ],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

/// Drop the first ACK from the client that acknowledges the server's FIN.
fn drop_last_ack(sim: &mut Sim) {
    let mut server_fin: Option<SeqNumber> = None;
    let mut done = false;
    sim.rule(move |p| {
        if p.from == SERVER && p.seg.flags.fin() {
            server_fin = Some(p.seg.seq + p.seg.len as u32);
        }
        if !done
            && p.from == CLIENT
            && p.seg.flags.ack()
            && server_fin.is_some_and(|f| p.seg.ack == f + 1)
        {
            done = true;
            return Some(Verdict::Drop("scripted: the last ACK is lost".into()));
        }
        None
    });
}

fn lost_last_ack(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "lost-last-ack",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    drop_last_ack(&mut sim);
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    sim.run_for(Duration::from_millis(50));
    sim.close(SERVER, s);
    sim.run_until(Duration::from_secs(10), |sm| sm.state(SERVER, s) == Closed);
    let fins: Vec<(Instant, Fate)> = sim
        .trace
        .packets_from(SERVER)
        .filter(|p| p.0.flags.fin())
        .map(|p| (p.2, p.1.clone()))
        .collect();
    let refin_arrival = match fins.get(1) {
        Some((_, Fate::Delivered(at))) => Some(*at),
        _ => None,
    };
    sim.run_until(Duration::from_secs(120), |sm| sm.state(CLIENT, c) == Closed);
    let end = sim.now;
    let checks = vec![
        check(
            "the server retransmits its FIN once",
            fins.len() == 2,
            format!("{} FINs", fins.len()),
        ),
        check(
            "TIME-WAIT restarts its 2MSL at the retransmitted FIN",
            refin_arrival.is_some_and(|t| {
                end >= t + Duration::from_secs(60) && end < t + Duration::from_millis(60_050)
            }),
            format!("ended {end:?}, retransmitted FIN arrived {refin_arrival:?}"),
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[
                Closed,
                SynSent,
                Established,
                FinWait1,
                FinWait2,
                TimeWait,
                Closed,
            ],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

/// End two runs and append `b`'s events (and transition records) after `a`'s,
/// separated by a note: one result with `checks`.
fn concat(a: Sim, b: Sim, gap_note: &str, checks: Vec<Check>) -> ScenarioResult {
    let (mut a, mut transitions) = a.finish();
    let (b, b_transitions) = b.finish();
    for (ha, hb) in a.hosts.iter_mut().zip(&b.hosts) {
        for (name, v) in &hb.counters {
            match ha.counters.iter_mut().find(|(n, _)| n == name) {
                Some(e) => e.1 += v,
                None => ha.counters.push((name.clone(), *v)),
            }
        }
    }
    let offset = a.events.last().map_or(Instant::ZERO, |e| e.time()) + Duration::from_secs(1);
    let shift = |t: Instant| Instant::from_micros(t.as_micros() + offset.as_micros());
    transitions.extend(b_transitions.into_iter().map(|(host, mut t)| {
        t.time = shift(t.time);
        (host, t)
    }));
    a.events.push(TraceEvent::Note {
        time: offset,
        host: None,
        text: gap_note.to_string(),
    });
    for e in b.events {
        a.events.push(match e {
            TraceEvent::Packet {
                time,
                from,
                to,
                seg,
                bytes,
                fate,
            } => TraceEvent::Packet {
                time: shift(time),
                from,
                to,
                seg,
                bytes,
                fate: match fate {
                    Fate::Delivered(t) => Fate::Delivered(shift(t)),
                    Fate::Corrupted(t) => Fate::Corrupted(shift(t)),
                    Fate::HostDown(t) => Fate::HostDown(shift(t)),
                    f => f,
                },
            },
            TraceEvent::State {
                time,
                host,
                local_port,
                remote_port,
                from,
                to,
                cause,
            } => TraceEvent::State {
                time: shift(time),
                host,
                local_port,
                remote_port,
                from,
                to,
                cause,
            },
            TraceEvent::Note { time, host, text } => TraceEvent::Note {
                time: shift(time),
                host,
                text,
            },
        });
    }
    ScenarioResult {
        trace: a,
        transitions,
        checks,
    }
}

fn lost_ack_run(
    name: &str,
    seed: u64,
    family: Family,
    time_wait: Duration,
) -> (Sim, finack_core::ConnId) {
    let mut ccfg = Config::linux();
    ccfg.time_wait = time_wait;
    let mut sim = pair(name, seed, family, ccfg, Config::linux());
    drop_last_ack(&mut sim);
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    sim.run_for(Duration::from_millis(50));
    // The server application keeps its handle to see how the close ends.
    sim.shutdown(SERVER, s, Shutdown::Write);
    sim.run_until(Duration::from_secs(120), |sm| {
        sm.state(SERVER, s) == Closed && sm.state(CLIENT, c) == Closed
    });
    (sim, s)
}

fn no_time_wait(seed: u64, family: Family) -> ScenarioResult {
    let (bad, bs) = lost_ack_run("no-time-wait", seed, family, Duration::from_millis(1));
    let (good, gs) = lost_ack_run("no-time-wait", seed, family, Duration::from_secs(60));
    let bad_reason = bad.hosts[SERVER].ep.close_reason(bs);
    let good_reason = good.hosts[SERVER].ep.close_reason(gs);
    let client_rst = bad.sent(CLIENT, TcpFlags::RST);
    let checks = vec![
        check(
            "without TIME-WAIT (1 ms): the retransmitted FIN meets CLOSED and is answered with RST",
            client_rst,
            "no RST",
        ),
        check(
            "... so the server's close ends in a reset",
            bad_reason == Some(CloseReason::Reset),
            format!("{bad_reason:?}"),
        ),
        check(
            "with TIME-WAIT (60 s): the FIN is re-ACKed and the server closes normally",
            good_reason == Some(CloseReason::Normal) && !good.sent(CLIENT, TcpFlags::RST),
            format!("{good_reason:?}"),
        ),
        states_check(
            &bad.trace,
            SERVER,
            "server without TIME-WAIT",
            &[Listen, SynReceived, Established, CloseWait, LastAck, Closed],
        ),
    ];
    concat(
        bad,
        good,
        "the same again, now with TIME-WAIT = 2MSL = 60 s",
        checks,
    )
}

/// The article's old-duplicate hazard. The server's reply segment that covers
/// stream offset `K` is held up in the network. The connection recovers (RTO) and
/// closes; the client reconnects from the same port 0.5 s after the first connect.
/// RFC 6528 ISNs advance 250,000 per second for a fixed 4-tuple, so the server's
/// new ISN lies K = 125,000 above the old one: the old segment's sequence numbers
/// fall at the very start of the new receive window. Timestamps are off (PAWS
/// would reject the old segment too). Without TIME-WAIT the client accepts it as
/// new data; with TIME-WAIT the reconnect must wait 2MSL, and the old segment dies
/// meanwhile.
fn old_dup_run(
    name: &str,
    seed: u64,
    family: Family,
    time_wait: Duration,
) -> (Sim, Vec<u8>, Vec<u8>, bool) {
    let mut ccfg = Config::linux();
    ccfg.time_wait = time_wait;
    ccfg.timestamps = false;
    let mut scfg = Config::linux();
    scfg.timestamps = false;
    let mut sim = pair(name, seed, family, ccfg, scfg);
    let reconnect_after = Duration::from_millis(500);
    // 250,000 ISN ticks per second (RFC 6528's 4 µs clock).
    let k = (reconnect_after.as_micros() / 4) as u32;
    let arrive = Instant::ZERO + reconnect_after + Duration::from_millis(60);
    let mut server_isn: Option<SeqNumber> = None;
    let mut held = false;
    sim.rule(move |p| {
        if p.from == SERVER && p.seg.flags.syn() {
            server_isn.get_or_insert(p.seg.seq);
        }
        let isn = server_isn?;
        let rel = (p.seg.seq - (isn + 1)) as i64;
        if !held
            && p.from == SERVER
            && p.seg.len > 0
            && rel <= k as i64
            && (k as i64) < rel + p.seg.len as i64
        {
            held = true;
            let now = p.time;
            return Some(Verdict::Delay(arrive - now));
        }
        None
    });
    let c = sim.connect(CLIENT, 40000, 80).expect("connect");
    sim.run_until(Duration::from_secs(1), |s| s.conn(SERVER, 0).is_some());
    let s = sim.conn(SERVER, 0).unwrap();
    // A 100 kB request and a 200 kB reply; the client closes first once it has it.
    sim.send(CLIENT, c, &pattern(100_000, 1));
    sim.run_until(Duration::from_secs(5), |sm| {
        sm.conn_app(SERVER, s)
            .is_some_and(|a| a.received.len() >= 100_000)
    });
    sim.send(SERVER, s, &pattern(200_000, 2));
    sim.hosts[SERVER].app.close_on_peer_fin = true;
    sim.run_until(Duration::from_secs(5), |sm| {
        sm.conn_app(CLIENT, c)
            .is_some_and(|a| a.received.len() >= 200_000)
    });
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(1), |sm| sm.state(SERVER, s) == Closed);
    let at = Instant::ZERO + reconnect_after;
    if sim.now < at {
        sim.run_for(at - sim.now);
    }
    sim.note(
        Some(CLIENT),
        "the client connects again from the same port 40000",
    );
    let mut refused = false;
    let c2 = match sim.connect(CLIENT, 40000, 80) {
        Ok(c2) => c2,
        Err(e) => {
            refused = true;
            sim.note(
                Some(CLIENT),
                format!("connect() fails: {e} (the 4-tuple is in TIME-WAIT); retry after it ends"),
            );
            sim.run_until(Duration::from_secs(120), |sm| sm.state(CLIENT, c) == Closed);
            sim.connect(CLIENT, 40000, 80)
                .expect("connect after TIME-WAIT")
        }
    };
    sim.run_until(Duration::from_secs(1), |sm| sm.conn(SERVER, 1).is_some());
    let s2 = sim.conn(SERVER, 1).expect("second connection accepted");
    // The client waits for the server's greeting on the new connection.
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.now >= arrive + Duration::from_millis(50)
    });
    let greeting = pattern(3000, 3);
    sim.send(SERVER, s2, &greeting);
    sim.run_for(Duration::from_millis(300));
    let got = sim
        .conn_app(CLIENT, c2)
        .map(|a| a.received.clone())
        .unwrap_or_default();
    (sim, got, greeting, refused)
}

fn old_duplicate(seed: u64, family: Family) -> ScenarioResult {
    let (bad, bad_got, greeting, bad_refused) =
        old_dup_run("old-duplicate", seed, family, Duration::from_millis(1));
    let (good, good_got, _, good_refused) =
        old_dup_run("old-duplicate", seed, family, Duration::from_secs(60));
    let old_stream = pattern(200_000, 2);
    let k = 125_000usize;
    let corrupted_prefix = bad_got.len() >= 100 && bad_got[..100] == old_stream[k..k + 100];
    let checks = vec![
        check(
            "without TIME-WAIT the reconnect reuses the 4-tuple at once",
            !bad_refused,
            "connect was refused",
        ),
        check(
            "... and the old segment is taken as the new connection's first bytes",
            corrupted_prefix && bad_got != greeting,
            format!(
                "client read {} bytes; first match old stream: {corrupted_prefix}",
                bad_got.len()
            ),
        ),
        check(
            "with TIME-WAIT the reconnect must wait 2MSL",
            good_refused,
            "connect was not refused",
        ),
        check(
            "... and the new connection's data arrives intact",
            good_got == greeting,
            format!("{} bytes", good_got.len()),
        ),
    ];
    concat(
        bad,
        good,
        "the same again, now with TIME-WAIT = 2MSL = 60 s",
        checks,
    )
}

fn simultaneous_open(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = Sim::with_family(
        "simultaneous-open",
        seed,
        family,
        ["peer-a", "peer-b"],
        [Config::linux(), Config::linux()],
    );
    sim.note(
        None,
        "both peers connect to each other at the same moment (no listener)",
    );
    let a = sim.connect(0, 5000, 6000).expect("connect a");
    let b = sim.connect(1, 6000, 5000).expect("connect b");
    sim.run_until(Duration::from_secs(5), |s| {
        s.state(0, a) == Established && s.state(1, b) == Established
    });
    sim.send(0, a, b"hello from a");
    sim.send(1, b, b"hello from b");
    sim.run_for(Duration::from_millis(100));
    let both = [Closed, SynSent, SynReceived, Established];
    let ga = sim
        .conn_app(1, b)
        .map(|x| x.received.clone())
        .unwrap_or_default();
    let checks = vec![
        states_check(&sim.trace, 0, "peer a", &both),
        states_check(&sim.trace, 1, "peer b", &both),
        check(
            "data flows afterwards",
            ga == b"hello from a",
            format!("{ga:?}"),
        ),
    ];
    result(sim, checks)
}

fn half_open(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("half-open", seed, family, Config::linux(), Config::linux());
    let (c, _s) = established(&mut sim);
    sim.send(CLIENT, c, b"first request");
    sim.run_for(Duration::from_secs(1));
    sim.crash(SERVER);
    sim.run_for(Duration::from_secs(2));
    sim.reboot(SERVER);
    sim.listen(SERVER, 80, 128);
    sim.run_for(Duration::from_secs(1));
    sim.note(
        Some(CLIENT),
        "the client, unaware, sends its next request on the half-open connection",
    );
    sim.send(CLIENT, c, b"second request");
    sim.run_until(Duration::from_secs(5), |sm| sm.state(CLIENT, c) == Closed);
    let err = sim.conn_app(CLIENT, c).and_then(|a| a.error);
    let reason1 = sim.hosts[CLIENT].ep.close_reason(c);

    // Part two: the peer dies silently and stays down; keep-alive finds out.
    let mut cfg = Config::linux();
    cfg.keepalive_time = Duration::from_secs(60);
    cfg.keepalive_interval = Duration::from_secs(10);
    cfg.keepalive_probes = 3;
    sim.note(None, "a second connection, with keep-alive on (60 s idle, 3 probes 10 s apart, shortened for the demo)");
    let mut sim2 = pair("half-open", seed, family, cfg, Config::linux());
    let (c2, _) = established(&mut sim2);
    let _ = sim2.hosts[CLIENT].ep.set_keepalive(c2, true);
    sim2.run_for(Duration::from_secs(1));
    sim2.crash(SERVER);
    let t0 = sim2.now;
    sim2.run_until(Duration::from_secs(600), |sm| {
        sm.state(CLIENT, c2) == Closed
    });
    let reason2 = sim2.hosts[CLIENT].ep.close_reason(c2);
    let waited = sim2.now - t0;
    let probes = sim2
        .trace
        .packets_from(CLIENT)
        .filter(|p| p.0.len == 0 && p.0.flags == TcpFlags::ACK)
        .count();
    let checks = vec![
        check("the rebooted server answers the stale segment with RST", sim.sent(SERVER, TcpFlags::RST), "no RST"),
        check(
            "the client learns: connection reset",
            reason1 == Some(CloseReason::Reset) && err == Some(Error::ConnectionReset),
            format!("{reason1:?} / {err:?}"),
        ),
        check(
            "keep-alive: 3 unanswered probes after 60 s idle, then the dead peer is reported (timed out)",
            reason2 == Some(CloseReason::TimedOut) && waited >= Duration::from_secs(88) && waited <= Duration::from_secs(91),
            format!("{reason2:?} after {waited:?}"),
        ),
        check("three keep-alive probes were sent", probes >= 3, format!("{probes}")),
    ];
    concat(
        sim,
        sim2,
        "keep-alive against a peer that died silently",
        checks,
    )
}

fn idle_attacker(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "idle-attacker",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    sim.hosts[SERVER].app.idle_close = Some(Duration::from_secs(5));
    sim.note(
        Some(SERVER),
        "server policy: close connections idle for 5 s; FIN-WAIT-2 orphans expire after 60 s",
    );
    // The attacker's application never sends and never closes (not even after FIN).
    let mut attackers = Vec::new();
    for i in 0..20u16 {
        attackers.push(
            sim.connect(CLIENT, 20000 + i, 80)
                .expect("attacker connect"),
        );
    }
    sim.run_for(Duration::from_secs(3));
    let peak = sim.hosts[SERVER].ep.connection_count();
    sim.run_for(Duration::from_secs(7));
    sim.note(
        Some(CLIENT),
        "a legitimate client connects and asks for a page",
    );
    let good = sim.connect(CLIENT, 30000, 80).expect("good connect");
    sim.run_until(Duration::from_secs(2), |s| {
        s.conn(SERVER, attackers.len()).is_some()
    });
    let gs = sim.conn(SERVER, attackers.len());
    sim.send(CLIENT, good, b"GET /");
    if let Some(gs) = gs {
        sim.send(SERVER, gs, b"200 OK");
        sim.close_when_sent(SERVER, gs, CloseMode::Close);
    }
    sim.run_for(Duration::from_secs(1));
    let served = sim
        .conn_app(CLIENT, good)
        .is_some_and(|a| a.received == b"200 OK");
    sim.run_for(Duration::from_secs(70));
    let left = sim.hosts[SERVER].ep.connection_count();
    let stuck = attackers
        .iter()
        .filter(|&&a| sim.state(CLIENT, a) == CloseWait)
        .count();
    let checks = vec![
        check(
            "20 idle connections reached the server",
            peak >= 20,
            format!("{peak}"),
        ),
        check(
            "the legitimate client is served meanwhile",
            served,
            "not served",
        ),
        check(
            "the server closed the idle ones; their FIN-WAIT-2 expired: no server state left",
            left == 0,
            format!("{left} connections left"),
        ),
        check(
            "the attacker is left holding its own CLOSE-WAIT connections",
            stuck == attackers.len(),
            format!("{stuck} in CLOSE-WAIT"),
        ),
    ];
    result(sim, checks)
}

fn close_wait_leak(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "close-wait-leak",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.note(
        Some(SERVER),
        "the server application has a bug: it never calls close()",
    );
    sim.close(CLIENT, c);
    sim.run_for(Duration::from_secs(600));
    let info = sim.hosts[SERVER].ep.info(s);
    let age = info.as_ref().map(|i| i.state_age).unwrap_or_default();
    sim.note(
        Some(SERVER),
        format!("finack reports: CLOSE-WAIT for {} s", age.as_secs()),
    );
    let checks = vec![
        check(
            "the server is still in CLOSE-WAIT after 10 minutes",
            sim.state(SERVER, s) == CloseWait,
            format!("{:?}", sim.state(SERVER, s)),
        ),
        check(
            "info() reports the CLOSE-WAIT age",
            age >= Duration::from_secs(599),
            format!("{age:?}"),
        ),
        check(
            "the client's orphaned FIN-WAIT-2 timed out after 60 s",
            sim.state(CLIENT, c) == Closed,
            format!("{:?}", sim.state(CLIENT, c)),
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established, FinWait1, FinWait2, Closed],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, CloseWait],
        ),
    ];
    result(sim, checks)
}

/// Connect, 100 bytes each way, client closes first; repeat `n` times.
fn churn(sim: &mut Sim, n: usize) -> (usize, Option<Error>) {
    let mut done = 0;
    for i in 0..n {
        let c = match sim.connect(CLIENT, 0, 80) {
            Ok(c) => c,
            Err(e) => {
                sim.note(
                    Some(CLIENT),
                    format!("connection {} fails: connect() = {e}", i + 1),
                );
                return (done, Some(e));
            }
        };
        sim.run_until(Duration::from_secs(2), |s| {
            s.state(CLIENT, c) == Established
        });
        sim.send(CLIENT, c, &[b'q'; 100]);
        sim.run_until(Duration::from_secs(2), |s| s.conn(SERVER, i).is_some());
        if let Some(s) = sim.conn(SERVER, i) {
            sim.send(SERVER, s, &[b'r'; 100]);
        }
        sim.hosts[SERVER].app.close_on_peer_fin = true;
        sim.run_until(Duration::from_secs(2), |s| {
            s.conn_app(CLIENT, c)
                .is_some_and(|a| a.received.len() == 100)
        });
        sim.close(CLIENT, c);
        sim.run_until(Duration::from_secs(2), |s| s.state(CLIENT, c) == TimeWait);
        done += 1;
    }
    (done, None)
}

fn time_wait_exhaustion(seed: u64, family: Family) -> ScenarioResult {
    let mut cfg = Config::linux();
    // A small port range keeps the demonstration short: 50 ephemeral ports.
    cfg.ephemeral_ports = (50000, 50049);
    let mut sim = pair(
        "time-wait-exhaustion",
        seed,
        family,
        cfg.clone(),
        Config::linux(),
    );
    sim.note(
        Some(CLIENT),
        "the client's ephemeral port range: 50000-50049",
    );
    let (done, err) = churn(&mut sim, 60);
    let tw = sim.hosts[CLIENT]
        .ep
        .count_by_state()
        .iter()
        .find(|(s, _)| *s == TimeWait)
        .map_or(0, |e| e.1);

    let mut cfg2 = cfg;
    cfg2.tw_reuse = true;
    let mut sim2 = pair("time-wait-exhaustion", seed, family, cfg2, Config::linux());
    sim2.note(Some(CLIENT), "now with tcp_tw_reuse: TIME-WAIT ports may be reused after 1 s when timestamps protect them");
    let (done2, err2) = churn(&mut sim2, 150);
    let checks = vec![
        check(
            "50 connections succeed, then every port is in TIME-WAIT",
            done == 50 && tw == 50,
            format!("{done} done, {tw} in TIME-WAIT"),
        ),
        check(
            "the 51st connect fails: no port available",
            err == Some(Error::AddrNotAvailable),
            format!("{err:?}"),
        ),
        check(
            "with TIME-WAIT reuse, 150 connections succeed",
            done2 == 150 && err2.is_none(),
            format!("{done2}, {err2:?}"),
        ),
    ];
    // The trace of the first part shows the exhaustion; the reuse part is long.
    result(sim, checks)
}

fn rst_abort(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("rst-abort", seed, family, Config::linux(), Config::linux());
    let (c, s) = established(&mut sim);
    sim.hosts[SERVER].app.reading = false;
    sim.send(CLIENT, c, b"a request the server never reads");
    sim.run_for(Duration::from_millis(50));
    sim.note(
        Some(SERVER),
        "the server closes with the request still unread",
    );
    sim.close(SERVER, s);
    sim.run_for(Duration::from_millis(100));
    let err = sim.conn_app(CLIENT, c).and_then(|a| a.error);
    let eof = sim.conn_app(CLIENT, c).is_some_and(|a| a.eof);
    let checks = vec![
        check(
            "the server sends RST, not FIN",
            sim.sent(SERVER, TcpFlags::RST) && !sim.sent(SERVER, TcpFlags::FIN),
            "",
        ),
        check(
            "the client sees a reset, not end of stream",
            err == Some(Error::ConnectionReset) && !eof,
            format!("{err:?}, eof {eof}"),
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established, Closed],
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            &[Listen, SynReceived, Established, Closed],
        ),
    ];
    result(sim, checks)
}

fn refused(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = Sim::with_family(
        "refused",
        seed,
        family,
        ["client", "server"],
        [Config::linux(), Config::linux()],
    );
    sim.note(Some(SERVER), "nothing listens on port 81");
    let c = sim.connect(CLIENT, 0, 81).expect("connect");
    sim.run_until(Duration::from_secs(2), |s| s.state(CLIENT, c) == Closed);
    let reason = sim.hosts[CLIENT].ep.close_reason(c);
    let mut buf = [0u8; 1];
    let err = sim.hosts[CLIENT].ep.recv(sim.now, c, &mut buf).err();
    let rst = sim.trace.packets_from(SERVER).next().map(|p| *p.0);
    let syn = sim.trace.packets_from(CLIENT).next().map(|p| *p.0);
    let checks = vec![
        check(
            "the SYN is answered <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>",
            match (syn, rst) {
                (Some(syn), Some(rst)) => {
                    rst.flags == TcpFlags::RST | TcpFlags::ACK
                        && rst.ack == syn.seq + 1
                        && rst.seq == SeqNumber(0)
                }
                _ => false,
            },
            format!("{rst:?}"),
        ),
        check(
            "connect fails as refused",
            reason == Some(CloseReason::Refused) && err == Some(Error::ConnectionRefused),
            format!("{reason:?} {err:?}"),
        ),
        states_check(&sim.trace, CLIENT, "client", &[Closed, SynSent, Closed]),
    ];
    result(sim, checks)
}
