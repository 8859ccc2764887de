//! A connection's error reports, as a Linux socket keeps them: the last soft
//! ICMP error (`sk_err_soft`) and SO_TIMESTAMPING's transmit timestamps,
//! which Linux hands to the application through the socket error queue
//! (`recvmsg(MSG_ERRQUEUE)`, an `SCM_TIMESTAMPING` control message beside an
//! `IP_RECVERR`/`IPV6_RECVERR` `sock_extended_err`).
//!
//! Nothing is allocated until an ICMP soft error arrives or the application
//! sets SO_TIMESTAMPING: a connection that never does pays one pointer.
//!
//! The model of Linux's transmit timestamps, byte by byte:
//! - a write (tcp.c: tcp_sendmsg_locked() → tcp_tx_timestamp()) with
//!   recording flags in effect tags the last byte it queued, the last byte of
//!   the tail unit (skb) — even when that unit already left (the fix "tcp:
//!   tcp_tx_timestamp() must look at the rtx queue"); a unit holds one tag:
//!   a tag already in the tail unit moves to the new last byte and the flags
//!   add up (`sock_tx_timestamp()` ORs them into `tx_flags`, `tskey` is
//!   overwritten);
//! - a tag follows its byte when units are cut (tcp_output.c:
//!   tcp_fragment_tstamp()) and, when a retransmission joins units
//!   (tcp_skb_collapse_tstamp()), the later tag takes the earlier one's
//!   flags and the earlier one is gone;
//! - each time the segment holding a tagged byte leaves (every transmission,
//!   the first and each resend), SCHED (dev.c: __dev_queue_xmit(), the
//!   packet scheduler) and SND (the driver's skb_tx_timestamp()) are
//!   recorded, in that order, both at that moment: in virtual time the
//!   packet reaches the scheduler and the driver when it is emitted;
//! - when a cumulative ACK first covers a byte tagged with TX_ACK
//!   (tcp_input.c: tcp_ack_tstamp()), ACK is recorded; the tag goes with its
//!   unit once acknowledged.
//!
//! A record's key (`ee_data`) is, with OPT_ID set when it is made, the
//! tagged byte's distance from the socket's key base: SND.UNA when OPT_ID was
//! turned on, or the write sequence with OPT_ID_TCP (sock.c:
//! sock_set_timestamping(); skbuff.c: __skb_complete_tx_timestamp()).

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use finack_wire::icmp::IcmpKind;
use finack_wire::SeqNumber;

use super::Tcb;
use crate::time::Instant;
use crate::types::{Error, State};

/// SO_TIMESTAMPING flag bits (Linux include/uapi/linux/net_tstamp.h,
/// `SOF_TIMESTAMPING_*`), for [`Endpoint::set_timestamping`](crate::Endpoint::set_timestamping).
pub mod sof {
    /// Ask for hardware transmit timestamps (no hardware here: none come).
    pub const TX_HARDWARE: u32 = 1 << 0;
    /// Ask for a software timestamp when the driver sends the packet (SND).
    pub const TX_SOFTWARE: u32 = 1 << 1;
    /// Ask for hardware receive timestamps.
    pub const RX_HARDWARE: u32 = 1 << 2;
    /// Ask for software receive timestamps.
    pub const RX_SOFTWARE: u32 = 1 << 3;
    /// Report software timestamps (the `SCM_TIMESTAMPING` control message).
    pub const SOFTWARE: u32 = 1 << 4;
    /// Deprecated, ignored.
    pub const SYS_HARDWARE: u32 = 1 << 5;
    /// Report hardware timestamps.
    pub const RAW_HARDWARE: u32 = 1 << 6;
    /// Give each record a key (`ee_data`): for TCP, a byte count.
    pub const OPT_ID: u32 = 1 << 7;
    /// Ask for a timestamp when the packet enters the packet scheduler (SCHED).
    pub const TX_SCHED: u32 = 1 << 8;
    /// Ask for a timestamp when the peer acknowledges the byte (ACK).
    pub const TX_ACK: u32 = 1 << 9;
    /// Control messages for looped-back records (IP_PKTINFO).
    pub const OPT_CMSG: u32 = 1 << 10;
    /// Records carry no copy of the packet.
    pub const OPT_TSONLY: u32 = 1 << 11;
    /// Records carry TCP statistics (needs OPT_TSONLY).
    pub const OPT_STATS: u32 = 1 << 12;
    /// Receive timestamps carry the interface and length.
    pub const OPT_PKTINFO: u32 = 1 << 13;
    /// Software and hardware transmit timestamps both.
    pub const OPT_TX_SWHW: u32 = 1 << 14;
    /// Bind to a PTP virtual clock (needs a bound device).
    pub const BIND_PHC: u32 = 1 << 15;
    /// OPT_ID counts from the write sequence rather than SND.UNA (needs OPT_ID).
    pub const OPT_ID_TCP: u32 = 1 << 16;
    /// Software receive timestamps only when asked for by RX_SOFTWARE.
    pub const OPT_RX_FILTER: u32 = 1 << 17;
    /// Every flag Linux knows (SOF_TIMESTAMPING_MASK).
    pub const MASK: u32 = (OPT_RX_FILTER << 1) - 1;
    /// The flags that make a write record (SOF_TIMESTAMPING_TX_RECORD_MASK).
    pub const TX_RECORD_MASK: u32 = TX_HARDWARE | TX_SOFTWARE | TX_SCHED | TX_ACK;
}

