//! Linux's GSO packets on the way out. Output divides new data into them as
//! Linux does (`piece_step`: Linux builds an skb of up to tcp_tso_segs()
//! segments and sends it whole), which sets PSH and pacing even when each
//! segment is formed alone. And TCP segmentation offload: when the link
//! cuts packets into segments itself (a TUN device with virtio-net headers,
//! a network card with TSO), new data leaves as one packet of several
//! full-sized segments with one header, as Linux hands a GSO skb to its
//! device
//! (tcp_output.c: tcp_write_xmit() builds one skb of up to tcp_tso_segs()
//! segments; net/ipv4/tcp_offload.c: tcp_gso_segment() cuts it, each
//! segment with the header's sequence number advanced, PSH and FIN left on
//! the last one only).
//!
//! The packet holds exactly the segments output would have formed one by
//! one, and the connection ends in the same state (see
//! `output_super_segment` for what is done per segment and what once), and
//! only the header is written once. So a packet ends where output would have paused
//! anyway: at the end of the GSO packet Linux would send (the piece), at
//! the end of a unit of queued data, before a segment shorter than the MSS
//! or one that carries the FIN. What a shared header cannot say per segment
//! goes the usual way, one segment at a time: urgent data (each segment its
//! own pointer), data in recovery, a connection with path MTU probing on
//! (a probe may go between), and a CWR to send (it belongs to the first
//! segment only; ECE, echoed on every segment, goes in the shared header,
//! as tcp_gso_segment() copies it to each).

use super::output::MIN_BUFFER;
use super::xmit_fail::Xmit;
use super::Tcb;
use crate::buffer::SkbEnd;
use crate::config::Config;
use crate::time::Instant;
use crate::types::Stats;
use finack_wire::TcpFlags;

/// Where output stands when its next segment is a full-sized one of new
/// data that may start a packet of several.
#[derive(Copy, Clone, Debug)]
pub(super) struct Start {
    /// Offset of SND.NXT in the send buffer.
    pub(super) off: usize,
    /// The unit of queued data the segment belongs to.
    pub(super) unit: Option<SkbEnd>,
    /// Bytes queued from `off`.
    pub(super) avail: usize,
    /// What the windows let out from `off`.
    pub(super) room: usize,
    /// The congestion window output counts with.
    pub(super) cwnd: u32,
    /// SACK-based recovery is under way.
    pub(super) recovery: bool,
}

/// The largest IP packet: a packet's IP length field must hold it.
const MAX_PACKET: usize = 65_535;

