//! The trace as a JSON document.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use super::layout::Numbering;
use crate::trace::{Fate, Trace, TraceEvent};

/// The trace as JSON, byte-for-byte the same for the same trace.
///
/// The document is an object with `scenario`, `seed`, `hosts` (each with
/// `id`, `name` and `addr`), `isns` (each SYN's sender `host`, `port` and
/// `isn`) and `events`, one object per line in trace order, each with its
/// `type` and `time_us` (microseconds since the start of the run):
///
/// * `"packet"`: `from`, `to`, `src_port`, `dst_port`, `flags` (e.g.
///   `"SYN|ACK"`), `flags_raw` (the header byte), the absolute `seq` and `ack`,
///   `seq_rel` and `ack_rel` relative to the ISNs (`null` where not known or,
///   for `ack_rel`, when ACK is not set), `len`, `window`, `fate` (an object
///   whose `kind` is `delivered`, `corrupted` or `host_down` with the arrival
///   `time_us`, or `dropped` with a `reason`) and `bytes`, the IP packet as
///   sent in lowercase hex;
/// * `"state"`: `host`, `local_port`, `from`, `to` (state names such as
///   `"FIN-WAIT-1"`) and `cause`;
/// * `"note"`: `host` (or `null`) and `text`.
pub fn to_json(trace: &Trace) -> String {
    let nums = Numbering::new(trace);
    let doc = Doc {
        scenario: &trace.scenario,
        seed: trace.seed,
        hosts: trace
            .hosts
            .iter()
            .enumerate()
            .map(|(id, h)| HostJ {
                id,
                name: &h.name,
                addr: &h.addr,
            })
            .collect(),
        isns: nums
            .isns
            .iter()
            .map(|i| IsnJ {
                host: i.host,
                port: i.port,
                isn: i.isn,
            })
            .collect(),
        events: trace
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| event(e, nums.rel.get(i).copied().unwrap_or_default()))
            .collect(),
    };
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, LineFormatter::default());
    doc.serialize(&mut ser)
        .expect("serializing to memory does not fail");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The document.
#[derive(Serialize)]
struct Doc<'a> {
    scenario: &'a str,
    seed: u64,
    hosts: Vec<HostJ<'a>>,
    isns: Vec<IsnJ>,
    events: Vec<EventJ<'a>>,
}

#[derive(Serialize)]
struct HostJ<'a> {
    id: usize,
    name: &'a str,
    addr: &'a str,
}

#[derive(Serialize)]
struct IsnJ {
    host: usize,
    port: u16,
    isn: u32,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EventJ<'a> {
    Packet {
        time_us: u64,
        from: usize,
        to: usize,
        src_port: u16,
        dst_port: u16,
        flags: String,
        flags_raw: u8,
        seq: u32,
        ack: u32,
        seq_rel: Option<u32>,
        ack_rel: Option<u32>,
        len: usize,
        window: u16,
        fate: FateJ<'a>,
        bytes: String,
    },
    State {
        time_us: u64,
        host: usize,
        local_port: u16,
        from: &'static str,
        to: &'static str,
        cause: &'a str,
    },
    Note {
        time_us: u64,
        host: Option<usize>,
        text: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FateJ<'a> {
    Delivered { time_us: u64 },
    Corrupted { time_us: u64 },
    HostDown { time_us: u64 },
    Dropped { reason: &'a str },
}

fn event(e: &TraceEvent, rel: super::layout::Rel) -> EventJ<'_> {
    match e {
        TraceEvent::Packet {
            time,
            from,
            to,
            seg,
            bytes,
            fate,
        } => EventJ::Packet {
            time_us: time.as_micros(),
            from: *from,
            to: *to,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            flags: seg.flags.to_string(),
            flags_raw: seg.flags.0,
            seq: seg.seq.0,
            ack: seg.ack.0,
            seq_rel: rel.seq,
            ack_rel: rel.ack,
            len: seg.len,
            window: seg.window,
            fate: match fate {
                Fate::Delivered(t) => FateJ::Delivered {
                    time_us: t.as_micros(),
                },
                Fate::Corrupted(t) => FateJ::Corrupted {
                    time_us: t.as_micros(),
                },
                Fate::HostDown(t) => FateJ::HostDown {
                    time_us: t.as_micros(),
                },
                Fate::Dropped(why) => FateJ::Dropped { reason: why },
            },
            bytes: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        },
        TraceEvent::State {
            time,
            host,
            local_port,
            from,
            to,
            cause,
            ..
        } => EventJ::State {
            time_us: time.as_micros(),
            host: *host,
            local_port: *local_port,
            from: from.name(),
            to: to.name(),
            cause,
        },
        TraceEvent::Note { time, host, text } => EventJ::Note {
            time_us: time.as_micros(),
            host: *host,
            text,
        },
    }
}

/// Lays the document out as finack always has: the top-level object and
/// its arrays one item per line, each item (a host, an ISN, an event) on
/// one line with `", "` and `": "` between its parts.
#[derive(Default)]
struct LineFormatter {
    /// For each open container, whether it has an item yet.
    open: Vec<bool>,
}

impl LineFormatter {
    /// Containers this deep or shallower put their items on lines of their own.
    const LINES: usize = 2;

    fn indent<W: ?Sized + io::Write>(w: &mut W, depth: usize) -> io::Result<()> {
        for _ in 0..depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + io::Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.open.push(false);
        w.write_all(c)
    }

    fn end<W: ?Sized + io::Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        let depth = self.open.len();
        let had_items = self.open.pop().unwrap_or(false);
        if depth <= Self::LINES && had_items {
            w.write_all(b"\n")?;
            Self::indent(w, depth - 1)?;
        }
        w.write_all(c)
    }

    fn item<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        let depth = self.open.len();
        if let Some(has) = self.open.last_mut() {
            *has = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        if depth <= Self::LINES {
            w.write_all(b"\n")?;
            Self::indent(w, depth)
        } else if first {
            Ok(())
        } else {
            w.write_all(b" ")
        }
    }
}

impl Formatter for LineFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_one_item_per_line() {
        assert_eq!(
            to_json(&Trace::default()),
            "{\n  \"scenario\": \"\",\n  \"seed\": 0,\n  \"hosts\": [],\n  \"isns\": [],\n  \"events\": []\n}\n"
        );
        let run = (crate::find("handshake").unwrap().run)(1, crate::Family::V4);
        let json = to_json(&run.trace);
        let lines: Vec<&str> = json.lines().collect();
        let events = lines
            .iter()
            .filter(|l| l.starts_with("    {\"type\": "))
            .count();
        assert_eq!(events, run.trace.events.len());
        assert!(lines.contains(&"    {\"id\": 0, \"name\": \"client\", \"addr\": \"192.0.2.1\"},"));
        let fate = "\"fate\": {\"kind\": \"delivered\", \"time_us\": ";
        assert!(json.contains(fate), "{json}");
    }

    #[test]
    fn control_characters_are_escaped() {
        let t = Trace {
            scenario: "a\"b\\c\nd\u{1}".into(),
            ..Trace::default()
        };
        let json = to_json(&t);
        assert!(
            json.contains(r#""scenario": "a\"b\\c\nd\u0001","#),
            "{json}"
        );
    }
}
