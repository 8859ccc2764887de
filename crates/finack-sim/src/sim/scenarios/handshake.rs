//! Opening a connection: the handshake, simultaneous open, a refused connect.

use std::time::Duration;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{CloseReason, Config, Error, State};

use super::*;
use crate::sim::{Family, Sim};

use State::*;

pub(super) fn handshake(seed: u64, family: Family) -> ScenarioResult {
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

pub(super) fn simultaneous_open(seed: u64, family: Family) -> ScenarioResult {
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

pub(super) fn refused(seed: u64, family: Family) -> ScenarioResult {
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
