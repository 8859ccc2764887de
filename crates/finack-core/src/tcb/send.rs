//! The send side of a connection: the send sequence space (RFC 9293 §3.3.1),
//! the bytes the application queued, and the round-trip and retransmission
//! timing that belongs to them (RFC 6298).

use alloc::vec::Vec;
use core::num::NonZeroU32;
use core::time::Duration;

use finack_wire::SeqNumber;

use crate::buffer::{SendBuf, SkbEnd};
use crate::config::Config;
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::types::SendFlags;

/// What one skb of the write queue costs beside its bytes in Linux's
/// accounting (`sk_wmem_queued`, which the send buffer limits): tcp.c:
/// tcp_stream_alloc_skb() sets the truesize of an skb whose head holds only
/// headers (MAX_TCP_HEADER, 256 bytes on x86-64 without tunnel headers,
/// from the small-head cache) to SKB_TRUESIZE(256): the head, the sk_buff
/// (256 aligned) and the shared info (320 aligned), 832 bytes; the payload
/// in page fragments adds its length.
pub(crate) const SKB_OVERHEAD: usize = 256 + 256 + 320;

/// What limits a write besides the send buffer.
#[derive(Copy, Clone, Debug)]
pub(crate) struct WriteRoom {
    /// The low-water mark of unsent bytes (TCP_NOTSENT_LOWAT).
    pub(crate) lowat: u32,
    /// Bytes beyond those sent that the congestion and send windows let out
    /// at once.
    pub(crate) sendable: usize,
    /// The most one GSO packet carries now (tcp_push_one() sends one).
    pub(crate) piece: usize,
}

/// What a connection knows about the bytes it sends.
pub(crate) struct SendSide {
    pub(crate) iss: SeqNumber,
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub(crate) una: SeqNumber,
    /// SND.NXT: where output continues (pulled back to SND.UNA on a
    /// retransmission timeout).
    pub(crate) nxt: SeqNumber,
    /// The highest sequence number sent so far plus one.
    pub(crate) max: SeqNumber,
    /// Recovery retransmits holes from here on (RFC 6675 HighRxt; a sequence
    /// number of the send space, so kept here rather than with the rest of
    /// loss recovery, which is allocated only when needed).
    pub(crate) rtx_next: SeqNumber,
    /// SND.WND, scaled.
    pub(crate) wnd: u32,
    /// The largest window the peer has offered.
    pub(crate) max_wnd: u32,
    pub(crate) wl1: SeqNumber,
    pub(crate) wl2: SeqNumber,
    /// The peer's window scale shift (RFC 7323).
    pub(crate) wscale: u8,
    /// Queued bytes from SND.UNA on (the send ring).
    pub(crate) buf: SendBuf,
    /// Sequence number of the first byte in `buf`.
    pub(crate) buf_seq: SeqNumber,
    /// The application closed its sending side: FIN follows the queued data.
    pub(crate) fin_queued: bool,
    /// Our FIN went out in a segment of its own (a tail probe resends it alone).
    pub(crate) fin_alone: bool,
    /// The MSS the peer announced, and the effective send MSS (MUST-16).
    pub(crate) peer_mss: u16,
    pub(crate) mss: u16,
    /// The send MSS the path allows, before `Config::mss_half_window`
    /// bounds it to half the peer's largest window (`mss`).
    pub(crate) path_mss: u16,
    /// `Config::mss_half_window`, as the connection was made with it.
    pub(crate) half_wnd_mss: bool,
    /// Nagle's algorithm off (TCP_NODELAY).
    pub(crate) nodelay: bool,
    /// A write found the buffer full: tell the application when room opens.
    pub(crate) blocked: bool,
    /// SO_SNDBUF was set: no autotuning (Linux SOCK_SNDBUF_LOCK).
    pub(crate) sndbuf_locked: bool,
    /// TCP_CORK: hold a partial last segment until uncorked.
    pub(crate) cork: bool,
    /// TCP_THIN_LINEAR_TIMEOUTS (Linux `tp->thin_lto`): see
    /// `Config::thin_linear_timeouts`.
    pub(crate) thin_lto: bool,
    /// The last write said MSG_MORE: hold its partial segment until the
    /// next event (Linux pushes that write with TCP_NAGLE_CORK).
    pub(crate) more: bool,
    /// Send what is queued once, Nagle and cork aside (Linux
    /// TCP_NAGLE_PUSH: uncorking, setting TCP_NODELAY).
    pub(crate) push_once: bool,
    /// Segments left in the GSO packet being sent (0: none under way), and
    /// whether that packet has more than one segment.
    pub(crate) piece_left: u16,
    pub(crate) piece_multi: bool,
    /// Smoothed RTT, variation and RTO (RFC 6298).
    pub(crate) rtt: RttEstimator,
    /// A segment being timed without timestamps (Karn: never a retransmission).
    pub(crate) rtt_probe: RttProbe,
    /// The least RTT measured, in microseconds (`u32::MAX`: none yet; Linux
    /// tcp_min_rtt(), for RACK's reordering window).
    pub(crate) min_rtt_us: u32,
    /// Our TSval when the retransmission timer last expired.
    pub(crate) ts_rto_mark: Option<u32>,
    /// Exponential backoff of the RTO (RFC 6298 §5.5).
    pub(crate) backoff: u32,
    /// Zero-window probing: send a probe octet at the next chance, and how
    /// many probes went unanswered (MUST-36, MUST-37).
    pub(crate) force_probe: bool,
    pub(crate) probes_unanswered: u8,
    /// TCP_USER_TIMEOUT (RFC 9293 MUST-21 lets the application set R2).
    pub(crate) user_timeout: Option<NonZeroU32>,
    /// When data (new or resent) last left (Linux `lsndtime`).
    pub(crate) last_data_sent: Instant,
    /// Segments retransmitted, for `info()`.
    pub(crate) total_retrans: u32,
    /// Data bytes acknowledged, how long sending was busy, segments and
    /// bytes sent and the last acknowledgment's time (`info()`), taken
    /// when data is first queued or a segment first leaves or an
    /// acknowledgment first arrives (boxed: the control block stays
    /// small).
    pub(crate) history: Option<alloc::boxed::Box<super::chrono::SendHistory>>,
    /// The departure clock under `Config::pacing` (allocated when a paced
    /// connection first sends).
    pub(crate) pacing: super::pacing::LazyPacing,
}

