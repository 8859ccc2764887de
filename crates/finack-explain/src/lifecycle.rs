//! Naming what a connection did: how it opened, how it closed, and what went
//! wrong, from its packets and its inferred state changes.

use finack_core::State;

use crate::analysis::Traffic;
use crate::conn::Connection;
use crate::track::{seg_len, seq_lt};

/// How the connection was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// SYN, SYN-ACK, ACK.
    Normal,
    /// Both sides sent SYN (RFC 9293 §3.5, figure 8).
    Simultaneous,
    /// The first SYN went unanswered and was sent again (this many SYNs).
    RetriedSyns(usize),
    /// The SYN was answered with RST: nothing listens on the port.
    Refused,
    /// SYNs that no answer followed (this many).
    Unanswered(usize),
    /// The capture starts after the handshake.
    NotSeen,
}

impl Handshake {
    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            Handshake::Normal => "normal".into(),
            Handshake::Simultaneous => "simultaneous open".into(),
            Handshake::RetriedSyns(n) => format!("retried SYNs ({n})"),
            Handshake::Refused => "refused".into(),
            Handshake::Unanswered(n) => format!("unanswered ({n} SYNs)"),
            Handshake::NotSeen => "not captured".into(),
        }
    }
}

/// How the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// FIN, ACK, FIN, ACK.
    FourWay,
    /// The passive side's FIN carried the ACK of the first FIN (and its last
    /// data when `with_data`): a three-way close.
    FinAckMerged {
        /// The merged segment carried data too.
        with_data: bool,
    },
    /// Both sides sent FIN before getting the other's: through CLOSING.
    Simultaneous,
    /// One side half-closed and the other kept sending in CLOSE-WAIT.
    HalfClose {
        /// Bytes sent in CLOSE-WAIT.
        bytes: u64,
    },
    /// A side sent RST on a connection in use (abort, SO_LINGER 0).
    RstAbort,
    /// A side sent RST on close because its peer's data was still unread.
    RstUnreadData,
    /// A side closed after a long idle time or unanswered keep-alive probes.
    IdleTimeout {
        /// Keep-alive probes were sent before it.
        keepalive: bool,
    },
    /// A side answered with RST without ACK: it had no connection any more
    /// (crashed or rebooted): the other side was half-open.
    HalfOpen,
    /// Refused at the handshake.
    Refused,
    /// No close seen before the capture ends.
    StillOpen,
}

impl Close {
    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            Close::FourWay => "four-way".into(),
            Close::FinAckMerged { with_data: false } => "FIN+ACK merged".into(),
            Close::FinAckMerged { with_data: true } => "FIN+ACK merged, with data".into(),
            Close::Simultaneous => "simultaneous (CLOSING)".into(),
            Close::HalfClose { bytes } => format!("half-close, {bytes} B in CLOSE-WAIT"),
            Close::RstAbort => "RST abort".into(),
            Close::RstUnreadData => "RST on close, unread data".into(),
            Close::IdleTimeout { keepalive: true } => "keep-alive timeout".into(),
            Close::IdleTimeout { keepalive: false } => "idle timeout".into(),
            Close::HalfOpen => "half-open (peer crashed?)".into(),
            Close::Refused => "refused".into(),
            Close::StillOpen => "still open".into(),
        }
    }
}

/// What the explanation found about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// How it opened.
    pub handshake: Handshake,
    /// How it closed.
    pub close: Close,
    /// The side that closed first (sent the first FIN or RST), if any.
    pub closed_by: Option<usize>,
    /// Anomalies, in words. Repeats of one kind are summarised in one
    /// entry (the packets behind them are listed in full by
    /// [`crate::Explanation::to_json`]).
    pub anomalies: Vec<String>,
}

/// Idle time after which a close counts as an idle timeout.
const IDLE_US: u64 = 10_000_000;

/// Packet numbers listed at most in one summarised anomaly.
pub const LISTED: usize = 8;

/// Packet numbers (1-based) as `#12, #13, #15`, the first [`LISTED`] of
/// them, then `, … (first 8)` when there are more.
pub fn packet_list(indices: &[usize]) -> String {
    let mut s: Vec<String> = indices
        .iter()
        .take(LISTED)
        .map(|i| format!("#{}", i + 1))
        .collect();
    if indices.len() > LISTED {
        s.push(format!("… (first {LISTED})"));
    }
    s.join(", ")
}

