//! RACK loss detection (RFC 8985 §6) as Linux does it (net/ipv4/tcp_recovery.c):
//! a segment is lost once a segment sent after it has been delivered and
//! more than the latest round-trip time plus a reordering window has passed
//! since it was sent. Time, not a count of duplicate ACKs or of SACKed
//! octets, decides, so a lost retransmission is detected as a lost original
//! is, and reordering within the window costs nothing.
//!
//! The per-segment record it needs ([`SentLog`]: when each segment was last
//! sent, and whether it is SACKed, lost or retransmitted) lives in the send
//! ring, which exists while data is queued.

use alloc::collections::VecDeque;
use core::time::Duration;

use finack_wire::SeqNumber;

use crate::time::Instant;

/// The segment was SACKed (Linux TCPCB_SACKED_ACKED).
pub(crate) const SACKED: u8 = 1;
/// The segment is marked lost (Linux TCPCB_LOST).
pub(crate) const LOST: u8 = 2;
/// A retransmission of the segment is in flight (Linux TCPCB_SACKED_RETRANS).
pub(crate) const RETRANS: u8 = 4;
/// The segment was retransmitted at some time (Linux TCPCB_RETRANS, "ever").
pub(crate) const EVER_RETRANS: u8 = 8;
/// The segment and the next record are one skb of Linux's retransmission
/// queue: they left in one GSO packet and nothing has cut them apart since
/// (see [`SentLog::rexmit_packet_end`]).
pub(crate) const SKB_NEXT: u8 = 16;

/// One transmitted segment: `start..end` in sequence space (a FIN counts),
/// when it was last sent, and its `SACKED`/`LOST`/`RETRANS` flags.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SentSeg {
    pub(crate) start: SeqNumber,
    pub(crate) end: SeqNumber,
    pub(crate) at: Instant,
    /// Transmissions made before this one (see [`sent_after`]).
    pub(crate) order: u32,
    pub(crate) flags: u8,
}

impl SentSeg {
    fn len(&self) -> u32 {
        (self.end - self.start).max(0) as u32
    }
}

/// Running counts over the records, kept as each record changes so that an
/// ACK or a send does not walk the whole flight (Linux keeps `sacked_out`,
/// `lost_out`, `retrans_out` and tcp_packets_in_flight()'s terms in the
/// socket for the same reason).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Records with `SACKED`, `LOST`, `RETRANS`.
    sacked: u32,
    lost: u32,
    retrans: u32,
    /// Octets in flight ([`SentLog::pipe`]).
    pipe: u32,
}

impl Tally {
    /// `s`'s terms: (sacked, lost, retrans, pipe octets).
    fn terms(s: &SentSeg) -> (u32, u32, u32, u32) {
        let has = |f: u8| u32::from(s.flags & f != 0);
        let pipe = if s.flags & SACKED != 0 {
            0
        } else {
            s.len() * (1 - has(LOST)) + s.len() * has(RETRANS)
        };
        (has(SACKED), has(LOST), has(RETRANS), pipe)
    }

    fn add(&mut self, s: &SentSeg) {
        self.apply(s, u32::wrapping_add);
    }

    fn sub(&mut self, s: &SentSeg) {
        self.apply(s, u32::wrapping_sub);
    }

    /// Count `s` in (`wrapping_add`) or out (`wrapping_sub`).
    fn apply(&mut self, s: &SentSeg, op: fn(u32, u32) -> u32) {
        let (a, b, c, d) = Tally::terms(s);
        self.sacked = op(self.sacked, a);
        self.lost = op(self.lost, b);
        self.retrans = op(self.retrans, c);
        self.pipe = op(self.pipe, d);
    }

    /// The counts of `segs`, from scratch.
    fn of<'a>(segs: impl Iterator<Item = &'a SentSeg>) -> Tally {
        let mut t = Tally::default();
        for s in segs {
            t.add(s);
        }
        t
    }
}

