//! What the text and SVG diagrams share: relative sequence numbers, packet
//! labels, the choice of events to draw when a trace is too long, and the
//! order in which sends, arrivals and other events are laid out.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;

use finack_core::Instant;

use crate::trace::{Fate, HostId, SegmentSummary, Trace, TraceEvent};

/// Idle time from which the diagrams draw a break ("⋯ 60.0 s ⋯") instead of
/// empty space.
pub(crate) const BREAK_GAP_US: u64 = 500_000;

/// The lifeline a host is drawn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Host 0.
    Left,
    /// Every other host.
    Right,
}

/// Host 0 is drawn on the left lifeline, any other host on the right one.
pub(crate) fn side(host: HostId) -> Side {
    if host == 0 {
        Side::Left
    } else {
        Side::Right
    }
}

/// The display name of a host, or `host N` when the trace does not name it.
pub(crate) fn host_name(trace: &Trace, host: HostId) -> String {
    trace
        .hosts
        .get(host)
        .map_or_else(|| format!("host {host}"), |h| h.name.clone())
}

/// The address of a host, or an empty string.
pub(crate) fn host_addr(trace: &Trace, host: HostId) -> String {
    trace
        .hosts
        .get(host)
        .map_or_else(String::new, |h| h.addr.clone())
}

/// A time as seconds with milliseconds, e.g. `1.010s`.
pub(crate) fn fmt_time(t: Instant) -> String {
    let us = t.as_micros();
    format!("{}.{:03}s", us / 1_000_000, (us % 1_000_000) / 1000)
}

/// A duration in a compact human form: `60.0 s`, `250 ms`, `1.5 ms`, `80 µs`.
pub(crate) fn fmt_span(us: u64) -> String {
    if us >= 1_000_000 {
        let tenths = (us + 50_000) / 100_000;
        format!("{}.{} s", tenths / 10, tenths % 10)
    } else if us >= 10_000 {
        format!("{} ms", (us + 500) / 1000)
    } else if us >= 1000 {
        let tenths = (us + 50) / 100;
        format!("{}.{} ms", tenths / 10, tenths % 10)
    } else {
        format!("{us} µs")
    }
}

/// A stretch of time as text: `at 0.040s`, or `0.030s to 0.160s, 130 ms`.
pub(crate) fn when(from: Instant, to: Instant) -> String {
    let span = to.as_micros().saturating_sub(from.as_micros());
    if span == 0 {
        format!("at {}", fmt_time(from))
    } else {
        format!("{} to {}, {}", fmt_time(from), fmt_time(to), fmt_span(span))
    }
}

/// When a packet reached the receiver, if it did (damaged or not).
pub(crate) fn arrival(fate: &Fate) -> Option<Instant> {
    match fate {
        Fate::Delivered(t) | Fate::Corrupted(t) | Fate::HostDown(t) => Some(*t),
        Fate::Dropped(_) => None,
    }
}

/// Why a packet did not do its job, or `None` when it was delivered intact.
pub(crate) fn failure(fate: &Fate) -> Option<String> {
    match fate {
        Fate::Delivered(_) => None,
        Fate::Dropped(why) if why.trim().is_empty() => Some("dropped".to_string()),
        Fate::Dropped(why) => Some(why.clone()),
        Fate::Corrupted(_) => Some("(corrupted)".to_string()),
        Fate::HostDown(_) => Some("(host down)".to_string()),
    }
}

/// Sequence and acknowledgment numbers of one packet relative to the ISNs;
/// `None` where the ISN is not known (no SYN seen on that side).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rel {
    /// The packet's sequence number minus its sender's ISN.
    pub seq: Option<u32>,
    /// The acknowledgment number minus the receiver's ISN (only with ACK).
    pub ack: Option<u32>,
}

/// An initial sequence number, fixed by a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Isn {
    /// The host that sent the SYN.
    pub host: HostId,
    /// Its local port.
    pub port: u16,
    /// The ISN itself.
    pub isn: u32,
}

/// Direction of a packet flow: sender, source port, receiver, destination port.
type Flow = (HostId, u16, HostId, u16);

/// Relative numbering of every packet of a trace, Wireshark-style.
#[derive(Clone, Debug, Default)]
pub(crate) struct Numbering {
    /// One entry per trace event; meaningful for packets only.
    pub rel: Vec<Rel>,
    /// Every ISN in the order its SYN was sent.
    pub isns: Vec<Isn>,
    /// More than one connection (pair of ports) appears in the trace, so the
    /// diagrams add ports to their labels.
    pub multi_conn: bool,
    /// One entry per trace event: a packet that sends sequence space (data,
    /// SYN or FIN) its sender had already sent on that connection: a
    /// retransmission.
    pub retx: Vec<bool>,
}

