//! The network between the two endpoints: packets in flight, and which
//! incarnation of the connection each belongs to.

use std::fmt;
use std::sync::Arc;

use finack_core::wire::{parse_tcp_packet, TcpRepr};

use crate::side::Side;

/// A packet in flight.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Who sent it.
    pub from: Side,
    /// When it was sent (microseconds): it lives at most one MSL.
    pub born: u64,
    /// The incarnation it belongs to (`classify`), if any can be told.
    pub tag: Option<u8>,
    /// The IPv4 packet.
    pub bytes: Arc<[u8]>,
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}@{}ms inc {:?}: ",
            self.from,
            self.born / 1000,
            self.tag
        )?;
        match parse_tcp_packet(&self.bytes) {
            Ok((_, seg)) => write!(f, "{}", segment_summary(&seg)),
            Err(e) => write!(f, "unparsable ({e:?})"),
        }
    }
}

/// `[SA] seq=.. ack=.. len=..` for a segment.
pub fn segment_summary(seg: &TcpRepr<'_>) -> String {
    let fl = seg.flags;
    let mut flags = String::new();
    for (on, c) in [
        (fl.syn(), 'S'),
        (fl.fin(), 'F'),
        (fl.rst(), 'R'),
        (fl.psh(), 'P'),
        (fl.ack(), '.'),
    ] {
        if on {
            flags.push(c);
        }
    }
    format!(
        "[{flags}] seq={} ack={} len={}",
        seg.seq.0,
        seg.ack.0,
        seg.payload.len()
    )
}

/// An initial sequence number seen on the wire: `side`'s ISS in incarnation `inc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Iss {
    /// Whose.
    pub side: Side,
    /// Which client incarnation.
    pub inc: u8,
    /// The ISS.
    pub iss: u32,
}

/// How far past an ISS a connection's sequence numbers may reach in the
/// model (a few bytes, a SYN and a FIN; generous).
const SPAN: u32 = 64;

fn within(seq: u32, iss: u32) -> bool {
    seq.wrapping_sub(iss) < SPAN
}

/// Learn ISSs from a packet `from` sent: the client's SYN names the ISS of
/// its current incarnation `client_inc`, a SYN,ACK the server's ISS for the
/// incarnation whose SYN it answers.
pub fn learn(table: &mut Vec<Iss>, from: Side, client_inc: Option<u8>, bytes: &[u8]) {
    let Ok((_, seg)) = parse_tcp_packet(bytes) else {
        return;
    };
    if !seg.flags.syn() {
        return;
    }
    let rec = match (from, seg.flags.ack()) {
        (Side::Client, false) => client_inc.map(|inc| Iss {
            side: Side::Client,
            inc,
            iss: seg.seq.0,
        }),
        (Side::Server, true) => table
            .iter()
            .rev()
            .find(|r| r.side == Side::Client && r.iss.wrapping_add(1) == seg.ack.0)
            .map(|r| Iss {
                side: Side::Server,
                inc: r.inc,
                iss: seg.seq.0,
            }),
        _ => None,
    };
    if let Some(r) = rec {
        if !table.contains(&r) {
            table.push(r);
        }
    }
}

/// The incarnation a packet `from` sent belongs to: the newest one whose
/// sender's sequence space holds its SEQ, else whose receiver's sequence
/// space holds its ACK (a reset answering a segment), else unknown.
pub fn classify(table: &[Iss], from: Side, bytes: &[u8]) -> Option<u8> {
    let (_, seg) = parse_tcp_packet(bytes).ok()?;
    let newest = |side: Side, n: u32| {
        table
            .iter()
            .filter(|r| r.side == side && within(n, r.iss))
            .map(|r| r.inc)
            .max()
    };
    newest(from, seg.seq.0).or_else(|| {
        if seg.flags.ack() {
            newest(from.peer(), seg.ack.0.wrapping_sub(1))
        } else {
            None
        }
    })
}
