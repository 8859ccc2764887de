//! The sequence diagram for the terminal.

use finack_core::Instant;

use super::layout::{
    failure, fmt_span, fmt_time, host_addr, host_name, initial_state, notable_arrivals, plan, side,
    when, Item, Numbering, Side, BREAK_GAP_US,
};
use super::DEFAULT_MAX_EVENTS;
use crate::trace::{Fate, Trace, TraceEvent};

/// Options of [`diagram_text_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// How many trace events to draw at most; a longer trace is drawn as its
    /// first events, a line saying how many were left out, and its last few.
    pub max_events: usize,
    /// Colour the diagram with ANSI escape sequences (for a terminal).
    pub color: bool,
}

impl Default for TextOptions {
    /// [`DEFAULT_MAX_EVENTS`] events, no colour.
    fn default() -> TextOptions {
        TextOptions {
            max_events: DEFAULT_MAX_EVENTS,
            color: false,
        }
    }
}

/// The trace as a sequence diagram in plain text (no colour, at most
/// [`DEFAULT_MAX_EVENTS`] events).
///
/// Host 0 has the left lifeline, host 1 the right one. Every packet is a row
/// with its send time and an arrow from sender to receiver labelled with its
/// flags, relative seq, ack (when ACK is set) and payload length; a packet
/// that did not arrive intact ends in `✗` and the reason. Every state change
/// is a row with the new state beside that host's lifeline and its cause in
/// parentheses; notes are indented rows. A packet that arrives out of order or
/// unusually late gets an extra row at its arrival time, and idle stretches of
/// half a second or more are shown as a break with their length.
pub fn diagram_text(trace: &Trace) -> String {
    diagram_text_with(trace, &TextOptions::default())
}

/// [`diagram_text`] with explicit options.
pub fn diagram_text_with(trace: &Trace, opts: &TextOptions) -> String {
    Diagram::new(trace, opts).render()
}

/// Width of the time column ("  1.010s ").
const TIME_W: usize = 9;
/// Width of the left host's state column (state names are at most 12 wide).
const STATE_W: usize = 14;
/// Narrowest lane between the lifelines.
const MIN_LANE: usize = 40;
/// Widest lane; a longer row runs past the right lifeline.
const MAX_LANE: usize = 110;

/// How a piece of a row is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Dim,
    State,
    ToRight,
    ToLeft,
    Fail,
    Note,
    Header,
}

impl Style {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Style::Plain => None,
            Style::Dim => Some("\x1b[2m"),
            Style::State => Some("\x1b[1;36m"),
            Style::ToRight => Some("\x1b[34m"),
            Style::ToLeft => Some("\x1b[35m"),
            Style::Fail => Some("\x1b[1;31m"),
            Style::Note => Some("\x1b[3;33m"),
            Style::Header => Some("\x1b[1m"),
        }
    }
}

