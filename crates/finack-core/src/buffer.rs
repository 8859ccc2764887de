//! Send and receive buffers and the out-of-order queue.
//!
//! Simple, bounded structures; the data-path work replaces them with ring buffers
//! and a gap-list assembler.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

/// Bytes the application queued: from SND.UNA (first unacknowledged data byte)
/// to the end of what was written.
#[derive(Debug, Default)]
pub(crate) struct SendBuf {
    data: VecDeque<u8>,
    cap: usize,
    /// A segment that straddles the ring's wrap point, made contiguous.
    scratch: Vec<u8>,
}

impl SendBuf {
    pub(crate) fn new(cap: usize) -> SendBuf {
        SendBuf {
            data: VecDeque::new(),
            cap,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.data.len())
    }

    /// Change the limit (SO_SNDBUF). Bytes already queued stay; writes wait
    /// until the queue is below the new limit.
    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Queue as much of `bytes` as fits; returns how much.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Drop `n` acknowledged bytes from the front.
    pub(crate) fn ack(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
    }

    /// `len` bytes starting `offset` bytes after the front, contiguous. The
    /// ring is never rearranged: a range lying within one of its two parts is
    /// returned in place, and only one that straddles the wrap point (one
    /// segment per trip around the ring) is copied into a scratch buffer.
    pub(crate) fn slice(&mut self, offset: usize, len: usize) -> &[u8] {
        let end = (offset + len).min(self.data.len());
        let start = offset.min(end);
        let (a, b) = self.data.as_slices();
        if end <= a.len() {
            &a[start..end]
        } else if start >= a.len() {
            &b[start - a.len()..end - a.len()]
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(&a[start..]);
            self.scratch.extend_from_slice(&b[..end - a.len()]);
            &self.scratch
        }
    }

    pub(crate) fn clear(&mut self) {
        self.data = VecDeque::new();
    }

    /// Heap bytes this buffer holds (its allocation, used or not).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.scratch.capacity()
    }
}

/// Most out-of-order ranges remembered at once; segments that would open more
/// holes are dropped (the peer retransmits them).
pub(crate) const MAX_OOO_RANGES: usize = 16;

/// The receive buffer: a ring of `cap` bytes, allocated on first use, holding
/// the in-order bytes the application has not read and, beyond them, the
/// out-of-order bytes received so far (RFC 9293 SHLD-31), written in place.
/// No allocation per segment.
#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    buf: Vec<u8>,
    cap: usize,
    /// Ring index of the first unread byte.
    head: usize,
    /// In-order bytes not yet read.
    len: usize,
    /// Out-of-order ranges `[start, end)`, as offsets from the end of the
    /// in-order bytes: sorted, disjoint, not adjacent, never starting at 0.
    ooo: Vec<(usize, usize)>,
}

impl RecvBuf {
    pub(crate) fn new(cap: usize) -> RecvBuf {
        RecvBuf {
            cap,
            ..RecvBuf::default()
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Change the size (SO_RCVBUF) while nothing is buffered; the ring is
    /// allocated again on first use. False if data is held.
    pub(crate) fn set_cap(&mut self, cap: usize) -> bool {
        if self.len > 0 || !self.ooo.is_empty() {
            return false;
        }
        self.cap = cap.max(1);
        self.head = 0;
        self.buf = Vec::new();
        true
    }

    /// Heap bytes this buffer holds: the ring and the out-of-order list.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.ooo.capacity() * core::mem::size_of::<(usize, usize)>()
    }

    /// In-order bytes waiting for the application.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Room after the in-order bytes: the receive window.
    pub(crate) fn free(&self) -> usize {
        self.cap - self.len
    }

    fn write_at(&mut self, from_end: usize, data: &[u8]) {
        if self.buf.len() < self.cap {
            self.buf = vec![0; self.cap];
        }
        let start = (self.head + self.len + from_end) % self.cap;
        let first = data.len().min(self.cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
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
        self.len += n;
        let mut shift = n;
        let mut keep = 0;
        for i in 0..self.ooo.len() {
            let (s, e) = self.ooo[i];
            if s <= shift {
                // Reached: its bytes are already in place.
                if e > shift {
                    self.len += e - shift;
                    shift = e;
                }
            } else {
                self.ooo[keep] = (s - shift, e - shift);
                keep += 1;
            }
        }
        self.ooo.truncate(keep);
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
        let first = self.ooo.partition_point(|&(_, e)| e < offset);
        let last = self.ooo.partition_point(|&(s, _)| s <= end);
        if first == last && self.ooo.len() >= MAX_OOO_RANGES {
            return false;
        }
        self.write_at(offset, &data[..end - offset]);
        let (mut s, mut e) = (offset, end);
        if first < last {
            s = s.min(self.ooo[first].0);
            e = e.max(self.ooo[last - 1].1);
        }
        self.ooo.splice(first..last, core::iter::once((s, e)));
        true
    }

    /// Out-of-order ranges, as offsets from the in-order end (for SACK).
    pub(crate) fn ooo_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ooo.iter().copied()
    }

    pub(crate) fn has_ooo(&self) -> bool {
        !self.ooo.is_empty()
    }

    pub(crate) fn clear_ooo(&mut self) {
        self.ooo.clear();
    }

    /// Copy in-order bytes out for the application.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        if n == 0 {
            return 0;
        }
        let first = n.min(self.cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % self.cap;
        self.len -= n;
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
    fn send_slices_across_the_wrap_point_are_whole() {
        let mut s = SendBuf::new(8);
        let mut all: Vec<u8> = Vec::new();
        let mut next = 0u8;
        // Go around the ring many times, reading every window of 3 bytes.
        for _ in 0..40 {
            let fresh: Vec<u8> = (0..s.free())
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            assert_eq!(s.write(&fresh), fresh.len());
            all.extend_from_slice(&fresh);
            for off in 0..s.len() {
                let want = &all[off..(off + 3).min(s.len())];
                assert_eq!(s.slice(off, 3), want, "offset {off}");
            }
            s.ack(3);
            all.drain(..3);
        }
    }

    #[test]
    fn send_buffer_respects_capacity() {
        let mut s = SendBuf::new(4);
        assert_eq!(s.write(b"abcdef"), 4);
        assert_eq!(s.slice(1, 10), b"bcd");
        s.ack(2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.free(), 2);
    }
}
