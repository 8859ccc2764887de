//! What a simulation run records: every packet with its fate, every state
//! transition, and narrative notes. Renderers (diagram, SVG, JSON, pcap) read it.

use finack_core::wire::{SeqNumber, TcpFlags};
use finack_core::{Instant, State};

/// Index of a host in the simulation (0 is drawn on the left, 1 on the right).
pub type HostId = usize;

/// A host as shown in outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// Display name, e.g. "client".
    pub name: String,
    /// Its IP address, as text.
    pub addr: String,
    /// Its endpoint's counters at the end of the run under Linux's names
    /// (`Stats::linux_counters`), those that are not zero, summed over its
    /// lives when it crashed.
    pub counters: Vec<(String, u64)>,
}

impl HostInfo {
    /// Add an endpoint's counters (the non-zero ones) to this host's.
    pub fn add_counters(&mut self, stats: &finack_core::Stats) {
        for (name, v) in stats.linux_counters() {
            if v == 0 {
                continue;
            }
            match self.counters.iter_mut().find(|(n, _)| n == name) {
                Some(e) => e.1 += v,
                None => self.counters.push((name.to_string(), v)),
            }
        }
    }
}

/// What became of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Arrived at the receiver at this time.
    Delivered(Instant),
    /// Lost on the way; the text says why ("random loss", "scripted drop", ...).
    Dropped(String),
    /// Arrived damaged at this time; the receiver's checksum rejected it.
    Corrupted(Instant),
    /// The receiving host was down (crashed) when it arrived.
    HostDown(Instant),
}

/// Header fields of a TCP segment, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number (meaningful when ACK is set).
    pub ack: SeqNumber,
    /// Payload length.
    pub len: usize,
    /// Window field.
    pub window: u16,
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A packet left `from` for `to` at `time`.
    Packet {
        /// Send time.
        time: Instant,
        /// Sender.
        from: HostId,
        /// Receiver.
        to: HostId,
        /// The TCP segment's fields.
        seg: SegmentSummary,
        /// The IP packet as sent (valid checksums).
        bytes: Vec<u8>,
        /// What happened to it.
        fate: Fate,
    },
    /// A connection (or listener) on `host` changed state.
    State {
        /// When.
        time: Instant,
        /// Which host.
        host: HostId,
        /// The connection's local port (to tell several connections apart).
        local_port: u16,
        /// The connection's remote port (0 for a listener).
        remote_port: u16,
        /// Before.
        from: State,
        /// After.
        to: State,
        /// Why, e.g. "rcv FIN|ACK", "user Close", "timeout TimeWait".
        cause: String,
    },
    /// A narrative note ("client application calls close()").
    Note {
        /// When.
        time: Instant,
        /// The host it concerns, if any.
        host: Option<HostId>,
        /// Text.
        text: String,
    },
}

impl TraceEvent {
    /// When the event happened (for packets: when sent).
    pub fn time(&self) -> Instant {
        match self {
            TraceEvent::Packet { time, .. }
            | TraceEvent::State { time, .. }
            | TraceEvent::Note { time, .. } => *time,
        }
    }
}

/// A whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Scenario name.
    pub scenario: String,
    /// Seed of the run.
    pub seed: u64,
    /// The hosts; index 0 is drawn left.
    pub hosts: Vec<HostInfo>,
    /// Events in the order they happened.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// The sequence of distinct states the connections of `host` went through
    /// (listener transitions excluded), starting with the first `from`.
    pub fn states_of(&self, host: HostId) -> Vec<State> {
        let mut out: Vec<State> = Vec::new();
        for e in &self.events {
            if let TraceEvent::State {
                host: h, from, to, ..
            } = e
            {
                if *h != host {
                    continue;
                }
                if out.is_empty() {
                    out.push(*from);
                }
                if out.last() != Some(to) {
                    out.push(*to);
                }
            }
        }
        out
    }

    /// The state sequence of the connection of `host` whose local port is `port`.
    pub fn states_of_port(&self, host: HostId, port: u16) -> Vec<State> {
        let mut out: Vec<State> = Vec::new();
        for e in &self.events {
            if let TraceEvent::State {
                host: h,
                local_port,
                from,
                to,
                ..
            } = e
            {
                if *h != host || *local_port != port {
                    continue;
                }
                if out.is_empty() {
                    out.push(*from);
                }
                if out.last() != Some(to) {
                    out.push(*to);
                }
            }
        }
        out
    }

    /// Packets sent by `host`, in order.
    pub fn packets_from(
        &self,
        host: HostId,
    ) -> impl Iterator<Item = (&SegmentSummary, &Fate, Instant)> {
        self.events.iter().filter_map(move |e| match e {
            TraceEvent::Packet {
                time,
                from,
                seg,
                fate,
                ..
            } if *from == host => Some((seg, fate, *time)),
            _ => None,
        })
    }
}
