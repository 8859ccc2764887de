//! Connection-lifecycle scenarios shared by the state-machine tests and the
//! transition-coverage test. Those the simulator's catalog has
//! (`crates/finack-sim/src/sim/scenarios.rs`) run there, through
//! [`catalog_run`], with the catalog's own checks and a few more on its trace;
//! the rest run two endpoints over the test network, assert what they show, and
//! return the network (with its transition records). Both kinds run on IPv4 and
//! IPv6.

#![allow(dead_code)]

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags, TcpOptions, Timestamps};
use finack_core::{CloseReason, Config, Error, Instant, Shutdown, State};
use finack_sim::{Fate, HostId, ScenarioResult, SegmentSummary, TraceEvent};

use crate::common::*;

use State::*;

/// A scenario on the test network: runs and asserts, returns the network for
/// inspection.
pub type Scenario = fn(Family) -> Net;

/// Every scenario on the test network, by name (the catalog's are in
/// `finack_sim::catalog()`).
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("simultaneous_open_then_close", simultaneous_open_then_close),
    ("rst_aborts_established", rst_aborts_established),
    ("abort_sends_rst", abort_sends_rst),
    ("fin_wait_2_timeout", fin_wait_2_timeout),
    ("syn_retries_time_out", syn_retries_time_out),
    (
        "synack_retries_return_to_listen",
        synack_retries_return_to_listen,
    ),
    (
        "syn_received_rst_returns_to_listen",
        syn_received_rst_returns_to_listen,
    ),
    ("close_in_syn_sent", close_in_syn_sent),
    ("close_listener", close_listener),
    ("send_from_listen", send_from_listen),
    ("data_retries_time_out", data_retries_time_out),
    ("user_timeout_aborts", user_timeout_aborts),
    (
        "time_wait_reopened_by_new_syn",
        time_wait_reopened_by_new_syn,
    ),
    (
        "rst_in_time_wait_without_rfc1337",
        rst_in_time_wait_without_rfc1337,
    ),
    (
        "ack_and_fin_complete_handshake",
        ack_and_fin_complete_handshake,
    ),
    ("rst_in_close_wait", rst_in_close_wait),
    ("rst_in_last_ack", rst_in_last_ack),
    ("mib_client_first", mib_client_first),
    ("mib_server_first", mib_server_first),
    ("mib_simultaneous", mib_simultaneous),
    ("mib_fin_ack_merged", mib_fin_ack_merged),
    ("mib_half_close", mib_half_close),
];

fn assert_states(net: &Net, client: &[State], server: &[State]) {
    assert_eq!(
        states(&net.client_states),
        client,
        "client states\n{}",
        net.trace()
    );
    assert_eq!(
        states(&net.server_states),
        server,
        "server states\n{}",
        net.trace()
    );
}

/// The simulator's address family for a test family.
fn sim_family(f: Family) -> finack_sim::Family {
    match f {
        Family::V4 => finack_sim::Family::V4,
        Family::V6 => finack_sim::Family::V6,
    }
}

/// Run the simulator catalog's scenario `name` (seed 1) on `f`: it asserts
/// something, and every check it makes holds.
pub fn catalog_run(name: &str, f: Family) -> ScenarioResult {
    let def = finack_sim::find(name)
        .unwrap_or_else(|| panic!("{name} is not in the simulator's catalog"));
    let r = (def.run)(1, sim_family(f));
    let failed: String = r
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  ✗ {}: {}\n", c.what, c.detail))
        .collect();
    assert!(!r.checks.is_empty(), "{name} checks nothing");
    assert!(
        failed.is_empty(),
        "{name} ({f:?}) failed:\n{failed}{}",
        finack_sim::render::diagram_text(&r.trace)
    );
    r
}

/// The segments of a catalog run, in the order they were sent, with the sender.
fn segments(r: &ScenarioResult) -> Vec<(HostId, SegmentSummary)> {
    r.trace
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Packet { from, seg, .. } => Some((*from, *seg)),
            _ => None,
        })
        .collect()
}

