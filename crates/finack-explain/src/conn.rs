//! Connections: packets grouped by 4-tuple and incarnation, and both sides'
//! states inferred by running each segment through the side that sent it and
//! the side that received it.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use finack_core::State;

use crate::capture::Packet;
use crate::track::{is_keepalive, SendOutcome, SideTracker};
use crate::Options;

/// One inferred state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// When (capture microseconds).
    pub time_us: u64,
    /// Which side: 0 is the connection's first host (the client), 1 the other.
    pub side: usize,
    /// Before (equal to `to` for a restarted timer).
    pub from: State,
    /// After.
    pub to: State,
    /// Why.
    pub cause: String,
    /// The packet (index into the connection's packets) behind it, if any.
    pub packet: Option<usize>,
}

/// One connection: one incarnation of a 4-tuple.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The two endpoints: `[0]` opened the connection (sent the first SYN),
    /// or, when the capture starts later, sent the first packet seen.
    pub ends: [SocketAddr; 2],
    /// Which incarnation of this 4-tuple it is (1 for the first).
    pub incarnation: usize,
    /// Its packets, in capture order.
    pub packets: Vec<Packet>,
    /// Indices of packets inferred to have been lost after the capture point
    /// (the receiver's later behaviour shows it never got them).
    pub lost: BTreeSet<usize>,
    /// Each side's state when the connection's first packet was seen.
    pub initial: [State; 2],
    /// The inferred state changes of both sides, in time order.
    pub changes: Vec<Change>,
    /// Each side's state at the end of the capture.
    pub final_states: [State; 2],
    /// Retransmitted segments sent by each side (see [`crate::analysis`]).
    pub retransmissions: [usize; 2],
    /// Keep-alive probes sent by each side.
    pub keepalives: [usize; 2],
    /// Indices of packets that repeat a data segment of the previous
    /// incarnation of this 4-tuple (same sender, sequence number and
    /// length): old duplicates, the hazard TIME-WAIT guards against
    /// (RFC 9293 §3.4.1, "Knowing When to Keep Quiet").
    pub old_duplicates: Vec<usize>,
    /// Indices of packets (the first SYNs) that reached the previous
    /// incarnation's socket instead, which answered with a challenge ACK:
    /// the peer still held that connection (half-open).
    pub to_previous: BTreeSet<usize>,
    /// The side of this incarnation that restarted and lost it: it began
    /// the next incarnation with a new ISN while this one still stood for
    /// the peer (seen when the peer's challenge ACK answered the new SYN).
    pub restarted: Option<usize>,
}

impl Connection {
    /// Which side (0 or 1) sent `p`.
    pub fn side_of(&self, p: &Packet) -> usize {
        usize::from(p.src != self.ends[0])
    }

    /// The distinct states `side` went through, starting with its initial
    /// state (as `finack_sim::Trace::states_of` lists them).
    pub fn states(&self, side: usize) -> Vec<State> {
        let mut out = vec![self.initial[side]];
        for c in self.changes.iter().filter(|c| c.side == side) {
            if out.last() != Some(&c.to) {
                out.push(c.to);
            }
        }
        out
    }

    /// Time `side` spent in each state, in order of first entry (the last
    /// state counted to `end_us`).
    pub fn time_in_states(&self, side: usize, end_us: u64) -> Vec<(State, u64)> {
        let mut out: Vec<(State, u64)> = Vec::new();
        let start = self.packets.first().map_or(0, |p| p.time_us);
        let mut cur = (self.initial[side], start);
        let add = |s: State, d: u64, out: &mut Vec<(State, u64)>| match out
            .iter_mut()
            .find(|(x, _)| *x == s)
        {
            Some(e) => e.1 += d,
            None => out.push((s, d)),
        };
        for c in self
            .changes
            .iter()
            .filter(|c| c.side == side && c.from != c.to)
        {
            add(cur.0, c.time_us.saturating_sub(cur.1), &mut out);
            cur = (c.to, c.time_us);
        }
        if !matches!(cur.0, State::Closed | State::Listen) || out.is_empty() {
            add(cur.0, end_us.saturating_sub(cur.1), &mut out);
        }
        out
    }
}

/// Key of a 4-tuple, the same for both directions.
fn key(p: &Packet) -> (SocketAddr, SocketAddr) {
    if p.src <= p.dst {
        (p.src, p.dst)
    } else {
        (p.dst, p.src)
    }
}

