//! Sequence analysis of one connection, direction by direction:
//! retransmissions (and which of them were spurious), segments out of
//! order, duplicate ACKs and zero-window episodes, as seen at the capture
//! point. None of it depends on the state inference ([`crate::conn::infer`]),
//! so it holds whichever side the capture was taken near.
//!
//! The rules follow Wireshark's TCP analysis (`packet-tcp.c`,
//! `tcp_analyze_sequence_number()`) where it has one, so the counts can be
//! checked against `tshark -Y tcp.analysis.…`; where this module differs it
//! says so:
//! - retransmission: a segment occupying sequence space (data, SYN or FIN)
//!   that starts below the highest sequence number its sender reached, and
//!   is not a keep-alive. When part of its range was seen before in the
//!   capture it is a retransmission, however soon it follows; Wireshark
//!   calls such a segment "out of order" when it comes within 3 ms (or the
//!   handshake's round trip) of the highest one. A segment that fills a
//!   hole nothing in the capture covered yet is out of order when it comes
//!   within 3 ms of the highest segment (reordered before the capture
//!   point), else a retransmission whose first copy was lost before the
//!   capture point;
//! - spurious retransmission: one whose whole range the receiver had
//!   acknowledged before it appears in the capture (Wireshark's rule, but
//!   SYN and FIN count as well as data, and an acknowledgment inferred lost
//!   after the capture point does not count), or
//!   one the receiver reports afterwards as a duplicate in a D-SACK block
//!   (RFC 2883 §4: the first SACK block lies below the cumulative ACK, or
//!   inside the second block; RFC 3708 uses this to detect spurious
//!   retransmissions);
//! - duplicate ACK: a segment without data, SYN, FIN or RST that repeats its
//!   sender's previous acknowledgment number, window (not zero) and next
//!   sequence number (Wireshark's rule);
//! - zero-window episode: from a segment advertising a zero window (not
//!   SYN, FIN or RST) to its sender's next segment advertising a non-zero
//!   one (Wireshark marks each such segment `tcp.analysis.zero_window`).

use std::collections::BTreeSet;

use crate::capture::Packet;
use crate::conn::Connection;
use crate::track::{seg_len, seq_le, seq_lt};

/// Below this gap after the highest segment, a segment filling a hole is
/// taken as reordered rather than retransmitted (Wireshark's default when
/// it has no round-trip estimate).
pub const OUT_OF_ORDER_US: u64 = 3_000;

/// Why a retransmission was unnecessary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spurious {
    /// The receiver had already acknowledged all of it (as seen at the
    /// capture point) when it was resent.
    AlreadyAcked,
    /// The receiver reported it as received twice, in a D-SACK block (the
    /// packet holding it, an index into the connection's packets).
    Dsack(usize),
}

/// A run of zero-window advertisements by one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroWindow {
    /// The first packet advertising the zero window (index into the
    /// connection's packets).
    pub from: usize,
    /// The packet that opened the window again, if the capture shows one.
    pub until: Option<usize>,
    /// How long the window stayed closed (to the end of the capture when
    /// it never opened).
    pub us: u64,
}

/// What one side sent, analysed. Packet indices point into the
/// connection's packets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Direction {
    /// Retransmitted segments.
    pub retransmissions: Vec<usize>,
    /// Retransmissions found unnecessary, with why.
    pub spurious: Vec<(usize, Spurious)>,
    /// Segments first seen below the highest sequence number shortly after
    /// it: reordered before the capture point (not retransmissions).
    pub out_of_order: Vec<usize>,
    /// Duplicate ACKs.
    pub duplicate_acks: Vec<usize>,
    /// Segments carrying a D-SACK block (this side received something
    /// twice).
    pub dsacks: Vec<usize>,
    /// Episodes of this side advertising a zero window.
    pub zero_windows: Vec<ZeroWindow>,
}

impl Direction {
    /// Spurious retransmissions resent after their acknowledgment was seen.
    pub fn spurious_acked(&self) -> usize {
        self.spurious
            .iter()
            .filter(|(_, w)| *w == Spurious::AlreadyAcked)
            .count()
    }