const CLIENT: HostId = 0;
const SERVER: HostId = 1;

/// Three-way handshake (catalog `handshake`): CLOSED→SYN-SENT→ESTABLISHED;
/// LISTEN→SYN-RECEIVED→ESTABLISHED; and in that order SYN, SYN,ACK acknowledging
/// ISS+1, ACK.
pub fn handshake(f: Family) -> ScenarioResult {
    let r = catalog_run("handshake", f);
    let segs = segments(&r);
    let flags: Vec<_> = segs.iter().map(|(h, s)| (*h, s.flags)).collect();
    assert_eq!(
        flags,
        [
            (CLIENT, TcpFlags::SYN),
            (SERVER, TcpFlags::SYN | TcpFlags::ACK),
            (CLIENT, TcpFlags::ACK),
        ]
    );
    let (syn, synack, ack) = (segs[0].1, segs[1].1, segs[2].1);
    assert_eq!(synack.ack, syn.seq + 1, "SYN,ACK acknowledges ISS+1");
    assert_eq!(ack.seq, syn.seq + 1);
    assert_eq!(ack.ack, synack.seq + 1);
    r
}

/// The four segments of an unmerged four-way close started by `closer`: FIN,
/// ACK, FIN, ACK.
fn assert_four_segment_close(r: &ScenarioResult, closer: HostId) {
    let segs = segments(r);
    let first_fin = segs.iter().position(|(_, s)| s.flags.fin()).expect("a FIN");
    let close: Vec<_> = segs[first_fin..]
        .iter()
        .map(|(h, s)| (*h, s.flags))
        .collect();
    let other = 1 - closer;
    assert_eq!(
        close,
        [
            (closer, TcpFlags::FIN | TcpFlags::ACK),
            (other, TcpFlags::ACK),
            (other, TcpFlags::FIN | TcpFlags::ACK),
            (closer, TcpFlags::ACK),
        ]
    );
}

/// Four-way close, client first (catalog `client-close`): FIN-WAIT-1,
/// FIN-WAIT-2, TIME-WAIT (2MSL), CLOSED; server CLOSE-WAIT, LAST-ACK, CLOSED.
pub fn client_close(f: Family) -> ScenarioResult {
    let r = catalog_run("client-close", f);
    assert_four_segment_close(&r, CLIENT);
    r
}

/// The same with the server closing first (catalog `server-close`).
pub fn server_close(f: Family) -> ScenarioResult {
    let r = catalog_run("server-close", f);
    assert_four_segment_close(&r, SERVER);
    r
}

/// Both close at once: FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides (catalog
/// `simultaneous-close`).
pub fn simultaneous_close(f: Family) -> ScenarioResult {
    catalog_run("simultaneous-close", f)
}

/// The passive side answers the FIN with FIN+ACK: FIN-WAIT-1 → TIME-WAIT
/// directly, a three-segment close (catalog `fin-ack-merged`).
pub fn fin_ack_merged(f: Family) -> ScenarioResult {
    catalog_run("fin-ack-merged", f)
}

/// The last data rides on the FIN; sequence numbers count the data and the FIN
/// (catalog `fin-with-data`).
pub fn fin_with_data(f: Family) -> ScenarioResult {
    catalog_run("fin-with-data", f)
}

/// Half-close: the passive side keeps sending in CLOSE-WAIT; the active side
/// keeps receiving in FIN-WAIT-2 (catalog `half-close`).
pub fn half_close(f: Family) -> ScenarioResult {
    catalog_run("half-close", f)
}

