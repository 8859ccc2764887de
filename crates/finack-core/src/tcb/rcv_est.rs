//! What the receiving side estimates about its peer's sending, as Linux
//! keeps it for `tcp_info`: the peer's segment size (`tcpi_rcv_mss`,
//! `icsk_ack.rcv_mss`) and the round-trip time seen from the receiver
//! (`tcpi_rcv_rtt`, `rcv_rtt_est`), and the receive-buffer autotuning that
//! reads the latter (`Config::rcvbuf_autotune`).

use alloc::boxed::Box;
use core::time::Duration;

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};
use crate::config::Config;
use crate::time::Instant;

/// Linux TCP_MSS_DEFAULT: the largest first guess at the peer's segments.
const MSS_DEFAULT: u32 = 536;
/// Linux TCP_MIN_MSS.
const MIN_MSS: u32 = 88;
/// The fixed TCP header.
const TCP_HEADER: u32 = 20;

/// The receiver's estimates.
#[derive(Clone, Debug, Default)]
pub(crate) struct RcvEstimates {
    /// The peer's segment size; 0 until first needed, when it takes
    /// Linux's initial guess (`tcp_initialize_rcv_mss()`).
    mss: u32,
    /// The size of the last short segment that could have been a full one
    /// (`icsk_ack.last_seg_size`): two in a row of one size set the estimate.
    last_seg_size: u32,
    /// The RTT estimate in microseconds, times 8 (`rcv_rtt_est.rtt_us`);
    /// 0 before any sample.
    rtt_x8_us: u64,
    /// The window measurement under way: the sequence number that ends it
    /// and when it began (`rcv_rtt_est.seq`, `.time`).
    rtt_seq: SeqNumber,
    rtt_time: Option<Instant>,
    /// The TSecr last sampled (`rcv_rtt_last_tsecr`): one sample per echo.
    last_tsecr: u32,
    /// Autotuning's measurement (`rcvq_space`): the bytes taken by the
    /// application in the last one that grew the buffer (`space`), and
    /// where and when the one under way began (`seq`: the next byte to be
    /// read, `time`); None until the first read.
    space: u32,
    space_seq: SeqNumber,
    space_time: Option<Instant>,
    /// The application sized the buffer itself (SO_RCVBUF,
    /// `SOCK_RCVBUF_LOCK`): no autotuning.
    rcvbuf_locked: bool,
    /// Receive memory as Linux counts it (`Config::rcv_memory`).
    pub(super) mem: super::rmem::RcvMem,
    /// How many times in a row data went out soon after data arrived
    /// (Linux `icsk_ack.pingpong`; the arrival time is `RecvBuf`'s).
    pingpong: u8,
    /// The delayed-ACK time in milliseconds (`icsk_ack.ato`, see `delack`);
    /// 0 until data arrives.
    pub(super) ato_ms: u32,
    /// Small segments arrived since the last ACK (`delack::PUSHED`,
    /// `PUSHED2`).
    pub(super) pushed: u8,
    /// SO_RCVLOWAT (`sk_rcvlowat`; 0 stands for the default, 1).
    pub(super) lowat: u32,
    /// The out-of-band byte of urgent data (`urgent_rx`).
    pub(super) urg: super::urgent_rx::UrgentRx,
    /// Segments received (`tcpi_segs_in`, `tcpi_data_segs_in`,
    /// `tcpi_rcv_ooopack`).
    pub(super) rx: super::counts::RxCounts,
    /// SACK compression (`sack_compress`).
    pub(super) comp: super::sack_compress::SackCompress,
}

impl RcvEstimates {
    /// Estimates with the receive memory model's state for a buffer of
    /// `Config::recv_buffer` bytes of memory.
    pub(crate) fn with_memory(cfg: &Config) -> RcvEstimates {
        RcvEstimates {
            mem: super::rmem::RcvMem::new(cfg.recv_buffer),
            ..RcvEstimates::default()
        }
    }
}

/// Linux `tcp_rcvbuf_low_rtt` (1 ms): below this receiver RTT the buffer
/// grows by a share of the window proportional to the RTT, not to the
/// sender's rate increase.
const RCVBUF_LOW_RTT_US: u64 = 1000;
/// Linux TCP_INIT_CWND.
const INIT_CWND: u32 = 10;

