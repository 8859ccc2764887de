//! Send and receive buffers and the out-of-order queue.
//!
//! Simple, bounded structures; the data-path work replaces them with ring buffers
//! and a gap-list assembler.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

/// Bytes the application queued: from SND.UNA (first unacknowledged data byte)
/// to the end of what was written.
#[derive(Debug, Default)]
pub(crate) struct SendBuf {
    data: VecDeque<u8>,
    cap: usize,
}

impl SendBuf {
    pub(crate) fn new(cap: usize) -> SendBuf {
        SendBuf {
            data: VecDeque::new(),
            cap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.data.len())
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

    /// `len` bytes starting `offset` bytes after the front, contiguous.
    pub(crate) fn slice(&mut self, offset: usize, len: usize) -> &[u8] {
        let s = self.data.make_contiguous();
        let end = (offset + len).min(s.len());
        &s[offset.min(end)..end]
    }

    pub(crate) fn clear(&mut self) {
        self.data = VecDeque::new();
    }
}

/// In-order received bytes not yet read by the application.
#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    pub(crate) data: VecDeque<u8>,
    cap: usize,
}

impl RecvBuf {
    pub(crate) fn new(cap: usize) -> RecvBuf {
        RecvBuf {
            data: VecDeque::new(),
            cap,
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.data.len())
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.data.extend(bytes);
    }

    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.data.len());
        for (dst, src) in out.iter_mut().zip(self.data.drain(..n)) {
            *dst = src;
        }
        n
    }
}

/// Out-of-order segments keyed by stream offset (bytes since the peer's ISN + 1).
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    segs: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
}

impl Assembler {
    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Remember `data` at stream offset `at`, unless that would hold more than
    /// `limit` bytes in total (RFC 9293 SHLD-31: queue out-of-order segments).
    pub(crate) fn insert(&mut self, at: u64, data: &[u8], limit: usize) {
        if data.is_empty() {
            return;
        }
        if let Some(old) = self.segs.get(&at) {
            if old.len() >= data.len() {
                return;
            }
        }
        if self.bytes + data.len() > limit {
            return;
        }
        if let Some(old) = self.segs.insert(at, data.to_vec()) {
            self.bytes -= old.len();
        }
        self.bytes += data.len();
    }

    /// Take the bytes that continue the stream at offset `next`, in order.
    pub(crate) fn pop_contiguous(&mut self, next: u64, mut sink: impl FnMut(&[u8])) -> u64 {
        let mut next = next;
        while let Some((&at, _)) = self.segs.first_key_value() {
            if at > next {
                break;
            }
            let (_, seg) = self.segs.pop_first().unwrap_or_default();
            self.bytes -= seg.len();
            let skip = (next - at) as usize;
            if skip < seg.len() {
                sink(&seg[skip..]);
                next += (seg.len() - skip) as u64;
            }
        }
        next
    }

    pub(crate) fn clear(&mut self) {
        self.segs.clear();
        self.bytes = 0;
    }

    /// Segments held, as (start offset, end offset), in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.segs.iter().map(|(&at, d)| (at, at + d.len() as u64))
    }

    /// Contiguous blocks held (overlapping and adjacent segments merged), in
    /// order: what SACK reports.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut it = self.runs().peekable();
        core::iter::from_fn(move || {
            let (start, mut end) = it.next()?;
            while let Some(&(s, e)) = it.peek() {
                if s > end {
                    break;
                }
                end = end.max(e);
                it.next();
            }
            Some((start, end))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembler_reorders_and_trims_overlaps() {
        let mut a = Assembler::default();
        a.insert(5, b"fghij", 100);
        a.insert(3, b"de", 100);
        a.insert(4, b"efg", 100); // overlaps both
        let mut out = Vec::new();
        assert_eq!(a.pop_contiguous(0, |b| out.extend_from_slice(b)), 0);
        assert!(out.is_empty(), "gap at 0..3");
        let next = a.pop_contiguous(3, |b| out.extend_from_slice(b));
        assert_eq!(next, 10);
        assert_eq!(&out, b"defghij");
        assert_eq!(a.runs().count(), 0);
    }

    #[test]
    fn assembler_is_bounded() {
        let mut a = Assembler::default();
        a.insert(10, &[1; 60], 100);
        a.insert(100, &[2; 60], 100);
        assert_eq!(a.runs().count(), 1, "second insert would exceed the bound");
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
