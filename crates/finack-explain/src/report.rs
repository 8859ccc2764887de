//! Outputs of an [`Explanation`]: the summary table, JSON, and traces for
//! `finack-sim`'s diagram renderers.

use std::fmt::Write;
use std::net::IpAddr;

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{Instant, State};
use finack_sim::{Fate, HostInfo, SegmentSummary, Trace, TraceEvent};
use serde_json::{json, Value};

use crate::analysis::Spurious;
use crate::{fmt_us, ip_of, Explained, Explanation, Handshake, Vantage};

/// Packet indices as the 1-based numbers Wireshark shows.
fn numbers(indices: &[usize]) -> Vec<usize> {
    indices.iter().map(|i| i + 1).collect()
}

/// A trace event with its time and a rank (packets before state changes).
type Timed = (u64, usize, TraceEvent);

impl Explained {
    /// Names of the two sides: client/server when one side opened it,
    /// peer-a/peer-b for a simultaneous open, host-a/host-b otherwise.
    pub fn side_names(&self) -> [&'static str; 2] {
        match self.lifecycle.handshake {
            Handshake::Simultaneous => ["peer-a", "peer-b"],
            Handshake::NotSeen => ["host-a", "host-b"],
            _ => ["client", "server"],
        }
    }

    /// The sequence of states of `side` with the time spent in each, e.g.
    /// `SYN-SENT 10.0ms → ESTABLISHED 80.0ms → CLOSED`.
    pub fn state_path(&self, side: usize, end_us: u64) -> String {
        let c = &self.conn;
        let mut parts = Vec::new();
        let mut cur = c.initial[side];
        let mut since = c.packets.first().map_or(0, |p| p.time_us);
        for x in c
            .changes
            .iter()
            .filter(|x| x.side == side && x.from != x.to)
        {
            parts.push(format!(
                "{} {}",
                cur.name(),
                fmt_us(x.time_us - since.min(x.time_us))
            ));
            cur = x.to;
            since = x.time_us;
        }
        if matches!(cur, State::Closed | State::Listen) {
            parts.push(cur.name().to_string());
        } else {
            parts.push(format!(
                "{} {}+ (at end)",
                cur.name(),
                fmt_us(end_us.saturating_sub(since))
            ));
        }
        parts.join(" → ")
    }
}

