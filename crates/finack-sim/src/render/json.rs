//! The trace as a JSON document.

use std::fmt::Write as _;

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
    let mut o = String::new();
    o.push_str("{\n");
    let _ = writeln!(o, "  \"scenario\": {},", string(&trace.scenario));
    let _ = writeln!(o, "  \"seed\": {},", trace.seed);
    o.push_str("  \"hosts\": [");
    for (i, h) in trace.hosts.iter().enumerate() {
        let sep = if i == 0 { "\n" } else { ",\n" };
        let _ = write!(
            o,
            "{sep}    {{\"id\": {i}, \"name\": {}, \"addr\": {}}}",
            string(&h.name),
            string(&h.addr)
        );
    }
    o.push_str(if trace.hosts.is_empty() {
        "],\n"
    } else {
        "\n  ],\n"
    });
    o.push_str("  \"isns\": [");
    for (i, isn) in nums.isns.iter().enumerate() {
        let sep = if i == 0 { "\n" } else { ",\n" };
        let _ = write!(
            o,
            "{sep}    {{\"host\": {}, \"port\": {}, \"isn\": {}}}",
            isn.host, isn.port, isn.isn
        );
    }
    o.push_str(if nums.isns.is_empty() {
        "],\n"
    } else {
        "\n  ],\n"
    });
    o.push_str("  \"events\": [");
    for (i, e) in trace.events.iter().enumerate() {
        o.push_str(if i == 0 { "\n    " } else { ",\n    " });
        event(&mut o, e, nums.rel.get(i).copied().unwrap_or_default());
    }
    o.push_str(if trace.events.is_empty() {
        "]\n"
    } else {
        "\n  ]\n"
    });
    o.push_str("}\n");
    o
}

fn event(o: &mut String, e: &TraceEvent, rel: super::layout::Rel) {
    let opt = |v: Option<u32>| v.map_or_else(|| "null".to_string(), |v| v.to_string());
    match e {
        TraceEvent::Packet {
            time,
            from,
            to,
            seg,
            bytes,
            fate,
        } => {
            let _ = write!(
                o,
                "{{\"type\": \"packet\", \"time_us\": {}, \"from\": {from}, \"to\": {to}, \
                 \"src_port\": {}, \"dst_port\": {}, \"flags\": {}, \"flags_raw\": {}, \
                 \"seq\": {}, \"ack\": {}, \"seq_rel\": {}, \"ack_rel\": {}, \"len\": {}, \
                 \"window\": {}, \"fate\": ",
                time.as_micros(),
                seg.src_port,
                seg.dst_port,
                string(&seg.flags.to_string()),
                seg.flags.0,
                seg.seq.0,
                seg.ack.0,
                opt(rel.seq),
                opt(rel.ack),
                seg.len,
                seg.window
            );
            match fate {
                Fate::Delivered(t) => {
                    let _ = write!(
                        o,
                        "{{\"kind\": \"delivered\", \"time_us\": {}}}",
                        t.as_micros()
                    );
                }
                Fate::Corrupted(t) => {
                    let _ = write!(
                        o,
                        "{{\"kind\": \"corrupted\", \"time_us\": {}}}",
                        t.as_micros()
                    );
                }
                Fate::HostDown(t) => {
                    let _ = write!(
                        o,
                        "{{\"kind\": \"host_down\", \"time_us\": {}}}",
                        t.as_micros()
                    );
                }
                Fate::Dropped(why) => {
                    let _ = write!(o, "{{\"kind\": \"dropped\", \"reason\": {}}}", string(why));
                }
            }
            o.push_str(", \"bytes\": \"");
            for b in bytes {
                let _ = write!(o, "{b:02x}");
            }
            o.push_str("\"}");
        }
        TraceEvent::State {
            time,
            host,
            local_port,
            from,
            to,
            cause,
            ..
        } => {
            let _ = write!(
                o,
                "{{\"type\": \"state\", \"time_us\": {}, \"host\": {host}, \"local_port\": {local_port}, \
                 \"from\": {}, \"to\": {}, \"cause\": {}}}",
                time.as_micros(),
                string(from.name()),
                string(to.name()),
                string(cause)
            );
        }
        TraceEvent::Note { time, host, text } => {
            let host = host.map_or_else(|| "null".to_string(), |h| h.to_string());
            let _ = write!(
                o,
                "{{\"type\": \"note\", \"time_us\": {}, \"host\": {host}, \"text\": {}}}",
                time.as_micros(),
                string(text)
            );
        }
    }
}

/// `s` as a JSON string literal.
fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