/// Which moment a transmit timestamp records (Linux `SCM_TSTAMP_*`, the
/// `ee_info` of the record's `sock_extended_err`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TxTimestampKind {
    /// The packet went to the driver (`SCM_TSTAMP_SND`, 0).
    Sent,
    /// The packet entered the packet scheduler (`SCM_TSTAMP_SCHED`, 1).
    Sched,
    /// The peer acknowledged the byte (`SCM_TSTAMP_ACK`, 2).
    Acked,
}

impl TxTimestampKind {
    /// Linux's number for it (`SCM_TSTAMP_SND` 0, `SCHED` 1, `ACK` 2).
    pub fn scm_tstamp(self) -> u32 {
        match self {
            TxTimestampKind::Sent => 0,
            TxTimestampKind::Sched => 1,
            TxTimestampKind::Acked => 2,
        }
    }
}

/// One record of the socket error queue: a transmit timestamp
/// (`sock_extended_err` with `ee_errno` ENOMSG and `ee_origin`
/// `SO_EE_ORIGIN_TIMESTAMPING`), read with
/// [`Endpoint::recv_errqueue`](crate::Endpoint::recv_errqueue).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TxTimestamp {
    /// Which moment (`ee_info`).
    pub kind: TxTimestampKind,
    /// When it happened.
    pub at: Instant,
    /// The key (`ee_data`): with OPT_ID, the tagged byte counted from the
    /// socket's key base; 0 without OPT_ID.
    pub key: u32,
    /// Bytes of packet data the record carries (Linux queues a copy of the
    /// packet, or nothing with OPT_TSONLY; a reader with a shorter buffer
    /// sees MSG_TRUNC). finack counts the TCP payload: the segment's for
    /// SCHED and SND, what the ACK covered for ACK.
    pub data_len: u32,
    /// Whether the reader gets the time (`SCM_TIMESTAMPING`'s software
    /// stamp): SOF_TIMESTAMPING_SOFTWARE set when the record is read.
    pub stamped: bool,
}

/// Linux charges each record to the receive memory (sock_queue_err_skb());
/// a record without data still costs an skb (`SKB_TRUESIZE` of an empty
/// head, about this much on 64-bit).
const RECORD_OVERHEAD: usize = 768;

/// A tagged byte: where a write asked for timestamps.
#[derive(Copy, Clone, Debug)]
struct Tag {
    byte: SeqNumber,
    /// SKBTX_SCHED_TSTAMP, SKBTX_SW_TSTAMP, txstamp_ack.
    sched: bool,
    sw: bool,
    ack: bool,
    /// The unit went out during the write, before the tag was set (a
    /// partial write pushes what it queued first): its first transmission
    /// records nothing.
    quiet_first: bool,
}

struct Inner {
    soft_error: Option<IcmpKind>,
    /// SO_TIMESTAMPING flags (Linux `sk_tsflags`).
    flags: u32,
    /// OPT_ID's base (Linux `sk_tskey`).
    key_base: SeqNumber,
    /// Tagged bytes not yet acknowledged, in sequence order.
    tags: VecDeque<Tag>,
    /// The error queue.
    queue: VecDeque<TxTimestamp>,
    /// Receive memory the queued records are charged.
    charged: usize,
}

