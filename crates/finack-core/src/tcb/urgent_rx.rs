//! Receiving urgent data as Linux does (`Config::urgent_oob`): the byte
//! just before the urgent pointer is an out-of-band byte (BSD semantics,
//! sysctl tcp_stdurg 0). It leaves the stream unless SO_OOBINLINE is set,
//! a read stops in front of it, `recv(MSG_OOB)` returns it once, and poll
//! reports POLLPRI while it waits (Linux tcp_input.c: tcp_check_urg(),
//! tcp_urg(); tcp.c: tcp_recvmsg_locked(), tcp_recv_urg(), tcp_poll()).
//! RFC 9293 has no such byte: the urgent data stays in the stream and the
//! pointer only marks where it ends (§3.8.5), which `RecvSide::up` keeps
//! in both models.

use finack_wire::{SeqNumber, TcpRepr};

use super::Tcb;
use crate::config::Config;
use crate::types::{Error, State};

/// What is known of the out-of-band byte (Linux `tp->urg_data`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum OobState {
    /// None expected.
    #[default]
    None,
    /// The pointer came; the byte has not (TCP_URG_NOTYET).
    NotYet,
    /// The byte arrived and was not taken by `recv(MSG_OOB)` (TCP_URG_VALID).
    Valid(u8),
    /// `recv(MSG_OOB)` took it (TCP_URG_READ).
    Read,
}

/// The receiving side's urgent state, kept with the receiver's estimates
/// (allocated on first use).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct UrgentRx {
    /// The out-of-band byte's sequence number (`tp->urg_seq`).
    seq: SeqNumber,
    state: OobState,
    /// SO_OOBINLINE: the byte stays in the stream.
    inline: bool,
}

impl Tcb {
    fn urg(&self) -> UrgentRx {
        self.rcv.est.as_ref().map(|e| e.urg).unwrap_or_default()
    }

    /// Where the application reads next (`tp->copied_seq`).
    fn read_seq(&self) -> SeqNumber {
        self.rcv.nxt - self.rcv.buf.len() as u32
    }

    /// Linux tcp_urg() for an arriving segment at the sixth step: a new
    /// urgent pointer names the byte before it (tcp_check_urg(): one not
    /// read past yet and beyond the one already known; an unread earlier
    /// byte at the read position leaves the stream), and a byte awaited
    /// that this segment carries becomes readable as out-of-band data.
    /// `stdurg` (Linux `tcp_stdurg`): the pointer names the urgent byte
    /// itself, as RFC 1122 §4.2.2.4 reads it.
    pub(super) fn urg_rx_segment(&mut self, seg: &TcpRepr<'_>, stdurg: bool) {
        if seg.flags.urg() {
            let copied = self.read_seq();
            // tcp_check_urg(): a pointer of 0 names the segment's first byte
            // either way.
            let back = u32::from(seg.urgent > 0 && !stdurg);
            let ptr = seg.seq + (u32::from(seg.urgent) - back);
            let u = self.urg();
            let replay = u.state != OobState::None && !ptr.gt(u.seq);
            if !copied.gt(ptr) && !replay {
                if u.state != OobState::None
                    && u.seq == copied
                    && !u.inline
                    && copied != self.rcv.nxt
                {
                    // The earlier byte, unread at the read position, goes.
                    self.rcv.buf.skip(1);
                }
                let e = self.est();
                e.urg.seq = ptr;
                e.urg.state = OobState::NotYet;
                // tcp_check_urg(): no header prediction while urgent data
                // is pending.
                self.hp_off();
            }
        }
        let u = self.urg();
        if u.state == OobState::NotYet {
            let first = seg.seq + u32::from(seg.flags.syn());
            let at = u.seq - first;
            if at >= 0 && (at as usize) < seg.payload.len() {
                self.est().urg.state = OobState::Valid(seg.payload[at as usize]);
            }
        }
    }

