//! TIME-WAIT in a table of its own: 48-byte entries with no buffers and no
//! timer but their place in the table's expiry queue.
//!
//! RFC 9293 §3.6.1 (MUST-13): the side that closes first waits 2MSL before the
//! 4-tuple can be reused, so that (1) a lost final ACK can be repeated when the peer
//! retransmits its FIN, and (2) old duplicates of this incarnation die out before a
//! new one starts.

use alloc::collections::VecDeque;
use core::hash::BuildHasher;

use finack_wire::{SeqNumber, TcpRepr, Timestamps};
use hashbrown::HashTable;

use crate::config::Config;
use crate::demux::{CompactTuple, SipBuild, Tuple};
use crate::tcb::{CtlSegment, Tcb};
use crate::time::Instant;
use crate::types::{ConnId, ConnInfo, State};

/// One connection in TIME-WAIT: 48 bytes.
#[derive(Clone, Debug)]
pub(crate) struct TimeWait {
    /// The 4-tuple, compactly (an IPv4 entry keeps no address on the heap).
    tuple: CompactTuple,
    /// The handle the connection had (for its transition record and its
    /// `Closed` event, and to find the slot of an application that still
    /// holds it).
    pub(crate) conn: ConnId,
    /// When the 2MSL timer expires. The entry entered TIME-WAIT, or last
    /// restarted its timer, `Config::time_wait` before.
    pub(crate) deadline: Instant,
    /// Our next sequence number (after our FIN).
    pub(crate) snd_nxt: SeqNumber,
    /// The peer's next sequence number (after its FIN).
    pub(crate) rcv_nxt: SeqNumber,
    /// TS.Recent, when timestamps are in use (`TS_ON`).
    ts_recent: u32,
    /// The window our ACKs advertise.
    window: u16,
    flags: u8,
}