/// The final ACK is lost: the server retransmits its FIN (the same sequence
/// number) after an RTO, TIME-WAIT answers it and restarts its 2MSL timer, and
/// both close cleanly (catalog `lost-last-ack`).
pub fn lost_last_ack(f: Family) -> ScenarioResult {
    let r = catalog_run("lost-last-ack", f);
    let fins: Vec<SeqNumber> = r
        .trace
        .packets_from(SERVER)
        .filter(|p| p.0.flags.fin())
        .map(|p| p.0.seq)
        .collect();
    assert_eq!(fins.len(), 2, "FIN retransmitted once");
    assert_eq!(fins[0], fins[1], "the retransmission repeats the FIN");
    r
}

/// Counterfactual: TIME-WAIT far too short. The retransmitted FIN meets CLOSED
/// and gets a RST; the server's close ends in a reset instead of cleanly
/// (catalog `no-time-wait`).
pub fn no_time_wait_gets_rst(f: Family) -> ScenarioResult {
    catalog_run("no-time-wait", f)
}

/// Simultaneous open (MUST-10): both SYN-SENT → SYN-RECEIVED → ESTABLISHED, and
/// data flows both ways afterwards (catalog `simultaneous-open`).
pub fn simultaneous_open(f: Family) -> ScenarioResult {
    let r = catalog_run("simultaneous-open", f);
    for host in [0, 1] {
        let data = r
            .trace
            .packets_from(host)
            .any(|(s, fate, _)| s.len == 12 && matches!(fate, Fate::Delivered(_)));
        assert!(data, "peer {host} got its 12 bytes across");
    }
    r
}

/// SYN to a closed port gets RST,ACK; connect fails as refused; the server
/// never had a connection (catalog `refused`).
pub fn refused(f: Family) -> ScenarioResult {
    let r = catalog_run("refused", f);
    assert_eq!(r.trace.states_of(SERVER), []);
    r
}

/// Close with unread data sends RST (RFC 2525 §2.17): the peer sees a reset
/// (catalog `rst-abort`).
pub fn close_with_unread_data_sends_rst(f: Family) -> ScenarioResult {
    catalog_run("rst-abort", f)
}

/// Close while in SYN-RECEIVED (reached by simultaneous open): FIN-WAIT-1.
pub fn simultaneous_open_then_close(f: Family) -> Net {
    let mut net = Net::new(f);
    let a = net
        .client
        .connect(net.now, f.client(5000), f.server(6000))
        .unwrap();
    let b = net
        .server
        .connect(net.now, f.server(6000), f.client(5000))
        .unwrap();
    // Deliver both SYNs (one latency), so both are in SYN-RECEIVED.
    net.run_until(Duration::from_secs(1), |n| n.client.state(a) == SynReceived);
    net.client.shutdown(net.now, a, Shutdown::Write).unwrap();
    assert_eq!(net.client.state(a), FinWait1);
    net.run_until(Duration::from_secs(5), |n| n.server.state(b) == CloseWait);
    // Let the delayed ACK of the FIN go out first (no FIN+ACK merge here).
    net.run_for(Duration::from_millis(100));
    net.server.close(net.now, b).unwrap();
    net.run_to_quiet();
    assert_eq!(
        states(&net.client_states),
        [
            Closed,
            SynSent,
            SynReceived,
            FinWait1,
            FinWait2,
            TimeWait,
            Closed
        ],
        "{}",
        net.trace()
    );
    net
}

/// An in-sequence RST resets an established connection (MUST-12: reported).
pub fn rst_aborts_established(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    let info = net.server.info(s).unwrap();
    let snd_nxt = net.sent_by(Side::Server).last().unwrap().seq;
    let rcv_nxt = net.sent_by(Side::Client).last().unwrap().seq;
    let _ = info;
    net.inject(
        Side::Client,
        f.server(80),
        net.client.addrs(c).unwrap().0,
        snd_nxt + 1,
        rcv_nxt,
        TcpFlags::RST,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(net.client.state(c), Closed);
    assert_eq!(net.client.close_reason(c), Some(CloseReason::Reset));
    let mut buf = [0u8; 4];
    assert_eq!(
        net.client.recv(net.now, c, &mut buf),
        Err(Error::ConnectionReset)
    );
    net
}

/// ABORT (SO_LINGER 0) sends RST from ESTABLISHED.
pub fn abort_sends_rst(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    net.client.abort(net.now, c).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.server.state(s), Closed);
    assert_eq!(net.server.close_reason(s), Some(CloseReason::Reset));
    assert!(net.server.recv(net.now, s, &mut [0u8; 4]) == Err(Error::ConnectionReset));
    assert_states(
        &net,
        &[Closed, SynSent, Established, Closed],
        &[Listen, SynReceived, Established, Closed],
    );
    net
}

