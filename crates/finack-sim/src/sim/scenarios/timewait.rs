//! TIME-WAIT: the lost last ACK, life without it, old duplicates, port exhaustion.

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{CloseReason, Config, Error, Instant, Shutdown, State};

use super::*;
use crate::sim::{Family, Sim, Verdict};
use crate::trace::{Fate, TraceEvent};

use State::*;

/// Drop the first ACK from the client that acknowledges the server's FIN.
pub(super) fn drop_last_ack(sim: &mut Sim) {
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

pub(super) fn lost_last_ack(seed: u64, family: Family) -> ScenarioResult {
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
    let restart_noted = sim.trace.events.iter().any(|e| {
        matches!(e, TraceEvent::Note { time, host: Some(CLIENT), text }
            if Some(*time) == refin_arrival && text.contains("TIME-WAIT timer restarted"))
    });
    let text = crate::render::diagram_text(&sim.trace);
    let refin_marked = text
        .lines()
        .filter(|l| l.contains("FIN|ACK") && l.contains("↻ retransmission"))
        .count();
    let checks = vec![
        check(
            "the diagram marks the second FIN (and only it) as a retransmission",
            refin_marked == 1,
            format!("{refin_marked} FIN lines marked"),
        ),
        check(
            "the diagram draws TIME-WAIT's restart (⟳) when the retransmitted FIN arrives",
            restart_noted,
            "no restart note at the retransmitted FIN's arrival",
        ),
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
        states_check(&sim.trace, CLIENT, "client", ACTIVE_CLOSE),
        states_check(&sim.trace, SERVER, "server", PASSIVE_CLOSE),
        no_rst(&sim.trace),
    ];
    result(sim, checks)
}

pub(super) fn lost_ack_run(
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

pub(super) fn no_time_wait(seed: u64, family: Family) -> ScenarioResult {
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
            PASSIVE_CLOSE,
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
pub(super) fn old_dup_run(
    name: &str,
    seed: u64,
    family: Family,
    time_wait: Duration,
    timestamps: bool,
    ack_floor: bool,
) -> (Sim, Vec<u8>, Vec<u8>, bool) {
    let mut ccfg = Config::linux();
    ccfg.time_wait = time_wait;
    ccfg.timestamps = timestamps;
    // Linux 6.7+ also refuses an ACK below the new connection's ISS+1
    // (tcp_ack(): `min(max_window, bytes_acked)`), and the old segment's
    // ACK, of the old connection's bytes, lies below the clock-driven new
    // ISS: a second defence, off but in the last run to show what
    // TIME-WAIT and PAWS themselves do.
    ccfg.old_ack_floor_iss = ack_floor;
    let mut scfg = Config::linux();
    scfg.timestamps = timestamps;
    let mut sim = pair(name, seed, family, ccfg, scfg);
    sim.note(
        None,
        format!(
            "TIME-WAIT {} ms; timestamps {}",
            time_wait.as_millis(),
            if timestamps {
                "on (Linux's default): PAWS guards the connection"
            } else {
                "OFF for this demonstration (no PAWS)"
            }
        ),
    );
    sim.note(
        None,
        if ack_floor {
            "Linux 6.7+ refuses an ACK below the new connection's ISS+1 (Config::old_ack_floor_iss): on"
        } else {
            "Linux 6.7+ would also refuse the old segment for its ACK, which lies below the new ISS (Config::old_ack_floor_iss); that check is off here"
        },
    );
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
    sim.note(
        Some(SERVER),
        "one segment of the reply gets stuck in the network; the server retransmits it and the connection ends normally, but the original is still on its way",
    );
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

pub(super) fn old_duplicate(seed: u64, family: Family) -> ScenarioResult {
    let name = "old-duplicate";
    let (bad, bad_got, greeting, bad_refused) =
        old_dup_run(name, seed, family, Duration::from_millis(1), false, false);
    let (good, good_got, _, good_refused) =
        old_dup_run(name, seed, family, Duration::from_secs(60), false, false);
    let (paws, paws_got, _, paws_refused) =
        old_dup_run(name, seed, family, Duration::from_millis(1), true, false);
    let (floor, floor_got, _, floor_refused) =
        old_dup_run(name, seed, family, Duration::from_millis(1), false, true);
    let old_stream = pattern(200_000, 2);
    let k = 125_000usize;
    let corrupted_prefix = bad_got.len() >= 100 && bad_got[..100] == old_stream[k..k + 100];
    let paws_drops = paws.hosts[CLIENT].ep.stats().paws_rejected;
    let floor_challenges = floor.hosts[CLIENT].ep.stats().challenge_acks;
    let checks = vec![
        check(
            "timestamps off, no TIME-WAIT: the reconnect reuses the 4-tuple at once",
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
            "timestamps off, TIME-WAIT 60 s: the reconnect must wait 2MSL",
            good_refused,
            "connect was not refused",
        ),
        check(
            "... and the new connection's data arrives intact",
            good_got == greeting,
            format!("{} bytes", good_got.len()),
        ),
        check(
            "timestamps on (Linux's default), no TIME-WAIT: the reconnect reuses the 4-tuple at once",
            !paws_refused,
            "connect was refused",
        ),
        check(
            "... but PAWS drops the old segment (its timestamp is older) and the data arrives intact",
            paws_got == greeting && paws_drops >= 1,
            format!("{} bytes, PAWSEstab {paws_drops}", paws_got.len()),
        ),
        check(
            "timestamps off, no TIME-WAIT, Linux 6.7+'s ACK floor: the reconnect reuses the 4-tuple at once",
            !floor_refused,
            "connect was refused",
        ),
        check(
            "... and the old segment's ACK, below the new ISS, earns it a challenge ACK instead of a place in the stream",
            floor_got == greeting && floor_challenges >= 1,
            format!("{} bytes, challenge ACKs {floor_challenges}", floor_got.len()),
        ),
    ];
    let two = concat(
        bad,
        good,
        "the same again, now with TIME-WAIT = 2MSL = 60 s (timestamps still off)",
        checks,
    );
    let three = append(
        two,
        paws,
        "the same without TIME-WAIT but with timestamps on, as Linux has them: PAWS",
    );
    append(
        three,
        floor,
        "the same without TIME-WAIT or timestamps, with Linux 6.7+'s floor on acceptable ACKs",
    )
}

/// Connect, 100 bytes each way, client closes first; repeat `n` times.
pub(super) fn churn(sim: &mut Sim, n: usize) -> (usize, Option<Error>) {
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

pub(super) fn time_wait_exhaustion(seed: u64, family: Family) -> ScenarioResult {
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
    // Let the last packets arrive: nothing is left flying when the runs end.
    sim.run_for(Duration::from_millis(100));
    sim2.run_for(Duration::from_millis(100));
    let ports: std::collections::BTreeSet<u16> = sim2
        .trace
        .packets_from(CLIENT)
        .map(|p| p.0.src_port)
        .collect();
    let took = sim2.now;
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
        check(
            "... on the same 50 ports within one TIME-WAIT (60 s): ports still in TIME-WAIT were reused",
            ports.len() == 50 && took < Instant::from_secs(60),
            format!("{} ports, {took:?}", ports.len()),
        ),
    ];
    concat(
        sim,
        sim2,
        "the same with tcp_tw_reuse = 1 (timestamps on): ports in TIME-WAIT for over 1 s are reused",
        checks,
    )
}