impl Numbering {
    /// Number the packets of `trace`. A SYN fixes the ISN of its flow; a later
    /// SYN with a different sequence number (a new incarnation of the same
    /// port pair) fixes a new one.
    pub(crate) fn new(trace: &Trace) -> Numbering {
        let mut isn: BTreeMap<Flow, u32> = BTreeMap::new();
        let mut conns: BTreeSet<((HostId, u16), (HostId, u16))> = BTreeSet::new();
        // Per flow: the end of the sequence space sent so far, relative to
        // the flow's ISN.
        let mut sent_to: BTreeMap<Flow, u32> = BTreeMap::new();
        // Port pairs on which a FIN or RST was seen: a SYN there opens a new
        // incarnation even with the same ISN (two runs of one scenario).
        let mut ended: BTreeSet<((HostId, u16), (HostId, u16))> = BTreeSet::new();
        let mut out = Numbering {
            rel: Vec::with_capacity(trace.events.len()),
            retx: Vec::with_capacity(trace.events.len()),
            ..Numbering::default()
        };
        for e in &trace.events {
            let TraceEvent::Packet { from, to, seg, .. } = e else {
                out.rel.push(Rel::default());
                out.retx.push(false);
                continue;
            };
            let a = (*from, seg.src_port);
            let b = (*to, seg.dst_port);
            let key = if a <= b { (a, b) } else { (b, a) };
            conns.insert(key);
            let fwd: Flow = (*from, seg.src_port, *to, seg.dst_port);
            let rev: Flow = (*to, seg.dst_port, *from, seg.src_port);
            if seg.flags.syn() && !seg.flags.ack() && ended.remove(&key) {
                sent_to.remove(&fwd);
                sent_to.remove(&rev);
            }
            if seg.flags.fin() || seg.flags.rst() {
                ended.insert(key);
            }
            if seg.flags.syn() && isn.get(&fwd) != Some(&seg.seq.0) {
                isn.insert(fwd, seg.seq.0);
                sent_to.remove(&fwd);
                out.isns.push(Isn {
                    host: *from,
                    port: seg.src_port,
                    isn: seg.seq.0,
                });
            }
            let seq = isn.get(&fwd).map(|i| seg.seq.0.wrapping_sub(*i));
            let ack = if seg.flags.ack() {
                isn.get(&rev).map(|i| seg.ack.0.wrapping_sub(*i))
            } else {
                None
            };
            out.rel.push(Rel { seq, ack });
            let space = seg.len as u32 + u32::from(seg.flags.syn()) + u32::from(seg.flags.fin());
            let retx = match seq {
                Some(rel) if space > 0 && !seg.flags.rst() => {
                    let end = rel.wrapping_add(space);
                    let high = sent_to.get(&fwd).copied();
                    // Sequence space below what was sent before: sent again.
                    let again = high.is_some_and(|h| (h.wrapping_sub(rel) as i32) > 0);
                    if high.is_none_or(|h| (end.wrapping_sub(h) as i32) > 0) {
                        sent_to.insert(fwd, end);
                    }
                    again
                }
                _ => false,
            };
            out.retx.push(retx);
        }
        out.multi_conn = conns.len() > 1;
        out
    }

    /// The first ISN `host` chose and how many more it chose after it.
    pub(crate) fn isn_of(&self, host: HostId) -> Option<(u32, usize)> {
        let mut it = self.isns.iter().filter(|i| i.host == host);
        let first = it.next()?;
        Some((first.isn, it.count()))
    }

    /// The label of a packet: (ports,) flags, relative seq, ack when ACK is
    /// set, payload length, and `win=0` for a zero window.
    pub(crate) fn label(&self, idx: usize, seg: &SegmentSummary) -> String {
        let rel = self.rel.get(idx).copied().unwrap_or_default();
        let mut s = String::new();
        if self.multi_conn {
            let _ = write!(s, "{}→{} ", seg.src_port, seg.dst_port);
        }
        let _ = write!(s, "{} seq={}", seg.flags, rel.seq.unwrap_or(seg.seq.0));
        if seg.flags.ack() {
            let _ = write!(s, " ack={}", rel.ack.unwrap_or(seg.ack.0));
        }
        let _ = write!(s, " len={}", seg.len);
        if seg.window == 0 && !seg.flags.rst() {
            s.push_str(" win=0");
        }
        if self.retx.get(idx).copied().unwrap_or(false) {
            s.push_str(" ↻ retransmission");
        }
        s
    }
}