/// An orphaned connection in FIN-WAIT-2 is dropped after 60 s; one the
/// application still holds (half-close) waits on.
pub fn fin_wait_2_timeout(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    net.client.close(net.now, c).unwrap();
    net.run_until(Duration::from_secs(1), |n| n.client.state(c) == FinWait2);
    let t0 = net.now;
    net.run_until(Duration::from_secs(120), |n| n.client.state(c) == Closed);
    let waited = net.now - t0;
    assert!(
        waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
        "{waited:?}"
    );
    assert_eq!(net.server.state(s), CloseWait, "the peer never closed");
    // A held, half-closed connection is not timed out.
    let mut net2 = Net::new(f);
    let (c2, _) = net2.established();
    net2.client.shutdown(net2.now, c2, Shutdown::Write).unwrap();
    net2.run_for(Duration::from_secs(300));
    assert_eq!(net2.client.state(c2), FinWait2);
    net
}

/// SYN retransmitted with exponential backoff (1, 2, 4, ... s) then timed out.
pub fn syn_retries_time_out(f: Family) -> Net {
    let mut net = Net::new(f);
    net.drop = Some(Box::new(|_| true));
    let start = net.now;
    let c = net
        .client
        .connect(net.now, f.client(0), f.server(80))
        .unwrap();
    net.run_until(Duration::from_secs(600), |n| n.client.state(c) == Closed);
    let syns: Vec<_> = net.log.iter().map(|s| s.time - start).collect();
    let secs: Vec<u64> = syns.iter().map(|d| d.as_secs()).collect();
    // Linux 6.5+: the first four timeouts keep the 1 s RTO
    // (tcp_syn_linear_timeouts) and add to the 6 retries; the time the 6
    // doubling retries would take (127 s) is not yet over at 67 s, so the
    // tenth resend goes and the attempt ends at its timeout.
    assert_eq!(
        secs,
        [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67],
        "1 + 6 + 4 retries (Linux tcp_syn_retries, tcp_syn_linear_timeouts)"
    );
    assert_eq!(net.now - start, Duration::from_secs(131));
    assert_eq!(net.client.close_reason(c), Some(CloseReason::TimedOut));
    assert_eq!(
        net.client.recv(net.now, c, &mut [0u8; 1]),
        Err(Error::TimedOut)
    );
    net
}

/// The handshake's final ACK never arrives: the SYN,ACK is retransmitted 5 times,
/// then the half-open connection goes back to LISTEN.
pub fn synack_retries_return_to_listen(f: Family) -> Net {
    let mut net = Net::new(f);
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Server));
    let l = net.server.listen(f.server(80), 4).unwrap();
    // One SYN, never retransmitted (a client that went away).
    net.inject(
        Side::Server,
        f.client(4444),
        f.server(80),
        SeqNumber(77),
        SeqNumber(0),
        TcpFlags::SYN,
        TcpOptions::default(),
        &[],
    );
    let t0 = net.now;
    net.run_for(Duration::from_secs(200));
    let synacks: Vec<u64> = net
        .sent_by(Side::Server)
        .into_iter()
        .filter(|s| s.flags == TcpFlags::SYN | TcpFlags::ACK)
        .map(|s| (s.time - t0).as_secs())
        .collect();
    assert_eq!(
        synacks,
        [0, 1, 3, 7, 15, 31],
        "1 + 5 retries (Linux tcp_synack_retries)"
    );
    assert_eq!(states(&net.server_states), [Listen, SynReceived, Listen]);
    assert_eq!(net.server.accept(l), Err(Error::WouldBlock));
    assert_eq!(net.server.connection_count(), 0);
    net
}