/// A segment being timed without timestamps: its sequence number and when it
/// left, or none (kept in 16 bytes, where an `Option` of the pair takes 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RttProbe {
    seq: SeqNumber,
    /// Microseconds; `u64::MAX`: no segment is timed.
    at: u64,
}

impl RttProbe {
    /// No segment timed.
    pub(crate) const NONE: RttProbe = RttProbe {
        seq: SeqNumber(0),
        at: u64::MAX,
    };

    /// The timed segment and when it left.
    pub(crate) fn get(self) -> Option<(SeqNumber, Instant)> {
        (self.at != u64::MAX).then(|| (self.seq, Instant::from_micros(self.at)))
    }

    /// Time a segment, or none.
    pub(crate) fn set(&mut self, probe: Option<(SeqNumber, Instant)>) {
        *self = probe.map_or(RttProbe::NONE, |(seq, at)| RttProbe {
            seq,
            at: at.as_micros().min(u64::MAX - 1),
        });
    }
}

impl SendSide {
    /// SND.UP while in urgent mode (Linux `snd_up` away from `snd_una`):
    /// the sequence number just after the last urgent byte written, while
    /// it is unacknowledged.
    pub(crate) fn urgent_up(&self) -> Option<SeqNumber> {
        self.buf.urgent_end().map(|off| self.buf_seq + off as u32)
    }

    pub(crate) fn new(cfg: &Config, iss: SeqNumber, peer_mss: u16) -> SendSide {
        let mut snd = SendSide {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            rtx_next: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            wscale: 0,
            buf: SendBuf::new(cfg.send_buffer),
            buf_seq: iss + 1,
            fin_queued: false,
            fin_alone: false,
            peer_mss,
            mss: peer_mss,
            path_mss: peer_mss,
            half_wnd_mss: cfg.mss_half_window,
            nodelay: !cfg.nagle,
            blocked: false,
            sndbuf_locked: false,
            cork: false,
            thin_lto: false,
            more: false,
            push_once: false,
            piece_left: 0,
            piece_multi: false,
            rtt: RttEstimator::new(cfg),
            rtt_probe: RttProbe::NONE,
            min_rtt_us: u32::MAX,
            ts_rto_mark: None,
            backoff: 0,
            force_probe: false,
            probes_unanswered: 0,
            user_timeout: None,
            last_data_sent: Instant::ZERO,
            total_retrans: 0,
            history: None,
            pacing: Default::default(),
        };
        snd.set_user_timeout(cfg.user_timeout);
        snd
    }