    /// The same, in words for the summary ("" when there is nothing to
    /// say), e.g. `295 retransmissions (96 spurious: 86 already
    /// acknowledged, 10 reported by D-SACK), 12 duplicate ACKs`.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        let n = self.retransmissions.len();
        if n > 0 {
            let s = self.spurious.len();
            let acked = self.spurious_acked();
            let spurious = match (s, acked) {
                (0, _) => String::new(),
                (s, a) if a == s => format!(" ({s} spurious: already acknowledged)"),
                (s, 0) => format!(" ({s} spurious: reported by D-SACK)"),
                (s, a) => format!(
                    " ({s} spurious: {a} already acknowledged, {} reported by D-SACK)",
                    s - a
                ),
            };
            parts.push(format!("{n} {}{spurious}", plural(n, "retransmission")));
        }
        let o = self.out_of_order.len();
        if o > 0 {
            parts.push(format!("{o} {} out of order", plural(o, "segment")));
        }
        let d = self.duplicate_acks.len();
        if d > 0 {
            parts.push(format!("{d} duplicate {}", plural(d, "ACK")));
        }
        let z = self.zero_windows.len();
        if z > 0 {
            let longest = self.zero_windows.iter().map(|w| w.us).max().unwrap_or(0);
            let open = self.zero_windows.last().is_some_and(|w| w.until.is_none());
            parts.push(format!(
                "a zero window {z} {} (longest {}{})",
                plural(z, "time"),
                crate::fmt_us(longest),
                if open {
                    "; still closed at the end"
                } else {
                    ""
                }
            ));
        }
        parts.join(", ")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// The analysis of both directions of a connection: `[0]` what the first
/// host sent, `[1]` what the second sent.
pub type Traffic = [Direction; 2];

/// Sequence numbers of one side mapped onto a line without wrap-around,
/// with the ranges the capture showed it sending.
#[derive(Default)]
struct Sent {
    /// The highest end of sequence space sent (raw, and unwrapped).
    next: Option<(u32, i64)>,
    /// When `next` last advanced.
    next_at: u64,
    /// Ranges seen sent, unwrapped, merged.
    seen: Vec<(i64, i64)>,
    /// The last acknowledgment number and window this side sent.
    last_ack: Option<u32>,
    last_window: Option<u16>,
    /// The highest acknowledgment number this side sent.
    max_ack: Option<u32>,
}

impl Sent {
    /// `seq` unwrapped around the highest sequence number so far.
    fn unwrap(&self, seq: u32) -> i64 {
        match self.next {
            Some((raw, line)) => line + i64::from(seq.wrapping_sub(raw) as i32),
            None => i64::from(seq),
        }
    }

    fn overlaps(&self, a: i64, b: i64) -> bool {
        self.seen.iter().any(|&(x, y)| x < b && a < y)
    }

