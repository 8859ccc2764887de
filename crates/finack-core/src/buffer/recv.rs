//! The receive buffer: the ring of in-order bytes not yet read and the
//! out-of-order ranges held in place beyond them.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::clamp_u32;

/// Most out-of-order ranges remembered at once; segments that would open more
/// holes are dropped (the peer retransmits them).
pub(crate) const MAX_OOO_RANGES: usize = 16;

/// The receive buffer: a ring of `cap` bytes holding the in-order bytes the
/// application has not read and, beyond them, the out-of-order bytes
/// received so far (RFC 9293 SHLD-31), written in place.
///
/// The ring and its bookkeeping live in one allocation, taken when data
/// arrives and released when a read leaves nothing buffered (no unread
/// bytes, no out-of-order ranges), so an idle connection holds a null
/// pointer and the size here. The ring's storage grows with what it holds,
/// doubling up to `cap` and never zeroed in advance, so a small message
/// costs a small allocation and a bulk transfer allocates a handful of times
/// per emptying of the ring, not per segment. The window advertised is
/// computed from `cap` and the bytes held (`free`), never from the
/// allocation, so taking and releasing the ring does not change it.
#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    ring: Option<Box<RecvRing>>,
    /// The ring's size (SO_RCVBUF), 32 bits like Linux's `sk_rcvbuf`.
    cap: u32,
    /// When in-order data last arrived, in milliseconds modulo 2^32 (Linux
    /// `icsk_ack.lrcvtime`, a 32-bit jiffies stamp); kept beside the limit so
    /// that the control block does not grow.
    data_rcvd_ms: u32,
}

#[derive(Debug, Default)]
struct RecvRing {
    /// Ring storage, indexed modulo `cap`; its length is how far it has been
    /// written (at most `cap`), its capacity what is allocated.
    buf: Vec<u8>,
    /// Ring index of the first unread byte.
    head: usize,
    /// In-order bytes not yet read.
    len: usize,
    /// Out-of-order ranges `[start, end)`, as offsets from the end of the
    /// in-order bytes: sorted, disjoint, not adjacent, never starting at 0;
    /// each with the `arrivals` count when data last came into it.
    ooo: Vec<(usize, usize, u32)>,
    /// Out-of-order arrivals so far, to order the ranges by recency.
    arrivals: u32,
    /// `arrivals` when what SACK blocks say was last thrown away (Linux
    /// tcp_sack_reset() after pruning): ranges no data came into since are
    /// not announced.
    sack_reset: Option<u32>,
    /// `arrivals` when a FIN came out of order apart from the data held
    /// (Linux queues it as an empty segment whose SACK block is the FIN).
    fin_arrival: Option<u32>,
}

/// Smallest storage a receive ring allocates.
const MIN_RING: usize = 1024;

impl RecvRing {
    /// Write `data` at ring index `at` (`at + data.len() <= cap`), growing
    /// the storage when it does not reach that far yet: to twice its size, or
    /// what is needed if more, but never beyond `cap`. Bytes skipped over
    /// (a gap before out-of-order data) are zeroed; the in-order data that
    /// fills the gap later overwrites them.
    fn put(&mut self, at: usize, data: &[u8], cap: usize) {
        if data.is_empty() {
            return;
        }
        let end = at + data.len();
        if end > self.buf.capacity() {
            let want = end
                .max(2 * self.buf.capacity())
                .max(MIN_RING)
                .min(cap)
                .max(end);
            self.buf.reserve_exact(want - self.buf.len());
        }
        if at > self.buf.len() {
            self.buf.resize(at, 0);
        }
        let inside = (self.buf.len() - at).min(data.len());
        self.buf[at..at + inside].copy_from_slice(&data[..inside]);
        self.buf.extend_from_slice(&data[inside..]);
    }
}

/// What an unallocated receive ring reads as.
static EMPTY: RecvRing = RecvRing {
    buf: Vec::new(),
    head: 0,
    len: 0,
    ooo: Vec::new(),
    arrivals: 0,
    sack_reset: None,
    fin_arrival: None,
};