/// Name the lifecycle of `c` (after [`crate::conn::infer`]) with its
/// sequence analysis `traffic` ([`crate::analysis::analyse`]); `end_us` is
/// the end of the capture.
pub fn name(c: &Connection, traffic: &Traffic, end_us: u64) -> Lifecycle {
    let side = |i: usize| c.side_of(&c.packets[i]);
    let pk = &c.packets;
    let syns: Vec<usize> = (0..pk.len())
        .filter(|&i| pk[i].flags.syn() && !pk[i].flags.ack())
        .collect();
    let synacks = pk.iter().filter(|p| p.flags.syn() && p.flags.ack()).count();
    let handshake = if syns.is_empty() {
        Handshake::NotSeen
    } else if syns.iter().any(|&i| side(i) == 1) && syns.iter().any(|&i| side(i) == 0) {
        Handshake::Simultaneous
    } else if pk.iter().any(|p| p.flags.rst() && c.side_of(p) == 1) && synacks == 0 {
        Handshake::Refused
    } else if synacks == 0 {
        Handshake::Unanswered(syns.len())
    } else if syns.len() > 1 {
        Handshake::RetriedSyns(syns.len())
    } else {
        Handshake::Normal
    };
    let first_fin = (0..pk.len()).find(|&i| pk[i].flags.fin());
    let first_rst = (0..pk.len()).find(|&i| pk[i].flags.rst());
    let entered = |s: usize, st: State| c.changes.iter().any(|x| x.side == s && x.to == st);
    let mut anomalies = Vec::new();
    let (close, closed_by) = match (first_fin, first_rst) {
        _ if handshake == Handshake::Refused => (Close::Refused, None),
        (_, Some(r)) if first_fin.is_none_or(|f| r < f) && rst_closes(c, r) => {
            let s = side(r);
            (rst_kind(c, r), Some(s))
        }
        (Some(f), _) => {
            let a = side(f);
            let b = 1 - a;
            let close = if entered(0, State::Closing) || entered(1, State::Closing) {
                Close::Simultaneous
            } else {
                let in_cw = bytes_sent_in(c, b, State::CloseWait);
                if in_cw > 0 {
                    Close::HalfClose { bytes: in_cw }
                } else if let Some(m) = merged_fin(c, f) {
                    Close::FinAckMerged {
                        with_data: pk[m].len > 0,
                    }
                } else if pk.iter().any(|p| p.flags.fin() && c.side_of(p) == b) {
                    Close::FourWay
                } else if let Some(r) = first_rst.filter(|&r| r > f) {
                    rst_kind(c, r)
                } else {
                    Close::StillOpen
                }
            };
            let idle = f > 0 && pk[f].time_us - pk[f - 1].time_us >= IDLE_US;
            let close = if idle && close == Close::FourWay {
                Close::IdleTimeout { keepalive: false }
            } else {
                close
            };
            (close, Some(a))
        }
        _ => (Close::StillOpen, None),
    };
    // Anomalies.
    let mut lost_data = Vec::new();
    for &i in &c.lost {
        let p = &pk[i];
        if p.flags.ack() && !p.flags.fin() && p.len == 0 {
            let s = ["first", "second"][side(i)];
            anomalies.push(format!(
                "last ACK lost (the {s} host's ACK at {}; the FIN was retransmitted)",
                crate::fmt_us(p.time_us)
            ));
        } else {
            lost_data.push(i);
        }
    }
    match lost_data[..] {
        [] => {}
        [i] => anomalies.push(format!(
            "packet #{} never reached its receiver (lost after the capture point)",
            i + 1
        )),
        _ => anomalies.push(format!(
            "{} packets never reached their receiver (lost after the capture point): {}",
            lost_data.len(),
            packet_list(&lost_data)
        )),
    }
    let fin_retx = pk.iter().enumerate().any(|(i, p)| {
        p.flags.fin()
            && pk[..i]
                .iter()
                .any(|q| q.flags.fin() && q.src == p.src && q.seq == p.seq)
    });
    if fin_retx && c.lost.is_empty() {
        anomalies.push("FIN retransmitted".into());
    }
    for x in &c.changes {
        if x.from == State::TimeWait && x.to == State::Closed && x.cause.contains("RST") {
            if x.cause.starts_with("rcv") {
                anomalies.push("TIME-WAIT assassinated by RST (RFC 1337)".into());
            } else {
                anomalies.push(
                    "no TIME-WAIT: the retransmitted FIN met a closed port and got RST".into(),
                );
            }
        }
        if x.from == State::TimeWait && x.cause.contains("new SYN") {
            anomalies.push("TIME-WAIT reused by a new connection on the same 4-tuple".into());
        }
        if x.from == State::TimeWait && x.to == State::TimeWait {
            anomalies.push("TIME-WAIT restarted by a retransmitted FIN".into());
        }
    }
    match c.old_duplicates[..] {
        [] => {}
        [i] => anomalies.push(format!(
            "old duplicate: packet #{} repeats a data segment of the previous incarnation (seq {}, {} bytes); without TIME-WAIT (or PAWS) it can be taken as new data",
            i + 1,
            pk[i].seq,
            pk[i].len
        )),
        _ => anomalies.push(format!(
            "old duplicates: {} packets repeat data segments of the previous incarnation ({}); without TIME-WAIT (or PAWS) they can be taken as new data",
            c.old_duplicates.len(),
            packet_list(&c.old_duplicates)
        )),
    }
    // A window closed for a second or more (zero-window probes, or a
    // stall).
    for (s, d) in traffic.iter().enumerate() {
        if let Some(w) = d.zero_windows.iter().max_by_key(|w| w.us) {
            if w.us >= 1_000_000 {
                anomalies.push(format!(
                    "zero-window stall: the {} host's window stayed closed {}{}",
                    ["first", "second"][s],
                    crate::fmt_us(w.us),
                    if w.until.is_none() {
                        " (to the end)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    let data_segs = pk.iter().filter(|p| seg_len(p) > 0).count();
    let retx = c.retransmissions[0] + c.retransmissions[1];
    if retx >= 5 && retx * 5 >= data_segs {
        anomalies.push(format!(
            "retransmission storm ({retx} of {data_segs} segments)"
        ));
    }
    for s in 0..2 {
        let since = c
            .changes
            .iter()
            .rev()
            .find(|x| x.side == s)
            .map_or(0, |x| x.time_us);
        let age = crate::fmt_us(end_us.saturating_sub(since));
        match c.final_states[s] {
            State::CloseWait => anomalies.push(format!(
                "{} still in CLOSE-WAIT at the end ({age}): leak suspect (close() never called?)",
                ["first host", "second host"][s]
            )),
            State::FinWait2 => anomalies.push(format!(
                "{} still in FIN-WAIT-2 at the end ({age}): the peer never closed (leak suspect)",
                ["first host", "second host"][s]
            )),
            _ => {}
        }
    }
    Lifecycle {
        handshake,
        close,
        closed_by,
        anomalies: counted(anomalies),
    }
}

/// The same anomaly said several times once, with how many times.
fn counted(anomalies: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for a in anomalies {
        match out.iter_mut().find(|(x, _)| *x == a) {
            Some(e) => e.1 += 1,
            None => out.push((a, 1)),
        }
    }
    out.into_iter()
        .map(|(a, n)| {
            if n == 1 {
                a
            } else {
                format!("{a} ({n} times)")
            }
        })
        .collect()
}

/// Whether the RST at `r` ends a connection that was open.
fn rst_closes(c: &Connection, r: usize) -> bool {
    c.changes
        .iter()
        .any(|x| x.packet == Some(r) && x.to == State::Closed)
}

/// Which kind of RST close the RST at packet `r` is.
fn rst_kind(c: &Connection, r: usize) -> Close {
    let pk = &c.packets;
    let s = c.side_of(&pk[r]);
    // RFC 9293 §3.10.7.1: a port without a connection answers with
    // <SEQ=SEG.ACK><CTL=RST>, no ACK flag: the sender had forgotten it.
    if !pk[r].flags.ack() {
        return Close::HalfOpen;
    }
    if c.keepalives[s] > 0 {
        return Close::IdleTimeout { keepalive: true };
    }
    // RFC 9293 §3.10.4 / RFC 2525 §2.17: close() with data not yet read
    // sends RST: the peer sent data after the closing side's last data.
    let last_own_data = pk[..r]
        .iter()
        .rposition(|p| c.side_of(p) == s && p.len > 0)
        .map_or(-1, |i| i as i64);
    let peer_data_after = pk[..r]
        .iter()
        .enumerate()
        .any(|(i, p)| c.side_of(p) != s && p.len > 0 && i as i64 > last_own_data);
    let idle = r > 0 && pk[r].time_us - pk[r - 1].time_us >= IDLE_US;
    if peer_data_after {
        Close::RstUnreadData
    } else if idle {
        Close::IdleTimeout { keepalive: false }
    } else {
        Close::RstAbort
    }
}

/// New bytes `side` sent while inferred to be in `state` (retransmitted
/// bytes counted once).
fn bytes_sent_in(c: &Connection, side: usize, state: State) -> u64 {
    let mut cur = c.initial[side];
    let mut total = 0u64;
    // The highest end of data `side` sent so far.
    let mut high: Option<u32> = None;
    let mut changes = c.changes.iter().filter(|x| x.side == side).peekable();
    for p in &c.packets {
        while let Some(x) = changes.peek() {
            if x.time_us <= p.time_us && x.packet.is_none_or(|j| c.packets[j].time_us <= p.time_us)
            {
                // A change caused by this very packet applies after it.
                if x.packet.is_some_and(|j| std::ptr::eq(&c.packets[j], p)) {
                    break;
                }
                cur = x.to;
                changes.next();
            } else {
                break;
            }
        }
        if c.side_of(p) == side && p.len > 0 {
            let start = p.seq.wrapping_add(u32::from(p.flags.syn()));
            let end = start.wrapping_add(p.len);
            let from = match high {
                Some(h) if seq_lt(start, h) => h,
                _ => start,
            };
            if seq_lt(from, end) {
                if cur == state && !p.flags.fin() {
                    total += u64::from(end.wrapping_sub(from));
                }
                high = Some(end);
            }
        }
    }
    total
}

/// The passive side's FIN, when it is its first segment after the first FIN
/// and also acknowledges it.
fn merged_fin(c: &Connection, f: usize) -> Option<usize> {
    let pk = &c.packets;
    let a = c.side_of(&pk[f]);
    let fin_end = pk[f].seq.wrapping_add(seg_len(&pk[f]));
    let answer = (f + 1..pk.len()).find(|&i| c.side_of(&pk[i]) != a)?;
    let p = &pk[answer];
    (p.flags.fin() && p.flags.ack() && !seq_lt(p.ack, fin_end)).then_some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Packet;
    use finack_wire::TcpFlags;

    fn data(i: u32, from_server: bool) -> Packet {
        let (a, b) = (
            "192.0.2.1:5000".parse().unwrap(),
            "192.0.2.2:80".parse().unwrap(),
        );
        let (src, dst) = if from_server { (b, a) } else { (a, b) };
        Packet {
            time_us: u64::from(i) * 1000,
            src,
            dst,
            ttl: 64,
            flags: TcpFlags::ACK,
            seq: 1000 + i * 100,
            ack: 1,
            len: 100,
            window: 1000,
            checksum_ok: true,
            bytes: Vec::new(),
        }
    }

    /// Many packets lost after the capture point read as one anomaly with
    /// the first eight listed; one lost packet as before.
    #[test]
    fn lost_packets_are_summarised() {
        let mut c = crate::conn::group((0..30).map(|i| data(i, i % 2 == 1)).collect())
            .pop()
            .unwrap();
        c.initial = [State::Established; 2];
        c.lost = [3, 4, 6, 9, 10, 12, 15, 16, 20, 22, 27]
            .into_iter()
            .collect();
        let l = name(&c, &Default::default(), 30_000);
        assert_eq!(
            l.anomalies,
            [
                "11 packets never reached their receiver (lost after the capture point): \
              #4, #5, #7, #10, #11, #13, #16, #17, … (first 8)"
            ]
        );
        c.lost = [5].into_iter().collect();
        let l = name(&c, &Default::default(), 30_000);
        assert_eq!(
            l.anomalies,
            ["packet #6 never reached its receiver (lost after the capture point)"]
        );
    }

    #[test]
    fn identical_anomalies_are_counted() {
        let a = vec!["x".to_string(), "y".to_string(), "x".to_string()];
        assert_eq!(counted(a), ["x (2 times)", "y"]);
    }
}