/// The segments sent and not yet cumulatively acknowledged, in sequence
/// order, with RACK's per-flight state (RFC 8985 §6.1: RACK.xmit_ts,
/// RACK.end_seq, RACK.rtt; Linux `tp->rack`).
#[derive(Clone, Debug, Default)]
pub(crate) struct SentLog {
    segs: VecDeque<SentSeg>,
    /// RACK.xmit_ts: send time of the most recently sent segment delivered.
    mstamp: Option<Instant>,
    /// RACK.end_seq: that segment's end, and its place in send order.
    end_seq: SeqNumber,
    order: u32,
    /// Transmissions recorded (the next one's `order`).
    sends: u32,
    /// RACK.rtt: the round-trip time of the last segment delivered.
    rtt: Duration,
    /// Linux `rack.advanced`: a delivery moved the state since the last scan.
    advanced: bool,
    /// The loss-probe timer slot holds the reordering timer (Linux
    /// ICSK_TIME_REO_TIMEOUT in `icsk_pending`).
    pub(crate) reo_armed: bool,
    /// Counts over `segs`.
    tally: Tally,
    /// The end of the highest SACKed record (Linux's fack): records leave
    /// only from the front and lose `SACKED` only on an RTO, so the highest
    /// end marked since stays right until then or until SND.UNA passes it.
    fack: Option<SeqNumber>,
}

/// Linux tcp.h: tcp_skb_sent_after(): was segment 1 sent after segment 2?
/// Linux compares send times (its clock is read anew for each ACK it
/// processes) and orders equal times, one burst, by sequence. Our clock
/// stands still while an instant's events run, so equal times are ordered
/// by send order first (within one burst the same as sequence order; a
/// retransmission that followed new data in the same instant is later).
fn sent_after(a: &SentSeg, t2: Instant, order2: u32, seq2: SeqNumber) -> bool {
    let later = a.order.wrapping_sub(order2) as i32;
    a.at > t2 || (a.at == t2 && (later > 0 || (later == 0 && a.end.gt(seq2))))
}

/// Linux TCP_RACK_RECOVERY_THRESH: recoveries without D-SACK before a
/// widened reordering window returns to its base.
pub(crate) const REO_WND_PERSIST: u8 = 16;

/// RFC 8985 §6.2 step 4, Linux tcp_rack_reo_wnd(): a quarter of the minimum
/// RTT per step, at most SRTT (SRTT alone before any RTT sample).
pub(crate) fn reo_wnd(min_rtt: Option<Duration>, srtt: Duration, steps: u8) -> Duration {
    match min_rtt {
        Some(m) => (m / 4 * u32::from(steps.max(1))).min(srtt),
        None => srtt,
    }
}

/// Was RACK's segment (sent at `t`, `order`-th, ending at `end`) sent after
/// `s`?
fn sent_after_rack(t: Instant, order: u32, end: SeqNumber, s: &SentSeg) -> bool {
    let rack = SentSeg {
        start: end,
        end,
        at: t,
        order,
        flags: 0,
    };
    sent_after(&rack, s.at, s.order, s.end)
}

/// What the records an ACK delivered told.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Deliveries {
    /// Inputs: the time, the minimum RTT, and the highest SACKed sequence
    /// before the ACK (Linux `prior_fack`).
    pub(crate) now: Instant,
    pub(crate) min_rtt: Option<Duration>,
    pub(crate) prior_fack: Option<SeqNumber>,
    /// Records delivered.
    pub(crate) count: u32,
    /// The lowest start of a never-retransmitted record delivered below
    /// `prior_fack` (reordering seen), if any.
    pub(crate) reord_low: Option<SeqNumber>,
    /// The least RTT of the never-retransmitted records delivered.
    pub(crate) rtt: Option<Duration>,
    /// When the lowest never-retransmitted record SACKed now was sent
    /// (Linux `first_sackt`, for `sack_rtt_us`).
    pub(crate) first_sacked_at: Option<Instant>,
    /// In the loss state after an RTO, its recovery point (Linux
    /// `high_seq`), and whether a record ending at or below it that was
    /// never retransmitted was delivered now (FLAG_ORIG_SACK_ACKED).
    pub(crate) orig_below: Option<SeqNumber>,
    pub(crate) orig: bool,
}

impl Deliveries {
    pub(crate) fn new(
        now: Instant,
        min_rtt: Option<Duration>,
        prior_fack: Option<SeqNumber>,
    ) -> Self {
        Deliveries {
            now,
            min_rtt,
            prior_fack,
            count: 0,
            reord_low: None,
            rtt: None,
            first_sacked_at: None,
            orig_below: None,
            orig: false,
        }
    }
}