/// One thing a diagram draws, in drawing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// The trace event with this index (a packet is drawn where it is sent).
    Event(usize),
    /// The packet with this event index reaches its receiver.
    Arrival {
        /// Index of the packet event.
        idx: usize,
        /// When it arrives.
        at: Instant,
    },
    /// Events left out of a long trace.
    Elided {
        /// How many.
        count: usize,
        /// Time of the first one left out.
        from: Instant,
        /// Time of the last one left out.
        to: Instant,
    },
}

impl Item {
    /// The time the item is drawn at.
    pub(crate) fn time(&self, trace: &Trace) -> Instant {
        match self {
            Item::Event(i) => trace.events[*i].time(),
            Item::Arrival { at, .. } => *at,
            Item::Elided { from, .. } => *from,
        }
    }
}

/// How many packets of a run of plain data or acknowledgments are kept at
/// its start and at its end when a long trace is shortened, tried in turn
/// until the trace fits.
const RUN_KEEP: [(usize, usize); 3] = [(3, 2), (2, 1), (1, 0)];

/// The fewest plain packets worth replacing by a "more events" marker.
const MIN_CUT: usize = 4;

/// A plain packet: delivered intact, on time and in order, with no SYN, FIN
/// or RST and a non-zero window. Long runs of them (bulk data and its ACKs)
/// are the first thing left out of a long trace.
fn plain(e: &TraceEvent, notable: bool) -> bool {
    match e {
        TraceEvent::Packet { seg, fate, .. } => {
            !notable
                && matches!(fate, Fate::Delivered(_))
                && !seg.flags.syn()
                && !seg.flags.fin()
                && !seg.flags.rst()
                && seg.window != 0
        }
        _ => false,
    }
}

/// An entry of the selection of events to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sel {
    /// Draw this event.
    Show(usize),
    /// Leave out `count` events, the first at index `first`, the last at
    /// index `last` (events in between may be drawn when the cut stands for
    /// a run of plain packets interleaved with others).
    Skip {
        count: usize,
        first: usize,
        last: usize,
    },
}

/// Every event, except that each run of plain packets long enough to leave
/// out at least [`MIN_CUT`] of them keeps only its first `keep_head` and last
/// `keep_tail`.
fn shorten_runs(trace: &Trace, notable: &[bool], keep_head: usize, keep_tail: usize) -> Vec<Sel> {
    let n = trace.events.len();
    let mut sel = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && plain(&trace.events[j], notable[j]) {
            j += 1;
        }
        if j == i {
            sel.push(Sel::Show(i));
            i += 1;
            continue;
        }
        if j - i >= keep_head + keep_tail + MIN_CUT {
            sel.extend((i..i + keep_head).map(Sel::Show));
            sel.push(Sel::Skip {
                count: j - i - keep_head - keep_tail,
                first: i + keep_head,
                last: j - keep_tail - 1,
            });
            sel.extend((j - keep_tail..j).map(Sel::Show));
        } else {
            sel.extend((i..j).map(Sel::Show));
        }
        i = j;
    }
    sel
}

/// Which events to draw (see [`plan`]).
fn select(trace: &Trace, max_events: usize, notable: &[bool]) -> Vec<Sel> {
    let n = trace.events.len();
    if n <= max_events {
        return (0..n).map(Sel::Show).collect();
    }
    // First shorten runs of plain packets to their first and last few,
    // keeping fewer of them until the trace fits.
    let mut sel = Vec::new();
    for (keep_head, keep_tail) in RUN_KEEP {
        sel = shorten_runs(trace, notable, keep_head, keep_tail);
        if sel.iter().filter(|s| matches!(s, Sel::Show(_))).count() <= max_events {
            return sel;
        }
    }
    let shown = sel.iter().filter(|s| matches!(s, Sel::Show(_))).count();
    // Still too many: keep the first and the last shown events and merge
    // everything in between into one cut.
    let tail = if max_events >= 2 {
        (max_events / 5).max(1)
    } else {
        0
    };
    let head = max_events - tail;
    let mut out = Vec::with_capacity(max_events + 8);
    let mut seen = 0;
    let mut cut: Option<(usize, usize, usize)> = None;
    for s in sel {
        let keep = match s {
            Sel::Show(_) => {
                seen += 1;
                seen <= head || seen > shown - tail
            }
            Sel::Skip { .. } => seen < head || seen >= shown - tail,
        };
        if keep {
            if let Some((count, first, last)) = cut.take() {
                out.push(Sel::Skip { count, first, last });
            }
            out.push(s);
            continue;
        }
        let (count, first, last) = match s {
            Sel::Show(k) => (1, k, k),
            Sel::Skip { count, first, last } => (count, first, last),
        };
        cut = Some(match cut {
            None => (count, first, last),
            Some((c, f, _)) => (c + count, f, last),
        });
    }
    if let Some((count, first, last)) = cut {
        out.push(Sel::Skip { count, first, last });
    }
    out
}