impl Explanation {
    /// The summary: what was read, then one row per connection (who closed,
    /// how, retransmissions, anomalies) with both sides' states and the time
    /// spent in each, and where the capture was taken.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} TCP segments in {} connection{} over {}; skipped: {}",
            self.packets,
            self.connections.len(),
            if self.connections.len() == 1 { "" } else { "s" },
            fmt_us(self.end_us),
            self.skipped
        );
        let offloaded: usize = self
            .connections
            .iter()
            .map(|e| e.conn.packets.iter().filter(|p| !p.checksum_ok).count())
            .sum();
        if offloaded > 0 {
            let _ = writeln!(
                o,
                "{offloaded} segments with a bad checksum kept (checksum offload on the capturing host?)"
            );
        }
        let _ = writeln!(o, "{}", self.vantage_text());
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:>3}  {:<22} {:<22} {:<18} {:<9} {:<26} {:>5}  anomalies",
            "#", "client (opened)", "server", "handshake", "closed by", "close", "retx"
        );
        for (i, e) in self.connections.iter().enumerate() {
            let c = &e.conn;
            let l = &e.lifecycle;
            let names = e.side_names();
            let by = l.closed_by.map_or("-", |s| names[s]);
            let an = if l.anomalies.is_empty() {
                "-".to_string()
            } else {
                l.anomalies.join("; ")
            };
            let _ = writeln!(
                o,
                "{:>3}  {:<22} {:<22} {:<18} {:<9} {:<26} {:>5}  {}",
                i + 1,
                c.ends[0].to_string(),
                c.ends[1].to_string(),
                l.handshake.name(),
                by,
                l.close.name(),
                c.retransmissions[0] + c.retransmissions[1],
                an
            );
            for (s, name) in names.iter().enumerate() {
                let _ = writeln!(o, "     {name:<7} {}", e.state_path(s, self.end_us));
            }
            // What each side sent beyond its first transmissions, one line
            // per side with something to say.
            for (s, name) in names.iter().enumerate() {
                let t = e.traffic[s].text();
                if !t.is_empty() {
                    let _ = writeln!(o, "     {name:<7} sent {t}");
                }
            }
        }
        o
    }

    /// Where the capture was taken and what that hides, in words.
    pub fn vantage_text(&self) -> String {
        let mut near = [0usize; 2];
        let mut why = None;
        for e in &self.connections {
            if let Vantage::Near(s, w) = &e.vantage {
                near[*s] += 1;
                why.get_or_insert((e, *s, w.clone()));
            }
        }
        match why {
            Some((e, s, w)) => {
                let names = e.side_names();
                format!(
                    "captured near the {} ({}): {w}. A packet the {} sent that was lost after \
                     the capture point looks delivered here; the inference takes it back only \
                     when later packets contradict it. Packets the {} sent that were lost \
                     before reaching the capture point are not seen at all.",
                    names[s],
                    ip_of(e.conn.ends[s]),
                    names[s],
                    names[1 - s]
                )
            }
            None => "capture point: cannot tell which side it was near (same TTL, similar \
                     answer delays); a packet lost after the capture point looks delivered \
                     until later packets contradict it."
                .into(),
        }
    }

    /// The explanation as JSON for tools.
    pub fn to_json(&self) -> String {
        let conns: Vec<Value> = self
            .connections
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let c = &e.conn;
                let names = e.side_names();
                let sides: Vec<Value> = (0..2)
                    .map(|s| {
                        let t = &e.traffic[s];
                        json!({
                            "name": names[s],
                            "endpoint": c.ends[s].to_string(),
                            "states": c.states(s).iter().map(|x| x.name()).collect::<Vec<_>>(),
                            "time_in_state_us": c.time_in_states(s, self.end_us).iter()
                                .map(|(st, d)| json!({"state": st.name(), "us": d}))
                                .collect::<Vec<_>>(),
                            "final_state": c.final_states[s].name(),
                            "retransmissions": c.retransmissions[s],
                            "retransmitted_packets": numbers(&t.retransmissions),
                            "spurious_retransmissions": t.spurious.iter().map(|(j, why)| match why {
                                Spurious::AlreadyAcked => json!({"packet": j + 1, "why": "data already acknowledged"}),
                                Spurious::Dsack(k) => json!({"packet": j + 1, "why": "reported by D-SACK", "dsack_packet": k + 1}),
                            }).collect::<Vec<_>>(),
                            "out_of_order_packets": numbers(&t.out_of_order),
                            "duplicate_ack_packets": numbers(&t.duplicate_acks),
                            "dsack_packets": numbers(&t.dsacks),
                            "zero_windows": t.zero_windows.iter().map(|w| json!({
                                "from_packet": w.from + 1,
                                "until_packet": w.until.map(|u| u + 1),
                                "us": w.us,
                            })).collect::<Vec<_>>(),
                            "keepalive_probes": c.keepalives[s],
                        })
                    })
                    .collect();
                let changes: Vec<Value> = c
                    .changes
                    .iter()
                    .map(|x| {
                        json!({"time_us": x.time_us, "side": names[x.side],
                               "from": x.from.name(), "to": x.to.name(), "cause": x.cause,
                               "packet": x.packet.map(|p| p + 1)})
                    })
                    .collect();
                let vantage = match &e.vantage {
                    Vantage::Near(s, w) => json!({"near": names[*s], "why": w}),
                    Vantage::Unknown(w) => json!({"near": null, "why": w}),
                };
                json!({
                    "index": i + 1,
                    "incarnation": c.incarnation,
                    "packets": c.packets.len(),
                    "handshake": e.lifecycle.handshake.name(),
                    "close": e.lifecycle.close.name(),
                    "closed_by": e.lifecycle.closed_by.map(|s| names[s]),
                    "anomalies": e.lifecycle.anomalies,
                    "lost_after_capture": c.lost.iter().map(|i| i + 1).collect::<Vec<_>>(),
                    "sides": sides,
                    "changes": changes,
                    "capture_point": vantage,
                })
            })
            .collect();
        let s = &self.skipped;
        let doc = json!({
            "packets": self.packets,
            "end_us": self.end_us,
            "skipped": {"not_ip": s.not_ip, "not_tcp": s.not_tcp, "fragments": s.fragments,
                        "truncated": s.truncated, "malformed": s.malformed,
                        "unsupported_link": s.unsupported_link,
                        "trailing_bytes": s.trailing_bytes},
            "capture_point": self.vantage_text(),
            "connections": conns,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// The connections as `finack_sim` traces, one per pair of addresses
    /// (`only`: just that connection, 0-based): the packets (those inferred
    /// lost after the capture point marked so) and both sides' inferred
    /// state changes, ready for `finack_sim::render`.
    pub fn traces(&self, only: Option<usize>) -> Vec<Trace> {
        let mut traces: Vec<(Vec<IpAddr>, Vec<Timed>, Trace)> = Vec::new();
        for (i, e) in self.connections.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let c = &e.conn;
            let ips = [ip_of(c.ends[0]), ip_of(c.ends[1])];
            let k = match traces.iter().position(|(a, _, _)| {
                (a[0] == ips[0] && a[1] == ips[1]) || (a[0] == ips[1] && a[1] == ips[0])
            }) {
                Some(k) => k,
                None => {
                    let names = e.side_names();
                    let hosts = (0..2)
                        .map(|s| HostInfo {
                            name: names[s].to_string(),
                            addr: ips[s].to_string(),
                            counters: Vec::new(),
                        })
                        .collect();
                    let trace = Trace {
                        scenario: format!("capture, connection {}", i + 1),
                        seed: 0,
                        hosts,
                        events: Vec::new(),
                    };
                    traces.push((ips.to_vec(), Vec::new(), trace));
                    traces.len() - 1
                }
            };
            let (order, events, _) = &mut traces[k];
            let host = |s: usize| usize::from(order[0] != ips[s] || ips[0] == ips[1] && s == 1);
            for (j, p) in c.packets.iter().enumerate() {
                let s = c.side_of(p);
                let t = Instant::from_micros(p.time_us);
                let fate = if c.lost.contains(&j) {
                    Fate::Dropped("lost after the capture point (inferred)".into())
                } else {
                    Fate::Delivered(t)
                };
                let seg = SegmentSummary {
                    src_port: p.src.port(),
                    dst_port: p.dst.port(),
                    flags: TcpFlags(p.flags.0),
                    seq: SeqNumber(p.seq),
                    ack: SeqNumber(p.ack),
                    len: p.len as usize,
                    window: p.window,
                };
                events.push((
                    p.time_us,
                    0,
                    TraceEvent::Packet {
                        time: t,
                        from: host(s),
                        to: host(1 - s),
                        seg,
                        bytes: p.bytes.clone(),
                        fate,
                    },
                ));
            }
            for x in &c.changes {
                let local = c.ends[x.side].port();
                let remote = c.ends[1 - x.side].port();
                events.push((
                    x.time_us,
                    1,
                    TraceEvent::State {
                        time: Instant::from_micros(x.time_us),
                        host: host(x.side),
                        local_port: local,
                        remote_port: remote,
                        from: x.from,
                        to: x.to,
                        cause: x.cause.clone(),
                    },
                ));
            }
        }
        traces
            .into_iter()
            .map(|(_, mut events, mut trace)| {
                // Stable: packets before the state changes they cause.
                events.sort_by_key(|(t, _, _)| *t);
                trace.events = events.into_iter().map(|(_, _, e)| e).collect();
                trace
            })
            .collect()
    }
}
