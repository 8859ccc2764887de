//! What TIME-WAIT and the SYN queue cost a server, and what TIME-WAIT
//! leaves an application: `tcp_max_tw_buckets`, calls on a TIME-WAIT
//! connection, a SYN flood with and without SYN cookies.

use std::time::Duration;

use finack_core::wire::TcpFlags;
use finack_core::{Config, Error, Shutdown, State};

use super::*;
use crate::sim::{Family, Sim, Verdict};

use State::*;

fn count(sim: &Sim, host: usize, state: State) -> usize {
    sim.hosts[host]
        .ep
        .count_by_state()
        .iter()
        .find(|(s, _)| *s == state)
        .map_or(0, |e| e.1)
}

/// `n` short connections the server closes first (an HTTP/1.0 server):
/// each leaves a TIME-WAIT on the server.
fn server_closes(sim: &mut Sim, n: usize) {
    for i in 0..n {
        let Ok(c) = sim.connect(CLIENT, 0, 80) else {
            return;
        };
        sim.hosts[CLIENT].app.close_on_peer_fin = true;
        sim.send(CLIENT, c, b"GET /");
        sim.run_until(Duration::from_secs(2), |s| {
            s.conn(SERVER, i)
                .and_then(|sc| s.conn_app(SERVER, sc))
                .is_some_and(|a| a.received.len() == 5)
        });
        if let Some(s) = sim.conn(SERVER, i) {
            sim.send(SERVER, s, b"200 OK");
            sim.close(SERVER, s);
            sim.run_until(Duration::from_secs(2), |sm| {
                sm.state(SERVER, s) == TimeWait || sm.state(SERVER, s) == Closed
            });
        }
        sim.run_for(Duration::from_millis(30));
    }
}

const TW_CONNS: usize = 12;
const TW_CAP: usize = 8;

pub(super) fn time_wait_buckets(seed: u64, family: Family) -> ScenarioResult {
    // Distinct client ports in the two runs, so that their connections
    // stay apart in the capture of both.
    let mut ccfg = Config::linux();
    ccfg.ephemeral_ports = (30000, 30999);
    let mut sim = pair(
        "time-wait-buckets",
        seed,
        family,
        ccfg.clone(),
        Config::linux(),
    );
    sim.note(Some(SERVER), format!("the server closes first, {TW_CONNS} times: each close leaves a TIME-WAIT on the server"));
    server_closes(&mut sim, TW_CONNS);
    let uncapped = count(&sim, SERVER, TimeWait);
    let mut scfg = Config::linux();
    scfg.max_time_wait = TW_CAP;
    ccfg.ephemeral_ports = (31000, 31999);
    let mut sim2 = pair("time-wait-buckets", seed, family, ccfg, scfg);
    sim2.note(Some(SERVER), format!("tcp_max_tw_buckets = {TW_CAP} (max_time_wait): past the cap a closing connection skips TIME-WAIT"));
    server_closes(&mut sim2, TW_CONNS);
    let capped = count(&sim2, SERVER, TimeWait);
    let overflow = sim2.hosts[SERVER].ep.stats().time_wait_overflow;
    sim.run_for(Duration::from_millis(100));
    sim2.run_for(Duration::from_millis(100));
    let checks = vec![
        check(
            format!("without a cap the server holds {TW_CONNS} TIME-WAITs (one per connection it closed)"),
            uncapped == TW_CONNS,
            format!("{uncapped}"),
        ),
        check(
            format!("with tcp_max_tw_buckets = {TW_CAP} it holds {TW_CAP}"),
            capped == TW_CAP,
            format!("{capped}"),
        ),
        check(
            format!("... and counts the other {} in TCPTimeWaitOverflow", TW_CONNS - TW_CAP),
            overflow == (TW_CONNS - TW_CAP) as u64,
            format!("{overflow}"),
        ),
        check("no RST either way: the overflow is silent", !sim2.sent(SERVER, TcpFlags::RST) && !sim2.sent(CLIENT, TcpFlags::RST), "RST seen"),
    ];
    concat(
        sim,
        sim2,
        format!("the same with tcp_max_tw_buckets = {TW_CAP}").as_str(),
        checks,
    )
}