/// The events of `trace` to draw and the arrivals of the drawn packets, in
/// time order (an arrival comes before the events of the same instant, which
/// it usually causes, but never before its own send).
///
/// A trace of up to `max_events` events is drawn whole. A longer one is
/// shortened: runs of plain data and ACK segments keep only their first and
/// last few packets; if more than `max_events` events remain, about four
/// fifths of the budget go to the first of them and the rest to the last,
/// and an [`Item::Elided`] stands for each stretch left out.
pub(crate) fn plan(trace: &Trace, max_events: usize) -> Vec<Item> {
    // Retransmissions are never left out of a shortened trace.
    let retx = Numbering::new(trace).retx;
    let notable: Vec<bool> = notable_arrivals(trace)
        .into_iter()
        .zip(retx)
        .map(|(a, b)| a || b)
        .collect();
    let sel = select(trace, max_events, &notable);
    let mut items = Vec::with_capacity(sel.len() + 16);
    let mut pending: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let flush = |items: &mut Vec<Item>,
                 pending: &mut BinaryHeap<Reverse<(Instant, usize)>>,
                 upto: Option<Instant>| {
        while let Some(Reverse((at, idx))) = pending.peek().copied() {
            if upto.is_some_and(|t| at > t) {
                break;
            }
            pending.pop();
            items.push(Item::Arrival { idx, at });
        }
    };
    for s in sel {
        match s {
            Sel::Show(i) => {
                let e = &trace.events[i];
                flush(&mut items, &mut pending, Some(e.time()));
                items.push(Item::Event(i));
                if let TraceEvent::Packet { fate, .. } = e {
                    if let Some(at) = arrival(fate) {
                        pending.push(Reverse((at, i)));
                    }
                }
            }
            Sel::Skip { count, first, last } => {
                let from = trace.events[first].time();
                flush(&mut items, &mut pending, Some(from));
                items.push(Item::Elided {
                    count,
                    from,
                    to: trace.events[last].time(),
                });
            }
        }
    }
    flush(&mut items, &mut pending, None);
    items
}

/// For every trace event: true for a packet whose arrival deserves its own
/// row in the text diagram, because a packet sent after it in the same
/// direction arrived first (reordering) or because it took more than twice
/// the quickest one-way trip of its direction (plus a millisecond).
pub(crate) fn notable_arrivals(trace: &Trace) -> Vec<bool> {
    let mut quickest: BTreeMap<(HostId, HostId), u64> = BTreeMap::new();
    for e in &trace.events {
        if let TraceEvent::Packet {
            time,
            from,
            to,
            fate,
            ..
        } = e
        {
            if let Some(at) = arrival(fate) {
                let d = at.as_micros().saturating_sub(time.as_micros());
                let q = quickest.entry((*from, *to)).or_insert(d);
                *q = (*q).min(d);
            }
        }
    }
    let mut out = vec![false; trace.events.len()];
    let mut earliest_later: BTreeMap<(HostId, HostId), Instant> = BTreeMap::new();
    for (i, e) in trace.events.iter().enumerate().rev() {
        let TraceEvent::Packet {
            time,
            from,
            to,
            fate,
            ..
        } = e
        else {
            continue;
        };
        let Some(at) = arrival(fate) else {
            continue;
        };
        let dir = (*from, *to);
        let overtaken = earliest_later.get(&dir).is_some_and(|t| *t < at);
        let d = at.as_micros().saturating_sub(time.as_micros());
        let q = quickest.get(&dir).copied().unwrap_or(d);
        let slow = d > q.saturating_mul(2).saturating_add(1000);
        out[i] = overtaken || slow;
        let entry = earliest_later.entry(dir).or_insert(at);
        if at < *entry {
            *entry = at;
        }
    }
    out
}

/// A state change's cause as diagrams show it: a timer's expiry is marked
/// with ⏱ (its retransmissions are marked on the packets, restarts by the
/// simulator's ⟳ notes).
pub(crate) fn cause_label(cause: &str) -> String {
    if cause.contains("timeout") && !cause.starts_with('⏱') {
        format!("⏱ {cause}")
    } else {
        cause.to_string()
    }
}

/// The state each host's first connection (or listener) starts in, from the
/// `from` of its first transition.
pub(crate) fn initial_state(trace: &Trace, host: HostId) -> Option<finack_core::State> {
    trace.events.iter().find_map(|e| match e {
        TraceEvent::State { host: h, from, .. } if *h == host => Some(*from),
        _ => None,
    })
}