impl Tcb {
    /// The window we last advertised (Linux `tp->rcv_wnd`).
    pub(super) fn rcv_wnd_advertised(&self) -> u32 {
        (self.rcv.adv - self.rcv.last_ack_sent).max(0) as u32
    }

    /// The peer's segment size as estimated (`tcpi_rcv_mss`); before any
    /// estimate, Linux's first guess (tcp_input.c: tcp_initialize_rcv_mss():
    /// the smaller of our MSS and the send MSS, at most half the window
    /// and 536, at least 88).
    pub(crate) fn rcv_mss(&self, cfg: &Config) -> u16 {
        let mss = match self.rcv.est.as_ref().map_or(0, |e| e.mss) {
            0 => u32::from(self.our_mss(cfg).min(self.snd.mss))
                .min(self.rcv_wnd_advertised() / 2)
                .clamp(MIN_MSS, MSS_DEFAULT),
            m => m,
        };
        mss.min(u32::from(u16::MAX)) as u16
    }

    /// The receiver's RTT estimate (`tcpi_rcv_rtt`: Linux reports
    /// `rcv_rtt_est.rtt_us >> 3`).
    pub(crate) fn rcv_rtt(&self) -> Duration {
        Duration::from_micros(self.rcv.est.as_ref().map_or(0, |e| e.rtt_x8_us) >> 3)
    }

    /// Bytes the estimates take apart from the control block.
    pub(crate) fn rcv_est_heap_bytes(&self) -> usize {
        self.rcv.est.as_ref().map_or(0, |e| {
            core::mem::size_of::<RcvEstimates>() + e.mem.heap_bytes()
        })
    }

    /// Interactive mode (`Config::pingpong_thresh`; Linux
    /// inet_csk_in_pingpong_mode()).
    pub(super) fn pingpong(&self, cfg: &Config) -> bool {
        cfg.pingpong_thresh > 0
            && self
                .rcv
                .est
                .as_ref()
                .is_some_and(|e| e.pingpong >= cfg.pingpong_thresh)
    }

    /// A data segment leaves now: sent within the delayed-ACK time of the
    /// last data received, it answers it (Linux tcp_event_data_sent():
    /// inet_csk_inc_pingpong_cnt(); `icsk_ack.ato` is 0, so nothing counts,
    /// until data has arrived).
    pub(super) fn note_data_sent(&mut self, now: Instant, cfg: &Config) {
        let Some(ato) = cfg.delayed_ack else {
            return;
        };
        // With the adaptive time (`Config::delayed_ack_max`) the time as it
        // stands now, else the fixed one.
        let ato = match (cfg.delayed_ack_max, self.rcv.est.as_ref()) {
            (Some(_), Some(e)) => u128::from(e.ato_ms),
            _ => ato.as_millis(),
        };
        let since = self.rcv.buf.ms_since_data(now.as_millis());
        if cfg.pingpong_thresh > 0 && self.rcv.bytes_received > 0 && u128::from(since) < ato {
            let e = self.est();
            e.pingpong = e.pingpong.saturating_add(1);
        }
    }

    /// Into interactive mode at once (Linux inet_csk_enter_pingpong_mode()).
    pub(super) fn enter_pingpong(&mut self, cfg: &Config) {
        if cfg.pingpong_thresh > 0 {
            self.est().pingpong = cfg.pingpong_thresh;
        }
    }

    /// Out of interactive mode (Linux inet_csk_exit_pingpong_mode()): a
    /// delayed ACK had to go out alone, or quick ACKs start again.
    pub(super) fn exit_pingpong(&mut self) {
        if let Some(e) = self.rcv.est.as_mut() {
            e.pingpong = 0;
        }
    }

    /// The estimates, allocated on first use.
    pub(super) fn est(&mut self) -> &mut RcvEstimates {
        self.rcv.est.get_or_insert_with(Box::default)
    }

    /// Linux tcp_input.c: tcp_rcv_rtt_update(): a sample below the estimate
    /// (or the first) is taken as it is; a larger one is averaged in with
    /// weight 1/8 when it comes from a timestamp and ignored when it comes
    /// from a window measurement (which only bounds the RTT from above).
    fn rcv_rtt_update(&mut self, sample_us: u64, win_dep: bool) {
        let est = self.est();
        let old = est.rtt_x8_us;
        let m = sample_us << 3;
        est.rtt_x8_us = if old == 0 || m < old {
            m
        } else if win_dep {
            return;
        } else {
            old - (old >> 3) + sample_us
        };
    }