/// What one scan for losses found.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Segments newly marked lost.
    pub(crate) newly_lost: u32,
    /// Of them, retransmissions that were lost again.
    pub(crate) lost_retrans: u32,
    /// The longest time a not-yet-lost segment must still wait (Linux
    /// `reo_timeout`): the reordering timer is due then.
    pub(crate) wait: Option<Duration>,
}

impl SentLog {
    /// Heap bytes the records take.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.segs.capacity() * core::mem::size_of::<SentSeg>()
    }

    /// Cut the record holding `seq` strictly inside in two (Linux fragments
    /// an skb when only part of it is SACKed or retransmitted).
    fn split_at(&mut self, seq: SeqNumber) {
        let i = self.segs.partition_point(|s| s.end.le(seq));
        if let Some(s) = self.segs.get(i).copied() {
            if s.start.lt(seq) && seq.lt(s.end) {
                self.tally.sub(&s);
                self.segs[i].end = seq;
                // Linux tcp_output.c: tcp_fragment(): two skbs from here on.
                self.segs[i].flags &= !SKB_NEXT;
                self.segs.insert(i + 1, SentSeg { start: seq, ..s });
                self.tally.add(&self.segs[i]);
                self.tally.add(&self.segs[i + 1]);
            }
        }
    }

    /// `start..end` left at `now`: new data is appended; a retransmission
    /// stamps the records it covers with the new time and a retransmission
    /// in flight (Linux tcp_retransmit_skb() moves the skb
    /// to the tail of the time-sorted list).
    pub(crate) fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if !start.lt(end) {
            return;
        }
        let order = self.sends;
        self.sends = self.sends.wrapping_add(1);
        let top = self.segs.back().map(|s| s.end);
        if top.is_none_or(|t| t.le(start)) {
            self.push(SentSeg {
                start,
                end,
                at: now,
                order,
                flags: 0,
            });
            return;
        }
        self.split_at(start);
        self.split_at(end);
        let first = self.segs.partition_point(|s| s.start.lt(start));
        if first > 0 && !self.resent_with(first - 1, now) {
            // Linux resends an skb from its head: what starts mid-skb was
            // cut off first (tcp_output.c: tcp_send_loss_probe() cuts the
            // last segment off with tcp_fragment(), say).
            self.segs[first - 1].flags &= !SKB_NEXT;
        }
        let tally = &mut self.tally;
        for s in self.segs.range_mut(first..) {
            if !s.end.le(end) {
                break;
            }
            tally.sub(s);
            s.at = now;
            s.order = order;
            // Linux keeps TCPCB_LOST on a retransmitted skb (it counts
            // in `lost_out` and, retransmitted, in `retrans_out`).
            s.flags |= RETRANS | EVER_RETRANS;
            tally.add(s);
        }
        // What goes beyond the records (sent again after an RTO pulled
        // SND.NXT back and now past what was ever sent) is new.
        if let Some(t) = top.filter(|t| t.lt(end)) {
            self.push(SentSeg {
                start: t,
                end,
                at: now,
                order,
                flags: 0,
            });
        }
        self.check();
    }

    fn push(&mut self, s: SentSeg) {
        self.tally.add(&s);
        self.segs.push_back(s);
    }

    /// In debug builds: the running counts agree with the records.
    fn check(&self) {
        debug_assert_eq!(self.tally, Tally::of(self.segs.iter()));
        debug_assert_eq!(
            self.fack,
            self.segs
                .iter()
                .rev()
                .find(|s| s.flags & SACKED != 0)
                .map(|s| s.end)
        );
    }

    /// Mark what `sacked` (sorted, disjoint ranges) covers as SACKed: each
    /// record newly covered whole was delivered (Linux tcp_sacktag_one()).
    /// A record is one segment: Linux splits an skb only at whole segments
    /// (tcp_match_skb_to_sack()), so a block covering part of a segment
    /// SACKs nothing.
    /// The blocks are sorted, so records are delivered in sequence order.
    pub(crate) fn on_sacked(&mut self, sacked: &[(SeqNumber, SeqNumber)], d: &mut Deliveries) {
        for &(l, r) in sacked {
            let mut i = self.segs.partition_point(|s| s.start.lt(l));
            while let Some(s) = self.segs.get(i).copied() {
                if !s.end.le(r) {
                    break;
                }
                if s.flags & SACKED == 0 {
                    self.tally.sub(&s);
                    // Linux tcp_input.c: tcp_match_skb_to_sack() cuts the
                    // SACKed part out of its skb (tcp_fragment()), or
                    // tcp_shift_skb_data() moves it onto the SACKed skb
                    // before: no skb holds SACKed and unSACKed segments.
                    if i > 0 {
                        self.segs[i - 1].flags &= !SKB_NEXT;
                    }
                    self.segs[i].flags = (s.flags | SACKED) & !(LOST | RETRANS | SKB_NEXT);
                    self.tally.add(&self.segs[i]);
                    self.fack = Some(self.fack.map_or(s.end, |f| f.max(s.end)));
                    if s.flags & EVER_RETRANS == 0 && d.first_sacked_at.is_none() {
                        d.first_sacked_at = Some(s.at);
                    }
                    self.deliver(&s, false, d);
                }
                i += 1;
            }
        }
        self.check();
    }

    /// When the oldest segment still in the record was sent (Linux: the
    /// head of the retransmission queue).
    pub(crate) fn head_sent_at(&self) -> Option<Instant> {
        self.segs.front().map(|s| s.at)
    }

    /// When the oldest segment below `ack` not SACKed before was sent, for an
    /// RTT sample: none if a segment below `ack` was ever retransmitted
    /// (Karn). Linux tcp_input.c: tcp_clean_rtx_queue(): first_ackt, and
    /// no seq_rtt with FLAG_RETRANS_DATA_ACKED.
    pub(crate) fn first_acked_sent_at(&self, ack: SeqNumber) -> Option<Instant> {
        let mut first = None;
        for s in self.segs.iter().take_while(|s| s.start.lt(ack)) {
            if s.flags & EVER_RETRANS != 0 {
                return None;
            }
            if s.flags & SACKED == 0 && first.is_none() {
                first = Some(s.at);
            }
        }
        first
    }

    /// SND.UNA moved to `una`: the records it passes leave the log; those
    /// not SACKED before were delivered now (Linux tcp_clean_rtx_queue()),
    /// RACK advancing unless `spurious` says the original transmission of a
    /// retransmitted record was what arrived (tcp_skb_spurious_retrans()).
    pub(crate) fn on_acked(
        &mut self,
        una: SeqNumber,
        d: &mut Deliveries,
        spurious: impl Fn(&SentSeg) -> bool,
    ) {
        while let Some(&s) = self.segs.front() {
            let part = if s.end.le(una) {
                self.segs.pop_front();
                self.tally.sub(&s);
                s
            } else if s.start.lt(una) {
                self.tally.sub(&s);
                self.segs[0].start = una;
                self.tally.add(&self.segs[0]);
                SentSeg { end: una, ..s }
            } else {
                break;
            };
            if part.flags & SACKED == 0 {
                let spurious = spurious(&part);
                self.deliver(&part, spurious, d);
            }
        }
        if self.fack.is_some_and(|f| f.le(una)) {
            self.fack = None;
        }
        self.check();
    }

    /// What a cumulative ACK up to `ack` tells about send times (Linux
    /// tcp_clean_rtx_queue()): whether it covers a segment that was ever
    /// retransmitted (FLAG_RETRANS_DATA_ACKED), and the send time of the
    /// last segment it covers whole that was neither retransmitted nor
    /// SACKed before (`last_ackt`).
    pub(crate) fn cum_acked_sends(&self, ack: SeqNumber) -> (bool, Option<Instant>) {
        let mut retrans = false;
        let mut last = None;
        for s in self.segs.iter().take_while(|s| s.end.le(ack)) {
            if s.flags & EVER_RETRANS != 0 {
                retrans = true;
            } else if s.flags & SACKED == 0 {
                last = Some(s.at);
            }
        }
        (retrans, last)
    }

    fn deliver(&mut self, s: &SentSeg, spurious: bool, d: &mut Deliveries) {
        d.count += 1;
        if s.flags & EVER_RETRANS == 0 {
            // Linux tcp_input.c: tcp_check_sack_reordering(): a hole that
            // was never retransmitted filled below the highest SACKed
            // sequence: the network reordered.
            if d.prior_fack.is_some_and(|f| s.start.lt(f)) {
                d.reord_low = Some(d.reord_low.map_or(s.start, |l| l.min(s.start)));
            }
            let rtt = d.now.saturating_duration_since(s.at);
            d.rtt = Some(d.rtt.map_or(rtt, |r| r.min(rtt)));
            if d.orig_below.is_some_and(|h| s.end.le(h)) {
                d.orig = true;
            }
        }
        if !spurious {
            self.advance(s, d.now, d.min_rtt);
        }
    }

    /// An RTO: every mark goes (the scoreboard is cleared and everything is
    /// sent again from SND.UNA), send times and the skbs' bounds stay.
    pub(crate) fn on_rto(&mut self) {
        for s in self.segs.iter_mut() {
            s.flags &= EVER_RETRANS | SKB_NEXT;
        }
        self.tally = Tally::of(self.segs.iter());
        self.fack = None;
        self.reo_armed = false;
    }

    /// An RTO in Linux's loss state (tcp_input.c: tcp_timeout_mark_lost()):
    /// SACKed records stay SACKed, unless the head is SACKed (the receiver
    /// reneged: every SACK mark goes). The head and every record sent more
    /// than RACK's RTT ago are marked lost (tcp_mark_skb_lost(): a record
    /// already lost whose retransmission is out counts that retransmission
    /// as lost too; one newly lost keeps its retransmission in flight,
    /// except the head, which the timeout resends).
    /// Returns whether the receiver reneged.
    pub(crate) fn on_rto_mark_lost(&mut self, now: Instant) -> bool {
        let reneged = self.segs.front().is_some_and(|s| s.flags & SACKED != 0);
        let rtt = self.rtt;
        for (i, s) in self.segs.iter_mut().enumerate() {
            if reneged {
                s.flags &= !SACKED;
            } else if s.flags & SACKED != 0 {
                continue;
            } else if i > 0 && now.saturating_duration_since(s.at) < rtt {
                // Sent recently: not yet (tcp_rack_skb_timeout() > 0).
                continue;
            }
            if s.flags & LOST != 0 || i == 0 {
                // The head goes out again at once whatever its marks
                // (tcp_retransmit_timer() resends it).
                s.flags &= !RETRANS;
            }
            s.flags |= LOST;
        }
        self.tally = Tally::of(self.segs.iter());
        if reneged {
            self.fack = None;
        }
        self.reo_armed = false;
        self.check();
        reneged
    }

    /// The records of `start..end` were just resent as a loss probe: Linux
    /// tcp_send_loss_probe() resends with __tcp_retransmit_skb(), which
    /// marks the skb as ever retransmitted but leaves it out of
    /// `retrans_out` (no TCPCB_SACKED_RETRANS): it counts in flight once.
    pub(crate) fn probe_resent(&mut self, start: SeqNumber, end: SeqNumber) {
        let first = self.segs.partition_point(|s| s.start.lt(start));
        let tally = &mut self.tally;
        for s in self.segs.range_mut(first..) {
            if !s.end.le(end) {
                break;
            }
            tally.sub(s);
            s.flags &= !RETRANS;
            tally.add(s);
        }
        self.check();
    }

    /// The last record: the last segment as it was sent (`start..end`).
    pub(crate) fn last_sent(&self) -> Option<(SeqNumber, SeqNumber)> {
        self.segs.back().map(|s| (s.start, s.end))
    }

    /// Something resent is outstanding, or the head was ever resent (Linux
    /// tcp_any_retrans_done()).
    pub(crate) fn any_retrans_done(&self) -> bool {
        self.tally.retrans > 0
            || self
                .segs
                .front()
                .is_some_and(|s| s.flags & EVER_RETRANS != 0)
    }

    /// The head record was resent since it was last marked lost.
    pub(crate) fn head_resent(&self) -> bool {
        self.segs.front().is_some_and(|s| s.flags & RETRANS != 0)
    }

    /// A spurious timeout undone (Linux tcp_undo_cwnd_reduction() with
    /// `unmark_loss`): no record is lost any more, and RACK looks at the
    /// flight afresh (`rack.advanced`).
    pub(crate) fn unmark_lost(&mut self) {
        for s in self.segs.iter_mut() {
            s.flags &= !LOST;
        }
        self.tally = Tally::of(self.segs.iter());
        self.advanced = true;
        self.check();
    }

    /// Linux tcp_recovery.c: tcp_rack_advance() (RFC 8985 §6.2 step 2): a
    /// segment sent at `at` and ending at `end` was delivered (`retrans`: it
    /// had been retransmitted). A retransmitted segment delivered sooner than
    /// the minimum RTT after its retransmission was the original's delivery:
    /// it says nothing about the retransmission.
    pub(crate) fn advance(&mut self, seg: &SentSeg, now: Instant, min_rtt: Option<Duration>) {
        let rtt = now.saturating_duration_since(seg.at);
        if seg.flags & EVER_RETRANS != 0 && min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        self.advanced = true;
        self.rtt = rtt;
        if self
            .mstamp
            .is_none_or(|m| sent_after(seg, m, self.order, self.end_seq))
        {
            self.mstamp = Some(seg.at);
            self.end_seq = seg.end;
            self.order = seg.order;
        }
    }

    /// Take the `advanced` flag (Linux tcp_rack_mark_lost() scans only
    /// after a delivery moved RACK's state).
    pub(crate) fn take_advanced(&mut self) -> bool {
        core::mem::take(&mut self.advanced)
    }

    /// Linux tcp_recovery.c: tcp_rack_detect_loss() (RFC 8985 §6.2 step 5):
    /// every segment sent before the most recently sent delivered one, not
    /// SACKed and not waiting, lost, for its retransmission, is lost once
    /// RACK.rtt + `reo_wnd` has passed since it was sent; otherwise the
    /// scan notes how long it still has.
    pub(crate) fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> Scan {
        let mut scan = Scan::default();
        let Some(mstamp) = self.mstamp else {
            return scan;
        };
        let (end_seq, order) = (self.end_seq, self.order);
        let budget = self.rtt + reo_wnd;
        let tally = &mut self.tally;
        for s in self.segs.iter_mut() {
            if s.flags & SACKED != 0 || s.flags & (LOST | RETRANS) == LOST {
                continue;
            }
            if !sent_after_rack(mstamp, order, end_seq, s) {
                // Linux walks its time-sorted list and stops at the first
                // segment sent after RACK's. This log is in sequence order;
                // but every record above an original transmission was last
                // sent no earlier (and later in send order) than it, so
                // past an original sent after RACK's segment none was sent
                // before it.
                if s.flags & EVER_RETRANS == 0 {
                    break;
                }
                continue;
            }
            let elapsed = now.saturating_duration_since(s.at);
            if elapsed >= budget {
                // Linux tcp_input.c: tcp_mark_skb_lost(): a retransmission
                // lost again is no longer in flight.
                if s.flags & RETRANS != 0 {
                    scan.lost_retrans += 1;
                }
                tally.sub(s);
                s.flags = (s.flags | LOST) & !RETRANS;
                tally.add(s);
                scan.newly_lost += 1;
            } else {
                let left = budget - elapsed;
                scan.wait = Some(scan.wait.map_or(left, |w| w.max(left)));
            }
        }
        self.check();
        scan
    }

    /// New data from `start` leaves (or left) in the same GSO packet as the
    /// record ending there: one skb (Linux tcp_write_xmit() sends each skb,
    /// cut to size by tso_fragment(), as one packet).
    pub(crate) fn join_prev(&mut self, start: SeqNumber) {
        // New data: the record ending at `start` is one of the last two
        // (before or after the new one is logged), found without a search;
        // data sent again below the top is looked up.
        let n = self.segs.len();
        let p = (n.saturating_sub(2)..n)
            .find(|&i| self.segs[i].end == start)
            .or_else(|| {
                let i = self.segs.partition_point(|s| s.start.lt(start));
                i.checked_sub(1).filter(|&p| self.segs[p].end == start)
            });
        if let Some(p) = p {
            self.segs[p].flags |= SKB_NEXT;
        }
    }

    /// Was record `i`, one skb with the next, resent at `now` (the packet
    /// being resent goes on with the next record)?
    fn resent_with(&self, i: usize, now: Instant) -> bool {
        let s = &self.segs[i];
        s.flags & SKB_NEXT != 0 && s.flags & RETRANS != 0 && s.at == now
    }

    /// Linux tcp_output.c: tcp_xmit_retransmit_queue() resends an skb
    /// from its head: __tcp_retransmit_skb() takes up to `budget`
    /// segments of it (the free congestion window, tcp_tso_segs()), cuts
    /// the rest off (tcp_fragment()) and sends what it took as one GSO
    /// packet; __tcp_transmit_skb() sets PSH on such a packet of more than
    /// one segment, which segmentation leaves on its last segment.
    ///
    /// `seq..end` is about to be resent at `now`, one segment. If the
    /// record before it was resent now as the same skb, it goes on with
    /// that packet; otherwise it starts one, and here the records it takes
    /// are chosen: the ones after it in its skb, neither SACKed nor resent
    /// already, `budget` in all at most. Returns whether the segment ends
    /// a packet of two or more segments.
    pub(crate) fn rexmit_packet_end(
        &mut self,
        seq: SeqNumber,
        end: SeqNumber,
        budget: u32,
        now: Instant,
    ) -> bool {
        let i = self.segs.partition_point(|s| s.start.lt(seq));
        if self.segs.get(i).is_none_or(|s| s.start != seq) {
            return false;
        }
        let goes_on = i > 0 && self.resent_with(i - 1, now);
        if !goes_on {
            if i > 0 {
                self.segs[i - 1].flags &= !SKB_NEXT;
            }
            let (mut last, mut n) = (i, 1);
            while n < budget && self.segs[last].flags & SKB_NEXT != 0 {
                match self.segs.get(last + 1) {
                    Some(t) if t.flags & (SACKED | RETRANS) == 0 => (last, n) = (last + 1, n + 1),
                    _ => break,
                }
            }
            self.segs[last].flags &= !SKB_NEXT;
        }
        // A segment that is not exactly its record (short records joined
        // by tcp_retrans_try_collapse(), a smaller MSS) counts alone.
        goes_on && self.segs[i].end == end && self.segs[i].flags & SKB_NEXT == 0
    }

    /// Segments SACKed (Linux `sacked_out`, counting records).
    pub(crate) fn sacked(&self) -> u32 {
        self.tally.sacked
    }

    /// Segments marked lost (Linux `lost_out`, counting records).
    pub(crate) fn lost(&self) -> u32 {
        self.tally.lost
    }

    /// Segments retransmitted and neither acknowledged nor SACKed since
    /// (Linux `retrans_out`, `tcpi_retrans`).
    pub(crate) fn retrans_out(&self) -> u32 {
        self.tally.retrans
    }

    /// `retrans_out` once the records SND.UNA `una` passed have left (an
    /// ACK's recovery step runs before they leave the log).
    pub(crate) fn retrans_out_above(&self, una: SeqNumber) -> u32 {
        let passed = self.segs.iter().take_while(|s| s.end.le(una));
        self.tally.retrans - passed.filter(|s| s.flags & RETRANS != 0).count() as u32
    }

    /// The first segment lost and not yet retransmitted (what Linux's
    /// tcp_xmit_retransmit_queue() sends next), as `(start, octets)`.
    pub(crate) fn next_lost(&self) -> Option<(SeqNumber, u32)> {
        if self.tally.lost == 0 {
            return None;
        }
        let i = self
            .segs
            .iter()
            .position(|s| s.flags & (LOST | RETRANS | SACKED) == LOST)?;
        let start = self.segs[i].start;
        // Adjacent lost records go out together, up to a segment.
        let mut end = self.segs[i].end;
        for s in self.segs.iter().skip(i + 1) {
            if s.start != end || s.flags & (LOST | RETRANS | SACKED) != LOST {
                break;
            }
            end = s.end;
        }
        Some((start, (end - start) as u32))
    }

    /// Octets in flight (Linux tcp_packets_in_flight(): sent, minus SACKed
    /// and lost, plus retransmissions in flight; RFC 6675 pipe).
    pub(crate) fn pipe(&self) -> u32 {
        self.tally.pipe
    }

    /// The end of the highest SACKed record (Linux's fack,
    /// tcp_highest_sack_seq()).
    pub(crate) fn highest_sacked_end(&self) -> Option<SeqNumber> {
        self.fack
    }
}

#[cfg(test)]
mod tests;