    fn add(&mut self, a: i64, b: i64) {
        let (mut a, mut b) = (a, b);
        self.seen.retain(|&(x, y)| {
            if x <= b && a <= y {
                a = a.min(x);
                b = b.max(y);
                false
            } else {
                true
            }
        });
        let at = self.seen.partition_point(|&(x, _)| x < a);
        self.seen.insert(at, (a, b));
    }
}

/// Whether `p` is a keep-alive probe of a side whose highest sequence
/// number is `next`: at most one byte, one before it, no SYN, FIN or RST
/// (Wireshark's rule; Linux sends SND.UNA - 1 without data).
fn keepalive(p: &Packet, next: Option<u32>) -> bool {
    let f = p.flags;
    p.len <= 1
        && !f.syn()
        && !f.fin()
        && !f.rst()
        && next.is_some_and(|n| p.seq.wrapping_add(1) == n)
}

/// The SACK blocks of `p`, read again from its bytes.
fn sack_blocks(p: &Packet) -> Vec<(u32, u32)> {
    match finack_wire::parse_tcp_packet(&p.bytes) {
        Ok((_, tcp)) => tcp
            .options
            .sack_blocks
            .iter()
            .map(|(l, r)| (l.0, r.0))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The duplicate range a segment's SACK blocks report, if its first block
/// is a D-SACK (RFC 2883 §4): below the cumulative acknowledgment, or
/// inside the second block.
fn dsack(p: &Packet) -> Option<(u32, u32)> {
    if !p.flags.ack() {
        return None;
    }
    let blocks = sack_blocks(p);
    let &(l, r) = blocks.first()?;
    if !seq_lt(l, r) {
        return None;
    }
    let below_ack = seq_le(r, p.ack);
    let inside_second = blocks
        .get(1)
        .is_some_and(|&(l2, r2)| seq_le(l2, l) && seq_le(r, r2));
    (below_ack || inside_second).then_some((l, r))
}

/// Analyse every packet of `c`, direction by direction.
pub fn analyse(c: &Connection) -> Traffic {
    let mut out: Traffic = Default::default();
    let mut sent: [Sent; 2] = Default::default();
    // Retransmissions already marked spurious.
    let mut spurious: BTreeSet<usize> = BTreeSet::new();
    let mut zero_since: [Option<usize>; 2] = [None, None];
    let end_us = c.packets.last().map_or(0, |p| p.time_us);
    for (i, p) in c.packets.iter().enumerate() {
        let s = c.side_of(p);
        let r = 1 - s;
        let f = p.flags;
        let len = seg_len(p);
        let next_raw = sent[s].next.map(|(raw, _)| raw);
        let is_keepalive = keepalive(p, next_raw);
        if len > 0 && !is_keepalive {
            let a = sent[s].unwrap(p.seq);
            let b = a + i64::from(len);
            let below = sent[s].next.is_some_and(|(_, line)| a < line);
            if below {
                let seen = sent[s].overlaps(a, b);
                let soon = p.time_us.saturating_sub(sent[s].next_at) < OUT_OF_ORDER_US;
                if seen || !soon {
                    out[s].retransmissions.push(i);
                    // Resent after the peer acknowledged all of it.
                    let end = p.seq.wrapping_add(len);
                    if sent[r].max_ack.is_some_and(|ack| seq_le(end, ack)) {
                        out[s].spurious.push((i, Spurious::AlreadyAcked));
                        spurious.insert(i);
                    }
                } else {
                    out[s].out_of_order.push(i);
                }
            }
            sent[s].add(a, b);
            if sent[s].next.is_none_or(|(_, line)| line < b) {
                sent[s].next = Some((p.seq.wrapping_add(len), b));
                sent[s].next_at = p.time_us;
            }
        } else if sent[s].next.is_none() && !f.rst() {
            sent[s].next = Some((p.seq, i64::from(p.seq)));
            sent[s].next_at = p.time_us;
        }
        // D-SACK from this side: the most recent retransmission by the peer
        // of a range inside the reported one was not needed.
        if let Some((l, rr)) = dsack(p) {
            out[s].dsacks.push(i);
            let culprit = out[r].retransmissions.iter().rev().copied().find(|&j| {
                let q = &c.packets[j];
                let end = q.seq.wrapping_add(seg_len(q));
                seq_lt(q.seq, rr) && seq_lt(l, end)
            });
            if let Some(j) = culprit.filter(|j| !spurious.contains(j)) {
                out[r].spurious.push((j, Spurious::Dsack(i)));
                spurious.insert(j);
            }
        }
        // Duplicate ACK (before this packet's values are recorded).
        let plain = !f.syn() && !f.fin() && !f.rst();
        if p.len == 0
            && plain
            && f.ack()
            && p.window != 0
            && sent[s].last_window == Some(p.window)
            && sent[s].last_ack == Some(p.ack)
            && next_raw == Some(p.seq)
        {
            out[s].duplicate_acks.push(i);
        }
        if f.ack() {
            sent[s].last_ack = Some(p.ack);
            // An acknowledgment the inference found lost after the capture
            // point never told the sender anything.
            if !c.lost.contains(&i) && sent[s].max_ack.is_none_or(|m| seq_lt(m, p.ack)) {
                sent[s].max_ack = Some(p.ack);
            }
        }
        if !f.rst() {
            sent[s].last_window = Some(p.window);
        }
        // Zero-window episodes.
        if plain {
            match (p.window == 0, zero_since[s]) {
                (true, None) => zero_since[s] = Some(i),
                (false, Some(from)) => {
                    out[s].zero_windows.push(ZeroWindow {
                        from,
                        until: Some(i),
                        us: p.time_us.saturating_sub(c.packets[from].time_us),
                    });
                    zero_since[s] = None;
                }
                _ => {}
            }
        }
    }
    for (s, since) in zero_since.iter().enumerate() {
        if let Some(&from) = since.as_ref() {
            out[s].zero_windows.push(ZeroWindow {
                from,
                until: None,
                us: end_us.saturating_sub(c.packets[from].time_us),
            });
        }
    }
    for d in &mut out {
        d.spurious.sort_by_key(|(j, _)| *j);
    }
    out
}