    /// SO_RCVBUF was set: autotuning leaves this connection alone.
    pub(crate) fn lock_rcvbuf(&mut self) {
        self.est().rcvbuf_locked = true;
    }

    /// Whether the application sized the buffer (SO_RCVBUF).
    pub(super) fn rcvbuf_locked(&self) -> bool {
        self.rcv.est.as_ref().is_some_and(|e| e.rcvbuf_locked)
    }

    /// Autotuning's last measure (`rcvq_space.space`).
    pub(super) fn rcvq_space(&self) -> u32 {
        self.rcv.est.as_ref().map_or(0, |e| e.space)
    }

    /// Set autotuning's measure, as tcp_init_buffer_space() does.
    pub(super) fn set_rcvq_space(&mut self, space: u32) {
        self.est().space = space;
    }

    /// Keep autotuning's measure within the window's clamp.
    pub(super) fn cap_rcvq_space(&mut self, clamp: u32) {
        let est = self.est();
        est.space = est.space.min(clamp);
    }

    /// Linux tcp_input.c: tcp_rcv_space_adjust() (after the application took
    /// `taken` bytes) and tcp_rcvbuf_grow(), with the window and the buffer
    /// in the same unit (finack's window is the buffer's free room, so
    /// tcp_space_from_win() is the identity). Once per receiver RTT: the
    /// bytes taken since the measurement began, less those still unread; if
    /// more than the last time the buffer grew, grow it to twice that plus
    /// room for the sender's growth (a share proportional to the RTT below
    /// 1 ms, else as much again as the rate rose, times two for slow start),
    /// plus what out-of-order data spans, up to `recv_buffer_max`.
    /// The first measurement begins at the first read (Linux begins it when
    /// the connection is established, tcp_init_buffer_space()).
    pub(crate) fn rcv_space_adjust(&mut self, now: Instant, cfg: &Config, taken: usize) {
        if !cfg.rcvbuf_autotune || self.rcv.mem_pressure {
            return;
        }
        let unread = self.rcv.buf.len() as u32;
        let copied_seq = self.rcv.nxt - unread;
        let began = match self.rcv.est.as_deref() {
            Some(e) if e.rcvbuf_locked => return,
            Some(e) => e.space_time,
            None => None,
        };
        let Some(began) = began else {
            // The first read begins the first measurement.
            let space = self
                .rcv_wnd_advertised()
                .min(INIT_CWND * u32::from(self.our_mss(cfg)));
            let est = self.est();
            est.space_time = Some(now);
            est.space_seq = copied_seq - taken as u32;
            est.space = space;
            return;
        };
        let est = self.est();
        let rtt_us = est.rtt_x8_us >> 3;
        let elapsed = now.saturating_duration_since(began).as_micros() as u64;
        if rtt_us == 0 || elapsed < rtt_us {
            return;
        }
        // Bytes taken in the last RTT, less what still waits (Linux 6.16:
        // "copied -= inq").
        let copied = (copied_seq - est.space_seq).max(0) as u64;
        let copied = copied.saturating_sub(u64::from(unread));
        let space = u64::from(est.space);
        est.space_seq = copied_seq;
        est.space_time = Some(now);
        if copied <= space {
            return;
        }
        let newval = copied.min(u64::from(u32::MAX)) as u32;
        self.rcvbuf_grow(cfg, newval);
    }

    /// Linux tcp_input.c: tcp_rcvbuf_grow(): `newval` becomes the measure;
    /// unless the application sized the buffer, it grows to twice that
    /// (DRS is one RTT late) plus room for the sender's growth (a share
    /// proportional to the RTT below 1 ms, else as much again as the rate
    /// rose, times two for slow start), plus what out-of-order data spans,
    /// up to `recv_buffer_max`.
    pub(super) fn rcvbuf_grow(&mut self, cfg: &Config, newval: u32) {
        let locked = self.rcvbuf_locked();
        let est = self.est();
        let old = u64::from(est.space);
        est.space = newval;
        if !cfg.rcvbuf_autotune || locked {
            return;
        }
        let rtt_us = est.rtt_x8_us >> 3;
        let newval = u64::from(newval);
        let mut rcvwin = newval << 1;
        let grow = if rtt_us < RCVBUF_LOW_RTT_US {
            rcvwin * rtt_us / RCVBUF_LOW_RTT_US
        } else {
            // Slow start: let the sender double its rate.
            (rcvwin << 1).saturating_mul(newval.saturating_sub(old)) / old.max(1)
        };
        rcvwin += grow;
        if let Some((_, end)) = self.rcv.buf.ooo_blocks().last() {
            rcvwin += end as u64;
        }
        if cfg.rcv_memory {
            return self.rmem_grow_to_window(cfg, rcvwin);
        }
        let target = rcvwin.min(cfg.recv_buffer_max as u64) as usize;
        self.rcv.buf.grow_cap(target);
    }