/// A RST in SYN-RECEIVED (passive) returns the connection to LISTEN (MUST-11).
pub fn syn_received_rst_returns_to_listen(f: Family) -> Net {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    let cli = f.client(4321);
    net.inject(
        Side::Server,
        cli,
        f.server(80),
        SeqNumber(1000),
        SeqNumber(0),
        TcpFlags::SYN,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(net.server.connection_count(), 1);
    net.inject(
        Side::Server,
        cli,
        f.server(80),
        SeqNumber(1001),
        SeqNumber(0),
        TcpFlags::RST,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(net.server.connection_count(), 0);
    assert_eq!(states(&net.server_states), [Listen, SynReceived, Listen]);
    assert_eq!(net.server.listener_state(l), Listen);
    net
}

/// CLOSE in SYN-SENT deletes the TCB.
pub fn close_in_syn_sent(f: Family) -> Net {
    let mut net = Net::new(f);
    let c = net
        .client
        .connect(net.now, f.client(0), f.server(80))
        .unwrap();
    net.client.close(net.now, c).unwrap();
    assert_eq!(net.client.state(c), Closed);
    net.flush();
    assert!(net.log.is_empty(), "nothing sent");
    assert_states(&net, &[Closed, SynSent, Closed], &[]);
    net
}

/// Passive OPEN and CLOSE of a listener: CLOSED → LISTEN → CLOSED.
pub fn close_listener(f: Family) -> Net {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    assert_eq!(net.server.listener_state(l), Listen);
    net.server.close_listener(net.now, l).unwrap();
    assert_eq!(net.server.listener_state(l), Closed);
    net.flush();
    let ts: Vec<_> = net.transitions.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(ts, [(Closed, Listen), (Listen, Closed)]);
    // The port is free again and a SYN now meets CLOSED.
    let c = net
        .client
        .connect(net.now, f.client(0), f.server(80))
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| n.client.state(c) == Closed);
    assert_eq!(net.client.close_reason(c), Some(CloseReason::Refused));
    net
}

/// SEND on a listener turns it active (RFC 9293 §3.10.2): LISTEN → SYN-SENT.
pub fn send_from_listen(f: Family) -> Net {
    let mut net = Net::new(f);
    let l = net.client.listen(f.client(7000), 4).unwrap();
    let sl = net.server.listen(f.server(80), 4).unwrap();
    net.sapp.listener = Some(sl);
    let c = net
        .client
        .connect_from_listener(net.now, l, f.server(80))
        .unwrap();
    assert_eq!(net.client.listener_state(l), Closed);
    net.run_until(Duration::from_secs(1), |n| n.client.state(c) == Established);
    assert_eq!(net.client.addrs(c).unwrap().0, f.client(7000));
    assert_eq!(states(&net.client_states), [Listen, SynSent, Established]);
    net
}

/// Data retransmitted with backoff until retries2 (15) runs out: timed out.
pub fn data_retries_time_out(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.drop = Some(Box::new(|_| true));
    net.client.send(net.now, c, b"into the void").unwrap();
    let t0 = net.now;
    net.run_until(Duration::from_secs(3600), |n| n.client.state(c) == Closed);
    assert_eq!(net.client.close_reason(c), Some(CloseReason::TimedOut));
    let tx = net.log.iter().filter(|s| s.dropped && s.len > 0).count();
    // The first resend is a tail loss probe (RFC 8985), which like Linux's
    // does not count against retries2.
    assert_eq!(net.client.stats().loss_probes, 1);
    assert_eq!(tx, 17, "1 + the probe + 15 retransmissions");
    assert!(
        net.now - t0 > Duration::from_secs(600),
        "{:?}",
        net.now - t0
    );
    net
}

/// TCP_USER_TIMEOUT aborts when data stays unacknowledged too long.
pub fn user_timeout_aborts(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, _s) = net.established();
    net.client
        .set_user_timeout(c, Some(Duration::from_secs(5)))
        .unwrap();
    net.drop = Some(Box::new(|_| true));
    net.client.send(net.now, c, b"x").unwrap();
    let t0 = net.now;
    net.run_until(Duration::from_secs(60), |n| n.client.state(c) == Closed);
    assert_eq!(net.now - t0, Duration::from_secs(5));
    assert_eq!(net.client.close_reason(c), Some(CloseReason::TimedOut));
    net
}

