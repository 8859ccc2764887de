//! TIME-WAIT as a compact table entry: no buffers, no timers but one deadline.
//!
//! RFC 9293 §3.6.1 (MUST-13): the side that closes first waits 2MSL before the
//! 4-tuple can be reused, so that (1) a lost final ACK can be repeated when the peer
//! retransmits its FIN, and (2) old duplicates of this incarnation die out before a
//! new one starts.

use core::net::SocketAddr;

use finack_wire::{SeqNumber, TcpRepr, Timestamps};

use crate::config::Config;
use crate::demux::CompactTuple;
use crate::tcb::{CtlSegment, Tcb};
use crate::time::Instant;
use crate::types::{ConnInfo, State};

/// One connection in TIME-WAIT.
#[derive(Clone, Debug)]
pub(crate) struct TimeWait {
    /// The 4-tuple, compactly (an IPv4 entry keeps no address on the heap).
    tuple: CompactTuple,
    /// Our next sequence number (after our FIN).
    pub(crate) snd_nxt: SeqNumber,
    /// The peer's next sequence number (after its FIN).
    pub(crate) rcv_nxt: SeqNumber,
    /// TS.Recent and our TSval offset, when timestamps are in use.
    pub(crate) ts: Option<(u32, u32)>,
    pub(crate) window: u16,
    pub(crate) deadline: Instant,
    pub(crate) entered: Instant,
}

/// What the endpoint must do after a segment hit a TIME-WAIT entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum TwAction {
    /// Nothing (segment dropped).
    Drop,
    /// Send this ACK (the timer may have been restarted).
    Ack(CtlSegment),
    /// RST accepted: the entry ends now (only when RFC 1337 protection is off).
    Kill,
    /// A new SYN may open a new incarnation with this ISS (RFC 9293 MAY-2, RFC 6191).
    Reopen(SeqNumber),
}

impl TimeWait {
    pub(crate) fn from_tcb(tcb: &Tcb, now: Instant, cfg: &Config) -> TimeWait {
        let field = (tcb.effective_rcv_wnd() >> tcb.rcv.wscale).min(65535) as u16;
        TimeWait {
            tuple: CompactTuple::new((tcb.local, tcb.remote)),
            snd_nxt: tcb.snd.max,
            rcv_nxt: tcb.rcv.nxt,
            ts: tcb.ts_ok.then_some((tcb.rcv.ts_recent, tcb.ts_offset)),
            window: field,
            deadline: now + cfg.time_wait,
            entered: now,
        }
    }

    /// (local, remote).
    pub(crate) fn tuple(&self) -> (SocketAddr, SocketAddr) {
        self.tuple.get()
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.tuple().0
    }

    pub(crate) fn remote(&self) -> SocketAddr {
        self.tuple().1
    }

    /// The ACK this entry sends: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    pub(crate) fn ack(&self, now: Instant) -> CtlSegment {
        CtlSegment {
            local: self.local(),
            remote: self.remote(),
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            rst: false,
            window: self.window,
            timestamps: self.ts.map(|(recent, offset)| Timestamps {
                tsval: (now.as_millis() as u32).wrapping_add(offset),
                tsecr: recent,
            }),
            syn_mss: None,
        }
    }

    /// SEGMENT ARRIVES in TIME-WAIT.
    pub(crate) fn on_segment(&mut self, now: Instant, cfg: &Config, seg: &TcpRepr<'_>) -> TwAction {
        let flags = seg.flags;
        // RFC 7323 §5.3 PAWS applies here too (RFC 6191 relies on it).
        let seg_ts = seg.options.timestamps;
        let paws_reject = match (self.ts, seg_ts) {
            (Some((recent, _)), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) < 0,
            _ => false,
        };
        if flags.rst() {
            // RFC 1337 (TIME-WAIT assassination, fix TWA1): ignore RST in TIME-WAIT.
            // Without that protection, an in-window RST closes the entry (RFC 9293
            // §3.10.7.4 second: CLOSING, LAST-ACK, TIME-WAIT enter CLOSED).
            if !cfg.rfc1337 && !paws_reject && seg.seq == self.rcv_nxt {
                return TwAction::Kill;
            }
            return TwAction::Drop;
        }
        if flags.syn() && !flags.ack() && cfg.time_wait_syn_reuse && !paws_reject {
            // RFC 9293 MAY-2 (RFC 1122 §4.2.2.13) and RFC 6191: a new SYN may reopen
            // the connection if it cannot be confused with the old incarnation — its
            // timestamp is newer, or (without timestamps) its sequence number is
            // above the old RCV.NXT.
            let newer = match (self.ts, seg_ts) {
                (Some((recent, _)), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) > 0,
                _ => seg.seq.gt(self.rcv_nxt),
            };
            if newer {
                // Start our new sequence space well beyond the old one (as Linux
                // does), so the peer cannot take old segments of ours for new ones.
                return TwAction::Reopen(self.snd_nxt + 65535 + 2);
            }
        }
        if seg.payload.is_empty() && !flags.fin() && !flags.syn() && seg.seq == self.rcv_nxt {
            // An acceptable bare ACK needs no answer (answering would let two
            // TIME-WAIT ends of a simultaneous close ACK each other forever).
            return TwAction::Drop;
        }
        // RFC 9293 §3.10.7.4: "The only thing that can arrive in this state is a
        // retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL
        // timeout." Any other segment is a duplicate: acknowledge it (the
        // sequence-number check's reply) without restarting the timer.
        if flags.fin() && !paws_reject {
            self.deadline = now + cfg.time_wait;
        }
        TwAction::Ack(self.ack(now))
    }
}

impl TimeWait {
    /// A `ConnInfo` for a connection in TIME-WAIT (most counters are gone).
    pub(crate) fn info(&self, now: Instant) -> ConnInfo {
        ConnInfo {
            state: State::TimeWait,
            local: self.local(),
            remote: self.remote(),
            state_age: now - self.entered,
            srtt: None,
            rttvar: core::time::Duration::ZERO,
            rto: core::time::Duration::ZERO,
            cwnd: 0,
            ssthresh: 0,
            snd_mss: 0,
            peer_mss: 0,
            snd_wscale: 0,
            rcv_wscale: 0,
            timestamps: self.ts.is_some(),
            sack: false,
            backoff: 0,
            total_retransmits: 0,
            unacked: 0,
            unsent: 0,
            readable: 0,
            snd_wnd: 0,
            bytes_acked: 0,
            in_recovery: false,
            bytes_received: 0,
            soft_error: None,
        }
    }
}