    /// Queue `data` as Linux's `tcp_sendmsg_locked` does, in units (skbs) of
    /// at most `size_goal` bytes: a write joins the last unit while that one
    /// is unsent, not full and not ended with MSG_EOR; a full unit is pushed
    /// if more than half the peer's largest window went unpushed
    /// (`forced_push`); the write's last unit is pushed (`tcp_push` →
    /// `tcp_mark_push`) unless MSG_MORE asks to wait. With `linux` off only
    /// MSG_EOR boundaries are kept. Returns how many bytes were taken.
    ///
    /// `room` says what limits the write besides the buffer: the low-water
    /// mark of unsent bytes and what the windows let out at once.
    pub(crate) fn queue(
        &mut self,
        data: &[u8],
        flags: SendFlags,
        linux: bool,
        room: WriteRoom,
    ) -> usize {
        let start = self.buf.len();
        let (take, split) = if linux {
            self.linux_take(data.len(), room)
        } else if self.notsent() >= room.lowat as usize {
            // Without Linux's units: nothing more while the unsent bytes
            // reach the low-water mark.
            (0, Vec::new())
        } else {
            (data.len(), Vec::new())
        };
        // Linux checks the buffer only before a new unit, which then fills
        // up to size_goal (see `linux_take`): the queue may pass the limit
        // by less than a unit. Otherwise the limit holds byte by byte.
        let n = if linux {
            self.buf.write_past_limit(&data[..take])
        } else {
            self.buf.write(&data[..take])
        };
        if n == 0 {
            return 0;
        }
        let end = start + n;
        if !linux {
            if flags.eor && n == data.len() {
                self.buf.push_mark(SkbEnd {
                    end,
                    psh: true,
                    eor: true,
                });
            }
            return n;
        }
        // The unsent part of the queue starts here.
        let sent = ((self.max - self.buf_seq).max(0) as usize).min(start);
        let size_goal = self.size_goal();
        // Linux tcp.c: tcp_sendmsg_locked(): the tail skb takes more data
        // only while it is still in the write queue (unsent), has room and
        // is not marked end-of-record (`tcp_skb_can_collapse_to`); joining
        // it clears its PSH, which the write's own push sets again.
        let mut tail_start = match self.buf.last_mark() {
            Some(m) if m.end == start => {
                let unit_start = self.buf.last_mark_before(start).map_or(0, |p| p.end);
                if !m.eor && sent < start && start - unit_start < size_goal {
                    self.buf.pop_mark();
                    unit_start
                } else {
                    start
                }
            }
            Some(m) => {
                if sent >= start {
                    self.close_unit(start, false);
                    start
                } else {
                    m.end
                }
            }
            None if start > 0 && sent >= start => {
                self.close_unit(start, false);
                start
            }
            None => 0,
        };
        // Full units along the way, and the cuts where part of a full unit
        // went out at once (see `linux_take`).
        let first = tail_start;
        let mut splits = split
            .into_iter()
            .filter(|&s| s > first && s < end)
            .peekable();
        loop {
            let full = tail_start + size_goal;
            let (unit_end, cut) = match splits.peek() {
                Some(&s) if s <= full => {
                    splits.next();
                    (s, s < full)
                }
                _ if end > full => (full, false),
                _ => break,
            };
            // Linux tcp.c: tcp_sendmsg_locked(): a unit that reaches
            // size_goal is marked pushed only when more than half the
            // peer's largest window went unpushed (forced_push() ->
            // tcp_mark_push()); otherwise it just goes out (tcp_push_one()).
            // The part of a unit cut off as it went out (tcp_output.c:
            // tso_fragment()) carries no PSH; the rest keeps the unit's.
            let psh = !cut && self.forced_push(unit_end);
            self.close_unit(unit_end, psh);
            tail_start = unit_end;
        }
        // Linux tcp.c: tcp_push(): mark the tail unless MSG_MORE (or forced).
        let psh = !flags.more || self.forced_push(end);
        if psh || (flags.eor && n == data.len()) {
            self.buf.push_mark(SkbEnd {
                end,
                psh,
                eor: flags.eor && n == data.len(),
            });
            if psh {
                self.buf.set_pushed(end);
            }
        }
        n
    }