impl Tcb {
    /// Linux's GSO packets (`snd.piece_left`) as a segment of `len` new
    /// bytes at `off` leaves: a segment at a piece's start begins one
    /// (returned: its bytes and segments, for pacing); each takes its place.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn piece_step(
        &mut self,
        cfg: &Config,
        off: usize,
        len: usize,
        unit: Option<crate::buffer::SkbEnd>,
        avail: usize,
        room: usize,
        cwnd: u32,
    ) -> Option<(usize, u32)> {
        let mut packet = None;
        if self.snd.piece_left == 0 {
            let (bytes, n) = self.piece_size(cfg, off, unit, avail, room, cwnd);
            packet = Some((bytes, n));
            self.snd.piece_left = n as u16;
            self.snd.piece_multi = n >= 2;
        } else {
            // The packet goes on: one skb with the segment before.
            self.rack_join_prev(cfg, self.snd.buf_seq + off as u32);
        }
        self.snd.piece_left -= 1;
        if unit.is_some_and(|u| off + len == u.end) {
            self.snd.piece_left = 0;
        }
        packet
    }

    /// The GSO packet new data from `off` starts: its bytes and segments.
    /// Linux tcp_output.c: tcp_write_xmit() sends a unit in GSO packets of
    /// at most tcp_tso_segs() segments (see `gso_group`) and what
    /// tcp_cwnd_test() allows: half the congestion window, no more than is
    /// free of it.
    pub(super) fn piece_size(
        &self,
        cfg: &Config,
        off: usize,
        unit: Option<crate::buffer::SkbEnd>,
        avail: usize,
        room: usize,
        cwnd: u32,
    ) -> (usize, u32) {
        let mss = usize::from(self.snd.mss);
        let m = mss as u32;
        let unit_bytes = unit.map_or(avail, |u| u.end - off);
        let to_unit = unit_bytes.div_ceil(mss) as u32;
        let n = self
            .gso_packet_segs(cfg, cwnd)
            .min((room as u32 / m).max(1))
            .min(to_unit)
            .clamp(1, u32::from(u16::MAX));
        ((n as usize * mss).min(unit_bytes).min(room), n)
    }

    /// Does the segment ending at offset `end` (just through `piece_step`)
    /// carry PSH? Linux tcp.c: tcp_mark_push() sets PSH on a pushed unit
    /// (skb); tcp_output.c: tso_fragment() keeps it on the part that ends
    /// the unit, and __tcp_transmit_skb() adds it to every GSO packet of
    /// more than one segment; segmentation leaves it on the packet's last
    /// segment. A lone segment cut from a unit's middle has none.
    pub(super) fn piece_psh(
        &self,
        cfg: &Config,
        unit: Option<crate::buffer::SkbEnd>,
        end: usize,
    ) -> bool {
        let ends_unit = unit.is_some_and(|u| end == u.end);
        let pushed = unit.is_some_and(|u| u.psh);
        let piece_end = self.snd.piece_left == 0;
        piece_end && ((cfg.gso_psh && self.snd.piece_multi) || (pushed && ends_unit))
    }

    /// The most segments one GSO packet of new data carries under a
    /// congestion window of `cwnd` bytes, before the windows' room: Linux
    /// tcp_output.c: tcp_write_xmit() limits each skb to tcp_tso_segs()
    /// (`gso_group`) and to half the congestion window (tcp_cwnd_test()).
    pub(super) fn gso_packet_segs(&self, cfg: &Config, cwnd: u32) -> u32 {
        let half = (cwnd / u32::from(self.snd.mss.max(1)) / 2).max(1);
        half.min(self.gso_group(cfg.gso_segs_min.unwrap_or(1)))
    }

    /// Segments per GSO packet in Linux's model (`tcp_tso_autosize`): what the
    /// pacing rate (twice cwnd per SRTT in slow start, 1.2 times after) sends in
    /// about a millisecond (2^-10 s), at least `min`, at most 64 KiB worth.
    pub(super) fn gso_group(&self, min: u32) -> u32 {
        let mss = u64::from(self.snd.mss.max(1));
        // Without an RTT sample the rate is the unlimited one a socket
        // starts with (sock_init_data()).
        let by_rate = self
            .pacing_rate()
            .map_or(u64::MAX, |rate| (rate >> 10) / mss);
        (by_rate.min(65_536 / mss) as u32).max(min).max(1)
    }

    /// The segments from `at` that one packet may carry (at least 2, at
    /// most `max_segs`), or None.
    fn super_segment_segs(
        &self,
        cfg: &Config,
        buf: usize,
        max_segs: u16,
        at: Start,
    ) -> Option<usize> {
        if at.recovery
            || self.snd.urgent_up().is_some()
            // CWR goes on the first new data segment only (ECE, when the
            // peer is owed one, on every segment alike).
            || self.ecn_cwr_queued()
            // A probe may go between two segments while probing is on (a
            // path MTU state kept only for the route changes nothing
            // within a burst: the MSS is taken at its start).
            || self.rec.path_mtu.as_ref().is_some_and(|p| p.enabled)
        {
            return None;
        }
        let mss = usize::from(self.snd.mss.max(1));
        // Segments left in the GSO packet this segment belongs to (a new
        // one when none is open).
        let in_piece = match self.snd.piece_left {
            0 => {
                self.piece_size(cfg, at.off, at.unit, at.avail, at.room, at.cwnd)
                    .1 as usize
            }
            left => usize::from(left),
        };
        // Full segments only: the windows, the queue and the unit.
        let to_unit = at.unit.map_or(at.avail, |u| u.end - at.off);
        let mut k = in_piece
            .min(at.avail.min(at.room).min(to_unit) / mss)
            .min(usize::from(max_segs))
            .min((buf.min(MAX_PACKET) - MIN_BUFFER) / mss);
        // The segment that empties the queue carries a queued FIN.
        if self.snd.fin_queued && at.off + k * mss == self.snd.buf.len() {
            k = k.saturating_sub(1);
        }
        (k >= 2).then_some(k)
    }

    /// Form new data from SND.NXT as one packet of several full-sized
    /// segments (see the module); None, with nothing changed, when fewer
    /// than two can go that way. `xmit` says how many segments the packet
    /// may hold and learns how many it holds.
    ///
    /// What differs per segment is done per segment: its place in Linux's
    /// GSO packet (`piece_step`) and its own records (`emit_accounting`:
    /// RACK, PRR, timestamps). The rest (`after_send`) is done for the
    /// first segment as output does it, then once for all the others, which
    /// leaves the state that doing it per segment leaves: SND.NXT and
    /// SND.MAX move by them; the RTT probe, the start of transmission,
    /// pacing (the GSO packet starts with the first segment if at all) and
    /// the timers are decided by the first segment (the later ones find
    /// them set); the loss probe, the congestion window's use and the
    /// send-buffer chronograph are each recomputed from the state after a
    /// segment, so the last one decides (nothing between reads them, and
    /// the window's use only grows within a burst).
    pub(super) fn output_super_segment(
        &mut self,
        now: Instant,
        cfg: &Config,
        stats: &mut Stats,
        buf: &mut [u8],
        xmit: &mut Xmit,
        at: Start,
    ) -> Option<usize> {
        let k = self.super_segment_segs(cfg, buf.len(), xmit.max_segs, at)?;
        let mss = usize::from(self.snd.mss);
        let seq = self.snd.nxt;
        let mut packet = None;
        for i in 0..k {
            let off = at.off + i * mss;
            let starts = self.piece_step(
                cfg,
                off,
                mss,
                at.unit,
                at.avail - i * mss,
                at.room - i * mss,
                at.cwnd,
            );
            packet = packet.or(starts);
        }
        // The first segment as output sends it (pacing reads SND.NXT just
        // after it), the others in one step.
        self.after_send(now, cfg, stats, seq, mss, false, false, at.cwnd, packet);
        let rest = (k - 1) * mss;
        let second = seq + mss as u32;
        self.after_send(now, cfg, stats, second, rest, false, false, at.cwnd, None);
        for i in 0..k {
            let seg = seq + (i * mss) as u32;
            self.emit_accounting(now, cfg, seg, TcpFlags::ACK, mss, true);
            if i > 0 {
                self.rack_join_prev(cfg, seg);
            }
        }
        let flags = if self.piece_psh(cfg, at.unit, at.off + k * mss) {
            TcpFlags::ACK | TcpFlags::PSH
        } else {
            TcpFlags::ACK
        };
        xmit.segs = k as u16;
        Some(self.emit_header(now, cfg, buf, seq, flags, at.off, k * mss, true))
    }
}