impl RecvBuf {
    pub(crate) fn new(cap: usize) -> RecvBuf {
        RecvBuf {
            ring: None,
            cap: clamp_u32(cap),
            data_rcvd_ms: 0,
        }
    }

    /// Note that data arrived at `now_ms` (milliseconds, any origin).
    pub(crate) fn note_data(&mut self, now_ms: u64) {
        self.data_rcvd_ms = now_ms as u32;
    }

    /// Milliseconds from the last [`note_data`](Self::note_data) to `now_ms`
    /// (wrapping after 49 days, as Linux's 32-bit stamp does).
    pub(crate) fn ms_since_data(&self, now_ms: u64) -> u32 {
        (now_ms as u32).wrapping_sub(self.data_rcvd_ms)
    }

    fn ring(&self) -> &RecvRing {
        self.ring.as_deref().unwrap_or(&EMPTY)
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap as usize
    }

    /// Change the size (SO_RCVBUF) while nothing is buffered; the ring is
    /// allocated again on first use. False if data is held.
    pub(crate) fn set_cap(&mut self, cap: usize) -> bool {
        if self.len() > 0 || self.has_ooo() {
            return false;
        }
        self.cap = clamp_u32(cap.max(1));
        self.ring = None;
        true
    }

    /// Raise the size to `cap` (autotuning) while data may be held; never
    /// lowers it. The held bytes (in-order, then up to the end of the last
    /// out-of-order range) are laid out again from the front of the storage,
    /// where ring indices mean the same under the new size.
    pub(crate) fn grow_cap(&mut self, cap: usize) {
        let cap = clamp_u32(cap);
        if cap <= self.cap {
            return;
        }
        let old = self.cap();
        if let Some(r) = self.ring.as_deref_mut() {
            let extent = r.len + r.ooo.last().map_or(0, |&(_, end, _)| end);
            if extent == 0 {
                r.head = 0;
            } else if r.head > 0 {
                let mut lin = Vec::with_capacity(extent);
                let first = extent.min(old - r.head);
                for (from, to) in [(r.head, r.head + first), (0, extent - first)] {
                    // Bytes never written (a gap before out-of-order data)
                    // are not in the storage: zeros stand in for them.
                    let have = to.min(r.buf.len());
                    if from < have {
                        lin.extend_from_slice(&r.buf[from..have]);
                    }
                    lin.resize(lin.len() + (to - from.max(have).min(to)), 0);
                }
                r.buf = lin;
                r.head = 0;
            }
        }
        self.cap = cap;
    }

