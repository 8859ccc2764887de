//! finack-explain: explain a TCP capture.
//!
//! Reads a pcap or pcapng capture ([`capture`]), groups its TCP segments
//! into connections, one per incarnation of a 4-tuple ([`conn::group`]),
//! infers both endpoints' RFC 9293 states over time by running every segment
//! through the state tracker of the side that sent it and of the side that
//! received it ([`track`], driven by [`conn::infer`]), and names the
//! lifecycle: how the connection opened, how it closed, what went wrong
//! ([`lifecycle`]). The result prints as a summary table
//! ([`Explanation::summary`]), as JSON ([`Explanation::to_json`]) and as a
//! `finack_sim::Trace` ([`Explanation::traces`]), which `finack-sim`'s
//! renderers draw as the same sequence diagram as `finack sim run`.
//!
//! A capture shows the packets at one point of the path. A packet lost
//! between the capture point and its receiver looks delivered; the
//! inference assumes delivery and takes it back when the receiver's later
//! packets contradict it (a FIN retransmitted after its ACK was seen: the
//! ACK was lost). Timers that fire without a packet (TIME-WAIT's 2MSL,
//! FIN-WAIT-2's timeout) are assumed at Linux's defaults ([`Options`]); a
//! host crash shows only when the host later answers with RST.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod capture;
pub mod conn;
pub mod lifecycle;
mod report;
pub mod track;

use std::net::IpAddr;

pub use capture::{read_capture, CaptureError, Packet, Skipped};
pub use conn::{Change, Connection};
pub use lifecycle::{Close, Handshake, Lifecycle};

/// Assumptions of the inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// How long TIME-WAIT lasts (2MSL; Linux: 60 s).
    pub time_wait_us: u64,
    /// How long an orphaned FIN-WAIT-2 lasts (Linux `tcp_fin_timeout`: 60 s).
    pub fin_wait2_us: u64,
    /// When the capture ended, in microseconds after its first packet
    /// (default: its last packet). Timers that ran out before it are shown.
    pub end_us: Option<u64>,
}

impl Default for Options {
    /// Linux's defaults.
    fn default() -> Options {
        Options {
            time_wait_us: 60_000_000,
            fin_wait2_us: 60_000_000,
            end_us: None,
        }
    }
}

/// Where the capture was taken, for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vantage {
    /// Near this side (0 or 1); the text says why.
    Near(usize, String),
    /// Cannot tell; the text says why.
    Unknown(String),
}

/// One explained connection.
#[derive(Clone, Debug)]
pub struct Explained {
    /// Its packets and inferred states.
    pub conn: Connection,
    /// Its lifecycle by name.
    pub lifecycle: Lifecycle,
    /// Where the capture was taken, seen from this connection.
    pub vantage: Vantage,
    /// Retransmissions, duplicate ACKs and zero windows, by direction.
    pub traffic: analysis::Traffic,
}

/// A whole capture explained.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The connections in order of their first packet.
    pub connections: Vec<Explained>,
    /// What was skipped while reading.
    pub skipped: Skipped,
    /// TCP segments read.
    pub packets: usize,
    /// End of the capture (microseconds after its first packet).
    pub end_us: u64,
}

/// Why a capture could not be explained.
pub type Error = CaptureError;

/// Explain capture file contents.
pub fn explain(data: &[u8], opts: &Options) -> Result<Explanation, Error> {
    let (packets, skipped) = read_capture(data)?;
    Ok(explain_packets(packets, skipped, opts))
}

/// Explain packets already read.
pub fn explain_packets(packets: Vec<Packet>, skipped: Skipped, opts: &Options) -> Explanation {
    let n = packets.len();
    let last = packets.iter().map(|p| p.time_us).max().unwrap_or(0);
    let end_us = opts.end_us.unwrap_or(last).max(last);
    let mut conns = conn::group(packets);
    // When the next incarnation of the same 4-tuple starts, if any.
    let starts: Vec<(u64, [std::net::SocketAddr; 2])> = conns
        .iter()
        .map(|c| (c.packets.first().map_or(0, |p| p.time_us), sorted(c.ends)))
        .collect();
    let mut out = Vec::with_capacity(conns.len());
    for (i, c) in conns.iter_mut().enumerate() {
        let next = starts[i + 1..]
            .iter()
            .find(|(_, e)| *e == starts[i].1)
            .map(|(t, _)| *t);
        conn::infer(c, opts, next.unwrap_or(end_us), next.is_some());
        let traffic = analysis::analyse(c);
        c.retransmissions = [0, 1].map(|s| traffic[s].retransmissions.len());
        let lifecycle = lifecycle::name(c, &traffic, end_us);
        let vantage = vantage(c);
        out.push(Explained {
            conn: c.clone(),
            lifecycle,
            vantage,
            traffic,
        });
    }
    Explanation {
        connections: out,
        skipped,
        packets: n,
        end_us,
    }
}

fn sorted(mut e: [std::net::SocketAddr; 2]) -> [std::net::SocketAddr; 2] {
    e.sort();
    e
}

/// Hops a packet travelled, from its TTL and the usual initial values.
fn hops(ttl: u8) -> u8 {
    [32u8, 64, 128, 255]
        .iter()
        .find(|&&init| ttl <= init)
        .map_or(0, |init| init - ttl)
}

/// Guess which side the capture was taken near: fewer hops (higher TTL),
/// else the side that answers faster as seen from the capture point (seen
/// near a host, its answers follow what it receives at once, while the
/// other side's answers take a whole round trip).
fn vantage(c: &Connection) -> Vantage {
    let hop = |s: usize| {
        c.packets
            .iter()
            .find(|p| c.side_of(p) == s)
            .map(|p| hops(p.ttl))
    };
    if let (Some(a), Some(b)) = (hop(0), hop(1)) {
        if a != b {
            let near = usize::from(b < a);
            return Vantage::Near(
                near,
                format!("its packets arrive after fewer hops (TTL: {a} vs {b} hops)"),
            );
        }
    }
    // Answer delays: for each change of sender, the gap since the packet
    // answered.
    let mut delays: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for w in c.packets.windows(2) {
        let (s0, s1) = (c.side_of(&w[0]), c.side_of(&w[1]));
        if s0 != s1 {
            delays[s1].push(w[1].time_us - w[0].time_us);
        }
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    match (median(&mut delays[0]), median(&mut delays[1])) {
        (Some(a), Some(b)) if a.max(b) >= 200 && (a * 3 <= b || b * 3 <= a) => {
            let near = usize::from(b < a);
            Vantage::Near(
                near,
                format!(
                    "it answers within {} at the capture point, its peer only after {} (a round trip)",
                    fmt_us(a.min(b)),
                    fmt_us(a.max(b))
                ),
            )
        }
        (Some(_), Some(_)) => {
            Vantage::Unknown("both sides answer after similar delays and show the same TTL".into())
        }
        _ => Vantage::Unknown("only one side sent packets".into()),
    }
}

/// Microseconds as a short human duration ("950us", "12.3ms", "60.0s").
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.1}s", us as f64 / 1e6)
    }
}

/// The address of an endpoint without its port.
fn ip_of(a: std::net::SocketAddr) -> IpAddr {
    a.ip()
}
