//! Send and receive buffers: rings taken when data comes and released after
//! they stayed empty a while, the receive ring holding out-of-order ranges
//! in place (`recv`, at most `MAX_OOO_RANGES`).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Bytes the application queued: from SND.UNA (first unacknowledged data byte)
/// to the end of what was written.
///
/// The ring and its bookkeeping live in one allocation made when a byte is
/// queued and released when the peer has acknowledged every queued byte, so
/// a connection with nothing in flight holds a null pointer and the limit
/// here, not the ring's state (issue 11: an idle connection holds little
/// memory).
#[derive(Debug, Default)]
pub(crate) struct SendBuf {
    ring: Option<Box<SendRing>>,
    /// The limit on queued bytes (SO_SNDBUF); 32 bits, like Linux's
    /// `sk_sndbuf`, so that the low-water mark fits beside it.
    cap: u32,
    /// TCP_NOTSENT_LOWAT set on this connection (Linux `tp->notsent_lowat`):
    /// 0 when unset, the endpoint's default applies then. Kept here, beside
    /// the limit it refines, so that the control block does not grow.
    notsent_lowat: u32,
}

#[derive(Debug, Default)]
struct SendRing {
    data: VecDeque<u8>,
    /// A segment that straddles the ring's wrap point, made contiguous.
    scratch: Vec<u8>,
    /// Bytes acknowledged since the ring was taken: a mark's position minus
    /// this is its offset from the front.
    acked: u64,
    /// Where the queued bytes divide into the units Linux calls skbs, in
    /// order (see [`SkbEnd`]).
    marks: VecDeque<Mark>,
    /// Where the last push mark was set (Linux `pushed_seq`), counted like
    /// a mark's position.
    pushed: u64,
    /// End of the last segment shorter than the MSS that was sent (Linux
    /// `snd_sml`), counted the same way.
    short_end: u64,
    /// How fully the congestion window was used (Linux `tcp_cwnd_validate`).
    usage: CwndUsage,
    /// Each segment sent and not yet acknowledged, with its send time (RACK,
    /// RFC 8985; Linux keeps it in the skbs of the retransmission queue).
    sent: crate::tcb::SentLog,
    /// The end of the urgent data (SND.UP, RFC 9293 §3.8.5; Linux `snd_up`)
    /// while some of it is unacknowledged, counted like a mark's position:
    /// urgent mode lasts only while those bytes are queued.
    urgent_end: Option<u64>,
}

/// How fully the sender used its congestion window over the last window of
/// data (Linux `is_cwnd_limited`, `max_packets_out`, `cwnd_usage_seq`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CwndUsage {
    /// The window was full (nothing more could be sent for it).
    pub(crate) limited: bool,
    /// Most segments outstanding at once.
    pub(crate) max_out: u32,
    /// Until this offset is acknowledged, the figures above hold.
    until: u64,
}

/// The end of one unit of queued data (an skb in Linux's write queue): a
/// segment never runs past it, and its flags say what the unit ends with.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SkbEnd {
    /// Offset of the unit's end from the front of the queue.
    pub(crate) end: usize,
    /// The unit was pushed: the segment that carries its last byte has PSH.
    pub(crate) psh: bool,
    /// Written with MSG_EOR: later writes never join this unit.
    pub(crate) eor: bool,
}

/// A unit end as stored: its position counted from the ring's first byte.
#[derive(Copy, Clone, Debug)]
struct Mark {
    end: u64,
    psh: bool,
    eor: bool,
}

impl SendRing {
    fn offset(&self, m: &Mark) -> SkbEnd {
        SkbEnd {
            end: (m.end - self.acked) as usize,
            psh: m.psh,
            eor: m.eor,
        }
    }
}

impl SendBuf {
    pub(crate) fn new(cap: usize) -> SendBuf {
        SendBuf {
            ring: None,
            cap: clamp_u32(cap),
            notsent_lowat: 0,
        }
    }

    /// The limit on queued bytes.
    pub(crate) fn cap(&self) -> usize {
        self.cap as usize
    }

    /// TCP_NOTSENT_LOWAT of this connection, 0 when unset.
    pub(crate) fn notsent_lowat(&self) -> u32 {
        self.notsent_lowat
    }