    /// How many of `len` new bytes a write takes in Linux. tcp.c:
    /// tcp_sendmsg_locked() fills the tail unit (skb) up to size_goal
    /// without asking; a new unit needs sk_stream_memory_free(): the queue
    /// below the buffer limit and, tcp_stream_memory_free(), the unsent
    /// bytes (write_seq - snd_nxt) below tcp_notsent_lowat(). A unit that
    /// reaches size_goal while it is the first unsent one goes out at once:
    /// one GSO packet (tcp_push_one()), or as far as the windows allow when
    /// more than half the peer's largest window went unpushed
    /// (forced_push() -> __tcp_push_pending_frames()); the part left over
    /// is a unit of its own that takes more data (tso_fragment()), so the
    /// bytes sent count as sent.
    ///
    /// Also returns where such cuts fell, in order.
    fn linux_take(&self, len: usize, room: WriteRoom) -> (usize, Vec<usize>) {
        let start = self.buf.len();
        let goal = self.size_goal();
        let mut sent = ((self.max - self.buf_seq).max(0) as usize).min(start);
        let allowed_end = sent.saturating_add(room.sendable);
        // Where the last push mark lies, as queue() moves it.
        let mut pushed = start.saturating_sub(self.buf.unpushed(start));
        // The unit being filled: the tail unit if a write may still join it.
        let mut unit = match self.buf.last_mark() {
            Some(m) if m.end == start => {
                let unit_start = self.buf.last_mark_before(start).map_or(0, |p| p.end);
                (!m.eor && sent < start && start - unit_start < goal).then_some(unit_start)
            }
            Some(m) if sent < start => Some(m.end),
            Some(_) => None,
            None if start > 0 && sent < start => Some(0),
            None => None,
        };
        let mut end = start;
        let mut cuts = Vec::new();
        // Units queued, each costing its sk_buff beside its bytes.
        let mut units = self.buf.units();
        while end - start < len {
            let unit_start = match unit {
                Some(u) if end - u < goal => u,
                _ => {
                    // Linux sock.h: sk_stream_memory_free() before a new skb.
                    let lowat_ok = ((end - sent) as u64) < u64::from(room.lowat);
                    let queued = end + SKB_OVERHEAD * units;
                    if queued >= self.buf.cap() || !lowat_ok {
                        break;
                    }
                    units += 1;
                    unit = Some(end);
                    end
                }
            };
            end += (goal - (end - unit_start)).min(len - (end - start));
            if end - unit_start == goal && sent >= unit_start {
                // Full and first unsent: out it goes, one GSO packet or, when
                // forced, as far as allowed.
                let limit = if self.push_forced(end - pushed) {
                    pushed = end;
                    allowed_end
                } else {
                    allowed_end.min(sent.saturating_add(room.piece))
                };
                let out = sent.max(limit.min(end));
                if out > sent && out < end && out > unit_start {
                    cuts.push(out);
                    // tso_fragment() puts the rest in an skb of its own.
                    units += 1;
                }
                sent = out;
                unit = (sent < end).then_some(sent);
            }
        }
        (end - start, cuts)
    }

    /// Segments sent and not yet acknowledged, as Linux's packets_out
    /// counts them: tcp_skb_pcount() of each skb in flight, one per MSS or
    /// part of one (tcp_set_skb_tso_segs()), the units of queued data
    /// standing for skbs; a SYN, or a FIN in a segment of its own, is one.
    pub(crate) fn packets_out(&self) -> u32 {
        let sent = self.sent_len();
        let segs = self.segments_between(0, sent) + self.ctl_packet_out(self.una, sent);
        segs.min(u32::MAX as usize) as u32
    }