    /// Heap bytes this buffer holds: the ring, the out-of-order list and their
    /// bookkeeping.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| {
            core::mem::size_of::<RecvRing>()
                + r.buf.capacity()
                + r.ooo.capacity() * core::mem::size_of::<(usize, usize, u32)>()
        })
    }

    /// In-order bytes waiting for the application.
    pub(crate) fn len(&self) -> usize {
        self.ring().len
    }

    /// Room after the in-order bytes: the receive window.
    pub(crate) fn free(&self) -> usize {
        self.cap() - self.len()
    }

    fn write_at(&mut self, from_end: usize, data: &[u8]) {
        let cap = self.cap();
        let r = self.ring.get_or_insert_with(Box::default);
        if r.len == 0 && r.ooo.is_empty() {
            // Nothing is held: start again at the front of the storage, which
            // then grows only as far as the data needs.
            r.head = 0;
        }
        let start = (r.head + r.len + from_end) % cap;
        let first = data.len().min(cap - start);
        r.put(start, &data[..first], cap);
        // What does not fit before the end of the ring goes to its start; the
        // part before it reached `cap`, so the storage is written that far.
        r.put(0, &data[first..], cap);
    }

    /// Is a ring allocated that holds nothing (no unread bytes, no
    /// out-of-order ranges)?
    pub(crate) fn holds_empty_ring(&self) -> bool {
        self.ring
            .as_ref()
            .is_some_and(|r| r.len == 0 && r.ooo.is_empty())
    }

    /// Release the ring if it holds nothing; the next arrival takes a new one.
    /// The window advertised does not depend on it.
    pub(crate) fn release_if_empty(&mut self) {
        if self.holds_empty_ring() {
            self.ring = None;
        }
    }

    /// Append in-order bytes (as many as fit); out-of-order ranges they reach
    /// join the in-order bytes (MUST-59: everything queued is processed). Returns
    /// how far the in-order end advanced.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.write_at(0, &data[..n]);
        let Some(r) = self.ring.as_deref_mut() else {
            return 0;
        };
        r.len += n;
        let mut shift = n;
        let mut keep = 0;
        for i in 0..r.ooo.len() {
            let (s, e, t) = r.ooo[i];
            if s <= shift {
                // Reached: its bytes are already in place.
                if e > shift {
                    r.len += e - shift;
                    shift = e;
                }
            } else {
                r.ooo[keep] = (s - shift, e - shift, t);
                keep += 1;
            }
        }
        r.ooo.truncate(keep);
        shift
    }

    /// Store bytes that start `offset` (> 0) bytes past the in-order end. Bytes
    /// beyond the buffer are cut off. False if nothing was kept.
    pub(crate) fn insert_ooo(&mut self, offset: usize, data: &[u8]) -> bool {
        let room = self.free();
        if offset == 0 || offset >= room || data.is_empty() {
            return false;
        }
        let end = offset + data.len().min(room - offset);
        // Where the new range goes, and which existing ranges it touches.
        let ooo = &self.ring().ooo;
        let first = ooo.partition_point(|&(_, e, _)| e < offset);
        let last = ooo.partition_point(|&(s, _, _)| s <= end);
        if first == last && ooo.len() >= MAX_OOO_RANGES {
            return false;
        }
        self.write_at(offset, &data[..end - offset]);
        let Some(r) = self.ring.as_deref_mut() else {
            return false;
        };
        let (mut s, mut e) = (offset, end);
        if first < last {
            s = s.min(r.ooo[first].0);
            e = e.max(r.ooo[last - 1].1);
        }
        r.arrivals = r.arrivals.wrapping_add(1);
        r.ooo
            .splice(first..last, core::iter::once((s, e, r.arrivals)));
        true
    }

    /// How many more bytes storing `len` bytes `offset` bytes past the
    /// in-order end would allocate (the ring's growth, or a new ring), as
    /// `push` (`offset` 0) and `insert_ooo` store them; 0 if they fit in
    /// what is allocated or nothing would be stored.
    pub(crate) fn growth_for(&self, offset: usize, len: usize) -> usize {
        let room = self.free();
        if offset >= room || len == 0 {
            return 0;
        }
        let len = len.min(room - offset);
        let cap = self.cap();
        let grown =
            |end: usize, have: usize| end.max(2 * have).max(MIN_RING).min(cap).max(end) - have;
        let Some(r) = self.ring.as_deref() else {
            return core::mem::size_of::<RecvRing>() + grown(offset + len, 0);
        };
        let head = if r.len == 0 && r.ooo.is_empty() {
            0
        } else {
            r.head
        };
        let start = (head + r.len + offset) % cap;
        let end = if len > cap - start { cap } else { start + len };
        let have = r.buf.capacity();
        if end <= have {
            0
        } else {
            grown(end, have)
        }
    }

    /// Linux tcp_input.c: tcp_collapse(): copy what the ring holds (the
    /// unread bytes and the out-of-order ranges with the holes between
    /// them) into storage of exactly that size, starting at its front; a
    /// ring that holds nothing is released. True if memory was freed.
    pub(crate) fn collapse(&mut self) -> bool {
        let cap = self.cap();
        let Some(r) = self.ring.as_deref_mut() else {
            return false;
        };
        let span = r.len + r.ooo.last().map_or(0, |&(_, e, _)| e);
        if span == 0 {
            self.ring = None;
            return true;
        }
        if r.buf.capacity() <= span {
            return false;
        }
        let mut buf = Vec::with_capacity(span);
        let first = span.min(cap - r.head);
        for range in [r.head..r.head + first, 0..span - first] {
            // Every byte of the span was written (holes are zeroed when data
            // beyond them is stored); a missing one reads as zero.
            let have = r.buf.get(range.clone()).unwrap_or(&[]);
            buf.extend_from_slice(have);
            buf.resize(buf.len() + (range.len() - have.len()), 0);
        }
        r.buf = buf;
        r.head = 0;
        true
    }

    /// Does an out-of-order range start beyond `offset`?
    pub(crate) fn has_ooo_beyond(&self, offset: usize) -> bool {
        self.ring().ooo.last().is_some_and(|&(s, _, _)| s > offset)
    }

    /// Linux tcp_input.c: tcp_prune_ofo_queue(): drop the out-of-order
    /// range with the highest sequence numbers if it starts beyond `offset`
    /// (where the arriving segment starts: ranges before it are kept, so
    /// holes may still fill). True if one was dropped.
    pub(crate) fn prune_ooo_beyond(&mut self, offset: usize) -> bool {
        let Some(r) = self.ring.as_deref_mut() else {
            return false;
        };
        if r.ooo.last().is_some_and(|&(s, _, _)| s > offset) {
            r.ooo.pop();
            return true;
        }
        false
    }

    /// Stop announcing the out-of-order ranges held now, until data comes
    /// into them again (Linux tcp_prune_ofo_queue() -> tcp_sack_reset()).
    pub(crate) fn forget_sacks(&mut self) {
        if let Some(r) = self.ring.as_deref_mut() {
            r.sack_reset = Some(r.arrivals);
        }
    }

    /// A FIN came out of order, apart from any range held: it is the
    /// latest arrival.
    pub(crate) fn note_ooo_fin(&mut self) {
        if let Some(r) = self.ring.as_deref_mut() {
            r.arrivals = r.arrivals.wrapping_add(1);
            r.fin_arrival = Some(r.arrivals);
        }
    }

    /// How many held ranges data came into after the out-of-order FIN
    /// noted (0 without one: then it is the latest).
    pub(crate) fn ooo_fin_rank(&self) -> usize {
        let r = self.ring();
        let Some(fin) = r.fin_arrival else {
            return 0;
        };
        let age = r.arrivals.wrapping_sub(fin);
        r.ooo
            .iter()
            .filter(|x| r.arrivals.wrapping_sub(x.2) < age)
            .count()
    }

    /// Out-of-order ranges, as offsets from the in-order end, in sequence
    /// order.
    pub(crate) fn ooo_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ring().ooo.iter().map(|&(s, e, _)| (s, e))
    }

    /// The `n` out-of-order ranges data came into most recently, latest
    /// first (for SACK: RFC 2018 §4, Linux tcp_sack_new_ofo_skb() moves the
    /// block a segment lands in to the front of `selective_acks`).
    pub(crate) fn ooo_recent(&self, n: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let ring = self.ring();
        let (ooo, newest) = (&ring.ooo, ring.arrivals);
        // Stamps count arrivals (wrapping): order by age against the latest.
        let forgotten = ring.sack_reset.map(|z| newest.wrapping_sub(z));
        let mut last_age = None;
        (0..n.min(ooo.len())).filter_map(move |_| {
            let next = ooo
                .iter()
                .filter(|r| forgotten.is_none_or(|f| newest.wrapping_sub(r.2) < f))
                .filter(|r| last_age.is_none_or(|a| newest.wrapping_sub(r.2) > a))
                .min_by_key(|r| newest.wrapping_sub(r.2))?;
            last_age = Some(newest.wrapping_sub(next.2));
            Some((next.0, next.1))
        })
    }

    /// Where `[offset, offset + len)` meets the out-of-order ranges (data
    /// already held), in sequence order.
    pub(crate) fn ooo_overlaps(
        &self,
        offset: usize,
        len: usize,
    ) -> impl Iterator<Item = (usize, usize)> + '_ {
        let end = offset + len;
        self.ooo_blocks()
            .map(move |(s, e)| (s.max(offset), e.min(end)))
            .filter(|(s, e)| s < e)
    }

    pub(crate) fn has_ooo(&self) -> bool {
        !self.ring().ooo.is_empty()
    }

    pub(crate) fn clear_ooo(&mut self) {
        if let Some(r) = &mut self.ring {
            r.ooo.clear();
        }
        self.release_if_empty();
    }

    /// Copy in-order bytes out without consuming them (MSG_PEEK), from
    /// `skip` bytes past the next one to read.
    pub(crate) fn peek_at(&self, skip: usize, out: &mut [u8]) -> usize {
        let cap = self.cap();
        let Some(r) = self.ring.as_deref() else {
            return 0;
        };
        let n = out.len().min(r.len.saturating_sub(skip));
        if n == 0 {
            return 0;
        }
        let start = (r.head + skip) % cap;
        let first = n.min(cap - start);
        out[..first].copy_from_slice(&r.buf[start..start + first]);
        out[first..n].copy_from_slice(&r.buf[..n - first]);
        n
    }

    /// Consume `n` in-order bytes without copying them (at most what is
    /// there); how many.
    pub(crate) fn skip(&mut self, n: usize) -> usize {
        let cap = self.cap();
        let Some(r) = self.ring.as_deref_mut() else {
            return 0;
        };
        let n = n.min(r.len);
        if n > 0 {
            r.head = (r.head + n) % cap;
            r.len -= n;
        }
        n
    }

    /// Copy in-order bytes out for the application. An emptied ring stays
    /// until `release_if_empty`.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let cap = self.cap();
        let Some(r) = self.ring.as_deref_mut() else {
            return 0;
        };
        let n = out.len().min(r.len);
        if n == 0 {
            return 0;
        }
        let first = n.min(cap - r.head);
        out[..first].copy_from_slice(&r.buf[r.head..r.head + first]);
        out[first..n].copy_from_slice(&r.buf[..n - first]);
        r.head = (r.head + n) % cap;
        r.len -= n;
        n
    }

    /// Drop every in-order byte not yet read (a reset flushed the queue).
    /// Returns how many.
    pub(crate) fn discard(&mut self) -> usize {
        let cap = self.cap();
        let Some(r) = self.ring.as_deref_mut() else {
            return 0;
        };
        let n = r.len;
        if cap > 0 {
            r.head = (r.head + n) % cap;
        }
        r.len = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_ring_reorders_in_place_and_wraps() {
        let mut r = RecvBuf::new(16);
        assert_eq!(r.push(b"abcdefghij"), 10);
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out, b"abcdefgh");
        // Ring: 2 unread ("ij"), 14 free; "mn" arrives before "kl".
        assert!(r.insert_ooo(2, b"mn"));
        assert!(r.insert_ooo(6, b"qrst"));
        assert_eq!(r.ooo_blocks().collect::<Vec<_>>(), [(2, 4), (6, 10)]);
        assert_eq!(r.push(b"kl"), 4, "kl plus the queued mn");
        assert_eq!(r.ooo_blocks().collect::<Vec<_>>(), [(2, 6)]);
        assert!(r.insert_ooo(1, b"pqr"), "overlap merges");
        assert_eq!(r.ooo_blocks().collect::<Vec<_>>(), [(1, 6)]);
        assert_eq!(r.push(b"o"), 6, "o plus the queued pqrst");
        let mut all = [0u8; 16];
        let n = r.read(&mut all);
        assert_eq!(&all[..n], b"ijklmnopqrst");
        assert!(!r.has_ooo());
    }

    #[test]
    fn recv_ring_grows_with_wrapped_and_out_of_order_data_held() {
        let mut r = RecvBuf::new(16);
        assert_eq!(r.push(b"abcdefghijkl"), 12);
        let mut out = [0u8; 10];
        assert_eq!(r.read(&mut out), 10);
        // "kl" unread at ring index 10; "mn" in order wraps the end;
        // "stu" out of order beyond a gap, past the wrap.
        assert_eq!(r.push(b"mnop"), 4);
        assert!(r.insert_ooo(2, b"stu"));
        r.grow_cap(64);
        assert_eq!(r.cap(), 64);
        assert_eq!(r.free(), 64 - 6);
        assert_eq!(r.ooo_blocks().collect::<Vec<_>>(), [(2, 5)]);
        // Now fill the gap and more than the old size.
        assert_eq!(r.push(b"qr"), 5, "qr plus the queued stu");
        assert_eq!(r.push(&[b'v'; 40]), 40);
        let mut all = [0u8; 64];
        let n = r.read(&mut all);
        let mut want = b"klmnopqrstu".to_vec();
        want.extend([b'v'; 40]);
        assert_eq!(&all[..n], &want[..]);
        // Never shrinks; an empty ring just takes the new size.
        r.grow_cap(32);
        assert_eq!(r.cap(), 64);
        r.grow_cap(100);
        assert_eq!(r.free(), 100);
    }

    #[test]
    fn recv_ring_is_bounded() {
        let mut r = RecvBuf::new(8);
        assert_eq!(r.push(b"0123456789"), 8, "cut to the buffer");
        assert!(!r.insert_ooo(1, b"x"), "no room");
        let mut out = [0u8; 4];
        r.read(&mut out);
        assert!(r.insert_ooo(2, b"abcdef"));
        assert_eq!(
            r.ooo_blocks().collect::<Vec<_>>(),
            [(2, 4)],
            "cut at the end of the ring"
        );
        let mut r = RecvBuf::new(1000);
        for i in 0..MAX_OOO_RANGES {
            assert!(r.insert_ooo(2 + 3 * i, b"x"));
        }
        assert!(!r.insert_ooo(900, b"y"), "too many holes");
        assert!(r.insert_ooo(3, b"z"), "extending a range is fine");
    }

    #[test]
    fn recv_ring_is_released_when_read_empty_and_taken_again_across_the_wrap() {
        let mut r = RecvBuf::new(16);
        assert_eq!(r.heap_bytes(), 0, "nothing received, nothing held");
        assert_eq!(r.push(b"abcdefghij"), 10);
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out[..8]), 8);
        assert!(r.heap_bytes() > 0, "2 bytes unread: the ring stays");
        // 2 unread at ring index 8; 12 more run past the end and wrap to 0.
        assert_eq!(r.push(b"klmnopqrstuv"), 12);
        assert_eq!(r.free(), 2, "the window counts bytes held, not storage");
        assert_eq!(r.read(&mut out), 14);
        assert_eq!(&out[..14], b"ijklmnopqrstuv");
        assert!(r.holds_empty_ring(), "read empty: kept until released");
        r.release_if_empty();
        assert_eq!(r.heap_bytes(), 0, "released");
        assert_eq!(r.free(), 16, "the window is the whole buffer again");
        // Taken again: starts at index 0 and wraps the same way.
        for round in 0..3u8 {
            let data: Vec<u8> = (0..11).map(|i| round * 16 + i).collect();
            assert_eq!(r.push(&data), 11);
            assert_eq!(r.read(&mut out[..7]), 7);
            assert_eq!(r.push(&data), 11);
            let n = r.read(&mut out);
            assert_eq!(n, 15);
            assert_eq!(&out[..4], &data[7..]);
            assert_eq!(&out[4..15], &data[..]);
            r.release_if_empty();
            assert_eq!(r.heap_bytes(), 0, "round {round}");
        }
    }

    #[test]
    fn recv_ring_is_kept_while_out_of_order_data_waits() {
        let mut r = RecvBuf::new(16);
        assert!(r.insert_ooo(4, b"efgh"), "a gap before the first bytes");
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out), 0);
        assert!(r.heap_bytes() > 0, "out-of-order bytes are held");
        assert_eq!(r.push(b"ab"), 2);
        assert_eq!(r.read(&mut out), 2);
        r.release_if_empty();
        assert!(r.heap_bytes() > 0, "still waiting for cd: not released");
        assert_eq!(r.free(), 16);
        assert_eq!(r.push(b"cd"), 6, "cd joins efgh");
        assert_eq!(r.read(&mut out), 6);
        assert_eq!(&out[..6], b"cdefgh");
        r.release_if_empty();
        assert_eq!(r.heap_bytes(), 0);
        // Out-of-order data across the wrap of a ring taken at index 0 after
        // partial reads.
        assert_eq!(r.push(b"0123456789"), 10);
        assert_eq!(r.read(&mut out[..9]), 9);
        assert!(
            r.insert_ooo(3, b"wxyz0123"),
            "lands on both sides of the wrap"
        );
        assert_eq!(r.push(b"ABC"), 11);
        assert_eq!(r.read(&mut out), 12);
        assert_eq!(&out[..12], b"9ABCwxyz0123");
        r.release_if_empty();
        assert_eq!(r.heap_bytes(), 0);
        // Closing drops the out-of-order ranges, and with them the ring.
        assert!(r.insert_ooo(2, b"zz"));
        r.clear_ooo();
        assert_eq!(r.heap_bytes(), 0);
    }

    #[test]
    fn recv_ring_storage_grows_with_what_it_holds() {
        let cap = 128 * 1024;
        let mut r = RecvBuf::new(cap);
        assert_eq!(r.push(&[1; 100]), 100);
        let small = r.heap_bytes();
        assert!(small < 2048, "100 bytes take a small ring: {small}");
        let mut held = 100;
        while held < cap {
            held += r.push(&[2; 1448]);
        }
        assert!(
            r.heap_bytes() <= cap + 1024,
            "never beyond cap: {}",
            r.heap_bytes()
        );
        assert_eq!(r.free(), 0);
    }

    #[test]
    fn out_of_order_ranges_by_recency() {
        let mut r = RecvBuf::new(4096);
        assert!(r.insert_ooo(10, b"aa"));
        assert!(r.insert_ooo(12, b"bb"), "extends the first range");
        assert!(r.insert_ooo(20, b"cc"));
        assert!(r.insert_ooo(30, b"dd"));
        let recent = |r: &RecvBuf, n| r.ooo_recent(n).collect::<Vec<_>>();
        assert_eq!(recent(&r, 3), [(30, 32), (20, 22), (10, 14)]);
        assert_eq!(recent(&r, 2), [(30, 32), (20, 22)]);
        // A duplicate of the oldest range makes it the latest again.
        assert!(r.insert_ooo(10, b"a"));
        assert_eq!(recent(&r, 4), [(10, 14), (30, 32), (20, 22)]);
        // Ranges that meet merge, with the latest arrival's rank.
        assert!(r.insert_ooo(22, b"12345678"));
        assert_eq!(recent(&r, 4), [(20, 32), (10, 14)]);
        // Ranges the in-order bytes reach leave; the rest keep their order.
        assert_eq!(r.push(&[0; 16]), 16);
        assert_eq!(recent(&r, 4), [(4, 16)]);
        // The arrival count wraps without upsetting the order.
        r.ring.as_deref_mut().unwrap().arrivals = u32::MAX - 1;
        assert!(r.insert_ooo(40, b"x"));
        assert!(r.insert_ooo(50, b"y"));
        assert!(r.insert_ooo(60, b"z"));
        assert_eq!(recent(&r, 4), [(60, 61), (50, 51), (40, 41), (4, 16)]);
    }
}
