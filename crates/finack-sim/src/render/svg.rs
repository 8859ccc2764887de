//! The sequence diagram as a standalone SVG picture.

use std::fmt::Write as _;

use finack_core::{Instant, State};

use super::layout::{
    arrival, failure, fmt_span, fmt_time, host_addr, host_name, initial_state, plan, side, when,
    Item, Numbering, Side, BREAK_GAP_US,
};
use super::DEFAULT_MAX_EVENTS;
use crate::trace::{Fate, Trace, TraceEvent};

/// Options of [`diagram_svg_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvgOptions {
    /// How many trace events to draw at most; a longer trace is drawn as its
    /// first events, a marker saying how many were left out, and its last few.
    pub max_events: usize,
}

impl Default for SvgOptions {
    /// [`DEFAULT_MAX_EVENTS`] events.
    fn default() -> SvgOptions {
        SvgOptions {
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// The trace as a standalone SVG sequence diagram (at most
/// [`DEFAULT_MAX_EVENTS`] events).
///
/// Two vertical lifelines, host 0 left and host 1 right, with the hosts'
/// names, addresses and ISNs on top; time flows downwards. Each packet is an
/// arrow from its sender's lifeline at its send time to the receiver's
/// lifeline at its arrival time, labelled with flags, relative seq, ack and
/// length; a lost packet's arrow stops halfway at a red ✗ with the reason, a
/// corrupted one (or one that reached a host that was down) stops with a ✗
/// just before the receiver. Every state change is a box beside that host's
/// lifeline with its cause in small print, notes are in italics. Idle
/// stretches of half a second or more (such as the 2MSL of TIME-WAIT) are
/// drawn as a short break marked with their length instead of empty space.
/// Hovering over a packet shows its absolute numbers and times.
pub fn diagram_svg(trace: &Trace) -> String {
    diagram_svg_with(trace, &SvgOptions::default())
}

/// [`diagram_svg`] with explicit options.
pub fn diagram_svg_with(trace: &Trace, opts: &SvgOptions) -> String {
    Picture::new(trace, opts).render()
}

/// Distance between two rows that happen at the same instant.
const ROW_H: f64 = 26.0;
/// Height of the break drawn for a long idle stretch.
const BREAK_H: f64 = 46.0;
/// Height of the marker for events left out.
const ELIDED_H: f64 = 54.0;
/// Extra space above a note.
const NOTE_MARGIN: f64 = 8.0;
/// Distance of a note from the left lifeline.
const NOTE_INDENT: f64 = 22.0;
/// Width of a state box.
const BOX_W: f64 = 118.0;
/// Narrowest distance between the lifelines.
const MIN_LANE: f64 = 470.0;
/// Where the first row is drawn.
const FIRST_ROW_Y: f64 = 156.0;
/// Width of one character of 12 px monospace text, for estimates.
const MONO_CHAR: f64 = 7.0;
/// Width of one character of 10 px text, for estimates.
const SMALL_CHAR: f64 = 5.8;
/// Width of one character of 12 px italic text, for estimates.
const TEXT_CHAR: f64 = 6.6;

const STYLE: &str = r#"
svg { background: #ffffff; }
text { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; font-size: 12px; fill: #222222; }
.title { font-size: 15px; font-weight: bold; }
.subtitle { font-size: 11px; fill: #666666; }
.host { font-size: 14px; font-weight: bold; text-anchor: middle; }
.addr { font-size: 11px; fill: #555555; text-anchor: middle; }
.isn { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 10.5px; fill: #666666; text-anchor: middle; }
.hostbox { fill: #f4f6f8; stroke: #607080; stroke-width: 1.2; }
.life { stroke: #7a8590; stroke-width: 1.5; }
.life.idle { stroke-dasharray: 2 5; }
.time { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 10.5px; fill: #888888; }
.pkt { stroke-width: 1.6; fill: none; }
.l0 { stroke: #1f5fa8; }
.l1 { stroke: #2b7a3d; }
.lost { stroke: #c62828; stroke-dasharray: 6 3; }
.lbl { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 11.5px; paint-order: stroke; stroke: #ffffff; stroke-width: 3.5px; stroke-linejoin: round; }
.t0 { fill: #1f5fa8; }
.t1 { fill: #2b7a3d; }
.x { stroke: #c62828; stroke-width: 2.4; stroke-linecap: round; }
.why { fill: #c62828; font-size: 11px; font-weight: bold; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
.st rect { stroke-width: 1.2; }
.st .nm { font-size: 11px; font-weight: bold; text-anchor: middle; }
.st line { stroke: #9aa3ab; stroke-width: 1; stroke-dasharray: 2 2; }
.s-closed rect { fill: #f2f2f2; stroke: #9e9e9e; }
.s-open rect { fill: #e3f2fd; stroke: #1565c0; }
.s-est rect { fill: #e8f5e9; stroke: #2e7d32; }
.s-closing rect { fill: #fff8e1; stroke: #d39e00; }
.s-tw rect { fill: #fff0e0; stroke: #e65100; }
.cause { font-size: 10px; fill: #777777; }
.note { font-style: italic; fill: #6a1b9a; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
.gap { font-style: italic; fill: #666666; text-anchor: middle; paint-order: stroke; stroke: #ffffff; stroke-width: 5px; stroke-linejoin: round; }
"#;

/// `s` with the five XML special characters escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate, rounded to a tenth of a pixel.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

fn chars(s: &str) -> f64 {
    s.chars().count() as f64
}

/// The CSS class of a state's box.
fn state_class(s: State) -> &'static str {
    match s {
        State::Closed => "s-closed",
        State::Listen | State::SynSent | State::SynReceived => "s-open",
        State::Established => "s-est",
        State::TimeWait => "s-tw",
        State::FinWait1 | State::FinWait2 | State::CloseWait | State::Closing | State::LastAck => {
            "s-closing"
        }
    }
}

/// An axis-aligned rectangle: left, top, right, bottom.
#[derive(Clone, Copy, Debug)]
struct Rect(f64, f64, f64, f64);

impl Rect {
    /// Area shared with `other`.
    fn overlap(&self, other: &Rect) -> f64 {
        let w = self.2.min(other.2) - self.0.max(other.0);
        let h = self.3.min(other.3) - self.1.max(other.1);
        if w > 0.0 && h > 0.0 {
            w * h
        } else {
            0.0
        }
    }
}

/// The box around a label `w` wide centred above the point (cx, cy) of an
/// arrow whose slope is `slope` (dy per dx, both directions alike).
fn label_box(cx: f64, cy: f64, w: f64, slope: f64) -> Rect {
    let len = (1.0 + slope * slope).sqrt();
    let (cos, sin) = (1.0 / len, (slope / len).abs());
    let (mx, my) = (cx, cy - 10.0 * cos);
    let hx = cos * w / 2.0 + sin * 6.0;
    let hy = sin * w / 2.0 + cos * 6.0;
    Rect(mx - hx, my - hy, mx + hx, my + hy)
}

/// Vertical space for an idle time `dt_us` that is shorter than a break.
fn idle_height(dt_us: u64) -> f64 {
    let ms = dt_us as f64 / 1000.0;
    6.5 * ms.sqrt()
}

/// A diagram being drawn.
struct Picture<'a> {
    trace: &'a Trace,
    nums: Numbering,
    items: Vec<Item>,
    /// The y of each item.
    ys: Vec<f64>,
    /// For each trace event: the y of its arrival, when drawn.
    arrive_y: Vec<Option<f64>>,
    /// Typical drop of a delivered packet's arrow, for drawing lost ones.
    fall: f64,
    /// Stretches drawn as breaks: top, bottom, text.
    breaks: Vec<(f64, f64, String)>,
    /// x of the left and right lifelines.
    lx: f64,
    rx: f64,
    /// Distance between the lifelines.
    lane: f64,
    width: f64,
    height: f64,
}

impl<'a> Picture<'a> {
    fn new(trace: &'a Trace, opts: &SvgOptions) -> Picture<'a> {
        let nums = Numbering::new(trace);
        let items = plan(trace, opts.max_events);
        let mut p = Picture {
            trace,
            nums,
            items,
            ys: Vec::new(),
            arrive_y: vec![None; trace.events.len()],
            breaks: Vec::new(),
            fall: 44.0,
            lx: 0.0,
            rx: 0.0,
            lane: MIN_LANE,
            width: 0.0,
            height: 0.0,
        };
        p.place_vertically();
        p.place_horizontally();
        p
    }

    fn place_vertically(&mut self) {
        let mut y = FIRST_ROW_Y;
        let mut prev: Option<(Instant, f64)> = None;
        for item in &self.items {
            let t = item.time(self.trace);
            if let Some((pt, ph)) = prev {
                let bottom = y + ph;
                let dt = t.as_micros().saturating_sub(pt.as_micros());
                y = match item {
                    Item::Elided { .. } => bottom + 6.0,
                    _ if dt >= BREAK_GAP_US => {
                        let top = bottom + 4.0;
                        self.breaks
                            .push((top, top + BREAK_H, format!("⋯ {} ⋯", fmt_span(dt))));
                        top + BREAK_H + 12.0
                    }
                    _ => bottom + idle_height(dt),
                };
                // A note keeps clear of an arrow that ends where it starts.
                if let Item::Event(i) = item {
                    if matches!(self.trace.events[*i], TraceEvent::Note { .. }) {
                        y += NOTE_MARGIN;
                    }
                }
            }
            self.ys.push(y);
            let (h, end) = match item {
                Item::Event(_) => (ROW_H, t),
                Item::Arrival { idx, .. } => {
                    self.arrive_y[*idx] = Some(y);
                    (0.0, t)
                }
                Item::Elided { count, from, to } => {
                    self.breaks.push((
                        y,
                        y + ELIDED_H,
                        format!("⋯ {count} more events ({}) ⋯", when(*from, *to)),
                    ));
                    (ELIDED_H + 12.0, *to)
                }
            };
            // Arrivals drawn after a cut may be earlier than its end.
            let end = prev.map_or(end, |(pt, _)| end.max(pt));
            prev = Some((end, h));
        }
        let mut falls: Vec<f64> = Vec::new();
        for (k, item) in self.items.iter().enumerate() {
            if let Item::Event(i) = item {
                if let Some(y2) = self.arrive_y[*i] {
                    falls.push(y2 - self.ys[k]);
                }
            }
        }
        falls.sort_by(f64::total_cmp);
        if let Some(m) = falls.get(falls.len() / 2) {
            self.fall = m.clamp(20.0, 120.0);
        }
        self.height = self.ys.last().map_or(FIRST_ROW_Y, |y| y + 40.0);
        if let Some(Item::Elided { .. }) = self.items.last() {
            self.height += ELIDED_H;
        }
    }

    fn place_horizontally(&mut self) {
        let mut left_cause: f64 = 0.0;
        let mut right_cause: f64 = 0.0;
        let mut note: f64 = 0.0;
        let mut label: f64 = 0.0;
        for item in &self.items {
            let Item::Event(i) = item else { continue };
            match &self.trace.events[*i] {
                TraceEvent::State {
                    host,
                    local_port,
                    cause,
                    ..
                } => {
                    let w = chars(&self.cause_text(*local_port, cause)) * SMALL_CHAR;
                    if side(*host) == Side::Left {
                        left_cause = left_cause.max(w);
                    } else {
                        right_cause = right_cause.max(w);
                    }
                }
                TraceEvent::Note { host, text, .. } => {
                    note = note.max(chars(&self.note_text(*host, text)) * TEXT_CHAR);
                }
                TraceEvent::Packet { seg, .. } => {
                    label = label.max(chars(&self.nums.label(*i, seg)) * MONO_CHAR);
                }
            }
        }
        self.lane = MIN_LANE.max(label + 80.0);
        let left_box = 74.0 + left_cause + 8.0;
        self.lx = left_box + BOX_W + 18.0;
        self.rx = self.lx + self.lane;
        let right_box = self.rx + 18.0;
        let mut width = right_box + BOX_W + 8.0 + right_cause + 16.0;
        width = width.max(self.lx + NOTE_INDENT + note + 16.0);
        let title = format!("{} · seed {}", self.trace.scenario, self.trace.seed);
        width = width.max(12.0 + chars(&title) * 8.5 + 16.0);
        self.width = width.ceil();
    }

    fn cause_text(&self, port: u16, cause: &str) -> String {
        let cause = &super::layout::cause_label(cause);
        if self.nums.multi_conn {
            format!(":{port} {cause}")
        } else {
            cause.to_string()
        }
    }

    fn note_text(&self, host: Option<usize>, text: &str) -> String {
        match host {
            Some(h) => format!("{}: {text}", host_name(self.trace, h)),
            None => text.to_string(),
        }
    }

    fn x_of(&self, s: Side) -> f64 {
        match s {
            Side::Left => self.lx,
            Side::Right => self.rx,
        }
    }

    fn render(&self) -> String {
        let mut o = String::new();
        let (w, h) = (n(self.width), n(self.height));
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#
        );
        let _ = writeln!(
            o,
            "<title>{}</title>",
            esc(&format!(
                "finack: {} (seed {})",
                self.trace.scenario, self.trace.seed
            ))
        );
        let _ = writeln!(o, "<style>{STYLE}</style>");
        o.push_str(concat!(
            "<defs>\n",
            r##"<marker id="h0" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#1f5fa8"/></marker>"##,
            "\n",
            r##"<marker id="h1" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#2b7a3d"/></marker>"##,
            "\n</defs>\n"
        ));
        let _ = writeln!(
            o,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##
        );
        self.header(&mut o);
        self.lifelines(&mut o);
        let mut placed = self.fixed_text_boxes();
        self.times(&mut o);
        for (k, item) in self.items.iter().enumerate() {
            let Item::Event(i) = item else { continue };
            let y = self.ys[k];
            match &self.trace.events[*i] {
                TraceEvent::Packet { .. } => self.packet(&mut o, *i, y, &mut placed),
                TraceEvent::State {
                    time,
                    host,
                    local_port,
                    from,
                    to,
                    cause,
                    ..
                } => {
                    let tip = format!(
                        "{} :{local_port} {} → {} at {} ({cause})",
                        host_name(self.trace, *host),
                        from.name(),
                        to.name(),
                        fmt_time(*time)
                    );
                    let cause = self.cause_text(*local_port, cause);
                    self.state_box(&mut o, side(*host), y, *to, &cause, &tip);
                }
                TraceEvent::Note { host, text, .. } => {
                    let _ = writeln!(
                        o,
                        r#"<text class="note" x="{}" y="{}">{}</text>"#,
                        n(self.lx + NOTE_INDENT),
                        n(y + 4.0),
                        esc(&self.note_text(*host, text))
                    );
                }
            }
        }
        // Break markers last, on top of any arrow that crosses them.
        self.break_marks(&mut o);
        o.push_str("</svg>\n");
        o
    }

    /// Where the break markers and the notes are, for labels to avoid.
    fn fixed_text_boxes(&self) -> Vec<Rect> {
        let mid = (self.lx + self.rx) / 2.0;
        let mut boxes: Vec<Rect> = self
            .breaks
            .iter()
            .map(|(a, b, text)| {
                let half = chars(text) * TEXT_CHAR / 2.0;
                let y = (a + b) / 2.0;
                Rect(mid - half, y - 8.0, mid + half, y + 6.0)
            })
            .collect();
        for (k, item) in self.items.iter().enumerate() {
            if let Item::Event(i) = item {
                if let TraceEvent::Note { host, text, .. } = &self.trace.events[*i] {
                    let x = self.lx + NOTE_INDENT;
                    let w = chars(&self.note_text(*host, text)) * TEXT_CHAR;
                    let y = self.ys[k];
                    boxes.push(Rect(x, y - 8.0, x + w, y + 6.0));
                }
            }
        }
        boxes
    }

    fn header(&self, o: &mut String) {
        let t = self.trace;
        let _ = writeln!(
            o,
            r#"<text class="title" x="12" y="24">{}</text>"#,
            esc(&format!("{} · seed {}", t.scenario, t.seed))
        );
        let _ = writeln!(
            o,
            r#"<text class="subtitle" x="12" y="40">seq/ack relative to each side's ISN · time flows down</text>"#
        );
        for (host, x) in [(0, self.lx), (1, self.rx)] {
            let name = host_name(t, host);
            let addr = host_addr(t, host);
            let bw = (chars(&name) * 8.5).max(chars(&addr) * 6.6).max(96.0) + 20.0;
            let _ = writeln!(
                o,
                r#"<rect class="hostbox" x="{}" y="50" width="{}" height="40" rx="5"/>"#,
                n(x - bw / 2.0),
                n(bw)
            );
            let _ = writeln!(
                o,
                r#"<text class="host" x="{}" y="67">{}</text>"#,
                n(x),
                esc(&name)
            );
            let _ = writeln!(
                o,
                r#"<text class="addr" x="{}" y="83">{}</text>"#,
                n(x),
                esc(&addr)
            );
            if let Some((isn, more)) = self.nums.isn_of(host) {
                let s = if more == 0 {
                    format!("ISN {isn}")
                } else {
                    format!("ISN {isn} (+{more} more)")
                };
                let _ = writeln!(
                    o,
                    r#"<text class="isn" x="{}" y="104">{}</text>"#,
                    n(x),
                    esc(&s)
                );
            }
            if let Some(s) = initial_state(t, host) {
                let tip = format!("{} starts in {}", name, s.name());
                self.state_box(o, side(host), 124.0, s, "", &tip);
            }
        }
    }

    fn lifelines(&self, o: &mut String) {
        let top = 90.0;
        let bottom = self.height - 16.0;
        for x in [self.lx, self.rx] {
            let mut y = top;
            for (a, b, _) in &self.breaks {
                if *a > y {
                    self.life_segment(o, x, y, *a, false);
                }
                self.life_segment(o, x, a.max(y), *b, true);
                y = y.max(*b);
            }
            if bottom > y {
                self.life_segment(o, x, y, bottom, false);
            }
        }
    }

    fn life_segment(&self, o: &mut String, x: f64, y1: f64, y2: f64, idle: bool) {
        let class = if idle { "life idle" } else { "life" };
        let _ = writeln!(
            o,
            r#"<line class="{class}" x1="{x}" y1="{}" x2="{x}" y2="{}"/>"#,
            n(y1),
            n(y2),
            x = n(x)
        );
    }

    fn break_marks(&self, o: &mut String) {
        let mid = (self.lx + self.rx) / 2.0;
        for (a, b, text) in &self.breaks {
            let _ = writeln!(
                o,
                r#"<text class="gap" x="{}" y="{}">{}</text>"#,
                n(mid),
                n((a + b) / 2.0 + 4.0),
                esc(text)
            );
        }
    }

    fn times(&self, o: &mut String) {
        let mut last: Option<Instant> = None;
        for (k, item) in self.items.iter().enumerate() {
            let Item::Event(i) = item else { continue };
            let t = self.trace.events[*i].time();
            if last == Some(t) {
                continue;
            }
            last = Some(t);
            let _ = writeln!(
                o,
                r#"<text class="time" x="10" y="{}">{}</text>"#,
                n(self.ys[k] + 4.0),
                esc(&fmt_time(t))
            );
        }
    }

    fn state_box(&self, o: &mut String, s: Side, y: f64, state: State, cause: &str, tip: &str) {
        let (bx, tick_from, tick_to) = match s {
            Side::Left => {
                let bx = self.lx - 18.0 - BOX_W;
                (bx, bx + BOX_W, self.lx)
            }
            Side::Right => (self.rx + 18.0, self.rx, self.rx + 18.0),
        };
        let _ = writeln!(
            o,
            r#"<g class="st {}"><title>{}</title><line x1="{}" y1="{y}" x2="{}" y2="{y}"/><rect x="{}" y="{}" width="{}" height="20" rx="4"/><text class="nm" x="{}" y="{}">{}</text>"#,
            state_class(state),
            esc(tip),
            n(tick_from),
            n(tick_to),
            n(bx),
            n(y - 10.0),
            n(BOX_W),
            n(bx + BOX_W / 2.0),
            n(y + 4.0),
            esc(state.name()),
            y = n(y)
        );
        if !cause.is_empty() {
            let (x, anchor) = match s {
                Side::Left => (bx - 6.0, "end"),
                Side::Right => (bx + BOX_W + 6.0, "start"),
            };
            let _ = write!(
                o,
                r#"<text class="cause" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
                n(x),
                n(y + 3.5),
                esc(cause)
            );
        }
        o.push_str("</g>\n");
    }

    fn packet(&self, o: &mut String, idx: usize, y1: f64, placed: &mut Vec<Rect>) {
        let TraceEvent::Packet {
            time,
            from,
            to,
            seg,
            fate,
            ..
        } = &self.trace.events[idx]
        else {
            return;
        };
        let from_side = side(*from);
        let x1 = self.x_of(from_side);
        let x2 = if from_side == Side::Left {
            self.rx
        } else {
            self.lx
        };
        let dir = if x2 > x1 { 1.0 } else { -1.0 };
        let k = if from_side == Side::Left { 0 } else { 1 };
        let label = self.nums.label(idx, seg);
        let mut tip = format!(
            "{} → {}: {} seq={}",
            host_name(self.trace, *from),
            host_name(self.trace, *to),
            seg.flags,
            seg.seq.0
        );
        if seg.flags.ack() {
            let _ = write!(tip, " ack={}", seg.ack.0);
        }
        let _ = write!(
            tip,
            " len={} win={} (absolute); sent {}",
            seg.len,
            seg.window,
            fmt_time(*time)
        );
        match fate {
            Fate::Delivered(t) => {
                let _ = write!(tip, ", arrived {}", fmt_time(*t));
            }
            Fate::Corrupted(t) => {
                let _ = write!(tip, ", arrived corrupted {}", fmt_time(*t));
            }
            Fate::HostDown(t) => {
                let _ = write!(tip, ", arrived {} at a host that was down", fmt_time(*t));
            }
            Fate::Dropped(why) => {
                let _ = write!(tip, ", lost ({why})");
            }
        }
        let _ = writeln!(o, "<g><title>{}</title>", esc(&tip));
        let arrive = arrival(fate).and_then(|_| self.arrive_y[idx]);
        match (fate, arrive) {
            (Fate::Delivered(_), Some(y2)) => {
                let _ = writeln!(
                    o,
                    r#"<line class="pkt l{k}" x1="{}" y1="{}" x2="{}" y2="{}" marker-end="url(#h{k})"/>"#,
                    n(x1),
                    n(y1),
                    n(x2),
                    n(y2)
                );
            }
            (_, Some(y2)) => {
                // Reached the receiver but did no good: stop just short of it.
                let xe = x2 - dir * 16.0;
                let ye = y1 + (y2 - y1) * (xe - x1) / (x2 - x1);
                let _ = writeln!(
                    o,
                    r#"<line class="pkt lost" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                    n(x1),
                    n(y1),
                    n(xe),
                    n(ye)
                );
                self.cross(o, xe, ye);
                let why = failure(fate).unwrap_or_default();
                let anchor = if dir > 0.0 { "end" } else { "start" };
                let _ = writeln!(
                    o,
                    r#"<text class="why" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
                    n(xe - dir * 10.0),
                    n(ye + 17.0),
                    esc(&why)
                );
            }
            _ => {
                // Lost on the way: stop halfway.
                let xe = x1 + dir * self.lane * 0.55;
                let ye = y1 + self.fall * 0.55;
                let _ = writeln!(
                    o,
                    r#"<line class="pkt lost" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                    n(x1),
                    n(y1),
                    n(xe),
                    n(ye)
                );
                self.cross(o, xe, ye);
                let why = failure(fate).unwrap_or_default();
                let anchor = if dir > 0.0 { "start" } else { "end" };
                let _ = writeln!(
                    o,
                    r#"<text class="why" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
                    n(xe + dir * 11.0),
                    n(ye + 4.0),
                    esc(&format!("lost: {why}"))
                );
            }
        }
        // The label runs along the arrow, centred about a third of the way
        // from the sender: clear of the arrow that arrived at the sender just
        // before (usually what this packet answers) and of a crossing arrow.
        // When that spot is taken by another label, try others along the
        // arrow (only its first half for one that stops halfway).
        let (ly2, lx2) = match (fate, arrive) {
            (Fate::Dropped(_), _) | (_, None) => (y1 + self.fall, x2),
            (_, Some(y2)) => (y2, x2),
        };
        let w = chars(&label) * MONO_CHAR;
        let t_min = (w / 2.0 + 10.0) / self.lane;
        let candidates: &[f64] = if matches!(fate, Fate::Dropped(_)) {
            &[0.3, 0.2, 0.4]
        } else {
            &[0.3, 0.5, 0.7, 0.4, 0.6, 0.2, 0.8]
        };
        let slope = (ly2 - y1) / (lx2 - x1).abs().max(1.0);
        let mut best: Option<(f64, f64, Rect)> = None;
        for &t in candidates {
            let t = t.max(t_min).min((1.0 - t_min).max(t_min));
            let cx = x1 + (lx2 - x1) * t;
            let cy = y1 + (ly2 - y1) * t;
            let rect = label_box(cx, cy, w, slope);
            let overlap: f64 = placed.iter().map(|p| p.overlap(&rect)).sum();
            if best.as_ref().is_none_or(|(o, _, _)| overlap < *o) {
                best = Some((overlap, t, rect));
            }
            if overlap == 0.0 {
                break;
            }
        }
        let (_, t, rect) = best.unwrap_or((0.0, 0.3, label_box(x1, y1, w, slope)));
        placed.push(rect);
        let cx = x1 + (lx2 - x1) * t;
        let cy = y1 + (ly2 - y1) * t;
        let (ddx, ddy) = if dir > 0.0 {
            (lx2 - x1, ly2 - y1)
        } else {
            (x1 - lx2, y1 - ly2)
        };
        let angle = ddy.atan2(ddx).to_degrees();
        let _ = writeln!(
            o,
            r#"<text class="lbl t{k}" transform="translate({},{}) rotate({})" x="0" y="-5" text-anchor="middle">{}</text>"#,
            n(cx),
            n(cy),
            n(angle),
            esc(&label)
        );
        o.push_str("</g>\n");
    }

    /// A red ✗ centred on (x, y).
    fn cross(&self, o: &mut String, x: f64, y: f64) {
        let d = 5.5;
        let _ = writeln!(
            o,
            r#"<path class="x" d="M{},{} L{},{} M{},{} L{},{}"/>"#,
            n(x - d),
            n(y - d),
            n(x + d),
            n(y + d),
            n(x - d),
            n(y + d),
            n(x + d),
            n(y - d)
        );
    }
}