    /// Linux tcp_input.c: tcp_rcv_rtt_measure_ts(), for a segment arriving
    /// in ESTABLISHED once its ACK is processed: the first segment echoing
    /// a given TSecr that is at least a full segment long gives a sample,
    /// the time since we sent that TSval.
    pub(super) fn rcv_rtt_measure_ts(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        let Some(ts) = seg.options.timestamps.filter(|_| self.ts_ok) else {
            return;
        };
        let est = self.est();
        if ts.tsecr == est.last_tsecr {
            return;
        }
        est.last_tsecr = ts.tsecr;
        if seg.segment_len() < u32::from(self.rcv_mss(ctx.cfg)) {
            return;
        }
        // tcp_rtt_tsopt_us(): the echo's age in clock ticks (milliseconds);
        // an echo from the future or of this very tick gives no sample.
        let ticks = self.ts_now(ctx.now).wrapping_sub(ts.tsecr);
        if ticks > 0 && ticks < i32::MAX as u32 / 1000 {
            self.rcv_rtt_update(u64::from(ticks) * 1000, false);
        }
    }

    /// Linux tcp_input.c: tcp_event_data_recv(), for in-order data just
    /// queued: the segment-size estimate (tcp_measure_rcv_mss()) and the
    /// window measurement of the RTT (tcp_rcv_rtt_measure()).
    pub(super) fn rcv_data_event(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        self.measure_rcv_mss(ctx, seg);
        // tcp_rcv_rtt_measure(): a measurement ends when the data reaches
        // the window's edge as it stood when it began, one RTT later if the
        // sender is window-limited; then the next one begins.
        let (nxt, wnd) = (self.rcv.nxt, self.rcv_wnd_advertised());
        let est = self.est();
        if let Some(began) = est.rtt_time {
            if nxt.lt(est.rtt_seq) {
                return;
            }
            let us = ctx.now.saturating_duration_since(began).as_micros() as u64;
            self.rcv_rtt_update(us.max(1), true);
        }
        let est = self.est();
        est.rtt_seq = nxt + wnd;
        est.rtt_time = Some(ctx.now);
    }

    /// Linux tcp_input.c: tcp_measure_rcv_mss(): a segment (for a packet
    /// receive offload merged, its GSO segment size) at least as large as
    /// the estimate raises it, up to our MSS; a smaller one that looks
    /// full-sized (at least 536 bytes, or 88 without FIN, URG, SYN or PSH)
    /// lowers it when the next one has the same size.
    pub(super) fn measure_rcv_mss(&mut self, ctx: &Ctx<'_>, seg: &TcpRepr<'_>) {
        let current = u32::from(self.rcv_mss(ctx.cfg));
        let ours = u32::from(self.our_mss(ctx.cfg));
        let ts_len = if self.ts_ok { 12 } else { 0 };
        let est = self.est();
        est.mss = current;
        let last = core::mem::take(&mut est.last_seg_size);
        let len = match ctx.gso_size {
            0 => seg.payload.len() as u32,
            g => u32::from(g),
        };
        if len >= current {
            est.mss = len.min(ours);
            if len != current {
                self.rmem_measure_ratio(ctx.cfg, seg);
            }
            return;
        }
        let with_header = len + TCP_HEADER + seg.options.emitted_len() as u32;
        let f = seg.flags;
        let remnant = f.fin() || f.urg() || f.syn() || f.psh();
        if with_header >= MSS_DEFAULT + TCP_HEADER
            || (with_header >= MIN_MSS + TCP_HEADER && !remnant)
        {
            let size = with_header.saturating_sub(TCP_HEADER + ts_len);
            est.last_seg_size = size;
            if size == last {
                est.mss = size;
                return;
            }
        }
        self.note_pushed();
    }
}