    /// Take stream bytes for a read: up to the out-of-band byte, or, at it,
    /// past it (it is skipped without SO_OOBINLINE); reading past it ends
    /// the urgent state. Without `Config::urgent_oob`, a plain read.
    pub(super) fn read_stream(&mut self, cfg: &Config, out: &mut [u8]) -> usize {
        let u = self.urg();
        if !cfg.urgent_oob || u.state == OobState::None {
            return self.rcv.buf.read(out);
        }
        let off = u.seq - self.read_seq();
        let n = if off > 0 {
            let stop = out.len().min(off as usize);
            self.rcv.buf.read(&mut out[..stop])
        } else {
            if off == 0 && !u.inline {
                self.rcv.buf.skip(1);
            }
            self.rcv.buf.read(out)
        };
        if self.read_seq().gt(u.seq) {
            self.est().urg.state = OobState::None;
            self.hp_check(cfg);
        }
        n
    }

    /// MSG_PEEK's view of the stream, with the same stops as a read.
    pub(super) fn peek_stream(&self, cfg: &Config, out: &mut [u8]) -> usize {
        let u = self.urg();
        if !cfg.urgent_oob || u.state == OobState::None {
            return self.rcv.buf.peek_at(0, out);
        }
        match u.seq - self.read_seq() {
            off if off > 0 => {
                let stop = out.len().min(off as usize);
                self.rcv.buf.peek_at(0, &mut out[..stop])
            }
            0 if !u.inline => self.rcv.buf.peek_at(1, out),
            _ => self.rcv.buf.peek_at(0, out),
        }
    }

    /// Bytes a read could return now: the out-of-band byte waiting at the
    /// read position does not count (tcp_poll() asks for one more).
    pub(crate) fn stream_readable(&self, cfg: &Config) -> usize {
        let len = self.rcv.buf.len();
        if cfg.urgent_oob && self.at_urgent_mark() && !self.urg().inline {
            len.saturating_sub(1)
        } else {
            len
        }
    }

    /// recv(MSG_OOB) (Linux tcp_recv_urg()): the out-of-band byte, once
    /// (with `peek`, left in place); `Ok(None)` at the end of the stream;
    /// `InvalidArgument` when there is none to read (or SO_OOBINLINE is on),
    /// `WouldBlock` while its byte has not arrived (never blocking).
    pub(crate) fn recv_oob(&mut self, cfg: &Config, peek: bool) -> Result<Option<u8>, Error> {
        let u = self.urg();
        if !cfg.urgent_oob || u.inline || matches!(u.state, OobState::None | OobState::Read) {
            return Err(Error::InvalidArgument);
        }
        if self.state == State::Closed {
            return Err(Error::NotConnected);
        }
        if let OobState::Valid(b) = u.state {
            if !peek {
                self.est().urg.state = OobState::Read;
            }
            return Ok(Some(b));
        }
        if self.rcv.fin_received || self.rcv.read_shutdown {
            return Ok(None);
        }
        Err(Error::WouldBlock)
    }

    /// SIOCATMARK: the next byte to read is the out-of-band one's place.
    pub(crate) fn at_urgent_mark(&self) -> bool {
        let u = self.urg();
        u.state != OobState::None && u.seq == self.read_seq()
    }

    /// POLLPRI: an out-of-band byte waits for recv(MSG_OOB).
    pub(crate) fn oob_waiting(&self) -> bool {
        matches!(self.urg().state, OobState::Valid(_))
    }

    /// SO_OOBINLINE.
    pub(crate) fn set_oob_inline(&mut self, on: bool) {
        if on || self.rcv.est.is_some() {
            self.est().urg.inline = on;
        }
    }

    /// SO_OOBINLINE as set.
    pub(crate) fn oob_inline(&self) -> bool {
        self.urg().inline
    }
}

impl Tcb {
    /// Urgent data is pending (Linux `tp->urg_data` non-zero).
    pub(crate) fn urgent_active(&self) -> bool {
        self.urg().state != OobState::None
    }
}