/// Group packets into connections: by 4-tuple, a new incarnation when a SYN
/// (without ACK) starts a connection after the previous one ended (RST, or
/// FINs both ways), or with an initial sequence number other than the one its
/// sender used before.
pub fn group(packets: Vec<Packet>) -> Vec<Connection> {
    let mut conns: Vec<Connection> = Vec::new();
    let mut current: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut count: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut previous: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for p in packets {
        let k = key(&p);
        let fresh_syn = p.flags.syn() && !p.flags.ack() && !p.flags.rst();
        let start_new = match current.get(&k) {
            None => true,
            Some(&i) if fresh_syn => {
                let c = &conns[i];
                let ended = ended(c);
                let own_syn = c
                    .packets
                    .iter()
                    .find(|q| q.src == p.src && q.flags.syn() && !q.flags.ack());
                let any_syn = c.packets.iter().any(|q| q.flags.syn());
                ended || own_syn.is_some_and(|q| q.seq != p.seq) || !any_syn
            }
            Some(_) => false,
        };
        if start_new {
            let n = count.entry(k).or_insert(0);
            *n += 1;
            if let Some(old) = current.insert(k, conns.len()) {
                previous.insert(k, old);
            }
            let ends = if p.flags.syn() && p.flags.ack() {
                [p.dst, p.src]
            } else {
                [p.src, p.dst]
            };
            conns.push(Connection {
                ends,
                incarnation: *n,
                packets: Vec::new(),
                lost: BTreeSet::new(),
                initial: [State::Closed; 2],
                changes: Vec::new(),
                final_states: [State::Closed; 2],
                retransmissions: [0; 2],
                keepalives: [0; 2],
                old_duplicates: Vec::new(),
                to_previous: BTreeSet::new(),
                restarted: None,
            });
        }
        let mut i = current[&k];
        if let Some(&old) = previous.get(&k) {
            if answers_old_incarnation(&conns[old], &conns[i], &p) {
                // RFC 5961 §4 / RFC 9293 §3.10.7.4: the peer still holds the
                // previous incarnation (the SYN's sender restarted) and
                // answers the new SYN with a challenge ACK for the old one;
                // the reset that ACK draws from SYN-SENT ends the old one.
                // The SYNs so far reached the old connection, not a listener.
                let sender = conns[i].packets[0].src;
                let seen = conns[i].packets.len();
                conns[i].to_previous.extend(0..seen);
                conns[old].restarted = Some(usize::from(sender != conns[old].ends[0]));
                i = old;
            }
        }
        let repeats_old = p.len > 0
            && !p.flags.syn()
            && previous.get(&k).is_some_and(|&old| {
                conns[old]
                    .packets
                    .iter()
                    .any(|q| q.src == p.src && q.seq == p.seq && q.len == p.len)
            });
        if repeats_old {
            let at = conns[i].packets.len();
            conns[i].old_duplicates.push(at);
        }
        conns[i].packets.push(p);
    }
    conns
}

/// The connection ended on the wire: a reset, or FINs both ways.
fn ended(c: &Connection) -> bool {
    c.packets.iter().any(|q| q.flags.rst())
        || (c
            .packets
            .iter()
            .any(|q| q.flags.fin() && q.src == c.ends[0])
            && c.packets
                .iter()
                .any(|q| q.flags.fin() && q.src == c.ends[1]))
}

/// Whether `p`, seen while `new` (begun by a SYN) waits for its SYN,ACK,
/// belongs to `old`, the same 4-tuple's previous incarnation, which never
/// ended: the peer's pure ACK that does not acknowledge the new SYN (its
/// challenge ACK for the old connection), or the SYN sender's reset whose
/// sequence number is that ACK's acknowledgment (RFC 9293 §3.10.7.3: an
/// unacceptable ACK in SYN-SENT draws <SEQ=SEG.ACK><CTL=RST>).
fn answers_old_incarnation(old: &Connection, new: &Connection, p: &Packet) -> bool {
    let Some(syn) = new
        .packets
        .first()
        .filter(|q| q.flags.syn() && !q.flags.ack())
    else {
        return false;
    };
    if ended(old) || new.packets.iter().any(|q| q.flags.syn() && q.flags.ack()) {
        return false;
    }
    let f = p.flags;
    if p.src == syn.dst && f.ack() && !f.syn() && !f.rst() && p.len == 0 {
        return p.ack != syn.seq.wrapping_add(1);
    }
    p.src == syn.src
        && f.rst()
        && !f.ack()
        && old
            .packets
            .iter()
            .rev()
            .find(|q| q.src == syn.dst)
            .is_some_and(|q| q.flags.ack() && q.ack == p.seq)
}