    /// What an ACK up to `ack` takes off `packets_out()` (Linux's
    /// pkts_acked: whole skbs, and the MSS multiples tcp_tso_acked() trims
    /// from a partly covered one), found from the units it covers alone,
    /// before the send buffer lets go of them.
    pub(crate) fn packets_acked(&self, ack: SeqNumber) -> u32 {
        let sent = self.sent_len();
        let acked = ((ack - self.buf_seq).max(0) as usize).min(sent);
        let mss = usize::from(self.mss.max(1));
        let mut segs = 0usize;
        let mut off = 0;
        while off < acked {
            let end = self
                .buf
                .next_mark_after(off)
                .map_or(sent, |m| m.end.min(sent));
            // The unit's segments, less what its unacknowledged rest counts.
            segs += (end - off).div_ceil(mss) - (end - acked.min(end)).div_ceil(mss);
            off = end;
        }
        let before = segs + self.ctl_packet_out(self.una, sent);
        let after = self.ctl_packet_out(ack, sent - acked);
        before.saturating_sub(after).min(u32::MAX as usize) as u32
    }

    /// Queued bytes sent at least once.
    fn sent_len(&self) -> usize {
        ((self.max - self.buf_seq).max(0) as usize).min(self.buf.len())
    }

    /// A SYN, or a FIN in a segment of its own, outstanding with SND.UNA at
    /// `una` and `sent` queued bytes sent: one packet.
    fn ctl_packet_out(&self, una: SeqNumber, sent: usize) -> usize {
        let syn_out = una == self.iss && self.max.gt(self.iss);
        let fin_seq = self.buf_seq + self.buf.len() as u32;
        let fin_out = self.fin_queued && self.max.gt(fin_seq) && !una.gt(fin_seq);
        usize::from(syn_out || (fin_out && (self.fin_alone || sent == 0)))
    }

    /// Segments between queue offsets `from` and `to`, Linux's way
    /// (tcp_skb_pcount()): each unit's share counts one per MSS or part of
    /// one.
    fn segments_between(&self, from: usize, to: usize) -> usize {
        let mss = usize::from(self.mss.max(1));
        let mut segs = 0usize;
        let mut off = from;
        while off < to {
            let end = self.buf.next_mark_after(off).map_or(to, |m| m.end.min(to));
            segs += (end - off).div_ceil(mss);
            off = end;
        }
        segs
    }

    /// Segments the peer has selectively acknowledged, as Linux's
    /// sacked_out counts them: tcp_sacktag_write_queue() marks whole skbs,
    /// cutting a partly covered one at MSS multiples, so each SACKed piece
    /// of a unit counts one per MSS or part of one. `sacked` are the SACKed
    /// sequence ranges above SND.UNA.
    pub(crate) fn sacked_segments(&self, sacked: &[(SeqNumber, SeqNumber)]) -> u32 {
        let sent = ((self.max - self.buf_seq).max(0) as usize).min(self.buf.len());
        let offset = |s: SeqNumber| ((s - self.buf_seq).max(0) as usize).min(sent);
        sacked
            .iter()
            .map(|&(l, r)| self.segments_between(offset(l), offset(r)))
            .fold(0usize, usize::saturating_add)
            .min(u32::MAX as usize) as u32
    }