/// A new SYN with a newer timestamp reopens a 4-tuple in TIME-WAIT (MAY-2,
/// RFC 6191) on the server side, which closed first.
pub fn time_wait_reopened_by_new_syn(f: Family) -> Net {
    time_wait_reopened(f, true)
}

/// The same without timestamps: the new SYN's sequence number, from the
/// client's clock-driven ISN, lies above the old RCV.NXT (RFC 9293 MAY-2).
pub fn time_wait_reopened_by_newer_sequence(f: Family) -> Net {
    time_wait_reopened(f, false)
}

fn time_wait_reopened(f: Family, timestamps: bool) -> Net {
    let cfg = Config {
        timestamps,
        ..Config::linux()
    };
    let mut net = Net::with_configs(f, cfg.clone(), cfg);
    let (c, s) = net.established();
    let cport = net.client.addrs(c).unwrap().0.port();
    net.server.close(net.now, s).unwrap();
    net.capp.close_on_peer_fin = true;
    net.run_until(Duration::from_secs(2), |n| {
        n.server.state(s) == TimeWait && n.client.state(c) == Closed
    });
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.server.state(s), TimeWait);
    // The client (its side CLOSED) opens again from the same port.
    net.sapp.conn = None;
    let c2 = net
        .client
        .connect(net.now, f.client(cport), f.server(80))
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.sapp.conn.is_some());
    assert_eq!(net.client.state(c2), Established, "{}", net.trace());
    assert_eq!(net.server.state(s), Closed);
    assert_eq!(net.server.stats().time_wait_reused, 1);
    // The new incarnation's ISS lies beyond the old sequence space (as Linux does).
    let synacks: Vec<_> = net
        .sent_by(Side::Server)
        .into_iter()
        .filter(|s| s.flags == TcpFlags::SYN | TcpFlags::ACK)
        .cloned()
        .collect();
    assert_eq!(
        synacks[1].seq,
        synacks[0].seq + 2 + 65535 + 2,
        "old FIN seq + 1, + 65535 + 2"
    );
    let s2 = net.sapp.conn.unwrap();
    assert_eq!(net.server.state(s2), Established);
    net
}

/// Without RFC 1337 protection (the Linux default, `tcp_rfc1337` = 0) an
/// in-window RST ends TIME-WAIT early; with it (the RFC profile) the RST is
/// ignored.
pub fn rst_in_time_wait_without_rfc1337(f: Family) -> Net {
    for protect in [true, false] {
        let mut ccfg = Config::linux();
        ccfg.rfc1337 = protect;
        let mut net = Net::with_configs(f, ccfg, Config::linux());
        let (c, s) = net.established();
        net.sapp.close_on_peer_fin = true;
        net.client.close(net.now, c).unwrap();
        net.run_until(Duration::from_secs(1), |n| n.server.state(s) == Closed);
        assert_eq!(net.client.state(c), TimeWait);
        let last = net.sent_by(Side::Server).last().copied().unwrap().clone();
        let client_addr = net.client.addrs(c).unwrap().0;
        net.inject(
            Side::Client,
            f.server(80),
            client_addr,
            last.seq + 1,
            last.ack,
            TcpFlags::RST,
            TcpOptions::default(),
            &[],
        );
        if protect {
            assert_eq!(net.client.state(c), TimeWait, "RFC 1337: RST ignored");
        } else {
            assert_eq!(net.client.state(c), Closed);
            return net;
        }
    }
    unreachable!()
}