/// A round trip as the capture's handshake shows it: from the first SYN to
/// the first SYN,ACK and from there to the first ACK of it, wherever the
/// capture point was (near one side, one of the two is the whole round trip
/// and the other nearly nothing; between them, they add up to it).
fn handshake_rtt_us(c: &Connection) -> Option<u64> {
    let syn = c
        .packets
        .iter()
        .position(|p| p.flags.syn() && !p.flags.ack())?;
    let synack = syn
        + c.packets[syn..]
            .iter()
            .position(|p| p.flags.syn() && p.flags.ack())?;
    let (from, to) = (c.packets[synack].dst, c.packets[synack].src);
    let ack = c.packets[synack..]
        .iter()
        .find(|p| !p.flags.syn() && p.flags.ack() && p.src == from && p.dst == to)?;
    Some(ack.time_us.saturating_sub(c.packets[syn].time_us))
}

/// The starting states, from how the connection begins.
fn initial_states(c: &Connection) -> [State; 2] {
    let syn_from = |side: usize| {
        c.packets
            .iter()
            .position(|q| c.side_of(q) == side && q.flags.syn() && !q.flags.ack())
    };
    let first_answer = c.packets.iter().find(|q| c.side_of(q) == 1);
    match (syn_from(0), syn_from(1)) {
        // Both sent a SYN: a simultaneous open (RFC 9293 §3.5 figure 8),
        // both from CLOSED.
        (Some(_), Some(_)) => [State::Closed, State::Closed],
        (Some(_), None) => match first_answer {
            // A SYN answered with RST: no listener (RFC 9293 §3.10.7.1).
            Some(q) if q.flags.rst() && !q.flags.syn() => [State::Closed, State::Closed],
            _ => [State::Closed, State::Listen],
        },
        // The capture missed the SYN but shows the SYN-ACK.
        _ if c.packets.first().is_some_and(|q| q.flags.syn()) => [State::SynSent, State::Listen],
        // The capture starts in the middle of the connection.
        _ => [State::Established, State::Established],
    }
}

/// How many times the inference is rerun with one more correction (a
/// delivery taken back, a timer assumption dropped) before it settles for
/// what it has.
const MAX_RERUNS: usize = 64;

/// The least time after a FIN was taken within which segments from its
/// receiver may still acknowledge below it (see `SideTracker::fin_ack_margin_us`).
const FIN_ACK_FLOOR_US: u64 = 200_000;

/// Why a run of the inference stopped: a side sent something its inferred
/// state rules out.
enum Blame {
    /// The delivery of this packet (which made the side's last state change)
    /// must have failed: it was lost after the capture point.
    Delivery(usize),
    /// The side's assumed timer (FIN-WAIT-2's timeout, TIME-WAIT's 2MSL)
    /// did not run out: the side still sends.
    Timer(usize),
}

/// Infer both sides' states, marking deliveries the later packets disprove.
/// `stop_us` is when the connection stops being observed: the end of the
/// capture, or the next incarnation's first SYN.
///
/// Each contradiction reruns the inference with one correction; the last
/// run (after [`MAX_RERUNS`], or when a contradiction has nothing left to
/// blame) ignores contradictions, so the connection always gets states,
/// changes and counts.
pub fn infer(c: &mut Connection, opts: &Options, stop_us: u64, reused: bool) {
    c.initial = initial_states(c);
    // A passive side that never sends anything shows nothing of what reached
    // it: it is left as it started.
    let silent = [0, 1].map(|s| !c.packets.iter().any(|q| c.side_of(q) == s));
    // Sides whose timers are known not to have run out.
    let mut held = [false; 2];
    for _ in 0..MAX_RERUNS {
        match run(c, opts, stop_us, reused, silent, held, true) {
            Ok(()) => return,
            Err(Blame::Delivery(j)) => {
                c.lost.insert(j);
            }
            // A side kept sending past an assumed FIN-WAIT-2 timeout: Linux
            // applies tcp_fin_timeout to orphaned sockets only, so this one
            // was half-closed with shutdown() and still open.
            Err(Blame::Timer(s)) if !held[s] => held[s] = true,
            Err(Blame::Timer(_)) => break,
        }
    }
    let _ = run(c, opts, stop_us, reused, silent, held, false);
}