pub(super) fn time_wait_calls(seed: u64, family: Family) -> ScenarioResult {
    let mut sim = pair(
        "time-wait-calls",
        seed,
        family,
        Config::linux(),
        Config::linux(),
    );
    let (c, s) = established(&mut sim);
    sim.run_for(Duration::from_millis(30));
    sim.note(
        Some(CLIENT),
        "the client calls shutdown(SHUT_WR) and keeps its socket",
    );
    sim.shutdown(CLIENT, c, Shutdown::Write);
    sim.run_until(Duration::from_secs(1), |sm| {
        sm.state(SERVER, s) == CloseWait
    });
    sim.close(SERVER, s);
    sim.run_until(Duration::from_secs(1), |sm| sm.state(CLIENT, c) == TimeWait);
    sim.run_for(Duration::from_millis(50));
    let now = sim.now;
    let mut buf = [0u8; 16];
    let read = sim.hosts[CLIENT].ep.recv(now, c, &mut buf);
    let write = sim.hosts[CLIENT].ep.send(now, c, b"more?");
    sim.note(
        Some(CLIENT),
        format!("in TIME-WAIT: recv() = {read:?}, send() = {write:?}"),
    );
    let sent_after = sim
        .trace
        .packets_from(CLIENT)
        .filter(|p| p.2 >= now && p.0.len > 0)
        .count();
    sim.run_until(Duration::from_secs(120), |sm| sm.state(CLIENT, c) == Closed);
    let checks = vec![
        states_check(&sim.trace, CLIENT, "client", ACTIVE_CLOSE),
        states_check(&sim.trace, SERVER, "server", PASSIVE_CLOSE),
        check(
            "recv() in TIME-WAIT gives no data: end of stream (the peer's FIN was read)",
            matches!(read, Ok(0)),
            format!("{read:?}"),
        ),
        check(
            "send() in TIME-WAIT is refused (the sending side was shut down)",
            matches!(
                write,
                Err(Error::NotConnected | Error::BrokenPipe | Error::InvalidHandle)
            ),
            format!("{write:?}"),
        ),
        check(
            "nothing is sent for it",
            sent_after == 0,
            format!("{sent_after} data segments"),
        ),
    ];
    result(sim, checks)
}

const FLOOD: u16 = 6;
const SYN_BACKLOG: usize = 4;

fn syn_flood_run(seed: u64, family: Family, cookies: bool) -> (Sim, Option<Duration>, u64, u64) {
    let mut scfg = Config::linux();
    scfg.syn_cookies = cookies;
    let mut sim = Sim::with_family(
        "syn-flood",
        seed,
        family,
        ["client", "server"],
        [Config::linux(), scfg],
    );
    sim.listen(SERVER, 80, SYN_BACKLOG);
    sim.note(
        Some(SERVER),
        format!("listen backlog {SYN_BACKLOG}: the SYN queue holds {SYN_BACKLOG} half-open connections; SYN cookies {}", if cookies { "on (tcp_syncookies = 1)" } else { "off" }),
    );
    // Spoofed sources: nobody answers the SYN-ACKs sent to them.
    sim.rule(|p| {
        (p.from == SERVER && (40000..40000 + FLOOD).contains(&p.seg.dst_port))
            .then(|| Verdict::Drop("spoofed source: nobody there".into()))
    });
    sim.note(
        Some(CLIENT),
        format!("an attacker sends {FLOOD} SYNs from spoofed addresses"),
    );
    let flood: Vec<_> = (0..FLOOD)
        .filter_map(|i| sim.connect(CLIENT, 40000 + i, 80).ok())
        .collect();
    sim.run_for(Duration::from_millis(5));
    for c in flood {
        // The spoofer keeps no state: forget them without a word.
        let _ = sim.hosts[CLIENT].ep.abort(sim.now, c);
    }
    sim.run_for(Duration::from_millis(100));
    sim.note(Some(CLIENT), "a legitimate client connects");
    let t0 = sim.now;
    let good = sim.connect(CLIENT, 30000, 80).expect("connect");
    sim.run_until(Duration::from_secs(10), |sm| {
        sm.state(CLIENT, good) == Established
    });
    let took = (sim.state(CLIENT, good) == Established).then(|| sim.now - t0);
    // Let the last packets arrive: nothing is left flying when the run ends.
    sim.run_for(Duration::from_millis(100));
    let st = sim.hosts[SERVER].ep.stats();
    (sim, took, st.syn_queue_overflow, st.syn_cookies_sent)
}

pub(super) fn syn_flood(seed: u64, family: Family) -> ScenarioResult {
    let (off, off_took, off_drops, _) = syn_flood_run(seed, family, false);
    let (on, on_took, _, cookies) = syn_flood_run(seed, family, true);
    let checks = vec![
        check(
            "without SYN cookies the full SYN queue drops the legitimate SYN (TCPReqQFullDrop)",
            off_drops >= 1,
            format!("{off_drops} drops"),
        ),
        check(
            "... and the client is not connected within 10 s (its SYN retries meet the same full queue)",
            off_took.is_none(),
            format!("connected after {off_took:?}"),
        ),
        check(
            "with SYN cookies the server answers from a cookie (SyncookiesSent)",
            cookies >= 1,
            format!("{cookies} cookies"),
        ),
        check(
            "... and the legitimate client connects at its first SYN",
            on_took.is_some_and(|d| d < Duration::from_millis(100)),
            format!("{on_took:?}"),
        ),
    ];
    concat(off, on, "the same with SYN cookies on", checks)
}