    /// Data bytes the peer has acknowledged so far.
    pub(crate) fn bytes_acked(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.bytes_acked)
    }

    /// Unsent bytes: Linux `write_seq - snd_nxt`.
    pub(crate) fn notsent(&self) -> usize {
        let sent = ((self.max - self.buf_seq).max(0) as usize).min(self.buf.len());
        self.buf.len() - sent
    }

    /// The low-water mark of unsent bytes: this connection's
    /// TCP_NOTSENT_LOWAT, else the endpoint's default (Linux tcp.h:
    /// tcp_notsent_lowat()).
    pub(crate) fn notsent_lowat(&self, cfg: &Config) -> u32 {
        match self.buf.notsent_lowat() {
            0 => cfg.notsent_lowat,
            v => v,
        }
    }

    /// What the queue costs against the buffer's limit (Linux
    /// `sk_wmem_queued`): its bytes and, with Linux's units
    /// (`Config::linux_push`), each unit's sk_buff ([`SKB_OVERHEAD`]).
    pub(crate) fn wmem(&self, cfg: &Config) -> usize {
        let units = if cfg.linux_push { self.buf.units() } else { 0 };
        self.buf.len() + SKB_OVERHEAD * units
    }

    /// May the application write again (poll's POLLOUT, a writer's wakeup)?
    /// Linux sock.h: __sk_stream_is_writeable(sk, wake = 1): the queue below
    /// the limit (__sk_stream_memory_free), free space at least half of what
    /// is queued (sk_stream_wspace() >= sk_stream_min_wspace()), and twice the
    /// unsent bytes below the low-water mark (tcp.c: tcp_stream_memory_free()
    /// with `wake`, so that a woken writer finds room for a while). Without
    /// `Config::linux_write_space`: one free byte and fewer unsent bytes than
    /// the mark.
    pub(crate) fn writable(&self, cfg: &Config) -> bool {
        let queued = self.wmem(cfg);
        let cap = self.buf.cap();
        let notsent = self.notsent() as u64;
        let lowat = u64::from(self.notsent_lowat(cfg));
        if queued >= cap {
            return false;
        }
        if cfg.linux_write_space {
            cap - queued >= queued / 2 && (notsent << 1) < lowat
        } else {
            notsent < lowat
        }
    }

    fn close_unit(&mut self, end: usize, psh: bool) {
        self.buf.push_mark(SkbEnd {
            end,
            psh,
            eor: false,
        });
        if psh {
            self.buf.set_pushed(end);
        }
    }

    fn forced_push(&self, end: usize) -> bool {
        self.push_forced(self.buf.unpushed(end))
    }

    /// Linux tcp.c: forced_push(): more than half the peer's largest window
    /// (`unpushed` bytes) has gone without a push mark.
    fn push_forced(&self, unpushed: usize) -> bool {
        unpushed > (self.max_wnd / 2) as usize
    }

    /// Linux tcp.c: tcp_xmit_size_goal(): the largest unit a write builds,
    /// what one 64 KiB GSO packet carries, at most half the peer's largest
    /// window (`tcp_bound_to_half_wnd`), in whole segments.
    pub(crate) fn size_goal(&self) -> usize {
        let mss = usize::from(self.mss.max(1));
        let mut goal = 65_536usize;
        if self.max_wnd > 536 {
            goal = goal.min(self.max_wnd as usize / 2);
        } else if self.max_wnd > 0 {
            goal = goal.min(self.max_wnd as usize);
        }
        (goal / mss * mss).max(mss)
    }

    /// TCP_USER_TIMEOUT, kept in whole milliseconds as Linux keeps it.
    pub(crate) fn user_timeout(&self) -> Option<Duration> {
        self.user_timeout
            .map(|ms| Duration::from_millis(u64::from(ms.get())))
    }

    /// Set TCP_USER_TIMEOUT (`None` or zero: off; at least 1 ms otherwise,
    /// at most u32::MAX ms).
    pub(crate) fn set_user_timeout(&mut self, t: Option<Duration>) {
        self.user_timeout = t.and_then(|d| {
            let ms = d.as_micros().div_ceil(1000).min(u128::from(u32::MAX)) as u32;
            NonZeroU32::new(ms)
        });
    }

    /// Bytes sent and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> u32 {
        (self.max - self.una).max(0) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A send side whose units hold one 988-byte segment each (a peer
    /// window of 2,000 bytes caps size_goal at half of it), with `cap` as
    /// its limit, as packetdrill's timestamping/partial.pkt sets it up.
    fn side(cap: usize) -> SendSide {
        let mut snd = SendSide::new(&Config::linux(), SeqNumber(1000), 988);
        snd.max_wnd = 2000;
        snd.buf.set_cap(cap);
        snd
    }

    const ROOM: WriteRoom = WriteRoom {
        lowat: u32::MAX,
        sendable: 0,
        piece: 0,
    };

    #[test]
    fn each_unit_costs_its_skb_against_the_buffer() {
        // SO_SNDBUF 1000 makes sk_sndbuf SOCK_MIN_SNDBUF, 4,608 bytes. A
        // new unit needs the queue's cost below it: 0, 1,820, 3,640, then
        // 5,460 stops the write after three units, where bytes alone would
        // have let a fourth and a fifth start.
        let mut snd = side(4608);
        assert_eq!(snd.size_goal(), 988);
        let n = snd.queue(&[0u8; 10_000], SendFlags::default(), true, ROOM);
        assert_eq!(n, 3 * 988);
        assert_eq!(snd.buf.units(), 3);
        assert_eq!(snd.wmem(&Config::linux()), 3 * (988 + SKB_OVERHEAD));
        assert!(!snd.writable(&Config::linux()));
        // Without Linux's units only the bytes count.
        let rfc = Config::rfc9293();
        assert!(!rfc.linux_push);
        assert_eq!(snd.wmem(&rfc), 3 * 988);
    }

    #[test]
    fn a_full_unit_goes_out_one_gso_packet_at_a_time_unless_forced() {
        // Units of 16 segments (half a 32,000-byte window); the windows let
        // 10 segments out, one GSO packet carries 2.
        let mut snd = side(1 << 20);
        snd.max_wnd = 32_000;
        assert_eq!(snd.size_goal(), 16 * 988);
        let room = WriteRoom {
            lowat: u32::MAX,
            sendable: 10 * 988,
            piece: 2 * 988,
        };
        assert_eq!(
            snd.queue(&[0u8; 20_000], SendFlags::default(), true, room),
            20_000
        );
        // The first full unit: tcp_push_one() sends one packet and the rest
        // becomes a unit that fills up again; full a second time, more than
        // half the window is unpushed, so everything allowed goes
        // (forced_push()), and what is left takes the rest of the write.
        let ends: Vec<(usize, bool)> = core::iter::successors(snd.buf.next_mark_after(0), |m| {
            snd.buf.next_mark_after(m.end)
        })
        .map(|m| (m.end, m.psh))
        .collect();
        assert_eq!(ends, [(2 * 988, false), (10 * 988, false), (20_000, true)]);
        assert_eq!(snd.buf.units(), 3);
    }

    #[test]
    fn a_unit_still_filling_counts_once() {
        let mut snd = side(1 << 20);
        let more = SendFlags {
            more: true,
            ..SendFlags::default()
        };
        // MSG_MORE leaves the unit open: the next write joins it.
        assert_eq!(snd.queue(&[0u8; 500], more, true, ROOM), 500);
        assert_eq!(snd.buf.units(), 1);
        assert_eq!(snd.queue(&[0u8; 400], more, true, ROOM), 400);
        assert_eq!(snd.buf.units(), 1);
        assert_eq!(snd.wmem(&Config::linux()), 900 + SKB_OVERHEAD);
        // Past size_goal a second unit starts.
        assert_eq!(snd.queue(&[0u8; 200], more, true, ROOM), 200);
        assert_eq!(snd.buf.units(), 2);
        // Acknowledged bytes leave; the unit they end leaves with them.
        snd.buf.ack(988);
        assert_eq!(snd.buf.units(), 1);
        assert_eq!(snd.wmem(&Config::linux()), 112 + SKB_OVERHEAD);
    }

    #[test]
    fn packets_acked_is_what_packets_out_loses() {
        // Units of 16 segments of 988 bytes, all sent; ACKs ending at unit
        // edges, inside a segment, and at the end of everything.
        for ack_at in [
            0usize,
            500,
            988,
            988 * 3 + 10,
            16 * 988,
            16 * 988 + 1,
            20_000,
        ] {
            let mut snd = side(1 << 20);
            snd.max_wnd = 32_000;
            snd.queue(&[0u8; 20_000], SendFlags::default(), true, ROOM);
            snd.una = snd.buf_seq;
            snd.max = snd.buf_seq + 20_000;
            let before = snd.packets_out();
            let ack = snd.buf_seq + ack_at as u32;
            let acked = snd.packets_acked(ack);
            snd.buf.ack(ack_at);
            snd.buf_seq = ack;
            snd.una = ack;
            assert_eq!(acked, before - snd.packets_out(), "ack at {ack_at}");
        }
    }
}