/// Timestamps are in use on this connection.
const TS_ON: u8 = 1;
/// The application still holds the handle.
const HELD: u8 = 2;
/// Removed; skipped until it reaches the head of the table.
const DEAD: u8 = 4;

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
    pub(crate) fn from_tcb(tcb: &Tcb, now: Instant, cfg: &Config, held: bool) -> TimeWait {
        // Linux tcp_time_wait(): what is still open of the last window.
        let wnd = if cfg.rcv_memory {
            tcb.rcv_wnd_open()
        } else {
            tcb.effective_rcv_wnd(cfg)
        };
        let field = (wnd >> tcb.rcv.wscale).min(65535) as u16;
        let mut flags = 0;
        if tcb.ts_ok {
            flags |= TS_ON;
        }
        if held {
            flags |= HELD;
        }
        TimeWait {
            tuple: CompactTuple::new((tcb.local, tcb.remote)),
            conn: tcb.id,
            snd_nxt: tcb.snd.max,
            rcv_nxt: tcb.rcv.nxt,
            ts_recent: tcb.rcv.ts_recent,
            window: field,
            deadline: now + cfg.time_wait,
            flags,
        }
    }

    /// (local, remote).
    pub(crate) fn tuple(&self) -> Tuple {
        self.tuple.get()
    }

    /// TS.Recent, when timestamps are in use.
    pub(crate) fn ts_recent(&self) -> Option<u32> {
        (self.flags & TS_ON != 0).then_some(self.ts_recent)
    }

    /// Does the application still hold the handle?
    pub(crate) fn held(&self) -> bool {
        self.flags & HELD != 0
    }

    /// The application released the handle.
    pub(crate) fn release(&mut self) {
        self.flags &= !HELD;
    }

    /// When the entry entered TIME-WAIT, or last restarted its 2MSL timer.
    pub(crate) fn entered(&self, cfg: &Config) -> Instant {
        Instant::from_micros(
            self.deadline
                .as_micros()
                .saturating_sub(cfg.time_wait.as_micros() as u64),
        )
    }

    /// The ACK this entry sends: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    /// `ts_offset` is the connection's timestamp offset (a keyed hash of
    /// the 4-tuple, so it is not stored).
    pub(crate) fn ack(&self, now: Instant, ts_offset: u32) -> CtlSegment {
        let (local, remote) = self.tuple();
        CtlSegment {
            local,
            remote,
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            rst: false,
            window: self.window,
            timestamps: self.ts_recent().map(|recent| Timestamps {
                tsval: (now.as_millis() as u32).wrapping_add(ts_offset),
                tsecr: recent,
            }),
            syn: None,
        }
    }

    /// SEGMENT ARRIVES in TIME-WAIT.
    pub(crate) fn on_segment(
        &mut self,
        now: Instant,
        cfg: &Config,
        ts_offset: u32,
        seg: &TcpRepr<'_>,
    ) -> TwAction {
        let flags = seg.flags;
        // RFC 7323 §5.3 PAWS applies here too (RFC 6191 relies on it).
        let seg_ts = seg.options.timestamps;
        let paws_reject = match (self.ts_recent(), seg_ts) {
            (Some(recent), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) < 0,
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
            let newer = match (self.ts_recent(), seg_ts) {
                (Some(recent), Some(ts)) => (ts.tsval.wrapping_sub(recent) as i32) > 0,
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
        TwAction::Ack(self.ack(now, ts_offset))
    }
}

impl TimeWait {
    /// A `ConnInfo` for a connection in TIME-WAIT (most counters are gone).
    pub(crate) fn info(&self, now: Instant, cfg: &Config) -> ConnInfo {
        let (local, remote) = self.tuple();
        ConnInfo {
            state: State::TimeWait,
            local,
            remote,
            state_age: now.saturating_duration_since(self.entered(cfg)),
            srtt: None,
            rttvar: core::time::Duration::ZERO,
            rto: core::time::Duration::ZERO,
            cwnd: 0,
            ssthresh: 0,
            snd_mss: 0,
            peer_mss: 0,
            snd_wscale: 0,
            rcv_wscale: 0,
            timestamps: self.ts_recent().is_some(),
            sack: false,
            backoff: 0,
            probes: 0,
            total_retransmits: 0,
            unacked: 0,
            unsent: 0,
            readable: 0,
            snd_wnd: 0,
            bytes_acked: 0,
            in_recovery: false,
            reordering: 0,
            reord_seen: 0,
            ca_state: 0,
            bytes_received: 0,
            soft_error: None,
            adv_mss: 0,
            unacked_segments: 0,
            sacked_segments: 0,
            lost_segments: 0,
            retrans_segments: 0,
            last_data_recv: core::time::Duration::ZERO,
            notsent_lowat: cfg.notsent_lowat,
            rcv_rtt: core::time::Duration::ZERO,
            rcv_mss: 0,
            rcv_buf: 0,
            rcv_mem: 0,
            rcv_ssthresh: 0,
            rcv_wnd: 0,
            ato: core::time::Duration::ZERO,
            min_rtt: None,
            snd_buf: 0,
            chrono: Default::default(),
            counts: Default::default(),
        }
    }
}

/// Every connection of an endpoint in TIME-WAIT, apart from the connection
/// slots: the entries in the order their 2MSL timers expire, and an index by
/// 4-tuple. TIME-WAIT lasts the same `Config::time_wait` for every entry, so
/// the order of entering is the order of expiry: the queue is the timer, and
/// arming, restarting and cancelling are O(1) (a restarted entry moves to the
/// back; a removed one is marked and dropped when it reaches the front).
pub(crate) struct TimeWaitTable {
    /// Entries, oldest deadline first.
    queue: VecDeque<TimeWait>,
    /// Position of `queue[0]`; positions only grow (wrapping).
    head: u32,
    /// 4-tuple → position, keyed like the connection table.
    index: HashTable<u32>,
    hasher: SipBuild,
    /// Live (not removed) entries.
    live: usize,
}

impl TimeWaitTable {
    pub(crate) fn new(hasher: SipBuild) -> TimeWaitTable {
        TimeWaitTable {
            queue: VecDeque::new(),
            head: 0,
            index: HashTable::new(),
            hasher,
            live: 0,
        }
    }

    fn at(&self, pos: u32) -> Option<&TimeWait> {
        self.queue.get(pos.wrapping_sub(self.head) as usize)
    }

    fn at_mut(&mut self, pos: u32) -> Option<&mut TimeWait> {
        self.queue.get_mut(pos.wrapping_sub(self.head) as usize)
    }

    /// The position of the live entry for `tuple`.
    pub(crate) fn find(&self, tuple: &Tuple) -> Option<u32> {
        let h = self.hasher.hash_one(tuple);
        self.index
            .find(h, |&p| self.at(p).is_some_and(|e| e.tuple() == *tuple))
            .copied()
    }

    pub(crate) fn get(&self, pos: u32) -> Option<&TimeWait> {
        self.at(pos).filter(|e| e.flags & DEAD == 0)
    }

    /// Add an entry (its 4-tuple must not be in the table). Its deadline is the
    /// latest, so it goes to the back.
    pub(crate) fn insert(&mut self, entry: TimeWait) {
        let tuple = entry.tuple();
        let pos = self.head.wrapping_add(self.queue.len() as u32);
        if self.queue.len() == self.queue.capacity() {
            // Grow by a sixteenth, not by doubling: the queue is most of an
            // entry's cost, and 48 bytes plus at most 3 of slack and the
            // index's share stays within 64 (issue 11).
            let more = (self.queue.capacity() / 16).max(64);
            self.queue.reserve_exact(more);
        }
        self.queue.push_back(entry);
        self.live += 1;
        let h = self.hasher.hash_one(tuple);
        let (queue, head, hasher) = (&self.queue, self.head, &self.hasher);
        self.index.insert_unique(h, pos, |&p| {
            let e = &queue[p.wrapping_sub(head) as usize];
            hasher.hash_one(e.tuple())
        });
    }

    /// A segment for the entry at `pos`: what to do, with the entry's timer
    /// moved if the segment restarted it.
    pub(crate) fn on_segment(
        &mut self,
        pos: u32,
        now: Instant,
        cfg: &Config,
        ts_offset: u32,
        seg: &TcpRepr<'_>,
    ) -> TwAction {
        let last = pos.wrapping_add(1) == self.head.wrapping_add(self.queue.len() as u32);
        let Some(e) = self.at_mut(pos) else {
            return TwAction::Drop;
        };
        let before = e.deadline;
        let action = e.on_segment(now, cfg, ts_offset, seg);
        if e.deadline != before && !last {
            // A restarted timer has the latest deadline: move to the back.
            let moved = e.clone();
            self.remove(pos);
            self.insert(moved);
        }
        action
    }

    /// Take the entry at `pos` out of the table.
    pub(crate) fn remove(&mut self, pos: u32) -> Option<TimeWait> {
        let e = self.at_mut(pos)?;
        if e.flags & DEAD != 0 {
            return None;
        }
        e.flags |= DEAD;
        let removed = e.clone();
        self.live -= 1;
        let h = self.hasher.hash_one(removed.tuple());
        if let Ok(entry) = self.index.find_entry(h, |&p| p == pos) {
            entry.remove();
        }
        self.drop_dead_front();
        Some(removed)
    }

    fn drop_dead_front(&mut self) {
        while self.queue.front().is_some_and(|e| e.flags & DEAD != 0) {
            self.queue.pop_front();
            self.head = self.head.wrapping_add(1);
        }
        if self.queue.is_empty() && self.queue.capacity() > 64 {
            self.queue.shrink_to(64);
        }
    }

    /// The earliest 2MSL deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|e| e.deadline)
    }

    /// The position of the entry whose timer expires first, if due by `now`.
    pub(crate) fn due(&self, now: Instant) -> Option<u32> {
        (self.queue.front()?.deadline <= now).then_some(self.head)
    }

    /// The live entries.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &TimeWait> + '_ {
        self.queue.iter().filter(|e| e.flags & DEAD == 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn get_mut(&mut self, pos: u32) -> Option<&mut TimeWait> {
        self.at_mut(pos).filter(|e| e.flags & DEAD == 0)
    }

    /// Heap bytes: the queue (removed entries waiting to reach the front
    /// included), the index, and the boxed addresses of non-IPv4 entries.
    pub(crate) fn heap_bytes(&self) -> usize {
        let boxed = self
            .iter()
            .filter(|e| matches!(e.tuple, CompactTuple::Other(_)))
            .count();
        self.queue.capacity() * core::mem::size_of::<TimeWait>()
            + self.index.capacity() * (core::mem::size_of::<u32>() + 1)
            + boxed * core::mem::size_of::<Tuple>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::net::SocketAddr;
    use core::time::Duration;
    use finack_wire::TcpFlags;

    fn entry(port: u16, deadline: Instant) -> TimeWait {
        let local: Tuple = (
            "192.0.2.1:80".parse().unwrap(),
            SocketAddr::from(([198, 51, 100, 7], port)),
        );
        TimeWait {
            tuple: CompactTuple::new(local),
            conn: ConnId {
                index: u32::from(port),
                gen: 0,
            },
            deadline,
            snd_nxt: SeqNumber(1000),
            rcv_nxt: SeqNumber(5000),
            ts_recent: 0,
            window: 100,
            flags: 0,
        }
    }

    fn table() -> TimeWaitTable {
        TimeWaitTable::new(SipBuild { k0: 1, k1: 2 })
    }

    #[test]
    fn an_entry_is_48_bytes() {
        assert!(core::mem::size_of::<TimeWait>() <= 48);
    }

    #[test]
    fn rfc9293_3_10_7_4_a_retransmitted_fin_restarts_2msl_and_the_entry_moves_to_the_back() {
        let cfg = Config::linux();
        let t0 = Instant::ZERO + cfg.time_wait;
        let mut tw = table();
        for (i, port) in [40000, 40001, 40002].into_iter().enumerate() {
            tw.insert(entry(port, t0 + Duration::from_secs(i as u64)));
        }
        assert_eq!(tw.next_deadline(), Some(t0));
        let first = tw.find(&entry(40000, t0).tuple()).unwrap();
        let fin = TcpRepr {
            flags: TcpFlags::FIN | TcpFlags::ACK,
            seq: SeqNumber(4999),
            ack: SeqNumber(1000),
            ..TcpRepr::default()
        };
        let now = Instant::ZERO + Duration::from_secs(10);
        let action = tw.on_segment(first, now, &cfg, 0, &fin);
        assert!(matches!(action, TwAction::Ack(_)), "{action:?}");
        // The restarted entry now expires last; the next one is first due.
        assert_eq!(tw.next_deadline(), Some(t0 + Duration::from_secs(1)));
        let moved = tw.find(&entry(40000, t0).tuple()).unwrap();
        assert_eq!(tw.get(moved).unwrap().deadline, now + cfg.time_wait);
        assert_eq!(tw.len(), 3);
        // Expiry order: 40001, 40002, then the restarted 40000.
        let mut order = Vec::new();
        while let Some(pos) = tw.due(Instant::from_secs(10_000)) {
            let e = tw.remove(pos).unwrap();
            order.push(e.tuple().1.port());
        }
        assert_eq!(order, [40001, 40002, 40000]);
        assert_eq!(tw.len(), 0);
        assert_eq!(tw.next_deadline(), None);
    }

    #[test]
    fn removed_entries_are_not_found_and_do_not_expire() {
        let cfg = Config::linux();
        let t0 = Instant::ZERO + cfg.time_wait;
        let mut tw = table();
        tw.insert(entry(40000, t0));
        tw.insert(entry(40001, t0));
        let second = tw.find(&entry(40001, t0).tuple()).unwrap();
        assert!(tw.remove(second).is_some());
        assert!(tw.remove(second).is_none(), "removed once");
        assert_eq!(tw.find(&entry(40001, t0).tuple()), None);
        assert_eq!(tw.len(), 1);
        let pos = tw.due(t0).unwrap();
        assert_eq!(tw.remove(pos).unwrap().tuple().1.port(), 40000);
        assert_eq!(tw.due(t0 + Duration::from_secs(1)), None);
    }
}