    pub(crate) fn set_notsent_lowat(&mut self, lowat: u32) {
        self.notsent_lowat = lowat;
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.data.len())
    }

    pub(crate) fn free(&self) -> usize {
        self.cap().saturating_sub(self.len())
    }

    /// Change the limit (SO_SNDBUF). Bytes already queued stay; writes wait
    /// until the queue is below the new limit.
    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = clamp_u32(cap);
    }

    /// Queue as much of `bytes` as fits; returns how much.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        if n > 0 {
            let ring = self.ring.get_or_insert_with(Box::default);
            ring.data.extend(&bytes[..n]);
        }
        n
    }

    /// Queue all of `bytes`, even past the limit (Linux fills the unit it
    /// started up to its size goal whatever the buffer holds; the caller
    /// bounds what it passes).
    ///
    /// Past the limit the ring grows once, to the limit plus one 64 KiB
    /// unit (the most a unit can hold), rather than doubling: the memory a
    /// connection holds stays within `Config::connection_memory_limit`.
    pub(crate) fn write_past_limit(&mut self, bytes: &[u8]) -> usize {
        if !bytes.is_empty() {
            let cap = self.cap();
            let ring = self.ring.get_or_insert_with(Box::default);
            let need = ring.data.len() + bytes.len();
            if need > cap && need > ring.data.capacity() {
                let target = need.max(cap.saturating_add(MAX_UNIT));
                ring.data.reserve_exact(target - ring.data.len());
            }
            ring.data.extend(bytes);
        }
        bytes.len()
    }

    /// Drop `n` acknowledged bytes from the front. An emptied ring stays
    /// until `release_if_empty` (the connection releases it once it has been
    /// idle a while, so a busy one does not allocate it again and again).
    pub(crate) fn ack(&mut self, n: usize) {
        if let Some(ring) = &mut self.ring {
            let n = n.min(ring.data.len());
            ring.data.drain(..n);
            ring.acked += n as u64;
            while ring.marks.front().is_some_and(|m| m.end <= ring.acked) {
                ring.marks.pop_front();
            }
            // Linux tcp_input.c: tcp_clean_rtx_queue(): urgent mode ends
            // once the urgent data is acknowledged.
            if ring.urgent_end.is_some_and(|e| e <= ring.acked) {
                ring.urgent_end = None;
            }
        }
    }

    /// The urgent data ends with the bytes queued now (Linux tcp.c:
    /// tcp_mark_urg()).
    pub(crate) fn mark_urgent_end(&mut self) {
        if let Some(ring) = &mut self.ring {
            ring.urgent_end = Some(ring.acked + ring.data.len() as u64);
        }
    }

    /// Where the urgent data ends, as an offset from the front, while some
    /// of it is unacknowledged.
    pub(crate) fn urgent_end(&self) -> Option<usize> {
        let ring = self.ring.as_ref()?;
        ring.urgent_end.map(|e| (e - ring.acked) as usize)
    }

    /// The last unit end, if any, as an offset from the front.
    pub(crate) fn last_mark(&self) -> Option<SkbEnd> {
        let ring = self.ring.as_ref()?;
        ring.marks.back().map(|m| ring.offset(m))
    }

    /// How many units (skbs) the queue holds: one per unit end, and one for
    /// the bytes after the last end (a unit still being filled).
    pub(crate) fn units(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| {
            let last = r.marks.back().map_or(r.acked, |m| m.end);
            let open = r.acked + r.data.len() as u64 > last;
            r.marks.len() + usize::from(open)
        })
    }

    /// Forget the last unit end (the next write joins that unit).
    pub(crate) fn pop_mark(&mut self) {
        if let Some(ring) = &mut self.ring {
            ring.marks.pop_back();
        }
    }

    /// A unit ends `end` bytes after the front (at most the queue's length;
    /// ends must be added in order).
    pub(crate) fn push_mark(&mut self, mark: SkbEnd) {
        if let Some(ring) = &mut self.ring {
            let end = ring.acked + mark.end.min(ring.data.len()) as u64;
            if ring.marks.back().is_some_and(|m| m.end >= end) || end == ring.acked {
                return;
            }
            ring.marks.push_back(Mark {
                end,
                psh: mark.psh,
                eor: mark.eor,
            });
        }
    }

    /// Bytes from the last push mark to offset `end` (all of them if none).
    pub(crate) fn unpushed(&self, end: usize) -> usize {
        self.ring.as_ref().map_or(end, |r| {
            (r.acked + end as u64).saturating_sub(r.pushed) as usize
        })
    }

    /// A push mark was set at offset `end`.
    pub(crate) fn set_pushed(&mut self, end: usize) {
        if let Some(r) = &mut self.ring {
            r.pushed = r.acked + end as u64;
        }
    }

    /// Offset of the end of the last short segment sent, if it lies beyond
    /// the front (not yet acknowledged).
    pub(crate) fn short_sent_end(&self) -> Option<usize> {
        let r = self.ring.as_ref()?;
        (r.short_end > r.acked).then(|| (r.short_end - r.acked) as usize)
    }

    /// A segment shorter than the MSS ending at offset `end` was sent.
    pub(crate) fn set_short_sent_end(&mut self, end: usize) {
        if let Some(r) = &mut self.ring {
            r.short_end = r.acked + end as u64;
        }
    }

    /// How fully the congestion window was used (all zero without a ring:
    /// nothing is outstanding then).
    pub(crate) fn cwnd_usage(&self) -> CwndUsage {
        self.ring
            .as_ref()
            .map_or_else(CwndUsage::default, |r| r.usage)
    }

    /// Linux tcp_output.c: tcp_cwnd_validate(): after sending, with
    /// `out` segments outstanding up to offset `sent_end`: start a new
    /// record once the last one's data is acknowledged, when the window is
    /// full, or when more is outstanding than ever while it was not full.
    pub(crate) fn record_cwnd_usage(&mut self, out: u32, sent_end: usize, limited: bool) {
        if let Some(r) = &mut self.ring {
            let u = &mut r.usage;
            if r.acked >= u.until || limited || (!u.limited && out > u.max_out) {
                u.limited = limited;
                u.max_out = out;
                u.until = r.acked + sent_end as u64;
            }
        }
    }

    /// The last unit end lying before offset `off`.
    pub(crate) fn last_mark_before(&self, off: usize) -> Option<SkbEnd> {
        let ring = self.ring.as_ref()?;
        let abs = ring.acked + off as u64;
        let i = ring.marks.partition_point(|m| m.end < abs);
        i.checked_sub(1)
            .and_then(|i| ring.marks.get(i))
            .map(|m| ring.offset(m))
    }

    /// The first unit end lying beyond offset `off`.
    pub(crate) fn next_mark_after(&self, off: usize) -> Option<SkbEnd> {
        let ring = self.ring.as_ref()?;
        let abs = ring.acked + off as u64;
        let i = ring.marks.partition_point(|m| m.end <= abs);
        ring.marks.get(i).map(|m| ring.offset(m))
    }

    /// Is a ring allocated that holds nothing?
    pub(crate) fn holds_empty_ring(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.data.is_empty())
    }

    /// Release the ring if it holds nothing (the next write takes a new one).
    pub(crate) fn release_if_empty(&mut self) {
        if self.holds_empty_ring() {
            self.ring = None;
        }
    }

    /// `len` bytes starting `offset` bytes after the front, contiguous. The
    /// ring is never rearranged: a range lying within one of its two parts is
    /// returned in place, and only one that straddles the wrap point (one
    /// segment per trip around the ring) is copied into a scratch buffer.
    pub(crate) fn slice(&mut self, offset: usize, len: usize) -> &[u8] {
        let Some(ring) = &mut self.ring else {
            return &[];
        };
        let end = (offset + len).min(ring.data.len());
        let start = offset.min(end);
        let (a, b) = ring.data.as_slices();
        if end <= a.len() {
            &a[start..end]
        } else if start >= a.len() {
            &b[start - a.len()..end - a.len()]
        } else {
            ring.scratch.clear();
            ring.scratch.extend_from_slice(&a[start..]);
            ring.scratch.extend_from_slice(&b[..end - a.len()]);
            &ring.scratch
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ring = None;
    }

    /// The record of segments sent, while a ring exists.
    pub(crate) fn sent(&self) -> Option<&crate::tcb::SentLog> {
        self.ring.as_ref().map(|r| &r.sent)
    }

    /// The record of segments sent, for writing, while a ring exists.
    pub(crate) fn sent_mut(&mut self) -> Option<&mut crate::tcb::SentLog> {
        self.ring.as_mut().map(|r| &mut r.sent)
    }

    /// Heap bytes this buffer holds: the ring's allocation, used or not, its
    /// scratch buffer and bookkeeping.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| {
            core::mem::size_of::<SendRing>()
                + r.data.capacity()
                + r.scratch.capacity()
                + r.marks.capacity() * core::mem::size_of::<Mark>()
                + r.sent.heap_bytes()
        })
    }
}

/// The largest unit a write builds (one 64 KiB GSO packet, Linux
/// tcp_xmit_size_goal()): how far a Linux-style write passes the limit.
const MAX_UNIT: usize = 65_536;

/// A byte count as the 32 bits the buffers keep (larger limits saturate).
pub(super) fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

mod recv;
pub(crate) use recv::RecvBuf;

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn send_ring_is_released_when_all_is_acknowledged() {
        let mut s = SendBuf::new(8);
        assert_eq!(s.heap_bytes(), 0);
        for round in 0..4u8 {
            let data: Vec<u8> = (0..6).map(|i| round * 8 + i).collect();
            assert_eq!(s.write(&data), 6);
            s.ack(4);
            assert!(s.heap_bytes() > 0, "2 bytes unacknowledged");
            // Past the end of an 8-byte ring when it is reused in place.
            assert_eq!(s.write(&data), 6);
            assert_eq!(s.slice(0, 8), [&data[4..], &data[..]].concat());
            s.ack(8);
            assert_eq!(s.len(), 0);
            assert!(s.holds_empty_ring(), "kept until released");
            s.release_if_empty();
            assert_eq!(s.heap_bytes(), 0, "round {round}: all acknowledged");
            assert_eq!(s.free(), 8);
        }
    }
}
