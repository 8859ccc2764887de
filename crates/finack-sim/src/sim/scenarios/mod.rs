//! The seed scenarios: each a run of the simulator, the assertions it makes about
//! both sides' states and its outcome, and (through the trace) a diagram.

use std::time::Duration;

use finack_core::{Config, Instant, State};

use super::{Family, Sim};
use crate::catalog::{Check, ScenarioDef, ScenarioResult};
use crate::trace::{Fate, Trace, TraceEvent};

mod close;
mod failures;
mod handshake;
mod lifetime;
mod resources;
mod timewait;

use close::*;
use failures::*;
use handshake::*;
use lifetime::*;
use resources::*;
use timewait::*;

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The states of the side that starts a four-way close, from its connect()
/// to the end of TIME-WAIT (RFC 9293 Figure 5).
const ACTIVE_CLOSE: &[State] = &[
    State::Closed,
    State::SynSent,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::TimeWait,
    State::Closed,
];

/// The states of the listening side that answers it (LISTEN to CLOSED
/// through CLOSE-WAIT and LAST-ACK).
const PASSIVE_CLOSE: &[State] = &[
    State::Listen,
    State::SynReceived,
    State::Established,
    State::CloseWait,
    State::LastAck,
    State::Closed,
];

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
    ScenarioDef { name: "old-duplicate", summary: "a delayed segment of an old connection corrupts a new one when TIME-WAIT is skipped and timestamps are off; TIME-WAIT, or PAWS with Linux's timestamps, stops it", run: old_duplicate },
    ScenarioDef { name: "simultaneous-open", summary: "both sides connect at once: SYN-SENT -> SYN-RECEIVED -> ESTABLISHED", run: simultaneous_open },
    ScenarioDef { name: "half-open", summary: "the server crashes and reboots: the client's next segment meets RST; keep-alive finds a silent dead peer; a restarted client resets the server's stale connection and connects at once", run: half_open },
    ScenarioDef { name: "idle-attacker", summary: "clients connect and never send or close; the listener's idle timeout resets them, compared with no defence", run: idle_attacker },
    ScenarioDef { name: "close-wait-leak", summary: "the server never closes after the client's FIN: CLOSE-WAIT forever, and its age is reported", run: close_wait_leak },
    ScenarioDef { name: "time-wait-exhaustion", summary: "short connections exhaust the client's ports through TIME-WAIT; reuse with timestamps lets it go on", run: time_wait_exhaustion },
    ScenarioDef { name: "msl", summary: "MSL is a segment's lifetime in the network: a FIN delayed almost MSL still meets TIME-WAIT (2MSL = one MSL out, one back); a segment held longer is dropped", run: msl },
    ScenarioDef { name: "isn-clock", summary: "the ISN clock ticks every 4 us: a reconnect 1 s later starts 250000 higher; the space wraps in 2^32 x 4 us = 4.77 h, sequence numbers at 10 Gbit/s in 3.4 s (PAWS guards)", run: isn_clock },
    ScenarioDef { name: "seq-wrap", summary: "sequence numbers wrap (at 10 Gbit/s in 3.4 s): a segment one wrap old lands in the window and is taken as data without timestamps; PAWS drops it", run: seq_wrap },
    ScenarioDef { name: "time-wait-buckets", summary: "a server that closes first holds a TIME-WAIT per connection; tcp_max_tw_buckets caps them and counts the overflow", run: time_wait_buckets },
    ScenarioDef { name: "time-wait-calls", summary: "an application that kept its socket in TIME-WAIT: recv() reads end of stream, send() is refused", run: time_wait_calls },
    ScenarioDef { name: "syn-flood", summary: "spoofed SYNs fill the SYN queue and a legitimate client cannot connect; with SYN cookies it can", run: syn_flood },
    ScenarioDef { name: "rst-abort", summary: "close with unread data sends RST: the peer sees a reset, not an end of stream", run: rst_abort },
    ScenarioDef { name: "refused", summary: "a SYN to a closed port gets RST; connect fails as refused", run: refused },
];

pub(super) fn check(what: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        ok,
        detail: if ok { String::new() } else { detail.into() },
    }
}

pub(super) fn names(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" -> ")
}

pub(super) fn states_check(trace: &Trace, host: usize, who: &str, want: &[State]) -> Check {
    let got = trace.states_of(host);
    check(
        format!("{who}: {}", names(want)),
        got == want,
        format!("saw {}", names(&got)),
    )
}

pub(super) fn states_check_port(
    trace: &Trace,
    host: usize,
    port: u16,
    who: &str,
    want: &[State],
) -> Check {
    let got = trace.states_of_port(host, port);
    check(
        format!("{who}: {}", names(want)),
        got == want,
        format!("saw {}", names(&got)),
    )
}

pub(super) fn no_rst(trace: &Trace) -> Check {
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

pub(super) fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ salt)
        .collect()
}

/// A client and a server listening on port 80.
pub(super) fn pair(name: &str, seed: u64, family: Family, ccfg: Config, scfg: Config) -> Sim {
    let mut sim = Sim::with_family(name, seed, family, ["client", "server"], [ccfg, scfg]);
    sim.listen(SERVER, 80, 128);
    sim
}

/// Open a connection and run the handshake; returns (client conn, server conn).
pub(super) fn established(sim: &mut Sim) -> (finack_core::ConnId, finack_core::ConnId) {
    let c = sim.connect(CLIENT, 0, 80).expect("connect");
    sim.run_until(Duration::from_secs(5), |s| s.conn(SERVER, 0).is_some());
    let s = sim.conn(SERVER, 0).expect("accepted");
    (c, s)
}

pub(super) fn result(sim: Sim, checks: Vec<Check>) -> ScenarioResult {
    let (trace, transitions) = sim.finish();
    ScenarioResult {
        trace,
        transitions,
        checks,
    }
}

/// End two runs and append `b`'s events (and transition records) after `a`'s,
/// separated by a note: one result with `checks`.
pub(super) fn concat(a: Sim, b: Sim, gap_note: &str, checks: Vec<Check>) -> ScenarioResult {
    append(result(a, checks), b, gap_note)
}

/// End run `b` and append its events (and transition records) to `first`,
/// after a note.
pub(super) fn append(first: ScenarioResult, b: Sim, gap_note: &str) -> ScenarioResult {
    let ScenarioResult {
        trace: mut a,
        mut transitions,
        checks,
    } = first;
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