/// The error reports of a connection (see the module documentation).
#[derive(Default)]
pub(crate) struct ErrReports(Option<Box<Inner>>);

impl ErrReports {
    fn inner(&mut self) -> &mut Inner {
        self.0.get_or_insert_with(|| {
            Box::new(Inner {
                soft_error: None,
                flags: 0,
                key_base: SeqNumber(0),
                tags: VecDeque::new(),
                queue: VecDeque::new(),
                charged: 0,
            })
        })
    }

    /// Heap bytes held (the box and its queues).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |i| {
            core::mem::size_of::<Inner>()
                + i.tags.capacity() * core::mem::size_of::<Tag>()
                + i.queue.capacity() * core::mem::size_of::<TxTimestamp>()
        })
    }

    /// The last soft ICMP error (SHLD-25: the application can learn of it).
    pub(crate) fn soft_error(&self) -> Option<IcmpKind> {
        self.0.as_ref().and_then(|i| i.soft_error)
    }

    pub(crate) fn set_soft_error(&mut self, kind: IcmpKind) {
        self.inner().soft_error = Some(kind);
    }

    /// SO_TIMESTAMPING's flags (0: off).
    pub(crate) fn flags(&self) -> u32 {
        self.0.as_ref().map_or(0, |i| i.flags)
    }

    /// Are transmit timestamps asked for, or tags still waiting? False
    /// for a connection that never set SO_TIMESTAMPING: the send and
    /// output paths then skip everything here.
    pub(crate) fn tracking(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|i| i.flags & sof::TX_RECORD_MASK != 0 || !i.tags.is_empty())
    }

    /// Records waiting in the error queue.
    pub(crate) fn queued(&self) -> usize {
        self.0.as_ref().map_or(0, |i| i.queue.len())
    }

    /// setsockopt(SO_TIMESTAMPING), Linux sock.c: sock_set_timestamping():
    /// unknown bits, OPT_ID_TCP without OPT_ID, OPT_STATS without
    /// OPT_TSONLY and BIND_PHC (no bound device here) are refused; turning
    /// OPT_ID on sets the key base, refused in CLOSED (and LISTEN).
    /// `una` and `write_seq` are the connection's SND.UNA and the sequence
    /// number after its last queued byte.
    pub(crate) fn set_timestamping(
        &mut self,
        flags: u32,
        state: State,
        una: SeqNumber,
        write_seq: SeqNumber,
    ) -> Result<(), Error> {
        check_timestamping(flags)?;
        let was = self.flags();
        if flags == 0 && self.0.is_none() {
            return Ok(());
        }
        let inner = self.inner();
        if flags & sof::OPT_ID != 0 && was & sof::OPT_ID == 0 {
            if matches!(state, State::Closed | State::Listen) {
                return Err(Error::InvalidArgument);
            }
            inner.key_base = if flags & sof::OPT_ID_TCP != 0 {
                write_seq
            } else {
                una
            };
        }
        inner.flags = flags;
        Ok(())
    }

    /// Linux tcp.c: tcp_tx_timestamp(), at the end of a write that queued
    /// bytes up to `write_seq` (the tail unit starting at `unit_start`):
    /// with recording flags in effect the last byte is tagged. `pushed_to`:
    /// the write was partial and Linux pushed what the windows allowed,
    /// up to there, before tagging.
    pub(crate) fn on_write(
        &mut self,
        write_seq: SeqNumber,
        unit_start: SeqNumber,
        pushed_to: Option<SeqNumber>,
    ) {
        let Some(inner) = self.0.as_mut() else {
            return;
        };
        let flags = inner.flags;
        if flags & sof::TX_RECORD_MASK == 0 {
            return;
        }
        let byte = write_seq - 1;
        let mut tag = Tag {
            byte,
            sched: flags & sof::TX_SCHED != 0,
            sw: flags & sof::TX_SOFTWARE != 0,
            ack: flags & sof::TX_ACK != 0,
            quiet_first: pushed_to.is_some_and(|p| byte.lt(p)),
        };
        // One tag per unit: one already in the tail unit moves here.
        if let Some(last) = inner.tags.back() {
            if last.byte.ge(unit_start) {
                tag.sched |= last.sched;
                tag.sw |= last.sw;
                tag.ack |= last.ack;
                inner.tags.pop_back();
            }
        }
        inner.tags.push_back(tag);
    }

    /// A segment carrying `len` bytes from `seq` leaves (`first`: never sent
    /// before): SCHED and SND for the tagged byte in it. `limit`: the
    /// receive memory records may take, less what received data holds.
    pub(crate) fn on_transmit(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        len: usize,
        first: bool,
        limit: usize,
    ) {
        let Some(inner) = self.0.as_mut() else {
            return;
        };
        if len == 0 || inner.tags.is_empty() {
            return;
        }
        let end = seq + len as u32;
        let inside = |t: &Tag| t.byte.ge(seq) && t.byte.lt(end);
        let Some(first_i) = inner.tags.iter().position(inside) else {
            return;
        };
        // Linux tcp_output.c: tcp_skb_collapse_tstamp(): units joined by a
        // retransmission keep the later tag, with the flags of both.
        while inner.tags.get(first_i + 1).is_some_and(inside) {
            let t = inner.tags.remove(first_i).unwrap_or_else(|| unreachable!());
            let next = &mut inner.tags[first_i];
            next.sched |= t.sched;
            next.sw |= t.sw;
            next.ack |= t.ack;
            next.quiet_first &= t.quiet_first;
        }
        let tag = &mut inner.tags[first_i];
        let quiet = first && tag.quiet_first;
        tag.quiet_first = false;
        let tag = *tag;
        if quiet {
            return;
        }
        if tag.sched {
            inner.record(TxTimestampKind::Sched, now, tag.byte, len, limit);
        }
        if tag.sw {
            inner.record(TxTimestampKind::Sent, now, tag.byte, len, limit);
        }
    }

    /// SND.UNA moved from `prior` to `una` (Linux tcp_input.c:
    /// tcp_clean_rtx_queue() → tcp_ack_tstamp()): ACK for each byte tagged
    /// with TX_ACK now covered; the covered tags go.
    pub(crate) fn on_ack(&mut self, now: Instant, prior: SeqNumber, una: SeqNumber, limit: usize) {
        let Some(inner) = self.0.as_mut() else {
            return;
        };
        while let Some(t) = inner.tags.front().copied() {
            if !t.byte.lt(una) {
                break;
            }
            inner.tags.pop_front();
            if t.ack && t.byte.ge(prior) {
                let covered = (una - prior).max(0) as usize;
                inner.record(TxTimestampKind::Acked, now, t.byte, covered, limit);
            }
        }
    }

    /// recvmsg(MSG_ERRQUEUE): the oldest record, `WouldBlock` when none
    /// (Linux ip_recv_error() answers EAGAIN).
    pub(crate) fn pop(&mut self) -> Result<TxTimestamp, Error> {
        let inner = self.0.as_mut().ok_or(Error::WouldBlock)?;
        let mut r = inner.queue.pop_front().ok_or(Error::WouldBlock)?;
        inner.charged = inner.charged.saturating_sub(charge(r.data_len));
        // Linux sock.c: __sock_recv_timestamp(): the software stamp goes to
        // the reader when SOF_TIMESTAMPING_SOFTWARE is set at that moment.
        r.stamped = inner.flags & sof::SOFTWARE != 0;
        Ok(r)
    }
}

