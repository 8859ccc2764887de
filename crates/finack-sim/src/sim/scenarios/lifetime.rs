//! Time in TCP's numbers: MSL as a segment's lifetime in the network, and
//! the 4 µs ISN clock with the wrap of the sequence space.

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{CloseReason, Config, Instant, Shutdown, State};

use super::*;
use crate::sim::{Family, Verdict};
use crate::trace::{Fate, TraceEvent};

use State::*;

/// Linux's MSL: TIME-WAIT is 60 s = 2MSL.
const MSL: Duration = Duration::from_secs(30);

pub(super) fn msl(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("msl", seed, family, Config::linux(), Config::linux());
    sim.note(
        None,
        "MSL = 30 s: the network may keep a segment that long, and no longer (TIME-WAIT = 2MSL = 60 s)",
    );
    let mut server_fin: Option<SeqNumber> = None;
    let mut fins = 0;
    let mut last_ack_done = false;
    sim.rule(move |p| {
        if p.from == SERVER && p.seg.flags.fin() {
            server_fin = Some(p.seg.seq + p.seg.len as u32);
            fins += 1;
            return match fins {
                1 => None,
                2 => Some(Verdict::Delay(MSL - Duration::from_secs(1))),
                _ => Some(Verdict::Drop("scripted loss".into())),
            };
        }
        if !last_ack_done
            && p.from == CLIENT
            && p.seg.flags.ack()
            && server_fin.is_some_and(|f| p.seg.ack == f + 1)
        {
            last_ack_done = true;
            return Some(Verdict::Drop(
                "held 40 s in the network, longer than MSL: discarded".into(),
            ));
        }
        None
    });
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(50));
    sim.close(CLIENT, c);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    sim.run_for(Duration::from_millis(50));
    sim.shutdown(SERVER, s, Shutdown::Write);
    sim.run_until(Duration::from_secs(1), |sm| sm.state(CLIENT, c) == TimeWait);
    let tw_start = sim.now;
    sim.note(
        Some(SERVER),
        "its FIN retransmission spends 29 s in the network, just under MSL",
    );
    sim.run_until(Duration::from_secs(200), |sm| {
        sm.state(SERVER, s) == Closed && sm.state(CLIENT, c) == Closed
    });
    let fins: Vec<(Instant, Fate)> = sim
        .trace
        .packets_from(SERVER)
        .filter(|p| p.0.flags.fin())
        .map(|p| (p.2, p.1.clone()))
        .collect();
    let slow = match fins.get(1) {
        Some((sent, Fate::Delivered(at))) => Some((*sent, *at)),
        _ => None,
    };
    let ack_expired = sim.trace.events.iter().any(|e| {
        matches!(e, TraceEvent::Packet { from: CLIENT, fate: Fate::Dropped(why), .. } if why.contains("MSL"))
    });
    let reason = sim.hosts[SERVER].ep.close_reason(s);
    let checks = vec![
        check(
            "the last ACK, held longer than MSL, is discarded by the network",
            ack_expired,
            "not dropped",
        ),
        check(
            "the retransmitted FIN arrives after 29 s in the network, while the client is still in TIME-WAIT",
            slow.is_some_and(|(sent, at)| {
                at - sent >= MSL - Duration::from_secs(1) && at < tw_start + 2 * MSL
            }),
            format!("{slow:?}, TIME-WAIT from {tw_start:?}"),
        ),
        check(
            "TIME-WAIT re-ACKs it and the server closes normally (no RST)",
            reason == Some(CloseReason::Normal) && !sim.sent(CLIENT, TcpFlags::RST),
            format!("{reason:?}"),
        ),
        check(
            "2MSL covers the worst case: one MSL for the ACK out, one for the FIN back",
            Config::linux().time_wait >= 2 * MSL,
            format!("{:?}", Config::linux().time_wait),
        ),
        states_check(&sim.trace, CLIENT, "client", ACTIVE_CLOSE),
        states_check(&sim.trace, SERVER, "server", PASSIVE_CLOSE),
    ];
    result(sim, checks)
}

/// 2^32 ISN ticks of 4 µs, in microseconds.
const ISN_WRAP_US: u64 = (1u64 << 32) * 4;

pub(super) fn isn_clock(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair("isn-clock", seed, family, Config::linux(), Config::linux());
    sim.note(
        None,
        "RFC 6528: ISN = a 4 us clock + a keyed hash of the 4-tuple",
    );
    let c1 = sim.connect(CLIENT, 40000, 80).expect("connect");
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(CLIENT, c1) == Established
    });
    sim.note(
        Some(CLIENT),
        "the client aborts (RST, so no TIME-WAIT) and connects again from port 40000 exactly 1 s after its first SYN",
    );
    sim.abort(CLIENT, c1);
    let at = Instant::from_secs(1);
    if sim.now < at {
        sim.run_for(at - sim.now);
    }
    let c2 = sim.connect(CLIENT, 40000, 80).expect("reconnect");
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(CLIENT, c2) == Established
    });
    sim.run_for(Duration::from_millis(50));
    let syns: Vec<u32> = sim
        .trace
        .packets_from(CLIENT)
        .filter(|p| p.0.flags.syn())
        .map(|p| p.0.seq.0)
        .collect();
    let diff = match syns.as_slice() {
        [a, b, ..] => Some(b.wrapping_sub(*a)),
        _ => None,
    };
    let wrap_h = ISN_WRAP_US as f64 / 3.6e9;
    // Bytes per second at 10 Gbit/s and the time 2^32 of them take.
    let wrap_10g = (1u64 << 32) as f64 * 8.0 / 10e9;
    sim.note(
        None,
        format!(
            "the ISN clock wraps after 2^32 x 4 us = {wrap_h:.2} h; at 10 Gbit/s the sequence numbers of a connection wrap in {wrap_10g:.1} s, well within MSL: only PAWS (timestamps) tells an old segment from a new one then"
        ),
    );
    let checks = vec![
        check(
            "the second ISN is 250000 above the first: 1 s / 4 us",
            diff.is_some_and(|d| (249_990..=250_010).contains(&d)),
            format!("{diff:?} ({syns:?})"),
        ),
        check(
            "the ISN space wraps after 2^32 x 4 us = 4.77 h (not 4.55 h)",
            (wrap_h * 100.0).round() == 477.0,
            format!("{wrap_h}"),
        ),
        check(
            "at 10 Gbit/s the sequence space wraps in 3.4 s, less than MSL (30 s)",
            (wrap_10g * 10.0).round() == 34.0 && wrap_10g < MSL.as_secs_f64(),
            format!("{wrap_10g}"),
        ),
        states_check(
            &sim.trace,
            CLIENT,
            "client",
            &[Closed, SynSent, Established, Closed, SynSent, Established],
        ),
    ];
    result(sim, checks)
}

