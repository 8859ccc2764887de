//! Closing: four-way, simultaneous, FIN+ACK merged, FIN with data, half-close,
//! RST on close with unread data, the CLOSE-WAIT leak.

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{Config, Error, Instant, State};

use super::*;
use crate::sim::{CloseMode, Family};
use crate::trace::TraceEvent;

use State::*;

/// Request, response, then the four-way close started by `closer`.
pub(super) fn four_way(name: &str, seed: u64, family: Family, closer: usize) -> ScenarioResult {
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

pub(super) fn client_close(seed: u64, family: Family) -> ScenarioResult {
    four_way("client-close", seed, family, CLIENT)
}

pub(super) fn server_close(seed: u64, family: Family) -> ScenarioResult {
    four_way("server-close", seed, family, SERVER)
}

pub(super) fn simultaneous_close(seed: u64, family: Family) -> ScenarioResult {
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

pub(super) fn fin_ack_merged(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "fin-ack-merged",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.send(CLIENT, c, b"GET /last HTTP/1.0\r\n\r\n");
    sim.run_for(Duration::from_millis(50));
    let last = b"HTTP/1.0 200 OK\r\n\r\nbye".to_vec();
    sim.hosts[SERVER].app.close_on_peer_fin = true;
    sim.hosts[SERVER].app.last_words = last.clone();
    sim.note(
        Some(SERVER),
        "when the client's FIN arrives the server writes its last data and calls close() at once",
    );
    sim.note(
        Some(CLIENT),
        "the client is done sending and still reads: shutdown(SHUT_WR) (after close() the reply would be answered with RST)",
    );
    sim.shutdown(CLIENT, c, finack_core::Shutdown::Write);
    sim.run_until(Duration::from_secs(120), |sm| {
        sm.state(CLIENT, c) == Closed && sm.state(SERVER, s) == Closed
    });
    let client_fin = sim
        .trace
        .packets_from(CLIENT)
        .find(|p| p.0.flags.fin())
        .map(|p| p.0.seq + p.0.len as u32 + 1);
    let merged = sim.trace.packets_from(SERVER).find(|p| {
        p.0.flags.fin() && p.0.flags.ack() && p.0.len == last.len() && Some(p.0.ack) == client_fin
    });
    let close: Vec<TcpFlags> = sim
        .trace
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Packet { seg, time, .. } if *time > Instant::from_millis(75) => {
                Some(seg.flags & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK))
            }
            _ => None,
        })
        .collect();
    let got = sim
        .conn_app(CLIENT, c)
        .map(|a| (a.received.clone(), a.eof))
        .unwrap_or_default();
    let checks = vec![
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established, FinWait1, TimeWait, Closed],
        ),
        states_check(&sim.trace, SERVER, "server", PASSIVE_CLOSE),
        check(
            "one server segment carries its last data, the ACK of the client's FIN and its own FIN",
            merged.is_some(),
            "no segment with data + FIN + ACK of the client's FIN",
        ),
        check(
            "three segments close it: FIN, data+FIN+ACK, ACK",
            close
                == [
                    TcpFlags::FIN | TcpFlags::ACK,
                    TcpFlags::FIN | TcpFlags::ACK,
                    TcpFlags::ACK,
                ],
            format!("{close:?}"),
        ),
        check(
            "the client reads the last data, then end of stream",
            got.0 == last && got.1,
            format!("{} bytes, eof {}", got.0.len(), got.1),
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

pub(super) fn fin_with_data(seed: u64, family: Family) -> ScenarioResult {
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
        states_check(&sim.trace, CLIENT, "client", ACTIVE_CLOSE),
        states_check(&sim.trace, SERVER, "server", PASSIVE_CLOSE),
    ];
    result(sim, checks)
}

pub(super) fn half_close(seed: u64, family: Family) -> ScenarioResult {
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
        "CLOSE-WAIT: the server has read the end of the request and keeps sending its 200000-byte reply",
    );
    sim.send(SERVER, s, &reply);
    // Bytes the client had when it entered FIN-WAIT-2; receiving more while
    // still there is the half-close the article describes. The same for the
    // server's CLOSE-WAIT: bytes delivered while it is there.
    let mut at_fw2: Option<usize> = None;
    let mut in_fw2 = false;
    let mut at_cw: Option<usize> = None;
    let mut in_cw = 0usize;
    sim.run_until(Duration::from_secs(30), |sm| {
        let got = sm.conn_app(CLIENT, c).map_or(0, |a| a.received.len());
        if sm.state(CLIENT, c) == FinWait2 {
            let entry = *at_fw2.get_or_insert(got);
            in_fw2 |= got > entry;
        }
        if sm.state(SERVER, s) == CloseWait {
            let entry = *at_cw.get_or_insert(got);
            in_cw = got - entry;
        }
        got >= reply.len()
    });
    let server_state_at_end_of_data = sim.state(SERVER, s);
    sim.note(
        Some(SERVER),
        "the reply is delivered: now the server calls close()",
    );
    sim.close(SERVER, s);
    sim.run_until(Duration::from_secs(30), |sm| {
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
        check(
            "all 200000 bytes reached the client after the server entered CLOSE-WAIT, while it stayed there",
            in_cw == reply.len() && server_state_at_end_of_data == CloseWait,
            format!("{in_cw} bytes in CLOSE-WAIT; server in {server_state_at_end_of_data:?} at the end of the data"),
        ),
        check(
            "the client's half-close is shutdown(SHUT_WR), drawn so",
            sim.trace.events.iter().any(|e| matches!(e, TraceEvent::State { host: 0, to: FinWait1, cause, .. } if cause == "shutdown(SHUT_WR)")),
            "no FIN-WAIT-1 caused by shutdown(SHUT_WR)",
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            ACTIVE_CLOSE,
        ),
        states_check(
            &sim.trace,
            SERVER,
            "server",
            PASSIVE_CLOSE,
        ),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

pub(super) fn rst_abort(seed: u64, family: Family) -> ScenarioResult {
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

pub(super) fn close_wait_leak(seed: u64, family: Family) -> ScenarioResult {
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
