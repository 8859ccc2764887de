//! Packets out: control segments first, then each connection with output
//! due, in turn.

use super::{Endpoint, SlotKind};
use crate::tcb::{emit_ctl, Xmit};
use crate::time::Instant;

impl Endpoint {
    /// Write the next outbound packet into `buf` (at least 100 bytes; MTU-sized to
    /// send full segments) and return its length, or `None` when nothing is due.
    /// Call until `None` after every other call. Under `Config::pacing` a
    /// data packet is not returned before its departure time: call again
    /// after `handle_timeout` at the instant `poll_timeout` reports.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_segs(now, buf, 1).map(|(n, _)| n)
    }

    /// [`Endpoint::poll_transmit`] for a link that segments packets itself
    /// (TCP segmentation offload: a TUN device with virtio-net headers, a
    /// network card with TSO): new data may leave as one packet of up to
    /// `max_segs` segments, as large as `buf` allows (at most 64 KiB), with
    /// one header. Returns the packet's length and its segment size: the
    /// link cuts a packet whose segment size is not 0 into segments of that
    /// many payload bytes (the last perhaps shorter), each with the
    /// header's sequence number advanced and the IP lengths and checksums
    /// made for it, PSH left on the last one only, as Linux's
    /// tcp_gso_segment() does. The segments are exactly those
    /// `poll_transmit` would have returned one by one given buffers that
    /// hold a full-sized segment, and the connection ends in the same
    /// state. With `max_segs` 1 this is `poll_transmit`.
    ///
    /// ```
    /// use finack_core::{Config, Endpoint, Instant};
    /// let mut ep = Endpoint::new(Config::linux(), [7; 16]);
    /// let mut buf = vec![0u8; 65_536];
    /// // Nothing to send yet.
    /// assert_eq!(ep.poll_transmit_segs(Instant::ZERO, &mut buf, 45), None);
    /// ```
    pub fn poll_transmit_segs(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_segs: u16,
    ) -> Option<(usize, u16)> {
        self.last_now = self.last_now.max(now);
        while let Some(ctl) = self.ctl.front() {
            // Taken off the queue only once it is written: a buffer too small
            // for it leaves it queued for the next call.
            let n = emit_ctl(ctl, &self.cfg, buf)?;
            self.ctl.pop_front();
            if self.local_drop {
                // The device drops it; nobody learns of it (device.rs).
                self.stats.local_drops += 1;
                continue;
            }
            self.stats.packets_out += 1;
            return Some((n, 0));
        }
        while let Some(&idx) = self.tx_queue.front() {
            let Endpoint {
                cfg, slots, stats, ..
            } = self;
            let slot = &mut slots[idx as usize];
            if let SlotKind::Active(tcb) = &mut slot.kind {
                tcb.rcv.mem_pressure = self.mem.pressure();
                let refuse = self.local_drop;
                let mut xmit = Xmit {
                    refuse,
                    max_segs: max_segs.max(1),
                    ..Xmit::default()
                };
                if let Some(n) = tcb.poll_output(now, cfg, stats, buf, &mut xmit) {
                    let gso = if xmit.segs > 1 { tcb.snd.mss } else { 0 };
                    self.reschedule(idx);
                    self.account(idx);
                    if refuse {
                        // A segment whose loss Linux ignores (device.rs).
                        self.stats.local_drops += 1;
                        continue;
                    }
                    self.stats.packets_out += u64::from(xmit.segs.max(1));
                    return Some((n, gso));
                }
            }
            slot.queued = false;
            self.tx_queue.pop_front();
            self.reschedule(idx);
        }
        None
    }
}