/// One run of the inference over the packets. `held`: sides whose assumed
/// timers never run out. `strict`: stop at the first contradiction (else
/// go on regardless and keep the result).
fn run(
    c: &mut Connection,
    opts: &Options,
    stop_us: u64,
    reused: bool,
    silent: [bool; 2],
    held: [bool; 2],
    strict: bool,
) -> Result<(), Blame> {
    let passive = [c.initial[0] == State::Listen, c.initial[1] == State::Listen];
    let mut sides = [
        SideTracker::new(c.initial[0]),
        SideTracker::new(c.initial[1]),
    ];
    // Twice the handshake's round trip, and at least FIN_ACK_FLOOR_US:
    // segments built before the FIN arrived may wait in queues (a pacing
    // qdisc, a bloated path) longer than an idle handshake took.
    let margin = handshake_rtt_us(c).map(|r| r.saturating_mul(2).max(FIN_ACK_FLOOR_US));
    for side in &mut sides {
        side.fin_ack_margin_us = margin;
    }
    let mut last_rx_change: [Option<usize>; 2] = [None, None];
    // The packet holding each side's pending (not yet processed) FIN.
    let mut pending_from: [Option<usize>; 2] = [None, None];
    let mut changes = Vec::new();
    let mut keepalives = [0; 2];
    let timers = |s: usize| {
        if held[s] {
            (u64::MAX, u64::MAX)
        } else {
            (opts.time_wait_us, opts.fin_wait2_us)
        }
    };
    // A side that restarted lost the connection when it sent its new SYN.
    let restart = |sides: &mut [SideTracker; 2], changes: &mut Vec<Change>, now: u64| {
        if let Some(s) = c.restarted.filter(|_| now >= stop_us) {
            let mut steps = Vec::new();
            sides[s].restart(stop_us, &mut steps);
            changes.extend(steps.into_iter().map(|st| change(stop_us, s, st, None)));
        }
    };
    for (i, p) in c.packets.iter().enumerate() {
        let now = p.time_us;
        restart(&mut sides, &mut changes, now);
        for (s, side) in sides.iter_mut().enumerate() {
            let (tw, fw2) = timers(s);
            for st in side.expire(now, tw, fw2) {
                let at = side.since_us;
                changes.push(change(at, s, st, None));
            }
        }
        let s = c.side_of(p);
        let r = 1 - s;
        if is_keepalive(&sides[s], p) {
            keepalives[s] += 1;
        }
        if sides[s].acks_pending_fin(p) {
            let steps = sides[s].apply_pending_fin(now);
            if steps.iter().any(|st| st.from != st.to) {
                last_rx_change[s] = pending_from[s];
            }
            changes.extend(
                steps
                    .into_iter()
                    .map(|st| change(now, s, st, pending_from[s])),
            );
        }
        match sides[s].on_send(p, now) {
            SendOutcome::Ok(steps) => {
                changes.extend(steps.into_iter().map(|st| change(now, s, st, Some(i))));
            }
            SendOutcome::Contradiction if strict => {
                if sides[s].last_change_by_timer {
                    return Err(Blame::Timer(s));
                }
                match last_rx_change[s] {
                    Some(j) if !c.lost.contains(&j) => return Err(Blame::Delivery(j)),
                    _ => {}
                }
            }
            SendOutcome::Contradiction => {}
        }
        if c.lost.contains(&i) || c.to_previous.contains(&i) || silent[r] {
            continue;
        }
        // The peer's earlier FIN arrived before this segment.
        let steps = sides[r].apply_pending_fin(now);
        if steps.iter().any(|st| st.from != st.to) {
            last_rx_change[r] = pending_from[r];
        }
        changes.extend(
            steps
                .into_iter()
                .map(|st| change(now, r, st, pending_from[r])),
        );
        let steps = sides[r].on_receive(p, now, passive[r]);
        if steps.iter().any(|st| st.from != st.to) {
            last_rx_change[r] = Some(i);
        }
        if sides[r].pending_fin.is_some() && p.flags.fin() {
            pending_from[r] = Some(i);
        }
        changes.extend(steps.into_iter().map(|st| change(now, r, st, Some(i))));
    }
    restart(&mut sides, &mut changes, stop_us);
    for (s, side) in sides.iter_mut().enumerate() {
        let at = stop_us.max(c.packets.last().map_or(0, |p| p.time_us));
        let steps = side.apply_pending_fin(at.min(side.since_us.max(at)));
        changes.extend(
            steps
                .into_iter()
                .map(|st| change(at, s, st, pending_from[s])),
        );
        let (tw, fw2) = timers(s);
        for st in side.expire(stop_us, tw, fw2) {
            let at = side.since_us;
            changes.push(change(at, s, st, None));
        }
        if reused && side.state == State::TimeWait {
            changes.push(Change {
                time_us: stop_us,
                side: s,
                from: State::TimeWait,
                to: State::Closed,
                cause: "a new SYN reuses the 4-tuple: TIME-WAIT over (or reused)".into(),
                packet: None,
            });
            side.state = State::Closed;
        }
    }
    changes.sort_by_key(|c| c.time_us);
    c.changes = changes;
    c.final_states = [sides[0].state, sides[1].state];
    c.keepalives = keepalives;
    Ok(())
}

fn change(time_us: u64, side: usize, st: crate::track::Step, packet: Option<usize>) -> Change {
    Change {
        time_us,
        side,
        from: st.from,
        to: st.to,
        cause: st.cause,
        packet,
    }
}