impl Tcb {
    /// Linux tcp.c: tcp_tx_timestamp() at the end of a write: SO_TIMESTAMPING
    /// tags the last byte queued, in the tail unit. A `partial` write went
    /// through wait_for_space, whose tcp_push() let out what the windows
    /// allowed (`sendable` beyond what was sent) before the tag was set.
    pub(super) fn tag_write(&mut self, partial: bool, sendable: usize) {
        let queued = self.snd.buf.len();
        let write_seq = self.snd.buf_seq + queued as u32;
        let unit_start = self.snd.buf.last_mark_before(queued).map_or(0, |m| m.end);
        let pushed_to = partial.then(|| self.snd.max + sendable as u32);
        self.errs
            .on_write(write_seq, self.snd.buf_seq + unit_start as u32, pushed_to);
    }

    /// Receive memory left for error-queue records (Linux charges them to
    /// `sk_rmem_alloc` against `sk_rcvbuf`, beside received data).
    pub(crate) fn errqueue_room(&self) -> usize {
        self.rcv.buf.cap().saturating_sub(self.rcv.buf.len())
    }
}

impl Inner {
    /// Linux skbuff.c: __skb_complete_tx_timestamp() and
    /// sock_queue_err_skb(): the record, keyed with OPT_ID as set now,
    /// queued unless the receive memory is used up.
    fn record(
        &mut self,
        kind: TxTimestampKind,
        now: Instant,
        byte: SeqNumber,
        len: usize,
        limit: usize,
    ) {
        let data_len = if self.flags & sof::OPT_TSONLY != 0 {
            0
        } else {
            u32::try_from(len).unwrap_or(u32::MAX)
        };
        let cost = charge(data_len);
        if self.charged + cost >= limit {
            return;
        }
        let key = if self.flags & sof::OPT_ID != 0 {
            (byte - self.key_base) as u32
        } else {
            0
        };
        self.charged += cost;
        self.queue.push_back(TxTimestamp {
            kind,
            at: now,
            key,
            data_len,
            stamped: false,
        });
    }
}

