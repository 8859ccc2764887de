//! Failures and hostile peers: half-open connections, idle attackers.

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{CloseReason, Config, Error, State};

use super::*;
use crate::sim::{CloseMode, Family, Sim};
use crate::trace::TraceEvent;

use State::*;

pub(super) fn half_open(seed: u64, family: Family) -> ScenarioResult {
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
    // Part three: the client restarts and connects again from the same
    // port while the server still holds the old connection.
    let mut sim3 = pair("half-open", seed, family, Config::linux(), Config::linux());
    let port = 40_000;
    sim3.connect(CLIENT, port, 80).expect("connect");
    sim3.run_until(Duration::from_secs(5), |s| s.conn(SERVER, 0).is_some());
    let s3 = sim3.conn(SERVER, 0).expect("accepted");
    sim3.run_for(Duration::from_secs(1));
    sim3.crash(CLIENT);
    sim3.run_for(Duration::from_secs(1));
    sim3.reboot(CLIENT);
    sim3.note(
        Some(CLIENT),
        "the restarted client connects again from the same port; the server still holds the old connection and answers the SYN with an ACK for it",
    );
    let t1 = sim3.now;
    let c4 = sim3.connect(CLIENT, port, 80).expect("reconnect");
    sim3.run_until(Duration::from_secs(5), |s| {
        s.state(CLIENT, c4) == Established
    });
    let took = sim3.now - t1;
    sim3.run_for(Duration::from_millis(100));
    let old_reason = sim3.hosts[SERVER].ep.close_reason(s3);
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
        check(
            "the restarted client resets the server's stale connection (its ACK acknowledges no SYN of ours)",
            sim3.sent(CLIENT, TcpFlags::RST) && old_reason == Some(CloseReason::Reset),
            format!("{old_reason:?}"),
        ),
        // Linux tcp_rcv_synsent_state_process(): the SYN goes again at once
        // after that reset, not after the 1 s RTO.
        check(
            "and connects at once: its SYN goes again right after the reset",
            sim3.state(CLIENT, c4) == Established && took < Duration::from_millis(500),
            format!("{:?} after {took:?}", sim3.state(CLIENT, c4)),
        ),
    ];
    let first = concat(
        sim,
        sim2,
        "keep-alive against a peer that died silently",
        checks,
    );
    append(
        first,
        sim3,
        "the client restarts instead and connects again from the same port",
    )
}

/// Attackers that connect and then do nothing; a legitimate client served
/// meanwhile. With `defence`, the server's listener resets connections idle
/// for 5 s (`ListenerLimits::idle_timeout`, the engine's own timer).
fn idle_attack_run(seed: u64, family: Family, defence: bool) -> (Sim, IdleOutcome) {
    let mut scfg = Config::linux();
    if defence {
        scfg.listener_limits.idle_timeout = Some(Duration::from_secs(5));
    }
    let mut sim = pair("idle-attacker", seed, family, Config::linux(), scfg);
    sim.note(
        Some(SERVER),
        if defence {
            "defence on: the listener resets connections on which nothing arrives for 5 s (idle_timeout)"
        } else {
            "no defence: the server keeps every connection until its peer ends it"
        },
    );
    // The attacker's application never sends and never closes.
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|i| {
            sim.connect(CLIENT, 20000 + i, 80)
                .expect("attacker connect")
        })
        .collect();
    sim.run_for(Duration::from_secs(1));
    let peak = sim.hosts[SERVER].ep.connection_count();
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
    sim.run_until(Duration::from_secs(2), |s| {
        gs.and_then(|g| s.conn_app(SERVER, g))
            .is_some_and(|a| a.received == b"GET /")
    });
    if let Some(gs) = gs {
        sim.note(Some(SERVER), "the server answers and calls close()");
        sim.send(SERVER, gs, b"200 OK");
        sim.close_when_sent(SERVER, gs, CloseMode::Close);
    }
    sim.run_until(Duration::from_secs(2), |s| {
        s.conn_app(CLIENT, good).is_some_and(|a| a.eof)
    });
    let served = sim
        .conn_app(CLIENT, good)
        .is_some_and(|a| a.received == b"200 OK" && a.eof);
    sim.note(
        Some(CLIENT),
        "the legitimate client has its page and calls close()",
    );
    sim.close(CLIENT, good);
    sim.run_for(Duration::from_secs(70));
    let left = sim.hosts[SERVER].ep.connection_count();
    let established = sim.hosts[SERVER]
        .ep
        .count_by_state()
        .iter()
        .find(|(s, _)| *s == Established)
        .map_or(0, |e| e.1);
    let out = IdleOutcome {
        peak,
        served,
        left,
        established,
    };
    (sim, out)
}

const ATTACKERS: u16 = 4;

struct IdleOutcome {
    peak: usize,
    served: bool,
    left: usize,
    established: usize,
}

pub(super) fn idle_attacker(seed: u64, family: Family) -> ScenarioResult {
    let (sim, on) = idle_attack_run(seed, family, true);
    let (off_sim, off) = idle_attack_run(seed, family, false);
    let t = &sim.trace;
    let good_port = 30000;
    let legit_rst = t.events.iter().any(|e| {
        matches!(e, TraceEvent::Packet { seg, .. }
            if seg.flags.rst() && (seg.src_port == good_port || seg.dst_port == good_port))
    });
    // The server's close() is drawn when its FIN leaves (no stale time).
    let close_at = t.events.iter().find_map(|e| match e {
        TraceEvent::State {
            host: SERVER,
            remote_port,
            to: FinWait1,
            time,
            ..
        } if *remote_port == good_port => Some(*time),
        _ => None,
    });
    let fin_at = t
        .packets_from(SERVER)
        .find(|p| p.0.flags.fin() && p.0.dst_port == good_port)
        .map(|p| p.2);
    let attacker_rsts = t
        .packets_from(SERVER)
        .filter(|p| p.0.flags.rst() && p.0.dst_port != good_port)
        .count();
    let checks = vec![
        check(
            "the idle connections reached the server",
            on.peak >= usize::from(ATTACKERS),
            format!("{}", on.peak),
        ),
        check(
            "the legitimate client is served: its page, then end of stream",
            on.served,
            "not served",
        ),
        states_check_port(
            t,
            CLIENT,
            good_port,
            "legitimate client",
            &[Closed, SynSent, Established, CloseWait, LastAck, Closed],
        ),
        check(
            "the legitimate connection ends without a RST",
            !legit_rst,
            "a RST on port 30000",
        ),
        check(
            "the server's close() is drawn when its FIN leaves",
            close_at.is_some() && close_at == fin_at,
            format!("close() at {close_at:?}, FIN at {fin_at:?}"),
        ),
        check(
            "with the defence the listener resets each idle attacker (engine idle timeout)",
            attacker_rsts == usize::from(ATTACKERS),
            format!("{attacker_rsts} RSTs to attackers"),
        ),
        check(
            "... and no server state is left after 70 s",
            on.left == 0,
            format!("{} connections left", on.left),
        ),
        check(
            "without the defence the attackers still hold their connections after 70 s",
            off.established == usize::from(ATTACKERS) && off.served,
            format!("{} ESTABLISHED, served {}", off.established, off.served),
        ),
    ];
    concat(
        sim,
        off_sim,
        "the same without the defence (no idle timeout)",
        checks,
    )
}