/// Number of characters (every glyph used here is one column wide).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters, ending in `…` when it was cut.
fn clip(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// One output line made of styled pieces.
#[derive(Default)]
struct Line {
    parts: Vec<(String, Style)>,
}

impl Line {
    fn push(&mut self, s: impl Into<String>, style: Style) -> &mut Line {
        self.parts.push((s.into(), style));
        self
    }

    fn pad(&mut self, n: usize) -> &mut Line {
        if n > 0 {
            self.parts.push((" ".repeat(n), Style::Plain));
        }
        self
    }

    fn width(&self) -> usize {
        self.parts.iter().map(|(s, _)| width(s)).sum()
    }

    /// Pad with spaces up to column `col`.
    fn pad_to(&mut self, col: usize) -> &mut Line {
        let w = self.width();
        self.pad(col.saturating_sub(w))
    }

    fn render(mut self, color: bool, out: &mut String) {
        while let Some((s, _)) = self.parts.last_mut() {
            let trimmed = s.trim_end().len();
            if trimmed == 0 {
                self.parts.pop();
            } else {
                s.truncate(trimmed);
                break;
            }
        }
        for (s, style) in &self.parts {
            match style.ansi() {
                Some(code) if color => {
                    out.push_str(code);
                    out.push_str(s);
                    out.push_str("\x1b[0m");
                }
                _ => out.push_str(s),
            }
        }
        out.push('\n');
    }
}

/// What the lane of a packet row holds.
struct PacketRow {
    label: String,
    failure: Option<String>,
    dashed: bool,
}

impl PacketRow {
    /// Lane width the row needs.
    fn needed(&self) -> usize {
        let core = width(&self.label) + 2;
        match &self.failure {
            None => core + 5,
            Some(f) => core + 4 + 2 + width(f) + 2,
        }
    }

    /// The lane's text for a packet going `dir`, exactly `lane` wide unless
    /// it needs more.
    fn draw(&self, dir: Side, lane: usize) -> String {
        let dash = if self.dashed { "╌" } else { "─" };
        let core = format!(" {} ", self.label);
        let cw = width(&core);
        match (&self.failure, dir) {
            (None, Side::Right) => {
                let dashes = lane.saturating_sub(cw + 1).max(4);
                let l = dashes / 2;
                format!("{}{core}{}▶", dash.repeat(l), dash.repeat(dashes - l))
            }
            (None, Side::Left) => {
                let dashes = lane.saturating_sub(cw + 1).max(4);
                let r = dashes / 2;
                format!("◀{}{core}{}", dash.repeat(dashes - r), dash.repeat(r))
            }
            (Some(why), d) => {
                let room = lane.saturating_sub(width(why) + 2);
                let arrow = (lane * 11 / 20).max(cw + 5).min(room).max(cw + 5);
                let tail = arrow.saturating_sub(cw + 3);
                let body = format!("{}{core}{}", dash.repeat(2), dash.repeat(tail));
                if d == Side::Right {
                    format!("{body}✗ {why}")
                } else {
                    let s = format!("{why} ✗{body}");
                    format!("{}{s}", " ".repeat(lane.saturating_sub(width(&s))))
                }
            }
        }
    }
}

/// A diagram being drawn.
struct Diagram<'a> {
    trace: &'a Trace,
    opts: &'a TextOptions,
    nums: Numbering,
    notable: Vec<bool>,
    items: Vec<Item>,
    lane: usize,
}