/// The handshake's ACK carries a FIN: SYN-RECEIVED → CLOSE-WAIT (§3.10.7.4 eighth).
pub fn ack_and_fin_complete_handshake(f: Family) -> Net {
    let mut net = Net::new(f);
    let l = net.server.listen(f.server(80), 4).unwrap();
    let cli = f.client(4000);
    net.inject(
        Side::Server,
        cli,
        f.server(80),
        SeqNumber(500),
        SeqNumber(0),
        TcpFlags::SYN,
        TcpOptions::default(),
        &[],
    );
    let synack = net.sent_by(Side::Server)[0].clone();
    net.inject(
        Side::Server,
        cli,
        f.server(80),
        SeqNumber(501),
        synack.seq + 1,
        TcpFlags::ACK | TcpFlags::FIN,
        TcpOptions::default(),
        &[],
    );
    // The test application accepts on Incoming.
    let s = net.sapp.conn.expect("accepted");
    assert_eq!(net.server.accept(l), Err(Error::WouldBlock));
    assert_eq!(net.server.state(s), CloseWait);
    assert_eq!(states(&net.server_states), [Listen, SynReceived, CloseWait]);
    // No data came before the FIN: like Linux, it is acknowledged at once.
    let ack = net.sent_by(Side::Server).last().copied().unwrap().clone();
    assert_eq!(ack.ack, SeqNumber(502), "the FIN is acknowledged");
    assert_eq!(ack.flags, TcpFlags::ACK);
    net
}

/// A RST in CLOSE-WAIT closes the connection.
pub fn rst_in_close_wait(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    net.client.shutdown(net.now, c, Shutdown::Write).unwrap();
    net.run_until(Duration::from_secs(1), |n| n.server.state(s) == CloseWait);
    net.client.abort(net.now, c).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.server.state(s), Closed);
    assert_eq!(net.server.close_reason(s), Some(CloseReason::Reset));
    net
}

/// A RST in LAST-ACK closes the connection.
pub fn rst_in_last_ack(f: Family) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    net.client.close(net.now, c).unwrap();
    net.run_until(Duration::from_secs(1), |n| n.client.state(c) == FinWait2);
    // The client's handle is gone; drop everything it sends from now on.
    net.drop = Some(Box::new(|s: &Seg| s.from == Side::Client));
    net.sapp.conn = None;
    net.server.shutdown(net.now, s, Shutdown::Write).unwrap();
    assert_eq!(net.server.state(s), LastAck);
    net.flush();
    let fin = net.sent_by(Side::Server).last().copied().unwrap().clone();
    let client_addr = fin.dst;
    net.inject(
        Side::Server,
        client_addr,
        f.server(80),
        fin.ack,
        fin.seq,
        TcpFlags::RST,
        TcpOptions::default(),
        &[],
    );
    assert_eq!(net.server.state(s), Closed);
    assert!(states(&net.server_states).ends_with(&[CloseWait, LastAck, Closed]));
    net
}

/// How `transfer_then_close` ends the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClosePath {
    ClientFirst,
    ServerFirst,
    Simultaneous,
    FinAckMerged,
    HalfClose,
}