/// One run of `seq-wrap`: the server streams 40 kB to the client; when half
/// has arrived, a copy of a server segment "one wrap old" arrives: its
/// sequence numbers lie ahead in the client's window, as a segment sent
/// 2^32 bytes earlier (3.4 s ago at 10 Gbit/s) would, and its timestamp is
/// 3.4 s older than the stream's. The simulator cannot send 4 GiB quickly,
/// so the scenario forges that segment from the server's latest one.
fn seq_wrap_run(timestamps: bool, seed: u64, family: Family) -> (Sim, Vec<u8>, Vec<Check>) {
    // Each run on its own client port, so the two read as two connections.
    let port = if timestamps { 40001 } else { 40000 };
    let mut cfg = Config::linux();
    cfg.timestamps = timestamps;
    let mut sim = pair("seq-wrap", seed, family, cfg.clone(), cfg);
    let c = sim.connect(CLIENT, port, 80).expect("connect");
    sim.run_until(Duration::from_secs(1), |sm| sm.conn(SERVER, 0).is_some());
    let s = sim.conn(SERVER, 0).expect("accepted");
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = data.split_at(20_000);
    sim.send(SERVER, s, first);
    sim.run_until(Duration::from_secs(5), |sm| {
        sm.conn_app(CLIENT, c)
            .is_some_and(|a| a.received.len() >= 20_000)
    });
    // The server's latest data segment, as sent.
    let last = sim.trace.events.iter().rev().find_map(|e| match e {
        TraceEvent::Packet {
            from: SERVER,
            seg,
            bytes,
            ..
        } if seg.len > 0 => Some(bytes.clone()),
        _ => None,
    });
    let mut injected = false;
    if let Some(bytes) = last {
        if let Ok((ip, tcp)) = finack_core::wire::parse_tcp_packet(&bytes) {
            let stale = vec![b'#'; 500];
            let mut options = tcp.options;
            if let Some(ts) = options.timestamps.as_mut() {
                // Linux's timestamp clock ticks every millisecond.
                ts.tsval = ts.tsval.wrapping_sub(3_400);
            }
            let old = finack_core::wire::TcpRepr {
                // 4000 bytes past the end of what the server sent so far:
                // inside the client's window, not yet received.
                seq: tcp.seq + tcp.payload.len() as u32 + 4_000,
                options,
                payload: &stale,
                ..tcp
            };
            let mut out = vec![0u8; finack_core::wire::tcp_packet_len(&ip, &old)];
            if let Ok(n) = finack_core::wire::emit_tcp_packet(&ip, &old, &mut out) {
                out.truncate(n);
                sim.note(
                    None,
                    "a segment one sequence wrap old arrives: its sequence numbers are in the client's window, its timestamp 3.4 s old",
                );
                sim.inject(SERVER, out);
                injected = true;
            }
        }
    }
    sim.send(SERVER, s, second);
    sim.close_when_sent(SERVER, s, super::super::CloseMode::Close);
    sim.run_until(Duration::from_secs(10), |sm| {
        sm.conn_app(CLIENT, c).is_some_and(|a| a.eof)
    });
    sim.close(CLIENT, c);
    sim.run_for(Duration::from_secs(1));
    let got = sim
        .conn_app(CLIENT, c)
        .map(|a| a.received.clone())
        .unwrap_or_default();
    let paws = sim.hosts[CLIENT].ep.stats().paws_rejected;
    let mut checks = vec![check(
        "the stale segment was forged from the server's latest one and put on the link",
        injected,
        "no server data segment to copy",
    )];
    if timestamps {
        checks.push(check(
            "with timestamps, PAWS drops it (PAWSEstab) and the 40 kB arrive intact",
            paws >= 1 && got == data,
            format!(
                "PAWSEstab {paws}, {} bytes, intact {}",
                got.len(),
                got == data
            ),
        ));
    } else {
        checks.push(check(
            "without timestamps it is taken as data: what the client reads is not what the server sent",
            got.len() == data.len() && got != data && got.contains(&b'#'),
            format!("{} bytes, intact {}", got.len(), got == data),
        ));
    }
    (sim, got, checks)
}

/// `seq-wrap`: PAWS (RFC 7323 §5) against sequence numbers that wrapped.
pub(super) fn seq_wrap(seed: u64, family: Family) -> ScenarioResult {
    let (a, _, mut checks) = seq_wrap_run(false, seed, family);
    let (b, _, more) = seq_wrap_run(true, seed, family);
    checks.extend(more);
    concat(
        a,
        b,
        "the same with timestamps on (Linux's default): PAWS",
        checks,
    )
}