impl<'a> Diagram<'a> {
    fn new(trace: &'a Trace, opts: &'a TextOptions) -> Diagram<'a> {
        let nums = Numbering::new(trace);
        let notable = notable_arrivals(trace);
        let items = plan(trace, opts.max_events);
        let mut d = Diagram {
            trace,
            opts,
            nums,
            notable,
            items,
            lane: MIN_LANE,
        };
        let mut lane = MIN_LANE;
        for item in &d.items {
            let need = match item {
                Item::Event(i) => d.packet_row(*i).map_or(0, |r| r.needed()),
                Item::Arrival { idx, .. } if d.notable[*idx] => {
                    d.arrival_text(*idx).map_or(0, |s| width(&s) + 4)
                }
                Item::Elided { count, from, to } => width(&elided_text(*count, *from, *to)) + 2,
                _ => 0,
            };
            lane = lane.max(need.min(MAX_LANE));
        }
        d.lane = lane;
        d
    }

    fn packet_row(&self, idx: usize) -> Option<PacketRow> {
        let TraceEvent::Packet { seg, fate, .. } = &self.trace.events[idx] else {
            return None;
        };
        Some(PacketRow {
            label: self.nums.label(idx, seg),
            failure: failure(fate).map(|f| {
                if f.starts_with('(') {
                    f
                } else {
                    format!("lost: {f}")
                }
            }),
            dashed: self.notable[idx],
        })
    }

    fn arrival_text(&self, idx: usize) -> Option<String> {
        let TraceEvent::Packet {
            time, seg, fate, ..
        } = &self.trace.events[idx]
        else {
            return None;
        };
        let how = match fate {
            Fate::Corrupted(_) => " corrupted",
            Fate::HostDown(_) => " at a host that is down",
            _ => "",
        };
        Some(format!(
            "{} arrives{how} (sent {})",
            self.nums.label(idx, seg),
            fmt_time(*time)
        ))
    }

    /// Column of the left lifeline.
    fn left_col(&self) -> usize {
        TIME_W + STATE_W + 1
    }

    /// Column of the right lifeline.
    fn right_col(&self) -> usize {
        self.left_col() + 1 + self.lane
    }

    fn color(&self, dir: Side) -> Style {
        match dir {
            Side::Right => Style::ToRight,
            Side::Left => Style::ToLeft,
        }
    }

    /// A row start: the time column (blank when `time` is `None`).
    fn start(&self, time: Option<Instant>) -> Line {
        let mut l = Line::default();
        match time {
            Some(t) => l.push(format!("{:>w$} ", fmt_time(t), w = TIME_W - 1), Style::Dim),
            None => l.pad(TIME_W),
        };
        l
    }

    /// A row whose lane holds `text` (already `lane` wide or less).
    fn lane_row(&self, mut l: Line, bar: &str, text: &str, style: Style) -> Line {
        l.pad_to(self.left_col());
        l.push(bar, Style::Plain);
        l.push(text, style);
        l.pad_to(self.right_col());
        l.push(bar, Style::Plain);
        l
    }

    fn header(&self, out: &mut String) {
        let t = self.trace;
        let mut title = Line::default();
        title.push(format!("{} · seed {}", t.scenario, t.seed), Style::Header);
        title.push("   (seq/ack relative to each side's ISN)", Style::Dim);
        title.render(self.opts.color, out);
        out.push('\n');
        let lc = self.left_col();
        let rc = self.right_col();
        let isn = |h| match self.nums.isn_of(h) {
            Some((isn, 0)) => format!("ISN {isn}"),
            Some((isn, more)) => format!("ISN {isn} (+{more} more)"),
            None => String::new(),
        };
        let rows = [
            (host_name(t, 0), host_name(t, 1), Style::Header),
            (host_addr(t, 0), host_addr(t, 1), Style::Plain),
            (isn(0), isn(1), Style::Dim),
        ];
        for (left, right, style) in rows {
            if left.is_empty() && right.is_empty() {
                continue;
            }
            let mut l = Line::default();
            l.pad((lc + 1).saturating_sub(width(&left).div_ceil(2)));
            l.push(left, style);
            l.pad_to((rc + 1).saturating_sub(width(&right).div_ceil(2)));
            l.pad(1);
            l.push(right, style);
            l.render(self.opts.color, out);
        }
        let mut l = self.start(None);
        if let Some(s) = initial_state(t, 0) {
            l.pad_to(lc.saturating_sub(width(s.name()) + 1));
            l.push(s.name(), Style::State);
        }
        let mut l = self.lane_row(l, "│", "", Style::Plain);
        if let Some(s) = initial_state(t, 1) {
            l.pad(1);
            l.push(s.name(), Style::State);
        }
        l.render(self.opts.color, out);
    }

    fn render(self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        let color = self.opts.color;
        let mut last_time: Option<Instant> = None;
        for item in &self.items {
            let t = item
                .time(self.trace)
                .max(last_time.unwrap_or(Instant::ZERO));
            if let Some(prev) = last_time {
                let gap = t.as_micros().saturating_sub(prev.as_micros());
                if gap >= BREAK_GAP_US && !matches!(item, Item::Elided { .. }) {
                    let text = format!("⋯ {} ⋯", fmt_span(gap));
                    let l = self.lane_row(
                        self.start(None),
                        "┆",
                        &centered(&text, self.lane),
                        Style::Dim,
                    );
                    l.render(color, &mut out);
                }
            }
            let show_time = last_time != Some(t);
            match item {
                Item::Event(i) => {
                    let line = self.event_row(*i, show_time);
                    line.render(color, &mut out);
                    last_time = Some(t);
                }
                Item::Arrival { idx, at } => {
                    if !self.notable[*idx] {
                        continue;
                    }
                    if let Some(line) = self.arrival_row(*idx, *at, show_time) {
                        line.render(color, &mut out);
                        last_time = Some(t);
                    }
                }
                Item::Elided { count, from, to } => {
                    let text = elided_text(*count, *from, *to);
                    let l = self.lane_row(
                        self.start(None),
                        "┆",
                        &centered(&text, self.lane),
                        Style::Dim,
                    );
                    l.render(color, &mut out);
                    last_time = Some(*to);
                }
            }
        }
        out
    }

    fn event_row(&self, idx: usize, show_time: bool) -> Line {
        let e = &self.trace.events[idx];
        match e {
            TraceEvent::Packet { time, from, .. } => {
                let row = self.packet_row(idx).unwrap_or(PacketRow {
                    label: String::new(),
                    failure: None,
                    dashed: false,
                });
                let dir = if side(*from) == Side::Left {
                    Side::Right
                } else {
                    Side::Left
                };
                let style = if row.failure.is_some() {
                    Style::Fail
                } else {
                    self.color(dir)
                };
                let lane = row.draw(dir, self.lane);
                self.lane_row(self.start(Some(*time)), "│", &lane, style)
            }
            TraceEvent::State {
                time,
                host,
                local_port,
                to,
                cause,
                ..
            } => {
                let t = show_time.then_some(*time);
                let cause = super::layout::cause_label(cause);
                let cause = if self.nums.multi_conn {
                    format!("(:{local_port} {cause})")
                } else {
                    format!("({cause})")
                };
                let cause = clip(&cause, self.lane.saturating_sub(2));
                let mut l = self.start(t);
                if side(*host) == Side::Left {
                    l.pad_to(self.left_col().saturating_sub(width(to.name()) + 1));
                    l.push(to.name(), Style::State);
                    l.pad(1);
                    self.lane_row(l, "│", &format!(" {cause}"), Style::Dim)
                } else {
                    let text = format!("{cause} ");
                    let text = format!(
                        "{}{text}",
                        " ".repeat(self.lane.saturating_sub(width(&text)))
                    );
                    let mut l = self.lane_row(l, "│", &text, Style::Dim);
                    l.pad(1);
                    l.push(to.name(), Style::State);
                    l
                }
            }
            TraceEvent::Note { time, host, text } => {
                let t = show_time.then_some(*time);
                let text = match host {
                    Some(h) => format!(" » {}: {text}", host_name(self.trace, *h)),
                    None => format!(" » {text}"),
                };
                if width(&text) < self.lane {
                    self.lane_row(self.start(t), "│", &text, Style::Note)
                } else {
                    let mut l = self.start(t);
                    l.pad_to(self.left_col());
                    l.push("│", Style::Plain);
                    l.push(text, Style::Note);
                    l
                }
            }
        }
    }

    fn arrival_row(&self, idx: usize, at: Instant, show_time: bool) -> Option<Line> {
        let TraceEvent::Packet { from, fate, .. } = &self.trace.events[idx] else {
            return None;
        };
        let text = self.arrival_text(idx)?;
        let bad = !matches!(fate, Fate::Delivered(_));
        let style = if bad {
            Style::Fail
        } else if side(*from) == Side::Left {
            Style::ToRight
        } else {
            Style::ToLeft
        };
        let lane = if side(*from) == Side::Left {
            let s = format!("↳ {text} {}", if bad { "─✗" } else { "─▶" });
            format!("{}{s}", " ".repeat(self.lane.saturating_sub(width(&s))))
        } else {
            format!("{} {text}", if bad { "✗─" } else { "◀─" })
        };
        let t = show_time.then_some(at);
        Some(self.lane_row(self.start(t), "│", &lane, style))
    }
}

/// The line standing for `count` events left out, from `from` to `to`.
fn elided_text(count: usize, from: Instant, to: Instant) -> String {
    format!("… {count} more events ({}) …", when(from, to))
}

/// `text` centred in `w` columns (left-aligned when it does not fit).
fn centered(text: &str, w: usize) -> String {
    let tw = width(text);
    let left = w.saturating_sub(tw) / 2;
    format!("{}{text}", " ".repeat(left))
}
