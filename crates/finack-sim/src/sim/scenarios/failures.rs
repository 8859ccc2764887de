//! Failures and hostile peers: half-open connections, idle attackers.

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{CloseReason, Config, Error, State};

use super::*;
use crate::sim::{CloseMode, Family};

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

pub(super) fn idle_attacker(seed: u64, family: Family) -> ScenarioResult {
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