/// 1 MiB each way, then a close by `path`, with the exact state sequences.
pub fn transfer_then_close(f: Family, path: ClosePath) -> Net {
    let mut net = Net::new(f);
    let (c, s) = net.established();
    let a = pattern(1 << 20, 3);
    let b = pattern(1 << 20, 5);
    net.capp.to_send = a.iter().copied().collect();
    if path == ClosePath::HalfClose {
        // The client sends its MiB and half-closes; the server sends its MiB only
        // afterwards, in CLOSE-WAIT, while the client receives in FIN-WAIT-2.
        net.capp.close_when_sent = Some(false);
        net.run_until(Duration::from_secs(60), |n| n.server.state(s) == CloseWait);
        assert!(net.capp.received.is_empty());
        net.sapp.to_send = b.iter().copied().collect();
        net.sapp.close_when_sent = Some(true);
        net.run_until(Duration::from_secs(60), |n| {
            n.capp.received.len() >= b.len() / 2
        });
        assert_eq!(net.client.state(c), FinWait2, "receiving in FIN-WAIT-2");
        net.run_to_quiet();
    } else {
        net.sapp.to_send = b.iter().copied().collect();
        net.run_until(Duration::from_secs(60), |n| {
            n.capp.received.len() == b.len() && n.sapp.received.len() == a.len()
        });
        match path {
            ClosePath::ClientFirst => {
                net.client.close(net.now, c).unwrap();
                net.run_until(Duration::from_secs(5), |n| n.server.state(s) == CloseWait);
                net.run_for(Duration::from_millis(100));
                net.server.close(net.now, s).unwrap();
            }
            ClosePath::ServerFirst => {
                net.server.close(net.now, s).unwrap();
                net.run_until(Duration::from_secs(5), |n| n.client.state(c) == CloseWait);
                net.run_for(Duration::from_millis(100));
                net.client.close(net.now, c).unwrap();
            }
            ClosePath::Simultaneous => {
                net.client.close(net.now, c).unwrap();
                net.server.close(net.now, s).unwrap();
            }
            ClosePath::FinAckMerged => {
                net.sapp.close_on_peer_fin = true;
                net.client.close(net.now, c).unwrap();
            }
            ClosePath::HalfClose => unreachable!(),
        }
        net.run_to_quiet();
    }
    assert_eq!(net.sapp.received.len(), a.len(), "{}", net.trace());
    assert!(net.sapp.received == a, "client→server bytes intact");
    assert!(net.capp.received == b, "server→client bytes intact");
    assert!(net.log.iter().all(|s| !s.has(TcpFlags::RST)), "clean close");
    assert_eq!(net.client.state(c), Closed);
    assert_eq!(net.server.state(s), Closed);
    let open_c = [Closed, SynSent, Established];
    let open_s = [Listen, SynReceived, Established];
    let active = [FinWait1, FinWait2, TimeWait, Closed];
    let passive = [CloseWait, LastAck, Closed];
    let (tc, ts): (Vec<State>, Vec<State>) = match path {
        ClosePath::ClientFirst | ClosePath::HalfClose => (active.to_vec(), passive.to_vec()),
        ClosePath::ServerFirst => (passive.to_vec(), active.to_vec()),
        ClosePath::Simultaneous => (
            vec![FinWait1, Closing, TimeWait, Closed],
            vec![FinWait1, Closing, TimeWait, Closed],
        ),
        ClosePath::FinAckMerged => (vec![FinWait1, TimeWait, Closed], passive.to_vec()),
    };
    let want_c: Vec<State> = open_c.iter().chain(tc.iter()).copied().collect();
    let want_s: Vec<State> = open_s.iter().chain(ts.iter()).copied().collect();
    assert_states(&net, &want_c, &want_s);
    net
}

pub fn mib_client_first(f: Family) -> Net {
    transfer_then_close(f, ClosePath::ClientFirst)
}
pub fn mib_server_first(f: Family) -> Net {
    transfer_then_close(f, ClosePath::ServerFirst)
}
pub fn mib_simultaneous(f: Family) -> Net {
    transfer_then_close(f, ClosePath::Simultaneous)
}
pub fn mib_fin_ack_merged(f: Family) -> Net {
    transfer_then_close(f, ClosePath::FinAckMerged)
}
pub fn mib_half_close(f: Family) -> Net {
    transfer_then_close(f, ClosePath::HalfClose)
}

/// Timestamps helper for tests that craft segments.
pub fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..TcpOptions::default()
    }
}

/// Start time helper.
pub fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}