/// Receive memory a record is charged.
fn charge(data_len: u32) -> usize {
    RECORD_OVERHEAD + data_len as usize
}

/// The checks of Linux sock.c: sock_set_timestamping() that need no socket.
pub(crate) fn check_timestamping(flags: u32) -> Result<(), Error> {
    if flags & !sof::MASK != 0
        || (flags & sof::OPT_ID_TCP != 0 && flags & sof::OPT_ID == 0)
        || (flags & sof::OPT_STATS != 0 && flags & sof::OPT_TSONLY == 0)
        || flags & sof::BIND_PHC != 0
    {
        return Err(Error::InvalidArgument);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(flags: u32) -> ErrReports {
        let mut e = ErrReports::default();
        e.set_timestamping(flags, State::Established, SeqNumber(1000), SeqNumber(1000))
            .unwrap();
        e
    }

    fn all(e: &mut ErrReports) -> alloc::vec::Vec<(TxTimestampKind, u32)> {
        core::iter::from_fn(|| e.pop().ok())
            .map(|r| (r.kind, r.key))
            .collect()
    }

    /// tcp_skb_collapse_tstamp(): a resend that joins two tagged units
    /// keeps the later tag with the flags of both; the earlier is gone.
    #[test]
    fn a_resend_joining_units_keeps_the_later_tag_with_both_flags() {
        let mut e = on(sof::TX_ACK | sof::OPT_ID);
        e.on_write(SeqNumber(1100), SeqNumber(1000), None);
        e.inner().flags = sof::TX_SCHED | sof::OPT_ID;
        e.on_write(SeqNumber(1200), SeqNumber(1100), None);
        let t = Instant::from_millis(5);
        // First transmissions, one unit each: SCHED for the second only.
        e.on_transmit(t, SeqNumber(1000), 100, true, usize::MAX);
        e.on_transmit(t, SeqNumber(1100), 100, true, usize::MAX);
        assert_eq!(all(&mut e), [(TxTimestampKind::Sched, 199)]);
        // One resend over both: one SCHED, for the later byte.
        e.on_transmit(t, SeqNumber(1000), 200, false, usize::MAX);
        assert_eq!(all(&mut e), [(TxTimestampKind::Sched, 199)]);
        // The merged tag took TX_ACK from the earlier one.
        e.on_ack(t, SeqNumber(1000), SeqNumber(1200), usize::MAX);
        assert_eq!(all(&mut e), [(TxTimestampKind::Acked, 199)]);
    }

    /// __skb_complete_tx_timestamp(): the key follows OPT_ID as set when
    /// the record is made; a full receive memory drops records.
    #[test]
    fn key_uses_opt_id_at_record_time_and_full_memory_drops() {
        let mut e = on(sof::TX_ACK | sof::OPT_ID);
        e.on_write(SeqNumber(1010), SeqNumber(1000), None);
        e.inner().flags = sof::TX_ACK;
        e.on_ack(Instant::ZERO, SeqNumber(1000), SeqNumber(1010), usize::MAX);
        assert_eq!(all(&mut e), [(TxTimestampKind::Acked, 0)]);
        e.on_write(SeqNumber(1020), SeqNumber(1010), None);
        e.on_ack(
            Instant::ZERO,
            SeqNumber(1010),
            SeqNumber(1020),
            RECORD_OVERHEAD,
        );
        assert_eq!(e.queued(), 0);
    }
}
